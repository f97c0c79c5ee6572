//! `cargo xtask bench`: the operator at scale on this machine's control
//! plane. Starts the testenv when it does not run (and stops it afterwards),
//! builds `socle` and the harness (`tests/bench`, binary `socle-bench`),
//! and runs the harness with the testenv's credentials and audit log.

use std::{ffi::OsString, path::Path, process::Command};

use anyhow::{Context, Result, ensure};

use crate::{cargo, testenv, workspace_root};

/// How the binaries are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Optimised: the figures worth reporting.
    Release,
    /// CI's check that the harness works and steady state costs no write:
    /// the debug binaries the tests already built, no figure worth keeping.
    Debug,
}

/// Runs the harness with `args` (see `socle-bench --help`).
pub fn bench(build: Build, args: &[OsString]) -> Result<()> {
    let was_running = testenv::is_running()?;
    let kubeconfig = testenv::up()?;
    let result = run(build, args, &kubeconfig, !was_running);
    if !was_running {
        testenv::down()?;
    }
    result
}

fn run(build: Build, args: &[OsString], kubeconfig: &Path, tear_down: bool) -> Result<()> {
    let mut cargo_args = vec!["build", "--quiet", "--locked"];
    let dir = match build {
        Build::Release => {
            cargo_args.push("--release");
            "release"
        }
        Build::Debug => "debug",
    };
    cargo_args.extend([
        "--package",
        "socle",
        "--package",
        "socle-e2e",
        "--bin",
        "socle",
        "--bin",
        "socle-bench",
    ]);
    cargo(&cargo_args, &[])?;
    let bin = workspace_root().join("target").join(dir);
    let mut command = Command::new(bin.join("socle-bench"));
    command.arg("--socle").arg(bin.join("socle")).args(args);
    // A control plane stopped right after needs no cleanup (unless the
    // caller already said so: the flag may be given once only).
    if tear_down && !args.iter().any(|arg| arg == "--no-cleanup") {
        command.arg("--no-cleanup");
    }
    eprintln!("xtask: {command:?}");
    let status = command
        .env("KUBECONFIG", kubeconfig)
        .env(
            "SOCLE_OPERATOR_KUBECONFIG",
            testenv::operator_kubeconfig_path(),
        )
        .env("SOCLE_TESTENV_DIR", testenv::state_dir())
        .current_dir(workspace_root())
        .status()
        .context("running socle-bench")?;
    ensure!(status.success(), "socle-bench failed");
    Ok(())
}

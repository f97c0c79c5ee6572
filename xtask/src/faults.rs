//! `cargo xtask faults`: builds `socle` and the fault harness
//! (`tests/faults`), and runs it against the testenv — the running one, or
//! one started for it and stopped after. The harness kills kube-apiserver
//! and etcd through `cargo xtask testenv restart`.

use std::{ffi::OsString, process::Command};

use anyhow::{Context, Result, ensure};

use crate::{cargo, testenv, workspace_root};

pub fn faults(args: &[OsString]) -> Result<()> {
    let was_running = testenv::is_running()?;
    let kubeconfig = testenv::up()?;
    let result = (|| {
        cargo(
            &[
                "build",
                "--quiet",
                "--locked",
                "--package",
                "socle",
                "--package",
                "socle-e2e",
                "--bin",
                "socle",
                "--bin",
                "socle-faults",
            ],
            &[],
        )?;
        let bin = workspace_root().join("target/debug");
        let mut command = Command::new(bin.join("socle-faults"));
        command.arg("--socle").arg(bin.join("socle")).args(args);
        eprintln!("xtask: {command:?}");
        let status = command
            .env("KUBECONFIG", &kubeconfig)
            .env("SOCLE_TESTENV_DIR", testenv::state_dir())
            .current_dir(workspace_root())
            .status()
            .context("running socle-faults")?;
        ensure!(status.success(), "socle-faults failed");
        Ok(())
    })();
    if !was_running {
        testenv::down()?;
    }
    result
}

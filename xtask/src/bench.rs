//! `cargo xtask bench`: the operator at scale on this machine's control
//! plane. Starts a testenv for each `--members` size when none runs (and
//! stops it after that size), builds `socle` and the harness (`tests/bench`, binary `socle-bench`),
//! and runs the harness with the testenv's credentials and audit log.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::{cargo, testenv, workspace_root};

mod peer;

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
///
/// On a control plane it starts itself, each `--members` size gets one of
/// its own, started fresh and stopped after its run: a run leaves thousands
/// of tenant namespaces (its own and the ceilings'), which
/// kube-controller-manager deletes at about one every 2 s here, so waiting
/// for them took longer than the runs, and leaving them would load the next
/// size's measures. On a control plane that already runs, every size runs in
/// it, one after the other, as the harness does (each run's objects deleted
/// and waited for).
pub fn bench(build: Build, args: &[OsString]) -> Result<()> {
    if let Some((name, rest)) = peer::split_out(args)? {
        return peer::bench(build, &name, &rest);
    }
    if testenv::is_running()? {
        return run(build, args, &testenv::kubeconfig_path(), false);
    }
    let Some(sizes) = Sizes::split_out(args) else {
        // One size: one control plane.
        return on_fresh_control_plane(build, args);
    };
    let mut parts = Vec::new();
    for size in &sizes.each {
        let mut run_args = sizes.rest.clone();
        run_args.push(format!("--members={size}").into());
        if let Some(json) = &sizes.json {
            let part = json.with_extension(format!("{size}.json"));
            run_args.push(format!("--json={}", part.display()).into());
            parts.push(part);
        }
        on_fresh_control_plane(build, &run_args)?;
    }
    match &sizes.json {
        Some(json) => merge_reports(&parts, json),
        None => Ok(()),
    }
}

fn on_fresh_control_plane(build: Build, args: &[OsString]) -> Result<()> {
    // The control plane alone: the figures are the operator's and the API
    // server's, with nothing else polling it.
    let kubeconfig = testenv::up(testenv::Backups::None, testenv::Gitops::None)?;
    let result = run(build, args, &kubeconfig, true);
    testenv::down()?;
    result
}

/// Several `--members` sizes, taken out of the harness's arguments.
#[derive(Debug)]
struct Sizes {
    each: Vec<String>,
    /// Where the merged report goes.
    json: Option<PathBuf>,
    /// The other arguments, for every size's run.
    rest: Vec<OsString>,
}

impl Sizes {
    /// `None` unless `args` ask for more than one size.
    fn split_out(args: &[OsString]) -> Option<Self> {
        let mut members = None;
        let mut json = None;
        let mut rest = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let text = arg.to_string_lossy();
            let (flag, inline) = match text.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (text.to_string(), None),
            };
            let slot = match flag.as_str() {
                "--members" => &mut members,
                "--json" => &mut json,
                _ => {
                    rest.push(arg.clone());
                    continue;
                }
            };
            *slot = inline.or_else(|| args.next().map(|v| v.to_string_lossy().into_owned()));
        }
        let each: Vec<String> = members?.split(',').map(str::to_owned).collect();
        (each.len() > 1).then(|| Self {
            each,
            json: json.map(PathBuf::from),
            rest,
        })
    }
}

/// One report of every size's runs, as one harness run would have written it.
fn merge_reports(parts: &[PathBuf], json: &Path) -> Result<()> {
    let mut machine = Value::Null;
    let mut runs = Vec::new();
    for part in parts {
        let report: Value =
            serde_json::from_slice(&fs::read(part).with_context(|| part.display().to_string())?)?;
        machine = report["machine"].clone();
        runs.extend(report["runs"].as_array().into_iter().flatten().cloned());
        fs::remove_file(part)?;
    }
    let merged = json!({"machine": machine, "runs": runs});
    fs::write(json, serde_json::to_vec_pretty(&merged)?).with_context(|| json.display().to_string())
}

/// Builds `socle` and the harness `harness` (a binary of `tests/`), and
/// returns the harness's command, given `--socle <the operator binary>`.
pub fn harness_command(build: Build, harness: &str) -> Result<Command> {
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
        harness,
    ]);
    cargo(&cargo_args, &[])?;
    let bin = workspace_root().join("target").join(dir);
    let mut command = Command::new(bin.join(harness));
    command.arg("--socle").arg(bin.join("socle"));
    Ok(command)
}

fn run(build: Build, args: &[OsString], kubeconfig: &Path, tear_down: bool) -> Result<()> {
    let mut command = harness_command(build, "socle-bench")?;
    command.args(args);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn several_sizes_are_split_out_with_the_json_path_in_either_form() {
        let sizes = Sizes::split_out(&args(
            "--probes 5 --members 100,1000 --json=out/b.json --check",
        ))
        .expect("two sizes");
        assert_eq!(sizes.each, ["100", "1000"]);
        assert_eq!(sizes.json, Some(PathBuf::from("out/b.json")));
        assert_eq!(sizes.rest, args("--probes 5 --check"));
        let sizes = Sizes::split_out(&args("--members=20,30 --json b.json")).expect("two sizes");
        assert_eq!(sizes.json, Some(PathBuf::from("b.json")));
        assert!(sizes.rest.is_empty());
    }

    #[test]
    fn one_size_or_none_is_left_to_the_harness() {
        assert!(Sizes::split_out(&args("--members 10000 --probes 100")).is_none());
        assert!(Sizes::split_out(&args("--probes 100")).is_none());
    }
}

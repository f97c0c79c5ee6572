//! `cargo xtask faults`: builds `socle` and the fault harness
//! (`tests/faults`), and runs it against the testenv — the running one, or
//! one started for it and stopped after. The harness kills kube-apiserver
//! and etcd through `cargo xtask testenv restart`.

use std::ffi::OsString;

use anyhow::{Context, Result, ensure};

use crate::{bench, testenv, workspace_root};

pub fn faults(args: &[OsString]) -> Result<()> {
    let was_running = testenv::is_running()?;
    let kubeconfig = testenv::up(testenv::Backups::Velero, testenv::Gitops::None)?;
    let result = (|| {
        let mut command = bench::harness_command(bench::Build::Debug, "socle-faults")?;
        command.args(args);
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

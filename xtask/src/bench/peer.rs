//! `cargo xtask bench --peer kyverno --members N`: socle and a peer doing
//! the same job on the same control plane, one after the other in one run.
//! socle's run is the ordinary bench (its report kept as JSON); then the
//! peer's processes are started and the harness runs again in its peer mode
//! (`tests/bench/peer.rs`), which prints both side by side; then the peer is
//! stopped. Only this mode builds Kyverno (never CI).

use std::{ffi::OsString, path::Path, time::Instant};

use anyhow::{Result, bail, ensure};

use super::{Build, run};
use crate::{testenv, workspace_root};

/// The peer asked for with `--peer NAME`.
#[derive(Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `--peer-only`: the peer's run alone, beside the socle report of an
    /// earlier run if there is one (`target/bench-peer-socle.json`).
    pub only: bool,
}

/// `--peer NAME` (and `--peer-only`) taken out of `args`, with the rest;
/// `None` without it.
pub fn split_out(args: &[OsString]) -> Result<Option<(Peer, Vec<OsString>)>> {
    let mut peer = None;
    let mut only = false;
    let mut rest = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--peer-only" {
            only = true;
        } else if let Some(value) = text.strip_prefix("--peer=") {
            peer = Some(value.to_owned());
        } else if text == "--peer" {
            match args.next() {
                Some(value) => peer = Some(value.to_string_lossy().into_owned()),
                None => bail!("--peer needs a name (kyverno)"),
            }
        } else {
            rest.push(arg.clone());
        }
    }
    Ok(peer.map(|name| (Peer { name, only }, rest)))
}

/// socle's run, then the peer's, on one control plane (started here unless
/// one runs, and stopped after).
pub fn bench(build: Build, peer: &Peer, args: &[OsString]) -> Result<()> {
    ensure!(
        peer.name == "kyverno",
        "unknown peer {}: kyverno is the one measured",
        peer.name
    );
    ensure!(
        !args
            .iter()
            .any(|a| a.to_string_lossy().starts_with("--json")),
        "--json is not taken with --peer: the reports go to target/bench-peer-*.json"
    );
    let started = Instant::now();
    let binaries = testenv::kyverno::ensure_binaries()?;
    eprintln!(
        "xtask: Kyverno {} ready in {:.0} s (a cold build when it was not cached)",
        testenv::kyverno::VERSION,
        started.elapsed().as_secs_f64()
    );
    let started_here = !testenv::is_running()?;
    let kubeconfig = if started_here {
        testenv::up(testenv::Backups::None, testenv::Gitops::None)?
    } else {
        testenv::kubeconfig_path()
    };
    let result = both(build, &binaries, args, &kubeconfig, started_here, peer.only);
    if started_here {
        testenv::down()?;
    }
    result
}

fn both(
    build: Build,
    binaries: &testenv::kyverno::Binaries,
    args: &[OsString],
    kubeconfig: &Path,
    tear_down: bool,
    peer_only: bool,
) -> Result<()> {
    let target = workspace_root().join("target");
    let socle_json = target.join("bench-peer-socle.json");
    let peer_json = target.join("bench-peer-kyverno.json");
    if !peer_only {
        let mut socle_args = args.to_vec();
        socle_args.push(json_arg(&socle_json));
        run(build, &socle_args, kubeconfig, tear_down)?;
    }

    let kyverno = testenv::kyverno::start(&testenv::state_dir(), binaries)?;
    let mut peer_args = args.to_vec();
    peer_args.extend([
        "--peer=kyverno".into(),
        join("--peer-pids", kyverno.pids().iter().map(u32::to_string)),
        join("--peer-users", kyverno.users.iter().cloned()),
        json_arg(&peer_json),
    ]);
    if socle_json.exists() {
        peer_args.push(format!("--against={}", socle_json.display()).into());
    }
    let result = run(build, &peer_args, kubeconfig, tear_down);
    if result.is_err() {
        kyverno.print_logs();
    }
    kyverno.stop()?;
    result
}

fn json_arg(path: &Path) -> OsString {
    format!("--json={}", path.display()).into()
}

fn join(flag: &str, values: impl Iterator<Item = String>) -> OsString {
    format!("{flag}={}", values.collect::<Vec<_>>().join(",")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_peer_is_taken_out_in_either_form() {
        let (peer, rest) = split_out(&args("--members 100 --peer kyverno --probes 5"))
            .unwrap()
            .unwrap();
        assert_eq!(
            peer,
            Peer {
                name: "kyverno".into(),
                only: false
            }
        );
        assert_eq!(rest, args("--members 100 --probes 5"));
        let (peer, _) = split_out(&args("--peer-only --peer=kyverno"))
            .unwrap()
            .unwrap();
        assert_eq!(
            peer,
            Peer {
                name: "kyverno".into(),
                only: true
            }
        );
        assert!(split_out(&args("--members 100")).unwrap().is_none());
        assert!(split_out(&args("--peer")).is_err());
    }
}

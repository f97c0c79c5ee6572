//! `cargo xtask`: the project's own tooling — the local control plane, CRD
//! generation, the full CI run, the demo and the benchmark.
#![forbid(unsafe_code)]

mod bench;
mod crd_copies;
mod debian;
mod demo;
mod faults;
mod go;
mod testenv;
mod tools;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, ensure};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "socle's development tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// A real kube-apiserver + etcd + kube-controller-manager on 127.0.0.1.
    Testenv {
        #[command(subcommand)]
        action: TestenvAction,
    },
    /// Regenerate crds/*.yaml from the Rust types (or, with --check, fail on drift).
    Crds {
        /// Compare instead of writing; exit non-zero when crds/ is stale.
        #[arg(long)]
        check: bool,
    },
    /// The local demo: control plane up, CRDs and the 31 communes applied, the
    /// operator provisioning them, and the exercise's contributions.
    Demo {
        /// Instead: a new commune's life as pull requests, applied by Flux
        /// from a repository served over SSH on 127.0.0.1.
        #[arg(long)]
        gitops: bool,
    },
    /// Build (first time) helm, kubectl and wireguard-go for the end-to-end tests, and print
    /// the variables that point the tests at them and at the running testenv.
    Tools,
    /// Everything CI checks: fmt, clippy, CRD drift, unit tests, end-to-end
    /// tests, and the benchmark harness at 20 Members.
    Ci,
    /// The fault suite: the operator, kube-apiserver and etcd killed under
    /// load, then every invariant checked (on a control plane of its own
    /// unless one runs). Arguments go to the harness (`--help` lists them).
    Faults {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The operator at scale: N Members provisioned by `socle run` (release
    /// build) on the testenv; latencies, requests, RSS, the raw apply ceiling.
    /// Arguments go to the harness, e.g. `--members 100,1000 --json bench.json`
    /// (`--help` lists them).
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
enum TestenvAction {
    /// Build (first time) and start the control plane, Velero's server
    /// over an S3 store (versitygw) and Flux's source-controller and
    /// kustomize-controller; print the kubeconfig path.
    Up {
        /// No versitygw, no Velero.
        #[arg(long)]
        no_velero: bool,
        /// No Flux.
        #[arg(long)]
        no_flux: bool,
    },
    /// Stop the processes `up` started and remove their state.
    Down,
    /// Print `export KUBECONFIG=…` for the running environment.
    Env,
    /// Say what runs.
    Status,
    /// Kill one component (SIGKILL) and start it again with the same
    /// arguments and data: `etcd`, `kube-apiserver`,
    /// `kube-controller-manager`, `versitygw`, `velero`, `source-controller`
    /// or `kustomize-controller`.
    Restart {
        component: String,
        /// Seconds the component stays down before it starts again (an
        /// object store out for a while, rather than a process restarting).
        #[arg(long, default_value_t = 0)]
        down_for: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Testenv { action } => match action {
            TestenvAction::Up { no_velero, no_flux } => {
                let kubeconfig = testenv::up(
                    if no_velero {
                        testenv::Backups::None
                    } else {
                        testenv::Backups::Velero
                    },
                    if no_flux {
                        testenv::Gitops::None
                    } else {
                        testenv::Gitops::Flux
                    },
                )?;
                println!("export KUBECONFIG={}", kubeconfig.display());
                Ok(())
            }
            TestenvAction::Down => testenv::down(),
            TestenvAction::Env => testenv::print_env(),
            TestenvAction::Status => testenv::status(),
            TestenvAction::Restart {
                component,
                down_for,
            } => testenv::restart(&component, std::time::Duration::from_secs(down_for)),
        },
        Task::Crds { check } => crds(check),
        Task::Demo { gitops: false } => demo::demo(),
        Task::Demo { gitops: true } => demo::gitops::demo(),
        Task::Tools => {
            println!("export SOCLE_HELM={}", tools::ensure_helm()?.display());
            println!(
                "export SOCLE_KUBECTL={}",
                tools::ensure_kubectl()?.display()
            );
            println!(
                "export SOCLE_WIREGUARD_GO={}",
                tools::ensure_wireguard_go()?.display()
            );
            println!(
                "export SOCLE_TESTENV_DIR={}",
                testenv::state_dir().display()
            );
            testenv::print_env()
        }
        Task::Ci => ci(),
        Task::Faults { args } => faults::faults(&args),
        Task::Bench { args } => bench::bench(bench::Build::Release, &args),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo(args: &[&str], envs: &[(&str, &Path)]) -> Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .status()
        .context("running cargo")?;
    ensure!(status.success(), "cargo {} failed", args.join(" "));
    Ok(())
}

/// The CRDs are generated by the operator binary itself (`socle crd`), so the
/// YAML can never say something the types do not.
fn crds(check: bool) -> Result<()> {
    let committed = workspace_root().join("crds");
    let target = if check {
        workspace_root().join("target/crds-check")
    } else {
        committed.clone()
    };
    let _ = std::fs::remove_dir_all(&target);
    std::fs::create_dir_all(&target)?;
    let dir = target.to_str().context("non-UTF-8 path")?;
    cargo(
        &[
            "run",
            "--quiet",
            "--package",
            "socle",
            "--",
            "crd",
            "--output-dir",
            dir,
        ],
        &[],
    )?;
    // The kustomization listing the CRDs and the chart's copy follow them.
    crd_copies::write_kustomization(&target)?;
    let chart = workspace_root().join("charts/socle/crds");
    if check {
        crd_copies::check_chart(&target, &chart)?;
    } else {
        crd_copies::copy_to_chart(&committed, &chart)?;
    }
    if check {
        let status = Command::new("diff")
            .args(["-r", "-u"])
            .arg(&committed)
            .arg(&target)
            .status()?;
        ensure!(
            status.success(),
            "crds/ differs from what the code generates: run `cargo xtask crds` and commit"
        );
    }
    Ok(())
}

fn ci() -> Result<()> {
    debian::ensure_packages()?;
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    crds(true)?;
    cargo(
        &["test", "--workspace", "--exclude", "socle-e2e", "--locked"],
        &[],
    )?;
    // A control plane that was already running (a developer's) is reused and
    // left running; one started here is stopped here.
    // helm and kubectl for the install tests, built from the Go module proxy.
    let helm = tools::ensure_helm()?;
    let kubectl = tools::ensure_kubectl()?;
    // The VPN tests' routers and hub: userspace WireGuard.
    let wireguard_go = tools::ensure_wireguard_go()?;
    // The leader test runs the real binary, twice.
    cargo(&["build", "--package", "socle", "--locked"], &[])?;
    let socle = workspace_root().join("target/debug/socle");
    let was_running = testenv::is_running()?;
    let kubeconfig = testenv::up(testenv::Backups::Velero, testenv::Gitops::Flux)?;
    // The e2e tests mostly wait on controllers, not on the CPU.
    let result = cargo(
        &[
            "test",
            "--package",
            "socle-e2e",
            "--locked",
            // Every test binary runs even when one fails: one report for all.
            "--no-fail-fast",
            "--",
            "--test-threads=8",
        ],
        &[
            ("KUBECONFIG", &kubeconfig),
            ("SOCLE_TESTENV_DIR", &testenv::state_dir()),
            ("SOCLE_HELM", &helm),
            ("SOCLE_KUBECTL", &kubectl),
            ("SOCLE_WIREGUARD_GO", &wireguard_go),
            ("SOCLE_BIN", &socle),
        ],
    );
    // After the e2e tests, not beside them: the harness at 20 Members, to
    // keep it working and to check that steady state costs no write. Its
    // objects are its own scope's, deleted before it returns.
    let harness = bench::bench(
        bench::Build::Debug,
        &[
            "--members=20",
            "--probes=5",
            "--quiet-seconds=5",
            "--ceiling-concurrency=4",
            "--ceiling-seconds=1",
            "--check",
        ]
        .map(std::ffi::OsString::from),
    );
    // Last: it kills kube-apiserver and etcd, so nothing may run beside it.
    let faults = faults::faults(&[]);
    if !was_running {
        testenv::down()?;
    }
    result.and(harness).and(faults)
}

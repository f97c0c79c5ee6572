//! Flux in the test environment: its source-controller and
//! kustomize-controller, built from their module sources
//! ([`build`]), run as processes against the control plane with identities
//! of their own (`flux-source-controller`, `flux-kustomize-controller`),
//! their CRDs installed, no leader election. source-controller keeps its
//! artifacts in the state directory and serves them on 127.0.0.1; every
//! port is picked free, so that two test environments coexist.
//!
//! Both watch every namespace, as a Flux install does: a test's
//! GitRepository and Kustomization live in a namespace of its own scope.

mod build;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

pub use self::build::{Binaries, KUSTOMIZE_CONTROLLER, SOURCE_CONTROLLER, ensure_binaries};
use super::process::{self, Component, Env};

/// The namespace a Flux install runs in (`RUNTIME_NAMESPACE`); the
/// controllers act on every namespace all the same.
pub const NAMESPACE: &str = "flux-system";
/// The field manager of what `up` applies.
const MANAGER: &str = "socle-testenv";

/// source-controller's kubeconfig (user `flux-source-controller`).
pub const SOURCE_KUBECONFIG: &str = "flux-source-controller.kubeconfig";
/// kustomize-controller's kubeconfig (user `flux-kustomize-controller`).
pub const KUSTOMIZE_KUBECONFIG: &str = "flux-kustomize-controller.kubeconfig";

/// What `env` and `status` tell about a running Flux.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub source_controller: String,
    pub kustomize_controller: String,
    /// Where source-controller serves its artifacts:
    /// `http://127.0.0.1:<port>`.
    pub artifacts_url: String,
    /// The directory it keeps them in.
    pub storage_dir: PathBuf,
}

/// Installs Flux's CRDs and namespace, starts source-controller and
/// kustomize-controller, and waits until both are healthy. `components`
/// gets each process as soon as it runs, so that a failure stops it with
/// the rest.
pub fn start(
    state_dir: &Path,
    binaries: &Binaries,
    components: &mut Vec<Component>,
) -> Result<State> {
    let started = Instant::now();
    let dir = state_dir.join("flux");
    let storage_dir = dir.join("artifacts");
    let tmp = dir.join("tmp");
    let home = dir.join("home");
    for path in [&storage_dir, &tmp, &home] {
        fs::create_dir_all(path)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = super::client().await?;
        super::apply_crds(&client, &read_crds(&binaries.crd_dir)?, MANAGER).await?;
        let namespace = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE},
        });
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
            .patch(
                NAMESPACE,
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&namespace),
            )
            .await
            .context("applying the namespace flux-system")?;
        anyhow::Ok(())
    })?;

    let [
        storage_port,
        source_metrics,
        source_health,
        kustomize_metrics,
        kustomize_health,
    ] = super::free_ports()?;
    let artifacts_url = format!("http://127.0.0.1:{storage_port}");
    let source_env = env(&dir, "source-controller", SOURCE_KUBECONFIG, &tmp, &home)?;
    components.push(Component::spawn(
        "source-controller",
        &binaries.source_controller,
        state_dir,
        &[
            common_args(source_metrics, source_health),
            vec![
                "--storage-path=flux/artifacts".into(),
                format!("--storage-addr=127.0.0.1:{storage_port}"),
                // The host in the artifacts' URLs, which kustomize-controller
                // downloads: this machine's loopback, not a Service's name.
                format!("--storage-adv-addr=127.0.0.1:{storage_port}"),
            ],
        ]
        .concat(),
        Some(&source_env),
    )?);
    let kustomize_env = env(
        &dir,
        "kustomize-controller",
        KUSTOMIZE_KUBECONFIG,
        &tmp,
        &home,
    )?;
    components.push(Component::spawn(
        "kustomize-controller",
        &binaries.kustomize_controller,
        state_dir,
        &[
            common_args(kustomize_metrics, kustomize_health),
            // A repository's kustomizations may not fetch bases from the
            // network: everything comes from the GitRepository.
            vec!["--no-remote-bases=true".into()],
        ]
        .concat(),
        Some(&kustomize_env),
    )?);
    wait_until_healthy(
        components,
        &[source_health, kustomize_health],
        storage_port,
        Duration::from_secs(60),
    )?;
    eprintln!(
        "testenv: Flux source-controller {SOURCE_CONTROLLER} and kustomize-controller \
         {KUSTOMIZE_CONTROLLER} ready in {:.1}s; artifacts at {artifacts_url}",
        started.elapsed().as_secs_f64()
    );
    Ok(State {
        source_controller: SOURCE_CONTROLLER.into(),
        kustomize_controller: KUSTOMIZE_CONTROLLER.into(),
        artifacts_url,
        storage_dir,
    })
}

/// What both controllers are started with; each departs from Flux's
/// default for a reason.
fn common_args(metrics_port: u16, health_port: u16) -> Vec<String> {
    vec![
        // As Flux's install: every namespace (a test's objects are in its own).
        "--watch-all-namespaces=true".into(),
        // One replica per test environment: nothing to elect.
        "--enable-leader-election=false".into(),
        // Defaults `:8080` and `:9440`, every interface, fixed ports.
        format!("--metrics-addr=127.0.0.1:{metrics_port}"),
        format!("--health-addr=127.0.0.1:{health_port}"),
        // No notification-controller here.
        "--events-addr=".into(),
        "--log-level=info".into(),
        "--log-encoding=console".into(),
    ]
}

/// A controller's environment: its own kubeconfig (controller-runtime reads
/// `KUBECONFIG`), the namespace Flux runs in, and `TMPDIR` and `HOME` inside
/// the state directory (source-controller clones into `TMPDIR`; neither may
/// read the developer's `~/.ssh` or `~/.gitconfig`).
fn env(dir: &Path, name: &str, kubeconfig: &str, tmp: &Path, home: &Path) -> Result<Env> {
    Env::write(
        &dir.join(format!("{name}.env")),
        &[
            ("KUBECONFIG", kubeconfig),
            ("RUNTIME_NAMESPACE", NAMESPACE),
            ("TMPDIR", path_str(tmp)?),
            ("HOME", path_str(home)?),
        ],
    )
}

/// Flux's CRDs, as its modules carry them.
fn read_crds(dir: &Path) -> Result<Vec<Value>> {
    let mut crds = Vec::new();
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        let text = fs::read_to_string(&path)?;
        let crd: Value =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        crds.push(crd);
    }
    anyhow::ensure!(!crds.is_empty(), "no CRD in {}", dir.display());
    Ok(crds)
}

/// Until both controllers answer `/readyz` on their health ports and the
/// artifact server accepts connections.
fn wait_until_healthy(
    components: &[Component],
    health_ports: &[u16],
    storage_port: u16,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let ready = health_ports
            .iter()
            .all(|port| process::answers_ok(*port, "/readyz"))
            && std::net::TcpStream::connect(("127.0.0.1", storage_port)).is_ok();
        if ready {
            return Ok(());
        }
        if let Some(dead) = components.iter().find(|c| !c.is_running()) {
            bail!("{} exited during start-up", dead.name);
        }
        if Instant::now() > deadline {
            bail!("Flux's controllers are not ready after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("non-UTF-8 path {}", path.display()))
}

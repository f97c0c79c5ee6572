//! `cargo xtask testenv up | down | env | status | restart`: a real control
//! plane (etcd, kube-apiserver, kube-controller-manager) on 127.0.0.1,
//! Velero's server over an S3 store (versitygw), and Flux's
//! source-controller and kustomize-controller, built from the Go module
//! proxy and cached, started on free ports, no Docker.

mod build;
mod flux;
pub mod kyverno;
mod pki;
mod process;
mod velero;

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::json;

pub use self::build::{KUBERNETES, ensure_binaries};
use self::process::Component;

/// Where the running environment keeps its state: certificates, kubeconfig,
/// etcd data, logs, the audit log and `state.json` (pids and ports).
pub fn state_dir() -> PathBuf {
    std::env::var_os("SOCLE_TESTENV_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv"),
        PathBuf::from,
    )
}

pub fn kubeconfig_path() -> PathBuf {
    state_dir().join("kubeconfig")
}

/// The operator's own kubeconfig (user `socle-operator`).
pub fn operator_kubeconfig_path() -> PathBuf {
    state_dir().join("operator.kubeconfig")
}

/// Velero's server's kubeconfig (user `velero-server`).
fn velero_kubeconfig_path() -> PathBuf {
    state_dir().join("velero.kubeconfig")
}

/// Flux's controllers' kubeconfigs (users `flux-source-controller` and
/// `flux-kustomize-controller`).
fn flux_kubeconfig_paths() -> [PathBuf; 2] {
    [
        state_dir().join(flux::SOURCE_KUBECONFIG),
        state_dir().join(flux::KUSTOMIZE_KUBECONFIG),
    ]
}

/// What `up` wrote and `down`/`status` read.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct State {
    kubernetes: String,
    components: Vec<Component>,
    apiserver_port: u16,
    /// Absent when started with `--no-velero`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    velero: Option<velero::State>,
    /// Absent when started with `--no-flux`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flux: Option<flux::State>,
}

/// What `up` starts besides the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backups {
    /// Velero's server and its S3 store (versitygw).
    Velero,
    /// The control plane alone.
    None,
}

/// Whether `up` starts a GitOps engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gitops {
    /// Flux's source-controller and kustomize-controller.
    Flux,
    None,
}

fn read_state() -> Result<Option<State>> {
    let path = state_dir().join("state.json");
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(
        serde_json::from_slice(&fs::read(&path)?).context("reading state.json")?,
    ))
}

/// True when a complete environment runs.
pub fn is_running() -> Result<bool> {
    Ok(read_state()?.is_some_and(|state| state.components.iter().all(Component::is_running)))
}

/// Starts the control plane (and Velero, unless `Backups::None`, and Flux,
/// unless `Gitops::None`), or says it already runs. Returns the kubeconfig
/// path.
pub fn up(backups: Backups, gitops: Gitops) -> Result<PathBuf> {
    if let Some(state) = read_state()? {
        if state.components.iter().all(Component::is_running) {
            eprintln!(
                "testenv: already running on https://127.0.0.1:{}{}{}",
                state.apiserver_port,
                match (&state.velero, backups) {
                    (None, Backups::Velero) =>
                        " without Velero (started with --no-velero; `down` first to get it)",
                    _ => "",
                },
                match (&state.flux, gitops) {
                    (None, Gitops::Flux) =>
                        " without Flux (started with --no-flux; `down` first to get it)",
                    _ => "",
                }
            );
            return Ok(kubeconfig_path());
        }
        eprintln!("testenv: a previous environment is partly dead; cleaning it up");
        down()?;
    }
    let binaries = ensure_binaries()?;
    let velero_binaries = match backups {
        Backups::Velero => Some(velero::ensure_binaries()?),
        Backups::None => None,
    };
    let flux_binaries = match gitops {
        Gitops::Flux => Some(flux::ensure_binaries()?),
        Gitops::None => None,
    };
    let started = Instant::now();
    let dir = state_dir();
    fs::create_dir_all(dir.join("logs"))?;
    let ports = free_ports()?;
    let apiserver_port = ports[2];
    write_kubeconfigs(&pki::generate(&dir)?, apiserver_port)?;
    fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY)?;

    let mut components = Vec::new();
    let mut velero_state = None;
    let mut flux_state = None;
    let result = start_control_plane(&binaries, &dir, ports, &mut components).and_then(|()| {
        eprintln!(
            "testenv: Kubernetes {KUBERNETES} ready in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        if let Some(binaries) = &velero_binaries {
            velero_state = Some(velero::start(&dir, binaries, &mut components)?);
        }
        if let Some(binaries) = &flux_binaries {
            flux_state = Some(flux::start(&dir, binaries, &mut components)?);
        }
        Ok(())
    });
    let state = State {
        kubernetes: KUBERNETES.into(),
        components,
        apiserver_port,
        velero: velero_state,
        flux: flux_state,
    };
    fs::write(dir.join("state.json"), serde_json::to_vec_pretty(&state)?)?;
    if let Err(error) = result {
        for component in &state.components {
            eprintln!(
                "--- last lines of {} ---\n{}",
                component.name,
                component.log_tail(30)
            );
        }
        down()?;
        return Err(error.context("the test environment did not start"));
    }
    eprintln!(
        "testenv: ready on https://127.0.0.1:{apiserver_port} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(kubeconfig_path())
}

/// The admin's, the operator's, Velero's and Flux's kubeconfigs.
fn write_kubeconfigs(client: &pki::ClientMaterial, apiserver_port: u16) -> Result<()> {
    let [flux_source, flux_kustomize] = flux_kubeconfig_paths();
    for (path, user) in [
        (kubeconfig_path(), &client.admin),
        (operator_kubeconfig_path(), &client.operator),
        (velero_kubeconfig_path(), &client.velero),
        (flux_source, &client.flux_source),
        (flux_kustomize, &client.flux_kustomize),
    ] {
        write_kubeconfig(&path, &client.ca, user, apiserver_port)?;
    }
    Ok(())
}

/// etcd, kube-apiserver (ready) and kube-controller-manager, on the ports
/// `[etcd, etcd peer, kube-apiserver, kube-controller-manager]`; then the
/// StorageClass. `components` gets each process as soon as it runs.
fn start_control_plane(
    binaries: &build::Binaries,
    dir: &Path,
    [etcd_port, peer_port, apiserver_port, kcm_port]: [u16; 4],
    components: &mut Vec<Component>,
) -> Result<()> {
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    components.push(Component::spawn(
        "etcd",
        &binaries.etcd,
        dir,
        &[
            "--data-dir=etcd".into(),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            // Tests throw the data away; fsync would only slow every write.
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ],
        None,
    )?);
    process::wait_for_port(etcd_port, Duration::from_secs(30))?;

    components.push(Component::spawn(
        "kube-apiserver",
        &binaries.kube_apiserver,
        dir,
        &apiserver_args(etcd_port, apiserver_port),
        None,
    )?);
    wait_until_ready(components, Duration::from_secs(90))?;

    components.push(Component::spawn(
        "kube-controller-manager",
        &binaries.kube_controller_manager,
        dir,
        &controller_manager_args(kcm_port),
        None,
    )?);
    process::wait_for_port(kcm_port, Duration::from_secs(60))?;
    install_storage_class()
}

/// Stops exactly the processes `up` started, by pid, and removes their state.
pub fn down() -> Result<()> {
    let Some(state) = read_state()? else {
        eprintln!("testenv: nothing runs");
        return Ok(());
    };
    for component in state.components.iter().rev() {
        component.stop()?;
    }
    fs::remove_dir_all(state_dir())?;
    eprintln!("testenv: stopped and removed {}", state_dir().display());
    Ok(())
}

/// Kills one component of the running environment (SIGKILL, as a crash
/// would) and, `down_for` later, starts it again with the same arguments,
/// environment and data;
/// returns once the API server answers `/readyz` again and the component
/// listens on its ports. What the fault suite does to kube-apiserver and
/// etcd under a running operator.
pub fn restart(name: &str, down_for: Duration) -> Result<()> {
    let mut state = read_state()?.context("testenv: nothing runs")?;
    let dir = state_dir();
    let component = state
        .components
        .iter_mut()
        .find(|component| component.name == name)
        .with_context(|| format!("testenv: no component {name}"))?;
    let started = Instant::now();
    *component = component.restart(&dir, down_for)?;
    let ports = component.ports();
    fs::write(dir.join("state.json"), serde_json::to_vec_pretty(&state)?)?;
    let ready = wait_until_ready(&state.components, Duration::from_secs(90)).and_then(|()| {
        ports
            .iter()
            .try_for_each(|port| process::wait_for_port(*port, Duration::from_secs(60)))
    });
    if let Err(error) = ready {
        for component in &state.components {
            eprintln!(
                "--- last lines of {} ---\n{}",
                component.name,
                component.log_tail(20)
            );
        }
        return Err(error);
    }
    eprintln!(
        "testenv: {name} killed and started again {:.0}s later; ready in {:.1}s",
        down_for.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn status() -> Result<()> {
    let Some(state) = read_state()? else {
        println!("testenv: not running");
        return Ok(());
    };
    println!(
        "testenv: Kubernetes {} on https://127.0.0.1:{}",
        state.kubernetes, state.apiserver_port
    );
    for component in &state.components {
        let health = if component.is_running() {
            "running"
        } else {
            "DEAD"
        };
        println!("  {:<24} pid {:<8} {health}", component.name, component.pid);
    }
    println!("  kubeconfig: {}", kubeconfig_path().display());
    if let Some(velero) = &state.velero {
        println!(
            "  velero: namespace {}, bucket {} at {} (S3 credentials: {}; objects under {})",
            velero.namespace,
            velero.bucket,
            velero.s3_url,
            velero.credentials_file.display(),
            velero.store_dir.display()
        );
    }
    if let Some(flux) = &state.flux {
        println!(
            "  flux: source-controller {} (artifacts at {}, kept in {}), kustomize-controller {}",
            flux.source_controller,
            flux.artifacts_url,
            flux.storage_dir.display(),
            flux.kustomize_controller
        );
    }
    Ok(())
}

/// `velero server`'s metrics endpoint, when the testenv runs Velero.
pub fn velero_metrics_url() -> Result<Option<String>> {
    Ok(read_state()?
        .and_then(|state| state.velero)
        .map(|velero| velero.metrics_url))
}

/// `export KUBECONFIG=…`, where Flux serves its artifacts when it runs, and
/// where Velero's store is when it runs: its S3 endpoint and bucket, the AWS
/// credentials file with its keys (a path: the keys are never printed), and
/// Velero's namespace.
pub fn print_env() -> Result<()> {
    println!("export KUBECONFIG={}", kubeconfig_path().display());
    let state = read_state()?;
    if let Some(flux) = state.as_ref().and_then(|state| state.flux.as_ref()) {
        println!("export SOCLE_FLUX_ARTIFACTS_URL={}", flux.artifacts_url);
    }
    if let Some(velero) = state.and_then(|state| state.velero) {
        println!("export SOCLE_VELERO_NAMESPACE={}", velero.namespace);
        println!("export SOCLE_S3_URL={}", velero.s3_url);
        println!("export SOCLE_S3_BUCKET={}", velero.bucket);
        println!("export SOCLE_VELERO_METRICS_URL={}", velero.metrics_url);
        println!(
            "export SOCLE_S3_CREDENTIALS_FILE={}",
            velero.credentials_file.display()
        );
    }
    Ok(())
}

fn controller_manager_args(port: u16) -> Vec<String> {
    vec![
        "--kubeconfig=kubeconfig".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--leader-elect=false".into(),
        // Only what socle relies on: namespace finalization, garbage
        // collection of owned objects, service accounts and their
        // tokens, the aggregated admin/edit/view cluster roles, the
        // protection that keeps a claim until no pod uses it, and
        // volumes: claims bound to volumes that a real provisioner
        // creates, and deletes with their data when the reclaim
        // policy says Delete.
        "--controllers=namespace-controller,garbage-collector-controller,\
             serviceaccount-controller,serviceaccount-token-controller,\
             clusterrole-aggregation-controller,root-ca-certificate-publisher-controller,\
             persistentvolumeclaim-protection-controller,persistentvolume-binder-controller,\
             persistentvolume-protection-controller"
            .into(),
        // kube-controller-manager's own host-path provisioner: a
        // directory under /tmp/hostpath_pv per volume, removed when
        // a volume whose policy is Delete is released.
        "--enable-hostpath-provisioner=true".into(),
        "--service-account-private-key-file=service-account.key".into(),
        "--root-ca-file=ca.crt".into(),
        "--concurrent-gc-syncs=5".into(),
    ]
}

fn apiserver_args(etcd_port: u16, port: u16) -> Vec<String> {
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--tls-cert-file=apiserver.crt".into(),
        "--tls-private-key-file=apiserver.key".into(),
        "--client-ca-file=ca.crt".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        "--service-account-key-file=service-account.pub".into(),
        "--service-account-signing-key-file=service-account.key".into(),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--authorization-mode=RBAC".into(),
        // No kubelet will ever register, so there is no endpoint to reconcile.
        "--endpoint-reconciler-type=none".into(),
        // Tests count the operator's requests in here (e.g. zero writes in
        // steady state). A 10 000-Member bench logs about a gigabyte; a
        // rotation would hide part of it from the reader.
        "--audit-policy-file=audit-policy.yaml".into(),
        "--audit-log-path=audit.log".into(),
        "--audit-log-maxsize=4000".into(),
        "--profiling=false".into(),
    ]
}

/// One audit event per request, without bodies: enough to count requests by
/// user, verb and resource.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
";

/// Ports picked by binding to port 0. Another process could take one between
/// this call and the server's bind; the server would then fail loudly.
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    Ok(ports.try_into().expect("N ports"))
}

fn write_kubeconfig(path: &Path, ca: &str, user: &pki::Identity, port: u16) -> Result<()> {
    // JSON is YAML: every kubeconfig reader accepts it.
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "socle-testenv", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            "certificate-authority-data": base64_pem(ca),
        }}],
        "users": [{"name": "user", "user": {
            "client-certificate-data": base64_pem(&user.certificate),
            "client-key-data": base64_pem(&user.key),
        }}],
        "contexts": [{"name": "socle-testenv", "context": {"cluster": "socle-testenv", "user": "user"}}],
        "current-context": "socle-testenv",
    });
    fs::write(path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

/// Base64 of a PEM text, as kubeconfig `*-data` fields want it.
fn base64_pem(pem: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// A client for the running environment, from the kubeconfig `up` wrote.
pub async fn client() -> Result<kube::Client> {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig_path())?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

/// Server-side applies `crds` (CustomResourceDefinitions as JSON) under the
/// field manager `manager` and waits until each is Established.
async fn apply_crds(
    client: &kube::Client,
    crds: &[serde_json::Value],
    manager: &str,
) -> Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api = kube::Api::<CustomResourceDefinition>::all(client.clone());
    let mut names = Vec::new();
    for crd in crds {
        let name = crd["metadata"]["name"]
            .as_str()
            .context("a CRD without a name")?;
        api.patch(
            name,
            &kube::api::PatchParams::apply(manager),
            &kube::api::Patch::Apply(crd),
        )
        .await
        .with_context(|| format!("applying CRD {name}"))?;
        names.push(name.to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in &names {
        loop {
            let established = api
                .get(name)
                .await?
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} not Established");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Name of the testenv's StorageClass: the class the example Storage
/// SharedService names (`manifests/examples/shared-services.yaml`).
pub const STORAGE_CLASS: &str = "standard";

/// A StorageClass served by kube-controller-manager's host-path provisioner,
/// reclaim policy Delete like most dynamic classes: a released volume's
/// directory really goes, unless socle set the volume to Retain. Not the
/// default class, so that only the claims that name it (directly or through
/// a Storage SharedService) get a volume.
fn install_storage_class() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let classes =
            kube::Api::<k8s_openapi::api::storage::v1::StorageClass>::all(client().await?);
        let class = json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        });
        classes
            .patch(
                STORAGE_CLASS,
                &kube::api::PatchParams::apply("socle-testenv"),
                &kube::api::Patch::Apply(&class),
            )
            .await?;
        Ok(())
    })
}

/// Polls `/readyz` through a real client built from the kubeconfig just written.
fn wait_until_ready(components: &[Component], timeout: Duration) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = client().await?;
        let deadline = Instant::now() + timeout;
        loop {
            let request = http::Request::get("/readyz").body(Vec::new())?;
            match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                _ if Instant::now() > deadline => bail!("/readyz not ok after {timeout:?}"),
                _ => {}
            }
            if let Some(dead) = components.iter().find(|c| !c.is_running()) {
                bail!("{} exited during start-up", dead.name);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

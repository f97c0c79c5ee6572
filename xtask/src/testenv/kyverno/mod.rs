//! Kyverno beside the test environment, for `cargo xtask bench --peer
//! kyverno`: its admission controller and background controller
//! ([`build`]), run as processes against the control plane, each as the
//! ServiceAccount Kyverno's Helm chart gives it (a token from the
//! TokenRequest API), so that the API server's audit log tells their
//! requests apart from everyone else's.
//!
//! Out of a cluster, Kyverno's own `--serverIP` mode: the admission
//! controller serves its webhooks on 127.0.0.1, registers them by URL
//! (`https://127.0.0.1:<port>/…`) and issues its own CA and serving
//! certificate (an IP SAN for 127.0.0.1), kept in Secrets of its namespace as
//! in a cluster. Its configuration is the Helm chart's default ConfigMap
//! (resource filters, `updateRequestThreshold` 1000, the webhooks' namespace
//! selector); client rate limits raised to 1 000 requests/s. Where this
//! departs from an install: no Deployment, Service or Pod (the runtime checks
//! that read them are off in `--serverIP` mode), metrics on free ports, and
//! both ServiceAccounts bound to `cluster-admin` instead of the chart's
//! narrower ClusterRoles (a generate rule's objects are the only kinds they
//! write here).

mod build;

use std::{
    fs,
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{
    Api,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    discovery::ApiResource,
};
use serde_json::{Value, json};

pub use self::build::{Binaries, VERSION, ensure_binaries};
use super::process::{Component, Env};

/// Kyverno's namespace (`KYVERNO_NAMESPACE`), as its chart names it.
pub const NAMESPACE: &str = "kyverno";
const MANAGER: &str = "socle-bench-kyverno";
/// The ServiceAccounts of the chart: the admission controller's and the
/// background controller's.
const ADMISSION: &str = "kyverno-admission-controller";
const BACKGROUND: &str = "kyverno-background-controller";
/// The Secrets the admission controller keeps its CA and serving pair in
/// (the chart's names).
const CA_SECRET: &str = "kyverno-svc.kyverno.svc.kyverno-tls-ca";
const TLS_SECRET: &str = "kyverno-svc.kyverno.svc.kyverno-tls-pair";
/// Requests per second each controller's client may send (see `start`).
const CLIENT_QPS: u32 = 1000;

/// The running peer: its processes and who they are in the audit log.
#[derive(Debug)]
pub struct Running {
    pub components: Vec<Component>,
    /// `system:serviceaccount:kyverno:<name>`, one per process.
    pub users: Vec<String>,
}

impl Running {
    /// Each process's pid, in the order of [`Self::users`].
    pub fn pids(&self) -> Vec<u32> {
        self.components.iter().map(|c| c.pid).collect()
    }

    /// Prints the last lines of each process's log, and whether it exited.
    pub fn print_logs(&self) {
        for component in &self.components {
            let state = if component.is_running() {
                "running"
            } else {
                "exited"
            };
            eprintln!(
                "--- last lines of {} ({state}) ---\n{}",
                component.name,
                component.log_tail(30)
            );
        }
    }

    /// Stops both processes, then deletes the webhook configurations they
    /// registered: with no server behind them, the API server would call
    /// them at each namespace write.
    pub fn stop(self) -> Result<()> {
        for component in self.components.iter().rev() {
            component.stop()?;
        }
        runtime()?.block_on(delete_webhooks())
    }
}

/// Installs Kyverno's CRDs, namespace, ServiceAccounts and configuration,
/// starts both controllers on free ports in `state_dir/kyverno`, and waits
/// until the webhook server listens.
pub fn start(state_dir: &Path, binaries: &Binaries) -> Result<Running> {
    let started = Instant::now();
    let dir = state_dir.join("kyverno");
    fs::create_dir_all(&dir)?;
    let tokens = runtime()?.block_on(install(&binaries.crd_dir))?;
    let [webhook_port, admission_metrics, background_metrics] = super::free_ports()?;
    let mut components = Vec::new();
    let mut users = Vec::new();
    for ((account, token), binary, args) in [
        (
            &tokens[0],
            &binaries.admission_controller,
            vec![
                format!("--serverIP=127.0.0.1:{webhook_port}"),
                "--webhookServerHost=127.0.0.1".into(),
                format!("--webhookServerPort={webhook_port}"),
                format!("--caSecretName={CA_SECRET}"),
                format!("--tlsSecretName={TLS_SECRET}"),
                format!(
                    "--backgroundServiceAccountName=system:serviceaccount:{NAMESPACE}:{BACKGROUND}"
                ),
                format!(
                    "--reportsServiceAccountName=system:serviceaccount:{NAMESPACE}:kyverno-reports-controller"
                ),
                format!("--metricsPort={admission_metrics}"),
            ],
        ),
        (
            &tokens[1],
            &binaries.background_controller,
            vec![format!("--metricsPort={background_metrics}")],
        ),
    ] {
        let kubeconfig = dir.join(format!("{account}.kubeconfig"));
        write_kubeconfig(&kubeconfig, token)?;
        let env = Env::write(
            &dir.join(format!("{account}.env")),
            &[
                ("KYVERNO_NAMESPACE", NAMESPACE),
                ("KYVERNO_SERVICEACCOUNT_NAME", account),
                ("KYVERNO_DEPLOYMENT", account),
                ("KYVERNO_POD_NAME", &format!("{account}-local")),
                ("KYVERNO_SVC", "kyverno-svc"),
                ("INIT_CONFIG", "kyverno"),
                ("METRICS_CONFIG", "kyverno-metrics"),
            ],
        )?;
        let mut args = args;
        args.extend([
            format!("--kubeconfig={}", kubeconfig.display()),
            "--controllerRuntimeMetricsAddress=0".into(),
            "--loggingFormat=text".into(),
            // At the binaries' 100/s (burst 200) a 1 000-namespace bulk
            // queued the leader-election renewal behind the generate work
            // until the lease was lost, and both controllers exited. socle's
            // client has no rate limit; 1 000/s is more than this API server
            // answers.
            format!("--clientRateLimitQPS={CLIENT_QPS}"),
            format!("--clientRateLimitBurst={}", 2 * CLIENT_QPS),
        ]);
        components.push(Component::spawn(
            account,
            binary,
            state_dir,
            &args,
            Some(&env),
        )?);
        users.push(format!("system:serviceaccount:{NAMESPACE}:{account}"));
    }
    let running = Running { components, users };
    if let Err(error) = wait_until_serving(&running.components, webhook_port) {
        running.print_logs();
        running.stop()?;
        return Err(error);
    }
    eprintln!(
        "kyverno: {VERSION} admission controller (webhooks on 127.0.0.1:{webhook_port}) and \
         background controller started in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(running)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// CRDs, namespace, ConfigMaps, ServiceAccounts and their bindings; returns
/// each ServiceAccount's name with a token for it.
async fn install(crd_dir: &Path) -> Result<[(String, String); 2]> {
    let client = super::client().await?;
    super::apply_crds(&client, &read_crds(crd_dir)?, MANAGER).await?;
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kyverno", "namespace": NAMESPACE}, "data": chart_config()}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kyverno-metrics", "namespace": NAMESPACE}, "data": {}}),
    ];
    for account in [ADMISSION, BACKGROUND] {
        objects.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": NAMESPACE}}));
        objects.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding", "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]}));
    }
    for object in &objects {
        apply(&client, object).await?;
    }
    let accounts = Api::<ServiceAccount>::namespaced(client, NAMESPACE);
    let mut tokens = Vec::new();
    for account in [ADMISSION, BACKGROUND] {
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                // A day: longer than any bench run.
                expiration_seconds: Some(24 * 3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let token = accounts
            .create_token_request(account, &PostParams::default(), &request)
            .await
            .with_context(|| format!("a token for {account}"))?
            .status
            .context("a TokenRequest status")?
            .token
            .context("a token in the TokenRequest status")?;
        tokens.push((account.to_owned(), token));
    }
    Ok(tokens.try_into().expect("two accounts"))
}

/// The chart's default `kyverno` ConfigMap (values.yaml of v1.19.1), less
/// the filters of the chart's own ClusterRoles, which do not exist here.
fn chart_config() -> Value {
    let filters = [
        "[Event,*,*]",
        "[*/*,kube-system,*]",
        "[*/*,kube-public,*]",
        "[*/*,kube-node-lease,*]",
        "[Node,*,*]",
        "[Node/?*,*,*]",
        "[APIService,*,*]",
        "[APIService/?*,*,*]",
        "[TokenReview,*,*]",
        "[SubjectAccessReview,*,*]",
        "[SelfSubjectAccessReview,*,*]",
        "[Binding,*,*]",
        "[Pod/binding,*,*]",
        "[ReplicaSet,*,*]",
        "[ReplicaSet/?*,*,*]",
        "[EphemeralReport,*,*]",
        "[ClusterEphemeralReport,*,*]",
    ];
    json!({
        "enableDefaultRegistryMutation": "true",
        "defaultRegistry": "docker.io",
        "generateSuccessEvents": "false",
        "excludeGroups": "system:nodes",
        "resourceFilters": filters.concat(),
        "updateRequestThreshold": "1000",
        "webhooks": json!({"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
             "values": ["kube-system", NAMESPACE]}]}}).to_string(),
    })
}

/// Server-side applies one object given as JSON.
async fn apply(client: &kube::Client, object: &Value) -> Result<()> {
    let (group, version) = match object["apiVersion"].as_str().context("an apiVersion")? {
        api_version if api_version.contains('/') => api_version
            .split_once('/')
            .map(|(g, v)| (g.to_owned(), v.to_owned()))
            .context("group/version")?,
        version => (String::new(), version.to_owned()),
    };
    let kind = object["kind"].as_str().context("a kind")?;
    let resource = ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(&group, &version, kind));
    let name = object["metadata"]["name"].as_str().context("a name")?;
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| format!("applying {kind} {name}"))?;
    Ok(())
}

/// Deletes the webhook configurations Kyverno registered (all carry the
/// label `webhook.kyverno.io/managed-by: kyverno`).
async fn delete_webhooks() -> Result<()> {
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    let client = super::client().await?;
    let params = kube::api::ListParams::default().labels("webhook.kyverno.io/managed-by=kyverno");
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete_collection(&kube::api::DeleteParams::default(), &params)
        .await?;
    Api::<ValidatingWebhookConfiguration>::all(client)
        .delete_collection(&kube::api::DeleteParams::default(), &params)
        .await?;
    Ok(())
}

/// A kubeconfig for the running test environment with `token` as its user.
fn write_kubeconfig(path: &Path, token: &str) -> Result<()> {
    let mut config: Value = serde_yaml::from_str(&fs::read_to_string(super::kubeconfig_path())?)?;
    config["users"] = json!([{"name": "user", "user": {"token": token}}]);
    // Only its owner may read a token.
    let _ = fs::remove_file(path);
    let text = serde_json::to_vec_pretty(&config)?;
    fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(&text)?;
    Ok(())
}

/// Kyverno's CRDs, as its module carries them.
fn read_crds(dir: &Path) -> Result<Vec<Value>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    paths
        .iter()
        .map(|path| {
            serde_yaml::from_str(&fs::read_to_string(path)?)
                .with_context(|| format!("parsing {}", path.display()))
        })
        .collect()
}

/// Until the webhook server accepts connections (it starts once Kyverno's
/// CA and serving pair exist) with both processes alive.
fn wait_until_serving(components: &[Component], webhook_port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", webhook_port)).is_ok() {
            return Ok(());
        }
        if let Some(dead) = components.iter().find(|c| !c.is_running()) {
            bail!("{} exited during start-up", dead.name);
        }
        if Instant::now() > deadline {
            bail!("Kyverno's webhook server is not listening after 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

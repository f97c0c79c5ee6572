//! Velero's real server in the test environment, over a real S3 store:
//! versitygw serving a directory of the state directory, the bucket
//! `velero`, Velero's CRDs, the credentials Secret, the default
//! BackupStorageLocation, and `velero server` acting on the namespace
//! `velero` only. Everything it writes stays in the state directory and
//! every port is picked free, so that two test environments coexist.
//!
//! The S3 keys are random per environment. They are written only to files
//! of mode 0600 in the state directory (`velero/credentials`, the AWS
//! credentials file; `velero/versitygw.env`, what versitygw reads at each
//! start) and to the Secret `velero/cloud-credentials`; never printed, never
//! in `state.json`.

mod build;
mod s3;

use std::{
    fs,
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, Patch, PatchParams},
};
use serde_json::{Value, json};

pub use self::build::{Binaries, VELERO, VERSITYGW, ensure_binaries};
use super::process::{self, Component, Env};

/// The namespace `velero server` acts on, and the only one.
pub const NAMESPACE: &str = "velero";
/// The bucket of the default BackupStorageLocation.
pub const BUCKET: &str = "velero";
/// The Secret holding the S3 credentials, and its key.
const SECRET: &str = "cloud-credentials";
const SECRET_KEY: &str = "cloud";
/// The field manager of what `up` applies.
const MANAGER: &str = "socle-testenv";

/// Where Velero's part of the state directory is.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("velero")
}

/// What `env` and `status` tell about a running Velero.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// `http://127.0.0.1:<port>`: the S3 endpoint (path-style).
    pub s3_url: String,
    pub bucket: String,
    pub namespace: String,
    /// The AWS credentials file of the S3 store (0600).
    pub credentials_file: PathBuf,
    /// The directory versitygw serves: `<bucket>/<object key>`.
    pub store_dir: PathBuf,
    /// `velero server`'s metrics, where socle reads the tarballs' sizes.
    pub metrics_url: String,
}

/// Starts versitygw, makes the bucket, installs Velero's CRDs and objects,
/// starts `velero server` and waits until its storage location is
/// Available. `components` gets each process as soon as it runs, so that a
/// failure stops it with the rest.
pub fn start(
    state_dir: &Path,
    binaries: &Binaries,
    components: &mut Vec<Component>,
) -> Result<State> {
    let started = Instant::now();
    let dir = dir(state_dir);
    let store_dir = dir.join("s3");
    let tmp = dir.join("tmp");
    let home = dir.join("home");
    // Its owner's alone, whatever Velero and versitygw write in it.
    fs::DirBuilder::new().mode(0o700).create(&dir)?;
    for path in [&store_dir, &tmp, &home] {
        fs::create_dir_all(path)?;
    }
    let keys = s3::Keys::generate()?;
    let credentials_file = dir.join("credentials");
    write_private(&credentials_file, &keys.credentials_file())?;
    let [s3_port, metrics_port] = super::free_ports()?;
    let s3_url = format!("http://127.0.0.1:{s3_port}");

    let versitygw_env = Env::write(
        &dir.join("versitygw.env"),
        &[
            ("ROOT_ACCESS_KEY_ID", keys.access_key_id.as_str()),
            ("ROOT_SECRET_ACCESS_KEY", keys.secret_access_key.as_str()),
        ],
    )?
    // Its settings all have a `VGW_` variable besides their flag.
    .unsetting("VGW_");
    components.push(Component::spawn(
        "versitygw",
        &binaries.versitygw,
        state_dir,
        &[
            format!("--port=127.0.0.1:{s3_port}"),
            "posix".into(),
            relative(state_dir, &store_dir)?,
        ],
        Some(&versitygw_env),
    )?);
    process::wait_for_port(s3_port, Duration::from_secs(30))?;
    s3::create_bucket(s3_port, BUCKET, &keys)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = super::client().await?;
        install_crds(&client, &binaries.velero).await?;
        install_objects(&client, &keys, &s3_url).await
    })?;

    // The credentials file stands for the Secret as a `velero install`
    // mounts it (`/credentials/cloud`, named by this variable); the aws
    // plugin inherits it, and no other `AWS_` variable of the developer's. Velero's plugins put their sockets in `$TMPDIR`,
    // and it adds the features of `$HOME/.config/velero/config.json` to
    // `--features`: both inside the state directory, the developer's own
    // configuration left out.
    let velero_env = Env::write(
        &dir.join("velero.env"),
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", path_str(&credentials_file)?),
            ("TMPDIR", path_str(&tmp)?),
            ("HOME", path_str(&home)?),
        ],
    )?
    .unsetting("AWS_");
    components.push(Component::spawn(
        "velero",
        &binaries.velero,
        state_dir,
        &server_args(&binaries.plugin_dir, metrics_port)?,
        Some(&velero_env),
    )?);
    runtime.block_on(wait_until_available(components, Duration::from_secs(90)))?;
    eprintln!(
        "testenv: Velero {VELERO} ready in {:.1}s: namespace {NAMESPACE}, bucket {BUCKET} on \
         versitygw {VERSITYGW} at {s3_url}",
        started.elapsed().as_secs_f64()
    );
    Ok(State {
        s3_url,
        bucket: BUCKET.into(),
        namespace: NAMESPACE.into(),
        credentials_file,
        store_dir,
        metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
    })
}

/// `velero server`'s arguments; each departs from Velero's default for a
/// reason.
fn server_args(plugin_dir: &Path, metrics_port: u16) -> Result<Vec<String>> {
    Ok(vec![
        "server".into(),
        // An identity of its own (in system:masters, as Velero's install
        // binds cluster-admin), so the audit log tells its requests apart.
        "--kubeconfig=velero.kubeconfig".into(),
        // Its controllers' caches, lists and watches cover this namespace
        // only: the Velero objects the tests make in other namespaces (for
        // the stand-in) are never seen.
        format!("--namespace={NAMESPACE}"),
        format!("--plugin-dir={}", path_str(plugin_dir)?),
        // Default `:8085` (every interface, one fixed port).
        format!("--metrics-address=127.0.0.1:{metrics_port}"),
        // Default `localhost:6060`: a second environment could not start.
        "--profiler-address=".into(),
        // No node agent runs here: no file-system backup of volumes unless a
        // Backup asks for it (Velero's default, said out loud).
        "--default-volumes-to-fs-backup=false".into(),
        "--uploader-type=kopia".into(),
        // No `--features`: EnableCSI needs a snapshot controller, which the
        // test environment has not.
        // One minute by default: a store that went away or came back shows
        // in the location's phase within seconds.
        "--store-validation-frequency=10s".into(),
        "--log-format=text".into(),
    ])
}

/// Velero's CRDs as the binary carries them (`velero install --crds-only`),
/// applied and Established.
async fn install_crds(client: &Client, velero: &Path) -> Result<()> {
    let output = Command::new(velero)
        .args(["install", "--crds-only", "--dry-run", "--output=json"])
        .env_remove("KUBECONFIG")
        .output()
        .with_context(|| format!("running {}", velero.display()))?;
    ensure!(
        output.status.success(),
        "velero install --crds-only --dry-run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let list: Value = serde_json::from_slice(&output.stdout).context("velero's CRDs")?;
    let crds = list["items"]
        .as_array()
        .context("velero's CRDs: no items")?;
    ensure!(!crds.is_empty(), "velero printed no CRD");
    super::apply_crds(client, crds, MANAGER).await
}

/// The namespace, the credentials Secret, the default storage location and
/// the Deployment Velero expects to run as.
async fn install_objects(client: &Client, keys: &s3::Keys, s3_url: &str) -> Result<()> {
    let params = PatchParams::apply(MANAGER);
    let labels = json!({"component": "velero"});
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": labels},
    });
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(NAMESPACE, &params, &Patch::Apply(&namespace))
        .await?;
    // What `velero install --secret-file` makes and mounts into the server's
    // pod; the server here reads the same keys from the state directory's
    // credentials file, the mount's stand-in.
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": labels},
        "type": "Opaque",
        "data": {SECRET_KEY: base64(&keys.credentials_file())},
    });
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), NAMESPACE)
        .patch(SECRET, &params, &Patch::Apply(&secret))
        .await
        .context("applying the credentials Secret")?;
    let location = json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "provider": "aws",
            "default": true,
            "objectStorage": {"bucket": BUCKET},
            // No `credential`: the plugin reads the server's own
            // credentials file, as in a `velero install`. With a credential,
            // Velero rewrites its copy of the Secret (truncate, then write)
            // each time a controller needs it, and a plugin reading it
            // meanwhile finds no keys: the backup sync failed so once in a
            // few minutes, when it met the store validation.
            "config": {
                "region": s3::REGION,
                "s3ForcePathStyle": "true",
                "s3Url": s3_url,
            },
        },
    });
    Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &location_resource())
        .patch("default", &params, &Patch::Apply(&location))
        .await
        .context("applying the BackupStorageLocation")?;
    // Velero takes for granted that it runs as the Deployment `velero` of its
    // namespace: its built-in restore action for pods reads the server's
    // image from it (for the restore helper), and without it every restore
    // fails (`deployments.apps "velero" not found`). Here the server is a
    // process, and the Deployment only says what a real install would run:
    // no replica (and no kubelet to run one anyway).
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"deploy": "velero"}},
            "template": {
                "metadata": {"labels": {"component": "velero", "deploy": "velero"}},
                "spec": {"containers": [{
                    "name": "velero",
                    "image": format!("velero/velero:{VELERO}"),
                    "command": ["/velero"],
                    "args": ["server"],
                }]},
            },
        },
    });
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), NAMESPACE)
        .patch("velero", &params, &Patch::Apply(&deployment))
        .await
        .context("applying the Deployment velero")?;
    Ok(())
}

fn location_resource() -> ApiResource {
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "BackupStorageLocation".into(),
        plural: "backupstoragelocations".into(),
    }
}

/// Until Velero has validated the default location (its status.phase is
/// `Available`): it can read and write the bucket with the Secret's keys.
async fn wait_until_available(components: &[Component], timeout: Duration) -> Result<()> {
    let client = super::client().await?;
    let api = Api::<DynamicObject>::namespaced_with(client, NAMESPACE, &location_resource());
    let deadline = Instant::now() + timeout;
    let mut phase = String::new();
    loop {
        if let Some(location) = api.get_opt("default").await? {
            location.data["status"]["phase"]
                .as_str()
                .unwrap_or_default()
                .clone_into(&mut phase);
            if phase == "Available" {
                return Ok(());
            }
        }
        if let Some(dead) = components.iter().find(|c| !c.is_running()) {
            bail!("{} exited during start-up", dead.name);
        }
        if Instant::now() > deadline {
            bail!(
                "Velero's BackupStorageLocation is not Available after {timeout:?} (phase \
                 {phase:?}); see {}",
                components
                    .last()
                    .map_or_else(String::new, |c| c.log.display().to_string())
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Writes `text` to a new file only its owner may read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let _ = fs::remove_file(path);
    fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?
        .write_all(text.as_bytes())?;
    Ok(())
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("non-UTF-8 path {}", path.display()))
}

/// `path` relative to `base` (the components' working directory), so that
/// the arguments in `state.json` name no absolute path.
fn relative(base: &Path, path: &Path) -> Result<String> {
    Ok(path_str(path.strip_prefix(base).unwrap_or(path))?.to_owned())
}

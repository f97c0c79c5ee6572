//! Velero in the end-to-end tests: its real CRDs, taken from its Go module,
//! and [`VeleroStandIn`], a **test stand-in** for Velero's controller, which
//! cannot run here (no object storage, no node agent).
//!
//! The stand-in does what socle relies on Velero for, on real objects:
//! - a Schedule is Enabled in its status, and takes no Backup at once (as
//!   Velero 1.18, which waits for the first cron time);
//! - a Backup is carried out by reading every namespaced kind (discovery) in
//!   its included namespaces and keeping the objects in memory, then marked
//!   Completed with item counts;
//! - a DownloadRequest for a `BackupResourceList` is answered with a URL on a
//!   small HTTP server on 127.0.0.1 serving the gzipped JSON list, in
//!   Velero's format;
//! - a Restore copies the backed-up objects into the mapped namespace,
//!   honouring `excludedResources` and Velero's non-restorable kinds, and
//!   records whether that namespace was isolated by a deny-all policy first.
//!
//! Faults can be injected: backups held in progress, a restore that loses
//! objects and ends PartiallyFailed.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::PathBuf,
    process::Command,
    sync::{Arc, Mutex, OnceLock},
    thread,
    time::Duration,
};

use anyhow::ensure;
use flate2::{Compression, write::GzEncoder};
use futures::channel::oneshot;
use k8s_openapi::{
    api::{core::v1::Namespace, networking::v1::NetworkPolicy},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::LabelSelector,
    jiff::Timestamp,
};
use kube::{
    Api, Client, Discovery, ResourceExt,
    api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams},
    discovery::{Scope, verbs},
};
use serde_json::{Value, json};
use socle::backup::velero::{Backup, BackupStorageLocation, DownloadRequest, Restore, Schedule};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::{TestScope, connect::try_connect, eventually};

/// The Velero release whose CRDs the tests install.
pub const VELERO_VERSION: &str = "v1.18.3";
/// How often the stand-in looks at its namespace.
const TICK: Duration = Duration::from_millis(200);

/// The directory of Velero's CRD manifests, from the Go module cache
/// (`go mod download` fetches the module once from the module proxy).
fn crd_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let module = format!("github.com/vmware-tanzu/velero@{VELERO_VERSION}");
        let output = Command::new("go")
            .args(["mod", "download", "-json", &module])
            .env("GOFLAGS", "-mod=mod")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap_or_else(|error| {
                panic!("running `go mod download {module}` (is Go installed?): {error}")
            });
        assert!(
            output.status.success(),
            "`go mod download -json {module}` failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let info: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("`go mod download -json` output: {error}"));
        let dir = info["Dir"]
            .as_str()
            .unwrap_or_else(|| panic!("`go mod download -json` gave no Dir: {info}"));
        PathBuf::from(dir).join("config/crd/v1/bases")
    })
    .clone()
}

/// Velero's CRDs, parsed from its module.
pub fn velero_crds() -> Vec<CustomResourceDefinition> {
    let dir = crd_dir();
    let mut crds: Vec<CustomResourceDefinition> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            serde_yaml::from_str(&text)
                .unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()))
        })
        .collect();
    crds.sort_by_key(ResourceExt::name_any);
    assert!(crds.len() >= 9, "Velero's CRDs in {}", dir.display());
    crds
}

/// Server-side applies Velero's CRDs (idempotent, never deleted) and waits
/// until each is established.
pub async fn install_velero_crds(client: &Client) {
    crate::install_crds(client, &velero_crds()).await;
}

/// A fault for the next restore.
#[derive(Clone, Debug)]
pub struct RestoreFault {
    /// The phase the restore ends in, e.g. `PartiallyFailed`.
    pub phase: String,
    /// Objects not restored: `(Kind, name)`, each counted as an error.
    pub drop: Vec<(String, String)>,
}

/// What the stand-in did for one Restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreRecord {
    pub name: String,
    /// The namespace restored into.
    pub target: String,
    /// Whether the target existed with a deny-all NetworkPolicy before anything
    /// was restored into it.
    pub isolated_first: bool,
    /// Kinds of the objects created, with counts.
    pub created: BTreeMap<String, usize>,
    pub phase: String,
}

/// One backed-up object.
#[derive(Clone, Debug)]
struct Item {
    resource: ApiResource,
    plural_group: String,
    object: DynamicObject,
}

#[derive(Debug, Default)]
struct State {
    hold_backups: bool,
    fault: Option<RestoreFault>,
    backups: BTreeMap<String, Vec<Item>>,
    lists: BTreeMap<String, Vec<u8>>,
    restores: Vec<RestoreRecord>,
}

/// The test stand-in for Velero's controller, working in one Velero
/// namespace of the test's scope, on a thread of its own.
pub struct VeleroStandIn {
    namespace: String,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for VeleroStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VeleroStandIn")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl VeleroStandIn {
    /// Installs Velero's CRDs, creates the scope's Velero namespace and starts.
    pub async fn start(scope: &TestScope) -> Self {
        install_velero_crds(&scope.client()).await;
        let namespace = scope.create_namespace("velero").await;
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, stopped) = oneshot::channel::<()>();
        let (ns, shared) = (namespace.clone(), state.clone());
        let thread = thread::Builder::new()
            .name(format!("velero-stand-in-{}", scope.id()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("a runtime for the stand-in");
                runtime.block_on(async move {
                    let client = try_connect().await.expect("a client for the stand-in");
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
                    let base = format!("http://{}", listener.local_addr().expect("an address"));
                    // The storage location the DSI would declare: a plain http
                    // store at that address, from which socle accepts an http
                    // download URL.
                    let location = json!({
                        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                        "metadata": {"name": "default"},
                        "spec": {"provider": "aws", "objectStorage": {"bucket": "stand-in"},
                                 "config": {"s3Url": base}},
                    });
                    Api::<BackupStorageLocation>::namespaced(client.clone(), &ns)
                        .patch(
                            "default",
                            &PatchParams::apply("velero-stand-in"),
                            &Patch::Apply(&location),
                        )
                        .await
                        .expect("the stand-in's storage location");
                    tokio::spawn(serve(listener, shared.clone()));
                    let work = async {
                        loop {
                            if let Err(error) = tick(&client, &ns, &base, &shared).await {
                                eprintln!("Velero stand-in ({ns}): {error:#}");
                            }
                            tokio::time::sleep(TICK).await;
                        }
                    };
                    tokio::select! {
                        () = work => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawning the stand-in's thread");
        Self {
            namespace,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The Velero namespace it works in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// While held, Backups stay `InProgress`.
    pub fn hold_backups(&self, hold: bool) {
        self.state.lock().expect("stand-in state").hold_backups = hold;
    }

    /// The next Restore ends in `fault.phase`, without `fault.drop`.
    pub fn fail_next_restore(&self, fault: RestoreFault) {
        self.state.lock().expect("stand-in state").fault = Some(fault);
    }

    /// The Restores carried out so far.
    pub fn restores(&self) -> Vec<RestoreRecord> {
        self.state.lock().expect("stand-in state").restores.clone()
    }
}

impl Drop for VeleroStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// One look at the namespace: schedules, backups, download requests, restores.
async fn tick(client: &Client, ns: &str, base: &str, state: &Mutex<State>) -> anyhow::Result<()> {
    let hold = state.lock().expect("stand-in state").hold_backups;
    let schedules = Api::<Schedule>::namespaced(client.clone(), ns);
    let backups = Api::<Backup>::namespaced(client.clone(), ns);
    for schedule in schedules.list(&ListParams::default()).await? {
        let name = schedule.name_any();
        // Velero takes a new Schedule's first Backup at its first cron time
        // (socle asks for one at once): the stand-in only accepts it.
        if schedule.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Enabled") {
            let status = json!({"status": {"phase": "Enabled"}});
            schedules
                .patch(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await?;
        }
    }
    for backup in backups.list(&ListParams::default()).await? {
        let phase = backup.status.as_ref().and_then(|s| s.phase.clone());
        match phase.as_deref() {
            None | Some("New") if hold => {
                let status = json!({"status": {"phase": "InProgress", "startTimestamp": seconds(Timestamp::now())}});
                backups
                    .patch(
                        &backup.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&status),
                    )
                    .await?;
            }
            None | Some("New" | "InProgress") if !hold => {
                take_backup(client, &backup, state).await?;
            }
            _ => {}
        }
    }
    let requests = Api::<DownloadRequest>::namespaced(client.clone(), ns);
    for request in requests.list(&ListParams::default()).await? {
        if request.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Processed") {
            continue;
        }
        let url = format!("{base}/{}/resource-list.json.gz", request.spec.target.name);
        let expiration = seconds(Timestamp::now() + Duration::from_secs(600));
        let status =
            json!({"status": {"phase": "Processed", "downloadURL": url, "expiration": expiration}});
        requests
            .patch(
                &request.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await?;
    }
    let restores = Api::<Restore>::namespaced(client.clone(), ns);
    for restore in restores.list(&ListParams::default()).await? {
        let phase = restore.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), None | Some("New")) {
            carry_out(client, &restore, state).await?;
        }
    }
    Ok(())
}

/// RFC 3339 with whole seconds, as Kubernetes writes times.
fn seconds(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Every namespaced, listable kind the API server serves, preferred versions.
async fn namespaced_kinds(client: &Client) -> anyhow::Result<Vec<ApiResource>> {
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    let mut kinds = Vec::new();
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            if capabilities.scope == Scope::Namespaced
                && capabilities.supports_operation(verbs::LIST)
            {
                kinds.push(resource);
            }
        }
    }
    Ok(kinds)
}

/// Reads the backup's namespaces, keeps the objects, marks it Completed.
async fn take_backup(client: &Client, backup: &Backup, state: &Mutex<State>) -> anyhow::Result<()> {
    let started = Timestamp::now();
    let mut items = Vec::new();
    let mut list: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for namespace in &backup.spec.included_namespaces {
        list.entry("v1/Namespace".into())
            .or_default()
            .push(namespace.clone());
        for resource in namespaced_kinds(client).await? {
            let objects =
                Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
                    .list(&ListParams::default())
                    .await?;
            for object in objects {
                let key = format!("{}/{}", resource.api_version, resource.kind);
                list.entry(key)
                    .or_default()
                    .push(format!("{namespace}/{}", object.name_any()));
                let plural_group = if resource.group.is_empty() {
                    resource.plural.clone()
                } else {
                    format!("{}.{}", resource.plural, resource.group)
                };
                items.push(Item {
                    resource: resource.clone(),
                    plural_group,
                    object,
                });
            }
        }
    }
    for names in list.values_mut() {
        names.sort();
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&serde_json::to_vec(&list)?)?;
    let gzipped = encoder.finish()?;
    let count = items.len() + backup.spec.included_namespaces.len();
    {
        let mut state = state.lock().expect("stand-in state");
        state.backups.insert(backup.name_any(), items);
        state.lists.insert(backup.name_any(), gzipped);
    }
    let expiration = seconds(Timestamp::now() + Duration::from_secs(30 * 24 * 3600));
    let status = json!({"status": {
        "phase": "Completed", "version": 1, "formatVersion": "1.1.0",
        "startTimestamp": seconds(started), "completionTimestamp": seconds(Timestamp::now()),
        "expiration": expiration,
        "progress": {"totalItems": count, "itemsBackedUp": count},
    }});
    Api::<Backup>::namespaced(client.clone(), &backup.namespace().unwrap_or_default())
        .patch(
            &backup.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await?;
    Ok(())
}

/// Resources Velero never restores.
const NON_RESTORABLE: [&str; 2] = ["events", "events.events.k8s.io"];

/// Copies the backup's objects into the mapped namespaces.
async fn carry_out(client: &Client, restore: &Restore, state: &Mutex<State>) -> anyhow::Result<()> {
    let api = Api::<Restore>::namespaced(client.clone(), &restore.namespace().unwrap_or_default());
    let name = restore.name_any();
    let started = seconds(Timestamp::now());
    let (items, fault) = {
        let mut state = state.lock().expect("stand-in state");
        (
            state.backups.get(&restore.spec.backup_name).cloned(),
            state.fault.take(),
        )
    };
    let Some(items) = items else {
        let status = json!({"status": {"phase": "FailedValidation", "startTimestamp": started,
            "validationErrors": [format!("backup {} not found", restore.spec.backup_name)]}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        return Ok(());
    };
    let mut record = RestoreRecord {
        name: name.clone(),
        target: String::new(),
        isolated_first: false,
        created: BTreeMap::new(),
        phase: String::new(),
    };
    let (mut restored, mut errors, mut warnings, mut total) = (0_u32, 0_u32, 0_u32, 0_u32);
    for item in items {
        let source = item.object.namespace().unwrap_or_default();
        if !restore.spec.included_namespaces.is_empty()
            && !restore.spec.included_namespaces.contains(&source)
        {
            continue;
        }
        if restore.spec.excluded_resources.contains(&item.plural_group)
            || NON_RESTORABLE.contains(&item.plural_group.as_str())
        {
            continue;
        }
        total += 1;
        let target = restore
            .spec
            .namespace_mapping
            .get(&source)
            .cloned()
            .unwrap_or(source);
        if record.target.is_empty() {
            record.target.clone_from(&target);
            record.isolated_first = isolated(client, &target).await?;
        }
        let dropped = fault.as_ref().is_some_and(|fault| {
            fault
                .drop
                .contains(&(item.resource.kind.clone(), item.object.name_any()))
        });
        if dropped {
            errors += 1;
            continue;
        }
        let copy = fresh_copy(&item, &target);
        match Api::<DynamicObject>::namespaced_with(client.clone(), &target, &item.resource)
            .create(&PostParams::default(), &copy)
            .await
        {
            Ok(_) => {
                restored += 1;
                *record
                    .created
                    .entry(item.resource.kind.clone())
                    .or_default() += 1;
            }
            // Already there (the namespace's default ServiceAccount…): Velero warns.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                restored += 1;
                warnings += 1;
            }
            Err(_) => errors += 1,
        }
    }
    let phase = fault.map_or_else(
        || {
            if errors == 0 {
                "Completed".to_owned()
            } else {
                "PartiallyFailed".to_owned()
            }
        },
        |fault| fault.phase,
    );
    record.phase.clone_from(&phase);
    let status = json!({"status": {
        "phase": phase, "startTimestamp": started, "completionTimestamp": seconds(Timestamp::now()),
        "errors": errors, "warnings": warnings,
        "progress": {"totalItems": total, "itemsRestored": restored},
    }});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    state.lock().expect("stand-in state").restores.push(record);
    Ok(())
}

/// Whether `namespace` exists with a policy denying all ingress and egress
/// of every pod.
async fn isolated(client: &Client, namespace: &str) -> anyhow::Result<bool> {
    if Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?;
    Ok(policies.items.iter().any(|policy| {
        policy.spec.as_ref().is_some_and(|spec| {
            let types = spec.policy_types.clone().unwrap_or_default();
            spec.pod_selector.clone().unwrap_or_default() == LabelSelector::default()
                && types.contains(&"Ingress".to_owned())
                && types.contains(&"Egress".to_owned())
                && spec.ingress.as_ref().is_none_or(Vec::is_empty)
                && spec.egress.as_ref().is_none_or(Vec::is_empty)
        })
    }))
}

/// The object as Velero would restore it: no server-set fields, no status,
/// in the target namespace.
fn fresh_copy(item: &Item, target: &str) -> DynamicObject {
    let mut copy = item.object.clone();
    let meta = &mut copy.metadata;
    meta.namespace = Some(target.to_owned());
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.managed_fields = None;
    meta.owner_references = None;
    meta.generation = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| !key.starts_with("pv.kubernetes.io/"));
    }
    if let Value::Object(data) = &mut copy.data {
        data.remove("status");
        if let Some(Value::Object(spec)) = data.get_mut("spec") {
            match item.resource.kind.as_str() {
                "PersistentVolumeClaim" => {
                    spec.remove("volumeName");
                }
                "Service" => {
                    spec.remove("clusterIP");
                    spec.remove("clusterIPs");
                }
                _ => {}
            }
        }
    }
    copy
}

/// Serves `/<backup>/resource-list.json.gz` from the kept lists.
async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buffer = [0_u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split_whitespace().nth(1).unwrap_or("/");
            let backup = path
                .trim_start_matches('/')
                .strip_suffix("/resource-list.json.gz")
                .unwrap_or("");
            let body = state
                .lock()
                .expect("stand-in state")
                .lists
                .get(backup)
                .cloned();
            let response = match body {
                Some(body) => {
                    let mut head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    head.extend(body);
                    head
                }
                None => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_vec(),
            };
            stream.write_all(&response).await.ok();
            stream.shutdown().await.ok();
        });
    }
}

/// Waits until the stand-in has carried out `count` restores.
pub async fn wait_for_restores(
    stand_in: &VeleroStandIn,
    count: usize,
    timeout: Duration,
) -> Vec<RestoreRecord> {
    eventually(timeout, || async {
        let restores = stand_in.restores();
        ensure!(
            restores.len() >= count,
            "{} restores carried out",
            restores.len()
        );
        Ok(restores)
    })
    .await
}

/// The testenv's bucket `velero` as versitygw keeps it on disk
/// (`xtask/src/testenv/velero`): one directory per object key prefix, so a
/// backup's objects are under `backups/<backup>/`.
pub fn bucket_dir() -> std::path::PathBuf {
    crate::audit::testenv_dir().join("velero/s3/velero")
}

/// `velero server`'s metrics endpoint in the testenv, from its state file
/// (`cargo xtask testenv up` writes it).
pub fn metrics_url() -> String {
    crate::audit::testenv_state()["velero"]["metrics_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no Velero in the testenv's state: start the testenv with it"))
        .to_owned()
}

/// Creates the scope's BackupTarget SharedService `<base>` (named for the
/// scope, labelled with it) on Velero's namespace `velero_namespace` and its
/// storage location `location`; returns its name.
pub async fn create_backup_target(
    scope: &TestScope,
    base: &str,
    velero_namespace: &str,
    location: &str,
) -> String {
    let name = scope.name(base);
    let service: socle::api::SharedService = serde_json::from_value(json!({
        "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1", "kind": "SharedService",
        "metadata": {"name": name, "labels": scope.labels()},
        "spec": {"displayName": base, "category": "BackupTarget", "serviceLevel": 3,
                 "hosting": "Datacenter",
                 "backupTarget": {"veleroNamespace": velero_namespace, "storageLocation": location}},
    }))
    .expect("a BackupTarget SharedService");
    Api::<socle::api::SharedService>::all(scope.client())
        .create(&PostParams::default(), &service)
        .await
        .unwrap_or_else(|error| panic!("creating SharedService {name}: {error}"));
    name
}

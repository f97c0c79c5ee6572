//! The peer measured beside socle, on the same control plane right after
//! socle's run (`--peer kyverno`, started by `cargo xtask bench --peer
//! kyverno`): Kyverno's `generate` rules making, for each new namespace
//! that carries a label, the objects socle's tenant builder makes.
//!
//! The policy is derived from socle's builders: a tenant is built from a
//! plan whose per-member values are Kyverno variables reading the trigger
//! namespace's labels and annotations, and each of its objects becomes one
//! generate rule (`synchronize: true`, Kyverno's counterpart of socle's
//! drift repair). The bulk creates, for the same synthetic Members as
//! socle's bulk (the hosted ones), each tenant's namespace exactly as socle
//! builds it plus the annotations the rules read, `--concurrency` at a time.
//! A tenant is complete when a watch has seen every object socle would have
//! made in it; at the end each object is compared with socle's (every field
//! socle sets must hold the same value).

mod policy;

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt, stream};
use jiff::Zoned;
use k8s_openapi::api::{
    core::v1::{LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota},
    networking::v1::NetworkPolicy,
    rbac::v1::RoleBinding,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DynamicObject, ListParams, PostParams},
    core::PartialObjectMeta,
    runtime::{WatchStreamExt, watcher},
};
use serde::Serialize;
use serde_json::Value;
use socle::{
    api::SharedService,
    labels::MANAGED_BY,
    tenant::{
        TenantSettings,
        build::{self, Tenant},
        plan::{self, TenantPlan},
    },
};
use socle_e2e::{AuditMark, TestScope};

use crate::{
    members,
    report::{Percentiles, Requests, load_average},
};

/// The label that triggers the policy, valued with the run's scope id.
const TRIGGER: &str = "bench.socle/peer";

/// What the peer's run measured.
#[derive(Debug, Serialize)]
pub struct PeerReport {
    pub peer: String,
    pub members: usize,
    pub tenants: usize,
    /// Objects per tenant, summed over the tenants.
    pub objects: usize,
    pub create_concurrency: usize,
    pub load_before: String,
    pub load_after: String,
    pub create_seconds: f64,
    /// First namespace create → every object of every tenant seen.
    pub all_complete_seconds: f64,
    pub tenants_per_second: f64,
    /// Namespace create answered → its last object seen.
    pub latency: Percentiles,
    /// The peer's requests (its users summed) from the first create to the
    /// last tenant complete.
    pub requests: Requests,
    /// Its requests after that, until it made no write for 3 s (the
    /// clean-up of its UpdateRequests).
    pub tail_requests: Requests,
    /// `VmHWM` of each process, summed.
    pub peak_rss_mib: f64,
    pub rss_by_process_mib: Vec<f64>,
}

/// The peer's processes, as `cargo xtask bench --peer` started them.
#[derive(Debug)]
pub struct PeerProcesses {
    pub name: String,
    pub pids: Vec<u32>,
    /// Who each process is in the audit log.
    pub users: Vec<String>,
}

/// One run of the peer over the tenants of `n` synthetic Members.
#[allow(clippy::too_many_lines)] // the phases in order, each a few lines
pub async fn run(
    peer: &PeerProcesses,
    n: usize,
    concurrency: usize,
    cleanup: bool,
) -> Result<PeerReport> {
    ensure!(
        peer.name == "kyverno",
        "unknown peer {} (kyverno is the one measured)",
        peer.name
    );
    let load_before = load_average();
    let scope = TestScope::new("peer").await;
    let client = scope.client();
    let settings = TenantSettings {
        namespace_prefix: format!("k{}-", scope.id()),
        ..TenantSettings::default()
    };
    // socle's CRDs are there after socle's run; not in a peer-only run.
    let services = Api::<SharedService>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|list| list.items)
        .unwrap_or_default();
    let today = Zoned::now().date();
    let plans = |tag, range| -> Result<Vec<TenantPlan>> {
        members::synthetic(&scope, tag, range)
            .filter(|member| member.hosted_on(today))
            .map(|member| {
                let mut plan = plan::plan(&member, &services, &settings, today)?;
                mark(&mut plan, scope.id());
                Ok(plan)
            })
            .collect()
    };
    let canary = plans("kc", 0..1)?;
    let bulk = plans("k", 0..n)?;
    let template = canary
        .first()
        .context("the first synthetic Member is hosted")?;
    let policy = policy::cluster_policy(&scope, template, TRIGGER)?;
    eprintln!(
        "bench: peer {}: {} tenants of {n} Members, policy {}",
        peer.name,
        bulk.len(),
        policy.name_any()
    );
    policy::apply(&client, &policy).await?;
    let seen = SeenObjects::start(&client, &format!("{TRIGGER}={}", scope.id()));
    // Kyverno listens before it serves a certificate (the API server then
    // says "tls: internal error"), and registers its webhooks a little after
    // the policy is Ready: a canary tenant, its namespace created again while
    // the API server cannot call the webhook, proves the whole chain before
    // anything is timed.
    let started = Instant::now();
    let canary = &canary[..1];
    while let Err(error) = create_namespaces(&client, canary, 1).await {
        let unreachable = format!("{error:#}").contains("failed calling webhook");
        if !unreachable || started.elapsed() > Duration::from_secs(120) {
            return Err(error.context("the canary namespace (see Kyverno's logs)"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    seen.wait_complete(canary, Duration::from_secs(180))
        .await
        .context("the canary tenant (is Kyverno running? see its logs)")?;
    eprintln!(
        "bench: peer {}: canary tenant complete {:.1} s after its namespace",
        peer.name,
        started.elapsed().as_secs_f64()
    );

    let audit = AuditMark::now();
    let started = Instant::now();
    let created = create_namespaces(&client, &bulk, concurrency).await?;
    let create_seconds = started.elapsed().as_secs_f64();
    // Kyverno completed 0.6 tenants/s from 100 namespaces on 2 cores: 136 s,
    // past a bound of 200 ms per namespace (socle's). Room for it to finish.
    let timeout = Duration::from_secs(120) + Duration::from_secs(2) * u32::try_from(n)?;
    seen.wait_complete(&bulk, timeout).await?;
    let mut latencies = Vec::new();
    let mut last = started;
    for plan in &bulk {
        let complete = seen.complete_at(plan).context("complete")?;
        last = last.max(complete);
        latencies.push(complete.saturating_duration_since(created[&plan.namespace]));
    }
    let all_complete_seconds = last.duration_since(started).as_secs_f64();
    let events = audit.events(&client).await;
    let requests = requests_of(&events, &peer.users);
    let tail_mark = AuditMark::now();
    settle(&client, &peer.users).await?;
    let tail_requests = requests_of(&tail_mark.events(&client).await, &peer.users);
    let rss_by_process_mib = peer
        .pids
        .iter()
        .map(|pid| peak_rss_mib(*pid))
        .collect::<Result<Vec<_>>>()?;
    let objects = check_contents(&client, &bulk).await?;
    #[allow(clippy::cast_precision_loss)]
    let report = PeerReport {
        peer: peer.name.clone(),
        members: n,
        tenants: bulk.len(),
        objects,
        create_concurrency: concurrency,
        load_before,
        load_after: load_average(),
        create_seconds,
        all_complete_seconds,
        tenants_per_second: bulk.len() as f64 / all_complete_seconds,
        latency: Percentiles::of(latencies),
        requests,
        tail_requests,
        peak_rss_mib: rss_by_process_mib.iter().sum(),
        rss_by_process_mib,
    };
    policy::delete(&client, &policy).await?;
    if cleanup {
        let namespaces = Api::<Namespace>::all(client.clone());
        for plan in canary.iter().chain(&bulk) {
            namespaces
                .delete(&plan.namespace, &kube::api::DeleteParams::default())
                .await?;
        }
        scope.cleanup().await;
    } else {
        scope.keep();
    }
    Ok(report)
}

/// The plan's objects carry the trigger label (the policy's selector and
/// the watches'), and a component of their own, out of socle's watches.
fn mark(plan: &mut TenantPlan, scope_id: &str) {
    plan.labels.insert(TRIGGER.to_owned(), scope_id.to_owned());
    plan.labels
        .insert(socle::labels::COMPONENT.to_owned(), "bench-peer".to_owned());
}

/// Creates each plan's namespace (socle's, plus the values the rules read);
/// returns when each create was answered.
async fn create_namespaces(
    client: &Client,
    plans: &[TenantPlan],
    concurrency: usize,
) -> Result<HashMap<String, Instant>> {
    let api = Api::<Namespace>::all(client.clone());
    stream::iter(plans)
        .map(|plan| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &policy::trigger_namespace(plan))
                    .await
                    // The refusal's whole answer (code, reason, details): an
                    // admission webhook's may carry no message at all.
                    .map_err(|error| {
                        anyhow::anyhow!("creating namespace {}: {error:?}", plan.namespace)
                    })?;
                Ok((plan.namespace.clone(), Instant::now()))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

/// Every object `(kind, namespace, name)` of a tenant, as socle builds it.
fn expected(tenant: &Tenant) -> Vec<(String, Value)> {
    fn json<K: Resource<DynamicType = ()> + Serialize>(object: &K) -> (String, Value) {
        (
            K::kind(&()).into_owned(),
            serde_json::to_value(object).expect("k8s-openapi objects serialize"),
        )
    }
    let mut objects = vec![json(&tenant.quota), json(&tenant.limit_range)];
    objects.extend(tenant.policies.iter().map(json));
    objects.extend(tenant.bindings.iter().map(json));
    objects.extend(tenant.volume.iter().map(json));
    objects
}

fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

/// When each object of the run was first seen, from one metadata watch per
/// kind.
struct SeenObjects {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SeenObjects {
    fn start(client: &Client, selector: &str) -> Self {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let tasks = vec![
            watch::<ResourceQuota>(client, selector, &seen),
            watch::<LimitRange>(client, selector, &seen),
            watch::<NetworkPolicy>(client, selector, &seen),
            watch::<RoleBinding>(client, selector, &seen),
            watch::<PersistentVolumeClaim>(client, selector, &seen),
        ];
        Self { seen, tasks }
    }

    /// When the last of `plan`'s objects was first seen, if all were.
    fn complete_at(&self, plan: &TenantPlan) -> Option<Instant> {
        let seen = self.seen.lock().expect("not poisoned");
        let mut last = None;
        for (kind, object) in expected(&build::tenant(plan)) {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let at = *seen.get(&key(&kind, &plan.namespace, name))?;
            last = Some(last.map_or(at, |l: Instant| l.max(at)));
        }
        last
    }

    async fn wait_complete(&self, plans: &[TenantPlan], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let waiting = plans
                .iter()
                .filter(|plan| self.complete_at(plan).is_none())
                .count();
            if waiting == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{waiting} of {} tenants incomplete after {timeout:?}",
                    plans.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SeenObjects {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn watch<K>(
    client: &Client,
    selector: &str,
    seen: &Arc<Mutex<HashMap<String, Instant>>>,
) -> tokio::task::JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    let stream = watcher(
        Api::<PartialObjectMeta<K>>::all(client.clone()),
        watcher::Config::default().labels(selector),
    )
    .default_backoff()
    .applied_objects();
    let seen = seen.clone();
    let kind = K::kind(&()).into_owned();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(object) => {
                    let now = Instant::now();
                    let key = key(
                        &kind,
                        &object.namespace().unwrap_or_default(),
                        &object.name_any(),
                    );
                    seen.lock().expect("not poisoned").entry(key).or_insert(now);
                }
                Err(error) => eprintln!("bench: watch of {kind}: {error}"),
            }
        }
    })
}

/// Every object of every tenant read back and compared with socle's: each
/// field socle sets (labels, spec, roleRef, subjects) holds socle's value.
/// Returns how many objects were compared.
async fn check_contents(client: &Client, plans: &[TenantPlan]) -> Result<usize> {
    let objects: Vec<(&TenantPlan, String, Value)> = plans
        .iter()
        .flat_map(|plan| {
            expected(&build::tenant(plan))
                .into_iter()
                .map(move |(kind, want)| (plan, kind, want))
        })
        .collect();
    let live: Vec<Value> = stream::iter(&objects)
        .map(|(plan, kind, want)| {
            let name = want["metadata"]["name"].as_str().unwrap_or_default();
            get(client, want, kind, &plan.namespace, name)
        })
        .buffered(16)
        .try_collect()
        .await?;
    let mut compared = 0;
    let mut differences = Vec::new();
    for ((plan, kind, want), live) in objects.iter().zip(&live) {
        let name = want["metadata"]["name"].as_str().unwrap_or_default();
        for field in ["spec", "roleRef", "subjects"] {
            if !want[field].is_null() && !contains(&live[field], &want[field]) {
                differences.push(format!(
                    "{kind} {}/{name}: {field} is {} where socle makes {}",
                    plan.namespace, live[field], want[field]
                ));
            }
        }
        // Every label of socle's but the one naming the manager: Kyverno
        // writes its own name there, as any tool would.
        let mut wanted = want["metadata"]["labels"].clone();
        if let Some(labels) = wanted.as_object_mut() {
            labels.remove(MANAGED_BY);
        }
        let labels = &live["metadata"]["labels"];
        if !contains(labels, &wanted) {
            differences.push(format!(
                "{kind} {}/{name}: labels are {labels} where socle sets {wanted}",
                plan.namespace
            ));
        }
        compared += 1;
    }
    ensure!(
        differences.is_empty(),
        "{} of {compared} objects differ from socle's, e.g.:\n{}",
        differences.len(),
        differences
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(compared)
}

async fn get(
    client: &Client,
    want: &Value,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Value> {
    let api_version = want["apiVersion"].as_str().context("an apiVersion")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = kube::discovery::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        group, version, kind,
    ));
    let object = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .get(name)
        .await
        .with_context(|| format!("reading {kind} {namespace}/{name}"))?;
    Ok(serde_json::to_value(object)?)
}

/// Whether every field of `want` is in `live` with the same value (lists
/// element by element); the API server's defaults in `live` are ignored,
/// and an empty list or map stands for an absent one (Go drops them).
fn contains(live: &Value, want: &Value) -> bool {
    match (live, want) {
        (_, Value::Null) => true,
        (Value::Null, Value::Array(want)) => want.is_empty(),
        (Value::Null, Value::Object(want)) => want.is_empty(),
        (Value::Object(live), Value::Object(want)) => want
            .iter()
            .all(|(k, w)| contains(live.get(k).unwrap_or(&Value::Null), w)),
        (Value::Array(live), Value::Array(want)) => {
            live.len() == want.len() && live.iter().zip(want).all(|(l, w)| contains(l, w))
        }
        _ => live == want,
    }
}

/// The requests of all of `users` in `events`.
fn requests_of(events: &[socle_e2e::AuditEvent], users: &[String]) -> Requests {
    let mut sum = Requests::default();
    for user in users {
        let one = Requests::of(events, user);
        for (kind, count) in one.by_kind {
            *sum.by_kind.entry(kind).or_default() += count;
        }
        sum.writes += one.writes;
        sum.total += one.total;
    }
    sum
}

/// Until the peer's users made no write for 3 s but their leader
/// elections' (Kyverno renews its Leases every few seconds), at most 5
/// minutes.
async fn settle(client: &Client, users: &[String]) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(300) {
        let mark = AuditMark::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let writes = requests_of(&mark.events(client).await, users);
        let leases: u64 = writes
            .by_kind
            .iter()
            .filter(|(kind, _)| kind.ends_with(" leases") && !kind.starts_with("get "))
            .map(|(_, count)| count)
            .sum();
        if writes.writes == leases {
            return Ok(());
        }
    }
    bail!("the peer still writes 5 minutes after its tenants were complete")
}

#[allow(clippy::cast_precision_loss)]
fn peak_rss_mib(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM in {path}"))?;
    Ok(kib as f64 / 1024.0)
}

/// socle's figures from its report (`--against`, the JSON of socle's run on
/// the same control plane) beside the peer's, as a Markdown table.
pub fn side_by_side(socle: &Path, peer: &PeerReport) -> Result<String> {
    let report: Value = serde_json::from_slice(
        &std::fs::read(socle).with_context(|| socle.display().to_string())?,
    )?;
    let run = report["runs"]
        .as_array()
        .and_then(|runs| runs.last())
        .context("no run in socle's report")?;
    let number = |pointer: &str| {
        run.pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let tenants = number("/tenants");
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let per_tenant = |count: u64| count as f64 / peer.tenants as f64;
    let seconds = number("/all_ready_seconds");
    let rows: BTreeMap<usize, (&str, String, String)> = BTreeMap::from([
        (
            0,
            (
                "tenants (of the same Members)",
                format!("{tenants}"),
                peer.tenants.to_string(),
            ),
        ),
        (
            1,
            (
                "first create → all complete",
                format!("{seconds:.1} s"),
                format!("{:.1} s", peer.all_complete_seconds),
            ),
        ),
        (
            2,
            (
                "tenants/s",
                format!("{:.1}", tenants / seconds),
                format!("{:.1}", peer.tenants_per_second),
            ),
        ),
        (
            3,
            (
                "p50 / p99 create → complete (socle: Member Ready; Kyverno: every object seen)",
                format!(
                    "{:.0} / {:.0} ms",
                    number("/bulk_latency/p50_ms"),
                    number("/bulk_latency/p99_ms")
                ),
                format!("{:.0} / {:.0} ms", peer.latency.p50_ms, peer.latency.p99_ms),
            ),
        ),
        (
            4,
            (
                "requests per tenant during the bulk (writes)",
                format!(
                    "{:.1} ({:.1})",
                    number("/bulk_requests/total") / tenants,
                    number("/bulk_requests/writes") / tenants
                ),
                format!(
                    "{:.1} ({:.1}); +{:.1} after",
                    per_tenant(peer.requests.total),
                    per_tenant(peer.requests.writes),
                    per_tenant(peer.tail_requests.total)
                ),
            ),
        ),
        (
            5,
            (
                "peak RSS (Kyverno: its 2 processes summed)",
                format!("{:.1} MiB", number("/peak_rss_mib")),
                format!("{:.1} MiB", peer.peak_rss_mib),
            ),
        ),
    ]);
    let mut out = format!(
        "#### socle and {} on the same control plane, {} Members, {} creates in flight\n\n\
         | what | socle | {} |\n|---|---|---|\n",
        peer.peer, peer.members, peer.create_concurrency, peer.peer
    );
    for (what, socle, theirs) in rows.values() {
        writeln!(out, "| {what} | {socle} | {theirs} |")?;
    }
    writeln!(
        out,
        "\nload before/after: socle {} / {}, {} {} / {}; {}'s requests by kind: {:?}",
        run["load_before"].as_str().unwrap_or("?"),
        run["load_after"].as_str().unwrap_or("?"),
        peer.peer,
        peer.load_before,
        peer.load_after,
        peer.peer,
        peer.requests.by_kind
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::contains;

    #[test]
    fn a_peer_object_matches_when_it_holds_every_field_socle_sets() {
        let socle = json!({"labels": {"app": "socle"}, "spec": {"ingress": [], "podSelector": {}}});
        let kyverno = json!({
            "labels": {"app": "socle", "generate.kyverno.io/policy-name": "p"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
        });
        assert!(
            contains(&kyverno, &socle),
            "its own labels, an omitted empty list"
        );
        let changed = json!({"labels": {"app": "other"}, "spec": {"podSelector": {}}});
        assert!(
            !contains(&changed, &socle),
            "a label of socle's with another value"
        );
        let missing = json!({"labels": {"app": "socle"}});
        let wants_rules = json!({"labels": {"app": "socle"}, "spec": {"ingress": [{"from": []}]}});
        assert!(!contains(&missing, &wants_rules), "a rule missing");
    }
}

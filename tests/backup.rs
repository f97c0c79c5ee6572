//! The backup issue's acceptance, end to end on the real control plane with
//! Velero's real CRDs: each Member with a PRI tier gets a Velero Schedule
//! that follows its tier, and restore drills — scheduled or on demand —
//! that restore into an isolated sandbox, check what came back, measure RTO
//! and RPO, and leave a DrillReport.
//!
//! Velero is real: the testenv's `velero server` (`cargo xtask testenv up`)
//! takes the backups into its S3 store (versitygw, on 127.0.0.1) and carries
//! out the drills' restores. Two tests keep `VeleroStandIn` (tests/support),
//! for what real Velero cannot be made to do on demand here: hold every
//! backup in progress, and end a restore PartiallyFailed with an object
//! lost. Velero's Backups and Restores of the tests stay in the namespace
//! `velero` (deleting a Backup object would only see Velero sync it back
//! from the bucket); the testenv goes with them.
//!
//! Each test runs its own backup controller for its scope's
//! Members, with its own tenant prefix, as the ServiceAccount of the
//! scope's copy of the shipped install (in whose namespace the DrillReports
//! go), with only its permissions; the tenant
//! namespace is made by the test, as the tenant controller would.

use std::{
    collections::BTreeMap,
    sync::mpsc::{self, RecvTimeoutError},
    thread,
    time::Duration,
};

use anyhow::{Context as _, bail, ensure};
use futures::{FutureExt, channel::oneshot};
use k8s_openapi::{
    api::{
        core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service},
        events::v1::Event,
        networking::v1::NetworkPolicy,
    },
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use socle::{
    api::{DrillReport, Member, drill_report::Verdict},
    backup::{
        self, BackupSettings,
        settings::DRILL_REPORTS_KEPT,
        velero::{Backup, BackupStorageLocation, Restore, Schedule},
    },
    runtime::{Context, watch::MemberWatch},
};
use socle_e2e::{
    TestScope, eventually,
    examples::wait_for_event,
    install::ScopedInstall,
    operator::release_claims,
    velero::{RestoreFault, VeleroStandIn, bucket_dir, create_backup_target, metrics_url},
};

const DOMAIN: &str = "socle.redon-agglomeration.bzh";
/// For the operator to act on a change.
const CONVERGE: Duration = Duration::from_secs(60);
/// For a drill to run through (a scheduled one waits for the next minute).
const DRILL: Duration = Duration::from_secs(120);

/// Which Velero a test's world runs against.
enum Velero {
    /// `velero server` of the testenv (`cargo xtask testenv up`), over its
    /// S3 store, acting on the namespace `velero`.
    Real,
    /// The stand-in, for what real Velero cannot be made to do on demand
    /// here: hold its backups, or end a restore PartiallyFailed.
    StandIn(VeleroStandIn),
}

/// Velero's namespace in the testenv.
const REAL_VELERO: &str = "velero";

impl Velero {
    fn namespace(&self) -> &str {
        match self {
            Self::Real => REAL_VELERO,
            Self::StandIn(stand_in) => stand_in.namespace(),
        }
    }

    fn stand_in(&self) -> &VeleroStandIn {
        match self {
            Self::StandIn(stand_in) => stand_in,
            Self::Real => panic!("this test needs the stand-in"),
        }
    }
}

/// One test's world: its Velero, its backup controller, its target.
struct World {
    scope: TestScope,
    client: Client,
    velero: Velero,
    prefix: String,
    operator_namespace: String,
    target: String,
    operator: OperatorThread,
}

/// The backup controller's thread; dropping it tells the controller to stop.
struct OperatorThread {
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<mpsc::Receiver<()>>,
}

impl OperatorThread {
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(stopped) = self.stopped.take() {
            let outcome = tokio::task::spawn_blocking(move || stopped.recv_timeout(CONVERGE))
                .await
                .unwrap();
            assert!(
                !matches!(outcome, Err(RecvTimeoutError::Timeout)),
                "the operator did not stop"
            );
        }
    }
}

impl Drop for OperatorThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

impl World {
    /// A world with the stand-in Velero.
    async fn with_stand_in(test: &str, failed_sandbox_retention: Duration) -> Self {
        let scope = TestScope::new(test).await;
        let velero = Velero::StandIn(VeleroStandIn::start(&scope).await);
        Self::start(scope, velero, failed_sandbox_retention, DRILL_REPORTS_KEPT).await
    }

    /// A world with the testenv's `velero server`.
    async fn with_velero(test: &str, failed_sandbox_retention: Duration) -> Self {
        let scope = TestScope::new(test).await;
        Self::start(
            scope,
            Velero::Real,
            failed_sandbox_retention,
            DRILL_REPORTS_KEPT,
        )
        .await
    }

    /// [`World::with_velero`], keeping `kept` DrillReports per member.
    async fn with_velero_keeping(test: &str, kept: u32) -> Self {
        let scope = TestScope::new(test).await;
        Self::start(scope, Velero::Real, Duration::from_secs(60), kept).await
    }

    async fn start(
        scope: TestScope,
        velero: Velero,
        failed_sandbox_retention: Duration,
        drill_reports_kept: u32,
    ) -> Self {
        let client = scope.client();
        install_socle_crds(&client).await;
        let install = match &velero {
            Velero::Real => ScopedInstall::apply_in_velero(&scope, REAL_VELERO).await,
            Velero::StandIn(_) => ScopedInstall::apply(&scope).await,
        };
        let config = install.operator_config(&client).await;
        let operator_namespace = install.namespace.clone();
        let target =
            create_backup_target(&scope, "sauvegardes", &install.velero_namespace, "default").await;
        let prefix = format!("t{}-", scope.id());
        let settings = BackupSettings {
            namespace_prefix: prefix.clone(),
            velero_namespace: install.velero_namespace.clone(),
            failed_sandbox_retention,
            drill_reports_kept,
            drill_poll: Duration::from_millis(500),
            drill_inspector_role: install.drill_inspector_role.clone(),
            velero_metrics_url: matches!(velero, Velero::Real).then(metrics_url),
            ..BackupSettings::default()
        };
        let (stop, stop_signal) = oneshot::channel::<()>();
        let (done, stopped) = mpsc::channel::<()>();
        let (selector, namespace) = (scope.selector(), operator_namespace.clone());
        thread::Builder::new()
            .name(format!("backup-{}", scope.id()))
            .spawn(move || {
                let _done = done;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the operator");
                runtime.block_on(async move {
                    let client = Client::try_from(config).expect("a client for the operator");
                    let context = Context::new(client, namespace, Some(selector));
                    let members = MemberWatch::new(&context);
                    let stop = stop_signal.map(drop).shared();
                    let backup = backup::run(context, settings, members.subscribe(), stop);
                    Box::pin(members.serve(backup)).await;
                });
            })
            .expect("spawning the operator");
        Self {
            scope,
            client,
            velero,
            prefix,
            operator_namespace,
            target,
            operator: OperatorThread {
                stop: Some(stop),
                stopped: Some(stopped),
            },
        }
    }

    /// A hosted Member of the scope with `backup` as `spec.backup`, and its
    /// tenant namespace filled with a commune's objects.
    async fn member(&self, base: &str, backup: Value, annotations: Value) -> (Member, String) {
        let name = self.scope.name(base);
        let namespace = format!("{}{name}", self.prefix);
        self.tenant(&namespace).await;
        let mut backup = backup;
        if backup.get("target").is_none() {
            backup["target"] = json!(self.target);
        }
        let member: Member = serde_json::from_value(json!({
            "apiVersion": format!("{DOMAIN}/v1alpha1"), "kind": "Member",
            "metadata": {"name": name, "labels": self.scope.labels(), "annotations": annotations},
            "spec": {"displayName": base, "inseeCode": "56001",
                     "population": {"count": 2000, "year": 2021},
                     "subscriptions": [{"offer": "SocleComplet", "effectiveDate": "2025-01-01"}],
                     "tenant": {"storage": {"size": "1Gi"}},
                     "backup": backup},
        }))
        .unwrap();
        let member = Api::<Member>::all(self.client.clone())
            .create(&PostParams::default(), &member)
            .await
            .unwrap();
        (member, namespace)
    }

    /// The tenant namespace, as the tenant controller and the commune left
    /// it: configuration, a secret, a service, the data volume, and an
    /// ingress policy that must not follow into a sandbox.
    async fn tenant(&self, namespace: &str) {
        let meta = json!({"name": namespace, "labels": self.scope.labels()});
        Api::<Namespace>::all(self.client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": meta})).unwrap(),
            )
            .await
            .unwrap();
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": {"mode": "prod"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"lang": "fr"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"}, "stringData": {"password": "x"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                   "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "from-gateway"},
                   "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}}),
        ];
        for object in objects {
            create(&self.client, namespace, object).await;
        }
    }

    async fn get(&self, member: &str) -> Member {
        Api::<Member>::all(self.client.clone())
            .get(member)
            .await
            .unwrap()
    }

    async fn patch(&self, member: &str, patch: Value) {
        Api::<Member>::all(self.client.clone())
            .patch(member, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    async fn reports(&self, member: &str) -> Vec<DrillReport> {
        let mut reports =
            Api::<DrillReport>::namespaced(self.client.clone(), &self.operator_namespace)
                .list(&ListParams::default().labels(&format!("{DOMAIN}/member={member}")))
                .await
                .unwrap()
                .items;
        reports.sort_by_key(|r| r.spec.started_at);
        reports
    }

    /// Waits for the `count`-th report of `member`.
    async fn report(&self, member: &str, count: usize) -> DrillReport {
        eventually(DRILL, || async {
            let reports = self.reports(member).await;
            ensure!(
                reports.len() >= count,
                "{} DrillReports of {member}",
                reports.len()
            );
            Ok(reports[count - 1].clone())
        })
        .await
    }

    async fn condition(&self, member: &str, type_: &str) -> Option<Condition> {
        condition(&self.get(member).await, type_)
    }

    /// Stops the operator, then deletes the scope's Members, tenant
    /// namespaces and sandboxes (their claims released), then the scope.
    async fn stop(mut self) {
        self.operator.stop().await;
        let namespaces = Api::<Namespace>::all(self.client.clone());
        let ours = |name: &str| {
            name.starts_with(&self.prefix)
                || (name.starts_with("drill-") && name.contains(self.scope.id()))
        };
        eventually(Duration::from_secs(90), || async {
            let mut left = Vec::new();
            for namespace in namespaces.list_metadata(&ListParams::default()).await? {
                let name = namespace.name_any();
                if !ours(&name) {
                    continue;
                }
                left.push(name.clone());
                if namespace.metadata.deletion_timestamp.is_none() {
                    namespaces
                        .delete(&name, &DeleteParams::background())
                        .await
                        .ok();
                }
                release_claims(&self.client, &name).await?;
            }
            ensure!(left.is_empty(), "namespaces left: {left:?}");
            Ok(())
        })
        .await;
        drop(self.velero);
        self.scope.cleanup().await;
    }
}

/// socle's CRDs, applied as `Operator::start` does.
async fn install_socle_crds(client: &Client) {
    socle_e2e::install_socle_crds(client).await;
}

async fn create(client: &Client, namespace: &str, object: Value) {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    let types = object.types.clone().unwrap();
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", &types.api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|error| panic!("creating {} in {namespace}: {error}", types.kind));
}

fn condition(member: &Member, type_: &str) -> Option<Condition> {
    member
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// The resource versions of everything in the tenant namespace the test made.
async fn tenant_versions(client: &Client, namespace: &str) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for (kind, items) in [
        (
            "ConfigMap",
            names(Api::<ConfigMap>::namespaced(client.clone(), namespace)).await,
        ),
        (
            "Secret",
            names(Api::<Secret>::namespaced(client.clone(), namespace)).await,
        ),
        (
            "Service",
            names(Api::<Service>::namespaced(client.clone(), namespace)).await,
        ),
        (
            "PersistentVolumeClaim",
            names(Api::<PersistentVolumeClaim>::namespaced(
                client.clone(),
                namespace,
            ))
            .await,
        ),
        (
            "NetworkPolicy",
            names(Api::<NetworkPolicy>::namespaced(client.clone(), namespace)).await,
        ),
    ] {
        for (name, version) in items {
            versions.insert(format!("{kind}/{name}"), version);
        }
    }
    versions
}

async fn names<K>(api: Api<K>) -> Vec<(String, String)>
where
    K: kube::Resource + Clone + std::fmt::Debug + k8s_openapi::serde::de::DeserializeOwned,
{
    api.list_metadata(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| (o.name_any(), o.resource_version().unwrap_or_default()))
        .collect()
}

/// Events socle published about `member`, as `reason: note`.
async fn events(client: &Client, member: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(member))
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default()
            )
        })
        .collect()
}

async fn schedule(client: &Client, velero: &str, name: &str) -> anyhow::Result<Schedule> {
    Ok(Api::<Schedule>::namespaced(client.clone(), velero)
        .get(name)
        .await?)
}

/// A Velero Schedule that already has the name socle would give the member's
/// is someone else's backup policy: socle says so (Warning Event) and leaves
/// it exactly as it was, instead of taking it over.
#[tokio::test]
async fn a_foreign_schedule_is_not_taken_over() {
    let world = World::with_velero("backup_foreign_schedule", Duration::from_secs(60)).await;
    let name = world.scope.name("allaire");
    let namespace = format!("{}{name}", world.prefix);
    let velero = world.velero.namespace().to_owned();
    let schedules = Api::<Schedule>::namespaced(world.client.clone(), &velero);
    let foreign: Schedule = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": world.scope.labels()},
        "spec": {"schedule": "0 2 * * *", "template": {"includedNamespaces": ["payroll"]}},
    }))
    .unwrap();
    let foreign = schedules
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    world
        .member("allaire", json!({"tier": "Standard"}), json!({}))
        .await;
    eventually(CONVERGE, || async {
        let events = events(&world.client, &name).await;
        ensure!(
            events
                .iter()
                .any(|e| e.starts_with("UnsafeDrill: ") && e.contains("is not socle's schedule")),
            "events {events:?}"
        );
        Ok(())
    })
    .await;
    let after = schedules.get(&namespace).await.unwrap();
    assert_eq!(after.spec, foreign.spec, "the foreign Schedule was changed");
    assert_eq!(after.labels(), foreign.labels());
    world.stop().await;
}

/// The Schedule follows the tier: created with the tier's cron, TTL, target
/// and file-system backup of the tenant namespace; changed with the tier and
/// the RPO override; gone when the member has no tier any more.
#[tokio::test]
async fn the_velero_schedule_follows_the_member_s_tier() {
    let world = World::with_velero("backup_schedule", Duration::from_secs(60)).await;
    let (member, namespace) = world
        .member("allaire", json!({"tier": "Standard"}), json!({}))
        .await;
    let name = member.name_any();
    let velero = world.velero.namespace().to_owned();
    let standard = eventually(CONVERGE, || async {
        let schedule = schedule(&world.client, &velero, &namespace).await?;
        let ready = world.condition(&name, "BackupReady").await;
        ensure!(
            ready.as_ref().is_some_and(|c| c.status == "True"),
            "BackupReady {ready:?}"
        );
        Ok(schedule)
    })
    .await;
    let template = &standard.spec.template;
    assert!(
        standard.spec.schedule.ends_with(" 1-23/4 * * *"),
        "{}",
        standard.spec.schedule
    );
    assert_eq!(
        template.included_namespaces,
        std::slice::from_ref(&namespace)
    );
    assert_eq!(
        template.ttl.as_deref(),
        Some("2160h0m0s"),
        "Standard keeps 90 days"
    );
    assert_eq!(template.storage_location.as_deref(), Some("default"));
    assert_eq!(template.default_volumes_to_fs_backup, Some(true));
    let owner = &standard.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Member", member.uid().unwrap().as_str())
    );

    world
        .patch(&name, json!({"spec": {"backup": {"tier": "Critical"}}}))
        .await;
    let critical = eventually(CONVERGE, || async {
        let schedule = schedule(&world.client, &velero, &namespace).await?;
        ensure!(
            schedule.spec.template.ttl.as_deref() == Some("8760h0m0s"),
            "ttl {:?}",
            schedule.spec.template.ttl
        );
        Ok(schedule)
    })
    .await;
    let minute = critical.spec.schedule.split(' ').next().unwrap().to_owned();
    assert_eq!(
        critical.spec.schedule,
        format!("{minute} * * * *"),
        "Critical is hourly"
    );

    world
        .patch(&name, json!({"spec": {"backup": {"rpoMinutes": 15}}}))
        .await;
    eventually(CONVERGE, || async {
        let cron = schedule(&world.client, &velero, &namespace)
            .await?
            .spec
            .schedule;
        ensure!(cron.ends_with("-59/15 * * * *"), "cron {cron}");
        Ok(())
    })
    .await;

    world.patch(&name, json!({"spec": {"backup": null}})).await;
    eventually(CONVERGE, || async {
        let left = Api::<Schedule>::namespaced(world.client.clone(), &velero)
            .get_opt(&namespace)
            .await?;
        ensure!(left.is_none(), "the Schedule is still there");
        let ready = world.condition(&name, "BackupReady").await;
        ensure!(ready.is_none(), "BackupReady still {ready:?}");
        Ok(())
    })
    .await;
    world.stop().await;
}

/// The evidence of a passed drill of a tenant like [`World::tenant`]'s, on
/// the Standard tier.
fn check_passed_report(report: &DrillReport, namespace: &str, name: &str) {
    let spec = &report.spec;
    assert_eq!(spec.verdict, Verdict::Passed, "{:#?}", spec.checks);
    assert!(
        spec.backup.starts_with(&format!("{namespace}-")),
        "{}",
        spec.backup
    );
    assert_eq!(spec.sandbox_namespace, report.name_any());
    assert!(
        spec.sandbox_namespace
            .starts_with(&format!("drill-{name}-"))
    );
    assert_eq!(
        (spec.rto_target_seconds, spec.rpo_target_seconds),
        (14_400, 14_400)
    );
    assert!(
        spec.measured_rto_seconds <= 60,
        "RTO {} s",
        spec.measured_rto_seconds
    );
    assert!(
        spec.measured_rpo_seconds <= 120,
        "RPO {} s",
        spec.measured_rpo_seconds
    );
    assert!(spec.finished_at >= spec.started_at);
    let check = |name: &str| {
        spec.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name:?} in {:#?}", spec.checks))
    };
    assert_eq!(check("ConfigMap count").detail, "3 in backup, 3 in sandbox");
    assert_eq!(
        check("PersistentVolumeClaim count").detail,
        "1 in backup, 1 in sandbox"
    );
    assert_eq!(check("Secret count").detail, "1 in backup, 1 in sandbox");
    assert_eq!(check("data volume backed up").verdict, Verdict::Passed);
    // Events too, when kube-controller-manager's volume binder reported on
    // the tenant's claim.
    let listed = &check("backup contents listed").detail;
    assert!(
        listed
            .split_once("not compared: ")
            .is_some_and(|(_, kinds)| kinds.split(", ").any(|kind| kind == "NetworkPolicy")),
        "{listed}"
    );
    assert!(check("RTO").detail.ends_with("target 14400 s"));
}

/// A scheduled drill restores the latest completed backup into an isolated
/// sandbox, checks every object came back, records RTO and RPO in a
/// DrillReport, marks the member DrillHealthy, deletes the sandbox, and
/// leaves the tenant's own objects untouched.
#[tokio::test]
async fn a_scheduled_drill_proves_the_backup_and_leaves_evidence() {
    let world = World::with_velero("backup_drill_passes", Duration::from_secs(60)).await;
    let (member, namespace) = world
        .member(
            "redon",
            json!({"tier": "Standard", "drill": {"schedule": "* * * * *"}}),
            json!({}),
        )
        .await;
    let name = member.name_any();
    let before = tenant_versions(&world.client, &namespace).await;

    let report = world.report(&name, 1).await;
    world
        .patch(
            &name,
            json!({"spec": {"backup": {"drill": {"schedule": "0 3 1 1 *"}}}}),
        )
        .await;
    let spec = &report.spec;
    check_passed_report(&report, &namespace, &name);

    // Velero restored the tenant into the sandbox only, without the
    // tenant's ingress policy.
    let restores = Api::<Restore>::namespaced(world.client.clone(), REAL_VELERO)
        .list(&ListParams::default().labels(&format!("{DOMAIN}/member={name}")))
        .await
        .unwrap()
        .items;
    assert_eq!(restores.len(), 1);
    let restore = &restores[0];
    assert_eq!(
        restore.spec.namespace_mapping,
        BTreeMap::from([(namespace.clone(), spec.sandbox_namespace.clone())])
    );
    assert!(
        restore
            .spec
            .excluded_resources
            .iter()
            .any(|kind| kind.starts_with("networkpolicies")),
        "{:?}",
        restore.spec.excluded_resources
    );
    assert_eq!(
        restore.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Completed")
    );
    assert_eq!(restore.spec.backup_name, spec.backup);

    eventually(CONVERGE, || async {
        let live = world.get(&name).await;
        let healthy = condition(&live, "DrillHealthy");
        ensure!(
            healthy
                .as_ref()
                .is_some_and(|c| c.status == "True" && c.reason == "DrillPassed"),
            "DrillHealthy {healthy:?}"
        );
        let backup = live.status.and_then(|s| s.backup).unwrap_or_default();
        ensure!(
            backup.last_drill.as_deref() == Some(report.name_any().as_str()),
            "status.backup {backup:?}"
        );
        ensure!(
            backup.last_drill_verdict.as_deref() == Some("Passed") && backup.last_backup.is_some(),
            "status.backup {backup:?}"
        );
        let sandbox = Api::<Namespace>::all(world.client.clone())
            .get_opt(&spec.sandbox_namespace)
            .await?;
        ensure!(
            sandbox
                .as_ref()
                .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
            "sandbox {} is not being deleted",
            spec.sandbox_namespace
        );
        let events = events(&world.client, &name).await;
        ensure!(
            events.iter().any(|e| e.starts_with("DrillPassed: ")),
            "events {events:?}"
        );
        Ok(())
    })
    .await;
    assert_eq!(
        tenant_versions(&world.client, &namespace).await,
        before,
        "the tenant's objects were touched"
    );
    check_kept_bytes(&world, &name, &namespace).await;
    println!(
        "drill {} passed: RTO {} s, RPO {} s",
        report.name_any(),
        spec.measured_rto_seconds,
        spec.measured_rpo_seconds
    );
    world.stop().await;
}

/// `status.backup.keptBytes` is what the bucket holds: the size of the
/// latest tarball Velero wrote for the member's schedule, times its
/// completed backups.
/// The schedule is named after the tenant `namespace`.
async fn check_kept_bytes(world: &World, member: &str, schedule: &str) {
    eventually(CONVERGE, || async {
        let completed: Vec<Backup> = Api::<Backup>::namespaced(world.client.clone(), REAL_VELERO)
            .list(&ListParams::default().labels(&format!("velero.io/schedule-name={schedule}")))
            .await?
            .items
            .into_iter()
            .filter(|b| b.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Completed"))
            .collect();
        let latest = completed
            .iter()
            .max_by_key(|b| b.status.as_ref().and_then(|s| s.completion_timestamp))
            .ok_or_else(|| anyhow::anyhow!("no completed backup of {schedule}"))?
            .name_any();
        let tarball = bucket_dir().join(format!("backups/{latest}/{latest}.tar.gz"));
        let size = std::fs::metadata(&tarball)?.len();
        let kept = world
            .get(member)
            .await
            .status
            .and_then(|s| s.backup)
            .and_then(|b| b.kept_bytes);
        ensure!(
            kept == Some(size * completed.len() as u64),
            "keptBytes {kept:?}, tarball {} of {size} bytes, {} completed",
            tarball.display(),
            completed.len()
        );
        Ok(())
    })
    .await;
}

/// A restore that ends PartiallyFailed and loses a ConfigMap: the report
/// says which checks failed, DrillHealthy is False with the reasons, a
/// Warning Event is published, and the sandbox stays for inspection until
/// its retention is over — then it goes.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one story, told in order
async fn a_failed_drill_says_why_and_keeps_its_sandbox_for_a_while() {
    let retention = Duration::from_secs(20);
    let world = World::with_stand_in("backup_drill_fails", retention).await;
    world.velero.stand_in().fail_next_restore(RestoreFault {
        phase: "PartiallyFailed".into(),
        drop: vec![("ConfigMap".into(), "settings".into())],
    });
    let (member, _) = world
        .member(
            "bains",
            json!({"tier": "Critical"}),
            json!({format!("{DOMAIN}/drill-now"): "1"}),
        )
        .await;
    let name = member.name_any();
    let report = world.report(&name, 1).await;
    let spec = &report.spec;
    assert_eq!(spec.verdict, Verdict::Failed);
    let failed: BTreeMap<&str, &str> = spec
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| (c.name.as_str(), c.detail.as_str()))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert!(
        failed["restore finished"].starts_with("PartiallyFailed: "),
        "{failed:#?}"
    );
    assert_eq!(
        failed["ConfigMap count"],
        "3 in backup, 2 in sandbox; missing: settings"
    );

    let sandboxes = Api::<Namespace>::all(world.client.clone());
    eventually(CONVERGE, || async {
        let healthy = world.condition(&name, "DrillHealthy").await;
        let Some(healthy) = healthy else {
            bail!("no DrillHealthy")
        };
        ensure!(
            healthy.status == "False" && healthy.reason == "DrillFailed",
            "{healthy:?}"
        );
        ensure!(
            healthy.message.contains("missing: settings"),
            "{}",
            healthy.message
        );
        let sandbox = sandboxes.get(&spec.sandbox_namespace).await?;
        ensure!(
            sandbox.metadata.deletion_timestamp.is_none(),
            "the failed sandbox is being deleted"
        );
        ensure!(
            sandbox
                .annotations()
                .contains_key(&format!("{DOMAIN}/keep-until")),
            "no keep-until mark"
        );
        let events = events(&world.client, &name).await;
        ensure!(
            events
                .iter()
                .any(|e| e.starts_with("DrillFailed: ") && e.contains("missing: settings")),
            "events {events:?}"
        );
        Ok(())
    })
    .await;
    // The restored objects are there to inspect.
    let kept = Api::<ConfigMap>::namespaced(world.client.clone(), &spec.sandbox_namespace);
    assert!(kept.get_opt("app-config").await.unwrap().is_some());
    // ...under the tenant's Pod Security: a root, host-network pod mounting
    // the node's disk is refused in the sandbox (by the API server's
    // admission, without a kubelet), as in the tenant.
    let privileged: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "node-takeover"},
        "spec": {
            "hostNetwork": true,
            "containers": [{"name": "root", "image": "busybox",
                            "securityContext": {"runAsUser": 0},
                            "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    }))
    .unwrap();
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let refused = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(
        world.client.clone(),
        &spec.sandbox_namespace,
    )
    .create(&dry_run, &privileged)
    .await
    .expect_err("a privileged pod in a drill sandbox");
    assert!(
        matches!(&refused, kube::Error::Api(status) if status.code == 403 && status.message.contains("PodSecurity")),
        "{refused}"
    );
    eventually(retention + CONVERGE, || async {
        let sandbox = sandboxes.get_opt(&spec.sandbox_namespace).await?;
        ensure!(
            sandbox
                .as_ref()
                .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
            "sandbox {} still kept",
            spec.sandbox_namespace
        );
        Ok(())
    })
    .await;
    world.stop().await;
}

/// Until a backup has completed there is nothing to drill: DrillHealthy
/// says so, and no sandbox or Restore is made. Once Velero completes one,
/// the pending request is answered.
#[tokio::test]
async fn without_a_completed_backup_the_condition_says_so_then_the_drill_runs() {
    let world = World::with_stand_in("backup_no_backup", Duration::from_secs(60)).await;
    world.velero.stand_in().hold_backups(true);
    let (member, _) = world
        .member(
            "sixt",
            json!({"tier": "Essential"}),
            json!({format!("{DOMAIN}/drill-now"): "first"}),
        )
        .await;
    let name = member.name_any();
    let healthy = eventually(CONVERGE, || async {
        let healthy = world.condition(&name, "DrillHealthy").await;
        ensure!(
            healthy
                .as_ref()
                .is_some_and(|c| c.reason == "NoCompletedBackup"),
            "DrillHealthy {healthy:?}"
        );
        Ok(healthy.unwrap())
    })
    .await;
    assert_eq!(healthy.status, "False");
    assert!(
        healthy.message.contains("no completed backup"),
        "{}",
        healthy.message
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        world.velero.stand_in().restores().is_empty(),
        "a restore was attempted"
    );
    assert!(world.reports(&name).await.is_empty());

    world.velero.stand_in().hold_backups(false);
    let report = world.report(&name, 1).await;
    assert_eq!(
        report.spec.verdict,
        Verdict::Passed,
        "{:#?}",
        report.spec.checks
    );
    assert_eq!(
        report
            .annotations()
            .get(&format!("{DOMAIN}/drill-request"))
            .map(String::as_str),
        Some("first")
    );
    eventually(CONVERGE, || async {
        let live = world.get(&name).await;
        let request = live
            .status
            .and_then(|s| s.backup)
            .and_then(|b| b.drill_request);
        ensure!(
            request.as_deref() == Some("first"),
            "drillRequest {request:?}"
        );
        Ok(())
    })
    .await;
    world.stop().await;
}

/// The drill-now annotation asks for one drill per value: the same value
/// again asks for nothing, a new value for another drill.
#[tokio::test]
async fn an_on_demand_drill_runs_once_per_request() {
    let world = World::with_velero_keeping("backup_on_demand", 1).await;
    let (member, _) = world
        .member(
            "peillac",
            json!({"tier": "Standard", "drill": {"schedule": "0 3 1 1 *"}}),
            json!({}),
        )
        .await;
    let name = member.name_any();
    // Once the first backup completed (Velero takes one at a time: other
    // tests' may be ahead of it).
    eventually(DRILL, || async {
        let healthy = world.condition(&name, "DrillHealthy").await;
        ensure!(
            healthy.as_ref().is_some_and(|c| c.reason == "NeverDrilled"),
            "DrillHealthy {healthy:?}"
        );
        Ok(())
    })
    .await;
    let annotate = |value: &'static str| {
        let patch = json!({"metadata": {"annotations": {format!("{DOMAIN}/drill-now"): value}}});
        let world = &world;
        let name = name.clone();
        async move { world.patch(&name, patch).await }
    };
    annotate("a").await;
    let first = world.report(&name, 1).await;
    assert_eq!(
        first.spec.verdict,
        Verdict::Passed,
        "{:#?}",
        first.spec.checks
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        world.reports(&name).await.len(),
        1,
        "the same request ran twice"
    );
    // Drill names have a one-second resolution.
    tokio::time::sleep(Duration::from_secs(1)).await;
    annotate("b").await;
    // One report kept: the second drill's replaces the first's.
    let second = eventually(DRILL, || async {
        let reports = world.reports(&name).await;
        ensure!(
            reports.len() == 1 && reports[0].name_any() != first.name_any(),
            "reports {:?}",
            reports
                .iter()
                .map(ResourceExt::name_any)
                .collect::<Vec<_>>()
        );
        Ok(reports[0].clone())
    })
    .await;
    let pruned = wait_for_event(&world.client, &name, "DrillReportsPruned").await;
    assert!(
        pruned
            .note
            .as_deref()
            .is_some_and(|note| note.contains(&first.name_any())),
        "{pruned:?}"
    );
    eventually(CONVERGE, || async {
        let live = world.get(&name).await;
        let backup = live
            .status
            .clone()
            .and_then(|s| s.backup)
            .unwrap_or_default();
        ensure!(
            backup.drill_request.as_deref() == Some("b"),
            "status.backup {backup:?}"
        );
        ensure!(
            backup.last_drill.as_deref() == Some(second.name_any().as_str()),
            "status.backup {backup:?}"
        );
        let healthy = condition(&live, "DrillHealthy");
        ensure!(healthy.is_some_and(|c| c.status == "True"), "not healthy");
        Ok(())
    })
    .await;
    world.stop().await;
}

/// A storage location Velero cannot use (its bucket does not exist): the
/// member's BackupReady says so, naming the location and Velero's reason,
/// and neither a backup nor a drill is started, even on demand.
#[tokio::test]
async fn an_unavailable_storage_location_is_shown_and_no_drill_starts() {
    let world = World::with_velero("backup_storage_unavailable", Duration::from_secs(60)).await;
    let name = world.scope.name("unreachable");
    let mut raw = serde_json::to_value(
        Api::<DynamicObject>::namespaced_with(
            world.client.clone(),
            REAL_VELERO,
            &kube::api::ApiResource::erase::<BackupStorageLocation>(&()),
        )
        .get("default")
        .await
        .unwrap(),
    )
    .unwrap();
    // socle reads only part of a location: the rest (provider, default) is
    // copied as Velero wrote it.
    raw["spec"]["objectStorage"]["bucket"] = json!(name);
    raw["spec"]["default"] = json!(false);
    let location = json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": name, "labels": world.scope.labels()},
        "spec": raw["spec"],
    });
    create(&world.client, REAL_VELERO, location).await;
    let target =
        create_backup_target(&world.scope, "sauvegardes-ailleurs", REAL_VELERO, &name).await;
    let (member, _) = world
        .member(
            "glenac",
            json!({"tier": "Standard", "target": target}),
            json!({format!("{DOMAIN}/drill-now"): "1"}),
        )
        .await;
    let member = member.name_any();
    let ready = eventually(CONVERGE, || async {
        let ready = world.condition(&member, "BackupReady").await;
        ensure!(
            ready
                .as_ref()
                .is_some_and(|c| c.reason == "StorageUnavailable"),
            "BackupReady {ready:?}"
        );
        Ok(ready.unwrap())
    })
    .await;
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains(&format!("{REAL_VELERO}/{name} is Unavailable")),
        "{}",
        ready.message
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let selector = ListParams::default().labels(&format!("{DOMAIN}/member={member}"));
    assert!(
        Api::<Restore>::namespaced(world.client.clone(), REAL_VELERO)
            .list(&selector)
            .await
            .unwrap()
            .items
            .is_empty(),
        "a drill started"
    );
    assert!(
        Api::<Backup>::namespaced(world.client.clone(), REAL_VELERO)
            .list(&selector)
            .await
            .unwrap()
            .items
            .is_empty(),
        "a backup was asked for"
    );
    world.stop().await;
}

/// A completed backup whose objects were deleted from the bucket: the drill
/// that restores it fails, and its report names the backup and why.
#[tokio::test]
async fn a_backup_lost_from_the_bucket_fails_its_drill_and_says_which() {
    let world = World::with_velero("backup_lost_from_bucket", Duration::from_secs(60)).await;
    let (member, _) = world
        .member("cournon", json!({"tier": "Standard"}), json!({}))
        .await;
    let name = member.name_any();
    let backups = Api::<Backup>::namespaced(world.client.clone(), REAL_VELERO);
    let selector = ListParams::default().labels(&format!("{DOMAIN}/member={name}"));
    let backup =
        eventually(CONVERGE, || async {
            let completed =
                backups.list(&selector).await?.items.into_iter().find(|b| {
                    b.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Completed")
                });
            completed
                .map(|b| b.name_any())
                .context("no completed backup yet")
        })
        .await;
    let objects = bucket_dir().join("backups").join(&backup);
    assert!(
        objects.is_dir(),
        "{} is not in the bucket",
        objects.display()
    );
    std::fs::remove_dir_all(&objects).unwrap();
    world
        .patch(
            &name,
            json!({"metadata": {"annotations": {format!("{DOMAIN}/drill-now"): "1"}}}),
        )
        .await;
    let report = world.report(&name, 1).await;
    let spec = &report.spec;
    assert_eq!(spec.verdict, Verdict::Failed, "{:#?}", spec.checks);
    assert_eq!(spec.backup, backup);
    let failed = spec.failed_checks();
    // Velero's own words: which object of which backup is missing.
    assert!(
        failed
            .iter()
            .any(|check| check.starts_with("restore finished: Failed")
                && check.contains(&format!("backups/{backup}/"))
                && check.contains("NoSuchKey")),
        "{failed:#?}"
    );
    // And what did not come back, by name.
    assert!(
        failed
            .iter()
            .any(|check| check.starts_with("Secret count") && check.contains("db-credentials")),
        "{failed:#?}"
    );
    world.stop().await;
}

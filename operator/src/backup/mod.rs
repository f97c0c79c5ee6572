//! The backup controller: each Member with a PRI tier gets a Velero Schedule
//! for its tenant namespace, and restore drills that prove the backups come
//! back — with a DrillReport as evidence.
//!
//! One reconcile = dereference (the Member, the SharedServices from the
//! cache; the Schedule, Backups, drill Restores, DrillReports and sandboxes
//! from the API) → validate ([`plan::plan`]) → build ([`build`], pure) →
//! apply (the Schedule by server-side apply, skipped when unchanged; drills
//! step by step, see [`drill`]) → status (`BackupReady`, `DrillHealthy`,
//! `status.backup`, under the field manager `socle-backup`). Only
//! dereference, apply and status talk to the API server.
//!
//! Files: `mod.rs` (wiring, context, error, the reconcile) → [`plan`] →
//! [`build`] → `provision.rs` (apply) and `offboard.rs` (a member without
//! backups) → [`status`]; beside them, [`drill`] (the drills' steps),
//! `kept.rs` (the size kept in the store) and `purge.rs` (a departed
//! member's backups at the end of their retention).
//!
//! **Ownership.** The Schedule and the drill sandboxes carry an
//! ownerReference to their Member: the garbage collector removes them with
//! it. Velero's Backups are not owned (`useOwnerReferencesInBackup: false`):
//! an offboarded commune's backups stay until their TTL. DrillReports have
//! no owner either: evidence outlives what it is about.
//!
//! **Safety.** Drills restore only into `drill-…` sandboxes, never into a
//! tenant namespace ([`drill`]'s guard checks every Restore before it is
//! created), and socle writes nothing into the tenant namespace.

pub mod build;
pub mod drill;
pub mod health;
mod http;
mod kept;
pub mod metadata;
pub mod metrics;
mod offboard;
pub mod plan;
mod provision;
mod purge;
pub mod settings;
pub mod status;
pub mod tier;
pub mod velero;

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream};
use jiff::{Timestamp, Zoned};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Resource, ResourceExt,
    core::DeserializeGuard,
    runtime::{controller::Action, reflector::ReflectHandle, watcher},
};
use tracing::{info, instrument, warn};

use self::{
    drill::{CompletedBackup, DrillState, Unsafe},
    health::{DrillView, backup_ready, drill_healthy},
    offboard::retire,
    plan::{BackupPlan, InvalidBackup},
    provision::{
        apply_schedule, first_backup_attempt, observe, prune_reports, storage_state,
        take_first_backup,
    },
    velero::{Backup, BackupStorageLocation, Restore, Schedule},
};
pub use self::{
    metrics::{BackupCollector, BackupMetrics, DrillFacts, MemberBackupSample},
    settings::BackupSettings,
};
use crate::{
    api::{Member, SharedService, drill_report::Verdict, member::BackupStatus},
    labels,
    runtime::{
        Categorized, Context, Retry,
        cache::Cache,
        watch::{self, MemberGuard, by_member_label, reflected},
    },
};

/// Name of this controller in metrics and readiness.
const CONTROLLER: &str = "backup";

/// Why a backup reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Member manifest cannot be read: {0}")]
    Malformed(String),
    #[error(transparent)]
    InvalidSpec(#[from] InvalidBackup),
    #[error(transparent)]
    Unsafe(#[from] Unsafe),
    #[error("Velero is not installed: the API server does not serve velero.io/v1 Schedules ({0})")]
    VeleroMissing(kube::Error),
    #[error("the API server does not say who socle is: it cannot bind itself a drill's rights")]
    Anonymous,
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Categorized for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Malformed",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::Unsafe(_) => "UnsafeDrill",
            Self::VeleroMissing(_) => "VeleroMissing",
            Self::Anonymous => "Anonymous",
            Self::Kube(_) => "KubeApi",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            Self::Malformed(_) | Self::InvalidSpec(_) | Self::Unsafe(_) => Retry::AwaitChange,
            Self::VeleroMissing(_) | Self::Anonymous | Self::Kube(_) => Retry::Backoff,
        }
    }
}

/// The backup controller's own state.
#[derive(Debug)]
pub struct BackupContext {
    pub shared: Context,
    pub settings: BackupSettings,
    pub services: Cache<SharedService>,
    /// socle's Schedules, as the watch last saw them.
    schedules: Cache<Schedule>,
    /// socle's drill sandboxes, as the watch last saw them.
    sandboxes: Cache<Namespace>,
    /// Velero's storage locations, as the watch last saw them.
    locations: Cache<BackupStorageLocation>,
    /// The schedules' tarball sizes, from Velero's metrics.
    sizes: kept::TarballSizes,
    /// Each member's backups month by month, for the annual report.
    quality: crate::quality::BackupRecorder,
}

/// The longest a member goes unlooked-at: backups completing are seen through
/// the watches, this is only a safety net.
const RESYNC: Duration = Duration::from_secs(600);

/// How often an unavailable storage location is looked at again (Velero
/// checks it every minute by default).
const STORAGE_POLL: Duration = Duration::from_secs(30);

/// How often the API server is asked whether Velero is installed yet.
const VELERO_POLL: Duration = Duration::from_secs(10);

/// Runs the backup controller until `shutdown` resolves. Without Velero's
/// CRDs there is nothing to watch or apply: the controller waits for them,
/// out of `/readyz`, rather than retrying watches that fail with 404 (which
/// held back every Member's reconcile, and readiness, for minutes).
pub async fn run(
    shared: Context,
    settings: BackupSettings,
    mut members: ReflectHandle<MemberGuard>,
    shutdown: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) {
    let client = shared.client.clone();
    let waited = !velero::served(&client).await;
    if waited {
        info!("Velero is not installed (velero.io/v1 is not served): backups wait for it");
        let mut poll = tokio::time::interval(VELERO_POLL);
        loop {
            tokio::select! {
                () = shutdown.clone() => return,
                // The Member watch waits for every subscriber: keep up, and
                // let each Member that asks for backups say it has none.
                Some(guard) = members.next() => say_velero_is_missing(&shared, &guard).await,
                _ = poll.tick() => if velero::served(&client).await { break },
            }
        }
        info!("Velero is installed: the backup controller starts");
    }
    let (services, service_changes) = watch::shared_services(&client);
    let ours = watcher::Config::default().labels(&format!(
        "{}={}",
        labels::COMPONENT,
        metadata::COMPONENT
    ));
    // socle's Velero rights end at Velero's namespace: so do its watches.
    let velero = settings.velero_namespace.clone();
    let (schedules, schedule_changes) =
        reflected(Api::namespaced(client.clone(), &velero), ours.clone());
    let (sandboxes, sandbox_changes) = reflected(Api::all(client.clone()), ours.clone());
    let (locations, location_changes) = reflected(
        Api::namespaced(client.clone(), &velero),
        watcher::Config::default(),
    );
    let sizes = kept::TarballSizes::new(settings.velero_metrics_url.clone());
    let quality = crate::quality::BackupRecorder::new(&shared);
    let context = Arc::new(BackupContext {
        shared,
        settings,
        services,
        schedules,
        sandboxes,
        locations,
        sizes,
        quality,
    });
    let controller = watch::member_controller(members);
    let purging = purge::run(context.clone(), controller.store(), shutdown.clone());
    let with_backups =
        watch::members_with(controller.store(), |member| member.spec.backup.is_some());
    watch::report_synced(
        context.shared.health.clone(),
        CONTROLLER,
        controller.store(),
    );
    // A new or changed backup target reaches the members it serves now.
    let by_target = watch::members_depending_on(controller.store(), |member, service| {
        member.spec.backup.is_some()
            && service.spec.category == crate::api::shared_service::ServiceCategory::BackupTarget
    });
    // The Members seen while waiting were passed over: look at each once.
    let store = controller.store();
    let after_wait = stream::once(async move {
        if waited {
            watch::until_ready(&store).await;
        }
    })
    .filter(move |()| std::future::ready(waited));
    let controller = controller
        .reconcile_all_on(after_wait)
        .watches_stream(service_changes, by_target)
        .watches_stream(schedule_changes, by_member_label)
        .watches_stream(sandbox_changes, by_member_label)
        .watches(
            Api::<Backup>::namespaced(client.clone(), &velero),
            ours.clone(),
            by_member_label,
        )
        .watches(
            Api::<Restore>::namespaced(client.clone(), &velero),
            ours,
            by_member_label,
        )
        .watches_stream(phase_changes(location_changes), with_backups)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context);
    tokio::join!(watch::drain(controller, CONTROLLER), purging);
}

/// `BackupReady=False` (`VeleroNotInstalled`) on a Member with
/// `spec.backup`, written once (an unchanged status is not written again).
async fn say_velero_is_missing(ctx: &Context, guard: &MemberGuard) {
    let Ok(member) = &guard.0 else { return };
    if member.spec.backup.is_none() || member.meta().deletion_timestamp.is_some() {
        return;
    }
    let missing = health::velero_not_installed(member.meta().generation);
    let conditions = status::owned_conditions(member, vec![missing]);
    let backup = member.status.as_ref().and_then(|s| s.backup.clone());
    if let Err(error) = status::write(ctx, member, &conditions, backup.as_ref()).await {
        warn!(member = %member.name_any(), error = %crate::runtime::chain(&error), "cannot say that Velero is missing");
    }
}

/// The storage locations' changes that matter, each time one becomes
/// available or unavailable (not at each of Velero's checks, every minute):
/// the members with backups then say so, and a failed first backup is
/// asked for again once the store is back.
fn phase_changes(
    changes: impl futures::Stream<Item = Result<BackupStorageLocation, watcher::Error>> + Send + 'static,
) -> impl futures::Stream<Item = Result<BackupStorageLocation, watcher::Error>> + Send + 'static {
    use kube::runtime::{PredicateConfig, WatchStreamExt};
    let phase = |location: &BackupStorageLocation| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        location
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .hash(&mut hasher);
        Some(hasher.finish())
    };
    changes.predicate_filter(phase, PredicateConfig::default())
}

#[instrument(skip(guard, ctx), fields(member = %guard.name_any()))]
async fn reconcile(
    guard: Arc<DeserializeGuard<Member>>,
    ctx: Arc<BackupContext>,
) -> Result<Action, Error> {
    ctx.shared
        .metrics
        .timed(CONTROLLER, Box::pin(reconcile_member(&guard, &ctx)))
        .await
}

async fn reconcile_member(
    guard: &DeserializeGuard<Member>,
    ctx: &Arc<BackupContext>,
) -> Result<Action, Error> {
    let member = match &guard.0 {
        Ok(member) => member,
        Err(invalid) => return Err(Error::Malformed(invalid.to_string())),
    };
    if ctx.shared.own_writes.outdated(member) {
        return Ok(Action::await_change());
    }
    // Its Schedule and sandboxes go with it (ownerReferences).
    if member.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let services = watch::all_services(&ctx.services).await;
    let today = Zoned::now().date();
    let generation = member.meta().generation;
    let plan = match plan::plan(member, &services, &ctx.settings, today) {
        Ok(Some(plan)) => plan,
        Ok(None) => return retire(member, ctx).await,
        Err(invalid) => {
            let failed = crate::runtime::conditions::condition(
                health::BACKUP_READY,
                false,
                "InvalidSpec",
                invalid.0.clone(),
                generation,
            );
            say_only(ctx, member, failed).await?;
            return Err(invalid.into());
        }
    };
    let schedule = apply_schedule(member, &plan, ctx).await?;
    let storage = storage_state(&plan, ctx).await;
    if let Some(why) = &storage.unavailable {
        say_only(
            ctx,
            member,
            health::storage_unavailable(&plan, why, generation),
        )
        .await?;
        return Ok(Action::requeue(STORAGE_POLL));
    }
    let observed = observe(&plan, member, ctx).await?;
    record_quality(ctx, &plan, &schedule, &observed.schedule_backups).await;
    let measured = ctx
        .sizes
        .kept(&plan.schedule, &observed.schedule_backups)
        .await;
    // Not measured now (Velero restarted, its metrics unreachable or not yet
    // showing the latest tarball): the last measure stands, asked again soon.
    let kept_bytes = measured.or_else(|| member.status.as_ref()?.backup.as_ref()?.kept_bytes);
    let resync = match measured {
        None if ctx.sizes.measures() => kept::MEASURE_AGAIN,
        _ => RESYNC,
    };
    if let Some(attempt) = first_backup_attempt(&observed.schedule_backups, storage.validated_at) {
        take_first_backup(member, &plan, attempt, ctx).await?;
    }
    let (now, latest_backup) = (Timestamp::now(), observed.latest_backup.clone());
    let state = drill::drive(ctx, member, &plan, observed, now).await?;
    if state.waiting_for_backup {
        ctx.shared
            .event(
                member,
                kube::runtime::events::EventType::Warning,
                "NoCompletedBackup",
                format!(
                    "a drill is due but Velero schedule {}/{} has no completed backup yet",
                    plan.velero_namespace, plan.schedule
                ),
            )
            .await;
    }
    let status = schedule.status.unwrap_or_default();
    let conditions = status::owned_conditions(
        member,
        vec![
            backup_ready(
                &plan,
                status.phase.as_deref(),
                &status.validation_errors,
                generation,
            ),
            drill_healthy(
                &plan,
                DrillView {
                    reports: &state.reports,
                    running: state.running.as_deref(),
                    has_backup: latest_backup.is_some(),
                    next_due: state.next_due,
                },
                now,
                generation,
            ),
        ],
    );
    let backup = backup_status(&plan, latest_backup.as_ref(), &state, kept_bytes);
    status::write(&ctx.shared, member, &conditions, Some(&backup)).await?;
    prune_reports(member, &state.reports, ctx).await?;
    record_metrics(ctx, &plan, latest_backup.as_ref(), &state);
    Ok(Action::requeue(state.wake.map_or(resync, |wake| {
        wake.clamp(Duration::from_secs(1), resync)
    })))
}

/// Writes `condition` as this controller's only one, keeping
/// `status.backup` as it is: the member cannot be looked at further.
async fn say_only(
    ctx: &BackupContext,
    member: &Member,
    condition: k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition,
) -> Result<(), kube::Error> {
    let conditions = status::owned_conditions(member, vec![condition]);
    let backup = member.status.as_ref().and_then(|s| s.backup.clone());
    status::write(&ctx.shared, member, &conditions, backup.as_ref()).await?;
    Ok(())
}

#[allow(clippy::needless_pass_by_value)] // the signature `Controller::run` wants
fn error_policy(
    guard: Arc<DeserializeGuard<Member>>,
    error: &Error,
    ctx: Arc<BackupContext>,
) -> Action {
    watch::on_failure(
        &ctx.shared,
        CONTROLLER,
        &guard,
        error,
        (kube::runtime::events::EventType::Warning, error.category()),
    )
}

/// Whether `object` is labelled as socle's, for `member`.
fn is_members<K: Resource>(object: &K, member: &Member) -> bool {
    let labels = object.labels();
    labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER)
        && labels.get(labels::MEMBER) == Some(&member.name_any())
}

/// The objects of `cache` labelled with `member`.
fn of_member<K>(cache: &Cache<K>, member: &Member) -> Vec<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let name = member.name_any();
    cache.matching(|object| object.labels().get(labels::MEMBER) == Some(&name))
}

/// `member=<name>,component=backup,managed-by=socle`.
fn member_selector(member: &Member) -> String {
    format!(
        "{}={},{}={},{}={}",
        labels::MEMBER,
        member.name_any(),
        labels::COMPONENT,
        metadata::COMPONENT,
        labels::MANAGED_BY,
        labels::MANAGER
    )
}

/// `status.backup` from what this reconcile saw.
fn backup_status(
    plan: &BackupPlan,
    latest: Option<&CompletedBackup>,
    state: &DrillState,
    kept_bytes: Option<u64>,
) -> BackupStatus {
    let last = state.reports.last();
    BackupStatus {
        schedule: Some(format!("{}/{}", plan.velero_namespace, plan.schedule)),
        last_backup: latest.map(|b| b.completed_at),
        last_drill: last.map(ResourceExt::name_any),
        last_drill_verdict: last.map(|r| format!("{:?}", r.spec.verdict)),
        drill_request: state.handled_request.clone(),
        kept_bytes,
    }
}

/// Records the month's backup facts (QualityRecord): a failure is logged
/// and tried again at the next reconcile, never holding the backups back.
async fn record_quality(
    ctx: &BackupContext,
    plan: &BackupPlan,
    schedule: &Schedule,
    backups: &[Backup],
) {
    let runs: Vec<crate::quality::backups::Run> = backups
        .iter()
        .filter_map(|backup| {
            let status = backup.status.as_ref();
            Some(crate::quality::backups::Run {
                created: backup.metadata.creation_timestamp.as_ref()?.0,
                completed: status
                    .filter(|status| status.phase.as_deref() == Some("Completed"))
                    .and_then(|status| status.completion_timestamp),
            })
        })
        .collect();
    let name = format!("{}/{}", plan.velero_namespace, plan.schedule);
    let observed = crate::quality::backups::Observed {
        schedule: &name,
        cron: &plan.cron,
        rpo: plan.targets.rpo(),
        retention: jiff::SignedDuration::from_hours(24 * i64::from(plan.targets.retention_days)),
        schedule_created: schedule.metadata.creation_timestamp.as_ref().map(|t| t.0),
        runs: &runs,
        now: Timestamp::now(),
    };
    if let Err(error) = ctx.quality.observed(&plan.member, &observed).await {
        warn!(member = %plan.member, error = %crate::runtime::chain(&error), "backup quality not recorded");
    }
}

fn record_metrics(
    ctx: &BackupContext,
    plan: &BackupPlan,
    latest: Option<&CompletedBackup>,
    state: &DrillState,
) {
    let drill = state.reports.last().map(|report| DrillFacts {
        finished_at: report.spec.finished_at,
        rto_seconds: report.spec.measured_rto_seconds,
        rpo_seconds: report.spec.measured_rpo_seconds,
        passed: report.spec.verdict == Verdict::Passed,
    });
    ctx.settings.metrics.record(
        &plan.member,
        plan.targets.tier,
        latest.map(|b| b.completed_at),
        drill,
    );
}

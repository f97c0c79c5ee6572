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
pub mod keys;
pub mod metrics;
pub mod plan;
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
    api::{DeleteParams, ListParams, PostParams},
    core::DeserializeGuard,
    runtime::{controller::Action, reflector::ReflectHandle, watcher},
};
use tracing::{info, instrument, warn};

use self::{
    drill::{CompletedBackup, DrillState, Observed, Unsafe},
    health::{DrillView, backup_ready, drill_healthy},
    plan::{BackupPlan, InvalidBackup},
    velero::{Backup, BackupStorageLocation, Restore, SCHEDULE_NAME_LABEL, Schedule},
};
pub use self::{
    metrics::{BackupCollector, BackupMetrics, DrillFacts, MemberBackupSample},
    settings::BackupSettings,
};
use crate::{
    api::{DrillReport, Member, SharedService, drill_report::Verdict, member::BackupStatus},
    controller::{
        Categorized, Context, Retry,
        apply::apply_over_live,
        cache::Cache,
        runtime::{self, MemberGuard, by_member_label, reflected},
    },
    labels,
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
    let (services, service_changes) = runtime::shared_services(&client);
    let ours =
        watcher::Config::default().labels(&format!("{}={}", labels::COMPONENT, keys::COMPONENT));
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
    let context = Arc::new(BackupContext {
        shared,
        settings,
        services,
        schedules,
        sandboxes,
        locations,
        sizes,
    });
    let controller = runtime::member_controller(members);
    let purging = purge::run(context.clone(), controller.store(), shutdown.clone());
    let with_backups =
        runtime::members_with(controller.store(), |member| member.spec.backup.is_some());
    runtime::report_synced(
        context.shared.health.clone(),
        CONTROLLER,
        controller.store(),
    );
    // A new or changed backup target reaches the members it serves now.
    let by_target = runtime::members_depending_on(controller.store(), |member, service| {
        member.spec.backup.is_some()
            && service.spec.category == crate::api::shared_service::ServiceCategory::BackupTarget
    });
    // The Members seen while waiting were passed over: look at each once.
    let store = controller.store();
    let after_wait = stream::once(async move {
        if waited {
            runtime::until_ready(&store).await;
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
    tokio::join!(runtime::drain(controller, CONTROLLER), purging);
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
        warn!(member = %member.name_any(), error = %crate::controller::chain(&error), "cannot say that Velero is missing");
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
    let services = runtime::all_services(&ctx.services).await;
    let today = Zoned::now().date();
    let generation = member.meta().generation;
    let plan = match plan::plan(member, &services, &ctx.settings, today) {
        Ok(Some(plan)) => plan,
        Ok(None) => return retire(member, ctx).await,
        Err(invalid) => {
            let failed = crate::controller::conditions::condition(
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
        say_only(ctx, member, health::storage_unavailable(&plan, why, generation)).await?;
        return Ok(Action::requeue(STORAGE_POLL));
    }
    let observed = observe(&plan, member, ctx).await?;
    let measured = ctx.sizes.kept(&plan.schedule, &observed.schedule_backups).await;
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
    let now = Timestamp::now();
    let has_backup = observed.latest_backup.is_some();
    let latest_backup = observed.latest_backup.clone();
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
                    has_backup,
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
    runtime::on_failure(
        &ctx.shared,
        CONTROLLER,
        &guard,
        error,
        (kube::runtime::events::EventType::Warning, error.category()),
    )
}

/// Applies the member's Schedule and deletes the ones it no longer wants
/// (another name or Velero namespace after a change of target). Returns the
/// live Schedule.
async fn apply_schedule(
    member: &Member,
    plan: &BackupPlan,
    ctx: &BackupContext,
) -> Result<Schedule, Error> {
    let client = &ctx.shared.client;
    let owner = member
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Malformed("the Member has no uid".into()))?;
    let schedules = Api::<Schedule>::namespaced(client.clone(), &plan.velero_namespace);
    let live = match schedules.get_opt(&plan.schedule).await {
        // The resource itself is unknown (not a missing object: that is None).
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Err(Error::VeleroMissing(kube::Error::Api(status)));
        }
        other => other?,
    };
    // A Schedule of that name that socle did not make for this member is
    // someone else's backup policy: never taken over (the shipped admission
    // policy refuses it too).
    if let Some(live) = &live
        && !is_members(live, member)
    {
        return Err(Unsafe(format!(
            "Velero Schedule {}/{} exists and is not socle's schedule of {}: socle does not take it over; rename or remove it",
            plan.velero_namespace,
            plan.schedule,
            member.name_any()
        ))
        .into());
    }
    let live = live
        .map(serde_json::to_value)
        .transpose()
        .map_err(kube::Error::SerdeError)?;
    let applied = apply_over_live(client, &build::schedule(plan, owner), live).await?;
    if applied {
        info!(schedule = %plan.schedule, cron = %plan.cron, "schedule applied");
    }
    delete_schedules(member, Some(plan), ctx).await?;
    Ok(
        Api::<Schedule>::namespaced(client.clone(), &plan.velero_namespace)
            .get(&plan.schedule)
            .await?,
    )
}

/// Deletes the member's Schedules other than the plan's (all without one),
/// as the cache of socle's Schedules holds them.
async fn delete_schedules(
    member: &Member,
    plan: Option<&BackupPlan>,
    ctx: &BackupContext,
) -> Result<(), kube::Error> {
    for old in of_member(&ctx.schedules, member) {
        let namespace = old.namespace().unwrap_or_default();
        let wanted =
            plan.is_some_and(|p| p.velero_namespace == namespace && p.schedule == old.name_any());
        if !wanted {
            match Api::<Schedule>::namespaced(ctx.shared.client.clone(), &namespace)
                .delete(&old.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => info!(schedule = %old.name_any(), %namespace, "schedule deleted"),
                // Already gone: the cache had not seen it go yet.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
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
        keys::COMPONENT,
        labels::MANAGED_BY,
        labels::MANAGER
    )
}

/// Dereference: the backups, drills, reports and sandboxes of the member.
async fn observe(
    plan: &BackupPlan,
    member: &Member,
    ctx: &BackupContext,
) -> Result<Observed, kube::Error> {
    let client = &ctx.shared.client;
    let selector = member_selector(member);
    let backups = Api::<Backup>::namespaced(client.clone(), &plan.velero_namespace)
        .list(&ListParams::default().labels(&format!("{SCHEDULE_NAME_LABEL}={}", plan.schedule)))
        .await?;
    let latest_backup = backups
        .items
        .iter()
        .filter_map(|backup| {
            let status = backup.status.as_ref()?;
            (status.phase.as_deref() == Some("Completed")).then_some(())?;
            Some(CompletedBackup {
                name: backup.name_any(),
                completed_at: status.completion_timestamp?,
            })
        })
        .max_by_key(|backup| backup.completed_at);
    // Only where Velero runs: a Restore labelled alike in any other namespace
    // (anyone may create one there) proves nothing about a drill.
    let restores = Api::<Restore>::namespaced(client.clone(), &plan.velero_namespace)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let reports = Api::<DrillReport>::namespaced(client.clone(), &ctx.shared.namespace)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let sandboxes = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    Ok(Observed {
        latest_backup,
        schedule_backups: backups.items,
        restores,
        reports,
        sandboxes,
    })
}

/// The reports beyond the newest `kept` (`reports` is oldest first).
fn beyond(reports: &[DrillReport], kept: u32) -> &[DrillReport] {
    let kept = usize::try_from(kept.max(1)).unwrap_or(usize::MAX);
    &reports[..reports.len().saturating_sub(kept)]
}

/// Deletes the member's oldest DrillReports beyond the count kept, each
/// with a precondition on its uid, and says so in an Event.
async fn prune_reports(
    member: &Member,
    reports: &[DrillReport],
    ctx: &BackupContext,
) -> Result<(), kube::Error> {
    let old = beyond(reports, ctx.settings.drill_reports_kept);
    if old.is_empty() {
        return Ok(());
    }
    let api = Api::<DrillReport>::namespaced(ctx.shared.client.clone(), &ctx.shared.namespace);
    for report in old {
        let only_this_one = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: report.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&report.name_any(), &only_this_one).await {
            Ok(_) => ctx.shared.metrics.wrote(CONTROLLER, 1),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    ctx.shared
        .event(
            member,
            kube::runtime::events::EventType::Normal,
            "DrillReportsPruned",
            format!(
                "{} DrillReport(s) older than the newest {} deleted: {}",
                old.len(),
                ctx.settings.drill_reports_kept,
                old.iter()
                    .map(ResourceExt::name_any)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .await;
    Ok(())
}

/// What Velero last found of the plan's storage location.
struct Storage {
    /// Why it cannot be used, if it cannot: missing, or marked Unavailable.
    /// A location Velero has not checked yet is given the benefit of the
    /// doubt.
    unavailable: Option<String>,
    /// When Velero last checked it.
    validated_at: Option<Timestamp>,
}

/// Read from the watch's cache: no request at each reconcile.
async fn storage_state(plan: &BackupPlan, ctx: &BackupContext) -> Storage {
    ctx.locations.wait_until_ready().await;
    let Some(location) = ctx
        .locations
        .get(Some(&plan.velero_namespace), &plan.storage_location)
    else {
        return Storage {
            unavailable: Some("does not exist".into()),
            validated_at: None,
        };
    };
    let status = location.status.clone().unwrap_or_default();
    Storage {
        unavailable: (status.phase.as_deref() == Some("Unavailable")).then(|| {
            format!(
                "is Unavailable ({})",
                status
                    .message
                    .as_deref()
                    .unwrap_or("Velero gives no reason")
            )
        }),
        validated_at: status.last_validation_time,
    }
}

/// How many times socle asks for a Schedule's first backup: a store down at
/// the wrong moment fails one, and the Schedule's own next run may be a
/// day away; a backup that fails every time is left to the Schedule.
const FIRST_BACKUP_ATTEMPTS: u32 = 3;

/// Phases after which Velero does nothing more with a Backup.
const FINISHED: [&str; 4] = ["Completed", "PartiallyFailed", "Failed", "FailedValidation"];

/// Which attempt at the first backup is due (1, 2, …), if one is: until the
/// Schedule has a Completed backup, socle keeps one in flight, up to
/// [`FIRST_BACKUP_ATTEMPTS`]. A failed attempt is followed by another only
/// once Velero has checked the storage location again since it began
/// (`validated_at`, and the location was found available: the caller asks
/// only then), so that a store that is down does not burn every attempt in
/// the seconds before Velero notices.
fn first_backup_attempt(backups: &[Backup], validated_at: Option<Timestamp>) -> Option<u32> {
    let phase = |backup: &Backup| {
        backup
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    let completed = backups.iter().any(|b| phase(b) == "Completed");
    let in_flight = backups
        .iter()
        .any(|b| !FINISHED.contains(&phase(b).as_str()));
    let taken = u32::try_from(backups.len()).unwrap_or(u32::MAX);
    let last_began = backups
        .iter()
        .filter_map(|b| b.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .max();
    let checked_since = match (last_began, validated_at) {
        (None, _) => true,
        (Some(began), Some(validated)) => validated > began,
        (Some(_), None) => false,
    };
    (!completed && !in_flight && checked_since && taken < FIRST_BACKUP_ATTEMPTS)
        .then_some(taken + 1)
}

/// Asks Velero for the Schedule's first backup now (see
/// [`build::first_backup`]); one already asked for is left alone.
async fn take_first_backup(
    member: &Member,
    plan: &BackupPlan,
    attempt: u32,
    ctx: &BackupContext,
) -> Result<(), kube::Error> {
    let backup = build::first_backup(plan, attempt);
    let created = Api::<Backup>::namespaced(ctx.shared.client.clone(), &plan.velero_namespace)
        .create(&PostParams::default(), &backup)
        .await;
    match created {
        Ok(_) => {
            ctx.shared.metrics.wrote(CONTROLLER, 1);
            ctx.shared
                .event(
                    member,
                    kube::runtime::events::EventType::Normal,
                    "FirstBackup",
                    format!(
                        "asked Velero for the first backup of {} now ({}/{}{}) rather than at the schedule's first time",
                        plan.namespace,
                        plan.velero_namespace,
                        backup.name_any(),
                        if attempt > 1 {
                            format!(", attempt {attempt} of {FIRST_BACKUP_ATTEMPTS}: the earlier ones failed")
                        } else {
                            String::new()
                        }
                    ),
                )
                .await;
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}

/// A member without `spec.backup`: no Schedule, no sandbox, no status.
async fn retire(member: &Member, ctx: &BackupContext) -> Result<Action, Error> {
    delete_schedules(member, None, ctx).await?;
    let namespaces = Api::<Namespace>::all(ctx.shared.client.clone());
    for sandbox in of_member(&ctx.sandboxes, member) {
        if drill::is_sandbox_of(&sandbox, &member.name_any())
            && sandbox.meta().deletion_timestamp.is_none()
        {
            namespaces
                .delete(&sandbox.name_any(), &DeleteParams::background())
                .await?;
        }
    }
    status::write(&ctx.shared, member, &[], None).await?;
    ctx.settings.metrics.forget(&member.name_any());
    Ok(Action::await_change())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str) -> DrillReport {
        let mut report = health::tests::report("Passed", 60, &[]);
        report.metadata.name = Some(name.to_owned());
        report
    }

    fn backup(phase: Option<&str>) -> Backup {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "velero",
                         "creationTimestamp": "2026-12-05T10:00:00Z"},
            "spec": {}, "status": phase.map(|phase| serde_json::json!({"phase": phase})),
        }))
        .unwrap()
    }

    #[test]
    fn a_first_backup_is_asked_for_until_one_completes_three_times_at_most() {
        // Velero checked the store after the last attempt began.
        let later: Option<Timestamp> = "2026-12-05T10:00:10Z".parse().ok();
        let first_backup_attempt = |backups: &[Backup]| first_backup_attempt(backups, later);
        assert_eq!(first_backup_attempt(&[]), Some(1));
        // One in flight (not even seen by Velero yet): wait for it.
        assert_eq!(first_backup_attempt(&[backup(None)]), None);
        assert_eq!(first_backup_attempt(&[backup(Some("InProgress"))]), None);
        assert_eq!(first_backup_attempt(&[backup(Some("Failed"))]), Some(2));
        let failed = [backup(Some("Failed")), backup(Some("PartiallyFailed"))];
        assert_eq!(first_backup_attempt(&failed), Some(3));
        let thrice = [
            backup(Some("Failed")),
            backup(Some("Failed")),
            backup(Some("FailedValidation")),
        ];
        assert_eq!(first_backup_attempt(&thrice), None, "left to the Schedule");
        let done = [backup(Some("Failed")), backup(Some("Completed"))];
        assert_eq!(first_backup_attempt(&done), None);
    }

    #[test]
    fn a_failed_first_backup_waits_for_velero_to_check_the_store_again() {
        let failed = [backup(Some("Failed"))];
        let before: Option<Timestamp> = "2026-12-05T09:59:59Z".parse().ok();
        assert_eq!(super::first_backup_attempt(&failed, before), None);
        assert_eq!(super::first_backup_attempt(&failed, None), None);
        assert_eq!(super::first_backup_attempt(&[], None), Some(1));
    }

    #[test]
    fn the_oldest_reports_beyond_the_count_go_and_the_latest_always_stays() {
        let reports: Vec<DrillReport> = ["a", "b", "c"].map(report).into();
        let names = |kept| {
            beyond(&reports, kept)
                .iter()
                .map(ResourceExt::name_any)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(2), ["a"]);
        assert_eq!(names(3), Vec::<String>::new());
        assert_eq!(names(0), ["a", "b"], "the latest stays even at 0");
    }
}

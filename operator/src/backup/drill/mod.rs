//! Restore drills: prove that a member's latest completed backup restores.
//!
//! A drill lives in the cluster, not in memory, so that any reconcile (after
//! a restart too) takes it up where it is:
//!
//! 1. **start** — a sandbox namespace `drill-<member>-<timestamp>` with a
//!    deny-all NetworkPolicy and a binding of the read-only inspector role to
//!    socle itself, then a Velero Restore of the backup mapping the tenant
//!    namespace to the sandbox (checked by [`guard`] first);
//! 2. **running** — a Restore of the member without a DrillReport of the
//!    same name; it is looked at until Velero finishes or the deadline
//!    (twice the RTO target) passes;
//! 3. **finish** — the backup's resource list (from Velero) is compared with
//!    the sandbox's objects, RTO and RPO are measured, the DrillReport is
//!    written, and the sandbox is deleted (passed) or kept a while (failed).
//!
//! The tenant's own namespace is only ever read by Velero; socle writes
//! nothing in it during a drill.

mod checks;
mod contents;
mod due;
mod guard;
mod inventory;
mod sandbox;

use std::{collections::BTreeMap, time::Duration};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::{authentication::v1::SelfSubjectReview, core::v1::Namespace};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::events::EventType,
};
use serde_json::json;
use tracing::info;

pub use self::{
    checks::ResourceList,
    due::Due,
    guard::{Unsafe, drill_name, is_sandbox_of},
};
use self::{contents::Contents, sandbox::Fate};
use super::{
    BackupContext, Error,
    build::{self, DrillEvidence, DrillStart},
    metadata,
    plan::BackupPlan,
    velero::{self, Restore},
};
use crate::{
    api::{DrillReport, Member, drill_report::Verdict},
    runtime::apply::apply,
};

/// The latest completed backup of the member's schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedBackup {
    pub name: String,
    pub completed_at: Timestamp,
}

/// What the reconcile read about the member's drills.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub latest_backup: Option<CompletedBackup>,
    /// The Schedule's Backups, whatever their phase (for its first backup:
    /// [`super::first_backup_attempt`]).
    pub schedule_backups: Vec<crate::backup::velero::Backup>,
    /// The member's drill Restores.
    pub restores: Vec<Restore>,
    /// The member's DrillReports.
    pub reports: Vec<DrillReport>,
    /// The member's sandbox namespaces.
    pub sandboxes: Vec<Namespace>,
}

/// Where the member's drills stand after this reconcile.
#[derive(Clone, Debug, Default)]
pub struct DrillState {
    /// Every report, oldest first, including one just written.
    pub reports: Vec<DrillReport>,
    /// The drill running, if any.
    pub running: Option<String>,
    /// A drill is due but there is no completed backup to restore.
    pub waiting_for_backup: bool,
    /// The next scheduled drill.
    pub next_due: Option<Timestamp>,
    /// The latest on-demand request answered.
    pub handled_request: Option<String>,
    /// When to look again.
    pub wake: Option<Duration>,
}

impl DrillState {
    fn wake_in(&mut self, after: Duration) {
        self.wake = Some(self.wake.map_or(after, |wake| wake.min(after)));
    }
}

/// Takes the member's drills one step: finish what Velero has finished,
/// start what is due, and tidy the sandboxes.
pub async fn drive(
    ctx: &BackupContext,
    member: &Member,
    plan: &BackupPlan,
    observed: Observed,
    now: Timestamp,
) -> Result<DrillState, Error> {
    let Observed {
        latest_backup,
        restores,
        mut reports,
        sandboxes,
        ..
    } = observed;
    let mut state = DrillState::default();
    let reported =
        |name: &str, reports: &[DrillReport]| reports.iter().any(|r| r.name_any() == name);
    for restore in &restores {
        let name = restore.name_any();
        if reported(&name, &reports) {
            continue;
        }
        if let Some(report) = finish(ctx, member, plan, restore, &sandboxes).await? {
            reports.push(report);
        } else {
            state.running = Some(name);
            state.wake_in(ctx.settings.drill_poll);
        }
    }
    reports.sort_by_key(|r| r.spec.started_at);

    let mut handled: Vec<String> = restores
        .iter()
        .filter_map(|r| r.annotations().get(metadata::REQUEST).cloned())
        .chain(
            reports
                .iter()
                .filter_map(|r| r.annotations().get(metadata::REQUEST).cloned()),
        )
        .collect();
    let status_request = member
        .status
        .as_ref()
        .and_then(|s| s.backup.as_ref())
        .and_then(|b| b.drill_request.clone());
    handled.extend(status_request.clone());
    state.handled_request = restores
        .iter()
        .filter_map(|r| {
            Some((
                started_at(r)?,
                r.annotations().get(metadata::REQUEST)?.clone(),
            ))
        })
        .max()
        .map(|(_, request)| request)
        .or(status_request);
    let last_start = restores
        .iter()
        .filter_map(started_at)
        .chain(reports.iter().map(|r| r.spec.started_at))
        .max();
    let since = member
        .meta()
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    if state.running.is_none() {
        let request = member
            .annotations()
            .get(metadata::DRILL_NOW)
            .map(String::as_str);
        let due = due::due(
            plan.drill.as_ref(),
            request,
            &handled,
            last_start,
            since,
            now,
        );
        match (&due, &latest_backup) {
            (Due::NotYet(next), _) => {
                state.next_due = *next;
                if let Some(next) = next {
                    let wait = next.duration_since(now).max(SignedDuration::from_secs(1));
                    state.wake_in(wait.unsigned_abs());
                }
            }
            (_, None) => state.waiting_for_backup = true,
            (Due::Requested(_) | Due::Scheduled(_), Some(backup)) => {
                let request = match &due {
                    Due::Requested(request) => Some(request.as_str()),
                    _ => None,
                };
                let name = start(ctx, member, plan, backup, request, now).await?;
                if let Some(request) = request {
                    state.handled_request = Some(request.to_owned());
                }
                state.running = Some(name);
                state.wake_in(ctx.settings.drill_poll);
            }
        }
    }
    tidy(ctx, member, &sandboxes, &restores, &reports, &mut state).await?;
    state.reports = reports;
    Ok(state)
}

/// When a drill's Restore says it started.
fn started_at(restore: &Restore) -> Option<Timestamp> {
    restore
        .annotations()
        .get(metadata::STARTED_AT)
        .and_then(|t| t.parse().ok())
        .or_else(|| restore.meta().creation_timestamp.as_ref().map(|t| t.0))
}

/// Step 1: the sandbox, its isolation, socle's right to read it, then the
/// Restore into it.
async fn start(
    ctx: &BackupContext,
    member: &Member,
    plan: &BackupPlan,
    backup: &CompletedBackup,
    request: Option<&str>,
    now: Timestamp,
) -> Result<String, Error> {
    let client = &ctx.shared.client;
    let prefix = &ctx.settings.namespace_prefix;
    let name = drill_name(&plan.member, now);
    guard::check_sandbox_name(&name, plan, prefix)?;
    let owner = member
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Malformed("the Member has no uid".into()))?;
    let namespaces = Api::<Namespace>::all(client.clone());
    let sandbox = build::sandbox_namespace(plan, &name, owner);
    match namespaces.create(&PostParams::default(), &sandbox).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = namespaces.get(&name).await?;
            if !guard::is_sandbox_of(&existing, &plan.member) {
                return Err(Unsafe(format!(
                    "namespace {name} exists and is not a drill sandbox of {}",
                    plan.member
                ))
                .into());
            }
        }
        Err(error) => return Err(error.into()),
    }
    // Isolation first: nothing is restored into an open namespace.
    apply(client, &build::deny_all(plan, &name)).await?;
    // Whatever kinds the backup holds, Secrets included, socle may list them
    // here, and only here, once they are restored.
    let inspector = build::inspector_binding(
        plan,
        &name,
        &ctx.settings.drill_inspector_role,
        &own_user(client).await?,
    );
    apply(client, &inspector).await?;
    let restore = build::restore(
        plan,
        &DrillStart {
            name: &name,
            backup: &backup.name,
            backup_completed_at: backup.completed_at,
            started_at: now,
            request,
        },
    );
    guard::check_restore(&restore, plan, prefix)?;
    match Api::<Restore>::namespaced(client.clone(), &plan.velero_namespace)
        .create(&PostParams::default(), &restore)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => return Err(error.into()),
    }
    info!(drill = %name, backup = %backup.name, "drill started");
    let why = request.map_or_else(
        || "scheduled".to_owned(),
        |request| format!("requested ({}={request})", metadata::DRILL_NOW),
    );
    ctx.shared
        .event(
            member,
            EventType::Normal,
            "DrillStarted",
            format!(
                "{why}: restoring backup {} into isolated sandbox {name}",
                backup.name
            ),
        )
        .await;
    Ok(name)
}

/// The user name socle's requests are authenticated as (its ServiceAccount's
/// in a pod), as the API server tells it.
async fn own_user(client: &kube::Client) -> Result<String, Error> {
    Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?
        .status
        .and_then(|status| status.user_info?.username)
        .ok_or(Error::Anonymous)
}

/// Steps 2 and 3: `None` while the drill runs; its report once finished.
async fn finish(
    ctx: &BackupContext,
    member: &Member,
    plan: &BackupPlan,
    restore: &Restore,
    sandboxes: &[Namespace],
) -> Result<Option<DrillReport>, Error> {
    let client = &ctx.shared.client;
    let name = restore.name_any();
    let now = Timestamp::now();
    let started = started_at(restore).unwrap_or(now);
    let deadline = started
        .checked_add(plan.targets.rto().saturating_mul(2))
        .unwrap_or(Timestamp::MAX);
    let phase = restore.status.as_ref().and_then(|s| s.phase.as_deref());
    let finished = velero::restore_finished(phase);
    let timed_out = !finished && now > deadline;
    if !finished && !timed_out {
        return Ok(None);
    }
    let give_up = deadline
        .checked_add(SignedDuration::from_mins(2))
        .unwrap_or(Timestamp::MAX);
    let list = match contents::read(client, plan, &name, &restore.spec.backup_name).await? {
        Contents::Listed(list) => Ok(list),
        Contents::Pending | Contents::Unreadable(_) if now < give_up => return Ok(None),
        Contents::Pending => Err("Velero did not answer the DownloadRequest".to_owned()),
        Contents::Unreadable(why) => Err(why),
    };
    let (expected, left_out) = match &list {
        Ok(list) => checks::expected(list, &plan.namespace),
        Err(_) => Default::default(),
    };
    let found = inventory::inventory(client, &name, expected.keys()).await?;
    let mut all = vec![
        checks::restore_check(&name, restore.status.as_ref(), timed_out),
        checks::contents_check(
            list.as_ref().map_err(String::as_str),
            &plan.namespace,
            expected.len(),
            &left_out,
        ),
    ];
    all.extend(checks::kind_checks(
        &expected,
        &found,
        plan.volumes_expected,
    ));
    let finished_at = Timestamp::now();
    let backup_done = restore
        .annotations()
        .get(metadata::BACKUP_COMPLETED_AT)
        .and_then(|t| t.parse().ok())
        .unwrap_or(started);
    let rto = whole_seconds(finished_at.duration_since(started));
    let rpo = whole_seconds(started.duration_since(backup_done));
    all.push(checks::target_check(
        "RTO",
        rto,
        u64::from(plan.targets.rto_minutes) * 60,
    ));
    all.push(checks::target_check(
        "RPO",
        rpo,
        u64::from(plan.targets.rpo_minutes) * 60,
    ));
    let evidence = DrillEvidence {
        name: name.clone(),
        backup: restore.spec.backup_name.clone(),
        started_at: started,
        finished_at,
        items_restored: restore
            .status
            .as_ref()
            .and_then(|s| s.progress.as_ref())
            .map_or(0, |p| p.items_restored),
        checks: all,
        rto_seconds: rto,
        rpo_seconds: rpo,
        request: restore.annotations().get(metadata::REQUEST).cloned(),
    };
    let report = build::drill_report(plan, &ctx.shared.namespace, &evidence);
    let reports = Api::<DrillReport>::namespaced(client.clone(), &ctx.shared.namespace);
    let report = match reports.create(&PostParams::default(), &report).await {
        Ok(report) => report,
        // Written by an earlier try: evidence is never rewritten.
        Err(kube::Error::Api(status)) if status.code == 409 => reports.get(&name).await?,
        Err(error) => return Err(error.into()),
    };
    contents::forget(client, plan, &name).await?;
    conclude(ctx, member, &report, sandboxes).await?;
    Ok(Some(report))
}

/// Seconds, rounded up: a target is missed by any fraction of a second.
fn whole_seconds(duration: SignedDuration) -> u64 {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(0);
    millis.div_ceil(1000)
}

/// Events for a finished drill, and its sandbox's keep-until mark.
async fn conclude(
    ctx: &BackupContext,
    member: &Member,
    report: &DrillReport,
    sandboxes: &[Namespace],
) -> Result<(), Error> {
    let spec = &report.spec;
    let name = report.name_any();
    let measured = format!(
        "RTO {} s (target {} s), RPO {} s (target {} s), {} items restored",
        spec.measured_rto_seconds,
        spec.rto_target_seconds,
        spec.measured_rpo_seconds,
        spec.rpo_target_seconds,
        spec.items_restored
    );
    if spec.verdict == Verdict::Passed {
        info!(drill = %name, "drill passed");
        let note = format!("drill {name} of backup {} passed: {measured}", spec.backup);
        ctx.shared
            .event(member, EventType::Normal, "DrillPassed", note)
            .await;
        return Ok(());
    }
    let until = spec
        .finished_at
        .checked_add(
            SignedDuration::try_from(ctx.settings.failed_sandbox_retention)
                .unwrap_or(SignedDuration::MAX),
        )
        .unwrap_or(Timestamp::MAX);
    let sandbox_there = sandboxes
        .iter()
        .any(|ns| ns.name_any() == name && guard::is_sandbox_of(ns, &spec.member));
    if sandbox_there {
        let mark = json!({"metadata": {"annotations": {metadata::KEEP_UNTIL: until.to_string()}}});
        Api::<Namespace>::all(ctx.shared.client.clone())
            .patch(&name, &PatchParams::default(), &Patch::Merge(&mark))
            .await?;
    }
    let failed = spec.failed_checks();
    let note = format!(
        "drill {name} of backup {} failed: {}; {measured}; sandbox {name} kept for inspection until {until}",
        spec.backup,
        failed.join("; ")
    );
    ctx.shared
        .event(member, EventType::Warning, "DrillFailed", note)
        .await;
    Ok(())
}

/// Deletes the sandboxes whose time is over; wakes up for the next.
async fn tidy(
    ctx: &BackupContext,
    member: &Member,
    sandboxes: &[Namespace],
    restores: &[Restore],
    reports: &[DrillReport],
    state: &mut DrillState,
) -> Result<(), Error> {
    let now = Timestamp::now();
    let retention = SignedDuration::try_from(ctx.settings.failed_sandbox_retention)
        .unwrap_or(SignedDuration::MAX);
    let reports: BTreeMap<String, &DrillReport> =
        reports.iter().map(|r| (r.name_any(), r)).collect();
    let namespaces = Api::<Namespace>::all(ctx.shared.client.clone());
    for sandbox in sandboxes {
        let name = sandbox.name_any();
        if !guard::is_sandbox_of(sandbox, &member.name_any())
            || sandbox.meta().deletion_timestamp.is_some()
        {
            continue;
        }
        let has_restore = restores.iter().any(|r| r.name_any() == name);
        let created = sandbox.meta().creation_timestamp.as_ref().map(|t| t.0);
        let report = reports.get(&name).map(|r| &r.spec);
        match sandbox::fate(report, has_restore, created, now, retention) {
            Fate::Keep => {}
            Fate::KeepUntil(until) => {
                state.wake_in(until.duration_since(now).unsigned_abs());
            }
            Fate::Delete(why) => {
                match namespaces.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.is_not_found() => continue,
                    Err(error) => return Err(error.into()),
                }
                info!(sandbox = %name, why, "sandbox deleted");
                ctx.shared
                    .event(
                        member,
                        EventType::Normal,
                        "SandboxDeleted",
                        format!("drill sandbox {name} deleted: {why}"),
                    )
                    .await;
            }
        }
    }
    Ok(())
}

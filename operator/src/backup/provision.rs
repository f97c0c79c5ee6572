//! Apply: the member's Schedule (stale ones deleted), its first backup
//! asked for at once, and its oldest DrillReports pruned; with the
//! dereference they need (the member's Velero objects, its storage
//! location's state).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
};
use tracing::info;

use super::{
    BackupContext, CONTROLLER, Error, build,
    drill::{CompletedBackup, Observed, Unsafe},
    is_members, member_selector, of_member,
    plan::BackupPlan,
    velero::{Backup, Restore, SCHEDULE_NAME_LABEL, Schedule},
};
use crate::{
    api::{DrillReport, Member},
    runtime::apply::apply_over_live,
};

/// Applies the member's Schedule and deletes the ones it no longer wants
/// (another name or Velero namespace after a change of target). Returns the
/// live Schedule.
pub(super) async fn apply_schedule(
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
pub(super) async fn delete_schedules(
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

/// Dereference: the backups, drills, reports and sandboxes of the member.
pub(super) async fn observe(
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
pub(super) fn beyond(reports: &[DrillReport], kept: u32) -> &[DrillReport] {
    let kept = usize::try_from(kept.max(1)).unwrap_or(usize::MAX);
    &reports[..reports.len().saturating_sub(kept)]
}

/// Deletes the member's oldest DrillReports beyond the count kept, each
/// with a precondition on its uid, and says so in an Event.
pub(super) async fn prune_reports(
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
pub(super) struct Storage {
    /// Why it cannot be used, if it cannot: missing, or marked Unavailable.
    /// A location Velero has not checked yet is given the benefit of the
    /// doubt.
    pub(super) unavailable: Option<String>,
    /// When Velero last checked it.
    pub(super) validated_at: Option<Timestamp>,
}

/// Read from the watch's cache: no request at each reconcile.
pub(super) async fn storage_state(plan: &BackupPlan, ctx: &BackupContext) -> Storage {
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
pub(super) const FIRST_BACKUP_ATTEMPTS: u32 = 3;

/// Phases after which Velero does nothing more with a Backup.
pub(super) const FINISHED: [&str; 4] =
    ["Completed", "PartiallyFailed", "Failed", "FailedValidation"];

/// Which attempt at the first backup is due (1, 2, …), if one is: until the
/// Schedule has a Completed backup, socle keeps one in flight, up to
/// [`FIRST_BACKUP_ATTEMPTS`]. A failed attempt is followed by another only
/// once Velero has checked the storage location again since it began
/// (`validated_at`, and the location was found available: the caller asks
/// only then), so that a store that is down does not burn every attempt in
/// the seconds before Velero notices.
pub(super) fn first_backup_attempt(
    backups: &[Backup],
    validated_at: Option<Timestamp>,
) -> Option<u32> {
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
pub(super) async fn take_first_backup(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str) -> DrillReport {
        let mut report = crate::backup::health::tests::report("Passed", 60, &[]);
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

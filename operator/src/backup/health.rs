//! The two conditions the backup controller owns on a Member, from what it
//! observed. Pure.
//!
//! - `BackupReady`: the Velero Schedule is in place and Velero accepts it.
//! - `DrillHealthy`: the latest drill passed, within the tier's drill age and
//!   RTO; otherwise why not, in words a technician can act on.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{metadata, plan::BackupPlan};
use crate::{
    api::{DrillReport, drill_report::Verdict},
    runtime::conditions::condition,
};

/// Condition type: backups are scheduled.
pub const BACKUP_READY: &str = "BackupReady";
/// Condition type: restores are proven by a recent successful drill.
pub const DRILL_HEALTHY: &str = "DrillHealthy";

/// `BackupReady` while the API server does not serve Velero's API: a
/// Member that asks for backups gets none, and says so.
pub fn velero_not_installed(generation: Option<i64>) -> Condition {
    condition(
        BACKUP_READY,
        false,
        "VeleroNotInstalled",
        "Velero is not installed (the API server does not serve velero.io/v1): no backup is taken; install Velero, and socle schedules this member's backups at once",
        generation,
    )
}

/// `BackupReady` when the member's storage location is missing or Velero
/// cannot reach it (`why`): no backup can be written nor read, and no drill
/// starts until it is back.
pub fn storage_unavailable(plan: &BackupPlan, why: &str, generation: Option<i64>) -> Condition {
    condition(
        BACKUP_READY,
        false,
        "StorageUnavailable",
        format!(
            "Velero's storage location {}/{} {why}: no backup of {} can be written or restored, and no drill starts until it is back",
            plan.velero_namespace, plan.storage_location, plan.namespace
        ),
        generation,
    )
}

/// `BackupReady` from the live Schedule's Velero phase and validation errors.
pub fn backup_ready(
    plan: &BackupPlan,
    phase: Option<&str>,
    validation_errors: &[String],
    generation: Option<i64>,
) -> Condition {
    if phase == Some("FailedValidation") {
        return condition(
            BACKUP_READY,
            false,
            "ScheduleInvalid",
            format!(
                "Velero rejected schedule {}/{}: {}",
                plan.velero_namespace,
                plan.schedule,
                validation_errors.join("; ")
            ),
            generation,
        );
    }
    condition(
        BACKUP_READY,
        true,
        "Scheduled",
        format!(
            "Velero schedule {}/{} backs up {} on \"{}\" (UTC) for an RPO of {} min, kept {} days on {}",
            plan.velero_namespace,
            plan.schedule,
            plan.namespace,
            plan.cron,
            plan.targets.rpo_minutes,
            plan.targets.retention_days,
            plan.storage_location
        ),
        generation,
    )
}

/// What `DrillHealthy` is computed from.
#[derive(Clone, Copy, Debug)]
pub struct DrillView<'a> {
    /// Every report of the member, oldest first.
    pub reports: &'a [DrillReport],
    /// The drill running now.
    pub running: Option<&'a str>,
    /// Whether a completed backup exists.
    pub has_backup: bool,
    /// The next scheduled drill.
    pub next_due: Option<Timestamp>,
}

/// `DrillHealthy`: the latest drill decides; a passed one must also be
/// recent enough for the tier and within the current RTO target.
pub fn drill_healthy(
    plan: &BackupPlan,
    view: DrillView<'_>,
    now: Timestamp,
    generation: Option<i64>,
) -> Condition {
    let not = |reason: &str, message: String| {
        condition(DRILL_HEALTHY, false, reason, message, generation)
    };
    let Some(last) = view.reports.last() else {
        if let Some(running) = view.running {
            return not(
                "DrillInProgress",
                format!("the first drill, {running}, is running"),
            );
        }
        if !view.has_backup {
            return not(
                "NoCompletedBackup",
                format!(
                    "no completed backup of Velero schedule {}/{} yet: there is nothing to restore, so no drill can run",
                    plan.velero_namespace, plan.schedule
                ),
            );
        }
        let next = view.next_due.map_or_else(
            || "no drill is scheduled (spec.backup.drill)".to_owned(),
            |next| format!("the first is scheduled at {next}"),
        );
        return not(
            "NeverDrilled",
            format!(
                "no drill has proven the backups yet; {next}; annotate the Member with {}=<any new value> to run one now",
                metadata::DRILL_NOW
            ),
        );
    };
    let spec = &last.spec;
    let name = last.metadata.name.as_deref().unwrap_or_default();
    if spec.verdict == Verdict::Failed {
        let failed: Vec<&str> = spec
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Failed)
            .map(|c| c.name.as_str())
            .collect();
        let reason = match failed.as_slice() {
            ["RTO"] => "RtoMissed",
            ["RPO"] => "RpoMissed",
            ["RTO", "RPO"] | ["RPO", "RTO"] => "TargetsMissed",
            _ => "DrillFailed",
        };
        let details = spec.failed_checks();
        return not(
            reason,
            format!(
                "drill {name} of {} failed: {}; see `kubectl get drillreport {name} -o yaml` and sandbox {}",
                spec.finished_at,
                details.join("; "),
                spec.sandbox_namespace
            ),
        );
    }
    let age = now.duration_since(spec.finished_at);
    if age > plan.targets.drill_max_age() {
        return not(
            "DrillOverdue",
            format!(
                "the last successful drill, {name}, finished {}: the {:?} tier allows {} days",
                spec.finished_at, plan.targets.tier, plan.targets.drill_max_age_days
            ),
        );
    }
    let rto_target = u64::from(plan.targets.rto_minutes) * 60;
    if spec.measured_rto_seconds > rto_target {
        return not(
            "RtoMissed",
            format!(
                "drill {name} restored in {} s, more than the current RTO target of {rto_target} s",
                spec.measured_rto_seconds
            ),
        );
    }
    condition(
        DRILL_HEALTHY,
        true,
        "DrillPassed",
        format!(
            "drill {name} passed at {}: RTO {} s (target {rto_target} s), RPO {} s (target {} s)",
            spec.finished_at,
            spec.measured_rto_seconds,
            spec.measured_rpo_seconds,
            spec.rpo_target_seconds
        ),
        generation,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn plan() -> BackupPlan {
        BackupPlan {
            cron: "7 * * * *".into(),
            volumes_expected: false,
            labels: std::collections::BTreeMap::new(),
            ..crate::backup::plan::example_plan()
        }
    }

    /// A report of the example plan's member, named `drill-allaire-1`.
    pub(in crate::backup) fn report(verdict: &str, rto: u64, failed: &[&str]) -> DrillReport {
        let checks: Vec<_> = ["restore finished", "RTO", "RPO"]
            .iter()
            .map(|name| {
                let verdict = if failed.contains(name) {
                    "Failed"
                } else {
                    "Passed"
                };
                serde_json::json!({"name": name, "verdict": verdict, "detail": "d"})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1", "kind": "DrillReport",
            "metadata": {"name": "drill-allaire-1", "namespace": "socle"},
            "spec": {"member": "allaire", "backup": "b", "sandboxNamespace": "drill-allaire-1",
                "startedAt": "2026-03-01T03:00:00Z", "finishedAt": "2026-03-01T03:01:00Z",
                "itemsRestored": 9, "checks": checks, "measuredRtoSeconds": rto, "measuredRpoSeconds": 60,
                "rtoTargetSeconds": 3600, "rpoTargetSeconds": 3600, "verdict": verdict},
        }))
        .unwrap()
    }

    fn view(reports: &[DrillReport], has_backup: bool) -> DrillView<'_> {
        DrillView {
            reports,
            running: None,
            has_backup,
            next_due: None,
        }
    }

    #[test]
    fn no_backup_no_drill_is_said_plainly() {
        let now = "2026-03-01T04:00:00Z".parse().unwrap();
        let c = drill_healthy(&plan(), view(&[], false), now, None);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "NoCompletedBackup")
        );
        let c = drill_healthy(&plan(), view(&[], true), now, None);
        assert_eq!(c.reason, "NeverDrilled");
    }

    #[test]
    fn a_recent_passed_drill_is_healthy_an_old_one_overdue() {
        let reports = [report("Passed", 60, &[])];
        let soon = "2026-03-10T00:00:00Z".parse().unwrap();
        let c = drill_healthy(&plan(), view(&reports, true), soon, None);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "DrillPassed")
        );
        let late = "2026-05-01T00:00:00Z".parse().unwrap();
        let c = drill_healthy(&plan(), view(&reports, true), late, None);
        assert_eq!(c.reason, "DrillOverdue");
    }

    #[test]
    fn failures_name_their_cause() {
        let now = "2026-03-01T04:00:00Z".parse().unwrap();
        let slow = [report("Failed", 4000, &["RTO"])];
        assert_eq!(
            drill_healthy(&plan(), view(&slow, true), now, None).reason,
            "RtoMissed"
        );
        let broken = [report("Failed", 60, &["restore finished"])];
        let c = drill_healthy(&plan(), view(&broken, true), now, None);
        assert_eq!(c.reason, "DrillFailed");
        assert!(c.message.contains("restore finished: d"), "{}", c.message);
    }

    #[test]
    fn velero_s_rejection_is_not_ready() {
        let c = backup_ready(
            &plan(),
            Some("FailedValidation"),
            &["bad location".into()],
            None,
        );
        assert_eq!(c.status, "False");
        assert!(c.message.contains("bad location"));
        assert_eq!(
            backup_ready(&plan(), Some("Enabled"), &[], None).status,
            "True"
        );
    }
}

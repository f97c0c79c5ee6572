//! The end of a sandbox: deleted once its drill passed, kept for inspection
//! a while after a failure, deleted if a drill was abandoned before its
//! restore was asked for. Only namespaces [`super::guard::is_sandbox_of`]
//! the member are ever considered.

use jiff::{SignedDuration, Timestamp};

use crate::api::{DrillReportSpec, drill_report::Verdict};

/// How long a sandbox may exist without a Restore before it counts as abandoned.
const ABANDONED_AFTER: SignedDuration = SignedDuration::from_mins(2);

/// What becomes of a sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delete it now, for this reason.
    Delete(&'static str),
    /// A failed drill's: kept until then.
    KeepUntil(Timestamp),
    /// Its drill is running.
    Keep,
}

/// The fate of a sandbox, from its drill's report, whether its Restore
/// exists, and when it was created. Pure.
pub fn fate(
    report: Option<&DrillReportSpec>,
    has_restore: bool,
    created: Option<Timestamp>,
    now: Timestamp,
    retention: SignedDuration,
) -> Fate {
    match report {
        Some(report) if report.verdict == Verdict::Passed => Fate::Delete("its drill passed"),
        Some(report) => {
            let until = report
                .finished_at
                .checked_add(retention)
                .unwrap_or(Timestamp::MAX);
            if now >= until {
                Fate::Delete("its failed drill's inspection time is over")
            } else {
                Fate::KeepUntil(until)
            }
        }
        None if has_restore => Fate::Keep,
        None => match created {
            Some(created) if now.duration_since(created) < ABANDONED_AFTER => Fate::Keep,
            _ => Fate::Delete("its drill was abandoned before the restore"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: Verdict, finished: &str) -> DrillReportSpec {
        serde_json::from_value(serde_json::json!({
            "member": "a", "backup": "b", "sandboxNamespace": "drill-a-1",
            "startedAt": finished, "finishedAt": finished, "itemsRestored": 1, "checks": [],
            "measuredRtoSeconds": 1, "measuredRpoSeconds": 1,
            "rtoTargetSeconds": 60, "rpoTargetSeconds": 60, "verdict": verdict,
        }))
        .unwrap()
    }

    #[test]
    fn passed_goes_failed_stays_for_its_time() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let day = SignedDuration::from_hours(24);
        let passed = report(Verdict::Passed, "2026-03-01T11:00:00Z");
        assert!(matches!(
            fate(Some(&passed), true, None, now, day),
            Fate::Delete(_)
        ));
        let failed = report(Verdict::Failed, "2026-03-01T11:00:00Z");
        assert_eq!(
            fate(Some(&failed), true, None, now, day),
            Fate::KeepUntil("2026-03-02T11:00:00Z".parse().unwrap())
        );
        let old = report(Verdict::Failed, "2026-02-27T11:00:00Z");
        assert!(matches!(
            fate(Some(&old), true, None, now, day),
            Fate::Delete(_)
        ));
    }

    #[test]
    fn a_running_drill_keeps_its_sandbox_an_abandoned_one_does_not() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let day = SignedDuration::from_hours(24);
        assert_eq!(fate(None, true, None, now, day), Fate::Keep);
        let just_now = Some("2026-03-01T11:59:30Z".parse().unwrap());
        assert_eq!(fate(None, false, just_now, now, day), Fate::Keep);
        let long_ago = Some("2026-03-01T11:00:00Z".parse().unwrap());
        assert!(matches!(
            fate(None, false, long_ago, now, day),
            Fate::Delete(_)
        ));
    }
}

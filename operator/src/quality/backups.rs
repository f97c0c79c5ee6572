//! A member's backups in one month, from the Velero Backups its Schedule
//! made: the longest gap between two completed backups, the gap still open
//! when the latest one is older than the objective, and the scheduled runs
//! that did not complete. Pure.
//!
//! What Velero keeps expires (its TTL), so what was judged stays judged: a
//! month's facts only grow (the longest gap, the runs missed), and a run is
//! judged only once its backup had time to complete and while the backups
//! of its time are still kept.

use crate::contribution::observed::RPO_GRACE_SECONDS;
use croner::Cron;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};

use crate::api::quality_record::BackupQuality;

/// Most missed runs a record lists, the latest (it counts them all).
pub const MISSED_LISTED: usize = 100;

/// One of the Schedule's Backups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// When Velero created it (a scheduled run's time, or a catch-up).
    pub created: Timestamp,
    /// When it completed, if it did (phase `Completed`).
    pub completed: Option<Timestamp>,
}

/// What the backup controller sees of a member's schedule now.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// `namespace/name` of the Schedule.
    pub schedule: &'a str,
    pub cron: &'a str,
    pub rpo: SignedDuration,
    /// How long Velero keeps a backup: runs older than that cannot be judged.
    pub retention: SignedDuration,
    /// When the Schedule was created.
    pub schedule_created: Option<Timestamp>,
    pub runs: &'a [Run],
    pub now: Timestamp,
}

/// The month `[start, end)` being recorded, what the record said of it so
/// far, and whether the member's backups were recorded the month before.
#[derive(Clone, Copy, Debug)]
pub struct Month<'a> {
    pub start: Timestamp,
    pub end: Timestamp,
    pub previous: Option<&'a BackupQuality>,
    pub watched_before: bool,
}

fn grace() -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(RPO_GRACE_SECONDS).unwrap_or(i64::MAX))
}

/// Seconds rounded down to the minute: a gap a few seconds longer than the
/// last one is not a new fact, and writes nothing.
fn minutes(duration: SignedDuration) -> u64 {
    u64::try_from(duration.as_secs()).unwrap_or(0) / 60 * 60
}

/// The month's backup facts: what the record held, with what `observed`
/// adds to it.
pub fn record(observed: &Observed<'_>, month: &Month<'_>, cron: Option<&Cron>) -> BackupQuality {
    let previous = month.previous;
    let same_schedule =
        previous.filter(|p| p.cron == observed.cron && p.schedule == observed.schedule);
    let observed_since = match (same_schedule, previous) {
        (Some(previous), _) => previous.observed_since,
        // The cron changed: its runs are judged from now on.
        (None, Some(_)) => observed.now,
        (None, None) if month.watched_before => month.start,
        (None, None) => observed
            .schedule_created
            .map_or(observed.now, |created| created.max(month.start)),
    };
    let mut completed: Vec<Timestamp> = observed
        .runs
        .iter()
        .filter_map(|run| run.completed)
        .filter(|completed| *completed <= observed.now)
        .collect();
    completed.sort();
    let (mut longest, mut ended_at) = previous.map_or((None, None), |p| {
        (p.longest_gap_seconds, p.longest_gap_ended_at)
    });
    for pair in completed.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        if after < month.start || after >= month.end {
            continue;
        }
        let gap = minutes(after.duration_since(before));
        if longest.is_none_or(|longest| gap > longest) {
            (longest, ended_at) = (Some(gap), Some(after));
        }
    }
    let latest = completed.last().copied();
    let due_since = latest.or(observed.schedule_created);
    let overdue_since = if observed.now >= month.end {
        // A month that has ended keeps the gap it ended with.
        previous.and_then(|p| p.overdue_since)
    } else {
        due_since.filter(|since| observed.now.duration_since(*since) > observed.rpo + grace())
    };
    let (mut missed, mut missed_runs) =
        previous.map_or((0, Vec::new()), |p| (p.missed, p.missed_runs.clone()));
    let judged_after = previous
        .and_then(|p| p.missed_runs.last().copied())
        .unwrap_or(Timestamp::MIN);
    if let Some(cron) = cron.filter(|_| same_schedule.is_some() || previous.is_none()) {
        let from = observed_since
            .max(month.start)
            .max(observed.now - observed.retention + SignedDuration::from_hours(24));
        let to = month.end.min(observed.now - observed.rpo - grace());
        for run in scheduled(cron, from, to) {
            if run <= judged_after {
                continue;
            }
            let answered = observed.runs.iter().any(|backup| {
                backup.completed.is_some()
                    && backup.created >= run - SignedDuration::from_mins(1)
                    && backup.created < run + observed.rpo
            });
            if !answered {
                missed += 1;
                missed_runs.push(run);
                if missed_runs.len() > MISSED_LISTED {
                    missed_runs.remove(0);
                }
            }
        }
    }
    BackupQuality {
        schedule: observed.schedule.to_owned(),
        cron: observed.cron.to_owned(),
        rpo_seconds: u64::try_from(observed.rpo.as_secs()).unwrap_or(0),
        observed_since,
        longest_gap_seconds: longest,
        longest_gap_ended_at: ended_at,
        overdue_since,
        missed,
        missed_runs,
    }
}

/// The cron's runs in `[from, to)`.
fn scheduled(cron: &Cron, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut runs = Vec::new();
    if from >= to {
        return runs;
    }
    let mut at = from.to_zoned(TimeZone::UTC);
    // Inclusive of `from` itself.
    let mut inclusive = true;
    while let Ok(next) = cron.find_next_occurrence(&at, inclusive) {
        if next.timestamp() >= to || runs.len() > 10_000 {
            break;
        }
        runs.push(next.timestamp());
        at = next;
        inclusive = false;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::plan::parse_cron;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Backups every 4 h from 01:07, each completing 20 s later, over
    /// March, but for the runs in `failed`.
    fn runs(failed: &[&str]) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut created = at("2026-02-28T21:07:00Z");
        while created < at("2026-04-01T00:00:00Z") {
            let ok = !failed.iter().any(|f| at(f) == created);
            runs.push(Run {
                created,
                completed: ok.then(|| created + SignedDuration::from_secs(20)),
            });
            created += SignedDuration::from_hours(4);
        }
        runs
    }

    fn observe<'a>(runs: &'a [Run], now: &str) -> Observed<'a> {
        Observed {
            schedule: "velero/commune-allaire",
            cron: "7 1-23/4 * * *",
            rpo: SignedDuration::from_hours(4),
            retention: SignedDuration::from_hours(90 * 24),
            schedule_created: Some(at("2026-01-10T00:00:00Z")),
            runs,
            now: at(now),
        }
    }

    fn march(previous: Option<&BackupQuality>) -> Month<'_> {
        Month {
            start: at("2026-03-01T00:00:00Z"),
            end: at("2026-04-01T00:00:00Z"),
            previous,
            watched_before: true,
        }
    }

    #[test]
    fn a_schedule_that_runs_as_it_should_gives_one_fact_then_nothing_new() {
        let cron = parse_cron("7 1-23/4 * * *").unwrap();
        let all = runs(&[]);
        let first = record(
            &observe(&all, "2026-03-20T12:00:00Z"),
            &march(None),
            Some(&cron),
        );
        assert_eq!(first.missed, 0);
        assert_eq!(first.longest_gap_seconds, Some(4 * 3600));
        assert_eq!(first.overdue_since, None);
        assert_eq!(first.observed_since, at("2026-03-01T00:00:00Z"));
        let again = record(
            &observe(&all, "2026-03-20T16:30:00Z"),
            &march(Some(&first)),
            Some(&cron),
        );
        assert_eq!(again, first, "a resync writes nothing");
    }

    #[test]
    fn a_failed_run_is_missed_once_and_the_gap_it_leaves_is_the_longest() {
        let cron = parse_cron("7 1-23/4 * * *").unwrap();
        let some = runs(&["2026-03-10T05:07:00Z"]);
        let first = record(
            &observe(&some, "2026-03-20T12:00:00Z"),
            &march(None),
            Some(&cron),
        );
        assert_eq!(first.missed, 1);
        assert_eq!(first.missed_runs, [at("2026-03-10T05:07:00Z")]);
        assert_eq!(first.longest_gap_seconds, Some(8 * 3600));
        assert_eq!(first.longest_gap_ended_at, Some(at("2026-03-10T09:07:20Z")));
        // Judged again later: counted once.
        let again = record(
            &observe(&some, "2026-03-31T12:00:00Z"),
            &march(Some(&first)),
            Some(&cron),
        );
        assert_eq!(
            (again.missed, again.longest_gap_seconds),
            (1, Some(8 * 3600))
        );
    }

    #[test]
    fn backups_that_stop_are_overdue_once_beyond_the_objective() {
        let cron = parse_cron("7 1-23/4 * * *").unwrap();
        let until: Vec<Run> = runs(&[])
            .into_iter()
            .filter(|run| run.created < at("2026-03-20T00:00:00Z"))
            .collect();
        let soon = record(
            &observe(&until, "2026-03-20T01:00:00Z"),
            &march(None),
            Some(&cron),
        );
        assert_eq!(soon.overdue_since, None);
        let late = record(
            &observe(&until, "2026-03-20T05:20:00Z"),
            &march(Some(&soon)),
            Some(&cron),
        );
        assert_eq!(late.overdue_since, Some(at("2026-03-19T21:07:20Z")));
        assert_eq!(late.missed, 0, "the 01:07 run is judged at 05:22");
        let later = record(
            &observe(&until, "2026-03-20T05:30:00Z"),
            &march(Some(&late)),
            Some(&cron),
        );
        assert_eq!(later.missed, 1);
        assert_eq!(
            later.overdue_since, late.overdue_since,
            "an open gap is written once"
        );
    }
}

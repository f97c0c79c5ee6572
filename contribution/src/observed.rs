//! What the operator observed of the service month by month (its
//! QualityRecords), summed up for an exercise: each member's backups
//! against their recovery point objective, and its tunnels' availability.
//!
//! Pure: the caller reads the months from the cluster or from a directory
//! and says up to when the exercise has run (`until`: its end, or the
//! instant of the report); an outage or a backup gap still open counts up
//! to then.

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How late a backup may complete beyond the objective before the gap
/// counts as missed: the time a backup takes. A schedule every 4 h for a
/// 4 h objective leaves gaps of 4 h and a few seconds.
pub const RPO_GRACE_SECONDS: u64 = 15 * 60;

/// The availability the report holds a tunnel to, in basis points (99 %).
/// The convention names no figure: this is the DSI's reading, stated in
/// the report.
pub const TUNNEL_TARGET_BASIS_POINTS: u32 = 9_900;

/// Below this (95 %), a tunnel's availability is a failure, not a watch.
pub const TUNNEL_FAILING_BASIS_POINTS: u32 = 9_500;

/// One member's backups in one month, as its QualityRecord holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupMonth {
    pub member: String,
    pub year: i16,
    pub month: i8,
    /// The objective, in seconds.
    pub rpo_seconds: u64,
    /// The longest closed gap between two completed backups, in seconds.
    pub longest_gap_seconds: Option<u64>,
    /// The gap still open: the latest completed backup, older than the objective.
    pub overdue_since: Option<Timestamp>,
    /// Scheduled runs that did not complete.
    pub missed: u32,
}

/// One tunnel (a member's site) in one month, as its QualityRecord holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelMonth {
    pub member: String,
    pub site: String,
    pub year: i16,
    pub month: i8,
    /// Since when it is watched this month.
    pub observed_since: Timestamp,
    /// The seconds of the month's closed outages.
    pub down_seconds: u64,
    /// The outage still open: since when the hub has heard nothing.
    pub open_since: Option<Timestamp>,
    /// How many outages the month had.
    pub outages: u32,
}

/// A member's backups over the exercise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupFigures {
    /// The objective (the latest month's), in seconds.
    pub rpo_seconds: u64,
    /// The longest the member went without a backup younger than the
    /// objective would allow: the longest gap between two completed
    /// backups, or since the last one when none came after, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_gap_seconds: Option<u64>,
    /// The longest gap went beyond the objective (and its grace).
    pub beyond_objective: bool,
    /// The latest backup is older than the objective at the end of the period.
    pub overdue_at_end: bool,
    /// Scheduled runs that did not complete.
    pub missed: u32,
    /// Months observed.
    pub months: u32,
}

/// A member's tunnels over the exercise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TunnelFigures {
    /// The share of the watched time the tunnels were up, in basis points
    /// (9 998 is 99,98 %), rounded down.
    pub availability_basis_points: u32,
    /// Seconds watched, all sites, and seconds down.
    pub observed_seconds: u64,
    pub down_seconds: u64,
    /// Outages in the exercise, and the sites watched.
    pub outages: u32,
    pub sites: u32,
}

/// The first instant of a month, in UTC (the records' months are UTC).
fn month_start(year: i16, month: i8) -> Option<Timestamp> {
    Date::new(year, month, 1)
        .ok()?
        .to_zoned(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// The first instant after a month.
fn month_end(year: i16, month: i8) -> Option<Timestamp> {
    if month == 12 {
        month_start(year.checked_add(1)?, 1)
    } else {
        month_start(year, month + 1)
    }
}

fn seconds(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.duration_since(from).as_secs()).unwrap_or(0)
}

/// `member`'s backups of `exercise` up to `until`; `None` when no month of
/// it was observed.
pub fn backup_figures(
    months: &[BackupMonth],
    member: &str,
    exercise: i16,
    until: Timestamp,
) -> Option<BackupFigures> {
    let mut own: Vec<&BackupMonth> = months
        .iter()
        .filter(|month| month.member == member && month.year == exercise)
        .filter(|month| month_start(month.year, month.month).is_some_and(|start| start <= until))
        .collect();
    own.sort_by_key(|month| month.month);
    let latest = own.last()?;
    let mut longest: Option<u64> = None;
    let mut overdue_at_end = false;
    for month in &own {
        longest = longest.max(month.longest_gap_seconds);
        if let Some(since) = month.overdue_since {
            let end = month_end(month.year, month.month).map_or(until, |end| end.min(until));
            longest = longest.max(Some(seconds(since, end)));
            overdue_at_end |= std::ptr::eq(*month, *latest);
        }
    }
    let rpo = latest.rpo_seconds;
    Some(BackupFigures {
        rpo_seconds: rpo,
        longest_gap_seconds: longest,
        beyond_objective: longest.is_some_and(|gap| gap > rpo + RPO_GRACE_SECONDS),
        overdue_at_end,
        missed: own.iter().map(|month| month.missed).sum(),
        months: u32::try_from(own.len()).unwrap_or(u32::MAX),
    })
}

/// `member`'s tunnels over `exercise` up to `until`; `None` when none was watched.
pub fn tunnel_figures(
    months: &[TunnelMonth],
    member: &str,
    exercise: i16,
    until: Timestamp,
) -> Option<TunnelFigures> {
    let (mut observed, mut down, mut outages) = (0_u64, 0_u64, 0_u32);
    let mut sites: Vec<&str> = Vec::new();
    for month in months
        .iter()
        .filter(|month| month.member == member && month.year == exercise)
    {
        let (Some(start), Some(end)) = (
            month_start(month.year, month.month),
            month_end(month.year, month.month),
        ) else {
            continue;
        };
        let from = month.observed_since.max(start);
        let to = end.min(until);
        if from >= to {
            continue;
        }
        let watched = seconds(from, to);
        let open = month
            .open_since
            .map_or(0, |since| seconds(since.max(from), to));
        observed += watched;
        down += (month.down_seconds + open).min(watched);
        outages += month.outages;
        if !sites.contains(&month.site.as_str()) {
            sites.push(&month.site);
        }
    }
    (observed > 0).then(|| TunnelFigures {
        availability_basis_points: u32::try_from(
            u128::from(observed - down) * 10_000 / u128::from(observed),
        )
        .unwrap_or(10_000),
        observed_seconds: observed,
        down_seconds: down,
        outages,
        sites: u32::try_from(sites.len()).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn backups(month: i8, gap: Option<u64>, overdue: Option<&str>, missed: u32) -> BackupMonth {
        BackupMonth {
            member: "allaire".into(),
            year: 2026,
            month,
            rpo_seconds: 14_400,
            longest_gap_seconds: gap,
            overdue_since: overdue.map(at),
            missed,
        }
    }

    #[test]
    fn the_longest_gap_counts_one_still_open_up_to_the_end() {
        let months = [
            backups(3, Some(14_400), None, 0),
            backups(4, Some(14_460), None, 2),
        ];
        let figures = backup_figures(&months, "allaire", 2026, at("2026-12-31T00:00:00Z")).unwrap();
        assert_eq!(figures.longest_gap_seconds, Some(14_460));
        assert!(
            !figures.beyond_objective,
            "a minute late is within the grace"
        );
        assert_eq!((figures.missed, figures.months), (2, 2));
        let stopped = [
            backups(3, Some(3_600), None, 0),
            backups(4, None, Some("2026-04-30T20:00:00Z"), 1),
        ];
        // The open gap counts to the month's end, not to the report.
        let figures =
            backup_figures(&stopped, "allaire", 2026, at("2026-12-31T00:00:00Z")).unwrap();
        assert_eq!(figures.longest_gap_seconds, Some(4 * 3600));
        assert!(figures.overdue_at_end && !figures.beyond_objective);
        let figures =
            backup_figures(&stopped, "allaire", 2026, at("2026-04-30T23:59:00Z")).unwrap();
        assert_eq!(figures.longest_gap_seconds, Some(3 * 3600 + 59 * 60));
        assert!(backup_figures(&stopped, "bains", 2026, at("2026-12-31T00:00:00Z")).is_none());
    }

    #[test]
    fn availability_is_the_watched_time_up_over_the_watched_time() {
        let month = |month, since: &str, down, open: Option<&str>| TunnelMonth {
            member: "allaire".into(),
            site: "mairie".into(),
            year: 2026,
            month,
            observed_since: at(since),
            down_seconds: down,
            open_since: open.map(at),
            outages: u32::from(down > 0) + u32::from(open.is_some()),
        };
        // Watched from 16 March: 16 days, one hour down; then April, two
        // hours down still open at the end of the period.
        let months = [
            month(3, "2026-03-16T00:00:00Z", 3600, None),
            month(4, "2026-04-01T00:00:00Z", 0, Some("2026-04-10T22:00:00Z")),
        ];
        let figures = tunnel_figures(&months, "allaire", 2026, at("2026-04-11T00:00:00Z")).unwrap();
        let watched = (16 + 10) * 86_400;
        assert_eq!(figures.observed_seconds, watched);
        assert_eq!(figures.down_seconds, 3 * 3600);
        assert_eq!(figures.outages, 2);
        assert_eq!(
            u64::from(figures.availability_basis_points),
            (watched - 3 * 3600) * 10_000 / watched
        );
        assert!(tunnel_figures(&months, "allaire", 2025, at("2026-04-11T00:00:00Z")).is_none());
    }
}

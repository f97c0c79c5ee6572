//! The PRI tiers as numbers: recovery point and time objectives, retention,
//! and how old the last successful drill may be; and the Velero schedule that
//! keeps the recovery point objective. Pure.

use jiff::SignedDuration;

use crate::api::member::{BackupSpec, PriTier};

/// What a member's backups must achieve: its tier's targets, with the
/// overrides of `spec.backup` applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    pub tier: PriTier,
    /// Recovery point objective: the most data the commune may lose, in minutes.
    pub rpo_minutes: u32,
    /// Recovery time objective: the longest a restore may take, in minutes.
    pub rto_minutes: u32,
    /// How long backups are kept, in days.
    pub retention_days: u32,
    /// How old the last successful drill may be, in days.
    pub drill_max_age_days: u32,
}

impl Targets {
    /// The tier's targets (see the README's table), then the member's overrides.
    pub fn of(spec: &BackupSpec) -> Self {
        let (rpo, rto, retention, drill_age) = match spec.tier {
            // Hourly backups, restored within 1 h, kept a year, drilled monthly.
            PriTier::Critical => (60, 60, 365, 35),
            // Every 4 h, restored within 4 h, kept 90 days, drilled quarterly.
            PriTier::Standard => (240, 240, 90, 100),
            // Daily, restored within a working day, kept 30 days, drilled yearly.
            PriTier::Essential => (1440, 1440, 30, 400),
        };
        Self {
            tier: spec.tier,
            rpo_minutes: spec.rpo_minutes.unwrap_or(rpo),
            rto_minutes: spec.rto_minutes.unwrap_or(rto),
            retention_days: spec.retention_days.unwrap_or(retention),
            drill_max_age_days: drill_age,
        }
    }

    pub fn rpo(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.rpo_minutes))
    }

    pub fn rto(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.rto_minutes))
    }

    pub fn drill_max_age(&self) -> SignedDuration {
        SignedDuration::from_hours(24 * i64::from(self.drill_max_age_days))
    }

    /// Velero's TTL of the backups, a Go duration: 30 days is "720h0m0s".
    pub fn ttl(&self) -> String {
        format!("{}h0m0s", u64::from(self.retention_days) * 24)
    }
}

/// Backup intervals a cron expression can keep evenly through the day, in
/// minutes: divisors of an hour, then of a day.
const INTERVALS: [u32; 15] = [
    5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440,
];

/// The cron expression (UTC, as Velero reads it) of backups often enough to
/// keep `rpo_minutes`: the longest even interval not above it. The minute is
/// spread by member name, so that 31 communes do not all start at :00; daily
/// and multi-hour backups start from 01:00 UTC, at night in France.
pub fn backup_cron(rpo_minutes: u32, member: &str) -> String {
    let interval = INTERVALS
        .iter()
        .copied()
        .filter(|&interval| interval <= rpo_minutes)
        .max()
        .unwrap_or(INTERVALS[0]);
    let spread = spread(member);
    if interval < 60 {
        format!("{}-59/{interval} * * * *", spread % interval)
    } else if interval == 60 {
        format!("{} * * * *", spread % 60)
    } else if interval == 1440 {
        format!("{} 1 * * *", spread % 60)
    } else {
        let hours = interval / 60;
        format!("{} 1-23/{hours} * * *", spread % 60)
    }
}

/// A stable number from a name (FNV-1a): the same member always gets the
/// same minute, whatever the build.
fn spread(name: &str) -> u32 {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> BackupSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn tiers_give_their_targets_and_overrides_win() {
        let critical = Targets::of(&spec("{tier: Critical}"));
        assert_eq!((critical.rpo_minutes, critical.retention_days), (60, 365));
        assert_eq!(critical.ttl(), "8760h0m0s");
        let standard = Targets::of(&spec("{tier: Standard, rtoMinutes: 30}"));
        assert_eq!((standard.rpo_minutes, standard.rto_minutes), (240, 30));
        let essential = Targets::of(&spec("{tier: Essential, retentionDays: 7}"));
        assert_eq!(essential.ttl(), "168h0m0s");
        assert_eq!(essential.rpo(), SignedDuration::from_hours(24));
    }

    #[test]
    fn the_cron_keeps_the_rpo() {
        let minute = spread("allaire") % 60;
        assert_eq!(backup_cron(60, "allaire"), format!("{minute} * * * *"));
        assert_eq!(
            backup_cron(240, "allaire"),
            format!("{minute} 1-23/4 * * *")
        );
        assert_eq!(backup_cron(1440, "allaire"), format!("{minute} 1 * * *"));
        // 90 minutes cannot be kept evenly: hourly does.
        assert_eq!(backup_cron(90, "allaire"), format!("{minute} * * * *"));
        // Beyond a day: still daily, the longest even interval.
        assert_eq!(backup_cron(4320, "allaire"), format!("{minute} 1 * * *"));
        assert_eq!(
            backup_cron(15, "allaire"),
            format!("{}-59/15 * * * *", spread("allaire") % 15)
        );
    }

    #[test]
    fn every_cron_parses_and_its_runs_are_never_further_apart_than_the_rpo() {
        use croner::parser::{CronParser, Seconds};
        use jiff::{Timestamp, tz::TimeZone};
        let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
        for rpo in [5, 7, 15, 45, 60, 100, 240, 300, 700, 1440, 10_000] {
            for member in ["allaire", "redon", "saint-jean-la-poterie"] {
                let cron = parser.parse(&backup_cron(rpo, member)).unwrap();
                let mut at = Timestamp::UNIX_EPOCH.to_zoned(TimeZone::UTC);
                at = cron.find_next_occurrence(&at, false).unwrap();
                for _ in 0..50 {
                    let next = cron.find_next_occurrence(&at, false).unwrap();
                    let gap = next.timestamp().duration_since(at.timestamp());
                    assert!(
                        gap <= SignedDuration::from_mins(i64::from(rpo.max(5))),
                        "{rpo} min, {member}: {gap:?}"
                    );
                    at = next;
                }
            }
        }
    }
}

//! The backup values a Prometheus endpoint shows, as plain data: the
//! controller records them per member, the endpoint takes a snapshot.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use jiff::Timestamp;

use crate::api::member::PriTier;

/// A shared, cloneable handle on the latest backup facts of every member.
#[derive(Clone, Debug, Default)]
pub struct BackupMetrics {
    members: Arc<RwLock<BTreeMap<String, Recorded>>>,
}

/// What the controller last saw of one member.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Recorded {
    tier: PriTier,
    last_backup: Option<Timestamp>,
    last_drill: Option<DrillFacts>,
}

/// The latest drill of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrillFacts {
    /// When its checks were done.
    pub finished_at: Timestamp,
    /// Measured recovery time, in seconds.
    pub rto_seconds: u64,
    /// Measured recovery point (age of the backup restored), in seconds.
    pub rpo_seconds: u64,
    /// Whether it passed.
    pub passed: bool,
}

/// One member's values at the time of a [`BackupMetrics::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberBackupSample {
    pub member: String,
    pub tier: PriTier,
    /// Age of the latest completed backup, in seconds; `None`: no backup yet.
    pub last_backup_age_seconds: Option<u64>,
    /// The latest drill; `None`: never drilled.
    pub last_drill: Option<DrillFacts>,
}

impl BackupMetrics {
    /// Records what the controller saw of `member`.
    pub(crate) fn record(
        &self,
        member: &str,
        tier: PriTier,
        last_backup: Option<Timestamp>,
        last_drill: Option<DrillFacts>,
    ) {
        let recorded = Recorded {
            tier,
            last_backup,
            last_drill,
        };
        self.members
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(member.to_owned(), recorded);
    }

    /// Forgets a member that has no backups any more.
    pub(crate) fn forget(&self, member: &str) {
        self.members
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(member);
    }

    /// Every member's values, by name, with ages computed at `now`.
    pub fn snapshot(&self, now: Timestamp) -> Vec<MemberBackupSample> {
        let members = self
            .members
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        members
            .iter()
            .map(|(member, recorded)| MemberBackupSample {
                member: member.clone(),
                tier: recorded.tier,
                last_backup_age_seconds: recorded
                    .last_backup
                    .map(|at| u64::try_from(now.duration_since(at).as_secs()).unwrap_or(0)),
                last_drill: recorded.last_drill,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_computed_at_snapshot_time() {
        let metrics = BackupMetrics::default();
        let backup: Timestamp = "2026-03-01T01:07:00Z".parse().unwrap();
        metrics.record("allaire", PriTier::Critical, Some(backup), None);
        let now: Timestamp = "2026-03-01T01:37:00Z".parse().unwrap();
        let samples = metrics.clone().snapshot(now);
        assert_eq!(samples[0].last_backup_age_seconds, Some(1800));
        metrics.forget("allaire");
        assert!(metrics.snapshot(now).is_empty());
    }
}

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

/// The backup gauges, computed at each scrape from [`BackupMetrics`]:
/// `socle_backup_last_age_seconds`, `socle_drill_last_rto_seconds`,
/// `socle_drill_last_rpo_seconds` and `socle_drill_last_passed`, by member and tier.
#[derive(Debug)]
pub struct BackupCollector(pub BackupMetrics);

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct MemberLabels {
    member: String,
    tier: String,
}

impl prometheus_client::collector::Collector for BackupCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::{
            encoding::EncodeMetric,
            metrics::{family::Family, gauge::Gauge},
        };
        let families: [(&str, &str, Family<MemberLabels, Gauge>); 4] = [
            (
                "backup_last_age_seconds",
                "Age of the latest completed backup",
                Family::default(),
            ),
            (
                "drill_last_rto_seconds",
                "Measured RTO of the latest drill",
                Family::default(),
            ),
            (
                "drill_last_rpo_seconds",
                "Measured RPO of the latest drill",
                Family::default(),
            ),
            (
                "drill_last_passed",
                "1 when the latest drill passed, 0 when it failed",
                Family::default(),
            ),
        ];
        for sample in self.0.snapshot(Timestamp::now()) {
            let labels = MemberLabels {
                member: sample.member,
                tier: format!("{:?}", sample.tier),
            };
            let gauge = |index: usize| families[index].2.get_or_create(&labels).clone();
            if let Some(age) = sample.last_backup_age_seconds {
                gauge(0).set(i64::try_from(age).unwrap_or(i64::MAX));
            }
            if let Some(drill) = sample.last_drill {
                gauge(1).set(i64::try_from(drill.rto_seconds).unwrap_or(i64::MAX));
                gauge(2).set(i64::try_from(drill.rpo_seconds).unwrap_or(i64::MAX));
                gauge(3).set(i64::from(drill.passed));
            }
        }
        for (name, help, family) in &families {
            let metric = encoder.encode_descriptor(name, help, None, family.metric_type())?;
            family.encode(metric)?;
        }
        Ok(())
    }
}

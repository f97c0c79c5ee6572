//! The size of what a member keeps in the object store: the
//! `backup-gib-months` of the inventory (article 6.2), and
//! `status.backup.keptBytes`.
//!
//! Velero's API gives no size: a Backup's status counts items, and the
//! tarball itself is behind a BackupContents download, which socle may not
//! make (it would read the tenant's Secrets). Velero's server does measure
//! each tarball it uploads: its metric `velero_backup_tarball_size_bytes`,
//! labelled by schedule, is the size of the schedule's latest one. What a
//! member keeps is taken as that size times the completed backups Velero
//! keeps of its schedule: they back up the same namespace, a day or an hour
//! apart. The metric is read once a minute for all members, and again when
//! a backup completed after the last reading (which cannot know its size).

use std::{collections::HashMap, time::Duration};

use jiff::Timestamp;
use tokio::sync::Mutex;
use tracing::warn;

use super::{
    http,
    velero::{Backup, SCHEDULE_NAME_LABEL},
};

/// Velero's metric of a schedule's latest tarball.
const TARBALL_SIZE: &str = "velero_backup_tarball_size_bytes";
/// How long one reading of Velero's metrics serves.
const FRESH_FOR: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
/// When a member whose size is not known is looked at again: once the
/// reading that did not know it has gone stale.
pub const MEASURE_AGAIN: Duration = Duration::from_secs(61);
/// How long Velero's server may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest metrics page read (Velero's is a few hundred lines per
/// schedule).
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// The tarball sizes Velero's server last gave, shared by every reconcile.
#[derive(Debug, Default)]
pub struct TarballSizes {
    /// Velero's metrics endpoint; `None`: sizes are not measured.
    url: Option<String>,
    last: Mutex<Option<(Timestamp, HashMap<String, u64>)>>,
}

impl TarballSizes {
    pub fn new(url: Option<String>) -> Self {
        Self {
            url,
            last: Mutex::default(),
        }
    }

    /// Whether sizes are measured at all.
    pub fn measures(&self) -> bool {
        self.url.is_some()
    }

    /// The size of `schedule`'s latest tarball, completed at `completed`,
    /// if Velero's server says it (after a restart of Velero, not until the
    /// schedule's next backup).
    async fn latest(&self, schedule: &str, completed: Timestamp) -> Option<u64> {
        let url = self.url.as_deref()?;
        let mut last = self.last.lock().await;
        let now = Timestamp::now();
        // Velero's completion times have whole seconds: a reading within the
        // second of one may have been taken before it.
        let completed = completed + jiff::SignedDuration::from_secs(1);
        let stale = last
            .as_ref()
            .is_none_or(|(at, _)| *at < completed || now.duration_since(*at) > FRESH_FOR);
        if stale {
            // A failed reading is not retried before the next minute either.
            let sizes = match http::get(url, None, MAX_PAGE_BYTES, TIMEOUT).await {
                Ok(page) => tarball_sizes(&String::from_utf8_lossy(&page)),
                Err(error) => {
                    warn!(%error, "cannot read Velero's metrics: the size of the backups kept is not measured");
                    HashMap::new()
                }
            };
            *last = Some((now, sizes));
        }
        last.as_ref()?.1.get(schedule).copied()
    }

    /// The bytes kept by the completed backups of `schedule` among
    /// `backups`: `None` when Velero's server does not give the schedule's
    /// tarball size.
    pub async fn kept(&self, schedule: &str, backups: &[Backup]) -> Option<u64> {
        let completed = completed(schedule, backups);
        if completed.is_empty() {
            return Some(0);
        }
        let latest = completed
            .iter()
            .flatten()
            .max()
            .copied()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let size = self.latest(schedule, latest).await?;
        Some(size.saturating_mul(u64::try_from(completed.len()).unwrap_or(u64::MAX)))
    }
}

/// The completion times of the completed backups of `schedule` among
/// `backups` that Velero keeps.
fn completed(schedule: &str, backups: &[Backup]) -> Vec<Option<Timestamp>> {
    backups
        .iter()
        .filter(|backup| {
            backup.metadata.deletion_timestamp.is_none()
                && backup
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(SCHEDULE_NAME_LABEL))
                    .is_some_and(|name| name == schedule)
                && backup.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Completed")
        })
        .map(|backup| backup.status.as_ref().and_then(|s| s.completion_timestamp))
        .collect()
}

/// `schedule → bytes` from a Prometheus text page: the lines
/// `velero_backup_tarball_size_bytes{schedule="…"} <value>`. Read by hand
/// rather than with a parser crate: one metric with one label, whose values
/// are Kubernetes names (nothing to unescape).
fn tarball_sizes(page: &str) -> HashMap<String, u64> {
    page.lines()
        .filter_map(|line| {
            let labels = line.strip_prefix(TARBALL_SIZE)?.strip_prefix('{')?;
            let (labels, value) = labels.split_once('}')?;
            let schedule = labels
                .split(',')
                .find_map(|label| label.trim().strip_prefix("schedule=\""))?
                .strip_suffix('"')?;
            // Gauges are floats in the text format ("1.2345e+06").
            let bytes: f64 = value.split_whitespace().next()?.parse().ok()?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            // Finite and not negative; a tarball is far below 2^64 bytes.
            (bytes.is_finite() && bytes >= 0.0).then(|| (schedule.to_owned(), bytes.round() as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_tarball_of_each_schedule_is_read_from_velero_s_metrics() {
        let page = r#"# HELP velero_backup_tarball_size_bytes Size, in bytes, of a backup
# TYPE velero_backup_tarball_size_bytes gauge
velero_backup_tarball_size_bytes{schedule=""} 2048
velero_backup_tarball_size_bytes{schedule="socle-allaire"} 31337
velero_backup_tarball_size_bytes{schedule="socle-redon"} 1.2345e+06
velero_backup_total 3
velero_backup_tarball_size_bytes_other{schedule="x"} 1
"#;
        assert_eq!(
            tarball_sizes(page),
            HashMap::from([
                (String::new(), 2048),
                ("socle-allaire".to_owned(), 31337),
                ("socle-redon".to_owned(), 1_234_500),
            ])
        );
    }

    fn backup(schedule: &str, phase: &str, deleting: bool) -> Backup {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": format!("{schedule}-{phase}"),
                "labels": {SCHEDULE_NAME_LABEL: schedule},
                "deletionTimestamp": deleting.then_some("2026-12-06T00:00:00Z"),
            },
            "spec": {},
            "status": {"phase": phase, "completionTimestamp": "2026-12-05T03:00:00Z"},
        }))
        .unwrap()
    }

    #[test]
    fn only_the_schedule_s_completed_backups_still_kept_count() {
        let backups = [
            backup("socle-allaire", "Completed", false),
            backup("socle-allaire", "Completed", false),
            backup("socle-allaire", "Completed", true),
            backup("socle-allaire", "Failed", false),
            backup("socle-allaire", "InProgress", false),
            backup("socle-redon", "Completed", false),
        ];
        assert_eq!(completed("socle-allaire", &backups).len(), 2);
        assert!(completed("socle-bains", &backups).is_empty());
    }
}

//! Labels and annotations of the backup controller. Like [`crate::labels`],
//! their keys never change: technicians and selectors rely on them.

/// Value of [`crate::labels::COMPONENT`] on what the backup controller creates.
pub const COMPONENT: &str = "backup";

/// Put on a Member, with any new value, to ask for a restore drill now:
/// `kubectl annotate --overwrite member allaire socle.redon-agglomeration.bzh/drill-now="$(date +%s)"`.
/// Each distinct value asks for one drill; the value acted upon is kept in
/// `status.backup.drillRequest`.
pub const DRILL_NOW: &str = "socle.redon-agglomeration.bzh/drill-now";

/// On a drill's sandbox namespace, Restore and DrillReport: the drill's name.
pub const DRILL: &str = "socle.redon-agglomeration.bzh/drill";

/// On a drill's Restore: when the drill started (RFC 3339), the start of its RTO.
pub const STARTED_AT: &str = "socle.redon-agglomeration.bzh/drill-started-at";

/// On a drill's Restore: when the restored backup completed, its recovery point.
pub const BACKUP_COMPLETED_AT: &str = "socle.redon-agglomeration.bzh/backup-completed-at";

/// On a drill's Restore and DrillReport: the on-demand request it answers.
pub const REQUEST: &str = "socle.redon-agglomeration.bzh/drill-request";

/// On a failed drill's sandbox: when socle will delete it.
pub const KEEP_UNTIL: &str = "socle.redon-agglomeration.bzh/keep-until";

/// Prefix of every drill's name and sandbox namespace.
pub const DRILL_PREFIX: &str = "drill-";

/// On the exit backup of a departing member (article 2.4), taken before its
/// tenant namespace is deleted: the date the offboarding was confirmed.
pub const EXIT: &str = "socle.redon-agglomeration.bzh/exit-backup";

/// On the exit backup: when socle purges it (RFC 3339), at the end of the
/// exit retention. Velero's own TTL runs a week longer, as a backstop.
pub const PURGE_AFTER: &str = "socle.redon-agglomeration.bzh/purge-after";

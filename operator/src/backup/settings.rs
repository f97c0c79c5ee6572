//! Operator-wide settings of the backup controller.

use std::time::Duration;

use super::metrics::BackupMetrics;

/// DrillReports kept per member unless the DSI says otherwise: two years of
/// monthly drills, the evidence of two annual reports.
pub const DRILL_REPORTS_KEPT: u32 = 24;

/// What `socle run` passes to [`super::run`].
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// Prefix of tenant namespaces, the tenant controller's: `commune-` gives
    /// `commune-allaire`. The namespace backed up is prefix + member name.
    pub namespace_prefix: String,
    /// Velero's namespace, the only one where socle may read and write
    /// Velero's objects (the Role `socle-velero` there). A BackupTarget
    /// SharedService naming another is refused.
    pub velero_namespace: String,
    /// Velero server's metrics endpoint, where the size of each schedule's
    /// latest tarball is read ([`super::kept`]); `None`: not measured.
    pub velero_metrics_url: Option<String>,
    /// How long the sandbox of a failed drill is kept for inspection before
    /// socle deletes it. A passed drill's sandbox goes at once.
    pub failed_sandbox_retention: Duration,
    /// How many DrillReports of each member are kept: the oldest beyond
    /// this go (the latest, which `DrillHealthy` and the status name, stays).
    pub drill_reports_kept: u32,
    /// How often a running drill is looked at, besides the watches.
    pub drill_poll: Duration,
    /// The read-only ClusterRole socle binds to itself in each drill
    /// sandbox, to compare what was restored with the backup
    /// (`socle-drill-inspector` as shipped; the chart prefixes its release).
    pub drill_inspector_role: String,
    /// The plain values the Prometheus endpoint reads (last backup age, last
    /// drill RTO, verdict). Clone it before passing the settings, and read it.
    pub metrics: BackupMetrics,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            namespace_prefix: "commune-".into(),
            velero_namespace: "velero".into(),
            velero_metrics_url: None,
            failed_sandbox_retention: Duration::from_secs(24 * 3600),
            drill_reports_kept: DRILL_REPORTS_KEPT,
            drill_poll: Duration::from_secs(5),
            drill_inspector_role: "socle-drill-inspector".into(),
            metrics: BackupMetrics::default(),
        }
    }
}

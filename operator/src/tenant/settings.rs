//! Operator-wide settings of the tenant controller.

/// What `socle run` passes to [`super::run`]; the plan depends on them.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    /// Prefix of tenant namespaces: `commune-` gives `commune-allaire`.
    pub namespace_prefix: String,
    /// Group of the DSI's auditors.
    pub auditor_group: String,
    /// The ClusterRole bound to each tenant's administrators
    /// (`socle-tenant-admin` as shipped; the chart prefixes its release).
    pub admin_role: String,
    /// Velero's namespace, where a departing member's exit backup goes.
    pub velero_namespace: String,
    /// How long Velero keeps an exit backup, in days.
    pub exit_backup_retention_days: u32,
}

impl TenantSettings {
    /// The tenant namespace of `member`.
    pub fn namespace_of(&self, member: &str) -> String {
        format!("{}{member}", self.namespace_prefix)
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            namespace_prefix: "commune-".into(),
            auditor_group: "socle:dsi-auditors".into(),
            admin_role: "socle-tenant-admin".into(),
            velero_namespace: "velero".into(),
            exit_backup_retention_days: EXIT_BACKUP_RETENTION_DAYS,
        }
    }
}

/// How long an exit backup is kept unless the DSI says otherwise: the
/// convention names no period, so the longest a tier keeps its backups
/// (Critical, a year), which a departed commune's data deserves at least.
pub const EXIT_BACKUP_RETENTION_DAYS: u32 = 365;

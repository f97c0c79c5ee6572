//! The exit backup: the last Backup of a departing commune's tenant, taken
//! once its offboarding is confirmed and before its namespace is deleted
//! (article 2.4), kept for the exit retention rather than its tier's.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use crate::{
    backup::{
        keys,
        velero::{Backup, BackupSpec, TemplateMetadata},
    },
    labels,
};

/// What the exit backup of one tenant is made of.
#[derive(Clone, Debug)]
pub struct ExitBackupPlan<'a> {
    pub member: &'a str,
    /// The tenant namespace, backed up.
    pub namespace: &'a str,
    /// Where Velero runs, and the storage location of the member's target.
    pub velero_namespace: &'a str,
    pub storage_location: &'a str,
    /// How long Velero keeps it.
    pub retention_days: u32,
    /// When the offboarding was confirmed (`2026-12-05`).
    pub confirmed_on: &'a str,
}

/// The Backup `<namespace>-exit`: the tenant namespace, on the member's
/// storage location, labelled as the member's and as its exit backup.
pub fn exit_backup(plan: &ExitBackupPlan<'_>) -> Backup {
    let labels = BTreeMap::from([
        (labels::MEMBER.to_owned(), plan.member.to_owned()),
        (labels::COMPONENT.to_owned(), keys::COMPONENT.to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
        (keys::EXIT.to_owned(), plan.confirmed_on.to_owned()),
    ]);
    Backup {
        metadata: ObjectMeta {
            name: Some(exit_backup_name(plan.namespace)),
            namespace: Some(plan.velero_namespace.to_owned()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: BackupSpec {
            metadata: Some(TemplateMetadata { labels }),
            included_namespaces: vec![plan.namespace.to_owned()],
            storage_location: Some(plan.storage_location.to_owned()),
            ttl: Some(format!("{}h0m0s", u64::from(plan.retention_days) * 24)),
            default_volumes_to_fs_backup: Some(true),
        },
        status: None,
    }
}

/// The exit backup's name: one per tenant namespace.
pub fn exit_backup_name(namespace: &str) -> String {
    format!("{namespace}-exit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_backup_keeps_the_tenant_for_the_exit_retention() {
        let backup = exit_backup(&ExitBackupPlan {
            member: "allaire",
            namespace: "commune-allaire",
            velero_namespace: "velero",
            storage_location: "default",
            retention_days: 365,
            confirmed_on: "2026-12-05",
        });
        assert_eq!(
            backup.metadata.name.as_deref(),
            Some("commune-allaire-exit")
        );
        assert_eq!(backup.spec.included_namespaces, ["commune-allaire"]);
        assert_eq!(backup.spec.ttl.as_deref(), Some("8760h0m0s"));
        let labels = backup.metadata.labels.unwrap();
        assert_eq!(labels[keys::EXIT], "2026-12-05");
        assert_eq!(labels[labels::MEMBER], "allaire");
        // Not one of the Schedule's: the schedule's backups are counted apart.
        assert!(!labels.contains_key(crate::backup::velero::SCHEDULE_NAME_LABEL));
    }
}

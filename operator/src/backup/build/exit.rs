//! The exit backup: the last Backup of a departing commune's tenant, taken
//! once its offboarding is confirmed and before its namespace is deleted
//! (article 2.4), kept for the exit retention rather than its tier's.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use crate::{
    backup::{
        metadata,
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
    /// How long it is kept: socle purges it then (`purge_after`), and
    /// Velero's TTL runs [`PURGE_BACKSTOP_DAYS`] longer.
    pub retention_days: u32,
    /// The end of its retention: now plus `retention_days`.
    pub purge_after: jiff::Timestamp,
    /// The departing Member's own labels, so that an operator limited to
    /// some Members by a selector knows its own departed ones.
    pub member_labels: &'a BTreeMap<String, String>,
    /// When the offboarding was confirmed (`2026-12-05`).
    pub confirmed_on: &'a str,
}

/// Days Velero keeps an exit backup after socle should have purged it: the
/// purge is socle's, recorded; the TTL is there should socle not run.
pub const PURGE_BACKSTOP_DAYS: u32 = 7;

/// The Backup `<namespace>-exit`: the tenant namespace, on the member's
/// storage location, labelled as the member's and as its exit backup.
pub fn exit_backup(plan: &ExitBackupPlan<'_>) -> Backup {
    let mut labels = plan.member_labels.clone();
    labels.extend([
        (labels::MEMBER.to_owned(), plan.member.to_owned()),
        (labels::COMPONENT.to_owned(), metadata::COMPONENT.to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
        (metadata::EXIT.to_owned(), plan.confirmed_on.to_owned()),
    ]);
    Backup {
        metadata: ObjectMeta {
            name: Some(exit_backup_name(plan.namespace)),
            namespace: Some(plan.velero_namespace.to_owned()),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([(
                metadata::PURGE_AFTER.to_owned(),
                plan.purge_after.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: BackupSpec {
            metadata: Some(TemplateMetadata { labels }),
            included_namespaces: vec![plan.namespace.to_owned()],
            storage_location: Some(plan.storage_location.to_owned()),
            ttl: Some(format!(
                "{}h0m0s",
                u64::from(plan.retention_days + PURGE_BACKSTOP_DAYS) * 24
            )),
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
            purge_after: "2027-12-05T10:00:00Z".parse().unwrap(),
            member_labels: &BTreeMap::from([
                ("socle.test/scope".to_owned(), "s1".to_owned()),
                (labels::MEMBER.to_owned(), "not-this".to_owned()),
            ]),
            confirmed_on: "2026-12-05",
        });
        assert_eq!(
            backup.metadata.name.as_deref(),
            Some("commune-allaire-exit")
        );
        assert_eq!(backup.spec.included_namespaces, ["commune-allaire"]);
        // Purged by socle after 365 days; Velero's TTL a week later.
        assert_eq!(backup.spec.ttl.as_deref(), Some("8928h0m0s"));
        assert_eq!(
            backup.metadata.annotations.unwrap()[metadata::PURGE_AFTER],
            "2027-12-05T10:00:00Z"
        );
        let labels = backup.metadata.labels.unwrap();
        assert_eq!(labels["socle.test/scope"], "s1");
        assert_eq!(labels[metadata::EXIT], "2026-12-05");
        assert_eq!(labels[labels::MEMBER], "allaire");
        // Not one of the Schedule's: the schedule's backups are counted apart.
        assert!(!labels.contains_key(crate::backup::velero::SCHEDULE_NAME_LABEL));
    }
}

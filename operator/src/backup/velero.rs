//! Velero's API (`velero.io/v1`), reduced to the fields socle writes or
//! reads. Velero owns these kinds and their CRDs; socle never installs them.
//! Unknown fields of live objects are ignored when reading, and what socle
//! writes names only its own fields (server-side apply), so Velero's defaults
//! and status stay Velero's.
//!
//! None of these kinds has a status subresource: Velero writes status through
//! the object itself.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// API group of Velero.
pub const GROUP: &str = "velero.io";
/// Label Velero puts on every Backup a Schedule creates.
pub const SCHEDULE_NAME_LABEL: &str = "velero.io/schedule-name";

/// A Velero `Schedule`: a cron expression and the Backup to take each time.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "Schedule",
    namespaced,
    schema = "disabled",
    status = "ScheduleStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Cron expression (UTC, five fields).
    pub schedule: String,
    /// The Backup each run creates.
    pub template: BackupSpec,
    /// Backups owned by the Schedule would go with it: socle keeps them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_owner_references_in_backup: Option<bool>,
}

/// What Velero observed of a Schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// `New`, `Enabled` or `FailedValidation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the Schedule is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// When the Schedule last created a Backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<Timestamp>,
}

/// A Velero `Backup`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "Backup",
    namespaced,
    schema = "disabled",
    status = "BackupStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Labels of the Backups a Schedule creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// Namespaces backed up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_namespaces: Vec<String>,
    /// BackupStorageLocation the backup goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    /// How long the backup is kept, as a Go duration ("720h0m0s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Back up every pod volume with the file-system uploader (kopia).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_volumes_to_fs_backup: Option<bool>,
}

/// Metadata of the Backups a Schedule creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateMetadata {
    /// Labels put on each Backup (with `velero.io/schedule-name`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What Velero observed of a Backup.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// `New`, `InProgress`, `Completed`, `PartiallyFailed`, `Failed`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// When the backup started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Timestamp>,
    /// When the backup finished: its recovery point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_timestamp: Option<Timestamp>,
    /// When Velero will delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Timestamp>,
    /// Items counted and backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<BackupProgress>,
    /// Errors met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u32>,
    /// Warnings met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<u32>,
    /// Why Velero refused the Backup (`FailedValidation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// Why it failed (`Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// Items of a Backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupProgress {
    /// Items to back up.
    #[serde(default)]
    pub total_items: u32,
    /// Items backed up.
    #[serde(default)]
    pub items_backed_up: u32,
}

/// A Velero `Restore`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "Restore",
    namespaced,
    schema = "disabled",
    status = "RestoreStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// The Backup restored.
    pub backup_name: String,
    /// Namespaces of the backup restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_namespaces: Vec<String>,
    /// Resources (`plural.group`) not restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_resources: Vec<String>,
    /// Source namespace → namespace restored into.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_mapping: BTreeMap<String, String>,
    /// Whether cluster-scoped resources are restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_cluster_resources: Option<bool>,
    /// Whether volumes are restored.
    #[serde(
        default,
        rename = "restorePVs",
        skip_serializing_if = "Option::is_none"
    )]
    pub restore_pvs: Option<bool>,
}

/// What Velero observed of a Restore.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// `New`, `InProgress`, `Completed`, `PartiallyFailed`, `Failed`,
    /// `FailedValidation`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the restore is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// When the restore started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_timestamp: Option<Timestamp>,
    /// Items counted and restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestoreProgress>,
    /// Errors met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u32>,
    /// Warnings met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<u32>,
    /// Why the restore failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// Items of a Restore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    /// Items to restore.
    #[serde(default)]
    pub total_items: u32,
    /// Items restored.
    #[serde(default)]
    pub items_restored: u32,
}

/// Whether the API server serves the Velero kinds socle watches. Not an
/// error when it does not: a cluster may run socle before Velero.
pub async fn served(client: &kube::Client) -> bool {
    match client
        .list_api_group_resources(&format!("{GROUP}/v1"))
        .await
    {
        Ok(list) => ["schedules", "backups", "restores"]
            .iter()
            .all(|kind| list.resources.iter().any(|resource| resource.name == *kind)),
        Err(kube::Error::Api(status)) if status.code == 404 => false,
        Err(error) => {
            tracing::warn!(error = %crate::runtime::chain(&error), "cannot tell whether Velero is installed");
            false
        }
    }
}

/// Restore phases after which Velero does nothing more.
pub fn restore_finished(phase: Option<&str>) -> bool {
    matches!(
        phase,
        Some("Completed" | "PartiallyFailed" | "Failed" | "FailedValidation")
    )
}

/// A Velero `DownloadRequest`: asks Velero for a signed URL to one file of a
/// backup in object storage.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "DownloadRequest",
    namespaced,
    schema = "disabled",
    status = "DownloadRequestStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct DownloadRequestSpec {
    /// The file wanted.
    pub target: DownloadTarget,
}

/// Which file of which backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadTarget {
    /// `BackupResourceList`: the gzipped JSON map of what a backup holds.
    pub kind: String,
    /// Name of the Backup.
    pub name: String,
}

/// A Velero `DeleteBackupRequest`: asks Velero to delete a backup, from the
/// object store and the cluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "DeleteBackupRequest",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBackupRequestSpec {
    /// Name of the Backup to delete.
    pub backup_name: String,
}

/// The kind of download target listing a backup's objects.
pub const BACKUP_RESOURCE_LIST: &str = "BackupResourceList";

/// Velero's answer to a DownloadRequest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadRequestStatus {
    /// `New` or `Processed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The signed URL, valid until `expiration`.
    #[serde(
        default,
        rename = "downloadURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub download_url: Option<String>,
    /// When the URL stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Timestamp>,
}

/// A Velero `BackupStorageLocation`: read for the CA of its object storage,
/// which signed download URLs point to, and for whether Velero can reach it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "BackupStorageLocation",
    namespaced,
    schema = "disabled",
    status = "BackupStorageLocationStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct BackupStorageLocationSpec {
    /// The bucket and how to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_storage: Option<ObjectStorage>,
    /// The object store plugin's settings; socle reads `s3Url`, the store's
    /// address, to know whether the DSI runs it over plain http.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

/// What Velero found when it last checked a BackupStorageLocation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStorageLocationStatus {
    /// `Available` or `Unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why it is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When Velero last checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_validation_time: Option<Timestamp>,
}

/// Object storage of a BackupStorageLocation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStorage {
    /// PEM bundle of the CA of the object storage (base64 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<ByteString>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_velero_restore_reads_and_writes_velero_field_names() {
        let restore: Restore = serde_json::from_value(serde_json::json!({
            "apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": "r", "namespace": "velero"},
            "spec": {"backupName": "b", "restorePVs": true, "hooks": {}},
            "status": {"phase": "PartiallyFailed", "errors": 2,
                       "progress": {"totalItems": 5, "itemsRestored": 4}},
        }))
        .unwrap();
        assert_eq!(restore.spec.restore_pvs, Some(true));
        let status = restore.status.unwrap();
        assert_eq!(status.errors, Some(2));
        assert_eq!(status.progress.unwrap().items_restored, 4);
        let download: DownloadRequestStatus = serde_json::from_value(
            serde_json::json!({"downloadURL": "https://x", "phase": "Processed"}),
        )
        .unwrap();
        assert_eq!(download.download_url.as_deref(), Some("https://x"));
    }
}

//! The Velero Restore of a drill, and the DownloadRequest for the list of
//! what the restored backup holds.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::api::ObjectMeta;

use crate::backup::{
    keys,
    plan::BackupPlan,
    velero::{
        BACKUP_RESOURCE_LIST, DownloadRequest, DownloadRequestSpec, DownloadTarget, Restore,
        RestoreSpec,
    },
};

/// Resources a drill does not restore, because in the sandbox they would act
/// on production: NetworkPolicies would open the sandbox to the tenant's
/// peers (the VPN gateway, the commune's sites) despite the deny-all policy;
/// Ingresses, HTTPRoutes and Certificates would compete with production for
/// the commune's host names.
pub const NOT_RESTORED: [&str; 4] = [
    "networkpolicies.networking.k8s.io",
    "ingresses.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "certificates.cert-manager.io",
];

/// What a drill knows when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillStart<'a> {
    /// The drill's name: the sandbox's, the Restore's and the report's.
    pub name: &'a str,
    /// The Velero Backup restored.
    pub backup: &'a str,
    /// When the backup completed.
    pub backup_completed_at: Timestamp,
    pub started_at: Timestamp,
    /// The on-demand request answered, if any.
    pub request: Option<&'a str>,
}

/// The Restore of the tenant namespace's backup into the sandbox, and only
/// there: one namespace in, mapped to the sandbox; no cluster-scoped object.
pub fn restore(plan: &BackupPlan, drill: &DrillStart<'_>) -> Restore {
    let mut labels = plan.labels.clone();
    labels.insert(keys::DRILL.to_owned(), drill.name.to_owned());
    let mut annotations = BTreeMap::from([
        (keys::STARTED_AT.to_owned(), drill.started_at.to_string()),
        (
            keys::BACKUP_COMPLETED_AT.to_owned(),
            drill.backup_completed_at.to_string(),
        ),
    ]);
    if let Some(request) = drill.request {
        annotations.insert(keys::REQUEST.to_owned(), request.to_owned());
    }
    Restore {
        metadata: ObjectMeta {
            name: Some(drill.name.to_owned()),
            namespace: Some(plan.velero_namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: RestoreSpec {
            backup_name: drill.backup.to_owned(),
            included_namespaces: vec![plan.namespace.clone()],
            excluded_resources: NOT_RESTORED.iter().map(|&r| r.to_owned()).collect(),
            namespace_mapping: BTreeMap::from([(plan.namespace.clone(), drill.name.to_owned())]),
            include_cluster_resources: Some(false),
            restore_pvs: Some(true),
        },
        status: None,
    }
}

/// Asks Velero for the resource list of `backup`, for the drill `drill`.
pub fn download_request(plan: &BackupPlan, drill: &str, backup: &str) -> DownloadRequest {
    let mut labels = plan.labels.clone();
    labels.insert(keys::DRILL.to_owned(), drill.to_owned());
    DownloadRequest {
        metadata: ObjectMeta {
            name: Some(format!("{drill}-contents")),
            namespace: Some(plan.velero_namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: DownloadRequestSpec {
            target: DownloadTarget {
                kind: BACKUP_RESOURCE_LIST.into(),
                name: backup.to_owned(),
            },
        },
        status: None,
    }
}

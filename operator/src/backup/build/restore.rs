//! The Velero Restore of a drill, and the DownloadRequest for the list of
//! what the restored backup holds.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::api::ObjectMeta;

use crate::backup::{
    metadata,
    plan::BackupPlan,
    velero::{
        BACKUP_RESOURCE_LIST, DownloadRequest, DownloadRequestSpec, DownloadTarget, Restore,
        RestoreSpec,
    },
};

/// A kind of object, as a Restore names it (`plural.group`) and as a backup's
/// resource list does (`group/version/Kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiKind {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl ApiKind {
    /// `plural.group`, or `plural` for the core group.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Kinds a drill does not restore, because in the sandbox they would act on
/// production or on the nodes: NetworkPolicies would open the sandbox to the
/// tenant's peers (the VPN gateway, the commune's sites) despite the
/// deny-all policy; Ingresses, HTTPRoutes and Certificates would compete
/// with production for the commune's host names; a DaemonSet runs on every
/// node — no commune runs one (the tenant-admin ClusterRole grants none), so one in
/// a backup came from elsewhere. Other workloads are restored, to show that
/// they come back, under the sandbox's Pod Security `restricted` and with no
/// network.
pub const NOT_RESTORED: [ApiKind; 5] = [
    ApiKind {
        group: "networking.k8s.io",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
    },
    ApiKind {
        group: "networking.k8s.io",
        kind: "Ingress",
        plural: "ingresses",
    },
    ApiKind {
        group: "gateway.networking.k8s.io",
        kind: "HTTPRoute",
        plural: "httproutes",
    },
    ApiKind {
        group: "cert-manager.io",
        kind: "Certificate",
        plural: "certificates",
    },
    ApiKind {
        group: "apps",
        kind: "DaemonSet",
        plural: "daemonsets",
    },
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
    labels.insert(metadata::DRILL.to_owned(), drill.name.to_owned());
    let mut annotations = BTreeMap::from([
        (
            metadata::STARTED_AT.to_owned(),
            drill.started_at.to_string(),
        ),
        (
            metadata::BACKUP_COMPLETED_AT.to_owned(),
            drill.backup_completed_at.to_string(),
        ),
    ]);
    if let Some(request) = drill.request {
        annotations.insert(metadata::REQUEST.to_owned(), request.to_owned());
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
            excluded_resources: NOT_RESTORED.iter().map(ApiKind::resource).collect(),
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
    labels.insert(metadata::DRILL.to_owned(), drill.to_owned());
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

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    #[test]
    fn a_drill_restores_no_daemon_set_nor_what_acts_on_production() {
        let plan = crate::backup::plan::example_plan();
        let start = DrillStart {
            name: "drill-allaire-1",
            backup: "allaire-20260301",
            backup_completed_at: Timestamp::UNIX_EPOCH,
            started_at: Timestamp::UNIX_EPOCH,
            request: None,
        };
        let excluded = restore(&plan, &start).spec.excluded_resources;
        for resource in [
            "daemonsets.apps",
            "networkpolicies.networking.k8s.io",
            "ingresses.networking.k8s.io",
            "httproutes.gateway.networking.k8s.io",
            "certificates.cert-manager.io",
        ] {
            assert!(
                excluded.iter().any(|r| r == resource),
                "{resource}: {excluded:?}"
            );
        }
    }
}

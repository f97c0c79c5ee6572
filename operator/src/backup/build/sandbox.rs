//! The sandbox namespace a drill restores into, and the policy that cuts it
//! off from everything before anything is restored into it.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        core::v1::Namespace,
        networking::v1::{NetworkPolicy, NetworkPolicySpec},
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference},
};
use kube::api::ObjectMeta;

use crate::backup::{keys, plan::BackupPlan};

/// The sandbox: labelled as a drill of the member, owned by the Member so
/// that a deleted Member leaves no copy of its data behind.
pub fn sandbox_namespace(plan: &BackupPlan, drill: &str, owner: OwnerReference) -> Namespace {
    let mut labels = plan.labels.clone();
    labels.insert(keys::DRILL.to_owned(), drill.to_owned());
    Namespace {
        metadata: ObjectMeta {
            name: Some(drill.to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// Denies all ingress and egress of every pod of the sandbox. Policies only
/// add allowances, so this holds only if nothing restored allows traffic:
/// the restore leaves NetworkPolicies out ([`super::NOT_RESTORED`]).
pub fn deny_all(plan: &BackupPlan, drill: &str) -> NetworkPolicy {
    let mut labels: BTreeMap<String, String> = plan.labels.clone();
    labels.insert(keys::DRILL.to_owned(), drill.to_owned());
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some("socle-drill-isolation".into()),
            namespace: Some(drill.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: None,
            egress: None,
        }),
    }
}

//! The sandbox namespace a drill restores into, the policy that cuts it off
//! from everything before anything is restored into it, and the binding that
//! lets socle read what was restored there.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        core::v1::Namespace,
        networking::v1::{NetworkPolicy, NetworkPolicySpec},
        rbac::v1::{RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference},
};
use kube::api::ObjectMeta;

use crate::{
    backup::{metadata, plan::BackupPlan},
    labels,
};

/// The sandbox: labelled as a drill of the member, owned by the Member so
/// that a deleted Member leaves no copy of its data behind, and as locked as
/// the tenant (Pod Security `restricted`) from its creation, before anything
/// is restored into it: Velero keeps a namespace that exists as it is.
pub fn sandbox_namespace(plan: &BackupPlan, drill: &str, owner: OwnerReference) -> Namespace {
    let mut labels = plan.labels.clone();
    labels.insert(metadata::DRILL.to_owned(), drill.to_owned());
    labels.extend(labels::pod_security_restricted());
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
    labels.insert(metadata::DRILL.to_owned(), drill.to_owned());
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

/// The name of the RoleBinding of [`inspector_binding`], the only one socle
/// may write in a sandbox.
const INSPECTOR_BINDING: &str = "socle-drill-inspector";

/// The API server's prefix of a ServiceAccount's user name.
const SERVICE_ACCOUNT_USER: &str = "system:serviceaccount:";

/// Binds the read-only ClusterRole `role` (shipped as `socle-drill-inspector`)
/// in the sandbox to `user`, socle's own identity, so that it can list every
/// kind the backup holds, Secrets included, there and nowhere else: socle
/// reads no Secret of a tenant, only its copy in a drill.
pub fn inspector_binding(plan: &BackupPlan, drill: &str, role: &str, user: &str) -> RoleBinding {
    let mut labels: BTreeMap<String, String> = plan.labels.clone();
    labels.insert(metadata::DRILL.to_owned(), drill.to_owned());
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(INSPECTOR_BINDING.into()),
            namespace: Some(drill.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role.to_owned(),
        },
        subjects: Some(vec![subject(user)]),
    }
}

/// The RBAC subject of an authenticated user name: a ServiceAccount in a
/// pod, a User when socle runs with another kind of credential.
fn subject(user: &str) -> Subject {
    match user
        .strip_prefix(SERVICE_ACCOUNT_USER)
        .and_then(|rest| rest.split_once(':'))
    {
        Some((namespace, name)) => Subject {
            kind: "ServiceAccount".into(),
            name: name.to_owned(),
            namespace: Some(namespace.to_owned()),
            api_group: None,
        },
        None => Subject {
            kind: "User".into(),
            name: user.to_owned(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> BackupPlan {
        crate::backup::plan::example_plan()
    }

    #[test]
    fn the_inspector_role_is_bound_in_the_sandbox_to_socle_s_service_account() {
        let drill = "drill-allaire-20260301-030007";
        let binding = serde_json::to_value(inspector_binding(
            &plan(),
            drill,
            "socle-drill-inspector",
            "system:serviceaccount:socle-system:socle",
        ))
        .unwrap();
        assert_eq!(binding["metadata"]["namespace"], drill);
        assert_eq!(binding["metadata"]["name"], INSPECTOR_BINDING);
        assert_eq!(
            binding["metadata"]["labels"]["app.kubernetes.io/managed-by"], "socle",
            "the admission policy lets socle write RBAC only in what it manages"
        );
        assert_eq!(
            binding["roleRef"],
            serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "socle-drill-inspector"})
        );
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": "socle",
                                "namespace": "socle-system"}])
        );
    }

    #[test]
    fn a_sandbox_enforces_the_tenant_s_pod_security() {
        let owner = OwnerReference {
            api_version: "socle.redon-agglomeration.bzh/v1alpha1".into(),
            kind: "Member".into(),
            name: "allaire".into(),
            uid: "0".into(),
            ..OwnerReference::default()
        };
        let sandbox = sandbox_namespace(&plan(), "drill-allaire-1", owner);
        let labels = sandbox.metadata.labels.unwrap();
        for (key, value) in labels::pod_security_restricted() {
            assert_eq!(labels.get(&key), Some(&value), "{key}");
        }
    }

    #[test]
    fn another_credential_is_bound_as_a_user() {
        let binding = inspector_binding(&plan(), "drill-a-1", "inspector", "socle-operator");
        let subjects = binding.subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].kind, "User");
        assert_eq!(subjects[0].name, "socle-operator");
        assert_eq!(subjects[0].namespace, None);
    }
}

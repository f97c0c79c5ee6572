use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};

use super::meta;
use crate::tenant::plan::TenantPlan;

/// Name of the tenant administrators' RoleBinding.
const TENANT_ADMIN: &str = "socle-tenant-admin";

/// The member's admin groups bound to the tenant administrators' ClusterRole
/// (shipped in manifests/install/clusterrole.yaml: socle only binds it, so it
/// needs none of the rights it grants), and the DSI's auditors bound to the
/// cluster's read-only `view` role, in this namespace only.
pub fn role_bindings(plan: &TenantPlan) -> Vec<RoleBinding> {
    let group = |name: &str| Subject {
        kind: "Group".into(),
        name: name.to_owned(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        namespace: None,
    };
    let cluster_role = |name: &str| RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "ClusterRole".into(),
        name: name.to_owned(),
    };
    let mut bindings = vec![RoleBinding {
        metadata: meta(plan, "socle-dsi-auditors"),
        role_ref: cluster_role("view"),
        subjects: Some(vec![group(&plan.auditor_group)]),
    }];
    if !plan.admin_groups.is_empty() {
        bindings.push(RoleBinding {
            metadata: meta(plan, TENANT_ADMIN),
            role_ref: cluster_role(&plan.admin_role),
            subjects: Some(plan.admin_groups.iter().map(|g| group(g)).collect()),
        });
    }
    bindings
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    use serde::Deserialize;

    use super::*;
    use crate::tenant::build::fixture;

    /// The tenant administrators' ClusterRole as shipped.
    fn shipped_admin_role() -> ClusterRole {
        let yaml = include_str!("../../../../manifests/install/clusterrole.yaml");
        serde_yaml::Deserializer::from_str(yaml)
            .map(|document| ClusterRole::deserialize(document).unwrap())
            .find(|role| role.metadata.name.as_deref() == Some(TENANT_ADMIN))
            .expect("clusterrole.yaml ships socle-tenant-admin")
    }

    /// Whether `role` lets `verb` on `resource` of `group`.
    fn grants(role: &ClusterRole, group: &str, resource: &str, verb: &str) -> bool {
        role.rules.iter().flatten().any(|rule| {
            let has = |list: &Option<Vec<String>>, item: &str| {
                list.iter().flatten().any(|i| i == item || i == "*")
            };
            has(&rule.api_groups, group)
                && has(&rule.resources, resource)
                && rule.verbs.iter().any(|v| v == verb || v == "*")
        })
    }

    #[test]
    fn admins_run_workloads_but_cannot_touch_quotas_policies_or_rbac() {
        let role = shipped_admin_role();
        for (group, resource) in [
            ("", "pods"),
            ("", "pods/exec"),
            ("", "secrets"),
            ("apps", "deployments"),
            ("batch", "cronjobs"),
        ] {
            assert!(grants(&role, group, resource, "create"), "{resource}");
        }
        for (group, resource) in [
            ("", "resourcequotas"),
            ("", "limitranges"),
            ("networking.k8s.io", "networkpolicies"),
            ("rbac.authorization.k8s.io", "roles"),
            ("rbac.authorization.k8s.io", "rolebindings"),
            ("apps", "daemonsets"),
        ] {
            for verb in ["create", "update", "patch", "delete", "escalate", "bind"] {
                assert!(
                    !grants(&role, group, resource, verb),
                    "{verb} {resource} granted"
                );
            }
        }
    }

    #[test]
    fn admin_groups_are_bound_to_the_shipped_cluster_role_in_the_tenant_only() {
        let bindings = role_bindings(&fixture());
        let admin = bindings
            .iter()
            .find(|b| b.metadata.name.as_deref() == Some(TENANT_ADMIN))
            .unwrap();
        assert_eq!(admin.metadata.namespace.as_deref(), Some("commune-allaire"));
        assert_eq!(
            admin.subjects.as_ref().unwrap()[0].name,
            "commune-allaire-admins"
        );
        assert_eq!(admin.role_ref.kind, "ClusterRole");
        assert_eq!(admin.role_ref.name, "socle-tenant-admin");
    }

    #[test]
    fn a_renamed_cluster_role_is_the_one_bound() {
        let plan = TenantPlan {
            admin_role: "platform-socle-tenant-admin".into(),
            ..fixture()
        };
        let bindings = role_bindings(&plan);
        let refs: Vec<(&str, &str)> = bindings
            .iter()
            .map(|b| {
                (
                    b.metadata.name.as_deref().unwrap(),
                    b.role_ref.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            refs,
            [
                ("socle-dsi-auditors", "view"),
                (TENANT_ADMIN, "platform-socle-tenant-admin")
            ]
        );
    }
}

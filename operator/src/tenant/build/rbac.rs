use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::meta;
use crate::tenant::plan::TenantPlan;

/// Name of the tenant administrators' Role.
const TENANT_ADMIN: &str = "socle-tenant-admin";

/// What a commune's administrators may do in their namespace: run their
/// workloads. Not: change quotas, limits, network policies or RBAC — those
/// are the DSI's, through the Member.
pub fn tenant_admin_role(plan: &TenantPlan) -> Role {
    let all = || {
        [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ]
        .map(String::from)
        .to_vec()
    };
    let read = || ["get", "list", "watch"].map(String::from).to_vec();
    let rule = |groups: &[&str], resources: &[&str], verbs: Vec<String>| PolicyRule {
        api_groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs,
        ..PolicyRule::default()
    };
    Role {
        metadata: meta(plan, TENANT_ADMIN),
        rules: Some(vec![
            rule(
                &[""],
                &[
                    "pods",
                    "services",
                    "configmaps",
                    "secrets",
                    "persistentvolumeclaims",
                    "serviceaccounts",
                ],
                all(),
            ),
            rule(&[""], &["pods/log", "pods/exec", "pods/portforward"], all()),
            rule(&[""], &["events", "resourcequotas", "limitranges"], read()),
            rule(
                &["apps"],
                // No DaemonSets: they run on every node of the Datacenter, and
                // no commune runs a node agent (drills leave them out too).
                &["deployments", "statefulsets", "replicasets"],
                all(),
            ),
            rule(&["batch"], &["jobs", "cronjobs"], all()),
            rule(&["networking.k8s.io"], &["ingresses"], all()),
            rule(&["networking.k8s.io"], &["networkpolicies"], read()),
        ]),
    }
}

/// The member's admin groups bound to the tenant-admin Role, and the DSI's
/// auditors bound to the cluster's read-only `view` role, in this namespace only.
pub fn role_bindings(plan: &TenantPlan) -> Vec<RoleBinding> {
    let group = |name: &str| Subject {
        kind: "Group".into(),
        name: name.to_owned(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        namespace: None,
    };
    let mut bindings = vec![RoleBinding {
        metadata: meta(plan, "socle-dsi-auditors"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "view".into(),
        },
        subjects: Some(vec![group(&plan.auditor_group)]),
    }];
    if !plan.admin_groups.is_empty() {
        bindings.push(RoleBinding {
            metadata: meta(plan, TENANT_ADMIN),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Role".into(),
                name: TENANT_ADMIN.into(),
            },
            subjects: Some(plan.admin_groups.iter().map(|g| group(g)).collect()),
        });
    }
    bindings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::build::fixture;

    #[test]
    fn admins_cannot_touch_quotas_policies_or_rbac() {
        let role = tenant_admin_role(&fixture());
        for rule in role.rules.unwrap() {
            let resources = rule.resources.unwrap();
            let writes = rule
                .verbs
                .iter()
                .any(|v| v != "get" && v != "list" && v != "watch");
            for forbidden in [
                "resourcequotas",
                "limitranges",
                "networkpolicies",
                "roles",
                "rolebindings",
            ] {
                assert!(
                    !(writes && resources.iter().any(|r| r == forbidden)),
                    "{forbidden} writable"
                );
            }
        }
    }

    #[test]
    fn admin_groups_are_bound_in_the_tenant_only() {
        let bindings = role_bindings(&fixture());
        let admin = bindings
            .iter()
            .find(|b| b.role_ref.name == TENANT_ADMIN)
            .unwrap();
        assert_eq!(admin.metadata.namespace.as_deref(), Some("commune-allaire"));
        assert_eq!(
            admin.subjects.as_ref().unwrap()[0].name,
            "commune-allaire-admins"
        );
        assert_eq!(admin.role_ref.kind, "Role");
    }
}

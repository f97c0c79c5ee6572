//! The rules that keep a drill away from production: where a drill may
//! restore, and which namespaces socle may delete as sandboxes. Pure; every
//! write of a drill goes through them.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;

use crate::{
    backup::{metadata, plan::BackupPlan, velero::Restore},
    labels,
};

/// A drill that would have written where it must not.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("refused for safety: {0}")]
pub struct Unsafe(pub String);

/// `drill-<member>-<yyyymmdd>-<hhmmss>` (UTC); the member's part is cut to
/// keep the name a valid namespace name (63 characters).
pub fn drill_name(member: &str, at: Timestamp) -> String {
    let stamp = at.strftime("%Y%m%d-%H%M%S").to_string();
    let room = 63 - metadata::DRILL_PREFIX.len() - 1 - stamp.len();
    let member = member[..member.len().min(room)].trim_end_matches('-');
    format!("{}{member}-{stamp}", metadata::DRILL_PREFIX)
}

/// A sandbox must be a drill namespace: `drill-…`, never the tenant's
/// namespace nor any name a tenant namespace could have.
pub fn check_sandbox_name(
    sandbox: &str,
    plan: &BackupPlan,
    tenant_prefix: &str,
) -> Result<(), Unsafe> {
    if !sandbox.starts_with(metadata::DRILL_PREFIX) {
        return Err(Unsafe(format!(
            "sandbox {sandbox} does not start with {}",
            metadata::DRILL_PREFIX
        )));
    }
    if sandbox == plan.namespace || sandbox == plan.velero_namespace {
        return Err(Unsafe(format!(
            "sandbox {sandbox} is a production namespace"
        )));
    }
    if tenant_prefix.is_empty() || sandbox.starts_with(tenant_prefix) {
        return Err(Unsafe(format!(
            "sandbox {sandbox} could be a tenant namespace (prefix {tenant_prefix:?})"
        )));
    }
    Ok(())
}

/// A Restore may only read the member's tenant namespace and write into a
/// sandbox, with no cluster-scoped object.
pub fn check_restore(
    restore: &Restore,
    plan: &BackupPlan,
    tenant_prefix: &str,
) -> Result<(), Unsafe> {
    let spec = &restore.spec;
    if spec.included_namespaces != [plan.namespace.clone()] {
        return Err(Unsafe(format!(
            "restore {} includes {:?}, not only {}",
            restore.name_any(),
            spec.included_namespaces,
            plan.namespace
        )));
    }
    if spec.include_cluster_resources != Some(false) {
        return Err(Unsafe(format!(
            "restore {} would restore cluster-scoped objects",
            restore.name_any()
        )));
    }
    match spec.namespace_mapping.get(&plan.namespace) {
        Some(sandbox) if spec.namespace_mapping.len() == 1 => {
            check_sandbox_name(sandbox, plan, tenant_prefix)
        }
        _ => Err(Unsafe(format!(
            "restore {} does not map {} to a sandbox alone",
            restore.name_any(),
            plan.namespace
        ))),
    }
}

/// Whether `namespace` is a drill sandbox of `member` that socle created:
/// only those are ever deleted.
pub fn is_sandbox_of(namespace: &Namespace, member: &str) -> bool {
    let name = namespace.name_any();
    let labels = namespace.labels();
    name.starts_with(metadata::DRILL_PREFIX)
        && labels.get(labels::MEMBER).map(String::as_str) == Some(member)
        && labels.get(labels::COMPONENT).map(String::as_str) == Some(metadata::COMPONENT)
        && labels.get(metadata::DRILL) == Some(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::build::{DrillStart, restore};

    fn plan() -> BackupPlan {
        BackupPlan {
            labels: std::collections::BTreeMap::new(),
            ..crate::backup::plan::example_plan()
        }
    }

    #[test]
    fn drill_names_are_valid_namespace_names() {
        let at: Timestamp = "2026-03-01T03:00:07Z".parse().unwrap();
        assert_eq!(drill_name("allaire", at), "drill-allaire-20260301-030007");
        let long = drill_name(&"a-".repeat(31), at);
        assert!(long.len() <= 63, "{long}");
        assert!(!long.contains("--"), "{long}");
    }

    #[test]
    fn a_drill_never_restores_into_production() {
        let plan = plan();
        assert!(check_sandbox_name("drill-allaire-20260301-030007", &plan, "commune-").is_ok());
        assert!(check_sandbox_name("commune-allaire", &plan, "commune-").is_err());
        assert!(check_sandbox_name("drill-x", &plan, "drill-").is_err());
        assert!(check_sandbox_name("drill-x", &plan, "").is_err());
        let start = DrillStart {
            name: "drill-allaire-20260301-030007",
            backup: "commune-allaire-20260301020000",
            backup_completed_at: "2026-03-01T02:00:00Z".parse().unwrap(),
            started_at: "2026-03-01T03:00:07Z".parse().unwrap(),
            request: None,
        };
        let mut restore = restore(&plan, &start);
        assert!(check_restore(&restore, &plan, "commune-").is_ok());
        restore
            .spec
            .namespace_mapping
            .insert("commune-allaire".into(), "commune-allaire".into());
        assert!(check_restore(&restore, &plan, "commune-").is_err());
    }

    #[test]
    fn only_labelled_drill_namespaces_are_sandboxes() {
        let namespace = |name: &str, drill: &str| -> Namespace {
            serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": {
                labels::MEMBER: "allaire", labels::COMPONENT: "backup", metadata::DRILL: drill,
            }}}))
            .unwrap()
        };
        assert!(is_sandbox_of(
            &namespace("drill-allaire-1", "drill-allaire-1"),
            "allaire"
        ));
        assert!(!is_sandbox_of(
            &namespace("drill-allaire-1", "drill-allaire-1"),
            "redon"
        ));
        assert!(!is_sandbox_of(
            &namespace("commune-allaire", "commune-allaire"),
            "allaire"
        ));
        assert!(!is_sandbox_of(
            &namespace("drill-allaire-1", "drill-allaire-2"),
            "allaire"
        ));
    }
}

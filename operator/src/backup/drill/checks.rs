//! The checks of a drill: what the backup holds against what came back in
//! the sandbox, the restore's own outcome, and the measured RTO and RPO
//! against their targets. Pure.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
};

use crate::{
    api::drill_report::{DrillCheck, Verdict},
    backup::{build::NOT_RESTORED, velero::RestoreStatus},
};

/// What a backup holds, as Velero lists it: `apiVersion/Kind` (`v1/ConfigMap`,
/// `apps/v1/Deployment`) → `namespace/name` (or `name` if cluster-scoped).
pub type ResourceList = BTreeMap<String, Vec<String>>;

/// What is in the sandbox for each kind of the backup: the names, or `None`
/// when the cluster does not serve that kind.
pub type Inventory = BTreeMap<String, Option<BTreeSet<String>>>;

/// Kinds a backup holds that are not compared besides those a drill does not
/// restore ([`NOT_RESTORED`]): Velero never restores Events nor finished Pods
/// and Jobs; Endpoints and EndpointSlices are rebuilt by their controllers.
const NOT_COMPARED: [(&str, &str); 6] = [
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "Pod"),
    ("batch", "Job"),
    ("", "Endpoints"),
    ("discovery.k8s.io", "EndpointSlice"),
];

fn compared(group: &str, kind: &str) -> bool {
    !NOT_COMPARED.contains(&(group, kind))
        && !NOT_RESTORED
            .iter()
            .any(|left| left.group == group && left.kind == kind)
}

/// Most kinds given a check of their own; the schema allows 100 checks.
const MAX_KIND_CHECKS: usize = 90;
/// Most names listed in a check's detail.
const MAX_NAMES: usize = 10;

/// `(group, version, kind)` of a resource list key.
pub fn parse_key(key: &str) -> Option<(&str, &str, &str)> {
    let (api_version, kind) = key.rsplit_once('/')?;
    match api_version.split_once('/') {
        Some((group, version)) => Some((group, version, kind)),
        None => Some(("", api_version, kind)),
    }
}

/// The names of the tenant namespace's objects in the backup, by kind, for
/// the kinds that are compared; and the kinds left out.
pub fn expected(
    list: &ResourceList,
    namespace: &str,
) -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let prefix = format!("{namespace}/");
    let mut compared_kinds = BTreeMap::new();
    let mut left_out = BTreeSet::new();
    for (key, entries) in list {
        let names: BTreeSet<String> = entries
            .iter()
            .filter_map(|entry| entry.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            continue;
        }
        let Some((group, _, kind)) = parse_key(key) else {
            continue;
        };
        if compared(group, kind) {
            compared_kinds.insert(key.clone(), names);
        } else {
            left_out.insert(kind.to_owned());
        }
    }
    (compared_kinds, left_out)
}

fn check(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> DrillCheck {
    let mut detail: String = detail.into();
    if detail.len() > 1000 {
        let mut end = 996;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push_str(" […]");
    }
    DrillCheck {
        name: name.into(),
        verdict: if passed {
            Verdict::Passed
        } else {
            Verdict::Failed
        },
        detail,
    }
}

/// Velero's own outcome of the restore. `timed_out`: it had not finished by
/// the deadline.
pub fn restore_check(name: &str, status: Option<&RestoreStatus>, timed_out: bool) -> DrillCheck {
    let status = status.cloned().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("New");
    let errors = status.errors.unwrap_or(0);
    let warnings = status.warnings.unwrap_or(0);
    let restored = status.progress.as_ref().map_or(0, |p| p.items_restored);
    if timed_out {
        return check(
            "restore finished",
            false,
            format!("still {phase} at the deadline ({restored} items restored so far)"),
        );
    }
    let mut detail =
        format!("{phase}: {restored} items restored, {errors} errors, {warnings} warnings");
    if let Some(reason) = &status.failure_reason {
        let _ = write!(detail, "; {reason}");
    }
    if !status.validation_errors.is_empty() {
        let _ = write!(detail, "; {}", status.validation_errors.join("; "));
    }
    if phase != "Completed" {
        let _ = write!(detail, "; see `velero restore logs {name}`");
    }
    check("restore finished", phase == "Completed", detail)
}

/// What the backup holds, or why that could not be read.
pub fn contents_check(
    contents: Result<&ResourceList, &str>,
    namespace: &str,
    compared: usize,
    left_out: &BTreeSet<String>,
) -> DrillCheck {
    let list = match contents {
        Ok(list) => list,
        Err(why) => {
            return check(
                "backup contents listed",
                false,
                format!("the backup's resource list could not be read: {why}"),
            );
        }
    };
    let prefix = format!("{namespace}/");
    let objects = list
        .values()
        .flatten()
        .filter(|entry| entry.starts_with(&prefix))
        .count();
    if objects == 0 {
        return check(
            "backup contents listed",
            false,
            format!("the backup holds no object of namespace {namespace}: it proves nothing"),
        );
    }
    let mut detail = format!("{objects} objects of {namespace}; {compared} kinds compared");
    if !left_out.is_empty() {
        let kinds: Vec<&str> = left_out.iter().map(String::as_str).collect();
        let _ = write!(detail, ", not compared: {}", kinds.join(", "));
    }
    check("backup contents listed", true, detail)
}

/// One check per kind: every object of the backup is in the sandbox. With
/// `volumes_expected`, a backup without any PersistentVolumeClaim fails.
pub fn kind_checks(
    expected: &BTreeMap<String, BTreeSet<String>>,
    inventory: &Inventory,
    volumes_expected: bool,
) -> Vec<DrillCheck> {
    let mut checks = Vec::new();
    let mut others = (0_usize, Vec::new());
    for (index, (key, names)) in expected.iter().enumerate() {
        let (group, _, kind) = parse_key(key).unwrap_or(("", "", key));
        let label = if group.is_empty() {
            format!("{kind} count")
        } else {
            format!("{kind} ({group}) count")
        };
        let outcome = match inventory.get(key) {
            Some(Some(present)) => {
                let missing: Vec<&str> = names
                    .iter()
                    .filter(|name| !present.contains(*name))
                    .map(String::as_str)
                    .collect();
                let found = names.len() - missing.len();
                let mut detail = format!("{} in backup, {found} in sandbox", names.len());
                if !missing.is_empty() {
                    let shown: Vec<&str> = missing.iter().copied().take(MAX_NAMES).collect();
                    let _ = write!(detail, "; missing: {}", shown.join(", "));
                    if missing.len() > MAX_NAMES {
                        let _ = write!(detail, " and {} more", missing.len() - MAX_NAMES);
                    }
                }
                check(label, missing.is_empty(), detail)
            }
            _ => check(
                label,
                false,
                format!(
                    "{} in backup; the cluster does not serve {key}",
                    names.len()
                ),
            ),
        };
        if index < MAX_KIND_CHECKS {
            checks.push(outcome);
        } else {
            others.0 += 1;
            if outcome.verdict == Verdict::Failed {
                others.1.push(outcome.name);
            }
        }
    }
    if others.0 > 0 {
        checks.push(check(
            "other kinds",
            others.1.is_empty(),
            format!("{} more kinds; failed: {}", others.0, others.1.join(", ")),
        ));
    }
    if volumes_expected {
        let has_claims = expected.keys().any(|key| key == "v1/PersistentVolumeClaim");
        checks.push(check(
            "data volume backed up",
            has_claims,
            if has_claims {
                "the backup holds the tenant's PersistentVolumeClaims".to_owned()
            } else {
                "the tenant has a data volume (spec.tenant.storage) but the backup holds no PersistentVolumeClaim".to_owned()
            },
        ));
    }
    checks
}

/// A measured duration against its target, both in seconds.
pub fn target_check(name: &str, measured: u64, target: u64) -> DrillCheck {
    check(
        name,
        measured <= target,
        format!("measured {measured} s, target {target} s"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> ResourceList {
        serde_json::from_value(serde_json::json!({
            "v1/ConfigMap": ["commune-a/app", "commune-a/kube-root-ca.crt", "commune-a/settings"],
            "v1/PersistentVolumeClaim": ["commune-a/data"],
            "v1/Event": ["commune-a/x.1"],
            "v1/Namespace": ["commune-a"],
            "networking.k8s.io/v1/NetworkPolicy": ["commune-a/default-deny"],
            "rbac.authorization.k8s.io/v1/RoleBinding": ["commune-a/admins"],
        }))
        .unwrap()
    }

    fn present(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn keys_name_group_version_and_kind() {
        assert_eq!(parse_key("v1/ConfigMap"), Some(("", "v1", "ConfigMap")));
        assert_eq!(
            parse_key("apps/v1/Deployment"),
            Some(("apps", "v1", "Deployment"))
        );
    }

    #[test]
    fn everything_restored_passes_and_left_out_kinds_are_named() {
        let (expected, left_out) = expected(&list(), "commune-a");
        assert_eq!(expected.len(), 3, "{expected:?}");
        assert_eq!(
            left_out.into_iter().collect::<Vec<_>>(),
            ["Event", "NetworkPolicy"]
        );
        let inventory = Inventory::from([
            (
                "v1/ConfigMap".into(),
                Some(present(&["app", "kube-root-ca.crt", "settings", "extra"])),
            ),
            ("v1/PersistentVolumeClaim".into(), Some(present(&["data"]))),
            (
                "rbac.authorization.k8s.io/v1/RoleBinding".into(),
                Some(present(&["admins"])),
            ),
        ]);
        let checks = kind_checks(&expected, &inventory, true);
        assert!(
            checks.iter().all(|c| c.verdict == Verdict::Passed),
            "{checks:?}"
        );
        // By key: `rbac.authorization.k8s.io/v1/…` sorts before `v1/…`.
        assert_eq!(
            checks[0].name,
            "RoleBinding (rbac.authorization.k8s.io) count"
        );
        assert_eq!(checks[1].name, "ConfigMap count");
        assert_eq!(checks[1].detail, "3 in backup, 3 in sandbox");
    }

    #[test]
    fn missing_objects_and_unserved_kinds_fail_by_name() {
        let (expected, _) = expected(&list(), "commune-a");
        let inventory = Inventory::from([
            ("v1/ConfigMap".into(), Some(present(&["kube-root-ca.crt"]))),
            ("v1/PersistentVolumeClaim".into(), Some(present(&[]))),
            ("rbac.authorization.k8s.io/v1/RoleBinding".into(), None),
        ]);
        let checks = kind_checks(&expected, &inventory, false);
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.verdict == Verdict::Failed)
            .map(|c| c.detail.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "1 in backup; the cluster does not serve rbac.authorization.k8s.io/v1/RoleBinding",
                "3 in backup, 1 in sandbox; missing: app, settings",
                "1 in backup, 0 in sandbox; missing: data",
            ]
        );
    }

    #[test]
    fn a_tenant_with_storage_needs_its_claims_in_the_backup() {
        let mut list = list();
        list.remove("v1/PersistentVolumeClaim");
        let (expected, _) = expected(&list, "commune-a");
        let checks = kind_checks(&expected, &Inventory::new(), true);
        let volume = checks
            .iter()
            .find(|c| c.name == "data volume backed up")
            .unwrap();
        assert_eq!(volume.verdict, Verdict::Failed);
    }

    #[test]
    fn an_empty_or_unreadable_backup_proves_nothing() {
        let empty = ResourceList::new();
        let none = BTreeSet::new();
        assert_eq!(
            contents_check(Ok(&empty), "commune-a", 0, &none).verdict,
            Verdict::Failed
        );
        assert_eq!(
            contents_check(Err("404"), "commune-a", 0, &none).verdict,
            Verdict::Failed
        );
        assert_eq!(
            contents_check(Ok(&list()), "commune-a", 3, &none).verdict,
            Verdict::Passed
        );
    }

    #[test]
    fn partially_failed_restores_and_slow_ones_fail() {
        let status: RestoreStatus = serde_json::from_value(serde_json::json!({
            "phase": "PartiallyFailed", "errors": 1, "progress": {"itemsRestored": 4, "totalItems": 5}
        }))
        .unwrap();
        let failed = restore_check("drill-a-1", Some(&status), false);
        assert_eq!(failed.verdict, Verdict::Failed);
        assert!(
            failed.detail.contains("velero restore logs drill-a-1"),
            "{}",
            failed.detail
        );
        assert_eq!(target_check("RTO", 3601, 3600).verdict, Verdict::Failed);
        assert_eq!(target_check("RTO", 3600, 3600).verdict, Verdict::Passed);
    }
}

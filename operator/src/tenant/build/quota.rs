use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec},
    apimachinery::pkg::api::resource::Quantity,
};

use super::meta;
use crate::tenant::plan::TenantPlan;

/// Bounds of the whole tenant: what the commune's workloads may request in
/// total, so one commune cannot starve the others.
pub fn resource_quota(plan: &TenantPlan) -> ResourceQuota {
    let mut hard = BTreeMap::from([
        ("requests.cpu".to_owned(), plan.cpu.clone()),
        ("requests.memory".to_owned(), plan.memory.clone()),
        ("limits.cpu".to_owned(), plan.cpu.clone()),
        ("limits.memory".to_owned(), plan.memory.clone()),
        ("pods".to_owned(), Quantity("50".into())),
        ("services.loadbalancers".to_owned(), Quantity("0".into())),
        ("services.nodeports".to_owned(), Quantity("0".into())),
    ]);
    // Storage is bounded by the declared volume: nothing beyond it.
    let (storage, claims) = match &plan.storage {
        Some(storage) => (storage.size.clone(), "1"),
        None => (Quantity("0".into()), "0"),
    };
    hard.insert("requests.storage".to_owned(), storage);
    hard.insert("persistentvolumeclaims".to_owned(), Quantity(claims.into()));
    ResourceQuota {
        metadata: meta(plan, "socle-tenant"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// Defaults for containers that declare no resources: with a quota on
/// requests and limits, such a pod would otherwise be refused.
pub fn limit_range(plan: &TenantPlan) -> LimitRange {
    let pair = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.into())),
            ("memory".to_owned(), Quantity(memory.into())),
        ])
    };
    LimitRange {
        metadata: meta(plan, "socle-tenant"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default_request: Some(pair("100m", "128Mi")),
                default: Some(pair("500m", "512Mi")),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::build::fixture;

    #[test]
    fn quota_follows_the_plan() {
        let hard = resource_quota(&fixture()).spec.unwrap().hard.unwrap();
        assert_eq!(hard["requests.cpu"], Quantity("8".into()));
        assert_eq!(hard["requests.memory"], Quantity("16Gi".into()));
        assert_eq!(hard["requests.storage"], Quantity("50Gi".into()));
        assert_eq!(hard["persistentvolumeclaims"], Quantity("1".into()));
        assert_eq!(hard["services.loadbalancers"], Quantity("0".into()));
    }

    #[test]
    fn no_storage_means_no_claim() {
        let mut plan = fixture();
        plan.storage = None;
        let hard = resource_quota(&plan).spec.unwrap().hard.unwrap();
        assert_eq!(hard["persistentvolumeclaims"], Quantity("0".into()));
    }
}

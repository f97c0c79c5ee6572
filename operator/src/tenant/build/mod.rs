//! Build: the tenant's objects from its [`TenantPlan`]. Pure functions, one
//! file per kind of object, unit-tested without a cluster.

mod namespace;
mod network;
mod quota;
mod rbac;
mod storage;

use k8s_openapi::{
    api::{
        core::v1::{LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota},
        networking::v1::NetworkPolicy,
        rbac::v1::RoleBinding,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

pub use self::{
    namespace::namespace,
    network::network_policies,
    quota::{limit_range, resource_quota},
    rbac::role_bindings,
    storage::{DATA_VOLUME, data_volume},
};
use super::plan::TenantPlan;

/// Every object of one tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub namespace: Namespace,
    pub quota: ResourceQuota,
    pub limit_range: LimitRange,
    pub policies: Vec<NetworkPolicy>,
    pub bindings: Vec<RoleBinding>,
    /// The data volume, when the member has storage.
    pub volume: Option<PersistentVolumeClaim>,
}

/// The tenant `plan` describes.
pub fn tenant(plan: &TenantPlan) -> Tenant {
    Tenant {
        namespace: namespace(plan),
        quota: resource_quota(plan),
        limit_range: limit_range(plan),
        policies: network_policies(plan),
        bindings: role_bindings(plan),
        volume: data_volume(plan),
    }
}

/// Metadata of an object in the tenant namespace, with the tenant's labels.
fn meta(plan: &TenantPlan, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(plan.namespace.clone()),
        labels: Some(plan.labels.clone()),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
pub(crate) fn fixture() -> TenantPlan {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    TenantPlan {
        member: "allaire".into(),
        namespace: "commune-allaire".into(),
        labels: BTreeMap::from([(
            "socle.redon-agglomeration.bzh/member".into(),
            "allaire".into(),
        )]),
        cpu: Quantity("8".into()),
        memory: Quantity("16Gi".into()),
        storage: Some(super::plan::Storage {
            size: Quantity("50Gi".into()),
            class: Some("standard".into()),
        }),
        admin_groups: vec!["commune-allaire-admins".into()],
        admin_role: "socle-tenant-admin".into(),
        auditor_group: "socle:dsi-auditors".into(),
        service_namespaces: vec!["socle-vpn-gateway".into()],
    }
}

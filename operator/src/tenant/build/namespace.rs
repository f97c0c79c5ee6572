use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta};

use crate::{labels, tenant::plan::TenantPlan};

/// The tenant namespace. Pod Security admission `restricted`: a commune's
/// workloads run without privileges, host access or root.
pub fn namespace(plan: &TenantPlan) -> Namespace {
    let mut labels = plan.labels.clone();
    labels.extend(labels::pod_security_restricted());
    Namespace {
        metadata: ObjectMeta {
            name: Some(plan.namespace.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "socle.redon-agglomeration.bzh/data-safety".to_owned(),
                "Deleting the Member keeps this namespace and its volumes; see the README, Offboarding".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::build::fixture;

    #[test]
    fn restricted_pod_security_and_member_labels() {
        let ns = namespace(&fixture());
        let labels = ns.metadata.labels.unwrap();
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert_eq!(labels["socle.redon-agglomeration.bzh/member"], "allaire");
        assert_eq!(ns.metadata.name.as_deref(), Some("commune-allaire"));
    }
}

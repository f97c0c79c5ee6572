use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};

use super::meta;
use crate::tenant::plan::TenantPlan;

/// Name of the tenant's data volume claim.
pub const DATA_VOLUME: &str = "data";

/// The commune's data volume. It carries no ownerReference: deleting the
/// Member must never let the garbage collector reach a commune's data.
pub fn data_volume(plan: &TenantPlan) -> Option<PersistentVolumeClaim> {
    let storage = plan.storage.as_ref()?;
    Some(PersistentVolumeClaim {
        metadata: meta(plan, DATA_VOLUME),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    storage.size.clone(),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::build::fixture;

    #[test]
    fn the_volume_has_the_declared_size_and_class() {
        let pvc = data_volume(&fixture()).unwrap();
        assert!(pvc.metadata.owner_references.is_none());
        let spec = pvc.spec.unwrap();
        assert_eq!(spec.storage_class_name.as_deref(), Some("standard"));
        assert_eq!(
            spec.resources.unwrap().requests.unwrap()["storage"].0,
            "50Gi"
        );
    }
}

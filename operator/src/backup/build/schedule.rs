//! The Velero Schedule of a tenant namespace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;

use crate::backup::{
    plan::BackupPlan,
    velero::{BackupSpec, Schedule, ScheduleSpec, TemplateMetadata},
};

/// The Schedule backing up the tenant namespace, in the Velero namespace of
/// the target, owned by the Member (its Backups are not: they outlive it
/// until their TTL, so an offboarded commune keeps its backups that long).
pub fn schedule(plan: &BackupPlan, owner: OwnerReference) -> Schedule {
    Schedule {
        metadata: ObjectMeta {
            name: Some(plan.schedule.clone()),
            namespace: Some(plan.velero_namespace.clone()),
            labels: Some(plan.labels.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: ScheduleSpec {
            schedule: plan.cron.clone(),
            template: BackupSpec {
                // Backups carry the member's labels, so that socle sees them.
                metadata: Some(TemplateMetadata {
                    labels: plan.labels.clone(),
                }),
                included_namespaces: vec![plan.namespace.clone()],
                storage_location: Some(plan.storage_location.clone()),
                ttl: Some(plan.targets.ttl()),
                default_volumes_to_fs_backup: Some(true),
            },
            use_owner_references_in_backup: Some(false),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::{
        api::{Member, SharedService},
        backup::{BackupSettings, plan::plan},
    };

    #[test]
    fn the_schedule_backs_up_the_tenant_namespace_with_the_tier_s_cron_and_ttl() {
        let member: Member = serde_yaml::from_str(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {name: allaire, uid: "1"}
spec:
  displayName: Allaire
  inseeCode: "56001"
  population: {count: 3875, year: 2021}
  subscriptions: [{offer: SocleComplet, effectiveDate: "2025-09-01"}]
  backup: {tier: Critical, retentionDays: 400}
"#,
        )
        .unwrap();
        let target: SharedService = serde_yaml::from_str(
            r"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: SharedService
metadata: {name: sauvegardes}
spec:
  displayName: Sauvegardes
  category: BackupTarget
  serviceLevel: 3
  hosting: Datacenter
  backupTarget: {veleroNamespace: velero, storageLocation: default}
",
        )
        .unwrap();
        let plan = plan(
            &member,
            &[target],
            &BackupSettings::default(),
            date(2026, 3, 1),
        )
        .unwrap()
        .unwrap();
        let owner = OwnerReference {
            api_version: "socle.redon-agglomeration.bzh/v1alpha1".into(),
            kind: "Member".into(),
            name: "allaire".into(),
            uid: "1".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let schedule = serde_json::to_value(schedule(&plan, owner)).unwrap();
        assert_eq!(schedule["apiVersion"], "velero.io/v1");
        assert_eq!(schedule["metadata"]["namespace"], "velero");
        assert_eq!(schedule["metadata"]["name"], "commune-allaire");
        let template = &schedule["spec"]["template"];
        assert_eq!(template["includedNamespaces"][0], "commune-allaire");
        assert_eq!(template["ttl"], "9600h0m0s");
        assert_eq!(template["storageLocation"], "default");
        assert_eq!(template["defaultVolumesToFsBackup"], true);
        assert_eq!(
            template["metadata"]["labels"]["socle.redon-agglomeration.bzh/member"],
            "allaire"
        );
        assert!(
            schedule["spec"]["schedule"]
                .as_str()
                .unwrap()
                .ends_with(" * * * *")
        );
        assert!(schedule.get("status").is_none(), "status is Velero's");
    }
}

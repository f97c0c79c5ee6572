//! The Velero Schedule of a tenant namespace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;

use crate::backup::{
    plan::BackupPlan,
    velero::{Backup, BackupSpec, SCHEDULE_NAME_LABEL, Schedule, ScheduleSpec, TemplateMetadata},
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
        spec: schedule_spec(plan),
        status: None,
    }
}

fn schedule_spec(plan: &BackupPlan) -> ScheduleSpec {
    ScheduleSpec {
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
    }
}

/// The Backup `velero backup create --from-schedule` makes: the Schedule's
/// template, labelled as the Schedule's own Backups. Velero takes a new
/// Schedule's first backup only at its first cron time, up to a day later
/// for the Essential tier, so socle asks for this one at once; its name,
/// the Schedule's with `-first` (`-first-2`… for a later `attempt`), makes
/// asking twice harmless.
pub fn first_backup(plan: &BackupPlan, attempt: u32) -> Backup {
    let schedule = schedule_spec(plan);
    let mut labels = plan.labels.clone();
    labels.insert(SCHEDULE_NAME_LABEL.to_owned(), plan.schedule.clone());
    Backup {
        metadata: ObjectMeta {
            name: Some(match attempt {
                0 | 1 => format!("{}-first", plan.schedule),
                n => format!("{}-first-{n}", plan.schedule),
            }),
            namespace: Some(plan.velero_namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: schedule.template,
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
        let first = first_backup(&plan, 1);
        assert_eq!(
            first_backup(&plan, 2).metadata.name.as_deref(),
            Some("commune-allaire-first-2")
        );
        let schedule = serde_json::to_value(schedule(&plan, owner)).unwrap();
        // The first backup is one of the Schedule's, taken now.
        assert_eq!(
            first.metadata.name.as_deref(),
            Some("commune-allaire-first")
        );
        assert_eq!(
            serde_json::to_value(&first.spec).unwrap(),
            schedule["spec"]["template"]
        );
        assert_eq!(
            first.metadata.labels.as_ref().unwrap()[SCHEDULE_NAME_LABEL],
            "commune-allaire"
        );
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

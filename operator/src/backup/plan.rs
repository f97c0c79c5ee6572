//! Validate: from a Member and the SharedServices, the backups to schedule
//! and drill — or a message naming the field to fix. Pure: the clock and the
//! SharedServices are passed in.

use std::collections::BTreeMap;

use croner::{
    Cron,
    parser::{CronParser, Seconds},
};
use jiff::civil::Date;
use kube::ResourceExt;

use super::{
    BackupSettings, metadata,
    tier::{Targets, backup_cron},
};
use crate::{
    api::{Member, SharedService, shared_service::ServiceCategory},
    labels,
};

/// Everything the builders and the drills need, checked.
#[derive(Clone, Debug)]
pub struct BackupPlan {
    /// `metadata.name` of the Member.
    pub member: String,
    /// The tenant namespace backed up.
    pub namespace: String,
    /// Name of the Velero Schedule: the tenant namespace's.
    pub schedule: String,
    /// Where Velero runs (from the BackupTarget SharedService).
    pub velero_namespace: String,
    /// Velero BackupStorageLocation (from the BackupTarget SharedService).
    pub storage_location: String,
    pub targets: Targets,
    /// Cron expression of the backups (UTC).
    pub cron: String,
    /// When drills run (UTC), if scheduled.
    pub drill: Option<Cron>,
    /// Whether the tenant has a data volume, which a backup must then hold.
    pub volumes_expected: bool,
    /// Labels of every object the backup controller creates for the member.
    pub labels: BTreeMap<String, String>,
}

/// A spec the backups cannot be built from; the message names the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidBackup(pub String);

/// Parses a five-field cron expression.
pub fn parse_cron(expression: &str) -> Result<Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(expression)
}

/// The backup plan of a member with `spec.backup`; `Ok(None)` without it.
pub fn plan(
    member: &Member,
    services: &[SharedService],
    settings: &BackupSettings,
    today: Date,
) -> Result<Option<BackupPlan>, InvalidBackup> {
    let Some(spec) = &member.spec.backup else {
        return Ok(None);
    };
    let name = member.name_any();
    if !member.hosted_on(today) {
        return Err(InvalidBackup(
            "spec.backup is set but the member is not hosted (no spec.tenant, no current SocleComplet subscription): there is nothing to back up".into(),
        ));
    }
    let namespace = format!("{}{name}", settings.namespace_prefix);
    if namespace.len() > 63 {
        return Err(InvalidBackup(format!(
            "the tenant namespace {namespace} would exceed 63 characters: shorten metadata.name"
        )));
    }
    let target = backup_target(spec.target.as_deref(), services)?;
    let location = target
        .spec
        .backup_target
        .as_ref()
        .expect("backup_target() returns services with settings");
    // socle's Velero rights are a Role in one namespace (SECURITY.md).
    if location.velero_namespace != settings.velero_namespace {
        return Err(InvalidBackup(format!(
            "SharedService {}: spec.backupTarget.veleroNamespace is {}, but socle may act only in Velero's namespace {} (socle run --velero-namespace, and the Role socle-velero there): fix the SharedService, or move socle's Velero access",
            target.name_any(),
            location.velero_namespace,
            settings.velero_namespace
        )));
    }
    let drill = match &spec.drill {
        None => None,
        Some(drill) => Some(parse_cron(&drill.schedule).map_err(|error| {
            InvalidBackup(format!(
                "spec.backup.drill.schedule {:?} is not a five-field cron expression: {error}",
                drill.schedule
            ))
        })?),
    };
    let targets = Targets::of(spec);
    let labels = BTreeMap::from([
        (labels::MEMBER.to_owned(), name.clone()),
        (labels::COMPONENT.to_owned(), metadata::COMPONENT.to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
    ]);
    Ok(Some(BackupPlan {
        cron: backup_cron(targets.rpo_minutes, &name),
        member: name,
        schedule: namespace.clone(),
        namespace,
        velero_namespace: location.velero_namespace.clone(),
        storage_location: location.storage_location.clone(),
        targets,
        drill,
        volumes_expected: member
            .spec
            .tenant
            .as_ref()
            .is_some_and(|tenant| tenant.storage.is_some()),
        labels,
    }))
}

/// The BackupTarget service named by `spec.backup.target`, or the only one.
pub fn backup_target<'a>(
    name: Option<&str>,
    services: &'a [SharedService],
) -> Result<&'a SharedService, InvalidBackup> {
    let targets: Vec<&SharedService> = services
        .iter()
        .filter(|s| s.spec.category == ServiceCategory::BackupTarget)
        .filter(|s| s.spec.backup_target.is_some())
        .collect();
    match name {
        Some(name) => targets.into_iter().find(|s| s.name_any() == name).ok_or_else(|| {
            InvalidBackup(format!(
                "spec.backup.target: SharedService {name} (category BackupTarget, with spec.backupTarget) does not exist; fix the reference or create it"
            ))
        }),
        None => match targets.as_slice() {
            [only] => Ok(only),
            [] => Err(InvalidBackup(
                "no SharedService of category BackupTarget exists: create one (Velero namespace and storage location) or set spec.backup.target".into(),
            )),
            several => Err(InvalidBackup(format!(
                "spec.backup.target is needed: there are several BackupTarget services ({})",
                several.iter().map(|s| s.name_any()).collect::<Vec<_>>().join(", ")
            ))),
        },
    }
}

/// Allaire's plan at the Critical tier, for the builders' and checks' tests.
#[cfg(test)]
pub(crate) fn example_plan() -> BackupPlan {
    BackupPlan {
        member: "allaire".into(),
        namespace: "commune-allaire".into(),
        schedule: "commune-allaire".into(),
        velero_namespace: "velero".into(),
        storage_location: "default".into(),
        targets: super::tier::Targets::of(&serde_yaml::from_str("{tier: Critical}").unwrap()),
        cron: "0 * * * *".into(),
        drill: None,
        volumes_expected: true,
        labels: BTreeMap::from([("app.kubernetes.io/managed-by".into(), "socle".into())]),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn member(backup: &str) -> Member {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: allaire}}
spec:
  displayName: Allaire
  inseeCode: "56001"
  population: {{count: 3875, year: 2021}}
  subscriptions: [{{offer: SocleComplet, effectiveDate: "2025-09-01"}}]
  tenant: {{storage: {{size: 50Gi}}}}
  backup: {backup}
"#
        ))
        .unwrap()
    }

    fn target(name: &str) -> SharedService {
        serde_yaml::from_str(&format!(
            r"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: SharedService
metadata: {{name: {name}}}
spec:
  displayName: Sauvegardes
  category: BackupTarget
  serviceLevel: 3
  hosting: Datacenter
  backupTarget: {{veleroNamespace: velero, storageLocation: {name}-s3}}
"
        ))
        .unwrap()
    }

    #[test]
    fn a_member_with_a_tier_gets_a_plan_on_the_only_target() {
        let plan = plan(
            &member("{tier: Standard, drill: {schedule: '0 3 1 * *'}}"),
            &[target("minio")],
            &BackupSettings::default(),
            date(2026, 3, 1),
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.namespace, "commune-allaire");
        assert_eq!(plan.schedule, "commune-allaire");
        assert_eq!(
            (
                plan.velero_namespace.as_str(),
                plan.storage_location.as_str()
            ),
            ("velero", "minio-s3")
        );
        assert!(plan.cron.ends_with(" 1-23/4 * * *"), "{}", plan.cron);
        assert!(plan.drill.is_some() && plan.volumes_expected);
    }

    #[test]
    fn targets_are_named_when_ambiguous_or_missing() {
        let today = date(2026, 3, 1);
        let error = plan(
            &member("{tier: Critical}"),
            &[target("a"), target("b")],
            &BackupSettings::default(),
            today,
        )
        .unwrap_err();
        assert!(
            error.0.contains("several BackupTarget services (a, b)"),
            "{error}"
        );
        let error = plan(
            &member("{tier: Critical, target: c}"),
            &[target("a")],
            &BackupSettings::default(),
            today,
        )
        .unwrap_err();
        assert!(error.0.contains("SharedService c"), "{error}");
        let error = plan(
            &member("{tier: Critical}"),
            &[],
            &BackupSettings::default(),
            today,
        )
        .unwrap_err();
        assert!(
            error
                .0
                .contains("no SharedService of category BackupTarget"),
            "{error}"
        );
    }

    #[test]
    fn a_target_outside_socle_s_velero_namespace_is_refused() {
        let settings = BackupSettings {
            velero_namespace: "sauvegardes".into(),
            ..BackupSettings::default()
        };
        let error = plan(
            &member("{tier: Critical}"),
            &[target("a")],
            &settings,
            date(2026, 3, 1),
        )
        .unwrap_err();
        assert!(
            error
                .0
                .contains("spec.backupTarget.veleroNamespace is velero")
                && error.0.contains("Velero's namespace sauvegardes"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_drill_schedule_names_the_field() {
        let error = plan(
            &member("{tier: Critical, drill: {schedule: '61 * * * *'}}"),
            &[target("a")],
            &BackupSettings::default(),
            date(2026, 3, 1),
        )
        .unwrap_err();
        assert!(error.0.contains("spec.backup.drill.schedule"), "{error}");
    }

    #[test]
    fn no_backup_spec_no_plan() {
        let mut allaire = member("{tier: Critical}");
        allaire.spec.backup = None;
        assert!(
            plan(&allaire, &[], &BackupSettings::default(), date(2026, 3, 1))
                .unwrap()
                .is_none()
        );
    }
}

//! Apply, at a confirmed offboarding, before the namespace goes: the exit
//! backup (article 2.4). A commune that subscribed to backups (`spec.backup`)
//! leaves a last Velero Backup of its tenant, kept for the exit retention;
//! its namespace is deleted only once Velero says that backup Completed.
//! A commune without backups leaves its data on its retained volumes only.

use kube::{Api, ResourceExt, api::PostParams};

pub use crate::backup::build::exit_backup_name;

use super::{Error, TenantContext};
use crate::{
    api::Member,
    backup::{
        build::{ExitBackupPlan, exit_backup},
        plan::backup_target,
        velero::{self, Backup},
    },
    runtime::watch,
};

/// Where the exit backup stands.
#[derive(Debug, PartialEq, Eq)]
pub enum ExitBackup {
    /// Velero completed it: `<velero namespace>/<name>`.
    Completed(String),
    /// The member has no `spec.backup`: there is none to take.
    NotSubscribed,
    /// Velero has it in hand: what it says (its phase).
    Running(String),
    /// It cannot be taken, or Velero could not take it: why, and what to do.
    Failed(String),
}

/// Takes the exit backup of `namespace` if it is not taken yet, and says
/// where it stands.
pub(super) async fn exit_backup_of(
    member: &Member,
    namespace: &str,
    confirmed_on: &str,
    ctx: &TenantContext,
) -> Result<ExitBackup, Error> {
    let Some(spec) = &member.spec.backup else {
        return Ok(ExitBackup::NotSubscribed);
    };
    let services = watch::all_services(&ctx.services).await;
    let target = match backup_target(spec.target.as_deref(), &services) {
        Ok(target) => target,
        Err(invalid) => return Ok(ExitBackup::Failed(format!("no exit backup: {invalid}"))),
    };
    let location = target
        .spec
        .backup_target
        .as_ref()
        .expect("backup_target() returns services with settings");
    let velero_namespace = &ctx.settings.velero_namespace;
    if location.velero_namespace != *velero_namespace {
        return Ok(ExitBackup::Failed(format!(
            "no exit backup: SharedService {} names Velero's namespace {}, but socle may act only in {velero_namespace}",
            target.name_any(),
            location.velero_namespace
        )));
    }
    if !velero::served(&ctx.shared.client).await {
        return Ok(ExitBackup::Failed(
            "no exit backup: Velero is not installed (the API server does not serve velero.io/v1); install it, and socle takes the exit backup".into(),
        ));
    }
    let backups = Api::<Backup>::namespaced(ctx.shared.client.clone(), velero_namespace);
    let name = exit_backup_name(namespace);
    let Some(live) = backups.get_opt(&name).await? else {
        let backup = exit_backup(&ExitBackupPlan {
            member: &member.name_any(),
            namespace,
            velero_namespace,
            storage_location: &location.storage_location,
            retention_days: ctx.settings.exit_backup_retention_days,
            purge_after: jiff::Timestamp::now()
                + jiff::SignedDuration::from_hours(
                    24 * i64::from(ctx.settings.exit_backup_retention_days),
                ),
            member_labels: member.labels(),
            confirmed_on,
        });
        match backups.create(&PostParams::default(), &backup).await {
            Ok(_) => ctx.shared.metrics.wrote(super::CONTROLLER, 1),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
        return Ok(ExitBackup::Running("New".into()));
    };
    let status = live.status.unwrap_or_default();
    let phase = status.phase.unwrap_or_else(|| "New".into());
    Ok(match phase.as_str() {
        "Completed" => ExitBackup::Completed(format!("{velero_namespace}/{name}")),
        "Failed" | "PartiallyFailed" | "FailedValidation" => {
            let why = status
                .validation_errors
                .iter()
                .chain(&status.failure_reason)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            ExitBackup::Failed(format!(
                "Velero's exit backup {velero_namespace}/{name} ended {phase}{}: `velero backup delete {name}` for socle to take another",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({why})")
                }
            ))
        }
        _ => ExitBackup::Running(phase),
    })
}

//! Writing the backup controller's part of a Member's status — the
//! `BackupReady` and `DrillHealthy` conditions and `status.backup` — under
//! its own field manager, only when something changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::json;

use super::health::{BACKUP_READY, DRILL_HEALTHY};
use crate::{
    api::{Member, member::BackupStatus},
    runtime::{Context, conditions::merge, status::apply_member_status},
};

/// Field manager of the backup controller's status fields.
pub const STATUS_MANAGER: &str = "socle-backup";
/// Condition types this controller owns.
const OWNED: [&str; 2] = [BACKUP_READY, DRILL_HEALTHY];

/// The member's conditions of this controller after `new` (each merged with
/// the old one, so that an unchanged status keeps its transition time).
pub fn owned_conditions(member: &Member, new: Vec<Condition>) -> Vec<Condition> {
    let mut all: Vec<Condition> = member
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    for condition in new {
        all = merge(&all, condition);
    }
    all.retain(|c| OWNED.contains(&c.type_.as_str()));
    all
}

/// Applies `conditions` and `backup` (both `None`/empty: this controller's
/// fields are removed), unless the Member already shows them.
pub async fn write(
    ctx: &Context,
    member: &Member,
    conditions: &[Condition],
    backup: Option<&BackupStatus>,
) -> Result<bool, kube::Error> {
    let status = member.status.clone().unwrap_or_default();
    let mut current: Vec<&Condition> = status
        .conditions
        .iter()
        .filter(|c| OWNED.contains(&c.type_.as_str()))
        .collect();
    current.sort_by(|a, b| a.type_.cmp(&b.type_));
    let mut wanted: Vec<&Condition> = conditions.iter().collect();
    wanted.sort_by(|a, b| a.type_.cmp(&b.type_));
    let unchanged = current == wanted && status.backup.as_ref() == backup;
    if unchanged {
        return Ok(false);
    }
    let mut patch = json!({"conditions": conditions});
    if let Some(backup) = backup {
        patch["backup"] = serde_json::to_value(backup).map_err(kube::Error::SerdeError)?;
    }
    apply_member_status(ctx, member, STATUS_MANAGER, patch).await?;
    Ok(true)
}

//! Writing a Member's status: each controller applies only the fields it
//! owns, under its own field manager, through the status subresource.
//! Conditions are a list-map keyed by type, so each controller's conditions
//! live beside the others' without overwriting them.

use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::api::Member;

/// Condition types that make a Member `Ready` when present: each capability
/// the member uses must be ready. Health reports (`DrillHealthy`, `VpnDrift`,
/// `Billable`) are shown beside Ready, not folded into it.
pub const READY_GATES: [&str; 3] = ["TenantReady", "VpnReady", "BackupReady"];

/// Applies `status` (a JSON object with only the fields `manager` owns) to
/// the Member's status subresource.
pub async fn apply_member_status(
    client: &Client,
    member: &Member,
    manager: &str,
    status: Value,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": Member::api_version(&()),
        "kind": Member::kind(&()),
        "status": status,
    });
    Api::<Member>::all(client.clone())
        .patch_status(
            &member.name_any(),
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

//! Status: the VPN controller's part of a Member's status — conditions
//! `VpnReady` and `VpnDrift`, and `status.vpn` — applied under its own field
//! manager, and only when something changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::json;

use crate::{
    api::{Member, member::VpnStatus},
    runtime::{Context, conditions::merge, status::apply_member_status},
};

/// Field manager of the VPN controller's status writes.
pub const MANAGER: &str = "socle-vpn";
/// The router holds socle's tunnel configuration.
pub const READY: &str = "VpnReady";
/// The router was changed by hand since socle's last push.
pub const DRIFT: &str = "VpnDrift";

/// Applies `ready`, `drift` (`None`: keep the current one) and `vpn`
/// (`None`: keep the current one) unless they are what the Member shows.
pub async fn write(
    ctx: &Context,
    member: &Member,
    ready: Condition,
    drift: Option<Condition>,
    vpn: Option<VpnStatus>,
) -> Result<(), kube::Error> {
    let old = member.status.clone().unwrap_or_default();
    let find = |type_: &str| old.conditions.iter().find(|c| c.type_ == type_).cloned();
    let mut conditions = merge(&old.conditions, ready);
    if let Some(drift) = drift {
        conditions = merge(&conditions, drift);
    }
    let owned: Vec<Condition> = conditions
        .into_iter()
        .filter(|c| c.type_ == READY || c.type_ == DRIFT)
        .collect();
    let vpn = vpn.or_else(|| old.vpn.clone());
    let unchanged = owned.iter().all(|c| find(&c.type_).as_ref() == Some(c))
        && find(DRIFT).is_none_or(|_| owned.iter().any(|c| c.type_ == DRIFT))
        && vpn == old.vpn;
    if unchanged {
        return Ok(());
    }
    apply_member_status(
        ctx,
        member,
        MANAGER,
        json!({"conditions": owned, "vpn": vpn}),
    )
    .await
}

/// Removes the VPN controller's conditions and `status.vpn` (the member has
/// no VPN any more).
pub async fn clear(ctx: &Context, member: &Member) -> Result<(), kube::Error> {
    let status = member.status.clone().unwrap_or_default();
    let has_any = status.vpn.is_some()
        || status
            .conditions
            .iter()
            .any(|c| c.type_ == READY || c.type_ == DRIFT);
    if !has_any {
        return Ok(());
    }
    apply_member_status(ctx, member, MANAGER, json!({"conditions": []})).await
}

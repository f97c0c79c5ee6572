//! Cleanup: a Member leaving the VPN (deleted, or `spec.vpn` removed) gets
//! its address quarantined, its key deleted and its hub peer removed. The
//! town hall's router is left as it is: it may be unreachable by then, and
//! without its hub peer the tunnel carries nothing.

use kube::{Resource, ResourceExt, runtime::events::EventType};

use super::{Error, VpnContext, hub_sync, ipam, secrets, status};
use crate::api::Member;

pub async fn offboard(member: &Member, ctx: &VpnContext) -> Result<(), Error> {
    let name = member.name_any();
    let client = &ctx.shared.client;
    let namespace = &ctx.shared.namespace;
    let gateways = ipam::release(client, namespace, &name).await?;
    secrets::delete_member_key(client, namespace, &name).await?;
    let services = ctx.all_services();
    for gateway in &gateways {
        if let Some(service) = services.iter().find(|s| s.name_any() == *gateway) {
            hub_sync::sync(ctx, service).await?;
        }
    }
    if member.meta().deletion_timestamp.is_none() {
        status::clear(client, member).await?;
    }
    ctx.shared
        .event(
            member,
            EventType::Normal,
            "VpnOffboarded",
            format!(
                "tunnel removed from gateway(s) {}; its address is quarantined for {:?}",
                gateways.join(", "),
                ctx.settings.quarantine
            ),
        )
        .await;
    Ok(())
}

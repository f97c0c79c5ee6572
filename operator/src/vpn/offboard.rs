//! Cleanup: a Member leaving the VPN (deleted, or `spec.vpn` removed).
//!
//! 1. The hub first: the member's address is released (it stays in
//!    quarantine, see [`super::ipam`]) and the hub is rendered without its
//!    peer, so the tunnel carries nothing from now on, whatever becomes of
//!    the router.
//! 2. The router socle last pushed to — recorded in the member's key
//!    Secret, since `spec.vpn` may be gone — has socle's configuration
//!    removed over SSH. A failure goes to `error_policy` (a Warning Event,
//!    tried again), and its first occurrence is recorded in the Secret. Once
//!    [`super::VpnSettings::router_cleanup_deadline`] has passed since,
//!    offboarding goes on without the router, with a Warning Event
//!    `RouterCleanupAbandoned` saying it must be cleaned by hand: a
//!    member's deletion never waits forever on a router that is gone. A
//!    member in dry run gets nothing written, removal included.
//! 3. The key Secret is deleted, and with it the router's key — only if
//!    its labels say it is socle's key of this member (a Warning Event says
//!    when a Secret of that name is not).

use jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt, runtime::events::EventType};
use tracing::warn;

use super::{
    Error, VpnContext, credentials, hub_sync, ipam, plan, push, router,
    secrets::{self, KeyRemoval},
    status,
};
use crate::{
    api::{Member, member::RouterSpec},
    runtime::chain,
};

pub async fn offboard(member: &Member, ctx: &VpnContext) -> Result<(), Error> {
    let name = member.name_any();
    let client = &ctx.shared.client;
    let namespace = &ctx.shared.namespace;
    let gateways = ipam::release(client, namespace, &name).await?;
    let services = ctx.all_services();
    for gateway in &gateways {
        if let Some(service) = services.iter().find(|s| s.name_any() == *gateway) {
            hub_sync::sync(ctx, service).await?;
        }
    }
    let router = clean_router(member, ctx).await?;
    if secrets::delete_member_key(client, namespace, &name).await? == KeyRemoval::NotOurs {
        ctx.shared
            .event(
                member,
                EventType::Warning,
                "KeySecretNotOurs",
                format!(
                    "Secret {} of namespace {namespace} has the name of member {name}'s key, but not socle's labels for it: left in place, for a person to look at",
                    secrets::member_secret(&name),
                ),
            )
            .await;
    }
    if member.meta().deletion_timestamp.is_none() {
        status::clear(&ctx.shared, member).await?;
    }
    ctx.shared
        .event(
            member,
            EventType::Normal,
            "VpnOffboarded",
            format!(
                "tunnel removed from gateway(s) {}; {router}; its address is quarantined for {:?}",
                gateways.join(", "),
                ctx.settings.quarantine
            ),
        )
        .await;
    Ok(())
}

/// Removes socle's configuration from the member's router; says what
/// became of the router.
async fn clean_router(member: &Member, ctx: &VpnContext) -> Result<String, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let interface = &ctx.settings.interface;
    let key = secrets::existing_member_key(client, namespace, &member.name_any()).await?;
    let Some((key, spec)) = key.and_then(|key| key.router.clone().map(|spec| (key, spec))) else {
        return Ok("socle had pushed nothing to a router".into());
    };
    let dialect = router::dialect(spec.dialect);
    let router = format!("{} ({})", spec.address, dialect.name());
    if member.spec.vpn.as_ref().is_some_and(|vpn| vpn.dry_run) {
        return Ok(format!(
            "router {router} left as it is (dry run): its interface {interface} is to be removed by hand"
        ));
    }
    let error = match remove_tunnel(ctx, &member.name_any(), &spec).await {
        Ok(true) => {
            return Ok(format!(
                "interface {interface} removed from router {router}"
            ));
        }
        Ok(false) => {
            return Ok(format!(
                "router {router} held no tunnel of socle's any more"
            ));
        }
        Err(error) => error,
    };
    let now = Timestamp::now();
    let since = key.cleanup_failing_since.unwrap_or(now);
    let deadline = SignedDuration::try_from(ctx.settings.router_cleanup_deadline)
        .unwrap_or(SignedDuration::MAX);
    let give_up_at = since.checked_add(deadline).unwrap_or(Timestamp::MAX);
    if now < give_up_at {
        if key.cleanup_failing_since.is_none() {
            secrets::record_cleanup_failing(client, namespace, &member.name_any(), now).await?;
        }
        return Err(Error::RouterCleanup {
            router,
            give_up_at,
            source: Box::new(error),
        });
    }
    let message = format!(
        "router {router} could not be cleaned since {since} ({}); socle gives up: remove its WireGuard interface {interface} and socle's firewall rules by hand",
        chain(&error)
    );
    warn!(router = %router, "router clean-up abandoned");
    ctx.shared
        .event(
            member,
            EventType::Warning,
            "RouterCleanupAbandoned",
            message,
        )
        .await;
    Ok(format!(
        "router {router} NOT cleaned (see the RouterCleanupAbandoned Event)"
    ))
}

/// Removes socle's interface from the router of `spec`, logged in with
/// `member`'s credentials; `true` when there was one. Also how a replaced
/// router is cleaned ([`super::replacement`]).
pub async fn remove_tunnel(
    ctx: &VpnContext,
    member: &str,
    spec: &RouterSpec,
) -> Result<bool, Error> {
    let interface = &ctx.settings.interface;
    plan::check_interface(interface)?;
    let mut session = credentials::session(ctx, member, spec).await?;
    let removed = push::remove(&mut session, router::dialect(spec.dialect), interface).await;
    session.close().await;
    Ok(removed?)
}

//! Cleanup: a Member leaving the VPN (deleted, or `spec.vpn` removed), or
//! a site leaving it (gone from `spec.vpn.sites`, see [`remove_sites`]).
//! Each site goes the same way, and a site's removal touches nothing of
//! the member's other sites:
//!
//! 1. The hub first: the site's address is released (it stays in
//!    quarantine, see [`super::ipam`]) and the hub is rendered without its
//!    peer, so the tunnel carries nothing from now on, whatever becomes of
//!    the router.
//! 2. The router socle last pushed to — recorded in the site's key
//!    Secret, since the spec may no longer name it — has socle's
//!    configuration removed over SSH. A failure goes to `error_policy` (a
//!    Warning Event, tried again), and its first occurrence is recorded in
//!    the Secret. Once [`super::VpnSettings::router_cleanup_deadline`] has
//!    passed since, offboarding goes on without the router, with a Warning
//!    Event `RouterCleanupAbandoned` saying it must be cleaned by hand: a
//!    member's deletion never waits forever on a router that is gone. A
//!    member in dry run gets nothing written, removal included.
//! 3. The key Secret is deleted, and with it the router's key — only if
//!    its labels say it is socle's key of this member's site (a Warning
//!    Event says when a Secret of that name is not).

use jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt, runtime::events::EventType};
use tracing::warn;

use super::{
    Error, VpnContext, credentials, hub_sync, ipam,
    plan::{self, VpnPlan},
    push, router,
    secrets::{self, KeyRemoval, MemberKey},
    status,
};
use crate::{
    api::{Member, SharedService, member::RouterSpec},
    runtime::chain,
};

/// Takes every site of the member down.
pub async fn offboard(member: &Member, ctx: &VpnContext) -> Result<(), Error> {
    let name = member.name_any();
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let gateways = release(ctx, &name, None).await?;
    let mut routers = Vec::new();
    for (site, key) in secrets::member_keys(client, namespace, &name).await? {
        routers.push(take_down(member, ctx, &site, key).await?);
    }
    if routers.is_empty() {
        routers.push("socle had pushed nothing to a router".to_owned());
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
                "tunnel removed from gateway(s) {}; {}; its address is quarantined for {:?}",
                gateways.join(", "),
                routers.join("; "),
                ctx.settings.quarantine
            ),
        )
        .await;
    Ok(())
}

/// Takes down the sites of the member that `plan` no longer lists: those
/// with a key Secret or an address claim of their own. Nothing of the
/// sites it lists is touched.
pub async fn remove_sites(
    member: &Member,
    ctx: &VpnContext,
    plan: &VpnPlan,
    gateway: &SharedService,
) -> Result<(), Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let listed = |site: &str| plan.sites.iter().any(|s| s.name == site);
    let keys: Vec<(String, MemberKey)> = secrets::member_keys(client, namespace, &plan.member)
        .await?
        .into_iter()
        .filter(|(site, _)| !listed(site))
        .collect();
    let mut gone: Vec<String> = ipam::claims(client, namespace, &plan.gateway)
        .await?
        .into_iter()
        .filter(|c| c.member == plan.member && c.released_at.is_none() && !listed(&c.site))
        .map(|c| c.site)
        .chain(keys.iter().map(|(site, _)| site.clone()))
        .collect();
    gone.sort();
    gone.dedup();
    if gone.is_empty() {
        return Ok(());
    }
    for site in &gone {
        release(ctx, &plan.member, Some(site)).await?;
    }
    // The hub renders only the listed sites: this drops the others' peers
    // even when their claims were in another gateway's pool.
    hub_sync::sync(ctx, gateway).await?;
    for (site, key) in keys {
        let router = take_down(member, ctx, &site, key).await?;
        ctx.shared
            .event(
                member,
                EventType::Normal,
                "VpnSiteRemoved",
                format!(
                    "site {site} is no longer in spec.vpn: its hub peer is dropped, its address quarantined for {:?}; {router}",
                    ctx.settings.quarantine
                ),
            )
            .await;
    }
    Ok(())
}

/// Releases the member's claims (of `site` only, when given) and renders
/// the hubs concerned without them; returns those gateways.
async fn release(ctx: &VpnContext, member: &str, site: Option<&str>) -> Result<Vec<String>, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let gateways = ipam::release(client, namespace, member, site).await?;
    let services = ctx.all_services();
    for gateway in &gateways {
        if let Some(service) = services.iter().find(|s| s.name_any() == *gateway) {
            hub_sync::sync(ctx, service).await?;
        }
    }
    Ok(gateways)
}

/// After the hub: the site's router cleaned, then its key deleted; says
/// what became of the router.
async fn take_down(
    member: &Member,
    ctx: &VpnContext,
    site: &str,
    key: MemberKey,
) -> Result<String, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let name = member.name_any();
    let router = clean_router(member, ctx, site, key).await?;
    if secrets::delete_member_key(client, namespace, &name, site).await? == KeyRemoval::NotOurs {
        ctx.shared
            .event(
                member,
                EventType::Warning,
                "KeySecretNotOurs",
                format!(
                    "Secret {} of namespace {namespace} has the name of {}'s key, but not socle's labels for it: left in place, for a person to look at",
                    secrets::member_secret(&plan::tunnel_name(&name, site)),
                    plan::describe_site(&name, site),
                ),
            )
            .await;
    }
    Ok(router)
}

/// Removes socle's configuration from the site's router; says what became
/// of the router.
async fn clean_router(
    member: &Member,
    ctx: &VpnContext,
    site: &str,
    key: MemberKey,
) -> Result<String, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let interface = &ctx.settings.interface;
    let Some(spec) = key.router.clone() else {
        return Ok(format!("socle had pushed nothing to site {site}'s router"));
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
            let tunnel = plan::tunnel_name(&member.name_any(), site);
            secrets::record_cleanup_failing(client, namespace, &tunnel, now).await?;
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

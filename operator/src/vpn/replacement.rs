//! A replaced router: a site's router (`spec.vpn.sites[].router`, or
//! `spec.vpn.router`) names another device than the one socle last
//! configured for that site (recorded with each push in the site's key
//! Secret, see [`super::secrets`]; a router spec names a Secret, never
//! holds one).
//!
//! The old router holds the member's private key: returned, sold or
//! stolen, it could still bring the commune's tunnel up and take its
//! traffic. So before anything reaches the new router:
//!
//! 1. the old router is cleaned as offboarding cleans it
//!    ([`super::offboard::remove_tunnel`]), with the old spec's
//!    credentials — which must still be labelled as the member's. One
//!    attempt: an old router that cannot be reached or cleaned gets a
//!    Warning Event `OldRouterNotCleaned` saying why and what to remove by
//!    hand, and the replacement goes on, since step 2 makes what it holds
//!    useless (only an error of the API server, which says nothing of the
//!    router, is tried again);
//! 2. the member's key is replaced at once ([`secrets::replace_key`]): the
//!    hub, rendered next, knows only the new key, so the old router's
//!    tunnel can no longer come up. The same write forgets the old router
//!    and what it was pushed, so that the new router, which socle has
//!    pushed nothing to, is configured in full instead of its empty
//!    configuration being taken for drift;
//! 3. the reconcile goes on as usual: the hub, then the new router.
//!
//! A restart before step 2 cleans again (removing nothing is no error); one
//! after it finds no old router recorded. In dry run nothing is cleaned
//! and the key stays: only the diff for the new router is shown.

use kube::{ResourceExt, runtime::events::EventType};
use tracing::{info, warn};

use super::{Error, VpnContext, offboard, plan::SitePlan, router, secrets, secrets::MemberKey};
use crate::{
    api::{Member, member::RouterSpec},
    runtime::chain,
};

/// Whether `wanted` is another router than `recorded`: another address,
/// port or host key. A new dialect or login on the same device is not a
/// new router.
pub fn is_other(recorded: &RouterSpec, wanted: &RouterSpec) -> bool {
    (&recorded.address, recorded.port, &recorded.host_key)
        != (&wanted.address, wanted.port, &wanted.host_key)
}

/// `key`, or a new one after cleaning the old router when the router
/// socle last configured for `site` is not the one it names now.
pub async fn replace_if_changed(
    member: &Member,
    ctx: &VpnContext,
    site: &SitePlan,
    key: MemberKey,
) -> Result<MemberKey, Error> {
    let old = match &key.router {
        Some(old) if !site.dry_run && is_other(old, &site.router) => old.clone(),
        _ => return Ok(key),
    };
    let member_name = member.name_any();
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let interface = &ctx.settings.interface;
    let name = describe(&old);
    let cleaned = match offboard::remove_tunnel(ctx, &member_name, &old).await {
        Ok(true) => format!("interface {interface} removed from it"),
        Ok(false) => "it held no tunnel of socle's any more".to_owned(),
        // The API server failing to give the old login is no news about
        // the old router: the clean-up is tried again.
        Err(error @ Error::Kube(_)) => return Err(error),
        Err(error) => {
            warn!(router = %name, "replaced router not cleaned");
            ctx.shared
                .event(
                    member,
                    EventType::Warning,
                    "OldRouterNotCleaned",
                    format!(
                        "the previous router {name} could not be cleaned ({}); its key is retired, so it can no longer bring the tunnel up: remove its WireGuard interface {interface} and socle's firewall rules by hand",
                        chain(&error)
                    ),
                )
                .await;
            "it could NOT be cleaned (see the OldRouterNotCleaned Event)".to_owned()
        }
    };
    let retired = key.pair.public_key().to_owned();
    let key = secrets::replace_key(client, namespace, &site.tunnel, key).await?;
    info!(site = %site.name, old = %name, new = %describe(&site.router), "router replaced, key replaced");
    ctx.shared
        .event(
            member,
            EventType::Normal,
            "RouterReplaced",
            format!(
                "router {name} of {} replaced by {}: {cleaned}; the WireGuard key is replaced (public key {}, the previous key {retired} is retired at the hub)",
                super::plan::describe_site(&member_name, &site.name),
                describe(&site.router),
                key.pair.public_key(),
            ),
        )
        .await;
    Ok(key)
}

/// "address:port (dialect)" of a router.
fn describe(spec: &RouterSpec) -> String {
    format!(
        "{}:{} ({})",
        spec.address,
        spec.port,
        router::dialect(spec.dialect).name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::member::RouterDialect;

    fn spec() -> RouterSpec {
        serde_yaml::from_str(
            "{address: 192.0.2.1, port: 22, dialect: openwrt, hostKey: 'ssh-ed25519 AAAA', credentialsSecret: router-allaire}",
        )
        .unwrap()
    }

    #[test]
    fn another_address_port_or_host_key_is_another_router() {
        let recorded = spec();
        assert!(!is_other(&recorded, &recorded));
        let mut moved = spec();
        moved.address = "192.0.2.2".into();
        assert!(is_other(&recorded, &moved));
        let mut port = spec();
        port.port = 2222;
        assert!(is_other(&recorded, &port));
        let mut swapped = spec();
        swapped.host_key = "ssh-ed25519 BBBB".into();
        assert!(is_other(&recorded, &swapped));
    }

    #[test]
    fn a_new_login_or_dialect_is_the_same_router() {
        let recorded = spec();
        let mut same = spec();
        same.credentials_secret = "router-allaire-2".into();
        same.dialect = RouterDialect::Linux;
        assert!(!is_other(&recorded, &same));
    }
}

//! Apply, at the hub: the gateway's configuration Secret re-rendered from
//! every member holding an address in its pool, under the gateway's lock;
//! and whether the hub runs a key yet ([`lists`]).

use kube::{Resource, ResourceExt};

use super::{Error, VpnContext, cidr::Network, gateway, hub, ipam, plan, secrets};
use crate::{api::SharedService, runtime::apply::apply};

/// Renders and applies the hub Secret of `gateway`; returns the hub's
/// public key. A site is a peer when it holds an address of the pool, its
/// member is not leaving, it is still in the member's spec, and the
/// member's VPN validates (an overlapping newcomer is not).
pub async fn sync(ctx: &VpnContext, gateway: &SharedService) -> Result<String, Error> {
    let name = gateway.name_any();
    let Some(settings) = &gateway.spec.vpn_gateway else {
        return Err(plan::InvalidVpn::Spec(format!(
            "SharedService {name} has no spec.vpnGateway settings"
        ))
        .into());
    };
    let pool: Network = settings.tunnel_pool_cidr.parse().map_err(|error| {
        plan::InvalidVpn::Spec(format!("SharedService {name}: tunnelPoolCidr: {error}"))
    })?;
    let client = &ctx.shared.client;
    let namespace = &ctx.shared.namespace;
    let lock = ctx.hub_lock(&name);
    let _rendering = lock.lock().await;
    let hub_key = secrets::gateway_key(client, namespace, &name).await?;
    // Read inside the lock: every claim made before it was taken is seen.
    let claims = ipam::claims(client, namespace, &name).await?;
    let keys = secrets::member_public_keys(client, namespace).await?;
    let members = ctx.all_members();
    let services = ctx.all_services();
    let peers: Vec<hub::Peer> = claims
        .iter()
        .filter(|claim| claim.released_at.is_none())
        .filter_map(|claim| {
            let member = members.iter().find(|m| {
                m.name_any() == claim.member
                    && m.meta().deletion_timestamp.is_none()
                    && m.spec.vpn.as_ref().is_some_and(|vpn| vpn.gateway == name)
            })?;
            let plan = plan::plan(member, &services, &members, &ctx.settings.cluster_cidrs).ok()?;
            let site = plan
                .sites
                .into_iter()
                .find(|site| site.name == claim.site)?;
            let keys = keys.get(&site.tunnel)?;
            Some(hub::Peer {
                member: site.tunnel,
                public_key: keys.current.clone(),
                next_public_key: keys.next.clone(),
                address: claim.address,
                sites: site.networks,
            })
        })
        .collect();
    let config = hub::render(
        &hub::Hub {
            gateway: &name,
            private_key: hub_key.private_key(),
            pool,
            listen_port: settings.listen_port,
        },
        &peers,
    );
    let owner = gateway
        .controller_owner_ref(&())
        .expect("a SharedService from the API server has a name and uid");
    if apply(client, &hub::secret(&settings.namespace, owner, &config)).await? {
        ctx.shared.metrics.wrote(super::CONTROLLER, 1);
    }
    Ok(hub_key.public_key().to_owned())
}

/// Whether the hub of the gateway in `namespace` lists `public_key` among
/// its peers; always true when no gateway API is set
/// ([`super::VpnSettings::gateway_api`]).
pub async fn lists(ctx: &VpnContext, namespace: &str, public_key: &str) -> Result<bool, Error> {
    let Some(api) = &ctx.settings.gateway_api else {
        return Ok(true);
    };
    let base = api.replace("{namespace}", namespace);
    let hub = gateway::client::peers(&base, ctx.settings.ssh_timeout).await?;
    Ok(hub.peers.iter().any(|peer| peer.public_key == public_key))
}

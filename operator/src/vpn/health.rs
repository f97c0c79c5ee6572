//! Tunnel health, from the hub: every [`VpnSettings::health_interval`],
//! one `GET /peers` per gateway (no SSH, no reconcile), and for each site
//! with a tunnel, when the hub last heard from its router (its latest
//! handshake or the latest bytes received; the router sends a keepalive
//! every 25 s). Heard within [`VpnSettings::silence_bound`]: the site is
//! healthy; otherwise not, saying since when. The Member's `VpnHealthy` is
//! True when every site is, otherwise False naming the silent sites
//! ([`super::status::per_site`]); each site's verdict is its
//! `status.vpn.sites[].health`. A change of `VpnHealthy` is a `TunnelDown`
//! (Warning) or `TunnelUp` (Normal) Event; the age of each site's latest
//! handshake is the gauge `socle_vpn_handshake_age_seconds{member,site}`.
//!
//! `VpnHealthy` and the sites' `health` are written under their own field
//! manager, so that the reconcile's status writes (`VpnReady`, `VpnDrift`,
//! the sites' tunnels) and these never remove each other's fields.
//!
//! [`VpnSettings::health_interval`]: super::VpnSettings::health_interval
//! [`VpnSettings::silence_bound`]: super::VpnSettings::silence_bound

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Resource, ResourceExt, runtime::events::EventType};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{family::Family, gauge::Gauge},
};
use serde_json::json;
use tracing::warn;

use super::{
    VpnContext,
    gateway::stats::HubStats,
    plan::tunnel_name,
    status::{SiteVerdict, per_site},
};
use crate::{
    api::Member,
    runtime::{
        conditions::{condition, merge},
        status::apply_member_status,
        watch,
    },
};

/// The condition.
pub const HEALTHY: &str = "VpnHealthy";
/// Field manager of its writes.
pub const MANAGER: &str = "socle-vpn-health";

/// What the hub says of one member's router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    /// Unix time of the latest handshake, if any.
    pub handshake: Option<u64>,
    /// Unix time the hub last heard anything (handshake or bytes), if ever.
    pub last: Option<u64>,
}

/// What the hub says of the tunnel `tunnel` (a site's, see
/// [`super::plan::tunnel_name`]): over its keys (two during a rotation).
pub fn heard(hub: &HubStats, tunnel: &str) -> Heard {
    let peers = hub.peers.iter().filter(|peer| peer.member == tunnel);
    let (mut handshake, mut last) = (None, None);
    for peer in peers {
        handshake = handshake.max(peer.latest_handshake);
        last = last.max(peer.latest_handshake).max(peer.latest_receive);
    }
    Heard { handshake, last }
}

/// `VpnHealthy` for a router the hub heard from as `heard`, at `now`.
/// Its message names no age that moves: an unchanged verdict writes
/// nothing.
pub fn judge(heard: Heard, now: u64, bound: Duration, generation: Option<i64>) -> Condition {
    let bound_s = bound.as_secs();
    match heard.last {
        Some(last) if now.saturating_sub(last) <= bound_s => condition(
            HEALTHY,
            true,
            "RouterHeard",
            format!("the hub heard from the router within the last {bound_s} s"),
            generation,
        ),
        Some(last) => condition(
            HEALTHY,
            false,
            "RouterSilent",
            format!(
                "the hub has heard nothing from the router since {} (more than {bound_s} s): the tunnel is down",
                unix(last)
            ),
            generation,
        ),
        None => condition(
            HEALTHY,
            false,
            "NoHandshake",
            "the router has not made a handshake with the hub yet",
            generation,
        ),
    }
}

fn unix(seconds: u64) -> Timestamp {
    Timestamp::from_second(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX)
}

/// The age of each site's latest handshake, for `/metrics`.
#[derive(Clone, Debug, Default)]
struct HandshakeAges(Arc<Mutex<BTreeMap<SiteLabels, i64>>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct SiteLabels {
    member: String,
    site: String,
}

impl Collector for HandshakeAges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let family = Family::<SiteLabels, Gauge>::default();
        for (site, age) in self.0.lock().expect("not poisoned").iter() {
            family.get_or_create(site).set(*age);
        }
        let metric = encoder.encode_descriptor(
            "socle_vpn_handshake_age_seconds",
            "Seconds since the router of the member's site made its latest handshake with the hub",
            None,
            family.metric_type(),
        )?;
        family.encode(metric)
    }
}

/// Looks at every gateway's hub each interval until the task is dropped.
/// Does nothing without a gateway API ([`super::VpnSettings::gateway_api`]).
pub async fn watch(ctx: Arc<VpnContext>) {
    let Some(api) = ctx.settings.gateway_api.clone() else {
        return;
    };
    let ages = HandshakeAges::default();
    ctx.shared
        .metrics
        .register_collector(Box::new(ages.clone()));
    let quality = crate::quality::TunnelRecorder::new(&ctx.shared);
    let mut ticks = tokio::time::interval(ctx.settings.health_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        ctx.services.wait_until_ready().await;
        watch::until_ready(&ctx.members).await;
        let members = ctx.all_members();
        let mut seen = BTreeMap::new();
        for gateway in ctx.all_services() {
            let Some(settings) = &gateway.spec.vpn_gateway else {
                continue;
            };
            let base = api.replace("{namespace}", &settings.namespace);
            let hub = match super::gateway::client::peers(&base, ctx.settings.ssh_timeout).await {
                Ok(hub) => hub,
                Err(error) => {
                    warn!(%error, gateway = %gateway.name_any(), "tunnel health not read");
                    continue;
                }
            };
            let now = u64::try_from(Timestamp::now().as_second()).unwrap_or(0);
            for member in &members {
                let sites = with_tunnel(member, &gateway.name_any());
                if sites.is_empty() {
                    continue;
                }
                let mut verdicts = Vec::with_capacity(sites.len());
                for site in sites {
                    let name = member.name_any();
                    let heard = heard(&hub, &tunnel_name(&name, &site));
                    quality
                        .observed(&name, &site, heard, now, ctx.settings.silence_bound)
                        .await;
                    if let Some(handshake) = heard.handshake {
                        let age = i64::try_from(now.saturating_sub(handshake)).unwrap_or(i64::MAX);
                        seen.insert(
                            SiteLabels {
                                member: name,
                                site: site.clone(),
                            },
                            age,
                        );
                    }
                    let verdict = judge(heard, now, ctx.settings.silence_bound, None);
                    verdicts.push(SiteVerdict {
                        site,
                        ready: verdict.status == "True",
                        reason: verdict.reason,
                        message: verdict.message,
                    });
                }
                if let Err(error) = record(&ctx, member, &verdicts).await {
                    warn!(%error, member = %member.name_any(), "VpnHealthy not written");
                }
            }
        }
        *ages.0.lock().expect("not poisoned") = seen;
        for member in members.iter().filter(|m| m.spec.vpn.is_none()) {
            if let Err(error) = clear(&ctx, member).await {
                warn!(%error, member = %member.name_any(), "VpnHealthy not removed");
            }
        }
    }
}

/// The sites of `member` with a configured tunnel at `gateway` (a public
/// key in status), in spec order.
fn with_tunnel(member: &Member, gateway: &str) -> Vec<String> {
    let Some(vpn) = member
        .spec
        .vpn
        .as_ref()
        .filter(|vpn| vpn.gateway == gateway)
    else {
        return Vec::new();
    };
    if member.meta().deletion_timestamp.is_some() {
        return Vec::new();
    }
    let status = member
        .status
        .as_ref()
        .and_then(|status| status.vpn.as_ref());
    vpn.sites()
        .iter()
        .filter(|site| {
            status
                .and_then(|status| status.site(site.name))
                .is_some_and(|status| status.public_key.is_some())
        })
        .map(|site| site.name.to_owned())
        .collect()
}

/// Writes the Member's `VpnHealthy` and each site's `health` from the
/// sites' `verdicts` unless the Member shows them; an Event when the
/// member's tunnels went down or came back.
async fn record(
    ctx: &VpnContext,
    member: &Member,
    verdicts: &[SiteVerdict],
) -> Result<(), kube::Error> {
    let verdict = per_site(
        HEALTHY,
        ("RouterHeard", "heard"),
        verdicts,
        member.meta().generation,
    );
    let status = member.status.clone().unwrap_or_default();
    let old = status
        .conditions
        .iter()
        .find(|c| c.type_ == HEALTHY)
        .cloned();
    let merged = merge(&status.conditions, verdict.clone());
    let new = merged
        .into_iter()
        .find(|c| c.type_ == HEALTHY)
        .expect("merged in");
    let sites: Vec<(String, String)> = verdicts
        .iter()
        .map(|v| (v.site.clone(), v.reason.clone()))
        .collect();
    let shown: Vec<(String, String)> = status
        .vpn
        .iter()
        .flat_map(|vpn| &vpn.sites)
        .filter_map(|site| Some((site.name.clone(), site.health.clone()?)))
        .collect();
    if old.as_ref() == Some(&new) && shown == sites {
        return Ok(());
    }
    let health: Vec<serde_json::Value> = sites
        .iter()
        .map(|(name, health)| json!({"name": name, "health": health}))
        .collect();
    apply_member_status(
        &ctx.shared,
        member,
        MANAGER,
        json!({"conditions": [new], "vpn": {"sites": health}}),
    )
    .await?;
    let event = match old.map(|old| old.status) {
        Some(was) if was == "True" && verdict.status == "False" => {
            Some((EventType::Warning, "TunnelDown"))
        }
        Some(was) if was == "False" && verdict.status == "True" => {
            Some((EventType::Normal, "TunnelUp"))
        }
        _ => None,
    };
    if let Some((type_, reason)) = event {
        ctx.shared
            .event(member, type_, reason, verdict.message)
            .await;
    }
    Ok(())
}

/// Removes `VpnHealthy` and the sites' `health` from a member that no
/// longer has a tunnel.
async fn clear(ctx: &VpnContext, member: &Member) -> Result<(), kube::Error> {
    let has = member.status.as_ref().is_some_and(|status| {
        status.conditions.iter().any(|c| c.type_ == HEALTHY)
            || status
                .vpn
                .iter()
                .flat_map(|vpn| &vpn.sites)
                .any(|site| site.health.is_some())
    });
    if !has {
        return Ok(());
    }
    apply_member_status(&ctx.shared, member, MANAGER, json!({"conditions": []})).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::gateway::stats::PeerStats;

    fn peer(member: &str, key: &str, handshake: Option<u64>, receive: Option<u64>) -> PeerStats {
        PeerStats {
            member: member.into(),
            public_key: key.into(),
            endpoint: None,
            latest_handshake: handshake,
            latest_receive: receive,
            received_bytes: 0,
            sent_bytes: 0,
        }
    }

    #[test]
    fn a_router_is_healthy_while_the_hub_hears_from_it_within_the_bound() {
        let hub = HubStats {
            interface: "wg0".into(),
            peers: vec![
                peer("allaire", "old", Some(1000), Some(1100)),
                peer("allaire", "next", Some(1150), None),
                peer("bains", "b", None, None),
            ],
        };
        let allaire = heard(&hub, "allaire");
        assert_eq!(
            allaire,
            Heard {
                handshake: Some(1150),
                last: Some(1150)
            }
        );
        let bound = Duration::from_secs(90);
        let up = judge(allaire, 1200, bound, Some(3));
        assert_eq!(
            (up.status.as_str(), up.reason.as_str()),
            ("True", "RouterHeard")
        );
        let down = judge(allaire, 1300, bound, Some(3));
        assert_eq!(
            (down.status.as_str(), down.reason.as_str()),
            ("False", "RouterSilent")
        );
        assert!(
            down.message.contains("1970-01-01T00:19:10Z"),
            "{}",
            down.message
        );
        assert_eq!(
            judge(allaire, 1400, bound, Some(3)).message,
            down.message,
            "the same verdict, the same message"
        );
        let never = judge(heard(&hub, "bains"), 1200, bound, None);
        assert_eq!(never.reason, "NoHandshake");
    }
}

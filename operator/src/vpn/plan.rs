//! Validate: from a Member, its gateway and the other Members, the tunnel to
//! build — or a message saying what to fix. Pure: everything is passed in.
//!
//! Site networks must not overlap the tunnel pool, the Datacenter's ranges,
//! each other, or another member's sites: two town halls announcing the same
//! prefix would steal each other's traffic at the hub. When two members
//! overlap, the one the hub already routes the prefix to keeps it and the
//! member that changed its networks, or arrives, is refused (see
//! [`check_other_members`]), so an existing commune is never cut off by a
//! mistake in someone else's manifest.
//!
//! Every value that goes into a router's scripts is checked here against
//! what it may hold, whatever the CRD schema already let through: the
//! dialects write values as they are, into wg-quick files whose hooks run
//! as root and into `uci batch` lines, so one newline or quote would add a
//! command of its own (defence in depth). The plan's values are checked by
//! [`plan`]; the operator's interface name and the keys by
//! [`VpnPlan::tunnel`], the last step before a dialect writes them.

use std::{
    borrow::Borrow,
    net::{IpAddr, Ipv4Addr},
};

use kube::ResourceExt;
use zeroize::Zeroizing;

use super::{cidr::Network, router::Tunnel, secrets};
use crate::api::{
    Member, SharedService,
    member::{RouterSpec, SiteRef, TOWN_HALL},
    shared_service::ServiceCategory,
};

/// Everything the rest of the reconcile needs, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct VpnPlan {
    /// `metadata.name` of the Member.
    pub member: String,
    /// Name of the gateway SharedService.
    pub gateway: String,
    /// Namespace of the gateway Deployment, where the hub Secret goes.
    pub gateway_namespace: String,
    /// Host (or address) of the hub's public endpoint.
    pub endpoint_host: String,
    /// UDP port of the hub's public endpoint.
    pub endpoint_port: u16,
    /// UDP port the hub listens on.
    pub listen_port: u16,
    /// The gateway's tunnel pool.
    pub pool: Network,
    /// The commune's sites, one tunnel each, in spec order.
    pub sites: Vec<SitePlan>,
    /// What each router sends through its tunnel: the pool and the
    /// Datacenter's ranges.
    pub routed: Vec<Network>,
    pub correct_drift: bool,
}

/// One site's tunnel, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SitePlan {
    /// The site's name (`mairie` for the single-router form).
    pub name: String,
    /// The tunnel's own name ([`tunnel_name`]): its key Secret, address
    /// claim and hub peer go by it.
    pub tunnel: String,
    /// The site's networks.
    pub networks: Vec<Network>,
    pub router: RouterSpec,
    /// The site's own dry run or the whole VPN's.
    pub dry_run: bool,
}

/// The name of `member`'s tunnel to `site`: the member's own name for the
/// town hall (the single-router form's site, whose key Secret, claim and
/// hub peer keep the names they always had), `<member>.<site>` for the
/// others. A dot, which neither a site name nor (for a member with other
/// sites, see [`plan`]) a member name holds, keeps two members' tunnel
/// names apart.
pub fn tunnel_name(member: &str, site: &str) -> String {
    if site == TOWN_HALL {
        member.to_owned()
    } else {
        format!("{member}.{site}")
    }
}

/// "member allaire" for the town hall, "member allaire (site ecole)" for
/// another site: how messages name a site.
pub fn describe_site(member: &str, site: &str) -> String {
    if site == TOWN_HALL {
        format!("member {member}")
    } else {
        format!("member {member} (site {site})")
    }
}

/// A spec the tunnel cannot be built from; the message names the field, and
/// for an overlap both members and the prefix.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidVpn {
    #[error("{0}")]
    Spec(String),
    #[error("{0}")]
    Overlap(String),
}

/// Validates `member`'s VPN against the gateways in `services`, the sites
/// of `members` (all Members; the member itself is skipped) and the
/// Datacenter's ranges.
pub fn plan(
    member: &Member,
    services: &[SharedService],
    members: &[impl Borrow<Member>],
    cluster_cidrs: &[String],
) -> Result<VpnPlan, InvalidVpn> {
    let name = member.name_any();
    let spec = member
        .spec
        .vpn
        .as_ref()
        .ok_or_else(|| InvalidVpn::Spec("spec.vpn is not set".into()))?;
    let gateway = services
        .iter()
        .find(|s| s.name_any() == spec.gateway && s.spec.category == ServiceCategory::VpnGateway)
        .ok_or_else(|| {
            InvalidVpn::Spec(format!(
                "spec.vpn.gateway: SharedService {} (category VpnGateway) does not exist",
                spec.gateway
            ))
        })?;
    let settings = gateway.spec.vpn_gateway.as_ref().ok_or_else(|| {
        InvalidVpn::Spec(format!(
            "SharedService {} has no spec.vpnGateway settings",
            spec.gateway
        ))
    })?;
    let pool: Network = settings.tunnel_pool_cidr.parse().map_err(|error| {
        InvalidVpn::Spec(format!(
            "SharedService {}: tunnelPoolCidr: {error}",
            spec.gateway
        ))
    })?;
    if !pool.address().is_ipv4() || pool.prefix() > 30 {
        return Err(InvalidVpn::Spec(format!(
            "SharedService {}: tunnelPoolCidr {pool} must be an IPv4 network of at least 4 addresses",
            spec.gateway
        )));
    }
    let (endpoint_host, endpoint_port) =
        split_endpoint(&settings.public_endpoint).ok_or_else(|| {
            InvalidVpn::Spec(format!(
                "SharedService {}: publicEndpoint {:?} must be host:port",
                spec.gateway, settings.public_endpoint
            ))
        })?;
    if endpoint_host.parse::<IpAddr>().is_err() && !is_dns_name(&endpoint_host) {
        return Err(unfit(
            &format!(
                "SharedService {}: publicEndpoint's host {endpoint_host:?}",
                spec.gateway
            ),
            "an IP address or a DNS name (letters, digits, '-' and '.')",
        ));
    }
    // In the scripts' comments and in a uci description.
    if !is_dns_name(&name) {
        return Err(unfit(
            &format!("metadata.name {name:?}"),
            "a DNS name (letters, digits, '-' and '.')",
        ));
    }
    let sites = site_plans(&name, &spec.sites())?;
    let cluster: Vec<Network> = cluster_cidrs
        .iter()
        .map(|c| c.parse())
        .collect::<Result<_, _>>()
        .map_err(|error| InvalidVpn::Spec(format!("operator setting cluster ranges: {error}")))?;
    check_overlaps(&name, &sites, pool, &cluster)?;
    check_other_members(member, &sites, members)?;
    let mut routed = vec![pool];
    routed.extend(cluster);
    Ok(VpnPlan {
        member: name,
        gateway: spec.gateway.clone(),
        gateway_namespace: settings.namespace.clone(),
        endpoint_host,
        endpoint_port,
        listen_port: settings.listen_port,
        pool,
        sites,
        routed,
        correct_drift: spec.correct_drift,
    })
}

/// The sites, checked one by one and against each other: at least one,
/// names unique, one router each.
fn site_plans(member: &str, sites: &[SiteRef<'_>]) -> Result<Vec<SitePlan>, InvalidVpn> {
    if sites.is_empty() {
        return Err(InvalidVpn::Spec(
            "spec.vpn has no site: set spec.vpn.sites, or spec.vpn.router with spec.vpn.siteCidrs"
                .into(),
        ));
    }
    let mut plans: Vec<SitePlan> = Vec::new();
    for site in sites {
        let path = site.path;
        if let Some(twin) = plans.iter().find(|p| p.name == site.name) {
            return Err(InvalidVpn::Spec(format!(
                "{path}.name: site {} is listed twice",
                twin.name
            )));
        }
        if let Some(twin) = plans.iter().find(|p| {
            (&p.router.address, p.router.port) == (&site.router.address, site.router.port)
        }) {
            return Err(InvalidVpn::Spec(format!(
                "{path}.router: sites {} and {} name the same router {}:{}; a router carries one tunnel of socle's, so give both sites' networks to one site",
                twin.name, site.name, site.router.address, site.router.port
            )));
        }
        if site.name != TOWN_HALL && member.contains('.') {
            return Err(unfit(
                &format!("metadata.name {member:?} of a member with a site other than {TOWN_HALL}"),
                "a DNS label (no '.'): the site's tunnel is named <member>.<site>",
            ));
        }
        let networks = site
            .site_cidrs
            .iter()
            .map(|cidr| {
                cidr.parse()
                    .map_err(|error| InvalidVpn::Spec(format!("{path}.siteCidrs: {error}")))
            })
            .collect::<Result<_, _>>()?;
        plans.push(SitePlan {
            name: site.name.to_owned(),
            tunnel: tunnel_name(member, site.name),
            networks,
            router: site.router.clone(),
            dry_run: site.dry_run,
        });
    }
    Ok(plans)
}

impl VpnPlan {
    /// The router's side of `site`'s tunnel, with its `address`, the
    /// key the router must run and the hub's public key. The addresses,
    /// networks and ports are typed: they print as digits, dots, colons and
    /// slashes only.
    pub fn tunnel(
        &self,
        site: &SitePlan,
        interface: &str,
        private_key: Zeroizing<String>,
        address: Ipv4Addr,
        hub_public_key: &str,
    ) -> Result<Tunnel, InvalidVpn> {
        check_interface(interface)?;
        if !is_wireguard_key(&private_key) {
            // The value is a secret: never in a message.
            return Err(unfit(
                &format!(
                    "the site's private key (Secret {})",
                    secrets::member_secret(&site.tunnel)
                ),
                "a WireGuard key (44 characters of base64)",
            ));
        }
        if !is_wireguard_key(hub_public_key) {
            return Err(unfit(
                &format!("the hub's public key {hub_public_key:?}"),
                "a WireGuard key (44 characters of base64)",
            ));
        }
        Ok(Tunnel {
            member: site.tunnel.clone(),
            interface: interface.to_owned(),
            private_key,
            address,
            prefix: self.pool.prefix(),
            hub_public_key: hub_public_key.to_owned(),
            endpoint_host: self.endpoint_host.clone(),
            endpoint_port: self.endpoint_port,
            routed: self.routed.clone(),
            sites: site.networks.clone(),
        })
    }
}

/// The WireGuard interface socle manages on routers (an operator setting)
/// names a uci section and a file, and is an argument of `wg` and
/// `wg-quick`: what a uci section name may hold, within Linux's 15
/// characters, starting with a letter so that no command takes it for an
/// option.
pub fn check_interface(interface: &str) -> Result<(), InvalidVpn> {
    let mut chars = interface.chars();
    let fits = interface.len() <= 15
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if fits {
        Ok(())
    } else {
        Err(unfit(
            &format!("operator setting interface {interface:?}"),
            "a letter then letters, digits or '_', 15 characters at most",
        ))
    }
}

/// A value refused from a router's script, naming where it comes from.
fn unfit(what: &str, may_be: &str) -> InvalidVpn {
    InvalidVpn::Spec(format!(
        "{what} cannot go into a router's configuration: it may only be {may_be}"
    ))
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens.
fn is_dns_name(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// WireGuard's text form of a key: 32 bytes of padded base64.
fn is_wireguard_key(text: &str) -> bool {
    text.len() == 44
        && text.ends_with('=')
        && text[..43]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

/// `host:port`, `[v6]:port` included.
fn split_endpoint(endpoint: &str) -> Option<(String, u16)> {
    let (host, port) = endpoint.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(())?;
    Some((host.to_owned(), port.parse().ok()?))
}

/// A site network, with the site it belongs to.
type Placed<'a> = (&'a str, Network);

fn placed(sites: &[SitePlan]) -> Vec<Placed<'_>> {
    sites
        .iter()
        .flat_map(|site| site.networks.iter().map(|n| (site.name.as_str(), *n)))
        .collect()
}

fn check_overlaps(
    member: &str,
    sites: &[SitePlan],
    pool: Network,
    cluster: &[Network],
) -> Result<(), InvalidVpn> {
    let all = placed(sites);
    for (i, &(name, site)) in all.iter().enumerate() {
        let who = describe_site(member, name);
        if let Some(prefix) = site.intersection(&pool) {
            return Err(InvalidVpn::Overlap(format!(
                "site network {site} of {who} overlaps the tunnel pool {pool} (prefix {prefix})"
            )));
        }
        if let Some((range, prefix)) = cluster
            .iter()
            .find_map(|range| site.intersection(range).map(|p| (range, p)))
        {
            return Err(InvalidVpn::Overlap(format!(
                "site network {site} of {who} overlaps the Datacenter range {range} (prefix {prefix})"
            )));
        }
        if let Some(&(other_name, other, prefix)) = all[i + 1..]
            .iter()
            .find_map(|(n, other)| site.intersection(other).map(|p| (n, other, p)))
            .as_ref()
        {
            return Err(InvalidVpn::Overlap(if *other_name == name {
                format!("site networks {site} and {other} of {who} overlap (prefix {prefix})")
            } else {
                format!(
                    "site network {site} of {who} overlaps site network {other} of {} (prefix {prefix})",
                    describe_site(member, other_name)
                )
            }));
        }
    }
    Ok(())
}

/// No other member's site networks may overlap this one's. Of two that
/// do, the one holding the prefix keeps it and the other is refused: a
/// site holds a network when its `status.vpn.sites[].siteCidrs` (what the
/// hub was last given for it) covers it. So an older member widening its
/// networks onto a newer one's is refused itself, with the condition on it,
/// while the newer keeps its tunnel. Holding is read from status rather than
/// told by timestamps: Kubernetes keeps no time of a spec change that two
/// objects could be compared by (`generation` counts each object's own
/// edits, managedFields times move with any edit, of any field), and the
/// creation time says who came first, not who changed. When both or neither
/// hold it (members arriving together, a status lost), the earlier member
/// keeps it (creation time, then name).
fn check_other_members(
    member: &Member,
    sites: &[SitePlan],
    members: &[impl Borrow<Member>],
) -> Result<(), InvalidVpn> {
    let name = member.name_any();
    let rank = |m: &Member| (m.creation_timestamp().map(|t| t.0), m.name_any());
    let mut others: Vec<&Member> = members
        .iter()
        .map(Borrow::borrow)
        .filter(|other| other.name_any() != name)
        .filter(|other| other.metadata.deletion_timestamp.is_none())
        .collect();
    others.sort_by_key(|m| rank(m));
    let ours = placed(sites);
    for other in others {
        let Some(vpn) = &other.spec.vpn else { continue };
        let theirs: Vec<(&str, Network)> = vpn
            .sites()
            .iter()
            .flat_map(|site| {
                site.site_cidrs
                    .iter()
                    .filter_map(|cidr| Some((site.name, cidr.parse().ok()?)))
            })
            .collect();
        for &(our_site, site) in &ours {
            for &(their_site, their) in &theirs {
                let Some(prefix) = site.intersection(&their) else {
                    continue;
                };
                let (ours_held, theirs_held) = (
                    holds(member, our_site, site),
                    holds(other, their_site, their),
                );
                let theirs_to_keep = if ours_held == theirs_held {
                    rank(other) < rank(member)
                } else {
                    theirs_held
                };
                if !theirs_to_keep {
                    continue;
                }
                let why = if theirs_held && !ours_held {
                    "the hub already routing it there"
                } else {
                    "being the earlier member"
                };
                return Err(InvalidVpn::Overlap(format!(
                    "site network {site} of {} overlaps site network {their} of {} (prefix {prefix}); {} keeps it, {why}",
                    describe_site(&name, our_site),
                    describe_site(&other.name_any(), their_site),
                    other.name_any(),
                )));
            }
        }
    }
    Ok(())
}

/// Whether the hub was last given `network` (or a network holding it) for
/// `member`'s site `site`.
fn holds(member: &Member, site: &str, network: Network) -> bool {
    let Some(status) = member
        .status
        .as_ref()
        .and_then(|s| s.vpn.as_ref())
        .and_then(|vpn| vpn.site(site))
    else {
        return false;
    };
    status
        .site_cidrs
        .iter()
        .filter_map(|cidr| cidr.parse::<Network>().ok())
        .any(|held| network.intersection(&held) == Some(network))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::member::{MemberStatus, VpnSiteStatus, VpnStatus},
        vpn::keys::KeyPair,
    };

    /// A member created at `created` whose `spec.vpn` is `gateway: hub` and `vpn`.
    fn with_vpn(name: &str, created: &str, vpn: &str) -> Member {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: {name}, creationTimestamp: "{created}"}}
spec:
  displayName: {name}
  inseeCode: "56001"
  population: {{count: 3875, year: 2021}}
  subscriptions: [{{offer: SocleComplet, effectiveDate: "2025-09-01"}}]
  vpn:
    gateway: hub
{vpn}"#
        ))
        .unwrap()
    }

    fn member(name: &str, created: &str, sites: &str) -> Member {
        with_vpn(
            name,
            created,
            &format!(
                r#"    siteCidrs: {sites}
    router: {{address: 127.0.0.1, port: 2222, dialect: openwrt, hostKey: "ssh-ed25519 AAAA", credentialsSecret: r}}
"#
            ),
        )
    }

    fn gateway() -> SharedService {
        serde_yaml::from_str(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: SharedService
metadata: {name: hub}
spec:
  displayName: Hub
  category: VpnGateway
  serviceLevel: 3
  hosting: Datacenter
  vpnGateway: {publicEndpoint: "vpn.example.bzh:51820", tunnelPoolCidr: 10.200.0.0/22, namespace: socle-vpn}
"#,
        )
        .unwrap()
    }

    const CLUSTER: [&str; 1] = ["10.96.0.0/12"];

    fn cluster() -> Vec<String> {
        CLUSTER.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn a_valid_member_routes_the_pool_and_the_datacenter() {
        let allaire = member("allaire", "2026-01-01T00:00:00Z", "[192.168.10.0/24]");
        let plan = plan(&allaire, &[gateway()], &[] as &[Member], &cluster()).unwrap();
        assert_eq!(plan.endpoint_host, "vpn.example.bzh");
        assert_eq!(plan.endpoint_port, 51820);
        assert_eq!(plan.gateway_namespace, "socle-vpn");
        let routed: Vec<String> = plan.routed.iter().map(ToString::to_string).collect();
        assert_eq!(routed, ["10.200.0.0/22", "10.96.0.0/12"]);
    }

    #[test]
    fn the_later_of_two_overlapping_members_is_refused_naming_both() {
        let first = member("allaire", "2026-01-01T00:00:00Z", "[192.168.0.0/16]");
        let second = member("bains", "2026-02-01T00:00:00Z", "[192.168.10.0/24]");
        let all = [first.clone(), second.clone()];
        assert!(plan(&first, &[gateway()], &all, &cluster()).is_ok());
        let InvalidVpn::Overlap(message) =
            plan(&second, &[gateway()], &all, &cluster()).unwrap_err()
        else {
            panic!("an overlap")
        };
        assert!(message.contains("bains"), "{message}");
        assert!(message.contains("allaire"), "{message}");
        assert!(message.contains("prefix 192.168.10.0/24"), "{message}");
    }

    #[test]
    fn an_older_member_widening_onto_a_newer_one_is_refused_itself() {
        let held = |mut member: Member, sites: &[&str]| {
            member.status = Some(MemberStatus {
                vpn: Some(VpnStatus {
                    sites: vec![VpnSiteStatus {
                        name: TOWN_HALL.into(),
                        site_cidrs: sites.iter().map(|s| (*s).to_owned()).collect(),
                        ..VpnSiteStatus::default()
                    }],
                }),
                ..MemberStatus::default()
            });
            member
        };
        // Both had their tunnel; then Allaire, the older, widens its /24 to
        // a /16 that holds Bains's network.
        let older = held(
            member("allaire", "2026-01-01T00:00:00Z", "[192.168.0.0/16]"),
            &["192.168.10.0/24"],
        );
        let newer = held(
            member("bains", "2026-02-01T00:00:00Z", "[192.168.20.0/24]"),
            &["192.168.20.0/24"],
        );
        let all = [older.clone(), newer.clone()];
        assert!(plan(&newer, &[gateway()], &all, &cluster()).is_ok());
        let InvalidVpn::Overlap(message) =
            plan(&older, &[gateway()], &all, &cluster()).unwrap_err()
        else {
            panic!("an overlap")
        };
        assert!(
            message.contains("site network 192.168.0.0/16 of member allaire"),
            "{message}"
        );
        assert!(
            message.contains("bains keeps it, the hub already routing it there"),
            "{message}"
        );
        // Narrowing within what it holds is no change to anyone else.
        let narrowed = held(
            member("allaire", "2026-01-01T00:00:00Z", "[192.168.10.0/25]"),
            &["192.168.10.0/24"],
        );
        assert!(
            plan(
                &narrowed,
                &[gateway()],
                &[narrowed.clone(), newer],
                &cluster()
            )
            .is_ok()
        );
    }

    #[test]
    fn sites_may_not_overlap_the_pool_the_datacenter_or_each_other() {
        for (sites, expected) in [
            ("[10.200.1.0/24]", "tunnel pool 10.200.0.0/22"),
            ("[10.100.0.0/16]", "Datacenter range 10.96.0.0/12"),
            ("[192.168.0.0/16, 192.168.1.0/24]", "of member x overlap"),
        ] {
            let x = member("x", "2026-01-01T00:00:00Z", sites);
            let error = plan(&x, &[gateway()], &[] as &[Member], &cluster()).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn an_endpoint_that_would_add_a_line_to_a_router_script_is_refused() {
        let x = member("x", "2026-01-01T00:00:00Z", "[192.168.1.0/24]");
        for endpoint in [
            // wg-quick runs PostUp hooks as root.
            "vpn.example.bzh\nPostUp = touch /root/pwned:51820",
            // Out of uci's quotes.
            "vpn.example.bzh'\nset system.@system[0].hostname='pwned:51820",
            "$(reboot):51820",
        ] {
            let mut hub = gateway();
            hub.spec.vpn_gateway.as_mut().unwrap().public_endpoint = endpoint.into();
            let error = plan(&x, &[hub], &[] as &[Member], &cluster()).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("SharedService hub: publicEndpoint"),
                "{error}"
            );
        }
        for endpoint in ["192.0.2.1:51820", "[fd00::1]:51820"] {
            let mut hub = gateway();
            hub.spec.vpn_gateway.as_mut().unwrap().public_endpoint = endpoint.into();
            assert!(
                plan(&x, &[hub], &[] as &[Member], &cluster()).is_ok(),
                "{endpoint}"
            );
        }
    }

    #[test]
    fn the_interface_and_keys_are_checked_before_a_dialect_writes_them() {
        let x = member("x", "2026-01-01T00:00:00Z", "[192.168.1.0/24]");
        let plan = plan(&x, &[gateway()], &[] as &[Member], &cluster()).unwrap();
        let (member, hub) = (KeyPair::generate(), KeyPair::generate());
        let tunnel = |interface: &str, private: &str, hub: &str| {
            plan.tunnel(
                &plan.sites[0],
                interface,
                Zeroizing::new(private.to_owned()),
                Ipv4Addr::new(10, 200, 0, 7),
                hub,
            )
        };
        let built = tunnel("socle0", member.private_key(), hub.public_key()).unwrap();
        assert_eq!(built.endpoint(), "vpn.example.bzh:51820");
        let broken = format!("{}\nPostUp = reboot", member.private_key());
        for (interface, private, hub_key, expected) in [
            (
                "socle0 down; reboot",
                member.private_key(),
                hub.public_key(),
                "interface",
            ),
            ("-h", member.private_key(), hub.public_key(), "interface"),
            (
                "socle0",
                broken.as_str(),
                hub.public_key(),
                "private key (Secret vpn-member-x)",
            ),
            (
                "socle0",
                member.private_key(),
                "x'\nset y='z",
                "hub's public key",
            ),
        ] {
            let error = tunnel(interface, private, hub_key).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains(member.private_key()), "{error}");
        }
    }

    /// Allaire with its town hall and its school, each behind its own router.
    fn two_sites(name: &str, created: &str, school: &str) -> Member {
        with_vpn(
            name,
            created,
            &format!(
                r#"    sites:
      - name: mairie
        siteCidrs: [192.168.10.0/24]
        router: {{address: 192.0.2.10, dialect: openwrt, hostKey: "ssh-ed25519 AAAA", credentialsSecret: r}}
      - name: ecole
        siteCidrs: [{school}]
        router: {{address: 192.0.2.11, dialect: linux, hostKey: "ssh-ed25519 BBBB", credentialsSecret: r}}
        dryRun: true
"#
            ),
        )
    }

    #[test]
    fn each_site_is_a_tunnel_of_its_own_and_the_town_hall_keeps_the_members_names() {
        let allaire = two_sites("allaire", "2026-01-01T00:00:00Z", "192.168.11.0/24");
        let plan = plan(&allaire, &[gateway()], &[] as &[Member], &cluster()).unwrap();
        let sites: Vec<(&str, &str, bool)> = plan
            .sites
            .iter()
            .map(|s| (s.name.as_str(), s.tunnel.as_str(), s.dry_run))
            .collect();
        assert_eq!(
            sites,
            [
                ("mairie", "allaire", false),
                ("ecole", "allaire.ecole", true)
            ]
        );
        let (key, hub) = (KeyPair::generate(), KeyPair::generate());
        let school = plan
            .tunnel(
                &plan.sites[1],
                "socle0",
                Zeroizing::new(key.private_key().to_owned()),
                Ipv4Addr::new(10, 200, 0, 8),
                hub.public_key(),
            )
            .unwrap();
        let networks: Vec<String> = school.sites.iter().map(ToString::to_string).collect();
        assert_eq!(
            networks,
            ["192.168.11.0/24"],
            "a router routes its own site only"
        );
        // The single-router form is the site mairie, under the same names.
        let single = member("allaire", "2026-01-01T00:00:00Z", "[192.168.10.0/24]");
        let single = plan_of(&single);
        assert_eq!(
            (
                single.sites[0].name.as_str(),
                single.sites[0].tunnel.as_str()
            ),
            (TOWN_HALL, "allaire")
        );
        // Written again as one listed site `mairie`: the same tunnel.
        let mut listed = member("allaire", "2026-01-01T00:00:00Z", "[192.168.10.0/24]");
        let vpn = listed.spec.vpn.as_mut().unwrap();
        vpn.sites = vec![crate::api::member::VpnSite {
            name: TOWN_HALL.into(),
            site_cidrs: std::mem::take(&mut vpn.site_cidrs),
            router: vpn.router.take().unwrap(),
            dry_run: false,
        }];
        assert_eq!(plan_of(&listed), single);
    }

    fn plan_of(member: &Member) -> VpnPlan {
        plan(member, &[gateway()], &[] as &[Member], &cluster()).unwrap()
    }

    #[test]
    fn sites_of_one_member_may_not_overlap_nor_share_a_router() {
        let overlapping = two_sites("allaire", "2026-01-01T00:00:00Z", "192.168.10.128/25");
        let error = plan(&overlapping, &[gateway()], &[] as &[Member], &cluster()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "site network 192.168.10.0/24 of member allaire overlaps site network 192.168.10.128/25 of member allaire (site ecole) (prefix 192.168.10.128/25)"
        );
        let mut shared = two_sites("allaire", "2026-01-01T00:00:00Z", "192.168.11.0/24");
        let vpn = shared.spec.vpn.as_mut().unwrap();
        vpn.sites[1].router.address = vpn.sites[0].router.address.clone();
        let error = plan(&shared, &[gateway()], &[] as &[Member], &cluster()).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "spec.vpn.sites[1].router: sites mairie and ecole name the same router 192.0.2.10:22"
            ),
            "{error}"
        );
    }

    #[test]
    fn another_members_school_overlapping_a_town_hall_is_refused_naming_the_site() {
        let first = member("bains", "2026-01-01T00:00:00Z", "[192.168.11.0/24]");
        let second = two_sites("allaire", "2026-02-01T00:00:00Z", "192.168.11.0/24");
        let all = [first, second.clone()];
        let error = plan(&second, &[gateway()], &all, &cluster()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "site network 192.168.11.0/24 of member allaire (site ecole) overlaps site network 192.168.11.0/24 of member bains (prefix 192.168.11.0/24); bains keeps it, being the earlier member"
        );
    }

    #[test]
    fn a_missing_gateway_is_named() {
        let x = member("x", "2026-01-01T00:00:00Z", "[192.168.1.0/24]");
        let error = plan(&x, &[], &[] as &[Member], &cluster()).unwrap_err();
        assert!(error.to_string().contains("SharedService hub"), "{error}");
    }
}

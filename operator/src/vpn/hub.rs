//! Build: the hub's WireGuard configuration (wg-quick format) and the Secret
//! the gateway Deployment mounts. Pure and deterministic: peers sorted by
//! tunnel, networks in spec order, so an unchanged set of members renders
//! byte for byte the same Secret and costs no write.

use std::{collections::BTreeMap, fmt::Write as _, net::Ipv4Addr};

use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};

use super::cidr::Network;
use crate::labels;

/// Key of the configuration in the hub Secret: wg-quick names the interface
/// after the file, `wg0`.
pub const CONFIG_KEY: &str = "wg0.conf";

/// How a member's next key is marked in the configuration, after its name:
/// `socle vpn-gateway` moves the member's routes to it at its first
/// handshake.
pub const NEXT_KEY_NOTE: &str = "next key (rotation under way)";

/// The hub side of the gateway: its key, address and port.
#[derive(Clone, Debug)]
pub struct Hub<'a> {
    /// Name of the gateway SharedService.
    pub gateway: &'a str,
    /// The hub's private key (base64).
    pub private_key: &'a str,
    /// The tunnel pool; the hub takes its first host address.
    pub pool: Network,
    pub listen_port: u16,
}

/// One site's tunnel, as the hub sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The tunnel's name ([`super::plan::tunnel_name`]): the member's for
    /// its town hall, `<member>.<site>` for another site. The configuration
    /// says `# member <tunnel>`, which `socle vpn-gateway` reports each
    /// peer's figures under.
    pub member: String,
    /// The site's public key (base64).
    pub public_key: String,
    /// While a key rotation is under way, the key the router is being given:
    /// a peer without routes (they stay with the current key until the
    /// router runs the new one), so that the hub knows it first.
    pub next_public_key: Option<String>,
    /// The site's tunnel address.
    pub address: Ipv4Addr,
    /// The site's networks, routed to this peer.
    pub sites: Vec<Network>,
}

/// The hub's address in the pool: its first host.
pub fn hub_address(pool: Network) -> Ipv4Addr {
    pool.nth_v4(1)
        .expect("a validated pool holds at least 4 addresses")
}

/// The wg-quick configuration of the hub with `peers`, sorted by member.
pub fn render(hub: &Hub<'_>, peers: &[Peer]) -> String {
    let mut sorted: Vec<&Peer> = peers.iter().collect();
    sorted.sort_by(|a, b| a.member.cmp(&b.member));
    let mut text = format!(
        "# WireGuard hub of gateway {}, written by socle: edits are overwritten.\n\
         [Interface]\nAddress = {}/{}\nListenPort = {}\nPrivateKey = {}\n",
        hub.gateway,
        hub_address(hub.pool),
        hub.pool.prefix(),
        hub.listen_port,
        hub.private_key,
    );
    for peer in sorted {
        let allowed: Vec<String> = std::iter::once(format!("{}/32", peer.address))
            .chain(peer.sites.iter().map(ToString::to_string))
            .collect();
        let _ = write!(
            text,
            "\n[Peer]\n# member {}\nPublicKey = {}\nAllowedIPs = {}\n",
            peer.member,
            peer.public_key,
            allowed.join(", ")
        );
        if let Some(next) = &peer.next_public_key {
            let _ = write!(
                text,
                "\n[Peer]\n# member {}, {NEXT_KEY_NOTE}\nPublicKey = {next}\n",
                peer.member
            );
        }
    }
    text
}

/// The Secret holding the hub configuration, in the gateway's namespace,
/// owned by the gateway SharedService.
pub fn secret(namespace: &str, owner: OwnerReference, config: &str) -> Secret {
    let gateway = owner.name.clone();
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&gateway)),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (labels::COMPONENT.to_owned(), "vpn".to_owned()),
                (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
                (super::GATEWAY_LABEL.to_owned(), gateway),
            ])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            CONFIG_KEY.to_owned(),
            ByteString(config.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

/// Name of the hub Secret of `gateway`.
pub fn secret_name(gateway: &str) -> String {
    format!("socle-vpn-hub-{gateway}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(member: &str, last: u8, sites: &[&str]) -> Peer {
        Peer {
            member: member.into(),
            public_key: format!("{member}-public"),
            next_public_key: None,
            address: Ipv4Addr::new(10, 200, 0, last),
            sites: sites.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    fn hub() -> Hub<'static> {
        Hub {
            gateway: "dc",
            private_key: "hub-private",
            pool: "10.200.0.0/22".parse().unwrap(),
            listen_port: 51820,
        }
    }

    #[test]
    fn peers_are_sorted_so_the_order_of_reconciles_does_not_matter() {
        let a = peer("allaire", 2, &["192.168.10.0/24"]);
        let b = peer("bains-sur-oust", 3, &["192.168.20.0/24", "10.1.0.0/16"]);
        let one = render(&hub(), &[a.clone(), b.clone()]);
        let other = render(&hub(), &[b, a]);
        assert_eq!(one, other);
        assert_eq!(
            one,
            "# WireGuard hub of gateway dc, written by socle: edits are overwritten.\n\
             [Interface]\nAddress = 10.200.0.1/22\nListenPort = 51820\nPrivateKey = hub-private\n\
             \n[Peer]\n# member allaire\nPublicKey = allaire-public\nAllowedIPs = 10.200.0.2/32, 192.168.10.0/24\n\
             \n[Peer]\n# member bains-sur-oust\nPublicKey = bains-sur-oust-public\nAllowedIPs = 10.200.0.3/32, 192.168.20.0/24, 10.1.0.0/16\n"
        );
    }

    #[test]
    fn a_rotating_member_has_its_next_key_as_a_peer_without_routes() {
        let mut a = peer("allaire", 2, &["192.168.10.0/24"]);
        a.next_public_key = Some("allaire-next".into());
        let text = render(&hub(), &[a]);
        assert!(text.ends_with(
            "\n[Peer]\n# member allaire\nPublicKey = allaire-public\nAllowedIPs = 10.200.0.2/32, 192.168.10.0/24\n\
             \n[Peer]\n# member allaire, next key (rotation under way)\nPublicKey = allaire-next\n"
        ), "{text}");
    }
}

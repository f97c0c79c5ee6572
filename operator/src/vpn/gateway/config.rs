//! The hub configuration socle writes (`wg0.conf` of the Secret
//! `socle-vpn-hub-<gateway>`, wg-quick format, see [`crate::vpn::hub`]), as
//! the gateway applies it: what `wg` takes, the interface's address, and
//! the routes to the peers. Pure.

use std::collections::BTreeMap;

use crate::vpn::{cidr::Network, hub};

/// Settings only wg-quick knows: `wg syncconf` refuses them.
const WG_QUICK_ONLY: [&str; 9] = [
    "Address",
    "DNS",
    "MTU",
    "Table",
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
    "SaveConfig",
];

/// A hub configuration, read.
#[derive(Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The interface's address and the pool's prefix (`10.200.0.1/24`).
    pub address: String,
    /// What `wg syncconf` takes: the file without wg-quick's settings.
    /// Holds the hub's private key: never logged.
    pub wg: String,
    /// Member of each peer's public key (from socle's `# member <name>`
    /// comments), for the figures served.
    pub members: BTreeMap<String, String>,
    /// Every peer's allowed networks: routed to the interface.
    pub routes: Vec<Network>,
    /// The members whose key is being rotated.
    pub takeovers: Vec<Takeover>,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("address", &self.address)
            .field("members", &self.members)
            .field("routes", &self.routes)
            .field("takeovers", &self.takeovers)
            .finish_non_exhaustive()
    }
}

/// A configuration the gateway cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidConfig {
    #[error("the hub configuration has no [Interface] Address")]
    NoAddress,
    #[error("the hub configuration's AllowedIPs {0:?} is not a network")]
    AllowedIps(String),
}

/// While a member's key is rotated, its next key, which takes over the
/// routes of its current one at its first handshake (see
/// [`super::takeover`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    pub member: String,
    pub next_key: String,
    /// The current key's AllowedIPs, as `wg set` takes them.
    pub allowed_ips: String,
}

/// A `[Peer]` section, as far as the gateway reads it.
#[derive(Default)]
struct Peer {
    member: Option<String>,
    next: bool,
    key: String,
    allowed: Vec<String>,
}

/// Reads `text`, a wg-quick file as socle renders it.
pub fn parse(text: &str) -> Result<HubConfig, InvalidConfig> {
    let mut address = None;
    let mut wg = String::new();
    let mut peers: Vec<Peer> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed == "[Peer]" {
            peers.push(Peer::default());
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            // "# member allaire" or "# member allaire, next key (…)".
            if let (Some(peer), Some(rest)) =
                (peers.last_mut(), comment.trim().strip_prefix("member "))
            {
                let (name, note) = rest.split_once(',').unwrap_or((rest, ""));
                peer.member = Some(name.trim().to_owned());
                peer.next = note.trim() == hub::NEXT_KEY_NOTE;
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            wg.push_str(trimmed);
            wg.push('\n');
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match (key, peers.last_mut()) {
            ("Address", _) => address = Some(value.to_owned()),
            ("PublicKey", Some(peer)) => value.clone_into(&mut peer.key),
            ("AllowedIPs", Some(peer)) => peer.allowed.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
        if !WG_QUICK_ONLY.contains(&key) {
            wg.push_str(key);
            wg.push_str(" = ");
            wg.push_str(value);
            wg.push('\n');
        }
    }
    let address = address.ok_or(InvalidConfig::NoAddress)?;
    Ok(HubConfig {
        routes: routes(&address, &peers)?,
        takeovers: takeovers(&peers),
        members: peers
            .iter()
            .filter_map(|peer| Some((peer.key.clone(), peer.member.clone()?)))
            .collect(),
        address,
        wg,
    })
}

/// Every peer's allowed network, but the interface's own (the peers' tunnel
/// addresses are on it).
fn routes(address: &str, peers: &[Peer]) -> Result<Vec<Network>, InvalidConfig> {
    let own: Option<Network> = address.parse().ok();
    let mut routes = Vec::new();
    for network in peers.iter().flat_map(|peer| &peer.allowed) {
        let route: Network = network
            .parse()
            .map_err(|_| InvalidConfig::AllowedIps(network.clone()))?;
        if own.is_none_or(|own| !(own.overlaps(&route) && own.prefix() <= route.prefix())) {
            routes.push(route);
        }
    }
    routes.sort();
    routes.dedup();
    Ok(routes)
}

/// The next keys, each with its member's current key's AllowedIPs.
fn takeovers(peers: &[Peer]) -> Vec<Takeover> {
    peers
        .iter()
        .filter(|peer| peer.next)
        .filter_map(|next| {
            let member = next.member.clone()?;
            let current = peers
                .iter()
                .find(|peer| !peer.next && peer.member.as_ref() == Some(&member))?;
            Some(Takeover {
                member,
                next_key: next.key.clone(),
                allowed_ips: current.allowed.join(","),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = "# WireGuard hub of gateway dc, written by socle: edits are overwritten.\n\
        [Interface]\nAddress = 10.200.0.1/24\nListenPort = 51820\nPrivateKey = hub-private\n\
        \n[Peer]\n# member allaire\nPublicKey = allaire-public\nAllowedIPs = 10.200.0.2/32, 192.168.10.0/24\n\
        \n[Peer]\n# member allaire, next key (rotation under way)\nPublicKey = allaire-next\n\
        \n[Peer]\n# member bains\nPublicKey = bains-public\nAllowedIPs = 10.200.0.3/32, 192.168.20.0/24, 10.1.0.0/16\n";

    #[test]
    fn wg_gets_the_file_without_wg_quicks_settings_and_the_peers_are_routed() {
        let config = parse(HUB).unwrap();
        assert_eq!(config.address, "10.200.0.1/24");
        assert_eq!(
            config.wg,
            "[Interface]\nListenPort = 51820\nPrivateKey = hub-private\n\n\
             [Peer]\nPublicKey = allaire-public\nAllowedIPs = 10.200.0.2/32, 192.168.10.0/24\n\n\
             [Peer]\nPublicKey = allaire-next\n\n\
             [Peer]\nPublicKey = bains-public\nAllowedIPs = 10.200.0.3/32, 192.168.20.0/24, 10.1.0.0/16\n"
        );
        let routes: Vec<String> = config.routes.iter().map(ToString::to_string).collect();
        assert_eq!(
            routes,
            ["10.1.0.0/16", "192.168.10.0/24", "192.168.20.0/24"]
        );
        assert_eq!(config.members["allaire-next"], "allaire");
        assert_eq!(config.members["bains-public"], "bains");
        assert_eq!(
            config.takeovers,
            [Takeover {
                member: "allaire".into(),
                next_key: "allaire-next".into(),
                allowed_ips: "10.200.0.2/32,192.168.10.0/24".into(),
            }]
        );
        assert!(!format!("{config:?}").contains("hub-private"));
    }

    #[test]
    fn a_file_without_address_or_with_a_wrong_network_is_refused() {
        assert_eq!(
            parse("[Interface]\nListenPort = 1\n"),
            Err(InvalidConfig::NoAddress)
        );
        assert_eq!(
            parse("[Interface]\nAddress = 10.0.0.1/24\n[Peer]\nAllowedIPs = nope\n"),
            Err(InvalidConfig::AllowedIps("nope".into()))
        );
    }
}

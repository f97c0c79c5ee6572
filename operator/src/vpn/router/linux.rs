//! Linux: a wg-quick file, `/etc/wireguard/<interface>.conf`, applied with
//! `wg syncconf` when only WireGuard settings change (the tunnel stays up),
//! or by restarting the interface when its address or firewall rules do.
//!
//! What the router needs: iproute2, wireguard-tools (`wg`, `wg-quick`) and
//! nftables (`nft`), as on Debian 12 or any distribution of this decade.
//! `wg-quick up` makes the interface with `ip link add … type wireguard`;
//! where the kernel has no WireGuard (a container, an old or stripped
//! kernel), it starts the userspace `wireguard-go` instead when that is on
//! the PATH — wg-quick's own fallback, so the same file works on both and
//! nothing here tells them apart. `wg-quick down` deletes the interface,
//! which ends wireguard-go with it.

use std::fmt::Write as _;

use zeroize::Zeroizing;

use super::{Dialect, KEEPALIVE_SECONDS, Script, Tunnel};

/// The Linux (wg-quick) dialect.
#[derive(Clone, Copy, Debug)]
pub struct Linux;

/// wg-quick settings that `wg syncconf` does not apply: a change to one of
/// them restarts the interface.
const INTERFACE_ONLY: [&str; 4] = ["Address", "PostUp", "PreDown", "MTU"];

fn path(interface: &str) -> String {
    format!("/etc/wireguard/{interface}.conf")
}

/// The values of the wg-quick-only settings of a file.
fn interface_only(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            line.split_once('=')
                .is_some_and(|(key, _)| INTERFACE_ONLY.contains(&key.trim()))
        })
        .collect()
}

impl Dialect for Linux {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn render(&self, tunnel: &Tunnel) -> String {
        let i = &tunnel.interface;
        let sites: Vec<String> = tunnel.sites.iter().map(ToString::to_string).collect();
        let sites = sites.join(", ");
        // A table of socle's own, made and dropped whole: no rule of it can
        // outlive the interface, and none of the router's own is touched.
        // Flushed first: an interface that died without its PreDown (its
        // wireguard-go killed) left the table behind.
        // A drop is final in whichever table it is, so the router forwards
        // between the tunnel and the town hall's networks only, whatever
        // its own firewall accepts: the Datacenter cannot reach another
        // network behind the router (a guest Wi-Fi), nor can one send
        // into the tunnel.
        let up = format!(
            "nft add table inet socle_%i; nft flush table inet socle_%i; \
             nft 'add chain inet socle_%i forward {{ type filter hook forward priority filter; }}'; \
             nft 'add rule inet socle_%i forward iifname \"%i\" ip daddr != {{ {sites} }} drop'; \
             nft 'add rule inet socle_%i forward oifname \"%i\" ip saddr != {{ {sites} }} drop'"
        );
        let routed: Vec<String> = tunnel.routed.iter().map(ToString::to_string).collect();
        let mut text = String::new();
        let _ = write!(
            text,
            "# Tunnel {i} of member {member} to the Datacenter, written by socle.\n\
             [Interface]\n\
             Address = {address}/{prefix}\n\
             PrivateKey = {key}\n\
             PostUp = {up}\n\
             PreDown = nft delete table inet socle_%i\n\
             \n\
             [Peer]\n\
             # socle hub\n\
             PublicKey = {hub}\n\
             Endpoint = {endpoint}\n\
             AllowedIPs = {routed}\n\
             PersistentKeepalive = {KEEPALIVE_SECONDS}\n",
            member = tunnel.member,
            address = tunnel.address,
            prefix = tunnel.prefix,
            key = tunnel.private_key.as_str(),
            hub = tunnel.hub_public_key,
            endpoint = tunnel.endpoint(),
            routed = routed.join(", "),
        );
        self.normalize(&text)
    }

    fn read(&self, interface: &str) -> Script {
        Script {
            text: format!(
                "# socle: read\ncat {} 2>/dev/null || true\n",
                path(interface)
            ),
            stdin: None,
        }
    }

    fn normalize(&self, text: &str) -> String {
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    }

    fn apply(&self, interface: &str, from: &str, to: &str) -> Script {
        let file = path(interface);
        let text = if to.is_empty() {
            format!("# socle: apply\nwg-quick down {interface} 2>/dev/null || true\nrm -f {file}\n")
        } else {
            let restart = from.is_empty() || interface_only(from) != interface_only(to);
            // A restart takes the interface down with the old file, so that
            // its PreDown removes the old rules.
            let (before, after) = if restart {
                (
                    format!(
                        "if wg show {interface} >/dev/null 2>&1; then wg-quick down {interface}; fi\n"
                    ),
                    format!("wg-quick up {interface}\n"),
                )
            } else {
                (
                    String::new(),
                    format!("wg-quick strip {interface} | wg syncconf {interface} /dev/stdin\n"),
                )
            };
            format!(
                "# socle: apply\nset -e\numask 077\nmkdir -p /etc/wireguard\n{before}\
                 cat > {file}.socle-new\nmv -f {file}.socle-new {file}\n{after}"
            )
        };
        Script {
            text,
            stdin: (!to.is_empty()).then(|| Zeroizing::new(format!("{to}\n"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{super::fixture, *};

    #[test]
    fn renders_a_wg_quick_file() {
        let tunnel = fixture();
        let text = Linux.render(&tunnel);
        assert!(text.contains("Address = 10.200.0.7/22\n"));
        assert!(text.contains("Endpoint = vpn.example.bzh:51820\n"));
        assert!(text.contains("AllowedIPs = 10.200.0.0/22, 10.96.0.0/12\n"));
        assert!(text.contains(
            "PostUp = nft add table inet socle_%i; nft flush table inet socle_%i; \
             nft 'add chain inet socle_%i forward { type filter hook forward priority filter; }'; \
             nft 'add rule inet socle_%i forward iifname \"%i\" ip daddr != { 192.168.10.0/24 } drop'; \
             nft 'add rule inet socle_%i forward oifname \"%i\" ip saddr != { 192.168.10.0/24 } drop'\n\
             PreDown = nft delete table inet socle_%i\n"
        ));
        assert_eq!(Linux.normalize(&format!("{text}\n\n")), text);
    }

    #[test]
    fn a_peer_change_syncs_and_an_address_change_restarts() {
        let tunnel = fixture();
        let from = Linux.render(&tunnel);
        let mut moved = tunnel.clone();
        moved.hub_public_key = "another".into();
        let sync = Linux.apply("socle0", &from, &Linux.render(&moved));
        assert!(sync.text.contains("wg syncconf socle0"), "{}", sync.text);
        assert!(!sync.text.contains(tunnel.private_key.as_str()));
        moved.address = std::net::Ipv4Addr::new(10, 200, 0, 9);
        let restart = Linux.apply("socle0", &from, &Linux.render(&moved));
        assert!(restart.text.contains("wg-quick down socle0"));
        assert!(restart.text.contains("wg-quick up socle0"));
        let removal = Linux.apply("socle0", &from, "");
        assert!(removal.stdin.is_none());
        assert!(removal.text.contains("rm -f /etc/wireguard/socle0.conf"));
    }
}

//! OpenWrt: the tunnel as `uci` sections — the WireGuard interface and its
//! hub peer in `network`, a `socle` firewall zone and two rules letting the
//! town hall's networks to and from the Datacenter in `firewall`.
//!
//! The text form is `uci show`'s (`network.socle0.proto='wireguard'`),
//! compared as a set of lines since uci keeps options in insertion order.

use std::fmt::Write as _;

use zeroize::Zeroizing;

use super::{Dialect, KEEPALIVE_SECONDS, Script, Tunnel};

/// The OpenWrt dialect.
#[derive(Clone, Copy, Debug)]
pub struct OpenWrt;

/// Options that are uci lists: restored with `add_list`.
const LISTS: [&str; 4] = ["addresses", "allowed_ips", "src_ip", "dest_ip"];

/// The uci sections socle owns for `interface`.
fn sections(interface: &str) -> [String; 5] {
    [
        format!("network.{interface}"),
        format!("network.{interface}_hub"),
        format!("firewall.{interface}_zone"),
        format!("firewall.{interface}_out"),
        format!("firewall.{interface}_in"),
    ]
}

fn quoted(values: impl IntoIterator<Item = String>) -> String {
    values
        .into_iter()
        .map(|value| format!("'{value}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Dialect for OpenWrt {
    fn name(&self) -> &'static str {
        "openwrt"
    }

    fn render(&self, tunnel: &Tunnel) -> String {
        let i = &tunnel.interface;
        let sites = quoted(tunnel.sites.iter().map(ToString::to_string));
        let routed = quoted(tunnel.routed.iter().map(ToString::to_string));
        let mut text = String::new();
        let _ = write!(
            text,
            "network.{i}=interface\n\
             network.{i}.proto='wireguard'\n\
             network.{i}.private_key='{key}'\n\
             network.{i}.addresses='{address}/{prefix}'\n\
             network.{i}_hub=wireguard_{i}\n\
             network.{i}_hub.description='socle hub, member {member}'\n\
             network.{i}_hub.public_key='{hub}'\n\
             network.{i}_hub.endpoint_host='{host}'\n\
             network.{i}_hub.endpoint_port='{port}'\n\
             network.{i}_hub.persistent_keepalive='{KEEPALIVE_SECONDS}'\n\
             network.{i}_hub.route_allowed_ips='1'\n\
             network.{i}_hub.allowed_ips={routed}\n\
             firewall.{i}_zone=zone\n\
             firewall.{i}_zone.name='socle'\n\
             firewall.{i}_zone.network='{i}'\n\
             firewall.{i}_zone.input='REJECT'\n\
             firewall.{i}_zone.output='ACCEPT'\n\
             firewall.{i}_zone.forward='REJECT'\n\
             firewall.{i}_out=rule\n\
             firewall.{i}_out.name='socle: town hall to Datacenter'\n\
             firewall.{i}_out.src='lan'\n\
             firewall.{i}_out.dest='socle'\n\
             firewall.{i}_out.proto='all'\n\
             firewall.{i}_out.src_ip={sites}\n\
             firewall.{i}_out.target='ACCEPT'\n\
             firewall.{i}_in=rule\n\
             firewall.{i}_in.name='socle: Datacenter to town hall'\n\
             firewall.{i}_in.src='socle'\n\
             firewall.{i}_in.dest='lan'\n\
             firewall.{i}_in.proto='all'\n\
             firewall.{i}_in.dest_ip={sites}\n\
             firewall.{i}_in.target='ACCEPT'\n",
            key = tunnel.private_key.as_str(),
            address = tunnel.address,
            prefix = tunnel.prefix,
            member = tunnel.member,
            hub = tunnel.hub_public_key,
            host = tunnel.endpoint_host,
            port = tunnel.endpoint_port,
        );
        self.normalize(&text)
    }

    fn read(&self, interface: &str) -> Script {
        let mut text = String::from("# socle: read\n");
        for section in sections(interface) {
            let _ = writeln!(text, "uci -q show {section}");
        }
        text.push_str("true\n");
        Script { text, stdin: None }
    }

    fn normalize(&self, text: &str) -> String {
        let mut lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        lines.sort_unstable();
        lines.dedup();
        lines.join("\n")
    }

    fn apply(&self, interface: &str, from: &str, to: &str) -> Script {
        // `uci batch` reads the changes from the standard input: the private
        // key never appears in a command line.
        let mut batch = String::new();
        for section in sections(interface) {
            if from
                .lines()
                .any(|line| line.starts_with(&format!("{section}=")))
            {
                let _ = writeln!(batch, "delete {section}");
            }
        }
        for line in to.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let option = key.rsplit('.').next().unwrap_or_default();
            if key.matches('.').count() == 2 && LISTS.contains(&option) {
                for item in value.split_whitespace() {
                    let _ = writeln!(batch, "add_list {key}={item}");
                }
            } else {
                let _ = writeln!(batch, "set {line}");
            }
        }
        let interface_step = if to.is_empty() {
            format!("ifdown {interface} || true")
        } else {
            format!("ifup {interface}")
        };
        Script {
            text: format!(
                "# socle: apply\nset -e\nuci batch\nuci commit network\nuci commit firewall\n{interface_step}\nreload_config\n"
            ),
            stdin: Some(Zeroizing::new(batch)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{super::fixture, *};

    #[test]
    fn renders_uci_show_lines_in_a_stable_order() {
        let text = OpenWrt.render(&fixture());
        assert!(text.contains("network.socle0.addresses='10.200.0.7/22'"));
        assert!(text.contains("network.socle0_hub.allowed_ips='10.200.0.0/22' '10.96.0.0/12'"));
        assert!(text.contains("firewall.socle0_out.src_ip='192.168.10.0/24'"));
        assert!(text.contains("network.socle0_hub.endpoint_host='vpn.example.bzh'"));
        assert_eq!(OpenWrt.normalize(&text), text);
        // uci may print the same options in another order.
        let shuffled: Vec<&str> = text.lines().rev().collect();
        assert_eq!(OpenWrt.normalize(&shuffled.join("\n")), text);
    }

    #[test]
    fn apply_deletes_only_existing_sections_and_keeps_keys_out_of_the_command() {
        let tunnel = fixture();
        let to = OpenWrt.render(&tunnel);
        let first = OpenWrt.apply("socle0", "", &to);
        assert!(!first.text.contains(tunnel.private_key.as_str()));
        let batch = first.stdin.as_deref().unwrap();
        assert!(!batch.contains("delete"), "{batch}");
        assert!(batch.contains("set network.socle0=interface\n"));
        assert!(batch.contains("add_list network.socle0_hub.allowed_ips='10.96.0.0/12'\n"));
        assert!(first.text.contains("ifup socle0"));
        let removal = OpenWrt.apply("socle0", &to, "");
        let batch = removal.stdin.as_deref().unwrap();
        assert!(batch.starts_with("delete network.socle0\ndelete network.socle0_hub\n"));
        assert!(removal.text.contains("ifdown socle0"));
    }
}

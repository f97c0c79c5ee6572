//! The router's side of the tunnel: what socle wants there ([`Tunnel`]),
//! and how each configuration language says it ([`Dialect`]).
//!
//! A dialect only writes scripts and reads their output: it never talks to
//! the router itself. [`super::push`] runs the scripts over SSH, so a new
//! dialect (VyOS, RouterOS) is one small file implementing [`Dialect`].
//! Scripts start with a `# socle: <step>` comment, so the router's logs say
//! which step of a push ran; secrets travel on the standard input, never in
//! a command line.

mod linux;
mod openwrt;

use std::{fmt, net::Ipv4Addr};

use zeroize::Zeroizing;

pub use self::{linux::Linux, openwrt::OpenWrt};
use super::cidr::Network;
use crate::api::member::RouterDialect;

/// Keepalive the router sends, so that the town hall's NAT keeps the hub reachable.
pub const KEEPALIVE_SECONDS: u16 = 25;

/// Everything the router must know about its tunnel.
#[derive(Clone)]
pub struct Tunnel {
    /// Member the tunnel belongs to (for comments).
    pub member: String,
    /// WireGuard interface name on the router.
    pub interface: String,
    /// The member's private key (base64).
    pub private_key: Zeroizing<String>,
    /// The member's tunnel address and the pool's prefix length.
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// The hub's public key (base64).
    pub hub_public_key: String,
    pub endpoint_host: String,
    pub endpoint_port: u16,
    /// Networks sent through the tunnel (pool and Datacenter).
    pub routed: Vec<Network>,
    /// The town hall's networks, allowed to and from the tunnel.
    pub sites: Vec<Network>,
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("member", &self.member)
            .field("interface", &self.interface)
            .field("address", &self.address)
            .field("hub_public_key", &self.hub_public_key)
            .finish_non_exhaustive()
    }
}

impl Tunnel {
    /// `host:port`, with brackets around an IPv6 host.
    pub fn endpoint(&self) -> String {
        if self.endpoint_host.contains(':') {
            format!("[{}]:{}", self.endpoint_host, self.endpoint_port)
        } else {
            format!("{}:{}", self.endpoint_host, self.endpoint_port)
        }
    }
}

/// A script to run on the router, with what to feed its standard input.
#[derive(Clone, Default)]
pub struct Script {
    pub text: String,
    /// May hold key material: never logged.
    pub stdin: Option<Zeroizing<String>>,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("text", &self.text)
            .field("stdin", &self.stdin.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A router configuration language.
pub trait Dialect: Send + Sync + fmt::Debug {
    /// Name, for messages.
    fn name(&self) -> &'static str;

    /// The configuration socle wants on the router, in the dialect's own
    /// text, as [`Dialect::normalize`] gives it.
    fn render(&self, tunnel: &Tunnel) -> String;

    /// A script printing the configuration socle manages on the router
    /// (nothing when there is none). It writes nothing.
    fn read(&self, interface: &str) -> Script;

    /// The output of [`Dialect::read`] (or of [`Dialect::render`]) in a form
    /// where equal configurations are equal strings.
    fn normalize(&self, text: &str) -> String;

    /// A script replacing the configuration `from` (normalized; empty when
    /// there is none) by `to` (normalized; empty to remove socle's
    /// configuration) and bringing the interface up (or down) accordingly.
    fn apply(&self, interface: &str, from: &str, to: &str) -> Script;

    /// A script printing the live interface's public key, then its peers'
    /// public keys, one per line.
    fn live(&self, interface: &str) -> Script {
        Script {
            text: format!(
                "# socle: verify\nwg show {interface} public-key\nwg show {interface} peers\n"
            ),
            stdin: None,
        }
    }
}

/// The dialect of a Member's `spec.vpn.router.dialect`.
pub fn dialect(kind: RouterDialect) -> &'static dyn Dialect {
    match kind {
        RouterDialect::Openwrt => &OpenWrt,
        RouterDialect::Linux => &Linux,
    }
}

/// `text` with every private key replaced by `<redacted>`: what may be shown
/// in status, Events and logs.
pub fn redact(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once('=') {
            Some((key, _))
                if key
                    .to_ascii_lowercase()
                    .replace('_', "")
                    .contains("privatekey") =>
            {
                format!("{key}=<redacted>")
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff from `old` to `new` (both normalized), private keys redacted:
/// `-` for lines going, `+` for lines coming. A change of private key alone
/// shows as `~ private key changed`.
pub fn diff(old: &str, new: &str) -> String {
    let (old_r, new_r) = (redact(old), redact(new));
    let a: Vec<&str> = old_r.lines().collect();
    let b: Vec<&str> = new_r.lines().collect();
    // Longest common subsequence, by dynamic programming: configurations are
    // a few dozen lines.
    let mut lcs = vec![vec![0_usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    let keys_differ = private_keys(old) != private_keys(new);
    if keys_differ && !private_keys(old).is_empty() && !private_keys(new).is_empty() {
        out.push("~ private key changed".to_owned());
    }
    out.join("\n")
}

fn private_keys(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            line.split_once('=').is_some_and(|(key, _)| {
                key.to_ascii_lowercase()
                    .replace('_', "")
                    .contains("privatekey")
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) fn fixture() -> Tunnel {
    Tunnel {
        member: "allaire".into(),
        interface: "socle0".into(),
        private_key: Zeroizing::new("cHJpdmF0ZS1rZXktb2YtYWxsYWlyZS0wMDAwMDAwMDA=".into()),
        address: Ipv4Addr::new(10, 200, 0, 7),
        prefix: 22,
        hub_public_key: "aHViLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=".into(),
        endpoint_host: "vpn.example.bzh".into(),
        endpoint_port: 51820,
        routed: vec![
            "10.200.0.0/22".parse().unwrap(),
            "10.96.0.0/12".parse().unwrap(),
        ],
        sites: vec!["192.168.10.0/24".parse().unwrap()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_never_show_a_private_key() {
        let old = "a=1\nnetwork.socle0.private_key='SECRET1'\nb=2";
        let new = "a=1\nnetwork.socle0.private_key='SECRET2'\nb=3";
        let diff = diff(old, new);
        assert!(!diff.contains("SECRET"), "{diff}");
        assert_eq!(diff, "- b=2\n+ b=3\n~ private key changed");
        let first = super::diff("", "PrivateKey = SECRET\nAddress = x");
        assert_eq!(first, "+ PrivateKey =<redacted>\n+ Address = x");
    }
}

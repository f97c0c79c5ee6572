//! IP networks in CIDR notation, over `ipnet` (parsing, containment):
//! what socle adds is its own reading of them. A network is always held
//! with its host bits cleared (`192.168.10.7/24` is `192.168.10.0/24`), two
//! networks overlap when one holds the other, and a tunnel pool's hosts
//! leave out the network and broadcast addresses, and every address of a
//! /31 or /32, which are too small to be a pool.

use std::{fmt, net::Ipv4Addr, str::FromStr};

use ipnet::IpNet;

/// A network: its first address (host bits cleared) and its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Network(IpNet);

/// Text that is not a network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a network in CIDR notation (e.g. 192.168.10.0/24)")]
pub struct InvalidCidr(pub String);

impl Network {
    /// First address of the network.
    pub fn address(&self) -> std::net::IpAddr {
        self.0.network()
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether the two networks share at least one address: two CIDR
    /// networks are nested or disjoint, and never overlap across families.
    pub fn overlaps(&self, other: &Network) -> bool {
        self.0.contains(&other.0) || other.0.contains(&self.0)
    }

    /// The addresses both networks hold: the more specific of the two, when
    /// they overlap.
    pub fn intersection(&self, other: &Network) -> Option<Network> {
        self.overlaps(other)
            .then_some(if self.prefix() >= other.prefix() {
                *self
            } else {
                *other
            })
    }

    /// The `n`-th address of an IPv4 network (0 is the network address), if
    /// the network holds it.
    pub fn nth_v4(&self, n: u32) -> Option<Ipv4Addr> {
        let IpNet::V4(network) = self.0 else {
            return None;
        };
        let size = 1_u64 << (32 - u32::from(network.prefix_len()));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(network.network()) + n))
    }

    /// The usable host addresses of an IPv4 pool, network and broadcast
    /// addresses left out (all of them for /31 and /32).
    pub fn hosts_v4(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let pool = match self.0 {
            IpNet::V4(network) if network.prefix_len() < 31 => Some(network.hosts()),
            _ => None,
        };
        pool.into_iter().flatten()
    }
}

impl FromStr for Network {
    type Err = InvalidCidr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let network: IpNet = text
            .trim()
            .parse()
            .map_err(|_| InvalidCidr(text.to_owned()))?;
        Ok(Self(network.trunc()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Network {
        text.parse().unwrap()
    }

    #[test]
    fn host_bits_are_cleared_and_bad_input_named() {
        assert_eq!(net("192.168.10.7/24").to_string(), "192.168.10.0/24");
        assert_eq!(net("fd00::1/64").to_string(), "fd00::/64");
        assert!("192.168.10.0/33".parse::<Network>().is_err());
        assert!("192.168.10.0".parse::<Network>().is_err());
        assert!("x/8".parse::<Network>().is_err());
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn overlap_is_nesting_within_one_family() {
        assert!(net("192.168.0.0/16").overlaps(&net("192.168.10.0/24")));
        assert!(net("192.168.10.0/24").overlaps(&net("192.168.0.0/16")));
        assert!(!net("192.168.10.0/24").overlaps(&net("192.168.11.0/24")));
        assert!(!net("10.0.0.0/8").overlaps(&net("fd00::/8")));
        assert_eq!(
            net("192.168.0.0/16").intersection(&net("192.168.10.0/24")),
            Some(net("192.168.10.0/24"))
        );
    }

    #[test]
    fn pool_hosts_skip_network_and_broadcast() {
        let hosts: Vec<Ipv4Addr> = net("10.200.0.0/30").hosts_v4().collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(10, 200, 0, 1), Ipv4Addr::new(10, 200, 0, 2)]
        );
        assert_eq!(net("10.200.0.0/22").hosts_v4().count(), 1022);
        assert_eq!(net("10.200.0.0/32").hosts_v4().count(), 0);
    }
}

//! IP networks in CIDR notation: parsing, overlap and the hosts of a pool.
//! Pure, IPv4 and IPv6 alike (a site may be either; tunnel pools are IPv4).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

/// A network: its first address (host bits cleared) and its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

/// Text that is not a network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a network in CIDR notation (e.g. 192.168.10.0/24)")]
pub struct InvalidCidr(pub String);

impl Network {
    /// The network of `address` with `prefix` bits, host bits cleared.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let bits = bits_of(address);
        (prefix <= bits).then(|| Self {
            address: from_u128(address, to_u128(address) & mask(prefix, bits)),
            prefix,
        })
    }

    /// First address of the network.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the two networks share at least one address.
    pub fn overlaps(&self, other: &Network) -> bool {
        if self.address.is_ipv4() != other.address.is_ipv4() {
            return false;
        }
        let shorter = self.prefix.min(other.prefix);
        let mask = mask(shorter, bits_of(self.address));
        to_u128(self.address) & mask == to_u128(other.address) & mask
    }

    /// The addresses both networks hold: the more specific of the two, when
    /// they overlap (two CIDR networks are nested or disjoint).
    pub fn intersection(&self, other: &Network) -> Option<Network> {
        self.overlaps(other)
            .then_some(if self.prefix >= other.prefix {
                *self
            } else {
                *other
            })
    }

    /// The `n`-th address of an IPv4 network (0 is the network address), if
    /// the network holds it.
    pub fn nth_v4(&self, n: u32) -> Option<Ipv4Addr> {
        let IpAddr::V4(first) = self.address else {
            return None;
        };
        let size = 1_u64 << (32 - u32::from(self.prefix));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(first) + n))
    }

    /// The usable host addresses of an IPv4 pool, network and broadcast
    /// addresses left out (all of them for /31 and /32).
    pub fn hosts_v4(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let size: u32 = match self.address {
            IpAddr::V4(_) if self.prefix < 31 => (1_u32 << (32 - u32::from(self.prefix))) - 2,
            _ => 0,
        };
        (1..=size).filter_map(|n| self.nth_v4(n))
    }
}

impl FromStr for Network {
    type Err = InvalidCidr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidCidr(text.to_owned());
        let (address, prefix) = text.trim().split_once('/').ok_or_else(invalid)?;
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        Self::new(address, prefix).ok_or_else(invalid)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

fn bits_of(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

fn mask(prefix: u8, bits: u8) -> u128 {
    let ones = if bits == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    let host = bits - prefix;
    if host >= 128 {
        0
    } else {
        ones & !((1_u128 << host) - 1)
    }
}

fn to_u128(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(like: IpAddr, value: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(
            u32::try_from(value).expect("an IPv4 value fits 32 bits"),
        )),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
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

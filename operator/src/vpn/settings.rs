//! Operator-wide settings of the VPN controller.

use std::time::Duration;

/// How the VPN controller reaches routers and manages the tunnels.
#[derive(Clone, Debug)]
pub struct VpnSettings {
    /// The Datacenter's ranges (the cluster's pod and service networks…):
    /// routed from every town hall through its tunnel, and never allowed to
    /// overlap a site network.
    pub cluster_cidrs: Vec<String>,
    /// Longest wait to open an SSH session to a router (TCP connect, key
    /// exchange and authentication) and for each command it runs.
    pub ssh_timeout: Duration,
    /// How often a router is read back to catch changes made by hand.
    pub drift_interval: Duration,
    /// How long a released tunnel address stays out of the pool, so that a
    /// router still configured with it cannot reach another member's peer.
    pub quarantine: Duration,
    /// Name of the WireGuard interface socle configures on routers.
    pub interface: String,
    /// How long offboarding keeps trying to remove the tunnel from a router
    /// that cannot be reached before it lets the Member go, saying in a
    /// Warning Event that the router must be cleaned by hand. The hub drops
    /// the peer at once regardless, so the tunnel carries nothing meanwhile.
    pub router_cleanup_deadline: Duration,
    /// The base URL of a gateway's API (`socle vpn-gateway`), `{namespace}`
    /// standing for the gateway's namespace. When set, a router is given a
    /// key (a new member's, a rotation's next one) only once the hub lists
    /// it: a router's handshake with a key the hub does not know yet is
    /// ignored, and WireGuard tries again only 5 s later. Unset, socle does
    /// not wait (a hub that is not `socle vpn-gateway`).
    pub gateway_api: Option<String>,
    /// How soon a member whose key the hub does not list yet is looked at
    /// again. Each look applies the hub Secret again (a no-op) and asks the
    /// hub, and in a cluster the hub sees a new key only once kubelet has
    /// refreshed its mounted Secret (within about a minute).
    pub hub_poll: Duration,
    /// How often the hubs are asked how each tunnel is ([`super::health`]).
    pub health_interval: Duration,
    /// How long the hub may hear nothing from a router (a handshake, or
    /// any packet: the router sends a keepalive every 25 s) before the
    /// member's tunnel is said down.
    pub silence_bound: Duration,
}

impl Default for VpnSettings {
    fn default() -> Self {
        Self {
            cluster_cidrs: vec!["10.96.0.0/12".into(), "10.244.0.0/16".into()],
            ssh_timeout: Duration::from_secs(15),
            drift_interval: Duration::from_secs(600),
            quarantine: Duration::from_secs(7 * 24 * 3600),
            interface: "socle0".into(),
            router_cleanup_deadline: Duration::from_secs(3600),
            gateway_api: None,
            hub_poll: Duration::from_secs(5),
            health_interval: Duration::from_secs(30),
            silence_bound: Duration::from_secs(90),
        }
    }
}

//! `socle vpn-gateway`: the hub's agent in the gateway pod (see
//! [`socle::vpn::gateway`]).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::Args;
use socle::vpn::gateway::{self, GatewaySettings};

#[derive(Debug, Args)]
pub struct VpnGatewayArgs {
    /// The hub configuration socle writes: `wg0.conf` of the Secret
    /// `socle-vpn-hub-<gateway>`, mounted. The interface takes its name.
    #[arg(
        long,
        env = "SOCLE_VPN_CONFIG",
        default_value = "/etc/socle-vpn/wg0.conf"
    )]
    pub config: PathBuf,
    /// Where `/metrics`, `/peers`, `/livez` and `/readyz` are served.
    #[arg(long, env = "SOCLE_VPN_ADMIN_ADDRESS", default_value = "0.0.0.0:9586")]
    pub admin_address: SocketAddr,
    /// Seconds between two reads of the configuration.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_seconds: u64,
    #[command(flatten)]
    pub logging: super::LogArgs,
}

pub async fn vpn_gateway(args: VpnGatewayArgs) -> Result<()> {
    args.logging.init()?;
    let settings = GatewaySettings {
        config: args.config,
        address: args.admin_address,
        interval: Duration::from_secs(args.interval_seconds),
    };
    gateway::run(settings, super::run::shutdown_signal())
        .await
        .context("vpn-gateway")
}

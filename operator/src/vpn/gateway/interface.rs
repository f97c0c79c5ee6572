//! Apply, at the hub: the WireGuard interface made (by the kernel, else by
//! `wireguard-go`), configured with `wg syncconf` — peers added, changed or
//! removed without touching the others' sessions, so no tunnel drops — then
//! its address and the routes to the peers' networks. Reads its peers'
//! figures with `wg show <if> dump`.

use std::{collections::BTreeMap, process::Stdio};

use tokio::{io::AsyncWriteExt, process::Command};
use tracing::info;
use zeroize::Zeroizing;

use super::{
    config::{HubConfig, InvalidConfig, Takeover},
    stats::{PeerStats, parse_dump},
};
use crate::vpn::{cidr::Network, router::redact};

/// Routes the gateway added carry this protocol, so that it removes only
/// its own.
const ROUTE_PROTOCOL: &str = "static";

/// A step of the gateway that failed. Messages never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] InvalidConfig),
    #[error("`{command}` failed: {reason}")]
    Command { command: String, reason: String },
}

/// The hub's WireGuard interface.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
}

impl Interface {
    /// Makes the interface hold `config`.
    pub async fn apply(&self, config: &HubConfig) -> Result<(), GatewayError> {
        let name = self.name.as_str();
        self.ensure_exists().await?;
        run("wg", &["syncconf", name, "/dev/stdin"], Some(&config.wg)).await?;
        let addresses = run("ip", &["-o", "address", "show", "dev", name], None).await?;
        for old in addresses_of(&addresses) {
            if old != config.address {
                run("ip", &["address", "delete", &old, "dev", name], None).await?;
            }
        }
        run(
            "ip",
            &["address", "replace", &config.address, "dev", name],
            None,
        )
        .await?;
        run("ip", &["link", "set", name, "up"], None).await?;
        self.sync_routes(&config.routes).await
    }

    /// Each peer's figures.
    pub async fn stats(
        &self,
        members: &BTreeMap<String, String>,
    ) -> Result<Vec<PeerStats>, GatewayError> {
        // The dump's first line holds the private key: kept zeroized.
        let dump = Zeroizing::new(run("wg", &["show", &self.name, "dump"], None).await?);
        Ok(parse_dump(&dump, members))
    }

    /// The public keys of the peers that had a handshake.
    pub async fn shaken_hands(&self) -> Result<Vec<String>, GatewayError> {
        let listing = run("wg", &["show", &self.name, "latest-handshakes"], None).await?;
        Ok(listing
            .lines()
            .filter_map(|line| {
                let (key, time) = line.split_once('\t')?;
                (time.trim() != "0").then(|| key.to_owned())
            })
            .collect())
    }

    /// Gives `takeover`'s next key its member's routes (WireGuard takes
    /// them from the current key: an address is allowed to one peer).
    pub async fn take_over(&self, takeover: &Takeover) -> Result<(), GatewayError> {
        run(
            "wg",
            &[
                "set",
                &self.name,
                "peer",
                &takeover.next_key,
                "allowed-ips",
                &takeover.allowed_ips,
            ],
            None,
        )
        .await
        .map(drop)
    }

    /// A kernel interface where the kernel has WireGuard, else wireguard-go
    /// (whose launcher returns once the interface exists): the choice
    /// wg-quick makes.
    async fn ensure_exists(&self) -> Result<(), GatewayError> {
        let name = self.name.as_str();
        if run("ip", &["link", "show", "dev", name], None)
            .await
            .is_ok()
        {
            return Ok(());
        }
        match run(
            "ip",
            &["link", "add", "dev", name, "type", "wireguard"],
            None,
        )
        .await
        {
            Ok(_) => info!(interface = name, "kernel WireGuard interface created"),
            Err(kernel) => {
                run("wireguard-go", &[name], None)
                    .await
                    .map_err(|userspace| GatewayError::Command {
                        command: format!(
                            "ip link add dev {name} type wireguard, then wireguard-go {name}"
                        ),
                        reason: format!("{kernel}; {userspace}"),
                    })?;
                info!(
                    interface = name,
                    "no WireGuard in the kernel: wireguard-go started"
                );
            }
        }
        Ok(())
    }

    /// Routes each network of `wanted` to the interface and removes the
    /// routes it added before that are no longer wanted.
    async fn sync_routes(&self, wanted: &[Network]) -> Result<(), GatewayError> {
        let name = self.name.as_str();
        let mut present = Vec::new();
        for family in ["-4", "-6"] {
            let listed = run(
                "ip",
                &[
                    "-o",
                    family,
                    "route",
                    "show",
                    "dev",
                    name,
                    "proto",
                    ROUTE_PROTOCOL,
                ],
                None,
            )
            .await?;
            present.extend(
                listed
                    .lines()
                    .filter_map(|line| line.split_whitespace().next())
                    .filter_map(|route| route.parse::<Network>().ok()),
            );
        }
        for route in wanted {
            let route = route.to_string();
            run(
                "ip",
                &[
                    "route",
                    "replace",
                    &route,
                    "dev",
                    name,
                    "proto",
                    ROUTE_PROTOCOL,
                ],
                None,
            )
            .await?;
        }
        for route in present.iter().filter(|route| !wanted.contains(route)) {
            let route = route.to_string();
            run(
                "ip",
                &[
                    "route",
                    "delete",
                    &route,
                    "dev",
                    name,
                    "proto",
                    ROUTE_PROTOCOL,
                ],
                None,
            )
            .await?;
        }
        Ok(())
    }
}

/// The `address/prefix` of each line of `ip -o address show`.
fn addresses_of(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|word| *word == "inet" || *word == "inet6")?;
            words.next().map(str::to_owned)
        })
        .filter(|address| !address.starts_with("fe80:"))
        .collect()
}

/// Runs `program args…`, feeding `stdin`; its standard output, or an error
/// with its (redacted) error output.
async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, GatewayError> {
    let failed = |reason: String| GatewayError::Command {
        command: format!("{program} {}", args.join(" ")),
        reason,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| failed(error.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|error| failed(error.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|error| failed(error.to_string()))?;
    if !output.status.success() {
        return Err(failed(format!(
            "{}: {}",
            output.status,
            redact(String::from_utf8_lossy(&output.stderr).trim())
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interfaces_addresses_are_read_from_ip() {
        let listing = "5: wg0    inet 10.200.0.1/24 scope global wg0\\       valid_lft forever preferred_lft forever\n\
                       5: wg0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n";
        assert_eq!(addresses_of(listing), ["10.200.0.1/24"]);
    }
}

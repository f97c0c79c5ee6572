//! The demo's tunnel: one commune's router is a real Linux router on this
//! machine (the tunnel tests' `socle_router_emulator::linux`: OpenSSH,
//! iproute2, wg-quick, nft and userspace WireGuard in a network namespace,
//! with the town hall's LAN behind it), and the Datacenter's hub is
//! `socle vpn-gateway` in a namespace of its own, fed the hub Secret as
//! kubelet would mount it. The operator pushes the tunnel over SSH, and the
//! town hall's PC pings an address behind the hub through it.
//!
//! The demo commune's router is a Linux router here, so the demo's copy of
//! its Member says `dialect: linux` (the OpenWrt dialect is tested against
//! an emulated `uci` shell only), and the gateway's public endpoint is the
//! hub's address in its namespace. The other communes' routers in
//! `manifests/examples` are fictional (`routeur.mairie-….example`): their
//! `spec.vpn` is left out of the demo's copy of the examples, so that the
//! demo shows one working tunnel rather than four unreachable routers
//! retried every few seconds. The example files themselves are unchanged.
//! Network namespaces need root: elsewhere the demo says so and goes on
//! without a tunnel.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Client,
    api::{Api, DynamicObject, Patch, PatchParams},
};
use serde_json::json;
use socle_router_emulator::{
    PACKAGES, Router, SshRouter,
    linux::{BEHIND_HUB, Datacenter, LinuxRouter, PUBLIC_ADDRESS},
};
use tokio::task::JoinHandle;

/// The commune whose tunnel the demo configures.
pub const COMMUNE: &str = "allaire";
/// Its town hall's network, as `manifests/examples` gives it (a /24).
const SITE: [u8; 3] = [192, 168, 10];
/// The hub Secret of the examples' gateway `vpn-datacenter`, and its key
/// (`socle::vpn::hub`).
const HUB_SECRET: &str = "socle-vpn-hub-vpn-datacenter";
const HUB_NAMESPACE: &str = "socle-vpn-gateway";
const HUB_CONFIG: &str = "wg0.conf";
/// The operator's namespace, where the router's credentials go.
const OPERATOR_NAMESPACE: &str = "socle-system";
/// How long the first push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(90);

/// The demo's Datacenter and router, or nothing when they cannot run here.
pub struct DemoRouter(Option<Tunnel>);

struct Tunnel {
    copier: Option<JoinHandle<()>>,
    dir: PathBuf,
    router: LinuxRouter,
    datacenter: Datacenter,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(copier) = self.copier.take() {
            copier.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl DemoRouter {
    /// Starts the Datacenter with its hub (the binary `socle`) and the
    /// commune's router, installing what they need when it is missing; or
    /// says why not and goes on without them.
    pub fn start(socle: &Path) -> Self {
        match start_tunnel(socle) {
            Ok(tunnel) => {
                println!(
                    "router of {COMMUNE}: Linux in a network namespace, SSH on {}:22 (pinned host key {}), the town hall's PC at {}; hub: socle vpn-gateway at {PUBLIC_ADDRESS}:51820",
                    tunnel.router.address(),
                    tunnel.router.host_key(),
                    tunnel.router.pc(),
                );
                Self(Some(tunnel))
            }
            Err(error) => {
                println!(
                    "no tunnel in this demo ({error:#}); every commune's spec.vpn is left out"
                );
                Self(None)
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// `socle run --vpn-gateway-api`: the hub's API, when there is a hub.
    pub fn gateway_api(&self) -> Option<String> {
        self.0
            .as_ref()
            .map(|tunnel| tunnel.datacenter.gateway_api())
    }

    /// Edits a document of the examples before it is applied: the demo
    /// commune's router becomes the Linux router, the gateway's endpoint
    /// the hub's, the other Members lose `spec.vpn`. Returns whether a
    /// fictional router was left out.
    pub fn edit(&self, object: &mut DynamicObject) -> bool {
        let kind = object.types.as_ref().map(|t| t.kind.as_str());
        let name = object.metadata.name.as_deref();
        let Some(spec) = object.data.get_mut("spec") else {
            return false;
        };
        match (&self.0, kind, name) {
            (Some(_), Some("SharedService"), _) => {
                if let Some(gateway) = spec.get_mut("vpnGateway") {
                    gateway["publicEndpoint"] = json!(format!("{PUBLIC_ADDRESS}:51820"));
                }
                false
            }
            (Some(tunnel), Some("Member"), Some(COMMUNE)) if spec.get("vpn").is_some() => {
                let target = &mut spec["vpn"]["router"];
                target["address"] = json!(tunnel.router.address());
                target["port"] = json!(tunnel.router.port());
                target["hostKey"] = json!(tunnel.router.host_key());
                target["dialect"] = json!("linux");
                false
            }
            (_, Some("Member"), _) => spec
                .as_object_mut()
                .is_some_and(|spec| spec.remove("vpn").is_some()),
            _ => false,
        }
    }

    /// The login the router accepts, in the Secret the demo commune's
    /// Member names; and the hub Secret copied to the hub's file from now on,
    /// as kubelet updates a mounted Secret.
    pub async fn apply_credentials(
        &mut self,
        client: &Client,
        members: &[DynamicObject],
    ) -> Result<()> {
        let Some(tunnel) = &mut self.0 else {
            return Ok(());
        };
        let member = members
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(COMMUNE))
            .with_context(|| format!("no Member {COMMUNE} among the examples"))?;
        let name = member.data["spec"]["vpn"]["router"]["credentialsSecret"]
            .as_str()
            .with_context(|| format!("Member {COMMUNE} names no credentialsSecret"))?;
        let router = &tunnel.router;
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            // Tied to its member: socle logs in with no other commune's Secret.
            "metadata": {"name": name, "namespace": OPERATOR_NAMESPACE,
                         "labels": {"socle.redon-agglomeration.bzh/member": COMMUNE}},
            "stringData": {"username": router.username(), "privateKey": router.client_private_key()},
        }))?;
        Api::<Secret>::namespaced(client.clone(), OPERATOR_NAMESPACE)
            .patch(
                name,
                &PatchParams::apply("socle-demo").force(),
                &Patch::Apply(&secret),
            )
            .await?;
        tunnel.copier = Some(tokio::spawn(copy_hub_secret(
            client.clone(),
            tunnel.dir.join(HUB_CONFIG),
        )));
        Ok(())
    }

    /// Waits until the demo commune's tunnel is configured and verified,
    /// then shows it: status, the router's file (private key left out), and
    /// the town hall's PC pinging the address behind the hub through it.
    pub async fn show(&self, client: &Client) -> Result<()> {
        let Some(tunnel) = &self.0 else {
            return Ok(());
        };
        let member = wait_for_tunnel(client).await?;
        // The demo's commune has a single router: the site `mairie`.
        let vpn = &member.data["status"]["vpn"]["sites"][0];
        println!(
            "  {COMMUNE}: tunnel address {}, public key {}",
            vpn["tunnelAddress"].as_str().unwrap_or("?"),
            vpn["publicKey"].as_str().unwrap_or("?"),
        );
        let router = &tunnel.router;
        println!(
            "  the router's interface runs public key {}",
            router.run("wg", &["show", "socle0", "public-key"]).trim()
        );
        println!("  the router's /etc/wireguard/socle0.conf, private key left out:");
        for line in without_private_keys(&router.run("cat", &["/etc/wireguard/socle0.conf"])) {
            println!("    {line}");
        }
        ping_through(router).await
    }
}

/// Starts the Datacenter, its hub and the router.
fn start_tunnel(socle: &Path) -> Result<Tunnel> {
    crate::debian::ensure_packages()?;
    let missing = Router::missing_tools();
    ensure!(
        missing.is_empty(),
        "{} missing: apt-get install {PACKAGES}",
        missing.join(", ")
    );
    ensure!(crate::debian::is_root()?, "network namespaces need root");
    // Where the namespaces find it (socle_router_emulator::wireguard_go).
    crate::tools::ensure_wireguard_go()?;
    let mut datacenter = Datacenter::create();
    let router = LinuxRouter::start(&datacenter, SITE);
    let dir = std::env::temp_dir().join(format!("socle-demo-hub-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    datacenter.start_gateway(
        socle,
        &dir.join(HUB_CONFIG),
        &crate::testenv::state_dir().join("logs/socle-vpn-gateway.log"),
    );
    Ok(Tunnel {
        copier: None,
        dir,
        router,
        datacenter,
    })
}

/// Copies the hub Secret's configuration to `path` at each change: written
/// beside, then renamed, as kubelet updates a mounted Secret.
async fn copy_hub_secret(client: Client, path: PathBuf) {
    let secrets = Api::<Secret>::namespaced(client, HUB_NAMESPACE);
    let mut last = Vec::new();
    loop {
        if let Ok(Some(secret)) = secrets.get_opt(HUB_SECRET).await {
            let data = secret
                .data
                .and_then(|mut data| data.remove(HUB_CONFIG))
                .map(|bytes| bytes.0)
                .unwrap_or_default();
            let next = path.with_extension("new");
            if data != last
                && std::fs::write(&next, &data).is_ok()
                && std::fs::rename(&next, &path).is_ok()
            {
                last = data;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The town hall's PC pings the address behind the hub, and prints what
/// ping says.
async fn ping_through(router: &LinuxRouter) -> Result<()> {
    let deadline = Instant::now() + PUSH_TIMEOUT;
    let behind = BEHIND_HUB.to_string();
    loop {
        let mut ping = router.lan().command("/usr/bin/ping");
        ping.args(["-c", "3", "-W", "1", &behind])
            .stdin(Stdio::null());
        let output = tokio::task::spawn_blocking(move || ping.output()).await??;
        if output.status.success() {
            println!("  from {COMMUNE}'s town hall PC, through the tunnel:");
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                println!("    {line}");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no answer from {behind} through {COMMUNE}'s tunnel after {PUSH_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `text` without its private key lines: what a demo may print.
fn without_private_keys(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.to_ascii_lowercase().contains("private"))
        .collect()
}

/// The demo commune's Member once its `VpnReady` is true.
async fn wait_for_tunnel(client: &Client) -> Result<DynamicObject> {
    let api: Api<DynamicObject> =
        Api::all_with(client.clone(), &super::socle_resource("Member", "members"));
    let deadline = Instant::now() + PUSH_TIMEOUT;
    loop {
        let member = api.get(COMMUNE).await?;
        let ready = super::condition(&member, "VpnReady");
        if ready.is_some_and(|c| c["status"] == "True") {
            return Ok(member);
        }
        if Instant::now() > deadline {
            bail!(
                "the tunnel of {COMMUNE} is not ready after {PUSH_TIMEOUT:?}: {}",
                ready.map_or("no VpnReady condition".into(), ToString::to_string)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_are_left_out() {
        let file = "[Interface]\nAddress = 10.200.0.2/22\nPrivateKey = c2VjcmV0\n[Peer]\nPublicKey = cHVibGlj";
        assert_eq!(
            without_private_keys(file),
            [
                "[Interface]",
                "Address = 10.200.0.2/22",
                "[Peer]",
                "PublicKey = cHVibGlj"
            ]
        );
    }
}

//! The demo's tunnel: one commune's Member pointed at a router emulated on
//! this machine (the `socle-router-emulator` the VPN tests use: a real
//! OpenSSH sshd on 127.0.0.1), so that the operator really pushes a
//! WireGuard configuration over SSH and verifies it.
//!
//! The other communes' routers in `manifests/examples` are fictional
//! (`routeur.mairie-….example`): their `spec.vpn` is left out of the demo's
//! copy of the examples, so that the demo shows one working tunnel rather
//! than four unreachable routers retried every few seconds. The example
//! files themselves are unchanged.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Client,
    api::{Api, DynamicObject, Patch, PatchParams},
};
use serde_json::json;
use socle_router_emulator::{PACKAGES, Router, SshRouter};

/// The commune whose tunnel the demo configures.
pub const COMMUNE: &str = "allaire";
/// The operator's namespace, where the router's credentials go.
const OPERATOR_NAMESPACE: &str = "socle-system";
/// How long the first push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(90);

/// The emulated router, or why there is none.
pub struct DemoRouter(Option<Router>);

impl DemoRouter {
    /// Starts the router, installing OpenSSH and wireguard-tools if they are
    /// missing; or says what is missing and goes on without it.
    pub fn start() -> Self {
        if let Err(error) = crate::debian::ensure_packages() {
            eprintln!("xtask: {error:#}");
        }
        let missing = Router::missing_tools();
        if missing.is_empty() {
            let router = Router::start();
            println!(
                "router of {COMMUNE} emulated on 127.0.0.1:{} (OpenSSH sshd, pinned host key {})",
                router.port(),
                router.host_key()
            );
            Self(Some(router))
        } else {
            println!(
                "no tunnel in this demo: {} missing (apt-get install {PACKAGES}); every commune's spec.vpn is left out",
                missing.join(", ")
            );
            Self(None)
        }
    }

    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// Edits a document of the examples before it is applied: the demo
    /// commune's router becomes the emulated one, the other Members lose
    /// `spec.vpn`. Returns whether a fictional router was left out.
    pub fn edit(&self, object: &mut DynamicObject) -> bool {
        let is_member = object.types.as_ref().is_some_and(|t| t.kind == "Member");
        let Some(spec) = object.data.get_mut("spec").filter(|_| is_member) else {
            return false;
        };
        match (&self.0, object.metadata.name.as_deref()) {
            (Some(router), Some(COMMUNE)) if spec.get("vpn").is_some() => {
                let target = &mut spec["vpn"]["router"];
                target["address"] = json!("127.0.0.1");
                target["port"] = json!(router.port());
                target["hostKey"] = json!(router.host_key());
                false
            }
            _ => spec
                .as_object_mut()
                .is_some_and(|spec| spec.remove("vpn").is_some()),
        }
    }

    /// The login the emulated router accepts, in the Secret the demo
    /// commune's Member names.
    pub async fn apply_credentials(
        &self,
        client: &Client,
        members: &[DynamicObject],
    ) -> Result<()> {
        let Some(router) = &self.0 else {
            return Ok(());
        };
        let member = members
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(COMMUNE))
            .with_context(|| format!("no Member {COMMUNE} among the examples"))?;
        let name = member.data["spec"]["vpn"]["router"]["credentialsSecret"]
            .as_str()
            .with_context(|| format!("Member {COMMUNE} names no credentialsSecret"))?;
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
        Ok(())
    }

    /// Waits until the demo commune's tunnel is configured and verified,
    /// then shows it: status, and what the router and the hub now hold,
    /// private keys left out.
    pub async fn show(&self, client: &Client) -> Result<()> {
        let Some(router) = &self.0 else {
            return Ok(());
        };
        let member = wait_for_tunnel(client).await?;
        let vpn = &member.data["status"]["vpn"];
        println!(
            "  {COMMUNE}: tunnel address {}, public key {}",
            vpn["tunnelAddress"].as_str().unwrap_or("?"),
            vpn["publicKey"].as_str().unwrap_or("?"),
        );
        println!(
            "  the router's interface runs public key {}",
            router
                .live_public_key("socle0")
                .as_deref()
                .unwrap_or("(none: not up)")
        );
        println!("  the router's configuration (uci show), private key left out:");
        for line in without_private_keys(&router.uci()) {
            println!("    {line}");
        }
        println!(
            "  commands socle ran on the router: {} reads, {} write, {} verification",
            router.steps("read"),
            router.steps("apply"),
            router.steps("verify")
        );
        Ok(())
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
        let uci = "network.socle0.proto='wireguard'\nnetwork.socle0.private_key='c2VjcmV0'\nnetwork.socle0_hub.public_key='cHVibGlj'";
        assert_eq!(
            without_private_keys(uci),
            [
                "network.socle0.proto='wireguard'",
                "network.socle0_hub.public_key='cHVibGlj'"
            ]
        );
    }
}

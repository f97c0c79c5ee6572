//! A tenant's data volume as the exit tests follow it: bound to its claim
//! on the testenv's provisioner, then released and kept when the namespace
//! goes.

use anyhow::{Context as _, ensure};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::{Api, Client};

use crate::{eventually, examples::CONVERGE};

/// The volume bound to the claim `claim` of `namespace`, once it is bound.
pub async fn bound_volume(client: &Client, namespace: &str, claim: &str) -> PersistentVolume {
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace);
    let volume = eventually(CONVERGE, || async {
        let live = claims.get(claim).await?;
        let phase = live.status.as_ref().and_then(|s| s.phase.clone());
        ensure!(
            phase.as_deref() == Some("Bound"),
            "claim {claim} is {phase:?}"
        );
        live.spec
            .and_then(|spec| spec.volume_name)
            .context("a bound claim names its volume")
    })
    .await;
    Api::<PersistentVolume>::all(client.clone())
        .get(&volume)
        .await
        .unwrap_or_else(|error| panic!("volume {volume} of claim {claim}: {error}"))
}

/// Until the volume is Released: its claim gone with the namespace.
pub async fn wait_released(client: &Client, volume: &str) {
    let volumes = Api::<PersistentVolume>::all(client.clone());
    eventually(CONVERGE, || async {
        let phase = volumes.get(volume).await?.status.and_then(|s| s.phase);
        ensure!(
            phase.as_deref() == Some("Released"),
            "volume {volume} is {phase:?}"
        );
        Ok(())
    })
    .await;
}

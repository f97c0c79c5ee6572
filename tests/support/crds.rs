//! Installing CRDs the way every e2e test does: server-side apply under the
//! tests' field manager (idempotent; never deleted — other tests use them),
//! then waiting until each is Established.

use std::time::Duration;

use anyhow::ensure;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
};

use crate::eventually;

/// Applies `crds` and waits until each is Established.
pub async fn install_crds(client: &Client, crds: &[CustomResourceDefinition]) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let params = PatchParams::apply("socle-e2e").force();
    for crd in crds {
        api.patch(&crd.name_any(), &params, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|error| panic!("installing CRD {}: {error}", crd.name_any()));
    }
    eventually(Duration::from_secs(30), || async {
        for crd in crds {
            let live = api.get(&crd.name_any()).await?;
            let established = live
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            ensure!(established, "CRD {} is not established", crd.name_any());
        }
        Ok(())
    })
    .await;
}

/// socle's own CRDs, installed and Established.
pub async fn install_socle_crds(client: &Client) {
    install_crds(client, &socle::api::crds()).await;
}

//! The raw ceiling: how many objects per second a minimal client can create
//! by server-side apply on this API server — no reads, no logic, only
//! applies of small ConfigMaps from parallel tasks.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::Result;
use futures::future::try_join_all;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client,
    api::{ObjectMeta, Patch, PatchParams},
};
use serde::Serialize;

/// What one concurrency level achieved.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingSample {
    pub concurrency: usize,
    pub applied: usize,
    pub seconds: f64,
    pub per_second: f64,
}

/// Applies new ConfigMaps into `namespace` with `concurrency` tasks for
/// `duration`, at each concurrency level, and reports each. The objects are
/// left in the namespace (the caller deletes it).
pub async fn measure(
    client: &Client,
    namespace: &str,
    levels: &[usize],
    duration: Duration,
) -> Result<Vec<CeilingSample>> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let params = PatchParams::apply("socle-bench-ceiling").force();
    let mut samples = Vec::new();
    for &concurrency in levels {
        let applied = AtomicUsize::new(0);
        let started = Instant::now();
        let deadline = started + duration;
        try_join_all((0..concurrency).map(|task| {
            let (api, params, applied) = (&api, &params, &applied);
            async move {
                let mut i = 0;
                while Instant::now() < deadline {
                    let name = format!("ceiling-c{concurrency}-t{task}-{i}");
                    api.patch(&name, params, &Patch::Apply(&config_map(&name)))
                        .await?;
                    applied.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                anyhow::Ok(())
            }
        }))
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        let applied = applied.into_inner();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        samples.push(CeilingSample {
            concurrency,
            applied,
            seconds,
            per_second: applied as f64 / seconds,
        });
    }
    Ok(samples)
}

/// A ConfigMap about the size of one of socle's tenant objects (a network
/// policy or a quota: a few labels and ~400 bytes of content).
fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                [
                    ("app.kubernetes.io/managed-by", "socle-bench"),
                    ("socle.redon-agglomeration.bzh/component", "ceiling"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            ..ObjectMeta::default()
        },
        data: Some([("payload".to_owned(), "x".repeat(400))].into()),
        ..ConfigMap::default()
    }
}

//! The GitOps repository of the tests, and Flux applying it.
//!
//! - [`GitServer`] (from `router-emulator`, shared with the demo): a bare
//!   Git repository served by a real OpenSSH `sshd` on 127.0.0.1, which
//!   accepts one deploy key and runs nothing but `git-shell` for it; and the
//!   DSI's working copy, where a merged pull request is a commit pushed to it.
//! - [`FluxSync`]: Flux's GitRepository (SSH, the deploy key and the pinned
//!   host key in a Secret) and Kustomization (`prune: true`) in a namespace
//!   of the test's scope, applied by the testenv's source-controller and
//!   kustomize-controller (`cargo xtask testenv up` starts them).
//!
//! Keys live in files of the server's directory and in the Secret; nothing
//! here prints them.

use std::{fs, time::Duration};

use anyhow::{Context as _, ensure};
use k8s_openapi::{api::core::v1::Secret, jiff::Timestamp};
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

pub use crate::router::git::{BRANCH, GitServer};
use crate::{TestScope, eventually};

/// Panics, saying how to get it, unless the testenv runs Flux.
pub fn require_flux() {
    let state = crate::audit::testenv_state();
    assert!(
        state.get("flux").is_some_and(|flux| !flux.is_null()),
        "the testenv runs without Flux: `cargo xtask testenv down`, then `cargo xtask testenv \
         up` (without --no-flux)"
    );
}

fn git_repository() -> ApiResource {
    ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        plural: "gitrepositories".into(),
    }
}

fn kustomization() -> ApiResource {
    ApiResource {
        group: "kustomize.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        plural: "kustomizations".into(),
    }
}

/// Flux following a [`GitServer`]'s repository: a GitRepository and a
/// Kustomization, both named [`FluxSync::NAME`], in a namespace of the
/// scope.
pub struct FluxSync {
    client: Client,
    namespace: String,
}

impl std::fmt::Debug for FluxSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FluxSync")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl FluxSync {
    /// The name of the GitRepository, its Secret and the Kustomization: the
    /// template's (`gitops/`) for the members' Kustomization.
    pub const NAME: &'static str = "socle-adherents";

    /// A namespace of the scope holding the deploy key's Secret, a
    /// GitRepository of `server` over SSH (interval 1m, as the template's)
    /// and a Kustomization of its root with `prune: true`.
    pub async fn start(scope: &TestScope, server: &GitServer) -> Self {
        Self::start_pinning(scope, server, &server.known_hosts()).await
    }

    /// [`FluxSync::start`], Flux pinning `known_hosts` as the server's key.
    pub async fn start_pinning(scope: &TestScope, server: &GitServer, known_hosts: &str) -> Self {
        let client = scope.client();
        let namespace = scope.create_namespace("flux").await;
        create_deploy_key_secret(scope, server, &namespace, known_hosts).await;
        let labels = scope.labels();
        let repository = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": Self::NAME, "namespace": namespace, "labels": labels},
            "spec": {
                "interval": "1m",
                "url": server.url(),
                "ref": {"branch": BRANCH},
                "secretRef": {"name": Self::NAME},
                "timeout": "30s",
            },
        });
        let sync = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": Self::NAME, "namespace": namespace, "labels": labels},
            "spec": {
                "interval": "10m",
                "retryInterval": "5s",
                "timeout": "2m",
                "sourceRef": {"kind": "GitRepository", "name": Self::NAME},
                "path": "./",
                "prune": true,
            },
        });
        for (resource, object) in [(git_repository(), repository), (kustomization(), sync)] {
            let object: DynamicObject = serde_json::from_value(object).expect("a Flux object");
            Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource)
                .create(&PostParams::default(), &object)
                .await
                .unwrap_or_else(|error| panic!("creating a Flux {}: {error}", resource.kind));
        }
        Self { client, namespace }
    }

    /// The namespace of the Flux objects.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// What a Git host's push webhook has Flux do (notification-controller's
    /// Receiver annotates the GitRepository so): fetch now rather than at
    /// the next interval.
    pub async fn request_fetch(&self) {
        let patch = json!({"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": Timestamp::now().to_string(),
        }}});
        Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &git_repository(),
        )
        .patch(Self::NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|error| panic!("annotating the GitRepository: {error}"));
    }

    /// The GitRepository's `Ready` condition: status and message.
    pub async fn source_ready(&self) -> kube::Result<(String, String)> {
        let source = Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &git_repository(),
        )
        .get(Self::NAME)
        .await?;
        Ok(ready_condition(&source.data))
    }

    /// What the Kustomization has applied so far (`lastAppliedRevision`).
    pub async fn applied_revision(&self) -> kube::Result<String> {
        let sync = Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &kustomization(),
        )
        .get(Self::NAME)
        .await?;
        Ok(sync.data["status"]["lastAppliedRevision"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Waits until the Kustomization has applied `commit` and is Ready;
    /// says what Flux reports meanwhile.
    pub async fn wait_applied(&self, commit: &str, timeout: Duration) {
        let api = Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &kustomization(),
        );
        let sources = Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &git_repository(),
        );
        eventually(timeout, || async {
            let sync = api.get(Self::NAME).await?;
            let applied = sync.data["status"]["lastAppliedRevision"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let ready = ready_condition(&sync.data);
            if applied.ends_with(commit) && ready.0 == "True" {
                return Ok(());
            }
            let source = sources.get(Self::NAME).await?;
            let fetched = source.data["status"]["artifact"]["revision"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let source_ready = ready_condition(&source.data);
            anyhow::bail!(
                "Kustomization applied {applied:?} (Ready {}: {}); GitRepository fetched \
                 {fetched:?} (Ready {}: {}); waiting for {commit}",
                ready.0,
                ready.1,
                source_ready.0,
                source_ready.1
            )
        })
        .await;
    }

    /// Deletes the Kustomization (with `prune`, what it applied goes too)
    /// and the GitRepository, and waits until Flux has let both go.
    pub async fn delete(self, timeout: Duration) {
        for resource in [kustomization(), git_repository()] {
            let api = Api::<DynamicObject>::namespaced_with(
                self.client.clone(),
                &self.namespace,
                &resource,
            );
            match api.delete(Self::NAME, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => panic!("deleting the {}: {error}", resource.kind),
            }
            eventually(timeout, || async {
                ensure!(
                    api.get_opt(Self::NAME).await?.is_none(),
                    "the {} is still there",
                    resource.kind
                );
                Ok(())
            })
            .await;
        }
    }
}

/// The Secret Flux reads for SSH (`identity`, `identity.pub`,
/// `known_hosts`), named [`FluxSync::NAME`] in `namespace`.
async fn create_deploy_key_secret(
    scope: &TestScope,
    server: &GitServer,
    namespace: &str,
    known_hosts: &str,
) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": FluxSync::NAME, "namespace": namespace, "labels": scope.labels()},
        "type": "Opaque",
        "stringData": {
            "identity": server.deploy_key(),
            "identity.pub": server.deploy_key_pub(),
            "known_hosts": known_hosts,
        },
    }))
    .expect("a Secret");
    // The error alone in the message: never the object, which holds the key.
    if let Err(error) = Api::<Secret>::namespaced(scope.client(), namespace)
        .create(&PostParams::default(), &secret)
        .await
    {
        panic!("creating the deploy key's Secret: {error}");
    }
}

/// The `Ready` condition's status and message of a Flux object.
fn ready_condition(object: &Value) -> (String, String) {
    object["status"]["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready"))
        .map_or_else(
            || ("Unknown".into(), "no Ready condition yet".into()),
            |c| {
                (
                    c["status"].as_str().unwrap_or_default().to_owned(),
                    c["message"].as_str().unwrap_or_default().to_owned(),
                )
            },
        )
}

/// The inventory of the Kustomization: the objects it applied, as
/// `<namespace>_<name>_<group>_<kind>` ids.
pub async fn inventory(client: &Client, namespace: &str) -> anyhow::Result<Vec<String>> {
    let sync = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &kustomization())
        .get(FluxSync::NAME)
        .await?;
    Ok(sync.data["status"]["inventory"]["entries"]
        .as_array()
        .context("no inventory yet")?
        .iter()
        .filter_map(|entry| entry["id"].as_str().map(str::to_owned))
        .collect())
}

/// Whether the deploy key's private half shows in what Flux's controllers
/// and the Git server's sshd logged: the names of the logs that show a line
/// of it (none is printed).
pub fn logs_showing_the_deploy_key(server: &GitServer) -> Vec<String> {
    let key = server.deploy_key();
    let body: Vec<&str> = key
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .collect();
    assert!(!body.is_empty(), "the deploy key has a body");
    let logs = crate::audit::testenv_dir().join("logs");
    ["source-controller", "kustomize-controller"]
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default(),
            )
        })
        .chain([("sshd".to_owned(), server.sshd_log())])
        .filter(|(_, text)| body.iter().any(|line| text.contains(line)))
        .map(|(name, _)| name)
        .collect()
}

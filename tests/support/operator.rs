//! The operator under test, run in-process: one per test scope, managing only
//! the scope's Members, with tenant namespaces of its own prefix.

use std::{
    sync::mpsc::{self, RecvTimeoutError},
    thread,
    time::Duration,
};

use anyhow::{bail, ensure};
use futures::channel::oneshot;
use k8s_openapi::api::{
    core::v1::{Namespace, PersistentVolumeClaim},
    events::v1::Event,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;
use socle::{
    api::Member,
    controller::Context,
    labels::CONFIRM_OFFBOARDING,
    tenant::{self, plan::TenantSettings},
};

use crate::{TestScope, connect::HOW_TO_START, eventually};

/// Namespace the operator believes it runs in (the tenant controller does not
/// use it).
const OPERATOR_NAMESPACE: &str = "socle-system";
/// How long [`Operator::stop`] waits for the offboarding of every Member.
const OFFBOARDING_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the operator has to finish its reconciles once told to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The tenant controller of `socle run`, started for one [`TestScope`]:
/// it manages the Members labelled with the scope
/// ([`TestScope::selector`]) and names their namespaces
/// `t<id>-<member>`. It runs on a thread of its own with its own runtime and
/// the operator's credentials (`$SOCLE_OPERATOR_KUBECONFIG`, user
/// `socle-operator`), so that it outlives no test and the audit log tells its
/// requests apart.
///
/// End the test with [`Operator::stop`] and then [`TestScope::cleanup`]. If
/// the test panics before, dropping the operator stops it and deletes the
/// scope's Members (finalizers removed) and tenant namespaces, without
/// waiting.
pub struct Operator {
    client: Client,
    selector: String,
    prefix: String,
    auditor_group: String,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<mpsc::Receiver<()>>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("selector", &self.selector)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Installs socle's CRDs (server-side apply, idempotent; never deleted)
    /// and starts the tenant controller for `scope`.
    pub async fn start(scope: &TestScope) -> Self {
        let client = scope.client();
        install_crds(&client).await;
        let config = operator_config().await;
        let selector = scope.selector();
        let prefix = format!("t{}-", scope.id());
        let auditor_group = format!("socle-e2e:auditors-{}", scope.id());
        let settings = TenantSettings {
            namespace_prefix: prefix.clone(),
            auditor_group: auditor_group.clone(),
        };
        let (stop, stop_signal) = oneshot::channel::<()>();
        let (done, stopped) = mpsc::channel::<()>();
        let member_selector = selector.clone();
        thread::Builder::new()
            .name(format!("operator-{}", scope.id()))
            .spawn(move || {
                // Dropped when the operator has stopped: `stopped` then disconnects.
                let _done = done;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the operator");
                runtime.block_on(async move {
                    let client = Client::try_from(config).expect("a client for the operator");
                    let context =
                        Context::new(client, OPERATOR_NAMESPACE.into(), Some(member_selector));
                    let shutdown = async move {
                        stop_signal.await.ok();
                    };
                    tenant::run(context, settings, shutdown).await;
                });
            })
            .expect("spawning the operator's thread");
        Self {
            client,
            selector,
            prefix,
            auditor_group,
            stop: Some(stop),
            stopped: Some(stopped),
        }
    }

    /// `t<id>-`: the prefix of this operator's tenant namespaces.
    pub fn namespace_prefix(&self) -> &str {
        &self.prefix
    }

    /// The tenant namespace of the Member named `member`.
    pub fn tenant_namespace(&self, member: &str) -> String {
        format!("{}{member}", self.prefix)
    }

    /// The group of the DSI's auditors this operator grants read access to.
    pub fn auditor_group(&self) -> &str {
        &self.auditor_group
    }

    /// Offboards every Member of the scope (confirmed, then deleted), waits
    /// until the Members and the tenant namespaces are gone, then stops the
    /// operator and deletes the Events it published about the scope's
    /// Members. Panics, naming what is left, after 90 s.
    pub async fn stop(mut self) {
        let members = Api::<Member>::all(self.client.clone());
        let namespaces = Api::<Namespace>::all(self.client.clone());
        for member in members
            .list(&ListParams::default().labels(&self.selector))
            .await
            .expect("listing the scope's Members")
        {
            let name = member.name_any();
            let confirm = json!({"metadata": {"annotations": {CONFIRM_OFFBOARDING: name}}});
            members
                .patch(&name, &PatchParams::default(), &Patch::Merge(&confirm))
                .await
                .unwrap_or_else(|error| panic!("confirming the offboarding of {name}: {error}"));
            match members.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => panic!("deleting Member {name}: {error}"),
            }
        }
        eventually(OFFBOARDING_TIMEOUT, || async {
            for namespace in tenant_namespaces(&namespaces, &self.prefix).await? {
                release_claims(&self.client, &namespace).await?;
            }
            let left: Vec<String> = members
                .list_metadata(&ListParams::default().labels(&self.selector))
                .await?
                .items
                .iter()
                .map(|member| format!("Member {}", member.name_any()))
                .chain(
                    tenant_namespaces(&namespaces, &self.prefix)
                        .await?
                        .into_iter()
                        .map(|namespace| format!("namespace {namespace}")),
                )
                .collect();
            ensure!(left.is_empty(), "offboarding: still there: {left:?}");
            Ok(())
        })
        .await;
        self.shut_down().await;
        delete_events(&self.client, &self.prefix).await;
    }

    /// Tells the operator to stop and waits until it has.
    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(stopped) = self.stopped.take() {
            let outcome =
                tokio::task::spawn_blocking(move || stopped.recv_timeout(SHUTDOWN_TIMEOUT))
                    .await
                    .expect("waiting for the operator");
            assert!(
                !matches!(outcome, Err(RecvTimeoutError::Timeout)),
                "the operator did not stop within {SHUTDOWN_TIMEOUT:?}"
            );
        }
    }
}

impl Drop for Operator {
    /// The safety net of a test that panicked: stops the operator, then
    /// removes the finalizers of the scope's Members, deletes them and the
    /// tenant namespaces, without waiting. Never panics.
    fn drop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        stop.send(()).ok();
        if let Some(stopped) = self.stopped.take() {
            stopped.recv_timeout(SHUTDOWN_TIMEOUT).ok();
        }
        let (selector, prefix) = (self.selector.clone(), self.prefix.clone());
        // The test's runtime is unwinding: a runtime and client of our own.
        let outcome = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let client = crate::connect::try_connect().await?;
                let deleted = force_delete(&client, &selector, &prefix).await;
                delete_events(&client, &prefix).await;
                deleted.map_err(|error| format!("{error:#}"))
            })
        })
        .join();
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => "the cleanup thread panicked".to_owned(),
        };
        eprintln!(
            "Operator {prefix}: leftovers may remain (kubectl get members -l {selector}; \
             kubectl get ns | grep ^{prefix}): {failure}",
            prefix = self.prefix,
            selector = self.selector
        );
    }
}

/// A client with the operator's credentials: `$SOCLE_OPERATOR_KUBECONFIG`
/// (user `socle-operator`), to tell its requests apart in the audit log.
pub async fn operator_client() -> Client {
    Client::try_from(operator_config().await).expect("a client for the operator")
}

async fn operator_config() -> Config {
    let path = std::env::var_os("SOCLE_OPERATOR_KUBECONFIG").unwrap_or_else(|| {
        panic!("SOCLE_OPERATOR_KUBECONFIG is not set (the testenv writes operator.kubeconfig next to the kubeconfig): {HOW_TO_START}")
    });
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {} ({error}): {HOW_TO_START}",
            path.to_string_lossy()
        )
    });
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|error| panic!("unusable operator kubeconfig ({error}): {HOW_TO_START}"))
}

/// The finalizer the API server puts on every PersistentVolumeClaim.
const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";

/// Stands in for kube-controller-manager's pvc-protection controller, which
/// the testenv does not run: once `namespace` is being deleted, its claims
/// (no pod can use them: there is no kubelet) lose their
/// `kubernetes.io/pvc-protection` finalizer, so that the namespace can go.
/// Does nothing to a namespace that is not being deleted.
pub async fn release_claims(client: &Client, namespace: &str) -> kube::Result<()> {
    let terminating = Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await?
        .is_some_and(|ns| ns.metadata.deletion_timestamp.is_some());
    if !terminating {
        return Ok(());
    }
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace);
    for claim in claims.list_metadata(&ListParams::default()).await? {
        let finalizers = claim.finalizers();
        if finalizers.iter().any(|f| f == PVC_PROTECTION) {
            let kept: Vec<&String> = finalizers.iter().filter(|f| *f != PVC_PROTECTION).collect();
            let patch = json!({"metadata": {
                "finalizers": kept,
                "resourceVersion": claim.resource_version(),
            }});
            match claims
                .patch(
                    &claim.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {}
                // Gone, or changed meanwhile: the next round sees it again.
                Err(kube::Error::Api(status)) if status.is_not_found() || status.code == 409 => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// Server-side applies every socle CRD and waits until each is established.
async fn install_crds(client: &Client) {
    crate::install_socle_crds(client).await;
}

/// Names of the namespaces starting with `prefix`.
pub async fn tenant_namespaces(
    namespaces: &Api<Namespace>,
    prefix: &str,
) -> kube::Result<Vec<String>> {
    Ok(namespaces
        .list_metadata(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .filter(|name| name.starts_with(prefix))
        .collect())
}

/// Deletes the Events about the scope's Members (cluster-scoped: their
/// Events are in `default`), recognised by the scope's id in their names.
/// Events expire anyway: a failure is only logged.
async fn delete_events(client: &Client, prefix: &str) {
    let id = prefix.trim_start_matches('t').trim_end_matches('-');
    let events = Api::<Event>::namespaced(client.clone(), "default");
    let listed = match events.list(&ListParams::default()).await {
        Ok(listed) => listed,
        Err(error) => {
            eprintln!("listing Events to delete those of {prefix}: {error}");
            return;
        }
    };
    for event in listed {
        let about_scope = event
            .regarding
            .as_ref()
            .and_then(|regarding| regarding.name.as_deref())
            .is_some_and(|name| name.ends_with(&format!("-{id}")));
        if about_scope {
            match events
                .delete(&event.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => eprintln!("deleting Event {}: {error}", event.name_any()),
            }
        }
    }
}

/// Without the operator: the scope's Members lose their finalizers and are
/// deleted, and so are the tenant namespaces (those starting with `prefix`).
pub async fn force_delete(client: &Client, selector: &str, prefix: &str) -> anyhow::Result<()> {
    let members = Api::<Member>::all(client.clone());
    let mut errors = Vec::new();
    for member in members
        .list_metadata(&ListParams::default().labels(selector))
        .await?
    {
        let name = member.name_any();
        let unfinalized = json!({"metadata": {"finalizers": null}});
        match members
            .patch(&name, &PatchParams::default(), &Patch::Merge(&unfinalized))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => continue,
            Err(error) => errors.push(format!("removing the finalizers of {name}: {error}")),
        }
        match members.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            // Already being deleted: gone with its finalizers.
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => errors.push(format!("deleting Member {name}: {error}")),
        }
    }
    let namespaces = Api::<Namespace>::all(client.clone());
    for namespace in tenant_namespaces(&namespaces, prefix).await? {
        if let Err(error) = namespaces
            .delete(&namespace, &DeleteParams::background())
            .await
        {
            errors.push(format!("deleting namespace {namespace}: {error}"));
        }
        if let Err(error) = release_claims(client, &namespace).await {
            errors.push(format!("releasing the claims of {namespace}: {error}"));
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

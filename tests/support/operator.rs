//! The operator under test, run in-process: one per test scope, managing only
//! the scope's Members, with tenant namespaces of its own prefix.

use std::{
    sync::{
        Arc,
        mpsc::{self, RecvTimeoutError},
    },
    thread,
    time::Duration,
};

use anyhow::{bail, ensure};
use futures::{FutureExt, channel::oneshot};
use k8s_openapi::api::{
    admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    core::v1::{Namespace, PersistentVolumeClaim},
    events::v1::Event,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::json;
use socle::{
    api::Member,
    backup::{self, BackupSettings},
    billing,
    labels::CONFIRM_OFFBOARDING,
    runtime::{Context, telemetry::Metrics, watch::MemberWatch},
    tenant::{self, TenantSettings},
};

use crate::{TestScope, eventually, install::ScopedInstall};

/// How long [`Operator::stop`] waits for the offboarding of every Member.
// 31 namespaces emptied by kube-controller-manager while seven other tests
// run on two cores can take more than a minute and a half.
const OFFBOARDING_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the operator has to finish its reconciles once told to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The tenant controller of `socle run`, started for one [`TestScope`]:
/// it manages the Members labelled with the scope
/// ([`TestScope::selector`]) and names their namespaces
/// `t<id>-<member>`. It runs with the shipped permissions only: the install
/// of `manifests/` is copied into the scope ([`ScopedInstall`]) and the
/// controllers authenticate as its ServiceAccount, with a token. It runs on a
/// thread of its own with its own runtime, so that it outlives no test.
/// [`Operator::start_with_billing`] adds the statement controller, working
/// in the install's copy of `socle-system`.
///
/// End the test with [`Operator::stop`] and then [`TestScope::cleanup`]. If
/// the test panics before, dropping the operator stops it and deletes the
/// scope's Members (finalizers removed) and tenant namespaces, without
/// waiting.
pub struct Operator {
    client: Client,
    install: ScopedInstall,
    settings: Settings,
    running: Running,
}

/// What an operator of the scope is started with.
#[derive(Clone)]
struct Settings {
    config: Config,
    selector: String,
    prefix: String,
    auditor_group: String,
    /// The install's copy of the tenant administrators' ClusterRole.
    admin_role: String,
    /// The operator's own namespace (Secrets, statements, usage).
    namespace: String,
    /// Where its Velero access is (exit backups).
    velero_namespace: String,
    /// With the testenv's Velero: the backup controller runs, with the
    /// install's drill inspector role and Velero's metrics.
    backups: Option<(String, String)>,
    /// Whether the statement controller runs.
    billing: bool,
    /// The controllers' metrics, kept across restarts.
    metrics: Arc<Metrics>,
}

/// One running copy of the controllers, on its own thread and runtime.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<mpsc::Receiver<()>>,
}

/// A second copy of the scope's operator, running beside it as a second
/// replica would without a leader lease: everything it does, it does twice.
#[derive(Debug)]
pub struct Replica(Running);

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("selector", &self.settings.selector)
            .field("prefix", &self.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("running", &self.stop.is_some())
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Installs socle's CRDs (server-side apply, idempotent; never deleted)
    /// and starts the tenant controller for `scope`.
    pub async fn start(scope: &TestScope) -> Self {
        let install = ScopedInstall::apply(scope).await;
        Self::start_in(scope, install, false, false).await
    }

    /// Like [`Operator::start`], its Velero access in the testenv's Velero
    /// namespace, where `velero server` takes the exit backups.
    /// Its backup controller runs too, reading the tarballs' sizes from
    /// `velero server`'s metrics.
    pub async fn start_with_velero(scope: &TestScope) -> Self {
        let install = ScopedInstall::apply_in_velero(scope, "velero").await;
        Self::start_in(scope, install, false, true).await
    }

    /// [`Operator::start_with_velero`] without the backup controller: for a
    /// test whose storage location is missing on purpose, which the backup
    /// controller would report (`StorageUnavailable`, the Member not Ready).
    pub async fn start_with_velero_access_only(scope: &TestScope) -> Self {
        let install = ScopedInstall::apply_in_velero(scope, "velero").await;
        Self::start_in(scope, install, false, false).await
    }

    /// Like [`Operator::start`], with the statement controller (statements,
    /// estimates, metering) writing in [`Operator::namespace`].
    pub async fn start_with_billing(scope: &TestScope) -> Self {
        let install = ScopedInstall::apply(scope).await;
        Self::start_in(scope, install, true, false).await
    }

    async fn start_in(
        scope: &TestScope,
        install: ScopedInstall,
        billing: bool,
        backups: bool,
    ) -> Self {
        let client = scope.client();
        install_crds(&client).await;
        let settings = Settings {
            config: install.operator_config(&client).await,
            selector: scope.selector(),
            prefix: scope.tenant_prefix(),
            auditor_group: format!("socle-e2e:auditors-{}", scope.id()),
            admin_role: install.tenant_admin_role.clone(),
            namespace: install.namespace.clone(),
            velero_namespace: install.velero_namespace.clone(),
            backups: backups.then(|| {
                (
                    install.drill_inspector_role.clone(),
                    crate::velero::metrics_url(),
                )
            }),
            billing,
            metrics: Arc::default(),
        };
        let running = Running::spawn(settings.clone(), scope.id());
        Self {
            client,
            install,
            settings,
            running,
        }
    }

    /// How many reconciles `controller` has run since the operator started,
    /// restarts included.
    pub fn reconciles(&self, controller: &'static str) -> u64 {
        self.settings.metrics.reconciles(controller)
    }

    /// The operator's namespace: the scope's copy of `socle-system`.
    pub fn namespace(&self) -> &str {
        &self.install.namespace
    }

    /// Who the operator is in the audit log: its ServiceAccount.
    pub fn identity(&self) -> String {
        self.install.identity()
    }

    /// Stops the controllers and starts them again, as a restarted pod would:
    /// nothing survives but what is in the API server.
    pub async fn restart(&mut self) {
        self.running.shut_down().await;
        self.running = Running::spawn(self.settings.clone(), "restarted");
    }

    /// A second copy of the same controllers, running at the same time.
    pub fn replica(&self) -> Replica {
        Replica(Running::spawn(self.settings.clone(), "replica"))
    }

    /// `t<id>-`: the prefix of this operator's tenant namespaces.
    pub fn namespace_prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// The tenant namespace of the Member named `member`.
    pub fn tenant_namespace(&self, member: &str) -> String {
        format!("{}{member}", self.settings.prefix)
    }

    /// The group of the DSI's auditors this operator grants read access to.
    pub fn auditor_group(&self) -> &str {
        &self.settings.auditor_group
    }

    /// The ClusterRole this operator binds to each tenant's administrators
    /// (the install's copy of `socle-tenant-admin`).
    pub fn tenant_admin_role(&self) -> &str {
        &self.settings.admin_role
    }

    /// Offboards every Member of the scope (confirmed, then deleted), waits
    /// until the Members and the tenant namespaces are gone, then stops the
    /// operator and deletes the Events it published about the scope's
    /// Members. Panics, naming what is left, after 180 s.
    pub async fn stop(mut self) {
        offboard_scope(&self.client, &self.settings.selector, &self.settings.prefix).await;
        self.running.shut_down().await;
        delete_events(&self.client, &self.settings.prefix).await;
    }
}

impl Replica {
    /// Stops this copy and waits until it has.
    pub async fn stop(mut self) {
        self.0.shut_down().await;
    }
}

impl Running {
    fn spawn(settings: Settings, name: &str) -> Self {
        let (stop, stop_signal) = oneshot::channel::<()>();
        let (done, stopped) = mpsc::channel::<()>();
        thread::Builder::new()
            .name(format!("operator-{name}"))
            .spawn(move || {
                // Dropped when the operator has stopped: `stopped` then disconnects.
                let _done = done;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the operator");
                runtime.block_on(settings.run(stop_signal));
            })
            .expect("spawning the operator's thread");
        Self {
            stop: Some(stop),
            stopped: Some(stopped),
        }
    }

    /// Tells the controllers to stop and waits until they have.
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
        if !self.running.stop_now() {
            return;
        }
        let (selector, prefix) = (self.settings.selector.clone(), self.settings.prefix.clone());
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
            prefix = self.settings.prefix,
            selector = self.settings.selector
        );
    }
}

impl Running {
    /// Stops without waiting on the async runtime (for `Drop`); false if it
    /// was already stopped.
    fn stop_now(&mut self) -> bool {
        let Some(stop) = self.stop.take() else {
            return false;
        };
        stop.send(()).ok();
        if let Some(stopped) = self.stopped.take() {
            stopped.recv_timeout(SHUTDOWN_TIMEOUT).ok();
        }
        true
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.0.stop_now();
    }
}

impl Settings {
    /// The controllers, until `stop` fires.
    async fn run(self, stop: oneshot::Receiver<()>) {
        let client = Client::try_from(self.config).expect("a client for the operator");
        let mut context = Context::new(client, self.namespace, Some(self.selector));
        context.metrics = self.metrics;
        let backup_settings = self.backups.map(|(inspector, metrics)| BackupSettings {
            namespace_prefix: self.prefix.clone(),
            velero_namespace: self.velero_namespace.clone(),
            velero_metrics_url: Some(metrics),
            drill_inspector_role: inspector,
            ..BackupSettings::default()
        });
        let settings = TenantSettings {
            namespace_prefix: self.prefix,
            auditor_group: self.auditor_group,
            admin_role: self.admin_role,
            velero_namespace: self.velero_namespace,
            ..TenantSettings::default()
        };
        let stop = stop.map(drop).shared();
        let members = MemberWatch::new(&context);
        let tenant = tenant::run(context.clone(), settings, members.subscribe(), stop.clone());
        // Only a running controller may subscribe: the watch waits for each.
        let billing = self
            .billing
            .then(|| billing::controller::run(context.clone(), members.subscribe(), stop.clone()));
        let backups = backup_settings
            .map(|settings| backup::run(context, settings, members.subscribe(), stop));
        let controllers = async {
            tokio::join!(
                tenant,
                async {
                    if let Some(billing) = billing {
                        billing.await;
                    }
                },
                async {
                    if let Some(backups) = backups {
                        backups.await;
                    }
                }
            );
        };
        Box::pin(members.serve(controllers)).await;
    }
}

/// Confirms the offboarding of every Member of the scope (`selector`),
/// deletes them, and waits until they and their tenant namespaces (named
/// `<prefix><member>`) are gone — done by whichever operator runs. Panics,
/// naming what is left, after 180 s.
pub async fn offboard_scope(client: &Client, selector: &str, prefix: &str) {
    let members = Api::<Member>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());
    for member in members
        .list(&ListParams::default().labels(selector))
        .await
        .expect("listing the scope's Members")
    {
        let name = member.name_any();
        // The backups go too: an exit backup (tests/offboarding.rs shows it)
        // would wait for a Velero that the scope's namespace does not run.
        let confirm = json!({
            "metadata": {"annotations": {CONFIRM_OFFBOARDING: name}},
            "spec": {"backup": null},
        });
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
        for namespace in tenant_namespaces(&namespaces, prefix).await? {
            release_claims(client, &namespace).await?;
        }
        let left: Vec<String> = members
            .list_metadata(&ListParams::default().labels(selector))
            .await?
            .items
            .iter()
            .map(|member| format!("Member {}", member.name_any()))
            .chain(
                tenant_namespaces(&namespaces, prefix)
                    .await?
                    .into_iter()
                    .map(|namespace| format!("namespace {namespace}")),
            )
            .collect();
        ensure!(left.is_empty(), "offboarding: still there: {left:?}");
        Ok(())
    })
    .await;
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
    // The scope's copy of the policy that guards tenant namespaces refuses
    // this shortcut past socle's offboarding: it goes first, and the API
    // server may take a moment to stop applying it.
    let bindings = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone());
    if let Err(error) = bindings
        .delete_collection(
            &DeleteParams::background(),
            &ListParams::default().labels(selector),
        )
        .await
    {
        errors.push(format!(
            "deleting the scope's admission policy bindings: {error}"
        ));
    }
    let namespaces = Api::<Namespace>::all(client.clone());
    for namespace in tenant_namespaces(&namespaces, prefix).await? {
        let deleted = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match namespaces
                    .delete(&namespace, &DeleteParams::background())
                    .await
                {
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    other => return other,
                }
            }
        })
        .await;
        match deleted {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => errors.push(format!("deleting namespace {namespace}: {error}")),
            Err(_) => errors.push(format!("deleting namespace {namespace}: still refused")),
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

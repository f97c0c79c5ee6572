//! The tenant controller of `socle run`, run in-process with the shipped
//! ServiceAccount's identity (a token, not the testenv's certificates), for
//! one test scope; and the safety net that offboards by force what it leaves
//! behind when a test panics.

use futures::channel::oneshot;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use socle::{
    api::Member,
    controller::Context,
    tenant::{self, plan::TenantSettings},
};
use socle_e2e::{AuditMark, TestScope};
use tokio::task::JoinHandle;

use crate::install_support::{ScopedInstall, workspace};

/// A tenant controller for the Members of one scope, naming their
/// namespaces `t<id>-<member>`, authenticated as the installed copy's
/// ServiceAccount.
#[derive(Debug)]
pub struct TenantController {
    /// `system:serviceaccount:<namespace>:<name>`, as the audit log says.
    pub identity: String,
    /// `t<id>-`.
    pub prefix: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _leftovers: TenantLeftovers,
}

impl TenantController {
    pub async fn start(scope: &TestScope, install: &ScopedInstall) -> Self {
        let prefix = format!("t{}-", scope.id());
        let leftovers = TenantLeftovers {
            selector: scope.selector(),
            prefix: prefix.clone(),
        };
        let context = Context::new(
            install.operator_client(&scope.client()).await,
            install.namespace.clone(),
            Some(scope.selector()),
        );
        let settings = TenantSettings {
            namespace_prefix: prefix.clone(),
            auditor_group: "socle:dsi-auditors".into(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tenant::run(context, settings, async move {
            stopped.await.ok();
        }));
        Self {
            identity: format!(
                "system:serviceaccount:{}:{}",
                install.namespace, install.service_account
            ),
            prefix,
            stop: Some(stop),
            task: Some(task),
            _leftovers: leftovers,
        }
    }

    /// Tells the controller to stop and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the tenant controller stopped");
        }
    }

    /// The requests of the controller since `mark` that RBAC refused.
    pub async fn refused(&self, mark: &AuditMark, client: &Client) -> Vec<String> {
        mark.events(client)
            .await
            .iter()
            .filter(|event| event.user == self.identity && event.code == Some(403))
            .map(ToString::to_string)
            .collect()
    }
}

/// The example commune `allaire`, renamed and labelled into the scope, with
/// its tenant only (its VPN and backups have their own controllers).
pub fn allaire(scope: &TestScope) -> Member {
    let path = workspace().join("manifests/examples/members/allaire.yaml");
    let text = std::fs::read_to_string(&path).expect("reading the example Member");
    let mut member: Member = serde_yaml::from_str(&text).expect("an example Member");
    member.spec.vpn = None;
    member.spec.backup = None;
    member.metadata.name = Some(scope.name("allaire"));
    member
        .metadata
        .labels
        .get_or_insert_default()
        .extend(scope.labels());
    member
}

/// The safety net of a test that runs a tenant controller and panics before
/// offboarding its Members: on drop during a panic, removes the finalizers of
/// the Members matching `selector` and deletes them, and deletes the
/// namespaces starting with `prefix` (their claims' finalizers removed, since
/// the testenv runs no pvc-protection controller). Never panics.
#[derive(Debug)]
struct TenantLeftovers {
    selector: String,
    prefix: String,
}

impl Drop for TenantLeftovers {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let (selector, prefix) = (self.selector.clone(), self.prefix.clone());
        // The test's runtime is unwinding: a runtime and client of our own.
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(force_offboard(&selector, &prefix))
        })
        .join();
        if !matches!(outcome, Ok(Ok(()))) {
            eprintln!(
                "leftovers may remain (kubectl get members -l {}; kubectl get ns | grep ^{}): {outcome:?}",
                self.selector, self.prefix
            );
        }
    }
}

async fn force_offboard(selector: &str, prefix: &str) -> Result<(), String> {
    let client = socle_e2e::connect().await;
    let no_finalizers = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
    let members = Api::<Member>::all(client.clone());
    let listed = members
        .list_metadata(&ListParams::default().labels(selector))
        .await
        .map_err(|error| error.to_string())?;
    for member in listed {
        let name = member.name_any();
        members
            .patch(&name, &PatchParams::default(), &no_finalizers)
            .await
            .ok();
        members
            .delete(&name, &DeleteParams::background())
            .await
            .ok();
    }
    let namespaces = Api::<Namespace>::all(client.clone());
    let listed = namespaces
        .list_metadata(&ListParams::default())
        .await
        .map_err(|error| error.to_string())?;
    for namespace in listed.iter().map(ResourceExt::name_any) {
        if !namespace.starts_with(prefix) {
            continue;
        }
        let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace);
        for claim in claims
            .list_metadata(&ListParams::default())
            .await
            .map_err(|error| error.to_string())?
        {
            claims
                .patch(&claim.name_any(), &PatchParams::default(), &no_finalizers)
                .await
                .ok();
        }
        namespaces
            .delete(&namespace, &DeleteParams::background())
            .await
            .ok();
    }
    Ok(())
}

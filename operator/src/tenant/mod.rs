//! The tenant controller: each hosted Member becomes an isolated,
//! quota-bound, RBAC-scoped namespace that never loses data.
//!
//! One reconcile = dereference (the Member, the SharedServices it names, from
//! the cache) → validate ([`plan::plan`]) → build ([`build`], pure) → apply
//! (server-side apply, skipped when nothing changed; orphans deleted by label)
//! → status (conditions merged, no write when nothing changed). Only
//! dereference, apply and status talk to the API server.
//!
//! **Data safety.** No tenant object carries an ownerReference to its Member:
//! the garbage collector must never be able to cascade from a deleted Member
//! to a commune's namespace and volumes. Children are found by label instead
//! (watches map them back to their Member). A finalizer turns the deletion of
//! a Member into an offboarding that waits for the DSI's explicit confirmation
//! (see the README).

pub mod build;
pub mod exit_backup;
pub mod offboard;
pub mod plan;
mod rebind;
pub mod settings;
pub mod status;

use std::{sync::Arc, time::Duration};

use futures::{
    FutureExt,
    future::{BoxFuture, try_join_all},
};
use jiff::Zoned;
use k8s_openapi::api::{
    core::v1::{LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota},
    networking::v1::NetworkPolicy,
    rbac::v1::RoleBinding,
};
use kube::{
    Api, Resource, ResourceExt,
    core::DeserializeGuard,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{self, Event as Finalize, finalizer},
        reflector::ReflectHandle,
        watcher,
    },
};
use tracing::{info, instrument};

use self::plan::{InvalidTenant, TenantPlan};
pub use self::settings::TenantSettings;
use crate::{
    api::{Member, SharedService, shared_service::ServiceCategory},
    labels,
    runtime::{
        Categorized, Context, Retry,
        apply::{apply_cached, delete_orphans},
        cache::Cache,
        chain,
        conditions::condition,
        interner::Interner,
        seen::Seen,
        watch::{self, MemberGuard, members_labelled, reflected_seen},
    },
};

/// Guards the offboarding of a Member's tenant.
pub const FINALIZER: &str = "socle.redon-agglomeration.bzh/tenant";
/// The condition this controller owns.
pub const CONDITION: &str = "TenantReady";
/// Name of this controller in metrics and readiness.
const CONTROLLER: &str = "tenant";
/// Field manager of the offboarding mark, apart from the tenant's own fields.
const OFFBOARDING_MANAGER: &str = "socle-offboarding";

/// Why a tenant reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Member manifest cannot be read: {0}")]
    Malformed(String),
    #[error(transparent)]
    InvalidSpec(#[from] InvalidTenant),
    #[error("offboarding of {0} awaits confirmation: annotate the Member with {conf}={0}", conf = labels::CONFIRM_OFFBOARDING)]
    AwaitingConfirmation(String),
    #[error("the confirmation {conf}={given:?} does not name the member {member:?}: nothing is deleted until it names it exactly", conf = labels::CONFIRM_OFFBOARDING)]
    ConfirmationMismatch { member: String, given: String },
    #[error(
        "volume {0} still does not say persistentVolumeReclaimPolicy: Retain after socle set it; its tenant is not deleted"
    )]
    VolumeNotRetained(String),
    #[error("{0}; the tenant namespace is kept")]
    ExitBackupFailed(String),
    /// Not a failure: a Member's finalizer stays only while its cleanup
    /// errs, and the namespace must outlive the exit backup.
    #[error("the exit backup {0} is not complete yet; the tenant namespace is kept")]
    ExitBackupInProgress(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Categorized for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Malformed",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::AwaitingConfirmation(_) => "AwaitingConfirmation",
            Self::ConfirmationMismatch { .. } => "ConfirmationMismatch",
            Self::VolumeNotRetained(_) => "VolumeNotRetained",
            Self::ExitBackupFailed(_) => "ExitBackupFailed",
            Self::ExitBackupInProgress(_) => "ExitBackupInProgress",
            Self::Kube(_) => "KubeApi",
            Self::Finalizer(_) => "Finalizer",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            Self::Malformed(_)
            | Self::InvalidSpec(_)
            | Self::AwaitingConfirmation(_)
            | Self::ConfirmationMismatch { .. } => Retry::AwaitChange,
            // A failed exit backup is mended in Velero (deleted, for socle
            // to take another), which no watch of the Member shows.
            Self::Kube(_)
            | Self::Finalizer(_)
            | Self::VolumeNotRetained(_)
            | Self::ExitBackupFailed(_)
            | Self::ExitBackupInProgress(_) => Retry::Backoff,
        }
    }
}

/// The tenant controller's own state.
#[derive(Debug)]
pub struct TenantContext {
    pub shared: Context,
    pub settings: TenantSettings,
    pub services: Cache<SharedService>,
    objects: TenantObjects,
}

/// Every tenant object as the watches last saw it (socle's label only):
/// what `apply` compares against instead of reading each object before
/// writing it, so that a converged tenant costs no request at all.
#[derive(Debug)]
struct TenantObjects {
    namespaces: Cache<Seen<Namespace>>,
    quotas: Cache<Seen<ResourceQuota>>,
    limit_ranges: Cache<Seen<LimitRange>>,
    policies: Cache<Seen<NetworkPolicy>>,
    bindings: Cache<Seen<RoleBinding>>,
    claims: Cache<Seen<PersistentVolumeClaim>>,
}

impl TenantObjects {
    /// Waits until every cache holds its first complete list: before that,
    /// an object not seen yet would pass for a missing one and be applied
    /// again (a write per object at each start of the operator).
    async fn until_ready(&self) {
        self.namespaces.wait_until_ready().await;
        self.quotas.wait_until_ready().await;
        self.limit_ranges.wait_until_ready().await;
        self.policies.wait_until_ready().await;
        self.bindings.wait_until_ready().await;
        self.claims.wait_until_ready().await;
    }
}

/// Runs the tenant controller until `shutdown` resolves.
pub async fn run(
    shared: Context,
    settings: TenantSettings,
    members: ReflectHandle<MemberGuard>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = shared.client.clone();
    let (services, service_changes) = watch::shared_services(&client);
    let ours = watcher::Config::default().labels(&format!("{}=tenant", labels::COMPONENT));
    // One interner for the six kinds: a tenant's objects share their labels.
    let texts = Interner::default();
    let (namespaces, namespace_changes) = reflected_seen(
        Api::all(client.clone()),
        ours.clone(),
        Cache::default(),
        &texts,
    );
    let (quotas, quota_changes) = reflected_seen(
        Api::all(client.clone()),
        ours.clone(),
        Cache::default(),
        &texts,
    );
    let (limit_ranges, limit_range_changes) = reflected_seen(
        Api::all(client.clone()),
        ours.clone(),
        Cache::default(),
        &texts,
    );
    // Grouped by namespace: each reconcile looks for its orphans among them.
    let (policies, policy_changes) = reflected_seen(
        Api::all(client.clone()),
        ours.clone(),
        Cache::grouped_by_namespace(),
        &texts,
    );
    let (bindings, binding_changes) = reflected_seen(
        Api::all(client.clone()),
        ours.clone(),
        Cache::grouped_by_namespace(),
        &texts,
    );
    let (claims, claim_changes) = reflected_seen(Api::all(client), ours, Cache::default(), &texts);
    let health = shared.health.clone();
    let controller = watch::member_controller(members);
    watch::report_synced(health, CONTROLLER, controller.store());
    let by_service = watch::members_depending_on(controller.store(), depends_on);
    let context = Arc::new(TenantContext {
        shared,
        settings,
        services,
        objects: TenantObjects {
            namespaces,
            quotas,
            limit_ranges,
            policies,
            bindings,
            claims,
        },
    });
    let controller = controller
        .watches_stream(service_changes, by_service)
        .reconcile_on(members_labelled(namespace_changes))
        .reconcile_on(members_labelled(quota_changes))
        .reconcile_on(members_labelled(limit_range_changes))
        .reconcile_on(members_labelled(policy_changes))
        .reconcile_on(members_labelled(binding_changes))
        .reconcile_on(members_labelled(claim_changes))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context);
    watch::drain(controller, CONTROLLER).await;
}

/// Whether a Member's tenant depends on `service`: the VPN gateway it names,
/// or any Storage service (the default class). So a Member waiting for a
/// missing service recovers once it is created.
fn depends_on(member: &Member, service: &SharedService) -> bool {
    service.spec.category == ServiceCategory::Storage
        || member
            .spec
            .vpn
            .as_ref()
            .is_some_and(|vpn| vpn.gateway == service.name_any())
}

#[instrument(skip(guard, ctx), fields(member = %guard.name_any()))]
async fn reconcile(
    guard: Arc<DeserializeGuard<Member>>,
    ctx: Arc<TenantContext>,
) -> Result<Action, Error> {
    let member = match &guard.0 {
        Ok(member) => Arc::new(member.clone()),
        Err(invalid) => return Err(Error::Malformed(invalid.to_string())),
    };
    if ctx.shared.own_writes.outdated(&member) {
        return Ok(Action::await_change());
    }
    let api = Api::<Member>::all(ctx.shared.client.clone());
    let finalized = finalizer(&api, FINALIZER, member, |event| async {
        match event {
            Finalize::Apply(member) => provision(&member, &ctx).await,
            // Boxed: offboarding is rare, and its future would make every
            // reconcile's as large.
            Finalize::Cleanup(member) => {
                Box::pin(offboard::offboard(&member, &ctx, Zoned::now().date())).await
            }
        }
    });
    ctx.shared
        .metrics
        .timed(CONTROLLER, finalized)
        .await
        .map_err(|error| match error {
            finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => error,
            other => Error::Finalizer(chain(&other)),
        })
}

#[allow(clippy::needless_pass_by_value)] // the signature `Controller::run` wants
fn error_policy(
    guard: Arc<DeserializeGuard<Member>>,
    error: &Error,
    ctx: Arc<TenantContext>,
) -> Action {
    watch::on_failure(
        &ctx.shared,
        CONTROLLER,
        &guard,
        error,
        match error {
            Error::AwaitingConfirmation(_) => (EventType::Normal, "OffboardingPending"),
            Error::ExitBackupInProgress(_) => (EventType::Normal, "ExitBackupInProgress"),
            _ => (EventType::Warning, error.category()),
        },
    )
}

async fn provision(member: &Member, ctx: &TenantContext) -> Result<Action, Error> {
    let today = Zoned::now().date();
    // Dereference and validate.
    if !member.hosted_on(today) {
        // Leaving is a date: a tenant that outlived its subscriptions goes
        // through the same offboarding as a deleted Member's.
        let namespace = ctx.settings.namespace_of(&member.name_any());
        if ctx.objects.namespaces.get(None, &namespace).is_some() {
            return Box::pin(offboard::offboard(member, ctx, today)).await;
        }
        status::not_hosted(member, ctx, today).await?;
        return Ok(Action::requeue(Duration::from_secs(3600)));
    }
    let services = watch::all_services(&ctx.services).await;
    let plan = match plan::plan(member, &services, &ctx.settings, today) {
        Ok(plan) => plan,
        Err(invalid) => {
            let failed = condition(
                CONDITION,
                false,
                "InvalidSpec",
                invalid.0.clone(),
                member.meta().generation,
            );
            status::write_status(member, ctx, status::tenant_status(member, None, failed)).await?;
            return Err(invalid.into());
        }
    };
    // Build and apply.
    let writes = apply_tenant(&plan, ctx).await?;
    if writes > 0 {
        info!(writes, namespace = %plan.namespace, "tenant applied");
        ctx.shared.metrics.wrote(CONTROLLER, writes);
    }
    let ok = condition(
        CONDITION,
        true,
        "Provisioned",
        format!("namespace {} is isolated and bounded", plan.namespace),
        member.meta().generation,
    );
    status::write_status(
        member,
        ctx,
        status::tenant_status(member, Some(plan.namespace.clone()), ok),
    )
    .await?;
    // Drift is seen through the watches; this is only a safety net.
    Ok(Action::requeue(Duration::from_secs(600)))
}

/// Applies every tenant object; returns how many writes were needed. The
/// namespace first (the others live in it), then the rest at once.
async fn apply_tenant(plan: &TenantPlan, ctx: &TenantContext) -> Result<usize, kube::Error> {
    let (client, objects) = (&ctx.shared.client, &ctx.objects);
    objects.until_ready().await;
    let build::Tenant {
        namespace,
        quota,
        limit_range,
        policies,
        bindings,
        volume,
    } = build::tenant(plan);
    let namespace_written = apply_cached(client, &objects.namespaces, &namespace).await?;
    // An offboarding called off (the Member hosted again: its notice
    // withdrawn, an endDate moved): the namespace no longer reads as leaving.
    let called_off = watch::cached(&objects.namespaces, &namespace)
        .and_then(|live| live.object())
        .is_some_and(|live| live.labels().contains_key(labels::OFFBOARDING));
    if called_off {
        offboard::call_off(client, &plan.namespace).await?;
    }
    // A volume removed from the spec is kept: data goes only at offboarding.
    let volume = volume.map(|mut volume| {
        // A claim's storage class is fixed at creation: keep the one it has,
        // even if the default (the Storage SharedService) changed since.
        let live = watch::cached(&objects.claims, &volume).and_then(|live| live.object());
        if let (Some(spec), Some(live_spec)) = (
            volume.spec.as_mut(),
            live.as_ref().and_then(|live| live.spec.as_ref()),
        ) {
            spec.storage_class_name
                .clone_from(&live_spec.storage_class_name);
        }
        volume
    });
    let mut applies: Vec<BoxFuture<'_, Result<bool, kube::Error>>> = vec![
        apply_cached(client, &objects.quotas, &quota).boxed(),
        apply_cached(client, &objects.limit_ranges, &limit_range).boxed(),
    ];
    applies.extend(
        policies
            .iter()
            .map(|policy| apply_cached(client, &objects.policies, policy).boxed()),
    );
    applies.extend(
        bindings
            .iter()
            .map(|binding| rebind::apply_binding(client, &objects.bindings, binding).boxed()),
    );
    applies.extend(
        volume
            .iter()
            .map(|volume| apply_cached(client, &objects.claims, volume).boxed()),
    );
    let written = try_join_all(applies).await?;
    let (namespace, member) = (plan.namespace.as_str(), plan.member.as_str());
    let orphans = delete_orphans(client, &objects.policies, namespace, member, &policies).await?
        + delete_orphans(client, &objects.bindings, namespace, member, &bindings).await?;
    Ok(usize::from(namespace_written)
        + usize::from(called_off)
        + written.into_iter().filter(|w| *w).count()
        + orphans)
}

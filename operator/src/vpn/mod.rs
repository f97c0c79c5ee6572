//! The VPN controller: a site-to-site WireGuard tunnel between the
//! Datacenter's gateway and each town hall's router.
//!
//! One reconcile = dereference (the Member, its gateway and the other
//! Members from the caches; keys, address claims and router credentials from
//! the API server) → validate ([`plan::plan`]: gateway, site networks, no
//! overlap) → build (pure: [`hub::render`], [`router::Dialect::render`]) →
//! apply (the hub Secret by server-side apply, the router over SSH by
//! [`push::push`]: read, diff, write only on a difference, verify, roll back)
//! → status ([`status::write`], skipped when unchanged).
//!
//! Keys never leave the operator's namespace except to where they are used
//! (the hub Secret holds the hub's own key; a router receives its member's
//! key over SSH, on the standard input of a command). Status, Events and
//! logs only ever show public keys and redacted diffs.
//!
//! Each Member reconciles on its own task, so an unreachable router only
//! delays its own member, bounded by [`VpnSettings::ssh_timeout`]. A
//! finalizer guards the external state: on offboarding the address goes to
//! quarantine, the hub drops the peer and the router's tunnel is removed
//! ([`offboard`]). A new value of the [`ROTATE_KEY`] annotation rotates the
//! member's key at both ends ([`rotation`]); a new router gets a new key,
//! after the old router is cleaned ([`replacement`]). A router is logged in
//! to only with a credentials Secret labelled as its member's
//! ([`credentials`]). Each tunnel's health is read from its hub
//! ([`health`]).

pub mod cidr;
mod credentials;
mod error;
pub mod gateway;
pub mod health;
pub mod hub;
mod hub_sync;
pub mod ipam;
pub mod keys;
mod offboard;
pub mod plan;
mod provision;
pub mod push;
pub mod replacement;
pub mod rotation;
pub mod router;
pub mod secrets;
mod settings;
pub mod ssh;
pub mod status;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    core::DeserializeGuard,
    runtime::{
        controller::Action,
        events::EventType,
        reflector::{ReflectHandle, Store},
    },
};
use serde_json::json;
use tracing::instrument;

pub use self::{error::Error, settings::VpnSettings};
use crate::{
    api::{Member, SharedService},
    runtime::{
        Categorized, Context,
        cache::Cache,
        watch::{self, MemberGuard, SharedMember},
    },
};

/// Name of this controller in metrics and readiness.
const CONTROLLER: &str = "vpn";
/// Guards a member's tunnel: its address claim and its hub peer.
pub const FINALIZER: &str = "socle.redon-agglomeration.bzh/vpn";
/// Put on a Member, with any new value, to ask for a new WireGuard key:
/// `kubectl annotate --overwrite member allaire socle.redon-agglomeration.bzh/rotate-vpn-key="$(date +%s)"`.
/// Each distinct value asks for one rotation ([`rotation`]); the value
/// acted upon is kept in `status.vpn.keyRotationRequest`.
pub const ROTATE_KEY: &str = "socle.redon-agglomeration.bzh/rotate-vpn-key";
/// Label naming the gateway of an address claim, hub Secret or gateway key.
pub const GATEWAY_LABEL: &str = "socle.redon-agglomeration.bzh/vpn-gateway";

/// The VPN controller's own state.
pub struct VpnContext {
    pub shared: Context,
    pub settings: VpnSettings,
    pub services: Cache<SharedService>,
    pub members: Store<DeserializeGuard<Member>>,
    /// One lock per gateway: hub renderings of one gateway never interleave,
    /// so the last one written always saw every claim made before it.
    hub_locks: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for VpnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpnContext")
            .field("shared", &self.shared)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl VpnContext {
    fn hub_lock(&self, gateway: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.hub_locks
            .lock()
            .expect("not poisoned")
            .entry(gateway.to_owned())
            .or_default()
            .clone()
    }

    /// The Members of the cache that could be read.
    fn all_members(&self) -> Vec<SharedMember> {
        watch::readable_members(&self.members)
    }

    fn all_services(&self) -> Vec<SharedService> {
        self.services.cloned()
    }
}

/// Runs the VPN controller until `shutdown` resolves.
pub async fn run(
    shared: Context,
    settings: VpnSettings,
    members: ReflectHandle<MemberGuard>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (services, service_changes) = watch::shared_services(&shared.client);
    let controller = watch::member_controller(members);
    watch::report_synced(shared.health.clone(), CONTROLLER, controller.store());
    let context = Arc::new(VpnContext {
        shared,
        settings,
        services,
        members: controller.store(),
        hub_locks: Mutex::default(),
    });
    // A gateway's change (endpoint, pool, port) reaches its members now,
    // not at their next drift check.
    let by_gateway = watch::members_depending_on(controller.store(), |member, service| {
        member
            .spec
            .vpn
            .as_ref()
            .is_some_and(|vpn| vpn.gateway == service.name_any())
    });
    // Tunnel health is read from the hubs beside the reconciles, and ends
    // with them.
    let health = tokio::spawn(health::watch(context.clone()));
    let controller = controller
        .watches_stream(service_changes, by_gateway)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context);
    watch::drain(controller, CONTROLLER).await;
    health.abort();
}

#[instrument(skip(guard, ctx), fields(member = %guard.name_any()))]
async fn reconcile(
    guard: Arc<DeserializeGuard<Member>>,
    ctx: Arc<VpnContext>,
) -> Result<Action, Error> {
    // Validation reads both caches: until they are filled, a gateway not
    // seen yet would pass for one that does not exist, and every member
    // would flip to VpnReady=False (a status write and a Warning Event
    // each, then as many back) at each start of the operator. An error
    // means the operator is stopping: the reconcile then fails on its own.
    ctx.services.wait_until_ready().await;
    watch::until_ready(&ctx.members).await;
    ctx.shared
        .metrics
        .timed(CONTROLLER, Box::pin(reconcile_member(&guard, &ctx)))
        .await
}

async fn reconcile_member(
    guard: &DeserializeGuard<Member>,
    ctx: &VpnContext,
) -> Result<Action, Error> {
    let member = match &guard.0 {
        Ok(member) => member.clone(),
        Err(invalid) => return Err(Error::Malformed(invalid.to_string())),
    };
    if ctx.shared.own_writes.outdated(&member) {
        return Ok(Action::await_change());
    }
    let has_finalizer = member.finalizers().iter().any(|f| f == FINALIZER);
    let leaving = member.meta().deletion_timestamp.is_some() || member.spec.vpn.is_none();
    if leaving {
        if has_finalizer {
            offboard::offboard(&member, ctx).await?;
            set_finalizer(&member, ctx, false).await?;
        }
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        // The finalizer's patch triggers the next reconcile, which provisions.
        set_finalizer(&member, ctx, true).await?;
        return Ok(Action::await_change());
    }
    provision::provision(&member, ctx).await
}

/// Adds or removes [`FINALIZER`], on the condition that the Member did not
/// change since it was read.
async fn set_finalizer(member: &Member, ctx: &VpnContext, present: bool) -> Result<(), Error> {
    let mut finalizers: Vec<String> = member
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.to_owned());
    }
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": member.resource_version(),
    }});
    match Api::<Member>::all(ctx.shared.client.clone())
        .patch(
            &member.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(error.into()),
    }
}

#[allow(clippy::needless_pass_by_value)] // the signature `Controller::run` wants
fn error_policy(
    guard: Arc<DeserializeGuard<Member>>,
    error: &Error,
    ctx: Arc<VpnContext>,
) -> Action {
    watch::on_failure(
        &ctx.shared,
        CONTROLLER,
        &guard,
        error,
        (EventType::Warning, error.category()),
    )
}

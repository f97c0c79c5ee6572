//! The apply path of a Member with `spec.vpn`: validate, keys (a new one
//! for a replaced router, see [`super::replacement`], and a requested
//! rotation, see [`super::rotation`]), address, hub, router, status.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Resource, ResourceExt,
    runtime::{controller::Action, events::EventType},
};
use tracing::{debug, info};
use zeroize::Zeroizing;

use super::{
    Error, ROTATE_KEY, VpnContext, credentials, hub_sync, ipam,
    plan::{self, InvalidVpn, VpnPlan},
    push::{self, Action as Pushed, Report},
    replacement,
    rotation::{self, Step},
    router,
    secrets::{self, MemberKey},
    status::{self, DRIFT, READY},
};
use crate::{
    api::{Member, SharedService, member::VpnStatus},
    runtime::{Categorized, chain, conditions::condition},
};

pub async fn provision(member: &Member, ctx: &VpnContext) -> Result<Action, Error> {
    let generation = member.meta().generation;
    let client = &ctx.shared.client;
    let namespace = &ctx.shared.namespace;
    // Validate.
    let services = ctx.all_services();
    let members = ctx.all_members();
    let plan = match plan::plan(member, &services, &members, &ctx.settings.cluster_cidrs) {
        Ok(plan) => plan,
        Err(invalid) => return Err(refuse(ctx, member, invalid).await),
    };
    // Keys, address, hub.
    let key = member_key(member, ctx, &plan).await?;
    let address = ipam::claim(
        client,
        namespace,
        &plan.gateway,
        plan.pool,
        &plan.member,
        ctx.settings.quarantine,
    )
    .await?;
    let gateway = services
        .iter()
        .find(|s| s.name_any() == plan.gateway)
        .expect("the plan found the gateway among these services");
    let hub_public_key = hub_sync::sync(ctx, gateway).await?;
    let old = member
        .status
        .as_ref()
        .and_then(|s| s.vpn.clone())
        .unwrap_or_default();
    let mut vpn = VpnStatus {
        tunnel_address: Some(format!("{address}/32")),
        public_key: Some(key.pair.public_key().to_owned()),
        // What the hub now routes to the member, whatever becomes of the
        // router: an overlap with another member is settled by it.
        site_cidrs: plan.sites.iter().map(ToString::to_string).collect(),
        last_push: old.last_push,
        pending_diff: None,
        key_rotation_request: old.key_rotation_request.clone(),
        last_key_rotation: old.last_key_rotation,
    };
    // Build and push to the router: the next key, while a rotation is under way.
    let tunnel = match plan.tunnel(
        &ctx.settings.interface,
        Zeroizing::new(key.wanted().private_key().to_owned()),
        address,
        &hub_public_key,
    ) {
        Ok(tunnel) => tunnel,
        Err(invalid) => return Err(refuse(ctx, member, invalid).await),
    };
    let dialect = router::dialect(plan.router.dialect);
    let desired = dialect.render(&tunnel);
    if !plan.dry_run
        && !hub_sync::lists(ctx, &plan.gateway_namespace, key.wanted().public_key()).await?
    {
        // The Secret is written; the gateway takes it at its next read.
        debug!("the hub does not list the member's key yet: the router waits");
        return Ok(Action::requeue(ctx.settings.hub_poll));
    }
    let report = match push_to_router(ctx, &plan, &key, &desired, &hub_public_key).await {
        Ok(report) => report,
        Err(error) => {
            let failed = condition(READY, false, error.category(), chain(&error), generation);
            status::write(&ctx.shared, member, failed, None, Some(vpn)).await?;
            return Err(error);
        }
    };
    let key = if matches!(report.action, Pushed::Applied | Pushed::InSync) {
        record(ctx, &plan, gateway, key, &desired).await?
    } else {
        key
    };
    vpn.public_key = Some(key.pair.public_key().to_owned());
    (vpn.key_rotation_request, vpn.last_key_rotation) = rotation::recorded(&key, &old);
    // Status and Events.
    let router = format!("{} ({})", plan.router.address, dialect.name());
    if report.action == Pushed::Applied {
        vpn.last_push = Some(Timestamp::now());
        info!(router = %router, "tunnel configuration pushed");
        ctx.shared
            .event(
                member,
                EventType::Normal,
                "RouterConfigured",
                format!("tunnel {address} pushed to router {router} and verified"),
            )
            .await;
    }
    let ready = ready_condition(&report, &mut vpn, &router, generation);
    let drift = drift_condition(member, ctx, &report, &router).await;
    let rotated = rotation::newly_recorded(&old, &vpn).then(|| rotated_note(&old, &vpn, &router));
    status::write(&ctx.shared, member, ready, drift, Some(vpn)).await?;
    // After the status write: a reconcile that fails before it tells again.
    if let Some(note) = rotated {
        info!(router = %router, "key rotated");
        ctx.shared
            .event(member, EventType::Normal, "KeyRotated", note)
            .await;
    }
    Ok(Action::requeue(ctx.settings.drift_interval))
}

/// Says on the Member why its tunnel cannot be built; the error to return.
async fn refuse(ctx: &VpnContext, member: &Member, invalid: InvalidVpn) -> Error {
    let reason = match invalid {
        InvalidVpn::Overlap(_) => "SiteOverlap",
        InvalidVpn::Spec(_) => "InvalidSpec",
    };
    let generation = member.meta().generation;
    let failed = condition(READY, false, reason, invalid.to_string(), generation);
    match status::write(&ctx.shared, member, failed, None, None).await {
        Ok(()) => invalid.into(),
        Err(error) => error.into(),
    }
}

/// The member's key: a new one when the router was replaced; a rotation
/// starts here when one was asked for.
async fn member_key(member: &Member, ctx: &VpnContext, plan: &VpnPlan) -> Result<MemberKey, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let key = secrets::member_key(client, namespace, &plan.member).await?;
    let key = replacement::replace_if_changed(member, ctx, plan, key).await?;
    let requested = member.annotations().get(ROTATE_KEY).map(String::as_str);
    let answered = key.rotation_request.as_deref();
    match rotation::step(requested, answered, key.next.is_some(), plan.dry_run) {
        Step::Start(request) => {
            info!(request, "key rotation started");
            Ok(secrets::begin_rotation(client, namespace, &plan.member, key, &request).await?)
        }
        Step::Idle | Step::UnderWay => Ok(key),
    }
}

/// The router holds `desired`: records it with the router, and retires the
/// old key if a rotation brought a new one (the hub then lists the new one
/// alone).
async fn record(
    ctx: &VpnContext,
    plan: &VpnPlan,
    gateway: &SharedService,
    key: MemberKey,
    desired: &str,
) -> Result<MemberKey, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    if key.next.is_some() {
        let key =
            secrets::finish_rotation(client, namespace, &plan.member, key, desired, &plan.router)
                .await?;
        hub_sync::sync(ctx, gateway).await?;
        return Ok(key);
    }
    if key.last_pushed.as_deref().map(String::as_str) != Some(desired)
        || key.router.as_ref() != Some(&plan.router)
    {
        secrets::record_push(client, namespace, &plan.member, desired, &plan.router).await?;
    }
    Ok(key)
}

/// The note of the `KeyRotated` Event: public keys only.
fn rotated_note(old: &VpnStatus, new: &VpnStatus, router: &str) -> String {
    format!(
        "WireGuard key rotated ({ROTATE_KEY}={}): router {router} runs public key {} and the hub lists it alone; the previous key {} is retired",
        new.key_rotation_request.as_deref().unwrap_or_default(),
        new.public_key.as_deref().unwrap_or_default(),
        old.public_key.as_deref().unwrap_or("(none)"),
    )
}

/// `VpnReady` after a push; a dry run's diff goes to `vpn`.
fn ready_condition(
    report: &Report,
    vpn: &mut VpnStatus,
    router: &str,
    generation: Option<i64>,
) -> Condition {
    let address = vpn.tunnel_address.clone().unwrap_or_default();
    match &report.action {
        // One reason for "just pushed" and "already in sync": the condition
        // then does not change on the reconcile after a push (no status
        // write); status.vpn.lastPush says when the router last changed.
        Pushed::InSync | Pushed::Applied => condition(
            READY,
            true,
            "Configured",
            format!("tunnel {address} configured on router {router} and verified"),
            generation,
        ),
        Pushed::Pending(diff) => {
            vpn.pending_diff = Some(diff.clone());
            condition(
                READY,
                false,
                "DryRun",
                format!("dry run: router {router} would change as status.vpn.pendingDiff shows"),
                generation,
            )
        }
        Pushed::DriftLeft(_) => condition(
            READY,
            false,
            "DriftNotCorrected",
            format!(
                "router {router} was changed by hand (see VpnDrift); set spec.vpn.correctDrift to put socle's configuration back"
            ),
            generation,
        ),
    }
}

/// Opens the session, pushes, closes.
async fn push_to_router(
    ctx: &VpnContext,
    plan: &VpnPlan,
    key: &MemberKey,
    desired: &str,
    hub_public_key: &str,
) -> Result<Report, Error> {
    let spec = &plan.router;
    // Drift is a change to what socle pushed to this very router; one it
    // pushed nothing to yet (a replacement seen in dry run) has none.
    let last_pushed = key
        .router
        .as_ref()
        .filter(|pushed_to| !replacement::is_other(pushed_to, spec))
        .and(key.last_pushed.as_deref());
    let mut session = credentials::session(ctx, &plan.member, spec).await?;
    let request = push::Request {
        dialect: router::dialect(spec.dialect),
        interface: &ctx.settings.interface,
        desired,
        last_pushed: last_pushed.map(String::as_str),
        dry_run: plan.dry_run,
        correct_drift: plan.correct_drift,
        public_key: key.wanted().public_key(),
        hub_public_key,
    };
    let report = push::push(&mut session, &request).await;
    session.close().await;
    Ok(report?)
}

/// `VpnDrift`, and an Event when the router was found changed by hand.
async fn drift_condition(
    member: &Member,
    ctx: &VpnContext,
    report: &Report,
    router: &str,
) -> Option<Condition> {
    let generation = member.meta().generation;
    match (&report.drift, &report.action) {
        (None, Pushed::Pending(_)) => None,
        (None, _) => Some(condition(
            DRIFT,
            false,
            "NoDrift",
            format!("router {router} holds what socle pushed"),
            generation,
        )),
        (Some(diff), action) => {
            let corrected = matches!(action, Pushed::Applied);
            let (reason, message) = if corrected {
                (
                    "DriftCorrected",
                    format!(
                        "router {router} had been changed by hand; socle's configuration was put back. The change was:\n{diff}"
                    ),
                )
            } else {
                (
                    "ChangedByHand",
                    format!("router {router} was changed by hand since socle's last push:\n{diff}"),
                )
            };
            ctx.shared
                .event(
                    member,
                    EventType::Warning,
                    // Events of one reason are folded into a series that
                    // keeps the first note: a correction needs its own.
                    if corrected {
                        "VpnDriftCorrected"
                    } else {
                        "VpnDrift"
                    },
                    message.clone(),
                )
                .await;
            Some(condition(DRIFT, !corrected, reason, message, generation))
        }
    }
}

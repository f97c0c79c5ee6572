//! The apply path of a Member with `spec.vpn`: validate, then the sites
//! gone from the spec are taken down ([`super::offboard::remove_sites`]),
//! then each site's key (a new one for a replaced router, see
//! [`super::replacement`], and a requested rotation, see
//! [`super::rotation`]) and address, the hub once for all of them, each
//! site's router, and one status for the Member.
//!
//! Every site goes through the same steps ([`provision_site`]); one
//! failing site (an unreachable school router) does not stop the others:
//! its error is reported in `VpnReady`, which names it, and returned once
//! every site has been tried.

use jiff::Timestamp;
use kube::{
    Resource, ResourceExt,
    runtime::{controller::Action, events::EventType},
};
use tracing::{debug, info};
use zeroize::Zeroizing;

use super::{
    Error, ROTATE_KEY, VpnContext, credentials, hub_sync, ipam, offboard,
    plan::{self, InvalidVpn, SitePlan, VpnPlan},
    push::{self, Action as Pushed, Report},
    replacement,
    rotation::{self, Step},
    router,
    secrets::{self, MemberKey},
    status::{self, READY, SiteDrift, SiteVerdict},
};
use crate::{
    api::{
        Member, SharedService,
        member::{VpnSiteStatus, VpnStatus},
    },
    runtime::{Categorized, chain, conditions::condition},
};

pub async fn provision(member: &Member, ctx: &VpnContext) -> Result<Action, Error> {
    let generation = member.meta().generation;
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    // Validate.
    let services = ctx.all_services();
    let members = ctx.all_members();
    let plan = match plan::plan(member, &services, &members, &ctx.settings.cluster_cidrs) {
        Ok(plan) => plan,
        Err(invalid) => return Err(refuse(ctx, member, invalid).await),
    };
    let gateway = services
        .iter()
        .find(|s| s.name_any() == plan.gateway)
        .expect("the plan found the gateway among these services");
    offboard::remove_sites(member, ctx, &plan, gateway).await?;
    // Keys and addresses of every site, then the hub once for all.
    let mut claimed = Vec::with_capacity(plan.sites.len());
    for site in &plan.sites {
        let key = site_key(member, ctx, site).await?;
        let address = ipam::claim(
            client,
            namespace,
            &plan.gateway,
            plan.pool,
            &plan.member,
            &site.name,
            ctx.settings.quarantine,
        )
        .await?;
        claimed.push((site, key, address));
    }
    let hub_public_key = hub_sync::sync(ctx, gateway).await?;
    let old = member
        .status
        .as_ref()
        .and_then(|s| s.vpn.clone())
        .unwrap_or_default();
    let mut outcomes = Vec::with_capacity(claimed.len());
    for (site, key, address) in claimed {
        let previous = old.site(&site.name).cloned().unwrap_or_default();
        let step = SiteStep {
            member,
            plan: &plan,
            site,
            gateway,
            hub_public_key: &hub_public_key,
        };
        outcomes.push(provision_site(ctx, &step, key, address, previous).await);
    }
    // Status, then the Events of rotations it records, then the result.
    let verdicts: Vec<SiteVerdict> = outcomes.iter().map(|o| o.verdict.clone()).collect();
    let drifts: Vec<(String, SiteDrift)> = outcomes
        .iter()
        .map(|o| (o.verdict.site.clone(), o.drift.clone()))
        .collect();
    let vpn = VpnStatus {
        sites: outcomes.iter().map(|o| o.status.clone()).collect(),
    };
    let ready = status::ready(&verdicts, generation);
    let drift = status::drift(&drifts, generation);
    status::write(&ctx.shared, member, ready, drift, Some(vpn)).await?;
    let mut waiting = false;
    let mut failed = None;
    for outcome in outcomes {
        if let Some(note) = outcome.rotated {
            info!(site = %outcome.verdict.site, "key rotated");
            ctx.shared
                .event(member, EventType::Normal, "KeyRotated", note)
                .await;
        }
        match outcome.result {
            Ok(Progress::WaitingForHub) => waiting = true,
            Ok(Progress::Pushed) => {}
            Err(error) => failed = failed.or(Some(error)),
        }
    }
    match failed {
        Some(error) => Err(error),
        None if waiting => Ok(Action::requeue(ctx.settings.hub_poll)),
        None => Ok(Action::requeue(ctx.settings.drift_interval)),
    }
}

/// What one site's step is about.
struct SiteStep<'a> {
    member: &'a Member,
    plan: &'a VpnPlan,
    site: &'a SitePlan,
    gateway: &'a SharedService,
    hub_public_key: &'a str,
}

/// Where a site's step stopped, when it did not fail.
enum Progress {
    /// The hub does not list the site's key yet: its router waits.
    WaitingForHub,
    /// The router holds socle's configuration, or would (dry run, drift left).
    Pushed,
}

/// What one site's step found and did.
struct SiteOutcome {
    status: VpnSiteStatus,
    verdict: SiteVerdict,
    drift: SiteDrift,
    /// The note of a `KeyRotated` Event, once the status records it.
    rotated: Option<String>,
    result: Result<Progress, Error>,
}

/// One site: build its router's configuration, wait for the hub to list
/// its key, push, record, and say how it went.
async fn provision_site(
    ctx: &VpnContext,
    step: &SiteStep<'_>,
    key: MemberKey,
    address: std::net::Ipv4Addr,
    old: VpnSiteStatus,
) -> SiteOutcome {
    let (plan, site) = (step.plan, step.site);
    let mut status = VpnSiteStatus {
        name: site.name.clone(),
        tunnel_address: Some(format!("{address}/32")),
        public_key: Some(key.pair.public_key().to_owned()),
        // What the hub now routes to the site, whatever becomes of the
        // router: an overlap with another member is settled by it.
        site_cidrs: site.networks.iter().map(ToString::to_string).collect(),
        last_push: old.last_push,
        pending_diff: None,
        key_rotation_request: old.key_rotation_request.clone(),
        last_key_rotation: old.last_key_rotation,
        health: None,
    };
    let dialect = router::dialect(site.router.dialect);
    let router = format!("{} ({})", site.router.address, dialect.name());
    let failed = |status, error: Error| SiteOutcome {
        verdict: SiteVerdict::not_ready(&site.name, error.category(), chain(&error)),
        status,
        drift: SiteDrift::Unknown,
        rotated: None,
        result: Err(error),
    };
    // Build: the next key, while a rotation is under way.
    let tunnel = match plan.tunnel(
        site,
        &ctx.settings.interface,
        Zeroizing::new(key.wanted().private_key().to_owned()),
        address,
        step.hub_public_key,
    ) {
        Ok(tunnel) => tunnel,
        Err(invalid) => return failed(status, invalid.into()),
    };
    let desired = dialect.render(&tunnel);
    if !site.dry_run {
        match hub_sync::lists(ctx, &plan.gateway_namespace, key.wanted().public_key()).await {
            Ok(true) => {}
            Ok(false) => {
                // The Secret is written; the gateway takes it at its next read.
                debug!(site = %site.name, "the hub does not list the site's key yet: the router waits");
                return SiteOutcome {
                    verdict: SiteVerdict::not_ready(
                        &site.name,
                        "WaitingForHub",
                        format!(
                            "tunnel {address}/32: the hub does not list the key of router {router} yet"
                        ),
                    ),
                    status,
                    drift: SiteDrift::Unknown,
                    rotated: None,
                    result: Ok(Progress::WaitingForHub),
                };
            }
            Err(error) => return failed(status, error),
        }
    }
    let report = match push_to_router(ctx, plan, site, &key, &desired, step.hub_public_key).await {
        Ok(report) => report,
        Err(error) => return failed(status, error),
    };
    let key = if matches!(report.action, Pushed::Applied | Pushed::InSync) {
        match record(ctx, site, step.gateway, key, &desired).await {
            Ok(key) => key,
            Err(error) => return failed(status, error),
        }
    } else {
        key
    };
    status.public_key = Some(key.pair.public_key().to_owned());
    (status.key_rotation_request, status.last_key_rotation) = rotation::recorded(&key, &old);
    if report.action == Pushed::Applied {
        status.last_push = Some(Timestamp::now());
        info!(site = %site.name, router = %router, "tunnel configuration pushed");
        let who = plan::describe_site(&plan.member, &site.name);
        ctx.shared
            .event(
                step.member,
                EventType::Normal,
                "RouterConfigured",
                format!("tunnel {address} of {who} pushed to router {router} and verified"),
            )
            .await;
    }
    let verdict = ready_verdict(&site.name, &report, &mut status, &router);
    let drift = drift_of(step, ctx, &report, &router).await;
    let rotated = rotation::newly_recorded(&old, &status)
        .then(|| rotated_note(&plan.member, &old, &status, &router));
    SiteOutcome {
        status,
        verdict,
        drift,
        rotated,
        result: Ok(Progress::Pushed),
    }
}

/// Says on the Member why its tunnels cannot be built; the error to return.
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

/// The site's key: a new one when its router was replaced; a rotation
/// starts here when one was asked for.
async fn site_key(member: &Member, ctx: &VpnContext, site: &SitePlan) -> Result<MemberKey, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    let key = secrets::member_key(client, namespace, &member.name_any(), &site.name).await?;
    let key = replacement::replace_if_changed(member, ctx, site, key).await?;
    let requested = member.annotations().get(ROTATE_KEY).map(String::as_str);
    let answered = key.rotation_request.as_deref();
    match rotation::step(requested, answered, key.next.is_some(), site.dry_run) {
        Step::Start(request) => {
            info!(site = %site.name, request, "key rotation started");
            Ok(secrets::begin_rotation(client, namespace, &site.tunnel, key, &request).await?)
        }
        Step::Idle | Step::UnderWay => Ok(key),
    }
}

/// The router holds `desired`: records it with the router, and retires the
/// old key if a rotation brought a new one (the hub then lists the new one
/// alone).
async fn record(
    ctx: &VpnContext,
    site: &SitePlan,
    gateway: &SharedService,
    key: MemberKey,
    desired: &str,
) -> Result<MemberKey, Error> {
    let (client, namespace) = (&ctx.shared.client, &ctx.shared.namespace);
    if key.next.is_some() {
        let key =
            secrets::finish_rotation(client, namespace, &site.tunnel, key, desired, &site.router)
                .await?;
        hub_sync::sync(ctx, gateway).await?;
        return Ok(key);
    }
    if key.last_pushed.as_deref().map(String::as_str) != Some(desired)
        || key.router.as_ref() != Some(&site.router)
    {
        secrets::record_push(client, namespace, &site.tunnel, desired, &site.router).await?;
    }
    Ok(key)
}

/// The note of the `KeyRotated` Event: public keys only.
fn rotated_note(member: &str, old: &VpnSiteStatus, new: &VpnSiteStatus, router: &str) -> String {
    format!(
        "WireGuard key of {} rotated ({ROTATE_KEY}={}): router {router} runs public key {} and the hub lists it alone; the previous key {} is retired",
        plan::describe_site(member, &new.name),
        new.key_rotation_request.as_deref().unwrap_or_default(),
        new.public_key.as_deref().unwrap_or_default(),
        old.public_key.as_deref().unwrap_or("(none)"),
    )
}

/// The site's part of `VpnReady` after a push; a dry run's diff goes to
/// `status`.
fn ready_verdict(
    site: &str,
    report: &Report,
    status: &mut VpnSiteStatus,
    router: &str,
) -> SiteVerdict {
    let address = status.tunnel_address.clone().unwrap_or_default();
    match &report.action {
        // One reason for "just pushed" and "already in sync": the condition
        // then does not change on the reconcile after a push (no status
        // write); status.vpn.sites[].lastPush says when the router last
        // changed.
        Pushed::InSync | Pushed::Applied => SiteVerdict {
            site: site.to_owned(),
            ready: true,
            reason: "Configured".into(),
            message: format!("tunnel {address} configured on router {router} and verified"),
        },
        Pushed::Pending(diff) => {
            status.pending_diff = Some(diff.clone());
            SiteVerdict::not_ready(
                site,
                "DryRun",
                format!(
                    "dry run: router {router} would change as status.vpn.sites[].pendingDiff shows"
                ),
            )
        }
        Pushed::DriftLeft(_) => SiteVerdict::not_ready(
            site,
            "DriftNotCorrected",
            format!(
                "router {router} was changed by hand (see VpnDrift); set spec.vpn.correctDrift to put socle's configuration back"
            ),
        ),
    }
}

/// Opens the session, pushes, closes.
async fn push_to_router(
    ctx: &VpnContext,
    plan: &VpnPlan,
    site: &SitePlan,
    key: &MemberKey,
    desired: &str,
    hub_public_key: &str,
) -> Result<Report, Error> {
    let spec = &site.router;
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
        dry_run: site.dry_run,
        correct_drift: plan.correct_drift,
        public_key: key.wanted().public_key(),
        hub_public_key,
    };
    let report = push::push(&mut session, &request).await;
    session.close().await;
    Ok(report?)
}

/// The site's part of `VpnDrift`, and an Event when its router was found
/// changed by hand.
async fn drift_of(
    step: &SiteStep<'_>,
    ctx: &VpnContext,
    report: &Report,
    router: &str,
) -> SiteDrift {
    let who = plan::describe_site(&step.plan.member, &step.site.name);
    match (&report.drift, &report.action) {
        (None, Pushed::Pending(_)) => SiteDrift::Unknown,
        (None, _) => SiteDrift::Clean(format!("router {router} holds what socle pushed")),
        (Some(diff), action) => {
            let corrected = matches!(action, Pushed::Applied);
            let message = if corrected {
                format!(
                    "router {router} had been changed by hand; socle's configuration was put back. The change was:\n{diff}"
                )
            } else {
                format!("router {router} was changed by hand since socle's last push:\n{diff}")
            };
            ctx.shared
                .event(
                    step.member,
                    EventType::Warning,
                    // Events of one reason are folded into a series that
                    // keeps the first note: a correction needs its own.
                    if corrected {
                        "VpnDriftCorrected"
                    } else {
                        "VpnDrift"
                    },
                    format!("{who}: {message}"),
                )
                .await;
            if corrected {
                SiteDrift::Corrected(message)
            } else {
                SiteDrift::Left(message)
            }
        }
    }
}

//! The statement controller: one `ContributionStatement` per member and
//! exercise, kept up to date while it is a Draft, never touched once Issued;
//! each Member's running estimate in `status.contribution`.
//!
//! Its object is the whole ledger, not one Member: a shared cost split among
//! subscribers makes every member's statement depend on the others. So one
//! reconcile = dereference (the caches of Members, UsageRecords,
//! SharedServices, Tariffs and statements) → validate and build (the pure
//! engine, then [`super::statement::draft`]) → apply (only what changed;
//! Issued statements are left alone) → status (Members' estimate and
//! `Billable` condition). It runs after any change, debounced.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

use futures::{
    Stream, StreamExt, TryStreamExt,
    stream::{self, BoxStream},
};
use jiff::Zoned;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, PostParams, Preconditions},
    runtime::{
        events::EventType,
        reflector::{ObjectRef, ReflectHandle, Store},
        watcher,
    },
};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{
    Ledger, metering, statement,
    usage_cache::{shared_usage, usage_key},
};
use crate::{
    api::{
        ContributionStatement, ContributionStatementSpec, DrillReport, Member, SharedService,
        Tariff, UsageRecord, contribution_statement::StatementState, member::ContributionEstimate,
    },
    contribution::{Offer, Statement, TitleKind, Usage},
    runtime::{
        Context,
        apply::apply_over_live,
        cache::Cache,
        chain,
        conditions::{condition, merge},
        interner::Interner,
        seen::Seen,
        status::apply_member_status,
        watch::{self, MemberGuard, SharedMember, reflected, reflected_into, reflected_seen},
    },
};

/// Field manager of the billing parts of Member status.
const STATUS_MANAGER: &str = "socle-billing";
/// The condition this controller owns on Members.
pub const CONDITION: &str = "Billable";
/// Name of this controller in metrics and readiness.
const CONTROLLER: &str = "billing";
/// Writes in flight at once once every tenant is provisioned: records
/// created, statements applied, Member statuses. One at a time, each write
/// waits for the last: a first metering pass of 220 000 records took 25
/// minutes; the first computation over 35 000 Members wrote their 70 000
/// statements and 35 000 statuses in 10 minutes. As many as a controller's
/// reconciles (`CONCURRENCY` in `runtime/watch.rs`). While tenants are
/// being provisioned, one at a time: 32 at once then took a fifth of a
/// 10 000-Member bulk's requests (2 statements and a status per Member),
/// and its share of the tenant ceiling fell from 51–67 % to 44 %.
const WRITES_IN_FLIGHT: usize = 32;

/// The caches the ledger is computed from.
#[derive(Clone, Debug)]
struct Caches {
    members: Store<MemberGuard>,
    usage: Cache<Usage>,
    services: Cache<SharedService>,
    tariffs: Cache<Tariff>,
    statements: Cache<Seen<ContributionStatement>>,
    drills: Cache<DrillReport>,
}

impl Caches {
    fn ledger(&self) -> Ledger {
        Ledger {
            members: self.members(),
            usage: self.usage.state(),
            services: self.services.cloned(),
            tariffs: self.tariffs.cloned(),
        }
    }
}

impl Caches {
    /// The Members this operator manages. One that does not deserialize
    /// cannot be priced.
    fn members(&self) -> Vec<SharedMember> {
        watch::readable_members(&self.members)
    }

    /// Whether a Member awaits its tenant ([`awaits_tenant`]): read in the
    /// cache, without copying its Members out first, at each computation.
    fn provisioning(&self) -> bool {
        self.members
            .find(|guard| guard.0.as_ref().is_ok_and(awaits_tenant))
            .is_some()
    }

    fn manages(&self, member: &str) -> bool {
        self.members.get(&ObjectRef::new(member)).is_some()
    }

    /// The Member named `name` as the cache holds it now, if it
    /// deserializes.
    fn member(&self, name: &str) -> Option<SharedMember> {
        self.members
            .get(&ObjectRef::new(name))
            .and_then(SharedMember::readable)
    }
}

/// Runs the statement controller until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    members: ReflectHandle<MemberGuard>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let client = ctx.client.clone();
    let namespace = ctx.namespace.clone();
    let all = watcher::Config::default();
    // Every watch event is a reason to recompute; the values themselves are
    // read from the caches.
    let (members, members_changes) = (members.reader(), members);
    // A few records per Member at first, a dozen more a year: only what the
    // engine reads of them is kept, their names shared (with the statements' too).
    let texts = Interner::default();
    let names = texts.clone();
    let (usage, usage_changes) = reflected_into(
        Api::<UsageRecord>::namespaced(client.clone(), &namespace),
        all.clone(),
        Cache::keyed_by(usage_key),
        move |record| shared_usage(record, &names),
    );
    let (services, services_changes) = reflected(Api::all(client.clone()), all.clone());
    let (tariffs, tariffs_changes) = reflected(Api::all(client.clone()), all.clone());
    // Two per Member (last exercise and this one), each a few kilobytes
    // typed: kept as the JSON they are compared with.
    let (statements, statements_changes) = reflected_seen(
        Api::namespaced(client.clone(), &namespace),
        all.clone(),
        Cache::default(),
        &texts,
    );
    let (drills, drills_changes) = reflected(Api::namespaced(client, &namespace), all);
    let changes = stream::select_all([
        signals(members_changes),
        signals(usage_changes),
        signals(services_changes),
        signals(tariffs_changes),
        signals(statements_changes),
        signals(drills_changes),
    ]);
    let caches = Caches {
        members,
        usage,
        services,
        tariffs,
        statements,
        drills,
    };
    let notify = Arc::new(Notify::new());
    let watches = {
        let notify = notify.clone();
        changes.for_each(move |()| {
            notify.notify_one();
            std::future::ready(())
        })
    };
    let work = async move {
        let _ = caches.members.wait_until_ready().await;
        caches.usage.wait_until_ready().await;
        caches.services.wait_until_ready().await;
        caches.tariffs.wait_until_ready().await;
        caches.statements.wait_until_ready().await;
        caches.drills.wait_until_ready().await;
        ctx.health.synced(CONTROLLER);
        let mut metered = tokio::time::Instant::now();
        loop {
            // Metering deferred too long is done at provisioning's pace:
            // a 35 000-Member bulk lasts longer than the bound, and its
            // records created 32 at once took requests from the tenants.
            let (meter, pace) = if caches.provisioning() {
                let overdue = metered.elapsed() >= METERING_DEFERRED_AT_MOST;
                (overdue, Pace::provisioning())
            } else {
                (true, Pace::ALL)
            };
            let result = ctx
                .metrics
                .timed(CONTROLLER, reconcile(&caches, &ctx, meter, pace))
                .await;
            let finished = match result {
                Ok(finished) => finished,
                Err(error) => {
                    ctx.metrics.failed(CONTROLLER, "KubeApi");
                    warn!(error = %chain(&error), "billing reconcile failed; retrying");
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    continue;
                }
            };
            // A new exercise begins without any object changing: look again
            // every ten minutes even when nothing happens — or soon, when
            // metering waits for provisioning, or the pace left writes.
            if meter {
                metered = tokio::time::Instant::now();
            }
            let idle = if meter && finished {
                Duration::from_secs(600)
            } else {
                QUIET
            };
            tokio::select! {
                () = notify.notified() => {}
                () = tokio::time::sleep(idle) => {}
            }
            settle(&notify).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = watches => {}
        () = shutdown => {}
    }
}

/// No change for this long ends a burst.
const QUIET: Duration = Duration::from_millis(300);

/// A burst of changes is computed at most this long after it began.
const LONGEST: Duration = Duration::from_secs(5);

/// Metering waits for provisioning at most this long, so that a Member
/// whose tenant never answers its spec does not hold back the others'.
const METERING_DEFERRED_AT_MOST: Duration = Duration::from_secs(600);

/// Lets a burst of changes (a GitOps sync of 31 Members, or of thousands)
/// land in the caches before computing once for all of them: returns after
/// [`QUIET`] without a change, or [`LONGEST`] into a burst that goes on.
/// Computing at each pause of a long burst took CPU the API server needed
/// to provision.
async fn settle(notify: &Notify) {
    let started = tokio::time::Instant::now();
    while started.elapsed() < LONGEST {
        if tokio::time::timeout(QUIET, notify.notified())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Whether `member` awaits the tenant controller's first word on its
/// current spec (`status.observedGeneration` behind `metadata.generation`;
/// one being deleted aside, whose status may wait days for the DSI's
/// confirmation). Metering waits until no Member does: a pause in the
/// changes is not enough, since a loaded API server itself pauses mid-bulk,
/// and metering then created 2 300 to 4 100 records beside a bulk of 3 000
/// new Members.
fn awaits_tenant(member: &Member) -> bool {
    member.meta().deletion_timestamp.is_none()
        && member.status.as_ref().and_then(|s| s.observed_generation) != member.meta().generation
}

/// A cache's changes as mere signals: the reconcile reads every value from
/// the caches, whichever changed.
fn signals<T>(changes: impl Stream<Item = T> + Send + 'static) -> BoxStream<'static, ()> {
    changes.map(|_| ()).boxed()
}

/// One computation of the whole ledger, its writes at `pace`; whether it
/// made them all. `meter`: create the UsageRecords now due first. During a
/// GitOps sync of thousands of Members metering waits for every new
/// Member's tenant (see [`provisioning`]): the records are billed yearly,
/// while the tenants being provisioned are waited for, and each record
/// created beside them is a request the API server does not spend on a
/// tenant. Estimates meanwhile price what is already recorded, and
/// statements and statuses are written at provisioning's [`Pace`].
/// Metering does not wait for the changes to stop: the echoes of this
/// loop's own writes go on as long as it writes, and after a 35 000-Member
/// bulk they kept it writing one at a time, metering deferred 10 minutes
/// (936 s until the last write).
async fn reconcile(
    caches: &Caches,
    ctx: &Context,
    meter: bool,
    pace: Pace,
) -> Result<bool, kube::Error> {
    let ledger = caches.ledger();
    let today = Zoned::now().date();
    let current = today.year();
    let mut writes = 0;
    let mut finished = true;
    if meter {
        let progress = record_usage(&ledger, caches, ctx, today, pace).await?;
        writes += progress.writes;
        finished = progress.finished;
    }
    let mut estimates: BTreeMap<String, ContributionEstimate> = BTreeMap::new();
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    // Titles of N are issued early in N+1 (ruling 8): last year's Drafts stay
    // up to date until the finance department issues them.
    for exercise in [current - 1, current] {
        if !finished {
            break;
        }
        let deliberation = ledger.grid_for(exercise).deliberation;
        let outcome = ledger.compute(exercise);
        let mut wanted = BTreeSet::new();
        // Each statement is built as it is written, `in_flight` at a time,
        // not all first: an exercise's 35 000 statements and their live
        // copies held at once took the operator from 440 to 790 MiB.
        let applies = outcome
            .statements
            .iter()
            .flat_map(|priced| {
                let mut applies = Vec::new();
                for desired in drafts_of(caches, ctx, priced, exercise, &deliberation) {
                    let name = desired.name_any();
                    wanted.insert(name.clone());
                    // Read once, for the Issued check and the comparison both.
                    let live = watch::cached(&caches.statements, &desired).map(|seen| seen.json());
                    if live.as_ref().and_then(state) != Some(StatementState::Issued) {
                        applies.push((desired, live));
                    }
                    if exercise == current {
                        estimates
                            .entry(priced.member.clone())
                            .or_insert(ContributionEstimate {
                                exercise,
                                total_cents: priced.total_cents,
                                statement: Some(name),
                            });
                    }
                }
                applies
            })
            .map(
                |(desired, live)| async move { apply_over_live(&ctx.client, &desired, live).await },
            );
        let progress = at_once(applies, pace).await?;
        writes += progress.writes;
        if !progress.finished {
            // `wanted` names only the statements reached: the next
            // computation goes on from there, and deletes what is unwanted.
            finished = false;
            break;
        }
        writes += delete_unwanted_drafts(&ledger, caches, ctx, exercise, &wanted).await?;
        if exercise == current {
            errors.extend(
                outcome
                    .errors
                    .into_iter()
                    .map(|error| (error.member, error.message)),
            );
        }
    }
    if finished {
        let names: Vec<String> = ledger.members.iter().map(|m| m.name_any()).collect();
        // Each status written puts a new Member in the cache: the ledger's,
        // held until the last write, made two of each.
        drop(ledger);
        let progress =
            write_member_statuses(caches, ctx, &names, &estimates, &errors, pace).await?;
        writes += progress.writes;
        finished = progress.finished;
    }
    if writes > 0 {
        info!(writes, "statements and estimates updated");
        ctx.metrics.wrote(CONTROLLER, writes);
    }
    Ok(finished)
}

/// Creates the UsageRecords metering says are due for the Members this
/// operator manages. Creating, never applying: a record that already exists
/// (another replica, a restart) is left as it is.
async fn record_usage(
    ledger: &Ledger,
    caches: &Caches,
    ctx: &Context,
    today: jiff::civil::Date,
    pace: Pace,
) -> Result<Progress, kube::Error> {
    let drills: Vec<DrillReport> = caches
        .drills
        .matching(|drill| caches.manages(&drill.spec.member))
        .iter()
        .map(|drill| (**drill).clone())
        .collect();
    let api = Api::<UsageRecord>::namespaced(ctx.client.clone(), &ctx.namespace);
    let creates = metering::due(ledger, &drills, today, &ctx.namespace).map(|record| {
        let api = &api;
        async move {
            match api.create(&PostParams::default(), &record).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            }
        }
    });
    at_once(creates, pace).await
}

/// The statements of `priced` for `exercise`, but an audit statement whose
/// report the annual statement has already titled.
fn drafts_of(
    caches: &Caches,
    ctx: &Context,
    priced: &Statement,
    exercise: i16,
    deliberation: &str,
) -> Vec<ContributionStatement> {
    let member = caches.member(&priced.member);
    let siret = member.as_ref().and_then(|m| m.spec.siret.clone());
    let report = member.as_ref().and_then(|m| audit_report_in(m, exercise));
    let annual: Option<ContributionStatementSpec> = caches
        .statements
        .get(
            Some(&ctx.namespace),
            &statement::statement_name(&priced.member, exercise),
        )
        .and_then(|seen| serde_json::from_value(seen.json()["spec"].clone()).ok());
    statement::drafts(
        priced,
        siret.as_deref(),
        deliberation,
        &ctx.namespace,
        report,
    )
    .into_iter()
    .filter(|desired| {
        desired.spec.title_kind != TitleKind::Audit
            || !statement::audit_already_titled(annual.as_ref())
    })
    .collect()
}

/// How one computation writes. During provisioning, one write at a time
/// and none started after [`PROVISIONING_WRITES`]: a computation that began
/// as a bulk ended wrote its 27 000 statements and statuses of 10 000
/// Members one at a time for 7 minutes; the next one writes 32 at once.
#[derive(Clone, Copy, Debug)]
struct Pace {
    in_flight: usize,
    until: Option<tokio::time::Instant>,
}

/// How long a computation during provisioning starts writes.
const PROVISIONING_WRITES: Duration = Duration::from_secs(30);

impl Pace {
    /// Every write, [`WRITES_IN_FLIGHT`] at once.
    const ALL: Self = Self {
        in_flight: WRITES_IN_FLIGHT,
        until: None,
    };

    fn provisioning() -> Self {
        Self {
            in_flight: 1,
            until: Some(tokio::time::Instant::now() + PROVISIONING_WRITES),
        }
    }
}

/// What [`at_once`] did.
struct Progress {
    /// How many writes changed something.
    writes: usize,
    /// Whether every write was started (none left for a later computation).
    finished: bool,
}

/// Runs `writes` at `pace` until one fails. The next computation redoes
/// what a failure or the pace left.
async fn at_once<W>(writes: impl Iterator<Item = W>, pace: Pace) -> Result<Progress, kube::Error>
where
    W: Future<Output = Result<bool, kube::Error>>,
{
    let cut = AtomicBool::new(false);
    let started = writes.take_while(|_| {
        let in_time = pace
            .until
            .is_none_or(|until| tokio::time::Instant::now() < until);
        cut.store(!in_time, Ordering::Relaxed);
        in_time
    });
    let writes = stream::iter(started)
        .buffer_unordered(pace.in_flight)
        .try_fold(0, |count, wrote| {
            std::future::ready(Ok(count + usize::from(wrote)))
        })
        .await?;
    Ok(Progress {
        writes,
        finished: !cut.load(Ordering::Relaxed),
    })
}

/// Drafts of `exercise` the engine no longer produces, for Members this
/// operator manages that still exist (e.g. a subscription whose dates were
/// corrected). A deleted Member's Drafts are kept: what it owes for a year it
/// was a member of is still owed (ruling 6). Only statements under the name
/// socle gives them are considered: one made by hand is not socle's to delete.
async fn delete_unwanted_drafts(
    ledger: &Ledger,
    caches: &Caches,
    ctx: &Context,
    exercise: i16,
    wanted: &BTreeSet<String>,
) -> Result<usize, kube::Error> {
    let api = Api::<ContributionStatement>::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut deleted = 0;
    for member in &ledger.members {
        for name in [
            statement::statement_name(&member.name_any(), exercise),
            statement::audit_statement_name(&member.name_any(), exercise),
        ] {
            if wanted.contains(&name) {
                continue;
            }
            let draft = caches
                .statements
                .get(Some(&ctx.namespace), &name)
                .and_then(|existing| state(&existing.json()))
                == Some(StatementState::Draft);
            if draft && withdraw_draft(&api, &name).await? {
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

/// Deletes the statement `name` if it is still a Draft, on the condition
/// that it is the version just read: one issued since the cache saw it is
/// never deleted (the API server refuses the stale precondition; the shipped
/// admission policy refuses any deletion of an Issued statement too).
async fn withdraw_draft(api: &Api<ContributionStatement>, name: &str) -> Result<bool, kube::Error> {
    let Some(live) = api.get_opt(name).await? else {
        return Ok(false);
    };
    if live.spec.state != StatementState::Draft {
        return Ok(false);
    }
    let this_version = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: live.metadata.resource_version.clone(),
            uid: live.metadata.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &this_version).await {
        Ok(_) => Ok(true),
        // Changed since it was read: the next pass decides again.
        Err(kube::Error::Api(status)) if status.code == 409 || status.is_not_found() => Ok(false),
        Err(error) => Err(error),
    }
}

/// The day the member's audit report was delivered in the exercise, the
/// latest if several were.
pub fn audit_report_in(member: &Member, exercise: i16) -> Option<jiff::civil::Date> {
    member
        .spec
        .subscriptions
        .iter()
        .filter(|subscription| subscription.offer == Offer::Audit)
        .filter_map(|subscription| subscription.audit_report_date)
        .filter(|report| report.year() == exercise)
        .max()
}

/// Where a cached statement stands: Issued ones are the finance
/// department's, never touched again.
fn state(statement: &Value) -> Option<StatementState> {
    serde_json::from_value(statement["spec"]["state"].clone()).ok()
}

/// The estimate and `Billable` condition of each Member of `names`, read
/// from the cache when its turn comes; how many were written.
async fn write_member_statuses(
    caches: &Caches,
    ctx: &Context,
    names: &[String],
    estimates: &BTreeMap<String, ContributionEstimate>,
    errors: &BTreeMap<String, String>,
    pace: Pace,
) -> Result<Progress, kube::Error> {
    let statuses = names.iter().filter_map(|name| {
        let member = caches.member(name)?;
        Some(write_member_status(
            member,
            ctx,
            estimates.get(name),
            errors.get(name),
        ))
    });
    at_once(statuses, pace).await
}

/// Applies the member's estimate and `Billable` condition, unless unchanged.
/// Returns whether a write was made.
async fn write_member_status(
    member: SharedMember,
    ctx: &Context,
    estimate: Option<&ContributionEstimate>,
    error: Option<&String>,
) -> Result<bool, kube::Error> {
    let generation = member.meta().generation;
    let billable = match error {
        Some(message) => condition(CONDITION, false, "CannotPrice", message.clone(), generation),
        None => condition(
            CONDITION,
            true,
            "Priced",
            "the contribution engine prices this member",
            generation,
        ),
    };
    let old = member.status.clone().unwrap_or_default();
    let merged = merge(&old.conditions, billable);
    let billable = merged
        .into_iter()
        .find(|c| c.type_ == CONDITION)
        .expect("just merged");
    let previous = old.conditions.iter().find(|c| c.type_ == CONDITION);
    if old.contribution.as_ref() == estimate && previous == Some(&billable) {
        return Ok(false);
    }
    if billable.status == "False" && previous.is_none_or(|p| p.status != "False") {
        ctx.event(
            &*member,
            EventType::Warning,
            "CannotPrice",
            billable.message.clone(),
        )
        .await;
    }
    apply_member_status(
        ctx,
        &member,
        STATUS_MANAGER,
        json!({ "contribution": estimate, "conditions": [billable] }),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn member(yaml_meta: &str, status: &str) -> SharedMember {
        serde_yaml::from_str::<Member>(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {yaml_meta}
spec:
  displayName: Allaire
  inseeCode: "56001"
  population: {{count: 3875, year: 2021}}
  subscriptions: []
{status}
"#
        ))
        .expect("a valid Member")
        .into()
    }

    #[test]
    fn metering_waits_for_every_member_s_tenant_to_answer_its_spec() {
        let answered = member(
            "{name: allaire, generation: 2}",
            "status: {observedGeneration: 2}",
        );
        let new = member("{name: bains, generation: 1}", "");
        let edited = member(
            "{name: pipriac, generation: 3}",
            "status: {observedGeneration: 2}",
        );
        let leaving = member(
            "{name: redon, generation: 4, deletionTimestamp: '2026-11-30T12:00:00Z', finalizers: [x]}",
            "status: {observedGeneration: 3}",
        );
        let provisioning = |members: &[SharedMember]| members.iter().any(|m| awaits_tenant(m));
        assert!(!provisioning(&[answered.clone(), leaving.clone()]));
        assert!(provisioning(&[answered.clone(), new]));
        assert!(provisioning(&[edited, answered, leaving]));
        assert!(!provisioning(&[]));
    }

    /// Writes of one second each, counting those started.
    fn slow_writes(
        started: &AtomicUsize,
    ) -> impl Iterator<Item = impl Future<Output = Result<bool, kube::Error>>> {
        (0..100).map(move |_| {
            started.fetch_add(1, Ordering::Relaxed);
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(true)
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn during_provisioning_no_write_starts_after_the_deadline() {
        let started = AtomicUsize::new(0);
        let progress = at_once(slow_writes(&started), Pace::provisioning())
            .await
            .unwrap();
        let seconds = usize::try_from(PROVISIONING_WRITES.as_secs()).unwrap();
        // One at a time: one started each second until the deadline.
        assert_eq!(progress.writes, seconds);
        assert!(!progress.finished);
        // The one that met the deadline was drawn, never started.
        assert_eq!(started.load(Ordering::Relaxed), seconds + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn after_provisioning_every_write_is_made_32_at_once() {
        let started = AtomicUsize::new(0);
        let begun = tokio::time::Instant::now();
        let progress = at_once(slow_writes(&started), Pace::ALL).await.unwrap();
        assert_eq!((progress.writes, progress.finished), (100, true));
        // 100 writes of a second, 32 at once: four rounds.
        assert_eq!(begun.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_in_the_changes_ends_the_wait() {
        let notify = Notify::new();
        let started = tokio::time::Instant::now();
        settle(&notify).await;
        assert_eq!(started.elapsed(), QUIET);
    }

    #[tokio::test(start_paused = true)]
    async fn changes_that_go_on_are_computed_after_the_longest_wait() {
        let notify = Arc::new(Notify::new());
        let changes = {
            let notify = notify.clone();
            tokio::spawn(async move {
                loop {
                    notify.notify_one();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let started = tokio::time::Instant::now();
        settle(&notify).await;
        let waited = started.elapsed();
        assert!(
            (LONGEST..LONGEST + QUIET).contains(&waited),
            "waited {waited:?}"
        );
        changes.abort();
    }
}

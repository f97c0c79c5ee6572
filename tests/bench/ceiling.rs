//! The raw ceiling: how fast a minimal client can server-side apply to this
//! API server — no reads, no watches, no logic, only writes from parallel
//! tasks. Measured three times: with small ConfigMaps (the API server's
//! cheapest object); with socle's own tenants, built by socle's builders and
//! applied as socle applies them (the namespace, then the rest at once),
//! without a Member, a status or any comparison; and with whole Members
//! (created, their tenant, their status), the same writes as the bulk's.

use std::{
    future::Future,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use futures::{
    FutureExt,
    future::{BoxFuture, try_join_all},
};
use jiff::{Zoned, civil::Date};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, Resource as _, ResourceExt,
    api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use serde::Serialize;
use socle::{
    api::{Member, SharedService},
    labels,
    runtime::{
        apply::FIELD_MANAGER, apply::apply_over_live, conditions::condition, status::status_patch,
    },
    tenant::{
        self, TenantSettings,
        build::{self, Tenant},
        plan,
        status::{owned_fields, tenant_status},
    },
};

/// What one concurrency level achieved.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingSample {
    pub concurrency: usize,
    /// ConfigMaps, or tenants.
    pub applied: usize,
    /// Objects written (a tenant is several).
    pub objects: usize,
    pub seconds: f64,
    /// `applied` per second.
    pub per_second: f64,
}

/// New ConfigMaps applied into `namespace` (left there: the caller deletes
/// the namespace).
pub async fn config_maps(
    client: &Client,
    namespace: &str,
    levels: &[usize],
    duration: Duration,
) -> Result<Vec<CeilingSample>> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let params = PatchParams::apply("socle-bench-ceiling").force();
    at_each_level(levels, duration, |concurrency, task, i| {
        let (api, params) = (&api, &params);
        async move {
            let name = format!("ceiling-c{concurrency}-t{task}-{i}");
            api.patch(&name, params, &Patch::Apply(&config_map(&name)))
                .await?;
            Ok(1)
        }
    })
    .await
}

/// The tenants of `members` (the hosted ones, in order) applied into
/// namespaces named with `prefix`, with the cluster's SharedServices (the
/// storage class), as the tenant controller builds them.
pub async fn tenants(
    client: &Client,
    members: impl Iterator<Item = Member> + Send,
    prefix: &str,
    levels: &[usize],
    duration: Duration,
) -> Result<Vec<CeilingSample>> {
    let planner = Planner::new(client, prefix).await?;
    let members = Mutex::new(members.filter(|member| member.hosted_on(planner.today)));
    at_each_level(levels, duration, |_, _, _| {
        let plan = planner.plan(&next(&members));
        async move { apply_blindly(client, &build::tenant(&plan?)).await }
    })
    .await
}

/// Whole Members, as a minimal client would provision them: the Member
/// created (with the finalizer policy in force, as in the bulk), its tenant
/// applied as [`tenants`] does when it is hosted, and the tenant
/// controller's status applied: the API server's part of one Member of the
/// bulk, without the operator's watches, reads and logic. `members` must be
/// out of the operator's selector; `applied` counts Members.
pub async fn members(
    client: &Client,
    members: impl Iterator<Item = Member> + Send,
    prefix: &str,
    levels: &[usize],
    duration: Duration,
) -> Result<Vec<CeilingSample>> {
    let planner = Planner::new(client, prefix).await?;
    let api = Api::<Member>::all(client.clone());
    let members = Mutex::new(members);
    at_each_level(levels, duration, |_, _, _| {
        let (member, planner, api) = (next(&members), &planner, &api);
        async move {
            let created = api.create(&PostParams::default(), &member).await?;
            let (namespace, objects, reason) = if created.hosted_on(planner.today) {
                let plan = planner.plan(&created)?;
                let objects = apply_blindly(client, &build::tenant(&plan)).await?;
                (Some(plan.namespace), objects, "Provisioned")
            } else {
                (None, 0, "NotHosted")
            };
            let generation = created.meta().generation;
            let ok = condition(tenant::CONDITION, true, reason, "provisioned", generation);
            let status = tenant_status(&created, namespace, ok);
            api.patch_status(
                &created.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&status_patch(owned_fields(&status))),
            )
            .await?;
            Ok(objects + 2)
        }
    })
    .await
}

/// The next Member of a population shared by the ceiling's tasks.
fn next(members: &Mutex<impl Iterator<Item = Member>>) -> Member {
    members
        .lock()
        .expect("no panic holds the lock")
        .next()
        .expect("synthetic Members never run out")
}

/// Tenant plans as the tenant controller makes them, with the cluster's
/// SharedServices (the storage class), in namespaces named with a prefix.
struct Planner {
    services: Vec<SharedService>,
    settings: TenantSettings,
    today: Date,
}

impl Planner {
    async fn new(client: &Client, prefix: &str) -> Result<Self> {
        let services = Api::<SharedService>::all(client.clone())
            .list(&ListParams::default())
            .await?
            .items;
        Ok(Self {
            services,
            settings: TenantSettings {
                namespace_prefix: prefix.to_owned(),
                ..TenantSettings::default()
            },
            today: Zoned::now().date(),
        })
    }

    fn plan(&self, member: &Member) -> Result<plan::TenantPlan> {
        let mut plan = plan::plan(member, &self.services, &self.settings, self.today)?;
        // Out of the operator's watches (it selects component=tenant): its
        // caches and RSS hold only what it provisioned.
        plan.labels
            .insert(labels::COMPONENT.to_owned(), "bench-ceiling".to_owned());
        Ok(plan)
    }
}

/// Applies every object of `tenant` without reading anything; returns how
/// many.
async fn apply_blindly(client: &Client, tenant: &Tenant) -> Result<usize> {
    apply_over_live(client, &tenant.namespace, None).await?;
    let mut applies: Vec<BoxFuture<'_, kube::Result<bool>>> = vec![
        apply_over_live(client, &tenant.quota, None).boxed(),
        apply_over_live(client, &tenant.limit_range, None).boxed(),
    ];
    applies.extend(
        tenant
            .policies
            .iter()
            .map(|p| apply_over_live(client, p, None).boxed()),
    );
    applies.extend(
        tenant
            .bindings
            .iter()
            .map(|b| apply_over_live(client, b, None).boxed()),
    );
    applies.extend(
        tenant
            .volume
            .iter()
            .map(|v| apply_over_live(client, v, None).boxed()),
    );
    Ok(1 + try_join_all(applies).await?.len())
}

/// At each concurrency level, that many tasks call `apply(level, task, i)`
/// (`i`: the task's i-th call) until `duration` has passed; `apply` returns
/// how many objects it wrote.
async fn at_each_level<F, Fut>(
    levels: &[usize],
    duration: Duration,
    apply: F,
) -> Result<Vec<CeilingSample>>
where
    F: Fn(usize, usize, usize) -> Fut,
    Fut: Future<Output = Result<usize>>,
{
    let mut samples = Vec::new();
    for &concurrency in levels {
        let (applied, objects) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + duration;
        try_join_all((0..concurrency).map(|task| {
            let (apply, applied, objects) = (&apply, &applied, &objects);
            async move {
                let mut i = 0;
                while Instant::now() < deadline {
                    objects.fetch_add(apply(concurrency, task, i).await?, Ordering::Relaxed);
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
            objects: objects.into_inner(),
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

//! Plumbing every Member controller shares: the one watch of Members, the
//! caches of other kinds, mapping labelled children back to their Member,
//! and draining the controller's results into logs.

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt, TryStreamExt};
use kube::{
    Api, Client, Resource, ResourceExt,
    core::DeserializeGuard,
    runtime::{
        Controller, WatchStreamExt,
        controller::{self, Action},
        reflector::{self, Lookup, ObjectRef, ReflectHandle, Store, store::Writer},
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::{debug, warn};

use super::{Context, cache::Cache, chain, interner::Interner, seen::Seen};
use crate::{
    api::{Member, SharedService},
    labels,
};

/// A Member as the controllers receive it: one that does not deserialize
/// still reaches the reconcile, which reports it instead of the watch failing.
pub type MemberGuard = DeserializeGuard<Member>;

/// How many changes a controller may lag behind the Member watch before the
/// watch waits for it (each entry is one reference, not a Member).
const MEMBER_BUFFER: usize = 4096;

/// Reconciles one controller runs at once. Bounded so that a cold start or a
/// GitOps sync of thousands of Members does not open as many connections and
/// requests to the API server at once; enough to keep it busy (see
/// BENCHMARKS.md). kube's client has no client-side rate limit (client-go's
/// default is 5 requests/s): the API server's priority and fairness is the
/// limit, and this bound keeps socle within it.
const CONCURRENCY: u16 = 32;

/// The one watch of the Members this operator manages, shared by every
/// controller: one cache in memory instead of one per controller, and one
/// watch on the API server.
pub struct MemberWatch {
    api: Api<MemberGuard>,
    config: watcher::Config,
    writer: Writer<MemberGuard>,
}

impl std::fmt::Debug for MemberWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberWatch").finish_non_exhaustive()
    }
}

impl MemberWatch {
    pub fn new(ctx: &Context) -> Self {
        let (_, writer) = reflector::store_shared(MEMBER_BUFFER);
        Self {
            api: Api::all(ctx.client.clone()),
            config: ctx.member_watch(),
            writer,
        }
    }

    /// The changed Members, each after the cache holds it, with the cache
    /// itself ([`ReflectHandle::reader`]). Subscribe before [`Self::run`],
    /// and poll it: the watch waits for its slowest subscriber. A deletion
    /// is not passed on (a Member with a finalizer is updated first).
    pub fn subscribe(&self) -> ReflectHandle<MemberGuard> {
        self.writer
            .subscribe()
            .expect("a shared store has subscribers")
    }

    /// Runs `controllers`, which hold this watch's subscriptions, with the
    /// watch, until they end.
    pub async fn serve(self, controllers: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = controllers => {}
            () = self.run() => {}
        }
    }

    async fn run(self) {
        watcher(self.api, self.config)
            .default_backoff()
            .modify(forget_managed_fields)
            .reflect_shared(self.writer)
            .for_each(|event| {
                if let Err(error) = event {
                    warn!(error = %chain(&error), "watch of Members failed; retrying");
                }
                std::future::ready(())
            })
            .await;
    }
}

/// A controller of the Members `members` passes on, with socle's bound on
/// concurrent reconciles.
pub fn member_controller(members: ReflectHandle<MemberGuard>) -> Controller<MemberGuard> {
    let store = members.reader();
    Controller::for_shared_stream(members, store)
        .with_config(controller::Config::default().concurrency(CONCURRENCY))
}

/// Nobody reads managedFields, and they are about half of a small object:
/// the caches drop them.
fn forget_managed_fields<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// What a reflector cache can hold.
pub trait Cacheable:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Cacheable for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// A Member that deserializes, shared with the Member cache instead of
/// copied: billing holds every Member at each computation, and a copy of
/// 1 000 Members was 9 MiB.
#[derive(Clone, Debug)]
pub struct SharedMember(Arc<MemberGuard>);

impl SharedMember {
    /// `None` for a Member that does not deserialize.
    pub fn readable(guard: Arc<MemberGuard>) -> Option<Self> {
        guard.0.is_ok().then_some(Self(guard))
    }
}

impl From<Member> for SharedMember {
    fn from(member: Member) -> Self {
        Self(Arc::new(DeserializeGuard(Ok(member))))
    }
}

impl std::ops::Deref for SharedMember {
    type Target = Member;

    fn deref(&self) -> &Member {
        self.0
            .0
            .as_ref()
            .expect("a SharedMember is made of a readable Member only")
    }
}

impl std::borrow::Borrow<Member> for SharedMember {
    fn borrow(&self) -> &Member {
        self
    }
}

/// The Members of `store` that deserialize (one that does not is reported
/// by the tenant controller).
pub fn readable_members(store: &Store<MemberGuard>) -> Vec<SharedMember> {
    store
        .state()
        .into_iter()
        .filter_map(SharedMember::readable)
        .collect()
}

/// A cache of the objects `api` and `config` select, and the stream of
/// changes that fills it (deletions included), for the controller to poll
/// through `Controller::watches_stream`. One watch for both, so the cache
/// already holds an object when the reconcile its change triggers runs: with
/// two watches, a Member could be reconciled against a cache that has not
/// yet seen a new SharedService, fail as "missing" and wait for a spec
/// change that never comes.
pub fn reflected<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Cache<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable,
{
    reflected_as(api, config, |mut object| {
        forget_managed_fields(&mut object);
        object
    })
}

/// [`reflected`], each object turned by `into` into what is cached: for
/// kinds counted in tens of thousands, keep only what is read.
pub fn reflected_as<K, T>(
    api: Api<K>,
    config: watcher::Config,
    into: impl FnMut(K) -> T + Send + 'static,
) -> (
    Cache<T>,
    impl Stream<Item = Result<T, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable,
    T: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    reflected_into(api, config, Cache::default(), into)
}

/// [`reflected_as`] into `cache`: for objects cached as a type that is not a
/// resource, keyed by the function of [`Cache::keyed_by`].
pub fn reflected_into<K, T>(
    api: Api<K>,
    config: watcher::Config,
    cache: Cache<T>,
    mut into: impl FnMut(K) -> T + Send + 'static,
) -> (
    Cache<T>,
    impl Stream<Item = Result<T, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable,
    T: Clone + Send + Sync + 'static,
{
    let writer = cache.clone();
    let changes = watcher(api, config)
        .default_backoff()
        .map_ok(move |event| match event {
            watcher::Event::Apply(object) => watcher::Event::Apply(into(object)),
            watcher::Event::Delete(object) => watcher::Event::Delete(into(object)),
            watcher::Event::InitApply(object) => watcher::Event::InitApply(into(object)),
            watcher::Event::Init => watcher::Event::Init,
            watcher::Event::InitDone => watcher::Event::InitDone,
        })
        .inspect_ok(move |event| writer.apply(event))
        .touched_objects();
    (cache, changes)
}

/// [`reflected_into`] `cache`, each object cached as [`Seen`]: for the kinds
/// socle only compares with what it applies. `texts` shares what the
/// objects repeat, across the caches given the same. The cache is
/// `Cache::default()`, or [`Cache::grouped_by_namespace`] for the tenant
/// kinds whose orphans are looked for a namespace at a time.
pub fn reflected_seen<K>(
    api: Api<K>,
    config: watcher::Config,
    cache: Cache<Seen<K>>,
    texts: &Interner,
) -> (
    Cache<Seen<K>>,
    impl Stream<Item = Result<Seen<K>, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable + Serialize,
{
    let texts = texts.clone();
    reflected_into(api, config, cache, move |object| Seen::new(&object, &texts))
}

/// The cache of every SharedService, see [`reflected`].
pub fn shared_services(
    client: &Client,
) -> (
    Cache<SharedService>,
    impl Stream<Item = Result<SharedService, watcher::Error>> + Send + 'static,
) {
    reflected(Api::all(client.clone()), watcher::Config::default())
}

/// The live object a cache holds under `desired`'s name and namespace.
pub fn cached<K>(cache: &Cache<Seen<K>>, desired: &K) -> Option<Arc<Seen<K>>>
where
    K: Resource<DynamicType = ()>,
{
    let meta = desired.meta();
    cache.get(
        meta.namespace.as_deref(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// Every SharedService, once the cache holds the first complete list: before
/// that, a service not seen yet would pass for one that does not exist, and
/// every Member naming one would fail (a status write and a Warning Event
/// each, then as many back) at each start of the operator.
pub async fn all_services(cache: &Cache<SharedService>) -> Vec<SharedService> {
    cache.wait_until_ready().await;
    cache.cloned()
}

/// Maps a changed SharedService to the Members that `depends_on` it, read
/// from the controller's own Member cache.
pub fn members_depending_on(
    members: Store<MemberGuard>,
    depends_on: fn(&Member, &SharedService) -> bool,
) -> impl Fn(SharedService) -> Vec<ObjectRef<DeserializeGuard<Member>>> + Send + Sync + 'static {
    move |service| {
        members
            .state()
            .iter()
            .filter(|guard| {
                guard
                    .0
                    .as_ref()
                    .is_ok_and(|member| depends_on(member, &service))
            })
            .map(|guard| ObjectRef::from_obj(&**guard))
            .collect()
    }
}

/// Maps any change of a `K` to every Member for which `with` holds, read
/// from the controller's own Member cache: for rare changes that concern
/// them all (a storage location going away).
pub fn members_with<K>(
    members: Store<MemberGuard>,
    with: fn(&Member) -> bool,
) -> impl Fn(K) -> Vec<ObjectRef<DeserializeGuard<Member>>> + Send + Sync + 'static {
    move |_| {
        members
            .state()
            .iter()
            .filter(|guard| guard.0.as_ref().is_ok_and(with))
            .map(|guard| ObjectRef::from_obj(&**guard))
            .collect()
    }
}

/// Maps an object labelled with its Member back to that Member.
#[allow(clippy::needless_pass_by_value)] // the signature `Controller::watches` wants
pub fn by_member_label<K: Resource>(object: K) -> Option<ObjectRef<DeserializeGuard<Member>>> {
    object
        .labels()
        .get(labels::MEMBER)
        .map(|name| ObjectRef::new(name))
}

/// The Members whose labelled objects `changes` brings, for
/// `Controller::reconcile_on`: what `by_member_label` is to typed objects.
pub fn members_labelled<K: 'static>(
    changes: impl Stream<Item = Result<Seen<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = ObjectRef<MemberGuard>> + Send + 'static {
    changes.filter_map(|change| std::future::ready(change.ok().and_then(Seen::member_ref)))
}

/// Polls a controller's results until it stops, logging the failures. A
/// labelled object of a Member this operator does not manage (another
/// selector) or that is gone is not a failure.
pub async fn drain<E, S>(results: S, controller_name: &'static str)
where
    E: std::error::Error + 'static,
    S: Stream<
        Item = Result<
            (ObjectRef<DeserializeGuard<Member>>, Action),
            controller::Error<E, watcher::Error>,
        >,
    >,
{
    results
        .for_each(|result| {
            match result {
                Err(controller::Error::ObjectNotFound(object)) => {
                    debug!(%object, controller = controller_name, "object of an unmanaged or deleted Member");
                }
                Err(error) => warn!(error = %chain(&error), controller = controller_name, "reconcile failed"),
                Ok(_) => {}
            }
            std::future::ready(())
        })
        .await;
}

/// Marks `controller_name` ready in `health` once `store` has its first
/// complete list.
pub fn report_synced<K>(
    health: std::sync::Arc<super::telemetry::Health>,
    controller_name: &'static str,
    store: Store<K>,
) where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    health.expect(controller_name);
    tokio::spawn(async move {
        if until_ready(&store).await {
            health.synced(controller_name);
        }
    });
}

/// Waits until `store` has its first complete list; false if its writer is
/// gone (the operator is stopping). The store's own readiness wakes only its
/// latest waiter — with many reconciles waiting, the others would sleep
/// forever — so each waiter asks again every 200 ms.
pub async fn until_ready<K>(store: &Store<K>) -> bool
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        let waited = tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready());
        if let Ok(ready) = waited.await {
            return ready.is_ok();
        }
    }
}

/// What every Member controller does when a reconcile fails: log it, count it
/// by category, publish an Event on the Member (the reason is usually the
/// category), and retry as the category says.
pub fn on_failure<E: super::Categorized>(
    shared: &super::Context,
    controller_name: &'static str,
    guard: &DeserializeGuard<Member>,
    error: &E,
    event: (kube::runtime::events::EventType, &'static str),
) -> Action {
    let category = error.category();
    warn!(member = %guard.name_any(), controller = controller_name, category, error = %chain(error), "reconcile failed");
    shared.metrics.failed(controller_name, category);
    if let Ok(member) = &guard.0 {
        let (shared, member, note) = (shared.clone(), member.clone(), chain(error));
        let (type_, reason) = event;
        tokio::spawn(async move { shared.event(&member, type_, reason, note).await });
    }
    super::error_action(error)
}

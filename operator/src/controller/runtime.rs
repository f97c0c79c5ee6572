//! Plumbing every Member controller shares: the SharedService cache, mapping
//! labelled children back to their Member, and draining the controller's
//! results into logs.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::{
    Api, Client, Resource, ResourceExt,
    core::DeserializeGuard,
    runtime::{
        WatchStreamExt,
        controller::{self, Action},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tracing::{debug, warn};

use super::chain;
use crate::{
    api::{Member, SharedService},
    labels,
};

/// A cache of every SharedService, and the stream of changes that fills it,
/// for the controller to poll through `Controller::watches_stream`. One watch
/// for both, so the cache already holds a service when the reconcile its
/// creation triggers runs: with two watches, a Member could be reconciled
/// against a cache that has not yet seen the service, fail as "missing" and
/// wait for a spec change that never comes.
pub fn shared_services(
    client: &Client,
) -> (
    Store<SharedService>,
    impl Stream<Item = Result<SharedService, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let changes = watcher(
        Api::<SharedService>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .touched_objects();
    (store, changes)
}

/// Every SharedService, once the cache holds the first complete list: before
/// that, a service not seen yet would pass for one that does not exist, and
/// every Member naming one would fail (a status write and a Warning Event
/// each, then as many back) at each start of the operator. An error means
/// the operator is stopping; the reconcile then goes on with what there is.
pub async fn all_services(store: &Store<SharedService>) -> Vec<SharedService> {
    until_ready(store).await;
    store.state().iter().map(|s| (**s).clone()).collect()
}

/// Maps a changed SharedService to the Members that `depends_on` it, read
/// from the controller's own Member cache.
pub fn members_depending_on(
    members: Store<DeserializeGuard<Member>>,
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

/// Maps an object labelled with its Member back to that Member.
#[allow(clippy::needless_pass_by_value)] // the signature `Controller::watches` wants
pub fn by_member_label<K: Resource>(object: K) -> Option<ObjectRef<DeserializeGuard<Member>>> {
    object
        .labels()
        .get(labels::MEMBER)
        .map(|name| ObjectRef::new(name))
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
    K: Resource + Clone + 'static,
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

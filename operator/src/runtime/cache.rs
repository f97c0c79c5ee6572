//! A watch cache that keys each object by its own namespace and name.
//!
//! Why not kube's reflector `Store`: it keys every object by an `ObjectRef` —
//! 96 bytes, plus its own copies of the name and namespace — in a table that
//! doubles as it grows. For the kinds socle caches by the hundred thousand
//! (UsageRecords: about 22 a Member and a year), the keys cost more than the
//! objects: at 10 000 Members, tens of MiB. Here the table holds one pointer
//! per object, and lookups hash the name and namespace the object already
//! carries. Same semantics as the `Store` for what socle reads: a relist
//! replaces the contents when it completes, and the cache is ready after the
//! first one.
//!
//! An object names itself through kube's `Lookup`, or, for what is cached as
//! a type from outside the operator (the engine's `Usage`, which Rust's
//! orphan rule keeps from implementing `Lookup`), through the function given
//! to [`Cache::keyed_by`].
//!
//! A cache [`grouped by namespace`](Cache::grouped_by_namespace) hashes its
//! objects by their namespace alone, so that one namespace's objects are
//! found without a scan ([`Cache::in_namespace`]): the orphan check of each
//! tenant reconcile scanned the whole cache (tens of thousands of objects at
//! 10 000 Members), quadratic over a resync. It costs no memory, and a name
//! lookup compares the few objects its namespace holds.

use std::{
    borrow::Cow,
    hash::{BuildHasher, RandomState},
    sync::{Arc, RwLock},
};

use hashbrown::{HashTable, hash_table::Entry};
use kube::runtime::{reflector::Lookup, watcher};
use tokio::sync::watch;

/// What an object is keyed by: its namespace (`None`: cluster-scoped) and
/// name, borrowed from it.
pub type KeyOf<T> = for<'a> fn(&'a T) -> (Option<Cow<'a, str>>, Cow<'a, str>);

/// Objects of one kind as the last watch events left them; cheap to clone
/// (every clone reads the same objects).
#[derive(Debug)]
pub struct Cache<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

#[derive(Debug)]
struct Shared<T> {
    objects: RwLock<Objects<T>>,
    /// Whether a first list completed; every waiter sees it change.
    ready: watch::Sender<bool>,
    key: KeyOf<T>,
    /// Whether objects hash by their namespace alone.
    by_namespace: bool,
}

#[derive(Debug)]
struct Objects<T> {
    live: HashTable<Arc<T>>,
    /// The list in progress (after `Init`), which replaces `live` at `InitDone`.
    relisting: Option<HashTable<Arc<T>>>,
    hasher: RandomState,
}

/// Keyed by the namespace and name kube's `Lookup` gives.
impl<T: Lookup> Default for Cache<T> {
    fn default() -> Self {
        Self::keyed_by(lookup_key)
    }
}

impl<T: Lookup> Cache<T> {
    /// An empty cache keyed as [`Cache::default`], whose objects hash by
    /// their namespace alone: for namespaced kinds with a few objects in
    /// each of many namespaces (a tenant's network policies, its role
    /// bindings), read a namespace at a time. Not for a kind whose objects
    /// crowd one namespace, nor a cluster-scoped one: every lookup would
    /// compare them all.
    pub fn grouped_by_namespace() -> Self {
        Self::new(lookup_key, true)
    }
}

fn lookup_key<T: Lookup>(object: &T) -> (Option<Cow<'_, str>>, Cow<'_, str>) {
    (object.namespace(), object.name().unwrap_or_default())
}

impl<T> Cache<T> {
    /// An empty cache whose objects are keyed by `key`.
    pub fn keyed_by(key: KeyOf<T>) -> Self {
        Self::new(key, false)
    }

    fn new(key: KeyOf<T>, by_namespace: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                objects: RwLock::new(Objects {
                    live: HashTable::new(),
                    relisting: None,
                    hasher: RandomState::new(),
                }),
                ready: watch::Sender::new(false),
                key,
                by_namespace,
            }),
        }
    }

    /// The object named `name` in `namespace` (`None`: cluster-scoped).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<T>> {
        let key = self.shared.key;
        let objects = self.read();
        let hash = hash_key(&objects.hasher, self.shared.by_namespace, namespace, name);
        objects
            .live
            .find(hash, |cached| is(key, &**cached, namespace, name))
            .cloned()
    }

    /// The objects of `namespace`: found through its hash in a cache
    /// [`grouped by namespace`](Cache::grouped_by_namespace), by a scan in
    /// any other.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<T>> {
        let key = self.shared.key;
        let ours = |object: &&Arc<T>| key(object).0.as_deref() == Some(namespace);
        let objects = self.read();
        if self.shared.by_namespace {
            let hash = hash_key(&objects.hasher, true, Some(namespace), "");
            objects.live.iter_hash(hash).filter(ours).cloned().collect()
        } else {
            objects.live.iter().filter(ours).cloned().collect()
        }
    }

    /// Every object, in no particular order.
    pub fn state(&self) -> Vec<Arc<T>> {
        self.read().live.iter().cloned().collect()
    }

    /// The objects for which `wanted` is true, without copying the others'
    /// pointers out first: a reconcile looking for one Member's objects
    /// scans thousands.
    pub fn matching(&self, wanted: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        self.read()
            .live
            .iter()
            .filter(|object| wanted(object))
            .cloned()
            .collect()
    }

    /// Returns once the first list has completed.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.shared.ready.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects<T>> {
        // Only a panic while writing poisons the lock, and a panic ends the
        // operator (`panic = "abort"`).
        self.shared
            .objects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T: Clone> Cache<T> {
    /// Every object, copied out of the cache.
    pub fn cloned(&self) -> Vec<T> {
        self.read()
            .live
            .iter()
            .map(|object| (**object).clone())
            .collect()
    }

    /// Applies one watch event, as kube's reflector applies it to its store.
    pub fn apply(&self, event: &watcher::Event<T>) {
        let (key, by_namespace) = (self.shared.key, self.shared.by_namespace);
        let mut objects = self
            .shared
            .objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Objects {
            live,
            relisting,
            hasher,
        } = &mut *objects;
        match event {
            watcher::Event::Apply(object) => insert(key, live, hasher, by_namespace, object),
            watcher::Event::Delete(object) => {
                let (namespace, name) = key(object);
                let hash = hash_key(hasher, by_namespace, namespace.as_deref(), &name);
                let found = live.find_entry(hash, |cached| {
                    is(key, &**cached, namespace.as_deref(), &name)
                });
                if let Ok(entry) = found {
                    entry.remove();
                }
            }
            watcher::Event::Init => *relisting = Some(HashTable::new()),
            watcher::Event::InitApply(object) => {
                insert(
                    key,
                    relisting.get_or_insert_with(HashTable::new),
                    hasher,
                    by_namespace,
                    object,
                );
            }
            watcher::Event::InitDone => {
                if let Some(listed) = relisting.take() {
                    *live = listed;
                }
                drop(objects);
                self.shared.ready.send_replace(true);
            }
        }
    }
}

/// The one way a key hashes, for lookups and inserts alike: by namespace
/// alone in a cache grouped by namespace.
fn hash_key(hasher: &RandomState, by_namespace: bool, namespace: Option<&str>, name: &str) -> u64 {
    if by_namespace {
        hasher.hash_one(namespace)
    } else {
        hasher.hash_one((namespace, name))
    }
}

/// Whether `object` is the one named `name` in `namespace`.
fn is<T>(key: KeyOf<T>, object: &T, namespace: Option<&str>, name: &str) -> bool {
    let (its_namespace, its_name) = key(object);
    its_name == name && its_namespace.as_deref() == namespace
}

/// Adds `object`, or replaces the one of the same name.
fn insert<T: Clone>(
    key: KeyOf<T>,
    table: &mut HashTable<Arc<T>>,
    hasher: &RandomState,
    by_namespace: bool,
    object: &T,
) {
    let (namespace, name) = key(object);
    let hash = hash_key(hasher, by_namespace, namespace.as_deref(), &name);
    let entry = table.entry(
        hash,
        |cached| is(key, &**cached, namespace.as_deref(), &name),
        |cached| {
            let (namespace, name) = key(&**cached);
            hash_key(hasher, by_namespace, namespace.as_deref(), &name)
        },
    );
    match entry {
        Entry::Occupied(mut cached) => *cached.get_mut() = Arc::new(object.clone()),
        Entry::Vacant(vacant) => {
            vacant.insert(Arc::new(object.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn config_map(namespace: Option<&str>, name: &str, value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ObjectMeta::default()
            },
            data: Some([("value".to_owned(), value.to_owned())].into()),
            ..ConfigMap::default()
        }
    }

    fn value(cache: &Cache<ConfigMap>, namespace: Option<&str>, name: &str) -> Option<String> {
        let object = cache.get(namespace, name)?;
        object.data.as_ref()?.get("value").cloned()
    }

    #[test]
    fn events_add_replace_and_remove_by_namespace_and_name() {
        let cache = Cache::default();
        cache.apply(&watcher::Event::Apply(config_map(Some("a"), "x", "1")));
        cache.apply(&watcher::Event::Apply(config_map(Some("b"), "x", "2")));
        cache.apply(&watcher::Event::Apply(config_map(None, "x", "3")));
        cache.apply(&watcher::Event::Apply(config_map(Some("a"), "x", "4")));
        assert_eq!(value(&cache, Some("a"), "x").as_deref(), Some("4"));
        assert_eq!(value(&cache, Some("b"), "x").as_deref(), Some("2"));
        assert_eq!(value(&cache, None, "x").as_deref(), Some("3"));
        assert_eq!(cache.state().len(), 3);

        cache.apply(&watcher::Event::Delete(config_map(Some("b"), "x", "")));
        assert_eq!(value(&cache, Some("b"), "x"), None);
        assert_eq!(cache.state().len(), 2);
        let in_a = cache.matching(|object| object.metadata.namespace.as_deref() == Some("a"));
        assert_eq!(in_a.len(), 1);
    }

    #[test]
    fn a_cache_grouped_by_namespace_reads_one_namespace_without_the_others() {
        let grouped = Cache::grouped_by_namespace();
        let plain = Cache::default();
        for cache in [&grouped, &plain] {
            for namespace in ["a", "b", "c"] {
                for name in ["x", "y", "z"] {
                    cache.apply(&watcher::Event::Apply(config_map(
                        Some(namespace),
                        name,
                        namespace,
                    )));
                }
            }
            cache.apply(&watcher::Event::Apply(config_map(Some("a"), "y", "new")));
            cache.apply(&watcher::Event::Delete(config_map(Some("b"), "x", "")));
        }
        for cache in [&grouped, &plain] {
            let mut in_a: Vec<_> = cache
                .in_namespace("a")
                .iter()
                .map(|object| object.metadata.name.clone().unwrap_or_default())
                .collect();
            in_a.sort();
            assert_eq!(in_a, ["x", "y", "z"]);
            assert_eq!(cache.in_namespace("b").len(), 2);
            assert!(cache.in_namespace("d").is_empty());
            assert_eq!(value(cache, Some("a"), "y").as_deref(), Some("new"));
            assert_eq!(value(cache, Some("c"), "z").as_deref(), Some("c"));
            assert_eq!(value(cache, Some("b"), "x"), None);
            assert_eq!(cache.state().len(), 8);
        }
    }

    #[test]
    fn a_relist_replaces_everything_when_it_completes() {
        let cache = Cache::default();
        cache.apply(&watcher::Event::Apply(config_map(Some("a"), "gone", "1")));
        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(config_map(
            Some("a"),
            "kept",
            "2",
        )));
        // Until the list completes, readers see the last complete state.
        assert_eq!(value(&cache, Some("a"), "gone").as_deref(), Some("1"));
        assert_eq!(value(&cache, Some("a"), "kept"), None);
        cache.apply(&watcher::Event::InitDone);
        assert_eq!(value(&cache, Some("a"), "gone"), None);
        assert_eq!(value(&cache, Some("a"), "kept").as_deref(), Some("2"));
        assert_eq!(cache.cloned().len(), 1);
    }

    #[tokio::test]
    async fn every_waiter_wakes_when_the_first_list_completes() {
        let cache = Cache::<ConfigMap>::default();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.wait_until_ready().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(waiters.iter().all(|waiter| !waiter.is_finished()));
        cache.apply(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitDone);
        for waiter in waiters {
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .expect("no panic");
        }
        // And a waiter that comes later returns at once.
        cache.wait_until_ready().await;
    }
}

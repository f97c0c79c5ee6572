//! The billing controller's cache of UsageRecords: each kept as the engine's
//! [`Usage`] (what prices and inventories a member), its names shared. Here,
//! in the billing floor, rather than beside the API type: the cache's key
//! belongs to the controllers' runtime, which the API types must not need.

use std::borrow::Cow;

use crate::{
    api::UsageRecord,
    contribution::{Meter, Usage},
    runtime::interner::Interner,
};

/// `record` as the engine reads it, its Member and meter names shared
/// through `names`: at 1 000 Members, 23 000 records name 1 000 Members and
/// 8 meters.
pub fn shared_usage(record: UsageRecord, names: &Interner) -> Usage {
    let mut usage = Usage::from(record);
    usage.member = names.share(&usage.member);
    if let Meter::Inventory(meter) = &mut usage.meter {
        *meter = names.share(meter);
    }
    usage
}

/// What the billing controller's cache keys a record by
/// ([`Cache::keyed_by`](crate::runtime::cache::Cache::keyed_by)): all of
/// them live in the operator's namespace, so the name alone. A function
/// rather than kube's `Lookup`, which the engine's crate does not know and
/// the orphan rule keeps this crate from implementing for its type.
pub fn usage_key(usage: &Usage) -> (Option<Cow<'_, str>>, Cow<'_, str>) {
    (None, Cow::Borrowed(&usage.id))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kube::runtime::watcher;
    use serde_json::json;

    use super::*;
    use crate::runtime::cache::Cache;

    fn record(name: &str, member: &str, meter: &str) -> UsageRecord {
        serde_json::from_value(json!({
            "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1",
            "kind": "UsageRecord",
            "metadata": {"name": name, "namespace": "socle-system"},
            "spec": {
                "member": member, "meter": meter, "quantity": 31, "unit": "day",
                "exercise": 2026, "period": {"start": "2026-01-01", "end": "2026-01-31"},
                "source": "socle", "evidence": "namespace commune-allaire"
            }
        }))
        .unwrap()
    }

    #[test]
    fn cached_records_share_their_member_and_meter_names() {
        let names = Interner::default();
        let january = record("allaire-days-2026-01", "allaire", "subscription-days");
        let february = record("allaire-days-2026-02", "allaire", "subscription-days");
        let first = shared_usage(january.clone(), &names);
        let second = shared_usage(february, &names);
        assert_eq!(first, Usage::from(january), "sharing changes no value");
        assert!(Arc::ptr_eq(&first.member, &second.member));
        let (Meter::Inventory(a), Meter::Inventory(b)) = (&first.meter, &second.meter) else {
            panic!("inventory meters: {:?}, {:?}", first.meter, second.meter);
        };
        assert!(Arc::ptr_eq(a, b));
        let other = shared_usage(
            record("avessac-days-2026-01", "avessac", "subscription-days"),
            &names,
        );
        assert!(!Arc::ptr_eq(&first.member, &other.member));
        assert_eq!(&*other.member, "avessac");
    }

    #[test]
    fn the_cache_finds_a_record_by_its_name_alone() {
        let cache = Cache::keyed_by(usage_key);
        let names = Interner::default();
        for name in ["allaire-days-2026-01", "allaire-days-2026-02"] {
            let usage = shared_usage(record(name, "allaire", "subscription-days"), &names);
            cache.apply(&watcher::Event::Apply(usage));
        }
        let found = cache.get(None, "allaire-days-2026-02").expect("cached");
        assert_eq!(found.id, "allaire-days-2026-02");
        cache.apply(&watcher::Event::Delete(shared_usage(
            record("allaire-days-2026-01", "allaire", "subscription-days"),
            &names,
        )));
        assert!(cache.get(None, "allaire-days-2026-01").is_none());
        assert_eq!(cache.state().len(), 1);
    }
}

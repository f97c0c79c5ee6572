//! Apply: server-side apply under one field manager, skipped when the live
//! object already says everything we would say — so a converged cluster sees
//! no write from socle, and, where a cache holds the object, no read either.

use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams},
};
use serde::Serialize;
use serde_json::Value;

use super::{cache::Cache, seen::Seen, watch};

/// The field manager of every socle write.
pub const FIELD_MANAGER: &str = "socle";

fn api_for<K: Resource<DynamicType = ()>>(
    client: &Client,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<K>(&());
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Applies `desired` unless the live object, read first, already contains
/// it. Returns whether a write was made. For objects no cache holds.
pub async fn apply<K>(client: &Client, desired: &K) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let api = api_for::<K>(client, desired.meta().namespace.as_deref());
    let live = api.get_opt(&desired.name_any()).await?;
    apply_over(&api, desired, live.map(json).transpose()?).await
}

/// Applies `desired` unless the object as `cache` last saw it already
/// contains it: no read before the write, and none at all when nothing
/// changed. A stale cache costs at most a write that changes nothing; the
/// watch then brings the object and its reconcile.
pub async fn apply_cached<K>(
    client: &Client,
    cache: &Cache<Seen<K>>,
    desired: &K,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let live = watch::cached(cache, desired).map(|live| live.json());
    apply_over_live(client, desired, live).await
}

/// Applies `desired` unless `live`, the object as the caller already read
/// it (from a cache, as JSON), contains it.
pub async fn apply_over_live<K>(
    client: &Client,
    desired: &K,
    live: Option<Value>,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let api = api_for::<K>(client, desired.meta().namespace.as_deref());
    apply_over(&api, desired, live).await
}

fn json(object: impl Serialize) -> Result<Value, kube::Error> {
    serde_json::to_value(object).map_err(kube::Error::SerdeError)
}

async fn apply_over<K>(
    api: &Api<DynamicObject>,
    desired: &K,
    live: Option<Value>,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let wanted = json(desired)?;
    if live.is_some_and(|live| contains(&live, &wanted)) {
        return Ok(false);
    }
    api.patch(
        &desired.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&wanted),
    )
    .await?;
    Ok(true)
}

/// Deletes the objects `cache` holds in `namespace`, labelled with `member`,
/// that are not in `keep`: what an earlier spec wanted and this one does not.
/// Linear in the namespace's objects when `cache` is
/// [`grouped by namespace`](Cache::grouped_by_namespace).
pub async fn delete_orphans<K>(
    client: &Client,
    cache: &Cache<Seen<K>>,
    namespace: &str,
    member: &str,
    keep: &[K],
) -> Result<usize, kube::Error>
where
    K: Resource<DynamicType = ()>,
{
    let api = api_for::<K>(client, Some(namespace));
    // Every reconcile looks: `cache` should be grouped by namespace, so that
    // this reads the namespace's few objects instead of scanning them all.
    let orphans = cache.in_namespace(namespace).into_iter().filter(|seen| {
        seen.member() == Some(member)
            && !keep
                .iter()
                .any(|kept| kept.meta().name.as_deref() == Some(seen.name()))
    });
    let mut deleted = 0;
    for orphan in orphans {
        match api.delete(orphan.name(), &DeleteParams::default()).await {
            Ok(_) => deleted += 1,
            // Already gone: the cache had not seen it go yet.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    Ok(deleted)
}

/// True when every field of `wanted` has the same value in `live`. Maps may
/// hold more in `live` (defaults, other managers' fields); lists must match
/// item by item.
fn contains(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (Value::Object(live), Value::Object(wanted)) => {
            wanted.iter().all(|(key, value)| match live.get(key) {
                Some(live) => contains(live, value),
                // The API server drops nulls and, for built-in kinds, empty lists and maps.
                None => {
                    value.is_null()
                        || value.as_array().is_some_and(Vec::is_empty)
                        || value.as_object().is_some_and(serde_json::Map::is_empty)
                }
            })
        }
        (Value::Array(live), Value::Array(wanted)) => {
            live.len() == wanted.len() && live.iter().zip(wanted).all(|(l, w)| contains(l, w))
        }
        (Value::String(live), Value::String(wanted)) => {
            live == wanted || same_quantity(live, wanted)
        }
        _ => live == wanted,
    }
}

/// True when both strings are Kubernetes quantities of the same value: the
/// API server stores `1.5` CPU as `1500m` and `1.5Gi` as `1536Mi`, which is
/// no reason to write again.
fn same_quantity(a: &str, b: &str) -> bool {
    matches!((quantity_nanos(a), quantity_nanos(b)), (Some(a), Some(b)) if a == b)
}

/// A quantity in billionths of its unit (exact for every suffix Kubernetes knows).
pub(crate) fn quantity_nanos(text: &str) -> Option<i128> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: i128 = match suffix {
        "" => 1_000_000_000,
        "n" => 1,
        "u" => 1_000,
        "m" => 1_000_000,
        "k" => 1_000_000_000_000,
        "M" => 10_i128.pow(15),
        "G" => 10_i128.pow(18),
        "T" => 10_i128.pow(21),
        "P" => 10_i128.pow(24),
        "E" => 10_i128.pow(27),
        "Ki" => 1_000_000_000 << 10,
        "Mi" => 1_000_000_000 << 20,
        "Gi" => 1_000_000_000 << 30,
        "Ti" => 1_000_000_000 << 40,
        "Pi" => 1_000_000_000 << 50,
        "Ei" => 1_000_000_000 << 60,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.len() > 9 || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: i128 = format!("{fraction:0<9}").parse().ok()?;
    // Multiply first, then divide by 10^9: exact for every suffix above.
    Some((whole * 1_000_000_000 + fraction) * multiplier / 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::contains;

    #[test]
    fn defaults_added_by_the_server_do_not_count_as_drift() {
        let live = json!({"spec": {"a": 1, "defaulted": true}, "metadata": {"uid": "x"}});
        assert!(contains(&live, &json!({"spec": {"a": 1}})));
        assert!(!contains(&live, &json!({"spec": {"a": 2}})));
        assert!(!contains(&live, &json!({"spec": {"b": 1}})));
        assert!(contains(&live, &json!({"spec": {"ingress": []}})));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(contains(&json!({"cpu": "1500m"}), &json!({"cpu": "1.5"})));
        assert!(contains(
            &json!({"memory": "1536Mi"}),
            &json!({"memory": "1.5Gi"})
        ));
        assert!(contains(
            &json!({"storage": "50Gi"}),
            &json!({"storage": "50Gi"})
        ));
        assert!(!contains(&json!({"cpu": "2"}), &json!({"cpu": "1.5"})));
        assert!(!contains(
            &json!({"name": "default-deny"}),
            &json!({"name": "allow-dns"})
        ));
    }

    #[test]
    fn lists_must_match_item_by_item() {
        let live = json!({"rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]});
        assert!(contains(
            &live,
            &json!({"rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]})
        ));
        assert!(!contains(&live, &json!({"rules": [{"verbs": ["get"]}]})));
    }
}

//! Writing a Member's status: each controller applies only the fields it
//! owns, under its own field manager, through the status subresource.
//! Conditions are a list-map keyed by type, so each controller's conditions
//! live beside the others' without overwriting them.

use std::{cmp::Ordering, collections::HashMap, sync::Mutex};

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

use super::Context;
use crate::api::Member;

/// Condition types that make a Member `Ready` when present: each capability
/// the member uses must be ready. Health reports (`DrillHealthy`, `VpnDrift`,
/// `Billable`) are shown beside Ready, not folded into it.
pub const READY_GATES: [&str; 3] = ["TenantReady", "VpnReady", "BackupReady"];

/// Applies `status` (a JSON object with only the fields `manager` owns) to
/// the Member's status subresource, and remembers the version written (see
/// [`OwnWrites`]).
pub async fn apply_member_status(
    ctx: &Context,
    member: &Member,
    manager: &str,
    status: Value,
) -> Result<(), kube::Error> {
    let written = Api::<Member>::all(ctx.client.clone())
        .patch_status(
            &member.name_any(),
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&status_patch(status)),
        )
        .await?;
    ctx.own_writes.record(&written);
    Ok(())
}

/// The server-side apply body of a Member's status subresource holding
/// `status` (the fields one field manager owns).
pub fn status_patch(status: Value) -> Value {
    let mut patch = json!({
        "apiVersion": Member::api_version(&()),
        "kind": Member::kind(&()),
    });
    patch["status"] = status;
    patch
}

/// The Member versions socle wrote that the watch has not brought back yet.
///
/// A reconcile reads its Member from the watch cache. Right after a status
/// write, the next reconcile (queued by the tenant's own objects' events)
/// often starts before the watch has delivered that write, reads the Member
/// without it, and writes the same status again with a new transition time:
/// 0.7 redundant writes per Member in a bulk of 3 000. A controller asks
/// [`OwnWrites::outdated`] first and skips such a reconcile: the write's own
/// watch event is on its way, and it triggers the reconcile that counts.
#[derive(Debug, Default)]
pub struct OwnWrites {
    /// Member name → the resourceVersion of socle's last write to it.
    versions: Mutex<HashMap<String, String>>,
}

impl OwnWrites {
    fn record(&self, written: &Member) {
        if let Some(version) = written.resource_version() {
            self.lock().insert(written.name_any(), version);
        }
    }

    /// Whether `cached` predates a write socle made to it. Once the cache
    /// holds that write (or a later version), the entry is dropped.
    pub fn outdated(&self, cached: &Member) -> bool {
        // Every reconcile of every controller asks: borrow the name, and
        // allocate nothing when socle has no write pending (the usual case).
        let mut versions = self.lock();
        let name = cached.meta().name.as_deref().unwrap_or_default();
        let Some(written) = versions.get(name) else {
            return false;
        };
        let older = cached
            .meta()
            .resource_version
            .as_deref()
            .and_then(|cached| compare_versions(cached, written))
            == Some(Ordering::Less);
        if !older {
            versions.remove(name);
        }
        older
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic elsewhere cannot leave the map half-updated: each use is
        // one insert, lookup or removal.
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The order of two resourceVersions of the same object, as KEP-5504
/// (comparable resource versions) defines it for the API server's etcd
/// storage: decimal integers without leading zeros, compared by length, then
/// digit by digit. `None` if either is not such a number (no order known:
/// the caller then never skips).
fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let decimal =
        |v: &str| !v.is_empty() && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit());
    (decimal(a) && decimal(b)).then(|| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, version: &str) -> Member {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: {name}, resourceVersion: "{version}"}}
spec:
  displayName: {name}
  inseeCode: "56001"
  population: {{count: 3875, year: 2021}}
  subscriptions: []
"#
        ))
        .expect("a valid Member")
    }

    #[test]
    fn versions_compare_as_integers() {
        assert_eq!(compare_versions("99", "100"), Some(Ordering::Less));
        assert_eq!(compare_versions("100", "99"), Some(Ordering::Greater));
        assert_eq!(compare_versions("123", "123"), Some(Ordering::Equal));
        assert_eq!(compare_versions("124", "123"), Some(Ordering::Greater));
        assert_eq!(compare_versions("abc", "123"), None);
        assert_eq!(compare_versions("0123", "123"), None);
        assert_eq!(compare_versions("", "1"), None);
    }

    #[test]
    fn a_member_older_than_socle_s_write_is_outdated_until_the_write_is_seen() {
        let writes = OwnWrites::default();
        writes.record(&member("allaire", "1050"));
        assert!(writes.outdated(&member("allaire", "999")));
        assert!(writes.outdated(&member("allaire", "1049")));
        assert!(!writes.outdated(&member("bains-sur-oust", "1")));
        assert!(!writes.outdated(&member("allaire", "1050")));
        // Seen once: forgotten, so an unordered version never sticks.
        assert!(!writes.outdated(&member("allaire", "999")));
    }

    #[test]
    fn a_later_version_also_clears_the_entry() {
        let writes = OwnWrites::default();
        writes.record(&member("allaire", "1050"));
        assert!(!writes.outdated(&member("allaire", "2000")));
        assert!(writes.lock().is_empty());
    }

    #[test]
    fn versions_without_an_order_never_skip() {
        let writes = OwnWrites::default();
        writes.record(&member("allaire", "opaque-b"));
        assert!(!writes.outdated(&member("allaire", "opaque-a")));
    }
}

//! [`Seen`]: an object as a cache keeps it when socle only compares it with
//! what it would apply. The typed object is several times its JSON: every
//! label map, even of one entry, is a B-tree node of half a kilobyte, and a
//! k8s-openapi struct is hundreds of bytes of empty options. At 1 000 Members
//! the tenant objects alone were about 20 MiB of cache that way.

use std::{borrow::Cow, fmt, marker::PhantomData, sync::Arc};

use kube::{
    Resource, ResourceExt,
    runtime::reflector::{Lookup, ObjectRef},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::{interner::Interner, watch::MemberGuard};
use crate::labels;

/// A watched object reduced to its key, its Member label, and the rest as
/// compact JSON, without what only the API server writes (status,
/// managedFields, uid, resourceVersion, timestamps, generation): socle never
/// applies those, so no comparison needs them. Nor does the JSON repeat what
/// the kind or the fields already say (apiVersion, kind, name, namespace,
/// the Member label): [`Seen::json`] puts them back.
///
/// Every text is shared through an [`Interner`]: the labels (the same on
/// every object of a tenant) apart from the rest, and the rest is the same
/// for most objects from one tenant to the next (the policies, the
/// auditors' binding, the limit range). A tenant's ten objects were 5.4 KB
/// of JSON each time.
pub struct Seen<K> {
    name: Arc<str>,
    namespace: Option<Arc<str>>,
    member: Option<Arc<str>>,
    /// `metadata.labels` without the Member's, as JSON.
    labels: Option<Arc<str>>,
    /// Everything else socle compares, as JSON.
    rest: Arc<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource<DynamicType = ()> + Serialize> Seen<K> {
    pub fn new(object: &K, texts: &Interner) -> Self {
        let mut json = serde_json::to_value(object).unwrap_or_default();
        if let Some(fields) = json.as_object_mut() {
            for implied in ["status", "apiVersion", "kind"] {
                fields.remove(implied);
            }
        }
        let mut labels = None;
        if let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut) {
            for server_written_or_kept in [
                "managedFields",
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "name",
                "namespace",
            ] {
                meta.remove(server_written_or_kept);
            }
            if let Some(Value::Object(mut map)) = meta.remove("labels") {
                map.remove(labels::MEMBER);
                labels = (!map.is_empty()).then(|| texts.share(&Value::Object(map).to_string()));
            }
        }
        let meta = object.meta();
        let share = |text: &String| texts.share(text);
        Self {
            name: texts.share(meta.name.as_deref().unwrap_or_default()),
            namespace: meta.namespace.as_ref().map(share),
            member: object.labels().get(labels::MEMBER).map(share),
            labels,
            rest: texts.share(&json.to_string()),
            kind: PhantomData,
        }
    }
}

impl<K: Resource<DynamicType = ()>> Seen<K> {
    /// The object as JSON, to compare with what socle would apply.
    pub fn json(&self) -> Value {
        let mut json = serde_json::from_str(&self.rest).unwrap_or_else(|_| json!({}));
        json["apiVersion"] = K::api_version(&()).into();
        json["kind"] = K::kind(&()).into();
        let meta = &mut json["metadata"];
        meta["name"] = (*self.name).into();
        if let Some(namespace) = &self.namespace {
            meta["namespace"] = (**namespace).into();
        }
        if let Some(labels) = &self.labels {
            meta["labels"] = serde_json::from_str(labels).unwrap_or_else(|_| json!({}));
        }
        if let Some(member) = &self.member {
            meta["labels"][labels::MEMBER] = (**member).into();
        }
        json
    }

    /// The object typed again, for the rare reconcile that reads a field.
    pub fn object(&self) -> Option<K>
    where
        K: DeserializeOwned,
    {
        serde_json::from_value(self.json()).ok()
    }
}

impl<K> Seen<K> {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The Member named by socle's member label.
    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }

    /// The Member to reconcile when this object changes.
    pub fn member_ref(self) -> Option<ObjectRef<MemberGuard>> {
        self.member.as_deref().map(ObjectRef::new)
    }
}

// By hand: derived impls would require `K: Clone` and `K: Debug`.
impl<K> Clone for Seen<K> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            member: self.member.clone(),
            labels: self.labels.clone(),
            rest: self.rest.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Seen<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seen")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<K: Resource<DynamicType = ()>> Lookup for Seen<K> {
    type DynamicType = ();

    fn kind(dyntype: &()) -> Cow<'_, str> {
        K::kind(dyntype)
    }

    fn group(dyntype: &()) -> Cow<'_, str> {
        K::group(dyntype)
    }

    fn version(dyntype: &()) -> Cow<'_, str> {
        K::version(dyntype)
    }

    fn plural(dyntype: &()) -> Cow<'_, str> {
        K::plural(dyntype)
    }

    /// None kept per entry: the caches key by name only.
    fn resource_version(&self) -> Option<Cow<'_, str>> {
        None
    }

    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.name))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.namespace.as_deref().map(Cow::Borrowed)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::{core::v1::ResourceQuota, networking::v1::NetworkPolicy};
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_what_socle_applies_and_drops_what_the_server_writes() {
        let quota: ResourceQuota = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {
                "name": "socle-quota",
                "namespace": "commune-allaire",
                "labels": {labels::MEMBER: "allaire"},
                "uid": "4f6c0d3e-0000-0000-0000-000000000000",
                "resourceVersion": "42",
                "managedFields": [{"manager": "socle", "operation": "Apply"}]
            },
            "spec": {"hard": {"requests.cpu": "2"}},
            "status": {"used": {"requests.cpu": "0"}}
        }))
        .unwrap();
        let seen = Seen::new(&quota, &Interner::default());
        for repeated in [
            "ResourceQuota",
            "socle-quota",
            "commune-allaire",
            "allaire\"",
        ] {
            assert!(
                !seen.rest.contains(repeated) && seen.labels.is_none(),
                "{repeated} kept twice: {}",
                seen.rest
            );
        }
        assert_eq!(seen.name(), "socle-quota");
        assert_eq!(seen.namespace(), Some("commune-allaire"));
        assert_eq!(seen.member(), Some("allaire"));
        assert_eq!(
            seen.json(),
            json!({
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {
                    "name": "socle-quota",
                    "namespace": "commune-allaire",
                    "labels": {labels::MEMBER: "allaire"}
                },
                "spec": {"hard": {"requests.cpu": "2"}}
            })
        );
        let typed = seen.object().unwrap();
        assert_eq!(
            typed.spec.unwrap().hard.unwrap()["requests.cpu"].0,
            "2",
            "the object reads back"
        );
    }

    fn policy(namespace: &str, member: &str, name: &str, insee: &str) -> NetworkPolicy {
        serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {labels::MEMBER: member, labels::INSEE: insee}
            },
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        }))
        .unwrap()
    }

    #[test]
    fn objects_share_their_labels_and_identical_parts() {
        let texts = Interner::default();
        let allaire = Seen::new(
            &policy("commune-allaire", "allaire", "default-deny", "56001"),
            &texts,
        );
        let allaire_dns = Seen::new(
            &policy("commune-allaire", "allaire", "allow-dns", "56001"),
            &texts,
        );
        let redon = Seen::new(
            &policy("commune-redon", "redon", "default-deny", "35236"),
            &texts,
        );
        assert!(
            Arc::ptr_eq(&allaire.rest, &redon.rest),
            "same spec, one copy"
        );
        assert!(Arc::ptr_eq(&allaire.name, &redon.name));
        assert!(Arc::ptr_eq(
            allaire.labels.as_ref().unwrap(),
            allaire_dns.labels.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(
            allaire.namespace.as_ref().unwrap(),
            allaire_dns.namespace.as_ref().unwrap()
        ));
        assert!(!Arc::ptr_eq(
            allaire.labels.as_ref().unwrap(),
            redon.labels.as_ref().unwrap()
        ));
        assert_eq!(
            redon.json()["metadata"],
            json!({
                "name": "default-deny",
                "namespace": "commune-redon",
                "labels": {labels::MEMBER: "redon", labels::INSEE: "35236"}
            }),
            "each reads back as its own"
        );
    }
}

//! Deleting every object that carries a scope's label, of any kind, and
//! waiting until it is gone.

use std::{collections::HashSet, fmt, time::Duration};

use anyhow::bail;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Discovery,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams},
    discovery::{Scope, verbs},
};

use crate::eventually;

/// An object whose deletion was requested.
#[derive(Debug)]
pub(crate) struct Deleted {
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
    uid: Option<String>,
}

impl Deleted {
    fn api(&self, client: &Client) -> Api<DynamicObject> {
        match &self.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }
}

impl fmt::Display for Deleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.resource.plural, self.name),
            None => write!(f, "{} {}", self.resource.plural, self.name),
        }
    }
}

/// What [`delete_labelled`] did: the deletions it requested and what failed.
#[derive(Debug, Default)]
pub(crate) struct Deletion {
    pub(crate) deleted: Vec<Deleted>,
    pub(crate) errors: Vec<String>,
}

/// Requests the deletion (background propagation) of every object matching
/// `selector`: labelled namespaces first, whose content goes with them
/// whatever its labels, then labelled objects of every other listable and
/// deletable kind, in other namespaces or cluster-scoped. Goes on past
/// errors and reports them all.
pub(crate) async fn delete_labelled(client: &Client, selector: &str) -> Deletion {
    let mut deletion = Deletion::default();
    let namespaces = ApiResource::erase::<Namespace>(&());
    delete_kind(
        client,
        &namespaces,
        selector,
        &HashSet::new(),
        &mut deletion,
    )
    .await;
    let dying: HashSet<String> = deletion.deleted.iter().map(|d| d.name.clone()).collect();
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(discovery) => discovery,
        Err(error) => {
            deletion
                .errors
                .push(format!("discovering the API's resources: {error}"));
            return deletion;
        }
    };
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            let deletable = capabilities.supports_operation(verbs::LIST)
                && capabilities.supports_operation(verbs::DELETE);
            if deletable && resource != namespaces {
                let skip = if capabilities.scope == Scope::Namespaced {
                    &dying
                } else {
                    &HashSet::new()
                };
                delete_kind(client, &resource, selector, skip, &mut deletion).await;
            }
        }
    }
    deletion
}

/// Deletes the objects of one kind matching `selector`, except those in the
/// namespaces of `skip`. An object already gone is not an error.
async fn delete_kind(
    client: &Client,
    resource: &ApiResource,
    selector: &str,
    skip: &HashSet<String>,
    deletion: &mut Deletion,
) {
    let listed = Api::<DynamicObject>::all_with(client.clone(), resource)
        .list_metadata(&ListParams::default().labels(selector))
        .await;
    let items = match listed {
        Ok(list) => list.items,
        // The kind went away since discovery (a CRD deleted meanwhile).
        Err(kube::Error::Api(status)) if status.is_not_found() => return,
        Err(error) => {
            deletion
                .errors
                .push(format!("listing {}: {error}", resource.plural));
            return;
        }
    };
    for item in items {
        let namespace = item.metadata.namespace;
        if namespace
            .as_ref()
            .is_some_and(|namespace| skip.contains(namespace))
        {
            continue;
        }
        let target = Deleted {
            resource: resource.clone(),
            namespace,
            name: item.metadata.name.unwrap_or_default(),
            uid: item.metadata.uid,
        };
        match target
            .api(client)
            .delete(&target.name, &DeleteParams::background())
            .await
        {
            Ok(_) => deletion.deleted.push(target),
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => deletion.errors.push(format!("deleting {target}: {error}")),
        }
    }
}

/// Waits until none of `deleted` exists any more (an object recreated under
/// the same name, with another uid, counts as gone). Panics after `timeout`
/// naming the leftovers and what holds them.
pub(crate) async fn wait_until_gone(client: &Client, deleted: &[Deleted], timeout: Duration) {
    eventually(timeout, || async {
        let mut remaining = Vec::new();
        for target in deleted {
            let current = target.api(client).get_opt(&target.name).await?;
            if let Some(object) = current.filter(|object| object.metadata.uid == target.uid) {
                remaining.push(format!("{target} ({})", holds(&object)));
            }
        }
        if !remaining.is_empty() {
            bail!("cleanup: still there: {}", remaining.join("; "));
        }
        Ok(())
    })
    .await;
}

/// What keeps an object from going away: its finalizers and, for a
/// namespace, the conditions of its finalization.
fn holds(object: &DynamicObject) -> String {
    let mut reasons: Vec<String> = object
        .metadata
        .finalizers
        .iter()
        .flatten()
        .map(|finalizer| format!("finalizer {finalizer}"))
        .collect();
    let conditions = object.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten();
    reasons.extend(
        conditions
            .filter(|condition| condition["status"] == "True")
            .filter_map(|condition| condition["message"].as_str().map(str::to_owned)),
    );
    if object.metadata.deletion_timestamp.is_none() {
        reasons.push("not even being deleted".to_owned());
    }
    reasons.join(", ")
}

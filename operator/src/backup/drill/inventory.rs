//! What is in a sandbox, for the kinds a backup holds: names only (metadata
//! lists), found through discovery since a backup may hold any kind.

use std::collections::{BTreeMap, BTreeSet};

use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, GroupVersionKind, ListParams},
    discovery::pinned_kind,
};

use super::checks::{Inventory, parse_key};

/// The names in `namespace` of every kind of `kinds` (resource list keys).
pub async fn inventory(
    client: &Client,
    namespace: &str,
    kinds: impl Iterator<Item = &String>,
) -> Result<Inventory, kube::Error> {
    let mut inventory = BTreeMap::new();
    for key in kinds {
        let Some((group, version, kind)) = parse_key(key) else {
            inventory.insert(key.clone(), None);
            continue;
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = match pinned_kind(client, &gvk).await {
            Ok((resource, _)) => resource,
            // Not served by this cluster (a CRD not installed here).
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                inventory.insert(key.clone(), None);
                continue;
            }
            Err(kube::Error::Discovery(_)) => {
                inventory.insert(key.clone(), None);
                continue;
            }
            Err(error) => return Err(error),
        };
        let names: BTreeSet<String> =
            Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
                .list_metadata(&ListParams::default())
                .await?
                .items
                .iter()
                .map(ResourceExt::name_any)
                .collect();
        inventory.insert(key.clone(), Some(names));
    }
    Ok(inventory)
}

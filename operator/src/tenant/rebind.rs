//! Apply for RoleBindings, whose `roleRef` the API server never lets change:
//! a binding that refers to another role is replaced, not patched. Tenants
//! provisioned before the tenant administrators' rules were a shipped
//! ClusterRole have their admins bound to a Role socle wrote in each
//! namespace; that Role is left alone (socle may no longer write nor delete
//! any Role) and, bound to nobody, goes with the namespace.

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, Preconditions},
};

use crate::runtime::{apply::apply_over_live, cache::Cache, seen::Seen, watch};

/// Applies `desired` unless the binding as `cache` last saw it already says
/// it; when that one refers to another role, replaces it. Returns whether a
/// write was made.
pub async fn apply_binding(
    client: &Client,
    cache: &Cache<Seen<RoleBinding>>,
    desired: &RoleBinding,
) -> Result<bool, kube::Error> {
    let live = watch::cached(cache, desired).map(|live| live.json());
    let wanted = serde_json::to_value(&desired.role_ref).map_err(kube::Error::SerdeError)?;
    if live.as_ref().is_some_and(|live| live["roleRef"] != wanted) {
        delete_stale(client, desired).await?;
        return apply_over_live(client, desired, None).await;
    }
    apply_over_live(client, desired, live).await
}

/// Deletes the binding named like `desired` if it refers to another role.
/// The cache keeps no uid: the binding is read, and only the very one read
/// is deleted (a uid precondition), never one recreated in between.
async fn delete_stale(client: &Client, desired: &RoleBinding) -> Result<(), kube::Error> {
    let api =
        Api::<RoleBinding>::namespaced(client.clone(), &desired.namespace().unwrap_or_default());
    let name = desired.name_any();
    let Some(stale) = api.get_opt(&name).await? else {
        return Ok(());
    };
    if stale.role_ref == desired.role_ref {
        return Ok(());
    }
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            uid: stale.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &delete).await {
        // Already gone: whoever deleted it, the binding is created again.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
        Ok(_) => Ok(()),
    }
}

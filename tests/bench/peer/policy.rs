//! Kyverno's ClusterPolicy, derived from socle's tenant builder: one
//! `generate` rule per object of a tenant, its content the builder's own
//! output for a plan whose per-member values are Kyverno variables, so that
//! the policy cannot drift from what socle makes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::api::resource::Quantity};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, GroupVersionKind, PostParams},
    discovery::ApiResource,
};
use serde_json::{Value, json};
use socle::tenant::{
    build,
    plan::{Storage, TenantPlan},
};
use socle_e2e::TestScope;

/// The annotations of a trigger namespace the rules read: the member's
/// values that socle reads from its Member.
const CPU: &str = "bench.socle/cpu";
const MEMORY: &str = "bench.socle/memory";
/// The storage quota: the volume's size, or 0 without one.
const STORAGE_QUOTA: &str = "bench.socle/storage-quota";
/// `1` with a data volume, `0` without.
const CLAIMS: &str = "bench.socle/claims";
const STORAGE: &str = "bench.socle/storage";
/// The admin groups, comma-separated; absent without any.
const ADMIN_GROUPS: &str = "bench.socle/admin-groups";

fn annotation(key: &str) -> String {
    format!("{{{{request.object.metadata.annotations.\"{key}\"}}}}")
}

fn label(key: &str) -> String {
    format!("{{{{request.object.metadata.labels.\"{key}\"}}}}")
}

/// socle's namespace for `plan`, with the annotations the rules read.
pub fn trigger_namespace(plan: &TenantPlan) -> Namespace {
    let mut namespace = build::namespace(plan);
    let annotations = namespace.metadata.annotations.get_or_insert_default();
    annotations.insert(CPU.into(), plan.cpu.0.clone());
    annotations.insert(MEMORY.into(), plan.memory.0.clone());
    let (size, claims) = plan
        .storage
        .as_ref()
        .map_or(("0", "0"), |storage| (storage.size.0.as_str(), "1"));
    annotations.insert(STORAGE_QUOTA.into(), size.into());
    annotations.insert(STORAGE.into(), size.into());
    annotations.insert(CLAIMS.into(), claims.into());
    if !plan.admin_groups.is_empty() {
        annotations.insert(ADMIN_GROUPS.into(), plan.admin_groups.join(","));
    }
    namespace
}

/// The policy: `template` gives what is the same for every tenant of the run
/// (the auditors' group, the admins' ClusterRole, the storage class, the
/// label keys); it must have a data volume.
pub fn cluster_policy(
    scope: &TestScope,
    template: &TenantPlan,
    trigger: &str,
) -> Result<DynamicObject> {
    let storage = template
        .storage
        .as_ref()
        .context("the template tenant has no data volume")?;
    let variables = TenantPlan {
        namespace: "{{request.object.metadata.name}}".into(),
        labels: template
            .labels
            .keys()
            .map(|key| (key.clone(), label(key)))
            .collect(),
        cpu: Quantity(annotation(CPU)),
        memory: Quantity(annotation(MEMORY)),
        storage: Some(Storage {
            size: Quantity(annotation(STORAGE)),
            class: storage.class.clone(),
        }),
        admin_groups: vec!["admins".into()],
        ..template.clone()
    };
    let selector = json!({"matchLabels": {trigger: template.labels[trigger]}});
    let rules: Vec<Value> = super::expected(&build::tenant(&variables))
        .into_iter()
        .map(|(kind, object)| rule(&kind, object, &selector))
        .collect();
    let policy = json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": scope.name("socle-tenants"), "labels": scope.labels()},
        "spec": {"rules": rules},
    });
    Ok(serde_json::from_value(policy)?)
}

/// One generate rule making `object` in each trigger namespace.
fn rule(kind: &str, mut object: Value, selector: &Value) -> Value {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut preconditions = Vec::new();
    match (kind, name.as_str()) {
        ("ResourceQuota", _) => {
            let hard = &mut object["spec"]["hard"];
            hard["requests.storage"] = annotation(STORAGE_QUOTA).into();
            hard["persistentvolumeclaims"] = annotation(CLAIMS).into();
        }
        ("PersistentVolumeClaim", _) => {
            preconditions
                .push(json!({"key": annotation(CLAIMS), "operator": "Equals", "value": "1"}));
        }
        ("RoleBinding", "socle-tenant-admin") => {
            let groups = format!("request.object.metadata.annotations.\"{ADMIN_GROUPS}\"");
            preconditions.push(json!({
                "key": format!("{{{{ {groups} || '' }}}}"),
                "operator": "NotEquals",
                "value": "",
            }));
            object["subjects"] = format!(
                "{{{{ split({groups}, ',')[].{{kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: @}} }}}}"
            )
            .into();
        }
        _ => {}
    }
    let api_version = object["apiVersion"].clone();
    let labels = object["metadata"]["labels"].clone();
    let data = object.as_object_mut().expect("an object");
    for field in ["apiVersion", "kind", "metadata"] {
        data.remove(field);
    }
    data.insert("metadata".into(), json!({"labels": labels}));
    let mut rule = json!({
        "name": format!("{}-{name}", kind.to_lowercase()),
        "match": {"any": [{"resources": {"kinds": ["Namespace"], "selector": selector}}]},
        "generate": {
            // Kept as the rule says, as socle restores drift.
            "synchronize": true,
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "namespace": "{{request.object.metadata.name}}",
            "data": data,
        },
    });
    if !preconditions.is_empty() {
        rule["preconditions"] = json!({"all": preconditions});
    }
    rule
}

fn resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"))
}

/// Creates the policy and waits until Kyverno says it is Ready.
pub async fn apply(client: &Client, policy: &DynamicObject) -> Result<()> {
    let api = Api::<DynamicObject>::all_with(client.clone(), &resource());
    api.create(&PostParams::default(), policy)
        .await
        .context("creating the ClusterPolicy (are Kyverno's CRDs and webhooks there?)")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let live = api.get(&policy.name_any()).await?;
        let ready = live.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "ClusterPolicy {} not Ready after 120 s: {}",
                policy.name_any(),
                live.data["status"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn delete(client: &Client, policy: &DynamicObject) -> Result<()> {
    Api::<DynamicObject>::all_with(client.clone(), &resource())
        .delete(&policy.name_any(), &DeleteParams::default())
        .await?;
    Ok(())
}

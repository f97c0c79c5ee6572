//! The control plane of `cargo xtask testenv` is the real thing: the release
//! that was built, a namespace controller that finalizes namespaces, a
//! garbage collector that follows ownerReferences, and server-side apply with
//! field ownership and conflicts, as the operator relies on.

use std::time::Duration;

use anyhow::ensure;
use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, OwnerReference},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use socle_e2e::{AuditEvent, AuditMark, TestScope, USER_AGENT, connect, eventually, username};

/// The release `xtask/src/testenv/build.rs` builds; bump both together.
const KUBERNETES: &str = "v1.36.3";
/// Long enough for kube-controller-manager on a loaded 2-core CI machine.
const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn api_server_reports_the_release_that_was_built() {
    let version = connect()
        .await
        .apiserver_version()
        .await
        .expect("GET /version");
    assert_eq!(version.git_version, KUBERNETES, "{version:?}");
    // Clients (kubectl's skew warning, kube's discovery) read these, not gitVersion.
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "36"),
        "{version:?}"
    );
}

#[tokio::test]
async fn deleted_namespace_is_finalized_with_its_content() {
    let scope = TestScope::new("deleted_namespace_is_finalized").await;
    let client = scope.client();
    let namespace = scope.create_namespace("doomed").await;
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    create(
        &configmaps,
        configmap(scope.meta("content"), "key", "value"),
    )
    .await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let mark = AuditMark::now();

    let answer = namespaces
        .delete(&namespace, &DeleteParams::background())
        .await
        .unwrap();
    let terminating = answer.left().expect("a namespace waits for finalization");
    assert_eq!(phase(&terminating), Some("Terminating"));
    let finalizers = terminating
        .spec
        .and_then(|spec| spec.finalizers)
        .unwrap_or_default();
    assert_eq!(
        finalizers,
        ["kubernetes"],
        "the namespace controller's finalizer"
    );
    // The controller waits 5 s before emptying a namespace; meanwhile it takes
    // no new content.
    let late = configmap(scope.meta("late"), "key", "value");
    let refused = configmaps
        .create(&PostParams::default(), &late)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, kube::Error::Api(status) if status.code == 403
            && status.message.contains("being terminated")),
        "{refused}"
    );

    eventually(CONVERGE, || async {
        let current = namespaces.get_opt(&namespace).await?;
        ensure!(
            current.is_none(),
            "namespace still there, phase {:?}",
            current.as_ref().and_then(phase)
        );
        Ok(())
    })
    .await;
    assert!(
        configmaps
            .get_opt(&scope.name("content"))
            .await
            .unwrap()
            .is_none()
    );

    // Emptied and finalized by the namespace controller, not by the API server.
    let by_controller: Vec<AuditEvent> = mark
        .events(&client)
        .await
        .into_iter()
        .filter(|event| event.user_agent.ends_with("/namespace-controller") && event.is_write())
        .filter(|event| event.namespace.as_deref() == Some(namespace.as_str()))
        .collect();
    let emptied = by_controller
        .iter()
        .any(|event| event.resource == "configmaps" && event.verb.starts_with("delete"));
    let finalized = by_controller.iter().any(|event| {
        event.resource == "namespaces" && event.subresource.as_deref() == Some("finalize")
    });
    assert!(
        emptied && finalized,
        "namespace-controller's writes: {by_controller:#?}"
    );
    scope.cleanup().await;
}

#[tokio::test]
async fn garbage_collector_deletes_dependents_of_a_deleted_owner() {
    let scope = TestScope::new("garbage_collector_deletes_dependents").await;
    let (configmaps, owner, dependent) = owner_and_dependent(&scope, "gc").await;
    let bystander = create(
        &configmaps,
        configmap(scope.meta("bystander"), "role", "bystander"),
    )
    .await;

    configmaps
        .delete(&owner.name_any(), &DeleteParams::background())
        .await
        .unwrap();

    eventually(CONVERGE, || async {
        let current = configmaps.get_opt(&dependent.name_any()).await?;
        ensure!(
            current.is_none(),
            "dependent still there: {:?}",
            current.map(|c| c.metadata.owner_references)
        );
        Ok(())
    })
    .await;
    assert!(
        configmaps
            .get_opt(&bystander.name_any())
            .await
            .unwrap()
            .is_some(),
        "an object without owner must survive the collection"
    );
    scope.cleanup().await;
}

#[tokio::test]
async fn orphan_propagation_keeps_dependents_and_drops_their_owner_reference() {
    let scope = TestScope::new("orphan_propagation").await;
    let (configmaps, owner, dependent) = owner_and_dependent(&scope, "orphan").await;

    configmaps
        .delete(&owner.name_any(), &DeleteParams::orphan())
        .await
        .unwrap();

    eventually(CONVERGE, || async {
        let owner_left = configmaps
            .get_opt(&owner.name_any())
            .await?
            .map(|o| o.metadata.finalizers);
        ensure!(
            owner_left.is_none(),
            "owner still there, finalizers {owner_left:?}"
        );
        let current = configmaps.get_opt(&dependent.name_any()).await?;
        let current = current.expect("orphan propagation must not delete the dependent");
        ensure!(
            current.owner_references().is_empty(),
            "dependent still has owner references {:?}",
            current.owner_references()
        );
        Ok(())
    })
    .await;
    scope.cleanup().await;
}

#[tokio::test]
async fn server_side_apply_tracks_field_owners_and_refuses_conflicts() {
    let scope = TestScope::new("server_side_apply").await;
    let configmaps =
        Api::<ConfigMap>::namespaced(scope.client(), &scope.create_namespace("ssa").await);
    let name = "settings";
    let apply = |manager: &str, mode: &str, force: bool| {
        let params = PatchParams::apply(manager);
        let params = if force { params.force() } else { params };
        let desired = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": scope.labels()},
            "data": {"mode": mode},
        });
        let configmaps = configmaps.clone();
        async move {
            configmaps
                .patch(name, &params, &Patch::Apply(&desired))
                .await
        }
    };

    apply("socle", "strict", false)
        .await
        .expect("first apply creates the object");
    let read = configmaps.get(name).await.unwrap();
    assert_eq!(mode(&read), Some("strict"));
    assert!(
        owns_mode(&read, "socle", "Apply"),
        "{:#?}",
        read.metadata.managed_fields
    );
    let again = apply("socle", "strict", false).await.unwrap();
    assert_eq!(
        again.resource_version(),
        read.resource_version(),
        "applying the same intent again must not write"
    );

    let refused = apply("rival", "lenient", false)
        .await
        .expect_err("a conflicting apply without force");
    let kube::Error::Api(status) = refused else {
        panic!("not an API error: {refused}")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "Conflict"),
        "{status:?}"
    );
    assert!(
        status.message.contains(".data.mode") && status.message.contains(r#""socle""#),
        "the message names the field and its owner: {}",
        status.message
    );
    assert_eq!(
        mode(&configmaps.get(name).await.unwrap()),
        Some("strict"),
        "a refused apply changes nothing"
    );

    let forced = apply("rival", "lenient", true)
        .await
        .expect("a forced apply wins");
    assert_eq!(mode(&forced), Some("lenient"));
    assert!(
        owns_mode(&forced, "rival", "Apply"),
        "{:#?}",
        forced.metadata.managed_fields
    );
    assert!(
        !owns_mode(&forced, "socle", "Apply"),
        "{:#?}",
        forced.metadata.managed_fields
    );
    let refused = apply("socle", "strict", false)
        .await
        .expect_err("socle lost the field");
    assert!(
        matches!(&refused, kube::Error::Api(status) if status.code == 409 && status.message.contains(r#""rival""#)),
        "{refused}"
    );
    scope.cleanup().await;
}

#[tokio::test]
async fn audit_log_records_each_request_with_its_user() {
    let scope = TestScope::new("audit_log_records_requests").await;
    let client = scope.client();
    let user = username(&client).await;
    let mark = AuditMark::now();
    let namespace = scope.create_namespace("audited").await;
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    let note = create(&configmaps, configmap(scope.meta("note"), "text", "hello")).await;
    configmaps.get(&note.name_any()).await.unwrap();

    let ours = |event: &&AuditEvent| {
        let in_namespace = event.namespace.as_deref() == Some(namespace.as_str())
            || (event.resource == "namespaces"
                && event.name.as_deref() == Some(namespace.as_str()));
        in_namespace && event.user_agent == USER_AGENT && event.user == user
    };
    let events = mark.events(&client).await;
    let reads: Vec<_> = events
        .iter()
        .filter(ours)
        .filter(|e| e.verb == "get")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:#?}");
    let writes: Vec<String> = mark
        .writes_by(&client, &user)
        .await
        .iter()
        .filter(ours)
        .map(|event| {
            format!(
                "{} {} {}",
                event.verb,
                event.resource,
                event.name.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        writes,
        [
            format!("create namespaces {namespace}"),
            format!("create configmaps {}", note.name_any())
        ]
    );
    scope.cleanup().await;
}

/// A namespace of the scope with two ConfigMaps, the second owned by the first.
async fn owner_and_dependent(
    scope: &TestScope,
    namespace: &str,
) -> (Api<ConfigMap>, ConfigMap, ConfigMap) {
    let configmaps =
        Api::<ConfigMap>::namespaced(scope.client(), &scope.create_namespace(namespace).await);
    let owner = create(&configmaps, configmap(scope.meta("owner"), "role", "owner")).await;
    let dependent = configmap(scope.meta("dependent"), "role", "dependent");
    let dependent = create(&configmaps, owned_by(&owner, dependent)).await;
    (configmaps, owner, dependent)
}

fn configmap(metadata: ObjectMeta, key: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata,
        data: Some([(key.to_owned(), value.to_owned())].into()),
        ..ConfigMap::default()
    }
}

fn owned_by(owner: &ConfigMap, mut dependent: ConfigMap) -> ConfigMap {
    dependent.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.name_any(),
        uid: owner.uid().expect("a created object has a uid"),
        ..OwnerReference::default()
    }]);
    dependent
}

async fn create(api: &Api<ConfigMap>, object: ConfigMap) -> ConfigMap {
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|error| panic!("creating {}: {error}", object.name_any()))
}

fn phase(namespace: &Namespace) -> Option<&str> {
    namespace.status.as_ref()?.phase.as_deref()
}

fn mode(configmap: &ConfigMap) -> Option<&str> {
    configmap.data.as_ref()?.get("mode").map(String::as_str)
}

/// Whether `manager`, through `operation`, owns `.data.mode`.
fn owns_mode(configmap: &ConfigMap, manager: &str, operation: &str) -> bool {
    configmap
        .managed_fields()
        .iter()
        .any(|entry: &ManagedFieldsEntry| {
            entry.manager.as_deref() == Some(manager)
                && entry.operation.as_deref() == Some(operation)
                && entry
                    .fields_v1
                    .as_ref()
                    .is_some_and(|fields| fields.0["f:data"]["f:mode"] != Value::Null)
        })
}

//! The promises of the helpers every end-to-end test relies on: a scope
//! leaves nothing behind, even when its test panics, and `eventually` says
//! what it last saw.

use std::{sync::mpsc, time::Duration};

use anyhow::bail;
use k8s_openapi::api::{
    core::v1::{ConfigMap, Namespace},
    rbac::v1::ClusterRole,
};
use kube::{Api, api::PostParams};
use socle_e2e::{TestScope, connect, eventually};

#[tokio::test]
async fn cleanup_deletes_labelled_objects_of_every_kind_and_waits() {
    let scope = TestScope::new("cleanup_deletes_every_kind").await;
    let client = scope.client();
    let namespace = scope.create_namespace("owned").await;
    // Unlabelled, but inside a labelled namespace: goes with it.
    let inside = ConfigMap {
        metadata: name_only("inside"),
        ..ConfigMap::default()
    };
    let inside_api = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    inside_api
        .create(&PostParams::default(), &inside)
        .await
        .unwrap();
    // Labelled, in a namespace the scope does not own.
    let stray = ConfigMap {
        metadata: scope.meta("stray"),
        ..ConfigMap::default()
    };
    let default_api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    default_api
        .create(&PostParams::default(), &stray)
        .await
        .unwrap();
    // Labelled and cluster-scoped.
    let role = ClusterRole {
        metadata: scope.meta("role"),
        ..ClusterRole::default()
    };
    let roles = Api::<ClusterRole>::all(client.clone());
    roles.create(&PostParams::default(), &role).await.unwrap();
    let (stray_name, role_name) = (scope.name("stray"), scope.name("role"));

    scope.cleanup().await;

    let namespaces = Api::<Namespace>::all(client.clone());
    assert!(
        namespaces.get_opt(&namespace).await.unwrap().is_none(),
        "namespace {namespace}"
    );
    assert!(
        inside_api.get_opt("inside").await.unwrap().is_none(),
        "configmap in {namespace}"
    );
    assert!(
        default_api.get_opt(&stray_name).await.unwrap().is_none(),
        "configmap default/{stray_name}"
    );
    assert!(
        roles.get_opt(&role_name).await.unwrap().is_none(),
        "clusterrole {role_name}"
    );
}

#[tokio::test]
async fn a_panicking_test_still_deletes_what_its_scope_labelled() {
    let client = connect().await;
    let roles = Api::<ClusterRole>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());
    let (names, created) = mpsc::channel();

    let test = tokio::spawn({
        let roles = roles.clone();
        async move {
            let scope = TestScope::new("a_panicking_test").await;
            let namespace = scope.create_namespace("abandoned").await;
            let role = ClusterRole {
                metadata: scope.meta("role"),
                ..ClusterRole::default()
            };
            roles.create(&PostParams::default(), &role).await.unwrap();
            names.send((namespace, scope.name("role"))).unwrap();
            panic!("the test fails before its cleanup");
        }
    })
    .await;

    assert!(test.is_err_and(|error| error.is_panic()));
    let (namespace, role) = created.recv().unwrap();
    // The drop does not wait for finalization, but has requested it.
    assert!(
        roles.get_opt(&role).await.unwrap().is_none(),
        "clusterrole {role}"
    );
    let left = namespaces.get_opt(&namespace).await.unwrap();
    assert!(
        left.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
        "namespace {namespace} is not being deleted"
    );
}

#[tokio::test]
async fn eventually_returns_the_value_once_the_condition_holds() {
    let mut checks = 0;
    let value = eventually(Duration::from_secs(5), || {
        checks += 1;
        let seen = checks;
        async move {
            if seen < 3 {
                bail!("only {seen} checks");
            }
            Ok(seen * 10)
        }
    })
    .await;
    assert_eq!(value, 30);
}

#[tokio::test]
#[should_panic(expected = "last observed: phase is \"Pending\"")]
async fn eventually_reports_the_last_observation_on_timeout() {
    eventually(Duration::from_millis(300), || async {
        let phase = "Pending";
        if phase != "Running" {
            bail!("phase is {phase:?}");
        }
        Ok(())
    })
    .await;
}

fn name_only(name: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

//! socle as the DSI installs it. The Helm chart and the `manifests/`
//! kustomization pass `helm lint`, render what the real API server accepts,
//! install the same operator with the same permissions, and ship the
//! generated CRDs. The operator's ServiceAccount, bound as shipped, can do
//! everything socle does and nothing more (no Secret outside its namespace
//! and the VPN gateways', no CRD change, no way to cluster-admin): asked
//! with access reviews, tried for real through the API server's escalation
//! checks and the shipped admission policy, and shown by the tenant
//! controller running on that identity alone.
//!
//! helm and kubectl are built from the Go module proxy by `cargo xtask`
//! (`xtask/src/tools.rs`) and found through `$SOCLE_HELM`/`$SOCLE_KUBECTL`
//! or its cache.

mod install_access;

use std::{collections::BTreeMap, fs, path::Path, time::Duration};

use anyhow::{bail, ensure};
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        coordination::v1::Lease,
        core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, Secret, ServiceAccount},
        events::v1::Event,
        networking::v1::NetworkPolicy,
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
        PostParams, Preconditions,
    },
};
use serde_json::{Value, json};
use socle::{
    api::Member,
    backup::velero::{DeleteBackupRequest, DownloadRequest, Restore, Schedule},
    labels::CONFIRM_OFFBOARDING,
    runtime::admission::{Holds, policy_holds},
};
use socle_e2e::{
    AuditEvent, AuditMark, TestScope, eventually,
    examples::{create_members, example, scoped, tenant_only, wait_for_event, wait_until_ready},
    install::{
        ScopedInstall, apply_member_finalizers, documents, find, helm, ids, is_hub, kubectl, ok,
        run, workspace,
    },
    install_socle_crds,
    operator::{Operator, release_claims},
};

use self::install_access::{Places, forbidden, needed};

/// The CRDs' API group.
const GROUP: &str = "socle.redon-agglomeration.bzh";
/// For a controller to converge on a loaded 2-core machine.
const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn chart_passes_helm_lint_and_its_schema_refuses_bad_values() {
    let helm = helm();
    ok(&helm, &["lint", "--strict", "charts/socle"], None).await;
    // A typo in a value is caught before anything reaches a cluster.
    let refused = run(
        &helm,
        &["lint", "charts/socle", "--set", "tenantPrefix=Commune_"],
        None,
    )
    .await
    .expect_err("an invalid tenant prefix");
    assert!(refused.contains("tenantPrefix"), "{refused}");
    let refused = run(&helm, &["lint", "charts/socle", "--set", "replica=3"], None)
        .await
        .expect_err("an unknown value");
    assert!(refused.contains("replica"), "{refused}");
}

#[tokio::test]
async fn chart_ships_the_generated_crds_and_the_example_tariff() {
    let root = workspace();
    let generated = crd_files(&root.join("crds"));
    assert_eq!(
        generated.len(),
        socle::api::crds().len(),
        "crds/ holds one file per CRD"
    );
    assert_eq!(
        crd_files(&root.join("charts/socle/crds")),
        generated,
        "charts/socle/crds/ must be a copy of crds/ (`cargo xtask crds` writes both)"
    );
    let listed = documents(&fs::read_to_string(root.join("crds/kustomization.yaml")).unwrap())
        .remove(0)["resources"]
        .clone();
    let files: Vec<&String> = generated.keys().collect();
    assert_eq!(
        listed,
        json!(files),
        "crds/kustomization.yaml lists every CRD file"
    );
    assert_eq!(
        fs::read_to_string(root.join("charts/socle/files/default-tariff.yaml")).unwrap(),
        fs::read_to_string(root.join("manifests/examples/tariff.yaml")).unwrap(),
        "the chart's default Tariff is manifests/examples/tariff.yaml"
    );
}

#[tokio::test]
async fn chart_renders_what_the_api_server_accepts() {
    let scope = TestScope::new("chart_renders_what_the_api_server_accepts").await;
    install_socle_crds(&scope.client()).await;
    let namespace = scope.create_namespace("socle").await;
    let gateway = scope.create_namespace("gateway").await;
    let velero = scope.create_namespace("velero").await;
    let release = scope.name("socle");
    let defaults = [
        "--set-json".to_owned(),
        gateway_values(&gateway),
        "--set".to_owned(),
        format!("vpnGateway.createNamespaces=false,veleroNamespace={velero}"),
    ];
    // Every branch of the templates: the defaults, then everything turned
    // around.
    let others = [
        "--set",
        "replicas=1,leaderElection.enabled=false,logJson=false,metrics.service=false,defaultTariff=false",
        "--set",
        "memberSelector=socle.redon-agglomeration.bzh/pilot=true,priorityClassName=dsi-critical",
        "--set-json",
        r#"nodeSelector={"kubernetes.io/os":"linux"}"#,
        "--set-json",
        r#"tolerations=[{"key":"dsi","operator":"Exists"}]"#,
        "--set-json",
        r#"imagePullSecrets=[{"name":"ghcr"}]"#,
        "--set-json",
        r#"affinity={"nodeAffinity":{}}"#,
    ];
    for extra in [&[][..], &others[..]] {
        let mut args = vec![
            "template",
            &release,
            "charts/socle",
            "--namespace",
            &namespace,
            "--include-crds",
        ];
        args.extend(defaults.iter().map(String::as_str));
        args.extend(extra);
        let rendered = ok(&helm(), &args, None).await;
        let objects = documents(&rendered);
        let applied = ok(
            &kubectl(),
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
                "--field-manager=socle-e2e",
                "-o",
                "name",
                "-f",
                "-",
            ],
            Some(&rendered),
        )
        .await;
        assert_eq!(
            applied.lines().count(),
            objects.len(),
            "every rendered object accepted: {applied}\nof {:?}",
            ids(&objects)
        );
        let deployment = find(&objects, "Deployment", &release);
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        if extra.is_empty() {
            assert_eq!(deployment["spec"]["replicas"], 2);
            assert_eq!(
                container["image"],
                "ghcr.io/redon-agglomeration/socle:0.1.0"
            );
            assert!(
                container["args"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("--log-json"))
            );
            find(&objects, "Tariff", "convention-cadre");
            assert_chart_gateway(&objects, &release);
            find(
                &objects,
                "MutatingAdmissionPolicyBinding",
                &format!("{release}-member-finalizers"),
            );
        } else {
            assert_eq!(deployment["spec"]["replicas"], 1);
            assert!(
                container["args"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("--leader-elect=false"))
            );
            assert!(!objects.iter().any(|o| o["kind"] == "Tariff"));
            assert_eq!(count_in(&objects, "Service", &namespace), 0);
            // An operator with a memberSelector sets its own finalizers.
            assert!(
                !objects
                    .iter()
                    .any(|o| o["kind"] == "MutatingAdmissionPolicy")
            );
        }
    }
    scope.cleanup().await;
}

#[tokio::test]
async fn chart_and_manifests_install_the_same_operator() {
    let rendered = ok(
        &helm(),
        &[
            "template",
            "socle",
            "charts/socle",
            "--namespace",
            "socle-system",
        ],
        None,
    )
    .await;
    let chart = documents(&rendered);
    let manifests = documents(&ok(&kubectl(), &["kustomize", "manifests"], None).await);
    for (kind, name) in [
        ("ClusterRole", "socle"),
        ("ClusterRole", "socle-drill-inspector"),
        ("ClusterRole", "socle-tenant-admin"),
        ("ClusterRole", "socle-vpn-hub"),
        ("Role", "socle"),
        ("Role", "socle-velero"),
    ] {
        assert_eq!(
            find(&chart, kind, name)["rules"],
            find(&manifests, kind, name)["rules"],
            "{kind} {name}: the chart and manifests/ must grant the same"
        );
    }
    same_bindings(&chart, &manifests);
    for (kind, name) in [
        ("ValidatingAdmissionPolicy", "socle-stays-in-its-namespaces"),
        (
            "ValidatingAdmissionPolicyBinding",
            "socle-stays-in-its-namespaces",
        ),
        ("ValidatingAdmissionPolicy", "socle-tenant-namespaces"),
        ("ValidatingAdmissionPolicy", "socle-issued-statements"),
        (
            "ValidatingAdmissionPolicyBinding",
            "socle-issued-statements",
        ),
        (
            "ValidatingAdmissionPolicyBinding",
            "socle-tenant-namespaces",
        ),
        ("MutatingAdmissionPolicy", "socle-member-finalizers"),
        ("MutatingAdmissionPolicyBinding", "socle-member-finalizers"),
    ] {
        assert_eq!(
            find(&chart, kind, name)["spec"],
            find(&manifests, kind, name)["spec"],
            "{kind} {name}"
        );
    }
    let pod = |objects: &[Value]| {
        find(objects, "Deployment", "socle")["spec"]["template"]["spec"].clone()
    };
    let (chart_pod, manifests_pod) = (pod(&chart), pod(&manifests));
    assert_eq!(
        chart_pod["securityContext"],
        manifests_pod["securityContext"]
    );
    let (chart_container, manifests_container) =
        (&chart_pod["containers"][0], &manifests_pod["containers"][0]);
    for field in [
        "image",
        "securityContext",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
    ] {
        assert_eq!(
            chart_container[field], manifests_container[field],
            "container {field}"
        );
    }
    same_hub(&chart, &manifests);
    // The pod-security `restricted` profile, which socle's own namespace enforces.
    let restricted = json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    });
    assert_eq!(manifests_container["securityContext"], restricted);
    assert_eq!(manifests_pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        manifests_pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
}

/// How many objects of `kind` are in `namespace`.
fn count_in(objects: &[Value], kind: &str, namespace: &str) -> usize {
    objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace)
        .count()
}

/// `vpnGateway`: the namespace `gateway` and the hub of gateway `dc` in it.
fn gateway_values(gateway: &str) -> String {
    format!(
        r#"vpnGateway={{"namespaces":["{gateway}"],"hubs":[{{"gateway":"dc","namespace":"{gateway}"}}]}}"#
    )
}

/// The chart's access to the gateway namespace and its hub of gateway `dc`
/// (the test's values).
fn assert_chart_gateway(objects: &[Value], release: &str) {
    find(objects, "RoleBinding", &format!("{release}-vpn-hub"));
    assert_hub(
        find(objects, "Deployment", &format!("{release}-vpn-gateway")),
        "socle-vpn-hub-dc",
    );
    let endpoint = find(
        objects,
        "Service",
        &format!("{release}-vpn-gateway-wireguard"),
    );
    assert_eq!(endpoint["spec"]["ports"][0]["protocol"], "UDP");
    assert_eq!(endpoint["spec"]["ports"][0]["port"], 51820);
    assert_hub_policy(
        find(objects, "NetworkPolicy", &format!("{release}-vpn-gateway")),
        &json!({
            "app.kubernetes.io/name": "socle",
            "app.kubernetes.io/component": "operator",
            "app.kubernetes.io/instance": release,
        }),
    );
}

/// The hub's NetworkPolicy: WireGuard's port open to all, the API's to the
/// operator's pods (`operator`, in socle's namespace) and the monitoring
/// namespace alone.
fn assert_hub_policy(policy: &Value, operator: &Value) {
    let spec = &policy["spec"];
    assert_eq!(spec["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        spec["ingress"][0],
        json!({"ports": [{"port": 51820, "protocol": "UDP"}]}),
        "WireGuard from anywhere"
    );
    let api = &spec["ingress"][1];
    assert_eq!(api["ports"], json!([{"port": 9586, "protocol": "TCP"}]));
    let from = api["from"].as_array().expect("the API's sources");
    assert_eq!(from.len(), 2, "the operator and Prometheus alone: {from:?}");
    assert_eq!(from[0]["podSelector"]["matchLabels"], *operator);
    assert!(
        from[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].is_string(),
        "the operator's namespace: {from:?}"
    );
    assert_eq!(
        from[1],
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}})
    );
}

/// The chart's hub and manifests/' run the same container.
fn same_hub(chart: &[Value], manifests: &[Value]) {
    let hub = |objects: &[Value]| {
        find(objects, "Deployment", "socle-vpn-gateway")["spec"]["template"]["spec"].clone()
    };
    let (chart_hub, manifests_hub) = (hub(chart), hub(manifests));
    assert_eq!(chart_hub["volumes"], manifests_hub["volumes"]);
    for field in [
        "args",
        "securityContext",
        "ports",
        "volumeMounts",
        "livenessProbe",
        "readinessProbe",
        "resources",
    ] {
        assert_eq!(
            chart_hub["containers"][0][field], manifests_hub["containers"][0][field],
            "hub container {field}"
        );
    }
}

/// manifests/vpn-gateway's hub, for the example gateway `vpn-datacenter`.
fn assert_manifests_hub(objects: &[Value]) {
    assert_hub(
        find(objects, "Deployment", "socle-vpn-gateway"),
        "socle-vpn-hub-vpn-datacenter",
    );
    let endpoint = find(objects, "Service", "socle-vpn-gateway-wireguard");
    assert_eq!(
        endpoint["spec"]["ports"],
        json!([{"name": "wireguard", "port": 51820, "targetPort": "wireguard", "protocol": "UDP"}]),
        "WireGuard's port alone is public"
    );
    find(objects, "Service", "socle-vpn-gateway");
    assert_hub_policy(
        find(objects, "NetworkPolicy", "socle-vpn-gateway"),
        &json!({"app.kubernetes.io/name": "socle", "app.kubernetes.io/component": "operator"}),
    );
}

/// The hub, left out of a scope's copy (no scope runs it in a pod), as
/// shipped in the scope's gateway namespace: accepted by a server dry run.
async fn dry_run_hub(objects: &[Value], gateway_namespace: &str) {
    let hub: Vec<String> = objects
        .iter()
        .filter(|object| is_hub(object))
        .map(|object| {
            let mut object = object.clone();
            object["metadata"]["namespace"] = json!(gateway_namespace);
            serde_json::to_string(&object).unwrap()
        })
        .collect();
    let applied = ok(
        &kubectl(),
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=socle-e2e",
            "-o",
            "name",
            "-f",
            "-",
        ],
        Some(&hub.join("\n---\n")),
    )
    .await;
    assert_eq!(
        applied.lines().count(),
        4,
        "the hub's Deployment, Services and NetworkPolicy: {applied}"
    );
}

/// A hub's Deployment: `socle vpn-gateway` on the mounted hub Secret
/// `secret`, with NET_ADMIN and no other capability, one replica.
fn assert_hub(deployment: &Value, secret: &str) {
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["args"][0], "vpn-gateway");
    assert_eq!(
        container["securityContext"],
        json!({
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
        })
    );
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], secret);
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/etc/socle-vpn");
    assert_eq!(pod["automountServiceAccountToken"], false);
}

/// The chart and manifests/ bind the same roles to the same subjects, in the
/// same namespaces.
fn same_bindings(chart: &[Value], manifests: &[Value]) {
    for (kind, name) in [
        ("ClusterRoleBinding", "socle"),
        ("RoleBinding", "socle"),
        ("RoleBinding", "socle-vpn-hub"),
        ("RoleBinding", "socle-velero"),
    ] {
        let (chart, manifests) = (find(chart, kind, name), find(manifests, kind, name));
        assert_eq!(chart["roleRef"], manifests["roleRef"], "{kind} {name}");
        assert_eq!(chart["subjects"], manifests["subjects"], "{kind} {name}");
        assert_eq!(
            chart["metadata"]["namespace"], manifests["metadata"]["namespace"],
            "{kind} {name}"
        );
    }
}

#[tokio::test]
async fn kustomization_installs_crds_operator_and_gateway_access() {
    let objects = documents(&ok(&kubectl(), &["kustomize", "manifests"], None).await);
    let crds: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = socle::api::crds()
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    expected.sort();
    assert_eq!(crds, expected);
    let deployment = find(&objects, "Deployment", "socle");
    assert_eq!(deployment["metadata"]["namespace"], "socle-system");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "socle");
    let container = &pod["containers"][0];
    assert_eq!(container["args"], json!(["run", "--log-json"]));
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| (variable["name"].as_str().unwrap(), &variable["valueFrom"]))
        .collect();
    assert_eq!(
        env["POD_NAME"]["fieldRef"]["fieldPath"], "metadata.name",
        "the Lease identity"
    );
    assert_eq!(
        env["POD_NAMESPACE"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        container["ports"][0],
        json!({"name": "admin", "containerPort": 8080})
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/livez", "port": "admin"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "admin"})
    );
    let gateway = find(&objects, "RoleBinding", "socle-vpn-hub");
    assert_eq!(gateway["metadata"]["namespace"], "socle-vpn-gateway");
    assert_manifests_hub(&objects);

    // Applied for real (a copy of the install, CRDs aside, in the scope's
    // namespaces): the API server accepts every object, RBAC included.
    let scope = TestScope::new("kustomization_installs_crds_operator").await;
    install_socle_crds(&scope.client()).await;
    let install = ScopedInstall::apply(&scope).await;
    let client = scope.client();
    let deployment = Api::<Deployment>::namespaced(client.clone(), &install.namespace)
        .get(&scope.name("socle"))
        .await
        .expect("the operator's Deployment");
    assert_eq!(
        deployment
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .service_account_name,
        Some(install.service_account.clone())
    );
    Api::<ServiceAccount>::namespaced(client.clone(), &install.namespace)
        .get(&install.service_account)
        .await
        .expect("the operator's ServiceAccount");
    let binding = Api::<ClusterRoleBinding>::all(client.clone())
        .get(&scope.name("socle"))
        .await
        .expect("the ClusterRoleBinding");
    assert_eq!(
        binding.subjects.unwrap()[0].namespace.as_deref(),
        Some(install.namespace.as_str())
    );
    Api::<RoleBinding>::namespaced(client.clone(), &install.gateway_namespace)
        .get(&scope.name("socle-vpn-hub"))
        .await
        .expect("the gateway's RoleBinding");
    dry_run_hub(&objects, &install.gateway_namespace).await;
    // Applying again (as a GitOps controller does, over and over) writes
    // nothing.
    let before = install.resource_versions().await;
    assert_eq!(before.len(), install.objects.len(), "{before:#?}");
    let again = ScopedInstall::apply(&scope).await;
    assert_eq!(again.resource_versions().await, before);
    scope.cleanup().await;
}

/// What socle does, controller by controller, is allowed to its
/// ServiceAccount as shipped; what it never does is not.
#[tokio::test]
async fn operator_identity_can_do_its_work_and_nothing_more() {
    let scope = TestScope::new("operator_identity_least_privilege").await;
    install_socle_crds(&scope.client()).await;
    let install = ScopedInstall::apply(&scope).await;
    let operator = install.operator_client(&scope.client()).await;
    let socle = scope.name("socle");
    let places = Places {
        own: &install.namespace,
        gateway: &install.gateway_namespace,
        socle: &socle,
        inspector: &install.drill_inspector_role,
        tenant_admin: &install.tenant_admin_role,
        velero: &install.velero_namespace,
    };
    let mut wrong = Vec::new();
    for access in needed(&places) {
        if !access.allowed(&operator).await {
            wrong.push(format!("needed but forbidden: {access}"));
        }
    }
    for access in forbidden(&places) {
        if access.allowed(&operator).await {
            wrong.push(format!("allowed but never needed: {access}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the operator's ServiceAccount, as shipped:\n{}",
        wrong.join("\n")
    );
    scope.cleanup().await;
}

/// Tried for real with the operator's identity, through the API server's own
/// RBAC escalation checks: no Secret of kube-system or of a commune, no
/// cluster-admin anywhere, no Role in a tenant (not even the tenant
/// administrators', whose rules socle could only write with `escalate`), not
/// its own Role, no CRD deletion, no other Lease.
#[tokio::test]
async fn operator_identity_is_refused_power_it_was_not_given() {
    let scope = TestScope::new("operator_identity_is_refused").await;
    install_socle_crds(&scope.client()).await;
    let install = ScopedInstall::apply(&scope).await;
    let operator = install.operator_client(&scope.client()).await;
    let tenant = managed_namespace(&scope, "commune").await;
    let apply = PatchParams::apply("socle").force();

    for namespace in ["kube-system", tenant.as_str()] {
        let refused = Api::<Secret>::namespaced(operator.clone(), namespace)
            .list(&ListParams::default())
            .await
            .expect_err("reading another namespace's Secrets");
        assert_forbidden(&refused);
    }
    let escalation = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": scope.name("escalation"), "labels": scope.labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": install.service_account, "namespace": install.namespace}],
    });
    let refused = Api::<ClusterRoleBinding>::all(operator.clone())
        .patch(&scope.name("escalation"), &apply, &Patch::Apply(escalation))
        .await
        .expect_err("binding cluster-admin cluster-wide");
    assert_forbidden(&refused);
    let auditors = binding(
        "socle-dsi-auditors",
        "ClusterRole",
        "cluster-admin",
        "socle:dsi-auditors",
    );
    let refused = Api::<RoleBinding>::namespaced(operator.clone(), &tenant)
        .patch("socle-dsi-auditors", &apply, &Patch::Apply(auditors))
        .await
        .expect_err("binding cluster-admin in a tenant");
    assert_forbidden(&refused);
    let ruleless = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "socle-tenant-admin"},
    });
    for (role, what) in [
        (workload_role("socle-extra"), "a Role in a tenant"),
        (
            workload_role("socle-tenant-admin"),
            "the administrators' Role, with rules socle does not hold (escalate)",
        ),
        (ruleless, "the administrators' Role, even without a rule"),
    ] {
        let name = role["metadata"]["name"].as_str().unwrap().to_owned();
        let refused = Api::<Role>::namespaced(operator.clone(), &tenant)
            .patch(&name, &apply, &Patch::Apply(role))
            .await
            .expect_err(what);
        assert_forbidden(&refused);
    }
    let own = scope.name("socle");
    let refused = Api::<Role>::namespaced(operator.clone(), &install.namespace)
        .patch(&own, &apply, &Patch::Apply(workload_role(&own)))
        .await
        .expect_err("rewriting its own Role");
    assert_forbidden(&refused);
    let refused = Api::<CustomResourceDefinition>::all(operator.clone())
        .delete(&format!("members.{GROUP}"), &DeleteParams::default())
        .await
        .expect_err("deleting a CRD");
    assert_forbidden(&refused);
    let refused = Api::<Lease>::namespaced(operator.clone(), "kube-system")
        .get("kube-controller-manager")
        .await
        .expect_err("reading another Lease");
    assert_forbidden(&refused);
    scope.cleanup().await;
}

/// What RBAC cannot limit, the shipped admission policy does: outside the
/// namespaces socle created, its ServiceAccount binds no tenant
/// administrators' ClusterRole (which grants Secrets there), no binding at
/// all, no label that would make a namespace look like socle's, and deletes
/// nothing; inside them, it binds nothing to itself but the drill inspector.
#[tokio::test]
async fn admission_policy_keeps_socle_to_its_namespaces() {
    let scope = TestScope::new("admission_policy_keeps_socle").await;
    install_socle_crds(&scope.client()).await;
    let install = ScopedInstall::apply(&scope).await;
    let operator = install.operator_client(&scope.client()).await;
    let apply = PatchParams::apply("socle").force();
    let bystander = scope.create_namespace("bystander").await;
    let bindings = Api::<RoleBinding>::namespaced(operator.clone(), &bystander);
    let admins = binding(
        "socle-tenant-admin",
        "ClusterRole",
        &install.tenant_admin_role,
        "commune-admins",
    );
    // The policy takes effect a moment after it is created.
    eventually(CONVERGE, || async {
        let answer = bindings
            .patch(
                "socle-tenant-admin",
                &apply.clone().dry_run(),
                &Patch::Apply(&admins),
            )
            .await;
        ensure!(answer.is_err(), "the admission policy is not in force yet");
        Ok(())
    })
    .await;
    let refused = bindings
        .patch("socle-tenant-admin", &apply, &Patch::Apply(&admins))
        .await
        .expect_err("the administrators' ClusterRole bound outside socle's namespaces");
    assert_refused_by_policy(&refused);
    // In a tenant, the same ClusterRole bound to socle's own identity.
    let tenant = managed_namespace(&scope, "commune").await;
    let mut to_itself = admins.clone();
    to_itself["subjects"] = json!([{
        "kind": "ServiceAccount",
        "name": install.service_account,
        "namespace": install.namespace,
    }]);
    let refused = Api::<RoleBinding>::namespaced(operator.clone(), &tenant)
        .patch("socle-tenant-admin", &apply, &Patch::Apply(&to_itself))
        .await
        .expect_err("the administrators' ClusterRole bound to socle itself");
    assert_refused_by_policy(&refused);
    let auditors = binding(
        "socle-dsi-auditors",
        "ClusterRole",
        "view",
        "socle:dsi-auditors",
    );
    let refused = Api::<RoleBinding>::namespaced(operator.clone(), &bystander)
        .patch("socle-dsi-auditors", &apply, &Patch::Apply(auditors))
        .await
        .expect_err("a binding outside socle's namespaces");
    assert_refused_by_policy(&refused);
    let namespaces = Api::<Namespace>::all(operator.clone());
    let adopt = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "socle"}}});
    let refused = namespaces
        .patch(&bystander, &PatchParams::default(), &Patch::Merge(&adopt))
        .await
        .expect_err("labelling a namespace as socle's");
    assert_refused_by_policy(&refused);
    let refused = namespaces
        .delete(&bystander, &DeleteParams::default())
        .await
        .expect_err("deleting a namespace socle did not create");
    assert_refused_by_policy(&refused);
    scope.cleanup().await;
}

/// A compromised operator, with what RBAC grants it as shipped: its client,
/// once the scope's copy of the admission policy is in force (a namespace of
/// its own without Pod Security, the first thing it would try, is refused).
async fn compromised_operator(scope: &TestScope) -> (Client, ScopedInstall) {
    let client = scope.client();
    install_socle_crds(&client).await;
    socle_e2e::velero::install_velero_crds(&client).await;
    let install = ScopedInstall::apply(scope).await;
    let operator = install.operator_client(&client).await;
    let unguarded: Namespace = serde_json::from_value(json!({
        "metadata": {"name": scope.name("unguarded"), "labels": socles(scope.labels())},
    }))
    .unwrap();
    let namespaces = Api::<Namespace>::all(operator.clone());
    eventually(CONVERGE, || async {
        let answer = namespaces.create(&dry_run(), &unguarded).await;
        ensure!(
            answer.is_err(),
            "the admission policy is not in force yet: {answer:?}"
        );
        Ok(())
    })
    .await;
    let refused = namespaces
        .create(&PostParams::default(), &unguarded)
        .await
        .expect_err("a namespace without Pod Security");
    assert_refused_by_policy(&refused);
    (operator, install)
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

/// `labels` and socle's `app.kubernetes.io/managed-by`.
fn socles(mut labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.insert("app.kubernetes.io/managed-by".into(), "socle".into());
    labels
}

/// What a compromised operator would try outside its tenants, each refused
/// by the shipped admission policy: a namespace of its own without Pod
/// Security, a NetworkPolicy deleted elsewhere, a volume set to Delete or
/// rebound (setting one to Retain, what offboarding does, is allowed).
#[tokio::test]
async fn admission_policy_keeps_a_compromised_operator_from_namespaces_and_volumes() {
    let scope = TestScope::new("admission_policy_compromised_namespaces").await;
    let client = scope.client();
    let (operator, _install) = compromised_operator(&scope).await;
    // Another namespace's NetworkPolicy.
    let bystander = scope.create_namespace("bystander").await;
    let policy: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "allow-monitoring", "labels": scope.labels()},
        "spec": {"podSelector": {}, "ingress": [{}]},
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(client.clone(), &bystander)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let refused = Api::<NetworkPolicy>::namespaced(operator.clone(), &bystander)
        .delete("allow-monitoring", &DeleteParams::default())
        .await
        .expect_err("deleting a NetworkPolicy outside socle's namespaces");
    assert_refused_by_policy(&refused);
    // A volume: only ever set to Retain, never to Delete nor rebound.
    let volume_name = scope.name("volume");
    let volume: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": volume_name, "labels": scope.labels()},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/tmp/socle-e2e-{}", scope.id())},
            "claimRef": {"namespace": bystander, "name": "data"},
        },
    }))
    .unwrap();
    Api::<PersistentVolume>::all(client.clone())
        .create(&PostParams::default(), &volume)
        .await
        .unwrap();
    let volumes = Api::<PersistentVolume>::all(operator.clone());
    for (attempt, patch) in [
        (
            "set to Delete",
            json!({"spec": {"persistentVolumeReclaimPolicy": "Delete"}}),
        ),
        (
            "rebound",
            json!({"spec": {"claimRef": {"namespace": "kube-system", "name": "data"}}}),
        ),
    ] {
        let refused = volumes
            .patch(&volume_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect_err(attempt);
        assert_refused_by_policy(&refused);
    }
    volumes
        .patch(
            &volume_name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"socle.redon-agglomeration.bzh/member": "x"}},
                                 "spec": {"persistentVolumeReclaimPolicy": "Retain"}}),
            ),
        )
        .await
        .expect("keeping a volume is what socle does at offboarding");
    scope.cleanup().await;
}

/// The policies know socle by the ServiceAccount their bindings name; an
/// install whose binding names another one leaves socle unchecked, and
/// `socle run` says so at start from a dry run the policy must refuse.
#[tokio::test]
async fn socle_tells_whether_the_admission_policy_holds_it() {
    let scope = TestScope::new("admission_policy_holds").await;
    let client = scope.client();
    let (operator, _install) = compromised_operator(&scope).await;
    assert_eq!(policy_holds(&operator).await, Holds::Yes);
    // The administrator is not socle: nothing holds it.
    assert_eq!(policy_holds(&client).await, Holds::No);
    // An install that lost socle's ServiceAccount (here: its binding looks
    // for it in another namespace).
    let binding = scope.name("socle-stays-in-its-namespaces");
    Api::<DynamicObject>::all_with(client.clone(), &validating_binding())
        .patch(
            &binding,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paramRef": {"namespace": "default"}}})),
        )
        .await
        .unwrap();
    eventually(CONVERGE, || async {
        let holds = policy_holds(&operator).await;
        ensure!(holds == Holds::No, "still {holds:?}");
        Ok(())
    })
    .await;
    scope.cleanup().await;
}

fn validating_binding() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
    ))
}

/// What a compromised operator would try with Velero and the drills, each
/// refused by the shipped admission policy: a foreign Schedule adopted, a
/// Restore into a production namespace, a backup's whole contents
/// downloaded, the drill inspector (it reads Secrets) bound in a tenant.
#[tokio::test]
async fn admission_policy_keeps_a_compromised_operator_from_backups() {
    let scope = TestScope::new("admission_policy_compromised_backups").await;
    let client = scope.client();
    let (operator, install) = compromised_operator(&scope).await;
    // Velero: a foreign Schedule, a Restore into production, a backup's contents.
    let velero = install.velero_namespace.clone();
    let schedule: Schedule = serde_json::from_value(json!({
        "metadata": {"name": scope.name("payroll"), "labels": scope.labels()},
        "spec": {"schedule": "0 1 * * *", "template": {"includedNamespaces": ["payroll"]}},
    }))
    .unwrap();
    Api::<Schedule>::namespaced(client.clone(), &velero)
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
    let refused = Api::<Schedule>::namespaced(operator.clone(), &velero)
        .patch(
            &scope.name("payroll"),
            &PatchParams::apply("socle").force(),
            &Patch::Apply(json!({
                "apiVersion": "velero.io/v1", "kind": "Schedule",
                "metadata": {"labels": socles(BTreeMap::new())},
                "spec": {"schedule": "0 1 * * *", "template": {"includedNamespaces": ["commune-x"]}},
            })),
        )
        .await
        .expect_err("adopting a foreign Schedule");
    assert_refused_by_policy(&refused);
    let restore: Restore = serde_json::from_value(json!({
        "metadata": {"name": scope.name("restore"), "labels": socles(scope.labels())},
        "spec": {
            "backupName": "commune-allaire-20260301",
            "includedNamespaces": ["commune-allaire"],
            "namespaceMapping": {"commune-allaire": "commune-bruc-sur-aff"},
            "includeClusterResources": false,
        },
    }))
    .unwrap();
    let refused = Api::<Restore>::namespaced(operator.clone(), &velero)
        .create(&dry_run(), &restore)
        .await
        .expect_err("a Restore into another commune's namespace");
    assert_refused_by_policy(&refused);
    let download: DownloadRequest = serde_json::from_value(json!({
        "metadata": {"name": scope.name("download"), "labels": socles(scope.labels())},
        "spec": {"target": {"kind": "BackupContents", "name": "commune-allaire-20260301"}},
    }))
    .unwrap();
    let refused = Api::<DownloadRequest>::namespaced(operator.clone(), &velero)
        .create(&dry_run(), &download)
        .await
        .expect_err("downloading a backup's whole contents");
    assert_refused_by_policy(&refused);
    // A purge that hides which backup it deletes; the same, named after it.
    let purge = |name: String| -> DeleteBackupRequest {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": socles(BTreeMap::from([(
                "velero.io/backup-name".to_owned(), "commune-allaire-20260301".to_owned(),
            )]))},
            "spec": {"backupName": "commune-allaire-20260301"},
        }))
        .unwrap()
    };
    let purges = Api::<DeleteBackupRequest>::namespaced(operator.clone(), &velero);
    let refused = purges
        .create(&dry_run(), &purge(scope.name("cleanup")))
        .await
        .expect_err("a DeleteBackupRequest not named after its backup");
    assert_refused_by_policy(&refused);
    purges
        .create(
            &dry_run(),
            &purge("commune-allaire-20260301-purge".to_owned()),
        )
        .await
        .expect("socle's purge of a backup, named after it");
    // The drill inspector, which reads Secrets, bound in a tenant.
    let tenant = managed_namespace(&scope, "commune").await;
    let inspector = binding(
        "socle-drill-inspector",
        "ClusterRole",
        &install.drill_inspector_role,
        "socle:dsi-auditors",
    );
    let refused = Api::<RoleBinding>::namespaced(operator.clone(), &tenant)
        .patch(
            "socle-drill-inspector",
            &PatchParams::apply("socle").force(),
            &Patch::Apply(inspector),
        )
        .await
        .expect_err("binding the drill inspector outside a sandbox");
    assert_refused_by_policy(&refused);
    scope.cleanup().await;
}

/// The shipped finalizer policy: the API server sets socle's finalizers as a
/// Member is created (the VPN's only for a Member with a VPN), keeps the
/// Member's own, and leaves updates alone, so that the operator's removal of
/// its finalizers at offboarding stands. The operator's constants are the
/// names the policy must write; the tenant controller, finding them there,
/// provisions without writing to the Member's metadata.
#[tokio::test]
async fn finalizer_policy_sets_socle_s_finalizers_at_creation() {
    let scope = TestScope::new("finalizer_policy").await;
    let client = scope.client();
    install_socle_crds(&client).await;
    let with_vpn = scoped(&scope, example("allaire"), "vpn-datacenter");
    assert!(with_vpn.spec.vpn.is_some());
    apply_member_finalizers(&client, &scope, &with_vpn).await;
    let members = Api::<Member>::all(client.clone());
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let created = members.create(&dry_run, &with_vpn).await.unwrap();
    assert_eq!(
        created.finalizers(),
        [socle::tenant::FINALIZER, socle::vpn::FINALIZER]
    );
    // The scope's copy is bound to the scope's Members only.
    let mut elsewhere = with_vpn.clone();
    elsewhere.labels_mut().clear();
    let created = members.create(&dry_run, &elsewhere).await.unwrap();
    assert!(
        created.finalizers().is_empty(),
        "{:?}",
        created.finalizers()
    );

    let mut kept = tenant_only(&scope, "bains-sur-oust");
    kept.finalizers_mut().push("example.org/keep".to_owned());
    let created = members.create(&PostParams::default(), &kept).await.unwrap();
    assert_eq!(
        created.finalizers(),
        ["example.org/keep", socle::tenant::FINALIZER]
    );
    // An update is not mutated: the operator's offboarding removes its own.
    let set_finalizers = |finalizers: Value| {
        let patch = json!({"metadata": {"finalizers": finalizers}});
        let (members, name) = (&members, kept.name_any());
        async move {
            members
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap()
        }
    };
    let updated = set_finalizers(json!(["example.org/keep"])).await;
    assert_eq!(updated.finalizers(), ["example.org/keep"]);
    set_finalizers(Value::Null).await;
    members
        .delete(&kept.name_any(), &DeleteParams::background())
        .await
        .unwrap();

    // The tenant controller provisions a Member the policy finalized
    // without patching it: its only Member write is the status.
    let mark = AuditMark::now();
    let operator = Operator::start(&scope).await;
    let member = tenant_only(&scope, "pipriac");
    create_members(&client, std::slice::from_ref(&member)).await;
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    let writes = mark.writes_by(&client, &operator.identity()).await;
    let member_writes: Vec<&AuditEvent> = writes
        .iter()
        .filter(|event| event.resource == "members")
        .collect();
    assert!(
        member_writes
            .iter()
            .all(|event| event.subresource.as_deref() == Some("status")),
        "only status writes to Members: {:?}",
        member_writes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert!(!member_writes.is_empty(), "the status is written");
    operator.stop().await;
    scope.cleanup().await;
}

/// Tried for real with the operator's identity: what only `bind` and
/// server-side apply's `create` make possible — the bindings of the tenant
/// administrators' ClusterRole and of the auditors' `view` (rights socle
/// does not hold), the former replaced as the tenant controller replaces a
/// stale one (read, then deleted by uid), a gateway's hub Secret (which it
/// may read back by name but not list) — and its Lease.
#[tokio::test]
async fn operator_identity_writes_what_socle_writes() {
    let scope = TestScope::new("operator_identity_writes").await;
    install_socle_crds(&scope.client()).await;
    let install = ScopedInstall::apply(&scope).await;
    let operator = install.operator_client(&scope.client()).await;
    let tenant = managed_namespace(&scope, "commune").await;
    let apply = PatchParams::apply("socle").force();

    let bindings = Api::<RoleBinding>::namespaced(operator.clone(), &tenant);
    let auditors = binding(
        "socle-dsi-auditors",
        "ClusterRole",
        "view",
        "socle:dsi-auditors",
    );
    bindings
        .patch("socle-dsi-auditors", &apply, &Patch::Apply(auditors))
        .await
        .expect("binding view for the DSI's auditors");
    let admins = binding(
        "socle-tenant-admin",
        "ClusterRole",
        &install.tenant_admin_role,
        "commune-admins",
    );
    let bound = bindings
        .patch("socle-tenant-admin", &apply, &Patch::Apply(admins))
        .await
        .expect("binding the tenant administrators' ClusterRole");
    let read = bindings
        .get("socle-tenant-admin")
        .await
        .expect("reading the administrators' binding");
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            uid: read.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    assert_eq!(read.uid(), bound.uid());
    bindings
        .delete("socle-tenant-admin", &delete)
        .await
        .expect("deleting the administrators' binding, by uid");

    let hubs = Api::<Secret>::namespaced(operator.clone(), &install.gateway_namespace);
    let hub = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "socle-vpn-hub-vpn-datacenter"},
        "stringData": {"wg0.conf": "[Interface]\n"},
    });
    hubs.patch("socle-vpn-hub-vpn-datacenter", &apply, &Patch::Apply(hub))
        .await
        .expect("applying a hub Secret");
    hubs.get("socle-vpn-hub-vpn-datacenter")
        .await
        .expect("reading the hub Secret back");
    let refused = hubs
        .list(&ListParams::default())
        .await
        .expect_err("listing a gateway's Secrets");
    assert_forbidden(&refused);

    let leases = Api::<Lease>::namespaced(operator.clone(), &install.namespace);
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": "socle-leader"}})).unwrap();
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("creating the leader Lease");
    let renewed = json!({"spec": {"holderIdentity": "socle-0"}});
    leases
        .patch(
            "socle-leader",
            &PatchParams::default(),
            &Patch::Merge(&renewed),
        )
        .await
        .expect("taking the leader Lease");
    scope.cleanup().await;
}

/// The tenant controller of `socle run`, authenticated as the shipped
/// ServiceAccount: it provisions a commune (namespace, quota, limits,
/// policies, the administrators' binding to the shipped ClusterRole, whose
/// rights it does not hold itself, the auditors' `view` binding, the data
/// volume), replaces an administrators' binding to an older socle's Role,
/// reports status and Events, and offboards it — and the API server refuses
/// none of its requests.
#[tokio::test]
async fn tenant_controller_runs_on_the_shipped_permissions() {
    let scope = TestScope::new("tenant_controller_shipped_permissions").await;
    let client = scope.client();
    install_socle_crds(&client).await;
    let mark = AuditMark::now();
    let operator = Operator::start(&scope).await;
    let identity = operator.identity();
    let member = tenant_only(&scope, "allaire");
    let name = member.name_any();
    let namespace = operator.tenant_namespace(&name);
    let members = Api::<Member>::all(client.clone());
    members
        .create(&PostParams::default(), &member)
        .await
        .expect("creating the Member");
    eventually(CONVERGE, || async {
        let member = members.get(&name).await?;
        let conditions = member
            .status
            .map(|status| status.conditions)
            .unwrap_or_default();
        let ready = conditions.iter().find(|c| c.type_ == "TenantReady");
        if ready.is_none_or(|c| c.status != "True") {
            let refused = refused(&mark, &client, &identity).await;
            bail!("TenantReady: {ready:?}; refused by RBAC so far: {refused:?}");
        }
        Ok(())
    })
    .await;
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &namespace);
    let auditors = bindings
        .get("socle-dsi-auditors")
        .await
        .expect("the auditors' binding");
    assert_eq!(auditors.role_ref.name, "view");
    let admins = bindings
        .get("socle-tenant-admin")
        .await
        .expect("the administrators' binding");
    assert_eq!(
        (admins.role_ref.kind.as_str(), admins.role_ref.name.as_str()),
        ("ClusterRole", operator.tenant_admin_role())
    );
    let admin = Api::<ClusterRole>::all(client.clone())
        .get(operator.tenant_admin_role())
        .await
        .expect("the administrators' ClusterRole");
    let rules = admin.rules.unwrap_or_default();
    assert!(
        rules
            .iter()
            .flat_map(|rule| rule.resources.iter().flatten())
            .any(|resource| resource == "secrets"),
        "the administrators may manage their Secrets, which socle may not: {rules:?}"
    );
    replaces_an_older_socle_s_binding(&client, &namespace, &admins).await;
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace)
        .get("data")
        .await
        .expect("the data volume claim");

    // Offboarding: kept until confirmed (an Event says so), then deleted.
    members
        .delete(&name, &DeleteParams::background())
        .await
        .expect("deleting the Member");
    wait_for_event(&client, &name, "OffboardingPending").await;
    let confirm = json!({"metadata": {"annotations": {CONFIRM_OFFBOARDING: name}}});
    members
        .patch(&name, &PatchParams::default(), &Patch::Merge(&confirm))
        .await
        .expect("confirming the offboarding");
    eventually(CONVERGE, || async {
        release_claims(&client, &namespace).await?;
        let left = (
            members.get_opt(&name).await?.is_some(),
            Api::<Namespace>::all(client.clone())
                .get_opt(&namespace)
                .await?
                .is_some(),
        );
        ensure!(
            left == (false, false),
            "Member, namespace still there: {left:?}"
        );
        Ok(())
    })
    .await;
    let refused = refused(&mark, &client, &identity).await;
    let worked = mark
        .writes_by(&client, &identity)
        .await
        .iter()
        .any(|event| event.resource == "rolebindings" && event.code.is_some_and(|code| code < 300));
    operator.stop().await;
    assert!(worked, "the tenant controller wrote as {identity}");
    assert!(
        refused.is_empty(),
        "requests of the operator refused by RBAC:\n{}",
        refused.join("\n")
    );
    delete_events(&client, &name).await;
    scope.cleanup().await;
}

/// A tenant provisioned when socle wrote a Role in each tenant: its admins
/// are bound to that Role, and a binding's roleRef cannot change. The tenant
/// controller replaces the binding with `admins`, and leaves the Role alone
/// (it may not touch one).
async fn replaces_an_older_socle_s_binding(client: &Client, namespace: &str, admins: &RoleBinding) {
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), namespace);
    let older_roles = Api::<Role>::namespaced(client.clone(), namespace);
    let mut old_role = workload_role("socle-tenant-admin");
    old_role["metadata"]["labels"] = json!(admins.labels());
    older_roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(old_role).unwrap(),
        )
        .await
        .expect("the Role of an older socle");
    let mut old_binding = binding(
        "socle-tenant-admin",
        "Role",
        "socle-tenant-admin",
        "commune-allaire-admins",
    );
    old_binding["metadata"]["labels"] = json!(admins.labels());
    let old_binding: RoleBinding = serde_json::from_value(old_binding).unwrap();
    // The operator puts its own binding back as soon as it is deleted.
    let old_uid = eventually(CONVERGE, || async {
        bindings
            .delete("socle-tenant-admin", &DeleteParams::default())
            .await
            .ok();
        Ok(bindings
            .create(&PostParams::default(), &old_binding)
            .await?
            .uid())
    })
    .await;
    eventually(CONVERGE, || async {
        let live = bindings.get("socle-tenant-admin").await?;
        ensure!(
            live.role_ref == admins.role_ref && live.uid() != old_uid,
            "still bound to {:?}",
            live.role_ref
        );
        Ok(())
    })
    .await;
    older_roles
        .get("socle-tenant-admin")
        .await
        .expect("the older Role, left alone");
}

/// The requests of `identity` since `mark` that RBAC refused.
async fn refused(mark: &AuditMark, client: &Client, identity: &str) -> Vec<String> {
    mark.events(client)
        .await
        .iter()
        .filter(|event| event.user == identity && event.code == Some(403))
        .map(ToString::to_string)
        .collect()
}

/// A namespace as socle creates them (a tenant, a drill sandbox): labelled
/// `app.kubernetes.io/managed-by: socle`, and with the scope's labels.
async fn managed_namespace(scope: &TestScope, base: &str) -> String {
    let mut metadata = scope.meta(base);
    metadata
        .labels
        .get_or_insert_default()
        .insert("app.kubernetes.io/managed-by".into(), "socle".into());
    let namespace = Namespace {
        metadata,
        ..Namespace::default()
    };
    Api::<Namespace>::all(scope.client())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("creating a managed namespace");
    scope.name(base)
}

/// Deletes the Events about the Member `member`.
async fn delete_events(client: &Client, member: &str) {
    let events = Api::<Event>::namespaced(client.clone(), "default");
    for event in events.list(&ListParams::default()).await.unwrap() {
        if regards(&event, member) {
            events
                .delete(&event.name_any(), &DeleteParams::default())
                .await
                .ok();
        }
    }
}

fn regards(event: &Event, member: &str) -> bool {
    event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(member)
}

/// A RoleBinding `name` of `role` (a `kind`) to the group `group`.
fn binding(name: &str, kind: &str, role: &str, group: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
    })
}

/// A Role `name` granting what socle itself may not do: read Secrets, run
/// and exec into pods (the tenant administrators' kind of rules).
fn workload_role(name: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": [
            {"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list", "create", "delete"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
        ],
    })
}

fn assert_refused_by_policy(error: &kube::Error) {
    assert!(
        matches!(error, kube::Error::Api(status) if status.code == 403
            && status.message.contains("socle-stays-in-its-namespaces")),
        "expected a refusal by the admission policy, got {error}"
    );
}

fn assert_forbidden(error: &kube::Error) {
    assert!(
        matches!(error, kube::Error::Api(status) if status.code == 403),
        "expected 403 Forbidden, got {error}"
    );
}

/// A `crds/`-like directory: CRD file name → content (the kustomization aside).
fn crd_files(dir: &Path) -> BTreeMap<String, String> {
    fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name != "kustomization.yaml")
        })
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read_to_string(&path).unwrap(),
            )
        })
        .collect()
}

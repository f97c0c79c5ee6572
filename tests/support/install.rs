//! What the install tests share: helm and kubectl (built by `cargo xtask`),
//! rendering the chart and the kustomization, a scope-unique copy of the
//! install applied for real, and a client with the operator's own identity.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use crate::{SCOPE_LABEL, TEST_LABEL, TestScope, eventually, process::Renamed};
use anyhow::ensure;
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, ServiceAccount},
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{
        ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams, PostParams,
    },
    config::{KubeConfigOptions, Kubeconfig, NamedAuthInfo},
};
use serde_json::Value;
use socle::api::Member;
use tokio::io::AsyncWriteExt;

/// The helm release `xtask/src/tools.rs` builds; bump both together.
const HELM: &str = "v3.22.0";
/// The kubectl release `xtask/src/tools.rs` builds: the control plane's.
const KUBECTL: &str = "v1.36.3";

/// The repository's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// `$SOCLE_HELM`, else the helm `cargo xtask` builds into its cache.
pub fn helm() -> PathBuf {
    tool("SOCLE_HELM", &format!("helm-{HELM}/helm"))
}

/// `$SOCLE_KUBECTL`, else the kubectl `cargo xtask` builds into its cache.
pub fn kubectl() -> PathBuf {
    tool("SOCLE_KUBECTL", &format!("kubectl-{KUBECTL}/kubectl"))
}

/// A tool from the environment or from the cache of `xtask/src/tools.rs`
/// (same root as the testenv's: `$SOCLE_CACHE_DIR`, `$XDG_CACHE_HOME/socle`
/// or `~/.cache/socle`). Panics, saying how to build it, when it is missing:
/// an end-to-end test never skips.
fn tool(variable: &str, cached: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map_or_else(|| crate::router::tools_dir().join(cached), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: `cargo xtask ci` builds it (or set {variable})",
        path.display()
    );
    path
}

/// Runs `program args…` in the workspace with `stdin`, inheriting
/// `$KUBECONFIG`; returns stdout, or stdout and stderr as the error.
pub async fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(workspace())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("running {}: {error}", program.display()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("a piped stdin");
        pipe.write_all(input.as_bytes())
            .await
            .expect("writing to stdin");
    }
    let output = child
        .wait_with_output()
        .await
        .expect("waiting for the tool");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{} {} failed ({}):\n{stdout}{}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// [`run`], panicking on failure.
pub async fn ok(program: &Path, args: &[&str], stdin: Option<&str>) -> String {
    run(program, args, stdin)
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The objects of a multi-document YAML stream (empty documents skipped).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("unreadable YAML ({error}):\n{yaml}"))
        })
        .filter(|object: &Value| !object.is_null())
        .collect()
}

/// The object of `kind` named `name`; panics, listing what there is, if absent.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", ids(objects)))
}

/// `Kind namespace/name` of every object, sorted.
pub fn ids(objects: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = objects.iter().map(id).collect();
    ids.sort();
    ids
}

/// `Kind namespace/name` (or `Kind name`, cluster-scoped).
fn id(object: &Value) -> String {
    let text = |value: &Value| value.as_str().unwrap_or("?").to_owned();
    let metadata = &object["metadata"];
    match metadata["namespace"].as_str() {
        Some(namespace) => format!(
            "{} {namespace}/{}",
            text(&object["kind"]),
            text(&metadata["name"])
        ),
        None => format!("{} {}", text(&object["kind"]), text(&metadata["name"])),
    }
}

/// The install of `manifests/` (CRDs aside), copied for one scope and applied
/// for real: every name gets the scope's suffix, `socle-system` and
/// `socle-vpn-gateway` become scope namespaces, and everything carries the
/// scope's labels, so that [`TestScope::cleanup`] removes it all. The CRDs
/// are left out: they are shared by every test and never deleted.
#[derive(Debug)]
pub struct ScopedInstall {
    /// What was applied.
    pub objects: Vec<Value>,
    /// The copy of `socle-system`.
    pub namespace: String,
    /// The copy of `socle-vpn-gateway`.
    pub gateway_namespace: String,
    /// The copy of `velero`, where the Role `socle-velero` is: the scope's
    /// Velero namespace.
    pub velero_namespace: String,
    /// The operator's ServiceAccount, in [`ScopedInstall::namespace`].
    pub service_account: String,
    /// The copy of the `socle-drill-inspector` ClusterRole, which the
    /// operator binds to itself in drill sandboxes.
    pub drill_inspector_role: String,
    /// The copy of the `socle-tenant-admin` ClusterRole, which the operator
    /// binds to each tenant's administrators.
    pub tenant_admin_role: String,
}

impl ScopedInstall {
    /// Renders the copy for `scope` and applies it (server-side, as
    /// `socle-e2e`); applying it again is a no-op. Its Velero namespace is
    /// the scope's own (made if missing), where no Velero runs but a
    /// stand-in's.
    pub async fn apply(scope: &TestScope) -> Self {
        let velero_namespace = scope.name("velero");
        // Velero's install makes its namespace, not socle's: the scope's
        // stand-in may have made it already.
        let created = Api::<Namespace>::all(scope.client())
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: ObjectMeta {
                        name: Some(velero_namespace.clone()),
                        labels: Some(scope.labels()),
                        ..ObjectMeta::default()
                    },
                    ..Namespace::default()
                },
            )
            .await;
        match created {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => panic!("creating namespace {velero_namespace}: {error}"),
        }
        Self::apply_in_velero(scope, &velero_namespace).await
    }

    /// [`ScopedInstall::apply`] with socle's Velero access in
    /// `velero_namespace`, which exists: `velero`, where the testenv's
    /// `velero server` runs.
    pub async fn apply_in_velero(scope: &TestScope, velero_namespace: &str) -> Self {
        let objects = scoped_manifests(scope, velero_namespace).await;
        let namespace = scope.name("socle-system");
        let gateway_namespace = scope.name("socle-vpn-gateway");
        ok(
            &kubectl(),
            &[
                "apply",
                "--server-side",
                "--field-manager=socle-e2e",
                "-f",
                "-",
            ],
            Some(&stream(&objects)),
        )
        .await;
        Self {
            namespace,
            gateway_namespace,
            velero_namespace: velero_namespace.to_owned(),
            service_account: scope.name("socle"),
            drill_inspector_role: scope.name(DRILL_INSPECTOR),
            tenant_admin_role: scope.name(TENANT_ADMIN),
            objects,
        }
    }

    /// `Kind namespace/name` → resourceVersion of every applied object, as
    /// the API server has them now.
    pub async fn resource_versions(&self) -> BTreeMap<String, String> {
        let listed = ok(
            &kubectl(),
            &["get", "-o", "json", "-f", "-"],
            Some(&stream(&self.objects)),
        )
        .await;
        let list: Value = serde_json::from_str(&listed).expect("a JSON List");
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                let version = &item["metadata"]["resourceVersion"];
                (id(item), version.as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }

    /// A client authenticated as the operator's ServiceAccount, through a
    /// token from the TokenRequest API (what the kubelet mounts in its pod).
    pub async fn operator_client(&self, client: &Client) -> Client {
        Client::try_from(self.operator_config(client).await)
            .expect("a client for the operator's identity")
    }

    /// What `socle run` must be told to work in this copy.
    pub fn renamed(&self) -> Renamed {
        Renamed {
            tenant_admin_role: self.tenant_admin_role.clone(),
            drill_inspector_role: self.drill_inspector_role.clone(),
            velero_namespace: self.velero_namespace.clone(),
        }
    }

    /// `system:serviceaccount:<namespace>:<name>`, as the audit log says.
    pub fn identity(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    /// The configuration of [`ScopedInstall::operator_client`], for a client
    /// to be built on another runtime.
    pub async fn operator_config(&self, client: &Client) -> Config {
        Config::from_custom_kubeconfig(
            self.operator_kubeconfig(client).await,
            &KubeConfigOptions::default(),
        )
        .await
        .expect("a usable kubeconfig for the operator")
    }

    /// `$KUBECONFIG`'s cluster (URL, CA) with none of its credentials: the
    /// operator's ServiceAccount token instead. Serialized, it is what a
    /// `socle run` process is given.
    pub async fn operator_kubeconfig(&self, client: &Client) -> Kubeconfig {
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let token = Api::<ServiceAccount>::namespaced(client.clone(), &self.namespace)
            .create_token_request(&self.service_account, &PostParams::default(), &request)
            .await
            .expect("a token for the operator's ServiceAccount")
            .status
            .expect("a TokenRequest status")
            .token;
        let mut kubeconfig = Kubeconfig::from_env()
            .expect("a readable $KUBECONFIG")
            .expect("KUBECONFIG is set");
        let user = self.service_account.clone();
        kubeconfig.auth_infos = vec![
            serde_json::from_value::<NamedAuthInfo>(
                serde_json::json!({"name": user, "user": {"token": token}}),
            )
            .expect("a NamedAuthInfo with a token"),
        ];
        for context in kubeconfig
            .contexts
            .iter_mut()
            .filter_map(|c| c.context.as_mut())
        {
            context.user = Some(user.clone());
        }
        kubeconfig
    }
}

/// Objects as one YAML stream (of JSON documents).
fn stream(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|object| serde_json::to_string(object).expect("JSON"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// `kubectl kustomize` of an overlay of `manifests/install` and
/// `manifests/vpn-gateway` that suffixes every name and labels every object
/// with the scope; then the two namespaces moved into the scope's.
async fn scoped_manifests(scope: &TestScope, velero_namespace: &str) -> Vec<Value> {
    // Kustomize takes no absolute path: the overlay names manifests/ relative to itself.
    let overlay = std::env::temp_dir().join(format!("socle-install-{}", scope.id()));
    std::fs::create_dir_all(&overlay).expect("creating the overlay directory");
    let manifests = relative(&overlay, &workspace().join("manifests"));
    let labels = scope.labels();
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "nameSuffix": format!("-{}", scope.id()),
        "labels": [{"pairs": {
            SCOPE_LABEL: labels[SCOPE_LABEL],
            TEST_LABEL: labels[TEST_LABEL],
        }}],
        "resources": [
            format!("{manifests}/install"),
            format!("{manifests}/velero-access"),
            format!("{manifests}/vpn-gateway"),
        ],
    });
    std::fs::write(
        overlay.join("kustomization.yaml"),
        serde_json::to_string_pretty(&kustomization).expect("JSON"),
    )
    .expect("writing the overlay");
    let directory = overlay.to_str().expect("a UTF-8 path");
    let rendered = ok(&kubectl(), &["kustomize", directory], None).await;
    let _ = std::fs::remove_dir_all(&overlay);
    let moves = [
        ("socle-system", scope.name("socle-system")),
        ("socle-vpn-gateway", scope.name("socle-vpn-gateway")),
        ("velero", velero_namespace.to_owned()),
    ];
    let objects = documents(&rendered);
    // Every scoped install checks what a DSI's own overlay relies on: the
    // shipped kustomizeconfig.yaml makes a nameSuffix follow the finalizer
    // policy into its binding.
    let policy = scope.name("socle-member-finalizers");
    assert_eq!(
        find(&objects, "MutatingAdmissionPolicyBinding", &policy)["spec"]["policyName"],
        policy.as_str(),
        "the binding names the renamed policy"
    );
    objects
        .into_iter()
        // The finalizer policy is left out: most tests run one controller
        // alone (the VPN's, the backups'), and a tenant finalizer set at
        // creation would hold their Members with no tenant controller to
        // release it. It is tested on its own ([`apply_member_finalizers`]).
        .filter(|object| !is_member_finalizers(object))
        // The hub is left out too: no scope runs it in a pod (the tunnel
        // tests run `socle vpn-gateway` in a network namespace), and a
        // Deployment no kubelet runs would only churn. The API server's
        // verdict on it is a server dry run (tests/install.rs).
        .filter(|object| !is_hub(object))
        .map(|mut object| {
            for (from, to) in &moves {
                relocate(&mut object, from, to);
            }
            for bindable in [DRILL_INSPECTOR, TENANT_ADMIN] {
                rename_bindable(&mut object, bindable, &scope.name(bindable));
            }
            if is_policy(&object, "socle-tenant-namespaces") {
                // The shipped policy guards every tenant namespace in the
                // cluster; the scope's copy only its own (other scopes' are
                // their copies'), so that it refuses no other operator's
                // confirmation mark.
                object["spec"]["matchConditions"]
                    .as_array_mut()
                    .expect("the policy has matchConditions")
                    .push(serde_json::json!({
                        "name": "scope",
                        "expression": format!(
                            "oldObject.metadata.name.startsWith('{}')",
                            scope.tenant_prefix()
                        ),
                    }));
            }
            object
        })
        .collect()
}

/// One scope's copy of the shipped policy that sets socle's finalizers on
/// new Members (`manifests/install/member-finalizers.yaml`): named and
/// labelled for the scope, and bound to its Members only (a cluster-wide
/// copy would put socle's finalizers on every other test's Members, which
/// no operator of theirs would release). Returns once it is in force, as a
/// dry-run create of `probe` (one of the scope's Members) shows.
pub async fn apply_member_finalizers(client: &Client, scope: &TestScope, probe: &Member) {
    let path = workspace().join("manifests/install/member-finalizers.yaml");
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let params = PatchParams::apply("socle-e2e").force();
    for mut object in documents(&yaml) {
        assert!(is_member_finalizers(&object), "{}", id(&object));
        let name = scope.name(object["metadata"]["name"].as_str().expect("a name"));
        object["metadata"]["name"] = name.clone().into();
        object["metadata"]["labels"] = serde_json::to_value(scope.labels()).expect("JSON");
        if object["kind"] == "MutatingAdmissionPolicyBinding" {
            let spec = &mut object["spec"];
            spec["policyName"] = name.clone().into();
            spec["matchResources"]["objectSelector"]["matchLabels"] =
                serde_json::json!({SCOPE_LABEL: scope.id()});
        }
        let kind = object["kind"].as_str().expect("a kind").to_owned();
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            &kind,
        ));
        Api::<DynamicObject>::all_with(client.clone(), &resource)
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|error| panic!("applying {kind} {name}: {error}"));
    }
    let members = Api::<Member>::all(client.clone());
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually(Duration::from_secs(30), || async {
        let created = members.create(&dry_run, probe).await?;
        ensure!(
            created
                .finalizers()
                .iter()
                .any(|f| f == socle::tenant::FINALIZER),
            "the finalizer policy is not in force yet"
        );
        Ok(())
    })
    .await;
}

/// Whether `object` is the shipped ValidatingAdmissionPolicy `name` (as
/// renamed for a scope).
fn is_policy(object: &Value, name: &str) -> bool {
    object["kind"] == "ValidatingAdmissionPolicy"
        && object["metadata"]["name"]
            .as_str()
            .is_some_and(|renamed| renamed.starts_with(name))
}

/// The hub's Deployment or one of its Services (manifests/vpn-gateway).
pub fn is_hub(object: &Value) -> bool {
    ["Deployment", "Service", "NetworkPolicy"]
        .contains(&object["kind"].as_str().unwrap_or_default())
        && object["metadata"]["name"]
            .as_str()
            .is_some_and(|name| name.starts_with("socle-vpn-gateway"))
}

/// The finalizer policy or its binding.
fn is_member_finalizers(object: &Value) -> bool {
    object["kind"] == "MutatingAdmissionPolicy"
        || object["kind"] == "MutatingAdmissionPolicyBinding"
}

/// The ClusterRole socle binds in drill sandboxes, as shipped.
const DRILL_INSPECTOR: &str = "socle-drill-inspector";
/// The ClusterRole socle binds to each tenant's administrators, as shipped.
const TENANT_ADMIN: &str = "socle-tenant-admin";

/// Kustomize's `nameSuffix` renames a ClusterRole but not the names rules
/// grant `bind` on: `from` becomes `to` in every ClusterRole rule on
/// `clusterroles`, so that the copy may bind its own copy of the role (and
/// of no other scope's).
fn rename_bindable(object: &mut Value, from: &str, to: &str) {
    if object["kind"] != "ClusterRole" {
        return;
    }
    let rules = object.get_mut("rules").and_then(Value::as_array_mut);
    for rule in rules.into_iter().flatten() {
        let on_cluster_roles = rule["resources"]
            .as_array()
            .is_some_and(|resources| resources.iter().any(|r| r == "clusterroles"));
        let names = rule.get_mut("resourceNames").and_then(Value::as_array_mut);
        for name in names.into_iter().flatten().filter(|_| on_cluster_roles) {
            if name == from {
                *name = to.into();
            }
        }
    }
}

/// The path of `to` relative to the directory `from`, both absolute.
fn relative(from: &Path, to: &Path) -> String {
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let up = std::iter::repeat_n("..".to_owned(), from.components().count() - common);
    let down = to
        .components()
        .skip(common)
        .map(|part| part.as_os_str().to_string_lossy().into_owned());
    up.chain(down).collect::<Vec<_>>().join("/")
}

/// Moves `object` from namespace `from` to `to`: its own namespace (or name,
/// for the Namespace itself) and the namespace of its RBAC subjects.
fn relocate(object: &mut Value, from: &str, to: &str) {
    let is_namespace = object["kind"] == "Namespace";
    let metadata = &mut object["metadata"];
    let field = if is_namespace { "name" } else { "namespace" };
    if metadata[field] == from {
        metadata[field] = to.into();
    }
    // The admission policies' bindings name socle's ServiceAccount.
    if let Some(parameter) = object.pointer_mut("/spec/paramRef/namespace")
        && *parameter == from
    {
        *parameter = to.into();
    }
    if let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects {
            if subject["namespace"] == from {
                subject["namespace"] = to.into();
            }
        }
    }
}

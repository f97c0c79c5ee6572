//! What the API tests apply and read: the CRDs, the example manifests as
//! JSON, scoped copies, and the checks of what the API server answered.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::ensure;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, Patch, PatchParams, ValidationDirective},
};
use serde_json::{Value, json};
use socle::api::{ContributionStatement, DrillReport, Member, SharedService, Tariff, UsageRecord};
use socle_e2e::{TestScope, eventually};

/// Field manager of everything these tests apply.
const MANAGER: &str = "socle-e2e";
/// How long a CRD may take to be Established on a loaded 2-core machine.
const ESTABLISH: Duration = Duration::from_secs(60);
/// The kinds whose objects live in a namespace; the others are cluster-scoped.
const NAMESPACED: [&str; 3] = ["UsageRecord", "ContributionStatement", "DrillReport"];

/// The six socle kinds.
pub const KINDS: [&str; 6] = [
    "Member",
    "SharedService",
    "Tariff",
    "UsageRecord",
    "ContributionStatement",
    "DrillReport",
];

/// Installs the CRDs as a deployment does (server-side apply; forced, since
/// these are this build's definitions whoever applied them before) and waits
/// until each is Established. Never deletes them: other tests use them.
pub async fn install_crds(client: &Client) -> Vec<CustomResourceDefinition> {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let mut installed = Vec::new();
    for crd in socle::api::crds() {
        let name = crd.name_any();
        let applied = crds
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|error| panic!("installing CRD {name}: {error}"));
        installed.push(applied);
    }
    eventually(ESTABLISH, || async {
        for crd in &installed {
            let name = crd.name_any();
            let conditions = crds
                .get(&name)
                .await?
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default();
            for wanted in ["NamesAccepted", "Established"] {
                ensure!(
                    conditions
                        .iter()
                        .any(|c| c.type_ == wanted && c.status == "True"),
                    "{name} is not {wanted}: {conditions:?}"
                );
            }
        }
        Ok(())
    })
    .await;
    installed
}

/// Server-side apply as `kubectl apply --server-side` does it: a field that
/// the schema does not declare is an error, not silently dropped.
pub fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).validation(ValidationDirective::Strict)
}

/// A dynamic client for `kind`, in `namespace` if the kind is namespaced.
pub fn dynamic_api(client: &Client, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let resource = match kind {
        "Member" => ApiResource::erase::<Member>(&()),
        "SharedService" => ApiResource::erase::<SharedService>(&()),
        "Tariff" => ApiResource::erase::<Tariff>(&()),
        "UsageRecord" => ApiResource::erase::<UsageRecord>(&()),
        "ContributionStatement" => ApiResource::erase::<ContributionStatement>(&()),
        "DrillReport" => ApiResource::erase::<DrillReport>(&()),
        other => panic!("{other} is not a socle kind"),
    };
    if NAMESPACED.contains(&kind) {
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    }
}

/// Reads `object` as the operator does, with the Rust type of its kind.
pub fn typed(kind: &str, object: Value) -> serde_json::Result<()> {
    match kind {
        "Member" => serde_json::from_value::<Member>(object).map(drop),
        "SharedService" => serde_json::from_value::<SharedService>(object).map(drop),
        "Tariff" => serde_json::from_value::<Tariff>(object).map(drop),
        "UsageRecord" => serde_json::from_value::<UsageRecord>(object).map(drop),
        "ContributionStatement" => {
            serde_json::from_value::<ContributionStatement>(object).map(drop)
        }
        "DrillReport" => serde_json::from_value::<DrillReport>(object).map(drop),
        other => panic!("{other} is not a socle kind"),
    }
}

/// `document` made the scope's: named `<base>-<id>`, in `namespace` if its
/// kind is namespaced, and labelled with the scope's labels instead of its
/// own: an operator running on the examples (`cargo xtask demo` selects the
/// Members labelled with their département) must not take the copies.
pub fn scoped(scope: &TestScope, document: &Value, base: &str, namespace: &str) -> Value {
    let mut object = document.clone();
    let metadata = &mut object["metadata"];
    metadata["name"] = json!(scope.name(base));
    metadata["labels"] = json!(scope.labels());
    let kind = document["kind"].as_str().unwrap_or_default();
    if NAMESPACED.contains(&kind) {
        metadata["namespace"] = json!(namespace);
    }
    object
}

/// Adds to `lost` the paths of `written` that `stored` lacks or holds with
/// another value: what the API server dropped or rewrote.
pub fn missing(written: &Value, stored: &Value, path: &str, lost: &mut Vec<String>) {
    match (written, stored) {
        (Value::Object(written), Value::Object(stored)) => {
            for (key, value) in written {
                let path = format!("{path}.{key}");
                match stored.get(key) {
                    Some(kept) => missing(value, kept, &path, lost),
                    None => lost.push(path),
                }
            }
        }
        (Value::Array(written), Value::Array(stored)) if written.len() == stored.len() => {
            for (index, (value, kept)) in written.iter().zip(stored).enumerate() {
                missing(value, kept, &format!("{path}[{index}]"), lost);
            }
        }
        _ if written == stored => {}
        _ => lost.push(format!("{path}: {written} became {stored}")),
    }
}

/// Asserts that the API server refused a write as invalid (422) with a
/// message containing each of `expected`.
pub fn assert_refused(result: kube::Result<()>, expected: &[&str]) {
    match result {
        Ok(()) => panic!("accepted; expected a refusal saying {expected:?}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            for text in expected {
                assert!(
                    status.message.contains(text),
                    "{:?} does not say {text:?}",
                    status.message
                );
            }
        }
        Err(error) => panic!("not an API error: {error}"),
    }
}

/// A Ready condition with status `status` ("True" or "False").
pub fn ready(status: &str) -> Value {
    json!({
        "type": "Ready",
        "status": status,
        "reason": "Probe",
        "message": "written by the api end-to-end test",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

/// The (type, status) of each condition of `member`.
pub fn conditions(member: &Member) -> Vec<(String, String)> {
    member
        .status
        .iter()
        .flat_map(|status| &status.conditions)
        .map(|condition| (condition.type_.clone(), condition.status.clone()))
        .collect()
}

/// The directory of the example manifests.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// Every YAML document below the examples directory, with its file, in a
/// stable order.
pub fn examples() -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "yaml" || extension == "yml")
            {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&examples_dir(), &mut files);
    files.sort();
    files
        .into_iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("reading {}: {error}", file.display()));
            documents(&text)
                .into_iter()
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

/// The documents of a YAML stream, empty ones (comments only) left out.
fn documents(text: &str) -> Vec<Value> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            parts.push(String::new());
        } else if let Some(part) = parts.last_mut() {
            part.push_str(line);
            part.push('\n');
        }
    }
    parts
        .iter()
        .map(|part| yaml(part))
        .filter(|document| !document.is_null())
        .collect()
}

/// The example named `name` in `file` (relative to the examples directory).
pub fn example(file: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(examples_dir().join(file))
        .unwrap_or_else(|error| panic!("reading example {file}: {error}"));
    documents(&text)
        .into_iter()
        .find(|document| document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {file}"))
}

pub fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|error| panic!("invalid YAML ({error}):\n{text}"))
}

/// Sets the field at `path` (dot-separated, array indices as numbers) to the
/// YAML `value`; `~` removes the field.
pub fn edit(document: &mut Value, path: &str, value: &str) {
    let value = yaml(value);
    let (parent_path, last) = path.rsplit_once('.').expect("a path below the root");
    let mut parent = document;
    for segment in parent_path.split('.') {
        let child = match segment.parse::<usize>() {
            Ok(index) => parent.get_mut(index),
            Err(_) => parent.get_mut(segment),
        };
        parent = child.unwrap_or_else(|| panic!("{path}: no {segment}"));
    }
    match (parent, last.parse::<usize>()) {
        (Value::Array(items), Ok(index)) if value.is_null() => {
            items.remove(index);
        }
        (Value::Array(items), Ok(index)) => items[index] = value,
        (Value::Object(fields), _) if value.is_null() => {
            fields
                .remove(last)
                .unwrap_or_else(|| panic!("{path}: nothing to remove"));
        }
        (Value::Object(fields), _) => {
            fields.insert(last.to_owned(), value);
        }
        (other, _) => panic!("{path}: cannot set a field of {other}"),
    }
}

//! Layer 1: each socle document on its own, as the API server would check it
//! — its kind and version, its metadata, the CRD's schema, then (only when
//! the schema holds, as the API server skips CEL on ill-typed objects) the
//! CRD's CEL rules.

use kube::core::cel::Validator;
use regex::Regex;
use serde_json::Value;

use super::{Report, cel::Rules, path::FieldPath, schema};
use crate::{api, manifests::Document};

/// One served version of a kind: its schema and compiled rules.
struct Version {
    name: String,
    schema: Value,
    rules: Rules,
}

/// What a socle kind is checked against.
struct Kind {
    kind: String,
    versions: Vec<Version>,
}

/// The schemas and rules of every socle CRD, built from [`api::crds`].
pub struct Schemas {
    kinds: Vec<Kind>,
    validator: Validator,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.kinds.iter().map(|kind| &kind.kind))
            .finish()
    }
}

impl Default for Schemas {
    fn default() -> Self {
        Self::new()
    }
}

/// A socle document after layer 1.
#[derive(Debug)]
pub(crate) struct Checked<'a> {
    pub document: &'a Document,
    pub kind: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// How messages name it: "Member allaire".
    pub subject: String,
    /// The object, when layer 1 found nothing wrong with it.
    pub valid: Option<Value>,
}

impl Schemas {
    pub fn new() -> Self {
        let kinds = api::crds()
            .into_iter()
            .map(|crd| {
                let kind = crd.spec.names.kind.clone();
                let versions = crd
                    .spec
                    .versions
                    .iter()
                    .filter(|version| version.served)
                    .map(|version| {
                        let schema = version
                            .schema
                            .as_ref()
                            .and_then(|s| s.open_api_v3_schema.as_ref())
                            .map(|s| serde_json::to_value(s).expect("a schema serializes"))
                            .map(with_object_fields)
                            .unwrap_or_default();
                        let api_version = format!("{}/{}", crd.spec.group, version.name);
                        let rules = Rules::new(&schema, &api_version, &crd.spec.group, &kind);
                        Version {
                            name: version.name.clone(),
                            schema,
                            rules,
                        }
                    })
                    .collect();
                Kind { kind, versions }
            })
            .collect();
        Self {
            kinds,
            validator: Validator::new(),
        }
    }

    /// Layer 1 on every document of the socle API group; other documents
    /// (Namespaces, Kustomizations…) are not socle's to check.
    pub(crate) fn check_all<'a>(
        &self,
        documents: impl IntoIterator<Item = &'a Document>,
        report: &mut Report,
    ) -> Vec<Checked<'a>> {
        documents
            .into_iter()
            .filter_map(|document| self.check(document, report))
            .collect()
    }

    fn check<'a>(&self, document: &'a Document, report: &mut Report) -> Option<Checked<'a>> {
        let Some((version, kind)) = document.socle_kind() else {
            self.near_miss(document, report);
            return None;
        };
        let metadata = document.value.get("metadata");
        let text = |key: &str| {
            metadata
                .and_then(|m| m.get(key))
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_owned)
        };
        let name = text("name");
        let mut checked = Checked {
            document,
            kind: kind.to_owned(),
            subject: format!("{kind} {}", name.as_deref().unwrap_or("(no name)")),
            name,
            namespace: text("namespace"),
            valid: None,
        };
        let Some(known) = self.kinds.iter().find(|k| k.kind == kind) else {
            let kinds: Vec<&str> = self.kinds.iter().map(|k| k.kind.as_str()).collect();
            report.at(
                document,
                &checked.subject,
                &FieldPath::root().key("kind"),
                format!(
                    "{kind:?} is not a kind of {}; its kinds are {}",
                    api::GROUP,
                    kinds.join(", ")
                ),
            );
            return Some(checked);
        };
        let Some(served) = known.versions.iter().find(|v| v.name == version) else {
            let versions: Vec<&str> = known.versions.iter().map(|v| v.name.as_str()).collect();
            report.at(
                document,
                &checked.subject,
                &FieldPath::root().key("apiVersion"),
                format!(
                    "{kind} has no version {version:?}; use {}/{}",
                    api::GROUP,
                    versions.join(" or ")
                ),
            );
            return Some(checked);
        };
        let object = match serde_json::to_value(&document.value) {
            Ok(object) => object,
            Err(error) => {
                report.at(
                    document,
                    &checked.subject,
                    &FieldPath::root(),
                    format!("cannot be read as a Kubernetes object: {error}"),
                );
                return Some(checked);
            }
        };
        let mut violations = metadata_violations(kind, &object);
        violations.extend(schema::check(&served.schema, &object, &FieldPath::root()));
        if violations.is_empty() {
            violations = served.rules.check(&self.validator, &object);
        }
        for violation in &violations {
            report.at(
                document,
                &checked.subject,
                &violation.path,
                &violation.message,
            );
        }
        if violations.is_empty() {
            checked.valid = Some(object);
        }
        Some(checked)
    }

    /// A socle kind under a misspelt or missing `apiVersion`: the API server
    /// would not know it, and the whole sync would fail. Another group's
    /// `Member` (far from socle's group name) is left alone.
    fn near_miss(&self, document: &Document, report: &mut Report) {
        let value = &document.value;
        let Some(kind) = value.get("kind").and_then(serde_yaml::Value::as_str) else {
            return;
        };
        if !self.kinds.iter().any(|k| k.kind == kind) {
            return;
        }
        let api_version = value.get("apiVersion").and_then(serde_yaml::Value::as_str);
        let group = api_version.map(|v| v.split_once('/').map_or(v, |(group, _)| group));
        if group.is_some_and(|group| schema::distance(group, api::GROUP) > 3) {
            return;
        }
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or("(no name)");
        let expected = format!("{}/{}", api::GROUP, self.versions_of(kind));
        let message = match api_version {
            Some(written) => format!("{written:?} is not socle's API: did you mean {expected}?"),
            None => format!("required field is missing: write apiVersion: {expected}"),
        };
        report.at(
            document,
            &format!("{kind} {name}"),
            &FieldPath::root().key("apiVersion"),
            message,
        );
    }

    fn versions_of(&self, kind: &str) -> String {
        self.kinds
            .iter()
            .find(|k| k.kind == kind)
            .and_then(|k| k.versions.first())
            .map_or_else(String::new, |v| v.name.clone())
    }
}

/// The root fields every object has, which a CRD's schema leaves out
/// because the API server adds them itself; `metadata` is checked by
/// [`metadata_violations`].
fn with_object_fields(mut schema: Value) -> Value {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (field, kind) in [
            ("apiVersion", "string"),
            ("kind", "string"),
            ("metadata", "object"),
        ] {
            properties
                .entry(field)
                .or_insert_with(|| serde_json::json!({ "type": kind, "x-kubernetes-preserve-unknown-fields": true }));
        }
    }
    schema
}

/// What the API server checks of `metadata` itself: the CRD schema says only
/// `type: object` there.
fn metadata_violations(kind: &str, object: &Value) -> Vec<schema::Violation> {
    let at = FieldPath::root().key("metadata");
    let mut violations = Vec::new();
    let mut fail = |path: FieldPath, message: String| {
        violations.push(schema::Violation { path, message });
    };
    let Some(metadata) = object.get("metadata").and_then(Value::as_object) else {
        // A missing or ill-typed `metadata` is the schema's to report.
        if object.get("metadata").is_none() {
            fail(at.key("name"), "required field is missing".into());
        }
        return violations;
    };
    match metadata.get("name") {
        None | Some(Value::Null) => fail(at.key("name"), "required field is missing".into()),
        Some(Value::String(name)) => {
            // A Member names its tenant namespace, hence a DNS label.
            let (limit, pattern, what) = if kind == "Member" {
                (
                    63,
                    DNS_LABEL,
                    "a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (it names the tenant namespace)",
                )
            } else {
                (
                    253,
                    DNS_SUBDOMAIN,
                    "a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters",
                )
            };
            if name.len() > limit || !matches(pattern, name) {
                fail(at.key("name"), format!("{name:?} must be {what}"));
            }
        }
        Some(other) => fail(
            at.key("name"),
            format!("must be a string, not {}", short(other)),
        ),
    }
    for (field, check_key) in [("labels", true), ("annotations", false)] {
        let Some(entries) = metadata.get(field) else {
            continue;
        };
        let Some(entries) = entries.as_object() else {
            fail(at.key(field), "must be a mapping of strings".into());
            continue;
        };
        for (key, value) in entries {
            let path = at.key(field).key(key);
            match value {
                Value::String(value) if check_key && !label_value_ok(value) => fail(
                    path.clone(),
                    format!(
                        "label value {value:?} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                    ),
                ),
                Value::String(_) => {}
                other => fail(
                    path.clone(),
                    format!("must be a string: quote it, \"{}\"", short(other)),
                ),
            }
            if check_key && !label_key_ok(key) {
                fail(
                    path,
                    format!(
                        "{key:?} is not a valid label key (an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.')"
                    ),
                );
            }
        }
    }
    violations
}

const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const LABEL_NAME: &str = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

fn label_value_ok(value: &str) -> bool {
    value.is_empty() || (value.len() <= 63 && matches(LABEL_NAME, value))
}

fn label_key_ok(key: &str) -> bool {
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    prefix.is_none_or(|p| p.len() <= 253 && matches(DNS_SUBDOMAIN, p))
        && name.len() <= 63
        && matches(LABEL_NAME, name)
}

fn short(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

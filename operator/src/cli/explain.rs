//! `socle explain member.spec.vpn`: what `kubectl explain` prints of socle's
//! kinds, offline, from the CRDs this binary carries — the doc comments of
//! `operator/src/api/` — so that a technician writing a pull request needs
//! no cluster to read them.

use std::{fmt::Write as _, io::Write as _, process::ExitCode};

use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use socle::validate::schema::closest;

/// Arguments of `socle explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A kind and a field path, as kubectl writes them: member,
    /// member.spec.vpn, usagerecords.spec.period, mbr.spec.backup.tier.
    pub field: String,
    /// Every field below, as a tree of names and types.
    #[arg(long)]
    pub recursive: bool,
}

/// Text width of descriptions, as kubectl wraps them.
const WIDTH: usize = 80;

pub fn explain(args: &ExplainArgs) -> ExitCode {
    match render(&args.field, args.recursive) {
        Ok(text) => {
            let _ = write!(std::io::stdout().lock(), "{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The explanation of `field` (`member.spec.vpn`).
fn render(field: &str, recursive: bool) -> Result<String, String> {
    let parts: Vec<&str> = field.split('.').collect();
    let crds = socle::api::crds();
    // The longest prefix naming a kind: `members.socle.redon-agglomeration.bzh.spec`.
    let (crd, fields_path) = (1..=parts.len())
        .rev()
        .find_map(|end| {
            find(&crds, &parts[..end].join(".").to_lowercase()).map(|crd| (crd, &parts[end..]))
        })
        .ok_or_else(|| {
            let kinds: Vec<String> = crds
                .iter()
                .map(|c| c.spec.names.singular.clone().unwrap_or_default())
                .collect();
            format!(
                "the server doesn't have a resource type {:?}; socle's are {}",
                parts[0],
                kinds.join(", ")
            )
        })?;
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .or_else(|| crd.spec.versions.first())
        .ok_or("a CRD without versions")?;
    let mut schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .ok_or("a CRD without a schema")?;
    with_object_fields(&mut schema);
    let mut path = vec![crd.spec.names.singular.clone().unwrap_or_default()];
    let mut name = None;
    for &part in fields_path {
        let properties = fields(&schema);
        let Some(next) = properties.and_then(|p| p.get(part)) else {
            let names = properties
                .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_default();
            let guess = closest(part, names.into_iter())
                .map(|close| format!(" (did you mean {close}?)"))
                .unwrap_or_default();
            return Err(format!(
                "field {part:?} does not exist in {}{guess}",
                path.join(".")
            ));
        };
        schema = next.clone();
        path.push(part.to_owned());
        name = Some(part.to_owned());
    }
    let mut out = format!(
        "GROUP:      {}\nKIND:       {}\nVERSION:    {}\n\n",
        crd.spec.group, crd.spec.names.kind, version.name
    );
    if let Some(name) = &name {
        let _ = write!(out, "FIELD: {name} <{}>\n\n", type_name(&schema));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let _ = write!(
            out,
            "ENUM:\n    {}\n\n",
            values.iter().map(short).collect::<Vec<_>>().join(", ")
        );
    }
    out += "DESCRIPTION:\n";
    out += &wrap(description(&schema).unwrap_or("<empty>"), 4);
    if let Some(properties) = fields(&schema) {
        out += "\nFIELDS:\n";
        if recursive {
            tree(&schema, 1, &mut out);
        } else {
            let required = required(&schema);
            for (key, field) in properties {
                let _ = writeln!(
                    out,
                    "  {key}\t<{}>{}",
                    type_name(field),
                    marker(&required, key)
                );
                out += &wrap(description(field).unwrap_or("<no description>"), 4);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The CRD a kubectl resource name designates: plural, singular, kind,
/// short name, or plural.group.
fn find<'a>(
    crds: &'a [CustomResourceDefinition],
    resource: &str,
) -> Option<&'a CustomResourceDefinition> {
    crds.iter().find(|crd| {
        let names = &crd.spec.names;
        let qualified = format!("{}.{}", names.plural, crd.spec.group);
        [
            Some(names.plural.as_str()),
            names.singular.as_deref(),
            Some(names.kind.to_lowercase().as_str()),
            Some(qualified.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|name| name == resource)
            || names
                .short_names
                .iter()
                .flatten()
                .any(|name| name == resource)
    })
}

/// The fields of an object, or of an array's items.
fn fields(schema: &Value) -> Option<&serde_json::Map<String, Value>> {
    schema
        .get("properties")
        .or_else(|| {
            schema
                .get("items")
                .and_then(|items| items.get("properties"))
        })
        .and_then(Value::as_object)
}

fn required(schema: &Value) -> Vec<String> {
    let of = |s: &Value| {
        s.get("required").and_then(Value::as_array).map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    of(schema)
        .or_else(|| schema.get("items").and_then(of))
        .unwrap_or_default()
}

fn marker(required: &[String], key: &str) -> &'static str {
    if required.iter().any(|r| r == key) {
        " -required-"
    } else {
        ""
    }
}

fn description(schema: &Value) -> Option<&str> {
    schema
        .get("description")
        .or_else(|| {
            schema
                .get("items")
                .and_then(|items| items.get("description"))
        })
        .and_then(Value::as_str)
}

/// kubectl's names of types: `string`, `integer`, `Object`, `[]Object`, `[]string`.
fn type_name(schema: &Value) -> String {
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "[]{}",
            schema
                .get("items")
                .map_or_else(|| "Object".to_owned(), type_name)
        ),
        Some("object") => "Object".to_owned(),
        Some(other) => other.to_owned(),
        None if schema.get("x-kubernetes-int-or-string").is_some() => "IntOrString".to_owned(),
        None => "Object".to_owned(),
    }
}

fn tree(schema: &Value, depth: usize, out: &mut String) {
    let Some(properties) = fields(schema) else {
        return;
    };
    let required = required(schema);
    for (key, field) in properties {
        let _ = writeln!(
            out,
            "{}{key}\t<{}>{}",
            "  ".repeat(depth),
            type_name(field),
            marker(&required, key)
        );
        tree(field, depth + 1, out);
    }
}

/// The fields every object has, which a CRD's schema leaves to the API server.
fn with_object_fields(schema: &mut Value) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (field, kind, text) in [
            (
                "apiVersion",
                "string",
                "APIVersion defines the versioned schema of this representation of an object.",
            ),
            (
                "kind",
                "string",
                "Kind is a string value representing the REST resource this object represents.",
            ),
            (
                "metadata",
                "object",
                "Standard object's metadata: name, namespace, labels, annotations.",
            ),
        ] {
            properties
                .entry(field)
                .or_insert_with(|| serde_json::json!({"type": kind, "description": text}));
        }
    }
}

fn short(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// `text` wrapped at [`WIDTH`], each line indented by `indent`; its
/// paragraphs (blank lines) kept, its other line breaks re-flowed.
fn wrap(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (index, paragraph) in text.split("\n\n").enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && indent + line.len() + 1 + word.len() > WIDTH {
                let _ = writeln!(out, "{pad}{line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_explained_from_the_embedded_crds() {
        let text = render("member.spec.vpn", false).unwrap();
        assert!(text.starts_with("GROUP:      socle.redon-agglomeration.bzh\nKIND:       Member\nVERSION:    v1alpha1\n\nFIELD: vpn <Object>\n"), "{text}");
        assert!(
            text.contains(
                "    Site-to-site WireGuard tunnels to the commune's routers, one per site.\n"
            ),
            "{text}"
        );
        assert!(text.contains("  gateway\t<string> -required-\n"), "{text}");
        assert!(text.contains("  sites\t<[]Object>\n"), "{text}");
        // The single-router form: optional, since `sites` may stand instead.
        assert!(text.contains("  siteCidrs\t<[]string>\n"), "{text}");
        assert!(text.contains("  dryRun\t<boolean>\n"), "{text}");
    }

    #[test]
    fn kinds_go_by_every_kubectl_name() {
        for name in [
            "member",
            "members",
            "Member",
            "mbr",
            "members.socle.redon-agglomeration.bzh",
        ] {
            assert!(
                render(name, false)
                    .unwrap()
                    .contains("KIND:       Member\n"),
                "{name}"
            );
        }
        let tier = render("mbr.spec.backup.tier", false).unwrap();
        assert!(
            tier.contains("ENUM:\n    Essential, Standard, Critical\n"),
            "{tier}"
        );
        let period = render("usagerecords.spec.period", true).unwrap();
        assert!(period.contains("  end\t<string> -required-\n"), "{period}");
    }

    #[test]
    fn a_misspelt_field_is_named_with_a_guess() {
        assert_eq!(
            render("member.spec.vpnn", false).unwrap_err(),
            "field \"vpnn\" does not exist in member.spec (did you mean vpn?)"
        );
        assert!(
            render("commune", false)
                .unwrap_err()
                .contains("socle's are member, ")
        );
    }
}

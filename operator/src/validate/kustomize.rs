//! A directory read as Flux and Argo CD read it: where a directory holds a
//! `kustomization.yaml`, `kustomize build` applies what it lists and nothing
//! else.
//!
//! - A file of socle objects that its directory's kustomization does not
//!   list (nor, up the tree, the directory itself) is never applied: a
//!   mistake, on that file.
//! - An entry naming a file or directory that does not exist fails
//!   `kustomize build`, hence the whole sync: a mistake, on that entry.
//! - A patch, a transformer's configuration and the like are not objects:
//!   their documents are not checked as objects.
//! - A kustomization's `namespace:` is the namespace of the namespaced
//!   objects it lists, the outermost one winning, as kustomize sets it.
//!
//! The kustomizations themselves are not built: bases from URLs, generators
//! and patches' effects are kustomize's business (`kustomize build . |
//! socle validate -` checks its output).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Component, Path, PathBuf},
};

use serde_yaml::Value;

use super::{Report, path::FieldPath, shown};
use crate::{api, manifests::Document};

/// The file names kustomize looks for in a directory.
const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The fields naming files, each entry a path or a `{path: …}`, and whether
/// what they name is objects to apply (`resources`, `components`) or
/// something else (patches, configurations…).
const FIELDS: [(&str, bool); 11] = [
    ("resources", true),
    ("components", true),
    ("crds", false),
    ("patches", false),
    ("patchesStrategicMerge", false),
    ("patchesJson6902", false),
    ("replacements", false),
    ("configurations", false),
    ("transformers", false),
    ("generators", false),
    ("validators", false),
];

/// One `kustomization.yaml` and the paths it names.
#[derive(Debug)]
struct Kustomization {
    /// Its document (index into the documents).
    document: usize,
    namespace: Option<String>,
    /// `resources` and `components`: what it applies.
    objects: BTreeSet<PathBuf>,
}

/// Resolves the kustomizations among `documents`: reports what they leave
/// out or name wrongly, drops the documents that are not objects (patches…),
/// and sets the namespace kustomize would set.
pub(super) fn resolve(mut documents: Vec<Document>, report: &mut Report) -> Vec<Document> {
    let mut by_dir: BTreeMap<PathBuf, Kustomization> = BTreeMap::new();
    let mut not_objects: BTreeSet<PathBuf> = BTreeSet::new();
    for (index, document) in documents.iter().enumerate() {
        if !is_kustomization(document) {
            continue;
        }
        let dir = normalize(document.path.parent().unwrap_or(Path::new("")));
        let mut kustomization = Kustomization {
            document: index,
            namespace: document
                .value
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            objects: BTreeSet::new(),
        };
        for (path, entry, objects) in entries(&document.value) {
            let target = normalize(&dir.join(&entry));
            if !exists(&target) {
                report.at(
                    document,
                    "Kustomization",
                    &path,
                    format!(
                        "{entry}: no such file or directory beside {}: kustomize build fails, and with it the whole sync (Flux, Argo CD)",
                        shown(&document.path).display()
                    ),
                );
            } else if target.is_dir() && !FILE_NAMES.iter().any(|n| target.join(n).is_file()) {
                report.at(
                    document,
                    "Kustomization",
                    &path,
                    format!(
                        "{entry}: the directory has no kustomization.yaml, which kustomize needs to build it"
                    ),
                );
            }
            if objects {
                kustomization.objects.insert(target);
            } else {
                not_objects.insert(target);
            }
        }
        by_dir.insert(dir, kustomization);
    }
    documents.retain(|document| !not_objects.contains(&normalize(&document.path)));
    let namespaced = namespaced_kinds();
    let mut reported = BTreeSet::new();
    for index in 0..documents.len() {
        let Some((_, kind)) = documents[index].socle_kind() else {
            continue;
        };
        let kind = kind.to_owned();
        let file = normalize(&documents[index].path);
        match reach(&file, &by_dir) {
            Reach::Listed(Some(namespace)) if namespaced.contains(&kind) => {
                set_namespace(&mut documents[index].value, &namespace);
            }
            Reach::Listed(_) => {}
            Reach::Unlisted { by, child } => {
                if reported.insert(file) {
                    let document = &documents[index];
                    let kustomization = &documents[by_dir[&by].document];
                    let name = child
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    report.at(
                        document,
                        &subject(document, &kind),
                        &FieldPath::root(),
                        format!(
                            "{} does not list {name}: Flux and Argo CD would never apply it; add \"- {name}\" to its resources",
                            shown(&kustomization.path).display()
                        ),
                    );
                }
            }
        }
    }
    documents
}

/// Whether a file's objects are applied, and the namespace kustomize gives them.
enum Reach {
    Listed(Option<String>),
    /// The kustomization of directory `by` does not list `child`.
    Unlisted {
        by: PathBuf,
        child: PathBuf,
    },
}

/// Walks up from `file` through the directories holding a kustomization,
/// each of which must list the one below.
fn reach(file: &Path, by_dir: &BTreeMap<PathBuf, Kustomization>) -> Reach {
    let mut child = file;
    let mut namespace = None;
    while let Some(dir) = child.parent() {
        let Some(kustomization) = by_dir.get(dir) else {
            break;
        };
        if !kustomization.objects.contains(child) {
            return Reach::Unlisted {
                by: dir.to_owned(),
                child: child.to_owned(),
            };
        }
        // The outermost kustomization's namespace is the one that stays.
        if kustomization.namespace.is_some() {
            namespace.clone_from(&kustomization.namespace);
        }
        child = dir;
    }
    Reach::Listed(namespace)
}

fn is_kustomization(document: &Document) -> bool {
    let named = document
        .path
        .file_name()
        .is_some_and(|name| FILE_NAMES.iter().any(|n| name == *n));
    let value = &document.value;
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    named
        && api_version.is_none_or(|v| v.starts_with("kustomize.config.k8s.io/"))
        && kind.is_none_or(|k| k == "Kustomization" || k == "Component")
}

/// The local paths a kustomization names: `(where, entry, holds objects)`.
/// URLs and inline patches are not paths.
fn entries(value: &Value) -> Vec<(FieldPath, String, bool)> {
    let mut found = Vec::new();
    for (field, objects) in FIELDS {
        let Some(list) = value.get(field).and_then(Value::as_sequence) else {
            continue;
        };
        for (index, item) in list.iter().enumerate() {
            let at = FieldPath::root().key(field).index(index);
            let (path, entry) = match item {
                Value::String(entry) => (at, entry.as_str()),
                Value::Mapping(_) => match item.get("path").and_then(Value::as_str) {
                    Some(entry) => (at.key("path"), entry),
                    None => continue,
                },
                _ => continue,
            };
            if is_local(entry) {
                found.push((path, entry.to_owned(), objects));
            }
        }
    }
    found
}

/// Not a URL, a remote base or an inline patch.
fn is_local(entry: &str) -> bool {
    !(entry.contains("://")
        || entry.contains('?')
        || entry.contains('\n')
        || entry.starts_with("git@")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|host| entry.starts_with(host)))
}

fn exists(path: &Path) -> bool {
    // `normalize` makes the current directory the empty path.
    if path.as_os_str().is_empty() {
        true
    } else {
        path.exists()
    }
}

/// The path without `.` and with `..` applied, as kustomize joins them.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let climbable = normal
                    .components()
                    .next_back()
                    .is_some_and(|last| matches!(last, Component::Normal(_)));
                if climbable {
                    normal.pop();
                } else {
                    normal.push("..");
                }
            }
            other => normal.push(other),
        }
    }
    normal
}

/// socle's namespaced kinds (UsageRecord…), from its CRDs.
fn namespaced_kinds() -> BTreeSet<String> {
    api::crds()
        .into_iter()
        .filter(|crd| crd.spec.scope == "Namespaced")
        .map(|crd| crd.spec.names.kind)
        .collect()
}

fn set_namespace(value: &mut Value, namespace: &str) {
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_mapping_mut) {
        metadata.insert("namespace".into(), namespace.into());
    }
}

fn subject(document: &Document, kind: &str) -> String {
    let name = document
        .value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("(no name)");
    format!("{kind} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_as_kustomize_joins_them() {
        assert_eq!(
            normalize(Path::new("./members/../usage/")),
            Path::new("usage")
        );
        assert_eq!(normalize(Path::new("./")), Path::new(""));
        assert_eq!(normalize(Path::new("../base")), Path::new("../base"));
        assert_eq!(
            normalize(Path::new("/repo/members/./a.yaml")),
            Path::new("/repo/members/a.yaml")
        );
    }

    #[test]
    fn remote_bases_and_inline_patches_are_not_paths() {
        assert!(is_local("members"));
        assert!(is_local("../base/socle.yaml"));
        assert!(!is_local("https://github.com/org/repo//manifests?ref=v1"));
        assert!(!is_local("github.com/org/repo/manifests"));
        assert!(!is_local("apiVersion: v1\nkind: X\n"));
    }
}

//! Reading socle manifests from a directory, without a cluster: what the
//! offline commands (`socle contribution`, `socle report`, `socle validate`)
//! work from, e.g. a GitOps repository checkout.
//!
//! Every YAML document of every `.yaml`/`.yml` file below the directory is
//! read, each with the file and line it starts on; documents of other kinds
//! (Namespaces, Secrets…) are skipped. A file that cannot be read or parsed is
//! an error naming the file and the line.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::Deserialize;

use crate::{
    api::{DrillReport, GROUP, Member, QualityRecord, UsageRecord},
    billing::Ledger,
};

/// Why a directory of manifests could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Where a document starts, for messages people can jump to.
#[derive(Debug)]
struct Located<'a> {
    path: &'a Path,
    line: usize,
}

impl Located<'_> {
    fn error(&self, message: impl fmt::Display) -> ManifestError {
        ManifestError::Invalid {
            path: self.path.to_owned(),
            line: self.line,
            message: message.to_string(),
        }
    }
}

/// One manifest file, read but not yet parsed.
#[derive(Clone, Debug)]
pub struct ManifestFile {
    pub path: PathBuf,
    pub text: String,
}

/// One YAML document of a manifest file and where it is.
#[derive(Clone, Debug)]
pub struct Document {
    pub path: PathBuf,
    /// Line (1-based) the document starts on.
    pub line: usize,
    /// The document's own text, from `line` to the next `---`: to point a
    /// message at one of its fields rather than at its first line.
    pub text: String,
    pub value: serde_yaml::Value,
}

impl Document {
    /// `apiVersion` and `kind` when the document is of the socle API group.
    pub fn socle_kind(&self) -> Option<(&str, &str)> {
        let api_version = self.value.get("apiVersion")?.as_str()?;
        let (group, version) = api_version.split_once('/')?;
        (group == GROUP).then_some(())?;
        Some((version, self.value.get("kind")?.as_str().unwrap_or("")))
    }
}

impl ManifestFile {
    /// Reads `path`; an unreadable file (or one that is not UTF-8) is an error.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            text,
        })
    }

    /// The file's documents, each with its first line. Empty documents (a
    /// trailing `---`) are skipped; a syntax error names its line.
    pub fn documents(&self) -> Result<Vec<Document>, ManifestError> {
        let lines: Vec<&str> = self.text.lines().collect();
        let starts = document_start_lines(&self.text);
        Ok(documents(&self.path, &self.text)?
            .into_iter()
            .map(|(index, line, value)| {
                // A document runs to the line before the next one's `---`.
                let end = starts
                    .get(index + 1)
                    .map_or(lines.len(), |next| next.saturating_sub(2));
                let text = lines
                    .get(line.saturating_sub(1)..end.max(line.saturating_sub(1)))
                    .unwrap_or_default()
                    .join("\n");
                Document {
                    path: self.path.clone(),
                    line,
                    text,
                    value,
                }
            })
            .collect())
    }
}

/// Every manifest file below `dir` (or `dir` itself when it is a file), in
/// a stable (sorted) order.
pub fn read_files(dir: &Path) -> Result<Vec<ManifestFile>, ManifestError> {
    let paths = if dir.is_file() {
        vec![dir.to_owned()]
    } else {
        yaml_files(dir)?
    };
    paths.iter().map(|path| ManifestFile::read(path)).collect()
}

/// Reads every socle object below `dir` into a [`Ledger`].
pub fn load_ledger(dir: &Path) -> Result<Ledger, ManifestError> {
    let mut ledger = Ledger::default();
    for file in read_files(dir)? {
        for document in file.documents()? {
            let at = Located {
                path: &document.path,
                line: document.line,
            };
            // `kubectl get … -o yaml` wraps the objects in a List: an export
            // of the cluster reads as the objects themselves.
            if document
                .value
                .get("kind")
                .and_then(serde_yaml::Value::as_str)
                == Some("List")
            {
                let items = document
                    .value
                    .get("items")
                    .and_then(serde_yaml::Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                for item in items {
                    add_document(&mut ledger, &at, item)?;
                }
            } else {
                add_document(&mut ledger, &at, document.value)?;
            }
        }
    }
    Ok(ledger)
}

/// Every DrillReport below `dir`: the restore drills' evidence, exported
/// from the cluster (`kubectl get drillreports -o yaml`), which the annual
/// report's quality of service reads as it reads them from the cluster.
pub fn load_drills(dir: &Path) -> Result<Vec<DrillReport>, ManifestError> {
    load_kind(dir, "DrillReport")
}

/// Every QualityRecord below `dir`: the months of backups and tunnels the
/// operator recorded, exported from the cluster (`kubectl get
/// qualityrecords -n socle-system -o yaml`), read as from the cluster.
pub fn load_quality_records(dir: &Path) -> Result<Vec<QualityRecord>, ManifestError> {
    load_kind(dir, "QualityRecord")
}

/// Every socle object of `kind` below `dir`, alone or in the List `kubectl
/// get -o yaml` wraps them in.
fn load_kind<K: serde::de::DeserializeOwned>(
    dir: &Path,
    wanted: &str,
) -> Result<Vec<K>, ManifestError> {
    let mut objects = Vec::new();
    for file in read_files(dir)? {
        for document in file.documents()? {
            let at = Located {
                path: &document.path,
                line: document.line,
            };
            let ours = document
                .value
                .get("apiVersion")
                .and_then(serde_yaml::Value::as_str)
                .and_then(|v| v.split_once('/'))
                .is_some_and(|(group, _)| group == GROUP);
            let kind = document
                .value
                .get("kind")
                .and_then(serde_yaml::Value::as_str);
            if ours && kind == Some(wanted) {
                objects.push(typed(&at, document.value)?);
            } else if kind == Some("List") {
                let items = document
                    .value
                    .get("items")
                    .and_then(serde_yaml::Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                for item in items {
                    if item.get("kind").and_then(serde_yaml::Value::as_str) == Some(wanted) {
                        objects.push(typed(&at, item)?);
                    }
                }
            }
        }
    }
    Ok(objects)
}

fn add_document(
    ledger: &mut Ledger,
    at: &Located<'_>,
    document: serde_yaml::Value,
) -> Result<(), ManifestError> {
    let api_version = document
        .get("apiVersion")
        .and_then(serde_yaml::Value::as_str);
    let kind = document.get("kind").and_then(serde_yaml::Value::as_str);
    if api_version
        .and_then(|v| v.split_once('/'))
        .map(|(group, _)| group)
        != Some(GROUP)
    {
        return Ok(());
    }
    match kind {
        Some("Member") => ledger.members.push(typed::<Member>(at, document)?.into()),
        Some("UsageRecord") => {
            let record: UsageRecord = typed(at, document)?;
            ledger.usage.push(Arc::new(record.into()));
        }
        Some("SharedService") => ledger.services.push(typed(at, document)?),
        Some("Tariff") => ledger.tariffs.push(typed(at, document)?),
        _ => {}
    }
    Ok(())
}

fn typed<T: for<'de> Deserialize<'de>>(
    at: &Located<'_>,
    document: serde_yaml::Value,
) -> Result<T, ManifestError> {
    let kind = document
        .get("kind")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("?")
        .to_owned();
    serde_yaml::from_value(document).map_err(|error| at.error(format!("{kind}: {error}")))
}

/// The documents of one file with their index and the line each starts on.
/// Empty documents (a trailing `---`) are skipped.
fn documents(
    path: &Path,
    text: &str,
) -> Result<Vec<(usize, usize, serde_yaml::Value)>, ManifestError> {
    let starts = document_start_lines(text);
    let mut documents = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let line = starts.get(index).copied().unwrap_or(1);
        let value = serde_yaml::Value::deserialize(document).map_err(|error| {
            let line = error.location().map_or(line, |location| location.line());
            Located { path, line }.error(error)
        })?;
        if !value.is_null() {
            documents.push((index, line, value));
        }
    }
    Ok(documents)
}

/// First line of each document: line 1, and the line after each `---`
/// separator; a separator before any content opens the first document.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    let mut content = false;
    let mut first_separator = true;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if line == "---" || line.starts_with("--- ") {
            if first_separator && !content {
                starts.clear();
            }
            first_separator = false;
            starts.push(index + 2);
        } else if !trimmed.is_empty() && !trimmed.starts_with('#') {
            content = true;
        }
    }
    starts
}

/// `.yaml` and `.yml` files below `dir`, in a stable (sorted) order.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let read = |path: &Path| {
        std::fs::read_dir(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in read(&current)? {
            let path = entry
                .map_err(|source| ManifestError::Read {
                    path: current.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_located_by_their_first_line() {
        let text = "# comment\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n";
        assert_eq!(document_start_lines(text), vec![1, 5]);
        let leading = "---\nkind: A\n---\nkind: B\n";
        assert_eq!(document_start_lines(leading), vec![2, 4]);
    }

    #[test]
    fn each_document_keeps_its_own_text_and_first_line() {
        let file = ManifestFile {
            path: "a.yaml".into(),
            text: "# comment\nkind: A\n---\n---\nkind: B\nspec: {}\n".into(),
        };
        let documents = file.documents().unwrap();
        let found: Vec<(usize, &str)> = documents
            .iter()
            .map(|d| (d.line, d.text.as_str()))
            .collect();
        assert_eq!(found, [(1, "# comment\nkind: A"), (5, "kind: B\nspec: {}")]);
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let path = Path::new("members/allaire.yaml");
        let error = documents(path, "kind: Member\nspec:\n  a: [1,\n").unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("members/allaire.yaml:"), "{message}");
        assert!(!message.starts_with("members/allaire.yaml:1:"), "{message}");
    }

    #[test]
    fn the_examples_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
        let ledger = load_ledger(&dir).unwrap();
        assert_eq!(ledger.members.len(), 31);
        assert_eq!(ledger.tariffs.len(), 1);
        assert!(ledger.services.len() >= 2);
    }

    #[test]
    fn an_export_of_the_cluster_reads_as_its_objects() {
        let dir = std::env::temp_dir().join(format!("socle-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let member = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../manifests/examples/members/allaire.yaml"),
        )
        .unwrap();
        let item = member.replace('\n', "\n    ");
        let list = format!("apiVersion: v1\nkind: List\nitems:\n  -\n    {item}\n");
        std::fs::write(dir.join("objects.yaml"), list).unwrap();
        let ledger = load_ledger(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            ledger.unwrap().members.len(),
            1,
            "`kubectl get members -o yaml`"
        );
    }

    #[test]
    fn the_shipped_tariff_is_the_convention() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
        let ledger = load_ledger(&dir).unwrap();
        assert_eq!(
            ledger.tariffs[0].spec.grid,
            crate::contribution::TariffGrid::convention()
        );
    }
}

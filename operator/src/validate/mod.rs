//! `socle validate`: every manifest of a GitOps repository checked offline,
//! before the pull request is merged.
//!
//! Two layers, each reported as `file:line: message`, one message per mistake:
//!
//! 1. What the API server would refuse (`objects`): the structural schema
//!    of the generated CRDs ([`schema`]) and their CEL rules (`cel`), plus
//!    the object metadata the API server checks itself (name, labels).
//! 2. What the API server cannot see, because it spans objects or needs the
//!    engine (`rules`): duplicate names, INSEE codes and display names,
//!    references to Members and SharedServices that do not exist, VPN site
//!    networks that overlap (between members, with the tunnel pool, with the
//!    Datacenter's ranges), termination without the 12 months of notice of
//!    article 2.4, Tariffs with gaps, and every member the contribution
//!    engine cannot price (a missing `tariffOverride`…).
//!
//! An object with a layer-1 mistake is left out of layer 2, whose messages
//! would only repeat it; its name still counts, so that what refers to it is
//! not reported as a dangling reference too.
//!
//! A directory is read as Flux and Argo CD read it ([`kustomize`]): a file
//! its directory's `kustomization.yaml` does not list is reported (it would
//! never be applied), a patch is not an object, and a kustomization's
//! `namespace:` is the namespace of what it lists.
//!
//! A finding is a mistake (the check fails) or a [`Severity::Warning`]
//! (something to look at twice, which does not fail it). With the files a
//! pull request changed ([`Options::changed`]), a conflict between two files
//! is reported on the changed one, naming the other: the unchanged one is
//! what the cluster already runs.

mod cel;
mod kustomize;
mod objects;
pub mod path;
mod rules;
pub mod schema;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
};

pub use self::objects::Schemas;
use self::path::{FieldPath, locate};
use crate::{
    manifests::{Document, ManifestError, ManifestFile, read_files},
    vpn::VpnSettings,
};

/// Annotation of a Member citing the written agreement of both parties that
/// shortens the notice of termination (article 2.4: "sauf accord écrit et
/// signé des deux parties"); with it, the 12 months are not checked.
pub const NOTICE_AGREEMENT: &str = "socle.redon-agglomeration.bzh/notice-agreement";

/// How much a finding weighs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A mistake: the pull request must not be merged as it is.
    #[default]
    Error,
    /// Worth a second look, but it may be what was meant: the check passes.
    Warning,
}

/// One mistake (or warning), at the line it is written on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}: {level}{}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

/// The operator settings some checks depend on; the defaults are `socle run`'s.
#[derive(Clone, Debug)]
pub struct Options {
    /// Prefix of tenant namespaces (`socle run --tenant-prefix`).
    pub tenant_prefix: String,
    /// The Datacenter's own networks (`socle run --cluster-cidrs`).
    pub cluster_cidrs: Vec<String>,
    /// The day of the check: a notice of termination not recorded
    /// (`noticeDate`) is counted from it (article 2.4).
    pub as_of: jiff::civil::Date,
    /// The operator's namespace (`socle run`'s): it reads UsageRecords there
    /// only.
    pub operator_namespace: String,
    /// The files a pull request changed (canonical paths), when known: a
    /// conflict is reported on the changed file rather than the later one.
    pub changed: Option<BTreeSet<PathBuf>>,
    /// The files a pull request changed or removed, as they were before it:
    /// a Member they defined that is gone is a departure (a warning).
    pub before: Vec<ManifestFile>,
    /// Whether names of other objects (a VPN gateway, a backup target, a
    /// Member) are looked up: false for an object checked alone, without
    /// its repository (`socle member new` without `--repo`).
    pub references: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tenant_prefix: "commune-".into(),
            cluster_cidrs: VpnSettings::default().cluster_cidrs,
            as_of: jiff::Zoned::now().date(),
            operator_namespace: "socle-system".into(),
            changed: None,
            before: Vec::new(),
            references: true,
        }
    }
}

impl Options {
    /// `(kind, name)` of the objects the changed files held before the change.
    fn objects_before(&self) -> BTreeSet<(String, String)> {
        self.before
            .iter()
            .filter_map(|file| file.documents().ok())
            .flatten()
            .map(|document| identity(&document))
            .collect()
    }

    /// Whether the pull request changed `file` (false when not known).
    fn changed(&self, file: &Path) -> bool {
        self.changed.as_ref().is_some_and(|changed| {
            std::fs::canonicalize(file).is_ok_and(|file| changed.contains(&file))
        })
    }
}

/// What a validation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// The mistakes and warnings, sorted by file and line.
    pub findings: Vec<Finding>,
    /// How many socle objects were checked (a wrong directory checks none).
    pub objects: usize,
}

impl Validation {
    /// Whether a finding fails the check (warnings do not).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

/// Checks every manifest below `dir` (or the file `dir`), reading its
/// `kustomization.yaml` files as Flux and Argo CD would. A YAML syntax
/// error is a finding like any other; only a file or directory that cannot
/// be read is an error.
pub fn validate_dir(dir: &Path, options: &Options) -> Result<Validation, ManifestError> {
    let files = read_files(dir)?;
    Ok(validate_files(&files, true, options))
}

/// Checks files already read: `kustomize build` output on stdin, say
/// (`kustomizations: false`), or a directory's files.
pub fn validate_files(
    files: &[ManifestFile],
    kustomizations: bool,
    options: &Options,
) -> Validation {
    let mut report = Report::default();
    let mut documents = Vec::new();
    for file in files {
        match file.documents() {
            Ok(found) => documents.extend(found),
            Err(error) => {
                let (line, message) = match error {
                    ManifestError::Invalid { line, message, .. } => (line, message),
                    ManifestError::Read { source, .. } => (1, source.to_string()),
                };
                report.push(&file.path, line, format!("not valid YAML: {message}"));
            }
        }
    }
    if kustomizations {
        documents = kustomize::resolve(documents, &mut report);
    }
    let mut validation = check(&documents, options);
    validation.findings.extend(report.finish());
    validation.findings.sort();
    validation
}

/// What the checks say of `new` among the objects of `repository` (or
/// alone, when there is none): the mistakes and warnings written in `new`.
/// For a generator: `new` comes last, so that a conflict is reported on it.
pub fn check_new(
    repository: &[ManifestFile],
    new: &ManifestFile,
    options: &Options,
) -> Vec<Finding> {
    let mut files = repository.to_vec();
    files.push(new.clone());
    let shown_new = shown(&new.path);
    validate_files(&files, false, options)
        .findings
        .into_iter()
        .filter(|finding| finding.file == shown_new)
        .collect()
}

/// Checks documents already read: both layers, findings sorted by file and
/// line. What a pull request adds goes last, so that a conflict is
/// reported on it: an object of a changed file that was not there before the
/// change (by kind and name), when the changed files are known.
pub fn check(documents: &[Document], options: &Options) -> Validation {
    let schemas = Schemas::new();
    let mut report = Report::default();
    let before = options.objects_before();
    let (established, added): (Vec<&Document>, Vec<&Document>) =
        documents.iter().partition(|document| {
            !options.changed(&document.path) || before.contains(&identity(document))
        });
    let checked = schemas.check_all(established.into_iter().chain(added), &mut report);
    rules::check(&checked, options, &mut report);
    Validation {
        findings: report.finish(),
        objects: checked.len(),
    }
}

/// `(kind, name)` of a document, as far as it says.
fn identity(document: &Document) -> (String, String) {
    let text = |value: Option<&serde_yaml::Value>| {
        value
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let value = &document.value;
    (
        text(value.get("kind")),
        text(value.get("metadata").and_then(|m| m.get("name"))),
    )
}

/// Where findings are collected; it turns a field path into a line.
#[derive(Debug, Default)]
pub(crate) struct Report {
    findings: Vec<Finding>,
}

impl Report {
    /// A mistake of `subject` ("Member allaire"), written in `document` at `path`.
    pub(crate) fn at(
        &mut self,
        document: &Document,
        subject: &str,
        path: &FieldPath,
        message: impl fmt::Display,
    ) {
        let line = locate(&document.text, document.line, path);
        let message = if path.is_root() {
            format!("{subject}: {message}")
        } else {
            format!("{subject}: {path}: {message}")
        };
        self.push(&document.path, line, message);
    }

    /// A warning about `subject`, written in `document` at `path`: the check
    /// still passes.
    pub(crate) fn warn(
        &mut self,
        document: &Document,
        subject: &str,
        path: &FieldPath,
        message: impl fmt::Display,
    ) {
        self.at(document, subject, path, message);
        if let Some(last) = self.findings.last_mut() {
            last.severity = Severity::Warning;
        }
    }

    fn push(&mut self, file: &Path, line: usize, message: String) {
        self.findings.push(Finding {
            file: shown(file),
            line,
            severity: Severity::Error,
            message,
        });
    }

    fn finish(mut self) -> Vec<Finding> {
        self.findings.sort();
        self.findings.dedup();
        self.findings
    }
}

/// A file as messages name it: `members/allaire.yaml`, not `./members/allaire.yaml`.
pub(crate) fn shown(file: &Path) -> PathBuf {
    file.strip_prefix(".").unwrap_or(file).to_owned()
}

/// Where another document is, for a message that points at both.
pub(crate) fn place(document: &Document, path: &FieldPath) -> String {
    format!(
        "{}:{}",
        shown(&document.path).display(),
        locate(&document.text, document.line, path)
    )
}

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

mod cel;
mod objects;
pub mod path;
mod rules;
pub mod schema;
#[cfg(test)]
mod tests;

use std::{
    fmt,
    path::{Path, PathBuf},
};

pub use self::objects::Schemas;
use self::path::{FieldPath, locate};
use crate::{
    manifests::{Document, ManifestError, read_files},
    vpn::VpnSettings,
};

/// Annotation of a Member citing the written agreement of both parties that
/// shortens the notice of termination (article 2.4: "sauf accord écrit et
/// signé des deux parties"); with it, the 12 months are not checked.
pub const NOTICE_AGREEMENT: &str = "socle.redon-agglomeration.bzh/notice-agreement";

/// One mistake, at the line it is written on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
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
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tenant_prefix: "commune-".into(),
            cluster_cidrs: VpnSettings::default().cluster_cidrs,
            as_of: jiff::Zoned::now().date(),
        }
    }
}

/// What a validation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// The mistakes, sorted by file and line.
    pub findings: Vec<Finding>,
    /// How many socle objects were checked (a wrong directory checks none).
    pub objects: usize,
}

/// Checks every manifest below `dir` (or the file `dir`). A YAML syntax error
/// is a finding like any other; only a file or directory that cannot be
/// read is an error.
pub fn validate_dir(dir: &Path, options: &Options) -> Result<Validation, ManifestError> {
    let mut report = Report::default();
    let mut documents = Vec::new();
    for file in read_files(dir)? {
        match file.documents() {
            Ok(found) => documents.extend(found),
            Err(ManifestError::Invalid {
                path,
                line,
                message,
            }) => report.push(&path, line, format!("not valid YAML: {message}")),
            Err(error) => return Err(error),
        }
    }
    let mut validation = check(&documents, options);
    validation.findings.extend(report.finish());
    validation.findings.sort();
    Ok(validation)
}

/// Checks documents already read: both layers, findings sorted by file and line.
pub fn check(documents: &[Document], options: &Options) -> Validation {
    let schemas = Schemas::new();
    let mut report = Report::default();
    let checked = schemas.check_all(documents, &mut report);
    rules::check(&checked, options, &mut report);
    Validation {
        findings: report.finish(),
        objects: checked.len(),
    }
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

    fn push(&mut self, file: &Path, line: usize, message: String) {
        self.findings.push(Finding {
            file: shown(file),
            line,
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

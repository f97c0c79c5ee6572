//! A Member the change removes — its file deleted, or its `metadata.name`
//! changed, which is the same to the cluster — is deleted once merged
//! (prune) and its commune offboarded: a warning, since it is the last step
//! of a departure and a mistake anywhere else.

use super::Catalog;
use crate::validate::{Options, Report, path::FieldPath};

pub(super) fn check(catalog: &Catalog<'_>, options: &Options, report: &mut Report) {
    let name = FieldPath::parse("metadata.name");
    for file in &options.before {
        let Ok(documents) = file.documents() else {
            continue;
        };
        for document in &documents {
            if document.socle_kind().map(|(_, kind)| kind) != Some("Member") {
                continue;
            }
            let Some(member) = document
                .value
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(serde_yaml::Value::as_str)
            else {
                continue;
            };
            if catalog.defines("Member", member) {
                continue;
            }
            report.warn(
                document,
                &format!("Member {member}"),
                &name,
                "this change removes it (its file, or its metadata.name): once merged, Flux or Argo CD deletes it (prune) and socle offboards the commune. That is the last step of a departure, once every statement of the commune is Issued (README, \"Offboarding a commune\"); a Member's name never changes",
            );
        }
    }
}

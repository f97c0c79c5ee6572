//! Layer 2: the rules the API server cannot see, because they span objects
//! or need the contribution engine. They run on the objects layer 1 found
//! valid, read into the API types.

mod billing;
mod departures;
mod hosting;
mod identity;
mod notice;
mod references;
mod usage;

use std::collections::BTreeSet;

use kube::ResourceExt;
use serde::de::DeserializeOwned;

use super::{Options, Report, objects::Checked, path::FieldPath, place};
use crate::api::{Member, SharedService, Tariff, UsageRecord};

/// A valid object, read into its API type, with where it is written.
#[derive(Debug)]
pub(crate) struct Entry<'a, T> {
    pub object: T,
    pub checked: &'a Checked<'a>,
}

impl<T> Entry<'_, T> {
    /// Reports a mistake of this object at `path`.
    pub fn report(&self, report: &mut Report, path: &FieldPath, message: impl std::fmt::Display) {
        report.at(self.checked.document, &self.checked.subject, path, message);
    }

    /// Warns about this object at `path`: the check still passes.
    pub fn warn(&self, report: &mut Report, path: &FieldPath, message: impl std::fmt::Display) {
        report.warn(self.checked.document, &self.checked.subject, path, message);
    }

    /// Where `path` of this object is, for a message about another object.
    pub fn place(&self, path: &FieldPath) -> String {
        place(self.checked.document, path)
    }
}

/// The valid objects, by kind, plus the names of every object of the
/// directory (valid or not) for resolving references.
#[derive(Debug, Default)]
pub(crate) struct Catalog<'a> {
    pub members: Vec<Entry<'a, Member>>,
    pub services: Vec<Entry<'a, SharedService>>,
    pub tariffs: Vec<Entry<'a, Tariff>>,
    pub usage: Vec<Entry<'a, UsageRecord>>,
    /// `(kind, name)` of every named object, valid or not.
    pub defined: BTreeSet<(String, String)>,
}

impl Catalog<'_> {
    /// Whether an object of `kind` named `name` is in the directory, even
    /// an invalid one (its own mistakes are reported where it is written).
    pub fn defines(&self, kind: &str, name: &str) -> bool {
        self.defined.contains(&(kind.to_owned(), name.to_owned()))
    }

    /// The names of `kind`, for "did you mean".
    pub fn names<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.defined
            .iter()
            .filter(move |(k, _)| k == kind)
            .map(|(_, name)| name.as_str())
    }

    pub fn members(&self) -> Vec<Member> {
        self.members.iter().map(|e| e.object.clone()).collect()
    }

    pub fn services(&self) -> Vec<SharedService> {
        self.services.iter().map(|e| e.object.clone()).collect()
    }
}

/// Every layer-2 rule, on the objects of `checked`.
pub(crate) fn check(checked: &[Checked<'_>], options: &Options, report: &mut Report) {
    let unique = references::without_duplicates(checked, report);
    let mut catalog = Catalog {
        defined: checked
            .iter()
            .filter_map(|c| Some((c.kind.clone(), c.name.clone()?)))
            .collect(),
        ..Catalog::default()
    };
    for entry in unique {
        let Some(valid) = &entry.valid else { continue };
        match entry.kind.as_str() {
            "Member" => read(entry, valid, report, &mut catalog.members),
            "SharedService" => read(entry, valid, report, &mut catalog.services),
            "Tariff" => read(entry, valid, report, &mut catalog.tariffs),
            "UsageRecord" => read(entry, valid, report, &mut catalog.usage),
            _ => {}
        }
    }
    references::check(&catalog, options, report);
    identity::check(&catalog, report);
    billing::check_tariffs(&mut catalog, report);
    notice::check(&catalog, options.as_of, report);
    hosting::check(&catalog, options, report);
    usage::check(&catalog, options, report);
    departures::check(&catalog, options, report);
    billing::check_engine(&catalog, report);
}

/// Reads a valid object into its API type. The schema accepting what the
/// type refuses is a bug of socle's CRDs, but the manifest is still unusable.
fn read<'a, T: DeserializeOwned + ResourceExt>(
    checked: &'a Checked<'a>,
    value: &serde_json::Value,
    report: &mut Report,
    into: &mut Vec<Entry<'a, T>>,
) {
    match serde_json::from_value(value.clone()) {
        Ok(object) => into.push(Entry { object, checked }),
        Err(error) => report.at(
            checked.document,
            &checked.subject,
            &FieldPath::root(),
            format!("cannot be read as a {}: {error}", checked.kind),
        ),
    }
}

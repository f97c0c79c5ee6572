//! Names and references: one object per name, and every name an object
//! refers to defined in the directory.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{ResourceExt, core::Selector};

use super::Catalog;
use crate::validate::{Options, Report, objects::Checked, path::FieldPath, place, schema::closest};

/// The objects of `checked` minus the second (third…) object of a name,
/// each reported at its own `metadata.name`.
pub(super) fn without_duplicates<'c, 'a>(
    checked: &'c [Checked<'a>],
    report: &mut Report,
) -> Vec<&'c Checked<'a>> {
    let name_path = FieldPath::root().key("metadata").key("name");
    let mut first: BTreeMap<(&str, Option<&str>, &str), &Checked<'_>> = BTreeMap::new();
    let mut unique = Vec::new();
    for entry in checked {
        let Some(name) = entry.name.as_deref() else {
            unique.push(entry);
            continue;
        };
        let key = (entry.kind.as_str(), entry.namespace.as_deref(), name);
        if let Some(earlier) = first.get(&key) {
            report.at(
                entry.document,
                &entry.subject,
                &name_path,
                format!(
                    "{} {name} is already defined at {}; names are unique per kind",
                    entry.kind,
                    place(earlier.document, &name_path)
                ),
            );
        } else {
            first.insert(key, entry);
            unique.push(entry);
        }
    }
    unique
}

/// Usage records and shared-service subscriptions name Members that exist;
/// subscriber selectors parse.
pub(super) fn check(catalog: &Catalog<'_>, options: &Options, report: &mut Report) {
    for record in catalog.usage.iter().filter(|_| options.references) {
        let member = &record.object.spec.member;
        if !catalog.defines("Member", member) {
            record.report(
                report,
                &FieldPath::parse("spec.member"),
                unknown_member(catalog, member, "the record would not be billed"),
            );
        }
    }
    for service in &catalog.services {
        let subscribers = &service.object.spec.subscribers;
        for (index, seat) in subscribers.members.iter().enumerate() {
            if !catalog.defines("Member", &seat.member) {
                let path = FieldPath::root()
                    .key("spec")
                    .key("subscribers")
                    .key("members")
                    .index(index)
                    .key("member");
                service.report(
                    report,
                    &path,
                    unknown_member(
                        catalog,
                        &seat.member,
                        &format!(
                            "its share of {} would not be billed",
                            service.object.name_any()
                        ),
                    ),
                );
            }
        }
        if let Some(selector) = &subscribers.selector
            && let Err(error) = Selector::try_from(LabelSelector::clone(selector))
        {
            service.report(
                report,
                &FieldPath::parse("spec.subscribers.selector"),
                format!("is not a valid label selector ({error}); no member would match it"),
            );
        }
    }
}

fn unknown_member(catalog: &Catalog<'_>, name: &str, consequence: &str) -> String {
    let guess = closest(name, catalog.names("Member"))
        .map(|close| format!(" (did you mean {close}?)"))
        .unwrap_or_default();
    format!("{name} is not a Member defined here{guess}; {consequence}")
}

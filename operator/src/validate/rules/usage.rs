//! UsageRecords where the operator reads them, in the unit their meter counts.
//!
//! - A record outside the operator's namespace is never read: the fact it
//!   records is never billed (`socle run` reads its own namespace only).
//! - A unit other than the meter's is a warning: "day" on level1-half-days
//!   suggests days were counted where half-days are billed.

use kube::ResourceExt;

use super::Catalog;
use crate::{
    api::usage_record::meter_unit,
    validate::{Options, Report, path::FieldPath},
};

pub(super) fn check(catalog: &Catalog<'_>, options: &Options, report: &mut Report) {
    namespaces(catalog, options, report);
    units(catalog, report);
}

fn namespaces(catalog: &Catalog<'_>, options: &Options, report: &mut Report) {
    let expected = &options.operator_namespace;
    for record in &catalog.usage {
        match record.object.namespace() {
            Some(namespace) if namespace == *expected => {}
            Some(namespace) => record.report(
                report,
                &FieldPath::parse("metadata.namespace"),
                format!(
                    "{namespace} is not the operator's namespace, {expected}: socle reads UsageRecords there only, so this one would never be billed"
                ),
            ),
            None => record.report(
                report,
                &FieldPath::parse("metadata"),
                format!(
                    "no namespace: socle reads UsageRecords in {expected} only; write namespace: {expected} in metadata (or in the kustomization.yaml listing the file)"
                ),
            ),
        }
    }
}

fn units(catalog: &Catalog<'_>, report: &mut Report) {
    for record in &catalog.usage {
        let spec = &record.object.spec;
        let Some(unit) = meter_unit(&spec.meter) else {
            continue;
        };
        if !spec.unit.is_empty() && spec.unit != unit {
            record.warn(
                report,
                &FieldPath::parse("spec.unit"),
                format!(
                    "{:?} is not the unit of {}, which counts in {unit}s: check that quantity {} is in {unit}s (unit may be left out: the meter implies it)",
                    spec.unit, spec.meter, spec.quantity
                ),
            );
        }
    }
}

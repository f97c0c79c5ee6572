//! `UsageRecord`: one billable or inventory fact, immutable once written.
//!
//! The name is deterministic (member, meter, period), so that a retry, a
//! restart or a second replica writing the same fact finds it already there:
//! the name is the idempotency key. A correction is a new record naming the
//! one it corrects in `spec.corrects`.
//!
//! A record written by hand for a pull request may leave out `unit` (the
//! meter implies it: [`UsageRecordSpec::unit`]) and `source` (the API server
//! sets `dsi`, the technician's).

use jiff::civil::Date;
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use crate::contribution::{METERS, Meter, Usage, model::Cents};

/// One fact for the contribution engine or the annual inventory.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "One immutable billable or inventory fact.",
    version = "v1alpha1",
    kind = "UsageRecord",
    namespaced,
    shortname = "usage",
    category = "socle",
    printcolumn = r#"{"name":"Member","type":"string","jsonPath":".spec.member"}"#,
    printcolumn = r#"{"name":"Meter","type":"string","jsonPath":".spec.meter"}"#,
    printcolumn = r#"{"name":"Quantity","type":"integer","jsonPath":".spec.quantity"}"#,
    printcolumn = r#"{"name":"Exercise","type":"integer","jsonPath":".spec.exercise"}"#,
    printcolumn = r#"{"name":"Corrects","type":"string","priority":1,"jsonPath":".spec.corrects"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("a UsageRecord is immutable: record a new one with spec.corrects naming this one"))]
#[x_kube(validation = Rule::new("self.period.end >= self.period.start").message("period.end must not be before period.start").field_path(".period.end"))]
#[x_kube(validation = Rule::new("self.meter != 'pass-through' || has(self.amountCents)").message("a pass-through record needs amountCents (the invoice amount)").field_path(".amountCents"))]
#[x_kube(validation = Rule::new("self.meter != 'pass-through' || has(self.evidence)").message("a pass-through record needs evidence (the invoice reference)").field_path(".evidence"))]
#[x_kube(validation = Rule::new("self.meter != 'level1-half-days' || self.quantity >= 1").message("level1-half-days counts whole half-days: quantity must be at least 1").field_path(".quantity"))]
#[serde(rename_all = "camelCase")]
pub struct UsageRecordSpec {
    /// Name of the Member the fact belongs to.
    #[schemars(length(min = 1, max = 63))]
    pub member: String,
    /// What is measured: level1-half-days and pass-through are billed; the
    /// other meters feed the annual inventory.
    #[schemars(extend("enum" = METERS))]
    pub meter: String,
    /// How much, in the meter's unit (whole half-days for level1-half-days).
    #[schemars(range(min = 0))]
    pub quantity: u64,
    /// Unit of the quantity, for people: "half-day", "GiB-month",
    /// "tunnel-month", … Absent: the meter's own (half-day for
    /// level1-half-days).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 32))]
    pub unit: String,
    /// Exercise (calendar year) the fact is billed in.
    #[schemars(range(min = 2020, max = 2100))]
    pub exercise: i16,
    /// The days the fact covers.
    pub period: Period,
    /// pass-through only: the invoice amount, in euro cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub amount_cents: Option<Cents>,
    /// Who recorded it: "socle" (the operator), "dsi" (a technician, the
    /// default), "finance".
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 32))]
    pub source: String,
    /// Evidence: the mission for Level-1 engineering, the invoice reference
    /// for a pass-through, the object measured for inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub evidence: Option<String>,
    /// Name of the UsageRecord this one replaces; only the last of a chain counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrects: Option<String>,
}

/// Who wrote a record that does not say: a technician of the DSI.
fn default_source() -> String {
    "dsi".to_owned()
}

/// The unit each meter counts in, for a record that does not say.
pub fn meter_unit(meter: &str) -> Option<&'static str> {
    Some(match meter {
        "level1-half-days" => "half-day",
        "pass-through" => "invoice",
        "subscription-days" => "day",
        "storage-gib-months" | "backup-gib-months" => "GiB-month",
        "vpn-tunnel-months" => "tunnel-month",
        "backups-purged" => "backup",
        "drills" => "drill",
        "seats" => "seat",
        _ => return None,
    })
}

impl UsageRecordSpec {
    /// The unit of the quantity: the record's own, else its meter's.
    pub fn unit(&self) -> &str {
        if self.unit.is_empty() {
            meter_unit(&self.meter).unwrap_or_default()
        } else {
            &self.unit
        }
    }
}

/// A range of days, both included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Period {
    /// First day (YYYY-MM-DD).
    pub start: Date,
    /// Last day (YYYY-MM-DD).
    pub end: Date,
}

/// The engine's view of a record: what prices and inventories a member. It is
/// also what the billing controller caches of each record.
impl From<UsageRecord> for Usage {
    fn from(record: UsageRecord) -> Self {
        let id = record.name_any();
        let spec = record.spec;
        let meter = Meter::from(spec.meter.as_str());
        // Only an invoice's reference is cited; the evidence of the other
        // meters is for people reading the record, and tens of thousands of
        // them would be kept in the billing cache for nothing.
        let reference = (meter == Meter::PassThrough)
            .then_some(spec.evidence)
            .flatten();
        Self {
            id,
            member: spec.member.into(),
            meter,
            quantity: spec.quantity,
            exercise: spec.exercise,
            amount_cents: spec.amount_cents,
            reference,
            corrects: spec.corrects,
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt as _;

    use super::*;

    #[test]
    fn every_meter_implies_a_unit() {
        for meter in METERS {
            assert!(meter_unit(meter).is_some(), "{meter} has no unit");
        }
    }

    /// The fields a record written by hand may leave out (DESIGN.md).
    #[test]
    fn a_hand_written_record_needs_neither_unit_nor_source() {
        let record: UsageRecord = serde_yaml::from_str(
            "apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: UsageRecord\n\
             metadata: {name: a, namespace: socle-system}\n\
             spec: {member: a, meter: level1-half-days, quantity: 3, exercise: 2026, period: {start: \"2026-03-12\", end: \"2026-03-12\"}}\n",
        )
        .unwrap();
        assert_eq!(record.spec.unit(), "half-day");
        assert_eq!(record.spec.source, "dsi");
        let schema = serde_json::to_value(UsageRecord::crd()).unwrap();
        let spec =
            &schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let required = spec["required"].as_array().unwrap();
        assert!(!required.contains(&"unit".into()), "{required:?}");
        assert!(!required.contains(&"source".into()), "{required:?}");
        assert_eq!(spec["properties"]["source"]["default"], "dsi");
    }
}

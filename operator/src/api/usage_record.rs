//! `UsageRecord`: one billable or inventory fact, immutable once written.
//!
//! The name is deterministic (member, meter, period), so that a retry, a
//! restart or a second replica writing the same fact finds it already there:
//! the name is the idempotency key. A correction is a new record naming the
//! one it corrects in `spec.corrects`.

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
    /// Unit of the quantity, for people: "half-day", "GiB-month", "tunnel-month", …
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
    /// Who recorded it: "socle" (the operator), "dsi" (a technician), "finance".
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

//! The socle API, group `socle.redon-agglomeration.bzh`, version `v1alpha1`.
//!
//! One file per kind. Every field carries a doc comment: they become the
//! descriptions `kubectl explain` prints. Validation lives in the schema
//! (patterns, enums, bounds, CEL rules) so that the API server itself rejects
//! bad input with a message a DSI technician understands.

pub mod contribution_statement;
pub mod drill_report;
pub mod member;
pub mod quality_record;
pub mod shared_service;
pub mod tariff;
pub mod usage_record;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use self::{
    contribution_statement::{ContributionStatement, ContributionStatementSpec},
    drill_report::{DrillReport, DrillReportSpec},
    member::{Member, MemberSpec, MemberStatus},
    quality_record::{QualityRecord, QualityRecordSpec},
    shared_service::{SharedService, SharedServiceSpec},
    tariff::{Tariff, TariffSpec},
    usage_record::{UsageRecord, UsageRecordSpec},
};

/// API group of every socle kind.
pub const GROUP: &str = "socle.redon-agglomeration.bzh";

/// Every CRD socle defines, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        Member::crd(),
        SharedService::crd(),
        Tariff::crd(),
        UsageRecord::crd(),
        ContributionStatement::crd(),
        DrillReport::crd(),
        QualityRecord::crd(),
    ]
    .into_iter()
    .map(with_kubernetes_formats)
    .collect()
}

/// schemars names integer formats after Rust types (`uint32`, `int16`, …);
/// the API server knows only `int32` and `int64` and warns on every apply.
/// The bounds stay in `minimum`/`maximum`, so nothing is lost by renaming.
fn with_kubernetes_formats(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(format)) = map.get_mut("format") {
                    match format.as_str() {
                        "int8" | "int16" | "uint8" | "uint16" => *format = "int32".into(),
                        "uint32" | "uint64" => *format = "int64".into(),
                        _ => {}
                    }
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(crd).expect("a CRD serializes");
    walk(&mut value);
    serde_json::from_value(value).expect("renaming formats keeps a valid CRD")
}

//! `ContributionStatement`: what one member owes for one exercise under
//! article 7, line by line. Draft while the exercise runs; Issued when the
//! finance department titles it, and immutable from then on.

use jiff::civil::Date;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contribution::{Line, TitleKind, model::Cents};

/// One member's contribution for one exercise.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "One member's article 7 contribution for one exercise.",
    version = "v1alpha1",
    kind = "ContributionStatement",
    namespaced,
    status = "ContributionStatementStatus",
    shortname = "cstmt",
    category = "socle",
    printcolumn = r#"{"name":"Member","type":"string","jsonPath":".spec.member"}"#,
    printcolumn = r#"{"name":"Exercise","type":"integer","jsonPath":".spec.exercise"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".spec.state"}"#,
    printcolumn = r#"{"name":"Title","type":"string","jsonPath":".spec.titleNumber"}"#,
    printcolumn = r#"{"name":"Total (cents)","type":"integer","jsonPath":".spec.totalCents"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("oldSelf.state != 'Issued' || self == oldSelf").message("this statement is Issued (a titre de recettes exists): it can no longer change; bill a correction as a new UsageRecord in a later exercise"))]
#[x_kube(validation = Rule::new("self.state != 'Issued' || (has(self.titleNumber) && has(self.issuedOn))").message("an Issued statement needs titleNumber and issuedOn").field_path(".titleNumber"))]
#[serde(rename_all = "camelCase")]
pub struct ContributionStatementSpec {
    /// Name of the Member.
    #[schemars(length(min = 1, max = 63))]
    pub member: String,
    /// Exercise (calendar year).
    #[schemars(range(min = 2020, max = 2100))]
    pub exercise: i16,
    /// The debtor as printed on the titre (the Member's displayName when computed):
    /// an issued titre stays readable even if the Member is later deleted.
    #[schemars(length(min = 1, max = 100))]
    pub debtor: String,
    /// INSEE code of the debtor.
    #[schemars(length(min = 5, max = 5))]
    pub insee_code: String,
    /// SIRET of the debtor, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    /// Draft while the exercise runs; Issued once titled.
    pub state: StatementState,
    /// Annual: the exercise's contribution, titled early in the next year
    /// (named `<member>-<exercise>`). Audit: the audit alone, titled at its
    /// report's delivery (`<member>-<exercise>-audit`), so that it is never
    /// titled again with the contribution (ruling 8).
    #[serde(default)]
    pub title_kind: TitleKind,
    /// Audit titles: the day the audit report was delivered, from which the
    /// title may be issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_report_date: Option<Date>,
    /// Why an annual statement was issued before its exercise ended (`socle
    /// statements issue --before-end`): titles of N are normally issued in N+1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 500))]
    pub issued_before_end: Option<String>,
    /// Title number (numéro de titre), sequential per exercise, set on issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_number: Option<String>,
    /// Day the statement was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_on: Option<Date>,
    /// Deliberation of the Tariff that priced it.
    #[schemars(length(min = 1, max = 100))]
    pub tariff: String,
    /// The lines, in the engine's order.
    #[schemars(length(max = 200))]
    pub lines: Vec<Line>,
    /// Sum of the lines, in euro cents.
    pub total_cents: Cents,
}

/// Life of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StatementState {
    /// Kept up to date by the operator while the exercise runs.
    Draft,
    /// Titled by the finance department: frozen.
    Issued,
}

/// What the operator observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContributionStatementStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions (UpToDate).
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

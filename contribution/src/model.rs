//! The vocabulary of article 7, shared by the engine and the API.
//!
//! These types carry serde and JSON-schema derives because the `Member` and
//! `Tariff` custom resources embed them directly: the price grid a technician
//! writes in a `Tariff` is exactly the grid the engine computes with, so there
//! is no second copy to drift. They hold no Kubernetes type.

use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An amount of money in euro cents. Never a float.
pub type Cents = i64;

/// The three offers a member can subscribe to (convention articles 3 and 4).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Offer {
    /// Socle annexe, level 1: the one-off security and organisation audit (art. 7.2.1).
    Audit,
    /// Socle annexe, level 2: group purchasing (art. 7.2.2), yearly.
    GroupementAchats,
    /// The full shared service, levels 1 to 4 (art. 7.1), yearly.
    SocleComplet,
}

impl Offer {
    /// The offer's name as the convention and the titres de recettes print it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Audit => "Audit",
            Self::GroupementAchats => "Groupement d'achats",
            Self::SocleComplet => "Socle complet",
        }
    }
}

/// The legal population used for billing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Population {
    /// Number of inhabitants (INSEE legal population, "population municipale").
    pub count: u32,
    /// INSEE reference year of that figure.
    pub year: u16,
}

/// One step of a member's adhesion history, each decided by a deliberation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The offer subscribed to: `Audit`, `GroupementAchats` or `SocleComplet`.
    pub offer: Offer,
    /// First day the subscription is in force (YYYY-MM-DD).
    pub effective_date: Date,
    /// Last day in force (YYYY-MM-DD), set when notice of termination was given
    /// (article 2.4: twelve months of notice). Absent while the subscription runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Date>,
    /// The day notice of termination was given (YYYY-MM-DD), article 2.4:
    /// `endDate` is then at least the Tariff's `noticeMonths` (12 in the
    /// convention) after it, unless a written agreement is cited. Without
    /// it, `socle validate` counts the notice from the day it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_date: Option<Date>,
    /// Audit only: the day the audit report was delivered (YYYY-MM-DD). The audit
    /// is billed in the exercise of this date; without it, it is not billable yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_report_date: Option<Date>,
    /// Reference of the deliberation or decision, e.g. "DEL-2025-012".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

/// Prices decided case by case by the pilotage commission, for a member the
/// grid cannot price (above 8 000 inhabitants or with its own IT department,
/// article 7.1 (*)).
///
/// Each field present replaces the grid's price for this member. A field absent
/// falls back to the grid only where the grid prices the member; where it does
/// not, the engine reports the missing field instead of guessing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TariffOverride {
    /// Yearly fixed part of the socle complet contribution, in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub fixed_cents: Option<Cents>,
    /// Socle complet price per inhabitant per year, in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub per_inhabitant_cents: Option<Cents>,
    /// Price of the audit, in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub audit_cents: Option<Cents>,
    /// Yearly Level-1 engineering allowance, in half-days. Absent: the grid's
    /// allowance where the grid prices this member's socle complet, otherwise
    /// none (every half-day is billed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level1_allowance_half_days: Option<u32>,
    /// Reference of the deliberation that set these prices, e.g. `CC_2026_031`.
    pub decision: String,
}

/// One population bracket of the grid. Bounds are inclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bracket {
    /// Label shown on statements and in reports, e.g. "de 1500 à moins de 3000".
    pub label: String,
    /// Smallest population in this bracket (inclusive).
    pub min_population: u32,
    /// Largest population in this bracket (inclusive); absent for the last bracket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_population: Option<u32>,
    /// Yearly fixed part of the socle complet, in cents. Absent: the grid does not
    /// price this bracket and members in it need a tariffOverride (art. 7.1 (*)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub socle_complet_fixed_cents: Option<Cents>,
    /// Price of the audit, in cents (art. 7.2.1). Absent: override needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub audit_cents: Option<Cents>,
    /// Yearly fixed part of the groupement d'achats, in cents (art. 7.2.2).
    #[schemars(range(min = 0))]
    pub groupement_fixed_cents: Cents,
    /// Yearly Level-1 engineering allowance of a socle complet member, in
    /// half-days (art. 3.2). Absent: override needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level1_allowance_half_days: Option<u32>,
}

/// A staffing level of the shared service (article 7 preamble).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaffingLevel {
    /// Number of socle complet members from which this level applies.
    pub min_socle_complet_members: u32,
    /// Full-time equivalents at this level (levels, not cumulative).
    pub etp: u32,
}

/// Budget imputation codes (nature accounts) the finance department keys on
/// each titre de recettes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImputationCodes {
    /// Socle complet contribution and its audit deduction.
    pub socle_complet: String,
    /// Audit.
    pub audit: String,
    /// Groupement d'achats contribution.
    pub groupement_achats: String,
    /// Level-1 engineering beyond the allowance.
    pub level1: String,
    /// Costs passed through at cost (group purchases, invoices paid as mandataire).
    pub pass_through: String,
}

/// The article 7 price grid as data, versioned by deliberation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TariffGrid {
    /// Deliberation that adopted this grid.
    pub deliberation: String,
    /// First exercise (calendar year) this grid prices.
    pub valid_from_exercise: i16,
    /// Population brackets, in increasing order, covering every population.
    pub brackets: Vec<Bracket>,
    /// Socle complet price per inhabitant per year, in cents (art. 7.1).
    #[schemars(range(min = 0))]
    pub socle_complet_per_inhabitant_cents: Cents,
    /// Groupement d'achats price per inhabitant per year, in cents (art. 7.2.2).
    #[schemars(range(min = 0))]
    pub groupement_per_inhabitant_cents: Cents,
    /// Price of one Level-1 engineering half-day beyond the allowance, in cents (art. 7.1.1).
    #[schemars(range(min = 0))]
    pub level1_half_day_cents: Cents,
    /// The audit is deducted from the first socle complet contribution when the
    /// socle complet takes effect at most this many months after the audit report (art. 7.2.1).
    pub audit_deduction_months: u8,
    /// Notice of termination, in months (art. 2.4).
    pub notice_months: u8,
    /// Yearly cost of one ETP of the shared service, in cents (art. 7 preamble).
    #[schemars(range(min = 0))]
    pub etp_annual_cost_cents: Cents,
    /// Staffing levels by number of socle complet members, in increasing order.
    pub staffing: Vec<StaffingLevel>,
    /// Budget imputation codes for the titres de recettes.
    pub imputation: ImputationCodes,
}

/// How the cost of a shared service is split among its subscribers (article 2.3.4
/// for invoices paid as mandataire, article 7.2.2 for group-purchase solutions).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum AllocationKey {
    /// In proportion to each subscriber's legal population.
    PerInhabitant,
    /// In proportion to the seats (licences, accounts) each subscriber holds.
    PerSeat,
    /// In equal parts.
    Equal,
}

//! What the engine computes from: plain facts read from the custom resources
//! by the caller, with no Kubernetes type and nothing left to fetch.

use std::sync::Arc;

use super::model::{AllocationKey, Cents, Population, Subscription, TariffGrid, TariffOverride};

/// One adherent, as its `Member` resource describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberFacts {
    /// `metadata.name`: the stable key every other fact refers to.
    pub name: String,
    /// Name printed on the titre de recettes.
    pub display_name: String,
    /// INSEE commune code.
    pub insee_code: String,
    /// Legal population used for billing.
    pub population: Population,
    /// Article 7.1 (*): a member with its own IT department needs a tariff override
    /// for the socle complet.
    pub has_it_department: bool,
    /// Adhesion history.
    pub subscriptions: Vec<Subscription>,
    /// Prices decided by the pilotage commission, replacing the grid's.
    pub tariff_override: Option<TariffOverride>,
}

/// Meters socle knows, the values `spec.meter` of a `UsageRecord` may take.
/// `level1-half-days` and `pass-through` are billed; the others are the
/// inventory of article 6.2 (quantitative inventory per member).
pub const METERS: [&str; 9] = [
    "level1-half-days",
    "pass-through",
    "subscription-days",
    "storage-gib-months",
    "vpn-tunnel-months",
    "backup-gib-months",
    "backups-purged",
    "drills",
    "seats",
];

/// What a usage record measures.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Meter {
    /// `level1-half-days`: whole half-days of Level-1 engineering (art. 7.1.1).
    Level1HalfDays,
    /// `pass-through`: an invoice paid by the agglomeration as mandataire and
    /// refunded at cost (art. 2.3.4). The record carries the amount and the
    /// invoice reference.
    PassThrough,
    /// Any other meter: recorded for the inventory, never billed. Shared:
    /// a handful of meter names among tens of thousands of records.
    Inventory(Arc<str>),
}

impl From<&str> for Meter {
    /// Reads `spec.meter` of a `UsageRecord`.
    fn from(name: &str) -> Self {
        match name {
            "level1-half-days" => Self::Level1HalfDays,
            "pass-through" => Self::PassThrough,
            other => Self::Inventory(other.into()),
        }
    }
}

/// One `UsageRecord`: an immutable billable or inventory fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Record name, unique: the idempotency key.
    pub id: String,
    /// `metadata.name` of the member the fact belongs to. Shared: each
    /// member has a few dozen records a year.
    pub member: Arc<str>,
    /// What is measured.
    pub meter: Meter,
    /// How much, in the meter's unit (whole half-days for Level 1).
    pub quantity: u64,
    /// Exercise (calendar year) the fact is billed in.
    pub exercise: i16,
    /// Pass-through only: the amount of the invoice, all of it, in cents.
    pub amount_cents: Option<Cents>,
    /// Pass-through only: the invoice reference cited on the titre de recettes.
    pub reference: Option<String>,
    /// Id of the record this one replaces. The replaced record no longer counts;
    /// records can replace replacements, so only the last of a chain counts.
    pub corrects: Option<String>,
}

/// One cost of a shared service to split among its subscribers (article 2.3.4
/// for invoices paid as mandataire, article 7.2.2 for group-purchase solutions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCost {
    /// Name of the `SharedService`.
    pub service: String,
    /// What is paid for, printed on each share's line.
    pub label: String,
    /// Contract or invoice reference cited on each share's line.
    pub reference: String,
    /// Exercise the cost is billed in.
    pub exercise: i16,
    /// The whole cost, in cents.
    pub cost_cents: Cents,
    /// How the cost is split.
    pub allocation: AllocationKey,
    /// Subscribers as (member name, seats). Seats only matter for
    /// [`AllocationKey::PerSeat`]; a member listed twice holds the sum.
    pub subscribers: Vec<(String, u32)>,
}

/// Everything one computation needs, borrowed from the caller.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The grid in force for the exercise; choosing it is the caller's job.
    pub grid: &'a TariffGrid,
    /// Every member; each name once.
    pub members: &'a [MemberFacts],
    /// Usage records of any exercise: corrections may cross exercises.
    pub usage: &'a [Usage],
    /// Shared costs of any exercise; only those of `exercise` are billed.
    pub shared_costs: &'a [SharedCost],
    /// The exercise (calendar year) to compute.
    pub exercise: i16,
}

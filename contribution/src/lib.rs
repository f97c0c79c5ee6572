//! The article 7 contribution engine, and the annual report it feeds.
//!
//! Pure: plain facts in ([`Input`]), statements out ([`Outcome`]), no
//! Kubernetes type, no I/O, no clock, no floating point (money is integer
//! euro cents). The operator (`socle`) reads the facts from its custom
//! resources and re-exports this crate as `socle::contribution`.
//!
//! The specification is ten rulings on how article 7 of the convention is
//! read. This table is where they are written down: each in one line here,
//! in full in the doc of the module that implements it, and tested one table
//! per ruling in `tests/` (`rulings`, `usage_billing`, `annual_report`).
//!
//! | ruling | what it settles | module |
//! |---|---|---|
//! | 1 brackets | a member's population falls in one bracket, both bounds included: under 1 500, 1 500 to 2 999, 3 000 to 8 000, above 8 000 | `grid` ([`TariffGrid::convention`]) |
//! | 2 socle complet | a fixed part by bracket plus a price per inhabitant (art. 7.1); above 8 000 inhabitants or with its own IT department, the grid does not apply and the member needs the pilotage commission's override, else it is in error (art. 7.1 (*)) | `annual`, `tariff` |
//! | 3 audit | billed once, in the exercise in which its report is delivered (art. 7.2.1) | `audit` |
//! | 4 audit deduction | deducted from the first socle complet taking effect at most 6 months after the report, in that exercise; never below zero (art. 7.2.1) | `deduction` |
//! | 5 groupement d'achats | a fixed part by bracket plus a price per inhabitant (art. 7.2.2), not owed in an exercise that owes the socle complet | `annual` |
//! | 6 whole years | a subscription in force on one day of the exercise owes the whole year; the end date is the last day in force | `subscription` |
//! | 7 Level 1 | a socle complet member's share of the 117 days of art. 3.2 is included; each half-day beyond is billed (art. 7.1.1); no share without the socle complet | `level1` |
//! | 8 titles | the titles of N are issued early in N+1; the audit is its own title, issued at its report's delivery and never with the exercise's contribution ([`Statement::titles`]); when to issue is the caller's schedule, the engine computes any exercise on demand | `statement` |
//! | 9 annual report | who holds which offer, what the service is staffed for, how far contributions cover it, each member's inventory, and the quality of service: its restore drills against its tier, its backups against their RPO, its tunnels' availability (art. 6.2) | [`annual_report`], [`member_summaries`], [`inventory`], [`quality_of_service`] (with `observed`); the HTML document in [`report`] |
//! | 10 pass-through, shared costs | invoices paid as mandataire refunded at cost (art. 2.3.4); a shared service's cost split among its subscribers by allocation key, the shares adding up to it exactly | `pass_through`, `shared`, [`split_cost`] |

mod annual;
mod annual_report;
mod audit;
mod deduction;
mod engine;
mod error;
mod format;
mod grid;
mod input;
mod inventory;
mod level1;
pub mod model;
pub mod observed;
mod pass_through;
pub mod quality;
pub mod report;
mod shared;
mod split;
mod statement;
mod subscription;
mod tariff;
mod usage;
pub mod wording;

#[cfg(test)]
mod tests;

pub use annual_report::{
    AnnualReport, Level1Pool, MemberSummary, OfferCount, Staffing, annual_report, member_summaries,
};
pub use engine::compute;
pub use format::{
    NBSP, format_count, format_date, format_eur, format_half_days_as_days, format_percent,
};
pub use input::{Input, METERS, MemberFacts, Meter, SharedCost, Usage};
pub use inventory::{MeterTotals, inventory};
pub use model::{
    AllocationKey, Bracket, Cents, ImputationCodes, Offer, Population, StaffingLevel, Subscription,
    TariffGrid, TariffOverride,
};
pub use observed::{BackupFigures, BackupMonth, TunnelFigures, TunnelMonth};
pub use quality::{
    BackedUp, DrillFact, MemberQuality, QualityFacts, QualityOfService, TierQuality,
    quality_of_service,
};
pub use split::{SplitError, split_cost};
pub use statement::{Line, LineCode, MemberError, Outcome, Statement, Title, TitleKind};

//! The article 7 contribution engine.
//!
//! Pure: plain facts in ([`Input`]), statements out ([`Outcome`]), no
//! Kubernetes type, no I/O, no clock, no floating point (money is integer
//! euro cents). The ten rulings on article 7 of the convention (the
//! project's design brief; each is stated in its module's doc) are the
//! specification; each is implemented in the module named for it:
//!
//! | ruling | module |
//! |---|---|
//! | 1 brackets | `grid` ([`TariffGrid::convention`]) |
//! | 2 socle complet, 5 groupement d'achats | `annual` |
//! | 3 audit | `audit` |
//! | 4 audit deduction | `deduction` |
//! | 6 whole years | `subscription` |
//! | 7 Level 1 | `level1` |
//! | 9 annual report | [`annual_report`], with [`member_summaries`] and the [`inventory`] of art. 6.2 |
//! | 10 pass-through, shared costs | `pass_through`, `shared`, [`split_cost`] |
//!
//! Ruling 8 (titles of N issued early in N+1) is the caller's schedule: the
//! engine computes any exercise on demand.

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
mod pass_through;
pub mod report;
mod shared;
mod split;
mod statement;
mod subscription;
mod tariff;
mod usage;

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
pub use split::{SplitError, split_cost};
pub use statement::{Line, LineCode, MemberError, Outcome, Statement};

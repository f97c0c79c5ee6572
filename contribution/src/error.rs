//! Why a member cannot be priced. Each message names the article and the field
//! to fix, because it ends up in a `Member` condition read by the DSI.

use jiff::civil::Date;

use super::model::{Cents, Offer};

/// A reason the engine refuses to price one member.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ContributionError {
    /// The grid does not price this member and there is no override at all.
    #[error(
        "article {article} (*): {reason}, so the grid does not apply; \
         the member needs a tariffOverride decided by the pilotage commission"
    )]
    OverrideRequired {
        article: &'static str,
        reason: String,
    },
    /// The override lacks a price the grid cannot supply.
    #[error("article {article} (*): {reason}, so tariffOverride.{field} is required")]
    OverrideFieldMissing {
        article: &'static str,
        field: &'static str,
        reason: String,
    },
    /// A price, from the grid or the override, is below zero.
    #[error("article {article}: {field} must not be negative (found {value} cents)")]
    NegativePrice {
        article: &'static str,
        field: &'static str,
        value: Cents,
    },
    /// The grid has a gap where the member's population falls.
    #[error("article 7: no bracket of the grid {deliberation} covers a population of {population}")]
    NoBracket {
        deliberation: String,
        population: u32,
    },
    /// A subscription ending before it starts cannot be active on any day.
    #[error(
        "article 2.4: the {offer:?} subscription ends on {end} before it takes effect on {effective}"
    )]
    EndsBeforeEffective {
        offer: Offer,
        effective: Date,
        end: Date,
    },
    /// A pass-through record without its amount cannot be refunded at cost.
    #[error("article 2.3.4: pass-through usage record {record} has no amountCents")]
    PassThroughWithoutAmount { record: String },
    /// A refund must cite the invoice it refunds.
    #[error("article 2.3.4: pass-through usage record {record} has no invoice reference")]
    PassThroughWithoutReference { record: String },
    /// A refund cannot be a credit: a credit note corrects the original record.
    #[error(
        "article 2.3.4: pass-through usage record {record} has a negative amount \
         ({amount} cents); correct the original record instead"
    )]
    NegativePassThrough { record: String, amount: Cents },
    /// A shared cost that cannot be split bills none of its subscribers.
    #[error(
        "article 2.3.4: shared cost {reference} of service {service} cannot be split: {reason}"
    )]
    Unsplittable {
        service: String,
        reference: String,
        reason: String,
    },
    /// A shared cost lists a subscriber that is not a member.
    #[error(
        "article 2.3.4: {member} subscribes to service {service} but is not a Member; \
         its share of {reference} ({share} cents) is not billed"
    )]
    UnknownSubscriber {
        member: String,
        service: String,
        reference: String,
        share: Cents,
    },
    /// Usage records name someone who is not a member.
    #[error(
        "usage records of exercise {exercise} name {member}, which is not a Member; \
         they are not billed"
    )]
    UnknownUsageMember { member: String, exercise: i16 },
    /// Absurd quantities or prices: refuse rather than wrap around.
    #[error("an amount exceeds the range of a titre de recettes; check quantities and prices")]
    AmountOutOfRange,
}

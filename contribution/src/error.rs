//! Why a member cannot be priced. Each message names the article and the field
//! to fix, because it ends up in a `Member` condition read by the DSI.

use jiff::civil::Date;

use std::fmt;

use super::{
    format::{format_count, format_date, format_eur},
    model::{Cents, Offer},
    split::SplitError,
};

/// Why the grid cannot price a member (article 7.1 (*)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GridGap {
    /// The member has its own IT department.
    ItDepartment,
    /// The grid has no price for the member's population.
    NoPrice {
        deliberation: String,
        population: u32,
    },
}

impl fmt::Display for GridGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ItDepartment => {
                write!(f, "the member has its own IT department (hasItDepartment)")
            }
            Self::NoPrice {
                deliberation,
                population,
            } => write!(
                f,
                "the grid {deliberation} has no price for a population of {population}"
            ),
        }
    }
}

impl GridGap {
    fn french(&self) -> String {
        match self {
            Self::ItDepartment => {
                "le membre a son propre service informatique (hasItDepartment)".to_owned()
            }
            Self::NoPrice {
                deliberation,
                population,
            } => format!(
                "la grille {deliberation} n'a pas de prix pour une population de {}",
                format_count(u64::from(*population))
            ),
        }
    }
}

/// Why a shared cost cannot be split (article 2.3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SplitProblem {
    Split(SplitError),
    /// A per-inhabitant key names someone who is not a Member.
    NotAMember(String),
}

impl fmt::Display for SplitProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Split(error) => write!(f, "{error}"),
            Self::NotAMember(name) => {
                write!(f, "{name} is not a Member, so its population is unknown")
            }
        }
    }
}

impl SplitProblem {
    fn french(&self) -> String {
        match self {
            Self::Split(SplitError::NegativeCost) => "le coût est négatif".to_owned(),
            Self::Split(SplitError::NoWeight) => {
                "les poids de la clé de répartition sont tous nuls".to_owned()
            }
            Self::NotAMember(name) => {
                format!("{name} n'est pas un Member, sa population est inconnue")
            }
        }
    }
}

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
        reason: GridGap,
    },
    /// The override lacks a price the grid cannot supply.
    #[error("article {article} (*): {reason}, so tariffOverride.{field} is required")]
    OverrideFieldMissing {
        article: &'static str,
        field: &'static str,
        reason: GridGap,
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
        reason: SplitProblem,
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

impl ContributionError {
    /// The same reason in French, for the documents finance and the
    /// commission read (the French table, the exports, the annual report).
    pub(crate) fn french(&self) -> String {
        match self {
            Self::OverrideRequired { article, reason } => format!(
                "article {article} (*) : {}, la grille ne s'applique pas ; le membre a besoin \
                 d'un tarif particulier (tariffOverride) décidé par la commission de pilotage",
                reason.french()
            ),
            Self::OverrideFieldMissing {
                article,
                field,
                reason,
            } => format!(
                "article {article} (*) : {}, tariffOverride.{field} est donc requis",
                reason.french()
            ),
            Self::NegativePrice {
                article,
                field,
                value,
            } => format!(
                "article {article} : {field} ne peut pas être négatif ({})",
                format_eur(*value)
            ),
            Self::NoBracket {
                deliberation,
                population,
            } => format!(
                "article 7 : aucune tranche de la grille {deliberation} ne couvre une population de {}",
                format_count(u64::from(*population))
            ),
            Self::EndsBeforeEffective {
                offer,
                effective,
                end,
            } => format!(
                "article 2.4 : l'adhésion {} se termine le {} avant de prendre effet le {}",
                offer.label(),
                format_date(*end),
                format_date(*effective)
            ),
            Self::PassThroughWithoutAmount { record } => format!(
                "article 2.3.4 : le relevé de refacturation {record} n'a pas de montant (amountCents)"
            ),
            Self::PassThroughWithoutReference { record } => format!(
                "article 2.3.4 : le relevé de refacturation {record} ne cite pas de facture"
            ),
            Self::NegativePassThrough { record, amount } => format!(
                "article 2.3.4 : le relevé de refacturation {record} a un montant négatif ({}) ; \
                 corriger le relevé d'origine",
                format_eur(*amount)
            ),
            Self::Unsplittable {
                service,
                reference,
                reason,
            } => format!(
                "article 2.3.4 : le coût {reference} du service {service} ne peut pas être réparti : {}",
                reason.french()
            ),
            Self::UnknownSubscriber {
                member,
                service,
                reference,
                share,
            } => format!(
                "article 2.3.4 : {member} est abonné au service {service} sans être un Member ; \
                 sa quote-part de {reference} ({}) n'est pas facturée",
                format_eur(*share)
            ),
            Self::UnknownUsageMember { member, exercise } => format!(
                "les relevés d'usage de l'exercice {exercise} nomment {member}, qui n'est pas un \
                 Member ; ils ne sont pas facturés"
            ),
            Self::AmountOutOfRange => {
                "un montant dépasse ce qu'un titre de recettes peut porter ; \
                 vérifier les quantités et les prix"
                    .to_owned()
            }
        }
    }
}

//! What the engine produces: one statement per member, the lines of its titre
//! de recettes, and the members it could not price.
//!
//! The JSON shape (camelCase: `member`, `code`, `label`, `amountCents`,
//! `totalCents`…) is a contract with the finance exports.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    error::ContributionError,
    model::{Cents, ImputationCodes, TariffGrid},
};

/// The stable machine code of a line, which finance maps to its accounts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum LineCode {
    /// Socle complet, fixed part by bracket (art. 7.1).
    #[serde(rename = "SOCLE_COMPLET_FIXE")]
    SocleCompletFixed,
    /// Socle complet, price per inhabitant (art. 7.1).
    #[serde(rename = "SOCLE_COMPLET_VARIABLE")]
    SocleCompletVariable,
    /// Audit deducted from the first socle complet contribution (art. 7.2.1).
    #[serde(rename = "DEDUCTION_AUDIT")]
    AuditDeduction,
    /// The audit, in the exercise of its report (art. 7.2.1). Ruling 8 titles
    /// it at report delivery, so the issuer may title this line apart.
    #[serde(rename = "AUDIT")]
    Audit,
    /// Groupement d'achats, fixed part by bracket (art. 7.2.2).
    #[serde(rename = "GROUPEMENT_FIXE")]
    GroupementFixed,
    /// Groupement d'achats, price per inhabitant (art. 7.2.2).
    #[serde(rename = "GROUPEMENT_VARIABLE")]
    GroupementVariable,
    /// Level-1 half-days beyond the allowance (art. 7.1.1).
    #[serde(rename = "NIVEAU1_DEPASSEMENT")]
    Level1Overrun,
    /// An invoice paid as mandataire for this member alone, refunded at cost (art. 2.3.4).
    #[serde(rename = "REFACTURATION")]
    PassThrough,
    /// This member's share of a shared service's cost (art. 2.3.4 and 7.2.2).
    #[serde(rename = "QUOTE_PART")]
    SharedCostShare,
}

impl LineCode {
    /// What one unit of a line of this code is, in French. The per-inhabitant
    /// lines say more: which population year they count
    /// (see `annual::fixed_and_variable`).
    pub fn base(self) -> &'static str {
        match self {
            Self::SocleCompletFixed | Self::GroupementFixed => "forfait annuel",
            Self::SocleCompletVariable | Self::GroupementVariable => "habitant",
            Self::AuditDeduction => "audit déduit",
            Self::Audit => "forfait",
            Self::Level1Overrun => "demi-journée",
            Self::PassThrough => "facture",
            Self::SharedCostShare => "quote-part",
        }
    }

    /// The article a line of this code rests on, printed on the titre.
    fn legal_basis(self) -> &'static str {
        match self {
            Self::SocleCompletFixed | Self::SocleCompletVariable => "art. 7.1",
            Self::Level1Overrun => "art. 7.1.1",
            Self::Audit | Self::AuditDeduction => "art. 7.2.1",
            Self::GroupementFixed | Self::GroupementVariable => "art. 7.2.2",
            Self::PassThrough => "art. 2.3.4",
            Self::SharedCostShare => "art. 2.3.4 et 7.2.2",
        }
    }

    /// The nature account a line of this code is imputed to. The deduction
    /// reduces the socle complet revenue, so it shares its account.
    fn imputation(self, codes: &ImputationCodes) -> &str {
        match self {
            Self::SocleCompletFixed | Self::SocleCompletVariable | Self::AuditDeduction => {
                &codes.socle_complet
            }
            Self::Audit => &codes.audit,
            Self::GroupementFixed | Self::GroupementVariable => &codes.groupement_achats,
            Self::Level1Overrun => &codes.level1,
            Self::PassThrough | Self::SharedCostShare => &codes.pass_through,
        }
    }
}

/// One line of a titre de recettes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// Stable machine code, e.g. `SOCLE_COMPLET_FIXE`.
    pub code: LineCode,
    /// What is billed, in French, as printed on the titre.
    pub label: String,
    /// Number of units (inhabitants, half-days; 1 for a lump sum).
    pub quantity: u64,
    /// What one unit of the quantity is, in French, as the titre's "base"
    /// column prints it: `habitant (population légale INSEE 2021)`,
    /// `demi-journée`, `forfait annuel`… Absent from statements issued
    /// before it existed; [`LineCode::base`] then says it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
    /// Price of one unit, in cents; negative only for the audit deduction.
    pub unit_price_cents: Cents,
    /// `quantity × unitPriceCents`, in cents; negative only for the audit deduction.
    pub amount_cents: Cents,
    /// The article of the convention the line rests on, e.g. "art. 7.2.1".
    pub legal_basis: String,
    /// Budget imputation (nature account).
    pub imputation: String,
    /// Why the line is what it is, in French, when that is not obvious.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Invoice, contract or decision reference the line cites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Line {
    /// A line of `quantity` units at `unit_price_cents`, its basis and imputation
    /// taken from the code so that no line can cite the wrong article.
    pub(crate) fn new(
        code: LineCode,
        grid: &TariffGrid,
        label: String,
        quantity: u64,
        unit_price_cents: Cents,
    ) -> Result<Self, ContributionError> {
        let amount_cents = i64::try_from(quantity)
            .ok()
            .and_then(|quantity| quantity.checked_mul(unit_price_cents))
            .ok_or(ContributionError::AmountOutOfRange)?;
        Ok(Self {
            code,
            label,
            quantity,
            base: code.base().to_owned(),
            unit_price_cents,
            amount_cents,
            legal_basis: code.legal_basis().to_owned(),
            imputation: code.imputation(&grid.imputation).to_owned(),
            explanation: None,
            reference: None,
        })
    }

    /// The same line with its explanation.
    pub(crate) fn explained(self, explanation: String) -> Self {
        Self {
            explanation: Some(explanation),
            ..self
        }
    }

    /// The same line with another base.
    pub(crate) fn based_on(self, base: String) -> Self {
        Self { base, ..self }
    }

    /// The same line citing a reference.
    pub(crate) fn citing(self, reference: Option<String>) -> Self {
        Self { reference, ..self }
    }
}

/// Sums amounts, refusing to wrap around.
pub(crate) fn checked_total<'a>(
    lines: impl IntoIterator<Item = &'a Line>,
) -> Result<Cents, ContributionError> {
    lines.into_iter().try_fold(0, |total: Cents, line| {
        total
            .checked_add(line.amount_cents)
            .ok_or(ContributionError::AmountOutOfRange)
    })
}

/// One member's contribution for one exercise: the content of one titre de recettes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// `metadata.name` of the member.
    pub member: String,
    /// Name printed on the titre.
    pub display_name: String,
    /// INSEE commune code.
    pub insee_code: String,
    /// The exercise billed.
    pub exercise: i16,
    /// Lines in a fixed order: socle complet, deduction, audit, groupement,
    /// Level 1, pass-through invoices, shared-cost shares.
    pub lines: Vec<Line>,
    /// Sum of the lines' amounts, in cents; never negative.
    pub total_cents: Cents,
}

/// Which titre de recettes a line goes on (ruling 8).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum TitleKind {
    /// The exercise's contribution, titled early in N+1.
    #[default]
    Annual,
    /// The audit, titled on its own at the delivery of its report, so that it
    /// is never titled again with the exercise's contribution.
    Audit,
}

/// One titre de recettes of a statement: its kind and its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title {
    pub kind: TitleKind,
    pub lines: Vec<Line>,
    /// Sum of the lines, in cents.
    pub total_cents: Cents,
}

impl Statement {
    /// The titres de recettes of the statement, in this order: the
    /// exercise's contribution (every line but the audit), then the audit on
    /// its own (ruling 8: titled at the report's delivery). A kind without
    /// lines has no title. The audit deduction stays with the contribution
    /// it reduces.
    pub fn titles(&self) -> Vec<Title> {
        let (audit, annual): (Vec<Line>, Vec<Line>) = self
            .lines
            .iter()
            .cloned()
            .partition(|line| line.code == LineCode::Audit);
        [(TitleKind::Annual, annual), (TitleKind::Audit, audit)]
            .into_iter()
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(kind, lines)| Title {
                kind,
                total_cents: lines.iter().map(|line| line.amount_cents).sum(),
                lines,
            })
            .collect()
    }
}

/// A member the engine could not price; the others are priced all the same.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberError {
    /// `metadata.name` of the member (or the unknown name a shared cost lists).
    pub member: String,
    /// What is wrong, naming the article and the field to fix.
    pub message: String,
    /// The same, in French, for the documents finance and the pilotage
    /// commission read.
    #[serde(default)]
    pub message_fr: String,
}

impl MemberError {
    /// The error of `member`, its message naming the article to read.
    pub(crate) fn new(member: &str, error: &ContributionError) -> Self {
        Self {
            member: member.to_owned(),
            message: error.to_string(),
            message_fr: error.french(),
        }
    }
}

/// The result of one computation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The exercise computed.
    pub exercise: i16,
    /// One statement per member owing something, sorted by member name. A
    /// member owing nothing gets none: no titre de recettes of 0 €.
    pub statements: Vec<Statement>,
    /// Members that could not be priced, sorted by member name; they have no statement.
    pub errors: Vec<MemberError>,
}

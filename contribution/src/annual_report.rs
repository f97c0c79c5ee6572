//! The annual report to the pilotage commission (ruling 9, article 7
//! preamble and article 6.2): who holds which offer, what the service is
//! staffed for, and how far contributions cover it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    input::{Input, MemberFacts},
    inventory::{MeterTotals, inventory},
    level1,
    model::{Bracket, Cents, Offer},
    statement::{LineCode, Outcome},
    subscription::{active, delivered_audits, in_force, leaves_on, owes_socle_complet},
    tariff::MemberTariff,
    usage::UsageIndex,
    wording,
};

/// Basis points in one whole: 10 000 ‱ = 100 %.
const BASIS_POINTS: i128 = 10_000;

/// How many members hold one offer in one bracket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferCount {
    /// The offer. `SocleComplet` and `GroupementAchats` count subscriptions in
    /// force during the exercise; Audit counts reports delivered during it.
    pub offer: Offer,
    /// The bracket's label, or "hors grille" where the grid has none.
    pub bracket: String,
    /// Number of members.
    pub members: u32,
}

/// What the shared service is staffed for (article 7 preamble).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Staffing {
    /// Members in force during the exercise: a yearly subscription in force
    /// on one of its days, or an audit under way in it. A member joining
    /// the next year is not one.
    pub adherents: u32,
    /// Members owing the socle complet for the exercise.
    pub socle_complet_members: u32,
    /// Full-time equivalents of the staffing level reached.
    pub etp: u32,
    /// Their yearly cost, in cents.
    pub cost_cents: Cents,
}

/// Level-1 engineering against the shared pool (article 3.2: 117 days).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Level1Pool {
    /// Half-days recorded for the exercise, all members, after corrections.
    pub used_half_days: u64,
    /// The pool: allowances of the socle complet members priced without error
    /// (234 half-days, i.e. 117 days, for the convention's 30 communes).
    pub allowance_half_days: u64,
    /// Half-days billed beyond the allowances.
    pub billed_half_days: u64,
}

/// The annual report of one exercise. All money in cents, ratios in basis points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnualReport {
    /// The exercise reported on.
    pub exercise: i16,
    /// Deliberation of the grid used.
    pub deliberation: String,
    /// Members by offer and bracket, ordered by offer then bracket.
    pub members_by_offer: Vec<OfferCount>,
    /// Staffing level and its cost.
    pub staffing: Staffing,
    /// Contributions for the service's work: every line except pass-through
    /// invoices and shared-cost shares, which are refunds at cost.
    pub contributions_cents: Cents,
    /// Refunds at cost: pass-through invoices and shared-cost shares.
    pub pass_through_cents: Cents,
    /// Everything billed: the sum of the statements' totals.
    pub total_billed_cents: Cents,
    /// Contributions ÷ staffing cost, in basis points rounded down
    /// (10 000 = fully covered); absent when there is no staffing cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_basis_points: Option<i64>,
    /// Amounts billed by line code.
    pub totals_by_code: BTreeMap<LineCode, Cents>,
    /// Level-1 engineering against the pool.
    pub level1: Level1Pool,
    /// Number of titres de recettes to issue: one per statement, and one
    /// more for an audit, titled on its own (ruling 8).
    pub statements: u32,
    /// Number of members that could not be priced.
    pub members_in_error: u32,
}

/// Builds the annual report of the exercise from the engine's input and outcome.
pub fn annual_report(input: &Input<'_>, outcome: &Outcome) -> AnnualReport {
    let exercise = input.exercise;
    let membership = Membership::count(input);
    let billed = Billed::of(outcome);
    let contributions_cents = billed.amount(false);

    let etp = input
        .grid
        .staffing_etp(membership.adherents, membership.socle_complet_members);
    let cost_cents = i64::from(etp).saturating_mul(input.grid.etp_annual_cost_cents);
    let coverage_basis_points = (cost_cents > 0).then(|| {
        let ratio = i128::from(contributions_cents) * BASIS_POINTS / i128::from(cost_cents);
        i64::try_from(ratio).unwrap_or(i64::MAX)
    });

    AnnualReport {
        exercise,
        deliberation: input.grid.deliberation.clone(),
        members_by_offer: membership.by_offer.into_values().collect(),
        staffing: Staffing {
            adherents: membership.adherents,
            socle_complet_members: membership.socle_complet_members,
            etp,
            cost_cents,
        },
        contributions_cents,
        pass_through_cents: billed.amount(true),
        total_billed_cents: outcome.statements.iter().fold(0, |sum: Cents, statement| {
            sum.saturating_add(statement.total_cents)
        }),
        coverage_basis_points,
        level1: Level1Pool {
            used_half_days: UsageIndex::new(input.usage, exercise).level1_half_days(),
            allowance_half_days: membership.allowance_half_days,
            billed_half_days: billed.level1_half_days,
        },
        totals_by_code: billed.totals_by_code,
        statements: u32::try_from(
            outcome
                .statements
                .iter()
                .map(|statement| statement.titles().len())
                .sum::<usize>(),
        )
        .unwrap_or(u32::MAX),
        // Errors come sorted by member; a member may have several.
        members_in_error: u32::try_from(
            outcome.errors.chunk_by(|a, b| a.member == b.member).count(),
        )
        .unwrap_or(u32::MAX),
    }
}

/// Who holds what, from the members' facts: members in error count too,
/// since they hold their offers whether or not they could be priced.
#[derive(Default)]
struct Membership {
    by_offer: BTreeMap<(Offer, u32), OfferCount>,
    adherents: u32,
    socle_complet_members: u32,
    allowance_half_days: u64,
}

impl Membership {
    fn count(input: &Input<'_>) -> Self {
        let exercise = input.exercise;
        let mut membership = Self::default();
        for member in input.members {
            if in_force(member, exercise) {
                membership.adherents += 1;
            }
            let bracket = input.grid.bracket_for(member.population.count);
            let offers = held_offers(member, exercise);
            for &offer in &offers {
                let key = (offer, bracket.map_or(u32::MAX, |b| b.min_population));
                membership
                    .by_offer
                    .entry(key)
                    .or_insert_with(|| OfferCount {
                        offer,
                        bracket: bracket_label(bracket),
                        members: 0,
                    })
                    .members += 1;
            }
            if offers.contains(&Offer::SocleComplet) {
                membership.socle_complet_members += 1;
                // A member in error has no allowance to count: it is in the errors.
                let tariff = MemberTariff::new(input.grid, member);
                membership.allowance_half_days +=
                    u64::from(level1::allowance(&tariff, exercise).unwrap_or(0));
            }
        }
        membership
    }
}

/// The offers the member holds during the exercise, in [`Offer`] order:
/// `SocleComplet` and `GroupementAchats` when a subscription is in force,
/// Audit when a report was delivered during it.
fn held_offers(member: &MemberFacts, exercise: i16) -> Vec<Offer> {
    [
        (
            Offer::Audit,
            delivered_audits(member)
                .iter()
                .any(|(report, _)| report.year() == exercise),
        ),
        (
            Offer::GroupementAchats,
            active(member, Offer::GroupementAchats, exercise)
                .next()
                .is_some(),
        ),
        (Offer::SocleComplet, owes_socle_complet(member, exercise)),
    ]
    .into_iter()
    .filter_map(|(offer, holds)| holds.then_some(offer))
    .collect()
}

/// The bracket's label, or "hors grille" where the grid has none.
fn bracket_label(bracket: Option<&Bracket>) -> String {
    bracket.map_or_else(
        || "hors grille".to_owned(),
        |b| wording::group_thousands(&b.label),
    )
}

/// One member's row in the annual report: who it is, what it holds, what it
/// was billed and its inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSummary {
    /// `metadata.name`.
    pub name: String,
    /// Name printed on the titre de recettes.
    pub display_name: String,
    /// INSEE commune code.
    pub insee_code: String,
    /// Legal population used for billing.
    pub population: u32,
    /// INSEE reference year of that population: the year every
    /// per-inhabitant amount of the exercise counts.
    pub population_year: u16,
    /// Whether the member is in force during the exercise (counted among
    /// the adherents); one that is not has no row in the report's table.
    pub in_force: bool,
    /// The last day in force of a member leaving during the exercise, which
    /// owes the whole year all the same (ruling 6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaves_on: Option<jiff::civil::Date>,
    /// Why a member in force owes nothing for the exercise, in French.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owes_nothing: Option<String>,
    /// The bracket's label, or "hors grille" where the grid has none.
    pub bracket: String,
    /// Offers held during the exercise, in [`Offer`] order.
    pub offers: Vec<Offer>,
    /// An audit started by the end of the exercise whose report was not
    /// delivered during it: not billed yet (ruling 3), but work under way.
    pub audit_in_progress: bool,
    /// Total of the member's statement; `None` when it owes nothing or could not be priced.
    pub total_cents: Option<Cents>,
    /// Whether the engine could not price the member (the outcome's errors say why).
    pub in_error: bool,
    /// Inventory records of the exercise, summed by meter; `None` when there are none.
    pub inventory: Option<MeterTotals>,
}

/// Every member's row of the annual report, sorted by `metadata.name`: names
/// are the communes' names in lower-case ASCII, so this is the alphabetical
/// order readers expect without collating accents.
pub fn member_summaries(input: &Input<'_>, outcome: &Outcome) -> Vec<MemberSummary> {
    let mut inventory = inventory(input.usage, input.exercise);
    let mut summaries: Vec<MemberSummary> = input
        .members
        .iter()
        .map(|member| {
            let exercise = input.exercise;
            // Statements come sorted by member.
            let total_cents = outcome
                .statements
                .binary_search_by(|statement| statement.member.cmp(&member.name))
                .ok()
                .map(|index| outcome.statements[index].total_cents);
            let in_error = outcome
                .errors
                .iter()
                .any(|error| error.member == member.name);
            let audit_in_progress = member.subscriptions.iter().any(|subscription| {
                subscription.offer == Offer::Audit
                    && subscription.effective_date.year() <= exercise
                    && subscription
                        .audit_report_date
                        .is_none_or(|report| report.year() > exercise)
            });
            let in_force = in_force(member, exercise);
            MemberSummary {
                name: member.name.clone(),
                display_name: member.display_name.clone(),
                insee_code: member.insee_code.clone(),
                population: member.population.count,
                population_year: member.population.year,
                in_force,
                leaves_on: leaves_on(member, exercise),
                owes_nothing: (in_force && total_cents.is_none() && !in_error).then(|| {
                    if audit_in_progress {
                        wording::AUDIT_NOT_DELIVERED.to_owned()
                    } else {
                        wording::NOTHING_OWED.to_owned()
                    }
                }),
                bracket: bracket_label(input.grid.bracket_for(member.population.count)),
                offers: held_offers(member, exercise),
                audit_in_progress,
                total_cents,
                in_error,
                inventory: inventory.remove(&member.name),
            }
        })
        .collect();
    summaries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    summaries
}

/// What the statements bill, by line code.
struct Billed {
    totals_by_code: BTreeMap<LineCode, Cents>,
    level1_half_days: u64,
}

impl Billed {
    fn of(outcome: &Outcome) -> Self {
        let mut billed = Self {
            totals_by_code: BTreeMap::new(),
            level1_half_days: 0,
        };
        for line in outcome
            .statements
            .iter()
            .flat_map(|statement| &statement.lines)
        {
            let total = billed.totals_by_code.entry(line.code).or_default();
            *total = total.saturating_add(line.amount_cents);
            if line.code == LineCode::Level1Overrun {
                billed.level1_half_days = billed.level1_half_days.saturating_add(line.quantity);
            }
        }
        billed
    }

    /// Refunds at cost (`true`) or contributions to the service's work (`false`).
    fn amount(&self, refunds: bool) -> Cents {
        self.totals_by_code
            .iter()
            .filter(|&(&code, _)| {
                refunds == matches!(code, LineCode::PassThrough | LineCode::SharedCostShare)
            })
            .fold(0, |sum: Cents, (_, &amount)| sum.saturating_add(amount))
    }
}

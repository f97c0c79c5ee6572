//! Engine tests: the convention's worked examples (`golden`), one table per
//! ruling (`rulings`, `usage_billing`, `annual_report`), and the laws that
//! hold for any input (`properties`).
//! The helpers below build members the way a `Member` manifest reads.

use jiff::civil::Date;

use super::{
    Cents, Input, LineCode, MemberFacts, Offer, Outcome, Population, SharedCost, Statement,
    Subscription, TariffGrid, TariffOverride, Usage, compute, input::Meter,
};

mod annual_report;
mod golden;
mod properties;
mod rulings;
mod usage_billing;

fn member(name: &str, population: u32, subscriptions: Vec<Subscription>) -> MemberFacts {
    MemberFacts {
        name: name.to_owned(),
        display_name: name.to_uppercase(),
        insee_code: "56001".to_owned(),
        population: Population {
            count: population,
            year: 2021,
        },
        has_it_department: false,
        subscriptions,
        tariff_override: None,
    }
}

fn subscription(offer: Offer, effective: Date) -> Subscription {
    Subscription {
        offer,
        effective_date: effective,
        end_date: None,
        notice_date: None,
        audit_report_date: None,
        decision: Some(format!("DEL-{offer:?}")),
    }
}

fn socle_complet(effective: Date) -> Subscription {
    subscription(Offer::SocleComplet, effective)
}

fn groupement(effective: Date) -> Subscription {
    subscription(Offer::GroupementAchats, effective)
}

fn audit(effective: Date, report: Option<Date>) -> Subscription {
    Subscription {
        audit_report_date: report,
        ..subscription(Offer::Audit, effective)
    }
}

fn ending(subscription: Subscription, end: Date) -> Subscription {
    Subscription {
        end_date: Some(end),
        ..subscription
    }
}

fn tariff_override(fixed: Option<Cents>, per_inhabitant: Option<Cents>) -> TariffOverride {
    TariffOverride {
        fixed_cents: fixed,
        per_inhabitant_cents: per_inhabitant,
        audit_cents: None,
        level1_allowance_half_days: None,
        decision: "CC_2026_031".to_owned(),
    }
}

fn level1(id: &str, member: &str, half_days: u64, exercise: i16) -> Usage {
    Usage {
        id: id.to_owned(),
        member: member.into(),
        meter: Meter::Level1HalfDays,
        quantity: half_days,
        exercise,
        amount_cents: None,
        reference: None,
        corrects: None,
    }
}

fn pass_through(id: &str, member: &str, amount: Cents, reference: &str) -> Usage {
    Usage {
        meter: Meter::PassThrough,
        quantity: 1,
        amount_cents: Some(amount),
        reference: Some(reference.to_owned()),
        ..level1(id, member, 1, 2025)
    }
}

/// Everything needed for one computation, owned, with the convention's grid.
#[derive(Clone, Debug)]
struct Case {
    grid: TariffGrid,
    members: Vec<MemberFacts>,
    usage: Vec<Usage>,
    shared_costs: Vec<SharedCost>,
    exercise: i16,
}

impl Case {
    fn new(members: Vec<MemberFacts>, exercise: i16) -> Self {
        Self {
            grid: TariffGrid::convention(),
            members,
            usage: Vec::new(),
            shared_costs: Vec::new(),
            exercise,
        }
    }

    fn with_usage(self, usage: Vec<Usage>) -> Self {
        Self { usage, ..self }
    }

    fn with_shared_costs(self, shared_costs: Vec<SharedCost>) -> Self {
        Self {
            shared_costs,
            ..self
        }
    }

    fn input(&self) -> Input<'_> {
        Input {
            grid: &self.grid,
            members: &self.members,
            usage: &self.usage,
            shared_costs: &self.shared_costs,
            exercise: self.exercise,
        }
    }

    fn outcome(&self) -> Outcome {
        compute(&self.input())
    }

    /// The statement of the only member, which must have been priced.
    fn statement(&self) -> Statement {
        let outcome = self.outcome();
        assert!(
            outcome.errors.is_empty(),
            "unexpected errors: {:?}",
            outcome.errors
        );
        assert_eq!(outcome.statements.len(), 1, "{outcome:#?}");
        outcome.statements.into_iter().next().unwrap()
    }
}

/// The (code, amount) pairs of a statement, in order.
fn amounts(statement: &Statement) -> Vec<(LineCode, Cents)> {
    statement
        .lines
        .iter()
        .map(|line| (line.code, line.amount_cents))
        .collect()
}

/// What one member owes for its socle complet: its lines and deductions.
fn socle_complet_cents(statement: &Statement) -> Cents {
    statement
        .lines
        .iter()
        .filter(|line| {
            matches!(
                line.code,
                LineCode::SocleCompletFixed
                    | LineCode::SocleCompletVariable
                    | LineCode::AuditDeduction
            )
        })
        .map(|line| line.amount_cents)
        .sum()
}

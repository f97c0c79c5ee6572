//! Laws that hold for any input, checked on generated members, usage and
//! shared costs (populations straddle every bracket, some members cannot be
//! priced, corrections chain and cycle).

use std::collections::BTreeMap;

use jiff::{Span, civil::date};
use proptest::{option, prelude::*};

use super::*;
use crate::AllocationKey;

const EXERCISE: i16 = 2025;

fn arb_subscription() -> impl Strategy<Value = Subscription> {
    let offer = prop_oneof![
        Just(Offer::Audit),
        Just(Offer::GroupementAchats),
        Just(Offer::SocleComplet)
    ];
    let day = (2023i16..=2027, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| date(y, m, d));
    (offer, day.clone(), option::of(0i64..1500), option::of(day)).prop_map(
        |(offer, effective, days, report)| Subscription {
            offer,
            effective_date: effective,
            end_date: days.map(|days| effective.saturating_add(Span::new().days(days))),
            notice_date: None,
            audit_report_date: report.filter(|_| offer == Offer::Audit),
            decision: Some("DEL".to_owned()),
        },
    )
}

fn arb_member(name: String) -> impl Strategy<Value = MemberFacts> {
    let tariff_override = option::of(
        (
            option::of(0i64..500_000),
            option::of(0i64..300),
            option::of(0i64..800_000),
            option::of(0u32..30),
        )
            .prop_map(|(fixed, per_inhabitant, audit, allowance)| TariffOverride {
                audit_cents: audit,
                level1_allowance_half_days: allowance,
                ..tariff_override(fixed, per_inhabitant)
            }),
    );
    (
        0u32..12_000,
        prop::bool::weighted(0.1),
        tariff_override,
        prop::collection::vec(arb_subscription(), 0..4),
    )
        .prop_map(
            move |(population, has_it_department, tariff_override, subscriptions)| MemberFacts {
                has_it_department,
                tariff_override,
                ..member(&name, population, subscriptions)
            },
        )
}

fn arb_usage(members: usize) -> impl Strategy<Value = Vec<Usage>> {
    prop::collection::vec(
        (
            0..members,
            any::<bool>(),
            0u64..30,
            2024i16..=2026,
            0i64..1_000_000,
            option::of(0usize..40),
        ),
        0..40,
    )
    .prop_map(|records| {
        records
            .into_iter()
            .enumerate()
            .map(
                |(i, (member, is_level1, quantity, exercise, amount, corrects))| {
                    let member = format!("m{member:02}");
                    let id = format!("u{i:02}");
                    let record = if is_level1 {
                        level1(&id, &member, quantity, exercise)
                    } else {
                        Usage {
                            exercise,
                            ..pass_through(&id, &member, amount, &format!("FA-{i}"))
                        }
                    };
                    Usage {
                        corrects: corrects.map(|k| format!("u{k:02}")),
                        ..record
                    }
                },
            )
            .collect()
    })
}

fn arb_shared_costs(members: usize) -> impl Strategy<Value = Vec<SharedCost>> {
    let allocation = prop_oneof![
        Just(AllocationKey::PerInhabitant),
        Just(AllocationKey::PerSeat),
        Just(AllocationKey::Equal)
    ];
    prop::collection::vec(
        (
            0i64..1_000_000,
            allocation,
            2024i16..=2026,
            prop::collection::vec((0..members + 1, 0u32..5), 0..6),
        ),
        0..5,
    )
    .prop_map(|costs| {
        costs
            .into_iter()
            .enumerate()
            .map(
                |(i, (cost_cents, allocation, exercise, subscribers))| SharedCost {
                    service: format!("service-{}", i % 2),
                    label: "Solution".to_owned(),
                    reference: format!("MARCHE-{i}"),
                    exercise,
                    cost_cents,
                    allocation,
                    // Index `members` names someone who is not a member.
                    subscribers: subscribers
                        .into_iter()
                        .map(|(m, seats)| (format!("m{m:02}"), seats))
                        .collect(),
                },
            )
            .collect()
    })
}

fn arb_case() -> impl Strategy<Value = Case> {
    (1usize..12).prop_flat_map(|count| {
        let members: Vec<_> = (0..count).map(|i| arb_member(format!("m{i:02}"))).collect();
        (members, arb_usage(count), arb_shared_costs(count)).prop_map(
            |(members, usage, shared_costs)| {
                Case::new(members, EXERCISE)
                    .with_usage(usage)
                    .with_shared_costs(shared_costs)
            },
        )
    })
}

/// A case and the same case with members, records, costs and subscribers shuffled.
fn arb_case_and_shuffled() -> impl Strategy<Value = (Case, Case)> {
    arb_case().prop_flat_map(|case| {
        let members = Just(case.members.clone()).prop_shuffle();
        let usage = Just(case.usage.clone()).prop_shuffle();
        let costs = Just(case.shared_costs.clone()).prop_shuffle();
        (Just(case), members, usage, costs).prop_map(|(case, members, usage, mut shared_costs)| {
            for cost in &mut shared_costs {
                cost.subscribers.reverse();
            }
            let shuffled = Case {
                members,
                usage,
                shared_costs,
                ..case.clone()
            };
            (case, shuffled)
        })
    })
}

fn totals(outcome: &Outcome) -> BTreeMap<String, Cents> {
    outcome
        .statements
        .iter()
        .map(|s| (s.member.clone(), s.total_cents))
        .collect()
}

proptest! {
    #[test]
    fn totals_add_up_and_only_the_deduction_is_negative(case in arb_case()) {
        let outcome = case.outcome();
        for statement in &outcome.statements {
            let sum: Cents = statement.lines.iter().map(|line| line.amount_cents).sum();
            prop_assert_eq!(statement.total_cents, sum);
            prop_assert!(statement.total_cents >= 0, "{:?}", statement);
            for line in &statement.lines {
                prop_assert_eq!(Cents::try_from(line.quantity).unwrap() * line.unit_price_cents, line.amount_cents);
                if line.code == LineCode::AuditDeduction {
                    prop_assert!(line.amount_cents < 0 && line.explanation.is_some());
                } else {
                    prop_assert!(line.amount_cents >= 0, "{:?}", line);
                }
            }
        }
        let priced = totals(&outcome);
        prop_assert!(outcome.errors.iter().all(|error| !priced.contains_key(&error.member)));
    }

    #[test]
    fn input_order_never_changes_the_result((case, shuffled) in arb_case_and_shuffled()) {
        prop_assert_eq!(case.outcome(), shuffled.outcome());
    }

    #[test]
    fn adding_a_usage_record_never_lowers_a_total(
        case in arb_case(),
        member in 0usize..12,
        is_level1 in any::<bool>(),
        quantity in 0u64..30,
        amount in 0i64..1_000_000,
    ) {
        let member = format!("m{:02}", member % case.members.len());
        let extra = if is_level1 {
            level1("new", &member, quantity, EXERCISE)
        } else {
            pass_through("new", &member, amount, "FA-NEW")
        };
        let before = case.outcome();
        let mut usage = case.usage.clone();
        usage.push(extra);
        let after = case.clone().with_usage(usage).outcome();
        let after_totals = totals(&after);
        for (member, total) in totals(&before) {
            prop_assert!(after_totals.get(&member).is_some_and(|after| *after >= total), "{}", member);
        }
        prop_assert_eq!(before.errors, after.errors);
    }
}

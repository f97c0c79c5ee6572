//! Rulings 7 (Level 1) and 10 (pass-through and shared costs).

use jiff::civil::{Date, date};

use super::*;
use crate::AllocationKey;

const JAN_2025: Date = date(2025, 1, 1);

/// Ruling 7: half-days beyond the bracket's allowance, 200 € each; no
/// allowance outside the socle complet; the override's allowance above 8 000.
#[test]
fn level1_overrun() {
    let above_8000 = |allowance| MemberFacts {
        tariff_override: Some(TariffOverride {
            level1_allowance_half_days: allowance,
            ..tariff_override(Some(300_000), Some(150))
        }),
        ..member("m", 9000, vec![socle_complet(JAN_2025)])
    };
    let cases = [
        (
            "2 355 inhabitants, allowance 9",
            member("m", 2355, vec![socle_complet(JAN_2025)]),
            9,
            0,
        ),
        (
            "one over",
            member("m", 2355, vec![socle_complet(JAN_2025)]),
            10,
            1,
        ),
        (
            "under 1 500, allowance 5",
            member("m", 1000, vec![socle_complet(JAN_2025)]),
            7,
            2,
        ),
        (
            "3 000 to 8 000, allowance 13",
            member("m", 8000, vec![socle_complet(JAN_2025)]),
            14,
            1,
        ),
        (
            "groupement only: every half-day",
            member("m", 2355, vec![groupement(JAN_2025)]),
            3,
            3,
        ),
        ("override without allowance", above_8000(None), 4, 4),
        ("override allowance 20", above_8000(Some(20)), 24, 4),
    ];
    for (case, member, used, billed) in cases {
        let usage = vec![level1("a", "m", used - 1, 2025), level1("b", "m", 1, 2025)];
        let statement = Case::new(vec![member], 2025).with_usage(usage).statement();
        let overrun: Vec<_> = statement
            .lines
            .iter()
            .filter(|l| l.code == LineCode::Level1Overrun)
            .collect();
        if billed == 0 {
            assert!(overrun.is_empty(), "{case}");
        } else {
            assert_eq!(overrun.len(), 1, "{case}");
            assert_eq!(overrun[0].quantity, billed, "{case}");
            assert_eq!(overrun[0].unit_price_cents, 20_000, "{case}");
            assert_eq!(overrun[0].legal_basis, "art. 7.1.1", "{case}");
        }
    }
}

/// Corrections: only the last record of a chain counts.
#[test]
fn level1_corrections() {
    let first = level1("a", "m", 20, 2025);
    let second = Usage {
        corrects: Some("a".to_owned()),
        ..level1("b", "m", 15, 2025)
    };
    let third = Usage {
        corrects: Some("b".to_owned()),
        ..level1("c", "m", 11, 2025)
    };
    let statement = Case::new(vec![member("m", 2355, vec![socle_complet(JAN_2025)])], 2025)
        .with_usage(vec![third, first, second])
        .statement();
    assert_eq!(
        statement.lines.last().map(|l| (l.code, l.quantity)),
        Some((LineCode::Level1Overrun, 2))
    );
}

/// Ruling 10: an invoice paid as mandataire is refunded at cost and cited.
#[test]
fn pass_through_invoices() {
    let case = Case::new(vec![member("m", 1000, Vec::new())], 2025).with_usage(vec![pass_through(
        "p2",
        "m",
        12_345,
        "FA-2025-0042",
    )]);
    let statement = case.statement();
    assert_eq!(amounts(&statement), [(LineCode::PassThrough, 12_345)]);
    assert_eq!(
        statement.lines[0].reference.as_deref(),
        Some("FA-2025-0042")
    );
    assert_eq!(statement.lines[0].legal_basis, "art. 2.3.4");

    for (broken, message) in [
        (
            Usage {
                amount_cents: None,
                ..pass_through("p", "m", 1, "FA")
            },
            "no amountCents",
        ),
        (
            Usage {
                reference: Some(" ".to_owned()),
                ..pass_through("p", "m", 1, "FA")
            },
            "no invoice",
        ),
        (pass_through("p", "m", -5, "FA"), "negative amount"),
    ] {
        let outcome = Case::new(vec![member("m", 1000, Vec::new())], 2025)
            .with_usage(vec![broken])
            .outcome();
        assert!(outcome.statements.is_empty());
        assert!(
            outcome.errors[0].message.contains(message),
            "{:?}",
            outcome.errors
        );
    }
}

fn shared_cost(allocation: AllocationKey, subscribers: &[(&str, u32)]) -> SharedCost {
    SharedCost {
        service: "messagerie".to_owned(),
        label: "Licences de messagerie".to_owned(),
        reference: "MARCHE-2025-07".to_owned(),
        exercise: 2025,
        cost_cents: 100_000,
        allocation,
        subscribers: subscribers
            .iter()
            .map(|&(name, seats)| (name.to_owned(), seats))
            .collect(),
    }
}

/// Ruling 10: shares by allocation key, adding up to the cost exactly.
#[test]
fn shared_costs_split_exactly() {
    let members = vec![
        member("a", 1000, Vec::new()),
        member("b", 2000, Vec::new()),
        member("c", 3000, Vec::new()),
    ];
    let cases = [
        (
            AllocationKey::PerInhabitant,
            [1, 1, 1],
            [16_667, 33_333, 50_000],
        ),
        (AllocationKey::PerSeat, [1, 1, 2], [25_000, 25_000, 50_000]),
        (AllocationKey::Equal, [9, 0, 1], [33_334, 33_333, 33_333]),
    ];
    for (allocation, seats, expected) in cases {
        let subscribers = [("c", seats[2]), ("a", seats[0]), ("b", seats[1])];
        let outcome = Case::new(members.clone(), 2025)
            .with_shared_costs(vec![shared_cost(allocation, &subscribers)])
            .outcome();
        assert!(outcome.errors.is_empty());
        let shares: Vec<Cents> = outcome.statements.iter().map(|s| s.total_cents).collect();
        assert_eq!(shares, expected, "{allocation:?}");
        let line = &outcome.statements[0].lines[0];
        assert_eq!(line.code, LineCode::SharedCostShare);
        assert_eq!(line.reference.as_deref(), Some("MARCHE-2025-07"));
    }
}

/// Ruling 10: a subscriber that is not a member is reported, and never
/// shifts its share onto the others.
#[test]
fn shared_cost_with_an_unknown_subscriber() {
    let members = vec![member("a", 1000, Vec::new())];
    let outcome = Case::new(members.clone(), 2025)
        .with_shared_costs(vec![shared_cost(
            AllocationKey::Equal,
            &[("a", 1), ("ghost", 1)],
        )])
        .outcome();
    assert_eq!(outcome.statements[0].total_cents, 50_000);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].member, "ghost");

    let outcome = Case::new(members, 2025)
        .with_shared_costs(vec![shared_cost(
            AllocationKey::PerInhabitant,
            &[("a", 1), ("ghost", 1)],
        )])
        .outcome();
    assert!(
        outcome.statements.is_empty(),
        "without its population the split is unknown"
    );
    assert_eq!(
        outcome
            .errors
            .iter()
            .map(|e| e.member.as_str())
            .collect::<Vec<_>>(),
        ["a", "ghost"]
    );
}

/// A record for someone who is not a member is reported, not dropped.
#[test]
fn usage_of_an_unknown_member() {
    let outcome = Case::new(vec![member("a", 1000, vec![socle_complet(JAN_2025)])], 2025)
        .with_usage(vec![
            level1("u", "ghost", 3, 2025),
            level1("old", "ghost", 3, 2024),
        ])
        .outcome();
    assert_eq!(outcome.statements.len(), 1);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].member, "ghost");
    assert!(outcome.errors[0].message.contains("not a Member"));
}

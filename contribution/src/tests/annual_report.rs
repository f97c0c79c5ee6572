//! Ruling 9 (the annual report) and the JSON contract with finance.

use jiff::civil::date;

use super::*;
use crate::{MeterTotals, annual_report, member_summaries};

#[test]
fn annual_report_compares_contributions_with_staffing() {
    let mut members: Vec<MemberFacts> = (0..10)
        .map(|i| {
            member(
                &format!("s{i}"),
                1000,
                vec![socle_complet(date(2025, 1, 1))],
            )
        })
        .collect();
    members.push(member("g", 2355, vec![groupement(date(2024, 1, 1))]));
    members.push(member(
        "a",
        9000,
        vec![audit(date(2025, 1, 1), Some(date(2025, 5, 1)))],
    ));
    let case = Case::new(members, 2025).with_usage(vec![
        level1("u1", "s0", 7, 2025),
        pass_through("p", "g", 5_000, "FA-1"),
    ]);
    let outcome = case.outcome();
    let report = annual_report(&case.input(), &outcome);

    assert_eq!(report.staffing.adherents, 12);
    assert_eq!(report.staffing.socle_complet_members, 10);
    assert_eq!(report.staffing.etp, 2);
    assert_eq!(report.staffing.cost_cents, 8_000_000);
    let socle = 10 * (150_000 + 1000 * 150);
    let groupement = 125_000 + 2355 * 25;
    let contributions = socle + groupement + 2 * 20_000;
    assert_eq!(report.contributions_cents, contributions);
    assert_eq!(report.pass_through_cents, 5_000);
    assert_eq!(report.total_billed_cents, contributions + 5_000);
    assert_eq!(
        report.coverage_basis_points,
        Some(contributions * 10_000 / 8_000_000)
    );
    assert_eq!(report.level1.used_half_days, 7);
    assert_eq!(report.level1.allowance_half_days, 50);
    assert_eq!(report.level1.billed_half_days, 2);
    assert_eq!(
        report.members_in_error, 1,
        "the audit above 8 000 has no price"
    );
    let counts: Vec<(Offer, &str, u32)> = report
        .members_by_offer
        .iter()
        .map(|c| (c.offer, c.bracket.as_str(), c.members))
        .collect();
    assert_eq!(
        counts,
        [
            (Offer::Audit, "plus de 8\u{a0}000 habitants", 1),
            (
                Offer::GroupementAchats,
                "de 1\u{a0}500 à moins de 3\u{a0}000 habitants",
                1
            ),
            (Offer::SocleComplet, "moins de 1\u{a0}500 habitants", 10),
        ]
    );
}

#[test]
fn no_adherent_no_staffing() {
    let case = Case::new(vec![member("m", 1000, Vec::new())], 2025);
    let report = annual_report(&case.input(), &case.outcome());
    assert_eq!(report.staffing.etp, 0);
    assert_eq!(report.coverage_basis_points, None);
}

/// Each member's row: what it holds, what it was billed, its inventory; the
/// rows add up to the report's total.
#[test]
fn member_summaries_add_up_to_the_report() {
    let members = vec![
        member("renac", 1000, vec![socle_complet(date(2025, 1, 1))]),
        member(
            "allaire",
            2355,
            vec![
                audit(date(2026, 1, 1), Some(date(2026, 2, 1))),
                socle_complet(date(2026, 3, 1)),
            ],
        ),
        member("avessac", 9000, vec![socle_complet(date(2025, 1, 1))]),
        member("bruc", 500, Vec::new()),
        member("conquereuil", 1084, vec![audit(date(2026, 9, 1), None)]),
    ];
    let mut storage = level1("st", "renac", 41, 2026);
    storage.meter = Meter::from("storage-gib-months");
    let case = Case::new(members, 2026).with_usage(vec![storage, level1("l1", "renac", 2, 2026)]);
    let outcome = case.outcome();
    let rows = member_summaries(&case.input(), &outcome);

    let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(
        names,
        ["allaire", "avessac", "bruc", "conquereuil", "renac"],
        "sorted by name"
    );
    let [allaire, avessac, bruc, conquereuil, renac] = &rows[..] else {
        panic!("{rows:?}")
    };
    assert_eq!(allaire.offers, [Offer::Audit, Offer::SocleComplet]);
    assert_eq!(
        allaire.total_cents,
        Some(553_250),
        "audit deducted, then billed"
    );
    assert_eq!(
        allaire.bracket,
        "de 1\u{a0}500 à moins de 3\u{a0}000 habitants"
    );
    assert!(
        avessac.in_error && avessac.total_cents.is_none(),
        "above 8 000 without override"
    );
    assert_eq!(avessac.bracket, "plus de 8\u{a0}000 habitants");
    assert!(bruc.offers.is_empty() && bruc.total_cents.is_none() && !bruc.in_error);
    assert!(!bruc.audit_in_progress && !allaire.audit_in_progress);
    assert!(conquereuil.offers.is_empty() && conquereuil.audit_in_progress);
    assert_eq!(
        renac.inventory,
        Some(MeterTotals::from([("storage-gib-months".to_owned(), 41)])),
        "Level-1 half-days are billed, not inventory"
    );
    assert_eq!(allaire.inventory, None);
    let sum: Cents = rows.iter().filter_map(|row| row.total_cents).sum();
    assert_eq!(
        sum,
        annual_report(&case.input(), &outcome).total_billed_cents
    );
}

/// The finance exports read these names.
#[test]
fn json_contract() {
    let case = Case::new(
        vec![member(
            "allaire",
            2355,
            vec![socle_complet(date(2025, 1, 1))],
        )],
        2025,
    );
    let json = serde_json::to_value(case.outcome()).unwrap();
    let statement = &json["statements"][0];
    assert_eq!(statement["member"], "allaire");
    assert_eq!(statement["totalCents"], 553_250);
    assert_eq!(statement["lines"][0]["code"], "SOCLE_COMPLET_FIXE");
    assert_eq!(statement["lines"][1]["code"], "SOCLE_COMPLET_VARIABLE");
    assert_eq!(statement["lines"][1]["amountCents"], 353_250);
    assert_eq!(statement["lines"][1]["unitPriceCents"], 150);
    assert_eq!(statement["lines"][1]["legalBasis"], "art. 7.1");
    assert_eq!(statement["lines"][1]["imputation"], "70846");
    assert!(
        statement["lines"][0]["label"]
            .as_str()
            .unwrap()
            .starts_with("Socle complet")
    );
    let report = serde_json::to_value(annual_report(&case.input(), &case.outcome())).unwrap();
    assert_eq!(report["totalsByCode"]["SOCLE_COMPLET_FIXE"], 200_000);
    assert_eq!(report["staffing"]["costCents"], 4_000_000);
}

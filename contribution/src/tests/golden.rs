//! The worked examples of the convention, to the cent.

use jiff::civil::date;

use super::*;
use crate::{annual_report, format_eur};

/// Article 7.1: "5 532,5 € pour une commune de 2 355 habitants (2000 € + 2 355 x 1,5 €)".
#[test]
fn socle_complet_of_2355_inhabitants_is_5532_50() {
    let case = Case::new(
        vec![member(
            "allaire",
            2355,
            vec![socle_complet(date(2024, 1, 1))],
        )],
        2025,
    );
    let statement = case.statement();
    assert_eq!(
        amounts(&statement),
        [
            (LineCode::SocleCompletFixed, 200_000),
            (LineCode::SocleCompletVariable, 353_250)
        ]
    );
    assert_eq!(statement.lines[1].quantity, 2355);
    assert_eq!(statement.lines[1].unit_price_cents, 150);
    assert_eq!(statement.total_cents, 553_250);
    assert_eq!(format_eur(statement.total_cents), "5\u{a0}532,50\u{a0}€");
}

/// Article 7.2.1: audit 3 500 €, then the socle complet later the same year:
/// 2 032,50 € the first year, 5 532,50 € the years after.
#[test]
fn audit_then_socle_complet_the_same_year() {
    let history = vec![
        audit(date(2025, 2, 1), Some(date(2025, 4, 15))),
        socle_complet(date(2025, 9, 1)),
    ];
    let first = Case::new(vec![member("allaire", 2355, history.clone())], 2025).statement();
    assert_eq!(
        amounts(&first),
        [
            (LineCode::SocleCompletFixed, 200_000),
            (LineCode::SocleCompletVariable, 353_250),
            (LineCode::AuditDeduction, -350_000),
            (LineCode::Audit, 350_000),
        ]
    );
    assert_eq!(
        format_eur(socle_complet_cents(&first)),
        "2\u{a0}032,50\u{a0}€"
    );

    let next = Case::new(vec![member("allaire", 2355, history)], 2026).statement();
    assert_eq!(next.total_cents, 553_250);
    assert_eq!(format_eur(next.total_cents), "5\u{a0}532,50\u{a0}€");
}

/// The same example with the report delivered (and titled) the year before:
/// the annual titre of the first socle complet year is 2 032,50 € in all.
#[test]
fn audit_late_in_the_year_then_socle_complet_the_next() {
    let history = vec![
        audit(date(2024, 9, 1), Some(date(2024, 11, 20))),
        socle_complet(date(2025, 3, 1)),
    ];
    let audit_year = Case::new(vec![member("allaire", 2355, history.clone())], 2024).statement();
    assert_eq!(amounts(&audit_year), [(LineCode::Audit, 350_000)]);
    let first = Case::new(vec![member("allaire", 2355, history)], 2025).statement();
    assert_eq!(first.total_cents, 203_250);
}

/// Article 3.2: 117 days shared by 30 communes, 39 days for the 6 from 3 000
/// to 8 000, 40,5 for the 9 from 1 500 to 3 000, 37,5 for the 15 under 1 500.
#[test]
fn level1_pool_is_117_days_for_the_30_communes() {
    let grid = TariffGrid::convention();
    let half_days = |population| {
        grid.bracket_for(population)
            .unwrap()
            .level1_allowance_half_days
            .unwrap()
    };
    assert_eq!(
        [
            half_days(5000) * 6,
            half_days(2000) * 9,
            half_days(1000) * 15
        ],
        [78, 81, 75],
        "39, 40,5 and 37,5 days"
    );

    let communes = [(6, 5000), (9, 2000), (15, 1000)]
        .into_iter()
        .flat_map(|(count, population)| (0..count).map(move |i| (i, population)))
        .map(|(i, population)| {
            member(
                &format!("c{population}-{i}"),
                population,
                vec![socle_complet(date(2025, 1, 1))],
            )
        })
        .collect();
    let case = Case::new(communes, 2025);
    let report = annual_report(&case.input(), &case.outcome());
    assert_eq!(report.level1.allowance_half_days, 234, "117 days");
    assert_eq!(report.staffing.socle_complet_members, 30);
    assert_eq!(report.staffing.etp, 3);
}

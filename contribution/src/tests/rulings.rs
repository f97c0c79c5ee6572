//! One table per ruling on pricing and subscriptions (rulings 1 to 6).

use jiff::civil::{Date, date};

use super::*;

const JAN_2025: Date = date(2025, 1, 1);

/// Rulings 1, 2, 3 and 5: every bracket boundary, for every offer. `None`: the
/// grid does not price it and, without override, the member is in error.
#[test]
fn bracket_boundaries() {
    let cases: [(u32, Option<Cents>, Option<Cents>, Cents); 6] = [
        (1499, Some(150_000), Some(99_000), 75_000),
        (1500, Some(200_000), Some(350_000), 125_000),
        (2999, Some(200_000), Some(350_000), 125_000),
        (3000, Some(250_000), Some(700_000), 200_000),
        (8000, Some(250_000), Some(700_000), 200_000),
        (8001, None, None, 350_000),
    ];
    for (population, socle_complet_fixed, audit_price, groupement_fixed) in cases {
        let inhabitants = Cents::from(population);
        let priced = |subscriptions| {
            let outcome = Case::new(vec![member("m", population, subscriptions)], 2025).outcome();
            match (outcome.statements.first(), outcome.errors.first()) {
                (Some(statement), None) => Ok(amounts(statement)),
                (None, Some(error)) => Err(error.message.clone()),
                other => panic!("{population}: {other:?}"),
            }
        };

        let socle = priced(vec![socle_complet(JAN_2025)]);
        match socle_complet_fixed {
            Some(fixed) => assert_eq!(
                socle,
                Ok(vec![
                    (LineCode::SocleCompletFixed, fixed),
                    (LineCode::SocleCompletVariable, inhabitants * 150),
                ]),
                "socle complet, {population}"
            ),
            None => assert!(
                socle.unwrap_err().starts_with("article 7.1 (*)"),
                "{population}"
            ),
        }

        let audited = priced(vec![audit(JAN_2025, Some(date(2025, 3, 1)))]);
        match audit_price {
            Some(price) => {
                assert_eq!(
                    audited,
                    Ok(vec![(LineCode::Audit, price)]),
                    "audit, {population}"
                );
            }
            None => assert!(
                audited.unwrap_err().starts_with("article 7.2.1 (*)"),
                "{population}"
            ),
        }

        assert_eq!(
            priced(vec![groupement(JAN_2025)]),
            Ok(vec![
                (LineCode::GroupementFixed, groupement_fixed),
                (LineCode::GroupementVariable, inhabitants * 25),
            ]),
            "groupement, {population}"
        );
    }
}

/// Ruling 2: the grid does not price a member above 8 000 or with its own IT
/// department; without an override that member alone is in error.
#[test]
fn unpriceable_members_are_reported_and_the_others_priced() {
    let it_department = MemberFacts {
        has_it_department: true,
        ..member("bains", 2000, vec![socle_complet(JAN_2025)])
    };
    let case = Case::new(
        vec![
            member("redon", 9000, vec![socle_complet(JAN_2025)]),
            it_department,
            member("allaire", 2355, vec![socle_complet(JAN_2025)]),
        ],
        2025,
    );
    let outcome = case.outcome();
    assert_eq!(outcome.statements.len(), 1);
    assert_eq!(outcome.statements[0].member, "allaire");
    let errors: Vec<(&str, &str)> = outcome
        .errors
        .iter()
        .map(|e| (e.member.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "bains");
    assert!(errors[0].1.contains("article 7.1") && errors[0].1.contains("hasItDepartment"));
    assert_eq!(errors[1].0, "redon");
    assert!(errors[1].1.contains("article 7.1") && errors[1].1.contains("9000"));
}

/// Ruling 2: the override replaces the grid; where the grid does not apply,
/// a missing override field is named; where it does, the grid fills the gap.
#[test]
fn tariff_overrides() {
    let priced = |population, has_it_department, fixed, per_inhabitant| {
        let member = MemberFacts {
            has_it_department,
            tariff_override: Some(tariff_override(fixed, per_inhabitant)),
            ..member("m", population, vec![socle_complet(JAN_2025)])
        };
        let outcome = Case::new(vec![member], 2025).outcome();
        match (outcome.statements.first(), outcome.errors.first()) {
            (Some(statement), None) => Ok(amounts(statement)),
            (_, error) => Err(error.unwrap().message.clone()),
        }
    };
    let full = Ok(vec![
        (LineCode::SocleCompletFixed, 300_000),
        (LineCode::SocleCompletVariable, 9000 * 120),
    ]);
    assert_eq!(priced(9000, false, Some(300_000), Some(120)), full);
    let missing = priced(9000, false, Some(300_000), None).unwrap_err();
    assert!(
        missing.contains("article 7.1") && missing.contains("tariffOverride.perInhabitantCents")
    );
    let missing = priced(2000, true, None, Some(150)).unwrap_err();
    assert!(missing.contains("tariffOverride.fixedCents"), "{missing}");
    assert_eq!(
        priced(2000, false, Some(100_000), None),
        Ok(vec![
            (LineCode::SocleCompletFixed, 100_000),
            (LineCode::SocleCompletVariable, 2000 * 150)
        ])
    );
    let negative = priced(2000, false, Some(-1), None).unwrap_err();
    assert!(
        negative.contains("fixedCents must not be negative"),
        "{negative}"
    );

    let with_decision = Case::new(
        vec![MemberFacts {
            tariff_override: Some(tariff_override(Some(300_000), Some(120))),
            ..member("m", 9000, vec![socle_complet(JAN_2025)])
        }],
        2025,
    )
    .statement();
    assert!(
        with_decision.lines[0]
            .label
            .contains("tarif particulier CC_2026_031")
    );
}

/// Ruling 3: billed once, in the exercise of the report; not before.
#[test]
fn audit_is_billed_in_the_exercise_of_its_report() {
    let cases = [
        (None, 2025, false),
        (Some(date(2025, 12, 31)), 2025, true),
        (Some(date(2025, 12, 31)), 2026, false),
        (Some(date(2026, 1, 1)), 2025, false),
        (Some(date(2026, 1, 1)), 2026, true),
    ];
    for (report, exercise, billed) in cases {
        let case = Case::new(
            vec![member("m", 1000, vec![audit(JAN_2025, report)])],
            exercise,
        );
        let outcome = case.outcome();
        assert!(outcome.errors.is_empty());
        assert_eq!(
            !outcome.statements.is_empty(),
            billed,
            "{report:?} in {exercise}"
        );
    }
}

/// Ruling 4: effectiveDate ≤ reportDate + 6 months deducts, one day more
/// does not; month ends clamp; the deduction falls in the socle complet's
/// first exercise even when that is the year after the audit.
#[test]
fn deduction_window() {
    let cases = [
        (date(2025, 4, 15), date(2025, 10, 15), 2025, true),
        (date(2025, 4, 15), date(2025, 10, 16), 2025, false),
        (date(2025, 8, 31), date(2026, 2, 28), 2026, true),
        (date(2025, 8, 31), date(2026, 3, 1), 2026, false),
        (date(2024, 8, 31), date(2025, 2, 28), 2025, true),
        // The socle complet starting before the report, the same year: the
        // audit was its prerequisite.
        (date(2025, 4, 15), date(2025, 1, 1), 2025, true),
        // A socle complet already running the year before: nothing to deduct.
        (date(2025, 4, 15), date(2024, 6, 1), 2025, false),
    ];
    for (report, effective, exercise, deducted) in cases {
        let history = vec![
            audit(date(2024, 1, 1), Some(report)),
            socle_complet(effective),
        ];
        let statement = Case::new(vec![member("m", 2355, history.clone())], exercise).statement();
        let deduction = statement
            .lines
            .iter()
            .find(|l| l.code == LineCode::AuditDeduction);
        assert_eq!(
            deduction.is_some(),
            deducted,
            "report {report}, effective {effective}"
        );
        if let Some(line) = deduction {
            assert_eq!(line.amount_cents, -350_000);
            let explanation = line.explanation.as_deref().unwrap();
            let window_end = report.saturating_add(jiff::Span::new().months(6));
            assert!(explanation.contains(&report.strftime("%d/%m/%Y").to_string()));
            assert!(explanation.contains(&window_end.strftime("%d/%m/%Y").to_string()));
            assert_eq!(line.reference.as_deref(), Some("DEL-Audit"));
        }
        // Never in the following exercise.
        let next = Case::new(vec![member("m", 2355, history)], exercise + 1).statement();
        assert_eq!(
            next.total_cents, 553_250,
            "report {report}, effective {effective}"
        );
    }
}

/// Ruling 4: never below zero.
#[test]
fn deduction_floors_at_zero() {
    let member = MemberFacts {
        tariff_override: Some(tariff_override(Some(10_000), Some(0))),
        ..member(
            "m",
            2355,
            vec![
                audit(date(2024, 6, 1), Some(date(2024, 10, 1))),
                socle_complet(JAN_2025),
            ],
        )
    };
    let statement = Case::new(vec![member], 2025).statement();
    assert_eq!(
        amounts(&statement),
        [
            (LineCode::SocleCompletFixed, 10_000),
            (LineCode::SocleCompletVariable, 0),
            (LineCode::AuditDeduction, -10_000),
        ]
    );
    assert_eq!(statement.total_cents, 0);
    assert!(
        statement.lines[2]
            .explanation
            .as_deref()
            .unwrap()
            .contains("limitée")
    );
}

/// Ruling 5: no groupement d'achats in an exercise that owes the socle complet.
#[test]
fn groupement_gives_way_to_socle_complet() {
    let history = vec![
        groupement(date(2023, 1, 1)),
        ending(socle_complet(date(2024, 12, 1)), date(2025, 6, 30)),
    ];
    let codes = |exercise| {
        let case = Case::new(vec![member("m", 1000, history.clone())], exercise);
        amounts(&case.statement())
            .into_iter()
            .map(|(code, _)| code)
            .collect::<Vec<_>>()
    };
    let groupement = vec![LineCode::GroupementFixed, LineCode::GroupementVariable];
    let socle = vec![LineCode::SocleCompletFixed, LineCode::SocleCompletVariable];
    assert_eq!(codes(2023), groupement);
    assert_eq!(codes(2024), socle, "the socle complet starts in December");
    assert_eq!(codes(2025), socle, "and ends in June");
    assert_eq!(codes(2026), groupement);
}

/// Ruling 6: one day in force owes the whole year; the end date is inclusive.
#[test]
fn whole_years() {
    let cases = [
        (date(2025, 12, 31), None, true),
        (date(2026, 1, 1), None, false),
        (date(2020, 1, 1), Some(date(2025, 1, 1)), true),
        (date(2020, 1, 1), Some(date(2024, 12, 31)), false),
    ];
    for (effective, end, owed) in cases {
        let mut subscription = socle_complet(effective);
        subscription.end_date = end;
        let outcome = Case::new(vec![member("m", 1000, vec![subscription])], 2025).outcome();
        let total = outcome.statements.first().map(|s| s.total_cents);
        assert_eq!(
            total,
            owed.then_some(150_000 + 1000 * 150),
            "{effective} to {end:?}"
        );
    }
}

#[test]
fn a_subscription_ending_before_it_starts_is_an_error() {
    let history = vec![ending(socle_complet(date(2025, 6, 1)), date(2025, 3, 1))];
    let outcome = Case::new(vec![member("m", 1000, history)], 2025).outcome();
    assert!(outcome.statements.is_empty());
    assert!(outcome.errors[0].message.starts_with("article 2.4"));
}

/// Ruling 8: an audit delivered in December is titled once, on its own
/// title of that exercise; the next exercise's titles hold the socle
/// complet and its deduction, never the audit again.
#[test]
fn an_audit_delivered_in_december_is_titled_once() {
    let report = date(2026, 12, 15);
    let members = vec![member(
        "m",
        2355,
        vec![
            audit(date(2026, 9, 1), Some(report)),
            socle_complet(date(2027, 2, 1)),
        ],
    )];
    let titles = |exercise| -> Vec<crate::Title> {
        let outcome = Case::new(members.clone(), exercise).outcome();
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        outcome
            .statements
            .iter()
            .flat_map(crate::Statement::titles)
            .collect()
    };
    let (this_year, next_year) = (titles(2026), titles(2027));
    let audit_lines = |titles: &[crate::Title]| {
        titles
            .iter()
            .flat_map(|title| &title.lines)
            .filter(|line| line.code == LineCode::Audit)
            .count()
    };
    assert_eq!(audit_lines(&this_year) + audit_lines(&next_year), 1);
    assert_eq!(this_year.len(), 1);
    assert_eq!(this_year[0].kind, crate::TitleKind::Audit);
    assert_eq!(this_year[0].total_cents, 350_000);
    assert_eq!(next_year.len(), 1);
    assert_eq!(next_year[0].kind, crate::TitleKind::Annual);
    let codes: Vec<LineCode> = next_year[0].lines.iter().map(|line| line.code).collect();
    assert_eq!(
        codes,
        [
            LineCode::SocleCompletFixed,
            LineCode::SocleCompletVariable,
            LineCode::AuditDeduction
        ]
    );
    assert_eq!(next_year[0].total_cents, 553_250 - 350_000);
}

/// What the French documents print of a member not priced is French; the
/// English message stays for the DSI's conditions and `socle validate`.
#[test]
fn a_member_not_priced_is_explained_in_french() {
    let outcome = Case::new(vec![member("m", 9100, vec![socle_complet(JAN_2025)])], 2025).outcome();
    let error = &outcome.errors[0];
    assert!(
        error.message.starts_with("article 7.1 (*): the grid"),
        "{}",
        error.message
    );
    assert_eq!(
        error.message_fr.replace('\u{a0}', " "),
        "article 7.1 (*) : la grille convention-cadre n'a pas de prix pour une population de \
         9 100, la grille ne s'applique pas ; le membre a besoin d'un tarif particulier \
         (tariffOverride) décidé par la commission de pilotage"
    );
}

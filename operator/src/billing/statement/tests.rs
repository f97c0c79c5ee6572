use jiff::civil::date;

use super::*;
use crate::contribution::{Line, LineCode};

fn line(code: LineCode, amount_cents: i64) -> Line {
    Line {
        code,
        label: format!("{code:?}"),
        quantity: 1,
        base: String::new(),
        unit_price_cents: amount_cents,
        amount_cents,
        legal_basis: "art. 7".to_owned(),
        imputation: "70846".to_owned(),
        explanation: None,
        reference: None,
    }
}

fn engine_statement(member: &str, lines: Vec<Line>) -> Statement {
    Statement {
        member: member.into(),
        display_name: member.to_uppercase(),
        insee_code: "56001".into(),
        exercise: 2026,
        total_cents: lines.iter().map(|line| line.amount_cents).sum(),
        lines,
    }
}

/// The Drafts of 2026 for two members: Allaire's contribution, Bains's
/// contribution and its audit delivered on 15 December.
fn drafts_2026() -> Vec<ContributionStatement> {
    let mut all = drafts(
        &engine_statement("allaire", vec![line(LineCode::SocleCompletFixed, 250_000)]),
        None,
        "convention-cadre",
        "socle-system",
        None,
    );
    all.extend(drafts(
        &engine_statement(
            "bains",
            vec![
                line(LineCode::SocleCompletFixed, 200_000),
                line(LineCode::Audit, 350_000),
            ],
        ),
        None,
        "convention-cadre",
        "socle-system",
        Some(date(2026, 12, 15)),
    ));
    all
}

fn request(date: Date) -> IssueRequest<'static> {
    IssueRequest {
        exercise: 2026,
        date,
        today: date,
        audits_only: false,
        before_end: None,
    }
}

fn names(plan: &[ToIssue]) -> Vec<(&str, &str)> {
    plan.iter()
        .map(|issue| (issue.name.as_str(), issue.title_number.as_str()))
        .collect()
}

/// What `socle statements issue` does: the planned statements become Issued.
fn issue(statements: &mut [ContributionStatement], plan: &[ToIssue], on: Date) {
    for to_issue in plan {
        let statement = statements
            .iter_mut()
            .find(|s| s.metadata.name.as_deref() == Some(to_issue.name.as_str()))
            .unwrap();
        statement.spec.state = StatementState::Issued;
        statement.spec.title_number = Some(to_issue.title_number.clone());
        statement.spec.issued_on = Some(on);
        statement
            .spec
            .issued_before_end
            .clone_from(&to_issue.before_end);
    }
}

#[test]
fn the_audit_is_a_draft_of_its_own() {
    let all = drafts_2026();
    let summary: Vec<(&str, TitleKind, i64, Option<Date>)> = all
        .iter()
        .map(|s| {
            (
                s.metadata.name.as_deref().unwrap(),
                s.spec.title_kind,
                s.spec.total_cents,
                s.spec.audit_report_date,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("allaire-2026", TitleKind::Annual, 250_000, None),
            ("bains-2026", TitleKind::Annual, 200_000, None),
            (
                "bains-2026-audit",
                TitleKind::Audit,
                350_000,
                Some(date(2026, 12, 15))
            ),
        ]
    );
    assert_eq!(all[0].metadata.namespace.as_deref(), Some("socle-system"));
    assert_eq!(all[0].spec.state, StatementState::Draft);
    assert_eq!(
        all[0].metadata.labels.as_ref().unwrap()[EXERCISE_LABEL],
        "2026"
    );
}

/// Ruling 8 on the calendar: in December the audit delivered that month is
/// titled, the contributions are not; in January the contributions are, and
/// the audit is not titled again.
#[test]
fn an_exercise_is_titled_after_its_end_and_its_audit_at_delivery_once() {
    let mut statements = drafts_2026();
    let december = date(2026, 12, 20);
    assert_eq!(
        plan_issue(&statements, &request(december)),
        Err(IssueRefusal::NotEnded {
            exercise: 2026,
            next: 2027
        })
    );
    let before_delivery = IssueRequest {
        audits_only: true,
        ..request(date(2026, 12, 10))
    };
    assert!(matches!(
        plan_issue(&statements, &before_delivery),
        Err(IssueRefusal::Nothing { .. })
    ));
    let audits = plan_issue(
        &statements,
        &IssueRequest {
            audits_only: true,
            ..request(december)
        },
    )
    .unwrap();
    assert_eq!(names(&audits), [("bains-2026-audit", "2026-0001")]);
    assert_eq!(audits[0].before_end, None, "an audit is titled at delivery");
    issue(&mut statements, &audits, december);

    let january = date(2027, 1, 12);
    let annual = plan_issue(&statements, &request(january)).unwrap();
    assert_eq!(
        names(&annual),
        [("allaire-2026", "2026-0002"), ("bains-2026", "2026-0003")]
    );
    issue(&mut statements, &annual, january);
    let audit_titles = statements
        .iter()
        .filter(|s| s.spec.lines.iter().any(|l| l.code == LineCode::Audit))
        .count();
    assert_eq!(audit_titles, 1);
    assert!(matches!(
        plan_issue(&statements, &request(january)),
        Err(IssueRefusal::Nothing { .. })
    ));
}

#[test]
fn issuing_before_the_end_needs_a_reason_recorded_on_the_statements() {
    let statements = drafts_2026();
    let november = date(2026, 11, 30);
    let empty = IssueRequest {
        before_end: Some("  "),
        ..request(november)
    };
    assert_eq!(
        plan_issue(&statements, &empty),
        Err(IssueRefusal::EmptyReason)
    );
    let reason = "départ de la trésorière, délibération DEL-2026-090";
    let early = plan_issue(
        &statements,
        &IssueRequest {
            before_end: Some(reason),
            ..request(november)
        },
    )
    .unwrap();
    // The audit is not delivered yet on 30 November: not titled.
    assert_eq!(
        names(&early),
        [("allaire-2026", "2026-0001"), ("bains-2026", "2026-0002")]
    );
    assert!(
        early
            .iter()
            .all(|issue| issue.before_end.as_deref() == Some(reason))
    );
}

#[test]
fn a_title_is_not_dated_in_advance() {
    let statements = drafts_2026();
    let future = IssueRequest {
        today: date(2027, 1, 5),
        ..request(date(2027, 1, 6))
    };
    assert!(matches!(
        plan_issue(&statements, &future),
        Err(IssueRefusal::FutureDate { .. })
    ));
}

/// A statement issued before the audit had a title of its own already
/// titled it.
#[test]
fn an_audit_titled_with_the_contribution_gets_no_title_of_its_own() {
    let all = drafts(
        &engine_statement("bains", vec![line(LineCode::Audit, 350_000)]),
        None,
        "convention-cadre",
        "socle-system",
        None,
    );
    let mut legacy = all[0].spec.clone();
    legacy.title_kind = TitleKind::Annual;
    assert!(
        !audit_already_titled(Some(&legacy)),
        "a Draft titles nothing"
    );
    legacy.state = StatementState::Issued;
    assert!(audit_already_titled(Some(&legacy)));
    assert!(!audit_already_titled(None));
}

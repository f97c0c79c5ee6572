//! Build: the `ContributionStatement`s of one member for one exercise, from
//! the engine's statement, and which of them `socle statements issue` may
//! title on a given day. Pure.

use std::collections::BTreeMap;

use jiff::civil::Date;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::{
    api::{
        ContributionStatement, ContributionStatementSpec, contribution_statement::StatementState,
    },
    contribution::{Statement, TitleKind},
    labels,
};

/// Label carrying the exercise of a statement.
pub const EXERCISE_LABEL: &str = "socle.redon-agglomeration.bzh/exercise";

/// One annual statement per member and exercise: the name says which.
pub fn statement_name(member: &str, exercise: i16) -> String {
    format!("{member}-{exercise}")
}

/// The audit's own title of the exercise (ruling 8).
pub fn audit_statement_name(member: &str, exercise: i16) -> String {
    format!("{member}-{exercise}-audit")
}

/// The Draft statements the operator keeps up to date while the exercise
/// runs: the contribution, and the audit on its own title when a report
/// was delivered in the exercise (`audit_report_date`).
pub fn drafts(
    statement: &Statement,
    siret: Option<&str>,
    tariff: &str,
    namespace: &str,
    audit_report_date: Option<Date>,
) -> Vec<ContributionStatement> {
    statement
        .titles()
        .into_iter()
        .map(|title| {
            let (name, report) = match title.kind {
                TitleKind::Annual => (statement_name(&statement.member, statement.exercise), None),
                TitleKind::Audit => (
                    audit_statement_name(&statement.member, statement.exercise),
                    audit_report_date,
                ),
            };
            let mut object = ContributionStatement::new(
                &name,
                ContributionStatementSpec {
                    member: statement.member.clone(),
                    exercise: statement.exercise,
                    debtor: statement.display_name.clone(),
                    insee_code: statement.insee_code.clone(),
                    siret: siret.map(str::to_owned),
                    state: StatementState::Draft,
                    title_kind: title.kind,
                    audit_report_date: report,
                    issued_before_end: None,
                    title_number: None,
                    issued_on: None,
                    tariff: tariff.to_owned(),
                    lines: title.lines,
                    total_cents: title.total_cents,
                },
            );
            object.metadata = ObjectMeta {
                name: object.metadata.name.take(),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([
                    (labels::MEMBER.to_owned(), statement.member.clone()),
                    (EXERCISE_LABEL.to_owned(), statement.exercise.to_string()),
                    (labels::COMPONENT.to_owned(), "billing".to_owned()),
                    (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
                ])),
                ..ObjectMeta::default()
            };
            object
        })
        .collect()
}

/// Whether an Issued annual statement already titled the audit with the
/// contribution (statements issued before the audit had a title of its
/// own): its audit then gets no title of its own, or it would be titled twice.
pub fn audit_already_titled(annual: Option<&ContributionStatementSpec>) -> bool {
    annual.is_some_and(|spec| {
        spec.state == StatementState::Issued
            && spec
                .lines
                .iter()
                .any(|line| line.code == crate::contribution::LineCode::Audit)
    })
}

/// What `socle statements issue` is asked to title.
#[derive(Clone, Copy, Debug)]
pub struct IssueRequest<'a> {
    pub exercise: i16,
    /// The date printed on the titles.
    pub date: Date,
    /// Today: no title is dated after it.
    pub today: Date,
    /// Only the audits' own titles, whose reports were delivered by `date`.
    pub audits_only: bool,
    /// Why the exercise's contributions are titled before it has ended.
    pub before_end: Option<&'a str>,
}

/// Why nothing is issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueRefusal {
    #[error("the date of issue {date} is after today ({today}): a title is not dated in advance")]
    FutureDate { date: Date, today: Date },
    #[error(
        "exercise {exercise} has not ended: its titles are issued from 1 January {next} (ruling 8). \
         Give --before-end \"<reason>\" to issue them now (the reason is recorded on each \
         statement), or --audits to title only the audits whose report was delivered"
    )]
    NotEnded { exercise: i16, next: i16 },
    #[error("--before-end needs a reason, recorded on the statements")]
    EmptyReason,
    #[error("no Draft statement for exercise {exercise} may be issued on {date}: nothing to issue")]
    Nothing { exercise: i16, date: Date },
}

/// One statement to issue: its name, its title number and the reason it is
/// issued before the end of its exercise, if it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToIssue {
    pub name: String,
    pub title_number: String,
    pub before_end: Option<String>,
}

/// The Drafts of the exercise to issue on `request.date`, each with its title
/// number. Numbers continue after the highest already issued for the
/// exercise, so issuing twice (or after a late member) never reuses one;
/// Drafts are numbered in member-name order, the contribution before the
/// audit, so the numbering is reproducible.
///
/// An annual statement is issued once its exercise has ended (ruling 8),
/// or before with a reason. An audit title is issued once its report has
/// been delivered, whenever that is.
pub fn plan_issue(
    statements: &[ContributionStatement],
    request: &IssueRequest<'_>,
) -> Result<Vec<ToIssue>, IssueRefusal> {
    let IssueRequest {
        exercise,
        date,
        today,
        ..
    } = *request;
    if date > today {
        return Err(IssueRefusal::FutureDate { date, today });
    }
    let before_end = request.before_end.map(str::trim);
    if before_end == Some("") {
        return Err(IssueRefusal::EmptyReason);
    }
    let ended = date.year() > exercise;
    if !ended && !request.audits_only && before_end.is_none() {
        return Err(IssueRefusal::NotEnded {
            exercise,
            next: exercise.saturating_add(1),
        });
    }
    let sequence = |number: &str| {
        number
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    };
    let mut last = statements
        .iter()
        .filter_map(|s| s.spec.title_number.as_deref().and_then(sequence))
        .max()
        .unwrap_or(0);
    let mut drafts: Vec<&ContributionStatement> = statements
        .iter()
        .filter(|s| s.spec.state == StatementState::Draft && s.spec.exercise == exercise)
        .filter(|s| match s.spec.title_kind {
            TitleKind::Annual => !request.audits_only,
            TitleKind::Audit => s.spec.audit_report_date.is_none_or(|report| report <= date),
        })
        .collect();
    if drafts.is_empty() {
        return Err(IssueRefusal::Nothing { exercise, date });
    }
    drafts.sort_by(|a, b| {
        (&a.spec.member, a.spec.title_kind).cmp(&(&b.spec.member, b.spec.title_kind))
    });
    Ok(drafts
        .into_iter()
        .map(|draft| {
            last += 1;
            ToIssue {
                name: draft.metadata.name.clone().unwrap_or_default(),
                title_number: format!("{exercise}-{last:04}"),
                before_end: (draft.spec.title_kind == TitleKind::Annual && !ended)
                    .then(|| before_end.unwrap_or_default().to_owned()),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests;

//! One exercise of contributions: every member's lines, in one pass over the
//! members, the usage records and the shared costs.

use std::collections::HashSet;

use super::{
    annual, audit,
    error::ContributionError,
    input::{Input, MemberFacts},
    level1, pass_through,
    shared::{self, Shares},
    statement::{Line, MemberError, Outcome, Statement, checked_total},
    subscription::check_history,
    tariff::MemberTariff,
    usage::{MemberUsage, UsageIndex},
};

/// Computes the statements of `input.exercise` for every member.
///
/// A member that cannot be priced gets a [`MemberError`] and no statement;
/// the others are priced all the same. The result depends only on the
/// content of the input, never on the order of members, usage records or
/// shared costs.
pub fn compute(input: &Input<'_>) -> Outcome {
    let usage = UsageIndex::new(input.usage, input.exercise);
    let mut shares = shared::allocate(input);
    let mut statements = Vec::new();
    let mut errors = Vec::new();
    for member in input.members {
        let Shares {
            lines: share_lines,
            errors: share_errors,
        } = shares.remove(member.name.as_str()).unwrap_or_default();
        match statement(input, member, usage.of(&member.name), share_lines) {
            Ok(priced) if share_errors.is_empty() => statements.extend(priced),
            Ok(_) => {}
            Err(error) => errors.push(MemberError::new(&member.name, &error)),
        }
        errors.extend(
            share_errors
                .iter()
                .map(|error| MemberError::new(&member.name, error)),
        );
    }
    // What is left belongs to names that are not members: say so rather
    // than drop a share or a usage record silently.
    for (name, rest) in shares {
        errors.extend(
            rest.errors
                .iter()
                .map(|error| MemberError::new(name, error)),
        );
    }
    let members: HashSet<&str> = input.members.iter().map(|m| m.name.as_str()).collect();
    for name in usage.names().filter(|name| !members.contains(name)) {
        let error = ContributionError::UnknownUsageMember {
            member: name.to_owned(),
            exercise: input.exercise,
        };
        errors.push(MemberError::new(name, &error));
    }
    statements.sort_unstable_by(|a, b| a.member.cmp(&b.member));
    errors.sort_unstable();
    Outcome {
        exercise: input.exercise,
        statements,
        errors,
    }
}

/// The member's statement, or `None` when it owes nothing this exercise.
fn statement(
    input: &Input<'_>,
    member: &MemberFacts,
    usage: Option<&MemberUsage<'_>>,
    share_lines: Vec<Line>,
) -> Result<Option<Statement>, ContributionError> {
    check_history(member)?;
    let tariff = MemberTariff::new(input.grid, member);
    let exercise = input.exercise;
    let mut lines = annual::socle_complet(&tariff, exercise)?;
    lines.extend(audit::lines(&tariff, exercise)?);
    lines.extend(annual::groupement(&tariff, exercise)?);
    if let Some(usage) = usage {
        lines.extend(level1::lines(&tariff, exercise, usage.level1_half_days)?);
        lines.extend(pass_through::lines(input.grid, &usage.pass_through)?);
    }
    lines.extend(share_lines);
    if lines.is_empty() {
        return Ok(None);
    }
    let total_cents = checked_total(&lines)?;
    Ok(Some(Statement {
        member: member.name.clone(),
        display_name: member.display_name.clone(),
        insee_code: member.insee_code.clone(),
        exercise,
        lines,
        total_cents,
    }))
}

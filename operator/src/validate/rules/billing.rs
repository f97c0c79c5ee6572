//! Billing: Tariffs the engine can use, and every member the contribution
//! engine cannot price — run through [`Ledger`], exactly as `socle
//! contribution` and the statement controller price.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use jiff::civil::Date;
use kube::ResourceExt;

use super::{Catalog, Entry};
use crate::{
    api::Member,
    billing::Ledger,
    validate::{Report, path::FieldPath},
};

/// A Tariff's brackets must cover every population once, and two Tariffs
/// must not claim the same first exercise. A Tariff with a mistake is left
/// out of the engine's run, which would only repeat it for each member.
pub(super) fn check_tariffs(catalog: &mut Catalog<'_>, report: &mut Report) {
    let mut broken = BTreeSet::new();
    let mut first_exercise: BTreeMap<i16, usize> = BTreeMap::new();
    for (index, entry) in catalog.tariffs.iter().enumerate() {
        let grid = &entry.object.spec.grid;
        let brackets = FieldPath::parse("spec.grid.brackets");
        for (k, pair) in grid.brackets.windows(2).enumerate() {
            let (previous, next) = (&pair[0], &pair[1]);
            let message = match previous.max_population {
                None => Some(format!(
                    "bracket {k} has no maxPopulation, so it covers every population above {}, yet bracket {} follows it",
                    previous.min_population,
                    k + 1
                )),
                Some(max) if next.min_population <= max => Some(format!(
                    "starts at {} but bracket {k} runs to {max}: a population would fall in two brackets",
                    next.min_population
                )),
                Some(max) if next.min_population > max + 1 => Some(format!(
                    "starts at {} but bracket {k} ends at {max}: populations {} to {} fall in no bracket",
                    next.min_population,
                    max + 1,
                    next.min_population - 1
                )),
                Some(_) => None,
            };
            if let Some(message) = message {
                entry.report(report, &brackets.index(k + 1).key("minPopulation"), message);
                broken.insert(index);
            }
        }
        if let Some(last) = grid.brackets.last()
            && let Some(max) = last.max_population
        {
            entry.report(
                report,
                &brackets.index(grid.brackets.len() - 1).key("maxPopulation"),
                format!("the last bracket must have no maxPopulation, or populations above {max} fall in no bracket"),
            );
            broken.insert(index);
        }
        let from = FieldPath::parse("spec.grid.validFromExercise");
        if let Some(earlier) = first_exercise.get(&grid.valid_from_exercise) {
            let earlier = &catalog.tariffs[*earlier];
            entry.report(
                report,
                &from,
                format!(
                    "Tariff {} ({}) also starts with exercise {}: each deliberation's grid needs its own first exercise",
                    earlier.object.name_any(),
                    earlier.place(&from),
                    grid.valid_from_exercise
                ),
            );
        } else {
            first_exercise.insert(grid.valid_from_exercise, index);
        }
    }
    let mut index = 0;
    catalog.tariffs.retain(|_| {
        index += 1;
        !broken.contains(&(index - 1))
    });
}

/// Runs the engine on every exercise the manifests speak of and reports each
/// member it cannot price, once per distinct message, naming the first
/// exercise it cannot price.
pub(super) fn check_engine(catalog: &Catalog<'_>, report: &mut Report) {
    let ledger = Ledger {
        members: catalog.members().into_iter().map(Into::into).collect(),
        usage: catalog
            .usage
            .iter()
            .map(|e| Arc::new(e.object.clone().into()))
            .collect(),
        services: catalog.services(),
        tariffs: catalog.tariffs.iter().map(|e| e.object.clone()).collect(),
    };
    let entries: BTreeMap<String, &Entry<'_, Member>> = catalog
        .members
        .iter()
        .map(|entry| (entry.object.name_any(), entry))
        .collect();
    let mut seen = BTreeSet::new();
    for exercise in exercises(&ledger) {
        for error in ledger.compute(exercise).errors {
            // Names that are not Members (a usage record's, a subscriber's)
            // are reported where they are written, by the reference checks.
            let Some(entry) = entries.get(&error.member) else {
                continue;
            };
            if seen.insert((error.member.clone(), error.message.clone())) {
                entry.report(
                    report,
                    &engine_path(&error.message),
                    format!("{} (exercise {exercise})", error.message),
                );
            }
        }
    }
}

/// The field an engine message is about: the override field it names, or
/// the member's spec.
fn engine_path(message: &str) -> FieldPath {
    match message.split_once("tariffOverride") {
        Some((_, rest)) => {
            let field: String = rest
                .strip_prefix('.')
                .map(|r| r.chars().take_while(char::is_ascii_alphanumeric).collect())
                .unwrap_or_default();
            let path = FieldPath::parse("spec.tariffOverride");
            if field.is_empty() {
                path
            } else {
                path.key(&field)
            }
        }
        None => FieldPath::parse("spec"),
    }
}

/// The exercises to price: from the earliest year any manifest names to the
/// latest (an open subscription meets every later Tariff), at most a century.
fn exercises(ledger: &Ledger) -> std::ops::RangeInclusive<i16> {
    let mut years = Vec::new();
    for member in &ledger.members {
        for s in &member.spec.subscriptions {
            years.push(s.effective_date.year());
            years.extend(s.end_date.map(Date::year));
            years.extend(s.audit_report_date.map(Date::year));
        }
    }
    years.extend(ledger.usage.iter().map(|u| u.exercise));
    years.extend(
        ledger
            .tariffs
            .iter()
            .map(|t| t.spec.grid.valid_from_exercise),
    );
    for service in &ledger.services {
        if let Some(contract) = &service.spec.contract {
            years.push(contract.start_date.year());
            years.extend(contract.end_date.map(Date::year));
        }
    }
    let first = years.iter().copied().min().unwrap_or(0);
    let last = years.iter().copied().max().unwrap_or(-1);
    first..=last.min(first.saturating_add(100))
}

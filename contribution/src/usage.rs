//! Usage records of one exercise after corrections, indexed by member so that
//! pricing stays linear in the number of records.

use std::collections::{HashMap, HashSet};

use super::input::{Meter, Usage};

/// The billable usage of one member for the exercise.
#[derive(Debug, Default)]
pub(crate) struct MemberUsage<'a> {
    /// Level-1 half-days, all records added up (saturating: an absurd sum is
    /// then refused when priced, never wrapped to a small one).
    pub level1_half_days: u64,
    /// Pass-through records, sorted by id so that lines come in a stable order.
    pub pass_through: Vec<&'a Usage>,
}

/// The billable usage of every member for one exercise.
#[derive(Debug, Default)]
pub(crate) struct UsageIndex<'a> {
    by_member: HashMap<&'a str, MemberUsage<'a>>,
}

/// The records of `exercise` that still count. A record counts unless
/// another record (of any member or exercise) corrects it: in a chain only the
/// last correction counts, and records correcting each other in a cycle all
/// drop out, leaving nothing to bill or count twice.
pub(crate) fn counting(usage: &[Usage], exercise: i16) -> impl Iterator<Item = &Usage> {
    let corrected: HashSet<&str> = usage
        .iter()
        .filter_map(|record| record.corrects.as_deref())
        .collect();
    usage.iter().filter(move |record| {
        record.exercise == exercise && !corrected.contains(record.id.as_str())
    })
}

impl<'a> UsageIndex<'a> {
    /// Indexes the billable records of `exercise` that still count ([`counting`]).
    pub(crate) fn new(usage: &'a [Usage], exercise: i16) -> Self {
        let mut by_member: HashMap<&str, MemberUsage<'_>> = HashMap::new();
        for record in counting(usage, exercise) {
            match record.meter {
                Meter::Level1HalfDays => {
                    let entry = by_member.entry(&record.member).or_default();
                    entry.level1_half_days = entry.level1_half_days.saturating_add(record.quantity);
                }
                Meter::PassThrough => {
                    by_member
                        .entry(&record.member)
                        .or_default()
                        .pass_through
                        .push(record);
                }
                Meter::Inventory(_) => {}
            }
        }
        for member in by_member.values_mut() {
            member.pass_through.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        }
        Self { by_member }
    }

    /// The member's usage, if it has any.
    pub(crate) fn of(&self, member: &str) -> Option<&MemberUsage<'a>> {
        self.by_member.get(member)
    }

    /// Names with billable usage, members or not.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'a str> {
        self.by_member.keys().copied()
    }

    /// Level-1 half-days of every member, for the annual report.
    pub(crate) fn level1_half_days(&self) -> u64 {
        self.by_member
            .values()
            .fold(0, |sum, member| sum.saturating_add(member.level1_half_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, quantity: u64, corrects: Option<&str>) -> Usage {
        Usage {
            id: id.to_owned(),
            member: "allaire".into(),
            meter: Meter::Level1HalfDays,
            quantity,
            exercise: 2025,
            amount_cents: None,
            reference: None,
            corrects: corrects.map(str::to_owned),
        }
    }

    fn half_days(records: &[Usage]) -> u64 {
        UsageIndex::new(records, 2025)
            .of("allaire")
            .map_or(0, |u| u.level1_half_days)
    }

    #[test]
    fn corrections_replace_and_chain() {
        let cases: [(&str, Vec<Usage>, u64); 5] = [
            (
                "no correction",
                vec![record("a", 4, None), record("b", 3, None)],
                7,
            ),
            (
                "a replaced by b",
                vec![record("a", 4, None), record("b", 1, Some("a"))],
                1,
            ),
            (
                "chain a ← b ← c",
                vec![
                    record("c", 2, Some("b")),
                    record("a", 4, None),
                    record("b", 1, Some("a")),
                ],
                2,
            ),
            (
                "correction of an unknown record",
                vec![record("b", 3, Some("ghost"))],
                3,
            ),
            (
                "cycle",
                vec![record("a", 4, Some("b")), record("b", 3, Some("a"))],
                0,
            ),
        ];
        for (case, records, expected) in cases {
            assert_eq!(half_days(&records), expected, "{case}");
        }
    }

    #[test]
    fn a_correction_filed_in_another_exercise_still_replaces() {
        let mut correction = record("b", 1, Some("a"));
        correction.exercise = 2026;
        assert_eq!(half_days(&[record("a", 4, None), correction]), 0);
    }

    #[test]
    fn other_meters_and_exercises_are_ignored() {
        let mut inventory = record("a", 4, None);
        inventory.meter = Meter::from("vpn-peers");
        let mut last_year = record("b", 4, None);
        last_year.exercise = 2024;
        assert_eq!(half_days(&[inventory, last_year, record("c", 2, None)]), 2);
    }
}

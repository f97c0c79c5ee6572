//! The quality of service of the annual report (article 6.2: the service
//! "and its quality"): for each member with backups, its restore drills of
//! the exercise against its tier's targets, and a verdict in plain French.
//!
//! Pure: the caller reads the facts from the DrillReports, the evidence the
//! operator writes after each drill, whether from the cluster or from a
//! directory holding them, so both give the same figures.

use std::collections::BTreeMap;

use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One restore drill, as its DrillReport records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillFact {
    /// `metadata.name` of the member whose tenant was restored.
    pub member: String,
    /// The day the drill finished.
    pub finished_on: Date,
    /// Every check passed and both targets were met.
    pub passed: bool,
    /// Measured recovery time, in seconds.
    pub rto_seconds: u64,
    /// Measured recovery point (the backup's age), in seconds.
    pub rpo_seconds: u64,
    /// The targets the drill was judged against, in seconds.
    pub rto_target_seconds: u64,
    pub rpo_target_seconds: u64,
}

/// A member whose tenant is backed up: what the report expects of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackedUp {
    /// `metadata.name`.
    pub member: String,
    /// Name printed in the report.
    pub display_name: String,
    /// Its PRI tier, as the report prints it (`Critical`, `Standard`, `Essential`).
    pub tier: String,
    /// How old its last passed drill may be, in days.
    pub drill_max_age_days: u32,
}

/// The verdict on a member's backups for the exercise.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Verdict {
    /// Every drill passed, the last one recent enough.
    Good,
    /// The last drill passed, but an earlier one failed, or the last passed
    /// one is older than the tier allows at the end of the period.
    Watch,
    /// The last drill of the exercise failed.
    Failing,
    /// No drill finished during the exercise.
    NoDrill,
}

/// One member's quality of service for the exercise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberQuality {
    pub member: String,
    pub display_name: String,
    pub tier: String,
    /// Drills finished during the exercise, and how many passed.
    pub drills: u32,
    pub passed: u32,
    /// Distinct months of the exercise with a drill.
    pub months_with_drill: u32,
    /// The last drill of the exercise: when, and whether it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_passed: Option<Date>,
    /// The longest measured RTO and RPO of the exercise, and the targets, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_rto_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_rpo_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_target_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_target_seconds: Option<u64>,
    pub verdict: Verdict,
    /// The verdict in plain French, as the commission reads it.
    pub explanation: String,
}

/// The quality of service of the exercise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualityOfService {
    /// The day the verdicts are given at: the end of the exercise, or the
    /// day the report is drawn up when the exercise is still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Date>,
    /// Drills finished during the exercise, all members, and how many passed.
    pub drills: u32,
    pub passed: u32,
    /// Members with backups, and how many have each verdict.
    pub members_backed_up: u32,
    pub verdicts: BTreeMap<Verdict, u32>,
    /// One row per member with backups, by name.
    pub members: Vec<MemberQuality>,
}

/// The quality of service of `exercise`, judged at `as_of` (clamped to the
/// exercise's last day). Drills of members not listed in `backed_up` still
/// count in the totals; a member without backups gets no row.
pub fn quality_of_service(
    backed_up: &[BackedUp],
    drills: &[DrillFact],
    exercise: i16,
    as_of: Date,
) -> QualityOfService {
    let end = Date::new(exercise, 12, 31).unwrap_or(as_of);
    let as_of = as_of.min(end);
    let mut of_exercise: Vec<&DrillFact> = drills
        .iter()
        .filter(|drill| drill.finished_on.year() == exercise && drill.finished_on <= as_of)
        .collect();
    of_exercise.sort_by_key(|drill| (drill.finished_on, drill.passed));
    let mut members: Vec<MemberQuality> = backed_up
        .iter()
        .map(|member| {
            let own: Vec<&DrillFact> = of_exercise
                .iter()
                .copied()
                .filter(|drill| drill.member == member.member)
                .collect();
            judge(member, &own, as_of)
        })
        .collect();
    members.sort_by(|a, b| a.member.cmp(&b.member));
    let mut verdicts = BTreeMap::new();
    for member in &members {
        *verdicts.entry(member.verdict).or_default() += 1;
    }
    QualityOfService {
        as_of: Some(as_of),
        drills: count(of_exercise.len()),
        passed: count(of_exercise.iter().filter(|drill| drill.passed).count()),
        members_backed_up: count(members.len()),
        verdicts,
        members,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One member's row: its drills of the exercise in the order they finished.
fn judge(member: &BackedUp, drills: &[&DrillFact], as_of: Date) -> MemberQuality {
    let last = drills.last();
    let last_passed = drills.iter().rev().find(|drill| drill.passed);
    let failed = drills.iter().filter(|drill| !drill.passed).count();
    let mut months: Vec<i8> = drills
        .iter()
        .map(|drill| drill.finished_on.month())
        .collect();
    months.dedup();
    let stale = last_passed.is_some_and(|drill| {
        (as_of - drill.finished_on).get_days()
            > i32::try_from(member.drill_max_age_days).unwrap_or(i32::MAX)
    });
    let (verdict, explanation) = match (last, last_passed) {
        (None, _) => (
            Verdict::NoDrill,
            "aucun exercice de restauration terminé pendant l'exercice".to_owned(),
        ),
        (Some(last), _) if !last.passed => (
            Verdict::Failing,
            format!(
                "le dernier exercice de restauration, le {}, a échoué : la sauvegarde n'est pas prouvée",
                crate::format_date(last.finished_on)
            ),
        ),
        (Some(_), Some(passed)) if stale => (
            Verdict::Watch,
            format!(
                "dernier exercice réussi le {}, plus ancien que les {} jours que permet le niveau {}",
                crate::format_date(passed.finished_on),
                member.drill_max_age_days,
                member.tier
            ),
        ),
        (Some(_), _) if failed > 0 => (
            Verdict::Watch,
            format!(
                "{} dans l'année, le dernier réussi",
                crate::wording::plural(failed as u64, "exercice échoué", "exercices échoués")
            ),
        ),
        (Some(_), _) => (
            Verdict::Good,
            format!(
                "{}, restauration dans les délais du niveau {}",
                if drills.len() == 1 {
                    "l'exercice de restauration a réussi".to_owned()
                } else {
                    format!("les {} exercices de restauration ont réussi", drills.len())
                },
                member.tier
            ),
        ),
    };
    MemberQuality {
        member: member.member.clone(),
        display_name: member.display_name.clone(),
        tier: member.tier.clone(),
        drills: count(drills.len()),
        passed: count(drills.len() - failed),
        months_with_drill: count(months.len()),
        last_drill: last.map(|drill| drill.finished_on),
        last_passed: last_passed.map(|drill| drill.finished_on),
        worst_rto_seconds: drills.iter().map(|drill| drill.rto_seconds).max(),
        worst_rpo_seconds: drills.iter().map(|drill| drill.rpo_seconds).max(),
        rto_target_seconds: last.map(|drill| drill.rto_target_seconds),
        rpo_target_seconds: last.map(|drill| drill.rpo_target_seconds),
        verdict,
        explanation,
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn backed_up(member: &str, tier: &str, max_age: u32) -> BackedUp {
        BackedUp {
            member: member.to_owned(),
            display_name: member.to_uppercase(),
            tier: tier.to_owned(),
            drill_max_age_days: max_age,
        }
    }

    fn drill(member: &str, finished_on: Date, passed: bool, rto: u64) -> DrillFact {
        DrillFact {
            member: member.to_owned(),
            finished_on,
            passed,
            rto_seconds: rto,
            rpo_seconds: 600,
            rto_target_seconds: 14_400,
            rpo_target_seconds: 14_400,
        }
    }

    #[test]
    fn each_member_gets_a_verdict_from_its_drills_of_the_exercise() {
        let members = [
            backed_up("allaire", "Standard", 100),
            backed_up("bains", "Standard", 100),
            backed_up("peillac", "Critical", 35),
            backed_up("redon", "Essential", 400),
            backed_up("renac", "Standard", 100),
        ];
        let drills = [
            drill("allaire", date(2026, 3, 1), true, 120),
            drill("allaire", date(2026, 10, 1), true, 300),
            drill("bains", date(2026, 3, 1), false, 20_000),
            drill("bains", date(2026, 11, 1), true, 200),
            drill("peillac", date(2026, 6, 1), true, 90),
            drill("renac", date(2026, 12, 1), false, 50),
            // Another exercise, and a member without backups: totals only.
            drill("allaire", date(2025, 12, 1), false, 10),
            drill("avessac", date(2026, 5, 1), true, 10),
        ];
        let quality = quality_of_service(&members, &drills, 2026, date(2027, 1, 15));
        assert_eq!(quality.as_of, Some(date(2026, 12, 31)));
        assert_eq!((quality.drills, quality.passed), (7, 5));
        let verdicts: Vec<(&str, Verdict)> = quality
            .members
            .iter()
            .map(|m| (m.member.as_str(), m.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("allaire", Verdict::Good),
                ("bains", Verdict::Watch),
                ("peillac", Verdict::Watch),
                ("redon", Verdict::NoDrill),
                ("renac", Verdict::Failing),
            ]
        );
        let allaire = &quality.members[0];
        assert_eq!(
            (allaire.drills, allaire.passed, allaire.months_with_drill),
            (2, 2, 2)
        );
        assert_eq!(allaire.worst_rto_seconds, Some(300));
        assert_eq!(
            allaire.explanation,
            "les 2 exercices de restauration ont réussi, restauration dans les délais du niveau Standard"
        );
        assert!(
            quality.members[2]
                .explanation
                .contains("plus ancien que les 35 jours")
        );
        assert!(
            quality.members[4]
                .explanation
                .contains("01/12/2026, a échoué")
        );
        assert_eq!(quality.verdicts[&Verdict::Watch], 2);
    }

    #[test]
    fn a_running_exercise_is_judged_on_the_day_of_the_report() {
        let members = [backed_up("allaire", "Critical", 35)];
        let drills = [drill("allaire", date(2026, 3, 1), true, 60)];
        let early = quality_of_service(&members, &drills, 2026, date(2026, 3, 20));
        assert_eq!(early.members[0].verdict, Verdict::Good);
        let late = quality_of_service(&members, &drills, 2026, date(2026, 6, 1));
        assert_eq!(late.members[0].verdict, Verdict::Watch);
    }
}

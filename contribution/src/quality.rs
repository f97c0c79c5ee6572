//! The quality of service of the annual report (article 6.2: the service
//! "and its quality"): for each member with backups or a tunnel, its
//! restore drills of the exercise against its tier's targets, its backups
//! against their recovery point objective, its tunnels' availability, and
//! a verdict in plain French; the same per tier.
//!
//! Pure: the caller reads the facts from the DrillReports and the
//! QualityRecords, the evidence the operator writes, whether from the
//! cluster or from a directory holding them, so both give the same figures.

use std::collections::BTreeMap;

use jiff::{Timestamp, civil::Date};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    format_percent,
    observed::{
        BackupFigures, BackupMonth, TUNNEL_FAILING_BASIS_POINTS, TUNNEL_TARGET_BASIS_POINTS,
        TunnelFigures, TunnelMonth, backup_figures, tunnel_figures,
    },
    wording,
};

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

/// A member whose service the report judges: its backups, when it has
/// them, and what the report expects of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackedUp {
    /// `metadata.name`.
    pub member: String,
    /// Name printed in the report.
    pub display_name: String,
    /// Its PRI tier, as the report prints it (`Critical`, `Standard`,
    /// `Essential`); `None` for a member with a tunnel and no backups.
    pub tier: Option<String>,
    /// How old its last passed drill may be, in days.
    pub drill_max_age_days: u32,
}

/// Everything the quality of service is judged from.
#[derive(Clone, Copy, Debug)]
pub struct QualityFacts<'a> {
    /// The members with backups or a tunnel.
    pub members: &'a [BackedUp],
    /// Every restore drill.
    pub drills: &'a [DrillFact],
    /// Every month of backups and of tunnels the operator recorded.
    pub backups: &'a [BackupMonth],
    pub tunnels: &'a [TunnelMonth],
    pub exercise: i16,
    /// The day the verdicts are given at (clamped to the exercise's last day).
    pub as_of: Date,
    /// The instant of the report: an outage or a backup gap still open
    /// counts up to it, or to the exercise's end when it is over.
    pub now: Timestamp,
}

/// The verdict on a member's service for the exercise; the same scale for
/// its drills, its backups and its tunnels.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Verdict {
    /// Every drill passed, the last one recent enough; backups on time;
    /// tunnels up as long as the target asks.
    Good,
    /// The last drill passed, but an earlier one failed, or the last passed
    /// one is older than the tier allows at the end of the period; or a
    /// backup run missed, or a gap beyond the objective; or a tunnel below
    /// its target.
    Watch,
    /// The last drill of the exercise failed; or backups stopped; or a
    /// tunnel down more than 5 % of the time.
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
    /// Its PRI tier; absent for a member without backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
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
    /// The drills' verdict (absent without backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_verdict: Option<Verdict>,
    /// Its backups as the operator recorded them month by month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_verdict: Option<Verdict>,
    /// Its tunnels' availability, from the hub's handshakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnels: Option<TunnelFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_verdict: Option<Verdict>,
    /// The member's verdict: the worst of the three.
    pub verdict: Verdict,
    /// The verdict in plain French, as the commission reads it.
    pub explanation: String,
}

/// The members of one PRI tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierQuality {
    pub tier: String,
    pub members: u32,
    /// Members whose verdict is Good.
    pub good: u32,
    pub drills: u32,
    pub passed: u32,
    /// Backup runs missed, all its members.
    pub backups_missed: u32,
    /// The tier's longest gap between backups, and its objective, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_gap_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<u64>,
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
    /// Members with backups, and how many have each verdict (all members judged).
    pub members_backed_up: u32,
    pub verdicts: BTreeMap<Verdict, u32>,
    /// Backup runs missed, all members.
    pub backups_missed: u32,
    /// Members whose longest gap between backups went beyond the objective.
    pub backups_beyond_objective: u32,
    /// Members with a tunnel watched, and the availability of all of them
    /// together (watched time up over watched time), in basis points.
    pub members_with_tunnel: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_availability_basis_points: Option<u32>,
    /// The availability a tunnel is held to, in basis points.
    pub tunnel_target_basis_points: u32,
    /// One row per PRI tier, Critical first.
    pub tiers: Vec<TierQuality>,
    /// One row per member with backups or a tunnel, by name.
    pub members: Vec<MemberQuality>,
}

/// The quality of service of `facts.exercise`, judged at `facts.as_of`
/// (clamped to the exercise's last day). Drills of members not listed
/// still count in the totals; a member without backups nor a tunnel gets
/// no row.
pub fn quality_of_service(facts: &QualityFacts<'_>) -> QualityOfService {
    let exercise = facts.exercise;
    let end = Date::new(exercise, 12, 31).unwrap_or(facts.as_of);
    let as_of = facts.as_of.min(end);
    let until = exercise_end(exercise).map_or(facts.now, |end| end.min(facts.now));
    let mut of_exercise: Vec<&DrillFact> = facts
        .drills
        .iter()
        .filter(|drill| drill.finished_on.year() == exercise && drill.finished_on <= as_of)
        .collect();
    of_exercise.sort_by_key(|drill| (drill.finished_on, drill.passed));
    let mut members: Vec<MemberQuality> = facts
        .members
        .iter()
        .map(|member| {
            let own: Vec<&DrillFact> = of_exercise
                .iter()
                .copied()
                .filter(|drill| drill.member == member.member)
                .collect();
            let backups = backup_figures(facts.backups, &member.member, exercise, until);
            let tunnels = tunnel_figures(facts.tunnels, &member.member, exercise, until);
            judge(member, &own, as_of, backups, tunnels)
        })
        .filter(|row| row.tier.is_some() || row.tunnels.is_some())
        .collect();
    members.sort_by(|a, b| a.member.cmp(&b.member));
    let mut verdicts = BTreeMap::new();
    for member in &members {
        *verdicts.entry(member.verdict).or_default() += 1;
    }
    let (observed, down) = members
        .iter()
        .filter_map(|member| member.tunnels.as_ref())
        .fold((0_u64, 0_u64), |(observed, down), tunnel| {
            (
                observed + tunnel.observed_seconds,
                down + tunnel.down_seconds,
            )
        });
    let backups = || members.iter().filter_map(|member| member.backups.as_ref());
    QualityOfService {
        as_of: Some(as_of),
        drills: count(of_exercise.len()),
        passed: count(of_exercise.iter().filter(|drill| drill.passed).count()),
        members_backed_up: count(members.iter().filter(|m| m.tier.is_some()).count()),
        verdicts,
        backups_missed: backups().map(|figures| figures.missed).sum(),
        backups_beyond_objective: count(backups().filter(|f| f.beyond_objective).count()),
        members_with_tunnel: count(members.iter().filter(|m| m.tunnels.is_some()).count()),
        tunnel_availability_basis_points: (observed > 0).then(|| {
            u32::try_from(u128::from(observed - down) * 10_000 / u128::from(observed))
                .unwrap_or(10_000)
        }),
        tunnel_target_basis_points: TUNNEL_TARGET_BASIS_POINTS,
        tiers: tiers(&members),
        members,
    }
}

/// The first instant after the exercise, in UTC.
fn exercise_end(exercise: i16) -> Option<Timestamp> {
    Date::new(exercise.checked_add(1)?, 1, 1)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// One row per tier present, Critical first.
fn tiers(members: &[MemberQuality]) -> Vec<TierQuality> {
    ["Critical", "Standard", "Essential"]
        .into_iter()
        .filter_map(|tier| {
            let own: Vec<&MemberQuality> = members
                .iter()
                .filter(|member| member.tier.as_deref() == Some(tier))
                .collect();
            let gaps = || own.iter().filter_map(|member| member.backups.as_ref());
            (!own.is_empty()).then(|| TierQuality {
                tier: tier.to_owned(),
                members: count(own.len()),
                good: count(own.iter().filter(|m| m.verdict == Verdict::Good).count()),
                drills: own.iter().map(|member| member.drills).sum(),
                passed: own.iter().map(|member| member.passed).sum(),
                backups_missed: gaps().map(|figures| figures.missed).sum(),
                longest_gap_seconds: gaps().filter_map(|f| f.longest_gap_seconds).max(),
                rpo_seconds: gaps().map(|figures| figures.rpo_seconds).max(),
            })
        })
        .collect()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The drills' verdict and its sentence: the member's drills of the
/// exercise in the order they finished.
fn judge_drills(member: &BackedUp, drills: &[&DrillFact], as_of: Date) -> (Verdict, String) {
    let tier = member.tier.as_deref().unwrap_or_default();
    let last = drills.last();
    let last_passed = drills.iter().rev().find(|drill| drill.passed);
    let failed = drills.iter().filter(|drill| !drill.passed).count();
    let stale = last_passed.is_some_and(|drill| {
        (as_of - drill.finished_on).get_days()
            > i32::try_from(member.drill_max_age_days).unwrap_or(i32::MAX)
    });
    match (last, last_passed) {
        (None, _) => (Verdict::NoDrill, wording::NO_DRILL.to_owned()),
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
                "dernier exercice réussi le {}, plus ancien que les {} jours que permet le niveau {tier}",
                crate::format_date(passed.finished_on),
                member.drill_max_age_days,
            ),
        ),
        (Some(_), _) if failed > 0 => (
            Verdict::Watch,
            format!(
                "{} dans l'année, le dernier réussi",
                wording::plural(failed as u64, "exercice échoué", "exercices échoués")
            ),
        ),
        (Some(_), _) => (
            Verdict::Good,
            format!(
                "{}, restauration dans les délais du niveau {tier}",
                if drills.len() == 1 {
                    "l'exercice de restauration a réussi".to_owned()
                } else {
                    format!("les {} exercices de restauration ont réussi", drills.len())
                },
            ),
        ),
    }
}

/// The backups' verdict and its sentence.
fn judge_backups(figures: &BackupFigures) -> (Verdict, String) {
    let objective = wording::duration(figures.rpo_seconds);
    let longest = figures
        .longest_gap_seconds
        .map(|gap| format!("au plus {} entre deux sauvegardes", wording::duration(gap)));
    let missed = (figures.missed > 0).then(|| {
        wording::plural(
            u64::from(figures.missed),
            "sauvegarde planifiée manquée",
            "sauvegardes planifiées manquées",
        )
    });
    let details = [longest, missed]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let details = if details.is_empty() {
        String::new()
    } else {
        format!(" ({details})")
    };
    if figures.overdue_at_end {
        (
            Verdict::Failing,
            format!(
                "la dernière sauvegarde est plus ancienne que l'objectif de {objective}{details}"
            ),
        )
    } else if figures.beyond_objective || figures.missed > 0 {
        (
            Verdict::Watch,
            format!("sauvegardes en retard sur l'objectif de {objective}{details}"),
        )
    } else {
        (
            Verdict::Good,
            format!("sauvegardes dans l'objectif de {objective}{details}"),
        )
    }
}

/// The tunnels' verdict and its sentence.
fn judge_tunnels(figures: &TunnelFigures) -> (Verdict, String) {
    let availability = format_percent(i64::from(figures.availability_basis_points));
    let outages = wording::plural(u64::from(figures.outages), "coupure", "coupures");
    let sentence = format!("tunnel VPN disponible {availability} du temps ({outages})");
    let verdict = match figures.availability_basis_points {
        points if points >= TUNNEL_TARGET_BASIS_POINTS => Verdict::Good,
        points if points >= TUNNEL_FAILING_BASIS_POINTS => Verdict::Watch,
        _ => Verdict::Failing,
    };
    (verdict, sentence)
}

/// The worst of the verdicts: a failure first, then a missing drill, then
/// a watch.
fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let verdicts: Vec<Verdict> = verdicts.into_iter().collect();
    [
        Verdict::Failing,
        Verdict::NoDrill,
        Verdict::Watch,
        Verdict::Good,
    ]
    .into_iter()
    .find(|verdict| verdicts.contains(verdict))
    .unwrap_or(Verdict::Good)
}

/// One member's row.
fn judge(
    member: &BackedUp,
    drills: &[&DrillFact],
    as_of: Date,
    backups: Option<BackupFigures>,
    tunnels: Option<TunnelFigures>,
) -> MemberQuality {
    let drilled = member
        .tier
        .is_some()
        .then(|| judge_drills(member, drills, as_of));
    let backed = backups.as_ref().map(judge_backups);
    let tunnelled = tunnels.as_ref().map(judge_tunnels);
    let parts = [&drilled, &backed, &tunnelled];
    let verdict = worst(parts.iter().filter_map(|part| part.as_ref().map(|p| p.0)));
    let explanation = parts
        .iter()
        .filter_map(|part| part.as_ref().map(|p| p.1.as_str()))
        .collect::<Vec<_>>()
        .join(" ; ");
    let last = drills.last();
    let failed = drills.iter().filter(|drill| !drill.passed).count();
    let mut months: Vec<i8> = drills
        .iter()
        .map(|drill| drill.finished_on.month())
        .collect();
    months.dedup();
    MemberQuality {
        member: member.member.clone(),
        display_name: member.display_name.clone(),
        tier: member.tier.clone(),
        drills: count(drills.len()),
        passed: count(drills.len() - failed),
        months_with_drill: count(months.len()),
        last_drill: last.map(|drill| drill.finished_on),
        last_passed: drills
            .iter()
            .rev()
            .find(|drill| drill.passed)
            .map(|drill| drill.finished_on),
        worst_rto_seconds: drills.iter().map(|drill| drill.rto_seconds).max(),
        worst_rpo_seconds: drills.iter().map(|drill| drill.rpo_seconds).max(),
        rto_target_seconds: last.map(|drill| drill.rto_target_seconds),
        rpo_target_seconds: last.map(|drill| drill.rpo_target_seconds),
        drill_verdict: drilled.map(|part| part.0),
        backup_verdict: backed.map(|part| part.0),
        tunnel_verdict: tunnelled.map(|part| part.0),
        backups,
        tunnels,
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
            tier: Some(tier.to_owned()),
            drill_max_age_days: max_age,
        }
    }

    fn facts<'a>(
        members: &'a [BackedUp],
        drills: &'a [DrillFact],
        as_of: Date,
    ) -> QualityFacts<'a> {
        QualityFacts {
            members,
            drills,
            backups: &[],
            tunnels: &[],
            exercise: 2026,
            as_of,
            now: "2027-01-15T12:00:00Z".parse().unwrap(),
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
        let quality = quality_of_service(&facts(&members, &drills, date(2027, 1, 15)));
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
        let early = quality_of_service(&facts(&members, &drills, date(2026, 3, 20)));
        assert_eq!(early.members[0].verdict, Verdict::Good);
        let late = quality_of_service(&facts(&members, &drills, date(2026, 6, 1)));
        assert_eq!(late.members[0].verdict, Verdict::Watch);
    }
}

//! The annual report's quality of service from the objects: each Member
//! with `spec.backup` and its targets, each DrillReport as a drill of the
//! engine. The same from the cluster and from a directory of manifests.

use jiff::{civil::Date, tz::TimeZone};
use kube::ResourceExt;

use crate::{
    api::{DrillReport, Member, drill_report::Verdict},
    backup::tier::Targets,
    contribution::{BackedUp, DrillFact, QualityOfService, quality_of_service},
    runtime::watch::SharedMember,
};

/// The quality of service of `exercise`, judged at `as_of`.
pub fn quality(
    members: &[SharedMember],
    drills: &[DrillReport],
    exercise: i16,
    as_of: Date,
) -> QualityOfService {
    let backed_up: Vec<BackedUp> = members
        .iter()
        .filter_map(|member: &SharedMember| {
            let member: &Member = member;
            let targets = Targets::of(member.spec.backup.as_ref()?);
            Some(BackedUp {
                member: member.name_any(),
                display_name: member.spec.display_name.clone(),
                tier: format!("{:?}", targets.tier),
                drill_max_age_days: targets.drill_max_age_days,
            })
        })
        .collect();
    let facts: Vec<DrillFact> = drills.iter().map(fact).collect();
    quality_of_service(&backed_up, &facts, exercise, as_of)
}

fn fact(drill: &DrillReport) -> DrillFact {
    let spec = &drill.spec;
    DrillFact {
        member: spec.member.clone(),
        // The day in France, where the commission reads it.
        finished_on: spec
            .finished_at
            .to_zoned(TimeZone::get("Europe/Paris").unwrap_or(TimeZone::UTC))
            .date(),
        passed: spec.verdict == Verdict::Passed,
        rto_seconds: spec.measured_rto_seconds,
        rpo_seconds: spec.measured_rpo_seconds,
        rto_target_seconds: spec.rto_target_seconds,
        rpo_target_seconds: spec.rpo_target_seconds,
    }
}

//! The annual report's quality of service from the objects: each Member
//! with `spec.backup` and its targets, or with a tunnel; each DrillReport
//! as a drill of the engine; each QualityRecord as months of backups and of
//! tunnels. The same from the cluster and from a directory of manifests.

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use kube::ResourceExt;

use crate::{
    api::{DrillReport, Member, QualityRecord, drill_report::Verdict},
    backup::tier::Targets,
    contribution::{
        BackedUp, BackupMonth, DrillFact, QualityFacts, QualityOfService, TunnelMonth,
        quality_of_service,
    },
    quality::Month,
    runtime::watch::SharedMember,
};

/// The quality of service of `exercise`, judged at `as_of`; an outage or
/// a backup gap still open counts up to `now`.
pub fn quality(
    members: &[SharedMember],
    drills: &[DrillReport],
    records: &[QualityRecord],
    exercise: i16,
    (as_of, now): (Date, Timestamp),
) -> QualityOfService {
    let served: Vec<BackedUp> = members
        .iter()
        .filter_map(|member: &SharedMember| {
            let member: &Member = member;
            let targets = member.spec.backup.as_ref().map(Targets::of);
            let tunnelled = records.iter().any(|record| {
                record.spec.member == member.name_any() && !record.spec.tunnels.is_empty()
            });
            (targets.is_some() || tunnelled).then(|| BackedUp {
                member: member.name_any(),
                display_name: member.spec.display_name.clone(),
                tier: targets.map(|targets| format!("{:?}", targets.tier)),
                drill_max_age_days: targets.map_or(0, |targets| targets.drill_max_age_days),
            })
        })
        .collect();
    let facts: Vec<DrillFact> = drills.iter().map(fact).collect();
    let (backups, tunnels) = months(records);
    quality_of_service(&QualityFacts {
        members: &served,
        drills: &facts,
        backups: &backups,
        tunnels: &tunnels,
        exercise,
        as_of,
        now,
    })
}

/// The records as the engine's months.
fn months(records: &[QualityRecord]) -> (Vec<BackupMonth>, Vec<TunnelMonth>) {
    let mut backups = Vec::new();
    let mut tunnels = Vec::new();
    for record in records {
        let spec = &record.spec;
        let Some(month) = Month::parse(&spec.month) else {
            continue;
        };
        if let Some(part) = &spec.backups {
            backups.push(BackupMonth {
                member: spec.member.clone(),
                year: month.year,
                month: month.month,
                rpo_seconds: part.rpo_seconds,
                longest_gap_seconds: part.longest_gap_seconds,
                overdue_since: part.overdue_since,
                missed: part.missed,
            });
        }
        for tunnel in &spec.tunnels {
            tunnels.push(TunnelMonth {
                member: spec.member.clone(),
                site: tunnel.site.clone(),
                year: month.year,
                month: month.month,
                observed_since: tunnel.observed_since,
                down_seconds: tunnel.down_seconds,
                open_since: tunnel
                    .outages
                    .last()
                    .filter(|outage| outage.to.is_none())
                    .map(|outage| outage.from),
                outages: tunnel.outage_count,
            });
        }
    }
    (backups, tunnels)
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

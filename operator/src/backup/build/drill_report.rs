//! The DrillReport: the evidence of one drill, written once.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::api::ObjectMeta;

use crate::{
    api::{
        DrillReport, DrillReportSpec,
        drill_report::{DrillCheck, Verdict},
    },
    backup::{metadata, plan::BackupPlan},
};

/// What a finished drill established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillEvidence {
    pub name: String,
    pub backup: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub items_restored: u32,
    pub checks: Vec<DrillCheck>,
    pub rto_seconds: u64,
    pub rpo_seconds: u64,
    /// The on-demand request answered, if any.
    pub request: Option<String>,
}

impl DrillEvidence {
    /// Passed when every check passed (the RTO and RPO are checks too).
    pub fn verdict(&self) -> Verdict {
        if self.checks.iter().all(|c| c.verdict == Verdict::Passed) {
            Verdict::Passed
        } else {
            Verdict::Failed
        }
    }
}

/// The report, in the operator's namespace, named after the drill. It has
/// no owner: evidence outlives the Member it is about.
pub fn drill_report(plan: &BackupPlan, namespace: &str, evidence: &DrillEvidence) -> DrillReport {
    let mut labels = plan.labels.clone();
    labels.insert(metadata::DRILL.to_owned(), evidence.name.clone());
    let annotations = evidence
        .request
        .as_ref()
        .map(|request| BTreeMap::from([(metadata::REQUEST.to_owned(), request.clone())]));
    DrillReport {
        metadata: ObjectMeta {
            name: Some(evidence.name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            annotations,
            ..ObjectMeta::default()
        },
        spec: DrillReportSpec {
            member: plan.member.clone(),
            backup: evidence.backup.clone(),
            sandbox_namespace: evidence.name.clone(),
            started_at: evidence.started_at,
            finished_at: evidence.finished_at,
            items_restored: evidence.items_restored,
            checks: evidence.checks.clone(),
            measured_rto_seconds: evidence.rto_seconds,
            measured_rpo_seconds: evidence.rpo_seconds,
            rto_target_seconds: u64::from(plan.targets.rto_minutes) * 60,
            rpo_target_seconds: u64::from(plan.targets.rpo_minutes) * 60,
            verdict: evidence.verdict(),
        },
    }
}

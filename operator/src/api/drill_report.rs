//! `DrillReport`: the evidence of one restore drill — which backup, what came
//! back, what was checked, how long it took — that an auditor can read.

use jiff::Timestamp;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Evidence of one restore drill of a member's tenant.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "Evidence of one restore drill.",
    version = "v1alpha1",
    kind = "DrillReport",
    namespaced,
    shortname = "drill",
    category = "socle",
    printcolumn = r#"{"name":"Member","type":"string","jsonPath":".spec.member"}"#,
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".spec.backup"}"#,
    printcolumn = r#"{"name":"RTO (s)","type":"integer","jsonPath":".spec.measuredRtoSeconds"}"#,
    printcolumn = r#"{"name":"RPO (s)","type":"integer","jsonPath":".spec.measuredRpoSeconds"}"#,
    printcolumn = r#"{"name":"Verdict","type":"string","jsonPath":".spec.verdict"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("a DrillReport is evidence: it cannot be changed"))]
#[x_kube(validation = Rule::new("self.finishedAt >= self.startedAt").message("finishedAt must not be before startedAt").field_path(".finishedAt"))]
#[serde(rename_all = "camelCase")]
pub struct DrillReportSpec {
    /// Name of the Member whose tenant was restored.
    #[schemars(length(min = 1, max = 63))]
    pub member: String,
    /// Name of the Velero Backup restored.
    #[schemars(length(min = 1, max = 253))]
    pub backup: String,
    /// Sandbox namespace the backup was restored into (never production).
    #[schemars(length(min = 1, max = 63))]
    pub sandbox_namespace: String,
    /// When the restore was requested.
    pub started_at: Timestamp,
    /// When the checks were done.
    pub finished_at: Timestamp,
    /// Number of objects restored.
    pub items_restored: u32,
    /// What was checked, one entry per check.
    #[schemars(length(max = 100))]
    pub checks: Vec<DrillCheck>,
    /// Measured recovery time: restore requested → checks done, in seconds.
    pub measured_rto_seconds: u64,
    /// Measured recovery point: age of the backup when the drill started, in seconds.
    pub measured_rpo_seconds: u64,
    /// The tier's RTO target, in seconds.
    pub rto_target_seconds: u64,
    /// The tier's RPO target, in seconds.
    pub rpo_target_seconds: u64,
    /// Passed when every check passed and both targets were met.
    pub verdict: Verdict,
}

impl DrillReportSpec {
    /// Each failed check as `name: detail`, for messages and Events.
    pub fn failed_checks(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Failed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }
}

/// One check of a drill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillCheck {
    /// What was checked, e.g. "ConfigMap count", "PVC data present".
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// Passed or Failed.
    pub verdict: Verdict,
    /// Expected and observed values.
    #[schemars(length(max = 1000))]
    pub detail: String,
}

/// Outcome of a drill or of one of its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Verdict {
    /// Everything as expected.
    Passed,
    /// Something is missing, broken or too slow.
    Failed,
}

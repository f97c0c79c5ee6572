//! `QualityRecord`: what the operator observed of one member's service in
//! one month — its backups against their recovery point objective, its
//! tunnels' outages — for the annual report's quality of service (article
//! 6.2). Not billed: UsageRecords hold what is billed or inventoried; this
//! holds how well the service was rendered.
//!
//! One object per member and month, `<member>-<YYYY-MM>` in the operator's
//! namespace. Each part has its own writer (the backup controller, the VPN
//! health watch), each under its own field manager by server-side apply, so
//! neither removes the other's facts. A part holds facts that change only
//! when something happens (a run missed, a longer gap, an outage beginning
//! or ending): while the service runs as it should, nothing is written.

use jiff::Timestamp;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The quality of one member's service in one month.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "The quality of service observed of one member in one month (backups against their RPO, tunnel outages), for the annual report. Not billed.",
    version = "v1alpha1",
    kind = "QualityRecord",
    namespaced,
    shortname = "qos",
    category = "socle",
    printcolumn = r#"{"name":"Member","type":"string","jsonPath":".spec.member"}"#,
    printcolumn = r#"{"name":"Month","type":"string","jsonPath":".spec.month"}"#,
    printcolumn = r#"{"name":"RPO (s)","type":"integer","jsonPath":".spec.backups.rpoSeconds"}"#,
    printcolumn = r#"{"name":"Longest gap (s)","type":"integer","jsonPath":".spec.backups.longestGapSeconds"}"#,
    printcolumn = r#"{"name":"Missed","type":"integer","jsonPath":".spec.backups.missed"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.member == oldSelf.member && self.month == oldSelf.month").message("a QualityRecord's member and month cannot change"))]
#[serde(rename_all = "camelCase")]
pub struct QualityRecordSpec {
    /// Name of the Member observed.
    #[schemars(length(min = 1, max = 63))]
    pub member: String,
    /// The month observed, `YYYY-MM`, in UTC.
    #[schemars(regex(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$"))]
    pub month: String,
    /// Its backups, when it has `spec.backup`: written by the backup controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupQuality>,
    /// Its tunnels, one per site: written by the VPN health watch from the
    /// hub's latest handshakes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["site"]))]
    pub tunnels: Vec<TunnelQuality>,
}

/// A member's backups in the month, against its recovery point objective.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupQuality {
    /// The Velero Schedule, `namespace/name`.
    #[schemars(length(min = 1, max = 253))]
    pub schedule: String,
    /// Its cron expression (UTC) when last observed.
    #[schemars(length(min = 1, max = 100))]
    pub cron: String,
    /// The recovery point objective: the oldest the latest completed
    /// backup may be, in seconds.
    pub rpo_seconds: u64,
    /// Since when the schedule's runs are judged this month: the month's
    /// first instant, or when the schedule (or its cron) was first seen.
    pub observed_since: Timestamp,
    /// The longest time between two completed backups that ended this
    /// month (or between the last one before and the first one of it), in
    /// seconds rounded down to the minute (a few seconds more is not a new
    /// fact); absent before two backups completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_gap_seconds: Option<u64>,
    /// The completed backup that ended the longest gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_gap_ended_at: Option<Timestamp>,
    /// The gap still open: the completion of the latest backup, once it is
    /// older than the objective and no newer one has completed. Gone when
    /// one completes (the gap then counts in the longest one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_since: Option<Timestamp>,
    /// How many of the schedule's runs this month did not complete.
    pub missed: u32,
    /// The times of those runs (the latest 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub missed_runs: Vec<Timestamp>,
}

/// One tunnel in the month: when it was watched, and each time the hub
/// heard nothing from its router for longer than the silence bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TunnelQuality {
    /// The site the tunnel serves, as `spec.vpn` names it (`mairie` for
    /// the single-router form).
    #[schemars(length(min = 1, max = 63))]
    pub site: String,
    /// Since when the tunnel is watched this month: the month's first
    /// instant when it was watched before, or the first time it was seen.
    pub observed_since: Timestamp,
    /// How many outages this month.
    pub outage_count: u32,
    /// The seconds of this month's ended outages (their part in the month
    /// since `observedSince`); an outage still open counts in the report
    /// up to its day.
    pub down_seconds: u64,
    /// The outages (the first 200): from the last time the hub heard the
    /// router to the first time it heard it again; without `to` while it lasts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub outages: Vec<Outage>,
}

/// A time the hub heard nothing from a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outage {
    /// The last time the hub heard the router before it fell silent.
    pub from: Timestamp,
    /// The first time the hub heard it again; absent while silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
}

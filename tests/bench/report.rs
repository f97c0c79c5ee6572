//! What a run measured, printed as Markdown (for BENCHMARKS.md) and JSON.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use jiff::Timestamp;
use serde::Serialize;
use socle_e2e::AuditEvent;

use crate::{ceiling::CeilingSample, cpu::CpuUse};

/// The machine, as far as it limits the figures.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub kubernetes: String,
}

impl Machine {
    pub fn read(kubernetes: String) -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            kubernetes,
        }
    }
}

/// The 1-, 5- and 15-minute load averages: how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Latencies in milliseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        // Nearest rank: the smallest sample with at least q of them at or below it.
        let rank = |q: f64| {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let index = ((q * samples.len() as f64).ceil() as usize).max(1) - 1;
            samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            count: samples.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: rank(1.0),
        }
    }
}

/// The operator's requests in a window, by `verb resource[/subresource]`.
#[derive(Debug, Default, Serialize)]
pub struct Requests {
    pub by_kind: BTreeMap<String, u64>,
    pub writes: u64,
    pub total: u64,
}

impl Requests {
    /// The requests `user` made among `events`.
    pub fn of(events: &[AuditEvent], user: &str) -> Self {
        let mut requests = Self::default();
        for event in events.iter().filter(|event| event.user == user) {
            *requests.by_kind.entry(kind(event)).or_default() += 1;
            requests.writes += u64::from(event.is_write());
            requests.total += 1;
        }
        requests
    }

    /// The writes only, e.g. `patch members/status: 3`.
    pub fn writes_shown(&self) -> String {
        let writes: Vec<String> = self
            .by_kind
            .iter()
            .filter(|(kind, _)| {
                [
                    "create ",
                    "update ",
                    "patch ",
                    "delete",
                    "deletecollection ",
                ]
                .iter()
                .any(|verb| kind.starts_with(verb))
            })
            .map(|(kind, count)| format!("{kind}: {count}"))
            .collect();
        writes.join(", ")
    }
}

/// `verb resource[/subresource]`, e.g. `patch members/status`.
fn kind(event: &AuditEvent) -> String {
    let mut key = format!("{} {}", event.verb, event.resource);
    if let Some(subresource) = &event.subresource {
        key.push('/');
        key.push_str(subresource);
    }
    key
}

/// For each kind of write `user` made among `events`, the seconds from
/// `since` to the last one received: when metering's last UsageRecord was
/// created, apart from the statements and statuses.
pub fn last_writes(events: &[AuditEvent], user: &str, since: Timestamp) -> BTreeMap<String, f64> {
    let mut last = BTreeMap::new();
    for event in events
        .iter()
        .filter(|event| event.user == user && event.is_write())
    {
        let seconds = event.received.duration_since(since).as_secs_f64();
        let entry = last.entry(kind(event)).or_insert(seconds);
        *entry = f64::max(*entry, seconds);
    }
    last
}

/// What the operator wrote once the bulk was over (from its resume after the
/// ceilings to 3 s without a write, included): billing and metering.
#[derive(Debug, Serialize)]
pub struct AfterBulk {
    pub seconds: f64,
    pub requests: Requests,
    /// Seconds from the operator's resume to its last write of each kind.
    pub last_writes: BTreeMap<String, f64>,
    pub cpu: CpuUse,
}

/// Steady state: every Member touched while the operator is frozen, and
/// what it did after its resume.
#[derive(Debug, Serialize)]
pub struct Resync {
    pub members: usize,
    /// From the first touch to the last answered (the harness's writes,
    /// `--concurrency` in flight).
    pub touched_seconds: f64,
    /// From the operator's resume to every Member reconciled by every
    /// per-Member controller.
    pub reconciled_seconds: f64,
    /// The quiet window that followed, included in `requests`.
    pub window_seconds: f64,
    /// From the first touch to the end of the quiet window.
    pub requests: Requests,
    /// From the operator's resume to every Member reconciled.
    pub cpu: CpuUse,
}

/// The operator's peak RSS (`VmHWM`) in each phase, in MiB: the bulk; the
/// ceilings (the operator frozen) and what it wrote after the bulk; the
/// probes; the resync.
#[derive(Debug, Serialize)]
pub struct PeakRss {
    pub bulk: f64,
    pub after_bulk: f64,
    pub probes: f64,
    pub resync: f64,
}

impl PeakRss {
    /// The peak through all four.
    pub fn max(&self) -> f64 {
        [self.bulk, self.after_bulk, self.probes, self.resync]
            .into_iter()
            .fold(0.0, f64::max)
    }
}

/// The operator killed (SIGKILL) with everything converged, and started again.
#[derive(Debug, Serialize)]
pub struct Restart {
    pub ready_seconds: f64,
    pub reconciled_seconds: f64,
    pub window_seconds: f64,
    pub requests: Requests,
    pub peak_rss_mib: f64,
}

/// One run with `members` Members.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub members: usize,
    pub tenants: usize,
    pub load_before: String,
    pub load_after: String,
    pub create_concurrency: usize,
    pub operator_ready_seconds: f64,
    pub create_seconds: f64,
    pub all_ready_seconds: f64,
    pub bulk_latency: Percentiles,
    pub bulk_requests: Requests,
    pub probe_latency: Percentiles,
    pub resync: Resync,
    /// The peak of `peak_rss_by_phase`.
    pub peak_rss_mib: f64,
    pub peak_rss_by_phase: PeakRss,
    pub restart: Restart,
    pub ceiling: Vec<CeilingSample>,
    pub tenant_ceiling: Vec<CeilingSample>,
    pub member_ceiling: Vec<CeilingSample>,
    pub after_bulk: AfterBulk,
    /// CPU by process from the first create to the last Member Ready.
    pub bulk_cpu: CpuUse,
    /// CPU by process while the raw client applied tenants (every level).
    pub tenant_ceiling_cpu: CpuUse,
    /// CPU by process while the raw client provisioned whole Members.
    pub member_ceiling_cpu: CpuUse,
}

/// The best rate a raw client reached.
pub fn best(samples: &[CeilingSample]) -> f64 {
    samples
        .iter()
        .map(|sample| sample.per_second)
        .fold(0.0, f64::max)
}

/// What the raw client applied at every level (tenants, Members).
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn applied(samples: &[CeilingSample]) -> f64 {
    samples.iter().map(|sample| sample.applied).sum::<usize>() as f64
}

/// Each level's rate, as `level: rate/s, …`.
fn rates(samples: &[CeilingSample]) -> String {
    samples
        .iter()
        .map(|s| format!("{}: {:.0}/s", s.concurrency, s.per_second))
        .collect::<Vec<_>>()
        .join(", ")
}

impl RunReport {
    #[allow(clippy::too_many_lines)] // one row per figure, in the order of the run
    pub fn markdown(&self) -> String {
        let mut text = String::new();
        #[allow(clippy::cast_precision_loss)]
        let n = self.members as f64;
        let (ceiling, tenant_ceiling) = (best(&self.ceiling), best(&self.tenant_ceiling));
        // From the first create to the last Member Ready.
        let writes_per_second = per(self.bulk_requests.writes, self.all_ready_seconds);
        let tenants_per_second = per(self.tenants as u64, self.all_ready_seconds);
        let members_per_second = n / self.all_ready_seconds;
        let member_ceiling = best(&self.member_ceiling);
        let rows: Vec<(String, String)> = vec![
            (
                "operator start → `/readyz` (no Member yet)".into(),
                format!("{:.2} s", self.operator_ready_seconds),
            ),
            (
                format!(
                    "create {} Members ({} creates in flight)",
                    self.members, self.create_concurrency
                ),
                format!("{:.1} s", self.create_seconds),
            ),
            (
                format!(
                    "first create → all {} Ready ({} tenants)",
                    self.members, self.tenants
                ),
                format!(
                    "{:.1} s ({:.0} Members/s)",
                    self.all_ready_seconds,
                    n / self.all_ready_seconds
                ),
            ),
            (
                "apply→Ready during the bulk, p50 / p99 / max".into(),
                latencies(&self.bulk_latency),
            ),
            (
                format!(
                    "apply→Ready of one more Member with {} present ({} created one after the other), p50 / p99 / max",
                    self.members, self.probe_latency.count
                ),
                latencies(&self.probe_latency),
            ),
            (
                "operator requests per Member during the bulk (all / writes)".into(),
                format!(
                    "{:.1} / {:.1}",
                    per(self.bulk_requests.total, n),
                    per(self.bulk_requests.writes, n)
                ),
            ),
            (
                "operator writes/s during the bulk, share of the raw ceiling".into(),
                format!(
                    "{:.0}/s of {ceiling:.0}/s: {:.0} %",
                    writes_per_second,
                    100.0 * writes_per_second / ceiling
                ),
            ),
            (
                "tenants provisioned/s during the bulk, share of the tenant ceiling".into(),
                format!(
                    "{:.1}/s of {tenant_ceiling:.1}/s: {:.0} %",
                    tenants_per_second,
                    100.0 * tenants_per_second / tenant_ceiling
                ),
            ),
            (
                "Members Ready/s during the bulk, share of the Member ceiling".into(),
                format!(
                    "{members_per_second:.1}/s of {member_ceiling:.1}/s: {:.0} %",
                    100.0 * members_per_second / member_ceiling
                ),
            ),
            (
                format!(
                    "steady-state resync: every Member touched, the operator frozen (in {:.1} s), all reconciled {:.1} s after its resume, then {:.0} s quiet",
                    self.resync.touched_seconds,
                    self.resync.reconciled_seconds,
                    self.resync.window_seconds
                ),
                format!(
                    "{} writes, {} requests in all",
                    self.resync.requests.writes, self.resync.requests.total
                ),
            ),
            (
                format!(
                    "CPU of the resync until all reconciled, ms per Member by process ({:.2} cores busy)",
                    self.resync.cpu.cores()
                ),
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                self.resync.cpu.per_unit_ms(self.resync.members as f64),
            ),
            (
                "operator peak RSS (VmHWM) through provisioning and resync, by phase".into(),
                format!(
                    "{:.1} MiB (bulk {:.1}, after it {:.1}, probes {:.1}, resync {:.1})",
                    self.peak_rss_mib,
                    self.peak_rss_by_phase.bulk,
                    self.peak_rss_by_phase.after_bulk,
                    self.peak_rss_by_phase.probes,
                    self.peak_rss_by_phase.resync
                ),
            ),
            (
                "cold restart (SIGKILL, converged): `/readyz`, all reconciled".into(),
                format!(
                    "{:.2} s, {:.1} s",
                    self.restart.ready_seconds, self.restart.reconciled_seconds
                ),
            ),
            (
                format!(
                    "cold restart: requests until {:.0} s after all reconciled",
                    self.restart.window_seconds
                ),
                format!(
                    "{} writes, {} requests in all; peak RSS {:.1} MiB",
                    self.restart.requests.writes,
                    self.restart.requests.total,
                    self.restart.peak_rss_mib
                ),
            ),
            (
                "raw ceiling: ConfigMaps server-side applied per second, by parallel tasks".into(),
                rates(&self.ceiling),
            ),
            (
                "tenant ceiling: tenants server-side applied per second (the namespace, then its objects at once), by parallel tasks".into(),
                rates(&self.tenant_ceiling),
            ),
            (
                "Member ceiling: Members created, their tenant applied and their status applied per second, by parallel tasks".into(),
                rates(&self.member_ceiling),
            ),
            (
                format!(
                    "CPU during the bulk, ms per Member by process ({:.2} cores busy)",
                    self.bulk_cpu.cores()
                ),
                self.bulk_cpu.per_unit_ms(n),
            ),
            (
                format!(
                    "CPU during the Member ceiling, ms per Member by process ({:.2} cores busy)",
                    self.member_ceiling_cpu.cores()
                ),
                self.member_ceiling_cpu.per_unit_ms(applied(&self.member_ceiling)),
            ),
            (
                format!(
                    "CPU during the tenant ceiling, ms per tenant by process ({:.2} cores busy)",
                    self.tenant_ceiling_cpu.cores()
                ),
                self.tenant_ceiling_cpu.per_unit_ms(applied(&self.tenant_ceiling)),
            ),
            (
                "after the bulk: operator writes until 3 s without one, writes/s".into(),
                format!(
                    "{} in {:.0} s: {:.0}/s",
                    self.after_bulk.requests.writes,
                    self.after_bulk.seconds,
                    per(self.after_bulk.requests.writes, self.after_bulk.seconds)
                ),
            ),
            (
                "after the bulk: the last write of each kind, s".into(),
                self.after_bulk
                    .last_writes
                    .iter()
                    .map(|(kind, seconds)| format!("{kind} {seconds:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                format!(
                    "CPU after the bulk, ms per operator write by process ({:.2} cores busy)",
                    self.after_bulk.cpu.cores()
                ),
                self.after_bulk
                    .cpu
                    .per_unit_ms(per(self.after_bulk.requests.writes, 1.0)),
            ),
        ];
        let _ = writeln!(
            text,
            "#### {} Members — load average {} before, {} after\n",
            self.members, self.load_before, self.load_after
        );
        text.push_str("| what | figure |\n|---|---|\n");
        for (what, figure) in rows {
            let _ = writeln!(text, "| {what} | {figure} |");
        }
        let _ = writeln!(
            text,
            "\nOperator requests per Member during the bulk, by verb and resource:\n"
        );
        text.push_str("| request | per Member | count |\n|---|---|---|\n");
        for (kind, count) in &self.bulk_requests.by_kind {
            let _ = writeln!(text, "| {kind} | {:.2} | {count} |", per(*count, n));
        }
        for (window, requests) in [
            ("resync", &self.resync.requests),
            ("restart", &self.restart.requests),
        ] {
            if requests.writes > 0 {
                let _ = writeln!(
                    text,
                    "\nWrites during the {window}: {}",
                    requests.writes_shown()
                );
            }
        }
        text
    }
}

fn latencies(p: &Percentiles) -> String {
    format!("{:.0} / {:.0} / {:.0} ms", p.p50_ms, p.p99_ms, p.max_ms)
}

#[allow(clippy::cast_precision_loss)]
fn per(count: u64, n: f64) -> f64 {
    count as f64 / n
}

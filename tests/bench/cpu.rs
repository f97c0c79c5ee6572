//! Where the machine's CPU went during a phase, by process: the control
//! plane's (from the testenv's `state.json`), the operator's and the
//! harness's own. On this 2-core VM they all share the same cores, so the
//! API server's CPU per tenant during the bulk, beside the same figure while
//! the raw client applies tenants, says what bounds the bulk.

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Context, Result};
use serde::Serialize;

/// Linux's `USER_HZ`: the unit of `/proc/<pid>/stat`'s CPU times, fixed at
/// 100 by the kernel's ABI whatever the kernel's own tick.
const TICKS_PER_SECOND: f64 = 100.0;

/// The processes watched, by name.
#[derive(Debug, Clone)]
pub struct Processes(Vec<(String, u32)>);

impl Processes {
    /// The control plane's components of the testenv, and `others` (the
    /// operator, …); the harness itself is always counted.
    pub fn of_testenv(others: &[(&str, u32)]) -> Result<Self> {
        let state = socle_e2e::testenv_state();
        let mut processes: Vec<(String, u32)> = state["components"]
            .as_array()
            .context("no components in the testenv's state")?
            .iter()
            .filter_map(|component| {
                let pid = u32::try_from(component["pid"].as_u64()?).ok()?;
                Some((component["name"].as_str()?.to_owned(), pid))
            })
            .collect();
        processes.extend(others.iter().map(|(name, pid)| ((*name).to_owned(), *pid)));
        processes.push(("harness".to_owned(), std::process::id()));
        Ok(Self(processes))
    }

    /// Starts counting now.
    pub fn start(&self) -> Result<Stopwatch> {
        Ok(Stopwatch {
            processes: self.clone(),
            started: Instant::now(),
            before: self.seconds()?,
        })
    }

    fn seconds(&self) -> Result<BTreeMap<String, f64>> {
        self.0
            .iter()
            .map(|(name, pid)| Ok((name.clone(), cpu_seconds(*pid)?)))
            .collect()
    }
}

/// CPU counted since [`Processes::start`].
#[derive(Debug)]
pub struct Stopwatch {
    processes: Processes,
    started: Instant,
    before: BTreeMap<String, f64>,
}

impl Stopwatch {
    /// The CPU each process used since the start.
    pub fn stop(self) -> Result<CpuUse> {
        let after = self.processes.seconds()?;
        Ok(CpuUse {
            wall_seconds: self.started.elapsed().as_secs_f64(),
            seconds: after
                .into_iter()
                .map(|(name, seconds)| {
                    let before = self.before.get(&name).copied().unwrap_or(0.0);
                    (name, seconds - before)
                })
                .collect(),
        })
    }
}

/// CPU seconds by process over a phase of `wall_seconds`.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    pub wall_seconds: f64,
    pub seconds: BTreeMap<String, f64>,
}

impl CpuUse {
    /// Cores busy on average with the watched processes.
    pub fn cores(&self) -> f64 {
        self.seconds.values().sum::<f64>() / self.wall_seconds
    }

    /// Milliseconds of CPU per `unit` (tenant) of each process, as
    /// `name ms, …`, and their sum; a dash when the phase did no unit.
    pub fn per_unit_ms(&self, units: f64) -> String {
        if units < 1.0 {
            return "—".to_owned();
        }
        let mut parts: Vec<String> = self
            .seconds
            .iter()
            .map(|(name, seconds)| format!("{name} {:.1}", 1000.0 * seconds / units))
            .collect();
        parts.push(format!(
            "all {:.1}",
            1000.0 * self.seconds.values().sum::<f64>() / units
        ));
        parts.join(", ")
    }
}

/// User and system CPU time of process `pid` (all its threads) so far.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    // The command name, field 2, is in parentheses and may hold spaces:
    // the fields are counted after its closing one (field 3 is the first).
    let after_name = stat
        .rsplit_once(')')
        .with_context(|| format!("no command name in {path}"))?
        .1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |field: usize| -> Result<f64> {
        fields
            .get(field - 3)
            .and_then(|value| value.parse::<f64>().ok())
            .with_context(|| format!("no field {field} in {path}"))
    };
    // Fields 14 and 15: utime and stime.
    Ok((ticks(14)? + ticks(15)?) / TICKS_PER_SECOND)
}

//! `socle-bench`: socle's provisioning at scale, against the real control
//! plane of `cargo xtask testenv` and the real `socle run` binary. Run it
//! through `cargo xtask bench`, which starts the control plane and builds
//! both binaries.
//!
//! One run per `--members N`, each in a scope of its own (TestScope: unique
//! names and labels), with an operator managing only that scope's Members:
//! 1. `socle run` starts (no Member yet) until `/readyz`;
//! 2. bulk: N synthetic Members created at once, `--concurrency` creates in
//!    flight, until a watch has seen every one Ready; apply→Ready per Member,
//!    the operator's requests by verb from the API server's audit log. The
//!    shipped policy that sets socle's finalizers at creation is in force,
//!    as in an install;
//! 3. raw ceilings, right after the bulk with the operator frozen
//!    (SIGSTOP): bare parallel tasks server-side apply small ConfigMaps,
//!    then tenants as socle builds them, then whole Members; then the
//!    operator resumed until it stops writing (billing, metering);
//! 4. probes: Members created one after the other with the N present, each
//!    waited for: the latency a DSI engineer sees for one new adhesion;
//! 5. steady-state resync: every Member touched (a label) while the operator
//!    is frozen, then every per-Member controller seen reconciling them all
//!    (its `/metrics`) after its resume, then a quiet window; its writes
//!    must be 0;
//! 6. cold restart: the operator SIGKILLed and started again; `/readyz`,
//!    every Member reconciled, writes (must be 0), peak RSS. Every phase
//!    has its own peak RSS (`VmHWM`, reset between phases);
//! 7. cleanup (Members unfinalized and deleted, namespaces deleted), unless
//!    `--no-cleanup` on the last run.

#![forbid(unsafe_code)]

mod ceiling;
mod cpu;
mod members;
mod peer;
mod readiness;
mod report;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use socle::api::Member;
use socle_e2e::{
    AuditMark, TestScope, install, install_socle_crds,
    operator::{force_delete, tenant_namespaces},
    process::{self, OperatorProcess, OperatorSetup},
    username,
};

use self::{
    readiness::ReadyWatch,
    report::{
        AfterBulk, Machine, PeakRss, Percentiles, Requests, Restart, Resync, RunReport,
        load_average,
    },
};

/// Marks the Member ceiling's Members, which the operator leaves alone.
const CEILING_LABEL: &str = "socle.bench/ceiling";

#[derive(Debug, Parser)]
#[command(about = "socle's provisioning at scale against the testenv (use `cargo xtask bench`)")]
struct Args {
    /// Members per run; one run per value, in order (e.g. 100,1000).
    #[arg(long, value_delimiter = ',', default_value = "100")]
    members: Vec<usize>,
    /// The `socle` binary under test.
    #[arg(long)]
    socle: PathBuf,
    /// Members created one at a time after the bulk, for the latency with
    /// N present.
    #[arg(long, default_value_t = 100)]
    probes: usize,
    /// Creates (and touches) in flight at once, as a GitOps sync would.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Quiet window after the resync and after the restart, in seconds.
    #[arg(long, default_value_t = 30)]
    quiet_seconds: u64,
    /// How long the operator may go on writing after the bulk before the
    /// run fails, in minutes: metering records 3 facts per synthetic Member
    /// (its subscription days of two exercises, its storage) once the bulk
    /// is over.
    #[arg(long, default_value_t = 5)]
    settle_minutes: u64,
    /// Parallel tasks of the raw-ceiling client; one measure per value.
    #[arg(long, value_delimiter = ',', default_value = "4,16,64")]
    ceiling_concurrency: Vec<usize>,
    /// Seconds of each raw-ceiling measure.
    #[arg(long, default_value_t = 10)]
    ceiling_seconds: u64,
    /// Also write the reports as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Leave the last run's objects in place (the caller tears the control
    /// plane down anyway; deleting 10 000 namespaces takes longer than that).
    #[arg(long)]
    no_cleanup: bool,
    /// Fail unless the steady-state resync and the cold restart cost no
    /// write (CI's check that the harness and that property hold).
    #[arg(long)]
    check: bool,
    /// Measure this peer instead of socle (`kyverno`, whose processes
    /// `cargo xtask bench --peer kyverno` starts and names below).
    #[arg(long, requires_all = ["peer_pids", "peer_users"])]
    peer: Option<String>,
    /// The peer's process ids, for their peak RSS.
    #[arg(long, value_delimiter = ',')]
    peer_pids: Vec<u32>,
    /// The peer's users in the audit log.
    #[arg(long, value_delimiter = ',')]
    peer_users: Vec<String>,
    /// socle's report (`--json` of its run on the same control plane), to
    /// print beside the peer's.
    #[arg(long, requires = "peer")]
    against: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let client = socle_e2e::connect().await;
    // As in production, Velero's CRDs are served, so the backup controller
    // runs and its watches count (the synthetic Members ask for no backup).
    socle_e2e::velero::install_velero_crds(&client).await;
    let version = client.apiserver_version().await?;
    let machine = Machine::read(version.git_version);
    println!(
        "### socle-bench: {} CPUs, {:.1} GiB, Linux {}, Kubernetes {}\n",
        machine.cpus, machine.memory_gib, machine.kernel, machine.kubernetes
    );
    if let Some(name) = &args.peer {
        return run_peer(&args, name).await;
    }
    let mut reports = Vec::new();
    for (index, &members) in args.members.iter().enumerate() {
        let last = index + 1 == args.members.len();
        let report = run(&args, members, !(last && args.no_cleanup)).await?;
        println!("{}", report.markdown());
        reports.push(report);
    }
    if let Some(path) = &args.json {
        let json = json!({"machine": machine, "runs": reports});
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| path.display().to_string())?;
    }
    if args.check {
        for report in &reports {
            ensure!(
                report.resync.requests.writes == 0 && report.restart.requests.writes == 0,
                "{} Members: writes in steady state: resync [{}], restart [{}]",
                report.members,
                report.resync.requests.writes_shown(),
                report.restart.requests.writes_shown()
            );
        }
    }
    Ok(())
}

/// The peer's run at each size (see `peer.rs`), beside socle's report.
async fn run_peer(args: &Args, name: &str) -> Result<()> {
    let processes = peer::PeerProcesses {
        name: name.to_owned(),
        pids: args.peer_pids.clone(),
        users: args.peer_users.clone(),
    };
    let mut reports = Vec::new();
    for (index, &members) in args.members.iter().enumerate() {
        let last = index + 1 == args.members.len();
        let report = peer::run(
            &processes,
            members,
            args.concurrency,
            !(last && args.no_cleanup),
        )
        .await?;
        match &args.against {
            Some(socle) => println!("{}", peer::side_by_side(socle, &report)?),
            None => println!("{}", serde_json::to_string_pretty(&report)?),
        }
        reports.push(report);
    }
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&json!({"peer_runs": reports}))?,
        )
        .with_context(|| path.display().to_string())?;
    }
    Ok(())
}

#[allow(clippy::too_many_lines)] // the phases in order, each a few lines
async fn run(args: &Args, n: usize, cleanup: bool) -> Result<RunReport> {
    let load_before = load_average();
    let scope = TestScope::new("bench").await;
    let client = scope.client();
    eprintln!("bench: {n} Members, scope {}", scope.id());
    install_socle_crds(&client).await;
    let namespace = scope.create_namespace("socle-bench").await;
    let testenv = PathBuf::from(std::env::var_os("SOCLE_TESTENV_DIR").context(
        "SOCLE_TESTENV_DIR is not set (cargo xtask bench sets it: the audit log is there)",
    )?);
    let setup = OperatorSetup {
        binary: args.socle.clone(),
        kubeconfig: std::env::var_os("SOCLE_OPERATOR_KUBECONFIG")
            .context("SOCLE_OPERATOR_KUBECONFIG is not set")?
            .into(),
        namespace: namespace.clone(),
        // Not the Member ceiling's Members: they are the raw client's.
        member_selector: format!("{},!{CEILING_LABEL}", scope.selector()),
        tenant_prefix: format!("b{}-", scope.id()),
        renamed: None,
        log: process::log_path(&testenv, scope.id()),
    };
    // Who the operator is in the audit log: the kubeconfig it is given.
    let operator = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&setup.kubeconfig)?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let user = username(&kube::Client::try_from(operator)?).await;
    let ready = ReadyWatch::start(&client, &scope.selector());

    // 1. The operator, before any Member.
    let started = Instant::now();
    let mut operator = OperatorProcess::start(&setup)?;
    operator.wait_ready(Duration::from_secs(60)).await?;
    let operator_ready_seconds = started.elapsed().as_secs_f64();
    // Each phase says what it measured as it ends, so that a run that fails
    // later (a timeout) still leaves its figures in the output.
    eprintln!("bench: operator ready in {operator_ready_seconds:.2} s");
    operator.take_peak_rss_kib()?;

    // 2. Bulk, with the shipped policy that sets socle's finalizers at each
    // create, as installed (bound to this scope's Members only).
    let bulk: Vec<Member> = members::synthetic(&scope, "m", 0..n).collect();
    let probe = bulk.first().context("--members must be at least 1")?;
    install::apply_member_finalizers(&client, &scope, probe).await;
    let names: Vec<String> = bulk.iter().map(ResourceExt::name_any).collect();
    let processes = cpu::Processes::of_testenv(&[("operator", operator.pid())])?;
    let mark = AuditMark::now();
    let bulk_cpu = processes.start()?;
    let started = Instant::now();
    let created = create(&client, bulk, args.concurrency).await?;
    let create_seconds = started.elapsed().as_secs_f64();
    let timeout = Duration::from_secs(120) + Duration::from_millis(200) * u32::try_from(n)?;
    ready.wait_for(&names, timeout).await?;
    let bulk_cpu = bulk_cpu.stop()?;
    let last_ready = latest_ready(&ready, &names);
    let all_ready_seconds = last_ready.duration_since(started).as_secs_f64();
    let bulk_latency = Percentiles::of(latencies(&ready, &created));
    let bulk_requests = Requests::of(&mark.events(&client).await, &user);
    let bulk_peak_rss = mib(operator.take_peak_rss_kib()?);
    let tenants = tenant_namespaces(&Api::<Namespace>::all(client.clone()), &setup.tenant_prefix)
        .await?
        .len();
    eprintln!(
        "bench: bulk: {n} Ready in {all_ready_seconds:.1} s, p50/p99 {:.0}/{:.0} ms, \
         {} requests ({} writes), peak RSS {bulk_peak_rss:.1} MiB",
        bulk_latency.p50_ms, bulk_latency.p99_ms, bulk_requests.total, bulk_requests.writes,
    );
    // 3. Raw ceilings, right after the bulk with its objects present, so that
    // the machine is as busy as it was: this 2-core VM's speed varies from
    // one quarter of an hour to the next. The operator is frozen meanwhile.
    operator.pause()?;
    let ceiling_seconds = Duration::from_secs(args.ceiling_seconds);
    let ceiling = ceiling::config_maps(
        &client,
        &namespace,
        &args.ceiling_concurrency,
        ceiling_seconds,
    )
    .await?;
    // Tenants of Members that are never created, under the run's prefix:
    // the cleanup deletes their namespaces with the others.
    let tenant_ceiling_cpu = processes.start()?;
    let tenant_ceiling = ceiling::tenants(
        &client,
        members::synthetic(&scope, "c", 0..usize::MAX),
        &setup.tenant_prefix,
        &args.ceiling_concurrency,
        ceiling_seconds,
    )
    .await?;
    let tenant_ceiling_cpu = tenant_ceiling_cpu.stop()?;
    let member_ceiling_cpu = processes.start()?;
    let member_ceiling = ceiling::members(
        &client,
        members::synthetic(&scope, "w", 0..usize::MAX).map(|mut member| {
            member
                .labels_mut()
                .insert(CEILING_LABEL.to_owned(), "yes".to_owned());
            member
        }),
        &setup.tenant_prefix,
        &args.ceiling_concurrency,
        ceiling_seconds,
    )
    .await?;
    let member_ceiling_cpu = member_ceiling_cpu.stop()?;
    operator.resume()?;
    eprintln!(
        "bench: raw ceilings: {:.0} ConfigMaps/s, {:.1} tenants/s, {:.1} Members/s",
        report::best(&ceiling),
        report::best(&tenant_ceiling),
        report::best(&member_ceiling)
    );
    // What waited for the bulk to end: billing's statements and statuses,
    // metering's records.
    let settle_within = Duration::from_secs(60 * args.settle_minutes);
    let mark = AuditMark::now();
    let resumed_at = Timestamp::now();
    let after_bulk_cpu = processes.start()?;
    let tail = settle(&client, &user, settle_within).await?;
    let events = mark.events(&client).await;
    let after_bulk = AfterBulk {
        seconds: tail.as_secs_f64(),
        requests: Requests::of(&events, &user),
        last_writes: report::last_writes(&events, &user, resumed_at),
        cpu: after_bulk_cpu.stop()?,
    };
    let after_bulk_peak_rss = mib(operator.take_peak_rss_kib()?);
    eprintln!(
        "bench: 3 s without an operator write, {:.0} s after the bulk ({} writes, last of each: {:?}), \
         peak RSS {after_bulk_peak_rss:.1} MiB",
        after_bulk.seconds, after_bulk.requests.writes, after_bulk.last_writes
    );

    // 4. Probes, one after the other.
    let mut probe_latencies = Vec::new();
    for member in members::synthetic(&scope, "p", n..n + args.probes) {
        let name = member.name_any();
        let created = create(&client, vec![member], 1).await?;
        ready
            .wait_for(std::slice::from_ref(&name), Duration::from_secs(60))
            .await?;
        probe_latencies.extend(latencies(&ready, &created));
    }
    let probe_latency = Percentiles::of(probe_latencies);
    eprintln!(
        "bench: probes: p50/p99 {:.0}/{:.0} ms",
        probe_latency.p50_ms, probe_latency.p99_ms
    );
    settle(&client, &user, settle_within).await?;
    let probes_peak_rss = mib(operator.take_peak_rss_kib()?);

    // 5. Steady-state resync. The touches are the harness's own writes, as
    // many as Members, which cost the API server more than the operator's
    // reconciles: they are made while the operator is frozen, and the
    // resync is timed from its resume, on all the events at once.
    let total = n + args.probes;
    let before = operator.reconciles().await?;
    let mark = AuditMark::now();
    operator.pause()?;
    let started = Instant::now();
    touch_all(&client, &setup.member_selector, args.concurrency).await?;
    let touched_seconds = started.elapsed().as_secs_f64();
    let resync_cpu = processes.start()?;
    let resumed = Instant::now();
    operator.resume()?;
    operator
        .wait_reconciled(&before, total, Duration::from_secs(600))
        .await?;
    let reconciled_seconds = resumed.elapsed().as_secs_f64();
    let resync_cpu = resync_cpu.stop()?;
    let quiet = Duration::from_secs(args.quiet_seconds);
    tokio::time::sleep(quiet).await;
    let resync = Resync {
        members: total,
        touched_seconds,
        reconciled_seconds,
        window_seconds: quiet.as_secs_f64(),
        requests: Requests::of(&mark.events(&client).await, &user),
        cpu: resync_cpu,
    };
    let peak_rss_by_phase = PeakRss {
        bulk: bulk_peak_rss,
        after_bulk: after_bulk_peak_rss,
        probes: probes_peak_rss,
        resync: mib(operator.take_peak_rss_kib()?),
    };
    eprintln!(
        "bench: resync: touched in {touched_seconds:.1} s, all reconciled {reconciled_seconds:.1} s \
         after the operator's resume, {} writes, {} requests; peak RSS {:.1} MiB",
        resync.requests.writes, resync.requests.total, peak_rss_by_phase.resync
    );

    // 6. Cold restart.
    operator.kill()?;
    let mark = AuditMark::now();
    let started = Instant::now();
    let mut operator = OperatorProcess::start(&setup)?;
    operator.wait_ready(Duration::from_secs(600)).await?;
    let ready_seconds = started.elapsed().as_secs_f64();
    eprintln!("bench: restarted: /readyz in {ready_seconds:.2} s");
    operator
        .wait_reconciled(
            &std::collections::BTreeMap::new(),
            total,
            Duration::from_secs(600),
        )
        .await?;
    let reconciled_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(quiet).await;
    let restart = Restart {
        ready_seconds,
        reconciled_seconds,
        window_seconds: quiet.as_secs_f64(),
        requests: Requests::of(&mark.events(&client).await, &user),
        peak_rss_mib: mib(operator.peak_rss_kib()?),
    };
    operator.stop()?;

    let load_after = load_average();

    // 7. Cleanup.
    if cleanup {
        // The ceilings' tenants too: thousands of namespaces, which
        // kube-controller-manager empties and removes at about one every 2 s
        // on 2 cores (its client is limited to 20 requests/s, and it sweeps
        // every namespaced kind of each namespace).
        let namespaces = tenant_namespaces(&Api::all(client.clone()), &setup.tenant_prefix)
            .await?
            .len();
        let timeout = Duration::from_secs(120 + 3 * u64::try_from(namespaces)?);
        force_delete(&client, &scope.selector(), &setup.tenant_prefix).await?;
        wait_gone(&client, &setup.tenant_prefix, timeout).await?;
        scope.cleanup().await;
    } else {
        scope.keep();
    }
    Ok(RunReport {
        members: n,
        tenants,
        load_before,
        load_after,
        create_concurrency: args.concurrency,
        operator_ready_seconds,
        create_seconds,
        all_ready_seconds,
        bulk_latency,
        bulk_requests,
        probe_latency,
        resync,
        peak_rss_mib: peak_rss_by_phase.max(),
        peak_rss_by_phase,
        restart,
        ceiling,
        tenant_ceiling,
        member_ceiling,
        after_bulk,
        bulk_cpu,
        tenant_ceiling_cpu,
        member_ceiling_cpu,
    })
}

/// Creates `members`, `concurrency` at a time; returns each name with the
/// moment its create was answered.
async fn create(
    client: &Client,
    members: Vec<Member>,
    concurrency: usize,
) -> Result<Vec<(String, Instant)>> {
    let api = Api::<Member>::all(client.clone());
    stream::iter(members)
        .map(|member| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &member)
                    .await
                    .with_context(|| format!("creating Member {}", member.name_any()))?;
                Ok((member.name_any(), Instant::now()))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

/// A label changed on every Member the operator selects: a change each controller
/// reconciles, with nothing in it for the operator to write.
async fn touch_all(client: &Client, selector: &str, concurrency: usize) -> Result<()> {
    let api = Api::<Member>::all(client.clone());
    let names: Vec<String> = api
        .list_metadata(&kube::api::ListParams::default().labels(selector))
        .await?
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let patch = json!({"metadata": {"labels": {"socle.bench/touched": "yes"}}});
    stream::iter(names)
        .map(|name| {
            let (api, patch) = (api.clone(), &patch);
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await
}

/// apply→Ready of each created Member.
fn latencies(ready: &ReadyWatch, created: &[(String, Instant)]) -> Vec<Duration> {
    created
        .iter()
        .filter_map(|(name, at)| Some(ready.ready_at(name)?.saturating_duration_since(*at)))
        .collect()
}

fn latest_ready(ready: &ReadyWatch, names: &[String]) -> Instant {
    names
        .iter()
        .filter_map(|name| ready.ready_at(name))
        .max()
        .expect("every Member is Ready")
}

/// Waits until the operator has made no write for 3 s (the billing
/// controller writes estimates and records a little after the tenants are
/// Ready), so that one phase's tail is not counted in the next. Returns how
/// long the tail lasted.
async fn settle(client: &Client, user: &str, within: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let mark = AuditMark::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        if Requests::of(&mark.events(client).await, user).writes == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!(
                "the operator still writes {} minutes after the Members were Ready \
                 (see --settle-minutes)",
                within.as_secs() / 60
            );
        }
    }
}

/// Waits until no namespace starts with `prefix` (kube-controller-manager
/// empties and removes them).
async fn wait_gone(client: &Client, prefix: &str, timeout: Duration) -> Result<()> {
    let namespaces = Api::<Namespace>::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let left = tenant_namespaces(&namespaces, prefix).await?.len();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{left} tenant namespaces {prefix}… still there after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[allow(clippy::cast_precision_loss)] // far below 2^52 KiB
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

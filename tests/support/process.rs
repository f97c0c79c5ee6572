//! `socle run`, the real operator binary, as a child process: its admin port
//! (readiness, reconcile counters) and its memory from `/proc`.

use std::{
    collections::BTreeMap,
    fs::File,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Where and how the operator under test runs.
#[derive(Debug, Clone)]
pub struct OperatorSetup {
    pub binary: PathBuf,
    /// The operator's kubeconfig (user `socle-operator`).
    pub kubeconfig: PathBuf,
    /// Its namespace: statements, usage records.
    pub namespace: String,
    pub member_selector: String,
    pub tenant_prefix: String,
    /// What a scope's copy of the install renames (`None`: the shipped names).
    pub renamed: Option<Renamed>,
    pub log: PathBuf,
}

/// The names of a scope's copy of the install that `socle run` is told.
#[derive(Debug, Clone)]
pub struct Renamed {
    /// The ClusterRole bound to tenant administrators.
    pub tenant_admin_role: String,
    /// The ClusterRole socle binds to itself in drill sandboxes.
    pub drill_inspector_role: String,
    /// Where socle's Velero rights are.
    pub velero_namespace: String,
}

/// A running `socle run`.
#[derive(Debug)]
pub struct OperatorProcess {
    child: Child,
    admin: SocketAddr,
}

impl OperatorProcess {
    /// Starts `socle run` for the scope's Members only, without leader
    /// election (one replica: a restarted process must not wait out its
    /// predecessor's lease), its admin port on a free loopback port.
    pub fn start(setup: &OperatorSetup) -> Result<Self> {
        let admin = free_port()?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&setup.log)
            .with_context(|| setup.log.display().to_string())?;
        let child = Command::new(&setup.binary)
            .args(["run", "--leader-elect", "false", "--namespace"])
            .arg(&setup.namespace)
            .arg("--member-selector")
            .arg(&setup.member_selector)
            .arg("--tenant-prefix")
            .arg(&setup.tenant_prefix)
            .arg("--admin-address")
            .arg(admin.to_string())
            .args(setup.renamed.iter().flat_map(|renamed| {
                [
                    "--tenant-admin-role",
                    &renamed.tenant_admin_role,
                    "--drill-inspector-role",
                    &renamed.drill_inspector_role,
                    "--velero-namespace",
                    &renamed.velero_namespace,
                ]
            }))
            .env("KUBECONFIG", &setup.kubeconfig)
            .env_remove("POD_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", setup.binary.display()))?;
        Ok(Self { child, admin })
    }

    /// Waits until `/readyz` answers 200 (every watch synced).
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("socle run exited ({status}) before it was ready");
            }
            if matches!(get(self.admin, "/readyz").await, Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("socle run not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `socle_reconciles_total` by controller.
    pub async fn reconciles(&self) -> Result<BTreeMap<String, u64>> {
        let (status, body) = get(self.admin, "/metrics").await?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(body
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("socle_reconciles_total{controller=\"")?;
                let (controller, value) = rest.split_once("\"} ")?;
                Some((controller.to_owned(), value.trim().parse().ok()?))
            })
            .collect())
    }

    /// Waits until each per-Member controller has reconciled `members` more
    /// times than in `before` (each Member at least once, since the
    /// controllers reconcile each Member once per change).
    pub async fn wait_reconciled(
        &self,
        before: &BTreeMap<String, u64>,
        members: usize,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let wanted = members as u64;
        loop {
            let now = self.reconciles().await?;
            let behind: Vec<String> = PER_MEMBER
                .iter()
                .filter_map(|controller| {
                    let done = now
                        .get(*controller)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(before.get(*controller).copied().unwrap_or(0));
                    (done < wanted).then(|| format!("{controller} {done}/{wanted}"))
                })
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("reconciles after {timeout:?}: {}", behind.join(", "));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The operator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The most memory the process has held so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))
    }

    /// The most memory the process has held since the previous call (or
    /// its start), in KiB: `VmHWM`, then reset to the current RSS (`5` into
    /// `clear_refs`, Linux ≥ 4.0), so that each phase of a run has its own
    /// peak.
    pub fn take_peak_rss_kib(&self) -> Result<u64> {
        let peak = self.peak_rss_kib()?;
        let path = format!("/proc/{}/clear_refs", self.child.id());
        std::fs::write(&path, "5").with_context(|| format!("resetting VmHWM in {path}"))?;
        Ok(peak)
    }

    /// SIGKILL: a crash, nothing flushed or released.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGSTOP: the operator is frozen, requests and watches left open,
    /// until [`Self::resume`].
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    /// SIGTERM, as Kubernetes stops a pod; waits until it has exited.
    pub fn stop(mut self) -> Result<()> {
        self.signal("-TERM")?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("socle run exited with {status} after SIGTERM");
        }
        Ok(())
    }

    /// Sends `signal`, spelled as `kill` takes it (`-STOP`), to the operator.
    fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill {signal} {} failed", self.child.id());
        }
        Ok(())
    }
}

impl Drop for OperatorProcess {
    /// A harness that failed halfway leaves no operator behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The per-Member controllers: each reconciles every Member it manages.
/// (The billing controller reconciles the whole ledger at once.)
const PER_MEMBER: [&str; 3] = ["tenant", "vpn", "backup"];

/// A loopback address nothing listens on (another process could take it
/// before the operator binds it; the operator would then fail loudly).
fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A plain HTTP/1.0 GET: the admin port closes the connection after the
/// answer. Returns the status code and the body.
pub async fn get(address: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no HTTP status line")?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_owned()))
}

/// The binary `cargo xtask ci` builds and names in `$SOCLE_BIN`; by default
/// the workspace's debug build.
pub fn socle_binary() -> PathBuf {
    let path = std::env::var_os("SOCLE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/socle"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build -p socle` (or set SOCLE_BIN)",
        path.display()
    );
    path
}

/// The path of the operator's log for run `id` in the testenv's logs.
pub fn log_path(testenv: &Path, id: &str) -> PathBuf {
    testenv.join("logs").join(format!("socle-bench-{id}.log"))
}

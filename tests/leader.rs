//! Two replicas of `socle run` (the real binary) against the real control
//! plane: exactly one leads and works; killing it hands the lease and the
//! work over to the other; the follower never writes.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use socle_e2e::{
    TestScope, eventually,
    examples::{CONVERGE, create_members, tenant_only, wait_until_ready},
    install::ScopedInstall,
    install_socle_crds,
    operator::offboard_scope,
    process::socle_binary,
};

/// The lease duration given to both replicas: short, so the test is quick.
const LEASE_SECONDS: u64 = 6;
/// Scheduling slack on a loaded 2-core machine, on top of the lease duration.
const SLACK: Duration = Duration::from_secs(4);

#[tokio::test]
async fn one_replica_leads_and_a_killed_leader_hands_over_within_the_lease() {
    let scope = TestScope::new("leader").await;
    let client = scope.client();
    // Both replicas run as the shipped ServiceAccount, installed in the scope.
    install_socle_crds(&client).await;
    let install = ScopedInstall::apply(&scope).await;
    let namespace = install.namespace.clone();
    let kubeconfig = std::env::temp_dir().join(format!("socle-leader-{}.kubeconfig", scope.id()));
    let text = serde_yaml::to_string(&install.operator_kubeconfig(&client).await).unwrap();
    std::fs::write(&kubeconfig, text).expect("writing the operator's kubeconfig");
    let mut a = Replica::start(&scope, &install, &kubeconfig, "replica-a");
    let mut b = Replica::start(&scope, &install, &kubeconfig, "replica-b");
    let leases = Api::<Lease>::namespaced(client.clone(), &namespace);

    // Exactly one leads, and it is the one the Lease names.
    let first = eventually(CONVERGE, || async {
        let holder = holder(&leases).await?;
        let (leading_a, leading_b) = (a.leading().await?, b.leading().await?);
        ensure!(
            leading_a != leading_b,
            "replica-a leads: {leading_a}, replica-b leads: {leading_b}"
        );
        let leader = if leading_a { "replica-a" } else { "replica-b" };
        ensure!(
            holder.as_deref() == Some(leader),
            "{leader} leads, the Lease names {holder:?}"
        );
        Ok(leader)
    })
    .await;
    let (leader, follower) = if first == "replica-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };

    // The leader provisions; the follower does nothing at all.
    let member = tenant_only(&scope, "beganne");
    create_members(&client, std::slice::from_ref(&member)).await;
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    let idle = follower.metrics().await.expect("the follower's /metrics");
    assert!(
        !idle
            .lines()
            .any(|line| line.starts_with("socle_reconciles_total")
                || line.starts_with("socle_writes_total")),
        "the follower reconciled or wrote:\n{idle}"
    );

    // Kill the leader: no chance to release the lease.
    let killed = Instant::now();
    leader.kill();
    let took = eventually(CONVERGE, || async {
        ensure!(follower.leading().await?, "the follower does not lead yet");
        let holder = holder(&leases).await?;
        ensure!(
            holder.as_deref() == Some(follower.identity),
            "the Lease names {holder:?}"
        );
        Ok(killed.elapsed())
    })
    .await;
    println!(
        "hand-over after SIGKILL: {:.1}s (lease {LEASE_SECONDS}s)",
        took.as_secs_f64()
    );
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS) + SLACK,
        "hand-over took {took:?}, lease {LEASE_SECONDS}s"
    );

    // The new leader works: a second Member gets its tenant.
    let second = tenant_only(&scope, "saint-just");
    create_members(&client, std::slice::from_ref(&second)).await;
    wait_until_ready(&client, &scope, std::slice::from_ref(&second)).await;

    // The leader that is left offboards the scope's Members, then stops.
    offboard_scope(&client, &scope.selector(), &format!("t{}-", scope.id())).await;
    follower.terminate();
    std::fs::remove_file(&kubeconfig).ok();
    scope.cleanup().await;
}

/// One `socle run` process of the scope, with its admin port.
struct Replica {
    identity: &'static str,
    /// Locked only to poll or stop it; the checks borrow the replica shared.
    child: std::sync::Mutex<Child>,
    admin: String,
    /// Its stderr (the logs), to say why if it dies.
    log: PathBuf,
}

impl Replica {
    fn start(
        scope: &TestScope,
        install: &ScopedInstall,
        kubeconfig: &std::path::Path,
        identity: &'static str,
    ) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!("socle-{}-{identity}.log", scope.id()));
        let child = Command::new(socle_binary())
            .args([
                "run",
                "--namespace",
                &install.namespace,
                "--member-selector",
                &scope.selector(),
            ])
            .args(["--tenant-prefix", &scope.tenant_prefix()])
            // The scope's copies of the ClusterRoles socle binds.
            .args(["--tenant-admin-role", &install.tenant_admin_role])
            .args(["--drill-inspector-role", &install.drill_inspector_role])
            .args(["--velero-namespace", &install.velero_namespace])
            .args(["--admin-address", &format!("127.0.0.1:{port}")])
            .args([
                "--lease-seconds",
                &LEASE_SECONDS.to_string(),
                "--identity",
                identity,
            ])
            .args(["--log", "warn"])
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file for the replica"))
            .spawn()
            .expect("starting socle run");
        Self {
            identity,
            child: std::sync::Mutex::new(child),
            admin: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn metrics(&self) -> anyhow::Result<String> {
        let exited = self.child.lock().expect("the child's lock").try_wait()?;
        if let Some(status) = exited {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            anyhow::bail!("{} exited ({status}):\n{log}", self.identity);
        }
        let url = format!("{}/metrics", self.admin);
        tokio::task::spawn_blocking(move || http_get(&url)).await?
    }

    /// What the replica says of itself on /metrics.
    async fn leading(&self) -> anyhow::Result<bool> {
        Ok(self
            .metrics()
            .await?
            .lines()
            .any(|line| line == "socle_leader 1"))
    }

    fn kill(&mut self) {
        let child = self.child.get_mut().expect("the child's lock");
        child.kill().expect("killing the leader");
        child.wait().ok();
    }

    /// SIGTERM, as Kubernetes stops a pod.
    fn terminate(&mut self) {
        let child = self.child.get_mut().expect("the child's lock");
        Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .ok();
        child.wait().ok();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            child.kill().ok();
            child.wait().ok();
        }
        std::fs::remove_file(&self.log).ok();
    }
}

/// A plain HTTP/1.0 GET, enough for the admin port.
fn http_get(url: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").context("an http URL")?;
    let (host, path) = rest.split_once('/').context("a path")?;
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .context("an HTTP response")?;
    Ok(body.to_owned())
}

async fn holder(leases: &Api<Lease>) -> anyhow::Result<Option<String>> {
    Ok(leases
        .get_opt("socle-leader")
        .await?
        .and_then(|lease| lease.spec?.holder_identity))
}

//! `socle run`: the operator — admin port first, then the leader lease, then
//! every controller until SIGTERM or the loss of the lease.

use std::net::SocketAddr;

use anyhow::{Context as _, Result, bail};
use clap::{ArgAction, Args};
use futures::FutureExt;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use socle::{
    admin,
    backup::{self, BackupCollector, BackupSettings},
    billing,
    runtime::{
        Context,
        admission::{self, Holds},
        watch::MemberWatch,
    },
    tenant::{self, TenantSettings},
    vpn::{self, VpnSettings},
};
use tokio::{sync::watch::Receiver, task::JoinHandle};
use tracing::{error, info, warn};

/// Name of the Lease the replicas compete for, in the operator's namespace.
const LEASE: &str = "socle-leader";
/// How long in-flight reconciles may run on after SIGTERM (the pod's
/// terminationGracePeriodSeconds must be longer).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Arguments of `socle run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Namespace of the operator (Secrets, UsageRecords, statements, drill reports, its Lease).
    #[arg(long, env = "POD_NAMESPACE", default_value = "socle-system")]
    pub namespace: String,
    /// Prefix of tenant namespaces: `commune-` gives `commune-allaire`.
    #[arg(long, env = "SOCLE_TENANT_PREFIX", default_value = "commune-")]
    pub tenant_prefix: String,
    /// Group of the DSI's auditors, given read-only access to every tenant.
    #[arg(
        long,
        env = "SOCLE_AUDITOR_GROUP",
        default_value = "socle:dsi-auditors"
    )]
    pub auditor_group: String,
    /// Manage only the Members matching this label selector (default: all).
    #[arg(long, env = "SOCLE_MEMBER_SELECTOR")]
    pub member_selector: Option<String>,
    /// The Datacenter's own networks (pods, services): routed through every
    /// tunnel and never allowed to overlap a town hall's site network.
    #[arg(
        long,
        env = "SOCLE_CLUSTER_CIDRS",
        value_delimiter = ',',
        default_value = "10.96.0.0/12,10.244.0.0/16"
    )]
    pub cluster_cidrs: Vec<String>,
    /// The API of each VPN gateway (`socle vpn-gateway`), `{namespace}`
    /// standing for the gateway's namespace, e.g.
    /// `http://socle-vpn-gateway.{namespace}.svc:9586`: a router is then
    /// given a key only once the hub lists it. Unset: socle does not wait.
    #[arg(long, env = "SOCLE_VPN_GATEWAY_API")]
    pub vpn_gateway_api: Option<String>,
    /// Seconds the hub may hear nothing from a router (its handshakes, its
    /// keepalives every 25 s) before the member's `VpnHealthy` turns False.
    #[arg(long, env = "SOCLE_VPN_SILENCE_SECONDS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(30..))]
    pub vpn_silence_seconds: u64,
    /// The read-only ClusterRole socle binds to itself in each drill sandbox
    /// (manifests/install/clusterrole.yaml; the chart prefixes its release).
    #[arg(
        long,
        env = "SOCLE_DRILL_INSPECTOR_ROLE",
        default_value = "socle-drill-inspector"
    )]
    pub drill_inspector_role: String,
    /// The ClusterRole socle binds to each tenant's administrators, in their
    /// namespace only (manifests/install/clusterrole.yaml; the chart
    /// prefixes its release).
    #[arg(
        long,
        env = "SOCLE_TENANT_ADMIN_ROLE",
        default_value = "socle-tenant-admin"
    )]
    pub tenant_admin_role: String,
    /// Velero's namespace: socle watches and writes Velero's objects there
    /// only (manifests/velero-access: the Role socle-velero).
    #[arg(long, env = "SOCLE_VELERO_NAMESPACE", default_value = "velero")]
    pub velero_namespace: String,
    /// Velero server's metrics endpoint (its `--metrics-address`), where
    /// socle reads the size of each backup Velero uploads, for the
    /// inventory (`backup-gib-months`). Unset: not measured.
    #[arg(long, env = "SOCLE_VELERO_METRICS_URL")]
    pub velero_metrics_url: Option<String>,
    /// How long Velero keeps a departing commune's exit backup, in days
    /// (the convention names no period: a year, as the Critical tier keeps
    /// its backups).
    #[arg(long, env = "SOCLE_EXIT_BACKUP_RETENTION_DAYS", default_value_t = socle::tenant::settings::EXIT_BACKUP_RETENTION_DAYS)]
    pub exit_backup_retention_days: u32,
    /// How many DrillReports of each member are kept (the oldest go).
    #[arg(long, env = "SOCLE_DRILL_REPORTS_KEPT", default_value_t = socle::backup::settings::DRILL_REPORTS_KEPT, value_parser = clap::value_parser!(u32).range(1..))]
    pub drill_reports_kept: u32,
    /// Address of the admin port: /metrics, /livez, /readyz.
    #[arg(long, env = "SOCLE_ADMIN_ADDRESS", default_value = "0.0.0.0:8080")]
    pub admin_address: SocketAddr,
    /// Compete for the leader Lease so that only one replica acts (set to
    /// false only when a single replica can ever run).
    #[arg(long, env = "SOCLE_LEADER_ELECT", default_value_t = true, action = ArgAction::Set)]
    pub leader_elect: bool,
    /// Seconds a leader's lease stays valid without renewal: how long a
    /// killed leader delays its successor.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..))]
    pub lease_seconds: u64,
    /// Identity in the Lease (the pod name in a cluster).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    #[command(flatten)]
    pub logging: super::LogArgs,
}

pub async fn run(args: RunArgs) -> Result<()> {
    args.logging.init()?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG or in-cluster)")?;
    let context = Context::new(
        client.clone(),
        args.namespace.clone(),
        args.member_selector.clone(),
    );
    check_admission(&context).await;
    let shutdown = shutdown_signal().boxed().shared();
    // The admin port answers /livez while this replica waits for the lease.
    let admin = tokio::spawn(admin::serve(
        args.admin_address,
        context.metrics.clone(),
        context.health.clone(),
        shutdown.clone(),
    ));

    let lease = if args.leader_elect {
        let identity = args
            .identity
            .clone()
            .unwrap_or_else(|| format!("socle-{}", std::process::id()));
        let Some(lease) = lead(client, &args, &identity, shutdown.clone()).await? else {
            return Ok(());
        };
        Some(lease)
    } else {
        None
    };
    context.metrics.set_leader(true);

    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let watch_lease = lease.map(|(mut leader, task)| {
        tokio::spawn(async move {
            tokio::select! {
                // Another replica took the lease.
                _ = leader.wait_for(|leading| !*leading) => { let _ = lost_tx.send(()); }
                // We are stopping: hand the lease over now rather than let it expire.
                _ = release_rx => {}
            }
            // Dropping the last receiver makes the manager release the lease.
            drop(leader);
            let _ = task.await;
        })
    });
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                // Only a real loss counts: without leader election the sender
                // is dropped at once and the branch is disabled.
                Ok(()) = lost_rx => {}
            }
        }
        .boxed()
        .shared()
    };
    Box::pin(run_controllers(&context, args, stop)).await;
    context.metrics.set_leader(false);
    let lost = shutdown.peek().is_none();
    let _ = release_tx.send(());
    if let Some(watch_lease) = watch_lease {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), watch_lease).await;
    }
    admin.abort();
    if lost {
        warn!("lost the leader lease; exiting so that the pod restarts as a follower");
        bail!("lost the leader lease");
    }
    info!("socle operator stopped");
    Ok(())
}

/// Says loudly, and in a metric, when the shipped admission policy does not
/// hold this operator (its binding names another ServiceAccount, or it is
/// not installed): socle then runs with nothing but RBAC around it.
async fn check_admission(context: &Context) {
    let holds = admission::policy_holds(&context.client).await;
    context.metrics.set_admission_holds(&holds);
    match holds {
        Holds::Yes => {
            info!("the admission policy socle-stays-in-its-namespaces holds this operator");
        }
        Holds::No => error!(
            "the admission policy socle-stays-in-its-namespaces does not hold this operator: \
             it accepted a namespace without Pod Security. Install it, and make its binding's \
             parameter select this operator's ServiceAccount (SECURITY.md)"
        ),
        Holds::Unknown(why) => warn!(
            "could not tell whether the admission policy socle-stays-in-its-namespaces holds this operator: {why}"
        ),
    }
}

/// Runs every controller until `stop`, then gives in-flight reconciles
/// [`SHUTDOWN_GRACE`] to finish.
async fn run_controllers(
    context: &Context,
    args: RunArgs,
    stop: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) {
    let backup_settings = BackupSettings {
        namespace_prefix: args.tenant_prefix.clone(),
        velero_namespace: args.velero_namespace.clone(),
        velero_metrics_url: args.velero_metrics_url,
        drill_reports_kept: args.drill_reports_kept,
        drill_inspector_role: args.drill_inspector_role,
        ..BackupSettings::default()
    };
    context
        .metrics
        .register_collector(Box::new(BackupCollector(backup_settings.metrics.clone())));
    let tenant_settings = TenantSettings {
        namespace_prefix: args.tenant_prefix,
        auditor_group: args.auditor_group,
        admin_role: args.tenant_admin_role,
        velero_namespace: args.velero_namespace,
        exit_backup_retention_days: args.exit_backup_retention_days,
    };
    let vpn_settings = VpnSettings {
        cluster_cidrs: args.cluster_cidrs,
        gateway_api: args.vpn_gateway_api,
        silence_bound: std::time::Duration::from_secs(args.vpn_silence_seconds),
        ..VpnSettings::default()
    };
    info!("controllers starting");
    // One watch of Members for all: every controller subscribes before it runs.
    let members = MemberWatch::new(context);
    let [for_tenant, for_vpn, for_backup, for_billing] =
        std::array::from_fn(|_| members.subscribe());
    let controllers = async {
        tokio::join!(
            tenant::run(context.clone(), tenant_settings, for_tenant, stop.clone()),
            vpn::run(context.clone(), vpn_settings, for_vpn, stop.clone()),
            backup::run(context.clone(), backup_settings, for_backup, stop.clone()),
            billing::controller::run(context.clone(), for_billing, stop.clone()),
        );
    };
    let controllers = members.serve(controllers);
    // Reconciles in flight may finish, within a bound: a stuck one (a router
    // that never answers) must not keep the pod from stopping.
    let grace = async {
        stop.clone().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = controllers => {}
        () = grace => warn!(seconds = SHUTDOWN_GRACE.as_secs(), "controllers still busy after the grace period; stopping anyway"),
    }
}

/// Waits until this replica holds the leader Lease; `None` when asked to
/// stop first.
async fn lead(
    client: kube::Client,
    args: &RunArgs,
    identity: &str,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<
    Option<(
        Receiver<bool>,
        JoinHandle<kube_lease_manager::Result<LeaseManager>>,
    )>,
> {
    let manager = LeaseManagerBuilder::new(client, LEASE)
        .with_namespace(&args.namespace)
        .with_identity(identity)
        .with_duration(args.lease_seconds)
        // The leader renews once a third of the lease has passed, so a renewal
        // slowed by a busy API server has two thirds of the lease to land (the
        // ratio of client-go's 10 s renew deadline to its 15 s lease). With
        // only the last third, a 2 s stall on a loaded node lost the lease.
        .with_grace(args.lease_seconds * 2 / 3)
        .with_field_manager("socle-leader-election")
        .build()
        .await
        .context("preparing the leader Lease")?;
    let (mut leader, task) = manager.watch().await;
    info!(%identity, lease = LEASE, "waiting to lead");
    tokio::select! {
        changed = leader.wait_for(|leading| *leading) => { changed.context("leader election stopped")?; }
        () = shutdown => return Ok(None),
    }
    info!(%identity, "leading");
    Ok(Some((leader, task)))
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

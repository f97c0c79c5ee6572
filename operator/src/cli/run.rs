//! `socle run`: the operator.

use anyhow::{Context as _, Result};
use clap::Args;
use futures::FutureExt;
use socle::{
    billing,
    controller::Context,
    tenant::{self, plan::TenantSettings},
};
use tracing::info;

/// Arguments of `socle run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Namespace of the operator (Secrets, UsageRecords, statements, drill reports).
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
    /// Log filter, e.g. `info` or `socle=debug,kube=info`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// Log as JSON lines (for the cluster's log collector).
    #[arg(long, env = "SOCLE_LOG_JSON")]
    pub log_json: bool,
}

pub async fn run(args: RunArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log).context("--log")?;
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG or in-cluster)")?;
    let context = Context::new(client, args.namespace, args.member_selector);
    let settings = TenantSettings {
        namespace_prefix: args.tenant_prefix,
        auditor_group: args.auditor_group,
    };
    let shutdown = shutdown_signal().boxed().shared();
    info!("socle operator starting");
    tokio::join!(
        tenant::run(context.clone(), settings, shutdown.clone()),
        billing::controller::run(context, shutdown),
    );
    info!("socle operator stopped");
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

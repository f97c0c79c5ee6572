//! The commands of the `socle` binary other than `run`.

pub mod contribution;
pub mod explain;
pub mod gitops;
pub mod host_key;
pub mod member;
mod output;
mod repo;
pub mod run;
pub mod statements;
pub mod usage;
pub mod validate;
pub mod vpn_gateway;
mod xlsx;

use anyhow::{Context as _, Result};

/// How the long-running commands (`run`, `vpn-gateway`) log.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Log filter, e.g. `info` or `socle=debug,kube=info`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// Log as JSON lines (for the cluster's log collector).
    #[arg(long, env = "SOCLE_LOG_JSON")]
    pub log_json: bool,
}

impl LogArgs {
    /// Installs the process's log subscriber.
    pub fn init(&self) -> Result<()> {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log).context("--log")?;
        let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
        if self.log_json {
            subscriber.json().init();
        } else {
            subscriber.init();
        }
        Ok(())
    }
}

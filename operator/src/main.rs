//! The `socle` binary: the operator and the DSI's and finance's commands.
#![forbid(unsafe_code)]

mod cli;

/// jemalloc, for the same allocator in every build: under glibc's, the
/// memory freed during a bulk provisioning stayed with the thread arenas that
/// freed it — at 3 000 Members the operator's RSS peaked at twice its heap
/// (BENCHMARKS.md) — and the image's static musl build would otherwise use
/// musl's allocator, which is slower and is not the one the benchmarks
/// measure. jemalloc returns freed pages to the system after a few seconds.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// socle — REDON Agglomération's shared IT service, as a Kubernetes operator.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator: Members into tenants, usage into statements.
    Run(Box<cli::run::RunArgs>),
    /// Print every CustomResourceDefinition (YAML), or write one file per CRD.
    Crd {
        /// Write `<crd-name>.yaml` files into this directory instead of stdout.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// Compute article 7 contributions offline from a directory of manifests.
    Contribution(cli::contribution::ContributionArgs),
    /// Print the annual report's figures (article 7 preamble, 6.2) as JSON; `--html` writes the commission's document.
    Report(cli::contribution::ReportArgs),
    /// Issue and export the ContributionStatements kept by the operator.
    Statements(cli::statements::StatementsArgs),
    /// Record usage the operator cannot see (Level-1 engineering half-days): in the cluster, or as a file for a pull request.
    Usage(cli::usage::UsageArgs),
    /// Write a new adherent's Member manifest (article 8), checked, for a GitOps pull request.
    Member(cli::member::MemberArgs),
    /// Explain a socle kind or field, as `kubectl explain` does, offline: `socle explain member.spec.vpn`.
    Explain(cli::explain::ExplainArgs),
    /// Write the DSI's GitOps repository: layout, pull-request check, Flux and Argo CD objects.
    Gitops(cli::gitops::GitopsArgs),
    /// Check a directory of manifests offline: schemas, CEL rules and business rules (a PR check).
    Validate(cli::validate::ValidateArgs),
    /// The technician's VPN tools: `socle vpn host-key ADDRESS` fetches a router's SSH host key to pin.
    Vpn(cli::host_key::VpnArgs),
    /// The VPN hub's agent, beside WireGuard in the gateway pod: applies the hub configuration socle writes, serves each peer's handshake and counters.
    VpnGateway(cli::vpn_gateway::VpnGatewayArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    match command(Cli::parse().command).await {
        Ok(code) => code,
        // A message for people: the cause chain, without a backtrace.
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn command(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => Box::pin(cli::run::run(*args))
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Crd { output_dir } => print_crds(output_dir.as_ref()).map(|()| ExitCode::SUCCESS),
        Command::Contribution(args) => Ok(cli::contribution::contribution(&args)),
        Command::Report(args) => cli::contribution::report(&args).await,
        Command::Statements(args) => cli::statements::statements(args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Usage(args) => cli::usage::usage(args).await,
        Command::Member(args) => Ok(cli::member::member(&args)),
        Command::Validate(args) => Ok(cli::validate::validate(&args)),
        Command::Gitops(args) => Ok(cli::gitops::gitops(&args)),
        Command::Explain(args) => Ok(cli::explain::explain(&args)),
        Command::Vpn(args) => Ok(cli::host_key::vpn(&args).await),
        Command::VpnGateway(args) => cli::vpn_gateway::vpn_gateway(args)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

fn print_crds(output_dir: Option<&PathBuf>) -> Result<()> {
    for crd in socle::api::crds() {
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        let yaml = serde_yaml::to_string(&crd)?;
        match output_dir {
            Some(dir) => std::fs::write(dir.join(format!("{name}.yaml")), yaml)?,
            None => write!(std::io::stdout(), "---\n{yaml}")?,
        }
    }
    Ok(())
}

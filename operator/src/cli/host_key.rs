//! `socle vpn host-key ADDRESS`: the router's SSH host key, for
//! `spec.vpn.router.hostKey`, fetched rather than guessed. socle pins the
//! key and never trusts one on first use; this command does not trust it
//! either: it prints the key on stdout and its SHA-256 fingerprint on
//! stderr, for the technician to compare with the one the router itself
//! shows (its console, or `ssh-keygen -lf` on its host key) before the key
//! goes into a pull request. It never logs in: the connection ends at the
//! key exchange.

use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use clap::{Args, Subcommand};
use russh::{
    client,
    keys::{HashAlg, PublicKey, PublicKeyOrCertificate},
};

/// `socle vpn …`
#[derive(Debug, Args)]
pub struct VpnArgs {
    #[command(subcommand)]
    pub command: VpnCommand,
}

#[derive(Debug, Subcommand)]
pub enum VpnCommand {
    /// Fetch a router's SSH host key (stdout) and print its fingerprint
    /// (stderr) to compare with the router's own before pinning it.
    HostKey(HostKeyArgs),
}

/// Arguments of `socle vpn host-key`.
#[derive(Debug, Args)]
pub struct HostKeyArgs {
    /// The router's address (spec.vpn.router.address).
    pub address: String,
    /// Its SSH port (spec.vpn.router.port).
    #[arg(long, default_value_t = 22)]
    pub port: u16,
    /// How long to wait for the router, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Remembers the key the server shows, and refuses it: nothing goes further.
struct Capture(Arc<Mutex<Option<PublicKey>>>);

impl client::Handler for Capture {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = server_public_key {
            *self.0.lock().expect("not poisoned") = Some(key.clone());
        }
        Ok(false)
    }
}

pub async fn vpn(args: &VpnArgs) -> ExitCode {
    let VpnCommand::HostKey(args) = &args.command;
    match fetch(args).await {
        Ok(key) => {
            let line = key.to_openssh().unwrap_or_default();
            println!("{line}");
            eprintln!(
                "{}:{} presents this host key, fingerprint {}.\n\
                 Compare it with the router's own (its console, or `ssh-keygen -lf` on its public host key) \
                 before pinning it: socle member new … --router-host-key \"{line}\"",
                args.address,
                args.port,
                key.fingerprint(HashAlg::Sha256)
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}:{}: {error}", args.address, args.port);
            ExitCode::FAILURE
        }
    }
}

async fn fetch(args: &HostKeyArgs) -> Result<PublicKey, String> {
    let seen = Arc::new(Mutex::new(None));
    let config = Arc::new(client::Config::default());
    let timeout = Duration::from_secs(args.timeout);
    let connecting = client::connect(
        config,
        (args.address.as_str(), args.port),
        Capture(seen.clone()),
    );
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => return Err(format!("no answer within {timeout:?}")),
        // Refusing the key is what ends the exchange; any other end is an error.
        Ok(Err(russh::Error::UnknownKey)) => {}
        Ok(Err(error)) => return Err(error.to_string()),
        Ok(Ok(_)) => return Err("the connection went on past the host key".into()),
    }
    let key = seen.lock().expect("not poisoned").take();
    key.ok_or_else(|| "the server showed a certificate, not a host key".into())
}

//! SSH to a commune's router with russh: the pinned host key checked before
//! anything else (an unknown or different key aborts, never trust on first
//! use), public-key or password authentication, commands with a deadline.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use russh::{
    ChannelMsg, Disconnect,
    client::{self, Handle},
    keys::{self, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate},
};
use zeroize::Zeroizing;

/// How socle logs in to a router, from the credentials Secret.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: LoginSecret,
}

/// The secret half of the credentials.
#[derive(Clone)]
pub enum LoginSecret {
    /// An OpenSSH private key (PEM text).
    PrivateKey(Zeroizing<String>),
    Password(Zeroizing<String>),
}

impl fmt::Debug for LoginSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PrivateKey(_) => "PrivateKey(<redacted>)",
            Self::Password(_) => "Password(<redacted>)",
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.secret {
            LoginSecret::PrivateKey(_) => "private key",
            LoginSecret::Password(_) => "password",
        };
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &kind)
            .finish()
    }
}

/// Why an SSH step failed. Messages never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("router {0} is unreachable: {1}")]
    Unreachable(String, String),
    #[error("router {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error(
        "router {address} presented host key {presented}, not the pinned {pinned}: the push is refused (update spec.vpn.router.hostKey if the router was replaced)"
    )]
    HostKeyMismatch {
        address: String,
        pinned: String,
        presented: String,
    },
    #[error("spec.vpn.router.hostKey cannot be read: {0}")]
    InvalidHostKey(String),
    #[error("router {address} refused the credentials of user {username}")]
    AuthenticationFailed { address: String, username: String },
    #[error("the router credentials' private key cannot be read: {0}")]
    InvalidCredentials(String),
    #[error("SSH with router {0}: {1}")]
    Protocol(String, String),
}

/// The russh handler: accepts exactly the pinned key, and remembers what
/// it was shown so that a refusal can say which key it saw.
struct Pinned {
    pinned: PublicKey,
    presented: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A certificate is not the pinned key either: refused.
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_public_key else {
            *self.presented.lock().expect("not poisoned") = Some("a certificate".into());
            return Ok(false);
        };
        let same = key.key_data() == self.pinned.key_data();
        *self.presented.lock().expect("not poisoned") =
            Some(key.fingerprint(HashAlg::Sha256).to_string());
        Ok(same)
    }
}

/// What a command printed and how it ended.
#[derive(Clone, Default)]
pub struct Output {
    pub status: Option<u32>,
    /// May hold key material (a read of the router's config): never logged.
    pub stdout: Zeroizing<String>,
    pub stderr: String,
}

/// Written by hand: `stdout` may be a read of the router's configuration,
/// private key included; `stderr` shows as messages show it.
impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field(
                "stdout",
                &format_args!("<{} bytes redacted>", self.stdout.len()),
            )
            .field("stderr", &super::router::redact(&self.stderr))
            .finish()
    }
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Something that runs scripts on a router: an SSH session, or a fake in
/// unit tests.
pub trait Transport: Send {
    fn run(
        &mut self,
        script: &str,
        stdin: Option<&str>,
    ) -> impl Future<Output = Result<Output, SshError>> + Send;
}

/// An open, authenticated SSH session.
pub struct Session {
    handle: Handle<Pinned>,
    address: String,
    timeout: Duration,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects to `host:port`, checks the host key against `pinned`
    /// ("ssh-ed25519 AAAA…") and logs in, all within `timeout`.
    pub async fn open(
        host: &str,
        port: u16,
        pinned: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Self, SshError> {
        let address = format!("{host}:{port}");
        let pinned_key = PublicKey::from_openssh(pinned.trim())
            .map_err(|error| SshError::InvalidHostKey(error.to_string()))?;
        let login = match &credentials.secret {
            LoginSecret::PrivateKey(pem) => Some(Arc::new(
                keys::decode_secret_key(pem, None)
                    .map_err(|error| SshError::InvalidCredentials(error.to_string()))?,
            )),
            LoginSecret::Password(_) => None,
        };
        let presented = Arc::new(Mutex::new(None));
        let handler = Pinned {
            pinned: pinned_key.clone(),
            presented: presented.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(timeout * 2),
            ..client::Config::default()
        });
        let connecting = async {
            let mut handle = client::connect(config, (host, port), handler).await?;
            let result = match (login, &credentials.secret) {
                (Some(key), _) => {
                    let hash = handle.best_supported_rsa_hash().await?.flatten();
                    handle
                        .authenticate_publickey(
                            &credentials.username,
                            PrivateKeyWithHashAlg::new(key, hash),
                        )
                        .await?
                }
                (None, LoginSecret::Password(password)) => {
                    handle
                        .authenticate_password(&credentials.username, password.as_str())
                        .await?
                }
                (None, LoginSecret::PrivateKey(_)) => {
                    unreachable!("a private key is decoded above")
                }
            };
            Ok::<_, russh::Error>((handle, result.success()))
        };
        let outcome = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| SshError::Timeout(address.clone(), timeout))?;
        match outcome {
            Ok((handle, true)) => Ok(Self {
                handle,
                address,
                timeout,
            }),
            Ok((_, false)) => Err(SshError::AuthenticationFailed {
                address,
                username: credentials.username.clone(),
            }),
            Err(russh::Error::UnknownKey) => Err(SshError::HostKeyMismatch {
                address,
                pinned: pinned_key.fingerprint(HashAlg::Sha256).to_string(),
                presented: presented
                    .lock()
                    .expect("not poisoned")
                    .clone()
                    .unwrap_or_else(|| "nothing".into()),
            }),
            Err(russh::Error::IO(error)) => Err(SshError::Unreachable(address, error.to_string())),
            Err(error) => Err(SshError::Protocol(address, error.to_string())),
        }
    }

    /// Says goodbye; errors do not matter any more.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }

    async fn exec(&self, script: &str, stdin: Option<&str>) -> Result<Output, russh::Error> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, script).await?;
        if let Some(input) = stdin {
            channel.data(input.as_bytes()).await?;
        }
        channel.eof().await?;
        let mut output = Output::default();
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => output.status = Some(exit_status),
                _ => {}
            }
        }
        output.stdout = Zeroizing::new(String::from_utf8_lossy(&stdout).into_owned());
        zeroize::Zeroize::zeroize(&mut stdout);
        output.stderr = String::from_utf8_lossy(&stderr).into_owned();
        Ok(output)
    }
}

impl Transport for Session {
    async fn run(&mut self, script: &str, stdin: Option<&str>) -> Result<Output, SshError> {
        tokio::time::timeout(self.timeout, self.exec(script, stdin))
            .await
            .map_err(|_| SshError::Timeout(self.address.clone(), self.timeout))?
            .map_err(|error| SshError::Protocol(self.address.clone(), error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_never_shows_what_the_router_printed() {
        // `wg show <interface> private-key` prints the key alone: no key
        // name to redact it by.
        let key = "cHJpdmF0ZS1rZXktb2YtYWxsYWlyZS0wMDAwMDAwMDA=";
        let output = Output {
            status: Some(1),
            stdout: Zeroizing::new(format!("{key}\n")),
            stderr: format!("PrivateKey = {key}"),
        };
        let shown = format!("{output:?}");
        assert!(!shown.contains(key), "{shown}");
        assert!(shown.contains("Some(1)"), "{shown}");
    }
}

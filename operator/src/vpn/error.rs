//! Why a VPN reconcile failed: each error has a category (the Event reason
//! and metric label) and a retry policy. Messages never carry key material.

use super::{
    gateway::client::GatewayUnreachable, ipam::IpamError, plan::InvalidVpn, push::PushError,
    secrets::KeyError, ssh::SshError,
};
use crate::runtime::{Categorized, Retry};

/// A failed VPN reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Member manifest cannot be read: {0}")]
    Malformed(String),
    #[error(transparent)]
    Invalid(#[from] InvalidVpn),
    #[error("router credentials: {0}")]
    Credentials(String),
    #[error(
        "router credentials: Secret {namespace}/{name} (spec.vpn.router.credentialsSecret) is not labelled {label}={member}, so socle did not connect: a router login is used only for the member its Secret is labelled for. If it is {member}'s router login, label it: kubectl label secret --namespace {namespace} {name} {label}={member}",
        label = crate::labels::MEMBER
    )]
    CredentialsNotTied {
        namespace: String,
        name: String,
        member: String,
    },
    #[error("WireGuard keys: {0}")]
    Keys(#[from] KeyError),
    #[error("tunnel address: {0}")]
    Ipam(#[from] IpamError),
    #[error("router push: {0}")]
    Push(#[from] PushError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Gateway(#[from] GatewayUnreachable),
    #[error(
        "removing the tunnel from router {router} failed (tried again until {give_up_at}, then left to be cleaned by hand)"
    )]
    RouterCleanup {
        router: String,
        give_up_at: jiff::Timestamp,
        #[source]
        source: Box<Error>,
    },
}

impl Categorized for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Malformed",
            Self::Invalid(InvalidVpn::Spec(_)) => "InvalidSpec",
            Self::Invalid(InvalidVpn::Overlap(_)) => "SiteOverlap",
            Self::Credentials(_) => "RouterCredentials",
            Self::CredentialsNotTied { .. } => "CredentialsNotTied",
            Self::RouterCleanup { .. } => "RouterCleanupFailed",
            Self::Keys(_) => "VpnKeys",
            Self::Ipam(IpamError::Exhausted { .. }) => "TunnelPoolExhausted",
            Self::Ipam(IpamError::Kube(_)) | Self::Kube(_) => "KubeApi",
            Self::Gateway(_) => "GatewayUnreachable",
            Self::Push(push) => match push {
                PushError::Ssh(SshError::HostKeyMismatch { .. } | SshError::InvalidHostKey(_)) => {
                    "HostKeyRejected"
                }
                PushError::Ssh(
                    SshError::AuthenticationFailed { .. } | SshError::InvalidCredentials(_),
                ) => "AuthenticationFailed",
                PushError::Ssh(SshError::Unreachable(..) | SshError::Timeout(..)) => {
                    "RouterUnreachable"
                }
                PushError::Ssh(SshError::Protocol(..)) => "SshProtocol",
                PushError::Read(_) => "RouterReadFailed",
                PushError::Failed { .. } => "PushRolledBack",
            },
        }
    }

    fn retry(&self) -> Retry {
        match self {
            // The spec must change; a replaced router needs a person to pin
            // its new key. (Another member's change may end an overlap: that
            // one is looked at again.)
            Self::Malformed(_)
            | Self::Invalid(InvalidVpn::Spec(_))
            | Self::Push(PushError::Ssh(
                SshError::HostKeyMismatch { .. } | SshError::InvalidHostKey(_),
            )) => Retry::AwaitChange,
            // A failed router clean-up among them, whatever its cause:
            // offboarding must come back to give up in time (`offboard`).
            // So are credentials not labelled as the member's: labelling the
            // Secret does not change the Member.
            _ => Retry::Backoff,
        }
    }
}

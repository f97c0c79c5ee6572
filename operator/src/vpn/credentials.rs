//! Dereference: the router's login from the Secret the Member names, and
//! an SSH session opened with it.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use zeroize::Zeroizing;

use super::{
    Error, VpnContext,
    push::PushError,
    ssh::{Credentials, LoginSecret, Session},
};
use crate::api::member::RouterSpec;

/// A session with the router of `spec`, logged in with its credentials.
pub async fn session(ctx: &VpnContext, spec: &RouterSpec) -> Result<Session, Error> {
    let login = read(
        &ctx.shared.client,
        &ctx.shared.namespace,
        &spec.credentials_secret,
    )
    .await?;
    Session::open(
        &spec.address,
        spec.port,
        &spec.host_key,
        &login,
        ctx.settings.ssh_timeout,
    )
    .await
    .map_err(|error| PushError::from(error).into())
}

/// Reads `username` and `privateKey` (or `password`) from the Secret `name`
/// of `namespace`.
async fn read(client: &Client, namespace: &str, name: &str) -> Result<Credentials, Error> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| {
            Error::Credentials(format!(
                "Secret {namespace}/{name} (spec.vpn.router.credentialsSecret) does not exist"
            ))
        })?;
    let field = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(|bytes| Zeroizing::new(String::from_utf8_lossy(&bytes.0).into_owned()))
            .filter(|text| !text.trim().is_empty())
    };
    let username = field("username")
        .ok_or_else(|| Error::Credentials(format!("Secret {namespace}/{name} has no username")))?;
    let secret = match (field("privateKey"), field("password")) {
        (Some(key), _) => LoginSecret::PrivateKey(key),
        (None, Some(password)) => LoginSecret::Password(password),
        (None, None) => {
            return Err(Error::Credentials(format!(
                "Secret {namespace}/{name} has neither privateKey nor password"
            )));
        }
    };
    Ok(Credentials {
        username: username.trim().to_owned(),
        secret,
    })
}

//! Dereference: the router's login from the Secret the Member names, and
//! an SSH session opened with it.
//!
//! A Member chooses its router's address and host key, so the Secret it
//! names must be its own: any Secret of the operator's namespace would
//! otherwise let one commune's Member send another commune's router login
//! to a host of its choosing. A credentials Secret is used only when it
//! carries the label [`labels::MEMBER`] with the member's name; any other
//! is refused before anything connects.
//!
//! A name derived from the member (`router-<member>`) is deliberately not
//! accepted instead: a name only says what someone chose to call a Secret,
//! while the label is a statement, made by whoever wrote the Secret, of
//! which member's router it opens — one rule, readable with a selector, and
//! a Secret made under a fitting name for another purpose is not picked up
//! without anyone saying so.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use zeroize::Zeroizing;

use super::{
    Error, VpnContext,
    push::PushError,
    ssh::{Credentials, LoginSecret, Session},
};
use crate::{api::member::RouterSpec, labels};

/// A session with the router of `spec`, logged in with the credentials of
/// `member`.
pub async fn session(ctx: &VpnContext, member: &str, spec: &RouterSpec) -> Result<Session, Error> {
    let login = read(
        &ctx.shared.client,
        &ctx.shared.namespace,
        &spec.credentials_secret,
        member,
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
/// of `namespace`, if it is labelled as `member`'s.
async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
    member: &str,
) -> Result<Credentials, Error> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| {
            Error::Credentials(format!(
                "Secret {namespace}/{name} (spec.vpn.router.credentialsSecret) does not exist"
            ))
        })?;
    if !is_of(&secret, member) {
        return Err(Error::CredentialsNotTied {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            member: member.to_owned(),
        });
    }
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

/// Whether `secret` is labelled as the router login of `member`.
fn is_of(secret: &Secret, member: &str) -> bool {
    secret
        .labels()
        .get(labels::MEMBER)
        .is_some_and(|owner| owner == member)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::api::ObjectMeta;

    use super::*;

    fn labelled(labels: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("router-allaire".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn only_a_secret_labelled_for_the_member_is_its_login() {
        assert!(is_of(&labelled(&[(labels::MEMBER, "allaire")]), "allaire"));
        assert!(!is_of(&labelled(&[(labels::MEMBER, "redon")]), "allaire"));
        // Its name alone does not make it the member's.
        assert!(!is_of(&labelled(&[]), "allaire"));
        assert!(!is_of(&labelled(&[("member", "allaire")]), "allaire"));
    }
}

//! The Secrets of the operator's namespace that hold the VPN's private
//! keys: one per tunnel — a member's site, named by
//! [`super::plan::tunnel_name`] (`vpn-member-allaire` for the town hall,
//! `vpn-member-allaire.ecole` for its school) — and one per gateway (the
//! hub's key).
//!
//! A tunnel's Secret is also where the state of that tunnel lives, so that
//! it survives restarts: the router configuration socle last pushed (it
//! holds the key), the router it was pushed to (offboarding cleans that
//! one, even once `spec.vpn` is gone), a key rotation in progress (the next
//! key and the request it answers) and since when a router clean-up fails.
//!
//! A key is created with `create`, never applied: of two operators racing,
//! the API server keeps one key and the other reads it. The writes that
//! move a rotation on are conditioned on the Secret's resourceVersion.

use std::{collections::BTreeMap, fmt};

use jiff::Timestamp;
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions},
};
use serde_json::json;
use zeroize::Zeroizing;

use super::{
    keys::{InvalidKey, KeyPair},
    plan::tunnel_name,
};
use crate::{
    api::member::{RouterSpec, TOWN_HALL},
    labels,
};

/// Key of the private key in a key Secret.
pub const PRIVATE_KEY: &str = "privateKey";
/// Key, in a member's key Secret, of the key a rotation is bringing in.
pub const NEXT_PRIVATE_KEY: &str = "nextPrivateKey";
/// Key, in a member's key Secret, of the router configuration last pushed.
pub const LAST_PUSHED: &str = "routerConfig";
/// Key, in a member's key Secret, of the router last pushed to
/// (`spec.vpn.router` as JSON).
pub const ROUTER: &str = "router";
/// On a member's key Secret: the rotation request (value of
/// [`super::ROTATE_KEY`]) that its next key answers, or, with no next key,
/// that the latest rotation answered.
pub const ROTATION_REQUEST: &str = "socle.redon-agglomeration.bzh/key-rotation-request";
/// On a member's key Secret: when the latest rotation retired the old key.
pub const ROTATED_AT: &str = "socle.redon-agglomeration.bzh/key-rotated-at";
/// On a member's key Secret: since when removing the tunnel from the router
/// fails (offboarding gives up after [`super::VpnSettings::router_cleanup_deadline`]).
pub const CLEANUP_FAILING_SINCE: &str =
    "socle.redon-agglomeration.bzh/router-cleanup-failing-since";
/// Label of a key Secret: `member` or `gateway`.
const KEY_OF: &str = "socle.redon-agglomeration.bzh/vpn-key-of";
/// Label of a member's key Secret and address claim: the site of the
/// tunnel. Absent on those made before sites existed: the town hall's.
pub const SITE_LABEL: &str = "socle.redon-agglomeration.bzh/vpn-site";

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("Secret {0}: {1}")]
    Invalid(String, InvalidKey),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// A site's key and the state of its tunnel, as its Secret holds them.
pub struct MemberKey {
    /// The key the router runs (the old one, while a rotation is under way).
    pub pair: KeyPair,
    /// The key a rotation is bringing in.
    pub next: Option<KeyPair>,
    /// See [`ROTATION_REQUEST`].
    pub rotation_request: Option<String>,
    /// See [`ROTATED_AT`].
    pub rotated_at: Option<Timestamp>,
    pub last_pushed: Option<Zeroizing<String>>,
    /// The router socle last pushed to.
    pub router: Option<RouterSpec>,
    /// See [`CLEANUP_FAILING_SINCE`].
    pub cleanup_failing_since: Option<Timestamp>,
    resource_version: Option<String>,
}

/// Written by hand: the configuration last pushed holds the router's
/// private key, and a derived `Debug` would print it in full (the key pairs
/// redact their own).
impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberKey")
            .field("pair", &self.pair)
            .field("next", &self.next)
            .field("rotation_request", &self.rotation_request)
            .field("rotated_at", &self.rotated_at)
            .field(
                "last_pushed",
                &self.last_pushed.as_ref().map(|_| "<redacted>"),
            )
            .field("router", &self.router)
            .field("cleanup_failing_since", &self.cleanup_failing_since)
            .field("resource_version", &self.resource_version)
            .finish()
    }
}

impl MemberKey {
    /// The key the router must run: the next one while a rotation is under way.
    pub fn wanted(&self) -> &KeyPair {
        self.next.as_ref().unwrap_or(&self.pair)
    }
}

/// A member's public keys, as the hub lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeys {
    pub current: String,
    /// The key a rotation is bringing in.
    pub next: Option<String>,
}

/// Name of the key Secret of the tunnel `tunnel` (see
/// [`super::plan::tunnel_name`]).
pub fn member_secret(tunnel: &str) -> String {
    format!("vpn-member-{tunnel}")
}

/// The site a key Secret or claim is labelled with: the town hall when
/// none (made before sites existed).
pub fn site_of(labels: &BTreeMap<String, String>) -> &str {
    labels.get(SITE_LABEL).map_or(TOWN_HALL, String::as_str)
}

/// Name of the key Secret of gateway `gateway`.
pub fn gateway_secret(gateway: &str) -> String {
    format!("vpn-gateway-{gateway}")
}

/// The key of `member`'s site `site`, generated on first use.
pub async fn member_key(
    client: &Client,
    namespace: &str,
    member: &str,
    site: &str,
) -> Result<MemberKey, KeyError> {
    let name = member_secret(&tunnel_name(member, site));
    let secret = ensure(client, namespace, &name, Owner::Site { member, site }).await?;
    read_member_key(&secret)
}

/// Every site of `member` holding a key Secret, with its key and tunnel
/// state: what offboarding cleans, the sites gone from the spec included.
/// A Secret that cannot be read is left out.
pub async fn member_keys(
    client: &Client,
    namespace: &str,
    member: &str,
) -> Result<Vec<(String, MemberKey)>, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let selector = format!(
        "{}=vpn,{KEY_OF}=member,{}={member}",
        labels::COMPONENT,
        labels::MEMBER
    );
    let mut keys: Vec<(String, MemberKey)> = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .iter()
        .filter(|secret| {
            let site = site_of(secret.labels());
            secret.name_any() == member_secret(&tunnel_name(member, site))
        })
        .filter_map(|secret| {
            let key = read_member_key(secret).ok()?;
            Some((site_of(secret.labels()).to_owned(), key))
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keys)
}

fn read_member_key(secret: &Secret) -> Result<MemberKey, KeyError> {
    let annotation = |key: &str| secret.annotations().get(key).cloned();
    let time = |key: &str| annotation(key).and_then(|at| at.parse().ok());
    let next = data(secret, NEXT_PRIVATE_KEY)
        .filter(|text| !text.is_empty())
        .map(|text| {
            KeyPair::from_private(&text)
                .map_err(|error| KeyError::Invalid(secret.name_any(), error))
        })
        .transpose()?;
    Ok(MemberKey {
        pair: pair_of(secret)?,
        next,
        rotation_request: annotation(ROTATION_REQUEST),
        rotated_at: time(ROTATED_AT),
        last_pushed: data(secret, LAST_PUSHED).filter(|text| !text.is_empty()),
        // A router that cannot be read back is as good as unknown: nothing
        // to clean, rather than a member that can never leave.
        router: data(secret, ROUTER).and_then(|text| serde_json::from_str(&text).ok()),
        cleanup_failing_since: time(CLEANUP_FAILING_SINCE),
        resource_version: secret.resource_version(),
    })
}

/// The hub's key of gateway `gateway`, generated on first use.
pub async fn gateway_key(
    client: &Client,
    namespace: &str,
    gateway: &str,
) -> Result<KeyPair, KeyError> {
    let secret = ensure(
        client,
        namespace,
        &gateway_secret(gateway),
        Owner::Gateway(gateway),
    )
    .await?;
    pair_of(&secret)
}

/// The public keys of every tunnel holding a key, by tunnel name.
pub async fn member_public_keys(
    client: &Client,
    namespace: &str,
) -> Result<BTreeMap<String, PublicKeys>, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let selector = format!("{}=vpn,{KEY_OF}=member", labels::COMPONENT);
    let mut keys = BTreeMap::new();
    for secret in api.list(&ListParams::default().labels(&selector)).await? {
        let member = secret.labels().get(labels::MEMBER).cloned();
        if let (Some(member), Ok(key)) = (member, read_member_key(&secret)) {
            keys.insert(
                tunnel_name(&member, site_of(secret.labels())),
                PublicKeys {
                    current: key.pair.public_key().to_owned(),
                    next: key.next.map(|next| next.public_key().to_owned()),
                },
            );
        }
    }
    Ok(keys)
}

/// Records `config` as what was last pushed to the `router` of the tunnel
/// `tunnel`.
pub async fn record_push(
    client: &Client,
    namespace: &str,
    tunnel: &str,
    config: &str,
    router: &RouterSpec,
) -> Result<(), kube::Error> {
    let patch = json!({"data": push_data(config, router)});
    patch_member_secret(client, namespace, tunnel, &patch).await?;
    Ok(())
}

fn push_data(config: &str, router: &RouterSpec) -> serde_json::Value {
    let router = serde_json::to_vec(router).expect("a RouterSpec serializes");
    json!({
        LAST_PUSHED: ByteString(config.as_bytes().to_vec()),
        ROUTER: ByteString(router),
    })
}

/// Starts the rotation answering `request`: a new key goes in as the next
/// key, next to the current one. Conditioned on the Secret being as `key`
/// was read, so that one request never gets two keys.
pub async fn begin_rotation(
    client: &Client,
    namespace: &str,
    tunnel: &str,
    key: MemberKey,
    request: &str,
) -> Result<MemberKey, kube::Error> {
    let next = KeyPair::generate();
    let patch = json!({
        "metadata": {
            "resourceVersion": key.resource_version,
            "annotations": {ROTATION_REQUEST: request},
        },
        "data": {NEXT_PRIVATE_KEY: ByteString(next.private_key().as_bytes().to_vec())},
    });
    let secret = patch_member_secret(client, namespace, tunnel, &patch).await?;
    Ok(MemberKey {
        next: Some(next),
        rotation_request: Some(request.to_owned()),
        resource_version: secret.resource_version(),
        ..key
    })
}

/// Ends a rotation once the router runs the next key (pushed as `config`
/// to `router`): the next key becomes the key, the old one is gone.
pub async fn finish_rotation(
    client: &Client,
    namespace: &str,
    tunnel: &str,
    key: MemberKey,
    config: &str,
    router: &RouterSpec,
) -> Result<MemberKey, kube::Error> {
    let Some(next) = key.next.clone() else {
        return Ok(key);
    };
    let now = Timestamp::now();
    let mut data = push_data(config, router);
    data[PRIVATE_KEY] = json!(ByteString(next.private_key().as_bytes().to_vec()));
    data[NEXT_PRIVATE_KEY] = serde_json::Value::Null;
    let patch = json!({
        "metadata": {
            "resourceVersion": key.resource_version,
            "annotations": {ROTATED_AT: now.to_string()},
        },
        "data": data,
    });
    let secret = patch_member_secret(client, namespace, tunnel, &patch).await?;
    Ok(MemberKey {
        pair: next,
        next: None,
        rotated_at: Some(now),
        last_pushed: Some(Zeroizing::new(config.to_owned())),
        router: Some(router.clone()),
        resource_version: secret.resource_version(),
        ..key
    })
}

/// Gives the member a new key because its router was replaced
/// ([`super::replacement`]): the old key goes at once (no rotation in two
/// steps: the old router must not stay a peer meanwhile), a rotation under
/// way is dropped (the new key answers its request), and so is the record
/// of the old router and of what it was pushed, since the new router has
/// been pushed nothing. Conditioned on the Secret being as `key` was read,
/// so that one replacement never makes two keys.
pub async fn replace_key(
    client: &Client,
    namespace: &str,
    tunnel: &str,
    key: MemberKey,
) -> Result<MemberKey, kube::Error> {
    let pair = KeyPair::generate();
    let now = Timestamp::now();
    let patch = json!({
        "metadata": {
            "resourceVersion": key.resource_version,
            "annotations": {ROTATED_AT: now.to_string(), CLEANUP_FAILING_SINCE: null},
        },
        "data": {
            PRIVATE_KEY: ByteString(pair.private_key().as_bytes().to_vec()),
            NEXT_PRIVATE_KEY: null,
            LAST_PUSHED: null,
            ROUTER: null,
        },
    });
    let secret = patch_member_secret(client, namespace, tunnel, &patch).await?;
    Ok(MemberKey {
        pair,
        next: None,
        rotated_at: Some(now),
        last_pushed: None,
        router: None,
        cleanup_failing_since: None,
        resource_version: secret.resource_version(),
        ..key
    })
}

/// Records that removing the tunnel from the router fails since `since`.
pub async fn record_cleanup_failing(
    client: &Client,
    namespace: &str,
    tunnel: &str,
    since: Timestamp,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"annotations": {CLEANUP_FAILING_SINCE: since.to_string()}}});
    patch_member_secret(client, namespace, tunnel, &patch).await?;
    Ok(())
}

async fn patch_member_secret(
    client: &Client,
    namespace: &str,
    tunnel: &str,
    patch: &serde_json::Value,
) -> Result<Secret, kube::Error> {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            &member_secret(tunnel),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
}

/// What became of a site's key Secret at offboarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRemoval {
    Deleted,
    /// There was none.
    Absent,
    /// The Secret of that name is not socle's key of this member (see
    /// [`is_key_of`]): left in place.
    NotOurs,
}

/// Deletes the member's key: its router's tunnel can no longer
/// authenticate. The name alone does not make a Secret socle's: it is
/// read, its labels checked, and the delete conditioned on its uid, so that
/// neither a Secret someone else keeps under that name nor one put there
/// since the read is ever deleted (a replaced one fails the delete with a
/// conflict, and offboarding tries again).
pub async fn delete_member_key(
    client: &Client,
    namespace: &str,
    member: &str,
    site: &str,
) -> Result<KeyRemoval, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let name = member_secret(&tunnel_name(member, site));
    let Some(secret) = api.get_opt(&name).await? else {
        return Ok(KeyRemoval::Absent);
    };
    if !is_key_of(&secret, member, site) {
        return Ok(KeyRemoval::NotOurs);
    }
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            uid: secret.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &delete).await {
        Ok(_) => Ok(KeyRemoval::Deleted),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(KeyRemoval::Absent),
        Err(error) => Err(error),
    }
}

/// Whether `secret`'s labels say it is socle's key Secret of `member`'s
/// site `site`, as [`member_key`] labels the ones it creates.
fn is_key_of(secret: &Secret, member: &str, site: &str) -> bool {
    let labels = secret.labels();
    let is = |key: &str, value: &str| labels.get(key).is_some_and(|found| found == value);
    is(labels::MANAGED_BY, labels::MANAGER)
        && is(KEY_OF, "member")
        && is(labels::MEMBER, member)
        && site_of(labels) == site
}

/// Whose key a key Secret holds.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Site { member: &'a str, site: &'a str },
    Gateway(&'a str),
}

async fn ensure(
    client: &Client,
    namespace: &str,
    name: &str,
    owner: Owner<'_>,
) -> Result<Secret, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    if let Some(secret) = api.get_opt(name).await? {
        return Ok(secret);
    }
    let pair = KeyPair::generate();
    let mut tags = BTreeMap::from([
        (labels::COMPONENT.to_owned(), "vpn".to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
    ]);
    match owner {
        Owner::Site { member, site } => tags.extend([
            (KEY_OF.to_owned(), "member".to_owned()),
            (labels::MEMBER.to_owned(), member.to_owned()),
            (SITE_LABEL.to_owned(), site.to_owned()),
        ]),
        Owner::Gateway(gateway) => tags.extend([
            (KEY_OF.to_owned(), "gateway".to_owned()),
            (super::GATEWAY_LABEL.to_owned(), gateway.to_owned()),
        ]),
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(tags),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            PRIVATE_KEY.to_owned(),
            ByteString(pair.private_key().as_bytes().to_vec()),
        )])),
        ..Secret::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(status)) if status.code == 409 => api.get(name).await,
        Err(error) => Err(error),
    }
}

fn data(secret: &Secret, key: &str) -> Option<Zeroizing<String>> {
    let bytes = secret.data.as_ref()?.get(key)?;
    Some(Zeroizing::new(
        String::from_utf8_lossy(&bytes.0).into_owned(),
    ))
}

fn pair_of(secret: &Secret) -> Result<KeyPair, KeyError> {
    let text = data(secret, PRIVATE_KEY).unwrap_or_default();
    KeyPair::from_private(&text).map_err(|error| KeyError::Invalid(secret.name_any(), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_key_never_shows_its_keys_or_the_configuration_pushed() {
        let (pair, next) = (KeyPair::generate(), KeyPair::generate());
        let config = format!("[Interface]\nPrivateKey = {}\n", pair.private_key());
        let bytes = |text: &str| ByteString(text.as_bytes().to_vec());
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(member_secret("allaire")),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([
                (PRIVATE_KEY.to_owned(), bytes(pair.private_key())),
                (NEXT_PRIVATE_KEY.to_owned(), bytes(next.private_key())),
                (LAST_PUSHED.to_owned(), bytes(&config)),
            ])),
            ..Secret::default()
        };
        let key = read_member_key(&secret).unwrap();
        assert!(key.last_pushed.is_some());
        let shown = format!("{key:?}");
        for secret in [pair.private_key(), next.private_key(), "[Interface]"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(pair.public_key()), "{shown}");
    }
}

//! The Secrets of the operator's namespace that hold the VPN's private
//! keys: one per member (its key, and the router configuration socle last
//! pushed, which holds that key), one per gateway (the hub's key).
//!
//! A key is created with `create`, never applied: of two operators racing,
//! the API server keeps one key and the other reads it.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use serde_json::json;
use zeroize::Zeroizing;

use super::keys::{InvalidKey, KeyPair};
use crate::labels;

/// Key of the private key in a key Secret.
pub const PRIVATE_KEY: &str = "privateKey";
/// Key, in a member's key Secret, of the router configuration last pushed.
pub const LAST_PUSHED: &str = "routerConfig";
/// Label of a key Secret: `member` or `gateway`.
const KEY_OF: &str = "socle.redon-agglomeration.bzh/vpn-key-of";

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("Secret {0}: {1}")]
    Invalid(String, InvalidKey),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// A member's key and what socle last pushed to its router.
#[derive(Debug)]
pub struct MemberKey {
    pub pair: KeyPair,
    pub last_pushed: Option<Zeroizing<String>>,
}

/// Name of the key Secret of member `member`.
pub fn member_secret(member: &str) -> String {
    format!("vpn-member-{member}")
}

/// Name of the key Secret of gateway `gateway`.
pub fn gateway_secret(gateway: &str) -> String {
    format!("vpn-gateway-{gateway}")
}

/// The member's key, generated on first use.
pub async fn member_key(
    client: &Client,
    namespace: &str,
    member: &str,
) -> Result<MemberKey, KeyError> {
    let secret = ensure(client, namespace, &member_secret(member), "member", member).await?;
    let pair = pair_of(&secret)?;
    let last_pushed = data(&secret, LAST_PUSHED).filter(|text| !text.is_empty());
    Ok(MemberKey { pair, last_pushed })
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
        "gateway",
        gateway,
    )
    .await?;
    pair_of(&secret)
}

/// The public keys of every member holding a key, by member.
pub async fn member_public_keys(
    client: &Client,
    namespace: &str,
) -> Result<BTreeMap<String, String>, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let selector = format!("{}=vpn,{KEY_OF}=member", labels::COMPONENT);
    let mut keys = BTreeMap::new();
    for secret in api.list(&ListParams::default().labels(&selector)).await? {
        let member = secret.labels().get(labels::MEMBER).cloned();
        if let (Some(member), Ok(pair)) = (member, pair_of(&secret)) {
            keys.insert(member, pair.public_key().to_owned());
        }
    }
    Ok(keys)
}

/// Records `config` as what was last pushed to the member's router.
pub async fn record_push(
    client: &Client,
    namespace: &str,
    member: &str,
    config: &str,
) -> Result<(), kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let encoded = ByteString(config.as_bytes().to_vec());
    let patch = json!({"data": {LAST_PUSHED: encoded}});
    api.patch(
        &member_secret(member),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Deletes the member's key: its router's tunnel can no longer authenticate.
pub async fn delete_member_key(
    client: &Client,
    namespace: &str,
    member: &str,
) -> Result<(), kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    match api
        .delete(&member_secret(member), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

async fn ensure(
    client: &Client,
    namespace: &str,
    name: &str,
    kind: &str,
    owner: &str,
) -> Result<Secret, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    if let Some(secret) = api.get_opt(name).await? {
        return Ok(secret);
    }
    let pair = KeyPair::generate();
    let owner_label = if kind == "member" {
        labels::MEMBER
    } else {
        super::GATEWAY_LABEL
    };
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (labels::COMPONENT.to_owned(), "vpn".to_owned()),
                (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
                (KEY_OF.to_owned(), kind.to_owned()),
                (owner_label.to_owned(), owner.to_owned()),
            ])),
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

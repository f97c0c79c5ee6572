//! Tunnel addresses: one claim object per address, created with `create`
//! so that the API server arbitrates between concurrent reconciles (two
//! claims cannot share a name), and that survive restarts.
//!
//! A claim is a ConfigMap in the operator's namespace named after the
//! gateway and the address (`vpn-ip-<gateway>-10-200-0-7`); it holds the
//! member and the site whose tunnel has the address (each site of a
//! member has one). A released claim
//! stays, annotated with its release time, for the quarantine period; only
//! then can its address go to another member.

use std::{collections::BTreeMap, net::Ipv4Addr, time::Duration};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions},
};
use serde_json::json;

use super::{GATEWAY_LABEL, cidr::Network, hub::hub_address, secrets::SITE_LABEL};
use crate::{api::member::TOWN_HALL, labels};

/// Set on a released claim: when the member let the address go.
pub const RELEASED_AT: &str = "socle.redon-agglomeration.bzh/released-at";

/// Why no address could be had.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("tunnel pool {pool} of gateway {gateway} has no free address left")]
    Exhausted { gateway: String, pool: Network },
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// One address's claim, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub name: String,
    pub member: String,
    /// The member's site (the town hall for a claim made before sites).
    pub site: String,
    pub address: Ipv4Addr,
    /// Set once released.
    pub released_at: Option<Timestamp>,
    pub resource_version: Option<String>,
}

/// Name of the claim of `address` in `gateway`'s pool.
pub fn claim_name(gateway: &str, address: Ipv4Addr) -> String {
    format!("vpn-ip-{gateway}-{}", address.to_string().replace('.', "-"))
}

/// Every claim of `gateway`'s pool: socle's own only, by their labels, since
/// an expired one is deleted by name.
pub async fn claims(
    client: &Client,
    namespace: &str,
    gateway: &str,
) -> Result<Vec<Claim>, kube::Error> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let selector = format!(
        "{}=vpn,{}={},{GATEWAY_LABEL}={gateway}",
        labels::COMPONENT,
        labels::MANAGED_BY,
        labels::MANAGER
    );
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    let mut claims: Vec<Claim> = list.items.iter().filter_map(read_claim).collect();
    claims.sort_by_key(|claim| claim.address);
    Ok(claims)
}

fn read_claim(object: &ConfigMap) -> Option<Claim> {
    let data = object.data.as_ref()?;
    Some(Claim {
        name: object.name_any(),
        member: data.get("member")?.clone(),
        site: data
            .get("site")
            .cloned()
            .unwrap_or_else(|| TOWN_HALL.to_owned()),
        address: data.get("address")?.parse().ok()?,
        released_at: object
            .annotations()
            .get(RELEASED_AT)
            .and_then(|at| at.parse().ok()),
        resource_version: object.resource_version(),
    })
}

/// The tunnel address of `member`'s site `site`: the one it holds, or the
/// lowest free one of the pool, claimed.
pub async fn claim(
    client: &Client,
    namespace: &str,
    gateway: &str,
    pool: Network,
    member: &str,
    site: &str,
    quarantine: Duration,
) -> Result<Ipv4Addr, IpamError> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let existing = claims(client, namespace, gateway).await?;
    // The site's own claim, even released (a site back within its
    // quarantine gets its address back).
    if let Some(own) = existing
        .iter()
        .find(|c| c.member == member && c.site == site)
    {
        if own.released_at.is_some() {
            let patch = json!({"metadata": {"annotations": {RELEASED_AT: null}}});
            api.patch(&own.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        return Ok(own.address);
    }
    let taken: BTreeMap<Ipv4Addr, &Claim> = existing.iter().map(|c| (c.address, c)).collect();
    let hub = hub_address(pool);
    let now = Timestamp::now();
    let quarantine = SignedDuration::try_from(quarantine).unwrap_or(SignedDuration::MAX);
    for address in pool.hosts_v4().filter(|a| *a != hub) {
        if let Some(claim) = taken.get(&address) {
            let expired = claim
                .released_at
                .is_some_and(|at| now.duration_since(at) >= quarantine);
            if !expired {
                continue;
            }
            // Out of quarantine: delete it, on the condition that it is
            // still the claim read (socle's, by the labels it was listed
            // by), then compete for the name like anyone.
            let delete = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: claim.resource_version.clone(),
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&claim.name, &delete).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() || status.code == 409 => {}
                Err(error) => return Err(error.into()),
            }
        }
        let labels = BTreeMap::from([
            (labels::COMPONENT.to_owned(), "vpn".to_owned()),
            (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
            (GATEWAY_LABEL.to_owned(), gateway.to_owned()),
            (labels::MEMBER.to_owned(), member.to_owned()),
            (SITE_LABEL.to_owned(), site.to_owned()),
        ]);
        let object = ConfigMap {
            metadata: ObjectMeta {
                name: Some(claim_name(gateway, address)),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([
                ("member".to_owned(), member.to_owned()),
                ("site".to_owned(), site.to_owned()),
                ("address".to_owned(), address.to_string()),
                ("gateway".to_owned(), gateway.to_owned()),
            ])),
            ..ConfigMap::default()
        };
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => return Ok(address),
            // Someone else got it first: the API server said so.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err(IpamError::Exhausted {
        gateway: gateway.to_owned(),
        pool,
    })
}

/// Marks the member's claims in every pool as released now — those of its
/// site `site` only, when given; they stay out of the pool for the
/// quarantine period. Returns the gateways concerned.
pub async fn release(
    client: &Client,
    namespace: &str,
    member: &str,
    site: Option<&str>,
) -> Result<Vec<String>, kube::Error> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let selector = format!("{}=vpn,{}={member}", labels::COMPONENT, labels::MEMBER);
    let mut gateways = Vec::new();
    for object in api.list(&ListParams::default().labels(&selector)).await? {
        let Some(claim) = read_claim(&object) else {
            continue;
        };
        if site.is_some_and(|site| site != claim.site) {
            continue;
        }
        if let Some(gateway) = object.labels().get(GATEWAY_LABEL) {
            gateways.push(gateway.clone());
        }
        if claim.released_at.is_none() {
            let patch =
                json!({"metadata": {"annotations": {RELEASED_AT: Timestamp::now().to_string()}}});
            api.patch(&claim.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
    }
    gateways.sort();
    gateways.dedup();
    Ok(gateways)
}

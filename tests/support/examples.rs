//! The example communes of `manifests/examples`, made a test scope's: read,
//! renamed into the scope, created, and waited for.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, ensure};
use k8s_openapi::{api::events::v1::Event, apimachinery::pkg::apis::meta::v1::Condition};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, PostParams},
};
use socle::api::{Member, SharedService};

use crate::{TestScope, eventually};

/// For every Member of a scope to become Ready, on a loaded 2-core machine.
pub const CONVERGE: Duration = Duration::from_secs(120);

/// The example Members of `manifests/examples/members`, in name order.
pub fn examples() -> Vec<Member> {
    let dir = manifests().join("members");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).unwrap();
            serde_yaml::from_str(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
        .collect()
}

/// The example Member named `name`.
pub fn example(name: &str) -> Member {
    examples()
        .into_iter()
        .find(|member| member.name_any() == name)
        .unwrap_or_else(|| panic!("no example member {name}"))
}

pub fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// `member` made the scope's: `<name>-<id>`, the scope's labels, and its VPN
/// (if any) ending on the SharedService `gateway`.
pub fn scoped(scope: &TestScope, mut member: Member, gateway: &str) -> Member {
    let name = scope.name(&member.name_any());
    member.metadata.name = Some(name);
    member
        .metadata
        .labels
        .get_or_insert_default()
        .extend(scope.labels());
    if let Some(vpn) = &mut member.spec.vpn {
        gateway.clone_into(&mut vpn.gateway);
    }
    member
}

/// The example VPN gateway `vpn-datacenter`, as `vpn-datacenter-<id>`.
pub async fn create_gateway(scope: &TestScope) -> SharedService {
    let path = manifests().join("shared-services.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let mut gateway = text
        .split("\n---")
        .map(|document| serde_yaml::from_str::<SharedService>(document).unwrap())
        .find(|service| service.name_any() == "vpn-datacenter")
        .expect("shared-services.yaml has vpn-datacenter");
    gateway.metadata = scope.meta("vpn-datacenter");
    Api::<SharedService>::all(scope.client())
        .create(&PostParams::default(), &gateway)
        .await
        .unwrap_or_else(|error| panic!("creating SharedService {}: {error}", gateway.name_any()))
}

pub async fn create_members(client: &Client, members: &[Member]) {
    let api = Api::<Member>::all(client.clone());
    for member in members {
        api.create(&PostParams::default(), member)
            .await
            .unwrap_or_else(|error| panic!("creating Member {}: {error}", member.name_any()));
    }
}

/// Waits until each of `members` is Ready for its current generation;
/// returns them as they are then.
pub async fn wait_until_ready(
    client: &Client,
    scope: &TestScope,
    members: &[Member],
) -> Vec<Member> {
    let api = Api::<Member>::all(client.clone());
    let names: BTreeSet<String> = members.iter().map(ResourceExt::name_any).collect();
    eventually(CONVERGE, || async {
        let live: Vec<Member> = api
            .list(&ListParams::default().labels(&scope.selector()))
            .await?
            .items
            .into_iter()
            .filter(|member| names.contains(&member.name_any()))
            .collect();
        let waiting: Vec<String> = names
            .iter()
            .filter_map(|name| {
                let Some(member) = live.iter().find(|m| &m.name_any() == name) else {
                    return Some(format!("{name}: missing"));
                };
                let ready = condition(member, "Ready");
                let current = member
                    .status
                    .as_ref()
                    .and_then(|status| status.observed_generation)
                    == member.metadata.generation;
                match ready {
                    Some(ready) if ready.status == "True" && current => None,
                    Some(ready) => Some(format!(
                        "{name}: Ready {} ({}: {}), observed generation current: {current}",
                        ready.status, ready.reason, ready.message
                    )),
                    None => Some(format!("{name}: no Ready condition")),
                }
            })
            .collect();
        ensure!(
            waiting.is_empty(),
            "{} of {} Members not Ready: {waiting:#?}",
            waiting.len(),
            names.len()
        );
        Ok(live)
    })
    .await
}

/// The first Event `reason` about the Member `member`, once there is one.
/// Events about cluster-scoped objects go to `default`.
pub async fn wait_for_event(client: &Client, member: &str, reason: &str) -> Event {
    wait_for_event_in(client, "default", member, reason).await
}

/// The first Event `reason` about the object `name` of `namespace`.
pub async fn wait_for_event_in(
    client: &Client,
    namespace: &str,
    name: &str,
    reason: &str,
) -> Event {
    let events = Api::<Event>::namespaced(client.clone(), namespace);
    eventually(CONVERGE, || async {
        events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|event| {
                event.reason.as_deref() == Some(reason)
                    && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .with_context(|| format!("no Event {reason} about {namespace}/{name} yet"))
    })
    .await
}

pub fn condition<'a>(member: &'a Member, type_: &str) -> Option<&'a Condition> {
    member
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// The example commune `name` made the scope's, with its tenant only: no VPN
/// nor backups, which need a router and Velero.
pub fn tenant_only(scope: &TestScope, name: &str) -> Member {
    let mut member = scoped(scope, example(name), "unused");
    member.spec.vpn = None;
    member.spec.backup = None;
    member
}

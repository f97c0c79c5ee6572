//! What the tenant tests expect of a Member and check on the cluster: the
//! objects of a hosted tenant, its bounds, volume, network policies and
//! RBAC, the steady state (no writes once converged), who may do what.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Debug,
    time::{Duration, Instant},
};

use anyhow::ensure;
use k8s_openapi::{
    api::{
        authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec},
        core::v1::{LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota},
        events::v1::Event,
        networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicySpec},
        rbac::v1::{ClusterRole, RoleBinding},
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::LabelSelector},
    jiff::{Zoned, civil::Date},
    serde::de::DeserializeOwned,
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use socle::{api::Member, contribution::Offer};
use socle_e2e::{
    AuditEvent, AuditMark, TestScope, eventually,
    examples::{CONVERGE, condition},
    operator::Operator,
};

use super::{DOMAIN, QUIET, RESTORE};

// ---------------------------------------------------------------------------
// Members and what the tests expect of them.

pub(crate) fn today() -> Date {
    Zoned::now().date()
}

/// The highest offer in force on `today`.
pub(crate) fn current_offer(member: &Member, today: Date) -> Option<Offer> {
    member
        .spec
        .subscriptions
        .iter()
        .filter(|s| s.effective_date <= today && s.end_date.is_none_or(|end| end >= today))
        .map(|s| s.offer)
        .max()
}

/// Hosted: the socle complet in force, or a declared tenant.
pub(crate) fn is_hosted(member: &Member, today: Date) -> bool {
    member.spec.tenant.is_some() || current_offer(member, today) == Some(Offer::SocleComplet)
}

/// Article 7 bracket of the population, as labelled, and its default quota
/// (CPU, memory).
pub(crate) fn bracket(population: u32) -> (&'static str, &'static str, &'static str) {
    match population {
        0..1500 => ("lt1500", "2", "4Gi"),
        1500..3000 => ("1500-2999", "4", "8Gi"),
        3000..=8000 => ("3000-8000", "8", "16Gi"),
        _ => ("gt8000", "16", "32Gi"),
    }
}

// ---------------------------------------------------------------------------
// What a tenant must look like.

/// Mismatches found, all reported at once.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) checks: usize,
    problems: Vec<String>,
}

impl Findings {
    #[allow(clippy::needless_pass_by_value)] // compares temporaries, the common case
    pub(crate) fn eq<T: PartialEq + Debug>(&mut self, what: &str, actual: T, expected: T) {
        self.checks += 1;
        if actual != expected {
            self.problems
                .push(format!("{what}: {actual:?}, expected {expected:?}"));
        }
    }

    pub(crate) fn that(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.problems.push(what());
        }
    }

    pub(crate) fn assert_none(&self) {
        assert!(
            self.problems.is_empty(),
            "{} of {} checks failed:\n{}",
            self.problems.len(),
            self.checks,
            self.problems.join("\n")
        );
    }
}

pub(crate) async fn check_tenant(
    client: &Client,
    operator: &Operator,
    member: &Member,
    today: Date,
    gateway_namespace: &str,
    findings: &mut Findings,
) {
    let name = member.name_any();
    let ns = operator.tenant_namespace(&name);
    let spec = &member.spec;
    let (bracket_code, default_cpu, default_memory) = bracket(spec.population.count);
    let tenant = spec.tenant.clone().unwrap_or_default();
    let cpu = tenant.cpu.map_or_else(|| default_cpu.to_owned(), |q| q.0);
    let memory = tenant
        .memory
        .map_or_else(|| default_memory.to_owned(), |q| q.0);
    let storage = tenant.storage.as_ref().map(|s| s.size.0.clone());
    let offer =
        current_offer(member, today).map_or_else(|| "None".to_owned(), |o| format!("{o:?}"));

    // Status.
    let status = member.status.clone().unwrap_or_default();
    findings.eq(
        &format!("{name}: status.namespace"),
        status.namespace.as_deref(),
        Some(ns.as_str()),
    );
    let tenant_ready =
        condition(member, "TenantReady").map(|c| (c.status.as_str(), c.reason.as_str()));
    findings.eq(
        &format!("{name}: TenantReady"),
        tenant_ready,
        Some(("True", "Provisioned")),
    );

    // Namespace.
    let Some(namespace) = Api::<Namespace>::all(client.clone())
        .get_opt(&ns)
        .await
        .unwrap()
    else {
        findings.that(false, || format!("{name}: no namespace {ns}"));
        return;
    };
    let labels = namespace.labels();
    for (key, value) in [
        (format!("{DOMAIN}/member"), name.as_str()),
        (format!("{DOMAIN}/insee"), spec.insee_code.as_str()),
        (format!("{DOMAIN}/offer"), offer.as_str()),
        (format!("{DOMAIN}/bracket"), bracket_code),
        (
            "pod-security.kubernetes.io/enforce".to_owned(),
            "restricted",
        ),
    ] {
        findings.eq(
            &format!("{ns}: label {key}"),
            labels.get(&key).map(String::as_str),
            Some(value),
        );
    }
    findings.that(namespace.owner_references().is_empty(), || {
        format!("{ns}: an ownerReference would let the GC delete it")
    });

    check_bounds(client, &ns, &cpu, &memory, storage.as_deref(), findings).await;

    // NetworkPolicies.
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    check_network_policies(
        &ns,
        &policies,
        spec.vpn.is_some(),
        gateway_namespace,
        findings,
    );

    // RBAC.
    check_rbac(client, operator, &ns, &tenant.admin_groups, findings).await;

    check_volume(client, &ns, storage.as_deref(), findings).await;
}

/// The ResourceQuota and the LimitRange of the tenant namespace `ns`.
pub(crate) async fn check_bounds(
    client: &Client,
    ns: &str,
    cpu: &str,
    memory: &str,
    storage: Option<&str>,
    findings: &mut Findings,
) {
    // ResourceQuota.
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    findings.eq(&format!("{ns}: ResourceQuotas"), quotas.len(), 1);
    if let Some(quota) = quotas.first() {
        for (key, value) in [
            ("requests.cpu", cpu),
            ("limits.cpu", cpu),
            ("requests.memory", memory),
            ("limits.memory", memory),
            ("requests.storage", storage.unwrap_or("0")),
            (
                "persistentvolumeclaims",
                if storage.is_some() { "1" } else { "0" },
            ),
            ("services.loadbalancers", "0"),
            ("services.nodeports", "0"),
        ] {
            findings.eq(&format!("{ns}: quota {key}"), hard(quota, key), Some(value));
        }
    }

    // LimitRange: defaults for containers that declare no resources.
    let ranges = Api::<LimitRange>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    findings.eq(&format!("{ns}: LimitRanges"), ranges.len(), 1);
    let container_defaults = ranges
        .iter()
        .flat_map(|r| &r.spec.as_ref().unwrap().limits)
        .any(|item| {
            let has = |map: &Option<BTreeMap<String, Quantity>>| {
                map.as_ref()
                    .is_some_and(|m| m.contains_key("cpu") && m.contains_key("memory"))
            };
            item.type_ == "Container" && has(&item.default) && has(&item.default_request)
        });
    findings.that(container_defaults, || {
        format!("{ns}: no LimitRange with container default requests and limits: {ranges:?}")
    });
}

/// The data volume `data` of the tenant namespace `ns`, with the declared size.
pub(crate) async fn check_volume(
    client: &Client,
    ns: &str,
    storage: Option<&str>,
    findings: &mut Findings,
) {
    let claim = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .get_opt("data")
        .await
        .unwrap();
    match (storage, claim) {
        (Some(size), Some(claim)) => {
            let claim_spec = claim.spec.unwrap_or_default();
            let requested = claim_spec
                .resources
                .and_then(|r| r.requests)
                .and_then(|r| r.get("storage").map(|q| q.0.clone()));
            findings.eq(
                &format!("{ns}: PVC data size"),
                requested.as_deref(),
                Some(size),
            );
            findings.eq(
                &format!("{ns}: PVC data access modes"),
                claim_spec.access_modes,
                Some(vec!["ReadWriteOnce".to_owned()]),
            );
            findings.that(claim.metadata.owner_references.is_none(), || {
                format!("{ns}: PVC data has an ownerReference")
            });
        }
        (None, None) => findings.that(true, String::new),
        (Some(_), None) => findings.that(false, || format!("{ns}: no PVC data")),
        (None, Some(_)) => findings.that(false, || {
            format!("{ns}: a PVC data without spec.tenant.storage")
        }),
    }
}

pub(crate) fn check_network_policies(
    ns: &str,
    policies: &[NetworkPolicy],
    vpn: bool,
    gateway_namespace: &str,
    findings: &mut Findings,
) {
    let names: BTreeSet<String> = policies.iter().map(ResourceExt::name_any).collect();
    let mut expected: BTreeSet<String> = ["default-deny", "allow-same-tenant", "allow-dns"]
        .map(String::from)
        .into();
    if vpn {
        expected.insert("allow-shared-services".into());
    }
    findings.eq(&format!("{ns}: NetworkPolicies"), names, expected);
    let both = Some(vec!["Ingress".to_owned(), "Egress".to_owned()]);
    for policy in policies {
        let name = policy.name_any();
        let spec = policy.spec.clone().unwrap_or_default();
        findings.eq(
            &format!("{ns}/{name}: podSelector"),
            spec.pod_selector.clone(),
            Some(LabelSelector::default()),
        );
        findings.eq(
            &format!("{ns}/{name}: policyTypes"),
            spec.policy_types.clone(),
            both.clone(),
        );
        let from: Vec<NetworkPolicyPeer> = spec
            .ingress
            .iter()
            .flatten()
            .flat_map(|r| r.from.clone().unwrap_or_default())
            .collect();
        let to: Vec<NetworkPolicyPeer> = spec
            .egress
            .iter()
            .flatten()
            .flat_map(|r| r.to.clone().unwrap_or_default())
            .collect();
        // No policy lets in or out anything but this tenant, DNS and its services.
        for peer in from.iter().chain(&to) {
            let peer_namespace = peer
                .namespace_selector
                .as_ref()
                .and_then(|s| s.match_labels.as_ref())
                .and_then(|labels| labels.get("kubernetes.io/metadata.name"));
            let allowed_namespace = match &peer.namespace_selector {
                None => true,
                Some(_) => {
                    peer_namespace.is_some_and(|n| n == "kube-system" || n == gateway_namespace)
                }
            };
            findings.that(peer.ip_block.is_none() && allowed_namespace, || {
                format!("{ns}/{name}: peer beyond the tenant, DNS and its services: {peer:?}")
            });
        }
        check_policy_rules(ns, &name, &spec, &from, &to, gateway_namespace, findings);
    }
}

/// What one tenant NetworkPolicy lets in (`from`) and out (`to`).
pub(crate) fn check_policy_rules(
    ns: &str,
    name: &str,
    spec: &NetworkPolicySpec,
    from: &[NetworkPolicyPeer],
    to: &[NetworkPolicyPeer],
    gateway_namespace: &str,
    findings: &mut Findings,
) {
    let same_tenant = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    };
    match name {
        "default-deny" => {
            findings.eq(
                &format!("{ns}/{name}: ingress rules"),
                spec.ingress.as_ref().map_or(0, Vec::len),
                0,
            );
            findings.eq(
                &format!("{ns}/{name}: egress rules"),
                spec.egress.as_ref().map_or(0, Vec::len),
                0,
            );
        }
        "allow-same-tenant" => {
            findings.eq(
                &format!("{ns}/{name}: from"),
                from,
                &[same_tenant.clone()][..],
            );
            findings.eq(&format!("{ns}/{name}: to"), to, &[same_tenant][..]);
        }
        "allow-dns" => {
            findings.eq(&format!("{ns}/{name}: from"), from.len(), 0);
            let dns = to.iter().all(|peer| {
                peer.namespace_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.as_ref())
                    .and_then(|l| l.get("kubernetes.io/metadata.name"))
                    .is_some_and(|n| n == "kube-system")
                    && peer
                        .pod_selector
                        .as_ref()
                        .and_then(|s| s.match_labels.as_ref())
                        .and_then(|l| l.get("k8s-app"))
                        .is_some_and(|a| a == "kube-dns")
            });
            findings.that(dns && !to.is_empty(), || {
                format!("{ns}/{name}: egress to {to:?}")
            });
            let ports: BTreeSet<(String, String)> = spec
                .egress
                .iter()
                .flatten()
                .flat_map(|r| r.ports.clone().unwrap_or_default())
                .map(|p| (p.protocol.unwrap_or_default(), format!("{:?}", p.port)))
                .collect();
            findings.eq(
                &format!("{ns}/{name}: ports"),
                ports,
                [("TCP", "Some(Int(53))"), ("UDP", "Some(Int(53))")]
                    .map(|(p, n)| (p.to_owned(), n.to_owned()))
                    .into(),
            );
        }
        "allow-shared-services" => {
            let gateway = NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        gateway_namespace.to_owned(),
                    )])),
                    ..LabelSelector::default()
                }),
                ..NetworkPolicyPeer::default()
            };
            findings.eq(&format!("{ns}/{name}: from"), from, &[gateway.clone()][..]);
            findings.eq(&format!("{ns}/{name}: to"), to, &[gateway][..]);
        }
        _ => {}
    }
}

pub(crate) async fn check_rbac(
    client: &Client,
    operator: &Operator,
    ns: &str,
    admin_groups: &[String],
    findings: &mut Findings,
) {
    let admin_role = operator.tenant_admin_role();
    let role = Api::<ClusterRole>::all(client.clone())
        .get_opt(admin_role)
        .await
        .unwrap();
    match role {
        None => findings.that(false, || format!("no ClusterRole {admin_role}")),
        Some(role) => {
            let rules = role.rules.unwrap_or_default();
            let grants = |group: &str, resource: &str, verb: &str| {
                rules.iter().any(|rule| {
                    rule.api_groups
                        .iter()
                        .flatten()
                        .any(|g| g == group || g == "*")
                        && rule
                            .resources
                            .iter()
                            .flatten()
                            .any(|r| r == resource || r == "*")
                        && rule.verbs.iter().any(|v| v == verb || v == "*")
                })
            };
            for (group, resource) in [("", "pods"), ("", "secrets"), ("apps", "deployments")] {
                findings.that(grants(group, resource, "create"), || {
                    format!("ClusterRole {admin_role} does not let create {resource}")
                });
            }
            for (group, resource) in [
                ("", "resourcequotas"),
                ("", "limitranges"),
                ("networking.k8s.io", "networkpolicies"),
                ("rbac.authorization.k8s.io", "roles"),
                ("rbac.authorization.k8s.io", "rolebindings"),
            ] {
                let writes = ["create", "update", "patch", "delete"]
                    .iter()
                    .any(|verb| grants(group, resource, verb));
                findings.that(!writes, || {
                    format!("ClusterRole {admin_role} lets write {resource}")
                });
            }
        }
    }
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let summary: BTreeMap<String, (String, String, Vec<String>)> = bindings
        .iter()
        .map(|b| {
            let subjects = b
                .subjects
                .iter()
                .flatten()
                .map(|s| format!("{}:{}", s.kind, s.name))
                .collect();
            (
                b.name_any(),
                (b.role_ref.kind.clone(), b.role_ref.name.clone(), subjects),
            )
        })
        .collect();
    let mut expected = BTreeMap::from([(
        "socle-dsi-auditors".to_owned(),
        (
            "ClusterRole".to_owned(),
            "view".to_owned(),
            vec![format!("Group:{}", operator.auditor_group())],
        ),
    )]);
    if !admin_groups.is_empty() {
        expected.insert(
            "socle-tenant-admin".to_owned(),
            (
                "ClusterRole".to_owned(),
                admin_role.to_owned(),
                admin_groups.iter().map(|g| format!("Group:{g}")).collect(),
            ),
        );
    }
    findings.eq(&format!("{ns}: RoleBindings"), summary, expected);
}

pub(crate) async fn check_not_hosted(
    client: &Client,
    operator: &Operator,
    member: &Member,
    findings: &mut Findings,
) {
    let name = member.name_any();
    let ns = operator.tenant_namespace(&name);
    let namespace = Api::<Namespace>::all(client.clone())
        .get_opt(&ns)
        .await
        .unwrap();
    findings.that(namespace.is_none(), || {
        format!("{name} is not hosted but has namespace {ns}")
    });
    let status = member.status.clone().unwrap_or_default();
    findings.eq(&format!("{name}: status.namespace"), status.namespace, None);
    let tenant_ready =
        condition(member, "TenantReady").map(|c| (c.status.as_str(), c.reason.as_str()));
    findings.eq(
        &format!("{name}: TenantReady"),
        tenant_ready,
        Some(("True", "NotHosted")),
    );
}

/// The tenant namespaces of `operator` that exist.
pub(crate) async fn tenant_namespaces(client: &Client, operator: &Operator) -> BTreeSet<String> {
    Api::<Namespace>::all(client.clone())
        .list_metadata(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .filter(|name| name.starts_with(operator.namespace_prefix()))
        .collect()
}

/// Waits until `api` holds an object named like `deleted` but with another
/// uid: the operator recreated it.
pub(crate) async fn recreated<K>(api: &Api<K>, deleted: &K) -> K
where
    K: kube::Resource + Clone + Debug + DeserializeOwned,
{
    eventually(RESTORE, || async {
        let current = api.get_opt(&deleted.name_any()).await?;
        match current {
            Some(object) if object.uid() != deleted.uid() => Ok(object),
            _ => anyhow::bail!("{} not recreated", deleted.name_any()),
        }
    })
    .await
}

pub(crate) fn hard<'a>(quota: &'a ResourceQuota, key: &str) -> Option<&'a str> {
    quota
        .spec
        .as_ref()?
        .hard
        .as_ref()?
        .get(key)
        .map(|q| q.0.as_str())
}

pub(crate) fn only<T: Debug>(mut items: Vec<T>, what: &str) -> T {
    assert_eq!(items.len(), 1, "exactly one {what}: {items:#?}");
    items.remove(0)
}

/// Kind, name, uid and resourceVersion of the tenant objects in `namespace`.
pub(crate) async fn inventory(
    client: &Client,
    namespace: &str,
) -> BTreeSet<(String, String, String, String)> {
    pub(crate) fn entries<K: ResourceExt>(
        kind: &str,
        items: Vec<K>,
    ) -> Vec<(String, String, String, String)> {
        items
            .into_iter()
            .map(|item| {
                (
                    kind.to_owned(),
                    item.name_any(),
                    item.uid().unwrap_or_default(),
                    item.resource_version().unwrap_or_default(),
                )
            })
            .collect()
    }
    let lp = ListParams::default();
    let mut all = Vec::new();
    all.extend(entries(
        "ResourceQuota",
        Api::<ResourceQuota>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    all.extend(entries(
        "LimitRange",
        Api::<LimitRange>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    all.extend(entries(
        "NetworkPolicy",
        Api::<NetworkPolicy>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    all.extend(entries(
        "RoleBinding",
        Api::<RoleBinding>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    all.extend(entries(
        "PersistentVolumeClaim",
        Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    all.into_iter().collect()
}

/// The Events about the (cluster-scoped) Member `name`.
pub(crate) async fn events_about(client: &Client, name: &str) -> kube::Result<Vec<Event>> {
    let events = Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await?;
    Ok(events
        .items
        .into_iter()
        .filter(|event| {
            event.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("Member") && r.name.as_deref() == Some(name)
            })
        })
        .collect())
}

/// What the operator did about a converged scope when its Members were
/// touched without changing their spec.
pub(crate) struct SteadyState {
    user: String,
    settled: Duration,
    poked: usize,
    tenants: usize,
    /// Requests (not writes) in the tenant namespaces after the poke.
    reads: Vec<AuditEvent>,
    writes: Vec<AuditEvent>,
}

impl SteadyState {
    pub(crate) fn shown(&self) -> String {
        let requests: Vec<String> = self
            .writes
            .iter()
            .chain(&self.reads)
            .map(ToString::to_string)
            .collect();
        requests.join("\n")
    }

    pub(crate) fn is_free(&self) -> bool {
        self.writes.is_empty() && self.reads.is_empty()
    }
}

impl std::fmt::Display for SteadyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "steady state (settled {:.1?} after Ready): {} Members poked and reconciled again \
             ({} tenants): {} reads in tenant namespaces and {} writes by {}",
            self.settled,
            self.poked,
            self.tenants,
            self.reads.len(),
            self.writes.len(),
            self.user
        )
    }
}

/// Once the operator has stopped writing about the scope (convergence may
/// still be finishing when the last Member turns Ready), puts an unrelated
/// label on each of `live` — the Member changes, its spec does not, and the
/// controller watches Members — waits until the tenant controller has
/// reconciled as many times again (its metric), lets the operator finish,
/// and returns what it wrote about the scope, and read in its tenant
/// namespaces, meanwhile.
pub(crate) async fn steady_state(
    client: &Client,
    scope: &TestScope,
    operator: &Operator,
    live: &[Member],
) -> SteadyState {
    let user = operator.identity();
    let started = Instant::now();
    eventually(CONVERGE, || async {
        let mark = AuditMark::now();
        // Long enough for a reconcile queued behind others on a loaded machine.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let writes: Vec<String> = mark
            .writes_by(client, &user)
            .await
            .iter()
            .filter(|event| about_scope(event, scope.id()))
            .map(ToString::to_string)
            .collect();
        ensure!(writes.is_empty(), "still converging: {writes:#?}");
        Ok(())
    })
    .await;
    let settled = started.elapsed();
    let today = today();
    let tenants: BTreeSet<String> = live
        .iter()
        .filter(|member| is_hosted(member, today))
        .map(|member| operator.tenant_namespace(&member.name_any()))
        .collect();

    let mark = AuditMark::now();
    let reconciled = operator.reconciles("tenant");
    let api = Api::<Member>::all(client.clone());
    for member in live {
        api.patch(
            &member.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"socle.test/poked": "yes"}}})),
        )
        .await
        .unwrap();
    }
    let poked = live.len() as u64;
    eventually(CONVERGE, || async {
        let done = operator.reconciles("tenant") - reconciled;
        ensure!(done >= poked, "{done} of {poked} Members reconciled again");
        Ok(())
    })
    .await;
    tokio::time::sleep(QUIET).await;
    let (writes, reads) = mark
        .events(client)
        .await
        .into_iter()
        .filter(|event| event.user == user && about_scope(event, scope.id()))
        .filter(|event| {
            event.is_write()
                || event
                    .namespace
                    .as_ref()
                    .is_some_and(|n| tenants.contains(n))
        })
        .partition(AuditEvent::is_write);
    SteadyState {
        user,
        settled,
        poked: live.len(),
        tenants: tenants.len(),
        reads,
        writes,
    }
}

/// Whether an audited request concerns the scope `id`: its namespace
/// (`t<id>-…`) or its object (`<member>-<id>`, Events named after it).
pub(crate) fn about_scope(event: &AuditEvent, id: &str) -> bool {
    [&event.namespace, &event.name]
        .into_iter()
        .flatten()
        .any(|text| text.contains(id))
}

// ---------------------------------------------------------------------------
// Access reviews.

/// One question to the API server's authorizer, and the expected answer.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    group: String,
    namespace: String,
    verb: &'static str,
    api_group: &'static str,
    resource: &'static str,
    pub(crate) allowed: bool,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let resource = if self.api_group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        };
        write!(
            f,
            "alice in {} {} {resource} in {} (expected allowed={})",
            self.group, self.verb, self.namespace, self.allowed
        )
    }
}

/// What the admins of each tenant (`(group, namespace)`) and the auditors
/// may and may not do.
pub(crate) fn access_checks(tenants: &[(String, String)], auditors: &str) -> Vec<Access> {
    const WORKLOADS: [(&str, &str); 4] = [
        ("", "pods"),
        ("apps", "deployments"),
        ("", "secrets"),
        ("", "services"),
    ];
    // DaemonSets run on every node of the Datacenter: no commune's to write.
    const BOUNDS: [(&str, &str); 6] = [
        ("apps", "daemonsets"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("networking.k8s.io", "networkpolicies"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ];
    const READS: [(&str, &str); 4] = [
        ("", "pods"),
        ("", "secrets"),
        ("", "configmaps"),
        ("apps", "deployments"),
    ];
    let mut checks = Vec::new();
    let mut check = |group: &str,
                     namespace: &str,
                     verb: &'static str,
                     (api_group, resource): (&'static str, &'static str),
                     allowed: bool| {
        checks.push(Access {
            group: group.to_owned(),
            namespace: namespace.to_owned(),
            verb,
            api_group,
            resource,
            allowed,
        });
    };
    for (group, own) in tenants {
        for workload in WORKLOADS {
            for verb in ["create", "delete"] {
                check(group, own, verb, workload, true);
                for (_, other) in tenants.iter().filter(|(_, ns)| ns != own) {
                    check(group, other, verb, workload, false);
                }
                check(group, "default", verb, workload, false);
            }
        }
        for bound in BOUNDS {
            for verb in ["create", "update", "patch", "delete"] {
                check(group, own, verb, bound, false);
            }
        }
        for read in READS {
            for verb in ["get", "list"] {
                check(group, "kube-system", verb, read, false);
                for (_, other) in tenants.iter().filter(|(_, ns)| ns != own) {
                    check(group, other, verb, read, false);
                }
            }
        }
        // The auditors read the tenant, secrets excepted, and write nothing.
        check(auditors, own, "list", ("", "pods"), true);
        check(auditors, own, "get", ("apps", "deployments"), true);
        check(auditors, own, "get", ("", "secrets"), false);
        check(auditors, own, "create", ("", "pods"), false);
        check(
            auditors,
            own,
            "delete",
            ("", "persistentvolumeclaims"),
            false,
        );
    }
    checks
}

/// Asks the API server whether alice, member of `check.group`, may do it.
pub(crate) async fn review(client: &Client, check: &Access) -> kube::Result<bool> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("alice".into()),
            groups: Some(vec![check.group.clone()]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(check.namespace.clone()),
                verb: Some(check.verb.into()),
                group: Some(check.api_group.into()),
                resource: Some(check.resource.into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|status| status.allowed))
}

//! The tenant issue's acceptance, end to end on the real control plane: each
//! hosted Member becomes an isolated, quota-bound, RBAC-scoped namespace that
//! is kept in line with its Member, never loses data, and costs no writes once
//! converged.
//!
//! Each test runs its own operator (`socle_e2e::operator::Operator`), limited
//! to the Members of its scope and naming their namespaces `t<id>-<member>`,
//! so the tests run in parallel without seeing each other's Members.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Debug,
    time::{Duration, Instant},
};

use anyhow::ensure;
use futures::{StreamExt, stream};
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
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use socle::{api::Member, contribution::Offer};
use socle_e2e::{
    AuditEvent, AuditMark, TestScope, eventually,
    examples::{
        CONVERGE, condition, create_gateway, create_members, example, examples, scoped,
        wait_until_ready,
    },
    operator::{Operator, release_claims},
};

/// Prefix of socle's labels and annotations.
const DOMAIN: &str = "socle.redon-agglomeration.bzh";
/// For the operator to undo a change made behind its back.
const RESTORE: Duration = Duration::from_secs(30);
/// How long nothing may happen to an offboarded tenant before confirmation,
/// and how long the operator has to (not) write after a trigger.
const QUIET: Duration = Duration::from_secs(5);

/// The 31 example communes, each renamed into the scope, plus two variants
/// that exercise the other ways to be hosted, reach Ready, and every hosted
/// one has its objects as the Member says: namespace, quota, limits, network
/// policies, RBAC and data volume. The others get nothing.
#[tokio::test]
async fn every_example_commune_is_ready_with_the_tenant_its_member_describes() {
    let scope = TestScope::new("tenant_examples").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let gateway = create_gateway(&scope).await;
    let mut members: Vec<Member> = examples()
        .into_iter()
        .map(|member| scoped(&scope, member, &gateway.name_any()))
        .collect();
    assert_eq!(members.len(), 31, "the example communes");
    // SocleComplet without spec.tenant: hosted with the defaults, no volume.
    let mut without_tenant = example("peillac");
    without_tenant.metadata.name = Some("socle-complet-seul".into());
    without_tenant.spec.tenant = None;
    members.push(scoped(&scope, without_tenant, &gateway.name_any()));
    // Audit only, but with spec.tenant: hosted, with the quota it declares.
    let mut declared = example("guemene-penfao");
    declared.metadata.name = Some("audit-heberge".into());
    declared.spec.tenant = Some(
        serde_json::from_value(json!({
            "cpu": "3", "memory": "6Gi", "storage": {"size": "30Gi"},
            "adminGroups": ["audit-heberge-admins", "dsi-astreinte"],
        }))
        .unwrap(),
    );
    members.push(scoped(&scope, declared, &gateway.name_any()));

    let started = Instant::now();
    create_members(&client, &members).await;
    let live = wait_until_ready(&client, &scope, &members).await;
    let converged = started.elapsed();

    let today = today();
    let gateway_namespace = gateway
        .spec
        .vpn_gateway
        .as_ref()
        .expect("the example gateway has settings")
        .namespace
        .clone();
    let mut findings = Findings::default();
    let mut hosted = BTreeSet::new();
    for member in &live {
        if is_hosted(member, today) {
            hosted.insert(operator.tenant_namespace(&member.name_any()));
            check_tenant(
                &client,
                &operator,
                member,
                today,
                &gateway_namespace,
                &mut findings,
            )
            .await;
        } else {
            check_not_hosted(&client, &operator, member, &mut findings).await;
        }
    }
    findings.assert_none();
    let namespaces: BTreeSet<String> = tenant_namespaces(&client, &operator).await;
    assert_eq!(
        namespaces, hosted,
        "one namespace per hosted member, no more"
    );
    assert!(
        hosted.len() >= 28,
        "the 26 example tenants and the two variants are hosted: {hosted:?}"
    );
    println!(
        "{} Members Ready in {converged:.1?}: {} tenants checked ({} checks), {} not hosted",
        live.len(),
        hosted.len(),
        findings.checks,
        live.len() - hosted.len()
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// What is changed or deleted behind the operator's back comes back within
/// seconds, and a change of the Member's CPU reaches the quota.
#[tokio::test]
async fn tenant_objects_are_restored_after_drift_and_follow_the_member() {
    let scope = TestScope::new("tenant_drift").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let member = scoped(&scope, example("beganne"), "unused");
    let name = member.name_any();
    create_members(&client, std::slice::from_ref(&member)).await;
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    let namespace = operator.tenant_namespace(&name);
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &namespace);
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), &namespace);
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &namespace);
    let quota = only(
        quotas.list(&ListParams::default()).await.unwrap().items,
        "ResourceQuota",
    );
    assert_eq!(
        hard(&quota, "requests.cpu"),
        Some("2"),
        "beganne: 1 423 inhabitants"
    );

    // A DSI technician deletes the quota.
    let started = Instant::now();
    quotas
        .delete(&quota.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    let restored = recreated(&quotas, &quota).await;
    assert_eq!(hard(&restored, "requests.cpu"), Some("2"));
    assert_eq!(hard(&restored, "requests.memory"), Some("4Gi"));
    let quota_back = started.elapsed();

    // Someone opens the default-deny policy to all ingress.
    let started = Instant::now();
    policies
        .patch(
            "default-deny",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ingress": [{}]}})),
        )
        .await
        .unwrap();
    eventually(RESTORE, || async {
        let spec = policies.get("default-deny").await?.spec.unwrap_or_default();
        let ingress = spec.ingress.unwrap_or_default();
        ensure!(ingress.is_empty(), "default-deny still allows {ingress:?}");
        Ok(())
    })
    .await;
    let policy_back = started.elapsed();

    // The commune's admins lose their binding.
    let started = Instant::now();
    let binding = bindings.get("socle-tenant-admin").await.unwrap();
    bindings
        .delete("socle-tenant-admin", &DeleteParams::default())
        .await
        .unwrap();
    let rebound = recreated(&bindings, &binding).await;
    assert_eq!(rebound.subjects, binding.subjects);
    assert_eq!(rebound.role_ref, binding.role_ref);
    let binding_back = started.elapsed();

    // The pilotage commission grants more CPU.
    let started = Instant::now();
    Api::<Member>::all(client.clone())
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"tenant": {"cpu": "3"}}})),
        )
        .await
        .unwrap();
    eventually(RESTORE, || async {
        let quota = quotas.get(&quota.name_any()).await?;
        let cpu = (hard(&quota, "requests.cpu"), hard(&quota, "limits.cpu"));
        ensure!(cpu == (Some("3"), Some("3")), "quota cpu {cpu:?}");
        ensure!(
            hard(&quota, "requests.memory") == Some("4Gi"),
            "memory changed too"
        );
        Ok(())
    })
    .await;
    let quota_followed = started.elapsed();
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    println!(
        "restored: quota {quota_back:.1?}, network policy {policy_back:.1?}, \
         role binding {binding_back:.1?}; quota followed the Member in {quota_followed:.1?}"
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// A Member naming a VPN gateway that does not exist says so in its status
/// and in a Warning Event, gets no namespace, and does not hold up the other
/// Members of the scope.
#[tokio::test]
async fn a_member_naming_a_missing_gateway_fails_alone_and_says_why() {
    let scope = TestScope::new("tenant_invalid_member").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let missing = scope.name("passerelle-absente");
    let broken = scoped(&scope, example("allaire"), &missing);
    let others = [
        scoped(&scope, example("beganne"), "unused"),
        scoped(&scope, example("saint-just"), "unused"),
        scoped(&scope, example("avessac"), "unused"),
    ];
    // The broken one first: the others must not wait for it.
    create_members(&client, std::slice::from_ref(&broken)).await;
    create_members(&client, &others).await;
    wait_until_ready(&client, &scope, &others).await;

    let members = Api::<Member>::all(client.clone());
    let name = broken.name_any();
    let failed = eventually(CONVERGE, || async {
        let member = members.get(&name).await?;
        let tenant = condition(&member, "TenantReady").cloned();
        ensure!(
            tenant.as_ref().is_some_and(|c| c.status == "False"),
            "TenantReady is {tenant:?}"
        );
        Ok(member)
    })
    .await;
    let tenant = condition(&failed, "TenantReady").unwrap();
    assert_eq!(tenant.reason, "InvalidSpec", "{tenant:?}");
    assert!(
        tenant.message.contains(&format!("SharedService {missing}")),
        "the message names the missing gateway: {:?}",
        tenant.message
    );
    let ready = condition(&failed, "Ready").expect("a Ready condition");
    assert_eq!(ready.status, "False", "{ready:?}");
    assert!(ready.message.contains(&missing), "{ready:?}");
    let namespaces = Api::<Namespace>::all(client.clone());
    assert!(
        namespaces
            .get_opt(&operator.tenant_namespace(&name))
            .await
            .unwrap()
            .is_none(),
        "no namespace for a member that cannot be built"
    );
    let warning = eventually(RESTORE, || async {
        let events = events_about(&client, &name).await?;
        let warning = events.iter().find(|event| {
            event.type_.as_deref() == Some("Warning")
                && event
                    .note
                    .as_deref()
                    .is_some_and(|note| note.contains(&missing))
        });
        ensure!(
            warning.is_some(),
            "no Warning Event naming {missing}: {events:#?}"
        );
        Ok(warning.cloned().unwrap())
    })
    .await;
    println!(
        "{name}: Ready False ({}); Event {} {:?}: {}",
        ready.message,
        warning.type_.unwrap_or_default(),
        warning.reason.unwrap_or_default(),
        warning.note.unwrap_or_default()
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// The hint of the previous test, "fix the reference or create it", works:
/// once the DSI creates the missing gateway, the Member gets its tenant.
#[tokio::test]
async fn a_member_recovers_once_its_missing_gateway_is_created() {
    let scope = TestScope::new("tenant_gateway_created_later").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let gateway_name = scope.name("vpn-datacenter");
    let member = scoped(&scope, example("bains-sur-oust"), &gateway_name);
    let name = member.name_any();
    create_members(&client, std::slice::from_ref(&member)).await;
    let members = Api::<Member>::all(client.clone());
    eventually(CONVERGE, || async {
        let member = members.get(&name).await?;
        let tenant = condition(&member, "TenantReady").cloned();
        ensure!(
            tenant.as_ref().is_some_and(|c| c.reason == "InvalidSpec"),
            "TenantReady is {tenant:?}"
        );
        Ok(())
    })
    .await;

    create_gateway(&scope).await;
    let started = Instant::now();
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&operator.tenant_namespace(&name))
            .await
            .unwrap()
            .is_some()
    );
    println!(
        "{name} Ready {:.1?} after its gateway was created",
        started.elapsed()
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// Deleting a Member deletes no data: its namespace and volume stay, marked
/// as offboarding, and the Member waits (finalizer) until the DSI confirms;
/// only then do they go.
#[tokio::test]
async fn deleting_a_member_keeps_its_data_until_offboarding_is_confirmed() {
    let scope = TestScope::new("tenant_offboarding").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    // Without its backups: the exit backup is tests/offboarding.rs's.
    let mut member = scoped(&scope, example("saint-perreux"), "unused");
    member.spec.backup = None;
    let name = member.name_any();
    create_members(&client, std::slice::from_ref(&member)).await;
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    let namespace_name = operator.tenant_namespace(&name);
    let members = Api::<Member>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace_name);
    let namespace = namespaces.get(&namespace_name).await.unwrap();
    let claim = claims.get("data").await.unwrap();
    let protected = inventory(&client, &namespace_name).await;

    members
        .delete(&name, &DeleteParams::background())
        .await
        .unwrap();
    let offboarding = eventually(RESTORE, || async {
        let member = members.get_opt(&name).await?;
        let member = member.expect("the finalizer keeps the Member");
        let offboarding = condition(&member, "Offboarding").cloned();
        ensure!(
            offboarding.as_ref().is_some_and(|c| c.status == "True"),
            "Offboarding is {offboarding:?}"
        );
        let namespace = namespaces.get(&namespace_name).await?;
        ensure!(
            namespace
                .labels()
                .contains_key(&format!("{DOMAIN}/offboarding")),
            "namespace labels {:?}",
            namespace.labels()
        );
        Ok(offboarding.unwrap())
    })
    .await;
    assert!(
        offboarding.message.contains("confirm-offboarding"),
        "the condition says how to confirm: {offboarding:?}"
    );

    // Nothing happens without the confirmation.
    tokio::time::sleep(QUIET).await;
    let member_now = members.get(&name).await.expect("the Member waits");
    assert!(member_now.metadata.deletion_timestamp.is_some());
    assert!(
        member_now
            .finalizers()
            .iter()
            .any(|f| f == &format!("{DOMAIN}/tenant")),
        "{:?}",
        member_now.finalizers()
    );
    let namespace_now = namespaces.get(&namespace_name).await.unwrap();
    assert_eq!(namespace_now.uid(), namespace.uid(), "same namespace");
    assert!(
        namespace_now.metadata.deletion_timestamp.is_none(),
        "the namespace is not being deleted"
    );
    let claim_now = claims.get("data").await.unwrap();
    assert_eq!(claim_now.uid(), claim.uid(), "same volume claim");
    assert!(claim_now.metadata.deletion_timestamp.is_none());
    assert_eq!(
        inventory(&client, &namespace_name).await,
        protected,
        "every tenant object is still there, unchanged"
    );

    // The DSI confirms.
    let started = Instant::now();
    members
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                format!("{DOMAIN}/confirm-offboarding"): name,
            }}})),
        )
        .await
        .unwrap();
    eventually(CONVERGE, || async {
        release_claims(&client, &namespace_name).await?;
        let member = members.get_opt(&name).await?;
        let namespace = namespaces.get_opt(&namespace_name).await?;
        ensure!(
            member.is_none() && namespace.is_none(),
            "Member there: {}, namespace there: {} (phase {:?})",
            member.is_some(),
            namespace.is_some(),
            namespace.and_then(|n| n.status).and_then(|s| s.phase)
        );
        Ok(())
    })
    .await;
    println!(
        "offboarding of {name}: kept {} objects for {QUIET:?}; gone {:.1?} after confirmation",
        protected.len(),
        started.elapsed()
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// While it waits for the confirmation, an offboarding namespace is still the
/// commune's: found by its labels, and still under Pod Security `restricted`
/// (its workloads may still run).
#[tokio::test]
async fn an_offboarding_namespace_stays_a_restricted_tenant_namespace() {
    let scope = TestScope::new("tenant_offboarding_labels").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let member = scoped(&scope, example("lieuron"), "unused");
    let name = member.name_any();
    create_members(&client, std::slice::from_ref(&member)).await;
    wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let namespace_name = operator.tenant_namespace(&name);
    let before = namespaces.get(&namespace_name).await.unwrap();

    Api::<Member>::all(client.clone())
        .delete(&name, &DeleteParams::background())
        .await
        .unwrap();
    let offboarding = eventually(RESTORE, || async {
        let namespace = namespaces.get(&namespace_name).await?;
        ensure!(
            namespace
                .labels()
                .contains_key(&format!("{DOMAIN}/offboarding")),
            "not marked as offboarding yet: {:?}",
            namespace.labels()
        );
        Ok(namespace)
    })
    .await;
    let lost: BTreeMap<&String, &String> = before
        .labels()
        .iter()
        .filter(|(key, value)| offboarding.labels().get(*key) != Some(*value))
        .collect();
    assert!(
        lost.is_empty(),
        "labels lost by {namespace_name} when offboarding began: {lost:?}; now {:?}",
        offboarding.labels()
    );
    assert_eq!(
        offboarding.annotations(),
        before.annotations(),
        "annotations of {namespace_name}"
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// SubjectAccessReviews on the real API server: a commune's admin group runs
/// its workloads in its own namespace and nowhere else, cannot loosen its
/// own bounds, and reads nothing outside; the DSI's auditors read, not write.
#[tokio::test]
async fn tenant_admins_are_confined_to_their_own_namespace() {
    let scope = TestScope::new("tenant_isolation").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let members: Vec<Member> = ["allaire", "beganne", "bruc-sur-aff"]
        .into_iter()
        .map(|base| {
            let mut member = scoped(&scope, example(base), "unused");
            member.spec.vpn = None;
            let group = format!("commune-{}-admins", member.name_any());
            member.spec.tenant.as_mut().expect("a tenant").admin_groups = vec![group];
            member
        })
        .collect();
    create_members(&client, &members).await;
    wait_until_ready(&client, &scope, &members).await;

    let tenants: Vec<(String, String)> = members
        .iter()
        .map(|m| {
            (
                format!("commune-{}-admins", m.name_any()),
                operator.tenant_namespace(&m.name_any()),
            )
        })
        .collect();
    let checks = access_checks(&tenants, operator.auditor_group());
    let started = Instant::now();
    let (outcomes, mismatches) = eventually(RESTORE, || async {
        let outcomes: Vec<(Access, bool)> = stream::iter(checks.iter().cloned())
            .map(|check| {
                let client = client.clone();
                async move {
                    let allowed = review(&client, &check).await?;
                    anyhow::Ok((check, allowed))
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        let mismatches: Vec<String> = outcomes
            .iter()
            .filter(|(check, allowed)| check.allowed != *allowed)
            .map(|(check, allowed)| format!("{check} → allowed={allowed}"))
            .collect();
        // A denial that should be an allowance may be RBAC's cache; a leak never is.
        let leaks = outcomes
            .iter()
            .any(|(check, allowed)| *allowed && !check.allowed);
        ensure!(
            leaks || mismatches.is_empty(),
            "{} mismatches: {mismatches:#?}",
            mismatches.len()
        );
        Ok((outcomes, mismatches))
    })
    .await;
    let allowed = outcomes.iter().filter(|(c, a)| *a && c.allowed).count();
    let denied = outcomes.iter().filter(|(c, a)| !*a && !c.allowed).count();
    println!(
        "SubjectAccessReview: {} checks in {:.1?}, {allowed} allowed as expected, \
         {denied} denied as expected, {} mismatches",
        outcomes.len(),
        started.elapsed(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(outcomes.len() >= 50, "{} checks", outcomes.len());
    operator.stop().await;
    scope.cleanup().await;
}

/// Once every Member of the 31 examples is Ready, reconciling them again
/// (their spec unchanged) costs nothing: no create, update, patch or delete
/// by the operator's ServiceAccount, and no read in a tenant namespace (the
/// tenant objects are compared with the watches' caches).
#[tokio::test]
async fn a_converged_scope_costs_no_writes() {
    let scope = TestScope::new("tenant_steady_state").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let gateway = create_gateway(&scope).await;
    let members: Vec<Member> = examples()
        .into_iter()
        .map(|member| scoped(&scope, member, &gateway.name_any()))
        .collect();
    create_members(&client, &members).await;
    let live = wait_until_ready(&client, &scope, &members).await;
    let steady = steady_state(&client, &scope, &operator, &live).await;
    assert!(steady.is_free(), "{steady}:\n{}", steady.shown());
    println!("{steady}");
    operator.stop().await;
    scope.cleanup().await;
}

/// Quantities as people write them ("1.5" CPUs, "1.5Gi") are stored by the
/// API server in canonical form ("1500m", "1536Mi"): that is no drift, and
/// costs no writes once converged.
#[tokio::test]
async fn a_quota_written_in_decimal_costs_no_writes_once_converged() {
    let scope = TestScope::new("tenant_decimal_quota").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let mut member = scoped(&scope, example("beganne"), "unused");
    let tenant = member.spec.tenant.as_mut().expect("a tenant");
    tenant.cpu = Some(Quantity("1.5".into()));
    tenant.memory = Some(Quantity("1.5Gi".into()));
    create_members(&client, std::slice::from_ref(&member)).await;
    let live = wait_until_ready(&client, &scope, std::slice::from_ref(&member)).await;
    let quota = only(
        Api::<ResourceQuota>::namespaced(
            client.clone(),
            &operator.tenant_namespace(&member.name_any()),
        )
        .list(&ListParams::default())
        .await
        .unwrap()
        .items,
        "ResourceQuota",
    );
    assert_eq!(hard(&quota, "requests.cpu"), Some("1500m"));
    assert_eq!(hard(&quota, "requests.memory"), Some("1536Mi"));
    let steady = steady_state(&client, &scope, &operator, &live).await;
    assert!(steady.is_free(), "{steady}:\n{}", steady.shown());
    println!("{steady}");
    operator.stop().await;
    scope.cleanup().await;
}

// ---------------------------------------------------------------------------
// Members and what the tests expect of them.

fn today() -> Date {
    Zoned::now().date()
}

/// The highest offer in force on `today`.
fn current_offer(member: &Member, today: Date) -> Option<Offer> {
    member
        .spec
        .subscriptions
        .iter()
        .filter(|s| s.effective_date <= today && s.end_date.is_none_or(|end| end >= today))
        .map(|s| s.offer)
        .max()
}

/// Hosted: the socle complet in force, or a declared tenant.
fn is_hosted(member: &Member, today: Date) -> bool {
    member.spec.tenant.is_some() || current_offer(member, today) == Some(Offer::SocleComplet)
}

/// Article 7 bracket of the population, as labelled, and its default quota
/// (CPU, memory).
fn bracket(population: u32) -> (&'static str, &'static str, &'static str) {
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
struct Findings {
    checks: usize,
    problems: Vec<String>,
}

impl Findings {
    #[allow(clippy::needless_pass_by_value)] // compares temporaries, the common case
    fn eq<T: PartialEq + Debug>(&mut self, what: &str, actual: T, expected: T) {
        self.checks += 1;
        if actual != expected {
            self.problems
                .push(format!("{what}: {actual:?}, expected {expected:?}"));
        }
    }

    fn that(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.problems.push(what());
        }
    }

    fn assert_none(&self) {
        assert!(
            self.problems.is_empty(),
            "{} of {} checks failed:\n{}",
            self.problems.len(),
            self.checks,
            self.problems.join("\n")
        );
    }
}

async fn check_tenant(
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
async fn check_bounds(
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
async fn check_volume(client: &Client, ns: &str, storage: Option<&str>, findings: &mut Findings) {
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

fn check_network_policies(
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
fn check_policy_rules(
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

async fn check_rbac(
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

async fn check_not_hosted(
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
async fn tenant_namespaces(client: &Client, operator: &Operator) -> BTreeSet<String> {
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
async fn recreated<K>(api: &Api<K>, deleted: &K) -> K
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

fn hard<'a>(quota: &'a ResourceQuota, key: &str) -> Option<&'a str> {
    quota
        .spec
        .as_ref()?
        .hard
        .as_ref()?
        .get(key)
        .map(|q| q.0.as_str())
}

fn only<T: Debug>(mut items: Vec<T>, what: &str) -> T {
    assert_eq!(items.len(), 1, "exactly one {what}: {items:#?}");
    items.remove(0)
}

/// Kind, name, uid and resourceVersion of the tenant objects in `namespace`.
async fn inventory(client: &Client, namespace: &str) -> BTreeSet<(String, String, String, String)> {
    fn entries<K: ResourceExt>(kind: &str, items: Vec<K>) -> Vec<(String, String, String, String)> {
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
async fn events_about(client: &Client, name: &str) -> kube::Result<Vec<Event>> {
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
struct SteadyState {
    user: String,
    settled: Duration,
    poked: usize,
    tenants: usize,
    /// Requests (not writes) in the tenant namespaces after the poke.
    reads: Vec<AuditEvent>,
    writes: Vec<AuditEvent>,
}

impl SteadyState {
    fn shown(&self) -> String {
        let requests: Vec<String> = self
            .writes
            .iter()
            .chain(&self.reads)
            .map(ToString::to_string)
            .collect();
        requests.join("\n")
    }

    fn is_free(&self) -> bool {
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
async fn steady_state(
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
fn about_scope(event: &AuditEvent, id: &str) -> bool {
    [&event.namespace, &event.name]
        .into_iter()
        .flatten()
        .any(|text| text.contains(id))
}

// ---------------------------------------------------------------------------
// Access reviews.

/// One question to the API server's authorizer, and the expected answer.
#[derive(Clone, Debug)]
struct Access {
    group: String,
    namespace: String,
    verb: &'static str,
    api_group: &'static str,
    resource: &'static str,
    allowed: bool,
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
fn access_checks(tenants: &[(String, String)], auditors: &str) -> Vec<Access> {
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
async fn review(client: &Client, check: &Access) -> kube::Result<bool> {
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

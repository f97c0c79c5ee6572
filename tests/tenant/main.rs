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
    time::{Duration, Instant},
};

use anyhow::ensure;
use futures::{StreamExt, stream};
use k8s_openapi::{
    api::{
        core::v1::{Namespace, PersistentVolumeClaim, ResourceQuota},
        networking::v1::NetworkPolicy,
        rbac::v1::RoleBinding,
    },
    apimachinery::pkg::api::resource::Quantity,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::json;
use socle::api::Member;
use socle_e2e::{
    TestScope, eventually,
    examples::{
        CONVERGE, condition, create_gateway, create_members, example, examples, scoped,
        wait_until_ready,
    },
    operator::{Operator, release_claims},
};

mod checks;

#[allow(clippy::wildcard_imports)] // the checkers the tests below read as one vocabulary
use self::checks::*;

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

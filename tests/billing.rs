//! The billing issue's acceptance, end to end on the real control plane with
//! the 31 example communes: the operator records what it provisions as
//! UsageRecords, once, whatever restarts and replicas; and the statements it
//! keeps in the cluster are, member by member, what the offline engine
//! computes from the same manifests.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::ensure;
use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    jiff::{Zoned, civil::Date},
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use socle::{
    api::{
        ContributionStatement, Member, SharedService, UsageRecord,
        contribution_statement::StatementState,
    },
    billing::statement::statement_name,
    contribution::{Line, Offer, TitleKind},
    manifests::{load_ledger, read_files},
    runtime::watch::SharedMember,
};
use socle_e2e::{
    TestScope, eventually,
    examples::{
        CONVERGE, create_gateway, create_members, manifests, scoped, tenant_only, wait_until_ready,
    },
    operator::Operator,
};

/// Long enough for a replica that was still computing to have written.
const QUIET: std::time::Duration = std::time::Duration::from_secs(5);

/// The operator records each member's subscription days and storage, with
/// an operator restarted while it records and a second replica doing the
/// same work at the same time: every fact exactly once, none corrected (no
/// value changed), each with the value the Member's spec says.
#[tokio::test]
async fn provisioning_is_recorded_once_despite_a_restart_and_a_second_replica() {
    let scope = TestScope::new("billing_metering").await;
    let client = scope.client();
    let mut operator = Operator::start_with_billing(&scope).await;
    let namespace = operator.namespace().to_owned();
    let replica = operator.replica();
    let gateway = create_gateway(&scope).await;
    let ledger = load_ledger(&manifests()).expect("the example manifests load");
    let members = create_scoped_members(&client, &scope, &ledger.members, &gateway).await;
    let records = Api::<UsageRecord>::namespaced(client.clone(), &namespace);
    // Restart the first copy while the records are being written.
    eventually(CONVERGE, || async {
        let count = records
            .list_metadata(&ListParams::default())
            .await?
            .items
            .len();
        ensure!(count > 0, "no UsageRecord yet");
        Ok(())
    })
    .await;
    operator.restart().await;

    let live = wait_until_ready(&client, &scope, &members).await;
    let today = Zoned::now().date();
    let expected: BTreeMap<String, u64> = live
        .iter()
        .flat_map(|member| expected(member, today))
        .collect();
    eventually(CONVERGE, || async {
        let recorded = ours(&records.list(&ListParams::default()).await?.items);
        let missing: Vec<&String> = expected
            .keys()
            .filter(|n| !recorded.contains_key(*n))
            .collect();
        ensure!(
            missing.is_empty(),
            "{} records missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        Ok(())
    })
    .await;
    replica.stop().await;
    tokio::time::sleep(QUIET).await;

    let all = records.list(&ListParams::default()).await.unwrap().items;
    let corrections: Vec<String> = all
        .iter()
        .filter(|r| r.spec.corrects.is_some())
        .map(ResourceExt::name_any)
        .collect();
    assert!(
        corrections.is_empty(),
        "nothing changed, yet corrections: {corrections:?}"
    );
    assert_eq!(
        ours(&all),
        expected,
        "the recorded facts, by name and quantity"
    );
    for record in &all {
        assert_eq!(record.spec.source, "socle", "{}", record.name_any());
        assert_eq!(
            record.labels().get("socle.redon-agglomeration.bzh/member"),
            Some(&record.spec.member),
            "{}",
            record.name_any()
        );
    }
    println!("{} UsageRecords for 31 members, each once", all.len());
    operator.stop().await;
    scope.cleanup().await;
}

/// A member's titles of an exercise, by kind: total and lines, in cents.
type Titles = BTreeMap<(String, TitleKind), (i64, Vec<(String, i64)>)>;

/// The statements the operator keeps for 2026 are, line by line and to the
/// cent, what `socle contribution` computes offline from manifests/examples.
#[tokio::test]
async fn cluster_statements_equal_the_offline_engine_member_by_member() {
    let scope = TestScope::new("billing_statements").await;
    let client = scope.client();
    let operator = Operator::start_with_billing(&scope).await;
    let namespace = operator.namespace().to_owned();
    let gateway = create_gateway(&scope).await;
    let ledger = load_ledger(&manifests()).expect("the example manifests load");
    let offline = ledger.compute(2026);
    assert!(offline.errors.is_empty(), "{:?}", offline.errors);
    // One statement per member owing something for 2026 (an audit delivered
    // in 2025 is not owed again).
    assert!(
        offline.statements.len() >= 30,
        "{} statements",
        offline.statements.len()
    );
    create_usage(&client, &scope, &namespace).await;
    create_group_purchases(&client, &scope, &ledger.services).await;
    create_scoped_members(&client, &scope, &ledger.members, &gateway).await;

    let statements = Api::<ContributionStatement>::namespaced(client.clone(), &namespace);
    // A member's titles of the exercise: the contribution, and the audit
    // on a title of its own when its report was delivered that year.
    let want: Titles = offline
        .statements
        .iter()
        .flat_map(|statement| {
            statement.titles().into_iter().map(|title| {
                (
                    (scope.name(&statement.member), title.kind),
                    (title.total_cents, amounts(&title.lines)),
                )
            })
        })
        .collect();
    eventually(CONVERGE, || async {
        let got: Titles = statements
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|statement| statement.spec.exercise == 2026)
            .map(|statement| {
                let lines = amounts(&statement.spec.lines);
                (
                    (statement.spec.member, statement.spec.title_kind),
                    (statement.spec.total_cents, lines),
                )
            })
            .collect();
        let differing: Vec<String> = want
            .iter()
            .filter(|(member, value)| got.get(*member) != Some(value))
            .map(|(member, value)| {
                format!(
                    "{member:?}: cluster {:?}, offline {value:?}",
                    got.get(member)
                )
            })
            .collect();
        ensure!(
            differing.is_empty(),
            "{} statements differ: {differing:#?}",
            differing.len()
        );
        ensure!(
            got.len() == want.len(),
            "extra statements: {:?}",
            got.keys()
                .filter(|m| !want.contains_key(*m))
                .collect::<Vec<_>>()
        );
        Ok(())
    })
    .await;
    let total: i64 = want.values().map(|(total, _)| total).sum();
    println!(
        "{} statements for 2026 equal the offline engine's, {total} cents in all",
        want.len()
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// The finance department's statements are theirs once Issued: a new fact
/// for that member leaves its statement as issued (the API server would
/// refuse the write anyway), while the other members' Drafts keep following
/// their facts. A Draft under socle's name that the engine no longer
/// produces is withdrawn; one made by hand under another name is left alone.
#[tokio::test]
async fn issued_statements_are_frozen_and_stale_drafts_withdrawn() {
    let scope = TestScope::new("billing_issued").await;
    let client = scope.client();
    let operator = Operator::start_with_billing(&scope).await;
    let namespace = operator.namespace().to_owned();
    let statements = Api::<ContributionStatement>::namespaced(client.clone(), &namespace);
    // Béganne has subscribed since 2025; Saint-Just here only from 2026, so
    // it owes nothing for 2025.
    let issued_member = tenant_only(&scope, "beganne");
    let mut draft_member = tenant_only(&scope, "saint-just");
    for subscription in &mut draft_member.spec.subscriptions {
        subscription.effective_date = "2026-01-01".parse().unwrap();
    }
    let members = [issued_member.clone(), draft_member.clone()];
    create_members(&client, &members).await;
    wait_until_ready(&client, &scope, &members).await;
    let (issued_name, draft_name, stale_name) = (
        statement_name(&issued_member.name_any(), 2026),
        statement_name(&draft_member.name_any(), 2026),
        statement_name(&draft_member.name_any(), 2025),
    );
    let first_total = eventually(CONVERGE, || async {
        statements.get(&issued_name).await?;
        Ok(statements.get(&draft_name).await?.spec.total_cents)
    })
    .await;
    assert!(
        statements.get_opt(&stale_name).await.unwrap().is_none(),
        "a member subscribed from 2026 has no 2025 statement"
    );

    // Finance issues Béganne's title.
    let issued = statements
        .patch(
            &issued_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "state": "Issued", "titleNumber": "T-2026-0042", "issuedOn": "2026-11-30"
            }})),
        )
        .await
        .expect("issuing the statement");
    assert_issued_cannot_be_deleted(&statements, &issued_name, "T-2026-0042").await;
    // Two Drafts made by hand for a year Saint-Just owes nothing: one under
    // the name socle gives statements, one under another.
    let by_hand = |name: &str| {
        let mut statement = issued.clone();
        statement.metadata = ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        };
        statement.spec.member = draft_member.name_any();
        statement.spec.exercise = 2025;
        statement.spec.state = StatementState::Draft;
        statement.spec.title_number = None;
        statement.spec.issued_on = None;
        statement
    };
    let manual_name = format!("{stale_name}-correction");
    for statement in [by_hand(&stale_name), by_hand(&manual_name)] {
        statements
            .create(&PostParams::default(), &statement)
            .await
            .expect("creating a Draft by hand");
    }

    // A Level-1 mission for each of them, beyond any bracket's allowance (at
    // most 13 half-days), so it is billed.
    let records = Api::<UsageRecord>::namespaced(client.clone(), &namespace);
    for member in &members {
        let record: UsageRecord = serde_json::from_value(json!({
            "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1",
            "kind": "UsageRecord",
            "metadata": {"name": format!("{}-mission", member.name_any()), "namespace": namespace},
            "spec": {
                "member": member.name_any(), "meter": "level1-half-days", "quantity": 20,
                "unit": "half-day", "exercise": 2026,
                "period": {"start": "2026-11-02", "end": "2026-11-13"},
                "source": "dsi", "evidence": "MISSION-2026-117"
            }
        }))
        .unwrap();
        records
            .create(&PostParams::default(), &record)
            .await
            .expect("creating a UsageRecord");
    }
    eventually(CONVERGE, || async {
        let total = statements.get(&draft_name).await?.spec.total_cents;
        ensure!(total > first_total, "the Draft still totals {total} cents");
        ensure!(
            statements.get_opt(&stale_name).await?.is_none(),
            "the stale Draft {stale_name} is still there"
        );
        Ok(())
    })
    .await;
    let now = statements.get(&issued_name).await.unwrap();
    assert_eq!(now.spec, issued.spec, "the Issued statement changed");
    assert!(
        statements.get_opt(&manual_name).await.unwrap().is_some(),
        "the Draft made by hand under its own name was deleted"
    );
    operator.stop().await;
    scope.cleanup().await;
}

/// A titre de recettes cannot be deleted, whoever asks (once the scope's
/// copy of the shipped policy is in force: dry runs until then).
async fn assert_issued_cannot_be_deleted(
    statements: &Api<ContributionStatement>,
    issued_name: &str,
    title: &str,
) {
    let dry_run = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    eventually(CONVERGE, || async {
        let answer = statements.delete(issued_name, &dry_run).await;
        ensure!(answer.is_err(), "the policy is not in force yet");
        Ok(())
    })
    .await;
    let refused = statements
        .delete(issued_name, &DeleteParams::default())
        .await
        .expect_err("deleting an Issued statement");
    assert!(
        matches!(&refused, kube::Error::Api(status) if status.code == 403
            && status.message.contains(&format!("is Issued (titre de recettes {title})"))),
        "{refused}"
    );
}

/// What the operator must have recorded for `member` by `today`, from its
/// spec alone: subscription days per offer for last year and for this
/// year's completed months (one record each), counted day by day, and this
/// month's data volume in GiB.
fn expected(member: &Member, today: Date) -> Vec<(String, u64)> {
    let name = member.name_any();
    let mut facts = Vec::new();
    let this_month = today.first_of_month();
    for exercise in [today.year() - 1, today.year()] {
        for (offer, code) in [
            (Offer::Audit, "audit"),
            (Offer::GroupementAchats, "groupement-achats"),
            (Offer::SocleComplet, "socle-complet"),
        ] {
            let mut days = 0;
            let mut day = Date::new(exercise, 1, 1).unwrap();
            while day < this_month && day.year() == exercise {
                let subscribed = member.spec.subscriptions.iter().any(|s| {
                    s.offer == offer
                        && s.effective_date <= day
                        && s.end_date.is_none_or(|end| day <= end)
                });
                days += u64::from(subscribed);
                day = day.tomorrow().unwrap();
            }
            if days > 0 {
                facts.push((format!("{name}-subscription-days-{code}-{exercise}"), days));
            }
        }
    }
    if let Some(storage) = member.spec.tenant.as_ref().and_then(|t| t.storage.as_ref()) {
        let gib = storage
            .size
            .0
            .strip_suffix("Gi")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("the examples' sizes are whole Gi: {}", storage.size.0));
        facts.push((
            format!("{name}-storage-gib-months-{}", this_month.strftime("%Y-%m")),
            gib,
        ));
    }
    facts
}

/// The records about this scope's facts, by name, with their quantity.
/// Seats of SharedServices of other tests running at the same time (the
/// example VPN gateway selects members by label, so theirs select ours too)
/// are left out: they come and go with those tests.
fn ours(records: &[UsageRecord]) -> BTreeMap<String, u64> {
    records
        .iter()
        .filter(|record| record.spec.meter != "seats")
        .map(|record| (record.name_any(), record.spec.quantity))
        .collect()
}

/// A statement's lines as (code, amount in cents).
fn amounts(lines: &[Line]) -> Vec<(String, i64)> {
    lines
        .iter()
        .map(|line| (format!("{:?}", line.code), line.amount_cents))
        .collect()
}

/// The example Members, renamed into the scope (their VPN ending on
/// `gateway`), created; returns them as created.
async fn create_scoped_members(
    client: &Client,
    scope: &TestScope,
    members: &[SharedMember],
    gateway: &SharedService,
) -> Vec<Member> {
    let members: Vec<Member> = members
        .iter()
        .map(|member| scoped(scope, (**member).clone(), &gateway.name_any()))
        .collect();
    create_members(client, &members).await;
    members
}

/// The example UsageRecords, as objects: the ledger holds only what the
/// engine reads of them.
fn example_usage() -> Vec<UsageRecord> {
    read_files(&manifests())
        .expect("the example manifests read")
        .iter()
        .flat_map(|file| file.documents().expect("the example manifests parse"))
        .filter(|document| {
            document
                .socle_kind()
                .is_some_and(|(_, kind)| kind == "UsageRecord")
        })
        .map(|document| serde_yaml::from_value(document.value).expect("an example UsageRecord"))
        .collect()
}

/// The example UsageRecords, renamed into the scope, in `namespace`.
async fn create_usage(client: &Client, scope: &TestScope, namespace: &str) {
    let api = Api::<UsageRecord>::namespaced(client.clone(), namespace);
    let usage = example_usage();
    assert!(!usage.is_empty(), "the examples have UsageRecords");
    for mut record in usage {
        record.metadata.name = Some(scope.name(&record.name_any()));
        record.metadata.namespace = Some(namespace.to_owned());
        record.spec.member = scope.name(&record.spec.member);
        api.create(&PostParams::default(), &record)
            .await
            .unwrap_or_else(|error| panic!("creating UsageRecord {}: {error}", record.name_any()));
    }
}

/// The example group purchases, renamed into the scope with their named
/// subscribers, so their cost is split among this scope's members only.
async fn create_group_purchases(client: &Client, scope: &TestScope, services: &[SharedService]) {
    let api = Api::<SharedService>::all(client.clone());
    let mut created = BTreeSet::new();
    for service in services.iter().filter(|s| s.spec.contract.is_some()) {
        let mut service = service.clone();
        service.metadata = scope.meta(&service.name_any());
        for seat in &mut service.spec.subscribers.members {
            seat.member = scope.name(&seat.member);
        }
        api.create(&PostParams::default(), &service)
            .await
            .unwrap_or_else(|error| {
                panic!("creating SharedService {}: {error}", service.name_any())
            });
        created.insert(service.name_any());
    }
    assert!(!created.is_empty(), "the examples have a group purchase");
}

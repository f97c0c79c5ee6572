//! The socle API on the real API server: the CRDs install and are served,
//! every example manifest is accepted, the mistakes a DSI technician makes are
//! refused with a message naming the field and the rule, evidence and issued
//! statements cannot be rewritten, `kubectl get members` prints the commune's
//! identity, and status is written only through the status subresource.
//!
//! No operator runs here: what these tests observe is the API server's own
//! doing, from the schemas and CEL rules of `socle::api`.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams, Request},
};
use serde_json::{Value, json};
use socle::api::{ContributionStatement, DrillReport, Member, UsageRecord};
use socle_e2e::TestScope;

mod fixtures;
mod mistakes;

use self::{
    fixtures::{
        KINDS, apply_params, assert_refused, conditions, dynamic_api, edit, example, examples,
        install_crds, missing, ready, scoped, typed,
    },
    mistakes::{BASES, Base, MISTAKES},
};

#[tokio::test]
async fn crds_install_idempotently_and_become_established() {
    let scope = TestScope::new("crds_install_and_become_established").await;
    let client = scope.client();
    let installed = install_crds(&client).await;

    let mut names: Vec<String> = installed.iter().map(ResourceExt::name_any).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contributionstatements.socle.redon-agglomeration.bzh",
            "drillreports.socle.redon-agglomeration.bzh",
            "members.socle.redon-agglomeration.bzh",
            "qualityrecords.socle.redon-agglomeration.bzh",
            "sharedservices.socle.redon-agglomeration.bzh",
            "tariffs.socle.redon-agglomeration.bzh",
            "usagerecords.socle.redon-agglomeration.bzh",
        ]
    );
    // Installing again (every test does, and so does every deployment) does
    // not change the definitions.
    let again = install_crds(&client).await;
    for (first, second) in installed.iter().zip(&again) {
        assert_eq!(
            first.metadata.generation,
            second.metadata.generation,
            "applying {} again changed its spec",
            first.name_any()
        );
    }
    // The names kubectl uses were all granted: no conflict with another API.
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in &again {
        let stored = crds.get(&crd.name_any()).await.unwrap();
        let accepted = stored
            .status
            .and_then(|status| status.accepted_names)
            .unwrap_or_else(|| panic!("{} has no accepted names", crd.name_any()));
        assert_eq!(accepted.plural, crd.spec.names.plural);
        assert_eq!(accepted.short_names, crd.spec.names.short_names);
        assert_eq!(
            accepted.categories.as_deref(),
            Some(&["socle".to_owned()][..])
        );
    }
    // Every kind is served: `kubectl get <kind>` answers.
    for kind in KINDS {
        dynamic_api(&client, kind, "default")
            .list(&ListParams::default().limit(1))
            .await
            .unwrap_or_else(|error| panic!("listing {kind}: {error}"));
    }
    scope.cleanup().await;
}

#[tokio::test]
async fn every_example_manifest_applies_cleanly() {
    let scope = TestScope::new("every_example_applies").await;
    let client = scope.client();
    install_crds(&client).await;
    let namespace = scope.create_namespace("examples").await;

    let examples = examples();
    let count = |kind: &str| {
        examples
            .iter()
            .filter(|(_, document)| document["kind"] == kind)
            .count()
    };
    assert_eq!(count("Member"), 31, "the 31 communes of the agglomeration");
    for kind in ["SharedService", "Tariff", "UsageRecord"] {
        assert!(count(kind) >= 1, "no {kind} among the examples");
    }
    let mut failures = Vec::new();
    for (file, document) in &examples {
        let kind = document["kind"].as_str().unwrap_or_default();
        let original = document["metadata"]["name"].as_str().unwrap_or_default();
        assert!(
            KINDS.contains(&kind),
            "{}: {kind} {original} is not a socle kind",
            file.display()
        );
        let object = scoped(&scope, document, original, &namespace);
        let name = scope.name(original);
        let answer = dynamic_api(&client, kind, &namespace)
            .patch(&name, &apply_params().dry_run(), &Patch::Apply(&object))
            .await;
        let where_ = format!("{} ({kind} {original})", file.display());
        match answer {
            Err(error) => failures.push(format!("{where_}: refused: {error}")),
            Ok(stored) => {
                let stored = serde_json::to_value(stored).expect("an object serializes");
                // Nothing the technician wrote is dropped or rewritten.
                let mut lost = Vec::new();
                missing(&document["spec"], &stored["spec"], "spec", &mut lost);
                if !lost.is_empty() {
                    failures.push(format!("{where_}: not stored as written: {lost:?}"));
                }
                // The operator reads what the API server stores.
                if let Err(error) = typed(kind, stored) {
                    failures.push(format!("{where_}: the operator cannot read it: {error}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    scope.cleanup().await;
}

#[tokio::test]
async fn invalid_manifests_are_refused_naming_the_field_and_the_rule() {
    let scope = TestScope::new("invalid_manifests_are_refused").await;
    let client = scope.client();
    install_crds(&client).await;
    let namespace = scope.create_namespace("invalid").await;
    let dry_run = |kind: &str, object: &Value| {
        let api = dynamic_api(&client, kind, &namespace);
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let object = object.clone();
        async move {
            api.patch(&name, &apply_params().dry_run(), &Patch::Apply(&object))
                .await
        }
    };

    // Each mistake starts from a manifest the API server accepts, so that it
    // is refused for that mistake and nothing else.
    for base in BASES {
        let object = scoped(&scope, &base.document(), "base", &namespace);
        let kind = base.kind();
        if let Err(error) = dry_run(&kind, &object).await {
            panic!("the base {base:?} of the invalid cases is refused: {error}");
        }
    }
    let mut failures = Vec::new();
    for (index, mistake) in MISTAKES.iter().enumerate() {
        let mut document = mistake.base.document();
        for (path, value) in mistake.edits {
            edit(&mut document, path, value);
        }
        let object = scoped(&scope, &document, &format!("mistake-{index}"), &namespace);
        let what = format!("#{index} {}", mistake.what);
        match dry_run(&mistake.base.kind(), &object).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(status)) => {
                let absent: Vec<&str> = mistake
                    .expect
                    .iter()
                    .copied()
                    .filter(|expected| !status.message.contains(expected))
                    .collect();
                // A value of the wrong type is refused before validation, by
                // server-side apply's typed conversion, which kube-apiserver
                // reports as 500 (kubernetes/kubernetes#139253).
                let typed_patch = status.code == 500
                    && status
                        .message
                        .starts_with("failed to create typed patch object");
                let refused = [400, 422].contains(&status.code) || typed_patch;
                if !refused || !absent.is_empty() {
                    failures.push(format!(
                        "{what}: {} {:?} lacks {absent:?}",
                        status.code, status.message
                    ));
                }
            }
            Err(error) => failures.push(format!("{what}: not an API error: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} mistakes not refused as expected:\n{}",
        failures.len(),
        MISTAKES.len(),
        failures.join("\n")
    );
    scope.cleanup().await;
}

#[tokio::test]
async fn usage_record_cannot_change_but_can_be_corrected() {
    let scope = TestScope::new("usage_record_cannot_change").await;
    let client = scope.client();
    install_crds(&client).await;
    let namespace = scope.create_namespace("usage").await;
    let records = Api::<UsageRecord>::namespaced(client.clone(), &namespace);
    let original = Base::Level1Usage.document();
    let name = scope.name("level1");
    let record = scoped(&scope, &original, "level1", &namespace);

    let created = records
        .patch(&name, &apply_params(), &Patch::Apply(&record))
        .await
        .expect("a new UsageRecord is accepted");
    // A retry writes the same fact under the same name: accepted, no write.
    let retried = records
        .patch(&name, &apply_params(), &Patch::Apply(&record))
        .await
        .expect("writing the same fact again is accepted");
    assert_eq!(retried.resource_version(), created.resource_version());

    let mut edited = record.clone();
    edited["spec"]["quantity"] = json!(18);
    let by_apply = records
        .patch(&name, &apply_params(), &Patch::Apply(&edited))
        .await;
    let by_edit = records
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"evidence": "Autre mission"}})),
        )
        .await;
    for refused in [by_apply.map(drop), by_edit.map(drop)] {
        assert_refused(
            refused,
            &["spec", "a UsageRecord is immutable", "spec.corrects"],
        );
    }
    let stored = records.get(&name).await.unwrap();
    assert_eq!(stored.spec.quantity, 16, "a refused change changes nothing");
    assert_eq!(stored.resource_version(), created.resource_version());

    // What the message says to do instead is accepted.
    let mut correction = scoped(&scope, &original, "level1-correction", &namespace);
    correction["spec"]["quantity"] = json!(18);
    correction["spec"]["corrects"] = json!(name);
    records
        .patch(
            &scope.name("level1-correction"),
            &apply_params(),
            &Patch::Apply(&correction),
        )
        .await
        .expect("a correcting record is accepted");
    scope.cleanup().await;
}

#[tokio::test]
async fn issued_statement_is_frozen_while_a_draft_can_change() {
    let scope = TestScope::new("issued_statement_is_frozen").await;
    let client = scope.client();
    install_crds(&client).await;
    let namespace = scope.create_namespace("statements").await;
    let statements = Api::<ContributionStatement>::namespaced(client.clone(), &namespace);
    let name = scope.name("allaire-2026");
    let draft = scoped(
        &scope,
        &Base::Statement.document(),
        "allaire-2026",
        &namespace,
    );
    statements
        .patch(&name, &apply_params(), &Patch::Apply(&draft))
        .await
        .expect("a Draft statement is accepted");
    let edit = |patch: Value| {
        let statements = statements.clone();
        let name = name.clone();
        async move {
            statements
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
        }
    };

    // While the exercise runs, the operator keeps the draft up to date.
    let updated = edit(json!({"spec": {"lines": [], "totalCents": 0}}))
        .await
        .expect("a Draft statement can change");
    assert_eq!(updated.spec.total_cents, 0);
    edit(json!({"spec": {"lines": draft["spec"]["lines"], "totalCents": 831_250}}))
        .await
        .expect("a Draft statement can change back");
    // The finance department titles it.
    let issued = edit(json!({"spec": {
        "state": "Issued", "titleNumber": "2026-0042", "issuedOn": "2026-02-15",
    }}))
    .await
    .expect("a Draft statement can be issued");

    let frozen = ["Issued", "titre de recettes", "can no longer change"];
    assert_refused(
        edit(json!({"spec": {"totalCents": 800_000}}))
            .await
            .map(drop),
        &frozen,
    );
    assert_refused(
        edit(json!({"spec": {"state": "Draft"}})).await.map(drop),
        &frozen,
    );
    let mut reapplied = draft.clone();
    reapplied["spec"]["state"] = json!("Issued");
    reapplied["spec"]["titleNumber"] = json!("2026-0043");
    reapplied["spec"]["issuedOn"] = json!("2026-02-15");
    assert_refused(
        statements
            .patch(&name, &apply_params().force(), &Patch::Apply(&reapplied))
            .await
            .map(drop),
        &frozen,
    );
    let stored = statements.get(&name).await.unwrap();
    assert_eq!(stored.spec, issued.spec, "a refused change changes nothing");
    scope.cleanup().await;
}

#[tokio::test]
async fn drill_report_cannot_change() {
    let scope = TestScope::new("drill_report_cannot_change").await;
    let client = scope.client();
    install_crds(&client).await;
    let namespace = scope.create_namespace("drills").await;
    let reports = Api::<DrillReport>::namespaced(client.clone(), &namespace);
    let name = scope.name("drill");
    let report = scoped(&scope, &Base::Drill.document(), "drill", &namespace);
    let created = reports
        .patch(&name, &apply_params(), &Patch::Apply(&report))
        .await
        .expect("a DrillReport is accepted");

    let evidence = ["spec", "a DrillReport is evidence: it cannot be changed"];
    let by_edit = reports
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"verdict": "Failed"}})),
        )
        .await;
    assert_refused(by_edit.map(drop), &evidence);
    let mut faster = report.clone();
    faster["spec"]["measuredRtoSeconds"] = json!(60);
    let by_apply = reports
        .patch(&name, &apply_params(), &Patch::Apply(&faster))
        .await;
    assert_refused(by_apply.map(drop), &evidence);
    let stored = reports.get(&name).await.unwrap();
    assert_eq!(
        stored.spec, created.spec,
        "a refused change changes nothing"
    );
    scope.cleanup().await;
}

#[tokio::test]
async fn kubectl_get_members_shows_commune_insee_population_offer_and_readiness() {
    let scope = TestScope::new("kubectl_get_members_table").await;
    let client = scope.client();
    install_crds(&client).await;
    let members = Api::<Member>::all(client.clone());
    for (file, name) in [
        ("members/allaire.yaml", "allaire"),
        ("members/avessac.yaml", "avessac"),
    ] {
        let member = scoped(&scope, &example(file, name), name, "");
        members
            .patch(&scope.name(name), &apply_params(), &Patch::Apply(&member))
            .await
            .unwrap_or_else(|error| panic!("applying {name}: {error}"));
    }
    members
        .patch_status(
            &scope.name("allaire"),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [ready("True")]}})),
        )
        .await
        .expect("a status patch");

    let mut request = Request::new(Member::url_path(&(), None))
        .list(&ListParams::default().labels(&scope.selector()))
        .expect("a list request");
    request.headers_mut().insert(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io"
            .parse()
            .expect("a header value"),
    );
    let text = client.request_text(request).await.expect("the Table view");
    let table: Value = serde_json::from_str(&text).expect("a JSON Table");
    assert_eq!(table["kind"], "Table", "{table:#}");
    let columns = table["columnDefinitions"].as_array().expect("columns");
    let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    // kubectl prints them upper-cased: NAME COMMUNE INSEE POPULATION OFFER READY AGE.
    assert_eq!(
        names,
        [
            "Name",
            "Commune",
            "INSEE",
            "Population",
            "Offer",
            "Ready",
            "Age"
        ]
    );
    assert!(
        columns.iter().all(|column| column["priority"] == 0),
        "every column shows without -o wide: {columns:#?}"
    );
    let rows: BTreeMap<&str, &[Value]> = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| {
            let cells = row["cells"].as_array()?;
            Some((cells.first()?.as_str()?, cells.as_slice()))
        })
        .collect();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let allaire = rows[scope.name("allaire").as_str()];
    // The latest subscription, not the first (Allaire's audit came first).
    assert_eq!(
        allaire[1..6],
        [
            json!("Allaire"),
            json!("56001"),
            json!(3875),
            json!("SocleComplet"),
            json!("True")
        ]
    );
    let avessac = rows[scope.name("avessac").as_str()];
    assert_eq!(
        avessac[1..5],
        [
            json!("Avessac"),
            json!("44007"),
            json!(2450),
            json!("GroupementAchats")
        ]
    );
    assert_eq!(avessac[5], Value::Null, "no Ready condition: an empty cell");
    for row in [allaire, avessac] {
        let age = row[6].as_str().unwrap_or_default();
        assert!(
            age.starts_with(|c: char| c.is_ascii_digit()),
            "an age such as 5s: {row:?}"
        );
    }
    scope.cleanup().await;
}

#[tokio::test]
async fn status_changes_only_through_the_status_subresource() {
    let scope = TestScope::new("status_only_through_subresource").await;
    let client = scope.client();
    install_crds(&client).await;
    let members = Api::<Member>::all(client.clone());
    let name = scope.name("avessac");
    let mut member = scoped(
        &scope,
        &example("members/avessac.yaml", "avessac"),
        "avessac",
        "",
    );
    // A manifest that claims readiness, as if copied from `kubectl get -o yaml`.
    member["status"] = json!({"observedGeneration": 1, "conditions": [ready("True")]});

    let created = members
        .patch(&name, &apply_params(), &Patch::Apply(&member))
        .await
        .expect("applying the Member");
    assert_eq!(conditions(&created), Vec::<(String, String)>::new());
    assert_eq!(created.metadata.generation, Some(1));

    // The status subresource writes status, and only status.
    let reported = members
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "spec": {"displayName": "Changed through /status"},
                "status": {"observedGeneration": 1, "conditions": [ready("True")]},
            })),
        )
        .await
        .expect("a status patch");
    assert_eq!(
        conditions(&reported),
        [("Ready".to_owned(), "True".to_owned())]
    );
    assert_eq!(reported.spec.display_name, "Avessac");
    assert_eq!(reported.metadata.generation, Some(1), "status is not spec");

    // The main resource writes spec, and never status: by apply…
    member["spec"]["population"]["count"] = json!(2500);
    member["status"] = json!({"observedGeneration": 2, "conditions": [ready("False")]});
    let applied = members
        .patch(&name, &apply_params(), &Patch::Apply(&member))
        .await
        .expect("applying the Member again");
    // …and by edit.
    let edited = members
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "spec": {"displayName": "Avessac (Loire-Atlantique)"},
                "status": {"conditions": []},
            })),
        )
        .await
        .expect("editing the Member");
    for (how, changed) in [("apply", &applied), ("edit", &edited)] {
        assert_eq!(
            conditions(changed),
            [("Ready".to_owned(), "True".to_owned())],
            "{how} of the main resource changed the status"
        );
        assert_eq!(changed.spec.population.count, 2500, "{how}");
    }
    assert_eq!(edited.spec.display_name, "Avessac (Loire-Atlantique)");
    assert_eq!(edited.metadata.generation, Some(3));
    scope.cleanup().await;
}

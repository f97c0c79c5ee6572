//! The socle API on the real API server: the CRDs install and are served,
//! every example manifest is accepted, the mistakes a DSI technician makes are
//! refused with a message naming the field and the rule, evidence and issued
//! statements cannot be rewritten, `kubectl get members` prints the commune's
//! identity, and status is written only through the status subresource.
//!
//! No operator runs here: what these tests observe is the API server's own
//! doing, from the schemas and CEL rules of `socle::api`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::ensure;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{
        ApiResource, DynamicObject, ListParams, Patch, PatchParams, Request, ValidationDirective,
    },
};
use serde_json::{Value, json};
use socle::api::{ContributionStatement, DrillReport, Member, SharedService, Tariff, UsageRecord};
use socle_e2e::{TestScope, eventually};

/// Field manager of everything these tests apply.
const MANAGER: &str = "socle-e2e";
/// How long a CRD may take to be Established on a loaded 2-core machine.
const ESTABLISH: Duration = Duration::from_secs(60);
/// The kinds whose objects live in a namespace; the others are cluster-scoped.
const NAMESPACED: [&str; 3] = ["UsageRecord", "ContributionStatement", "DrillReport"];

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

/// The six socle kinds.
const KINDS: [&str; 6] = [
    "Member",
    "SharedService",
    "Tariff",
    "UsageRecord",
    "ContributionStatement",
    "DrillReport",
];

/// Installs the CRDs as a deployment does (server-side apply; forced, since
/// these are this build's definitions whoever applied them before) and waits
/// until each is Established. Never deletes them: other tests use them.
async fn install_crds(client: &Client) -> Vec<CustomResourceDefinition> {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let mut installed = Vec::new();
    for crd in socle::api::crds() {
        let name = crd.name_any();
        let applied = crds
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|error| panic!("installing CRD {name}: {error}"));
        installed.push(applied);
    }
    eventually(ESTABLISH, || async {
        for crd in &installed {
            let name = crd.name_any();
            let conditions = crds
                .get(&name)
                .await?
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default();
            for wanted in ["NamesAccepted", "Established"] {
                ensure!(
                    conditions
                        .iter()
                        .any(|c| c.type_ == wanted && c.status == "True"),
                    "{name} is not {wanted}: {conditions:?}"
                );
            }
        }
        Ok(())
    })
    .await;
    installed
}

/// Server-side apply as `kubectl apply --server-side` does it: a field that
/// the schema does not declare is an error, not silently dropped.
fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).validation(ValidationDirective::Strict)
}

/// A dynamic client for `kind`, in `namespace` if the kind is namespaced.
fn dynamic_api(client: &Client, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let resource = match kind {
        "Member" => ApiResource::erase::<Member>(&()),
        "SharedService" => ApiResource::erase::<SharedService>(&()),
        "Tariff" => ApiResource::erase::<Tariff>(&()),
        "UsageRecord" => ApiResource::erase::<UsageRecord>(&()),
        "ContributionStatement" => ApiResource::erase::<ContributionStatement>(&()),
        "DrillReport" => ApiResource::erase::<DrillReport>(&()),
        other => panic!("{other} is not a socle kind"),
    };
    if NAMESPACED.contains(&kind) {
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    }
}

/// Reads `object` as the operator does, with the Rust type of its kind.
fn typed(kind: &str, object: Value) -> serde_json::Result<()> {
    match kind {
        "Member" => serde_json::from_value::<Member>(object).map(drop),
        "SharedService" => serde_json::from_value::<SharedService>(object).map(drop),
        "Tariff" => serde_json::from_value::<Tariff>(object).map(drop),
        "UsageRecord" => serde_json::from_value::<UsageRecord>(object).map(drop),
        "ContributionStatement" => {
            serde_json::from_value::<ContributionStatement>(object).map(drop)
        }
        "DrillReport" => serde_json::from_value::<DrillReport>(object).map(drop),
        other => panic!("{other} is not a socle kind"),
    }
}

/// `document` made the scope's: named `<base>-<id>`, in `namespace` if its
/// kind is namespaced, and labelled with the scope's labels instead of its
/// own: an operator running on the examples (`cargo xtask demo` selects the
/// Members labelled with their département) must not take the copies.
fn scoped(scope: &TestScope, document: &Value, base: &str, namespace: &str) -> Value {
    let mut object = document.clone();
    let metadata = &mut object["metadata"];
    metadata["name"] = json!(scope.name(base));
    metadata["labels"] = json!(scope.labels());
    let kind = document["kind"].as_str().unwrap_or_default();
    if NAMESPACED.contains(&kind) {
        metadata["namespace"] = json!(namespace);
    }
    object
}

/// Adds to `lost` the paths of `written` that `stored` lacks or holds with
/// another value: what the API server dropped or rewrote.
fn missing(written: &Value, stored: &Value, path: &str, lost: &mut Vec<String>) {
    match (written, stored) {
        (Value::Object(written), Value::Object(stored)) => {
            for (key, value) in written {
                let path = format!("{path}.{key}");
                match stored.get(key) {
                    Some(kept) => missing(value, kept, &path, lost),
                    None => lost.push(path),
                }
            }
        }
        (Value::Array(written), Value::Array(stored)) if written.len() == stored.len() => {
            for (index, (value, kept)) in written.iter().zip(stored).enumerate() {
                missing(value, kept, &format!("{path}[{index}]"), lost);
            }
        }
        _ if written == stored => {}
        _ => lost.push(format!("{path}: {written} became {stored}")),
    }
}

/// Asserts that the API server refused a write as invalid (422) with a
/// message containing each of `expected`.
fn assert_refused(result: kube::Result<()>, expected: &[&str]) {
    match result {
        Ok(()) => panic!("accepted; expected a refusal saying {expected:?}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            for text in expected {
                assert!(
                    status.message.contains(text),
                    "{:?} does not say {text:?}",
                    status.message
                );
            }
        }
        Err(error) => panic!("not an API error: {error}"),
    }
}

/// A Ready condition with status `status` ("True" or "False").
fn ready(status: &str) -> Value {
    json!({
        "type": "Ready",
        "status": status,
        "reason": "Probe",
        "message": "written by the api end-to-end test",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

/// The (type, status) of each condition of `member`.
fn conditions(member: &Member) -> Vec<(String, String)> {
    member
        .status
        .iter()
        .flat_map(|status| &status.conditions)
        .map(|condition| (condition.type_.clone(), condition.status.clone()))
        .collect()
}

/// The directory of the example manifests.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// Every YAML document below the examples directory, with its file, in a
/// stable order.
fn examples() -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "yaml" || extension == "yml")
            {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&examples_dir(), &mut files);
    files.sort();
    files
        .into_iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("reading {}: {error}", file.display()));
            documents(&text)
                .into_iter()
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

/// The documents of a YAML stream, empty ones (comments only) left out.
fn documents(text: &str) -> Vec<Value> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            parts.push(String::new());
        } else if let Some(part) = parts.last_mut() {
            part.push_str(line);
            part.push('\n');
        }
    }
    parts
        .iter()
        .map(|part| yaml(part))
        .filter(|document| !document.is_null())
        .collect()
}

/// The example named `name` in `file` (relative to the examples directory).
fn example(file: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(examples_dir().join(file))
        .unwrap_or_else(|error| panic!("reading example {file}: {error}"));
    documents(&text)
        .into_iter()
        .find(|document| document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {file}"))
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|error| panic!("invalid YAML ({error}):\n{text}"))
}

/// Sets the field at `path` (dot-separated, array indices as numbers) to the
/// YAML `value`; `~` removes the field.
fn edit(document: &mut Value, path: &str, value: &str) {
    let value = yaml(value);
    let (parent_path, last) = path.rsplit_once('.').expect("a path below the root");
    let mut parent = document;
    for segment in parent_path.split('.') {
        let child = match segment.parse::<usize>() {
            Ok(index) => parent.get_mut(index),
            Err(_) => parent.get_mut(segment),
        };
        parent = child.unwrap_or_else(|| panic!("{path}: no {segment}"));
    }
    match (parent, last.parse::<usize>()) {
        (Value::Array(items), Ok(index)) if value.is_null() => {
            items.remove(index);
        }
        (Value::Array(items), Ok(index)) => items[index] = value,
        (Value::Object(fields), _) if value.is_null() => {
            fields
                .remove(last)
                .unwrap_or_else(|| panic!("{path}: nothing to remove"));
        }
        (Value::Object(fields), _) => {
            fields.insert(last.to_owned(), value);
        }
        (other, _) => panic!("{path}: cannot set a field of {other}"),
    }
}

/// A manifest the API server accepts, from which each mistake starts.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// A 3 875-inhabitant commune: an audit, then the socle complet; VPN and backups.
    Allaire,
    /// 9 312 inhabitants and its own IT department: priced by a tariffOverride.
    Redon,
    /// The Datacenter's WireGuard hub.
    VpnGateway,
    /// Where Velero stores the backups.
    BackupTarget,
    /// The office-suite licences bought together.
    GroupPurchase,
    /// The convention's price grid.
    Tariff,
    /// Level-1 half-days entered by the DSI.
    Level1Usage,
    /// A draft contribution statement.
    Statement,
    /// A passed restore drill.
    Drill,
}

const BASES: [Base; 9] = [
    Base::Allaire,
    Base::Redon,
    Base::VpnGateway,
    Base::BackupTarget,
    Base::GroupPurchase,
    Base::Tariff,
    Base::Level1Usage,
    Base::Statement,
    Base::Drill,
];

impl Base {
    fn document(self) -> Value {
        match self {
            Self::Allaire => example("members/allaire.yaml", "allaire"),
            Self::Redon => example("members/redon.yaml", "redon"),
            Self::VpnGateway => example("shared-services.yaml", "vpn-datacenter"),
            Self::BackupTarget => example("shared-services.yaml", "sauvegarde-datacenter"),
            Self::GroupPurchase => example("shared-services.yaml", "bureautique-groupement"),
            Self::Tariff => example("tariff.yaml", "convention-cadre"),
            Self::Level1Usage => example(
                "usage/level1-2026.yaml",
                "allaire-level1-half-days-2026-03-12",
            ),
            Self::Statement => yaml(STATEMENT),
            Self::Drill => yaml(DRILL_REPORT),
        }
    }

    fn kind(self) -> String {
        self.document()["kind"].as_str().expect("a kind").to_owned()
    }
}

/// Allaire's 2026 statement while the exercise runs.
const STATEMENT: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: ContributionStatement
metadata:
  name: allaire-2026
spec:
  member: allaire
  exercise: 2026
  debtor: Allaire
  inseeCode: "56001"
  state: Draft
  tariff: convention-cadre
  lines:
    - code: SOCLE_COMPLET_FIXE
      label: Socle complet, part fixe (de 3000 à 8000 habitants)
      quantity: 1
      unitPriceCents: 250000
      amountCents: 250000
      legalBasis: art. 7.1
      imputation: "70846"
    - code: SOCLE_COMPLET_VARIABLE
      label: Socle complet, part par habitant
      quantity: 3875
      unitPriceCents: 150
      amountCents: 581250
      legalBasis: art. 7.1
      imputation: "70846"
  totalCents: 831250
"#;

/// A restore drill of Allaire's tenant that met its targets.
const DRILL_REPORT: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: DrillReport
metadata:
  name: allaire-drill-2026-03
spec:
  member: allaire
  backup: allaire-20260301030000
  sandboxNamespace: drill-allaire-20260301
  startedAt: "2026-03-01T03:00:00Z"
  finishedAt: "2026-03-01T03:07:30Z"
  itemsRestored: 42
  checks:
    - name: ConfigMap count
      verdict: Passed
      detail: expected 12, found 12
  measuredRtoSeconds: 450
  measuredRpoSeconds: 3600
  rtoTargetSeconds: 14400
  rpoTargetSeconds: 14400
  verdict: Passed
"#;

/// A mistake a technician could make, and what the API server must say.
struct Mistake {
    what: &'static str,
    base: Base,
    /// (path, YAML value) edits of the base; `~` removes the field.
    edits: &'static [(&'static str, &'static str)],
    /// What the message must contain: the field, and the rule it breaks.
    expect: &'static [&'static str],
}

const MISTAKES: &[Mistake] = &[
    // Member: identity and population.
    Mistake {
        what: "INSEE code of four digits",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "'5600'")],
        expect: &["spec.inseeCode", "should match"],
    },
    Mistake {
        what: "INSEE code in letters",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "ALLAI")],
        expect: &["spec.inseeCode", "should match"],
    },
    Mistake {
        what: "Corsican-looking INSEE code with a department that does not exist",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "2C123")],
        expect: &["spec.inseeCode", "should match"],
    },
    Mistake {
        what: "INSEE code left unquoted, so YAML makes it a number",
        base: Base::Allaire,
        edits: &[("spec.inseeCode", "56001")],
        expect: &["spec.inseeCode", "string"],
    },
    Mistake {
        what: "no display name",
        base: Base::Allaire,
        edits: &[("spec.displayName", "~")],
        expect: &["spec.displayName", "Required value"],
    },
    Mistake {
        what: "misspelt field (inseecode)",
        base: Base::Allaire,
        edits: &[("spec.inseecode", "'56001'")],
        expect: &["spec.inseecode", "field not declared in schema"],
    },
    Mistake {
        what: "population of 0 inhabitants",
        base: Base::Allaire,
        edits: &[("spec.population.count", "0")],
        expect: &["spec.population", "population.count must be at least 1"],
    },
    Mistake {
        what: "population with a thousands separator",
        base: Base::Allaire,
        edits: &[("spec.population.count", "3 875")],
        expect: &["spec.population.count", "expected numeric"],
    },
    Mistake {
        what: "population year 1850",
        base: Base::Allaire,
        edits: &[("spec.population.year", "1850")],
        expect: &[
            "spec.population",
            "population.year must be an INSEE reference year",
        ],
    },
    Mistake {
        what: "SIRET of 13 digits",
        base: Base::Allaire,
        edits: &[("spec.siret", "'2135600140001'")],
        expect: &["spec.siret", "should match"],
    },
    Mistake {
        what: "member kind Mairie",
        base: Base::Allaire,
        edits: &[("spec.kind", "Mairie")],
        expect: &["spec.kind", r#"Unsupported value: "Mairie""#],
    },
    Mistake {
        what: "contact e-mail without @",
        base: Base::Allaire,
        edits: &[(
            "spec.contacts.technical.email",
            "secretariat.mairie-allaire.fr",
        )],
        expect: &["spec.contacts.technical.email", "should match"],
    },
    // Member: adhesion history.
    Mistake {
        what: "no subscription at all",
        base: Base::Allaire,
        edits: &[("spec.subscriptions", "[]")],
        expect: &["spec.subscriptions", "should have at least 1 items"],
    },
    Mistake {
        what: "unknown offer Socle",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.offer", "Socle")],
        expect: &[
            "spec.subscriptions[1].offer",
            r#"Unsupported value: "Socle""#,
        ],
    },
    Mistake {
        what: "effective date in month 13",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.effectiveDate", "'2025-13-01'")],
        expect: &[
            "spec.subscriptions[1].effectiveDate",
            "must be of type date",
        ],
    },
    Mistake {
        what: "effective date written the French way",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.effectiveDate", "'01/09/2025'")],
        expect: &[
            "spec.subscriptions[1].effectiveDate",
            "must be of type date",
        ],
    },
    Mistake {
        what: "end date before the effective date",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.endDate", "'2025-08-31'")],
        expect: &["spec.subscriptions", "must not be before its effectiveDate"],
    },
    Mistake {
        what: "notice date without the end date it announces",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.0.noticeDate", "'2025-03-01'")],
        expect: &["spec.subscriptions", "noticeDate", "article 2.4"],
    },
    Mistake {
        what: "audit report date on the SocleComplet subscription",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.1.auditReportDate", "'2025-10-01'")],
        expect: &[
            "spec.subscriptions",
            "auditReportDate is only allowed on Audit subscriptions",
        ],
    },
    Mistake {
        what: "audit report delivered before the audit started",
        base: Base::Allaire,
        edits: &[("spec.subscriptions.0.auditReportDate", "'2025-01-15'")],
        expect: &[
            "spec.subscriptions",
            "audit report cannot be delivered before the audit's effectiveDate",
        ],
    },
    // Member: article 7.1 (*).
    Mistake {
        what: "Redon (9 312 inhabitants) in SocleComplet without tariffOverride",
        base: Base::Redon,
        edits: &[
            ("spec.tariffOverride", "~"),
            ("spec.hasItDepartment", "false"),
        ],
        expect: &[
            "spec.tariffOverride",
            "article 7.1",
            "above 8 000 inhabitants",
        ],
    },
    Mistake {
        what: "own IT department and SocleComplet without tariffOverride",
        base: Base::Allaire,
        edits: &[("spec.hasItDepartment", "true")],
        expect: &["spec.tariffOverride", "article 7.1", "own IT department"],
    },
    Mistake {
        what: "tariffOverride of a SocleComplet member without fixedCents",
        base: Base::Redon,
        edits: &[("spec.tariffOverride.fixedCents", "~")],
        expect: &[
            "spec.tariffOverride",
            "must set fixedCents and perInhabitantCents for a SocleComplet member",
        ],
    },
    Mistake {
        what: "tariffOverride without the deliberation that decided it",
        base: Base::Redon,
        edits: &[("spec.tariffOverride.decision", "~")],
        expect: &["spec.tariffOverride.decision", "Required value"],
    },
    // Member: tenant.
    Mistake {
        what: "every service account of the cluster as the tenant's admins",
        base: Base::Allaire,
        edits: &[(
            "spec.tenant.adminGroups",
            "[commune-allaire-admins, 'system:serviceaccounts']",
        )],
        expect: &[
            "spec.tenant.adminGroups",
            "must not name a Kubernetes system group",
        ],
    },
    // Member: VPN and backups.
    Mistake {
        what: "site network with a /33 prefix",
        base: Base::Allaire,
        edits: &[("spec.vpn.siteCidrs", "['192.168.1.0/33']")],
        expect: &["spec.vpn.siteCidrs", "must be a network in CIDR notation"],
    },
    Mistake {
        what: "site network named instead of addressed",
        base: Base::Allaire,
        edits: &[("spec.vpn.siteCidrs", "[mairie]")],
        expect: &["spec.vpn.siteCidrs", "must be a network in CIDR notation"],
    },
    Mistake {
        what: "router SSH port 70000",
        base: Base::Allaire,
        edits: &[("spec.vpn.router.port", "70000")],
        expect: &["spec.vpn.router.port", "less than or equal to 65535"],
    },
    Mistake {
        what: "router dialect cisco",
        base: Base::Allaire,
        edits: &[("spec.vpn.router.dialect", "cisco")],
        expect: &["spec.vpn.router.dialect", r#"Unsupported value: "cisco""#],
    },
    Mistake {
        what: "host key pasted without its type",
        base: Base::Allaire,
        edits: &[(
            "spec.vpn.router.hostKey",
            "AAAAC3NzaC1lZDI1NTE5AAAAICdBX7h8/vA7T5IkebD8DiWj9WHyDePlp36TsW2MltND",
        )],
        expect: &["spec.vpn.router.hostKey", "should match"],
    },
    Mistake {
        what: "backup tier Gold",
        base: Base::Allaire,
        edits: &[("spec.backup.tier", "Gold")],
        expect: &["spec.backup.tier", r#"Unsupported value: "Gold""#],
    },
    Mistake {
        what: "drill schedule in words",
        base: Base::Allaire,
        edits: &[("spec.backup.drill.schedule", "every day")],
        expect: &["spec.backup.drill.schedule", "should match"],
    },
    Mistake {
        what: "retention of 10 years and a day",
        base: Base::Allaire,
        edits: &[("spec.backup.retentionDays", "3651")],
        expect: &["spec.backup.retentionDays", "less than or equal to 3650"],
    },
    // SharedService.
    Mistake {
        what: "VpnGateway without vpnGateway settings",
        base: Base::VpnGateway,
        edits: &[("spec.vpnGateway", "~")],
        expect: &[
            "spec.vpnGateway",
            "a VpnGateway service needs spec.vpnGateway",
        ],
    },
    Mistake {
        what: "IPv6 tunnel pool",
        base: Base::VpnGateway,
        edits: &[("spec.vpnGateway.tunnelPoolCidr", "'fd00:200::/64'")],
        expect: &[
            "spec.vpnGateway.tunnelPoolCidr",
            "must be an IPv4 network in CIDR notation",
        ],
    },
    Mistake {
        what: "tunnel pool without its prefix length",
        base: Base::VpnGateway,
        edits: &[("spec.vpnGateway.tunnelPoolCidr", "10.200.0.0")],
        expect: &[
            "spec.vpnGateway.tunnelPoolCidr",
            "must be an IPv4 network in CIDR notation",
        ],
    },
    Mistake {
        what: "public endpoint without its port",
        base: Base::VpnGateway,
        edits: &[(
            "spec.vpnGateway.publicEndpoint",
            "vpn.redon-agglomeration.bzh",
        )],
        expect: &["spec.vpnGateway.publicEndpoint", "should match"],
    },
    Mistake {
        what: "service level 5",
        base: Base::VpnGateway,
        edits: &[("spec.serviceLevel", "5")],
        expect: &["spec.serviceLevel", "less than or equal to 4"],
    },
    Mistake {
        what: "BackupTarget without backupTarget settings",
        base: Base::BackupTarget,
        edits: &[("spec.backupTarget", "~")],
        expect: &[
            "spec.backupTarget",
            "a BackupTarget service needs spec.backupTarget",
        ],
    },
    Mistake {
        what: "GroupPurchase without its contract",
        base: Base::GroupPurchase,
        edits: &[("spec.contract", "~")],
        expect: &[
            "spec.contract",
            "a GroupPurchase service needs spec.contract",
        ],
    },
    Mistake {
        what: "contract ending before it starts",
        base: Base::GroupPurchase,
        edits: &[("spec.contract.endDate", "'2024-05-31'")],
        expect: &[
            "spec.contract.endDate",
            "contract endDate must be after its startDate",
        ],
    },
    Mistake {
        what: "allocation key in French",
        base: Base::GroupPurchase,
        edits: &[("spec.contract.allocation", "ParHabitant")],
        expect: &[
            "spec.contract.allocation",
            r#"Unsupported value: "ParHabitant""#,
        ],
    },
    Mistake {
        what: "subscriber with 0 seats",
        base: Base::GroupPurchase,
        edits: &[("spec.subscribers.members.0.seats", "0")],
        expect: &[
            "spec.subscribers.members[0].seats",
            "greater than or equal to 1",
        ],
    },
    // Tariff.
    Mistake {
        what: "first bracket starting at 100 inhabitants",
        base: Base::Tariff,
        edits: &[("spec.grid.brackets.0.minPopulation", "100")],
        expect: &["spec.grid", "the first bracket must start at population 0"],
    },
    Mistake {
        what: "bracket ending below its start (299 for 2999)",
        base: Base::Tariff,
        edits: &[("spec.grid.brackets.1.maxPopulation", "299")],
        expect: &[
            "spec.grid",
            "maxPopulation must not be below its minPopulation",
        ],
    },
    Mistake {
        what: "no staffing level",
        base: Base::Tariff,
        edits: &[("spec.grid.staffing", "[]")],
        expect: &["spec.grid", "at least one staffing level is needed"],
    },
    // UsageRecord.
    Mistake {
        what: "unknown meter coffee",
        base: Base::Level1Usage,
        edits: &[("spec.meter", "coffee")],
        expect: &["spec.meter", r#"Unsupported value: "coffee""#],
    },
    Mistake {
        what: "pass-through without its amount",
        base: Base::Level1Usage,
        edits: &[
            ("spec.meter", "pass-through"),
            ("spec.evidence", "Facture FAC-2026-0311"),
        ],
        expect: &[
            "spec.amountCents",
            "a pass-through record needs amountCents",
        ],
    },
    Mistake {
        what: "pass-through without its invoice reference",
        base: Base::Level1Usage,
        edits: &[
            ("spec.meter", "pass-through"),
            ("spec.amountCents", "12000"),
            ("spec.evidence", "~"),
        ],
        expect: &["spec.evidence", "a pass-through record needs evidence"],
    },
    Mistake {
        what: "0 Level-1 half-days",
        base: Base::Level1Usage,
        edits: &[("spec.quantity", "0")],
        expect: &["spec.quantity", "quantity must be at least 1"],
    },
    Mistake {
        what: "period ending before it starts",
        base: Base::Level1Usage,
        edits: &[("spec.period.end", "'2026-03-01'")],
        expect: &[
            "spec.period.end",
            "period.end must not be before period.start",
        ],
    },
    Mistake {
        what: "exercise 1999",
        base: Base::Level1Usage,
        edits: &[("spec.exercise", "1999")],
        expect: &["spec.exercise", "greater than or equal to 2020"],
    },
    // ContributionStatement.
    Mistake {
        what: "Issued statement without title number",
        base: Base::Statement,
        edits: &[("spec.state", "Issued"), ("spec.issuedOn", "'2026-02-15'")],
        expect: &[
            "spec.titleNumber",
            "an Issued statement needs titleNumber and issuedOn",
        ],
    },
    Mistake {
        what: "statement without its debtor",
        base: Base::Statement,
        edits: &[("spec.debtor", "~")],
        expect: &["spec.debtor", "Required value"],
    },
    Mistake {
        what: "statement state in French",
        base: Base::Statement,
        edits: &[("spec.state", "Emis")],
        expect: &["spec.state", r#"Unsupported value: "Emis""#],
    },
    Mistake {
        what: "statement for exercise 1999",
        base: Base::Statement,
        edits: &[("spec.exercise", "1999")],
        expect: &["spec.exercise", "greater than or equal to 2020"],
    },
    // DrillReport.
    Mistake {
        what: "drill finished before it started",
        base: Base::Drill,
        edits: &[("spec.finishedAt", "'2026-03-01T02:07:30Z'")],
        expect: &["spec.finishedAt", "finishedAt must not be before startedAt"],
    },
    Mistake {
        what: "drill start without time zone",
        base: Base::Drill,
        edits: &[("spec.startedAt", "'2026-03-01 03:00'")],
        expect: &["spec.startedAt", "must be of type date-time"],
    },
];

//! `cargo xtask demo`: the whole story on this machine — a real control
//! plane, the CRDs, the 31 communes of REDON Agglomération, the operator
//! provisioning them and keeping their statements, one commune's tunnel
//! pushed to a Linux router in a network namespace of this machine, and
//! its town hall's ping through it to the hub ([`tunnel`]), one commune's
//! backup restored by a drill ([`drill`]), and what each owes.

mod drill;
pub mod gitops;
mod tunnel;

use std::{
    cell::Cell,
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use kube::{
    Client,
    api::{Api, DynamicObject, Patch, PatchParams},
    discovery::{Discovery, Scope},
};

use self::tunnel::DemoRouter;
use crate::{cargo, testenv, workspace_root};

/// A change the demo makes to a document before applying it.
type Edit<'a> = &'a dyn Fn(&mut DynamicObject);

/// Exercise the demo prices.
const EXERCISE: &str = "2026";

pub fn demo() -> Result<()> {
    let kubeconfig = testenv::up(testenv::Backups::Velero, testenv::Gitops::None)?;
    cargo(&["build", "--quiet", "--package", "socle"], &[])?;
    let socle = workspace_root().join("target/debug/socle");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = runtime.block_on(testenv::client())?;

    step("CRDs");
    runtime.block_on(apply_dir(&client, &workspace_root().join("crds"), &|_| {}))?;
    runtime.block_on(wait_for_crds(&client))?;

    step(&format!(
        "{}'s router and the Datacenter's VPN hub, in network namespaces of this machine",
        tunnel::COMMUNE
    ));
    let mut router = DemoRouter::start(&socle);

    step(
        "the operator's namespace, the VPN gateway's, and the examples: 31 communes, shared services, the tariff",
    );
    runtime.block_on(apply_yaml(
        &client,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: socle-system\n",
        &|_| {},
    ))?;
    runtime.block_on(apply_yaml(
        &client,
        &std::fs::read_to_string(workspace_root().join("manifests/vpn-gateway/namespace.yaml"))?,
        &|_| {},
    ))?;
    runtime.block_on(drill::storage_location(&client))?;
    let left_out = Cell::new(0);
    let applied = runtime.block_on(apply_dir(
        &client,
        &workspace_root().join("manifests/examples"),
        &|object| {
            if router.edit(object) {
                left_out.set(left_out.get() + 1);
            }
        },
    ))?;
    runtime.block_on(router.apply_credentials(&client, &applied))?;
    if left_out.get() > 0 {
        println!(
            "the routers of {} other communes are fictional: their spec.vpn is left out of the demo",
            left_out.get()
        );
    }

    step("socle run (the operator), until every Member's tenant and billing are ready");
    let started = Instant::now();
    let operator = Operator::start(
        &socle,
        &testenv::operator_kubeconfig_path(),
        router.gateway_api().as_deref(),
    )?;
    let ready = runtime.block_on(wait_until_provisioned(&client, Duration::from_secs(120)))?;
    println!(
        "{ready} Members provisioned (tenant and billing) in {:.1}s; tenant namespaces:",
        started.elapsed().as_secs_f64()
    );
    runtime.block_on(print_tenants(&client))?;
    if router.is_running() {
        step(&format!(
            "the tunnel of {}, pushed over SSH to its router and verified, and a ping through it",
            tunnel::COMMUNE
        ));
        runtime.block_on(router.show(&client))?;
    }
    runtime.block_on(capabilities_and_drill(&client))?;

    step(&format!(
        "the operator's statements for {EXERCISE}, checked against the offline engine"
    ));
    let offline = offline_totals(&socle)?;
    let agreed = runtime.block_on(wait_for_statements(
        &client,
        &offline,
        Duration::from_secs(60),
    ))?;
    println!(
        "the ContributionStatements of {agreed} members in socle-system; every member's total equals `socle contribution` on the same manifests"
    );
    runtime.block_on(usage_and_report(&client, &socle, &kubeconfig))?;
    drop(operator);
    step(&format!("the titres de recettes of {EXERCISE}"));
    socle_cli(
        &socle,
        &kubeconfig,
        &[
            "statements",
            "export",
            "--exercise",
            EXERCISE,
            "--format",
            "table",
        ],
        true,
    )?;
    println!(
        "\nThe control plane still runs: export KUBECONFIG={} ; `cargo xtask testenv down` stops it.",
        kubeconfig.display()
    );
    Ok(())
}

/// What the operator recorded, then `socle report --html` from the
/// cluster, into target/demo/.
async fn usage_and_report(client: &Client, socle: &Path, kubeconfig: &Path) -> Result<()> {
    step("what the operator recorded (UsageRecords), and the annual report from the cluster");
    print_usage(client).await?;
    let report = workspace_root().join(format!("target/demo/rapport-annuel-{EXERCISE}.html"));
    std::fs::create_dir_all(report.parent().expect("a parent"))?;
    let html = report.to_str().context("a UTF-8 path")?;
    socle_cli(
        socle,
        kubeconfig,
        &["report", "--exercise", EXERCISE, "--html", html],
        false,
    )?;
    println!("  the pilotage commission's report: {}", report.display());
    Ok(())
}

/// Runs `socle args…` against the demo's cluster; its output is shown only
/// when `show` (the report's JSON is not).
fn socle_cli(socle: &Path, kubeconfig: &Path, args: &[&str], show: bool) -> Result<()> {
    let status = Command::new(socle)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdout(if show {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .status()?;
    ensure!(status.success(), "socle {} failed", args.join(" "));
    Ok(())
}

/// The UsageRecords in socle-system, counted by meter and by who recorded
/// them, once the operator has recorded this month's storage of every
/// member with a data volume (it does so once their tenant is ready, in the
/// statement controller's next pass) and the backups kept of every member
/// whose first backup Velero has completed (it takes them one at a time:
/// the others follow while the demo goes on).
async fn print_usage(client: &Client) -> Result<()> {
    let members: Api<DynamicObject> =
        Api::all_with(client.clone(), &socle_resource("Member", "members"));
    let members = members.list(&kube::api::ListParams::default()).await?.items;
    let with = |field: &str| {
        members
            .iter()
            .filter(|member| member.data.pointer(field).is_some_and(|v| !v.is_null()))
            .count()
    };
    let backed_up = with("/status/backup/lastBackup");
    println!(
        "  Velero has completed the first backup of {backed_up} of the {} members with backups so far",
        with("/spec/backup")
    );
    let wanted = [
        ("storage-gib-months", with("/spec/tenant/storage")),
        ("backup-gib-months", backed_up),
    ];
    let resource = socle_resource("UsageRecord", "usagerecords");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "socle-system", &resource);
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for record in api.list(&kube::api::ListParams::default()).await?.items {
            let field = |name: &str| record.data["spec"][name].as_str().unwrap_or("?").to_owned();
            *counts.entry((field("meter"), field("source"))).or_default() += 1;
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter_map(|&(meter, count)| {
                let recorded = counts
                    .get(&(meter.to_owned(), "socle".to_owned()))
                    .copied()
                    .unwrap_or_default();
                (recorded < count).then(|| format!("{meter}: {recorded} of {count}"))
            })
            .collect();
        if missing.is_empty() {
            break counts;
        }
        ensure!(
            Instant::now() < deadline,
            "not recorded after 60 s: {}",
            missing.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for ((meter, source), count) in &counts {
        println!("  {count:>4} {meter} (recorded by {source})");
    }
    Ok(())
}

fn step(what: &str) {
    println!("\n==> {what}");
}

/// The operator as a child process, stopped when dropped.
struct Operator(Child);

impl Operator {
    /// `gateway_api`: the VPN hub's API, when the demo runs a hub.
    fn start(binary: &Path, kubeconfig: &Path, gateway_api: Option<&str>) -> Result<Self> {
        let log = std::fs::File::create(testenv::state_dir().join("logs/socle-demo.log"))?;
        let metrics = testenv::velero_metrics_url()?;
        let child = Command::new(binary)
            .arg("run")
            .args(metrics.iter().flat_map(|url| ["--velero-metrics-url", url]))
            .args(
                gateway_api
                    .iter()
                    .flat_map(|api| ["--vpn-gateway-api", api]),
            )
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting socle run")?;
        Ok(Self(child))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// Member → total in cents, as `socle contribution` computes it offline.
fn offline_totals(socle: &Path) -> Result<BTreeMap<String, i64>> {
    let output = Command::new(socle)
        .args(["contribution", "--input"])
        .arg(workspace_root().join("manifests/examples"))
        .args(["--exercise", EXERCISE, "--format", "json"])
        .output()?;
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(outcome["statements"]
        .as_array()
        .context("no statements in socle contribution's output")?
        .iter()
        .filter_map(|s| Some((s["member"].as_str()?.to_owned(), s["totalCents"].as_i64()?)))
        .collect())
}

/// Waits until the cluster holds the statements of every expected member with the
/// expected total (its titles added up); returns how many members.
async fn wait_for_statements(
    client: &Client,
    expected: &BTreeMap<String, i64>,
    timeout: Duration,
) -> Result<usize> {
    let resource = socle_resource("ContributionStatement", "contributionstatements");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "socle-system", &resource);
    let selector = format!("socle.redon-agglomeration.bzh/exercise={EXERCISE}");
    let deadline = Instant::now() + timeout;
    loop {
        let statements = api
            .list(&kube::api::ListParams::default().labels(&selector))
            .await?;
        // A member's titles of the exercise add up to its total: the
        // contribution, and an audit delivered that year titled on its own.
        let mut found: BTreeMap<String, i64> = BTreeMap::new();
        for spec in statements.items.iter().map(|s| &s.data["spec"]) {
            if let (Some(member), Some(total)) =
                (spec["member"].as_str(), spec["totalCents"].as_i64())
            {
                *found.entry(member.to_owned()).or_default() += total;
            }
        }
        if &found == expected {
            return Ok(found.len());
        }
        if Instant::now() > deadline {
            bail!(
                "statements in the cluster differ from the offline engine: {found:?} vs {expected:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn socle_resource(kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "socle.redon-agglomeration.bzh".into(),
        version: "v1alpha1".into(),
        api_version: "socle.redon-agglomeration.bzh/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Server-side applies every YAML document of every file below `dir`
/// (kustomize's own `kustomization.yaml` files aside), changed by `edit`;
/// returns them as applied.
async fn apply_dir(client: &Client, dir: &Path, edit: Edit<'_>) -> Result<Vec<DynamicObject>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && path
                    .file_name()
                    .is_some_and(|name| name != "kustomization.yaml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut applied = Vec::new();
    for file in files {
        let objects = apply_yaml(client, &std::fs::read_to_string(&file)?, edit)
            .await
            .with_context(|| file.display().to_string())?;
        applied.extend(objects);
    }
    Ok(applied)
}

/// Server-side applies every document of `text`, changed by `edit`;
/// returns them as applied.
async fn apply_yaml(client: &Client, text: &str, edit: Edit<'_>) -> Result<Vec<DynamicObject>> {
    use serde::Deserialize;
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut applied = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let mut object: DynamicObject = serde_yaml::from_value(value)?;
        edit(&mut object);
        let types = object
            .types
            .clone()
            .context("a document without apiVersion/kind")?;
        let gvk = kube::core::GroupVersionKind::try_from(&types)?;
        let (resource, capabilities) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("unknown kind {gvk:?}"))?;
        let name = object
            .metadata
            .name
            .clone()
            .context("a document without a name")?;
        let api: Api<DynamicObject> = match (capabilities.scope, &object.metadata.namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(client.clone(), namespace, &resource)
            }
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &resource),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            &name,
            &PatchParams::apply("socle-demo").force(),
            &Patch::Apply(&object),
        )
        .await?;
        applied.push(object);
    }
    Ok(applied)
}

async fn wait_for_crds(client: &Client) -> Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let crds = api.list(&kube::api::ListParams::default()).await?;
        let established = crds
            .items
            .iter()
            .filter(|crd| {
                crd.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
            })
            .count();
        if established >= 6 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("CRDs not Established after 30s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls until every Member has `TenantReady` and `Billable` true; returns
/// how many Members there are. (`Ready` also gates on backups and on the VPN
/// of the one commune that has one here — see `print_capabilities`.)
async fn wait_until_provisioned(client: &Client, timeout: Duration) -> Result<usize> {
    let resource = socle_resource("Member", "members");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let deadline = Instant::now() + timeout;
    loop {
        let members = api.list(&kube::api::ListParams::default()).await?;
        let waiting: Vec<String> = members
            .items
            .iter()
            .filter(|member| !has_true(member, "TenantReady") || !has_true(member, "Billable"))
            .filter_map(|member| member.metadata.name.clone())
            .collect();
        if waiting.is_empty() {
            return Ok(members.items.len());
        }
        if Instant::now() > deadline {
            bail!(
                "Members not provisioned after {timeout:?}: {}",
                waiting.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn condition<'a>(member: &'a DynamicObject, type_: &str) -> Option<&'a serde_json::Value> {
    member.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn has_true(member: &DynamicObject, type_: &str) -> bool {
    condition(member, type_).is_some_and(|c| c["status"] == "True")
}

/// What every Member shows, then one commune's backup restored by a drill.
async fn capabilities_and_drill(client: &Client) -> Result<()> {
    println!(
        "\nCapabilities (Velero's server runs here, over an S3 store, versitygw; only {} has a VPN, to its Linux router):",
        tunnel::COMMUNE
    );
    print_capabilities(client).await?;
    step(&format!(
        "the first backup of {}, by Velero into its S3 store, restored by a drill into a sandbox",
        drill::COMMUNE
    ));
    // Velero takes the 26 first backups one after another, in the order of
    // its queue: Allaire's may be the last, about 3 minutes on 2 idle cores
    // and more when the machine is busy.
    drill::show(client, "socle-system", Duration::from_secs(600)).await
}

/// How many Members have each capability condition true, with the reason
/// of the others.
async fn print_capabilities(client: &Client) -> Result<()> {
    let resource = socle_resource("Member", "members");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let members = api.list(&kube::api::ListParams::default()).await?.items;
    for type_ in [
        "TenantReady",
        "Billable",
        "VpnReady",
        "BackupReady",
        "Ready",
    ] {
        let with: Vec<&DynamicObject> = members
            .iter()
            .filter(|m| condition(m, type_).is_some())
            .collect();
        let ok = with.iter().filter(|m| has_true(m, type_)).count();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for member in with.iter().filter(|m| !has_true(m, type_)) {
            let reason = condition(member, type_)
                .and_then(|c| c["reason"].as_str())
                .unwrap_or("?");
            *reasons.entry(reason.to_owned()).or_default() += 1;
        }
        let others: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!(
            "  {type_:<12} {ok}/{} true {}",
            with.len(),
            if others.is_empty() {
                String::new()
            } else {
                format!("({})", others.join(", "))
            }
        );
    }
    Ok(())
}

async fn print_tenants(client: &Client) -> Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let tenants = namespaces
        .list(
            &kube::api::ListParams::default()
                .labels("socle.redon-agglomeration.bzh/component=tenant"),
        )
        .await?;
    let names: Vec<String> = tenants
        .items
        .iter()
        .filter_map(|ns| ns.metadata.name.clone())
        .collect();
    println!("  {} namespaces: {}", names.len(), names.join(" "));
    Ok(())
}

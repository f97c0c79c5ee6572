//! The demo's backup step: Allaire's first backup, taken by Velero's own
//! server into the S3 store, then restored by an on-demand drill into a
//! sandbox, and the DrillReport it leaves.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use kube::{
    Client,
    api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams},
};
use serde_json::json;

use super::socle_resource;

/// The commune whose backup the demo restores.
pub const COMMUNE: &str = "allaire";
/// The storage location of the example BackupTarget.
const STORAGE_LOCATION: &str = "datacenter-s3";
const MEMBER_LABEL: &str = "socle.redon-agglomeration.bzh/member";

/// The example BackupTarget's storage location, `datacenter-s3`
/// (manifests/examples/shared-services.yaml): the testenv's bucket under
/// that name, made before any Member asks for a backup (a first backup
/// naming a missing location fails Velero's validation for good).
pub async fn storage_location(client: &Client) -> Result<()> {
    let locations: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "velero",
        &velero_resource("BackupStorageLocation", "backupstoragelocations"),
    );
    let testenv = locations.get("default").await?;
    let mut spec = testenv.data["spec"].clone();
    spec["default"] = json!(false);
    let location = json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": STORAGE_LOCATION, "namespace": "velero"},
        "spec": spec,
    });
    locations
        .patch(
            STORAGE_LOCATION,
            &PatchParams::apply("socle-demo"),
            &Patch::Apply(&location),
        )
        .await?;
    Ok(())
}

fn velero_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Waits for the first completed backup, asks for a drill, waits for its
/// report and prints both.
pub async fn show(client: &Client, operator_namespace: &str, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let selector = ListParams::default().labels(&format!("{MEMBER_LABEL}={COMMUNE}"));
    let backups: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "velero",
        &velero_resource("Backup", "backups"),
    );
    let backup = loop {
        let completed = backups
            .list(&selector)
            .await?
            .items
            .into_iter()
            .find(|b| b.data["status"]["phase"] == "Completed");
        if let Some(backup) = completed {
            break backup;
        }
        if started.elapsed() > timeout {
            bail!("no completed Velero backup of {COMMUNE} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let status = &backup.data["status"];
    println!(
        "Velero backup {} Completed: {} items, into storage location {STORAGE_LOCATION} at {}",
        backup.metadata.name.as_deref().unwrap_or("?"),
        status["progress"]["itemsBackedUp"],
        status["completionTimestamp"].as_str().unwrap_or("?"),
    );
    let members: Api<DynamicObject> =
        Api::all_with(client.clone(), &socle_resource("Member", "members"));
    members
        .patch(
            COMMUNE,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "socle.redon-agglomeration.bzh/drill-now": "demo"}}})),
        )
        .await?;
    println!("kubectl annotate member {COMMUNE} socle.redon-agglomeration.bzh/drill-now=demo");
    let reports: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        operator_namespace,
        &socle_resource("DrillReport", "drillreports"),
    );
    let report = loop {
        if let Some(report) = reports.list(&selector).await?.items.into_iter().next() {
            break report;
        }
        if started.elapsed() > timeout {
            bail!("no DrillReport of {COMMUNE} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let spec = &report.data["spec"];
    println!(
        "kubectl get drillreports -n {operator_namespace}: {} {} — backup {} restored into {}, RTO {} s (target {} s), RPO {} s (target {} s), {} checks",
        report.metadata.name.as_deref().unwrap_or("?"),
        spec["verdict"].as_str().unwrap_or("?"),
        spec["backup"].as_str().unwrap_or("?"),
        spec["sandboxNamespace"].as_str().unwrap_or("?"),
        spec["measuredRtoSeconds"],
        spec["rtoTargetSeconds"],
        spec["measuredRpoSeconds"],
        spec["rpoTargetSeconds"],
        spec["checks"].as_array().map_or(0, Vec::len),
    );
    if spec["verdict"] != "Passed" {
        bail!("the drill of {COMMUNE} did not pass: {}", spec["checks"]);
    }
    Ok(())
}

//! Leaving without losing a byte (article 2.4), end to end on the real
//! control plane with volumes that really bind and really delete: the
//! testenv's StorageClass `standard` is kube-controller-manager's host-path
//! provisioner, reclaim policy Delete, so a released volume's directory is
//! removed unless socle set the volume to Retain.
//!
//! Each test writes a file into a commune's volume, offboards the commune in
//! one order of events (kubectl: delete, then confirm; GitOps: confirm, then
//! delete, with a restart of the operator in between; the `endDate`
//! passing), and checks that once the namespace is gone the file is still on
//! disk and the volume is `Retain`, labelled with the member.

use std::{path::PathBuf, time::Duration};

use anyhow::ensure;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::json;
use socle::{
    api::{Member, SharedService, UsageRecord},
    backup::velero::Backup,
};
use socle_e2e::{
    TestScope, eventually,
    examples::{
        CONVERGE, condition, create_members, tenant_only, wait_for_event, wait_for_event_in,
        wait_until_ready,
    },
    operator::Operator,
    velero::{bucket_dir, create_backup_target},
    volumes,
};

const DOMAIN: &str = "socle.redon-agglomeration.bzh";
/// The testenv's StorageClass (`xtask/src/testenv`): a real provisioner.
const STORAGE_CLASS: &str = "standard";
/// How long nothing may happen before a confirmation.
const QUIET: Duration = Duration::from_secs(5);
/// For socle's purge pass (every minute) and Velero to delete the backups.
const PURGE: Duration = Duration::from_secs(180);

/// A hosted commune whose data volume is bound, with a file written in it.
struct Commune {
    name: String,
    namespace: String,
    volume: String,
    file: PathBuf,
}

const CONTENT: &str = "état civil 1792-2026\n";

/// `example` made the scope's, its data volume on the real provisioner;
/// created, Ready, its claim bound, and a file written into the volume's
/// directory on this machine (there is no kubelet to mount it in a pod:
/// the host-path volume *is* that directory).
async fn hosted_commune(scope: &TestScope, operator: &Operator, example: &str) -> Commune {
    hosted_commune_with(scope, operator, example, |_| {}).await
}

/// [`hosted_commune`], its Member changed by `edit` first.
async fn hosted_commune_with(
    scope: &TestScope,
    operator: &Operator,
    example: &str,
    edit: impl FnOnce(&mut Member),
) -> Commune {
    let client = scope.client();
    let mut member = tenant_only(scope, example);
    edit(&mut member);
    let storage = member
        .spec
        .tenant
        .as_mut()
        .and_then(|tenant| tenant.storage.as_mut())
        .expect("the example has a data volume");
    storage.storage_class = Some(STORAGE_CLASS.into());
    create_members(&client, std::slice::from_ref(&member)).await;
    wait_until_ready(&client, scope, std::slice::from_ref(&member)).await;
    let name = member.name_any();
    let namespace = operator.tenant_namespace(&name);
    let live = volumes::bound_volume(&client, &namespace, "data").await;
    let volume = live.name_any();
    let spec = live.spec.expect("a volume spec");
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete"),
        "the provisioner's policy: without socle, releasing it deletes the data"
    );
    let directory = PathBuf::from(spec.host_path.expect("a host-path volume").path);
    let file = directory.join("registre.txt");
    std::fs::write(&file, CONTENT).unwrap();
    Commune {
        name,
        namespace,
        volume,
        file,
    }
}

impl Commune {
    fn members(client: &Client) -> Api<Member> {
        Api::all(client.clone())
    }

    async fn delete(&self, client: &Client) {
        Self::members(client)
            .delete(&self.name, &DeleteParams::background())
            .await
            .unwrap();
    }

    async fn confirm(&self, client: &Client, value: &str) {
        Self::members(client)
            .patch(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {
                    format!("{DOMAIN}/confirm-offboarding"): value,
                }}})),
            )
            .await
            .unwrap();
    }

    /// The volume is Retain and labelled as the member's, and the file is
    /// on disk as written.
    async fn assert_data_kept(&self, client: &Client) {
        let volume = Api::<PersistentVolume>::all(client.clone())
            .get(&self.volume)
            .await
            .unwrap_or_else(|error| panic!("volume {} is gone: {error}", self.volume));
        assert_eq!(
            volume
                .spec
                .as_ref()
                .and_then(|s| s.persistent_volume_reclaim_policy.as_deref()),
            Some("Retain"),
            "volume {}",
            self.volume
        );
        assert_eq!(
            volume.labels().get(&format!("{DOMAIN}/member")),
            Some(&self.name),
            "the volume says whose data it is"
        );
        assert!(
            volume
                .labels()
                .contains_key(&format!("{DOMAIN}/offboarding")),
            "the volume says when offboarding began: {:?}",
            volume.labels()
        );
        assert_eq!(
            std::fs::read_to_string(&self.file).unwrap_or_else(|error| panic!(
                "{} is gone from the disk: {error}",
                self.file.display()
            )),
            CONTENT
        );
    }

    /// Waits until the tenant namespace is gone.
    async fn wait_namespace_gone(&self, client: &Client) {
        let namespaces = Api::<Namespace>::all(client.clone());
        eventually(CONVERGE, || async {
            let namespace = namespaces.get_opt(&self.namespace).await?;
            ensure!(
                namespace.is_none(),
                "namespace {} still there (phase {:?})",
                self.namespace,
                namespace.and_then(|n| n.status).and_then(|s| s.phase)
            );
            Ok(())
        })
        .await;
    }

    /// Once offboarded: the namespace is gone, the volume released, and the
    /// data kept ([`Self::assert_data_kept`]).
    async fn assert_gone_with_data_kept(&self, client: &Client) {
        self.wait_namespace_gone(client).await;
        self.wait_released(client).await;
        self.assert_data_kept(client).await;
    }

    /// The volume is released (its claim gone with the namespace) and kept.
    async fn wait_released(&self, client: &Client) {
        volumes::wait_released(client, &self.volume).await;
    }

    /// What the test leaves: the retained volume and its directory, which
    /// the DSI would hand back to the commune and then release.
    async fn release_volume(&self, client: &Client) {
        match Api::<PersistentVolume>::all(client.clone())
            .delete(&self.volume, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => panic!("deleting volume {}: {error}", self.volume),
        }
        if let Some(directory) = self.file.parent() {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

/// The Offboarding condition, once it is True.
async fn offboarding(
    client: &Client,
    name: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let members = Api::<Member>::all(client.clone());
    eventually(CONVERGE, || async {
        let member = members.get(name).await?;
        let offboarding = condition(&member, "Offboarding").cloned();
        ensure!(
            offboarding.as_ref().is_some_and(|c| c.status == "True"),
            "Offboarding is {offboarding:?}"
        );
        Ok(offboarding.unwrap())
    })
    .await
}

/// The kubectl order: `kubectl delete member`, then the confirmation. A
/// confirmation that does not name the member exactly is refused loudly.
#[tokio::test]
async fn kubectl_order_deletion_then_confirmation_keeps_the_data() {
    let scope = TestScope::new("offboarding_kubectl_order").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let commune = hosted_commune(&scope, &operator, "saint-perreux").await;

    commune.delete(&client).await;
    let waiting = offboarding(&client, &commune.name).await;
    assert_eq!(waiting.reason, "AwaitingConfirmation");
    assert!(
        waiting.message.contains(&commune.volume) && waiting.message.contains("20Gi"),
        "the condition says where the data is: {waiting:?}"
    );
    commune.assert_data_kept(&client).await;

    // A typo in the confirmation: a Warning, a condition, nothing deleted.
    let typo = commune.name.to_uppercase();
    commune.confirm(&client, &typo).await;
    let refused = eventually(CONVERGE, || async {
        let member = Api::<Member>::all(client.clone())
            .get(&commune.name)
            .await?;
        let offboarding = condition(&member, "Offboarding").cloned();
        ensure!(
            offboarding
                .as_ref()
                .is_some_and(|c| c.reason == "ConfirmationMismatch"),
            "Offboarding is {offboarding:?}"
        );
        Ok(offboarding.unwrap())
    })
    .await;
    assert!(
        refused.message.contains(&typo) && refused.message.contains(&commune.volume),
        "{refused:?}"
    );
    let warning = wait_for_event(&client, &commune.name, "ConfirmationMismatch").await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"), "{warning:?}");
    tokio::time::sleep(QUIET).await;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get(&commune.namespace)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none(),
        "a mismatched confirmation deletes nothing"
    );

    commune.confirm(&client, &commune.name).await;
    commune.assert_gone_with_data_kept(&client).await;
    let confirmed = wait_for_event(&client, &commune.name, "OffboardingConfirmed")
        .await
        .note
        .unwrap_or_default();
    assert!(
        confirmed.contains(&commune.volume),
        "the Event says where the data is: {confirmed}"
    );
    operator.stop().await;
    commune.release_volume(&client).await;
    scope.cleanup().await;
}

/// The GitOps order: the confirmation is merged first, then the file is
/// removed (the Member deleted) — with the operator restarted in between.
/// The volume is still set to Retain and verified before the namespace goes.
#[tokio::test]
async fn gitops_order_confirmation_then_deletion_keeps_the_data() {
    let scope = TestScope::new("offboarding_gitops_order").await;
    let mut operator = Operator::start(&scope).await;
    let client = scope.client();
    let commune = hosted_commune(&scope, &operator, "saint-perreux").await;

    // A confirmation on a Member still in force does nothing by itself.
    commune.confirm(&client, &commune.name).await;
    tokio::time::sleep(QUIET).await;
    let namespace = Api::<Namespace>::all(client.clone())
        .get(&commune.namespace)
        .await
        .unwrap();
    assert!(namespace.metadata.deletion_timestamp.is_none());

    operator.restart().await;
    commune.delete(&client).await;
    commune.assert_gone_with_data_kept(&client).await;
    operator.stop().await;
    commune.release_volume(&client).await;
    scope.cleanup().await;
}

/// Leaving is a date: once every subscription's `endDate` has passed, the
/// tenant is kept and its volume retained until the DSI confirms; then the
/// namespace goes and the Member stays, `Departed`, as the contractual
/// record.
#[tokio::test]
async fn an_end_date_passing_offboards_the_tenant_and_the_member_stays() {
    let scope = TestScope::new("offboarding_end_date").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let commune = hosted_commune(&scope, &operator, "saint-perreux").await;
    let members = Api::<Member>::all(client.clone());

    let yesterday = k8s_openapi::jiff::Zoned::now()
        .date()
        .yesterday()
        .unwrap()
        .to_string();
    let mut subscriptions =
        serde_json::to_value(&members.get(&commune.name).await.unwrap().spec.subscriptions)
            .unwrap();
    for subscription in subscriptions.as_array_mut().unwrap() {
        subscription["endDate"] = json!(yesterday);
    }
    members
        .patch(
            &commune.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"subscriptions": subscriptions}})),
        )
        .await
        .unwrap();
    let waiting = offboarding(&client, &commune.name).await;
    assert!(waiting.message.contains(&commune.volume), "{waiting:?}");
    commune.assert_data_kept(&client).await;
    let member = members.get(&commune.name).await.unwrap();
    assert_eq!(
        condition(&member, "TenantReady").map(|c| c.status.as_str()),
        Some("False"),
        "a tenant awaiting its offboarding is not in service"
    );

    commune.confirm(&client, &commune.name).await;
    commune.assert_gone_with_data_kept(&client).await;
    let departed = eventually(CONVERGE, || async {
        let member = members.get(&commune.name).await?;
        let departed = condition(&member, "Departed").cloned();
        ensure!(
            departed.as_ref().is_some_and(|c| c.status == "True"),
            "Departed is {departed:?}"
        );
        Ok(member)
    })
    .await;
    assert!(
        departed.metadata.deletion_timestamp.is_none(),
        "the Member stays as the record"
    );
    assert_eq!(
        condition(&departed, "Ready").map(|c| c.status.as_str()),
        Some("True"),
        "{:?}",
        departed.status
    );
    operator.stop().await;
    commune.release_volume(&client).await;
    scope.cleanup().await;
}

/// A mistaken `kubectl delete namespace` of a tenant is refused by the API
/// server, for a DSI administrator (cluster-admin) and for the commune's
/// own administrators; nor may the DSI mark the namespace as confirmed by
/// hand, skipping socle's check of the volumes.
#[tokio::test]
async fn a_mistaken_namespace_deletion_is_refused() {
    let scope = TestScope::new("offboarding_namespace_guard").await;
    let operator = Operator::start(&scope).await;
    let client = scope.client();
    let commune = hosted_commune(&scope, &operator, "saint-perreux").await;

    let dsi = impersonating("dsi-technicien", &["system:masters"]).await;
    let admins = Api::<Member>::all(client.clone())
        .get(&commune.name)
        .await
        .unwrap()
        .spec
        .tenant
        .unwrap()
        .admin_groups;
    let commune_admin = impersonating("secretaire-de-mairie", &[admins[0].as_str()]).await;
    // The scope's copy of the policy was applied when the operator started;
    // the API server may still be loading it: dry runs (admission runs, the
    // namespace stays) until it is in force.
    eventually(CONVERGE, || async {
        let dry_run = DeleteParams {
            dry_run: true,
            ..DeleteParams::default()
        };
        match Api::<Namespace>::all(dsi.clone())
            .delete(&commune.namespace, &dry_run)
            .await
        {
            Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
            other => anyhow::bail!("the policy is not in force yet: {other:?}"),
        }
    })
    .await;
    let refusal = match Api::<Namespace>::all(dsi.clone())
        .delete(&commune.namespace, &DeleteParams::default())
        .await
    {
        Err(kube::Error::Api(status)) if status.code == 403 => status.message,
        other => panic!("a DSI administrator deleted the tenant namespace: {other:?}"),
    };
    assert!(
        refusal.contains("article 2.4")
            && refusal.contains(&format!("confirm-offboarding={}", commune.name)),
        "the refusal says how to offboard: {refusal}"
    );
    let error = Api::<Namespace>::all(commune_admin)
        .delete(&commune.namespace, &DeleteParams::default())
        .await
        .expect_err("a commune admin cannot delete its namespace");
    assert!(
        matches!(&error, kube::Error::Api(status) if status.code == 403),
        "{error}"
    );
    let error = Api::<Namespace>::all(dsi)
        .patch(
            &commune.namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                format!("{DOMAIN}/offboarding-confirmed"): commune.name,
            }}})),
        )
        .await
        .expect_err("only socle marks a namespace confirmed");
    assert!(
        matches!(&error, kube::Error::Api(status) if status.code == 403 && status.message.contains("only socle")),
        "{error}"
    );
    let namespace = Api::<Namespace>::all(client.clone())
        .get(&commune.namespace)
        .await
        .unwrap();
    assert!(namespace.metadata.deletion_timestamp.is_none());
    commune.assert_claim_bound(&client).await;
    operator.stop().await;
    commune.release_volume(&client).await;
    scope.cleanup().await;
}

impl Commune {
    async fn assert_claim_bound(&self, client: &Client) {
        let claim = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &self.namespace)
            .get("data")
            .await
            .unwrap();
        assert!(claim.metadata.deletion_timestamp.is_none());
        assert_eq!(
            claim.spec.and_then(|s| s.volume_name).as_deref(),
            Some(self.volume.as_str())
        );
    }
}

/// A client for the test control plane acting as `user` in `groups`.
async fn impersonating(user: &str, groups: &[&str]) -> Client {
    let mut config = Config::infer().await.expect("a kubeconfig");
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| (*g).to_owned()).collect());
    Client::try_from(config).expect("an impersonating client")
}

fn with_backups(target: String) -> impl FnOnce(&mut Member) {
    move |member| {
        member.spec.backup =
            Some(serde_json::from_value(json!({"tier": "Standard", "target": target})).unwrap());
    }
}

/// A commune with backups leaves an exit backup (article 2.4): once the
/// offboarding is confirmed, Velero's own server takes a last backup of the
/// tenant into its S3 store, and only once it completed does the namespace
/// go; the Event names it. At the end of their retention, its backups are
/// purged, each purge recorded (the backup controller runs beside).
#[tokio::test]
async fn a_commune_with_backups_leaves_an_exit_backup_purged_at_the_end_of_its_retention() {
    let scope = TestScope::new("offboarding_exit_backup").await;
    let operator = Operator::start_with_velero(&scope).await;
    let client = scope.client();
    let target = create_backup_target(&scope, "sauvegardes", "velero", "default").await;
    let commune = hosted_commune_with(&scope, &operator, "peillac", with_backups(target)).await;
    commune.confirm(&client, &commune.name).await;
    commune.delete(&client).await;
    commune.assert_gone_with_data_kept(&client).await;
    let exit = format!("{}-exit", commune.namespace);
    let backup = Api::<Backup>::namespaced(client.clone(), "velero")
        .get(&exit)
        .await
        .unwrap();
    let status = backup.status.clone().unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Completed"), "{status:?}");
    assert_eq!(
        backup.spec.included_namespaces,
        std::slice::from_ref(&commune.namespace)
    );
    // Purged by socle after a year (the default exit retention), Velero's
    // TTL a week later as a backstop.
    assert_eq!(backup.spec.ttl.as_deref(), Some("8928h0m0s"));
    assert!(
        backup
            .labels()
            .contains_key(&format!("{DOMAIN}/exit-backup")),
        "{:?}",
        backup.labels()
    );
    // Velero wrote it before the namespace went: its items are the tenant's.
    let items = status.progress.map_or(0, |p| p.items_backed_up);
    assert!(items > 0, "the exit backup holds {items} items");
    let confirmed = wait_for_event(&client, &commune.name, "OffboardingConfirmed")
        .await
        .note
        .unwrap_or_default();
    assert!(
        confirmed.contains(&format!("exit backup velero/{exit}")),
        "the Event names the exit backup: {confirmed}"
    );
    check_purge_at_the_end_of_retention(&client, &operator, &commune.name, &exit).await;
    operator.stop().await;
    commune.release_volume(&client).await;
    scope.cleanup().await;
}

/// The retentions end (brought forward: the exit backup's `purge-after`,
/// Velero's expiration of the member's other backups): socle has Velero
/// delete each backup of the departed member, the exit backup last, from
/// the cluster and the bucket, and records each purge with an Event.
async fn check_purge_at_the_end_of_retention(
    client: &Client,
    operator: &Operator,
    member: &str,
    exit: &str,
) {
    let backups = Api::<Backup>::namespaced(client.clone(), "velero");
    let of_member = ListParams::default().labels(&format!("{DOMAIN}/member={member}"));
    let past = "2026-01-01T00:00:00Z";
    let others: Vec<String> = eventually(CONVERGE, || async {
        let live = backups.list(&of_member).await?.items;
        let running: Vec<String> = live
            .iter()
            .filter(|b| b.status.as_ref().and_then(|s| s.expiration).is_none())
            .map(ResourceExt::name_any)
            .collect();
        ensure!(running.is_empty(), "no expiration yet on {running:?}");
        Ok(live
            .iter()
            .map(ResourceExt::name_any)
            .filter(|name| name != exit)
            .collect())
    })
    .await;
    assert!(
        !others.is_empty(),
        "the member's first backup is among them"
    );
    for name in &others {
        let expired = json!({"status": {"expiration": past}});
        backups
            .patch(name, &PatchParams::default(), &Patch::Merge(&expired))
            .await
            .unwrap();
    }
    let due = json!({"metadata": {"annotations": {format!("{DOMAIN}/purge-after"): past}}});
    backups
        .patch(exit, &PatchParams::default(), &Patch::Merge(&due))
        .await
        .unwrap();
    eventually(PURGE, || async {
        let left: Vec<String> = backups
            .list(&of_member)
            .await?
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        ensure!(left.is_empty(), "still kept: {left:?}");
        Ok(())
    })
    .await;
    let records = Api::<UsageRecord>::namespaced(client.clone(), operator.namespace());
    for name in others.iter().map(String::as_str).chain([exit]) {
        let in_bucket = bucket_dir().join("backups").join(name);
        assert!(
            !in_bucket.exists(),
            "{} is still in the bucket",
            in_bucket.display()
        );
        let record = format!("{member}-backups-purged-{name}");
        let purged = records.get(&record).await.unwrap();
        assert_eq!(
            (purged.spec.meter.as_str(), purged.spec.quantity),
            ("backups-purged", 1)
        );
        let note = wait_for_event_in(client, operator.namespace(), &record, "BackupPurged")
            .await
            .note
            .unwrap_or_default();
        assert!(note.contains(&format!("velero/{name}")), "{note}");
    }
}

/// An exit backup Velero refuses (its storage location does not exist):
/// the namespace is kept, the Offboarding condition and a Warning say why
/// and what to do, and the data stays. Once the DSI mends it as told (the
/// right location, the failed backup deleted), socle takes another and the
/// offboarding ends.
#[tokio::test]
async fn a_failed_exit_backup_keeps_the_namespace_and_says_why() {
    let scope = TestScope::new("offboarding_exit_backup_fails").await;
    let operator = Operator::start_with_velero_access_only(&scope).await;
    let client = scope.client();
    let target = create_backup_target(&scope, "sauvegardes", "velero", "nowhere").await;
    let commune = hosted_commune_with(&scope, &operator, "peillac", with_backups(target)).await;
    commune.confirm(&client, &commune.name).await;
    commune.delete(&client).await;
    let members = Api::<Member>::all(client.clone());
    let failed = eventually(CONVERGE, || async {
        let member = members.get(&commune.name).await?;
        let offboarding = condition(&member, "Offboarding").cloned();
        ensure!(
            offboarding
                .as_ref()
                .is_some_and(|c| c.reason == "ExitBackupFailed"),
            "Offboarding is {offboarding:?}"
        );
        Ok(offboarding.unwrap())
    })
    .await;
    let exit = format!("{}-exit", commune.namespace);
    assert!(
        failed.message.contains(&exit)
            && failed.message.contains("FailedValidation")
            && failed.message.contains(&commune.volume),
        "{failed:?}"
    );
    let warning = wait_for_event(&client, &commune.name, "ExitBackupFailed").await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"), "{warning:?}");
    tokio::time::sleep(QUIET).await;
    let namespace = Api::<Namespace>::all(client.clone())
        .get(&commune.namespace)
        .await
        .expect("the namespace is kept");
    assert!(namespace.metadata.deletion_timestamp.is_none());
    commune.assert_data_kept(&client).await;

    Api::<SharedService>::all(client.clone())
        .patch(
            &scope.name("sauvegardes"),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"backupTarget": {"storageLocation": "default"}}})),
        )
        .await
        .unwrap();
    // Refused by Velero, it never reached the bucket: deleting the object
    // is all `velero backup delete` would do.
    Api::<Backup>::namespaced(client.clone(), "velero")
        .delete(&exit, &DeleteParams::default())
        .await
        .unwrap();
    commune.assert_gone_with_data_kept(&client).await;
    operator.stop().await;
    commune.release_volume(&client).await;
    scope.cleanup().await;
}

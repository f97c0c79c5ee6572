//! The purge of a departed commune's backups (article 2.4, RGPD): once a
//! member has left, each of its backups is deleted at the end of its
//! retention through Velero's `DeleteBackupRequest` (so Velero removes it
//! from the object store too), and each purge is recorded: an inventory
//! fact (`backups-purged`) and an Event on it. The DrillReports stay, as
//! evidence.
//!
//! A departed member is known by its exit backup, taken at its confirmed
//! offboarding (`tenant::exit_backup`), whose Member is gone. The exit
//! backup carries the Member's labels, so an operator limited to some
//! Members by a selector purges only theirs. It goes last, once the
//! member's other backups are gone: it is what proves the departure.
//!
//! When a backup is due: the exit backup at its `purge-after` annotation
//! (its Velero TTL runs a week longer, a backstop should socle not run);
//! the others at their Velero expiration. Velero's own garbage collector
//! expires those too, hourly: a backup it deletes first is gone unrecorded.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::Duration,
};

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{ListParams, ObjectMeta, PostParams},
    runtime::{events::EventType, reflector::Store},
};
use tracing::{info, warn};

use super::{
    BackupContext, CONTROLLER, metadata,
    velero::{Backup, DeleteBackupRequest, DeleteBackupRequestSpec},
};
use crate::{
    api::UsageRecord,
    billing::metering,
    labels,
    runtime::watch::{self, MemberGuard},
};

/// How often the departed members' backups are looked at: within a minute
/// of their retention's end, ahead of Velero's hourly garbage collection.
const EVERY: Duration = Duration::from_secs(60);

/// Purges what is due, every [`EVERY`], until `shutdown`. Nothing is
/// judged departed before the Member cache is complete.
pub async fn run(
    ctx: Arc<BackupContext>,
    members: Store<MemberGuard>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let purging = async {
        if !watch::until_ready(&members).await {
            return;
        }
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let present: HashSet<String> = members
                .state()
                .iter()
                .map(|guard| guard.name_any())
                .collect();
            if let Err(error) = purge_departed(&ctx, &present, Timestamp::now()).await {
                warn!(error = %crate::runtime::chain(&error), "cannot purge departed members' backups; tried again in a minute");
            }
        }
    };
    tokio::select! {
        () = shutdown => {}
        () = purging => {}
    }
}

/// Velero's label naming the backup a DeleteBackupRequest deletes.
const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
/// Velero's label with that backup's uid.
const BACKUP_UID_LABEL: &str = "velero.io/backup-uid";

/// One pass: purges what is due of every departed member's backups.
/// `present`: the Members this operator manages, from a synced cache.
async fn purge_departed(
    ctx: &BackupContext,
    present: &HashSet<String>,
    now: Timestamp,
) -> Result<(), kube::Error> {
    let backups =
        Api::<Backup>::namespaced(ctx.shared.client.clone(), &ctx.settings.velero_namespace);
    let mut exits = ListParams::default().labels(metadata::EXIT);
    if let Some(selector) = &ctx.shared.member_selector {
        exits = exits.labels(&format!("{},{selector}", metadata::EXIT));
    }
    for exit in backups.list(&exits).await? {
        let Some(member) = exit.labels().get(labels::MEMBER).cloned() else {
            continue;
        };
        if present.contains(&member) {
            continue;
        }
        let of_member = ListParams::default().labels(&format!(
            "{}={member},{}={}",
            labels::MEMBER,
            labels::MANAGED_BY,
            labels::MANAGER
        ));
        let others: Vec<Backup> = backups
            .list(&of_member)
            .await?
            .items
            .into_iter()
            .filter(|backup| backup.name_any() != exit.name_any())
            .collect();
        for backup in others.iter().filter(|backup| due(backup, now)) {
            purge(ctx, &member, backup, now).await?;
        }
        if others.is_empty() && due(&exit, now) {
            purge(ctx, &member, &exit, now).await?;
        }
    }
    Ok(())
}

/// Whether `backup`'s retention has ended and no deletion is under way.
fn due(backup: &Backup, now: Timestamp) -> bool {
    let ends = match backup.annotations().get(metadata::PURGE_AFTER) {
        Some(after) => after.parse::<Timestamp>().ok(),
        None => backup.status.as_ref().and_then(|s| s.expiration),
    };
    backup.metadata.deletion_timestamp.is_none()
        && backup.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Deleting")
        && ends.is_some_and(|ends| ends <= now)
}

/// Asks Velero to delete `backup` (once: the request's name is the
/// backup's), and records it.
async fn purge(
    ctx: &BackupContext,
    member: &str,
    backup: &Backup,
    now: Timestamp,
) -> Result<(), kube::Error> {
    let name = backup.name_any();
    let velero_namespace = &ctx.settings.velero_namespace;
    let request = DeleteBackupRequest {
        metadata: ObjectMeta {
            name: Some(format!("{name}-purge")),
            namespace: Some(velero_namespace.clone()),
            labels: Some(BTreeMap::from([
                (BACKUP_NAME_LABEL.to_owned(), name.clone()),
                (
                    BACKUP_UID_LABEL.to_owned(),
                    backup.uid().unwrap_or_default(),
                ),
                (labels::MEMBER.to_owned(), member.to_owned()),
                (labels::COMPONENT.to_owned(), metadata::COMPONENT.to_owned()),
                (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        spec: DeleteBackupRequestSpec {
            backup_name: name.clone(),
        },
    };
    let requests =
        Api::<DeleteBackupRequest>::namespaced(ctx.shared.client.clone(), velero_namespace);
    match requests.create(&PostParams::default(), &request).await {
        Ok(_) => ctx.shared.metrics.wrote(CONTROLLER, 1),
        // Asked already: recorded already, or recorded below if it was not.
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => return Err(error),
    }
    let completed = backup
        .status
        .as_ref()
        .and_then(|s| s.completion_timestamp)
        .map_or_else(
            || "never completed".to_owned(),
            |at| format!("completed {at}"),
        );
    let what = format!(
        "Velero backup {velero_namespace}/{name} of departed member {member} ({completed}) purged at the end of its retention"
    );
    let record = metering::purged(member, &name, now, what.clone(), &ctx.shared.namespace);
    let records = Api::<UsageRecord>::namespaced(ctx.shared.client.clone(), &ctx.shared.namespace);
    match records.create(&PostParams::default(), &record).await {
        Ok(created) => {
            ctx.shared.metrics.wrote(CONTROLLER, 1);
            info!(%member, backup = %name, "purged a departed member's backup");
            ctx.shared
                .event(&created, EventType::Normal, "BackupPurged", what)
                .await;
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => return Err(error),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(annotation: Option<&str>, expiration: Option<&str>, phase: &str) -> Backup {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": "commune-allaire-exit",
                "annotations": annotation.map(|at| serde_json::json!({metadata::PURGE_AFTER: at})),
            },
            "spec": {},
            "status": {"phase": phase, "expiration": expiration},
        }))
        .unwrap()
    }

    #[test]
    fn a_backup_is_due_at_the_end_of_its_retention_and_not_before() {
        let now: Timestamp = "2027-12-06T00:00:00Z".parse().unwrap();
        // The exit backup: its annotation, not Velero's later expiration.
        let exit = backup(
            Some("2027-12-05T00:00:00Z"),
            Some("2027-12-12T00:00:00Z"),
            "Completed",
        );
        assert!(due(&exit, now));
        let kept = backup(Some("2027-12-07T00:00:00Z"), None, "Completed");
        assert!(!due(&kept, now));
        // Any other backup: Velero's expiration.
        assert!(due(
            &backup(None, Some("2027-12-01T00:00:00Z"), "Completed"),
            now
        ));
        assert!(!due(
            &backup(None, Some("2028-01-01T00:00:00Z"), "Completed"),
            now
        ));
        // Being deleted already, or with no end known: left alone.
        assert!(!due(
            &backup(None, Some("2027-12-01T00:00:00Z"), "Deleting"),
            now
        ));
        assert!(!due(&backup(None, None, "Completed"), now));
    }
}

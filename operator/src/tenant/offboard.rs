//! Apply, when a Member's tenant is no longer wanted: the Member deleted, or
//! its hosting ended (article 2.4: leaving is a date, the subscriptions'
//! `endDate`). One path, whatever arrived first — the deletion, the
//! confirmation or the date — and whatever happened in between (a restart):
//!
//! 1. every volume bound to a claim of the tenant is set to `Retain`,
//!    labelled with the member and the date, then read again and verified;
//! 2. the namespace is marked as offboarding (the date it began);
//! 3. only when the Member carries the confirmation (its own name), and its
//!    exit backup has completed ([`super::exit_backup`], for a member with
//!    backups), is the namespace marked confirmed — the mark without which
//!    the admission policy `socle-tenant-namespaces` refuses its deletion,
//!    and which only socle may set — and then deleted, with a precondition
//!    on its uid.
//!
//! While it waits (for the confirmation, the exit backup) offboarding errs,
//! so that a deleted Member keeps its finalizer.
//!
//! Step 3 runs only after step 1 verified every volume in the same pass: a
//! confirmation that arrives first waits for it like any other.

use std::fmt::Write as _;

use jiff::civil::Date;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions},
    runtime::{controller::Action, events::EventType},
};
use serde_json::json;

use super::{
    Error, OFFBOARDING_MANAGER, TenantContext,
    exit_backup::{ExitBackup, exit_backup_of},
    status,
};

use crate::{api::Member, labels};

/// A volume kept for a departing commune: where its data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptVolume {
    /// The PersistentVolume's name.
    pub name: String,
    /// Its capacity, as the volume states it (`50Gi`).
    pub capacity: String,
    /// The claim of the tenant it was bound to.
    pub claim: String,
}

/// What the Member says about deleting its tenant.
#[derive(Debug, PartialEq, Eq)]
enum Confirmation {
    /// No confirmation annotation.
    Missing,
    /// The annotation names the member: the DSI confirmed.
    Given,
    /// The annotation names something else (a typo, another case): refused.
    Mismatch(String),
}

fn confirmation(member: &Member) -> Confirmation {
    match member.annotations().get(labels::CONFIRM_OFFBOARDING) {
        None => Confirmation::Missing,
        Some(value) if *value == member.name_any() => Confirmation::Given,
        Some(value) => Confirmation::Mismatch(value.clone()),
    }
}

/// Runs the offboarding as far as the Member allows. `Ok` once the namespace
/// is gone or being deleted; [`Error::AwaitingConfirmation`] (or
/// [`Error::ConfirmationMismatch`]) while it is kept.
pub(super) async fn offboard(
    member: &Member,
    ctx: &TenantContext,
    today: Date,
) -> Result<Action, Error> {
    let name = member.name_any();
    let namespace_name = ctx.settings.namespace_of(&name);
    let namespaces = Api::<Namespace>::all(ctx.shared.client.clone());
    let Some(namespace) = namespaces.get_opt(&namespace_name).await? else {
        return Ok(Action::await_change());
    };
    if namespace.meta().deletion_timestamp.is_some() {
        // Confirmed and verified in an earlier pass: kube-controller-manager
        // is emptying it.
        return Ok(Action::await_change());
    }
    let kept = retain_volumes(&namespace_name, &name, today, ctx).await?;
    if !namespace.labels().contains_key(labels::OFFBOARDING) {
        mark(
            &namespaces,
            &namespace_name,
            labels::OFFBOARDING,
            &today.to_string(),
        )
        .await?;
    }
    let data = describe(&kept);
    match confirmation(member) {
        Confirmation::Given => {
            let saved = exit_backup_taken(member, &namespace_name, &data, today, ctx).await?;
            mark(
                &namespaces,
                &namespace_name,
                labels::OFFBOARDING_CONFIRMED,
                &name,
            )
            .await?;
            let only_this_one = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: namespace.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            namespaces.delete(&namespace_name, &only_this_one).await?;
            ctx.shared
                .event(
                    member,
                    EventType::Normal,
                    "OffboardingConfirmed",
                    format!(
                        "namespace {namespace_name} is being deleted, as confirmed; the commune's data stays on {data}{saved}"
                    ),
                )
                .await;
            Ok(Action::await_change())
        }
        Confirmation::Missing => {
            let message = format!(
                "namespace {namespace_name} is kept, and so is the commune's data on {data}; annotate {}={name} to delete the namespace",
                labels::CONFIRM_OFFBOARDING
            );
            status::offboarding(
                member,
                ctx,
                &namespace_name,
                "AwaitingConfirmation",
                message,
            )
            .await?;
            Err(Error::AwaitingConfirmation(name))
        }
        Confirmation::Mismatch(given) => {
            let error = Error::ConfirmationMismatch {
                member: name,
                given,
            };
            let message = format!(
                "{error}; namespace {namespace_name} is kept, and so is the commune's data on {data}"
            );
            status::offboarding(
                member,
                ctx,
                &namespace_name,
                "ConfirmationMismatch",
                message,
            )
            .await?;
            Err(error)
        }
    }
}

/// The exit backup, before the namespace may go ([`super::exit_backup`]):
/// what the confirmation Event adds about it once it is taken; an error
/// (which keeps the namespace, and the Member's finalizer) until then.
async fn exit_backup_taken(
    member: &Member,
    namespace_name: &str,
    data: &str,
    today: Date,
    ctx: &TenantContext,
) -> Result<String, Error> {
    Ok(
        match exit_backup_of(member, namespace_name, &today.to_string(), ctx).await? {
            ExitBackup::Completed(backup) => format!(
                "; its exit backup {backup} is kept {} days",
                ctx.settings.exit_backup_retention_days
            ),
            ExitBackup::NotSubscribed => {
                "; no exit backup: the member has no spec.backup".to_owned()
            }
            ExitBackup::Running(phase) => {
                let message = format!(
                    "namespace {namespace_name} is kept until its exit backup completes (Velero: {phase}); the commune's data stays on {data}"
                );
                status::offboarding(member, ctx, namespace_name, "ExitBackupInProgress", message)
                    .await?;
                return Err(Error::ExitBackupInProgress(format!(
                    "{}/{}",
                    ctx.settings.velero_namespace,
                    super::exit_backup::exit_backup_name(namespace_name)
                )));
            }
            ExitBackup::Failed(why) => {
                let message = format!(
                    "{why}; namespace {namespace_name} is kept, and so is the commune's data on {data}"
                );
                status::offboarding(
                    member,
                    ctx,
                    namespace_name,
                    "ExitBackupFailed",
                    message.clone(),
                )
                .await?;
                ctx.shared
                    .event(member, EventType::Warning, "ExitBackupFailed", message)
                    .await;
                return Err(Error::ExitBackupFailed(why));
            }
        },
    )
}

/// Sets one of socle's offboarding labels on the namespace. See
/// [`apply_offboarding_labels`].
async fn mark(
    namespaces: &Api<Namespace>,
    namespace: &str,
    key: &str,
    value: &str,
) -> Result<(), kube::Error> {
    apply_offboarding_labels(namespaces, namespace, &json!({key: value})).await
}

/// Withdraws the offboarding mark of a tenant hosted again: applied with no
/// label, the offboarding field manager gives up the ones it set.
pub(super) async fn call_off(client: &kube::Client, namespace: &str) -> Result<(), kube::Error> {
    let namespaces = Api::<Namespace>::all(client.clone());
    apply_offboarding_labels(&namespaces, namespace, &json!({})).await
}

/// Applies exactly `labels` to the namespace under a field manager of their
/// own: applied as `socle`, these lone labels would withdraw every other
/// label socle applied (Pod Security included).
async fn apply_offboarding_labels(
    namespaces: &Api<Namespace>,
    namespace: &str,
    labels: &serde_json::Value,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": labels},
    });
    namespaces
        .patch(
            namespace,
            &PatchParams::apply(OFFBOARDING_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// Every volume bound to a claim of the tenant gets
/// `persistentVolumeReclaimPolicy: Retain` and the member's labels, then is
/// read again: a volume that does not say `Retain` is an error, and nothing
/// is deleted in this pass. A claim not bound holds no data.
async fn retain_volumes(
    namespace: &str,
    member: &str,
    today: Date,
    ctx: &TenantContext,
) -> Result<Vec<KeptVolume>, Error> {
    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.shared.client.clone(), namespace);
    let volumes = Api::<PersistentVolume>::all(ctx.shared.client.clone());
    let mut kept = Vec::new();
    for claim in claims.list(&ListParams::default()).await? {
        let Some(volume_name) = claim.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
            continue;
        };
        let volume = volumes.get(&volume_name).await?;
        if !bound_to(&volume, namespace, &claim.name_any()) {
            // The claim names a volume that is not (or no longer) its own.
            continue;
        }
        if !is_kept(&volume, member) {
            let patch = json!({
                "metadata": {"labels": {labels::MEMBER: member, labels::OFFBOARDING: today.to_string()}},
                "spec": {"persistentVolumeReclaimPolicy": "Retain"},
            });
            volumes
                .patch(&volume_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        let verified = volumes.get(&volume_name).await?;
        if !is_kept(&verified, member) {
            return Err(Error::VolumeNotRetained(volume_name));
        }
        kept.push(KeptVolume {
            capacity: capacity(&verified),
            name: volume_name,
            claim: claim.name_any(),
        });
    }
    Ok(kept)
}

/// Whether the volume's claim reference is `namespace/claim`.
fn bound_to(volume: &PersistentVolume, namespace: &str, claim: &str) -> bool {
    volume
        .spec
        .as_ref()
        .and_then(|spec| spec.claim_ref.as_ref())
        .is_some_and(|reference| {
            reference.namespace.as_deref() == Some(namespace)
                && reference.name.as_deref() == Some(claim)
        })
}

/// Whether the volume is `Retain` and labelled as the member's.
fn is_kept(volume: &PersistentVolume, member: &str) -> bool {
    let retained = volume
        .spec
        .as_ref()
        .and_then(|spec| spec.persistent_volume_reclaim_policy.as_deref())
        == Some("Retain");
    retained
        && volume.labels().get(labels::MEMBER).map(String::as_str) == Some(member)
        && volume.labels().contains_key(labels::OFFBOARDING)
}

fn capacity(volume: &PersistentVolume) -> String {
    volume
        .spec
        .as_ref()
        .and_then(|spec| spec.capacity.as_ref())
        .and_then(|capacity| capacity.get("storage"))
        .map_or_else(|| "unknown size".to_owned(), |quantity| quantity.0.clone())
}

/// Where the data is, for a condition or an Event.
fn describe(kept: &[KeptVolume]) -> String {
    if kept.is_empty() {
        return "no bound volume (nothing to retain)".to_owned();
    }
    let mut text = String::from("volumes ");
    for (i, volume) in kept.iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(
            text,
            "{separator}{} ({}, claim {})",
            volume.name, volume.capacity, volume.claim
        );
    }
    text.push_str(" (reclaim policy Retain)");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(annotations: &str) -> Member {
        serde_yaml::from_str(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: allaire, annotations: {annotations}}}
spec:
  displayName: Allaire
  inseeCode: "56001"
  population: {{count: 3875, year: 2021}}
  subscriptions: [{{offer: SocleComplet, effectiveDate: "2025-09-01"}}]
"#
        ))
        .unwrap()
    }

    #[test]
    fn only_the_members_own_name_confirms() {
        let key = labels::CONFIRM_OFFBOARDING;
        assert_eq!(confirmation(&member("{}")), Confirmation::Missing);
        assert_eq!(
            confirmation(&member(&format!("{{{key}: allaire}}"))),
            Confirmation::Given
        );
        for wrong in ["Allaire", "allaire ", "alaire", "true"] {
            assert_eq!(
                confirmation(&member(&format!("{{{key}: '{wrong}'}}"))),
                Confirmation::Mismatch(wrong.to_owned()),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn the_message_says_where_the_data_is() {
        let kept = [
            KeptVolume {
                name: "pvc-1".into(),
                capacity: "50Gi".into(),
                claim: "data".into(),
            },
            KeptVolume {
                name: "pvc-2".into(),
                capacity: "1Gi".into(),
                claim: "logs".into(),
            },
        ];
        assert_eq!(
            describe(&kept),
            "volumes pvc-1 (50Gi, claim data), pvc-2 (1Gi, claim logs) (reclaim policy Retain)"
        );
        assert_eq!(describe(&[]), "no bound volume (nothing to retain)");
    }

    #[test]
    fn a_volume_is_kept_only_when_retained_and_labelled() {
        let volume = |policy: &str, member: &str| -> PersistentVolume {
            serde_json::from_value(json!({
                "metadata": {"name": "pvc-1", "labels": {labels::MEMBER: member, labels::OFFBOARDING: "2026-12-05"}},
                "spec": {"persistentVolumeReclaimPolicy": policy,
                         "claimRef": {"namespace": "commune-allaire", "name": "data"}},
            }))
            .unwrap()
        };
        assert!(is_kept(&volume("Retain", "allaire"), "allaire"));
        assert!(!is_kept(&volume("Delete", "allaire"), "allaire"));
        assert!(!is_kept(&volume("Retain", "bains-sur-oust"), "allaire"));
        assert!(bound_to(
            &volume("Retain", "allaire"),
            "commune-allaire",
            "data"
        ));
        assert!(!bound_to(
            &volume("Retain", "allaire"),
            "commune-allaire",
            "logs"
        ));
        assert!(!bound_to(
            &volume("Retain", "allaire"),
            "commune-peillac",
            "data"
        ));
    }
}

//! Offboard: a member without `spec.backup` (it left the service, or never
//! had it) keeps no Schedule, no drill sandbox and no backup status. Its
//! backups stay in Velero until their retention ends ([`super::purge`]).

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Resource, ResourceExt, api::DeleteParams, runtime::controller::Action};

use super::{BackupContext, Error, drill, of_member, provision::delete_schedules, status};
use crate::api::Member;

/// A member without `spec.backup`: no Schedule, no sandbox, no status.
pub(super) async fn retire(member: &Member, ctx: &BackupContext) -> Result<Action, Error> {
    delete_schedules(member, None, ctx).await?;
    let namespaces = Api::<Namespace>::all(ctx.shared.client.clone());
    for sandbox in of_member(&ctx.sandboxes, member) {
        if drill::is_sandbox_of(&sandbox, &member.name_any())
            && sandbox.meta().deletion_timestamp.is_none()
        {
            namespaces
                .delete(&sandbox.name_any(), &DeleteParams::background())
                .await?;
        }
    }
    status::write(&ctx.shared, member, &[], None).await?;
    ctx.settings.metrics.forget(&member.name_any());
    Ok(Action::await_change())
}

//! Status: the part of a Member's status the tenant controller owns —
//! `TenantReady`, `Ready`, `Offboarding`, `Departed` and `status.namespace`
//! — merged with what is there and written only when it changed.

use jiff::civil::Date;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use serde_json::json;

use super::{CONDITION, TenantContext};
use crate::{
    api::{Member, MemberStatus},
    runtime::{
        apply::FIELD_MANAGER,
        conditions::{condition, merge, with_ready},
        status::{READY_GATES, apply_member_status},
    },
};

/// `Offboarding`: the tenant is kept until the DSI confirms.
pub const OFFBOARDING: &str = "Offboarding";
/// `Departed`: every subscription has ended and the tenant is gone; the
/// Member stays as the contractual record (article 2.4).
pub const DEPARTED: &str = "Departed";

/// Condition types this controller owns in a Member's status.
const OWNED_CONDITIONS: [&str; 4] = [CONDITION, "Ready", OFFBOARDING, DEPARTED];

/// The member's status with `tenant` as its `TenantReady` (and `Ready`
/// following it).
pub fn tenant_status(
    member: &Member,
    namespace: Option<String>,
    tenant: Condition,
) -> MemberStatus {
    let mut status = member.status.clone().unwrap_or_default();
    let generation = member.meta().generation;
    status.conditions = with_ready(&merge(&status.conditions, tenant), &READY_GATES, generation);
    status.namespace = namespace;
    status.observed_generation = generation;
    status
}

/// A tenant kept while its offboarding waits: `Offboarding=True` and, since
/// the tenant is no longer in service, `TenantReady=False`; both say where
/// the data is and what to do.
pub async fn offboarding(
    member: &Member,
    ctx: &TenantContext,
    namespace: &str,
    reason: &str,
    message: String,
) -> Result<(), kube::Error> {
    let generation = member.meta().generation;
    let tenant = condition(CONDITION, false, reason, message.clone(), generation);
    let mut status = tenant_status(member, Some(namespace.to_owned()), tenant);
    status.conditions = merge(
        &status.conditions,
        condition(OFFBOARDING, true, reason, message, generation),
    );
    write_status(member, ctx, status).await
}

/// A member with no tenant: `TenantReady=True` (nothing to provision),
/// offboarding over if it was under way, and `Departed` once it has left.
pub async fn not_hosted(
    member: &Member,
    ctx: &TenantContext,
    today: Date,
) -> Result<(), kube::Error> {
    let generation = member.meta().generation;
    let (reason, message) = match member.left_on(today) {
        Some(last_day) => (
            "Departed",
            format!("the member left on {last_day} (article 2.4): it has no tenant any more"),
        ),
        None => (
            "NotHosted",
            "the member is not hosted in the Datacenter".to_owned(),
        ),
    };
    let mut status = tenant_status(
        member,
        None,
        condition(CONDITION, true, reason, message.clone(), generation),
    );
    let was_offboarding = status
        .conditions
        .iter()
        .any(|c| c.type_ == OFFBOARDING && c.status == "True");
    if was_offboarding {
        status.conditions = merge(
            &status.conditions,
            condition(
                OFFBOARDING,
                false,
                "Completed",
                "the tenant namespace was deleted after confirmation; the retained volumes stay until the DSI releases them",
                generation,
            ),
        );
    }
    if member.left_on(today).is_some() {
        status.conditions = merge(
            &status.conditions,
            condition(DEPARTED, true, "Left", message, generation),
        );
    }
    write_status(member, ctx, status).await
}

/// The conditions this controller owns, sorted by type.
fn owned_conditions(conditions: &[Condition]) -> Vec<&Condition> {
    let mut owned: Vec<&Condition> = conditions
        .iter()
        .filter(|c| OWNED_CONDITIONS.contains(&c.type_.as_str()))
        .collect();
    owned.sort_by(|a, b| a.type_.cmp(&b.type_));
    owned
}

/// Writes the status through the status subresource, unless it is unchanged.
/// Only the fields this controller owns are applied, so that the billing
/// controller's `status.contribution` (another field manager) is left alone.
pub async fn write_status(
    member: &Member,
    ctx: &TenantContext,
    status: MemberStatus,
) -> Result<(), kube::Error> {
    // Only the owned fields, and conditions in any order: the API server
    // keeps the list in the order the field managers applied their items
    // (Billable, written by the billing controller, may come first), while
    // `merge` sorts by type. Comparing the whole status wrote every hosted
    // Member again at each resync once billing had written.
    let live = member.status.clone().unwrap_or_default();
    let owned = owned_conditions(&status.conditions);
    if owned_conditions(&live.conditions) == owned
        && live.namespace == status.namespace
        && live.observed_generation == status.observed_generation
    {
        return Ok(());
    }
    apply_member_status(&ctx.shared, member, FIELD_MANAGER, owned_fields(&status)).await
}

/// The fields of `status` this controller owns, as it applies them.
pub fn owned_fields(status: &MemberStatus) -> serde_json::Value {
    json!({
        "conditions": owned_conditions(&status.conditions),
        "namespace": status.namespace,
        "observedGeneration": status.observed_generation,
    })
}

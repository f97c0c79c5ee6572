//! Labels and annotations socle puts on what it manages. Selectors use them to
//! find a member's objects, so their keys never change.

/// The member an object belongs to (its `metadata.name`).
pub const MEMBER: &str = "socle.redon-agglomeration.bzh/member";
/// INSEE code of the member.
pub const INSEE: &str = "socle.redon-agglomeration.bzh/insee";
/// The member's current offer.
pub const OFFER: &str = "socle.redon-agglomeration.bzh/offer";
/// The member's population bracket (article 7), as a label-safe code.
pub const BRACKET: &str = "socle.redon-agglomeration.bzh/bracket";
/// Which socle component manages the object (`tenant`, `vpn`, `backup`, …).
pub const COMPONENT: &str = "socle.redon-agglomeration.bzh/component";
/// Standard label: every object socle creates says so.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGER: &str = "socle";

/// Set on a tenant namespace when its Member is deleted: the date offboarding began.
pub const OFFBOARDING: &str = "socle.redon-agglomeration.bzh/offboarding";
/// Put on a Member being deleted, with the member's name as value, to confirm
/// that its tenant namespace and data may be deleted.
pub const CONFIRM_OFFBOARDING: &str = "socle.redon-agglomeration.bzh/confirm-offboarding";
/// Set by socle on a tenant namespace once its Member's offboarding is
/// confirmed and every bound volume is verified `Retain`, with the member's
/// name as value: the admission policy `socle-tenant-namespaces` lets only a
/// namespace so marked be deleted, and only socle mark it.
pub const OFFBOARDING_CONFIRMED: &str = "socle.redon-agglomeration.bzh/offboarding-confirmed";

/// Pod Security admission `restricted`, enforced (and audited, warned) on
/// every namespace where a commune's workloads run: its tenant and the
/// sandboxes its backups are restored into. No privileges, host access or root.
pub fn pod_security_restricted() -> [(String, String); 3] {
    ["enforce", "audit", "warn"].map(|mode| {
        (
            format!("pod-security.kubernetes.io/{mode}"),
            "restricted".to_owned(),
        )
    })
}

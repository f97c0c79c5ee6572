//! Key rotation on request: a new value of [`super::ROTATE_KEY`] on a
//! Member asks for one new WireGuard key pair for its tunnel.
//!
//! The member's key is the router's interface key; the hub only knows its
//! public half as a peer. A rotation moves in this order, each step
//! recorded in the member's key Secret so that a restart resumes it rather
//! than starting over:
//!
//! 1. the new key goes into the Secret as the next key, beside the current
//!    one, with the request it answers ([`super::secrets::begin_rotation`]);
//! 2. the hub lists both public keys: the current one keeps the routes, the
//!    next one is a peer already, so that the hub knows it before the
//!    router uses it;
//! 3. the router gets the next private key, and the push verifies that its
//!    live interface runs it;
//! 4. only then the old key goes: the next key becomes the key
//!    ([`super::secrets::finish_rotation`]) and the hub lists it alone.
//!
//! A failed push leaves the rotation at step 2 — the router still runs the
//! old key and the hub still routes to it — and the next reconcile resumes
//! at step 3 with the same next key. The request is answered once: the
//! Secret remembers its value, and only a different value starts another
//! rotation. In dry run no rotation starts (a begun one waits), since the
//! router could not be given the new key.

use jiff::Timestamp;

use super::secrets::MemberKey;
use crate::api::member::VpnSiteStatus;

/// What the reconcile does about key rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing asked, or the request was answered.
    Idle,
    /// Start the rotation answering this request.
    Start(String),
    /// A rotation is under way: push the next key, then retire the old one.
    UnderWay,
}

/// The step for a member whose rotate annotation is `requested`, whose
/// Secret records `answered` (the request of the latest or current
/// rotation) and a next key when `rotating`.
pub fn step(
    requested: Option<&str>,
    answered: Option<&str>,
    rotating: bool,
    dry_run: bool,
) -> Step {
    if rotating {
        return Step::UnderWay;
    }
    match requested {
        Some(request) if !dry_run && Some(request) != answered => Step::Start(request.to_owned()),
        _ => Step::Idle,
    }
}

/// The rotation fields of `status.vpn`: those of the Secret once a rotation
/// is finished, the old ones while one is under way.
pub fn recorded(key: &MemberKey, old: &VpnSiteStatus) -> (Option<String>, Option<Timestamp>) {
    if key.next.is_some() {
        (old.key_rotation_request.clone(), old.last_key_rotation)
    } else {
        (key.rotation_request.clone(), key.rotated_at)
    }
}

/// Whether `new` records a rotation that `old` did not show yet: the
/// moment to say so in an Event, once.
pub fn newly_recorded(old: &VpnSiteStatus, new: &VpnSiteStatus) -> bool {
    new.last_key_rotation.is_some()
        && new.key_rotation_request.is_some()
        && new.key_rotation_request != old.key_rotation_request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_starts_one_rotation() {
        assert_eq!(step(None, None, false, false), Step::Idle);
        assert_eq!(step(Some("1"), None, false, false), Step::Start("1".into()));
        // Begun: the Secret holds the request and a next key.
        assert_eq!(step(Some("1"), Some("1"), true, false), Step::UnderWay);
        // Finished: the same request asks for nothing more.
        assert_eq!(step(Some("1"), Some("1"), false, false), Step::Idle);
        // A new value is a new request.
        assert_eq!(
            step(Some("2"), Some("1"), false, false),
            Step::Start("2".into())
        );
        // Removing the annotation does not undo anything.
        assert_eq!(step(None, Some("1"), false, false), Step::Idle);
    }

    #[test]
    fn a_rotation_under_way_is_finished_whatever_the_annotation_says() {
        assert_eq!(step(Some("2"), Some("1"), true, false), Step::UnderWay);
        assert_eq!(step(None, Some("1"), true, true), Step::UnderWay);
    }

    #[test]
    fn a_dry_run_starts_no_rotation() {
        assert_eq!(step(Some("1"), None, false, true), Step::Idle);
    }

    #[test]
    fn a_finished_rotation_is_told_once() {
        let at: Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
        let before = VpnSiteStatus::default();
        let after = VpnSiteStatus {
            key_rotation_request: Some("1".into()),
            last_key_rotation: Some(at),
            ..VpnSiteStatus::default()
        };
        assert!(newly_recorded(&before, &after));
        assert!(!newly_recorded(&after, &after));
        let next = VpnSiteStatus {
            key_rotation_request: Some("2".into()),
            last_key_rotation: Some(at),
            ..VpnSiteStatus::default()
        };
        assert!(newly_recorded(&after, &next));
    }
}

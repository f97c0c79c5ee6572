//! The push's decisions against a fake router that keeps a wg-quick file.

use super::*;
use crate::vpn::{
    router::{Linux, fixture},
    ssh::Output,
};

/// A router holding one file, failing the steps it is told to.
#[derive(Default)]
struct FakeRouter {
    file: String,
    key: String,
    fail_apply_once: bool,
    /// Keep the interface's old key after a write (a broken apply).
    stale_live_key: bool,
    writes: usize,
}

impl Transport for FakeRouter {
    async fn run(&mut self, script: &str, stdin: Option<&str>) -> Result<Output, SshError> {
        let mut output = Output {
            status: Some(0),
            ..Output::default()
        };
        if script.starts_with("# socle: read") {
            output.stdout = self.file.clone().into();
        } else if script.starts_with("# socle: apply") {
            self.writes += 1;
            self.file = stdin.unwrap_or_default().to_owned();
            if self.fail_apply_once {
                self.fail_apply_once = false;
                output.status = Some(1);
                output.stderr = "wg-quick: interface busy".into();
            } else if !self.stale_live_key {
                self.key = "member-public".into();
            }
        } else if script.starts_with("# socle: verify") {
            output.stdout = format!("{}\nhub-public\n", self.key).into();
        }
        Ok(output)
    }
}

fn request<'a>(desired: &'a str, last: Option<&'a str>) -> Request<'a> {
    Request {
        dialect: &Linux,
        interface: "socle0",
        desired,
        last_pushed: last,
        dry_run: false,
        correct_drift: false,
        public_key: "member-public",
        hub_public_key: "hub-public",
    }
}

fn desired() -> String {
    Linux.render(&fixture())
}

#[tokio::test]
async fn first_push_writes_then_nothing_more() {
    let mut router = FakeRouter::default();
    let wanted = desired();
    let report = push(&mut router, &request(&wanted, None)).await.unwrap();
    assert_eq!(report.action, Action::Applied);
    assert_eq!(router.writes, 1);
    let again = push(&mut router, &request(&wanted, Some(&wanted)))
        .await
        .unwrap();
    assert_eq!(again.action, Action::InSync);
    assert_eq!(router.writes, 1, "no write when the router has it");
}

#[tokio::test]
async fn a_failed_apply_is_rolled_back() {
    let previous = desired();
    let mut router = FakeRouter {
        file: previous.clone(),
        key: "member-public".into(),
        fail_apply_once: true,
        ..FakeRouter::default()
    };
    let mut tunnel = fixture();
    tunnel.sites = vec!["192.168.77.0/24".parse().unwrap()];
    let wanted = Linux.render(&tunnel);
    let error = push(&mut router, &request(&wanted, Some(&previous)))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("apply failed"), "{message}");
    assert!(message.contains("rolled back to the previous"), "{message}");
    assert_eq!(router.file.trim(), previous);
}

#[tokio::test]
async fn a_failed_verification_is_rolled_back() {
    let mut router = FakeRouter {
        stale_live_key: true,
        key: "someone-else".into(),
        ..FakeRouter::default()
    };
    let wanted = desired();
    let error = push(&mut router, &request(&wanted, None))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("verification failed"), "{message}");
    assert!(
        message.contains("does not run the member's key"),
        "{message}"
    );
    assert_eq!(router.file, "", "the first push is undone");
}

#[tokio::test]
async fn drift_is_reported_and_corrected_only_when_asked() {
    let wanted = desired();
    let tampered = wanted.replace("PersistentKeepalive = 25", "PersistentKeepalive = 0");
    let mut router = FakeRouter {
        file: tampered.clone(),
        key: "member-public".into(),
        ..FakeRouter::default()
    };
    let report = push(&mut router, &request(&wanted, Some(&wanted)))
        .await
        .unwrap();
    let drift = report.drift.clone().unwrap();
    assert!(drift.contains("+ PersistentKeepalive = 0"), "{drift}");
    assert!(matches!(report.action, Action::DriftLeft(_)));
    assert_eq!(router.writes, 0);
    let mut correcting = request(&wanted, Some(&wanted));
    correcting.correct_drift = true;
    let report = push(&mut router, &correcting).await.unwrap();
    assert_eq!(report.action, Action::Applied);
    assert!(report.drift.is_some());
    assert_eq!(router.file.trim(), wanted);
}

#[tokio::test]
async fn dry_run_shows_the_diff_without_the_key_and_writes_nothing() {
    let mut router = FakeRouter::default();
    let wanted = desired();
    let mut dry = request(&wanted, None);
    dry.dry_run = true;
    let report = push(&mut router, &dry).await.unwrap();
    let Action::Pending(diff) = report.action else {
        panic!("a pending diff")
    };
    assert!(diff.contains("+ Address = 10.200.0.7/22"), "{diff}");
    assert!(!diff.contains(fixture().private_key.as_str()), "{diff}");
    assert_eq!(router.writes, 0);
}

#[tokio::test]
async fn removal_empties_the_router_once() {
    let mut router = FakeRouter {
        file: desired(),
        key: "member-public".into(),
        ..FakeRouter::default()
    };
    assert!(remove(&mut router, &Linux, "socle0").await.unwrap());
    assert_eq!(router.file, "");
    assert_eq!(router.writes, 1);
    assert!(!remove(&mut router, &Linux, "socle0").await.unwrap());
    assert_eq!(router.writes, 1, "nothing to remove, nothing written");
}

#[tokio::test]
async fn a_failed_removal_says_so() {
    let mut router = FakeRouter {
        file: desired(),
        fail_apply_once: true,
        ..FakeRouter::default()
    };
    let message = remove(&mut router, &Linux, "socle0")
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("removal failed"), "{message}");
    assert!(message.contains("interface busy"), "{message}");
}

#[test]
fn a_request_never_shows_the_configurations_it_carries() {
    let wanted = desired();
    let shown = format!("{:?}", request(&wanted, Some(&wanted)));
    assert!(!shown.contains(fixture().private_key.as_str()), "{shown}");
    assert!(shown.contains("member-public"), "{shown}");
}

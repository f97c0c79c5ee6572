//! Helpers shared by socle's end-to-end tests, which run against the real
//! control plane of `cargo xtask testenv up` (kube-apiserver, etcd and
//! kube-controller-manager on 127.0.0.1).
//!
//! - [`connect`]: a client for `$KUBECONFIG`; panics with how to start the
//!   control plane rather than skipping. Its requests carry [`USER_AGENT`].
//! - [`TestScope`]: unique names and a `socle.test/scope` label for everything
//!   a test creates, and the deletion of all of it afterwards, so that tests
//!   run in parallel and leave nothing behind.
//! - [`eventually`]: waits for a condition that converges (controllers act
//!   asynchronously) and reports the last observation on timeout.
//! - [`examples`]: the 31 example communes, renamed into a scope.
//! - [`gitops`]: a Git repository served over SSH, and Flux applying it.
//! - [`vpn`]: the VPN tests' world: a scope's install, a gateway, the VPN
//!   controller run in-process, Members pointing at emulated routers.
//! - [`AuditMark`]: the API server's audit events since a point in time, to
//!   assert who wrote what (e.g. no writes by the operator in steady state).

#![forbid(unsafe_code)]

mod audit;
mod cleanup;
mod connect;
mod crds;
mod eventually;
pub mod examples;
pub mod gitops;
pub mod install;
pub mod operator;
pub mod process;
mod scope;
pub mod velero;
pub mod volumes;
pub mod vpn;

/// The emulated commune router, shared with `cargo xtask demo`.
pub use socle_router_emulator as router;

pub use self::{
    audit::{AuditEvent, AuditMark, testenv_state, username},
    connect::{USER_AGENT, connect},
    crds::{install_crds, install_socle_crds},
    eventually::eventually,
    scope::{SCOPE_LABEL, TEST_LABEL, TestScope},
};

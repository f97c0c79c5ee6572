//! What every controller shares: the client, the event recorder, the error
//! categories and their retry policy, conditions, and server-side apply.

pub mod admission;
pub mod apply;
pub mod cache;
pub mod conditions;
pub mod interner;
pub mod seen;
pub mod status;
pub mod telemetry;
pub mod watch;

use std::{sync::Arc, time::Duration};

use self::{
    status::OwnWrites,
    telemetry::{Health, Metrics},
};

use kube::{
    Client, Resource,
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
    },
};
use tracing::warn;

/// State shared by the reconciles of all controllers.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    /// Namespace of the operator: Secrets, UsageRecords, statements, drill reports.
    pub namespace: String,
    /// Label selector limiting the Members this operator manages (`None`: all).
    /// Lets several operators share a cluster, each with its own Members —
    /// end-to-end tests run one per test scope.
    pub member_selector: Option<String>,
    /// Prometheus metrics shared by every controller.
    pub metrics: Arc<Metrics>,
    /// Readiness of every controller's watches.
    pub health: Arc<Health>,
    /// Member status writes the watch has not brought back yet.
    pub own_writes: Arc<OwnWrites>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, namespace: String, member_selector: Option<String>) -> Self {
        let reporter = Reporter {
            controller: "socle".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespace,
            member_selector,
            metrics: Arc::default(),
            health: Arc::default(),
            own_writes: Arc::default(),
        }
    }

    /// Publishes an Event on `object`. An Event that cannot be written is
    /// logged, never allowed to fail the reconcile it describes.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(within_event_limit(note)),
            action: reason.into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &object.object_ref(&())).await {
            warn!(%error, reason, "could not publish an Event");
        }
    }
}

impl Context {
    /// The watch of Members, limited by [`Context::member_selector`].
    pub fn member_watch(&self) -> kube::runtime::watcher::Config {
        let config = kube::runtime::watcher::Config::default();
        match &self.member_selector {
            Some(selector) => config.labels(selector),
            None => config,
        }
    }
}

/// The API server refuses an Event whose note is longer than this (in
/// bytes): a long error chain (seen at 10 000 Members) lost its whole Event.
const EVENT_NOTE_LIMIT: usize = 1024;

/// `note`, cut on a character boundary with an ellipsis if it is too long
/// for an Event.
fn within_event_limit(mut note: String) -> String {
    if note.len() > EVENT_NOTE_LIMIT {
        let mut end = EVENT_NOTE_LIMIT - '…'.len_utf8();
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    note
}

/// How a failure is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The spec must change first: wait for it.
    AwaitChange,
    /// Transient (API server, network): try again later.
    Backoff,
}

/// Every controller error says what category it belongs to — the Event reason
/// and the metric label — and how to retry.
pub trait Categorized: std::error::Error {
    fn category(&self) -> &'static str;
    fn retry(&self) -> Retry;
}

/// The action after a failed reconcile, from its error's category.
pub fn error_action(error: &impl Categorized) -> Action {
    match error.retry() {
        Retry::AwaitChange => Action::await_change(),
        Retry::Backoff => Action::requeue(Duration::from_secs(15)),
    }
}

/// The full chain of an error, for Events and logs.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{EVENT_NOTE_LIMIT, within_event_limit};

    #[test]
    fn event_notes_are_cut_to_what_the_api_server_accepts() {
        assert_eq!(within_event_limit("court".into()), "court");
        let long = "é".repeat(EVENT_NOTE_LIMIT);
        let cut = within_event_limit(long);
        assert!(cut.len() <= EVENT_NOTE_LIMIT, "{} bytes", cut.len());
        assert!(cut.ends_with("é…"), "cut on a character boundary");
        let exact = "a".repeat(EVENT_NOTE_LIMIT);
        assert_eq!(within_event_limit(exact.clone()), exact);
    }
}

//! The API server's audit log (`$SOCLE_TESTENV_DIR/audit.log`, one JSON event
//! per request at level Metadata): who did what, since a point in time.

use std::{
    fmt,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, ensure};
use k8s_openapi::{
    api::{authentication::v1::SelfSubjectReview, core::v1::Namespace},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};
use serde_json::Value;

use crate::{connect::HOW_TO_START, eventually, scope::random_id};

/// How long the API server may take to write the event of a finished request.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A point in the audit log from which [`AuditMark::events`] reads.
#[derive(Debug, Clone)]
pub struct AuditMark {
    path: PathBuf,
    offset: u64,
    since: Timestamp,
}

/// One request as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who made the request, e.g. `system:serviceaccount:socle:socle`.
    pub user: String,
    /// The client's user agent, e.g. `…/namespace-controller` for that
    /// controller of kube-controller-manager.
    pub user_agent: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`…
    pub verb: String,
    /// API group of the resource, empty for the core group.
    pub api_group: String,
    /// The resource's plural name (`configmaps`); empty for a non-resource
    /// request such as `/version`.
    pub resource: String,
    /// The subresource (`status`, `finalize`…), if any.
    pub subresource: Option<String>,
    /// Namespace of the object or collection, if namespaced.
    pub namespace: Option<String>,
    /// Name of the object, absent for lists and collections.
    pub name: Option<String>,
    /// HTTP status code of the response.
    pub code: Option<u16>,
    /// When the API server received the request.
    pub received: Timestamp,
    /// The request's path and query.
    pub uri: String,
}

impl AuditEvent {
    /// True for the verbs that change state: create, update, patch, delete,
    /// deletecollection (whether or not the server let them through), unless
    /// asked as a dry run, which stores nothing (socle's start-up check of
    /// its admission policy is one).
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) && !self.uri.contains("dryRun=All")
    }

    /// `None` when the line is an event of another stage than the end of a
    /// request (a watch that is still open logs `ResponseStarted`).
    fn parse(event: &Value) -> anyhow::Result<Option<Self>> {
        if !matches!(event["stage"].as_str(), Some("ResponseComplete" | "Panic")) {
            return Ok(None);
        }
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let object = &event["objectRef"];
        Ok(Some(Self {
            user: text(&event["user"]["username"]).context("no user.username")?,
            user_agent: text(&event["userAgent"]).unwrap_or_default(),
            verb: text(&event["verb"]).context("no verb")?,
            api_group: text(&object["apiGroup"]).unwrap_or_default(),
            resource: text(&object["resource"]).unwrap_or_default(),
            subresource: text(&object["subresource"]),
            namespace: text(&object["namespace"]),
            name: text(&object["name"]),
            code: event["responseStatus"]["code"]
                .as_u64()
                .and_then(|code| code.try_into().ok()),
            received: event["requestReceivedTimestamp"]
                .as_str()
                .context("no requestReceivedTimestamp")?
                .parse()?,
            uri: text(&event["requestURI"]).unwrap_or_default(),
        }))
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.user, self.verb, self.resource)?;
        if let Some(subresource) = &self.subresource {
            write!(f, "/{subresource}")?;
        }
        match (&self.namespace, &self.name) {
            (Some(namespace), Some(name)) => write!(f, " {namespace}/{name}")?,
            (Some(namespace), None) => write!(f, " in {namespace}")?,
            (None, Some(name)) => write!(f, " {name}")?,
            (None, None) => {}
        }
        if self.resource.is_empty() {
            write!(f, " {}", self.uri)?;
        }
        if let Some(code) = self.code {
            write!(f, " -> {code}")?;
        }
        write!(f, " ({})", self.user_agent)
    }
}

impl AuditMark {
    /// Marks the present moment. The log is found in `$SOCLE_TESTENV_DIR`,
    /// or else next to `$KUBECONFIG` (where `cargo xtask testenv up` puts
    /// both); panics if it is not there.
    pub fn now() -> Self {
        let path = testenv_dir().join("audit.log");
        let offset = std::fs::metadata(&path)
            .unwrap_or_else(|error| {
                panic!(
                    "no audit log at {} ({error}): {HOW_TO_START}",
                    path.display()
                )
            })
            .len();
        Self {
            path,
            offset,
            since: Timestamp::now(),
        }
    }

    /// Every request the API server received since the mark and has finished,
    /// oldest first. Requests that `client`'s own calls completed before this
    /// one are all included: the server writes events after it answers, so
    /// this first waits for the event of a request of its own (a `get` of a
    /// namespace that does not exist, left out of the result).
    pub async fn events(&self, client: &Client) -> Vec<AuditEvent> {
        let barrier = format!("socle-audit-barrier-{}", random_id());
        Api::<Namespace>::all(client.clone())
            .get_opt(&barrier)
            .await
            .unwrap_or_else(|error| panic!("audit barrier request: {error}"));
        let is_barrier = |event: &AuditEvent| event.name.as_deref() == Some(barrier.as_str());
        let mut events = eventually(FLUSH_TIMEOUT, || async {
            let events = self.read()?;
            ensure!(
                events.iter().any(is_barrier),
                "the event of `get namespaces/{barrier}` is not in {} yet",
                self.path.display()
            );
            Ok(events)
        })
        .await;
        events.retain(|event| !is_barrier(event));
        events
    }

    /// The writes ([`AuditEvent::is_write`]) made by `user` since the mark.
    pub async fn writes_by(&self, client: &Client, user: &str) -> Vec<AuditEvent> {
        let mut events = self.events(client).await;
        events.retain(|event| event.user == user && event.is_write());
        events
    }

    /// The events logged since the mark. After a rotation of the log
    /// (4 GB) it reads the new file from its start: events of the rotated
    /// part are lost.
    fn read(&self) -> anyhow::Result<Vec<AuditEvent>> {
        let mut file = File::open(&self.path)?;
        let offset = if file.metadata()?.len() < self.offset {
            0
        } else {
            self.offset
        };
        // The mark may fall inside a line the server was writing (a busy
        // server writes while the mark is taken): that request ended before
        // the mark. Read from the byte before the mark, and start after the
        // first line end found there.
        let start = offset.saturating_sub(1);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let after_mark = if offset == 0 {
            &bytes[..]
        } else {
            bytes
                .iter()
                .position(|&byte| byte == b'\n')
                .map_or(&[][..], |end| &bytes[end + 1..])
        };
        let text = std::str::from_utf8(after_mark)?;
        // The last line may be half written; it is read next time.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let mut events = Vec::new();
        for line in complete.lines() {
            let parsed = serde_json::from_str(line)
                .map_err(anyhow::Error::from)
                .and_then(|value| AuditEvent::parse(&value))
                .with_context(|| format!("unreadable audit event {line}"))?;
            events.extend(parsed.filter(|event| event.received >= self.since));
        }
        Ok(events)
    }
}

/// The user the API server sees behind `client`'s credentials (asked with a
/// `SelfSubjectReview`), to pick its requests out of the audit log.
pub async fn username(client: &Client) -> String {
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap_or_else(|error| panic!("SelfSubjectReview: {error}"));
    review
        .status
        .and_then(|status| status.user_info)
        .and_then(|user| user.username)
        .expect("a SelfSubjectReview names the user")
}

/// The testenv's `state.json` (components and their pids, ports, Velero's
/// and Flux's settings), as `cargo xtask testenv up` wrote it.
pub fn testenv_state() -> serde_json::Value {
    let path = testenv_dir().join("state.json");
    std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("{} is not the testenv's state", path.display()))
}

/// The test environment's state directory: `$SOCLE_TESTENV_DIR`, or the
/// directory of `$KUBECONFIG`.
pub(crate) fn testenv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SOCLE_TESTENV_DIR") {
        return dir.into();
    }
    let kubeconfig = std::env::var_os("KUBECONFIG").unwrap_or_else(|| {
        panic!("neither SOCLE_TESTENV_DIR nor KUBECONFIG is set: {HOW_TO_START}")
    });
    std::env::split_paths(&kubeconfig)
        .next()
        .and_then(|path| path.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| panic!("KUBECONFIG names no file: {HOW_TO_START}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn event_line(name: &str) -> String {
        serde_json::json!({
            "stage": "ResponseComplete",
            "user": {"username": "socle-operator"},
            "verb": "create",
            "objectRef": {"resource": "usagerecords", "name": name},
            "requestReceivedTimestamp": "2026-11-30T05:16:45.729925Z",
        })
        .to_string()
            + "\n"
    }

    #[test]
    fn a_dry_run_is_not_a_write() {
        let event = |uri: &str| {
            let mut line: Value = serde_json::from_str(&event_line("probe")).unwrap();
            line["requestURI"] = uri.into();
            AuditEvent::parse(&line).unwrap().unwrap()
        };
        assert!(event("/api/v1/namespaces").is_write());
        assert!(!event("/api/v1/namespaces?dryRun=All").is_write());
    }

    #[test]
    fn a_mark_taken_inside_a_line_starts_at_the_next_one() {
        let path = std::env::temp_dir().join(format!("socle-audit-{}.log", random_id()));
        let (before, after) = (event_line("before"), event_line("after"));
        let mut file = File::create(&path).unwrap();
        file.write_all(before.as_bytes()).unwrap();
        file.write_all(after.as_bytes()).unwrap();
        let since = "2026-11-30T00:00:00Z".parse().unwrap();
        let names = |offset: usize| {
            let mark = AuditMark {
                path: path.clone(),
                offset: offset as u64,
                since,
            };
            let events = mark.read().unwrap();
            events
                .into_iter()
                .filter_map(|e| e.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(0), ["before", "after"]);
        assert_eq!(names(before.len()), ["after"], "a mark between lines");
        assert_eq!(names(10), ["after"], "a mark inside the first line");
        assert_eq!(names(before.len() + 10), Vec::<String>::new());
        std::fs::remove_file(&path).unwrap();
    }
}

//! One test's corner of the cluster: unique names, a label on everything it
//! creates, and the deletion of all of it at the end.

use std::{
    collections::BTreeMap,
    fmt,
    hash::{BuildHasher, Hash, Hasher, RandomState},
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{Api, Client, api::PostParams};

use crate::{cleanup, connect};

/// Label key whose value is the scope's id, put on everything a test creates.
pub const SCOPE_LABEL: &str = "socle.test/scope";
/// Label key whose value is the test's name, to tell whose leftovers these are.
pub const TEST_LABEL: &str = "socle.test/test";

/// How long [`TestScope::cleanup`] waits for namespaces to be finalized and
/// for finalizers (the operator's included) to be removed.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(90);

/// One test's resources: a unique id, names and labels derived from it, and
/// their deletion at the end.
///
/// Give everything the test creates [`TestScope::meta`] (or at least
/// [`TestScope::labels`]). End the test with [`TestScope::cleanup`], which
/// deletes every labelled object, namespaced or cluster-scoped, and waits
/// until they are gone; await it while the operator under test still runs,
/// since its finalizers must come off before namespaces can go. If the test
/// panics before that, dropping the scope still deletes them, without waiting.
pub struct TestScope {
    client: Client,
    id: String,
    test: String,
    cleaned_up: bool,
}

impl TestScope {
    /// Connects (see [`connect`](crate::connect)) and opens a scope for the
    /// test named `test`, which only serves to label what the test creates.
    pub async fn new(test: &str) -> Self {
        Self {
            client: connect::connect().await,
            id: random_id(),
            test: label_value(test),
            cleaned_up: false,
        }
    }

    /// A client for the test control plane.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The scope's unique id: 8 lowercase letters and digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The labels to put on every object the test creates.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (SCOPE_LABEL.to_owned(), self.id.clone()),
            (TEST_LABEL.to_owned(), self.test.clone()),
        ])
    }

    /// The label selector matching everything this scope labelled.
    pub fn selector(&self) -> String {
        format!("{SCOPE_LABEL}={}", self.id)
    }

    /// `<base>-<id>`: a name no other test uses, valid for any kind of object
    /// (a DNS-1035 label). Panics if `base` would make it invalid.
    pub fn name(&self, base: &str) -> String {
        let name = format!("{base}-{}", self.id);
        assert!(
            base.starts_with(|c: char| c.is_ascii_lowercase())
                && base
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && name.len() <= 63,
            "{name:?} is not a DNS-1035 label: the base must start with a letter, hold only \
             a-z, 0-9 and '-', and leave room for the id (63 characters in all)"
        );
        name
    }

    /// `t<id>-`: the prefix of the tenant namespaces of the scope's operator.
    pub fn tenant_prefix(&self) -> String {
        format!("t{}-", self.id)
    }

    /// Metadata with the name [`name(base)`](Self::name) and the scope's labels.
    pub fn meta(&self, base: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name(base)),
            labels: Some(self.labels()),
            ..ObjectMeta::default()
        }
    }

    /// Creates a labelled namespace named [`name(base)`](Self::name) and
    /// returns its name. Deleting it at cleanup deletes all its content.
    pub async fn create_namespace(&self, base: &str) -> String {
        let namespace = Namespace {
            metadata: self.meta(base),
            ..Namespace::default()
        };
        let name = self.name(base);
        Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|error| panic!("creating namespace {name}: {error}"));
        name
    }

    /// Deletes everything labelled with this scope (namespaces with all their
    /// content, other namespaced objects, cluster-scoped objects) and waits
    /// until it is gone. Panics, naming the leftovers and what holds them
    /// (finalizers, namespace conditions), if that takes longer than 90 s.
    pub async fn cleanup(mut self) {
        let deletion = cleanup::delete_labelled(&self.client, &self.selector()).await;
        // Deletion was requested: should the wait below panic, the drop need
        // not request it again.
        self.cleaned_up = true;
        cleanup::wait_until_gone(&self.client, &deletion.deleted, CLEANUP_TIMEOUT).await;
        assert!(
            deletion.errors.is_empty(),
            "cleanup of scope {} failed:\n{}",
            self.id,
            deletion.errors.join("\n")
        );
    }
}

impl TestScope {
    /// Leaves everything the scope created in place, for a caller that tears
    /// the whole control plane down next (the benchmark at 10 000 Members,
    /// whose namespaces would take longer to delete than the control plane).
    pub fn keep(mut self) {
        self.cleaned_up = true;
    }
}

impl fmt::Debug for TestScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestScope")
            .field("id", &self.id)
            .field("test", &self.test)
            .field("cleaned_up", &self.cleaned_up)
            .finish_non_exhaustive()
    }
}

impl Drop for TestScope {
    /// The safety net when the test panicked (or forgot `cleanup`): requests
    /// the deletions without waiting for them and never panics.
    fn drop(&mut self) {
        if self.cleaned_up {
            return;
        }
        // The test's runtime is unwinding or blocked in this very call, and
        // the client's connection task lives on it: a thread of our own, with
        // its own runtime and client, does the deleting.
        let selector = self.selector();
        let outcome = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let client = connect::try_connect().await?;
                let deletion = cleanup::delete_labelled(&client, &selector).await;
                if deletion.errors.is_empty() {
                    Ok(())
                } else {
                    Err(deletion.errors.join("\n"))
                }
            })
        })
        .join();
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => "the cleanup thread panicked".to_owned(),
        };
        eprintln!(
            "TestScope {}: leftovers may remain (kubectl get all,ns -A -l {}): {failure}",
            self.id,
            self.selector()
        );
    }
}

/// 8 characters of base 36 (2.8e12 values): unique across parallel tests and
/// processes. `RandomState` is seeded randomly per process; the clock and a
/// counter tell apart the ids of one process.
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .hash(&mut hasher);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    let mut bits = hasher.finish();
    (0..8)
        .map(|_| {
            let digit = u32::try_from(bits % 36).expect("below 36");
            bits /= 36;
            char::from_digit(digit, 36).expect("a base-36 digit")
        })
        .collect()
}

/// `text` made into a valid label value: at most 63 characters among
/// `[A-Za-z0-9._-]`, starting and ending with a letter or digit.
fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

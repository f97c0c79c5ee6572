//! When each Member is first seen `Ready`, through a watch opened before any
//! Member is created: the time a user watching `kubectl get members -w`
//! would see it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use socle::api::Member;

/// A watch of the scope's Members recording when each first became Ready.
pub struct ReadyWatch {
    ready: Arc<Mutex<HashMap<String, Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyWatch {
    /// Starts watching the Members matching `selector`.
    pub fn start(client: &Client, selector: &str) -> Self {
        let ready = Arc::new(Mutex::new(HashMap::new()));
        let stream = watcher(
            Api::<Member>::all(client.clone()),
            watcher::Config::default().labels(selector),
        )
        .default_backoff()
        .applied_objects();
        let seen = ready.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(member) if is_ready(&member) => {
                        let now = Instant::now();
                        seen.lock()
                            .expect("not poisoned")
                            .entry(member.name_any())
                            .or_insert(now);
                    }
                    Ok(_) => {}
                    Err(error) => eprintln!("bench: watch of Members: {error}"),
                }
            }
        });
        Self { ready, task }
    }

    /// When `name` was first seen Ready.
    pub fn ready_at(&self, name: &str) -> Option<Instant> {
        self.ready.lock().expect("not poisoned").get(name).copied()
    }

    /// Waits until every one of `names` has been seen Ready; fails after
    /// `timeout`, saying how many are not.
    pub async fn wait_for(&self, names: &[String], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let waiting = names
                .iter()
                .filter(|name| self.ready_at(name).is_none())
                .count();
            if waiting == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{waiting} of {} Members not Ready after {timeout:?}",
                    names.len()
                );
            }
            // Only how soon we notice; the time recorded is the watch event's.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_ready(member: &Member) -> bool {
    member.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

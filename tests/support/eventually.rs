//! Waiting for conditions that converge.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// First pause between two checks; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// Longest pause between two checks.
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Runs `check` until it returns `Ok`, and returns that value.
///
/// `check` returns `Err` while the condition does not hold yet, saying what it
/// saw (`anyhow::ensure!(phase == "Active", "phase is {phase:?}")`); API
/// errors can be passed on with `?`. Panics after `timeout` with the last
/// observation. A check that hangs is cut off at the deadline too.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let mut pause = FIRST_PAUSE;
    let mut attempts = 0_u32;
    let mut last = String::from("nothing: the check never completed");
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, check()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(error)) => last = format!("{error:#}"),
            Err(_) => last = format!("the check was still running at the deadline; before: {last}"),
        }
        let now = Instant::now();
        assert!(
            now < deadline,
            "condition not met within {timeout:?} ({attempts} checks over {:.1?}); \
             last observed: {last}",
            now - started
        );
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

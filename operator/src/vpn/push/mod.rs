//! Apply, on the router: read what is there, compare with what socle wants,
//! write only when they differ, verify, and put the previous configuration
//! back when the write or its verification fails.
//!
//! Drift is told apart from a spec change by what socle last pushed: the
//! router no longer holding it means someone changed it by hand.
//!
//! [`remove`] takes socle's configuration off the router when a member leaves.

use std::fmt;

use super::{
    router::{Dialect, Script, diff, redact},
    ssh::{SshError, Transport},
};

/// What to push, and what socle knows of the router's past.
pub struct Request<'a> {
    pub dialect: &'a dyn Dialect,
    pub interface: &'a str,
    /// The wanted configuration, normalized (may hold key material).
    pub desired: &'a str,
    /// What socle last pushed, normalized, if it ever did.
    pub last_pushed: Option<&'a str>,
    pub dry_run: bool,
    pub correct_drift: bool,
    /// The public key the live interface must show.
    pub public_key: &'a str,
    /// The peer the live interface must have.
    pub hub_public_key: &'a str,
}

/// Written by hand: both configurations hold the member's private key.
impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("dialect", &self.dialect)
            .field("interface", &self.interface)
            .field("desired", &"<redacted>")
            .field("last_pushed", &self.last_pushed.map(|_| "<redacted>"))
            .field("dry_run", &self.dry_run)
            .field("correct_drift", &self.correct_drift)
            .field("public_key", &self.public_key)
            .field("hub_public_key", &self.hub_public_key)
            .finish()
    }
}

/// What the push found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The router held something else than socle's last push: the diff from
    /// that push to what was found (keys redacted).
    pub drift: Option<String>,
    pub action: Action,
}

/// What was done to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The router already had the wanted configuration: nothing written.
    InSync,
    /// Written and verified.
    Applied,
    /// Dry run: this diff would be pushed; nothing written.
    Pending(String),
    /// Drift not corrected (spec.vpn.correctDrift is off): this diff would
    /// put socle's configuration back.
    DriftLeft(String),
}

/// A push that failed. Messages carry no key material.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error("reading the router's configuration failed: {0}")]
    Read(String),
    #[error("{step} failed on the router ({reason}); {rollback}")]
    Failed {
        step: &'static str,
        reason: String,
        rollback: String,
    },
}

/// Runs the push of `request` on `router`.
pub async fn push<T: Transport>(
    router: &mut T,
    request: &Request<'_>,
) -> Result<Report, PushError> {
    let dialect = request.dialect;
    let current = read(router, dialect, request.interface).await?;
    if current == request.desired {
        return Ok(Report {
            drift: None,
            action: Action::InSync,
        });
    }
    let drift = request
        .last_pushed
        .filter(|last| *last != current)
        .map(|last| diff(last, &current));
    let change = diff(&current, request.desired);
    if request.dry_run {
        return Ok(Report {
            drift,
            action: Action::Pending(change),
        });
    }
    let spec_changed = request.last_pushed != Some(request.desired);
    if drift.is_some() && !spec_changed && !request.correct_drift {
        return Ok(Report {
            drift,
            action: Action::DriftLeft(change),
        });
    }
    let apply = dialect.apply(request.interface, &current, request.desired);
    let applied = run(router, &apply).await?;
    if !applied.0 {
        let rollback = roll_back(router, request, &current).await;
        return Err(PushError::Failed {
            step: "apply",
            reason: applied.1,
            rollback,
        });
    }
    if let Err(reason) = verify(router, request).await {
        let rollback = roll_back(router, request, &current).await;
        return Err(PushError::Failed {
            step: "verification",
            reason,
            rollback,
        });
    }
    Ok(Report {
        drift,
        action: Action::Applied,
    })
}

/// Removes socle's configuration from the router (offboarding); `true`
/// when there was some. Nothing is put back on failure: the tunnel is
/// already gone from the hub, and the removal is tried again.
pub async fn remove<T: Transport>(
    router: &mut T,
    dialect: &dyn Dialect,
    interface: &str,
) -> Result<bool, PushError> {
    let current = read(router, dialect, interface).await?;
    if current.is_empty() {
        return Ok(false);
    }
    let (removed, reason) = run(router, &dialect.apply(interface, &current, "")).await?;
    let left = read(router, dialect, interface).await?;
    if removed && left.is_empty() {
        return Ok(true);
    }
    Err(PushError::Failed {
        step: "removal",
        reason: if removed {
            format!("the router still holds:\n{}", diff("", &left))
        } else {
            reason
        },
        rollback: "the removal will be tried again".into(),
    })
}

/// The configuration socle manages on the router, normalized.
async fn read<T: Transport>(
    router: &mut T,
    dialect: &dyn Dialect,
    interface: &str,
) -> Result<String, PushError> {
    let script = dialect.read(interface);
    let output = router.run(&script.text, None).await?;
    if !output.success() {
        return Err(PushError::Read(clean(&output.stderr)));
    }
    Ok(dialect.normalize(&output.stdout))
}

/// Runs `script`; `(true, _)` on success, `(false, what went wrong)` otherwise.
async fn run<T: Transport>(router: &mut T, script: &Script) -> Result<(bool, String), PushError> {
    let output = router
        .run(&script.text, script.stdin.as_deref().map(String::as_str))
        .await?;
    let reason = match output.status {
        Some(0) => String::new(),
        Some(status) => format!("exit status {status}: {}", clean(&output.stderr)),
        None => format!("no exit status: {}", clean(&output.stderr)),
    };
    Ok((output.success(), reason))
}

/// The router holds the wanted configuration and its live interface runs
/// the member's key with the hub as peer.
async fn verify<T: Transport>(router: &mut T, request: &Request<'_>) -> Result<(), String> {
    let found = read(router, request.dialect, request.interface)
        .await
        .map_err(|error| error.to_string())?;
    if found != request.desired {
        return Err(format!(
            "the configuration read back differs from the one written:\n{}",
            diff(request.desired, &found)
        ));
    }
    let live = router
        .run(&request.dialect.live(request.interface).text, None)
        .await
        .map_err(|error| error.to_string())?;
    if !live.success() {
        return Err(format!(
            "interface {} is not up: {}",
            request.interface,
            clean(&live.stderr)
        ));
    }
    let mut lines = live.stdout.lines().map(str::trim);
    if lines.next() != Some(request.public_key) {
        return Err(format!(
            "interface {} does not run the member's key",
            request.interface
        ));
    }
    if !lines.any(|peer| peer == request.hub_public_key) {
        return Err(format!(
            "interface {} has no peer with the hub's key",
            request.interface
        ));
    }
    Ok(())
}

/// Puts `previous` back; says how that went.
async fn roll_back<T: Transport>(router: &mut T, request: &Request<'_>, previous: &str) -> String {
    let dialect = request.dialect;
    let now = read(router, dialect, request.interface)
        .await
        .unwrap_or_else(|_| request.desired.to_owned());
    let script = dialect.apply(request.interface, &now, previous);
    match run(router, &script).await {
        Ok((true, _)) => match read(router, dialect, request.interface).await {
            Ok(back) if back == previous => "rolled back to the previous configuration".into(),
            Ok(back) => format!(
                "ROLLBACK INCOMPLETE, the router differs from its previous configuration:\n{}",
                diff(previous, &back)
            ),
            Err(error) => format!("rolled back, but reading it back failed: {error}"),
        },
        Ok((false, reason)) => format!("ROLLBACK FAILED: {reason}"),
        Err(error) => format!("ROLLBACK FAILED: {error}"),
    }
}

/// Router output fit for a message: keys redacted, bounded.
fn clean(text: &str) -> String {
    let text = redact(text.trim());
    match text.char_indices().nth(400) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests;

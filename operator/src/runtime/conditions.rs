//! Status conditions as the Kubernetes API conventions want them: one per
//! type, `lastTransitionTime` moving only when the status really changes.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

/// A condition observed at `generation`.
pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// `old` with `new` put in: a condition whose status did not change keeps its
/// transition time, so re-observing the same state writes nothing new.
pub fn merge(old: &[Condition], new: Condition) -> Vec<Condition> {
    let mut merged: Vec<Condition> = old
        .iter()
        .filter(|c| c.type_ != new.type_)
        .cloned()
        .collect();
    let previous = old.iter().find(|c| c.type_ == new.type_);
    let new = match previous {
        Some(previous) if previous.status == new.status => Condition {
            last_transition_time: previous.last_transition_time.clone(),
            ..new
        },
        _ => new,
    };
    merged.push(new);
    merged.sort_by(|a, b| a.type_.cmp(&b.type_));
    merged
}

/// `Ready` is true when every other condition that gates readiness is true.
pub fn with_ready(
    conditions: &[Condition],
    gates: &[&str],
    generation: Option<i64>,
) -> Vec<Condition> {
    let failing: Vec<&Condition> = conditions
        .iter()
        .filter(|c| gates.contains(&c.type_.as_str()) && c.status != "True")
        .collect();
    let ready = match failing.first() {
        None => condition(
            "Ready",
            true,
            "AllReady",
            "every capability is ready",
            generation,
        ),
        Some(first) => condition(
            "Ready",
            false,
            &first.reason,
            format!("{}: {}", first.type_, first.message),
            generation,
        ),
    };
    merge(conditions, ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_status_keeps_its_transition_time() {
        let first = condition("TenantReady", true, "Applied", "ok", Some(1));
        let old = merge(&[], first.clone());
        let again = merge(
            &old,
            condition("TenantReady", true, "Applied", "ok", Some(1)),
        );
        assert_eq!(again, old);
        let flipped = merge(
            &old,
            condition("TenantReady", false, "InvalidSpec", "bad", Some(2)),
        );
        assert_eq!(flipped[0].status, "False");
    }

    #[test]
    fn ready_names_the_first_failing_capability() {
        let conditions = merge(
            &[],
            condition("TenantReady", false, "InvalidSpec", "bad quota", Some(3)),
        );
        let ready = with_ready(&conditions, &["TenantReady"], Some(3));
        let ready = ready.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.message, "TenantReady: bad quota");
    }
}

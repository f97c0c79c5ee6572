//! When a drill is due: on request (a new value of the drill-now
//! annotation), or when the drill schedule has come round since the last
//! drill started. Pure.

use croner::Cron;
use jiff::{Timestamp, tz::TimeZone};

/// Why a drill should start now, or when the next one will.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// The drill-now annotation holds a value no drill has answered yet.
    Requested(String),
    /// The schedule came round at this time.
    Scheduled(Timestamp),
    /// Not now; the next scheduled drill, if any.
    NotYet(Option<Timestamp>),
}

/// Whether a drill is due at `now`. `handled` lists the requests already
/// answered; `last_start` is when the latest drill started, `since` when the
/// member was created (the first scheduled drill comes after it).
pub fn due(
    schedule: Option<&Cron>,
    request: Option<&str>,
    handled: &[String],
    last_start: Option<Timestamp>,
    since: Timestamp,
    now: Timestamp,
) -> Due {
    if let Some(request) = request.filter(|r| !handled.iter().any(|h| h == r)) {
        return Due::Requested(request.to_owned());
    }
    let Some(schedule) = schedule else {
        return Due::NotYet(None);
    };
    let base = last_start.unwrap_or(since).to_zoned(TimeZone::UTC);
    match schedule.find_next_occurrence(&base, false) {
        Ok(next) if next.timestamp() <= now => Due::Scheduled(next.timestamp()),
        Ok(next) => Due::NotYet(Some(next.timestamp())),
        Err(_) => Due::NotYet(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::plan::parse_cron;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_monthly_drill_is_due_once_its_day_has_come() {
        let monthly = parse_cron("0 3 1 * *").unwrap();
        let created = at("2026-02-10T09:00:00Z");
        assert_eq!(
            due(
                Some(&monthly),
                None,
                &[],
                None,
                created,
                at("2026-02-28T00:00:00Z")
            ),
            Due::NotYet(Some(at("2026-03-01T03:00:00Z")))
        );
        assert_eq!(
            due(
                Some(&monthly),
                None,
                &[],
                None,
                created,
                at("2026-03-01T03:00:10Z")
            ),
            Due::Scheduled(at("2026-03-01T03:00:00Z"))
        );
        // The March drill ran: the next is in April.
        assert_eq!(
            due(
                Some(&monthly),
                None,
                &[],
                Some(at("2026-03-01T03:00:10Z")),
                created,
                at("2026-03-15T00:00:00Z")
            ),
            Due::NotYet(Some(at("2026-04-01T03:00:00Z")))
        );
    }

    #[test]
    fn each_request_value_is_answered_once() {
        let now = at("2026-03-15T00:00:00Z");
        assert_eq!(
            due(None, Some("1"), &[], None, now, now),
            Due::Requested("1".into())
        );
        assert_eq!(
            due(None, Some("1"), &["1".into()], None, now, now),
            Due::NotYet(None)
        );
    }
}

//! A tunnel's month from what the hub says of its router at each look of
//! the health watch: an outage begins at the last time the hub heard the
//! router, once it has been silent beyond the bound, and ends at the first
//! time the hub heard it again. Pure.
//!
//! The times are the hub's own (its latest handshake and latest packet),
//! not the moment socle looked: two looks, a restarted operator or a
//! second replica write the same facts, and an outage that began while the
//! operator was away is dated right.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::quality_record::{Outage, TunnelQuality};

/// Most outages a record lists, the latest (it counts them all).
pub const OUTAGES_LISTED: usize = 200;

/// What the hub said of a router at one look, in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    /// Its latest handshake, if any.
    pub handshake: Option<u64>,
    /// The last time the hub heard anything from it, if ever.
    pub last: Option<u64>,
}

/// The month `[start, end)`, the record's tunnel as it stands, and the
/// same tunnel in the month before (a tunnel watched then is watched from
/// this month's first instant, with its outage still open carried over).
#[derive(Clone, Copy, Debug)]
pub struct Month<'a> {
    pub start: Timestamp,
    pub end: Timestamp,
    pub previous: Option<&'a TunnelQuality>,
    pub before: Option<&'a TunnelQuality>,
}

fn unix(seconds: u64) -> Timestamp {
    Timestamp::from_second(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX)
}

/// The tunnel of `site` after a look at `now` where the hub said `heard`.
pub fn record(
    site: &str,
    heard: Heard,
    now: Timestamp,
    bound: Duration,
    month: &Month<'_>,
) -> TunnelQuality {
    let mut tunnel = month.previous.cloned().unwrap_or_else(|| TunnelQuality {
        site: site.to_owned(),
        observed_since: if month.before.is_some() {
            month.start
        } else {
            now.max(month.start)
        },
        outage_count: 0,
        down_seconds: 0,
        outages: month
            .before
            .and_then(|before| before.outages.last())
            .filter(|outage| outage.to.is_none())
            .copied()
            .into_iter()
            .collect(),
    });
    if month.previous.is_none() {
        tunnel.outage_count = u32::try_from(tunnel.outages.len()).unwrap_or(0);
    }
    let last = heard.last.map(unix);
    let bound = jiff::SignedDuration::try_from(bound).unwrap_or(jiff::SignedDuration::MAX);
    let silent = last.is_none_or(|last| now.duration_since(last) > bound);
    let open = tunnel.outages.last().copied().filter(|o| o.to.is_none());
    match (silent, open) {
        (true, None) => open_outage(&mut tunnel, last.unwrap_or(now)),
        // Heard again, then silent again between two looks.
        (true, Some(outage)) if last.is_some_and(|last| last > outage.from) => {
            let last = last.unwrap_or(now);
            close_outage(&mut tunnel, last, month);
            open_outage(&mut tunnel, last);
        }
        (false, Some(outage)) => {
            // The first time heard again: the handshake that came back, or
            // the latest packet.
            let back = [heard.handshake.map(unix), last]
                .into_iter()
                .flatten()
                .filter(|at| *at > outage.from)
                .min()
                .unwrap_or(now);
            close_outage(&mut tunnel, back, month);
        }
        _ => {}
    }
    tunnel
}

fn open_outage(tunnel: &mut TunnelQuality, from: Timestamp) {
    tunnel.outages.push(Outage { from, to: None });
    tunnel.outage_count += 1;
    if tunnel.outages.len() > OUTAGES_LISTED {
        tunnel.outages.remove(0);
    }
}

/// Ends the open outage at `to`, its time in the month added to the down time.
fn close_outage(tunnel: &mut TunnelQuality, to: Timestamp, month: &Month<'_>) {
    let watched_from = tunnel.observed_since.max(month.start);
    if let Some(outage) = tunnel.outages.last_mut() {
        outage.to = Some(to);
        let (from, to) = (outage.from.max(watched_from), to.min(month.end));
        if to > from {
            tunnel.down_seconds += u64::try_from(to.duration_since(from).as_secs()).unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn secs(text: &str) -> u64 {
        u64::try_from(at(text).as_second()).unwrap()
    }

    fn heard(handshake: &str, last: &str) -> Heard {
        Heard {
            handshake: Some(secs(handshake)),
            last: Some(secs(last)),
        }
    }

    const BOUND: Duration = Duration::from_secs(90);

    fn march<'a>(
        previous: Option<&'a TunnelQuality>,
        before: Option<&'a TunnelQuality>,
    ) -> Month<'a> {
        Month {
            start: at("2026-03-01T00:00:00Z"),
            end: at("2026-04-01T00:00:00Z"),
            previous,
            before,
        }
    }

    #[test]
    fn an_outage_is_dated_by_the_hub_and_each_look_writes_nothing_new() {
        let up = heard("2026-03-10T10:00:00Z", "2026-03-10T10:00:20Z");
        let first = record(
            "mairie",
            up,
            at("2026-03-10T10:00:30Z"),
            BOUND,
            &march(None, None),
        );
        assert_eq!(first.observed_since, at("2026-03-10T10:00:30Z"));
        assert!(first.outages.is_empty());
        let still = record(
            "mairie",
            heard("2026-03-10T10:00:00Z", "2026-03-10T10:00:45Z"),
            at("2026-03-10T10:01:00Z"),
            BOUND,
            &march(Some(&first), None),
        );
        assert_eq!(still, first, "a look while up writes nothing");
        // The router falls silent after 10:05:00; seen at 10:07:00.
        let silent = heard("2026-03-10T10:02:00Z", "2026-03-10T10:05:00Z");
        let down = record(
            "mairie",
            silent,
            at("2026-03-10T10:07:00Z"),
            BOUND,
            &march(Some(&first), None),
        );
        assert_eq!(
            down.outages,
            [Outage {
                from: at("2026-03-10T10:05:00Z"),
                to: None
            }]
        );
        let again = record(
            "mairie",
            silent,
            at("2026-03-10T10:30:00Z"),
            BOUND,
            &march(Some(&down), None),
        );
        assert_eq!(again, down, "an outage that lasts writes nothing");
        let back = record(
            "mairie",
            heard("2026-03-10T11:00:10Z", "2026-03-10T11:00:40Z"),
            at("2026-03-10T11:00:45Z"),
            BOUND,
            &march(Some(&down), None),
        );
        assert_eq!(back.outages[0].to, Some(at("2026-03-10T11:00:10Z")));
        assert_eq!(back.down_seconds, 55 * 60 + 10);
        assert_eq!(back.outage_count, 1);
    }

    #[test]
    fn a_tunnel_watched_last_month_is_watched_from_the_first_with_its_open_outage() {
        let february = TunnelQuality {
            site: "mairie".into(),
            observed_since: at("2026-02-01T00:00:00Z"),
            outage_count: 1,
            down_seconds: 0,
            outages: vec![Outage {
                from: at("2026-02-28T23:00:00Z"),
                to: None,
            }],
        };
        let back = record(
            "mairie",
            heard("2026-03-01T02:00:00Z", "2026-03-01T02:00:05Z"),
            at("2026-03-01T02:00:30Z"),
            BOUND,
            &march(None, Some(&february)),
        );
        assert_eq!(back.observed_since, at("2026-03-01T00:00:00Z"));
        assert_eq!(back.outage_count, 1);
        assert_eq!(back.down_seconds, 2 * 3600, "March's share of it");
    }
}

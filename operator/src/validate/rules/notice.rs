//! Article 2.4: a termination takes twelve months of notice ("préavis de
//! douze mois"), unless both parties agree in writing to shorten it. The
//! notice is the Tariff's `noticeMonths` for the exercise of `endDate` (12 in
//! the convention); a subscription's `endDate` is its last day in force.
//!
//! Three readings of the same rule, each checked when it applies:
//! - **the notice date recorded** (`noticeDate`): `endDate ≥ noticeDate +
//!   notice − 1 day`;
//! - **no notice date, the end still to come**: the notice cannot have been
//!   given later than the day of the check (`--as-of`, today by default),
//!   so `endDate ≥ as-of + notice − 1 day` — a notice given earlier is
//!   recorded in `noticeDate`;
//! - **always**: notice cannot be given before the subscription takes
//!   effect, so `endDate ≥ effectiveDate + notice − 1 day`.
//!
//! Not a termination, so not checked: the end of an Audit (a one-off
//! service), and a groupement d'achats ended when the member moves up to the
//! socle complet, which includes it (ruling 5). A member whose notice was
//! shortened by written agreement cites it in the annotation
//! [`NOTICE_AGREEMENT`].

use jiff::{Span, civil::Date};

use super::Catalog;
use crate::{
    api::Member,
    billing::Ledger,
    contribution::{Offer, Subscription},
    validate::{NOTICE_AGREEMENT, Report, path::FieldPath},
};

pub(super) fn check(catalog: &Catalog<'_>, as_of: Date, report: &mut Report) {
    let ledger = Ledger {
        tariffs: catalog.tariffs.iter().map(|e| e.object.clone()).collect(),
        ..Ledger::default()
    };
    for entry in &catalog.members {
        let member = &entry.object;
        if has_agreement(member) {
            continue;
        }
        for (index, subscription) in member.spec.subscriptions.iter().enumerate() {
            let Some(end) = subscription.end_date else {
                continue;
            };
            if subscription.offer == Offer::Audit || moves_up(member, subscription, end) {
                continue;
            }
            let months = ledger.grid_for(end.year()).notice_months;
            let Some(message) = too_early(subscription, end, months, as_of) else {
                continue;
            };
            let path = FieldPath::root()
                .key("spec")
                .key("subscriptions")
                .index(index)
                .key("endDate");
            entry.report(
                report,
                &path,
                format!(
                    "article 2.4: the {:?} subscription effective {} cannot end on {end}: {message} (a written agreement of both parties may shorten the notice: cite it in the annotation {NOTICE_AGREEMENT})",
                    subscription.offer, subscription.effective_date
                ),
            );
        }
    }
}

/// Why `end` comes before the notice has run, if it does: the first of the
/// three readings (module doc) that it fails.
fn too_early(subscription: &Subscription, end: Date, months: u8, as_of: Date) -> Option<String> {
    let after = |start: Date| earliest_end(start, months).filter(|earliest| end < *earliest);
    if let Some(earliest) = after(subscription.effective_date) {
        return Some(format!(
            "with {months} months of notice it ends on {earliest} at the earliest"
        ));
    }
    match subscription.notice_date {
        Some(notice) => after(notice).map(|earliest| {
            format!(
                "notice given on {notice} (noticeDate) runs {months} months, to {earliest}"
            )
        }),
        None if end >= as_of => after(as_of).map(|earliest| {
            format!(
                "notice given no earlier than {as_of} runs {months} months, to {earliest}; if it was given before, record the day in noticeDate"
            )
        }),
        None => None,
    }
}

fn has_agreement(member: &Member) -> bool {
    member
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(NOTICE_AGREEMENT))
        .is_some_and(|reference| !reference.trim().is_empty())
}

/// The last day in force of a subscription terminated as early as possible:
/// notice given the day it takes effect.
fn earliest_end(effective: Date, months: u8) -> Option<Date> {
    effective
        .checked_add(Span::new().months(i64::from(months)))
        .ok()?
        .yesterday()
        .ok()
}

/// A groupement d'achats ending because the socle complet takes over: one
/// takes effect after it began and no later than the day after it ends.
fn moves_up(member: &Member, subscription: &Subscription, end: Date) -> bool {
    subscription.offer == Offer::GroupementAchats
        && member.spec.subscriptions.iter().any(|other| {
            other.offer == Offer::SocleComplet
                && other.effective_date > subscription.effective_date
                && end
                    .tomorrow()
                    .is_ok_and(|next| other.effective_date <= next)
        })
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn socle_complet(effective: Date, end: Date, notice: Option<Date>) -> Subscription {
        Subscription {
            offer: Offer::SocleComplet,
            effective_date: effective,
            end_date: Some(end),
            notice_date: notice,
            audit_report_date: None,
            decision: None,
        }
    }

    #[test]
    fn a_recorded_notice_runs_its_months_from_the_day_it_was_given() {
        let as_of = date(2026, 12, 5);
        let given = socle_complet(date(2025, 1, 1), date(2027, 3, 31), Some(date(2026, 4, 1)));
        assert_eq!(too_early(&given, date(2027, 3, 31), 12, as_of), None);
        let short = socle_complet(date(2025, 1, 1), date(2027, 3, 30), Some(date(2026, 4, 1)));
        let message = too_early(&short, date(2027, 3, 30), 12, as_of).unwrap();
        assert!(message.contains("notice given on 2026-04-01"), "{message}");
        assert!(message.contains("2027-03-31"), "{message}");
    }

    #[test]
    fn without_a_notice_date_the_notice_runs_from_the_day_of_the_check() {
        let as_of = date(2026, 12, 5);
        // A few weeks away: refused, saying to record the notice date.
        let soon = socle_complet(date(2025, 1, 1), date(2027, 1, 31), None);
        let message = too_early(&soon, date(2027, 1, 31), 12, as_of).unwrap();
        assert!(
            message.contains("2027-12-04") && message.contains("noticeDate"),
            "{message}"
        );
        // A full notice from the day of the check: accepted.
        let later = socle_complet(date(2025, 1, 1), date(2027, 12, 4), None);
        assert_eq!(too_early(&later, date(2027, 12, 4), 12, as_of), None);
        // Already over: only the effective date can be checked.
        let past = socle_complet(date(2025, 1, 1), date(2026, 6, 30), None);
        assert_eq!(too_early(&past, date(2026, 6, 30), 12, as_of), None);
    }

    #[test]
    fn the_earliest_end_is_a_full_notice_after_the_start() {
        assert_eq!(earliest_end(date(2025, 9, 1), 12), Some(date(2026, 8, 31)));
        assert_eq!(earliest_end(date(2024, 1, 31), 1), Some(date(2024, 2, 28)));
    }
}

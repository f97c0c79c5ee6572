//! Article 2.4: a termination takes twelve months of notice ("préavis de
//! douze mois"), unless both parties agree in writing to shorten it.
//!
//! The API records when a subscription ends (`endDate`, its last day in
//! force) but not when notice was given, so the checkable rule is the one
//! every notice implies: it cannot be given before the subscription takes
//! effect, hence a subscription lasts at least the notice period —
//! `endDate ≥ effectiveDate + notice − 1 day`, with the notice of the Tariff
//! pricing the exercise of `endDate` (`noticeMonths`, 12 in the convention).
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

pub(super) fn check(catalog: &Catalog<'_>, report: &mut Report) {
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
            let Some(earliest) = earliest_end(subscription.effective_date, months) else {
                continue;
            };
            if end < earliest {
                let path = FieldPath::root()
                    .key("spec")
                    .key("subscriptions")
                    .index(index)
                    .key("endDate");
                entry.report(
                    report,
                    &path,
                    format!(
                        "article 2.4: the {:?} subscription effective {} cannot end on {end}: with {months} months of notice it ends on {earliest} at the earliest (a written agreement of both parties may shorten the notice: cite it in the annotation {NOTICE_AGREEMENT})",
                        subscription.offer, subscription.effective_date
                    ),
                );
            }
        }
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

    #[test]
    fn the_earliest_end_is_a_full_notice_after_the_start() {
        assert_eq!(earliest_end(date(2025, 9, 1), 12), Some(date(2026, 8, 31)));
        assert_eq!(earliest_end(date(2024, 1, 31), 1), Some(date(2024, 2, 28)));
    }
}

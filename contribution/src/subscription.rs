//! When a subscription counts for an exercise (ruling 6).

use jiff::civil::Date;

use super::{
    error::ContributionError,
    input::MemberFacts,
    model::{Offer, Subscription},
};

/// Whether the subscription is in force on at least one day of the exercise:
/// the convention prorates nothing, so one day owes the whole year. The end
/// date is the last day in force, so a subscription ending on 1 January of N
/// still owes N.
pub(crate) fn active_in(subscription: &Subscription, exercise: i16) -> bool {
    subscription.effective_date.year() <= exercise
        && subscription
            .end_date
            .is_none_or(|end| exercise <= end.year())
}

/// Whether the member is in force during the exercise, as the annual report
/// counts its adherents: a yearly subscription in force on one of its days,
/// or an audit under way in it (taken by the exercise's end, its report
/// delivered during it or still to come). An audit whose report was
/// delivered in an earlier exercise is over: it keeps no one a member.
pub(crate) fn in_force(member: &MemberFacts, exercise: i16) -> bool {
    member
        .subscriptions
        .iter()
        .any(|subscription| match subscription.offer {
            Offer::Audit => {
                subscription.effective_date.year() <= exercise
                    && subscription
                        .audit_report_date
                        .is_none_or(|report| report.year() >= exercise)
            }
            Offer::GroupementAchats | Offer::SocleComplet => active_in(subscription, exercise),
        })
}

/// The last day in force of a member that leaves during the exercise:
/// every yearly subscription in force in it ends in it (ruling 6: the whole
/// year is owed all the same). `None` when one runs on past the exercise.
pub(crate) fn leaves_on(member: &MemberFacts, exercise: i16) -> Option<Date> {
    let yearly: Vec<&Subscription> = member
        .subscriptions
        .iter()
        .filter(|s| s.offer != Offer::Audit && active_in(s, exercise))
        .collect();
    let ends: Option<Vec<Date>> = yearly.iter().map(|s| s.end_date).collect();
    ends.filter(|ends| !ends.is_empty() && ends.iter().all(|end| end.year() == exercise))
        .and_then(|ends| ends.into_iter().max())
}

/// The member's subscriptions to `offer` in force during the exercise.
pub(crate) fn active(
    member: &MemberFacts,
    offer: Offer,
    exercise: i16,
) -> impl Iterator<Item = &Subscription> {
    member.subscriptions.iter().filter(move |subscription| {
        subscription.offer == offer && active_in(subscription, exercise)
    })
}

/// Whether the member owes the socle complet for the exercise, which also
/// decides the groupement d'achats (ruling 5) and the Level-1 allowance (ruling 7).
pub(crate) fn owes_socle_complet(member: &MemberFacts, exercise: i16) -> bool {
    active(member, Offer::SocleComplet, exercise)
        .next()
        .is_some()
}

/// Refuses a history the schema should already have refused, because a
/// subscription ending before it starts would otherwise still be "active".
pub(crate) fn check_history(member: &MemberFacts) -> Result<(), ContributionError> {
    member
        .subscriptions
        .iter()
        .find_map(|subscription| {
            let end = subscription.end_date?;
            (end < subscription.effective_date).then_some(ContributionError::EndsBeforeEffective {
                offer: subscription.offer,
                effective: subscription.effective_date,
                end,
            })
        })
        .map_or(Ok(()), Err)
}

/// The member's audits whose report was delivered, with the delivery date, in
/// delivery order (then by decision, so that the order never depends on input).
pub(crate) fn delivered_audits(member: &MemberFacts) -> Vec<(Date, &Subscription)> {
    let mut audits: Vec<(Date, &Subscription)> = member
        .subscriptions
        .iter()
        .filter(|subscription| subscription.offer == Offer::Audit)
        .filter_map(|subscription| Some((subscription.audit_report_date?, subscription)))
        .collect();
    audits.sort_by(|(a_date, a), (b_date, b)| {
        a_date.cmp(b_date).then_with(|| a.decision.cmp(&b.decision))
    });
    audits
}

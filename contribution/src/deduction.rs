//! The audit deducted from the first socle complet contribution (ruling 4,
//! art. 7.2.1).

use jiff::Span;

use super::{
    error::ContributionError,
    format::{format_date, format_eur},
    model::{Cents, Offer, Subscription},
    statement::{Line, LineCode},
    subscription::delivered_audits,
    tariff::MemberTariff,
};

/// The deduction lines of the exercise, given what the socle complet lines
/// add up to.
///
/// An audit is deducted from the first socle complet subscription that takes
/// effect no later than `auditDeductionMonths` calendar months after the
/// report (effectiveDate ≤ reportDate + 6 months, the end of month clamped:
/// 31 August + 6 months = 28 or 29 February), in the exercise of that
/// subscription's effective date. Two limits the ruling leaves implicit:
/// the subscription must take effect in the audit's exercise or later, so an
/// audit never reduces a socle complet that was already running before it;
/// and the audit must have been billed by then, so an issued statement never
/// changes when a later report arrives. Deductions never take the socle
/// complet below zero.
pub(crate) fn lines(
    tariff: &MemberTariff<'_>,
    exercise: i16,
    socle_complet_cents: Cents,
) -> Result<Vec<Line>, ContributionError> {
    let mut socle_completes: Vec<&Subscription> = tariff
        .member
        .subscriptions
        .iter()
        .filter(|subscription| subscription.offer == Offer::SocleComplet)
        .collect();
    socle_completes.sort_by_key(|subscription| subscription.effective_date);
    let window = Span::new().months(tariff.grid.audit_deduction_months);
    let mut remaining = socle_complet_cents;
    let mut lines = Vec::new();
    for (report, audit) in delivered_audits(tariff.member) {
        let window_end = report.saturating_add(window);
        let Some(first) = socle_completes.iter().find(|subscription| {
            subscription.effective_date.year() >= report.year()
                && subscription.effective_date <= window_end
        }) else {
            continue;
        };
        if first.effective_date.year() != exercise {
            continue;
        }
        let audit_cents = tariff.audit()?.cents;
        let deducted = audit_cents.min(remaining);
        if deducted <= 0 {
            continue;
        }
        remaining -= deducted;
        let mut explanation = format!(
            "Audit de {} (rapport remis le {}) déduit du socle complet de sa première année : \
             le socle complet a pris effet le {}, au plus tard {} mois après le rapport \
             (fenêtre ouverte jusqu'au {}).",
            format_eur(audit_cents),
            format_date(report),
            format_date(first.effective_date),
            tariff.grid.audit_deduction_months,
            format_date(window_end),
        );
        if deducted < audit_cents {
            explanation.push_str(" Déduction limitée à ");
            explanation.push_str(&format_eur(deducted));
            explanation.push_str(", le socle complet restant dû.");
        }
        lines.push(
            Line::new(
                LineCode::AuditDeduction,
                tariff.grid,
                "Déduction de l'audit technique préalable".to_owned(),
                1,
                -deducted,
            )?
            .explained(explanation)
            .citing(audit.decision.clone()),
        );
    }
    Ok(lines)
}

//! The audit, billed once at report delivery (ruling 3, art. 7.2.1).

use super::{
    error::ContributionError,
    format::format_date,
    statement::{Line, LineCode},
    subscription::delivered_audits,
    tariff::MemberTariff,
};

/// A line per audit whose report was delivered during the exercise. An audit
/// without a report date is work in progress: not billable yet.
pub(crate) fn lines(
    tariff: &MemberTariff<'_>,
    exercise: i16,
) -> Result<Vec<Line>, ContributionError> {
    delivered_audits(tariff.member)
        .into_iter()
        .filter(|(report, _)| report.year() == exercise)
        .map(|(report, audit)| {
            let price = tariff.audit()?;
            Ok(Line::new(
                LineCode::Audit,
                tariff.grid,
                format!("Audit technique préalable, {}", price.basis),
                1,
                price.cents,
            )?
            .explained(format!(
                "Rapport d'audit remis le {} ; titre émis à la livraison du rapport.",
                format_date(report)
            ))
            .citing(audit.decision.clone()))
        })
        .collect()
}

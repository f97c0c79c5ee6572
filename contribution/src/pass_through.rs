//! Invoices paid as mandataire for one member, refunded at cost (ruling 10,
//! art. 2.3.4).

use super::{
    error::ContributionError,
    input::Usage,
    model::TariffGrid,
    statement::{Line, LineCode},
    wording::AT_REAL_COST,
};

/// A line per pass-through record, at the invoice's amount and citing it. The
/// record's `amountCents` is the whole invoice, so the line is one lump sum
/// and no cent is lost dividing it by a quantity.
pub(crate) fn lines(grid: &TariffGrid, records: &[&Usage]) -> Result<Vec<Line>, ContributionError> {
    records
        .iter()
        .map(|record| {
            let amount =
                record
                    .amount_cents
                    .ok_or_else(|| ContributionError::PassThroughWithoutAmount {
                        record: record.id.clone(),
                    })?;
            if amount < 0 {
                return Err(ContributionError::NegativePassThrough {
                    record: record.id.clone(),
                    amount,
                });
            }
            let reference = record
                .reference
                .as_deref()
                .map(str::trim)
                .filter(|reference| !reference.is_empty())
                .ok_or_else(|| ContributionError::PassThroughWithoutReference {
                    record: record.id.clone(),
                })?;
            Ok(Line::new(
                LineCode::PassThrough,
                grid,
                format!("Refacturation {AT_REAL_COST} de la facture {reference}"),
                1,
                amount,
            )?
            .explained(
                "Facture payée par REDON Agglomération au nom et pour le compte du membre \
                 (mandat) ; copie de la facture acquittée jointe au titre."
                    .to_owned(),
            )
            .citing(Some(reference.to_owned())))
        })
        .collect()
}

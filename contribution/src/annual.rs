//! The yearly contributions: a fixed part by bracket plus a price per
//! inhabitant, for the socle complet (ruling 2, art. 7.1) and the groupement
//! d'achats (ruling 5, art. 7.2.2).

use super::{
    deduction,
    error::ContributionError,
    format::{format_count, format_eur},
    model::Offer,
    statement::{Line, LineCode, checked_total},
    subscription::{active, owes_socle_complet},
    tariff::{MemberTariff, Priced},
};

/// The socle complet lines for the exercise, audit deduction included.
pub(crate) fn socle_complet(
    tariff: &MemberTariff<'_>,
    exercise: i16,
) -> Result<Vec<Line>, ContributionError> {
    if !owes_socle_complet(tariff.member, exercise) {
        return Ok(Vec::new());
    }
    let prices = tariff.socle_complet()?;
    let mut lines = fixed_and_variable(
        tariff,
        Offer::SocleComplet.label(),
        [LineCode::SocleCompletFixed, LineCode::SocleCompletVariable],
        prices.fixed,
        prices.per_inhabitant,
    )?;
    let socle_complet_cents = checked_total(&lines)?;
    lines.extend(deduction::lines(tariff, exercise, socle_complet_cents)?);
    Ok(lines)
}

/// The groupement d'achats lines for the exercise: owed by a subscriber for
/// every exercise it does not owe the socle complet, which includes group
/// purchasing (ruling 5).
pub(crate) fn groupement(
    tariff: &MemberTariff<'_>,
    exercise: i16,
) -> Result<Vec<Line>, ContributionError> {
    if active(tariff.member, Offer::GroupementAchats, exercise)
        .next()
        .is_none()
        || owes_socle_complet(tariff.member, exercise)
    {
        return Ok(Vec::new());
    }
    let (fixed, per_inhabitant) = tariff.groupement()?;
    fixed_and_variable(
        tariff,
        Offer::GroupementAchats.label(),
        [LineCode::GroupementFixed, LineCode::GroupementVariable],
        fixed,
        per_inhabitant,
    )
}

fn fixed_and_variable(
    tariff: &MemberTariff<'_>,
    offer: &str,
    [fixed_code, variable_code]: [LineCode; 2],
    fixed: Priced<'_>,
    per_inhabitant: Priced<'_>,
) -> Result<Vec<Line>, ContributionError> {
    let population = tariff.member.population;
    let inhabitants = u64::from(population.count);
    Ok(vec![
        Line::new(
            fixed_code,
            tariff.grid,
            format!("{offer} — part fixe, {}", fixed.basis),
            1,
            fixed.cents,
        )?,
        Line::new(
            variable_code,
            tariff.grid,
            format!("{offer} — part variable, {}", per_inhabitant.basis),
            inhabitants,
            per_inhabitant.cents,
        )?
        .based_on(format!(
            "habitant (population légale INSEE {})",
            population.year
        ))
        .explained(format!(
            "{} habitants (population légale INSEE {}) × {} par habitant.",
            format_count(inhabitants),
            population.year,
            format_eur(per_inhabitant.cents),
        )),
    ])
}

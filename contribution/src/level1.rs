//! Level-1 engineering beyond the yearly allowance (ruling 7, art. 3.2 and
//! 7.1.1).

use super::{
    error::ContributionError,
    statement::{Line, LineCode},
    subscription::owes_socle_complet,
    tariff::MemberTariff,
    wording::plural,
};

/// Half-days of the exercise included in the member's contribution.
///
/// The allowance is the socle complet member's share of the 117 days (ruling
/// 7). A member without the socle complet has none: the ruling restricts the
/// allowance to the socle complet, and article 7.1.1 bills ponctual
/// engineering outside the shared 117 days per half-day, so when the DSI
/// records Level-1 work for such a member every half-day is billed rather
/// than given away or silently dropped.
pub(crate) fn allowance(
    tariff: &MemberTariff<'_>,
    exercise: i16,
) -> Result<u32, ContributionError> {
    if owes_socle_complet(tariff.member, exercise) {
        Ok(tariff.socle_complet()?.level1_allowance_half_days)
    } else {
        Ok(0)
    }
}

/// The overrun line, if the half-days used exceed the allowance.
pub(crate) fn lines(
    tariff: &MemberTariff<'_>,
    exercise: i16,
    half_days_used: u64,
) -> Result<Vec<Line>, ContributionError> {
    let allowance = allowance(tariff, exercise)?;
    let billed = half_days_used.saturating_sub(u64::from(allowance));
    if billed == 0 {
        return Ok(Vec::new());
    }
    let included = if allowance == 0 {
        "aucune n'est comprise dans la contribution".to_owned()
    } else {
        format!("{allowance} sont comprises dans le socle complet")
    };
    Ok(vec![
        Line::new(
            LineCode::Level1Overrun,
            tariff.grid,
            "Ingénierie de niveau 1 au-delà de la franchise, à la demi-journée".to_owned(),
            billed,
            tariff.grid.level1_half_day_cents,
        )?
        .explained(format!(
            "{} en {exercise}, dont {included} ; {}.",
            plural(
                half_days_used,
                "demi-journée réalisée",
                "demi-journées réalisées"
            ),
            plural(billed, "facturée", "facturées"),
        )),
    ])
}

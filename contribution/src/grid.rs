//! The price grid of the framework convention, and how it is read.

use super::model::{Bracket, ImputationCodes, StaffingLevel, TariffGrid};

/// Euros to cents, so the grid below reads like the convention's tables.
const fn euros(amount: i64) -> i64 {
    amount * 100
}

impl TariffGrid {
    /// The grid of the framework convention as signed, used when no `Tariff`
    /// says otherwise.
    ///
    /// Every figure is the convention's: brackets and prices of articles 7.1,
    /// 7.2.1 and 7.2.2, the 200 € half-day of article 7.1.1, the 6-month audit
    /// deduction window of article 7.2.1, the 12-month notice of article 2.4
    /// and the staffing levels of the article 7 preamble. The Level-1
    /// allowances are the article 3.2 table divided by its commune counts:
    /// 37,5 days for 15 communes under 1 500, 40,5 days for 9 from 1 500 to
    /// 3 000, 39 days for 6 from 3 000 to 8 000, i.e. 5, 9 and 13 half-days
    /// each, 117 days in all.
    ///
    /// The imputation codes are M57 nature accounts chosen as placeholders
    /// (70846: staff made available to member communes; 70688: other
    /// services; 70876: costs refunded by member communes). Finance must
    /// confirm them before the first titre de recettes.
    pub fn convention() -> Self {
        let bracket = |label: &str, min, max, socle_complet, audit, groupement, level1| Bracket {
            label: label.to_owned(),
            min_population: min,
            max_population: max,
            socle_complet_fixed_cents: socle_complet,
            audit_cents: audit,
            groupement_fixed_cents: groupement,
            level1_allowance_half_days: level1,
        };
        Self {
            deliberation: "convention-cadre".to_owned(),
            valid_from_exercise: 2025,
            brackets: vec![
                bracket(
                    "moins de 1500 habitants",
                    0,
                    Some(1499),
                    Some(euros(1500)),
                    Some(euros(990)),
                    euros(750),
                    Some(5),
                ),
                bracket(
                    "de 1500 à moins de 3000 habitants",
                    1500,
                    Some(2999),
                    Some(euros(2000)),
                    Some(euros(3500)),
                    euros(1250),
                    Some(9),
                ),
                bracket(
                    "de 3000 à 8000 habitants",
                    3000,
                    Some(8000),
                    Some(euros(2500)),
                    Some(euros(7000)),
                    euros(2000),
                    Some(13),
                ),
                // Article 7.1 (*): above 8 000 only the groupement d'achats has a price.
                bracket(
                    "plus de 8000 habitants",
                    8001,
                    None,
                    None,
                    None,
                    euros(3500),
                    None,
                ),
            ],
            socle_complet_per_inhabitant_cents: 150,
            groupement_per_inhabitant_cents: 25,
            level1_half_day_cents: euros(200),
            audit_deduction_months: 6,
            notice_months: 12,
            etp_annual_cost_cents: euros(40_000),
            staffing: vec![
                StaffingLevel {
                    min_socle_complet_members: 0,
                    etp: 1,
                },
                StaffingLevel {
                    min_socle_complet_members: 10,
                    etp: 2,
                },
                StaffingLevel {
                    min_socle_complet_members: 21,
                    etp: 3,
                },
            ],
            imputation: ImputationCodes {
                socle_complet: "70846".to_owned(),
                audit: "70688".to_owned(),
                groupement_achats: "70688".to_owned(),
                level1: "70846".to_owned(),
                pass_through: "70876".to_owned(),
            },
        }
    }

    /// The bracket a population falls in, if the grid covers it.
    pub fn bracket_for(&self, population: u32) -> Option<&Bracket> {
        self.brackets.iter().find(|bracket| {
            bracket.min_population <= population
                && bracket.max_population.is_none_or(|max| population <= max)
        })
    }

    /// Full-time equivalents the shared service is sized for (article 7
    /// preamble): none without any adherent, then the highest staffing level
    /// the number of socle complet members reaches. Levels replace each other;
    /// they do not add up.
    pub fn staffing_etp(&self, adherents: u32, socle_complet_members: u32) -> u32 {
        if adherents == 0 {
            return 0;
        }
        self.staffing
            .iter()
            .filter(|level| level.min_socle_complet_members <= socle_complet_members)
            .max_by_key(|level| level.min_socle_complet_members)
            .map_or(0, |level| level.etp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_population_falls_in_exactly_one_bracket() {
        let grid = TariffGrid::convention();
        for population in [0, 1, 1499, 1500, 2999, 3000, 8000, 8001, u32::MAX] {
            let matching = grid
                .brackets
                .iter()
                .filter(|b| {
                    b.min_population <= population
                        && b.max_population.is_none_or(|max| population <= max)
                })
                .count();
            assert_eq!(matching, 1, "population {population}");
        }
    }

    #[test]
    fn staffing_follows_the_preamble_levels() {
        let grid = TariffGrid::convention();
        let cases = [
            (0, 0, 0),
            (1, 0, 1),
            (5, 9, 1),
            (10, 10, 2),
            (25, 20, 2),
            (21, 21, 3),
            (31, 31, 3),
        ];
        for (adherents, socle_complet, etp) in cases {
            assert_eq!(
                grid.staffing_etp(adherents, socle_complet),
                etp,
                "{adherents} adherents, {socle_complet} socle complet"
            );
        }
    }
}

//! The prices that apply to one member: the grid's, or the pilotage
//! commission's override where the grid does not apply (article 7.1 (*)).

use std::fmt;

use super::{
    error::{ContributionError, GridGap},
    input::MemberFacts,
    model::{Bracket, Cents, TariffGrid, TariffOverride},
    wording::group_thousands,
};

/// Where a price comes from, printed in the line's label so that the member
/// can check it against the grid or the commission's decision.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Basis<'a> {
    /// The grid's bracket.
    Bracket(&'a Bracket),
    /// The decision setting the member's override.
    Override(&'a str),
}

impl fmt::Display for Basis<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bracket(bracket) => write!(f, "tranche « {} »", group_thousands(&bracket.label)),
            Self::Override(decision) => write!(f, "tarif particulier {decision}"),
        }
    }
}

/// A price and where it comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Priced<'a> {
    pub cents: Cents,
    pub basis: Basis<'a>,
}

/// The socle complet prices of one member.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SocleCompletPrices<'a> {
    pub fixed: Priced<'a>,
    pub per_inhabitant: Priced<'a>,
    pub level1_allowance_half_days: u32,
}

/// The grid read for one member.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemberTariff<'a> {
    pub grid: &'a TariffGrid,
    pub member: &'a MemberFacts,
    bracket: Option<&'a Bracket>,
}

impl<'a> MemberTariff<'a> {
    pub(crate) fn new(grid: &'a TariffGrid, member: &'a MemberFacts) -> Self {
        Self {
            grid,
            member,
            bracket: grid.bracket_for(member.population.count),
        }
    }

    fn bracket(&self) -> Result<&'a Bracket, ContributionError> {
        self.bracket.ok_or_else(|| ContributionError::NoBracket {
            deliberation: self.grid.deliberation.clone(),
            population: self.member.population.count,
        })
    }

    /// The bracket pricing this member's socle complet and its fixed part, or
    /// why there is none (article 7.1 (*): above 8 000 inhabitants, or with an
    /// IT department).
    fn socle_complet_bracket(&self) -> Result<(&'a Bracket, Cents), GridGap> {
        if self.member.has_it_department {
            return Err(GridGap::ItDepartment);
        }
        self.bracket
            .and_then(|bracket| Some((bracket, bracket.socle_complet_fixed_cents?)))
            .ok_or_else(|| self.unpriced_population())
    }

    fn unpriced_population(&self) -> GridGap {
        GridGap::NoPrice {
            deliberation: self.grid.deliberation.clone(),
            population: self.member.population.count,
        }
    }

    /// The override's value if it has one, else the grid's if the grid
    /// applies, else an error naming the missing override field.
    fn resolve(
        &self,
        article: &'static str,
        field: &'static str,
        overridden: impl Fn(&TariffOverride) -> Option<Cents>,
        grid: Result<Priced<'a>, GridGap>,
    ) -> Result<Priced<'a>, ContributionError> {
        let tariff_override = self.member.tariff_override.as_ref();
        let priced = match tariff_override.and_then(|o| overridden(o).map(|cents| (o, cents))) {
            Some((o, cents)) => Priced {
                cents,
                basis: Basis::Override(&o.decision),
            },
            None => grid.map_err(|reason| match tariff_override {
                None => ContributionError::OverrideRequired { article, reason },
                Some(_) => ContributionError::OverrideFieldMissing {
                    article,
                    field,
                    reason,
                },
            })?,
        };
        if priced.cents < 0 {
            return Err(ContributionError::NegativePrice {
                article,
                field,
                value: priced.cents,
            });
        }
        Ok(priced)
    }

    /// Socle complet prices (ruling 2) and the Level-1 allowance (ruling 7).
    pub(crate) fn socle_complet(&self) -> Result<SocleCompletPrices<'a>, ContributionError> {
        let bracket = self.socle_complet_bracket();
        let fixed = self.resolve(
            "7.1",
            "fixedCents",
            |o| o.fixed_cents,
            bracket.clone().map(|(b, cents)| Priced {
                cents,
                basis: Basis::Bracket(b),
            }),
        )?;
        let per_inhabitant = self.resolve(
            "7.1",
            "perInhabitantCents",
            |o| o.per_inhabitant_cents,
            bracket.clone().map(|(b, _)| Priced {
                cents: self.grid.socle_complet_per_inhabitant_cents,
                basis: Basis::Bracket(b),
            }),
        )?;
        // An allowance is a gift, not a price: without one from the override
        // or the grid, every half-day is billed rather than the member refused.
        let level1_allowance_half_days = self
            .member
            .tariff_override
            .as_ref()
            .and_then(|o| o.level1_allowance_half_days)
            .or_else(|| bracket.ok().and_then(|(b, _)| b.level1_allowance_half_days))
            .unwrap_or(0);
        Ok(SocleCompletPrices {
            fixed,
            per_inhabitant,
            level1_allowance_half_days,
        })
    }

    /// The audit price (ruling 3). Only the population decides whether the
    /// grid applies: article 7.2.1 has no IT-department clause.
    pub(crate) fn audit(&self) -> Result<Priced<'a>, ContributionError> {
        let grid = match self.bracket {
            Some(b) => b
                .audit_cents
                .map(|cents| Priced {
                    cents,
                    basis: Basis::Bracket(b),
                })
                .ok_or_else(|| self.unpriced_population()),
            None => Err(self.unpriced_population()),
        };
        self.resolve("7.2.1", "auditCents", |o| o.audit_cents, grid)
    }

    /// The groupement d'achats fixed part and price per inhabitant (ruling 5):
    /// the grid prices every population, the override has no say.
    pub(crate) fn groupement(&self) -> Result<(Priced<'a>, Priced<'a>), ContributionError> {
        let bracket = self.bracket()?;
        let basis = Basis::Bracket(bracket);
        let checked = |field, cents| {
            if cents < 0 {
                Err(ContributionError::NegativePrice {
                    article: "7.2.2",
                    field,
                    value: cents,
                })
            } else {
                Ok(Priced { cents, basis })
            }
        };
        Ok((
            checked("groupementFixedCents", bracket.groupement_fixed_cents)?,
            checked(
                "groupementPerInhabitantCents",
                self.grid.groupement_per_inhabitant_cents,
            )?,
        ))
    }
}

//! Shared-service costs split among subscribers (ruling 10, art. 2.3.4 and
//! 7.2.2).

use std::collections::{BTreeMap, HashMap};

use super::{
    error::{ContributionError, SplitProblem},
    format::{format_count, format_eur},
    input::{Input, MemberFacts, SharedCost},
    model::AllocationKey,
    split::split_cost,
    statement::{Line, LineCode},
    wording::AT_REAL_COST,
};

/// What the shared costs of the exercise bring to one name: share lines, or
/// the reasons they could not be billed.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    pub lines: Vec<Line>,
    pub errors: Vec<ContributionError>,
}

/// Splits every shared cost of the exercise, keyed by subscriber name. Names
/// that are not members keep only an error, so that no share vanishes
/// silently. Costs are taken in a fixed order so that lines come out the same
/// whatever the input order.
pub(crate) fn allocate<'a>(input: &Input<'a>) -> HashMap<&'a str, Shares> {
    let members: HashMap<&str, &MemberFacts> = input
        .members
        .iter()
        .map(|member| (member.name.as_str(), member))
        .collect();
    let mut costs: Vec<&SharedCost> = input
        .shared_costs
        .iter()
        .filter(|cost| cost.exercise == input.exercise)
        .collect();
    costs.sort_by(|a, b| {
        (
            &a.service,
            &a.reference,
            &a.label,
            a.cost_cents,
            a.allocation,
        )
            .cmp(&(
                &b.service,
                &b.reference,
                &b.label,
                b.cost_cents,
                b.allocation,
            ))
    });
    let mut shares: HashMap<&str, Shares> = HashMap::new();
    for cost in costs {
        allocate_one(input, &members, cost, &mut shares);
    }
    shares
}

fn allocate_one<'a>(
    input: &Input<'a>,
    members: &HashMap<&str, &MemberFacts>,
    cost: &'a SharedCost,
    shares: &mut HashMap<&'a str, Shares>,
) {
    // A member listed twice holds the sum of its seats, and counts once.
    let mut seats: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, count) in &cost.subscribers {
        *seats.entry(name.as_str()).or_default() += u64::from(*count);
    }
    let weights: Result<Vec<(&str, u64)>, SplitProblem> = seats
        .iter()
        .map(|(&name, &seats)| match cost.allocation {
            AllocationKey::Equal => Ok((name, 1)),
            AllocationKey::PerSeat => Ok((name, seats)),
            AllocationKey::PerInhabitant => members
                .get(name)
                .map(|member| (name, u64::from(member.population.count)))
                .ok_or_else(|| SplitProblem::NotAMember(name.to_owned())),
        })
        .collect();
    let split = weights.and_then(|weights| {
        let amounts = split_cost(cost.cost_cents, &weights).map_err(SplitProblem::Split)?;
        Ok((weights, amounts))
    });
    let (weights, amounts) = match split {
        Ok(split) => split,
        Err(reason) => {
            for &name in seats.keys() {
                shares
                    .entry(name)
                    .or_default()
                    .errors
                    .push(ContributionError::Unsplittable {
                        service: cost.service.clone(),
                        reference: cost.reference.clone(),
                        reason: reason.clone(),
                    });
            }
            return;
        }
    };
    let total_weight: u64 = weights.iter().map(|&(_, weight)| weight).sum();
    for (&(name, weight), share) in weights.iter().zip(amounts) {
        let entry = shares.entry(name).or_default();
        if !members.contains_key(name) {
            entry.errors.push(ContributionError::UnknownSubscriber {
                member: name.to_owned(),
                service: cost.service.clone(),
                reference: cost.reference.clone(),
                share,
            });
            continue;
        }
        if share == 0 {
            continue;
        }
        match Line::new(
            LineCode::SharedCostShare,
            input.grid,
            format!("Quote-part — {}", cost.label),
            1,
            share,
        ) {
            Ok(line) => entry.lines.push(
                line.explained(explanation(cost, weight, total_weight, weights.len()))
                    .citing(Some(cost.reference.clone())),
            ),
            Err(error) => entry.errors.push(error),
        }
    }
}

fn explanation(cost: &SharedCost, weight: u64, total_weight: u64, subscribers: usize) -> String {
    let key = match cost.allocation {
        AllocationKey::PerInhabitant => format!(
            "au prorata de la population : {} habitants sur {}",
            format_count(weight),
            format_count(total_weight)
        ),
        AllocationKey::PerSeat => format!(
            "au prorata des postes : {} sur {}",
            format_count(weight),
            format_count(total_weight)
        ),
        AllocationKey::Equal => format!("à parts égales entre {subscribers} membres"),
    };
    format!(
        "Coût de {} réglé par REDON Agglomération, refacturé {AT_REAL_COST} et réparti {key} ; \
         les centimes d'arrondi vont aux plus forts restes.",
        format_eur(cost.cost_cents)
    )
}

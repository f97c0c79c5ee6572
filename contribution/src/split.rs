//! Splitting a cost into shares that add up to it exactly (ruling 10).

use super::model::Cents;

/// Why a cost cannot be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A negative cost is a credit, which corrects the original cost instead.
    #[error("the cost is negative")]
    NegativeCost,
    /// Nobody to split on: no subscriber, or every weight is zero.
    #[error("the allocation weights add up to zero")]
    NoWeight,
}

/// Splits `cost_cents` in proportion to the weights, so that the shares add
/// up exactly to the cost; shares come back in the order of `weights`.
///
/// Each share is first its proportional amount rounded down. The cents left
/// over (fewer than the number of shares) go one each to the shares with the
/// largest remainders (Hamilton's method), ties broken by name: no share
/// strays a cent from its exact value, and the result does not depend on the
/// order of `weights`. Names are expected to be distinct.
pub fn split_cost(cost_cents: Cents, weights: &[(&str, u64)]) -> Result<Vec<Cents>, SplitError> {
    if cost_cents < 0 {
        return Err(SplitError::NegativeCost);
    }
    let total: u128 = weights.iter().map(|&(_, weight)| u128::from(weight)).sum();
    if total == 0 {
        return Err(SplitError::NoWeight);
    }
    // u128 holds cost × weight (below 2^63 × 2^64) without overflow.
    let cost = u128::from(cost_cents.unsigned_abs());
    let exact: Vec<(u128, u128)> = weights
        .iter()
        .map(|&(_, weight)| {
            let numerator = cost * u128::from(weight);
            (numerator / total, numerator % total)
        })
        .collect();
    let distributed: u128 = exact.iter().map(|&(floor, _)| floor).sum();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_unstable_by(|&a, &b| {
        exact[b]
            .1
            .cmp(&exact[a].1)
            .then_with(|| weights[a].0.cmp(weights[b].0))
            .then(a.cmp(&b))
    });
    let mut shares: Vec<u128> = exact.iter().map(|&(floor, _)| floor).collect();
    for &index in by_remainder
        .iter()
        .take(usize::try_from(cost - distributed).unwrap_or(usize::MAX))
    {
        shares[index] += 1;
    }
    Ok(shares
        .into_iter()
        .map(|share| Cents::try_from(share).expect("a share never exceeds the cost"))
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn remainders_go_to_the_largest_fractions_then_by_name() {
        let cases = [
            (100, vec![("a", 1), ("b", 1), ("c", 1)], vec![34, 33, 33]),
            (100, vec![("c", 1), ("b", 1), ("a", 1)], vec![33, 33, 34]),
            (1000, vec![("a", 1), ("b", 2)], vec![333, 667]),
            (0, vec![("a", 5), ("b", 7)], vec![0, 0]),
            (5, vec![("a", 0), ("b", 3)], vec![0, 5]),
        ];
        for (cost, weights, expected) in cases {
            assert_eq!(
                split_cost(cost, &weights),
                Ok(expected),
                "{cost} over {weights:?}"
            );
        }
    }

    #[test]
    fn refuses_what_cannot_be_split() {
        assert_eq!(split_cost(100, &[]), Err(SplitError::NoWeight));
        assert_eq!(split_cost(100, &[("a", 0)]), Err(SplitError::NoWeight));
        assert_eq!(split_cost(-1, &[("a", 1)]), Err(SplitError::NegativeCost));
    }

    proptest! {
        #[test]
        fn shares_add_up_exactly_and_stay_within_a_cent(
            cost in 0..=Cents::MAX,
            weights in prop::collection::vec(0..=u64::MAX, 1..12),
        ) {
            let names: Vec<String> = (0..weights.len()).map(|i| format!("m{i:02}")).collect();
            let named: Vec<(&str, u64)> =
                names.iter().map(String::as_str).zip(weights.iter().copied()).collect();
            let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            prop_assume!(total > 0);
            let shares = split_cost(cost, &named).unwrap();
            prop_assert_eq!(shares.iter().map(|&s| i128::from(s)).sum::<i128>(), i128::from(cost));
            for (&share, &weight) in shares.iter().zip(&weights) {
                let exact_floor = u128::from(cost.unsigned_abs()) * u128::from(weight) / total;
                let share = u128::from(share.unsigned_abs());
                prop_assert!(share == exact_floor || share == exact_floor + 1);
            }
        }
    }
}

//! The quantitative inventory of each member (article 6.2), from the usage
//! records of the inventory meters: what the annual report shows the pilotage
//! commission besides the money.

use std::collections::BTreeMap;

use super::{
    input::{Meter, Usage},
    usage::counting,
};

/// One member's inventory: quantity by meter name, in each meter's unit.
pub type MeterTotals = BTreeMap<String, u64>;

/// Every member's inventory for the exercise, keyed by member name: the sum of
/// the quantities of the inventory records that still count, corrections
/// applied exactly as for billed usage (only the last of a chain counts).
/// Billed meters are left out: the statements already show them. A member
/// without inventory records has no entry, so "nothing recorded" stays
/// distinguishable from a recorded zero.
pub fn inventory(usage: &[Usage], exercise: i16) -> BTreeMap<String, MeterTotals> {
    let mut by_member: BTreeMap<String, MeterTotals> = BTreeMap::new();
    for record in counting(usage, exercise) {
        if let Meter::Inventory(meter) = &record.meter {
            let total = by_member
                .entry(record.member.to_string())
                .or_default()
                .entry(meter.to_string())
                .or_default();
            // Saturating: an absurd sum shows as the largest count, never wrapped to a small one.
            *total = total.saturating_add(record.quantity);
        }
    }
    by_member
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, member: &str, meter: &str, quantity: u64) -> Usage {
        Usage {
            id: id.to_owned(),
            member: member.into(),
            meter: Meter::from(meter),
            quantity,
            exercise: 2026,
            amount_cents: None,
            reference: None,
            corrects: None,
        }
    }

    fn correcting(mut record: Usage, corrected: &str) -> Usage {
        record.corrects = Some(corrected.to_owned());
        record
    }

    fn totals(pairs: &[(&str, u64)]) -> MeterTotals {
        pairs
            .iter()
            .map(|&(meter, quantity)| (meter.to_owned(), quantity))
            .collect()
    }

    #[test]
    fn sums_each_meter_of_each_member() {
        let records = [
            record("a-storage-01", "allaire", "storage-gib-months", 40),
            record("a-storage-02", "allaire", "storage-gib-months", 42),
            record("a-vpn-01", "allaire", "vpn-tunnel-months", 1),
            record("a-vpn-02", "allaire", "vpn-tunnel-months", 1),
            record("p-drills-03", "peillac", "drills", 2),
        ];
        let inventory = inventory(&records, 2026);
        assert_eq!(
            inventory["allaire"],
            totals(&[("storage-gib-months", 82), ("vpn-tunnel-months", 2)])
        );
        assert_eq!(inventory["peillac"], totals(&[("drills", 2)]));
        assert_eq!(inventory.len(), 2);
    }

    #[test]
    fn corrections_count_like_billed_usage() {
        let records = [
            record("m1", "allaire", "backup-gib-months", 100),
            correcting(record("m1-fix", "allaire", "backup-gib-months", 80), "m1"),
            correcting(
                record("m1-fix2", "allaire", "backup-gib-months", 90),
                "m1-fix",
            ),
            record("m2", "allaire", "backup-gib-months", 10),
        ];
        assert_eq!(
            inventory(&records, 2026)["allaire"],
            totals(&[("backup-gib-months", 100)])
        );
    }

    #[test]
    fn billed_meters_and_other_exercises_are_left_out() {
        let mut last_year = record("old", "allaire", "drills", 5);
        last_year.exercise = 2025;
        let records = [
            last_year,
            record("l1", "allaire", "level1-half-days", 4),
            record("pt", "allaire", "pass-through", 1),
            record("zero", "renac", "drills", 0),
        ];
        let inventory = inventory(&records, 2026);
        assert!(!inventory.contains_key("allaire"), "{inventory:?}");
        assert_eq!(
            inventory["renac"],
            totals(&[("drills", 0)]),
            "a recorded zero is kept"
        );
    }
}

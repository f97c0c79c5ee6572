//! Statements for 35 000 synthetic members for one exercise: the engine must
//! stay linear in members, usage records and shared costs.
//!
//! Run with `cargo bench -p socle-contribution --bench contribution`.

use jiff::civil::date;
use socle_contribution::{
    AllocationKey, Input, MemberFacts, Meter, Offer, Population, SharedCost, Subscription,
    TariffGrid, TariffOverride, Usage, compute,
};

const MEMBERS: usize = 35_000;
const EXERCISE: i16 = 2025;

fn main() {
    divan::main();
}

/// A deterministic mix: every offer, every bracket, audits followed by the
/// socle complet, overrides above 8 000, Level-1 and pass-through records
/// with corrections, and shared costs split by each key.
struct Synthetic {
    grid: TariffGrid,
    members: Vec<MemberFacts>,
    usage: Vec<Usage>,
    shared_costs: Vec<SharedCost>,
}

fn subscription(offer: Offer, year: i16, month: i8) -> Subscription {
    Subscription {
        offer,
        effective_date: date(year, month, 1),
        end_date: None,
        notice_date: None,
        audit_report_date: (offer == Offer::Audit).then(|| date(year, month, 20)),
        decision: Some(format!("DEL-{year}-{month:02}")),
    }
}

fn synthetic() -> Synthetic {
    let members: Vec<MemberFacts> = (0..MEMBERS)
        .map(|i| {
            let population = u32::try_from(i * 7919 % 12_000).unwrap();
            let year = 2023 + i16::try_from(i % 3).unwrap();
            let month = i8::try_from(i % 12).unwrap() + 1;
            let subscriptions = match i % 4 {
                0 => vec![subscription(Offer::SocleComplet, year, month)],
                1 => vec![subscription(Offer::GroupementAchats, year, month)],
                2 => vec![
                    subscription(Offer::Audit, year, month),
                    subscription(Offer::SocleComplet, year + 1, 1),
                ],
                _ => vec![
                    subscription(Offer::Audit, year, month),
                    subscription(Offer::GroupementAchats, year, month),
                ],
            };
            MemberFacts {
                name: format!("member-{i:05}"),
                display_name: format!("Commune {i}"),
                insee_code: format!("{:05}", 35_000 + i % 1000),
                population: Population {
                    count: population,
                    year: 2021,
                },
                has_it_department: false,
                subscriptions,
                tariff_override: (population > 8000).then(|| TariffOverride {
                    fixed_cents: Some(300_000),
                    per_inhabitant_cents: Some(150),
                    audit_cents: Some(900_000),
                    level1_allowance_half_days: Some(16),
                    decision: "CC_2026_031".to_owned(),
                }),
            }
        })
        .collect();
    let usage = (0..MEMBERS / 2)
        .map(|i| {
            let pass_through = i % 5 == 0;
            Usage {
                id: format!("usage-{i:05}"),
                member: format!("member-{:05}", i * 2).into(),
                meter: if pass_through {
                    Meter::PassThrough
                } else {
                    Meter::Level1HalfDays
                },
                quantity: u64::try_from(i % 17).unwrap(),
                exercise: EXERCISE,
                amount_cents: pass_through.then_some(12_345),
                reference: pass_through.then(|| format!("FA-{i}")),
                corrects: (i % 50 == 49).then(|| format!("usage-{:05}", i - 1)),
            }
        })
        .collect();
    let shared_costs = [
        AllocationKey::PerInhabitant,
        AllocationKey::PerSeat,
        AllocationKey::Equal,
    ]
    .into_iter()
    .enumerate()
    .map(|(k, allocation)| SharedCost {
        service: format!("service-{k}"),
        label: "Solution mutualisée".to_owned(),
        reference: format!("MARCHE-{k}"),
        exercise: EXERCISE,
        cost_cents: 10_000_000 + i64::try_from(k).unwrap(),
        allocation,
        subscribers: (k..MEMBERS)
            .step_by(3)
            .map(|i| (format!("member-{i:05}"), u32::try_from(i % 9).unwrap()))
            .collect(),
    })
    .collect();
    Synthetic {
        grid: TariffGrid::convention(),
        members,
        usage,
        shared_costs,
    }
}

#[divan::bench(sample_count = 10)]
fn statements_for_35_000_members(bencher: divan::Bencher) {
    let data = synthetic();
    let input = Input {
        grid: &data.grid,
        members: &data.members,
        usage: &data.usage,
        shared_costs: &data.shared_costs,
        exercise: EXERCISE,
    };
    bencher.bench(|| compute(divan::black_box(&input)));
}

//! From custom resources to the contribution engine's facts.

use std::{collections::HashSet, sync::Arc};

use kube::{ResourceExt, core::SelectorExt};

use crate::{
    api::{Member, SharedService, Tariff},
    contribution::{
        self, AnnualReport, Input, MemberFacts, MemberSummary, Meter, Outcome, SharedCost,
        TariffGrid, Usage,
    },
    runtime::watch::SharedMember,
};

/// Every object that decides what members owe.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub members: Vec<SharedMember>,
    /// The UsageRecords, as the engine reads them; shared with the billing
    /// controller's cache: tens of thousands at 1 000 Members, not worth a
    /// copy per computation.
    pub usage: Vec<Arc<Usage>>,
    pub services: Vec<SharedService>,
    pub tariffs: Vec<Tariff>,
}

/// The engine's facts for one exercise, owned so that [`Input`] can borrow them.
#[derive(Debug)]
pub struct Facts {
    pub grid: TariffGrid,
    pub members: Vec<MemberFacts>,
    pub usage: Vec<Usage>,
    pub shared_costs: Vec<SharedCost>,
    pub exercise: i16,
}

impl Facts {
    pub fn input(&self) -> Input<'_> {
        Input {
            grid: &self.grid,
            members: &self.members,
            usage: &self.usage,
            shared_costs: &self.shared_costs,
            exercise: self.exercise,
        }
    }
}

impl Ledger {
    /// The grid that prices `exercise`: the Tariff with the latest
    /// `validFromExercise` not after it; the convention's own grid when no
    /// Tariff applies. Ties between Tariffs are broken by name, so the choice
    /// never depends on listing order.
    pub fn grid_for(&self, exercise: i16) -> TariffGrid {
        self.tariffs
            .iter()
            .filter(|tariff| tariff.spec.grid.valid_from_exercise <= exercise)
            .max_by(|a, b| {
                (a.spec.grid.valid_from_exercise, b.name_any())
                    .cmp(&(b.spec.grid.valid_from_exercise, a.name_any()))
            })
            .map_or_else(TariffGrid::convention, |tariff| tariff.spec.grid.clone())
    }

    /// The engine's facts for `exercise`, every record that can count in it.
    pub fn facts(&self, exercise: i16) -> Facts {
        self.facts_with(exercise, |_| true)
    }

    /// The facts for `exercise` with the records of it `keep` keeps:
    /// corrections always stay, since one filed in any exercise voids the
    /// record it corrects.
    fn facts_with(&self, exercise: i16, keep: impl Fn(&Usage) -> bool) -> Facts {
        Facts {
            grid: self.grid_for(exercise),
            members: self
                .members
                .iter()
                .map(|member| member_facts(member))
                .collect(),
            usage: self
                .usage
                .iter()
                .filter(|record| {
                    record.corrects.is_some() || (record.exercise == exercise && keep(record))
                })
                .map(|record| (**record).clone())
                .collect(),
            shared_costs: self
                .services
                .iter()
                .filter_map(|service| self.shared_cost(service, exercise))
                .collect(),
            exercise,
        }
    }

    /// What each member owes for `exercise`. Inventory records weigh only
    /// on the annual report: pricing leaves them out.
    pub fn compute(&self, exercise: i16) -> Outcome {
        let billed = |record: &Usage| !matches!(record.meter, Meter::Inventory(_));
        contribution::compute(&self.facts_with(exercise, billed).input())
    }

    /// The annual report of the exercise, each member's row of it, and the
    /// outcome it was built from.
    pub fn annual_report(&self, exercise: i16) -> (Outcome, AnnualReport, Vec<MemberSummary>) {
        let facts = self.facts(exercise);
        let input = facts.input();
        let outcome = contribution::compute(&input);
        let report = contribution::annual_report(&input, &outcome);
        let members = contribution::member_summaries(&input, &outcome);
        (outcome, report, members)
    }

    /// A service's contract cost for `exercise`, when its contract runs on at
    /// least one day of it: like every annual amount of the convention, the
    /// yearly cost is owed whole (ruling 6), never prorated.
    fn shared_cost(&self, service: &SharedService, exercise: i16) -> Option<SharedCost> {
        let contract = service.spec.contract.as_ref()?;
        let runs = contract.start_date.year() <= exercise
            && contract.end_date.is_none_or(|end| end.year() >= exercise);
        runs.then(|| SharedCost {
            service: service.name_any(),
            label: service.spec.display_name.clone(),
            reference: contract.reference.clone(),
            exercise,
            cost_cents: contract.annual_cost_cents,
            allocation: contract.allocation,
            subscribers: self.subscribers(service),
        })
    }

    /// Named subscribers with their seats, then members selected by label
    /// (one seat each) that are not named.
    pub fn subscribers(&self, service: &SharedService) -> Vec<(String, u32)> {
        let subscribers = &service.spec.subscribers;
        let mut named: Vec<(String, u32)> = subscribers
            .members
            .iter()
            .map(|seat| (seat.member.clone(), seat.seats))
            .collect();
        let selector = subscribers
            .selector
            .clone()
            .and_then(|selector| kube::core::Selector::try_from(selector).ok());
        if let Some(selector) = selector {
            // A set, not a scan of `named` per member: a regional service
            // may have thousands of subscribers.
            let listed: HashSet<String> = named.iter().map(|(name, _)| name.clone()).collect();
            for member in &self.members {
                let name = member.name_any();
                if selector.matches(member.labels()) && !listed.contains(&name) {
                    named.push((name, 1));
                }
            }
        }
        named
    }
}

fn member_facts(member: &Member) -> MemberFacts {
    let spec = &member.spec;
    MemberFacts {
        name: member.name_any(),
        display_name: spec.display_name.clone(),
        insee_code: spec.insee_code.clone(),
        population: spec.population,
        has_it_department: spec.has_it_department,
        subscriptions: spec.subscriptions.clone(),
        tariff_override: spec.tariff_override.clone(),
    }
}

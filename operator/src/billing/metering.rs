//! Metering: the UsageRecords the operator writes from what it provisions —
//! the quantitative inventory of each member the pilotage commission reviews
//! (convention 6.2).
//!
//! Every record is named after (member, meter, object, period), so the name is
//! the idempotency key: a retry, a restart or a second replica computing the
//! same fact computes the same name, and the API server keeps only one.
//!
//! Two kinds of facts:
//! - **derived** from the spec, for completed months: subscription days per
//!   offer. If the adhesion history is corrected afterwards, a correction
//!   record (`…-r1`, `…-r2`, naming the one it corrects) carries the new value;
//!   records are immutable.
//! - **observed** in the current month: tenant storage (GiB), VPN tunnel,
//!   SharedService seats — one record per month, written the first time the
//!   operator sees the fact hold that month, with the quantity it sees then.
//!   A later change in the month counts from the next month. Drills: one
//!   record per DrillReport.
//!
//! The size of the backups kept (`backup-gib-months`) is observed like the
//! tenant's storage, from `status.backup.keptBytes` (see `backup::kept`).

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::{ToSpan, civil::Date};
use kube::{ResourceExt, api::ObjectMeta};

use super::Ledger;
use crate::{
    api::{
        DrillReport, Member, UsageRecord,
        member::TOWN_HALL,
        usage_record::{Period, UsageRecordSpec},
    },
    contribution::{
        Meter, Usage,
        model::{Offer, Subscription},
    },
    labels,
    runtime::apply::quantity_nanos,
};

/// `spec.source` of every record the operator writes.
pub const SOURCE: &str = "socle";
/// Value of the component label on operator-written records.
pub const COMPONENT: &str = "metering";
/// The meter of the days subscribed to an offer.
const SUBSCRIPTION_DAYS: &str = "subscription-days";
/// Every offer, each metered on its own.
const OFFERS: [Offer; 3] = [Offer::Audit, Offer::GroupementAchats, Offer::SocleComplet];

/// One fact the operator should have recorded. Its name and quantity decide
/// whether a record is due; the rest of the record is built only then: a
/// pass over 10 000 converged Members meets some 70 000 facts and creates
/// none.
struct Fact<'a> {
    /// Name of the first record of the fact; corrections add `-r<n>`.
    name: String,
    quantity: u64,
    /// Whether a later value replaces a recorded one (derived facts), or the
    /// first record stands (observed facts).
    revisable: bool,
    spec: Box<dyn FnOnce() -> UsageRecordSpec + 'a>,
}

/// The records to create so that the cluster holds every fact due on
/// `today`: new facts, and corrections of derived facts whose value changed.
/// `ledger.usage` is what is already recorded. One record at a time: the
/// first pass at 1 000 Members makes about 3 000.
pub fn due<'a>(
    ledger: &'a Ledger,
    drills: &'a [DrillReport],
    today: Date,
    namespace: &'a str,
) -> impl Iterator<Item = UsageRecord> + 'a {
    let recorded: HashMap<&str, &Usage> = ledger
        .usage
        .iter()
        .map(|record| (record.id.as_str(), &**record))
        .collect();
    let corrected: HashSet<&str> = ledger
        .usage
        .iter()
        .filter_map(|record| record.corrects.as_deref())
        .collect();
    facts(ledger, drills, today).filter_map(move |fact| {
        let Some(first) = recorded.get(fact.name.as_str()) else {
            // Nothing to correct: a zero is not worth a first record.
            return (fact.quantity > 0).then(|| fact.record(None, namespace));
        };
        if !fact.revisable {
            return None;
        }
        // Follow the operator's own chain: name, name-r1, name-r2, …
        let (mut head, mut revision) = (*first, 0);
        while let Some(next) = recorded.get(format!("{}-r{}", fact.name, revision + 1).as_str()) {
            head = next;
            revision += 1;
        }
        // A record corrected by someone else is theirs to follow.
        let settled = head.quantity == fact.quantity || corrected.contains(head.id.as_str());
        (!settled).then(|| fact.record(Some((revision + 1, head.id.clone())), namespace))
    })
}

impl Fact<'_> {
    /// The record of this fact in `namespace`: its first, or the correction
    /// number `n` of the record it names.
    fn record(self, correction: Option<(u32, String)>, namespace: &str) -> UsageRecord {
        let (name, corrects) = match correction {
            None => (self.name, None),
            Some((n, corrected)) => (format!("{}-r{n}", self.name), Some(corrected)),
        };
        let spec = (self.spec)();
        UsageRecord {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([
                    (labels::MEMBER.to_owned(), spec.member.clone()),
                    (labels::COMPONENT.to_owned(), COMPONENT.to_owned()),
                    (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            spec: UsageRecordSpec { corrects, ..spec },
        }
    }
}

/// Every fact due on `today`, recorded or not, one at a time: with 1 000
/// Members there are tens of thousands, of which `due` keeps only the new.
fn facts<'a>(
    ledger: &'a Ledger,
    drills: &'a [DrillReport],
    today: Date,
) -> impl Iterator<Item = Fact<'a>> + 'a {
    let this_month = today.first_of_month();
    let managed: HashSet<String> = ledger
        .members
        .iter()
        .map(|member| member.name_any())
        .collect();
    let monthly = with_monthly_days(ledger);
    let of_members = ledger.members.iter().flat_map(move |member| {
        let superseded = member
            .metadata
            .name
            .as_deref()
            .is_some_and(|name| monthly.contains(name))
            .then(|| superseded_months(member, this_month));
        subscription_days(member, this_month)
            .into_iter()
            .chain(superseded.into_iter().flatten())
            .chain(storage(member, this_month))
            .chain(backups_kept(member, this_month))
            .chain(tunnel(member, this_month))
    });
    let seats = ledger.services.iter().flat_map(move |service| {
        ledger
            .subscribers(service)
            .into_iter()
            .filter(|(member, _)| managed.contains(member))
            .map(|(member, seats)| {
                observed(
                    member,
                    "seats",
                    Some(&service.name_any()),
                    this_month,
                    u64::from(seats),
                    "seat",
                    move || format!("SharedService {}", service.name_any()),
                )
            })
            .collect::<Vec<_>>()
    });
    of_members.chain(seats).chain(drills.iter().map(drill))
}

/// One record per drill, on the day it started.
fn drill(drill: &DrillReport) -> Fact<'_> {
    let member = &drill.spec.member;
    Fact {
        name: format!("{member}-drills-{}", drill.name_any()),
        quantity: 1,
        revisable: false,
        spec: Box::new(move || {
            let day = drill
                .spec
                .started_at
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            spec(
                member,
                "drills",
                1,
                "drill",
                Period {
                    start: day,
                    end: day,
                },
                format!(
                    "DrillReport {} ({:?})",
                    drill.name_any(),
                    drill.spec.verdict
                ),
            )
        }),
    }
}

/// Days of the previous exercise, and of the current one's completed
/// months, during which the member subscribed to each offer: one record per
/// member, offer and exercise. The current exercise's grows as its months
/// complete, each month a correction record (`…-r<n>`) carrying the new
/// total and period; the commission reads the head of the chain. One record
/// per month instead made some 22 per member at its first pass: 770 000
/// records, and a quarter of an hour of writes, for every commune of France.
fn subscription_days(member: &Member, this_month: Date) -> Vec<Fact<'_>> {
    let mut facts = Vec::new();
    let name = member.name_any();
    for exercise in [this_month.year() - 1, this_month.year()] {
        let january = Date::new(exercise, 1, 1).expect("January 1st exists");
        let months = months(january, this_month).take_while(|month| month.year() == exercise);
        let Some(last) = months.clone().last() else {
            continue;
        };
        let period = Period {
            start: january,
            end: last.last_of_month(),
        };
        for offer in OFFERS {
            let days = months
                .clone()
                .map(|month| days_subscribed(&member.spec.subscriptions, offer, month))
                .sum();
            let period = period.clone();
            facts.push(Fact {
                name: format!("{name}-subscription-days-{}-{exercise}", offer_code(offer)),
                quantity: days,
                revisable: true,
                spec: Box::new(move || {
                    let decisions: Vec<&str> = member
                        .spec
                        .subscriptions
                        .iter()
                        .filter(|s| s.offer == offer)
                        .filter_map(|s| s.decision.as_deref())
                        .collect();
                    spec(
                        &member.name_any(),
                        SUBSCRIPTION_DAYS,
                        days,
                        "day",
                        period,
                        format!("{offer:?} ({})", decisions.join(", ")),
                    )
                }),
            });
        }
    }
    facts
}

/// Members with subscription days recorded month by month, as socle
/// recorded them before one record per exercise.
fn with_monthly_days(ledger: &Ledger) -> HashSet<&str> {
    ledger
        .usage
        .iter()
        .filter(|record| matches!(&record.meter, Meter::Inventory(meter) if &**meter == SUBSCRIPTION_DAYS))
        .filter(|record| is_monthly(&record.id))
        .map(|record| &*record.member)
        .collect()
}

/// Whether a record's name ends in `-<YYYY-MM>`, or is a correction of one
/// (`-<YYYY-MM>-r<n>`).
fn is_monthly(id: &str) -> bool {
    let root = id
        .rsplit_once("-r")
        .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(id, |(root, _)| root);
    let Some(tail) = root.len().checked_sub(8).and_then(|at| root.get(at..)) else {
        return false;
    };
    let b = tail.as_bytes();
    b[0] == b'-' && b[5] == b'-' && b[1..5].iter().chain(&b[6..]).all(u8::is_ascii_digit)
}

/// The monthly records of the two exercises, each corrected to 0 where it
/// counted days: the exercise's record now holds them, and the report
/// would otherwise count them twice. A month never recorded stays so.
fn superseded_months(member: &Member, this_month: Date) -> Vec<Fact<'_>> {
    let name = member.name_any();
    let january = Date::new(this_month.year() - 1, 1, 1).expect("January 1st exists");
    months(january, this_month)
        .flat_map(|month| {
            OFFERS.map(|offer| {
                let (code, year) = (offer_code(offer), month.year());
                Fact {
                    name: format!(
                        "{name}-subscription-days-{code}-{}",
                        month.strftime("%Y-%m")
                    ),
                    quantity: 0,
                    revisable: true,
                    spec: Box::new(move || {
                        spec(
                            &member.name_any(),
                            SUBSCRIPTION_DAYS,
                            0,
                            "day",
                            Period {
                                start: month,
                                end: month.last_of_month(),
                            },
                            format!(
                                "superseded by {}-subscription-days-{code}-{year}",
                                member.name_any()
                            ),
                        )
                    }),
                }
            })
        })
        .collect()
}

/// The first days of the months from `first` (a first day) until, not
/// including, `until`.
fn months(first: Date, until: Date) -> impl Iterator<Item = Date> + Clone {
    std::iter::successors(Some(first), |month| month.checked_add(1.month()).ok())
        .take_while(move |&month| month < until)
}

/// Days of `month` (its first day) on which a subscription to `offer` is in
/// force. Each subscription marks its days in a 31-bit mask, so overlapping
/// subscriptions count a day once; walking the days one by one was most of
/// a metering pass at 10 000 Members.
fn days_subscribed(subscriptions: &[Subscription], offer: Offer, month: Date) -> u64 {
    let last = month.last_of_month();
    let days = subscriptions
        .iter()
        .filter(|s| s.offer == offer)
        .filter_map(|s| {
            let from = s.effective_date.max(month);
            let to = s.end_date.map_or(last, |end| end.min(last));
            // Bits `from.day() ..= to.day()`; u64 so that day 31 does not overflow.
            (from <= to).then(|| (1u64 << (to.day() + 1)) - (1u64 << from.day()))
        })
        .fold(0, |mask, span| mask | span);
    u64::from(days.count_ones())
}

/// The tenant's data volume, in whole GiB (rounded up), once it is provisioned.
fn storage(member: &Member, this_month: Date) -> Option<Fact<'_>> {
    let size = &member.spec.tenant.as_ref()?.storage.as_ref()?.size;
    if !holds(member, "TenantReady") {
        return None;
    }
    let gib = u128::try_from(quantity_nanos(&size.0)?)
        .ok()?
        .div_ceil(1_000_000_000 << 30);
    let namespace = member.status.as_ref()?.namespace.as_ref()?;
    Some(observed(
        member.name_any(),
        "storage-gib-months",
        None,
        this_month,
        u64::try_from(gib).ok()?,
        "GiB-month",
        move || format!("data volume of {namespace}, {}", size.0),
    ))
}

/// What the member's backups take in the object store, in whole GiB
/// (rounded up, as object storage is billed), as the backup controller
/// last measured it.
fn backups_kept(member: &Member, this_month: Date) -> Option<Fact<'_>> {
    let backup = member.status.as_ref()?.backup.as_ref()?;
    let bytes = backup.kept_bytes.filter(|&bytes| bytes > 0)?;
    let schedule = backup.schedule.as_deref().unwrap_or("its schedule");
    Some(observed(
        member.name_any(),
        "backup-gib-months",
        None,
        this_month,
        bytes.div_ceil(1 << 30),
        "GiB-month",
        move || format!("backups of Velero schedule {schedule}, {bytes} bytes"),
    ))
}

/// One tunnel-month per site once the member's tunnels are up (VpnReady):
/// each site is a tunnel of its own (its router, key and address). The town
/// hall's record keeps the name a single-router member's always had
/// (`<member>-vpn-tunnel-months-<month>`); another site's names it
/// (`<member>-vpn-tunnel-months-<site>-<month>`).
fn tunnel(member: &Member, this_month: Date) -> Vec<Fact<'_>> {
    let Some(vpn) = member.status.as_ref().and_then(|s| s.vpn.as_ref()) else {
        return Vec::new();
    };
    if !holds(member, "VpnReady") {
        return Vec::new();
    }
    vpn.sites
        .iter()
        .filter_map(|site| {
            let address = site.tunnel_address.as_ref()?;
            let object = (site.name != TOWN_HALL).then_some(site.name.as_str());
            Some(observed(
                member.name_any(),
                "vpn-tunnel-months",
                object,
                this_month,
                1,
                "tunnel-month",
                move || format!("WireGuard tunnel {address} of site {}", site.name),
            ))
        })
        .collect()
}

fn holds(member: &Member, condition: &str) -> bool {
    member.status.as_ref().is_some_and(|status| {
        status
            .conditions
            .iter()
            .any(|c| c.type_ == condition && c.status == "True")
    })
}

/// A monthly fact seen in `month`, named `<member>-<meter>[-<object>]-<YYYY-MM>`.
fn observed<'a>(
    member: String,
    meter: &'static str,
    object: Option<&str>,
    month: Date,
    quantity: u64,
    unit: &'static str,
    evidence: impl FnOnce() -> String + 'a,
) -> Fact<'a> {
    let object = object.map(|o| format!("-{o}")).unwrap_or_default();
    Fact {
        name: format!("{member}-{meter}{object}-{}", month.strftime("%Y-%m")),
        quantity,
        revisable: false,
        spec: Box::new(move || {
            spec(
                &member,
                meter,
                quantity,
                unit,
                Period {
                    start: month,
                    end: month.last_of_month(),
                },
                evidence(),
            )
        }),
    }
}

fn spec(
    member: &str,
    meter: &str,
    quantity: u64,
    unit: &str,
    period: Period,
    evidence: String,
) -> UsageRecordSpec {
    UsageRecordSpec {
        member: member.to_owned(),
        meter: meter.to_owned(),
        quantity,
        unit: unit.to_owned(),
        exercise: period.start.year(),
        period,
        amount_cents: None,
        source: SOURCE.to_owned(),
        evidence: Some(evidence),
        corrects: None,
    }
}

/// The inventory fact of a departed member's backup purged on `at`'s day
/// (`backup::purge`): one per backup, named after it.
pub fn purged(
    member: &str,
    backup: &str,
    at: jiff::Timestamp,
    evidence: String,
    namespace: &str,
) -> UsageRecord {
    let day = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    Fact {
        name: format!("{member}-backups-purged-{backup}"),
        quantity: 1,
        revisable: false,
        spec: Box::new(move || {
            spec(
                member,
                "backups-purged",
                1,
                "backup",
                Period {
                    start: day,
                    end: day,
                },
                evidence,
            )
        }),
    }
    .record(None, namespace)
}

/// Name-safe code of an offer.
fn offer_code(offer: Offer) -> &'static str {
    match offer {
        Offer::Audit => "audit",
        Offer::GroupementAchats => "groupement-achats",
        Offer::SocleComplet => "socle-complet",
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use std::sync::Arc;

    use super::*;
    use crate::api::SharedService;

    fn from_yaml<K: serde::de::DeserializeOwned>(yaml: &str) -> K {
        serde_yaml::from_str(yaml).unwrap()
    }

    /// Allaire: socle complet from 15 March 2025, a 1.5 GiB data volume,
    /// its tenant provisioned and its tunnel up.
    fn allaire(effective: &str) -> Member {
        from_yaml(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: allaire}}
spec:
  displayName: Allaire
  inseeCode: "56001"
  population: {{count: 3875, year: 2021}}
  subscriptions:
    - {{offer: SocleComplet, effectiveDate: "{effective}", decision: DEL-2025-012}}
  tenant:
    storage: {{size: 1.5Gi}}
status:
  namespace: commune-allaire
  vpn: {{sites: [{{name: mairie, tunnelAddress: 10.99.0.2/32}}, {{name: ecole, tunnelAddress: 10.99.0.3/32}}]}}
  conditions:
    - {{type: TenantReady, status: "True", reason: Provisioned, message: "", lastTransitionTime: "2026-02-01T00:00:00Z"}}
    - {{type: VpnReady, status: "True", reason: Configured, message: "", lastTransitionTime: "2026-02-01T00:00:00Z"}}
"#
        ))
    }

    /// What the cluster holds once `records` are created.
    fn recorded(records: Vec<UsageRecord>) -> Vec<Arc<Usage>> {
        records
            .into_iter()
            .map(|record| Arc::new(record.into()))
            .collect()
    }

    fn due(
        ledger: &Ledger,
        drills: &[DrillReport],
        today: Date,
        namespace: &str,
    ) -> Vec<UsageRecord> {
        super::due(ledger, drills, today, namespace).collect()
    }

    fn ledger(members: Vec<Member>) -> Ledger {
        Ledger {
            members: members.into_iter().map(Into::into).collect(),
            ..Ledger::default()
        }
    }

    fn names(records: &[UsageRecord]) -> Vec<String> {
        records.iter().map(ResourceExt::name_any).collect()
    }

    fn record<'a>(records: &'a [UsageRecord], name: &str) -> &'a UsageRecord {
        records
            .iter()
            .find(|r| r.name_any() == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", names(records)))
    }

    fn quantity(records: &[UsageRecord], name: &str) -> u64 {
        record(records, name).spec.quantity
    }

    const TODAY: Date = date(2026, 2, 10);

    #[test]
    fn subscription_days_are_one_record_per_exercise_over_its_completed_months() {
        let due = due(
            &ledger(vec![allaire("2025-03-15")]),
            &[],
            TODAY,
            "socle-system",
        );
        let days: Vec<String> = names(&due)
            .into_iter()
            .filter(|n| n.contains("subscription-days"))
            .collect();
        // No zero records: the other offers were never subscribed.
        assert_eq!(
            days,
            [
                "allaire-subscription-days-socle-complet-2025",
                "allaire-subscription-days-socle-complet-2026"
            ]
        );
        // 15 March to 31 December: 17 days of March, then 275.
        let last_year = record(&due, "allaire-subscription-days-socle-complet-2025");
        assert_eq!(last_year.spec.quantity, 292);
        assert_eq!(last_year.spec.exercise, 2025);
        assert_eq!(last_year.spec.period.start, date(2025, 1, 1));
        assert_eq!(last_year.spec.period.end, date(2025, 12, 31));
        assert_eq!(last_year.spec.source, SOURCE);
        assert_eq!(
            last_year.metadata.namespace.as_deref(),
            Some("socle-system")
        );
        assert_eq!(last_year.labels()[labels::MEMBER], "allaire");
        // January 2026; February is not over.
        let this_year = record(&due, "allaire-subscription-days-socle-complet-2026");
        assert_eq!(this_year.spec.quantity, 31);
        assert_eq!(this_year.spec.period.end, date(2026, 1, 31));
    }

    #[test]
    fn the_current_exercise_grows_by_a_correction_as_each_month_completes() {
        let mut ledger = ledger(vec![allaire("2025-03-15")]);
        ledger.usage = recorded(due(&ledger, &[], TODAY, "ns"));
        let next_month = due(&ledger, &[], date(2026, 3, 2), "ns");
        let grown: Vec<&UsageRecord> = next_month
            .iter()
            .filter(|r| r.spec.meter == "subscription-days")
            .collect();
        assert_eq!(grown.len(), 1, "{:?}", names(&next_month));
        assert_eq!(
            grown[0].name_any(),
            "allaire-subscription-days-socle-complet-2026-r1"
        );
        assert_eq!(grown[0].spec.quantity, 31 + 28);
        assert_eq!(grown[0].spec.period.end, date(2026, 2, 28));
        assert_eq!(
            grown[0].spec.corrects.as_deref(),
            Some("allaire-subscription-days-socle-complet-2026")
        );
    }

    #[test]
    fn observed_facts_are_recorded_for_the_current_month() {
        let due = due(&ledger(vec![allaire("2025-03-15")]), &[], TODAY, "ns");
        assert_eq!(
            quantity(&due, "allaire-storage-gib-months-2026-02"),
            2,
            "1.5Gi rounds up"
        );
        assert_eq!(quantity(&due, "allaire-vpn-tunnel-months-2026-02"), 1);
        assert_eq!(
            quantity(&due, "allaire-vpn-tunnel-months-ecole-2026-02"),
            1,
            "each site is a tunnel"
        );
    }

    #[test]
    fn the_backups_kept_are_recorded_in_started_gib() {
        let mut member = allaire("2025-03-15");
        let status = member.status.as_mut().unwrap();
        status.backup = Some(crate::api::member::BackupStatus {
            schedule: Some("velero/socle-allaire".into()),
            kept_bytes: Some(0),
            ..Default::default()
        });
        let none = due(&ledger(vec![member.clone()]), &[], TODAY, "ns");
        assert!(
            !names(&none).iter().any(|n| n.contains("backup-gib-months")),
            "nothing kept, nothing recorded"
        );
        // 3 backups of 40 kB: the first GiB is started.
        member
            .status
            .as_mut()
            .unwrap()
            .backup
            .as_mut()
            .unwrap()
            .kept_bytes = Some(120_000);
        let due = due(&ledger(vec![member]), &[], TODAY, "ns");
        assert_eq!(quantity(&due, "allaire-backup-gib-months-2026-02"), 1);
        let record = due
            .iter()
            .find(|r| r.name_any() == "allaire-backup-gib-months-2026-02")
            .unwrap();
        let evidence = record.spec.evidence.as_deref().unwrap_or_default();
        assert!(evidence.contains("velero/socle-allaire"), "{evidence}");
    }

    #[test]
    fn nothing_is_observed_before_it_is_provisioned() {
        let mut member = allaire("2025-03-15");
        member.status.as_mut().unwrap().conditions.clear();
        let due = due(&ledger(vec![member]), &[], TODAY, "ns");
        assert!(
            names(&due).iter().all(|n| n.contains("subscription-days")),
            "{:?}",
            names(&due)
        );
    }

    #[test]
    fn what_is_recorded_is_not_recorded_again() {
        let mut ledger = ledger(vec![allaire("2025-03-15")]);
        ledger.usage = recorded(due(&ledger, &[], TODAY, "ns"));
        assert!(!ledger.usage.is_empty());
        assert_eq!(names(&due(&ledger, &[], TODAY, "ns")), Vec::<String>::new());
        // A resize later in the month counts from the next month.
        let mut resized = allaire("2025-03-15");
        resized
            .spec
            .tenant
            .as_mut()
            .unwrap()
            .storage
            .as_mut()
            .unwrap()
            .size = k8s_openapi::apimachinery::pkg::api::resource::Quantity("40Gi".into());
        ledger.members = vec![resized.into()];
        assert_eq!(names(&due(&ledger, &[], TODAY, "ns")), Vec::<String>::new());
        assert_eq!(
            quantity(
                &due(&ledger, &[], date(2026, 3, 2), "ns"),
                "allaire-storage-gib-months-2026-03"
            ),
            40
        );
    }

    #[test]
    fn month_records_of_an_earlier_socle_are_corrected_to_zero_once() {
        let member = allaire("2025-03-15");
        // Without month records, no month is even looked at.
        assert!(with_monthly_days(&ledger(vec![member.clone()])).is_empty());
        let mut ledger = ledger(vec![member]);
        // What socle recorded when it wrote a record per month.
        let months = ["2025-03", "2025-04", "2026-01"].map(|month| {
            let start: Date = format!("{month}-01").parse().unwrap();
            Fact {
                name: format!("allaire-subscription-days-socle-complet-{month}"),
                quantity: 17,
                revisable: true,
                spec: Box::new(move || {
                    let period = Period {
                        start,
                        end: start.last_of_month(),
                    };
                    spec(
                        "allaire",
                        "subscription-days",
                        17,
                        "day",
                        period,
                        String::new(),
                    )
                }),
            }
            .record(None, "ns")
        });
        ledger.usage = recorded(months.to_vec());
        let due_now = due(&ledger, &[], TODAY, "ns");
        let zeroed: Vec<&UsageRecord> = due_now
            .iter()
            .filter(|r| r.spec.corrects.is_some())
            .collect();
        assert_eq!(zeroed.len(), 3, "{:?}", names(&due_now));
        assert!(zeroed.iter().all(|r| r.spec.quantity == 0));
        let march = record(
            &due_now,
            "allaire-subscription-days-socle-complet-2025-03-r1",
        );
        assert_eq!(march.spec.period.end, date(2025, 3, 31));
        assert!(
            march
                .spec
                .evidence
                .as_deref()
                .is_some_and(|e| e.contains("allaire-subscription-days-socle-complet-2025")),
            "{:?}",
            march.spec.evidence
        );
        // The exercise records are written, no month is written anew.
        assert_eq!(
            quantity(&due_now, "allaire-subscription-days-socle-complet-2025"),
            292
        );
        let days = due_now
            .iter()
            .filter(|r| r.spec.meter == "subscription-days");
        assert_eq!(days.count(), 3 + 2, "{:?}", names(&due_now));
        ledger.usage.extend(recorded(due_now));
        assert_eq!(names(&due(&ledger, &[], TODAY, "ns")), Vec::<String>::new());
    }

    #[test]
    fn a_corrected_history_is_recorded_as_corrections() {
        let mut ledger = ledger(vec![allaire("2025-03-15")]);
        ledger.usage = recorded(due(&ledger, &[], TODAY, "ns"));
        // The deliberation said 1 March: 2025 is corrected, and only it.
        ledger.members = vec![allaire("2025-03-01").into()];
        let corrections = due(&ledger, &[], TODAY, "ns");
        assert_eq!(
            names(&corrections),
            ["allaire-subscription-days-socle-complet-2025-r1"]
        );
        assert_eq!(corrections[0].spec.quantity, 292 + 14);
        assert_eq!(
            corrections[0].spec.corrects.as_deref(),
            Some("allaire-subscription-days-socle-complet-2025")
        );
        // Back to 15 March: a second correction, of the first.
        ledger.usage.extend(recorded(corrections));
        ledger.members = vec![allaire("2025-03-15").into()];
        let again = due(&ledger, &[], TODAY, "ns");
        assert_eq!(
            names(&again),
            ["allaire-subscription-days-socle-complet-2025-r2"]
        );
        assert_eq!(
            again[0].spec.corrects.as_deref(),
            Some("allaire-subscription-days-socle-complet-2025-r1")
        );
        ledger.usage.extend(recorded(again));
        assert_eq!(names(&due(&ledger, &[], TODAY, "ns")), Vec::<String>::new());
    }

    #[test]
    fn a_subscription_removed_is_corrected_to_zero() {
        let mut ledger = ledger(vec![allaire("2025-03-15")]);
        ledger.usage = recorded(due(&ledger, &[], TODAY, "ns"));
        ledger.members = vec![allaire("2026-01-01").into()];
        let corrections = due(&ledger, &[], TODAY, "ns");
        // 2025 was not subscribed after all; January 2026 still is.
        assert_eq!(
            names(&corrections),
            ["allaire-subscription-days-socle-complet-2025-r1"]
        );
        assert_eq!(corrections[0].spec.quantity, 0);
    }

    #[test]
    fn seats_and_drills_are_recorded_for_managed_members() {
        let service: SharedService = from_yaml(
            r"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: SharedService
metadata: {name: messagerie}
spec:
  displayName: Messagerie
  category: Application
  serviceLevel: 3
  hosting: SaaS
  subscribers:
    members:
      - {member: allaire, seats: 12}
      - {member: peillac, seats: 3}
",
        );
        let drill: DrillReport = from_yaml(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: DrillReport
metadata: {name: drill-allaire-20260203t020000z, namespace: ns}
spec:
  member: allaire
  backup: allaire-20260203020000
  sandboxNamespace: drill-allaire-20260203t020000z
  startedAt: "2026-02-03T02:00:00Z"
  finishedAt: "2026-02-03T02:03:00Z"
  itemsRestored: 12
  checks: []
  measuredRtoSeconds: 180
  measuredRpoSeconds: 3600
  rtoTargetSeconds: 14400
  rpoTargetSeconds: 86400
  verdict: Passed
"#,
        );
        let mut ledger = ledger(vec![allaire("2025-03-15")]);
        ledger.services = vec![service];
        let due = due(&ledger, &[drill], TODAY, "ns");
        assert_eq!(quantity(&due, "allaire-seats-messagerie-2026-02"), 12);
        // Peillac is not managed here (another operator's, or not a member).
        assert!(!names(&due).iter().any(|n| n.starts_with("peillac")));
        let drill = due
            .iter()
            .find(|r| r.name_any() == "allaire-drills-drill-allaire-20260203t020000z")
            .unwrap();
        assert_eq!(drill.spec.quantity, 1);
        assert_eq!(drill.spec.period.start, date(2026, 2, 3));
    }

    /// A date within `year` and the year after, from a day number.
    fn day_of(year: i16, day: i32) -> Date {
        date(year, 1, 1).checked_add(day.days()).unwrap()
    }

    proptest::proptest! {
        /// The mask counts what walking the month day by day counts, for
        /// any mix of offers, overlaps and open or closed subscriptions.
        #[test]
        fn days_subscribed_counts_each_day_in_force_once(
            spans in proptest::collection::vec((0..3usize, 0..800i32, proptest::option::of(0..800i32)), 0..5),
            month in 0..24i8,
        ) {
            let subscriptions: Vec<Subscription> = spans
                .iter()
                .map(|&(offer, from, to)| Subscription {
                    offer: OFFERS[offer],
                    effective_date: day_of(2025, from),
                    end_date: to.map(|to| day_of(2025, to)),
                    notice_date: None,
                    audit_report_date: None,
                    decision: None,
                })
                .collect();
            let month = date(2025 + i16::from(month / 12), month % 12 + 1, 1);
            for offer in OFFERS {
                let walked = month
                    .series(1.day())
                    .take_while(|day| *day <= month.last_of_month())
                    .filter(|day| {
                        subscriptions.iter().any(|s| {
                            s.offer == offer
                                && s.effective_date <= *day
                                && s.end_date.is_none_or(|last| last >= *day)
                        })
                    })
                    .count();
                proptest::prop_assert_eq!(days_subscribed(&subscriptions, offer, month), walked as u64);
            }
        }
    }
}

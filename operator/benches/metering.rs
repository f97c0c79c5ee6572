//! One metering pass over 10 000 converged Members: what the billing
//! controller spends before every computation once every record exists.
//!
//! Run with `cargo bench -p socle --bench metering`.

use std::sync::Arc;

use jiff::civil::date;
use socle::{
    api::Member,
    billing::{Ledger, metering},
};

const MEMBERS: usize = 10_000;
/// A day late in an exercise: each Member's days of 2025 and of the 10
/// completed months of 2026 to meter.
const TODAY: jiff::civil::Date = date(2026, 11, 30);
const NAMESPACE: &str = "socle-system";

fn main() {
    divan::main();
}

/// Members with a socle complet taken on some day of 2025, a provisioned
/// tenant and a tunnel up, and every record metering would create for them.
fn converged() -> Ledger {
    let members = (0..MEMBERS).map(|i| {
        let month = i % 12 + 1;
        let day = i % 28 + 1;
        let member: Member = serde_yaml::from_str(&format!(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: member-{i:05}}}
spec:
  displayName: Commune {i}
  inseeCode: "{insee:05}"
  population: {{count: 1500, year: 2021}}
  subscriptions:
    - {{offer: SocleComplet, effectiveDate: "2025-{month:02}-{day:02}", decision: DEL-2025-012}}
  tenant:
    storage: {{size: 2Gi}}
status:
  namespace: commune-{i:05}
  vpn: {{tunnelAddress: 10.99.0.2/32}}
  conditions:
    - {{type: TenantReady, status: "True", reason: Provisioned, message: "", lastTransitionTime: "2026-02-01T00:00:00Z"}}
    - {{type: VpnReady, status: "True", reason: Configured, message: "", lastTransitionTime: "2026-02-01T00:00:00Z"}}
"#,
            insee = 35_000 + i % 1000,
        ))
        .expect("a valid Member");
        member.into()
    });
    let mut ledger = Ledger {
        members: members.collect(),
        ..Ledger::default()
    };
    ledger.usage = metering::due(&ledger, &[], TODAY, NAMESPACE)
        .map(|record| Arc::new(record.into()))
        .collect();
    ledger
}

#[divan::bench(sample_count = 10)]
fn a_converged_pass_over_10_000_members(bencher: divan::Bencher) {
    let ledger = converged();
    assert_eq!(
        metering::due(&ledger, &[], TODAY, NAMESPACE).count(),
        0,
        "a converged ledger has nothing due"
    );
    bencher.bench(|| metering::due(divan::black_box(&ledger), &[], TODAY, NAMESPACE).count());
}

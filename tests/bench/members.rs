//! Synthetic Members: the 31 example communes (from INSEE's list of REDON
//! Agglomération's communes) repeated round-robin, each copy renamed and
//! given an INSEE code of its own, made as they are needed.

use std::ops::Range;

use kube::ResourceExt;
use socle::api::Member;
use socle_e2e::{TestScope, examples::examples};

/// Members `range` of the synthetic population: member `i` copies example
/// commune `i mod 31`, is named `<commune>-<tag><i>-<scope id>` and carries
/// the scope's labels. Its INSEE code keeps the commune's département and
/// numbers the copies within it (codes repeat every 1 000 copies: nothing in
/// socle requires them unique).
///
/// VPN and backups are left out: a router push is measured separately (the
/// VPN e2e tests), and Velero's controller does not run in the testenv (its
/// CRDs are installed, so the backup controller runs and retires nothing).
/// What remains is each member's tenant (for the 26 in 31 that are hosted)
/// and its contribution statements.
pub fn synthetic<'a>(
    scope: &'a TestScope,
    tag: &'a str,
    range: Range<usize>,
) -> impl Iterator<Item = Member> + Send + 'a {
    let examples = examples();
    range.map(move |i| {
        let mut member = examples[i % examples.len()].clone();
        let base = member.name_any();
        member.metadata.name = Some(scope.name(&format!("{base}-{tag}{i}")));
        member.labels_mut().extend(scope.labels());
        let departement: String = member.spec.insee_code.chars().take(2).collect();
        member.spec.insee_code = format!("{departement}{:03}", i % 1000);
        member.spec.vpn = None;
        member.spec.backup = None;
        member
    })
}

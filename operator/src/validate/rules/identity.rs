//! One adhesion per commune: no two communes with the same INSEE code, no
//! two members with the same display name (the debtor on a titre de recettes).

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::{Catalog, Entry};
use crate::{
    api::{Member, member::MemberKind},
    validate::{Report, path::FieldPath},
};

pub(super) fn check(catalog: &Catalog<'_>, report: &mut Report) {
    let insee = FieldPath::parse("spec.inseeCode");
    let display = FieldPath::parse("spec.displayName");
    let mut codes: BTreeMap<&str, &Entry<'_, Member>> = BTreeMap::new();
    let mut names: BTreeMap<String, &Entry<'_, Member>> = BTreeMap::new();
    for entry in &catalog.members {
        let spec = &entry.object.spec;
        // An associated public body (a CCAS, a syndicat) shares its commune's code.
        if spec.kind == MemberKind::Commune {
            if let Some(first) = codes.get(spec.insee_code.as_str()) {
                entry.report(
                    report,
                    &insee,
                    format!(
                        "{} is already the INSEE code of Member {} ({}); a commune adheres once (an associated public body sharing its commune's code has kind: EtablissementPublic)",
                        spec.insee_code,
                        first.object.name_any(),
                        first.place(&insee)
                    ),
                );
            } else {
                codes.insert(spec.insee_code.as_str(), entry);
            }
        }
        let key = spec.display_name.trim().to_lowercase();
        if let Some(first) = names.get(&key) {
            entry.report(
                report,
                &display,
                format!(
                    "{:?} is already the display name of Member {} ({}); the titres de recettes would not tell them apart",
                    spec.display_name,
                    first.object.name_any(),
                    first.place(&display)
                ),
            );
        } else {
            names.insert(key, entry);
        }
    }
}

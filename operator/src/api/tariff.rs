//! `Tariff`: the article 7 price grid as data, versioned by deliberation.
//!
//! The spec is the engine's own [`TariffGrid`]: what a technician writes is
//! exactly what the engine computes with. `manifests/` ships the convention's
//! grid; the engine has the same grid built in when no Tariff exists.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::contribution::model::TariffGrid;

/// The price grid of article 7 adopted by one deliberation.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "socle.redon-agglomeration.bzh",
    doc = "The article 7 price grid adopted by one deliberation.",
    version = "v1alpha1",
    kind = "Tariff",
    shortname = "tarif",
    category = "socle",
    printcolumn = r#"{"name":"Deliberation","type":"string","jsonPath":".spec.grid.deliberation"}"#,
    printcolumn = r#"{"name":"From","type":"integer","description":"First exercise priced by this grid","jsonPath":".spec.grid.validFromExercise"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TariffSpec {
    /// The grid. A new deliberation is a new Tariff with a later validFromExercise;
    /// the engine prices exercise N with the latest grid valid from N or before.
    #[x_kube(validation = Rule::new("size(self.brackets) >= 1 && self.brackets[0].minPopulation == 0").message("the first bracket must start at population 0 so that every member falls in one"))]
    #[x_kube(validation = Rule::new("self.brackets.all(b, !has(b.maxPopulation) || b.maxPopulation >= b.minPopulation)").message("a bracket's maxPopulation must not be below its minPopulation"))]
    #[x_kube(validation = Rule::new("size(self.staffing) >= 1").message("at least one staffing level is needed"))]
    pub grid: TariffGrid,
}

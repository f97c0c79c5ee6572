//! Build: the `ContributionStatement` of one member for one exercise, from
//! the engine's statement. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::{
    api::{
        ContributionStatement, ContributionStatementSpec, contribution_statement::StatementState,
    },
    contribution::Statement,
    labels,
};

/// Label carrying the exercise of a statement.
pub const EXERCISE_LABEL: &str = "socle.redon-agglomeration.bzh/exercise";

/// One statement per member and exercise: the name says which.
pub fn statement_name(member: &str, exercise: i16) -> String {
    format!("{member}-{exercise}")
}

/// The Draft statement the operator keeps up to date while the exercise runs.
pub fn draft(
    statement: &Statement,
    siret: Option<&str>,
    tariff: &str,
    namespace: &str,
) -> ContributionStatement {
    let mut object = ContributionStatement::new(
        &statement_name(&statement.member, statement.exercise),
        ContributionStatementSpec {
            member: statement.member.clone(),
            exercise: statement.exercise,
            debtor: statement.display_name.clone(),
            insee_code: statement.insee_code.clone(),
            siret: siret.map(str::to_owned),
            state: StatementState::Draft,
            title_number: None,
            issued_on: None,
            tariff: tariff.to_owned(),
            lines: statement.lines.clone(),
            total_cents: statement.total_cents,
        },
    );
    object.metadata = ObjectMeta {
        name: object.metadata.name.take(),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([
            (labels::MEMBER.to_owned(), statement.member.clone()),
            (EXERCISE_LABEL.to_owned(), statement.exercise.to_string()),
            (labels::COMPONENT.to_owned(), "billing".to_owned()),
            (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
        ])),
        ..ObjectMeta::default()
    };
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_carries_the_engine_lines_and_total() {
        let statement = Statement {
            member: "allaire".into(),
            display_name: "Allaire".into(),
            insee_code: "56001".into(),
            exercise: 2026,
            lines: Vec::new(),
            total_cents: 831_250,
        };
        let draft = draft(&statement, None, "convention-cadre", "socle-system");
        assert_eq!(draft.metadata.name.as_deref(), Some("allaire-2026"));
        assert_eq!(draft.metadata.namespace.as_deref(), Some("socle-system"));
        assert_eq!(draft.spec.state, StatementState::Draft);
        assert_eq!(draft.spec.total_cents, 831_250);
        assert_eq!(draft.metadata.labels.unwrap()[EXERCISE_LABEL], "2026");
    }
}

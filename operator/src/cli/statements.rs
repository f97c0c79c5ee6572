//! `socle statements issue | export`: the finance department's side of the
//! ContributionStatements the operator keeps up to date.

use std::{collections::HashMap, io::Write as _, path::PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use jiff::{Zoned, civil::Date};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::json;
use socle::{
    api::{ContributionStatement, Member},
    billing::{
        controller::CONDITION as BILLABLE,
        statement::{EXERCISE_LABEL, IssueRequest, plan_issue},
    },
    contribution::MemberError,
};

use super::{
    contribution::deliver,
    output::{self, CsvStyle, Export, Titre, Unpriced},
    xlsx,
};

/// `socle statements …`
#[derive(Debug, Args)]
pub struct StatementsArgs {
    #[command(subcommand)]
    pub command: StatementsCommand,
    /// Namespace of the operator, where statements live.
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "socle-system",
        global = true
    )]
    pub namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum StatementsCommand {
    /// Freeze the Draft statements of an exercise: state Issued, a sequential
    /// title number, immutable from then on (the API server refuses edits).
    /// The contributions of N are titled from 1 January N+1 (ruling 8); an
    /// audit has a title of its own, issued once its report is delivered.
    Issue {
        /// Exercise to issue (normally the previous year, in January).
        #[arg(long)]
        exercise: i16,
        /// Date of issue (YYYY-MM-DD), not after today; today when absent.
        #[arg(long)]
        date: Option<Date>,
        /// Issue the contributions before the exercise has ended, for this
        /// reason, recorded on each statement (`spec.issuedBeforeEnd`).
        #[arg(long, value_name = "REASON")]
        before_end: Option<String>,
        /// Issue only the audits' own titles whose report was delivered by the date of issue.
        #[arg(long)]
        audits: bool,
    },
    /// What the finance department keys on each titre de recettes, and the
    /// members it cannot title yet (their `Billable` condition is False).
    Export(ExportArgs),
}

/// Arguments of `socle statements export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    exercise: i16,
    #[arg(long, value_enum, default_value = "csv")]
    format: ExportFormat,
    /// CSV only: decimal comma and `;` separator.
    #[arg(long)]
    decimal_comma: bool,
    /// CSV only: start with a UTF-8 byte order mark, so that Excel shows accents right.
    #[arg(long)]
    bom: bool,
    /// Write to this file instead of stdout (an xlsx is not written to a terminal).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// One row per line, French headers, then one row per member not priced.
    Csv,
    Json,
    Table,
    /// The spreadsheet: titles, lines, members not priced; totals as formulas.
    Xlsx,
}

pub async fn statements(args: StatementsArgs) -> Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the cluster")?;
    let api = Api::<ContributionStatement>::namespaced(client, &args.namespace);
    match args.command {
        StatementsCommand::Issue {
            exercise,
            date,
            before_end,
            audits,
        } => {
            let today = Zoned::now().date();
            let request = IssueRequest {
                exercise,
                date: date.unwrap_or(today),
                today,
                audits_only: audits,
                before_end: before_end.as_deref(),
            };
            issue(&api, &request).await
        }
        StatementsCommand::Export(export) => {
            let members = Api::<Member>::all(api.clone().into_client())
                .list(&ListParams::default())
                .await
                .context("listing Members")?
                .items;
            let statements = of_exercise(&api, export.exercise).await?;
            // The reason a member is not priced, in French as the rest of
            // the export: the engine's own words for it, on the same objects
            // (the Billable condition says it in English, for technicians).
            let ledger =
                super::contribution::ledger_of(api.clone().into_client(), &args.namespace).await?;
            let french: HashMap<String, String> = ledger
                .compute(export.exercise)
                .errors
                .into_iter()
                .map(|error| (error.member, error.message_fr))
                .collect();
            export_statements(&export, statements, &members, &french)
        }
    }
}

/// Writes the export of the exercise's statements.
fn export_statements(
    args: &ExportArgs,
    mut statements: Vec<ContributionStatement>,
    members: &[Member],
    french: &HashMap<String, String>,
) -> Result<()> {
    statements.sort_by(|a, b| {
        (&a.spec.title_number, &a.spec.member, a.spec.title_kind).cmp(&(
            &b.spec.title_number,
            &b.spec.member,
            b.spec.title_kind,
        ))
    });
    let unpriced: Vec<(&Member, &str)> = members
        .iter()
        .filter_map(|member| {
            let status = member.status.as_ref()?;
            let billable = status
                .conditions
                .iter()
                .find(|condition| condition.type_ == BILLABLE)?;
            let name = member.metadata.name.as_deref().unwrap_or_default();
            let message = french.get(name).unwrap_or(&billable.message);
            (billable.status == "False").then_some((member, message.as_str()))
        })
        .collect();
    let export = Export {
        exercise: args.exercise,
        titres: statements
            .iter()
            .map(|statement| {
                let spec = &statement.spec;
                Titre {
                    exercise: spec.exercise,
                    title_number: spec.title_number.as_deref(),
                    member: &spec.member,
                    insee_code: &spec.insee_code,
                    siret: spec.siret.as_deref(),
                    debtor: &spec.debtor,
                    kind: spec.title_kind,
                    audit_report_date: spec.audit_report_date,
                    total_cents: spec.total_cents,
                    lines: &spec.lines,
                }
            })
            .collect(),
        unpriced: unpriced
            .iter()
            .map(|&(member, message)| Unpriced {
                member: member.metadata.name.as_deref().unwrap_or_default(),
                debtor: Some(&member.spec.display_name),
                insee_code: Some(&member.spec.insee_code),
                message,
            })
            .collect(),
        owing_nothing: Vec::new(),
    };
    let bytes = match args.format {
        ExportFormat::Csv => output::csv(&export, CsvStyle::new(args.decimal_comma, args.bom))?,
        ExportFormat::Json => serde_json::to_vec_pretty(&json!({
            "exercise": args.exercise,
            "titres": export.titres,
            "unpriced": export.unpriced,
        }))?,
        ExportFormat::Table => {
            let errors: Vec<MemberError> = export
                .unpriced
                .iter()
                .map(|unpriced| MemberError {
                    member: unpriced.member.to_owned(),
                    message: unpriced.message.to_owned(),
                    message_fr: unpriced.message.to_owned(),
                })
                .collect();
            output::table(args.exercise, &export.titres, &errors).into_bytes()
        }
        ExportFormat::Xlsx => xlsx::xlsx(&export)?,
    };
    if matches!(args.format, ExportFormat::Csv | ExportFormat::Xlsx) {
        export.warn_missing_siret();
    }
    deliver(
        &bytes,
        args.output.as_deref(),
        matches!(args.format, ExportFormat::Xlsx),
    )
}

async fn of_exercise(
    api: &Api<ContributionStatement>,
    exercise: i16,
) -> Result<Vec<ContributionStatement>> {
    let selector = format!("{EXERCISE_LABEL}={exercise}");
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// Issues what [`plan_issue`] says may be issued, in its order.
async fn issue(api: &Api<ContributionStatement>, request: &IssueRequest<'_>) -> Result<()> {
    let statements = of_exercise(api, request.exercise).await?;
    let plan = plan_issue(&statements, request)?;
    for to_issue in plan {
        let patch = json!({"spec": {
            "state": "Issued",
            "titleNumber": to_issue.title_number,
            "issuedOn": request.date,
            "issuedBeforeEnd": to_issue.before_end,
        }});
        let issued = api
            .patch(
                &to_issue.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .with_context(|| format!("issuing {}", to_issue.name))?;
        // Issuing goes on even if whoever reads the list went away.
        let _ = writeln!(
            std::io::stdout(),
            "{}  {}  {}",
            to_issue.title_number,
            issued.spec.debtor,
            socle::contribution::format_eur(issued.spec.total_cents)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member the operator could not price, its `Billable` condition in
    /// English as the controller writes it for technicians.
    fn unpriced_member() -> Member {
        serde_yaml::from_str(
            r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: { name: redon }
spec:
  displayName: Redon
  inseeCode: "35236"
  population: { count: 9000, year: 2021 }
  subscriptions: [{ offer: SocleComplet, effectiveDate: "2025-01-01" }]
status:
  conditions:
    - type: Billable
      status: "False"
      reason: CannotPrice
      message: "above 8000 inhabitants the grid does not apply (article 7.1)"
      lastTransitionTime: "2026-01-01T00:00:00Z"
"#,
        )
        .unwrap()
    }

    #[test]
    fn the_reason_a_member_is_not_priced_is_exported_in_french() {
        let file = std::env::temp_dir().join(format!("socle-export-{}.csv", std::process::id()));
        let args = ExportArgs {
            exercise: 2026,
            format: ExportFormat::Csv,
            decimal_comma: true,
            bom: false,
            output: Some(file.clone()),
        };
        let french = HashMap::from([(
            "redon".to_owned(),
            "au-delà de 8 000 habitants, la grille ne s'applique pas (article 7.1)".to_owned(),
        )]);
        export_statements(&args, Vec::new(), &[unpriced_member()], &french).unwrap();
        let csv = std::fs::read_to_string(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert!(
            csv.contains("NON TARIFÉ : au-delà de 8 000 habitants"),
            "{csv}"
        );
        assert!(!csv.contains("inhabitants"), "{csv}");
    }
}

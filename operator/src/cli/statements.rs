//! `socle statements issue | export`: the finance department's side of the
//! ContributionStatements the operator keeps up to date.

use std::{io::Write as _, path::PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use jiff::{Zoned, civil::Date};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::json;
use socle::{
    api::{ContributionStatement, Member, contribution_statement::StatementState},
    billing::{controller::CONDITION as BILLABLE, statement::EXERCISE_LABEL},
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
    Issue {
        /// Exercise to issue (normally the previous year, in January).
        #[arg(long)]
        exercise: i16,
        /// Date of issue (YYYY-MM-DD); today when absent.
        #[arg(long)]
        date: Option<Date>,
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
        StatementsCommand::Issue { exercise, date } => {
            issue(&api, exercise, date.unwrap_or_else(|| Zoned::now().date())).await
        }
        StatementsCommand::Export(export) => {
            let members = Api::<Member>::all(api.clone().into_client())
                .list(&ListParams::default())
                .await
                .context("listing Members")?
                .items;
            let statements = of_exercise(&api, export.exercise).await?;
            export_statements(&export, statements, &members)
        }
    }
}

/// Writes the export of the exercise's statements.
fn export_statements(
    args: &ExportArgs,
    mut statements: Vec<ContributionStatement>,
    members: &[Member],
) -> Result<()> {
    statements.sort_by(|a, b| {
        (&a.spec.title_number, &a.spec.member).cmp(&(&b.spec.title_number, &b.spec.member))
    });
    let unpriced: Vec<(&Member, &str)> = members
        .iter()
        .filter_map(|member| {
            let status = member.status.as_ref()?;
            let billable = status
                .conditions
                .iter()
                .find(|condition| condition.type_ == BILLABLE)?;
            (billable.status == "False").then_some((member, billable.message.as_str()))
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

/// Title numbers continue after the highest already issued for the exercise,
/// so issuing twice (or after a late member) never reuses a number. Drafts
/// are numbered in member-name order, so the numbering is reproducible.
async fn issue(api: &Api<ContributionStatement>, exercise: i16, date: Date) -> Result<()> {
    let statements = of_exercise(api, exercise).await?;
    let sequence = |number: &str| {
        number
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    };
    let mut last = statements
        .iter()
        .filter_map(|s| s.spec.title_number.as_deref().and_then(sequence))
        .max()
        .unwrap_or(0);
    let mut drafts: Vec<&ContributionStatement> = statements
        .iter()
        .filter(|s| s.spec.state == StatementState::Draft)
        .collect();
    if drafts.is_empty() {
        bail!("no Draft statement for exercise {exercise}: nothing to issue");
    }
    drafts.sort_by(|a, b| a.spec.member.cmp(&b.spec.member));
    for draft in drafts {
        last += 1;
        let number = format!("{exercise}-{last:04}");
        let patch = json!({"spec": {"state": "Issued", "titleNumber": number, "issuedOn": date}});
        api.patch(
            &draft.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .with_context(|| format!("issuing {}", draft.name_any()))?;
        // Issuing goes on even if whoever reads the list went away.
        let _ = writeln!(
            std::io::stdout(),
            "{number}  {}  {}",
            draft.spec.debtor,
            socle::contribution::format_eur(draft.spec.total_cents)
        );
    }
    Ok(())
}

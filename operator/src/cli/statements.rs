//! `socle statements issue | export`: the finance department's side of the
//! ContributionStatements the operator keeps up to date.

use std::io::Write as _;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use jiff::{Zoned, civil::Date};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::json;
use socle::{
    api::{ContributionStatement, contribution_statement::StatementState},
    billing::statement::EXERCISE_LABEL,
};

use super::{
    contribution::emit,
    output::{self, CsvStyle, Titre},
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
    /// What the finance department keys on each titre de recettes.
    Export {
        #[arg(long)]
        exercise: i16,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// CSV only: decimal comma and `;` separator.
        #[arg(long)]
        decimal_comma: bool,
    },
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Table,
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
        StatementsCommand::Export {
            exercise,
            format,
            decimal_comma,
        } => {
            let mut statements = of_exercise(&api, exercise).await?;
            statements.sort_by(|a, b| a.spec.member.cmp(&b.spec.member));
            let titres: Vec<Titre<'_>> = statements
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
                .collect();
            emit(&match format {
                ExportFormat::Csv => output::csv(&titres, CsvStyle::new(decimal_comma)),
                ExportFormat::Json => serde_json::to_string_pretty(&json!({
                    "exercise": exercise,
                    "titres": titres,
                }))?,
                ExportFormat::Table => output::table(exercise, &titres, &[]),
            });
            Ok(())
        }
    }
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

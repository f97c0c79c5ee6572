//! `socle contribution` and `socle report`: article 7 computed offline from a
//! directory of manifests, no cluster needed; `socle report` can also read
//! the cluster, where the operator records the members' inventory.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kube::{Api, ResourceExt, api::ListParams};
use socle::{
    api::{DrillReport, Member, QualityRecord, UsageRecord},
    billing::Ledger,
    billing::{controller::audit_report_in, quality::quality},
    contribution::{Statement, Title, TitleKind, report::Page},
    manifests::{load_drills, load_ledger, load_quality_records},
};

use super::{
    output::{self, CsvStyle, Export, Titre, Unpriced},
    xlsx,
};

/// Output formats of `socle contribution`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// The JSON contract: `{"exercise", "statements", "errors"}`.
    Json,
    /// For the finance department's import: one row per line.
    Csv,
    /// For people: French amounts, aligned, with totals.
    Table,
    /// The finance department's spreadsheet: sheets of titles, lines and
    /// members not priced, totals as formulas, amounts in euros.
    Xlsx,
}

/// Arguments of `socle contribution`.
#[derive(Debug, Args)]
pub struct ContributionArgs {
    /// Directory of manifests (Member, UsageRecord, SharedService, Tariff), read recursively.
    #[arg(long)]
    pub input: PathBuf,
    /// Exercise (calendar year) to compute.
    #[arg(long)]
    pub exercise: i16,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// CSV only: decimal comma and `;` separator, as French spreadsheets expect.
    #[arg(long)]
    pub decimal_comma: bool,
    /// CSV only: start with a UTF-8 byte order mark, so that Excel shows accents right.
    #[arg(long)]
    pub bom: bool,
    /// Write to this file instead of stdout (an xlsx is not written to a terminal).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `socle report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Directory of manifests, read recursively. Without it, the objects
    /// are read from the cluster (`KUBECONFIG`).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With the cluster as input: the operator's namespace, where the
    /// UsageRecords, DrillReports and QualityRecords are.
    #[arg(long, default_value = "socle-system", conflicts_with = "input")]
    pub namespace: String,
    /// Exercise (calendar year) to report on.
    #[arg(long)]
    pub exercise: i16,
    /// Also write the report for the pilotage commission, as an HTML document, to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Exit status: 0 when every member is priced, 1 when one is in error (the
/// output still carries everything) or a manifest is wrong (its file and
/// line on stderr, as `socle validate` says it), 2 when the input cannot be
/// read.
pub fn contribution(args: &ContributionArgs) -> ExitCode {
    let ledger = match load_ledger(&args.input) {
        Ok(ledger) => ledger,
        Err(error) => return unusable(&error),
    };
    let outcome = ledger.compute(args.exercise);
    let member = |name: &str| ledger.members.iter().find(|m| m.name_any() == name);
    // The audit is a title of its own (ruling 8), as in the cluster.
    let titles: Vec<(&Statement, Title)> = outcome
        .statements
        .iter()
        .flat_map(|statement| {
            statement
                .titles()
                .into_iter()
                .map(move |title| (statement, title))
        })
        .collect();
    // Who is in force and owes nothing, as the annual report says it.
    let (_, _, summaries) = ledger.annual_report(args.exercise);
    let export = Export {
        exercise: outcome.exercise,
        owing_nothing: summaries
            .iter()
            .filter(|summary| summary.in_force)
            .filter_map(|summary| {
                Some(Unpriced {
                    member: &summary.name,
                    debtor: Some(&summary.display_name),
                    insee_code: Some(&summary.insee_code),
                    message: summary.owes_nothing.as_deref()?,
                })
            })
            .collect(),
        titres: titles
            .iter()
            .map(|(statement, title)| {
                let known = member(&statement.member);
                Titre {
                    exercise: statement.exercise,
                    title_number: None,
                    member: &statement.member,
                    insee_code: &statement.insee_code,
                    siret: known.and_then(|m| m.spec.siret.as_deref()),
                    debtor: &statement.display_name,
                    kind: title.kind,
                    audit_report_date: (title.kind == TitleKind::Audit)
                        .then(|| known.and_then(|m| audit_report_in(m, statement.exercise)))
                        .flatten(),
                    total_cents: title.total_cents,
                    lines: &title.lines,
                }
            })
            .collect(),
        unpriced: outcome
            .errors
            .iter()
            .map(|error| {
                let known = member(&error.member);
                Unpriced {
                    member: &error.member,
                    debtor: known.map(|m| m.spec.display_name.as_str()),
                    insee_code: known.map(|m| m.spec.insee_code.as_str()),
                    message: &error.message_fr,
                }
            })
            .collect(),
    };
    let style = CsvStyle::new(args.decimal_comma, args.bom);
    let bytes = match args.format {
        Format::Json => serde_json::to_string_pretty(&outcome)
            .map_err(anyhow::Error::from)
            .map(String::into_bytes),
        Format::Csv => output::csv(&export, style).map_err(anyhow::Error::from),
        Format::Table => {
            Ok(output::table(outcome.exercise, &export.titres, &outcome.errors).into_bytes())
        }
        Format::Xlsx => xlsx::xlsx(&export).map_err(anyhow::Error::from),
    };
    if matches!(args.format, Format::Csv | Format::Xlsx) {
        export.warn_missing_siret();
    }
    if let Err(error) =
        bytes.and_then(|bytes| deliver(&bytes, args.output.as_deref(), args.format.binary()))
    {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    if outcome.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

impl Format {
    fn binary(self) -> bool {
        matches!(self, Self::Xlsx)
    }
}

/// Writes an export to `path`, or to stdout: a binary file only where
/// stdout is not a terminal, and a reader that went away (`| head`) is not
/// an error.
pub fn deliver(bytes: &[u8], path: Option<&Path>, binary: bool) -> Result<()> {
    if let Some(path) = path {
        return std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()));
    }
    let mut stdout = std::io::stdout().lock();
    if binary && stdout.is_terminal() {
        anyhow::bail!("an xlsx file is not for a terminal: give --output FILE, or redirect stdout");
    }
    let _ = stdout.write_all(bytes);
    if !binary && !bytes.ends_with(b"\n") {
        let _ = stdout.write_all(b"\n");
    }
    Ok(())
}

/// The annual report's figures (ruling 9) as JSON on stdout and, with
/// `--html`, the document for the pilotage commission (article 6.2).
pub async fn report(args: &ReportArgs) -> Result<ExitCode> {
    let (ledger, evidence) = match &args.input {
        Some(input) => match load_ledger(input)
            .and_then(|ledger| Ok((ledger, (load_drills(input)?, load_quality_records(input)?))))
        {
            Ok(loaded) => loaded,
            Err(error) => return Ok(unusable(&error)),
        },
        None => cluster_ledger(&args.namespace).await?,
    };
    let (outcome, report, members) = ledger.annual_report(args.exercise);
    let now = jiff::Zoned::now();
    let today = now.date();
    let quality = quality(
        &ledger.members,
        &evidence.0,
        &evidence.1,
        args.exercise,
        (today, now.timestamp()),
    );
    if let Some(path) = &args.html {
        let page = Page {
            report: &report,
            members: &members,
            errors: &outcome.errors,
            quality: &quality,
            drawn_up: today,
        };
        std::fs::write(path, socle::contribution::report::render(&page))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // The report's figures, and each member's row: those in force with
    // their amount (0 and the reason when they owe nothing), the others
    // marked as not in force.
    let json = ReportJson {
        report: &report,
        members: &members,
        quality_of_service: &quality,
    };
    emit(&serde_json::to_string_pretty(&json).expect("a report serializes"));
    Ok(ExitCode::SUCCESS)
}

/// What `socle report` prints: the annual report's figures and its members.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportJson<'a> {
    #[serde(flatten)]
    report: &'a socle::contribution::AnnualReport,
    members: &'a [socle::contribution::MemberSummary],
    quality_of_service: &'a socle::contribution::QualityOfService,
}

/// The restore drills' evidence and the months of quality of service.
type Evidence = (Vec<DrillReport>, Vec<QualityRecord>);

/// Every object that prices and inventories the members, and the quality
/// of service's evidence, as the cluster has them now.
async fn cluster_ledger(namespace: &str) -> Result<(Ledger, Evidence)> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG), or give --input DIR")?;
    let all = ListParams::default();
    let drills = Api::<DrillReport>::namespaced(client.clone(), namespace)
        .list(&all)
        .await
        .with_context(|| format!("listing DrillReports in {namespace}"))?
        .items;
    let records = Api::<QualityRecord>::namespaced(client.clone(), namespace)
        .list(&all)
        .await
        .with_context(|| format!("listing QualityRecords in {namespace}"))?
        .items;
    Ok((ledger_of(client, namespace).await?, (drills, records)))
}

/// Every object that prices and inventories the members, as the cluster
/// has them now; the UsageRecords of `namespace`.
pub(super) async fn ledger_of(client: kube::Client, namespace: &str) -> Result<Ledger> {
    let all = ListParams::default();
    Ok(Ledger {
        members: Api::<Member>::all(client.clone())
            .list(&all)
            .await
            .context("listing Members")?
            .items
            .into_iter()
            .map(Into::into)
            .collect(),
        usage: Api::namespaced(client.clone(), namespace)
            .list(&all)
            .await
            .with_context(|| format!("listing UsageRecords in {namespace}"))?
            .items
            .into_iter()
            .map(|record: UsageRecord| Arc::new(record.into()))
            .collect(),
        services: Api::all(client.clone())
            .list(&all)
            .await
            .context("listing SharedServices")?
            .items,
        tariffs: Api::all(client)
            .list(&all)
            .await
            .context("listing Tariffs")?
            .items,
    })
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", text.trim_end());
}

fn unusable(error: &socle::manifests::ManifestError) -> ExitCode {
    eprintln!("error: {error}");
    match error {
        socle::manifests::ManifestError::Invalid { .. } => ExitCode::FAILURE,
        socle::manifests::ManifestError::Read { .. } => ExitCode::from(2),
    }
}

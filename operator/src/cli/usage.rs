//! Level-1 engineering half-days entered by the DSI, as an immutable
//! UsageRecord with a deterministic name: `socle usage new` writes it for a
//! pull request (usage/ of the GitOps repository), `socle usage add`
//! creates it in the cluster.

use std::{io::Write as _, process::ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use jiff::civil::Date;
use kube::{
    Api, Client, ResourceExt as _,
    api::{ObjectMeta, PostParams},
};
use socle::{
    api::{UsageRecord, UsageRecordSpec, usage_record::Period},
    labels,
};

use super::{member::render, repo::RepoFlags};

/// `socle usage …`
#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(subcommand)]
    pub command: UsageCommand,
    /// Namespace of the operator, where usage records live.
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "socle-system",
        global = true
    )]
    pub namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Record Level-1 engineering half-days done for a member on one day, in the cluster.
    Add(Level1),
    /// Write the same record as a YAML file for a pull request (usage/ of
    /// the GitOps repository), checked, to stdout or with --repo … --write
    /// into usage/ and its kustomization.yaml.
    New {
        #[command(flatten)]
        record: Level1,
        #[command(flatten)]
        repo: RepoFlags,
    },
}

/// Level-1 engineering half-days done for a member on one day.
#[derive(Debug, Args)]
pub struct Level1 {
    /// Name of the Member.
    #[arg(long)]
    pub member: String,
    /// Whole half-days of engineering.
    #[arg(long)]
    pub half_days: u64,
    /// What was done (kept as evidence).
    #[arg(long)]
    pub mission: String,
    /// Day of the mission (YYYY-MM-DD); its year is the exercise billed.
    #[arg(long)]
    pub date: Date,
    /// Name of a record this one corrects (it then no longer counts).
    #[arg(long)]
    pub corrects: Option<String>,
}

impl Level1 {
    /// The record, named after the member and the day: running the same
    /// command twice never records the fact twice. A correction's name
    /// derives from the record it corrects.
    fn record(&self, namespace: &str) -> Result<UsageRecord> {
        if self.half_days == 0 {
            bail!("--half-days must be at least 1");
        }
        let name = match &self.corrects {
            Some(corrected) => format!("{corrected}-correction"),
            None => format!("{}-level1-half-days-{}", self.member, self.date),
        };
        Ok(UsageRecord {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.to_owned()),
                labels: Some([(labels::MEMBER.to_owned(), self.member.clone())].into()),
                ..ObjectMeta::default()
            },
            spec: UsageRecordSpec {
                member: self.member.clone(),
                meter: "level1-half-days".into(),
                quantity: self.half_days,
                unit: "half-day".into(),
                exercise: self.date.year(),
                period: Period {
                    start: self.date,
                    end: self.date,
                },
                amount_cents: None,
                source: "dsi".into(),
                evidence: Some(self.mission.clone()),
                corrects: self.corrects.clone(),
            },
        })
    }
}

pub async fn usage(args: UsageArgs) -> Result<ExitCode> {
    match &args.command {
        UsageCommand::Add(level1) => add(level1.record(&args.namespace)?)
            .await
            .map(|()| ExitCode::SUCCESS),
        UsageCommand::New { record, repo } => Ok(new(&record.record(&args.namespace)?, repo)),
    }
}

/// The record as a file for usage/: what a technician would write, the
/// unit and source left to their defaults.
fn new(record: &UsageRecord, repo: &RepoFlags) -> ExitCode {
    let mut record = record.clone();
    record.spec.unit.clear();
    let name = record.name_any();
    let yaml = match render(&record) {
        Ok(yaml) => yaml.replace("  source: dsi\n", ""),
        Err(error) => {
            eprintln!("error: cannot write the record: {error}");
            return ExitCode::FAILURE;
        }
    };
    let text = format!(
        "# Level-1 engineering for {} on {} (article 7.1.1), entered by the DSI.\n\
         # Written by `socle usage new`; a record is corrected by another (--corrects), never edited.\n{yaml}",
        record.spec.member, record.spec.period.start
    );
    let files = match repo.files() {
        Ok(files) => files,
        Err(error) => {
            eprintln!("error: --repo: {error}");
            return ExitCode::from(2);
        }
    };
    let file = format!("{name}.yaml");
    let verdict = repo.check(&files, &format!("usage/{file}"), &text);
    for warning in &verdict.warnings {
        eprintln!("warning: {warning}");
    }
    if !verdict.errors.is_empty() {
        for problem in &verdict.errors {
            eprintln!("error: {problem}");
        }
        eprintln!("nothing written: the record would not be accepted as it is");
        return ExitCode::FAILURE;
    }
    if repo.write {
        return match repo.write("usage", &file, &text) {
            Ok(path) => {
                eprintln!(
                    "{} written and listed in usage/kustomization.yaml",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let _ = write!(std::io::stdout().lock(), "{text}");
    ExitCode::SUCCESS
}

async fn add(record: UsageRecord) -> Result<()> {
    let name = record.name_any();
    let client = Client::try_default()
        .await
        .context("connecting to the cluster")?;
    let namespace = record.namespace().unwrap_or_default();
    let api = Api::<UsageRecord>::namespaced(client, &namespace);
    match api.create(&PostParams::default(), &record).await {
        Ok(_) => println!("recorded {name}"),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api.get(&name).await?;
            if existing.spec == record.spec {
                println!("already recorded: {name}");
            } else {
                bail!(
                    "{name} already records a different fact (records are immutable); \
                     to change it: socle usage add … --corrects {name}"
                );
            }
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

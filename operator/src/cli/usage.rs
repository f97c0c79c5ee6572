//! `socle usage add`: Level-1 engineering half-days entered by the DSI, as
//! an immutable UsageRecord with a deterministic name.

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use jiff::civil::Date;
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use socle::{
    api::{UsageRecord, UsageRecordSpec, usage_record::Period},
    labels,
};

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
    /// Record Level-1 engineering half-days done for a member on one day.
    Add {
        /// Name of the Member.
        #[arg(long)]
        member: String,
        /// Whole half-days of engineering.
        #[arg(long)]
        half_days: u64,
        /// What was done (kept as evidence).
        #[arg(long)]
        mission: String,
        /// Day of the mission (YYYY-MM-DD); its year is the exercise billed.
        #[arg(long)]
        date: Date,
        /// Name of a record this one corrects (it then no longer counts).
        #[arg(long)]
        corrects: Option<String>,
    },
}

pub async fn usage(args: UsageArgs) -> Result<()> {
    let UsageCommand::Add {
        member,
        half_days,
        mission,
        date,
        corrects,
    } = args.command;
    if half_days == 0 {
        bail!("--half-days must be at least 1");
    }
    let base = format!("{member}-level1-half-days-{date}");
    // One record per member and day; a correction gets its own name derived
    // from the record it corrects, so running the same command twice never
    // records the fact twice.
    let name = match &corrects {
        Some(corrected) => format!("{corrected}-correction"),
        None => base,
    };
    let record = UsageRecord {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(args.namespace.clone()),
            labels: Some([(labels::MEMBER.to_owned(), member.clone())].into()),
            ..ObjectMeta::default()
        },
        spec: UsageRecordSpec {
            member,
            meter: "level1-half-days".into(),
            quantity: half_days,
            unit: "half-day".into(),
            exercise: date.year(),
            period: Period {
                start: date,
                end: date,
            },
            amount_cents: None,
            source: "dsi".into(),
            evidence: Some(mission),
            corrects,
        },
    };
    let client = Client::try_default()
        .await
        .context("connecting to the cluster")?;
    let api = Api::<UsageRecord>::namespaced(client, &args.namespace);
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

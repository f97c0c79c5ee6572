//! `socle member new`: article 8's adhesion as a command — the Member
//! manifest of a commune that has just deliberated, for a GitOps pull request.
//!
//! The manifest is checked before it is printed, by the same checks as
//! `socle validate` (schema, CEL rules, contribution engine): what this
//! command prints is accepted by the API server and priced by the engine, or
//! nothing is printed and the error says which flag to add. With `--repo`,
//! it is checked among the repository's objects (the VPN gateway and
//! backup target it names, the names, codes and networks already taken),
//! takes the labels its VPN gateway's subscribers selector asks for, and
//! with `--write` goes into members/ and its kustomization.yaml.

mod hosting;

use std::{collections::BTreeMap, io::Write, process::ExitCode};

use clap::{Args, Subcommand, ValueEnum};
use jiff::civil::Date;
use serde::Serialize;
use socle::{
    api::{Member, MemberSpec, SharedService, member::MemberKind},
    contribution::{Offer, Population, Subscription, TariffOverride},
    manifests::ManifestFile,
};

use self::hosting::{BackupFlags, ContactFlags, TenantFlags, VpnFlags};
use super::repo::RepoFlags;

/// Label of the département, from the INSEE code (the examples carry it).
const DEPARTEMENT: &str = "socle.redon-agglomeration.bzh/departement";

/// `socle member …`
#[derive(Debug, Args)]
pub struct MemberArgs {
    #[command(subcommand)]
    pub command: MemberCommand,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Write the Member manifest of a new adhesion (article 8) to stdout.
    New(Box<NewArgs>),
}

/// The offers of the convention, as flags spell them.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum OfferArg {
    /// The one-off security and organisation audit (article 7.2.1).
    Audit,
    /// Group purchasing, yearly (article 7.2.2).
    GroupementAchats,
    /// The full shared service, yearly (article 7.1).
    SocleComplet,
}

impl From<OfferArg> for Offer {
    fn from(offer: OfferArg) -> Self {
        match offer {
            OfferArg::Audit => Offer::Audit,
            OfferArg::GroupementAchats => Offer::GroupementAchats,
            OfferArg::SocleComplet => Offer::SocleComplet,
        }
    }
}

/// Kinds of member, as flags spell them.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum KindArg {
    /// A commune of the agglomeration.
    Commune,
    /// An associated public body (CCAS, syndicat…).
    EtablissementPublic,
}

/// Arguments of `socle member new`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
pub struct NewArgs {
    /// metadata.name: a DNS label, stable forever (it names the tenant
    /// namespace), e.g. "allaire".
    #[arg(long)]
    pub name: String,
    /// Name printed on statements, e.g. "Allaire". Default: derived from --name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// INSEE code of the commune, e.g. 56001.
    #[arg(long)]
    pub insee: String,
    /// Legal population ("population municipale") used for billing.
    #[arg(long)]
    pub population: u32,
    /// INSEE reference year of the population. Default: three years before
    /// the effective date (the legal populations in force on 1 January of N
    /// are those of N−3).
    #[arg(long)]
    pub population_year: Option<u16>,
    /// Commune, or associated public body.
    #[arg(long, value_enum, default_value = "Commune")]
    pub kind: KindArg,
    /// SIRET of the debtor (14 digits), printed on the titres de recettes.
    #[arg(long)]
    pub siret: Option<String>,
    /// The member has its own IT department (article 7.1 (*)): the grid does
    /// not price its socle complet, the --override-… prices are needed.
    #[arg(long)]
    pub has_it_department: bool,
    /// Offer subscribed to.
    #[arg(long, value_enum)]
    pub offer: OfferArg,
    /// First day in force (YYYY-MM-DD).
    #[arg(long)]
    pub effective: Date,
    /// Reference of the member's deliberation, e.g. DEL-2025-044.
    #[arg(long)]
    pub deliberation: String,
    /// Audit only: the day the audit report was delivered (YYYY-MM-DD).
    #[arg(long)]
    pub audit_report_date: Option<Date>,
    /// Label of the Member, KEY=VALUE (repeatable), e.g. socle.redon-agglomeration.bzh/vpn=true.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Tariff override (article 7.1 (*)): yearly fixed part of the socle complet, in cents.
    #[arg(long, requires = "override_decision")]
    pub override_fixed_cents: Option<i64>,
    /// Tariff override: socle complet price per inhabitant per year, in cents.
    #[arg(long, requires = "override_decision")]
    pub override_per_inhabitant_cents: Option<i64>,
    /// Tariff override: price of the audit, in cents.
    #[arg(long, requires = "override_decision")]
    pub override_audit_cents: Option<i64>,
    /// Tariff override: yearly Level-1 engineering allowance, in half-days.
    #[arg(long, requires = "override_decision")]
    pub override_level1_allowance_half_days: Option<u32>,
    /// Reference of the pilotage commission's deliberation setting the override prices.
    #[arg(long)]
    pub override_decision: Option<String>,
    #[command(flatten)]
    pub tenant: TenantFlags,
    #[command(flatten)]
    pub vpn: VpnFlags,
    #[command(flatten)]
    pub backup: BackupFlags,
    #[command(flatten)]
    pub contacts: ContactFlags,
    #[command(flatten)]
    pub repo: RepoFlags,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

pub fn member(args: &MemberArgs) -> ExitCode {
    match &args.command {
        MemberCommand::New(new) => new_member(new),
    }
}

fn new_member(args: &NewArgs) -> ExitCode {
    let display_name = args.display_name.clone().unwrap_or_else(|| {
        let derived = display_name(&args.name);
        eprintln!("note: displayName {derived:?} derived from --name; set --display-name if the commune writes it otherwise (accents, spaces)");
        derived
    });
    let files = match args.repo.files() {
        Ok(files) => files,
        Err(error) => {
            eprintln!("error: --repo: {error}");
            return ExitCode::from(2);
        }
    };
    let mut member = build(args, display_name);
    subscriber_labels(&mut member, &files);
    let yaml = match render(&member) {
        Ok(yaml) => yaml,
        Err(error) => {
            eprintln!("error: cannot write the manifest: {error}");
            return ExitCode::FAILURE;
        }
    };
    let offer = Offer::from(args.offer);
    let text = format!(
        "# Adhesion of {} (INSEE {}) to {offer:?}, effective {}, by deliberation {} (article 8).\n\
         # Written by `socle member new`; `socle validate` checks the repository.\n{yaml}",
        member.spec.display_name, args.insee, args.effective, args.deliberation
    );
    let file = format!("{}.yaml", args.name);
    let verdict = args.repo.check(&files, &format!("members/{file}"), &text);
    for warning in &verdict.warnings {
        eprintln!("warning: {warning}");
    }
    if !verdict.errors.is_empty() {
        for problem in &verdict.errors {
            eprintln!("error: {problem}");
        }
        if let Some(hint) = override_hint(args, &verdict.errors) {
            eprintln!("{hint}");
        }
        if args.repo.repo.is_none()
            && (args.vpn.vpn_gateway.is_some() || args.backup.backup_target.is_some())
        {
            eprintln!("note: without --repo the VPN gateway and backup target are not looked up");
        }
        eprintln!("nothing written: the Member would not be accepted as it is");
        return ExitCode::FAILURE;
    }
    if args.repo.write {
        return match args.repo.write("members", &file, &text) {
            Ok(path) => {
                eprintln!(
                    "{} written and listed in members/kustomization.yaml",
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
    let mut out = std::io::stdout().lock();
    match write!(out, "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The labels the member's VPN gateway selects its subscribers by, from the
/// repository: without them the hub serves the tunnel but does not count the
/// commune among its subscribers.
fn subscriber_labels(member: &mut Member, files: &[ManifestFile]) {
    let Some(gateway) = member.spec.vpn.as_ref().map(|vpn| vpn.gateway.clone()) else {
        return;
    };
    let service = files
        .iter()
        .filter_map(|file| file.documents().ok())
        .flatten()
        .filter(|document| {
            document
                .socle_kind()
                .is_some_and(|(_, kind)| kind == "SharedService")
        })
        .filter_map(|document| serde_yaml::from_value::<SharedService>(document.value).ok())
        .find(|service| service.metadata.name.as_deref() == Some(gateway.as_str()));
    let wanted = service
        .and_then(|service| service.spec.subscribers.selector)
        .and_then(|selector| selector.match_labels)
        .unwrap_or_default();
    let labels = member.metadata.labels.get_or_insert_with(BTreeMap::new);
    for (key, value) in wanted {
        labels.entry(key).or_insert(value);
    }
}

fn build(args: &NewArgs, display_name: String) -> Member {
    let offer = Offer::from(args.offer);
    let prices = [
        args.override_fixed_cents,
        args.override_per_inhabitant_cents,
        args.override_audit_cents,
    ];
    let tariff_override = args
        .override_decision
        .as_ref()
        .map(|decision| TariffOverride {
            fixed_cents: prices[0],
            per_inhabitant_cents: prices[1],
            audit_cents: prices[2],
            level1_allowance_half_days: args.override_level1_allowance_half_days,
            decision: decision.clone(),
        });
    let mut member = Member::new(
        &args.name,
        MemberSpec {
            display_name,
            insee_code: args.insee.clone(),
            kind: match args.kind {
                KindArg::Commune => MemberKind::Commune,
                KindArg::EtablissementPublic => MemberKind::EtablissementPublic,
            },
            siret: args.siret.clone(),
            population: Population {
                count: args.population,
                year: args.population_year.unwrap_or_else(|| {
                    u16::try_from(args.effective.year() - 3).unwrap_or_default()
                }),
            },
            has_it_department: args.has_it_department,
            subscriptions: vec![Subscription {
                offer,
                effective_date: args.effective,
                end_date: None,
                notice_date: None,
                audit_report_date: args.audit_report_date,
                decision: Some(args.deliberation.clone()),
            }],
            tariff_override,
            contacts: args.contacts.spec(),
            tenant: args.tenant.spec(),
            vpn: args.vpn.spec(&args.name),
            backup: args.backup.spec(),
        },
    );
    let mut labels = BTreeMap::new();
    if let Some(departement) = departement(&args.insee) {
        labels.insert(DEPARTEMENT.to_owned(), departement.to_owned());
    }
    labels.extend(args.labels.iter().cloned());
    member.metadata.labels = Some(labels);
    member
}

/// A manifest as people write them: `name` first in `metadata`, dates and
/// codes in double quotes. Quoting dates is not style: a YAML 1.1 reader
/// (kustomize, Flux) could otherwise take `2026-01-01` for a timestamp.
pub(super) fn render(object: &impl Serialize) -> Result<String, serde_yaml::Error> {
    let mut value = serde_yaml::to_value(object)?;
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_mapping_mut()) {
        let mut ordered = serde_yaml::Mapping::new();
        for key in ["name", "namespace", "labels"] {
            if let Some(entry) = metadata.remove(key) {
                ordered.insert(key.into(), entry);
            }
        }
        ordered.extend(std::mem::take(metadata));
        *metadata = ordered;
    }
    let text = serde_yaml::to_string(&value)?;
    let date =
        regex::Regex::new(r"^(\s*(?:- )?[A-Za-z]+: )(\d{4}-\d{2}-\d{2})$").expect("a valid regex");
    let single = regex::Regex::new(r"^(.*: )'([^'\x22\\]*)'$").expect("a valid regex");
    Ok(text
        .lines()
        .map(|line| {
            let line = date.replace(line, "$1\"$2\"");
            single.replace(&line, "$1\"$2\"").into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}

/// The département of an INSEE code: its first two characters (2A, 2B for Corsica).
fn departement(insee: &str) -> Option<&str> {
    insee
        .get(..2)
        .filter(|d| d.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A display name from a DNS name: "saint-jean-la-poterie" →
/// "Saint-Jean-la-Poterie", "la-chapelle-de-brain" → "La Chapelle-de-Brain"
/// (a leading article stands apart). Accents cannot be guessed: --display-name
/// sets them.
fn display_name(name: &str) -> String {
    const PARTICLES: [&str; 11] = [
        "de", "du", "des", "la", "le", "les", "sur", "sous", "en", "et", "aux",
    ];
    let capitalized = |word: &str| {
        let mut chars = word.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().chain(chars).collect()
        })
    };
    let (article, rest) = match name.split_once('-') {
        Some((first @ ("la" | "le" | "les"), rest)) => (Some(capitalized(first)), rest),
        _ => (None, name),
    };
    let words: Vec<String> = rest
        .split('-')
        .enumerate()
        .map(|(i, word)| {
            if i > 0 && PARTICLES.contains(&word) {
                word.to_owned()
            } else {
                capitalized(word)
            }
        })
        .collect();
    let joined = words.join("-");
    match article {
        Some(article) => format!("{article} {joined}"),
        None => joined,
    }
}

/// The mistakes `socle validate` would find in the manifest, checked alone.
#[cfg(test)]
fn check(yaml: &str) -> Vec<String> {
    RepoFlags::default()
        .check(&[], "members/new.yaml", yaml)
        .errors
}

/// Which flags give the prices the grid cannot (article 7.1 (*)).
fn override_hint(args: &NewArgs, problems: &[String]) -> Option<String> {
    if !problems.iter().any(|p| p.contains("tariffOverride")) {
        return None;
    }
    let mut flags = Vec::new();
    match Offer::from(args.offer) {
        Offer::SocleComplet => {
            flags.push("--override-fixed-cents");
            flags.push("--override-per-inhabitant-cents");
        }
        Offer::Audit => flags.push("--override-audit-cents"),
        Offer::GroupementAchats => {}
    }
    flags.push("--override-decision");
    Some(format!(
        "hint: article 7.1 (*): the convention's grid does not price this member (more than 8 000 inhabitants, or its own IT department); give the prices the pilotage commission decided: {} (and --override-level1-allowance-half-days if it set a Level-1 allowance)",
        flags.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: NewArgs,
    }

    fn args(line: &str) -> NewArgs {
        Cli::try_parse_from(std::iter::once("new").chain(line.split_whitespace()))
            .unwrap()
            .args
    }

    const ALLAIRE: &str = "--name allaire --insee 56001 --population 3875 --offer SocleComplet --effective 2026-01-01 --deliberation DEL-2025-044";

    #[test]
    fn an_adhesion_becomes_a_valid_member() {
        let args = args(ALLAIRE);
        let member = build(&args, display_name(&args.name));
        let yaml = render(&member).unwrap();
        assert_eq!(check(&yaml), Vec::<String>::new());
        assert_eq!(member.spec.population.year, 2023);
        assert_eq!(member.spec.display_name, "Allaire");
        assert!(
            yaml.starts_with("apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: Member\nmetadata:\n  name: allaire\n"),
            "{yaml}"
        );
        assert!(yaml.contains("inseeCode: \"56001\"\n"), "{yaml}");
        assert!(yaml.contains("effectiveDate: \"2026-01-01\"\n"), "{yaml}");
        assert!(
            yaml.contains("socle.redon-agglomeration.bzh/departement: \"56\"\n"),
            "{yaml}"
        );
        // What is printed reads back as the Member that was checked.
        let read: Member = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(read.spec, member.spec);
    }

    #[test]
    fn above_8000_inhabitants_the_override_is_asked_for_citing_article_7_1() {
        let args = args(&ALLAIRE.replace("3875", "9312"));
        let member = build(&args, "Redon".into());
        let yaml = render(&member).unwrap();
        let problems = check(&yaml);
        assert!(!problems.is_empty());
        assert!(
            problems.iter().all(|p| p.contains("article 7.1")),
            "{problems:?}"
        );
        let hint = override_hint(&args, &problems).unwrap();
        assert!(
            hint.contains(
                "--override-fixed-cents --override-per-inhabitant-cents --override-decision"
            ),
            "{hint}"
        );
    }

    #[test]
    fn with_the_override_flags_a_large_commune_is_accepted() {
        let args = args(&format!(
            "{} --override-fixed-cents 300000 --override-per-inhabitant-cents 150 --override-decision CC_2026_031",
            ALLAIRE.replace("3875", "9312")
        ));
        let member = build(&args, "Redon".into());
        let yaml = render(&member).unwrap();
        assert_eq!(check(&yaml), Vec::<String>::new());
    }

    #[test]
    fn an_override_price_needs_its_decision() {
        let line = format!("{ALLAIRE} --override-fixed-cents 300000");
        let error =
            Cli::try_parse_from(std::iter::once("new").chain(line.split_whitespace())).unwrap_err();
        assert!(error.to_string().contains("--override-decision"), "{error}");
    }

    #[test]
    fn a_bad_insee_code_is_refused_naming_the_field() {
        let args = args(&ALLAIRE.replace("56001", "5600"));
        let member = build(&args, "Allaire".into());
        let yaml = render(&member).unwrap();
        let problems = check(&yaml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("Member allaire: spec.inseeCode: \"5600\" does not match"),
            "{problems:?}"
        );
    }

    #[test]
    fn display_names_follow_french_usage_where_it_can_be_guessed() {
        assert_eq!(
            display_name("saint-jean-la-poterie"),
            "Saint-Jean-la-Poterie"
        );
        assert_eq!(display_name("bains-sur-oust"), "Bains-sur-Oust");
        assert_eq!(display_name("la-chapelle-de-brain"), "La Chapelle-de-Brain");
        assert_eq!(display_name("sainte-marie"), "Sainte-Marie");
    }
}

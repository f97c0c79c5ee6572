//! Rendering statements for people (French table) and for the finance
//! department's software (CSV here, the spreadsheet in [`super::xlsx`]).
//!
//! Both exports carry the same French columns ([`LINE_COLUMNS`]), one row per
//! line of a titre, and one row per member that could not be priced: a
//! commune left out of a file of titres would go unbilled without anyone
//! noticing.

use std::{fmt::Write as _, io::Write as _};

use jiff::civil::Date;
use socle::contribution::{Cents, Line, MemberError, TitleKind, format_date, format_eur, wording};

/// How CSV numbers and fields are separated.
#[derive(Clone, Copy, Debug)]
pub struct CsvStyle {
    /// Field separator: `,`, or `;` when the decimal mark is a comma.
    pub separator: u8,
    /// Decimal mark of amounts: `.` or `,`.
    pub decimal: char,
    /// Starts the file with a UTF-8 byte order mark, by which Excel knows
    /// the file is UTF-8 and shows "Guenrouët" rather than "GuenrouÃ«t".
    pub bom: bool,
}

impl CsvStyle {
    pub fn new(french: bool, bom: bool) -> Self {
        if french {
            Self {
                separator: b';',
                decimal: ',',
                bom,
            }
        } else {
            Self {
                separator: b',',
                decimal: '.',
                bom,
            }
        }
    }

    /// An amount in euros with two decimals and no thousands separator: `5532.50`.
    fn amount(self, cents: Cents) -> String {
        let sign = if cents < 0 { "-" } else { "" };
        let magnitude = cents.unsigned_abs();
        format!(
            "{sign}{}{}{:02}",
            magnitude / 100,
            self.decimal,
            magnitude % 100
        )
    }
}

/// One titre de recettes as the exports show it: a statement of the engine
/// (offline) or a ContributionStatement (cluster), with its debtor.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Titre<'a> {
    pub exercise: i16,
    /// Title number, once issued.
    pub title_number: Option<&'a str>,
    pub member: &'a str,
    pub insee_code: &'a str,
    pub siret: Option<&'a str>,
    pub debtor: &'a str,
    /// The exercise's contribution, or the audit titled on its own (ruling 8).
    pub kind: TitleKind,
    /// Audit titles: the day the report was delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_report_date: Option<Date>,
    pub total_cents: Cents,
    pub lines: &'a [Line],
}

impl Titre<'_> {
    /// What the titre is for, as its "objet" reads.
    pub fn object(&self) -> String {
        match (self.kind, self.audit_report_date) {
            (TitleKind::Annual, _) => wording::annual_title(self.exercise),
            (TitleKind::Audit, report) => wording::audit_title(report.map(format_date).as_deref()),
        }
    }
}

/// A member the exports cannot title, and why.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unpriced<'a> {
    pub member: &'a str,
    /// The Member's displayName and INSEE code, when the Member is known
    /// (a shared cost may name someone who is not a Member).
    pub debtor: Option<&'a str>,
    pub insee_code: Option<&'a str>,
    pub message: &'a str,
}

/// Everything one export holds.
#[derive(Debug)]
pub struct Export<'a> {
    pub exercise: i16,
    pub titres: Vec<Titre<'a>>,
    pub unpriced: Vec<Unpriced<'a>>,
    /// Members in force during the exercise that owe nothing for it, and
    /// why: a row of 0 € each in the CSV, so that no commune is missing.
    pub owing_nothing: Vec<Unpriced<'a>>,
}

impl Export<'_> {
    /// Tells, on stderr, which titres lack the debtor's SIRET: the finance
    /// software asks for it on each titre de recettes.
    pub fn warn_missing_siret(&self) {
        let mut missing: Vec<&str> = self
            .titres
            .iter()
            .filter(|titre| titre.siret.is_none_or(str::is_empty))
            .map(|titre| titre.debtor)
            .collect();
        // A commune with its audit titled apart has two titres.
        missing.dedup();
        if missing.is_empty() {
            return;
        }
        // stderr gone is no reason to fail the export.
        let _ = writeln!(
            std::io::stderr(),
            "avertissement : SIRET manquant pour {} commune(s), à compléter avant l'émission \
             (spec.siret du Member) : {}",
            missing.len(),
            missing.join(", ")
        );
    }
}

/// The columns of one line of a titre, in the order both exports give them.
pub const LINE_COLUMNS: [&str; 16] = [
    "exercice",
    "n° de titre",
    "commune",
    "code INSEE",
    "SIRET",
    "objet",
    "article",
    "base",
    "quantité",
    "prix unitaire",
    "montant",
    "imputation",
    "référence",
    "code ligne",
    "membre",
    "observation",
];

/// The code of a line as finance maps it to its accounts: `SOCLE_COMPLET_FIXE`.
pub fn line_code(line: &Line) -> String {
    serde_json::to_value(line.code)
        .ok()
        .and_then(|code| code.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What the base column says of a line: its own, or its code's for a line
/// issued before lines carried one.
pub fn line_base(line: &Line) -> &str {
    if line.base.is_empty() {
        line.code.base()
    } else {
        &line.base
    }
}

/// What the observation column says of a member that could not be priced.
pub fn unpriced_observation(unpriced: &Unpriced<'_>) -> String {
    wording::not_priced(unpriced.message)
}

/// One row per line, then one of 0 € per member in force that owes nothing
/// (the reason in the last column), then one per member that could not be
/// priced (its amount left empty, the reason in the last column).
pub fn csv(export: &Export<'_>, style: CsvStyle) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::new();
    if style.bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut writer = csv::WriterBuilder::new()
        .delimiter(style.separator)
        .from_writer(out);
    writer.write_record(LINE_COLUMNS)?;
    for titre in &export.titres {
        for line in titre.lines {
            writer.write_record([
                titre.exercise.to_string(),
                titre.title_number.unwrap_or_default().to_owned(),
                titre.debtor.to_owned(),
                titre.insee_code.to_owned(),
                titre.siret.unwrap_or_default().to_owned(),
                line.label.clone(),
                line.legal_basis.clone(),
                line_base(line).to_owned(),
                line.quantity.to_string(),
                style.amount(line.unit_price_cents),
                style.amount(line.amount_cents),
                line.imputation.clone(),
                line.reference.clone().unwrap_or_default(),
                line_code(line),
                titre.member.to_owned(),
                line.explanation.clone().unwrap_or_default(),
            ])?;
        }
    }
    for nothing in &export.owing_nothing {
        let exercise = export.exercise.to_string();
        let zero = style.amount(0);
        let mut row = [""; LINE_COLUMNS.len()];
        row[0] = &exercise;
        row[2] = nothing.debtor.unwrap_or(nothing.member);
        row[3] = nothing.insee_code.unwrap_or_default();
        row[10] = &zero;
        row[14] = nothing.member;
        row[15] = nothing.message;
        writer.write_record(row)?;
    }
    for unpriced in &export.unpriced {
        let exercise = export.exercise.to_string();
        let observation = unpriced_observation(unpriced);
        let mut row = [""; LINE_COLUMNS.len()];
        row[0] = &exercise;
        row[2] = unpriced.debtor.unwrap_or(unpriced.member);
        row[3] = unpriced.insee_code.unwrap_or_default();
        row[14] = unpriced.member;
        row[15] = &observation;
        writer.write_record(row)?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

/// A French table: each titre's lines, its total, then the grand total and
/// the members that could not be priced. Columns are as wide as their
/// longest entry, so amounts stay aligned whatever the labels.
pub fn table(exercise: i16, titres: &[Titre<'_>], errors: &[MemberError]) -> String {
    const AMOUNT: usize = 16;
    let lines = || titres.iter().flat_map(|titre| titre.lines);
    let label_width = lines()
        .map(|line| line.label.chars().count())
        .max()
        .unwrap_or(0);
    let basis_width = lines()
        .map(|line| line.legal_basis.chars().count())
        .max()
        .unwrap_or(0);
    let width = label_width + basis_width + 4;
    let mut out = String::new();
    let _ = writeln!(out, "Contributions de l'exercice {exercise} (article 7)\n");
    let mut grand_total: Cents = 0;
    for titre in titres {
        let title = titre
            .title_number
            .map(|t| format!(" — titre {t}"))
            .unwrap_or_default();
        let _ = writeln!(out, "{} ({}){title}", titre.debtor, titre.insee_code);
        for line in titre.lines {
            let _ = writeln!(
                out,
                "  {:<label_width$}  {:<basis_width$}{:>AMOUNT$}",
                line.label,
                line.legal_basis,
                format_eur(line.amount_cents),
            );
            if let Some(explanation) = &line.explanation {
                let _ = writeln!(out, "      ↳ {explanation}");
            }
        }
        let _ = writeln!(
            out,
            "  {:<width$}{:>AMOUNT$}\n",
            "Total",
            format_eur(titre.total_cents)
        );
        grand_total += titre.total_cents;
    }
    let _ = writeln!(
        out,
        "{:<w$}{:>AMOUNT$}",
        wording::grand_total(titres.len()),
        format_eur(grand_total),
        w = width + 2,
    );
    if !errors.is_empty() {
        let _ = writeln!(out, "\n{}", wording::not_priced_heading(errors.len()));
        for error in errors {
            let message = if error.message_fr.is_empty() {
                &error.message
            } else {
                &error.message_fr
            };
            let _ = writeln!(out, "  {} : {message}", error.member);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use socle::contribution::{LineCode, TitleKind};

    use super::*;

    fn line(label: &str, quantity: u64, unit_price_cents: Cents) -> Line {
        Line {
            code: LineCode::PassThrough,
            label: label.to_owned(),
            quantity,
            base: String::new(),
            unit_price_cents,
            amount_cents: i64::try_from(quantity).unwrap() * unit_price_cents,
            legal_basis: "art. 2.3.4".to_owned(),
            imputation: "70876".to_owned(),
            explanation: None,
            reference: Some("F-1".to_owned()),
        }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_says_who_is_not_priced() {
        let lines = [line("Facture \"A\"; lot 2", 3, 12_345)];
        let export = Export {
            exercise: 2026,
            titres: vec![Titre {
                exercise: 2026,
                title_number: Some("2026-0001"),
                member: "guenrouet",
                insee_code: "44068",
                siret: None,
                debtor: "Guenrouët",
                kind: TitleKind::Annual,
                audit_report_date: None,
                total_cents: 37_035,
                lines: &lines,
            }],
            unpriced: vec![Unpriced {
                member: "redon",
                debtor: Some("Redon"),
                insee_code: Some("35236"),
                message: "article 7.1 (*)",
            }],
            owing_nothing: vec![Unpriced {
                member: "fegreac",
                debtor: Some("Fégréac"),
                insee_code: Some("44057"),
                message: "audit en cours",
            }],
        };
        let french = String::from_utf8(csv(&export, CsvStyle::new(true, true)).unwrap()).unwrap();
        let rows: Vec<&str> = french.lines().collect();
        assert!(rows[0].starts_with("\u{feff}exercice;n° de titre;commune;code INSEE;SIRET;objet;article;base;quantité;prix unitaire;montant"));
        assert_eq!(
            rows[1],
            "2026;2026-0001;Guenrouët;44068;;\"Facture \"\"A\"\"; lot 2\";art. 2.3.4;facture;3;123,45;370,35;70876;F-1;REFACTURATION;guenrouet;"
        );
        assert_eq!(
            rows[2],
            "2026;;Fégréac;44057;;;;;;;0,00;;;;fegreac;audit en cours"
        );
        assert_eq!(
            rows[3],
            "2026;;Redon;35236;;;;;;;;;;;redon;NON TARIFÉ : article 7.1 (*)"
        );
        let plain = String::from_utf8(csv(&export, CsvStyle::new(false, false)).unwrap()).unwrap();
        assert!(plain.starts_with("exercice,"), "no BOM unless asked");
        assert!(plain.contains(",3,123.45,370.35,"), "{plain}");
    }
}

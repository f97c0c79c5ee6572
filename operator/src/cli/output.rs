//! Rendering statements for people (French table) and for the finance
//! department's software (CSV).

use std::fmt::Write as _;

use socle::contribution::{Cents, Line, MemberError, format_eur};

/// How CSV numbers and fields are separated.
#[derive(Clone, Copy, Debug)]
pub struct CsvStyle {
    /// Field separator: `,`, or `;` when the decimal mark is a comma.
    pub separator: char,
    /// Decimal mark of amounts: `.` or `,`.
    pub decimal: char,
}

impl CsvStyle {
    pub fn new(french: bool) -> Self {
        if french {
            Self {
                separator: ';',
                decimal: ',',
            }
        } else {
            Self {
                separator: ',',
                decimal: '.',
            }
        }
    }

    fn field(self, value: &str) -> String {
        if value.contains([self.separator, '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_owned()
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

    pub fn row(self, fields: &[String]) -> String {
        let mut line = fields
            .iter()
            .map(|field| self.field(field))
            .collect::<Vec<_>>()
            .join(&self.separator.to_string());
        line.push('\n');
        line
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
    pub total_cents: Cents,
    pub lines: &'a [Line],
}

/// One row per line: what the finance department keys on a titre de recettes.
pub fn csv(titres: &[Titre<'_>], style: CsvStyle) -> String {
    let header = [
        "exercise",
        "title_number",
        "member",
        "insee_code",
        "siret",
        "debtor",
        "code",
        "object",
        "legal_basis",
        "imputation",
        "reference",
        "amount_eur",
    ];
    let mut out = style.row(&header.map(str::to_owned));
    for titre in titres {
        for line in titre.lines {
            out.push_str(
                &style.row(&[
                    titre.exercise.to_string(),
                    titre.title_number.unwrap_or_default().to_owned(),
                    titre.member.to_owned(),
                    titre.insee_code.to_owned(),
                    titre.siret.unwrap_or_default().to_owned(),
                    titre.debtor.to_owned(),
                    serde_json::to_value(line.code)
                        .ok()
                        .and_then(|code| code.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    line.label.clone(),
                    line.legal_basis.clone(),
                    line.imputation.clone(),
                    line.reference.clone().unwrap_or_default(),
                    style.amount(line.amount_cents),
                ]),
            );
        }
    }
    out
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
        format!("Total général ({} membres)", titres.len()),
        format_eur(grand_total),
        w = width + 2,
    );
    if !errors.is_empty() {
        let _ = writeln!(out, "\nMembres non tarifés ({}) :", errors.len());
        for error in errors {
            let _ = writeln!(out, "  {}: {}", error.member, error.message);
        }
    }
    out
}

//! The spreadsheet the finance department opens as it is: `--format xlsx`.
//!
//! Three sheets: "Titres" (one row per titre de recettes, its amount the sum
//! of its lines), "Lignes" (one row per line, the columns of the CSV, its
//! amount the quantity times the unit price) and "Non tarifés" (the members
//! the engine could not price, and why). Every amount a reader could
//! recompute is a formula, so the sheet shows how each figure is made and
//! stays right when someone edits a quantity; each formula also carries the
//! engine's result, for readers that do not recalculate. Amounts are
//! numbers in the euro format, not text.

use rust_xlsxwriter::{Format, Formula, Workbook, Worksheet, XlsxError};
use socle::contribution::Cents;

use super::output::{Export, LINE_COLUMNS, line_base, line_code, unpriced_observation};

/// Euros, French style whatever the reader's locale: `5 532,50 €`.
const EURO: &str = "#,##0.00\\ [$€-40C];-#,##0.00\\ [$€-40C]";

/// The sheets' names, as the finance department reads them.
pub const TITLES: &str = "Titres";
pub const LINES: &str = "Lignes";
pub const UNPRICED: &str = "Non tarifés";

/// The columns of the "Titres" sheet.
pub const TITLE_COLUMNS: [&str; 8] = [
    "exercice",
    "n° de titre",
    "commune",
    "code INSEE",
    "SIRET",
    "objet",
    "nombre de lignes",
    "montant",
];

/// The columns of the "Non tarifés" sheet.
pub const UNPRICED_COLUMNS: [&str; 5] = ["exercice", "commune", "code INSEE", "membre", "motif"];

/// Where the "Lignes" sheet keeps each figure (0-based column).
const QUANTITY: u16 = 8;
const UNIT_PRICE: u16 = 9;
const AMOUNT: u16 = 10;
/// Where the "Titres" sheet keeps its amount.
const TITLE_AMOUNT: u16 = 7;

/// An amount of cents as the number of euros a spreadsheet holds: the
/// nearest double, as Excel stores a typed `5532,50` (exact below 2^53 cents,
/// 90 000 billion euros).
#[allow(clippy::cast_precision_loss)]
fn euros(cents: Cents) -> f64 {
    cents as f64 / 100.0
}

/// The same amount as a formula's cached result reads: `5532.5`.
fn result(cents: Cents) -> String {
    euros(cents).to_string()
}

/// A column's letter: `A` for 0. Every sheet here has fewer than 26 columns.
fn column(index: u16) -> char {
    char::from(b'A' + u8::try_from(index).expect("fewer than 26 columns"))
}

/// A 0-based row as its 1-based spreadsheet number.
fn row_number(row: u32) -> u32 {
    row + 1
}

/// The workbook, as the bytes of an .xlsx file.
pub fn xlsx(export: &Export<'_>) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let header = Format::new().set_bold().set_text_wrap();
    let euro = Format::new().set_num_format(EURO);
    let total_euro = Format::new().set_bold().set_num_format(EURO);
    let bold = Format::new().set_bold();
    // The lines first: the titles' formulas point at their rows.
    let mut lines = Worksheet::new();
    lines.set_name(LINES)?;
    let ranges = write_lines(&mut lines, export, &header, &euro, (&bold, &total_euro))?;
    let mut titles = Worksheet::new();
    titles.set_name(TITLES)?;
    write_titles(
        &mut titles,
        export,
        &ranges,
        &header,
        &euro,
        (&bold, &total_euro),
    )?;
    let mut unpriced = Worksheet::new();
    unpriced.set_name(UNPRICED)?;
    write_unpriced(&mut unpriced, export, &header)?;
    workbook.push_worksheet(titles);
    workbook.push_worksheet(lines);
    workbook.push_worksheet(unpriced);
    workbook.save_to_buffer()
}

fn headings(sheet: &mut Worksheet, columns: &[&str], header: &Format) -> Result<(), XlsxError> {
    for (index, name) in (0..).zip(columns) {
        sheet.write_string_with_format(0, index, *name, header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// Writes one row per line; returns each titre's rows (first, last), 0-based.
fn write_lines(
    sheet: &mut Worksheet,
    export: &Export<'_>,
    header: &Format,
    euro: &Format,
    (bold, total_euro): (&Format, &Format),
) -> Result<Vec<(u32, u32)>, XlsxError> {
    headings(sheet, &LINE_COLUMNS, header)?;
    let mut row = 1;
    let mut ranges = Vec::with_capacity(export.titres.len());
    for titre in &export.titres {
        let first = row;
        for line in titre.lines {
            sheet.write_number(row, 0, titre.exercise)?;
            sheet.write_string(row, 1, titre.title_number.unwrap_or_default())?;
            sheet.write_string(row, 2, titre.debtor)?;
            sheet.write_string(row, 3, titre.insee_code)?;
            sheet.write_string(row, 4, titre.siret.unwrap_or_default())?;
            sheet.write_string(row, 5, &line.label)?;
            sheet.write_string(row, 6, &line.legal_basis)?;
            sheet.write_string(row, 7, line_base(line))?;
            // Quantities are counts of inhabitants or half-days: far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            sheet.write_number(row, QUANTITY, line.quantity as f64)?;
            sheet.write_number_with_format(row, UNIT_PRICE, euros(line.unit_price_cents), euro)?;
            let product = format!(
                "={q}{r}*{p}{r}",
                q = column(QUANTITY),
                p = column(UNIT_PRICE),
                r = row_number(row)
            );
            sheet.write_formula_with_format(
                row,
                AMOUNT,
                Formula::new(product).set_result(result(line.amount_cents)),
                euro,
            )?;
            sheet.write_string(row, 11, &line.imputation)?;
            sheet.write_string(row, 12, line.reference.as_deref().unwrap_or_default())?;
            sheet.write_string(row, 13, line_code(line))?;
            sheet.write_string(row, 14, titre.member)?;
            sheet.write_string(row, 15, line.explanation.as_deref().unwrap_or_default())?;
            row += 1;
        }
        ranges.push((first, row.saturating_sub(1).max(first)));
    }
    let total: Cents = export.titres.iter().map(|titre| titre.total_cents).sum();
    sheet.write_string_with_format(row, 5, "Total des lignes", bold)?;
    sheet.write_formula_with_format(
        row,
        AMOUNT,
        Formula::new(sum(AMOUNT, 1, row.saturating_sub(1).max(1))).set_result(result(total)),
        total_euro,
    )?;
    sheet.autofilter(0, 0, row.saturating_sub(1).max(1), 15)?;
    for (index, width) in [
        (0, 9),
        (1, 12),
        (2, 24),
        (3, 10),
        (4, 16),
        (5, 60),
        (6, 16),
        (7, 36),
        (8, 10),
        (9, 14),
        (10, 14),
        (11, 11),
        (12, 18),
        (13, 22),
        (14, 22),
        (15, 80),
    ] {
        sheet.set_column_width(index, width)?;
    }
    Ok(ranges)
}

/// `=SUM(K2:K9)`, rows 0-based.
fn sum(column_index: u16, first: u32, last: u32) -> String {
    let letter = column(column_index);
    format!(
        "=SUM({letter}{}:{letter}{})",
        row_number(first),
        row_number(last)
    )
}

fn write_titles(
    sheet: &mut Worksheet,
    export: &Export<'_>,
    ranges: &[(u32, u32)],
    header: &Format,
    euro: &Format,
    (bold, total_euro): (&Format, &Format),
) -> Result<(), XlsxError> {
    headings(sheet, &TITLE_COLUMNS, header)?;
    let mut row = 1;
    let amount = column(AMOUNT);
    for (titre, &(first, last)) in export.titres.iter().zip(ranges) {
        sheet.write_number(row, 0, titre.exercise)?;
        sheet.write_string(row, 1, titre.title_number.unwrap_or_default())?;
        sheet.write_string(row, 2, titre.debtor)?;
        sheet.write_string(row, 3, titre.insee_code)?;
        sheet.write_string(row, 4, titre.siret.unwrap_or_default())?;
        sheet.write_string(row, 5, titre.object())?;
        sheet.write_number(row, 6, u32::try_from(titre.lines.len()).unwrap_or(u32::MAX))?;
        let of_lines = format!(
            "=SUM({LINES}!{amount}{}:{amount}{})",
            row_number(first),
            row_number(last)
        );
        sheet.write_formula_with_format(
            row,
            TITLE_AMOUNT,
            Formula::new(of_lines).set_result(result(titre.total_cents)),
            euro,
        )?;
        row += 1;
    }
    let total: Cents = export.titres.iter().map(|titre| titre.total_cents).sum();
    sheet.write_string_with_format(
        row,
        5,
        format!("Total des titres ({})", export.titres.len()),
        bold,
    )?;
    sheet.write_formula_with_format(
        row,
        TITLE_AMOUNT,
        Formula::new(sum(TITLE_AMOUNT, 1, row.saturating_sub(1).max(1))).set_result(result(total)),
        total_euro,
    )?;
    sheet.autofilter(0, 0, row.saturating_sub(1).max(1), 7)?;
    for (index, width) in [
        (0, 9),
        (1, 12),
        (2, 24),
        (3, 10),
        (4, 16),
        (5, 70),
        (6, 9),
        (7, 14),
    ] {
        sheet.set_column_width(index, width)?;
    }
    Ok(())
}

fn write_unpriced(
    sheet: &mut Worksheet,
    export: &Export<'_>,
    header: &Format,
) -> Result<(), XlsxError> {
    headings(sheet, &UNPRICED_COLUMNS, header)?;
    if export.unpriced.is_empty() {
        sheet.write_string(1, 1, socle::contribution::wording::ALL_PRICED)?;
    }
    for (row, unpriced) in (1..).zip(&export.unpriced) {
        sheet.write_number(row, 0, export.exercise)?;
        sheet.write_string(row, 1, unpriced.debtor.unwrap_or(unpriced.member))?;
        sheet.write_string(row, 2, unpriced.insee_code.unwrap_or_default())?;
        sheet.write_string(row, 3, unpriced.member)?;
        sheet.write_string(row, 4, unpriced_observation(unpriced))?;
    }
    for (index, width) in [(0, 9), (1, 24), (2, 10), (3, 22), (4, 120)] {
        sheet.set_column_width(index, width)?;
    }
    Ok(())
}

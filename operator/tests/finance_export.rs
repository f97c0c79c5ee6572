//! The finance department's exports as it receives them: the binary's xlsx
//! read back with a spreadsheet reader (calamine), every figure and every
//! formula's result checked against the engine, and the CSV's French
//! columns, error rows and byte order mark.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use calamine::{Data, Range, Reader, Xlsx, open_workbook};
use socle::{
    contribution::{Cents, Outcome, Statement, Title, TitleKind},
    manifests::load_ledger,
};

mod common;

use common::{copy_dir, examples};

/// Above 8 000 inhabitants without the commission's prices: not priced.
const UNPRICED_MEMBER: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata:
  name: test-guenrouet
spec:
  displayName: Guenrouët
  inseeCode: "44068"
  siret: "21440068000014"
  population: { count: 9100, year: 2022 }
  subscriptions:
    - offer: SocleComplet
      effectiveDate: "2025-01-01"
"#;

/// The 31 example communes and one that cannot be priced, in a fresh directory.
fn input(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("socle-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    copy_dir(&examples(), &dir.join("input"));
    fs::write(
        dir.join("input/members/test-guenrouet.yaml"),
        UNPRICED_MEMBER,
    )
    .unwrap();
    dir
}

fn socle(args: &[&str], input: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_socle"))
        .args(args)
        .arg("--input")
        .arg(input)
        .output()
        .expect("the socle binary runs")
}

fn engine(input: &Path) -> Outcome {
    load_ledger(input).expect("the examples load").compute(2026)
}

/// Euros as the sheet holds them, back to cents.
#[allow(clippy::cast_possible_truncation)]
fn cents(euros: f64) -> Cents {
    (euros * 100.0).round() as Cents
}

/// A cell by its spreadsheet name (`K12`).
fn position(cell: &str) -> (u32, u32) {
    let letters = cell.chars().take_while(char::is_ascii_uppercase).count();
    let column = cell[..letters]
        .bytes()
        .fold(0, |n, letter| n * 26 + u32::from(letter - b'A' + 1));
    let row: u32 = cell[letters..].parse().unwrap();
    (row - 1, column - 1)
}

fn number(sheet: &Range<Data>, cell: (u32, u32)) -> f64 {
    match sheet.get_value(cell) {
        Some(Data::Float(value)) => *value,
        #[allow(clippy::cast_precision_loss)]
        Some(Data::Int(value)) => *value as f64,
        other => panic!("{cell:?} is not a number: {other:?}"),
    }
}

fn text(sheet: &Range<Data>, row: u32, column: u32) -> String {
    match sheet.get_value((row, column)) {
        Some(Data::String(text)) => text.clone(),
        None | Some(Data::Empty) => String::new(),
        other => panic!("({row}, {column}) is not text: {other:?}"),
    }
}

/// Evaluates the formulas the export writes — a product of two cells of the
/// row, or the sum of a column's range, on this sheet or another — over the
/// values read back, as a spreadsheet recalculating the file would.
fn evaluate(formula: &str, sheets: &dyn Fn(&str) -> Range<Data>, here: &str) -> f64 {
    let formula = formula.trim_start_matches('=');
    if let Some(range) = formula
        .strip_prefix("SUM(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let (sheet, range) = range.split_once('!').unwrap_or((here, range));
        let values = sheets(sheet);
        let (first, last) = range.split_once(':').unwrap();
        let ((top, column), (bottom, same_column)) = (position(first), position(last));
        assert_eq!(column, same_column, "{formula}: one column");
        return (top..=bottom)
            .map(|row| number(&values, (row, column)))
            .sum();
    }
    let (left, right) = formula.split_once('*').expect("a product");
    let values = sheets(here);
    number(&values, position(left)) * number(&values, position(right))
}

#[test]
fn the_xlsx_holds_every_figure_of_the_engine_and_its_formulas_agree() {
    let dir = input("xlsx");
    let path = dir.join("titres.xlsx");
    let output = socle(
        &[
            "contribution",
            "--exercise",
            "2026",
            "--format",
            "xlsx",
            "--output",
            path.to_str().unwrap(),
        ],
        &dir.join("input"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "one member not priced: {stderr}"
    );
    let outcome = engine(&dir.join("input"));
    let ledger = load_ledger(&dir.join("input")).unwrap();
    let without_siret: Vec<&str> = outcome
        .statements
        .iter()
        .filter(|statement| {
            ledger.members.iter().any(|member| {
                member.metadata.name.as_deref() == Some(statement.member.as_str())
                    && member.spec.siret.is_none()
            })
        })
        .map(|statement| statement.display_name.as_str())
        .collect();
    assert!(
        stderr.contains(&format!(
            "SIRET manquant pour {} commune(s)",
            without_siret.len()
        )),
        "{stderr}"
    );
    for name in without_siret {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    let mut workbook: Xlsx<_> = open_workbook(&path).expect("an xlsx file");
    assert_eq!(workbook.sheet_names(), ["Titres", "Lignes", "Non tarifés"]);
    let titles = workbook.worksheet_range("Titres").unwrap();
    let lines = workbook.worksheet_range("Lignes").unwrap();
    let unpriced = workbook.worksheet_range("Non tarifés").unwrap();
    check_sheets(&outcome, &titles, &lines, &unpriced, &mut workbook);
    fs::remove_dir_all(&dir).unwrap();
}

/// Every line, titre and total of the engine, in the sheets and their
/// formulas.
fn check_sheets(
    outcome: &Outcome,
    titles: &Range<Data>,
    lines: &Range<Data>,
    unpriced: &Range<Data>,
    workbook: &mut Xlsx<std::io::BufReader<fs::File>>,
) {
    let line_formulas = workbook.worksheet_formula("Lignes").unwrap();
    let title_formulas = workbook.worksheet_formula("Titres").unwrap();
    let formula = |range: &Range<String>, cell: (u32, u32)| {
        range.get_value(cell).cloned().unwrap_or_default()
    };
    let sheets = |name: &str| match name {
        "Titres" => titles.clone(),
        "Lignes" => lines.clone(),
        other => panic!("no sheet {other}"),
    };
    check_headings(lines);
    let mut row = 1;
    let mut grand_total = 0;
    // The audit is a title of its own (ruling 8).
    let every_title: Vec<(&Statement, Title)> = outcome
        .statements
        .iter()
        .flat_map(|statement| {
            statement
                .titles()
                .into_iter()
                .map(move |title| (statement, title))
        })
        .collect();
    assert!(
        every_title
            .iter()
            .any(|(_, title)| title.kind == TitleKind::Audit),
        "the examples deliver an audit in 2026"
    );
    for (index, (statement, title)) in every_title.iter().enumerate() {
        let title_row = u32::try_from(index).unwrap() + 1;
        assert_eq!(text(titles, title_row, 2), statement.display_name);
        assert_eq!(text(titles, title_row, 3), statement.insee_code);
        let total = formula(&title_formulas, (title_row, 7));
        assert!(total.starts_with("SUM(Lignes!K"), "{total}");
        assert_eq!(cents(number(titles, (title_row, 7))), title.total_cents);
        assert_eq!(
            cents(evaluate(&total, &sheets, "Titres")),
            title.total_cents,
            "{}: {total}",
            statement.member
        );
        for line in &title.lines {
            assert_eq!(text(lines, row, 2), statement.display_name);
            assert_eq!(text(lines, row, 5), line.label);
            assert_eq!(text(lines, row, 6), line.legal_basis);
            assert!(!text(lines, row, 7).is_empty(), "a base on every line");
            #[allow(clippy::cast_precision_loss)]
            let quantity = line.quantity as f64;
            assert!((number(lines, (row, 8)) - quantity).abs() < f64::EPSILON);
            assert_eq!(cents(number(lines, (row, 9))), line.unit_price_cents);
            assert_eq!(cents(number(lines, (row, 10))), line.amount_cents);
            let product = formula(&line_formulas, (row, 10));
            assert_eq!(product, format!("I{n}*J{n}", n = row + 1));
            assert_eq!(
                cents(evaluate(&product, &sheets, "Lignes")),
                line.amount_cents
            );
            row += 1;
        }
        grand_total += title.total_cents;
    }
    assert_eq!(
        grand_total,
        outcome
            .statements
            .iter()
            .map(|s| s.total_cents)
            .sum::<Cents>()
    );
    // The totals rows: the lines' and the titles', each a formula.
    let lines_total = formula(&line_formulas, (row, 10));
    assert_eq!(lines_total, format!("SUM(K2:K{row})"));
    assert_eq!(
        cents(evaluate(&lines_total, &sheets, "Lignes")),
        grand_total
    );
    assert_eq!(cents(number(lines, (row, 10))), grand_total);
    let titles_row = u32::try_from(every_title.len()).unwrap() + 1;
    let titles_total = formula(&title_formulas, (titles_row, 7));
    assert_eq!(
        cents(evaluate(&titles_total, &sheets, "Titres")),
        grand_total
    );
    assert_eq!(cents(number(titles, (titles_row, 7))), grand_total);
    check_euros_and_unpriced(outcome, unpriced, workbook);
}

fn check_headings(lines: &Range<Data>) {
    for (column, heading) in [
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
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(text(lines, 0, u32::try_from(column).unwrap()), *heading);
    }
}

/// Amounts in the euro format; the members not priced, and why.
fn check_euros_and_unpriced(
    outcome: &Outcome,
    unpriced: &Range<Data>,
    workbook: &mut Xlsx<std::io::BufReader<fs::File>>,
) {
    // Amounts are numbers in euros, not text.
    let styles = workbook.worksheet_style("Lignes").unwrap();
    let style = styles.get((1, 10)).expect("the first amount is styled");
    let format = style.number_format.as_ref().expect("a number format");
    assert!(format.format_code.contains('€'), "{}", format.format_code);
    // The member that could not be priced, and why.
    assert!(!outcome.errors.is_empty());
    for (index, error) in outcome.errors.iter().enumerate() {
        let at = u32::try_from(index).unwrap() + 1;
        assert_eq!(text(unpriced, at, 3), error.member);
        assert!(text(unpriced, at, 4).contains(&error.message_fr));
    }
    assert_eq!(text(unpriced, 1, 1), "Guenrouët");
}

#[test]
fn the_csv_has_french_columns_a_bom_and_a_row_for_the_member_not_priced() {
    let dir = input("csv");
    let output = socle(
        &[
            "contribution",
            "--exercise",
            "2026",
            "--format",
            "csv",
            "--decimal-comma",
            "--bom",
        ],
        &dir.join("input"),
    );
    let outcome = engine(&dir.join("input"));
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let csv = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(csv.starts_with('\u{feff}'), "the byte order mark first");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().take(11).collect::<Vec<_>>(),
        [
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
            "montant"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let lines: usize = outcome.statements.iter().map(|s| s.lines.len()).sum();
    // The lines, a row of 0 € per member in force owing nothing (here
    // Guémené-Penfao, whose audit is under way), a row per member not priced.
    let nothing: Vec<&csv::StringRecord> = rows[lines..]
        .iter()
        .filter(|row| &row[10] == "0,00")
        .collect();
    assert_eq!(nothing.len(), 1, "{nothing:?}");
    assert_eq!(&nothing[0][2], "Guémené-Penfao");
    assert!(nothing[0][15].starts_with("audit en cours"), "{nothing:?}");
    assert_eq!(rows.len(), lines + nothing.len() + outcome.errors.len());
    let amount = |text: &str| -> Cents { text.replace(',', "").parse().unwrap() };
    let billed: Cents = rows[..lines].iter().map(|row| amount(&row[10])).sum();
    assert_eq!(
        billed,
        outcome
            .statements
            .iter()
            .map(|s| s.total_cents)
            .sum::<Cents>()
    );
    let error = &rows[lines + nothing.len()];
    assert_eq!(&error[2], "Guenrouët");
    assert_eq!(&error[10], "", "no amount for a member not priced");
    assert!(
        error[15].starts_with("NON TARIFÉ : article 7.1"),
        "{error:?}"
    );
    let variable = rows
        .iter()
        .find(|row| &row[13] == "SOCLE_COMPLET_VARIABLE")
        .unwrap();
    assert!(
        variable[7].contains("population légale INSEE"),
        "{variable:?}"
    );
}

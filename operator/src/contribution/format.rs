//! French formatting of amounts and dates, as printed on a titre de recettes.

use jiff::civil::Date;

use super::model::Cents;

/// The space used between thousands and before the euro sign: U+00A0
/// NO-BREAK SPACE. French typography prefers the narrow U+202F between
/// thousands, but U+00A0 exists in Latin-1 and Windows-1252, which the finance
/// software's CSV imports still use; one character for both keeps lines
/// comparable as plain strings.
pub const NBSP: char = '\u{a0}';

/// Formats an amount of cents the French way: `5 532,50 €`, `-3 500,00 €`.
///
/// Thousands and the euro sign are separated by [`NBSP`].
pub fn format_eur(cents: Cents) -> String {
    let magnitude = cents.unsigned_abs();
    let sign = if cents < 0 { "-" } else { "" };
    format!(
        "{sign}{},{:02}{NBSP}€",
        format_count(magnitude / 100),
        magnitude % 100
    )
}

/// Formats a count with thousands separated by [`NBSP`]: `2 355`.
pub(crate) fn format_count(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() * 2);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(NBSP);
        }
        grouped.push(digit);
    }
    grouped
}

/// Formats a date the French way: `15/04/2025`.
pub(crate) fn format_date(date: Date) -> String {
    date.strftime("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn amounts_are_french() {
        let cases = [
            (0, "0,00 €"),
            (5, "0,05 €"),
            (150, "1,50 €"),
            (99_000, "990,00 €"),
            (553_250, "5 532,50 €"),
            (203_250, "2 032,50 €"),
            (-350_000, "-3 500,00 €"),
            (100_000_000, "1 000 000,00 €"),
            (-1, "-0,01 €"),
            (i64::MIN, "-92 233 720 368 547 758,08 €"),
        ];
        for (cents, expected) in cases {
            assert_eq!(format_eur(cents).replace(NBSP, " "), expected, "{cents}");
        }
        assert_eq!(format_eur(553_250), "5\u{a0}532,50\u{a0}€");
    }

    #[test]
    fn dates_are_french() {
        assert_eq!(format_date(date(2025, 4, 5)), "05/04/2025");
    }
}

//! French formatting of amounts and dates, as printed on a titre de recettes,
//! and of the ratios and days of the annual report.

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
pub fn format_count(count: u64) -> String {
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

/// Formats a ratio in basis points (10 000 = 100 %) as a French percentage
/// with two decimals, rounded down like the ratio: `112,01 %`.
pub fn format_percent(basis_points: i64) -> String {
    let sign = if basis_points < 0 { "-" } else { "" };
    let magnitude = basis_points.unsigned_abs();
    format!(
        "{sign}{},{:02}{NBSP}%",
        format_count(magnitude / 100),
        magnitude % 100
    )
}

/// Formats half-days as French days: `102,5`, `10`. Level-1 engineering is
/// recorded in half-days but the convention counts the pool in days.
pub fn format_half_days_as_days(half_days: u64) -> String {
    let days = format_count(half_days / 2);
    if half_days.is_multiple_of(2) {
        days
    } else {
        format!("{days},5")
    }
}

/// Formats a date the French way: `15/04/2025`.
pub fn format_date(date: Date) -> String {
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
    fn percentages_and_days_are_french() {
        let percents = [
            (0, "0,00 %"),
            (11_201, "112,01 %"),
            (10_000, "100,00 %"),
            (5, "0,05 %"),
            (-250, "-2,50 %"),
        ];
        for (basis_points, expected) in percents {
            assert_eq!(format_percent(basis_points).replace(NBSP, " "), expected);
        }
        let days = [
            (0, "0"),
            (1, "0,5"),
            (20, "10"),
            (205, "102,5"),
            (2_468, "1 234"),
        ];
        for (half_days, expected) in days {
            assert_eq!(
                format_half_days_as_days(half_days).replace(NBSP, " "),
                expected
            );
        }
    }

    #[test]
    fn dates_are_french() {
        assert_eq!(format_date(date(2025, 4, 5)), "05/04/2025");
    }
}

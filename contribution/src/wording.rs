//! French wording shared by the titres, the exports and the annual report,
//! reviewed as a finance officer reads it: the phrases that come back in
//! several places, and the rules of French typography they follow (a
//! no-break space before `:` and `;`, thousands grouped, singular for 0
//! and 1). Sentences that carry figures are written beside the figures,
//! with these helpers.

use super::format::format_count;

/// Why a member in force owes nothing: its audit's report is not delivered.
pub const AUDIT_NOT_DELIVERED: &str = "audit en cours : titré à la remise du rapport (article 7.2.1), aucun montant dû pour l'exercice";

/// Why a member in force owes nothing, when no other reason applies.
pub const NOTHING_OWED: &str = "aucun montant dû pour l'exercice";

/// How a cost paid by the agglomeration is passed on (article 2.3.4).
pub const AT_REAL_COST: &str = "au coût réel, à l'euro l'euro";

/// `count` and its noun, singular for 0 and 1 as French has it:
/// `plural(1, "demi-journée facturée", "demi-journées facturées")`.
pub fn plural(count: u64, singular: &str, plural: &str) -> String {
    let noun = if count <= 1 { singular } else { plural };
    format!("{} {noun}", format_count(count))
}

/// A label from the data with its numbers of four digits or more grouped
/// by thousands: "de 1500 à moins de 3000 habitants" reads
/// "de 1 500 à moins de 3 000 habitants". For bracket labels, which hold
/// populations, never years.
pub fn group_thousands(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 8);
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 4
            && let Ok(number) = digits.parse::<u64>()
        {
            out.push_str(&format_count(number));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for character in label.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
        } else {
            flush(&mut digits, &mut out);
            out.push(character);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NBSP;

    #[test]
    fn thousands_are_grouped_in_labels() {
        assert_eq!(
            group_thousands("de 1500 à moins de 3000 habitants").replace(NBSP, " "),
            "de 1 500 à moins de 3 000 habitants"
        );
        assert_eq!(group_thousands("plus de 8000"), "plus de 8\u{a0}000");
        assert_eq!(group_thousands("moins de 999"), "moins de 999");
    }

    #[test]
    fn zero_and_one_are_singular() {
        let billed = |n| plural(n, "demi-journée facturée", "demi-journées facturées");
        assert_eq!(billed(0), "0 demi-journée facturée");
        assert_eq!(billed(1), "1 demi-journée facturée");
        assert_eq!(billed(9), "9 demi-journées facturées");
    }
}

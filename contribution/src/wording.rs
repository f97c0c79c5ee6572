//! French wording shared by the titres, the exports and the annual report,
//! reviewed as a finance officer reads it: the phrases that come back in
//! several places, the exports' own sentences, the quality of service's
//! verdicts and note, and the rules of French typography they follow (a
//! no-break space before `:` and `;`, thousands grouped, singular for 0
//! and 1).
//!
//! What stays elsewhere, and why:
//! - a statement line's label and explanation (`audit`, `annual`,
//!   `deduction`, `level1`, `shared`; [`crate::LineCode`]'s short labels):
//!   written by the ruling that computes the figures they carry, so a
//!   figure and its sentence change together;
//! - an error's French message (`error.rs`): beside its English one, in
//!   the same match arm, so that the two never say different things;
//! - the report's headings and table columns (`report/sections.rs`): where
//!   the table is laid out, one heading per column it fills;
//! - the CSV and xlsx column headers (`socle`'s `cli/output.rs`): the
//!   exports' contract with the finance software, a constant of their own;
//! - bracket labels: data, from the Tariff (grouped here by
//!   [`group_thousands`]).

use super::format::{NBSP, format_count};

/// Why a member in force owes nothing: its audit's report is not delivered.
pub const AUDIT_NOT_DELIVERED: &str = "audit en cours : titré à la remise du rapport (article 7.2.1), aucun montant dû pour l'exercice";

/// Why a member in force owes nothing, when no other reason applies.
pub const NOTHING_OWED: &str = "aucun montant dû pour l'exercice";

/// How a cost paid by the agglomeration is passed on (article 2.3.4).
pub const AT_REAL_COST: &str = "au coût réel, à l'euro l'euro";

/// A member with backups and no drill finished in the exercise.
pub const NO_DRILL: &str = "aucun exercice de restauration terminé pendant l'exercice";

/// The observation of a member that could not be priced, in the exports.
pub fn not_priced(reason: &str) -> String {
    format!("NON TARIFÉ : {reason}")
}

/// The xlsx's sheet of members not priced, when there is none.
pub const ALL_PRICED: &str = "Tous les membres sont tarifés.";

/// The object of an annual title (article 7).
pub fn annual_title(exercise: i16) -> String {
    format!("Contribution {exercise} au service commun informatique (convention-cadre, article 7)")
}

/// The object of an audit's title (article 7.2.1), with its report's
/// delivery date when known.
pub fn audit_title(report: Option<&str>) -> String {
    match report {
        Some(date) => format!(
            "Audit technique préalable, rapport remis le {date} (convention-cadre, article 7.2.1)"
        ),
        None => "Audit technique préalable (convention-cadre, article 7.2.1)".to_owned(),
    }
}

/// The table's last line and the heading of the members not priced.
pub fn grand_total(members: usize) -> String {
    format!("Total général ({} membres)", format_count(members as u64))
}

pub fn not_priced_heading(members: usize) -> String {
    format!("Membres non tarifés ({}) :", format_count(members as u64))
}

/// Where the quality of service comes from, under its table; `target` is
/// the tunnels' availability target, formatted.
pub fn quality_note(target: &str) -> String {
    format!(
        "D'après les rapports d'exercice de restauration (DrillReport) : la dernière sauvegarde restaurée dans un espace isolé, chaque objet vérifié, la durée (RTO) comparée à l'objectif du niveau PRI ; et les relevés mensuels de qualité de service (QualityRecord) que tient l'opérateur : l'écart le plus long entre deux sauvegardes terminées comparé à l'objectif (RPO) du niveau, avec une tolérance de 15{NBSP}min, les sauvegardes planifiées qui n'ont pas abouti, et pour chaque tunnel VPN la part du temps observé où le concentrateur entendait le routeur de la mairie (une coupure : plus de 90{NBSP}s sans nouvelles). L'objectif de disponibilité des tunnels, {target}, est celui de la DSI : la convention n'en fixe pas."
    )
}

/// A duration in seconds as people say it: `45 s`, `12 min`, `4 h`, `1 h 30`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds.div_ceil(60)),
        _ => {
            let minutes = seconds.div_ceil(60);
            match minutes % 60 {
                0 => format!("{} h", minutes / 60),
                rest => format!("{} h {rest:02}", minutes / 60),
            }
        }
    }
}

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

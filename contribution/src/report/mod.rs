//! The annual report as a document for the pilotage commission (article 6.2,
//! ruling 9): one self-contained HTML page in French, printable on A4 and
//! readable without JavaScript, its charts inline SVG.
//!
//! Pure: the engine's figures in ([`Page`]), a `String` out. Every text that
//! comes from data (commune names, bracket labels, deliberations, error
//! messages) goes through [`escape`].

mod chart;
mod sections;

use std::fmt::Write;

use jiff::civil::Date;

use crate::{AnnualReport, MemberError, MemberSummary, QualityOfService, format_date};

/// Everything the document shows.
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    /// The figures of ruling 9.
    pub report: &'a AnnualReport,
    /// One row per member, in the order the tables list them.
    pub members: &'a [MemberSummary],
    /// Members the engine could not price, with the reason.
    pub errors: &'a [MemberError],
    /// The restore drills of the exercise against each member's targets.
    pub quality: &'a QualityOfService,
    /// The day the document is drawn up, printed under the title.
    pub drawn_up: Date,
}

/// The whole HTML document.
pub fn render(page: &Page<'_>) -> String {
    let exercise = page.report.exercise;
    let title = format!("Rapport annuel du service commun informatique — exercice {exercise}");
    let mut html = format!(
        r#"<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}</style>
</head>
<body>
<header>
<div class="issuer">REDON Agglomération — Direction des systèmes d'information</div>
<h1>{title}</h1>
<p>Bilan présenté à la commission de pilotage (convention-cadre, article 6.2) · établi le {date} · grille tarifaire : {deliberation}</p>
</header>
"#,
        css = include_str!("report.css"),
        date = format_date(page.drawn_up),
        deliberation = escape(&page.report.deliberation),
    );
    for section in [
        sections::key_figures(page),
        sections::by_offer_and_bracket(page),
        sections::staffing(page.report),
        sections::level1(page.report),
        sections::quality(page.quality),
        sections::members(page),
        sections::inventory(page.members),
        sections::errors(page.errors),
    ] {
        html.push_str(&section);
    }
    let _ = write!(
        html,
        r#"<footer><p class="note">Montants en euros, calculés au centime selon l'article 7 de la convention-cadre. Document établi par socle à partir des adhésions, des relevés d'usage et de la grille tarifaire en vigueur.</p></footer>
</body>
</html>
"#
    );
    html
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests;

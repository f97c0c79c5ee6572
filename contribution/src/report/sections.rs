//! The sections of the annual report, in the order they are read: key
//! figures, where the money comes from, what it pays for, each member.

use std::{collections::BTreeSet, fmt::Write};

use super::{
    Page,
    chart::{Bar, Mark, bar, bars, gauge},
    escape,
};
use crate::{
    AnnualReport, Cents, LineCode, MemberError, MemberSummary, Offer, QualityOfService,
    format_count, format_date, format_eur, format_half_days_as_days, format_percent,
    quality::Verdict as QualityVerdict,
    wording::{self, duration, plural},
};

/// The Level-1 pool the convention is built on (article 3.2): 117 working
/// days shared by 30 communes. The year's pool is the sum of the allowances
/// of the members actually at the socle complet; both are shown.
const CONVENTION_POOL_HALF_DAYS: u64 = 234;

/// The inventory meters as the commission reads them: meter, heading, unit,
/// in column order. A meter recorded but not listed here still shows, under
/// its own name, rather than being dropped.
pub(super) const INVENTORY_COLUMNS: [(&str, &str, &str); 7] = [
    ("storage-gib-months", "Stockage", "Gio·mois"),
    ("backup-gib-months", "Sauvegardes conservées", "Gio·mois"),
    ("backups-purged", "Sauvegardes purgées", "sauvegardes"),
    ("vpn-tunnel-months", "Tunnel VPN", "mois de service"),
    ("drills", "Exercices de restauration", "exercices"),
    ("subscription-days", "Abonnement", "jours"),
    ("seats", "Postes", "postes"),
];

/// The quality of service (article 6.2): per tier, then per member, its
/// restore drills, its backups against the objective, its tunnels'
/// availability, and a verdict in plain French; charts of the longest
/// restore against its target and of each tunnel's availability.
pub(super) fn quality(quality: &QualityOfService) -> String {
    let mut html = String::from(r#"<section class="long"><h2>Qualité de service</h2>"#);
    if quality.members.is_empty() {
        html.push_str(
            r"<p>Aucun membre n'a de sauvegarde ni de tunnel pour cet exercice.</p></section>",
        );
        return html;
    }
    let _ = write!(html, "<p>{}</p>", escape(&quality_summary(quality)));
    html.push_str(&quality_tiers(quality));
    html.push_str(&quality_charts(quality));
    html.push_str(
        r#"<table class="data"><thead><tr><th>Commune</th><th>Niveau</th><th class="num">Exercices<small>réussis / terminés</small></th><th class="num">RTO<small>le plus long / objectif</small></th><th class="num">Sauvegardes<small>plus long écart / RPO</small></th><th class="num">Manquées</th><th class="num">Tunnel<small>disponibilité</small></th><th>Avis</th></tr></thead><tbody>"#,
    );
    for member in &quality.members {
        let against = |worst: Option<u64>, target: Option<u64>| match (worst, target) {
            (Some(worst), Some(target)) => format!("{} / {}", duration(worst), duration(target)),
            _ => NONE.to_owned(),
        };
        let backups = member.backups.as_ref();
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td{}>{}</td></tr>"#,
            escape(&member.display_name),
            member
                .tier
                .as_deref()
                .map_or_else(|| NONE.to_owned(), escape),
            if member.tier.is_some() {
                format!("{} / {}", member.passed, member.drills)
            } else {
                NONE.to_owned()
            },
            against(member.worst_rto_seconds, member.rto_target_seconds),
            against(
                backups.and_then(|b| b.longest_gap_seconds),
                backups.map(|b| b.rpo_seconds)
            ),
            backups.map_or_else(|| NONE.to_owned(), |b| format_count(u64::from(b.missed))),
            member.tunnels.as_ref().map_or_else(
                || NONE.to_owned(),
                |t| format_percent(i64::from(t.availability_basis_points))
            ),
            verdict_class(member.verdict),
            escape(&member.explanation),
        );
    }
    let _ = write!(
        html,
        r#"</tbody></table><p class="note">{}</p></section>"#,
        escape(&wording::quality_note(&format_percent(i64::from(
            quality.tunnel_target_basis_points
        ))))
    );
    html
}

fn verdict_class(verdict: QualityVerdict) -> &'static str {
    match verdict {
        QualityVerdict::Good => "",
        QualityVerdict::Watch => r#" class="watch""#,
        QualityVerdict::Failing | QualityVerdict::NoDrill => r#" class="warn""#,
    }
}

/// The section's first sentence: drills, backups, tunnels.
fn quality_summary(quality: &QualityOfService) -> String {
    let as_of = quality.as_of.map_or_else(String::new, |date| {
        format!(" ; avis donnés au {}", format_date(date))
    });
    let mut text = format!(
        "{} sur {} pendant l'exercice",
        plural(
            u64::from(quality.passed),
            "exercice de restauration réussi",
            "exercices de restauration réussis"
        ),
        plural(u64::from(quality.drills), "terminé", "terminés"),
    );
    if quality
        .members
        .iter()
        .any(|member| member.backups.is_some())
    {
        let _ = write!(
            text,
            " ; {}, {}",
            plural(
                u64::from(quality.backups_missed),
                "sauvegarde planifiée manquée",
                "sauvegardes planifiées manquées"
            ),
            plural(
                u64::from(quality.backups_beyond_objective),
                "commune dont les sauvegardes ont dépassé l'objectif (RPO)",
                "communes dont les sauvegardes ont dépassé l'objectif (RPO)"
            ),
        );
    }
    if let Some(points) = quality.tunnel_availability_basis_points {
        let _ = write!(
            text,
            " ; tunnels VPN disponibles {} du temps ({}, objectif {})",
            format_percent(i64::from(points)),
            plural(
                u64::from(quality.members_with_tunnel),
                "commune reliée",
                "communes reliées"
            ),
            format_percent(i64::from(quality.tunnel_target_basis_points)),
        );
    }
    text.push_str(&as_of);
    text.push('.');
    text
}

/// One row per PRI tier.
fn quality_tiers(quality: &QualityOfService) -> String {
    if quality.tiers.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        r#"<table class="data"><caption>Par niveau de sauvegarde (PRI)</caption><thead><tr><th>Niveau</th><th class="num">Communes</th><th class="num">Sans réserve</th><th class="num">Exercices<small>réussis / terminés</small></th><th class="num">Sauvegardes manquées</th><th class="num">Plus long écart<small>entre deux sauvegardes / RPO</small></th></tr></thead><tbody>"#,
    );
    for tier in &quality.tiers {
        let gap = match (tier.longest_gap_seconds, tier.rpo_seconds) {
            (Some(gap), Some(rpo)) => format!("{} / {}", duration(gap), duration(rpo)),
            _ => NONE.to_owned(),
        };
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{} / {}</td><td class="num">{}</td><td class="num">{gap}</td></tr>"#,
            escape(&tier.tier),
            tier.members,
            tier.good,
            tier.passed,
            tier.drills,
            tier.backups_missed,
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// The longest restore against its target, and each tunnel's availability.
fn quality_charts(quality: &QualityOfService) -> String {
    let rows: Vec<(String, String, i64, &'static str)> = quality
        .members
        .iter()
        .filter_map(|member| {
            let (worst, target) = (member.worst_rto_seconds?, member.rto_target_seconds?);
            let per_mille =
                i64::try_from(worst.saturating_mul(1_000) / target.max(1)).unwrap_or(i64::MAX);
            let class = if member.drill_verdict == Some(QualityVerdict::Failing) {
                "fill-3"
            } else {
                "fill-2"
            };
            Some((
                member.display_name.clone(),
                format!("{} sur {}", duration(worst), duration(target)),
                per_mille,
                class,
            ))
        })
        .collect();
    let tunnels: Vec<(String, String, i64, &'static str)> = quality
        .members
        .iter()
        .filter_map(|member| {
            let tunnel = member.tunnels.as_ref()?;
            let class = if tunnel.availability_basis_points >= quality.tunnel_target_basis_points {
                "fill-1"
            } else {
                "fill-3"
            };
            Some((
                member.display_name.clone(),
                format_percent(i64::from(tunnel.availability_basis_points)),
                i64::from(tunnel.availability_basis_points),
                class,
            ))
        })
        .collect();
    let chart = |caption: &str, rows: &[(String, String, i64, &'static str)]| {
        let bars_rows: Vec<Bar<'_>> = rows
            .iter()
            .map(|(label, shown, value, class)| Bar {
                label,
                value: *value,
                shown: shown.clone(),
                class,
            })
            .collect();
        if bars_rows.is_empty() {
            String::new()
        } else {
            bars(caption, &bars_rows)
        }
    };
    let mut html = chart(
        "Restauration la plus longue de l'exercice, rapportée à l'objectif (RTO) du niveau",
        &rows,
    );
    html.push_str(&chart(
        "Disponibilité des tunnels VPN sur le temps observé",
        &tunnels,
    ));
    html
}

/// What a member shows where the data has nothing.
const NONE: &str = r#"<span class="none">—</span>"#;

pub(super) fn key_figures(page: &Page<'_>) -> String {
    let report = page.report;
    let staffing = &report.staffing;
    let level1 = &report.level1;
    let figures = [
        (
            "Membres adhérents".to_owned(),
            format_count(u64::from(staffing.adherents)),
            format!(
                "dont {} au socle complet",
                format_count(u64::from(staffing.socle_complet_members))
            ),
        ),
        (
            "Contributions des membres".to_owned(),
            format_eur(report.contributions_cents),
            format!(
                "hors refacturations à prix coûtant ({}) ; total titré {}",
                format_eur(report.pass_through_cents),
                format_eur(report.total_billed_cents)
            ),
        ),
        (
            "Personnel du service commun".to_owned(),
            format!("{} ETP", staffing.etp),
            format!("coût annuel {}", format_eur(staffing.cost_cents)),
        ),
        (
            "Couverture du coût des ETP".to_owned(),
            report
                .coverage_basis_points
                .map_or_else(|| "—".to_owned(), format_percent),
            "contributions ÷ coût des ETP".to_owned(),
        ),
        (
            "Ingénierie de niveau 1".to_owned(),
            format!(
                "{} j sur {} j",
                format_half_days_as_days(level1.used_half_days),
                format_half_days_as_days(level1.allowance_half_days)
            ),
            format!(
                "{} au-delà des franchises",
                plural(
                    level1.billed_half_days,
                    "demi-journée facturée",
                    "demi-journées facturées"
                )
            ),
        ),
        (
            "Titres de recettes".to_owned(),
            format_count(u64::from(report.statements)),
            plural(
                u64::from(report.members_in_error),
                "membre non tarifé",
                "membres non tarifés",
            ),
        ),
    ];
    let mut html = String::from(r#"<section><h2>Chiffres clés</h2><div class="figures">"#);
    for (label, value, detail) in figures.into_iter().chain(quality_figures(page.quality)) {
        let _ = write!(
            html,
            r#"<div class="figure"><div class="label">{}</div><div class="value">{}</div><div class="detail">{}</div></div>"#,
            escape(&label),
            escape(&value),
            escape(&detail)
        );
    }
    html.push_str("</div></section>");
    html
}

/// The key figures of the quality of service: the members judged, and
/// the tunnels' availability when any tunnel was watched.
fn quality_figures(quality: &QualityOfService) -> Vec<(String, String, String)> {
    let good = quality
        .verdicts
        .get(&QualityVerdict::Good)
        .copied()
        .unwrap_or(0);
    let judged = quality.members.len();
    let service = (judged > 0).then(|| {
        (
            "Qualité de service".to_owned(),
            format!(
                "{} sur {}",
                format_count(u64::from(good)),
                plural(judged as u64, "commune suivie", "communes suivies")
            ),
            format!(
                "sans réserve ; {} sur {} ; {}",
                plural(
                    u64::from(quality.passed),
                    "restauration réussie",
                    "restaurations réussies"
                ),
                format_count(u64::from(quality.drills)),
                plural(
                    u64::from(quality.backups_missed),
                    "sauvegarde manquée",
                    "sauvegardes manquées"
                ),
            ),
        )
    });
    let tunnels = quality.tunnel_availability_basis_points.map(|points| {
        (
            "Disponibilité des tunnels VPN".to_owned(),
            format_percent(i64::from(points)),
            format!(
                "{} ; objectif {}",
                plural(
                    u64::from(quality.members_with_tunnel),
                    "commune reliée",
                    "communes reliées"
                ),
                format_percent(i64::from(quality.tunnel_target_basis_points))
            ),
        )
    });
    service.into_iter().chain(tunnels).collect()
}

/// Where a line's amount goes in the chart by offer.
fn heading(code: LineCode) -> &'static str {
    match code {
        LineCode::SocleCompletFixed | LineCode::SocleCompletVariable | LineCode::AuditDeduction => {
            Offer::SocleComplet.label()
        }
        LineCode::Audit => Offer::Audit.label(),
        LineCode::GroupementFixed | LineCode::GroupementVariable => Offer::GroupementAchats.label(),
        LineCode::Level1Overrun => "Niveau 1 au-delà des franchises",
        LineCode::PassThrough | LineCode::SharedCostShare => "Refacturations à prix coûtant",
    }
}

/// Amounts summed under labels, in the order the labels first come.
fn grouped<'a>(amounts: impl IntoIterator<Item = (&'a str, Cents)>) -> Vec<(&'a str, Cents)> {
    let mut groups: Vec<(&str, Cents)> = Vec::new();
    for (label, amount) in amounts {
        match groups.iter_mut().find(|(known, _)| *known == label) {
            Some((_, total)) => *total = total.saturating_add(amount),
            None => groups.push((label, amount)),
        }
    }
    groups
}

fn money_bars<'a>(groups: &[(&'a str, Cents)], class: &'static str) -> Vec<Bar<'a>> {
    groups
        .iter()
        .map(|&(label, cents)| Bar {
            label,
            value: cents,
            shown: format_eur(cents),
            class,
        })
        .collect()
}

pub(super) fn by_offer_and_bracket(page: &Page<'_>) -> String {
    let report = page.report;
    // Line codes are ordered socle complet first, refunds last: so are the groups.
    let offers = grouped(
        report
            .totals_by_code
            .iter()
            .map(|(&code, &cents)| (heading(code), cents)),
    );
    let mut by_population: Vec<&MemberSummary> = page.members.iter().collect();
    by_population.sort_by_key(|member| member.population);
    let brackets = grouped(
        by_population
            .iter()
            .map(|member| (member.bracket.as_str(), member.total_cents.unwrap_or(0))),
    );
    let deduction = report
        .totals_by_code
        .get(&LineCode::AuditDeduction)
        .copied()
        .unwrap_or(0);
    let note = if deduction == 0 {
        String::new()
    } else {
        format!(
            r#"<p class="note">Socle complet net des audits déduits de la première année ({}).</p>"#,
            escape(&format_eur(deduction))
        )
    };
    format!(
        r#"<section><h2>D'où viennent les recettes</h2><div class="columns"><div>{}{note}</div><div>{}<p class="note">Total titré de chaque tranche de population, refacturations comprises.</p></div></div>{}</section>"#,
        bars("Par offre", &money_bars(&offers, "fill-1")),
        bars(
            "Par tranche de population",
            &money_bars(&brackets, "fill-2")
        ),
        members_by_offer(
            report,
            &brackets.iter().map(|&(label, _)| label).collect::<Vec<_>>()
        ),
    )
}

/// Who holds which offer in which bracket, as the report counts them: one
/// row per offer, one column per bracket (in `brackets` order, then any the
/// members did not show), and the offer's total.
fn members_by_offer(report: &AnnualReport, brackets: &[&str]) -> String {
    let mut columns: Vec<&str> = brackets.to_vec();
    let mut offers: Vec<Offer> = Vec::new();
    for count in &report.members_by_offer {
        if !columns.contains(&count.bracket.as_str()) {
            columns.push(&count.bracket);
        }
        if !offers.contains(&count.offer) {
            offers.push(count.offer);
        }
    }
    let mut html = String::from(
        r#"<table class="data matrix"><caption>Membres par offre et par tranche de population</caption><thead><tr><th>Offre</th>"#,
    );
    for bracket in &columns {
        let _ = write!(html, r#"<th class="num">{}</th>"#, escape(bracket));
    }
    html.push_str(r#"<th class="num">Total</th></tr></thead><tbody>"#);
    for offer in offers {
        let _ = write!(html, "<tr><td>{}</td>", escape(offer.label()));
        let mut total = 0_u64;
        for bracket in &columns {
            match report
                .members_by_offer
                .iter()
                .find(|count| count.offer == offer && count.bracket == *bracket)
            {
                Some(count) => {
                    total += u64::from(count.members);
                    let _ = write!(
                        html,
                        r#"<td class="num">{}</td>"#,
                        format_count(u64::from(count.members))
                    );
                }
                None => {
                    let _ = write!(html, r#"<td class="num">{NONE}</td>"#);
                }
            }
        }
        let _ = write!(
            html,
            r#"<td class="num"><strong>{}</strong></td></tr>"#,
            format_count(total)
        );
    }
    html.push_str("</tbody></table>");
    html
}

pub(super) fn staffing(report: &AnnualReport) -> String {
    let staffing = &report.staffing;
    let per_etp = if staffing.etp > 0 {
        format!(
            " × {}",
            format_eur(staffing.cost_cents / i64::from(staffing.etp))
        )
    } else {
        String::new()
    };
    let cost = format!("Coût du personnel : {} ETP{per_etp}", staffing.etp);
    let rows = [
        Bar {
            label: &cost,
            value: staffing.cost_cents,
            shown: format_eur(staffing.cost_cents),
            class: "fill-3",
        },
        Bar {
            label: "Contributions des membres",
            value: report.contributions_cents,
            shown: format_eur(report.contributions_cents),
            class: "fill-1",
        },
    ];
    let coverage = report.coverage_basis_points.map_or_else(
        || "Aucun ETP n'est dû pour cet exercice.".to_owned(),
        |basis_points| {
            format!(
                "Les contributions couvrent {} du coût des ETP.",
                format_percent(basis_points)
            )
        },
    );
    format!(
        r#"<section><h2>Coût des ETP et contributions</h2>{}<p class="note">{} Le niveau de personnel suit le préambule de l'article 7 : 1 ETP dès la première adhésion, 2 ETP de 10 à 20 membres au socle complet, 3 ETP au-delà. Les refacturations à prix coûtant ne sont pas des contributions.</p></section>"#,
        bars(&format!("Exercice {}", report.exercise), &rows),
        escape(&coverage)
    )
}

pub(super) fn level1(report: &AnnualReport) -> String {
    let level1 = &report.level1;
    let year = format!(
        "franchises {} : {} j",
        report.exercise,
        format_half_days_as_days(level1.allowance_half_days)
    );
    let convention = format!(
        "convention : {} j",
        format_half_days_as_days(CONVENTION_POOL_HALF_DAYS)
    );
    let as_value = |half_days: u64| i64::try_from(half_days).unwrap_or(i64::MAX);
    let marks = [
        Mark {
            at: as_value(level1.allowance_half_days),
            label: &year,
        },
        Mark {
            at: as_value(CONVENTION_POOL_HALF_DAYS),
            label: &convention,
        },
    ];
    format!(
        r#"<section><h2>Ingénierie de niveau 1</h2>{}<p class="note">{} jours réalisés (toutes communes), dont {} à des communes ayant dépassé leur franchise. Franchises {} : somme des franchises annuelles des membres au socle complet ; la convention (article 3.2) prévoit 117 jours pour 30 communes.</p></section>"#,
        gauge(
            as_value(level1.used_half_days),
            &format!(
                "réalisé : {} j",
                format_half_days_as_days(level1.used_half_days)
            ),
            &marks
        ),
        escape(&format_half_days_as_days(level1.used_half_days)),
        plural(
            level1.billed_half_days,
            "demi-journée facturée",
            "demi-journées facturées"
        ),
        report.exercise,
    )
}

fn offers(member: &MemberSummary) -> String {
    let mut labels: Vec<&str> = member.offers.iter().map(|offer| offer.label()).collect();
    if member.audit_in_progress {
        labels.push("Audit en cours");
    }
    if labels.is_empty() {
        return NONE.to_owned();
    }
    escape(&labels.join(", "))
}

/// The members in force during the exercise, as many as the key figures'
/// adherents: each with its amount, 0 € and the reason when it owes
/// nothing, the population year its amounts count, and its departure when
/// it leaves during the exercise (whole year owed, ruling 6). Members not in
/// force are named under the table, not counted.
pub(super) fn members(page: &Page<'_>) -> String {
    let in_force: Vec<&MemberSummary> = page.members.iter().filter(|m| m.in_force).collect();
    let max = in_force
        .iter()
        .filter_map(|member| member.total_cents)
        .max()
        .unwrap_or(0);
    let mut html = String::from(
        r#"<section class="long"><h2>Contributions par membre</h2><table class="data"><thead><tr><th>Commune</th><th>INSEE</th><th class="num">Population<small>légale INSEE (année)</small></th><th>Offres</th><th class="num">Montant titré</th><th></th></tr></thead><tbody>"#,
    );
    let mut total: Cents = 0;
    for member in &in_force {
        let amount = match (member.total_cents, member.in_error) {
            (_, true) => r#"<span class="warn">non tarifé</span>"#.to_owned(),
            (Some(cents), false) => {
                total = total.saturating_add(cents);
                escape(&format_eur(cents))
            }
            (None, false) => escape(&format_eur(0)),
        };
        // Under the offers: why nothing is owed, or the departure.
        let mut leaves = member.leaves_on.map_or_else(String::new, |end| {
            format!(
                "<small>{}</small>",
                escape(&format!(
                    "départ le {} : l'année entière est due (règle 6)",
                    format_date(end)
                ))
            )
        });
        if let Some(reason) = &member.owes_nothing {
            let _ = write!(leaves, "<small>{}</small>", escape(reason));
        }
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{} <small class="inline">({})</small></td><td>{}{leaves}</td><td class="num">{amount}</td><td class="bar-cell">{}</td></tr>"#,
            escape(&member.display_name),
            escape(&member.insee_code),
            format_count(u64::from(member.population)),
            member.population_year,
            offers(member),
            bar(member.total_cents.unwrap_or(0), max, "fill-1"),
        );
    }
    let _ = write!(
        html,
        r#"</tbody><tfoot><tr><td colspan="4">Total ({}, {})</td><td class="num">{}</td><td></td></tr></tfoot></table>"#,
        plural(in_force.len() as u64, "membre", "membres"),
        plural(u64::from(page.report.statements), "titre", "titres"),
        escape(&format_eur(total))
    );
    let others: Vec<String> = page
        .members
        .iter()
        .filter(|m| !m.in_force)
        .map(|m| escape(&m.display_name))
        .collect();
    if !others.is_empty() {
        let _ = write!(
            html,
            r#"<p class="note">Sans adhésion en vigueur en {} (ni comptés ni titrés) : {}.</p>"#,
            page.report.exercise,
            others.join(", ")
        );
    }
    html.push_str(
        r#"<p class="note">Chaque montant par habitant compte la population légale INSEE de l'année indiquée entre parenthèses. Un membre qui quitte le service en cours d'exercice doit l'année entière (règle 6).</p></section>"#,
    );
    html
}

/// The columns of the inventory: the known meters recorded this exercise, in
/// [`INVENTORY_COLUMNS`] order, then any other recorded meter by name.
fn inventory_columns(members: &[MemberSummary]) -> Vec<(&str, &str, &str)> {
    let recorded: BTreeSet<&str> = members
        .iter()
        .filter_map(|member| member.inventory.as_ref())
        .flat_map(|totals| totals.keys().map(String::as_str))
        .collect();
    let known = INVENTORY_COLUMNS
        .iter()
        .copied()
        .filter(|(meter, _, _)| recorded.contains(meter));
    let other = recorded
        .iter()
        .filter(|meter| {
            !INVENTORY_COLUMNS
                .iter()
                .any(|(known, _, _)| known == *meter)
        })
        .map(|&meter| (meter, meter, ""));
    known.chain(other).collect()
}

pub(super) fn inventory(members: &[MemberSummary]) -> String {
    let columns = inventory_columns(members);
    let mut html = String::from(r#"<section class="long"><h2>Inventaire par membre</h2>"#);
    if columns.is_empty() {
        html.push_str("<p>Aucun relevé d'inventaire pour cet exercice.</p></section>");
        return html;
    }
    html.push_str(r#"<table class="data"><thead><tr><th>Commune</th>"#);
    for (_, heading, unit) in &columns {
        let _ = write!(
            html,
            r#"<th class="num">{}<small>{}</small></th>"#,
            escape(heading),
            escape(unit)
        );
    }
    html.push_str("</tr></thead><tbody>");
    let mut totals = vec![0_u64; columns.len()];
    for member in members {
        let _ = write!(html, "<tr><td>{}</td>", escape(&member.display_name));
        for ((meter, _, _), total) in columns.iter().zip(&mut totals) {
            match member
                .inventory
                .as_ref()
                .and_then(|quantities| quantities.get(*meter))
            {
                Some(&quantity) => {
                    *total = total.saturating_add(quantity);
                    let _ = write!(html, r#"<td class="num">{}</td>"#, format_count(quantity));
                }
                None => {
                    let _ = write!(html, r#"<td class="num">{NONE}</td>"#);
                }
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody><tfoot><tr><td>Total</td>");
    for total in totals {
        let _ = write!(html, r#"<td class="num">{}</td>"#, format_count(total));
    }
    html.push_str(
        r#"</tr></tfoot></table><p class="note">Quantités relevées par socle chaque mois de l'exercice, additionnées ; un relevé corrigé ne compte que par sa dernière correction. « — » : aucun relevé.</p></section>"#,
    );
    html
}

/// An error's French message; its English one where a caller gave no French.
fn french(error: &MemberError) -> &str {
    if error.message_fr.is_empty() {
        &error.message
    } else {
        &error.message_fr
    }
}

pub(super) fn errors(errors: &[MemberError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        r#"<section><h2>Membres non tarifés</h2><p>Ces membres n'ont pas de titre de recettes tant que le point signalé n'est pas réglé :</p><ul class="errors">"#,
    );
    for error in errors {
        let _ = write!(
            html,
            "<li><strong>{}</strong> : {}</li>",
            escape(&error.member),
            escape(french(error))
        );
    }
    html.push_str("</ul></section>");
    html
}

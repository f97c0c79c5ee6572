//! The document shows the engine's figures, every member, and nothing from
//! the data unescaped.

use std::collections::BTreeMap;

use jiff::civil::date;

use super::{Page, escape, render, sections::INVENTORY_COLUMNS};
use crate::{
    AnnualReport, Level1Pool, LineCode, METERS, MemberError, MemberSummary, MeterTotals, Offer,
    OfferCount, Staffing,
};

fn member(name: &str, display_name: &str, total_cents: Option<i64>) -> MemberSummary {
    MemberSummary {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        insee_code: "56001".to_owned(),
        population: 2355,
        population_year: 2021,
        in_force: true,
        leaves_on: None,
        owes_nothing: None,
        bracket: "de 1500 à moins de 3000 habitants".to_owned(),
        offers: vec![Offer::SocleComplet],
        audit_in_progress: false,
        total_cents,
        in_error: false,
        inventory: None,
    }
}

fn report() -> AnnualReport {
    AnnualReport {
        exercise: 2026,
        deliberation: "CC_2026_031 <grille>".to_owned(),
        members_by_offer: vec![OfferCount {
            offer: Offer::SocleComplet,
            bracket: "de 1500 à moins de 3000 habitants".to_owned(),
            members: 2,
        }],
        staffing: Staffing {
            adherents: 3,
            socle_complet_members: 2,
            etp: 1,
            cost_cents: 4_000_000,
        },
        contributions_cents: 1_106_500,
        pass_through_cents: 0,
        total_billed_cents: 1_106_500,
        coverage_basis_points: Some(2_766),
        totals_by_code: BTreeMap::from([
            (LineCode::SocleCompletFixed, 400_000),
            (LineCode::SocleCompletVariable, 706_500),
        ]),
        level1: Level1Pool {
            used_half_days: 27,
            allowance_half_days: 18,
            billed_half_days: 9,
        },
        statements: 2,
        members_in_error: 1,
    }
}

fn storage(quantity: u64) -> MeterTotals {
    MeterTotals::from([("storage-gib-months".to_owned(), quantity)])
}

fn page_html(members: &[MemberSummary], errors: &[MemberError]) -> String {
    render(&Page {
        report: &report(),
        members,
        errors,
        quality: &crate::QualityOfService::default(),
        drawn_up: date(2027, 1, 15),
    })
}

/// What a reader sees in the text, without the markup and with plain spaces.
fn text(html: &str) -> String {
    html.replace('\u{a0}', " ")
}

#[test]
fn shows_the_key_figures_in_french() {
    let members = [
        member("allaire", "Allaire", Some(553_250)),
        member("renac", "Renac", Some(553_250)),
    ];
    let html = text(&page_html(&members, &[]));
    for expected in [
        "Rapport annuel du service commun informatique — exercice 2026",
        "établi le 15/01/2027",
        "11 065,00 €",
        "1 ETP",
        "40 000,00 €",
        "27,66 %",
        "13,5 j sur 9 j",
        "réalisé : 13,5 j",
        "franchises 2026 : 9 j",
        "convention : 117 j",
        "9 demi-journées facturées",
        "Franchises 2026 : somme",
        "Total (2 membres, 2 titres)</td><td class=\"num\">11 065,00 €",
    ] {
        assert!(html.contains(expected), "{expected:?} missing");
    }
}

#[test]
fn every_text_from_the_data_is_escaped() {
    let mut odd = member("odd", r#"Saint-<b>Test</b> & "l'Oust""#, Some(100));
    odd.bracket = "<tranche>".to_owned();
    odd.inventory = Some(storage(3));
    let errors = [MemberError {
        member: "odd".to_owned(),
        message: "article 7.1 <override>".to_owned(),
        message_fr: "article 7.1 <override>".to_owned(),
    }];
    let html = page_html(&[odd], &errors);
    assert!(!html.contains("<b>Test"), "a name is markup");
    assert!(
        !html.contains("<tranche>") && !html.contains("<grille>") && !html.contains("<override>")
    );
    assert!(
        html.contains("Saint-&lt;b&gt;Test&lt;/b&gt; &amp; &quot;l&#39;Oust&quot;"),
        "the name is shown, escaped"
    );
    assert!(html.contains("article 7.1 &lt;override&gt;"));
    assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

#[test]
fn members_in_error_and_without_a_statement() {
    let mut avessac = member("avessac", "Avessac", None);
    avessac.in_error = true;
    let mut guemene = member("guemene-penfao", "Guémené-Penfao", None);
    guemene.offers.clear();
    guemene.audit_in_progress = true;
    guemene.owes_nothing = Some("audit en cours".to_owned());
    let errors = [MemberError {
        member: "avessac".to_owned(),
        message: "price to decide".to_owned(),
        message_fr: "tarif à décider".to_owned(),
    }];
    let html = page_html(
        &[avessac, guemene, member("renac", "Renac", Some(100))],
        &errors,
    );
    assert!(html.contains(r#"<span class="warn">non tarifé</span>"#));
    assert!(html.contains("Audit en cours"));
    assert!(
        text(&html)
            .contains("Audit en cours<small>audit en cours</small></td><td class=\"num\">0,00 €"),
        "a member owing nothing shows 0 € and why"
    );
    assert!(html.contains("Membres non tarifés"));
    assert!(html.contains("tarif à décider"));
    assert!(
        text(&html).contains("Total (3 membres, 2 titres)</td><td class=\"num\">1,00 €"),
        "only statements add up"
    );
}

#[test]
fn inventory_shows_units_and_a_dash_without_records() {
    let mut allaire = member("allaire", "Allaire", Some(100));
    allaire.inventory = Some(storage(1_232));
    let mut redon = member("redon", "Redon", Some(100));
    redon.inventory = Some(MeterTotals::from([
        ("storage-gib-months".to_owned(), 8),
        ("drills".to_owned(), 4),
        ("future-meter".to_owned(), 7),
    ]));
    let html = text(&page_html(
        &[allaire, member("renac", "Renac", Some(100)), redon],
        &[],
    ));
    let inventory = &html[html.find("Inventaire par membre").unwrap()..];
    assert!(inventory.contains("Stockage<small>Gio·mois</small>"));
    assert!(inventory.contains("Exercices de restauration<small>exercices</small>"));
    assert!(
        inventory.contains("future-meter"),
        "an unknown meter still shows"
    );
    assert!(
        !inventory.contains("Tunnel VPN"),
        "no column for a meter nobody recorded"
    );
    let renac = &inventory[inventory.find("Renac").unwrap()..];
    let renac = &renac[..renac.find("</tr>").unwrap()];
    assert_eq!(renac.matches('—').count(), 3, "{renac}");
    assert!(inventory.contains(r#"<td>Total</td><td class="num">1 240</td>"#));
}

#[test]
fn no_inventory_record_says_so() {
    let html = page_html(&[member("allaire", "Allaire", Some(100))], &[]);
    assert!(html.contains("Aucun relevé d'inventaire pour cet exercice."));
}

/// A meter added to the API gets a French heading and unit here.
#[test]
fn every_inventory_meter_has_a_heading() {
    for meter in METERS
        .iter()
        .filter(|meter| !["level1-half-days", "pass-through"].contains(meter))
    {
        assert!(
            INVENTORY_COLUMNS.iter().any(|(known, _, _)| known == meter),
            "{meter}"
        );
    }
}

/// The table counts the members in force, as the key figures do; one that
/// joins the next year is named under it, one that leaves during the
/// exercise says it owes the whole year, and each row its population year.
#[test]
fn the_table_counts_the_adherents_of_the_key_figures() {
    let mut leaving = member("allaire", "Allaire", Some(553_250));
    leaving.leaves_on = Some(date(2026, 8, 31));
    let mut joining = member("redon", "Redon", None);
    joining.in_force = false;
    let mut renac = member("renac", "Renac", Some(553_250));
    renac.population_year = 2022;
    let html = text(&page_html(&[leaving, renac, joining], &[]));
    let table = &html[html.find("Contributions par membre").unwrap()..];
    assert!(table.contains("Total (2 membres, 2 titres)"), "{table}");
    assert!(!table[..table.find("</table>").unwrap()].contains("Redon"));
    assert!(table.contains("Sans adhésion en vigueur en 2026 (ni comptés ni titrés) : Redon."));
    assert!(table.contains("départ le 31/08/2026 : l&#39;année entière est due (règle 6)"));
    assert!(table.contains(r#"2 355 <small class="inline">(2022)</small>"#));
}

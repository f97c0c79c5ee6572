//! `socle report --html` as the DSI runs it before the pilotage commission:
//! the binary on the example communes, its JSON and its HTML document.

use std::{fs, path::Path, process::Command};

use socle::contribution::{NBSP, format_eur, format_half_days_as_days, report::escape};

mod common;

use common::{copy_dir, examples};

/// A member whose name is full of markup: what the examples do not have.
const ODD_MEMBER: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata:
  name: test-odd
spec:
  displayName: "Saint-<b>Test</b> & l'Oust"
  inseeCode: "56999"
  population: { count: 1200, year: 2021 }
  subscriptions:
    - offer: SocleComplet
      effectiveDate: "2025-01-01"
"#;

/// Its inventory: drills recorded, then corrected.
const ODD_USAGE: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: UsageRecord
metadata: { name: test-odd-drills-2026-03, namespace: socle-system }
spec:
  member: test-odd
  meter: drills
  quantity: 5
  unit: drill
  exercise: 2026
  period: { start: "2026-03-01", end: "2026-03-31" }
  source: socle
---
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: UsageRecord
metadata: { name: test-odd-drills-2026-03-fix, namespace: socle-system }
spec:
  member: test-odd
  meter: drills
  quantity: 2
  unit: drill
  exercise: 2026
  period: { start: "2026-03-01", end: "2026-03-31" }
  source: dsi
  corrects: test-odd-drills-2026-03
"#;

/// One DrillReport as `kubectl get drillreports -o yaml` lists it.
fn drill(member: &str, finished_at: &str, rto: u64, target: u64, verdict: &str) -> String {
    format!(
        r#"
  - apiVersion: socle.redon-agglomeration.bzh/v1alpha1
    kind: DrillReport
    metadata: {{ name: drill-{member}-{finished_at}, namespace: socle-system }}
    spec:
      member: {member}
      backup: commune-{member}-first
      sandboxNamespace: drill-{member}
      startedAt: "2026-01-01T00:00:00Z"
      finishedAt: "{finished_at}"
      itemsRestored: 14
      checks: []
      measuredRtoSeconds: {rto}
      measuredRpoSeconds: 600
      rtoTargetSeconds: {target}
      rpoTargetSeconds: {target}
      verdict: {verdict}"#
    )
}

/// Restore drills as exported from the cluster: Allaire's two passed,
/// Redon's last one failed.
fn drills() -> String {
    format!(
        "apiVersion: v1\nkind: List\nitems:{}{}{}\n",
        drill("allaire", "2026-03-01T03:02:05Z", 125, 14_400, "Passed"),
        drill("allaire", "2026-11-01T03:05:00Z", 300, 14_400, "Passed"),
        drill("redon", "2026-10-01T04:30:00Z", 5_400, 3_600, "Failed"),
    )
}

/// The months the operator recorded, as `kubectl get qualityrecords -o
/// yaml` lists them: Allaire's backups two runs short in April and its
/// tunnel down an hour in March; Redon's backups stopped at the end of
/// October.
const QUALITY_RECORDS: &str = r#"
apiVersion: v1
kind: List
items:
  - apiVersion: socle.redon-agglomeration.bzh/v1alpha1
    kind: QualityRecord
    metadata: { name: allaire-2026-03, namespace: socle-system }
    spec:
      member: allaire
      month: "2026-03"
      backups:
        schedule: velero/commune-allaire
        cron: "7 1-23/4 * * *"
        rpoSeconds: 14400
        observedSince: "2026-03-01T00:00:00Z"
        longestGapSeconds: 14400
        missed: 0
      tunnels:
        - site: mairie
          observedSince: "2026-03-16T00:00:00Z"
          outageCount: 1
          downSeconds: 3600
          outages:
            - { from: "2026-03-20T10:00:00Z", to: "2026-03-20T11:00:00Z" }
  - apiVersion: socle.redon-agglomeration.bzh/v1alpha1
    kind: QualityRecord
    metadata: { name: allaire-2026-04, namespace: socle-system }
    spec:
      member: allaire
      month: "2026-04"
      backups:
        schedule: velero/commune-allaire
        cron: "7 1-23/4 * * *"
        rpoSeconds: 14400
        observedSince: "2026-04-01T00:00:00Z"
        longestGapSeconds: 43200
        longestGapEndedAt: "2026-04-12T09:07:20Z"
        missed: 2
        missedRuns: ["2026-04-11T21:07:00Z", "2026-04-12T01:07:00Z"]
  - apiVersion: socle.redon-agglomeration.bzh/v1alpha1
    kind: QualityRecord
    metadata: { name: redon-2026-10, namespace: socle-system }
    spec:
      member: redon
      month: "2026-10"
      backups:
        schedule: velero/commune-redon
        cron: "12 * * * *"
        rpoSeconds: 3600
        observedSince: "2026-10-01T00:00:00Z"
        longestGapSeconds: 3600
        overdueSince: "2026-10-31T20:12:30Z"
        missed: 3
"#;

/// Runs `socle report` on `input` for 2026; returns the JSON and the HTML.
fn report(input: &Path, html: &Path) -> (serde_json::Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_socle"))
        .args(["report", "--exercise", "2026", "--input"])
        .arg(input)
        .arg("--html")
        .arg(html)
        .output()
        .expect("the socle binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let json = serde_json::from_slice(&output.stdout).expect("the JSON report stays on stdout");
    (json, fs::read_to_string(html).unwrap())
}

fn member_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir.join("members"))
        .unwrap()
        .map(|entry| {
            let yaml = fs::read_to_string(entry.unwrap().path()).unwrap();
            let member: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            member["spec"]["displayName"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn cents(json: &serde_json::Value, field: &str) -> i64 {
    json[field].as_i64().unwrap()
}

#[test]
fn the_html_report_shows_the_json_figures_and_every_member() {
    let dir = std::env::temp_dir().join(format!("socle-report-{}", std::process::id()));
    let input = dir.join("input");
    copy_dir(&examples(), &input);
    fs::write(input.join("members/test-odd.yaml"), ODD_MEMBER).unwrap();
    fs::write(input.join("usage/test-odd.yaml"), ODD_USAGE).unwrap();
    fs::create_dir_all(input.join("evidence")).unwrap();
    fs::write(input.join("evidence/drills-2026.yaml"), drills()).unwrap();
    fs::write(input.join("evidence/quality-2026.yaml"), QUALITY_RECORDS).unwrap();

    let (json, html) = report(&input, &dir.join("report.html"));
    let names = member_names(&input);
    fs::remove_dir_all(&dir).unwrap();

    let total = format_eur(cents(&json, "totalBilledCents"));
    assert!(
        html.contains(&format!(r#"titres)</td><td class="num">{total}</td>"#)),
        "the members table adds up to the JSON total {total}"
    );
    assert!(html.contains(&format_eur(cents(&json, "contributionsCents"))));
    assert!(html.contains(&format_eur(json["staffing"]["costCents"].as_i64().unwrap())));
    assert_eq!(names.len(), 32, "the 31 communes and the odd one");
    for name in &names {
        assert!(html.contains(&escape(name)), "{name} missing");
    }
    assert!(!html.contains("<b>Test</b>"), "data became markup");
    assert!(html.contains("Saint-&lt;b&gt;Test&lt;/b&gt; &amp; l&#39;Oust"));

    let level1 = &json["level1"];
    let days =
        |half_days: &serde_json::Value| format_half_days_as_days(half_days.as_u64().unwrap());
    let html = html.replace(NBSP, " ");
    for expected in [
        format!("réalisé : {} j", days(&level1["usedHalfDays"])),
        format!("franchises 2026 : {} j", days(&level1["allowanceHalfDays"])),
        format!("{} demi-journées facturées", level1["billedHalfDays"]),
        "convention : 117 j".to_owned(),
    ] {
        assert!(html.contains(&expected), "{expected:?} missing");
    }

    // The header's adherents are the table's members, and the JSON's
    // members in force; each in force and owing nothing says why.
    let adherents = json["staffing"]["adherents"].as_u64().unwrap();
    assert!(
        html.contains(&format!("Total ({adherents} membres,")),
        "the table counts the {adherents} adherents of the key figures"
    );
    let members = json["members"].as_array().unwrap();
    let in_force: Vec<&serde_json::Value> =
        members.iter().filter(|m| m["inForce"] == true).collect();
    assert_eq!(in_force.len() as u64, adherents);
    for member in &in_force {
        assert!(
            member["totalCents"].is_i64()
                || member["inError"] == true
                || member["owesNothing"].is_string(),
            "{member}"
        );
        assert!(member["populationYear"].is_u64());
    }

    check_quality(&json, &html);

    let inventory = &html[html.find("Inventaire par membre").unwrap()..];
    let odd = &inventory[inventory.find("Saint-&lt;b&gt;").unwrap()..];
    let odd = &odd[..odd.find("</tr>").unwrap()];
    assert!(
        odd.contains(r#"<td class="num">2</td>"#),
        "only the correction counts: {odd}"
    );
}

/// The quality-of-service figures of `member` in the report's JSON.
fn quality_of(quality: &serde_json::Value, member: &str) -> serde_json::Value {
    quality["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == member)
        .unwrap_or_else(|| panic!("{member} in the quality of service"))
        .clone()
}

/// The quality of service, from the DrillReports of the directory: the
/// JSON's figures and the section's verdicts in plain French.
fn check_quality(json: &serde_json::Value, html: &str) {
    let quality = &json["qualityOfService"];
    assert_eq!(quality["drills"], 3);
    assert_eq!(quality["passed"], 2);
    let member = |name: &str| quality_of(quality, name);
    let allaire = member("allaire");
    assert_eq!(allaire["drillVerdict"], "Good");
    assert_eq!(allaire["worstRtoSeconds"], 300);
    assert_eq!(member("redon")["verdict"], "Failing");
    assert_eq!(member("peillac")["verdict"], "NoDrill");
    let section = &html[html
        .find("<h2>Qualité de service</h2>")
        .expect("the section")..];
    let section = &section[..section.find("</section>").unwrap()];
    for expected in [
        "2 exercices de restauration réussis sur 3",
        "les 2 exercices de restauration ont réussi, restauration dans les délais du niveau Standard",
        "le dernier exercice de restauration, le 01/10/2026, a échoué",
        "5 min sur 4 h",
        "1 h 30 sur 1 h",
    ] {
        assert!(
            section.contains(expected),
            "{expected:?} missing: {section}"
        );
    }
    assert!(html.contains("Qualité de service</div>"), "a key figure");
    check_recorded(quality, section);
}

/// The months the operator recorded: backups against their objective,
/// runs missed, the tunnel's availability, per member and per tier, and
/// the key figure.
fn check_recorded(quality: &serde_json::Value, section: &str) {
    let member = |name: &str| quality_of(quality, name);
    let allaire = member("allaire");
    assert_eq!(allaire["backups"]["missed"], 2);
    assert_eq!(allaire["backups"]["longestGapSeconds"], 43_200);
    assert_eq!(allaire["backupVerdict"], "Watch");
    assert_eq!(
        allaire["verdict"], "Watch",
        "its drills passed, its backups did not all"
    );
    // Watched from 16 March to the end of it, one hour down.
    let watched: u64 = 16 * 86_400;
    assert_eq!(allaire["tunnels"]["observedSeconds"], watched);
    assert_eq!(allaire["tunnels"]["downSeconds"], 3600);
    assert_eq!(
        allaire["tunnels"]["availabilityBasisPoints"],
        (watched - 3600) * 10_000 / watched
    );
    let redon = member("redon");
    assert_eq!(redon["backups"]["overdueAtEnd"], true);
    assert_eq!(redon["backupVerdict"], "Failing");
    assert_eq!(quality["backupsMissed"], 5);
    assert_eq!(quality["membersWithTunnel"], 1);
    let standard = quality["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "Standard")
        .unwrap();
    assert_eq!(standard["backupsMissed"], 2);
    for expected in [
        "5 sauvegardes planifiées manquées, 2 communes dont les sauvegardes ont dépassé l'objectif (RPO)",
        "sauvegardes en retard sur l'objectif de 4 h (au plus 12 h entre deux sauvegardes, 2 sauvegardes planifiées manquées)",
        "tunnel VPN disponible 99,73 % du temps (1 coupure)",
        "la dernière sauvegarde est plus ancienne que l'objectif de 1 h",
        "Par niveau de sauvegarde (PRI)",
        "Disponibilité des tunnels VPN sur le temps observé",
    ] {
        assert!(
            section.contains(&escape(expected)),
            "{expected:?} missing: {section}"
        );
    }
}

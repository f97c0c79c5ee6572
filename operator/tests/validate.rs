//! `socle validate` and `socle member new` as a pull-request check runs them:
//! the binary, its output and its exit status.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

mod common;

use common::{copy_dir, examples};

fn socle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_socle"))
        .args(args)
        .output()
        .expect("the socle binary runs")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn the_examples_pass() {
    let examples = examples();
    let output = socle(&["validate", examples.to_str().unwrap()]);
    assert_eq!(stdout(&output), "", "{}", stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// Each `# MISTAKE:` of the fixtures gets exactly one message, at its line.
#[test]
fn broken_manifests_get_one_precise_message_per_mistake() {
    let dir = repository().join("operator/tests/fixtures/broken");
    let output = socle(&["validate", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let prefix = format!("{}/", dir.display());
    let found: BTreeSet<String> = stdout(&output)
        .lines()
        .map(|line| line.replace(&prefix, ""))
        .collect();
    let expected: BTreeSet<String> = [
        r"members/avessac.yaml:8: Member avessac: spec.inseCode: unknown field (did you mean inseeCode?)",
        r"members/bains-sur-oust.yaml:8: Member bains-sur-oust: spec.inseeCode: 56001 is already the INSEE code of Member allaire (members/allaire.yaml:8); a commune adheres once (an associated public body sharing its commune's code has kind: EtablissementPublic)",
        r#"members/beganne.yaml:10: Member beganne: spec.population.count: must be an integer, not the string "1400" (write it without quotes)"#,
        r#"members/conquereuil.yaml:8: Member conquereuil: spec.inseeCode: "4404" does not match ^([0-9]{5}|2[AB][0-9]{3})$ (INSEE code of the commune: five characters, digits or 2A/2B for Corsica, e.g. "56001")"#,
        r"members/copie-allaire.yaml:5: Member allaire: metadata.name: Member allaire is already defined at members/allaire.yaml:5; names are unique per kind",
        r#"members/fegreac.yaml:13: Member fegreac: spec.subscriptions[0].offer: "Socle" is not one of Audit, GroupementAchats, SocleComplet"#,
        r"members/langon.yaml:15: Member langon: spec.subscriptions[0].endDate: article 2.4: the SocleComplet subscription effective 2025-09-01 cannot end on 2026-03-31: with 12 months of notice it ends on 2026-08-31 at the earliest (a written agreement of both parties may shorten the notice: cite it in the annotation socle.redon-agglomeration.bzh/notice-agreement)",
        r#"members/lieuron.yaml:3: Membre lieuron: kind: "Membre" is not a kind of socle.redon-agglomeration.bzh; its kinds are Member, SharedService, Tariff, UsageRecord, ContributionStatement, DrillReport, QualityRecord"#,
        r#"members/masserac.yaml:14: Member masserac: spec.subscriptions[0].effectiveDate: "2026-02-30" is not a date: write YYYY-MM-DD, e.g. "2026-01-01""#,
        r"members/nom-long.yaml:5: Member saint-vincent-sur-oust-et-saint-jean-la-poterie-en-pays-redon: metadata.name: the tenant namespace commune-saint-vincent-sur-oust-et-saint-jean-la-poterie-en-pays-redon would have 69 characters, more than 63: shorten metadata.name",
        r"members/peillac.yaml:17: Member peillac: spec.vpn.gateway: SharedService vpn-dc (category VpnGateway) does not exist",
        r#"members/pierric.yaml:7: Member pierric: metadata.labels["socle.redon-agglomeration.bzh/departement"]: must be a string: quote it, "44""#,
        r"members/pipriac.yaml:20: Member pipriac: spec.vpn.siteCidrs[1]: site network 192.168.10.128/25 overlaps site network 192.168.10.0/24 of Member allaire (members/allaire.yaml:20): two sites cannot announce the same addresses through the VPN hub",
        r"members/plesse.yaml:6: Member plesse: spec.tariffOverride: article 7.1 (*): the grid CC-2026-090 has no price for a population of 5000, so the grid does not apply; the member needs a tariffOverride decided by the pilotage commission (exercise 2027)",
        r"members/redon.yaml:6: Member redon: spec.tariffOverride: article 7.1 (*): the price grid does not apply above 8 000 inhabitants (Audit, SocleComplet) or to a member with its own IT department (SocleComplet); set spec.tariffOverride with the prices decided by the pilotage commission",
        r"members/renac.yaml:19: Member renac: spec.vpn.siteCidrs[0]: site network 10.200.1.0/24 of member renac overlaps the tunnel pool 10.200.0.0/22 (prefix 10.200.1.0/24)",
        r"members/rieux.yaml:18: Member rieux: spec.backup.target: SharedService sauvegarde (category BackupTarget, with spec.backupTarget) does not exist; fix the reference or create it",
        r#"members/saint-gorgon.yaml:5: Member Saint_Gorgon: metadata.name: "Saint_Gorgon" must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (it names the tenant namespace)"#,
        r#"members/sainte-marie.yaml:2: Member sainte-marie: apiVersion: "socle.redon-agglomeration.bz/v1alpha1" is not socle's API: did you mean socle.redon-agglomeration.bzh/v1alpha1?"#,
        r#"members/sixt-sur-aff.yaml:20: Member sixt-sur-aff: spec.backup.drill.schedule: "61 3 * * *" is not a five-field cron expression: Component error: Number out of bounds."#,
        r"members/syntax.yaml:9: not valid YAML: did not find expected ',' or ']' at line 9 column 1, while parsing a flow sequence at line 7 column 18",
        r#"members/thehillac.yaml:7: Member thehillac: spec.displayName: "Pipriac" is already the display name of Member pipriac (members/pipriac.yaml:7); the titres de recettes would not tell them apart"#,
        r"shared-services.yaml:48: SharedService bureautique-groupement: spec.subscribers.members[1].member: conquereil is not a Member defined here (did you mean conquereuil?); its share of bureautique-groupement would not be billed",
        r"tariffs.yaml:127: Tariff grille-2030: spec.grid.brackets[1].minPopulation: starts at 1600 but bracket 0 ends at 1499: populations 1500 to 1599 fall in no bracket",
        r"usage/level1-2026.yaml:25: UsageRecord allair-level1-half-days-2026-05-04: spec.member: allair is not a Member defined here (did you mean allaire?); the record would not be billed",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing: {missing:#?}\nunexpected: {unexpected:#?}"
    );
    // One message per marked mistake, none for the valid objects.
    let marked = count_marks(&dir);
    assert_eq!(found.len(), marked, "{found:#?}");
    assert!(
        stderr(&output).contains("25 mistakes in 25 files"),
        "{}",
        stderr(&output)
    );
}

fn count_marks(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            if path.is_dir() {
                count_marks(&path)
            } else if path.extension().is_some_and(|e| e == "yaml") {
                std::fs::read_to_string(&path)
                    .unwrap()
                    .matches("# MISTAKE:")
                    .count()
            } else {
                0
            }
        })
        .sum()
}

#[test]
fn github_annotations_point_at_the_line() {
    let dir = repository().join("operator/tests/fixtures/broken/usage");
    let output = socle(&["validate", "--format", "github", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.starts_with("::error file="), "{text}");
    assert!(
        text.contains("level1-2026.yaml,line=25,title=socle validate::UsageRecord allair-"),
        "{text}"
    );
}

#[test]
fn an_unreadable_directory_exits_2() {
    let output = socle(&["validate", "/nonexistent/gitops"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/gitops"),
        "{}",
        stderr(&output)
    );
}

/// The Member `member new` prints passes `validate` beside the examples.
#[test]
fn a_new_adhesion_passes_validation_with_the_repository() {
    let output = socle(&[
        "member",
        "new",
        "--name",
        "guipry-messac",
        "--display-name",
        "Guipry-Messac",
        "--insee",
        "35176",
        "--population",
        "7063",
        "--offer",
        "SocleComplet",
        "--effective",
        "2026-01-01",
        "--deliberation",
        "DEL-2025-101",
        "--label",
        "socle.redon-agglomeration.bzh/vpn=true",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let manifest = stdout(&output);
    assert!(
        manifest.starts_with("# Adhesion of Guipry-Messac (INSEE 35176) to SocleComplet"),
        "{manifest}"
    );
    let repo = std::env::temp_dir().join(format!("socle-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    copy_dir(&examples(), &repo);
    std::fs::write(repo.join("members/guipry-messac.yaml"), &manifest).unwrap();
    let checked = socle(&["validate", repo.to_str().unwrap()]);
    std::fs::remove_dir_all(&repo).unwrap();
    assert_eq!(stdout(&checked), "");
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
}

#[test]
fn a_large_commune_without_override_is_refused_citing_article_7_1() {
    let output = socle(&[
        "member",
        "new",
        "--name",
        "redon",
        "--insee",
        "35236",
        "--population",
        "9312",
        "--offer",
        "SocleComplet",
        "--effective",
        "2026-01-01",
        "--deliberation",
        "DEL-2025-118",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "", "nothing is written");
    let errors = stderr(&output);
    assert!(errors.contains("article 7.1"), "{errors}");
    assert!(
        errors
            .contains("--override-fixed-cents --override-per-inhabitant-cents --override-decision"),
        "{errors}"
    );
}

/// Article 2.4, checked against a date: an `endDate` a few weeks after the
/// day of the check is refused unless the day notice was given is recorded
/// (`noticeDate`) and a full notice lies between them.
#[test]
fn an_end_date_closer_than_the_notice_is_refused_as_of_the_day_of_the_check() {
    let repo = std::env::temp_dir().join(format!("socle-validate-notice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    copy_dir(&examples(), &repo);
    let member = repo.join("members/saint-perreux.yaml");
    let original = std::fs::read_to_string(&member).unwrap();
    let leaving = |notice: &str| {
        original.replace(
            "      effectiveDate: \"2025-01-01\"\n",
            &format!(
                "      effectiveDate: \"2025-01-01\"\n      endDate: \"2027-01-31\"\n{notice}"
            ),
        )
    };
    let check = |text: String| {
        std::fs::write(&member, text).unwrap();
        socle(&["validate", "--as-of", "2026-12-05", repo.to_str().unwrap()])
    };
    let without = check(leaving(""));
    assert_eq!(without.status.code(), Some(1), "{}", stderr(&without));
    let prefix = format!("{}/", repo.display());
    assert_eq!(
        stdout(&without).replace(&prefix, ""),
        "members/saint-perreux.yaml:16: Member saint-perreux: spec.subscriptions[0].endDate: article 2.4: \
         the SocleComplet subscription effective 2025-01-01 cannot end on 2027-01-31: notice given no earlier \
         than 2026-12-05 runs 12 months, to 2027-12-04; if it was given before, record the day in noticeDate \
         (a written agreement of both parties may shorten the notice: cite it in the annotation \
         socle.redon-agglomeration.bzh/notice-agreement)\n"
    );
    let late = check(leaving("      noticeDate: \"2026-03-01\"\n"));
    assert_eq!(late.status.code(), Some(1), "{}", stdout(&late));
    assert!(
        stdout(&late)
            .contains("notice given on 2026-03-01 (noticeDate) runs 12 months, to 2027-02-28"),
        "{}",
        stdout(&late)
    );
    let given = check(leaving("      noticeDate: \"2026-01-31\"\n"));
    std::fs::remove_dir_all(&repo).unwrap();
    assert_eq!(stdout(&given), "");
    assert_eq!(given.status.code(), Some(0), "{}", stderr(&given));
}

#[test]
fn a_directory_without_socle_objects_does_not_pass() {
    // A real directory of YAML, but not the GitOps repository's socle part.
    let dir = repository().join("crds");
    let output = socle(&["validate", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no socle object found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_yaml_error_is_a_mistake_for_validate_and_contribution_alike() {
    let dir = std::env::temp_dir().join(format!("socle-yaml-error-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("allaire.yaml"),
        "apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: Member\nmetadata: {name: allaire\n",
    )
    .unwrap();
    let path = dir.to_str().unwrap();
    let validated = socle(&["validate", path]);
    let priced = socle(&["contribution", "--input", path, "--exercise", "2026"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(validated.status.code(), Some(1), "{}", stderr(&validated));
    assert_eq!(priced.status.code(), Some(1), "{}", stderr(&priced));
    assert!(
        stderr(&priced).contains("allaire.yaml:"),
        "{}",
        stderr(&priced)
    );
}

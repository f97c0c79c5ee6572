//! The rules of both layers on small inline repositories.

use super::*;
use crate::manifests::ManifestFile;

const GATEWAY: &str = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: SharedService
metadata: {name: hub}
spec:
  displayName: Hub
  category: VpnGateway
  serviceLevel: 3
  hosting: Datacenter
  vpnGateway: {publicEndpoint: "vpn.example.bzh:51820", tunnelPoolCidr: 10.200.0.0/22, namespace: socle-vpn}
"#;

fn member(name: &str, insee: &str, body: &str) -> String {
    format!(
        r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: Member
metadata: {{name: {name}}}
spec:
  displayName: {name}
  inseeCode: "{insee}"
  population: {{count: 2000, year: 2021}}
{body}"#
    )
}

fn socle_complet(effective: &str) -> String {
    format!("  subscriptions: [{{offer: SocleComplet, effectiveDate: \"{effective}\"}}]\n")
}

fn vpn(cidrs: &str) -> String {
    format!(
        "{}  vpn:\n    gateway: hub\n    siteCidrs: {cidrs}\n    router: {{address: r.example, dialect: openwrt, hostKey: \"ssh-ed25519 AAAA\", credentialsSecret: r}}\n",
        socle_complet("2026-01-01")
    )
}

/// The messages (without file and line) of a repository made of `documents`.
fn messages(documents: &[&str]) -> Vec<String> {
    findings(documents).into_iter().map(|f| f.message).collect()
}

fn findings(documents: &[&str]) -> Vec<Finding> {
    let file = ManifestFile {
        path: "repo.yaml".into(),
        text: documents.join("---\n"),
    };
    check(&file.documents().unwrap(), &Options::default()).findings
}

#[test]
fn a_valid_repository_has_nothing_to_say() {
    let a = member("a", "56001", &vpn("[192.168.10.0/24]"));
    assert_eq!(messages(&[GATEWAY, &a]), Vec::<String>::new());
}

#[test]
fn overlapping_sites_are_reported_once_per_newcomer_at_the_later_member() {
    let a = member("a", "56001", &vpn("[192.168.10.0/24]"));
    let b = member("b", "56002", &vpn("[192.168.10.0/25]"));
    let c = member("c", "56003", &vpn("[192.168.0.0/16]"));
    let found = messages(&[GATEWAY, &a, &b, &c]);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("Member b: spec.vpn.siteCidrs[0]: site network 192.168.10.0/25 overlaps site network 192.168.10.0/24 of Member a (repo.yaml:"), "{found:#?}");
    assert!(found[1].starts_with("Member c: spec.vpn.siteCidrs[0]: site network 192.168.0.0/16 overlaps site network 192.168.10.0/24 of Member a"), "{found:#?}");
}

#[test]
fn a_site_overlapping_the_datacenter_is_refused_as_the_controller_would() {
    let a = member("a", "56001", &vpn("[192.168.1.0/24, 10.96.3.0/24]"));
    let found = findings(&[GATEWAY, &a]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "Member a: spec.vpn.siteCidrs[1]: site network 10.96.3.0/24 of member a overlaps the Datacenter range 10.96.0.0/12 (prefix 10.96.3.0/24)"
    );
    // The line of the list, as siteCidrs is written in flow style.
    assert_eq!(found[0].line, 23);
}

/// A commune with its town hall and its school, in `spec.vpn.sites`.
fn vpn_sites(hall: &str, school: &str, school_router: &str) -> String {
    format!(
        "{}  vpn:\n    gateway: hub\n    sites:\n      - name: mairie\n        siteCidrs: [{hall}]\n        router: {{address: r.example, dialect: openwrt, hostKey: \"ssh-ed25519 AAAA\", credentialsSecret: r}}\n      - name: ecole\n        siteCidrs: [{school}]\n        router: {{address: {school_router}, dialect: linux, hostKey: \"ssh-ed25519 BBBB\", credentialsSecret: r-ecole}}\n",
        socle_complet("2026-01-01")
    )
}

#[test]
fn each_site_of_a_commune_is_checked_at_its_own_entry() {
    let valid = member(
        "a",
        "56001",
        &vpn_sites("192.168.10.0/24", "192.168.11.0/24", "e.example"),
    );
    assert_eq!(messages(&[GATEWAY, &valid]), Vec::<String>::new());
    // Another member's town hall on the school's network: at the later member.
    let b = member("b", "56002", &vpn("[192.168.11.0/25]"));
    let found = messages(&[GATEWAY, &valid, &b]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("Member b: spec.vpn.siteCidrs[0]: site network 192.168.11.0/25 overlaps site network 192.168.11.0/24 of Member a (site ecole) (repo.yaml:"),
        "{found:#?}"
    );
    // The school overlapping its own town hall, at the school's entry.
    let own = member(
        "c",
        "56003",
        &vpn_sites("192.168.20.0/24", "192.168.20.128/25", "e.example"),
    );
    let found = findings(&[GATEWAY, &own]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "Member c: spec.vpn.sites[0].siteCidrs[0]: site network 192.168.20.0/24 of member c overlaps site network 192.168.20.128/25 of member c (site ecole) (prefix 192.168.20.128/25)"
    );
    // Two sites behind one router.
    let shared = member(
        "d",
        "56004",
        &vpn_sites("192.168.30.0/24", "192.168.31.0/24", "r.example"),
    );
    let found = messages(&[GATEWAY, &shared]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("Member d: spec.vpn.sites[1].router: sites mairie and ecole name the same router r.example:22"),
        "{found:#?}"
    );
}

#[test]
fn moving_up_to_the_socle_complet_is_not_a_termination() {
    let body = r#"  subscriptions:
    - {offer: GroupementAchats, effectiveDate: "2025-01-01", endDate: "2025-08-31"}
    - {offer: SocleComplet, effectiveDate: "2025-09-01", endDate: "2026-06-30"}
"#;
    let found = messages(&[&member("a", "56001", body)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("Member a: spec.subscriptions[1].endDate: article 2.4: the SocleComplet subscription effective 2025-09-01 cannot end on 2026-06-30: with 12 months of notice it ends on 2026-08-31 at the earliest"), "{found:#?}");
}

#[test]
fn the_notice_is_the_tariffs() {
    let tariff = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../manifests/examples/tariff.yaml"
    ))
    .unwrap()
    .replace("noticeMonths: 12", "noticeMonths: 6");
    let body = r#"  subscriptions:
    - {offer: SocleComplet, effectiveDate: "2025-09-01", endDate: "2026-02-28"}
"#;
    assert_eq!(
        messages(&[&tariff, &member("a", "56001", body)]),
        Vec::<String>::new()
    );
}

#[test]
fn an_associated_public_body_shares_its_communes_insee_code() {
    let commune = member("allaire", "56001", &socle_complet("2026-01-01"));
    let ccas = member("ccas-allaire", "56001", &socle_complet("2026-01-01"))
        .replace("spec:\n", "spec:\n  kind: EtablissementPublic\n");
    assert_eq!(messages(&[&commune, &ccas]), Vec::<String>::new());
    let twin = member("allaire-2", "56001", &socle_complet("2026-01-01"));
    let found = messages(&[&commune, &twin]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with(
        "Member allaire-2: spec.inseeCode: 56001 is already the INSEE code of Member allaire"
    ));
}

#[test]
fn a_reference_to_an_invalid_object_is_not_reported_twice() {
    // The member is wrong (its INSEE code); the usage record naming it is not.
    let bad = member("a", "5600", &socle_complet("2026-01-01"));
    let usage = r#"
apiVersion: socle.redon-agglomeration.bzh/v1alpha1
kind: UsageRecord
metadata: {name: a-level1, namespace: socle-system}
spec: {member: a, meter: level1-half-days, quantity: 2, unit: half-day, exercise: 2026, period: {start: "2026-03-01", end: "2026-03-01"}, source: dsi}
"#;
    let found = messages(&[&bad, usage]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("Member a: spec.inseeCode:"),
        "{found:#?}"
    );
}

#[test]
fn two_tariffs_for_the_same_exercise_are_ambiguous() {
    let tariff = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../manifests/examples/tariff.yaml"
    ))
    .unwrap();
    let copy = tariff.replace("name: convention-cadre", "name: copie");
    let found = messages(&[&tariff, &copy]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(
            "Tariff copie: spec.grid.validFromExercise: Tariff convention-cadre (repo.yaml:"
        ),
        "{found:#?}"
    );
}

#[test]
fn backups_need_a_host_and_an_unambiguous_target() {
    let target = |name: &str| {
        format!(
            "apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: SharedService\nmetadata: {{name: {name}}}\nspec: {{displayName: {name}, category: BackupTarget, serviceLevel: 3, hosting: Datacenter, backupTarget: {{veleroNamespace: velero, storageLocation: s3}}}}\n"
        )
    };
    let audit = "  subscriptions: [{offer: Audit, effectiveDate: \"2026-01-01\"}]\n  backup: {tier: Essential}\n";
    let found = messages(&[&target("one"), &target("two"), &member("a", "56001", audit)]);
    assert_eq!(
        found,
        [
            "Member a: spec.backup.target: is needed: there are several BackupTarget services (one, two)",
            "Member a: spec.backup: the member is never hosted (no spec.tenant, no SocleComplet subscription): there is nothing to back up",
        ]
    );
}

#[test]
fn an_unknown_version_and_missing_metadata_are_named() {
    let old = member("a", "56001", &socle_complet("2026-01-01")).replace("v1alpha1", "v1beta1");
    let nameless = "apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: Tariff\nspec: {}\n";
    let found = messages(&[&old, nameless]);
    assert_eq!(
        found,
        [
            "Member a: apiVersion: Member has no version \"v1beta1\"; use socle.redon-agglomeration.bzh/v1alpha1",
            "Tariff (no name): metadata.name: required field is missing",
            "Tariff (no name): spec.grid: required field is missing",
        ]
    );
}

#[test]
fn documents_of_other_apis_are_not_socles_to_check() {
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: socle-system}\n";
    let kustomization =
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [members]\n";
    let other_member = "apiVersion: example.org/v1\nkind: Member\nmetadata: {name: x}\n";
    assert_eq!(
        messages(&[namespace, kustomization, other_member]),
        Vec::<String>::new()
    );
}

#[test]
fn a_cel_rule_spanning_fields_is_checked_offline() {
    let body = r#"  subscriptions:
    - {offer: SocleComplet, effectiveDate: "2026-01-01", auditReportDate: "2026-03-01"}
"#;
    assert_eq!(
        messages(&[&member("a", "56001", body)]),
        ["Member a: spec.subscriptions: auditReportDate is only allowed on Audit subscriptions"]
    );
}

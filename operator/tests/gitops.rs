//! `socle gitops init` and the pull-request walk a technician does on the
//! repository it writes: the binary, its files, and `socle validate` on them.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Output},
};

const URL: &str = "ssh://git@git.example.org/dsi/socle-gitops.git";

fn socle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_socle"))
        .args(args)
        .output()
        .expect("the socle binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A directory removed when the test ends, even when it fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("socle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh repository from the template.
fn init(name: &str) -> TempDir {
    let repo = TempDir::new(name);
    let output = socle(&["gitops", "init", repo.path(), "--url", URL]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    repo
}

#[test]
fn a_fresh_repository_passes_the_check() {
    let repo = init("gitops-fresh");
    for path in [
        "members/kustomization.yaml",
        "usage/kustomization.yaml",
        "tarifs/convention-cadre.yaml",
        "services/vpn-datacenter.yaml",
        "platform/socle/crds/members.socle.redon-agglomeration.bzh.yaml",
        "platform/socle/install/deployment.yaml",
        "flux/socle.yaml",
        "argocd/apps/socle-platform.yaml",
        ".github/workflows/validate.yaml",
        ".gitlab-ci.yml",
        "README.md",
    ] {
        assert!(repo.0.join(path).is_file(), "{path} is missing");
    }
    let flux = std::fs::read_to_string(repo.0.join("flux/socle.yaml")).unwrap();
    assert!(flux.contains(&format!("url: {URL}\n")), "{flux}");
    let output = socle(&["validate", repo.path()]);
    assert_eq!(stdout(&output), "");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn init_never_overwrites_and_platform_rewrites_platform_alone() {
    let repo = init("gitops-twice");
    let readme = repo.0.join("README.md");
    std::fs::write(&readme, "ours\n").unwrap();
    let crd = repo
        .0
        .join("platform/socle/crds/members.socle.redon-agglomeration.bzh.yaml");
    std::fs::write(&crd, "stale\n").unwrap();
    let again = socle(&["gitops", "init", repo.path(), "--url", URL]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("README.md") && stderr(&again).contains("nothing written"),
        "{}",
        stderr(&again)
    );
    let upgrade = socle(&["gitops", "init", "--platform", repo.path(), "--url", URL]);
    assert_eq!(upgrade.status.code(), Some(0), "{}", stderr(&upgrade));
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), "ours\n");
    assert!(
        std::fs::read_to_string(&crd)
            .unwrap()
            .contains("kind: CustomResourceDefinition")
    );
}

fn write(repo: &TempDir, path: &str, text: &str) {
    let path = repo.0.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(repo: &TempDir, path: &str) -> String {
    std::fs::read_to_string(repo.0.join(path)).unwrap()
}

fn git(repo: &TempDir, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(&repo.0)
        .args(["-c", "user.name=DSI", "-c", "user.email=dsi@example.org"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
}

/// A member as `socle member new` writes it, listed in members/kustomization.yaml.
fn add_member(repo: &TempDir, name: &str, insee: &str) {
    let output = socle(&[
        "member",
        "new",
        "--name",
        name,
        "--insee",
        insee,
        "--population",
        "3286",
        "--offer",
        "SocleComplet",
        "--effective",
        "2026-01-01",
        "--deliberation",
        "DEL-2026-007",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    write(repo, &format!("members/{name}.yaml"), &stdout(&output));
    let list = read(repo, "members/kustomization.yaml").replace("resources: []\n", "resources:\n");
    write(
        repo,
        "members/kustomization.yaml",
        &format!("{list}  - {name}.yaml\n"),
    );
}

/// The findings of `socle validate` on `repo`, without the repository's path.
fn check(repo: &TempDir, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["validate"];
    all.extend(args);
    all.push(repo.path());
    let output = socle(&all);
    let prefix = format!("{}/", repo.path());
    (output.status.code(), stdout(&output).replace(&prefix, ""))
}

#[test]
fn a_file_no_kustomization_lists_is_never_applied_and_said_so() {
    let repo = init("gitops-unlisted");
    add_member(&repo, "guenrouet", "44068");
    assert_eq!(check(&repo, &[]), (Some(0), String::new()));
    let listed = read(&repo, "members/kustomization.yaml");
    write(
        &repo,
        "members/kustomization.yaml",
        &listed.replace("  - guenrouet.yaml\n", ""),
    );
    write(
        &repo,
        "members/kustomization.yaml",
        &(read(&repo, "members/kustomization.yaml") + "  - guenroue.yaml\n"),
    );
    let (code, found) = check(&repo, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        found,
        "members/guenrouet.yaml:1: Member guenrouet: members/kustomization.yaml does not list guenrouet.yaml: Flux and Argo CD would never apply it; add \"- guenrouet.yaml\" to its resources\n\
         members/kustomization.yaml:6: Kustomization: resources[0]: guenroue.yaml: no such file or directory beside members/kustomization.yaml: kustomize build fails, and with it the whole sync (Flux, Argo CD)\n"
    );
}

/// `kustomize build . | socle validate -`: what Flux and Argo CD apply.
#[test]
fn stdin_is_read_as_kustomize_build_output() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let mut built = String::new();
    for file in [
        "tariff.yaml",
        "shared-services.yaml",
        "members/allaire.yaml",
        "members/avessac.yaml",
        "members/plesse.yaml",
        "members/conquereuil.yaml",
    ] {
        built.push_str(&std::fs::read_to_string(examples.join(file)).unwrap());
        built.push_str("---\n");
    }
    let run = |text: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_socle"))
            .args(["validate", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let clean = run(&built);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}{}",
        stdout(&clean),
        stderr(&clean)
    );
    let broken = run(&built.replace("inseeCode: \"56001\"", "inseeCode: \"5600\""));
    assert_eq!(broken.status.code(), Some(1));
    let line = built
        .lines()
        .position(|l| l.contains("inseeCode: \"56001\""))
        .unwrap()
        + 1;
    assert!(
        stdout(&broken).starts_with(&format!(
            "<stdin>:{line}: Member allaire: spec.inseeCode: \"5600\" does not match"
        )),
        "{}",
        stdout(&broken)
    );
    let empty = run("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
    assert_eq!(empty.status.code(), Some(2), "{}", stderr(&empty));
}

/// The conflict is the pull request's: it is reported on the file it
/// changed, even when that file sorts first, and names the other.
#[test]
fn with_changed_since_a_conflict_is_reported_on_the_changed_file() {
    let repo = init("gitops-changed");
    add_member(&repo, "saint-nicolas-de-redon", "44192");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "the repository"]);
    git(&repo, &["checkout", "-q", "-b", "adhesion"]);
    // Copied from an existing member, and its INSEE code left as it was.
    add_member(&repo, "avessac", "44192");
    let without = check(&repo, &[]);
    assert_eq!(without.0, Some(1));
    assert!(
        without
            .1
            .starts_with("members/saint-nicolas-de-redon.yaml:"),
        "without --changed-since, the later file: {}",
        without.1
    );
    let (code, found) = check(&repo, &["--changed-since", "main"]);
    assert_eq!(code, Some(1));
    assert!(
        found.starts_with("members/avessac.yaml:11: Member avessac: spec.inseeCode: 44192 is already the INSEE code of Member saint-nicolas-de-redon (members/saint-nicolas-de-redon.yaml:11)"),
        "{found}"
    );
    assert_eq!(found.lines().count(), 1, "{found}");
}

/// Removing a Member is the last step of a departure: a warning, which
/// does not fail the check.
#[test]
fn a_removed_member_is_a_warning_that_does_not_fail_the_check() {
    let repo = init("gitops-removed");
    add_member(&repo, "guenrouet", "44068");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "the repository"]);
    std::fs::remove_file(repo.0.join("members/guenrouet.yaml")).unwrap();
    let list = read(&repo, "members/kustomization.yaml").replace("  - guenrouet.yaml\n", "");
    write(&repo, "members/kustomization.yaml", &list);
    let (code, found) = check(&repo, &["--changed-since", "main"]);
    assert_eq!(code, Some(0), "{found}");
    assert!(
        found.starts_with("members/guenrouet.yaml:6: warning: Member guenrouet: metadata.name: this change removes it"),
        "{found}"
    );
}

#[test]
fn a_usage_record_outside_the_operators_namespace_is_refused() {
    let repo = init("gitops-usage-namespace");
    add_member(&repo, "guenrouet", "44068");
    let record = "apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: UsageRecord\nmetadata:\n  name: guenrouet-level1-half-days-2026-03-12\n  namespace: default\nspec:\n  member: guenrouet\n  meter: level1-half-days\n  quantity: 3\n  exercise: 2026\n  period: {start: \"2026-03-12\", end: \"2026-03-12\"}\n";
    write(&repo, "usage/level1.yaml", record);
    write(
        &repo,
        "usage/kustomization.yaml",
        &read(&repo, "usage/kustomization.yaml")
            .replace("resources: []", "resources: [level1.yaml]"),
    );
    // usage/kustomization.yaml sets socle-system, as kustomize would.
    assert_eq!(check(&repo, &[]), (Some(0), String::new()));
    let (code, found) = check(&repo, &["--operator-namespace", "socle"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        found,
        "usage/level1.yaml:5: UsageRecord guenrouet-level1-half-days-2026-03-12: metadata.namespace: socle-system is not the operator's namespace, socle: socle reads UsageRecords there only, so this one would never be billed\n"
    );
    // Read on its own, the record says default.
    let output = socle(&[
        "validate",
        repo.0.join("usage/level1.yaml").to_str().unwrap(),
    ]);
    assert!(
        stdout(&output)
            .contains("metadata.namespace: default is not the operator's namespace, socle-system"),
        "{}",
        stdout(&output)
    );
}

const GUENROUET: [&str; 16] = [
    "--name",
    "guenrouet",
    "--display-name",
    "Guenrouët",
    "--insee",
    "44068",
    "--population",
    "3286",
    "--offer",
    "SocleComplet",
    "--effective",
    "2026-01-01",
    "--deliberation",
    "DEL-2026-007",
    "--siret",
    "21440068300015",
];

const HOSTING: [&str; 28] = [
    "--storage",
    "50Gi",
    "--admin-group",
    "commune-guenrouet-admins",
    "--vpn-gateway",
    "vpn-datacenter",
    "--site-cidr",
    "192.168.68.0/24",
    "--router-address",
    "routeur.mairie-guenrouet.example",
    "--router-dialect",
    "openwrt",
    "--router-host-key",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdBX7h8/vA7T5IkebD8DiWj9WHyDePlp36TsW2MltND",
    "--backup-tier",
    "Standard",
    "--backup-target",
    "sauvegarde-datacenter",
    "--drill",
    "0 3 1 * *",
    "--decision-maker",
    "Mairie de Guenrouët",
    "--decision-maker-role",
    "Maire",
    "--technical-contact",
    "Secrétariat de mairie",
    "--technical-contact-email",
    "mairie@guenrouet.example",
];

/// A whole adhesion in one command: the Member with its tenant, tunnel,
/// backups and contacts, the gateway's subscriber label, the file in
/// members/ and listed; then a Level-1 record the same way.
#[test]
fn the_generators_write_a_whole_pull_request_that_passes_the_check() {
    let repo = init("gitops-generators");
    let mut args = vec!["member", "new"];
    args.extend(GUENROUET);
    args.extend(HOSTING);
    args.extend(["--repo", repo.path(), "--write"]);
    let output = socle(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "", "written, not printed");
    let written = read(&repo, "members/guenrouet.yaml");
    let member: serde_yaml::Value = serde_yaml::from_str(&written).unwrap();
    let spec = &member["spec"];
    assert_eq!(
        member["metadata"]["labels"]["socle.redon-agglomeration.bzh/vpn"], "true",
        "{written}"
    );
    assert_eq!(spec["siret"], "21440068300015");
    assert_eq!(spec["tenant"]["storage"]["size"], "50Gi");
    assert_eq!(spec["tenant"]["adminGroups"][0], "commune-guenrouet-admins");
    assert_eq!(
        spec["vpn"]["router"]["credentialsSecret"],
        "router-guenrouet"
    );
    assert_eq!(spec["vpn"]["siteCidrs"][0], "192.168.68.0/24");
    assert_eq!(spec["backup"]["drill"]["schedule"], "0 3 1 * *");
    assert_eq!(
        spec["contacts"]["technical"]["email"],
        "mairie@guenrouet.example"
    );
    assert!(
        read(&repo, "members/kustomization.yaml").ends_with("resources:\n  - guenrouet.yaml\n")
    );

    let usage = socle(&[
        "usage",
        "new",
        "--member",
        "guenrouet",
        "--half-days",
        "3",
        "--mission",
        "Installation des postes",
        "--date",
        "2026-03-12",
        "--repo",
        repo.path(),
        "--write",
    ]);
    assert_eq!(usage.status.code(), Some(0), "{}", stderr(&usage));
    let record = read(&repo, "usage/guenrouet-level1-half-days-2026-03-12.yaml");
    // The fields DESIGN.md names, and no unit nor source: the meter implies
    // the one, the DSI is the other.
    assert!(
        !record.contains("unit:") && !record.contains("source:"),
        "{record}"
    );
    assert!(record.contains("  namespace: socle-system\n"), "{record}");
    assert_eq!(check(&repo, &[]), (Some(0), String::new()));

    // The same commune again: refused, naming the one already there.
    let mut again = vec!["member", "new"];
    again.extend(GUENROUET);
    again.extend(["--repo", repo.path()]);
    let twice = socle(&again);
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        stderr(&twice).contains("Member guenrouet is already defined at"),
        "{}",
        stderr(&twice)
    );
}

#[test]
fn a_generator_checks_references_only_with_the_repository() {
    let repo = init("gitops-references");
    let mut args = vec!["member", "new"];
    args.extend(GUENROUET);
    args.extend(HOSTING);
    // Alone, the gateway cannot be looked up: the manifest is printed.
    let alone = socle(&args);
    assert_eq!(alone.status.code(), Some(0), "{}", stderr(&alone));
    assert!(stdout(&alone).contains("gateway: vpn-datacenter"));
    // In the repository, a misspelt gateway is refused.
    let misspelt: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == "vpn-datacenter" {
                "vpn-datacentre"
            } else {
                a
            }
        })
        .chain(["--repo", repo.path()])
        .collect();
    let refused = socle(&misspelt);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused)
            .contains("SharedService vpn-datacentre (category VpnGateway) does not exist"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(stdout(&refused), "", "nothing is written");
    let usage = socle(&[
        "usage",
        "new",
        "--member",
        "guenroue",
        "--half-days",
        "3",
        "--mission",
        "x",
        "--date",
        "2026-03-12",
        "--repo",
        repo.path(),
    ]);
    assert_eq!(usage.status.code(), Some(1));
    assert!(
        stderr(&usage).contains("guenroue is not a Member defined here"),
        "{}",
        stderr(&usage)
    );
}

/// A member as `socle member new --repo` prints it (with its gateway's
/// labels), not yet written.
fn generated(repo: &TempDir, name: &str, insee: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "member",
        "new",
        "--name",
        name,
        "--insee",
        insee,
        "--population",
        "2100",
        "--offer",
        "SocleComplet",
        "--effective",
        "2025-01-01",
        "--deliberation",
        "DEL-2024-090",
        "--repo",
        repo.path(),
    ];
    args.extend(extra);
    let output = socle(&args);
    assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
    stdout(&output)
}

fn vpn(site: &str, host_key: &str) -> Vec<String> {
    [
        "--vpn-gateway",
        "vpn-datacenter",
        "--site-cidr",
        site,
        "--router-address",
        "routeur.example",
        "--router-dialect",
        "openwrt",
        "--router-host-key",
        host_key,
    ]
    .map(str::to_owned)
    .to_vec()
}

const HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdBX7h8/vA7T5IkebD8DiWj9WHyDePlp36TsW2MltND";

/// What `socle validate` says of the ten mistakes: one line each.
const TEN_MISTAKES: [&str; 10] = [
    "members/avessac.yaml:14: not valid YAML: found character that cannot start any token at line 14 column 1, while scanning for the next token",
    "members/bruc-sur-aff.yaml:24: Member bruc-sur-aff: spec.vpn.siteCidr: unknown field (did you mean siteCidrs?)",
    "members/conquereuil.yaml:11: Member conquereuil: spec.inseeCode: 35219 is already the INSEE code of Member pipriac (members/pipriac.yaml:11); a commune adheres once (an associated public body sharing its commune's code has kind: EtablissementPublic)",
    "members/fegreac.yaml:25: Member fegreac: spec.vpn.siteCidrs[0]: site network 192.168.10.0/25 overlaps site network 192.168.10.0/24 of Member allaire (members/allaire.yaml:25): two sites cannot announce the same addresses through the VPN hub",
    "members/guenrouet.yaml:1: Member guenrouet: members/kustomization.yaml does not list guenrouet.yaml: Flux and Argo CD would never apply it; add \"- guenrouet.yaml\" to its resources",
    "members/langon.yaml:30: Member langon: spec.vpn.router.hostKey: \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\" does not match ^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+$ (The router's SSH host key, pinned: \"ssh-ed25519 AAAA…\". socle never trusts a key on first use; a different key aborts the push)",
    "members/masserac.yaml:23: Member masserac: spec.vpn.gateway: SharedService vpn-datacentre (category VpnGateway) does not exist",
    "members/pipriac.yaml:20: Member pipriac: spec.subscriptions[0].endDate: article 2.4: the SocleComplet subscription effective 2025-01-01 cannot end on 2027-01-31: notice given no earlier than 2026-12-05 runs 12 months, to 2027-12-04; if it was given before, record the day in noticeDate (a written agreement of both parties may shorten the notice: cite it in the annotation socle.redon-agglomeration.bzh/notice-agreement)",
    "usage/kustomization.yaml:14: Kustomization: resources[1]: level1-avril.yaml: no such file or directory beside usage/kustomization.yaml: kustomize build fails, and with it the whole sync (Flux, Argo CD)",
    "usage/level1-mars.yaml:11: UsageRecord guenroue-level1-half-days-2026-03-12: spec.member: guenroue is not a Member defined here (did you mean guenrouet?); the record would not be billed",
];

/// The pull request: ten mistakes, each in a file of its own.
fn ten_mistakes(repo: &TempDir, pipriac: &str) {
    let member = |name: &str, insee: &str, extra: Vec<String>| {
        generated(
            repo,
            name,
            insee,
            &extra.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let mut listed = vec!["allaire", "pipriac"];
    // 1. A new member's file, not listed in members/kustomization.yaml.
    write(
        repo,
        "members/guenrouet.yaml",
        &member("guenrouet", "44068", vec![]),
    );
    // 2. Indented with a tab.
    let avessac = member("avessac", "35004", vec![])
        .replace("  population:\n    count", "  population:\n\tcount");
    write(repo, "members/avessac.yaml", &avessac);
    listed.push("avessac");
    // 3. A copy of pipriac's file, its INSEE code left as it was.
    write(
        repo,
        "members/conquereuil.yaml",
        &pipriac
            .replace("name: pipriac", "name: conquereuil")
            .replace("displayName: Pipriac", "displayName: Conquereuil"),
    );
    listed.push("conquereuil");
    // 4. A field misspelt by hand.
    let bruc = member("bruc-sur-aff", "35040", vpn("192.168.40.0/24", HOST_KEY))
        .replace("    siteCidrs:", "    siteCidr:");
    write(repo, "members/bruc-sur-aff.yaml", &bruc);
    listed.push("bruc-sur-aff");
    // 5. The town hall's network taken from Allaire's.
    let fegreac = member("fegreac", "44057", vpn("192.168.50.0/24", HOST_KEY))
        .replace("192.168.50.0/24", "192.168.10.0/25");
    write(repo, "members/fegreac.yaml", &fegreac);
    listed.push("fegreac");
    // 6. The router's key fingerprint where its key goes.
    let fingerprint = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    let langon =
        member("langon", "35149", vpn("192.168.60.0/24", HOST_KEY)).replace(HOST_KEY, fingerprint);
    write(repo, "members/langon.yaml", &langon);
    listed.push("langon");
    // 7. The gateway's name misspelt.
    write(
        repo,
        "members/masserac.yaml",
        &member("masserac", "44094", vpn("192.168.70.0/24", HOST_KEY))
            .replace("gateway: vpn-datacenter", "gateway: vpn-datacentre"),
    );
    listed.push("masserac");
    // 8. Notice of termination given today for the end of January.
    write(
        repo,
        "members/pipriac.yaml",
        &pipriac.replace(
            "    effectiveDate: \"2025-01-01\"\n",
            "    effectiveDate: \"2025-01-01\"\n    endDate: \"2027-01-31\"\n",
        ),
    );
    listed.sort_unstable();
    let entries = listed
        .iter()
        .fold(String::new(), |list, name| list + "  - " + name + ".yaml\n");
    write(
        repo,
        "members/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{entries}"
        ),
    );
    // 9. Level-1 half-days for a misspelt member.
    let record = socle(&[
        "usage",
        "new",
        "--member",
        "guenroue",
        "--half-days",
        "3",
        "--mission",
        "Postes",
        "--date",
        "2026-03-12",
    ]);
    write(repo, "usage/level1-mars.yaml", &stdout(&record));
    // 10. A file listed, but left out of the commit (or misnamed).
    write(
        repo,
        "usage/kustomization.yaml",
        &read(repo, "usage/kustomization.yaml").replace(
            "resources: []",
            "resources:\n  - level1-mars.yaml\n  - level1-avril.yaml",
        ),
    );
}

/// The mistakes a technician makes in a pull request, each caught at its
/// file and line, and nothing else said: the repository is a fresh one
/// from the template, two communes already merged, and a pull request
/// (`--changed-since main`) with ten mistakes in it.
#[test]
fn the_ten_mistakes_a_technician_makes_are_caught_at_their_line() {
    let repo = init("gitops-ten-mistakes");
    let allaire_vpn = vpn("192.168.10.0/24", HOST_KEY);
    let allaire = generated(
        &repo,
        "allaire",
        "56001",
        &allaire_vpn.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    write(&repo, "members/allaire.yaml", &allaire);
    let pipriac = generated(&repo, "pipriac", "35219", &[]);
    write(&repo, "members/pipriac.yaml", &pipriac);
    let list = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - allaire.yaml\n  - pipriac.yaml\n";
    write(&repo, "members/kustomization.yaml", list);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "two communes"]);
    assert_eq!(
        check(&repo, &["--as-of", "2026-12-05"]),
        (Some(0), String::new())
    );

    ten_mistakes(&repo, &pipriac);

    let (code, found) = check(&repo, &["--changed-since", "main", "--as-of", "2026-12-05"]);
    assert_eq!(code, Some(1), "{found}");
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines, TEN_MISTAKES, "{found}");
}

/// A kustomize patch is half a Member: it is not checked as one.
#[test]
fn a_kustomize_patch_is_not_an_incomplete_member() {
    let repo = init("gitops-patch");
    add_member(&repo, "guenrouet", "44068");
    write(
        &repo,
        "members/patches/guenrouet-storage.yaml",
        "apiVersion: socle.redon-agglomeration.bzh/v1alpha1\nkind: Member\nmetadata:\n  name: guenrouet\nspec:\n  tenant:\n    storage:\n      size: 80Gi\n",
    );
    let list = read(&repo, "members/kustomization.yaml");
    write(
        &repo,
        "members/kustomization.yaml",
        &format!("{list}patches:\n  - path: patches/guenrouet-storage.yaml\n"),
    );
    assert_eq!(check(&repo, &[]), (Some(0), String::new()));
    // Read alone, without its kustomization, it is an incomplete Member.
    let alone = socle(&["validate", repo.0.join("members/patches").to_str().unwrap()]);
    assert_eq!(alone.status.code(), Some(1));
    assert!(
        stdout(&alone).contains("spec.displayName: required field is missing"),
        "{}",
        stdout(&alone)
    );
}

/// The command each CI file runs is one socle understands, and passes on
/// a fresh repository: the line is taken from the file itself.
#[test]
fn the_ci_files_run_a_check_socle_understands() {
    let repo = init("gitops-ci");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "the repository"]);
    for (file, marker) in [
        (".github/workflows/validate.yaml", "run: socle validate "),
        (".gitlab-ci.yml", "- ./socle validate "),
    ] {
        let text = read(&repo, file);
        let line = text
            .lines()
            .find_map(|line| line.trim().strip_prefix(marker))
            .unwrap_or_else(|| panic!("{file} runs no socle validate"));
        // The shell's part: the base branch, as each CI names it.
        let line = line
            .replace("\"origin/${GITHUB_BASE_REF:-main}\"", "main")
            .replace("\"origin/$TARGET\"", "main");
        let mut args = vec!["validate"];
        args.extend(line.split_whitespace());
        let output = Command::new(env!("CARGO_BIN_EXE_socle"))
            .args(&args)
            .current_dir(&repo.0)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{file}: {args:?}: {}",
            stderr(&output)
        );
    }
}

//! `socle gitops init` and the pull-request walk a technician does on the
//! repository it writes: the binary, its files, and `socle validate` on them.

use std::{
    path::PathBuf,
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

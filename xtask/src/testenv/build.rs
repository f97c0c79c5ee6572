//! Builds etcd, kube-apiserver and kube-controller-manager from the Go module
//! proxy, once, into a cache outside the repository.
//!
//! `k8s.io/kubernetes` cannot be `go install`ed: its go.mod replaces every
//! staging module (`k8s.io/api`, `k8s.io/client-go`, …) by a local path. We
//! build it from a throwaway wrapper module that requires it and replaces each
//! staging module by its published `v0.Y.Z` twin, the list being read from
//! kubernetes' own go.mod at that version so a version bump needs no edit here.

use std::{
    fs,
    path::{Path, PathBuf},
};

use std::fmt::Write as _;

use anyhow::{Result, ensure};

use crate::go;

/// Kubernetes release of the control plane; k8s-openapi 0.29 is built with `v1_36`.
pub const KUBERNETES: &str = "v1.36.3";
/// etcd release, the 3.6 line that Kubernetes 1.36 is tested with.
pub const ETCD: &str = "v3.6.16";

/// Where the binaries of one version pair live: `~/.cache/socle/testenv/<versions>/bin`.
pub fn cache_dir() -> Result<PathBuf> {
    Ok(go::cache_root()?
        .join("testenv")
        .join(format!("kubernetes-{KUBERNETES}_etcd-{ETCD}")))
}

/// The three binaries the test environment runs.
#[derive(Debug)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
}

/// Returns the cached binaries, building whichever is missing.
pub fn ensure_binaries() -> Result<Binaries> {
    let dir = cache_dir()?;
    let bin = dir.join("bin");
    let binaries = Binaries {
        etcd: bin.join("etcd"),
        kube_apiserver: bin.join("kube-apiserver"),
        kube_controller_manager: bin.join("kube-controller-manager"),
    };
    if !binaries.etcd.exists() {
        eprintln!(
            "testenv: building etcd {ETCD} (first time only, cached in {})",
            dir.display()
        );
        build_etcd(&dir.join("src/etcd"), &bin)?;
    }
    if !binaries.kube_apiserver.exists() || !binaries.kube_controller_manager.exists() {
        eprintln!(
            "testenv: building kube-apiserver and kube-controller-manager {KUBERNETES} \
             (first time only: tens of minutes on 2 cores; cached in {})",
            dir.display()
        );
        build_kubernetes(&dir.join("src/kubernetes"), &bin)?;
    }
    Ok(binaries)
}

fn build_etcd(src: &Path, bin: &Path) -> Result<()> {
    fs::create_dir_all(src)?;
    fs::write(
        src.join("go.mod"),
        format!(
            "module socle.local/testenv/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 {ETCD}\n"
        ),
    )?;
    // The etcd command itself lives in the repository's root module; its whole
    // body is this call, so the wrapper carries it rather than pulling that module.
    fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\n\
         func main() { etcdmain.Main(os.Args) }\n",
    )?;
    go::run(src, &["mod", "tidy"])?;
    go::compile(src, bin, &["build", "-v", "-trimpath", "."], "etcd")
}

fn build_kubernetes(src: &Path, bin: &Path) -> Result<()> {
    fs::create_dir_all(src)?;
    let staging = staging_modules()?;
    ensure!(
        !staging.is_empty(),
        "no staging module found in k8s.io/kubernetes {KUBERNETES} go.mod"
    );
    let staging_version = format!("v0.{}", KUBERNETES.trim_start_matches("v1."));
    let replaces = staging.iter().fold(String::new(), |mut out, module| {
        let _ = writeln!(out, "\t{module} => {module} {staging_version}");
        out
    });
    fs::write(
        src.join("go.mod"),
        format!(
            "module socle.local/testenv/kubernetes\n\ngo 1.24\n\n\
             require k8s.io/kubernetes {KUBERNETES}\n\nreplace (\n{replaces})\n"
        ),
    )?;
    // `go mod tidy` needs the commands imported somewhere to resolve their deps.
    fs::write(
        src.join("tools.go"),
        "//go:build tools\n\npackage tools\n\nimport (\n\
         \t_ \"k8s.io/kubernetes/cmd/kube-apiserver\"\n\
         \t_ \"k8s.io/kubernetes/cmd/kube-controller-manager\"\n)\n",
    )?;
    go::run(src, &["mod", "tidy"])?;
    let ldflags = go::kubernetes_ldflags(KUBERNETES)?;
    go::compile(
        src,
        bin,
        &[
            "build",
            "-v",
            "-trimpath",
            "-ldflags",
            &ldflags,
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
        ],
        "kubernetes",
    )
}

/// The `k8s.io/<name>` modules that kubernetes' go.mod replaces by `./staging/…`.
fn staging_modules() -> Result<Vec<String>> {
    let text = go::module_go_mod("k8s.io/kubernetes", KUBERNETES)?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (module, target) = line.trim().split_once("=>")?;
            target
                .trim()
                .starts_with("./staging/")
                .then(|| module.trim().to_owned())
        })
        .collect())
}

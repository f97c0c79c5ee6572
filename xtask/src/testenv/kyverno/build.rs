//! Builds Kyverno's admission controller and background controller from the
//! Go module proxy, once, into a cache outside the repository (beside the
//! control plane's, Velero's and Flux's). Only `cargo xtask bench --peer
//! kyverno` asks for them: CI never builds Kyverno.
//!
//! Both are `package main` under `cmd/` of the module
//! `github.com/kyverno/kyverno`, so they are built from a copy of that
//! module, as Flux's controllers are: its go.mod's one `replace`
//! (pod-security-admission, by Kyverno's fork) points at another module, not
//! a local directory, and stays as Kyverno released it. `-mod=mod` records
//! the sums of what the build adds; never `go mod tidy` (it would download
//! every test's modules too).

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, ensure};

use crate::go;

/// The Kyverno release measured (issue 27 names it; the module proxy
/// serves it, and its go.mod asks for Go 1.26.6).
pub const VERSION: &str = "v1.19.1";
const MODULE: &str = "github.com/kyverno/kyverno";
/// The two binaries a `generate` rule needs: the admission controller
/// (webhooks; it turns each admission into an UpdateRequest) and the
/// background controller (which executes the UpdateRequests).
const COMMANDS: [&str; 2] = ["kyverno", "background-controller"];
/// The CRD directories of the module (`config/crds/<dir>`) the admission
/// controller's start-up checks ask for.
const CRD_DIRS: [&str; 4] = ["kyverno", "policies.kyverno.io", "reports", "policyreport"];

/// `~/.cache/socle/kyverno/<version>`.
pub fn cache_dir() -> Result<PathBuf> {
    Ok(go::cache_root()?.join("kyverno").join(VERSION))
}

/// What the bench runs.
#[derive(Debug)]
pub struct Binaries {
    pub admission_controller: PathBuf,
    pub background_controller: PathBuf,
    /// The CRDs, copied from the module at build time.
    pub crd_dir: PathBuf,
}

/// Returns the cached binaries, building them when one is missing.
pub fn ensure_binaries() -> Result<Binaries> {
    let dir = cache_dir()?;
    let bin = dir.join("bin");
    let binaries = Binaries {
        admission_controller: bin.join(COMMANDS[0]),
        background_controller: bin.join(COMMANDS[1]),
        crd_dir: dir.join("crds"),
    };
    if binaries.admission_controller.exists() && binaries.background_controller.exists() {
        return Ok(binaries);
    }
    eprintln!(
        "kyverno: building Kyverno {VERSION}'s admission and background controllers \
         (first time only; cached in {})",
        dir.display()
    );
    let src = dir.join("src");
    copy_module(&src)?;
    // The CRDs first: binaries in the cache mean their CRDs are there.
    copy_crds(&src, &binaries.crd_dir)?;
    let packages: Vec<String> = COMMANDS.iter().map(|c| format!("./cmd/{c}")).collect();
    let ldflags = format!("-s -w -X {MODULE}/pkg/version.BuildVersion={VERSION}");
    let mut args = vec![
        "build",
        "-v",
        "-mod=mod",
        "-trimpath",
        "-ldflags",
        ldflags.as_str(),
    ];
    args.extend(packages.iter().map(String::as_str));
    go::compile(&src, &bin, &args, "Kyverno")?;
    Ok(binaries)
}

/// A fresh, writable copy of the module in `src` (the module cache is
/// read-only; an interrupted build leaves no half-edited copy behind).
fn copy_module(src: &Path) -> Result<()> {
    let module = go::module_dir(MODULE, VERSION)?;
    let go_mod = fs::read_to_string(module.join("go.mod"))?;
    let local: Vec<_> = go::replace_directives(&go_mod)
        .into_iter()
        .filter(|(_, target)| go::is_local(target))
        .collect();
    ensure!(
        local.is_empty(),
        "Kyverno {VERSION}'s go.mod replaces modules by local directories, which a copy of \
         its module cannot follow: {local:?}"
    );
    go::copy_module(&module, src)
}

/// Every CRD of [`CRD_DIRS`] into `dest`.
fn copy_crds(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let mut copied = 0;
    for dir in CRD_DIRS {
        let from = src.join("config/crds").join(dir);
        for entry in fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "yaml") {
                fs::copy(&path, dest.join(path.file_name().context("a file name")?))?;
                copied += 1;
            }
        }
    }
    ensure!(copied > 0, "no CRD under {}/config/crds", src.display());
    Ok(())
}

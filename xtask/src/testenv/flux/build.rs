//! Builds Flux's source-controller and kustomize-controller from the Go
//! module proxy, once, into a cache outside the repository (beside the
//! control plane's and Velero's).
//!
//! Neither can be `go install`ed nor required by a wrapper: each is a
//! `package main` at its module's root, and its go.mod replaces its own API
//! module (`…/api`) by the local directory `./api`, which the module's zip
//! leaves out (it is a module of its own). So each is built from a copy of
//! its module: the local replacements dropped (the API module then comes
//! from the proxy, at the version the go.mod requires), then
//! `go build -mod=mod .`, which records the sums of what it adds. Its other
//! replacements (kustomize, go-digest, yaml.v3) stay as Flux released them.
//! Not `go mod tidy`: it would download the modules of every test too
//! (gigabytes more in the module cache, on a nearly full disk).

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, ensure};

use crate::go;

/// source-controller release: the GitRepository and its artifacts. The
/// newest release line whose go.mod this machine's Go (1.26) builds: v1.10
/// asks for Go 1.27.
pub const SOURCE_CONTROLLER: &str = "v1.9.6";
/// kustomize-controller release, of the same Flux release line.
pub const KUSTOMIZE_CONTROLLER: &str = "v1.9.6";

/// One controller: its module, version and binary name, and the modules
/// its go.mod requires at a version the module proxy refuses, each with the
/// version put in its place.
struct Controller {
    module: &'static str,
    version: &'static str,
    binary: &'static str,
    pins: &'static [(&'static str, &'static str)],
}

const CONTROLLERS: [Controller; 2] = [
    Controller {
        module: "github.com/fluxcd/source-controller",
        version: SOURCE_CONTROLLER,
        binary: "source-controller",
        // It requires v0.18.3, whose source the module proxy refuses to
        // serve (403 "not available"); v0.18.0 is the same minor.
        pins: &[("github.com/fluxcd/pkg/artifact", "v0.18.0")],
    },
    Controller {
        module: "github.com/fluxcd/kustomize-controller",
        version: KUSTOMIZE_CONTROLLER,
        binary: "kustomize-controller",
        pins: &[],
    },
];

/// Where one version pair lives:
/// `~/.cache/socle/flux/source-<v>_kustomize-<v>`.
pub fn cache_dir() -> Result<PathBuf> {
    Ok(go::cache_root()?.join("flux").join(format!(
        "source-{SOURCE_CONTROLLER}_kustomize-{KUSTOMIZE_CONTROLLER}"
    )))
}

/// What the test environment runs for GitOps.
#[derive(Debug)]
pub struct Binaries {
    pub source_controller: PathBuf,
    pub kustomize_controller: PathBuf,
    /// The controllers' CRDs, copied from their modules' `config/crd/bases`
    /// at build time, so that `up` needs no Go.
    pub crd_dir: PathBuf,
}

/// Returns the cached binaries, building whichever is missing.
pub fn ensure_binaries() -> Result<Binaries> {
    let dir = cache_dir()?;
    let bin = dir.join("bin");
    let binaries = Binaries {
        source_controller: bin.join("source-controller"),
        kustomize_controller: bin.join("kustomize-controller"),
        crd_dir: dir.join("crds"),
    };
    for controller in &CONTROLLERS {
        if bin.join(controller.binary).exists() {
            continue;
        }
        eprintln!(
            "testenv: building Flux's {} {} (first time only: 12-17 minutes for both on \
             2 cores; cached in {})",
            controller.binary,
            controller.version,
            dir.display()
        );
        // The CRDs first: a binary in the cache means its CRDs are there.
        copy_crds(controller, &binaries.crd_dir)?;
        build(controller, &dir.join("src").join(controller.binary), &bin)?;
    }
    Ok(binaries)
}

fn build(controller: &Controller, src: &Path, bin: &Path) -> Result<()> {
    let module = go::module_dir(controller.module, controller.version)?;
    go::copy_module(&module, src)?;
    let go_mod = fs::read_to_string(src.join("go.mod"))?;
    for module in local_replacements(&go_mod) {
        go::run(src, &["mod", "edit", &format!("-dropreplace={module}")])?;
    }
    for (module, version) in controller.pins {
        go::run(
            src,
            &[
                "mod",
                "edit",
                &format!("-replace={module}={module}@{version}"),
            ],
        )?;
    }
    // As their Makefiles build a release: static, stripped.
    go::compile(
        src,
        bin,
        &[
            "build",
            "-v",
            "-mod=mod",
            "-trimpath",
            "-tags",
            "netgo,osusergo,static_build",
            "-ldflags",
            "-s -w",
            ".",
        ],
        controller.binary,
    )
}

/// The CRDs of `controller`'s module, into `dest`.
fn copy_crds(controller: &Controller, dest: &Path) -> Result<()> {
    let bases = go::module_dir(controller.module, controller.version)?.join("config/crd/bases");
    fs::create_dir_all(dest)?;
    let mut copied = 0;
    for entry in fs::read_dir(&bases).with_context(|| format!("reading {}", bases.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let name = path.file_name().context("a file name")?;
            fs::write(dest.join(name), fs::read(&path)?)?;
            copied += 1;
        }
    }
    ensure!(copied > 0, "no CRD in {}", bases.display());
    Ok(())
}

/// The modules a go.mod replaces by a local directory (`=> ./api`), which a
/// copy of the module cannot follow: `module` or `module@version`, as
/// `-dropreplace` takes them.
fn local_replacements(go_mod: &str) -> Vec<String> {
    crate::go::replace_directives(go_mod)
        .into_iter()
        .filter(|(_, target)| crate::go::is_local(target))
        .map(|(module, _)| module.replace(' ', "@"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::local_replacements;

    #[test]
    fn local_replacements_only() {
        let go_mod = "module github.com/fluxcd/source-controller\n\ngo 1.26.0\n\n\
            replace github.com/fluxcd/source-controller/api => ./api\n\n\
            // Replace digest lib to master.\n\
            replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1\n\
            replace (\n\
            \tsigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1\n\
            \tk8s.io/b v0.1.0 => ../b\n\
            )\n";
        assert_eq!(
            local_replacements(go_mod),
            ["github.com/fluxcd/source-controller/api", "k8s.io/b@v0.1.0"]
        );
    }
}

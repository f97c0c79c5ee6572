//! Builds Velero, its AWS plugin and versitygw from the Go module proxy,
//! once, into a cache outside the repository (beside the control plane's).
//!
//! - `github.com/vmware-tanzu/velero` cannot be `go install`ed: its go.mod
//!   replaces kopia by Velero's fork. A throwaway wrapper module requires it
//!   and carries the same replacements, read from Velero's go.mod at that
//!   version so that a version bump needs no edit here.
//! - The plugin and versitygw replace nothing: `go install module@version`.

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::go;

/// Velero release, the one whose CRDs the end-to-end tests install
/// (`tests/support/velero.rs`).
pub const VELERO: &str = "v1.18.3";
/// velero-plugin-for-aws release, the S3 object store of Velero 1.18
/// (its compatibility table pairs 1.18 with plugin 1.14).
pub const AWS_PLUGIN: &str = "v1.14.3";
/// versitygw release: an S3 server over a plain directory.
pub const VERSITYGW: &str = "v1.8.0";
/// Velero 1.18.3 requires `k8s.io/cli-runtime v0.33.12`, whose source the
/// module proxy refuses to serve (as it does v0.33.11: 403 "not available").
/// The wrapper replaces it by v0.33.10, the same Kubernetes minor, leaving
/// every other `k8s.io` module at the version Velero was released with.
const CLI_RUNTIME: &str = "v0.33.10";

/// Where one version set lives:
/// `~/.cache/socle/velero/velero-<v>_aws-<v>_versitygw-<v>`.
pub fn cache_dir() -> Result<PathBuf> {
    Ok(go::cache_root()?.join("velero").join(format!(
        "velero-{VELERO}_aws-{AWS_PLUGIN}_versitygw-{VERSITYGW}"
    )))
}

/// What the test environment runs for backups.
#[derive(Debug)]
pub struct Binaries {
    pub velero: PathBuf,
    /// Velero's `--plugin-dir`: Velero runs every executable in it as a
    /// plugin, so it holds the AWS plugin and nothing else.
    pub plugin_dir: PathBuf,
    pub versitygw: PathBuf,
}

/// Returns the cached binaries, building whichever is missing.
pub fn ensure_binaries() -> Result<Binaries> {
    let dir = cache_dir()?;
    let bin = dir.join("bin");
    let binaries = Binaries {
        velero: bin.join("velero"),
        plugin_dir: dir.join("plugins"),
        versitygw: bin.join("versitygw"),
    };
    if !binaries.velero.exists() {
        eprintln!(
            "testenv: building velero {VELERO} (first time only: about 5 minutes on 2 cores; \
             cached in {})",
            dir.display()
        );
        build_velero(&dir.join("src/velero"), &bin)?;
    }
    let plugin = binaries.plugin_dir.join("velero-plugin-for-aws");
    if !plugin.exists() {
        eprintln!(
            "testenv: building velero-plugin-for-aws {AWS_PLUGIN} (first time only, cached in {})",
            dir.display()
        );
        install(
            &binaries.plugin_dir,
            &format!(
                "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws@{AWS_PLUGIN}"
            ),
            "-s -w",
            "velero-plugin-for-aws",
        )?;
    }
    if !binaries.versitygw.exists() {
        eprintln!(
            "testenv: building versitygw {VERSITYGW} (first time only, cached in {})",
            dir.display()
        );
        install(
            &bin,
            &format!("github.com/versity/versitygw/cmd/versitygw@{VERSITYGW}"),
            &format!("-s -w -X main.Version={VERSITYGW}"),
            "versitygw",
        )?;
    }
    Ok(binaries)
}

/// `go install package@version` into `dest`.
fn install(dest: &Path, package: &str, ldflags: &str, what: &str) -> Result<()> {
    fs::create_dir_all(dest)?;
    go::compile(
        dest,
        dest,
        &["install", "-v", "-trimpath", "-ldflags", ldflags, package],
        what,
    )
}

fn build_velero(src: &Path, bin: &Path) -> Result<()> {
    fs::create_dir_all(src)?;
    let go_mod = go::module_go_mod("github.com/vmware-tanzu/velero", VELERO)?;
    // Velero's own go directive: the wrapper needs the Go it needs.
    let go_version = go_mod
        .lines()
        .find_map(|line| line.strip_prefix("go "))
        .context("velero's go.mod has no go directive")?
        .trim();
    let mut replaces = String::new();
    for (module, target) in replacements(&go_mod) {
        writeln!(replaces, "\t{module} => {target}")?;
    }
    writeln!(
        replaces,
        "\tk8s.io/cli-runtime => k8s.io/cli-runtime {CLI_RUNTIME}"
    )?;
    fs::write(
        src.join("go.mod"),
        format!(
            "module socle.local/testenv/velero\n\ngo {go_version}\n\n\
             require github.com/vmware-tanzu/velero {VELERO}\n\nreplace (\n{replaces})\n"
        ),
    )?;
    // `go mod tidy` needs the command imported somewhere to resolve its deps.
    fs::write(
        src.join("tools.go"),
        "//go:build tools\n\npackage tools\n\nimport _ \"github.com/vmware-tanzu/velero/cmd/velero\"\n",
    )?;
    go::run(src, &["mod", "tidy"])?;
    // As Velero's hack/build.sh stamps a release (`velero version` says it).
    // And no controller-runtime metrics server: `velero server` creates its
    // manager with the library's default, every interface's port 8080, which
    // no flag changes and a second test environment could not bind (Velero's
    // own metrics are on `--metrics-address`). "0" is the library's "off".
    let ldflags = format!(
        "-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version={VELERO} \
         -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean \
         -X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=0"
    );
    go::compile(
        src,
        bin,
        &[
            "build",
            "-v",
            "-trimpath",
            "-ldflags",
            &ldflags,
            "github.com/vmware-tanzu/velero/cmd/velero",
        ],
        "velero",
    )
}

/// The `replace` directives of a go.mod that point at another module (not
/// at a local directory, which a wrapper cannot follow), as
/// `(module [version], replacement version)`.
fn replacements(go_mod: &str) -> Vec<(String, String)> {
    crate::go::replace_directives(go_mod)
        .into_iter()
        .filter(|(_, target)| !crate::go::is_local(target))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::replacements;

    #[test]
    fn replacements_of_lines_and_blocks_but_not_local_paths() {
        let go_mod = "module m\n\ngo 1.26.0\n\n\
            replace github.com/kopia/kopia => github.com/project-velero/kopia v0.0.0-2025 // fork\n\
            replace (\n\
            \tk8s.io/a v0.1.0 => k8s.io/a v0.1.1\n\
            \tk8s.io/b => ./staging/b\n\
            )\n";
        assert_eq!(
            replacements(go_mod),
            [
                (
                    "github.com/kopia/kopia".to_owned(),
                    "github.com/project-velero/kopia v0.0.0-2025".to_owned()
                ),
                ("k8s.io/a v0.1.0".to_owned(), "k8s.io/a v0.1.1".to_owned()),
            ]
        );
    }
}

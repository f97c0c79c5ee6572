//! helm and kubectl for the install tests (`tests/install.rs`), and
//! wireguard-go for the VPN tests' real routers and hub (this kernel has no
//! WireGuard module), built from the Go module proxy once and cached beside
//! the control plane's binaries, so that CI needs none of them installed.
//!
//! - helm's go.mod replaces nothing: `go install helm.sh/helm/v3/cmd/helm@…`
//!   builds it, stamped as the release Makefile would (its version, and the
//!   Kubernetes version that `helm template` and `helm lint` assume).
//! - kubectl's command lives in `k8s.io/kubernetes`, which cannot be
//!   installed (see `testenv/build.rs`). Its whole body is a call into the
//!   published `k8s.io/kubectl` library, so a wrapper module carries it, as
//!   the testenv does for etcd. It matches the control plane's release.
//! - wireguard-go's module is its command: `go install` builds it, as
//!   `wireguard`; it is renamed `wireguard-go`, the name wg-quick looks for.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use socle_router_emulator::{WIREGUARD_GO, cached_wireguard_go};

use crate::{go, testenv::KUBERNETES};

/// helm release the chart is linted and rendered with.
pub const HELM: &str = "v3.22.0";

/// `~/.cache/socle/tools` (or `$SOCLE_CACHE_DIR/tools`, or
/// `$XDG_CACHE_HOME/socle/tools`): the same root as the testenv's binaries.
/// `tests/install.rs` looks there too when `SOCLE_HELM`/`SOCLE_KUBECTL` are unset.
pub fn tools_dir() -> Result<PathBuf> {
    Ok(go::cache_root()?.join("tools"))
}

/// The cached helm, built first if missing.
pub fn ensure_helm() -> Result<PathBuf> {
    let dir = tools_dir()?.join(format!("helm-{HELM}"));
    let helm = dir.join("helm");
    if !helm.exists() {
        eprintln!(
            "tools: building helm {HELM} (first time only, cached in {})",
            dir.display()
        );
        build_helm(&dir)?;
    }
    Ok(helm)
}

/// The cached kubectl of the control plane's release, built first if missing.
pub fn ensure_kubectl() -> Result<PathBuf> {
    let dir = tools_dir()?.join(format!("kubectl-{KUBERNETES}"));
    let kubectl = dir.join("kubectl");
    if !kubectl.exists() {
        eprintln!(
            "tools: building kubectl {KUBERNETES} (first time only, cached in {})",
            dir.display()
        );
        build_kubectl(&dir)?;
    }
    Ok(kubectl)
}

/// The cached wireguard-go, built first if missing.
pub fn ensure_wireguard_go() -> Result<PathBuf> {
    let binary = cached_wireguard_go();
    if !binary.exists() {
        let dir = binary.parent().context("a directory")?;
        eprintln!(
            "tools: building wireguard-go {WIREGUARD_GO} (first time only, cached in {})",
            dir.display()
        );
        fs::create_dir_all(dir)?;
        let package = format!("golang.zx2c4.com/wireguard@{WIREGUARD_GO}");
        go::compile(
            dir,
            dir,
            &["install", "-v", "-trimpath", "-ldflags", "-s -w", &package],
            "wireguard-go",
        )?;
        fs::rename(dir.join("wireguard"), &binary)?;
    }
    Ok(binary)
}

fn build_helm(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    // The release Makefile stamps the Kubernetes version from the client-go
    // helm is built with (v0.37 → 1.37); unstamped, helm assumes 1.20.
    let go_mod = go::module_go_mod("helm.sh/helm/v3", HELM)?;
    let client_go = required_version(&go_mod, "k8s.io/client-go")
        .context("helm's go.mod requires no k8s.io/client-go")?;
    let minor = client_go
        .strip_prefix("v0.")
        .and_then(|rest| rest.split('.').next())
        .with_context(|| format!("unexpected k8s.io/client-go version {client_go}"))?;
    let ldflags = format!(
        "-s -w -X helm.sh/helm/v3/internal/version.version={HELM} \
         -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
         -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
         -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={minor} \
         -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
         -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={minor}"
    );
    let package = format!("helm.sh/helm/v3/cmd/helm@{HELM}");
    go::compile(
        dir,
        dir,
        &["install", "-v", "-trimpath", "-ldflags", &ldflags, &package],
        "helm",
    )
}

fn build_kubectl(dir: &Path) -> Result<()> {
    let src = dir.join("src");
    fs::create_dir_all(&src)?;
    let library = format!("v0.{}", KUBERNETES.trim_start_matches("v1."));
    fs::write(
        src.join("go.mod"),
        format!(
            "module socle.local/tools/kubectl\n\ngo 1.24\n\nrequire k8s.io/kubectl {library}\n"
        ),
    )?;
    // k8s.io/kubernetes/cmd/kubectl/kubectl.go at this release, minus comments.
    fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"os\"\n\n\
         \t\"k8s.io/component-base/cli\"\n\
         \t\"k8s.io/component-base/logs\"\n\
         \t\"k8s.io/kubectl/pkg/cmd\"\n\
         \t\"k8s.io/kubectl/pkg/cmd/util\"\n\n\
         \t_ \"k8s.io/client-go/plugin/pkg/client/auth\"\n)\n\n\
         func main() {\n\
         \tlogs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck\n\
         \tcommand := cmd.NewDefaultKubectlCommand()\n\
         \tif err := cli.RunNoErrOutput(command); err != nil {\n\
         \t\tutil.CheckErr(err)\n\t}\n}\n",
    )?;
    go::run(&src, &["mod", "tidy"])?;
    let ldflags = go::kubernetes_ldflags(KUBERNETES)?;
    go::compile(
        &src,
        dir,
        &["build", "-v", "-trimpath", "-ldflags", &ldflags, "."],
        "kubectl",
    )
}

/// The version of `module` in a go.mod's `require` lines.
fn required_version(go_mod: &str, module: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let (name, version) = if first == "require" {
            (words.next()?, words.next()?)
        } else {
            (first, words.next()?)
        };
        (name == module).then(|| version.to_owned())
    })
}

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
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use std::fmt::Write as _;

use anyhow::{Context, Result, bail, ensure};

/// Kubernetes release of the control plane; k8s-openapi 0.29 is built with `v1_36`.
pub const KUBERNETES: &str = "v1.36.3";
/// etcd release, the 3.6 line that Kubernetes 1.36 is tested with.
pub const ETCD: &str = "v3.6.16";

/// Where the binaries of one version pair live: `~/.cache/socle/testenv/<versions>/bin`.
pub fn cache_dir() -> Result<PathBuf> {
    let root = match std::env::var_os("SOCLE_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(dir) => PathBuf::from(dir).join("socle"),
            None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
                .join(".cache/socle"),
        },
    };
    Ok(root
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
    go(src, &["mod", "tidy"])?;
    go_build(src, bin, &[], &["."], "etcd")
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
    go(src, &["mod", "tidy"])?;
    let minor = KUBERNETES
        .split('.')
        .nth(1)
        .context("malformed KUBERNETES version")?;
    // Stamped so `/version` reports the release that was built.
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={KUBERNETES} \
         -X k8s.io/component-base/version.gitMajor=1 \
         -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean"
    );
    go_build(
        src,
        bin,
        &["-ldflags", &ldflags],
        &[
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
        ],
        "kubernetes",
    )
}

/// The `k8s.io/<name>` modules that kubernetes' go.mod replaces by `./staging/…`.
fn staging_modules() -> Result<Vec<String>> {
    let output = go_output(
        Path::new("."),
        &[
            "mod",
            "download",
            "-json",
            &format!("k8s.io/kubernetes@{KUBERNETES}"),
        ],
    )?;
    let info: serde_json::Value = serde_json::from_slice(&output)?;
    let go_mod = info["GoMod"]
        .as_str()
        .context("`go mod download` gave no GoMod path")?;
    let text = fs::read_to_string(go_mod).with_context(|| format!("reading {go_mod}"))?;
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

fn go_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("go");
    command
        .args(args)
        .current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=mod -buildvcs=false");
    command
}

fn go(dir: &Path, args: &[&str]) -> Result<()> {
    let status = go_command(dir, args)
        .status()
        .context("running go (is Go installed?)")?;
    ensure!(
        status.success(),
        "go {} failed in {}",
        args.join(" "),
        dir.display()
    );
    Ok(())
}

fn go_output(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let output = go_command(dir, args)
        .stderr(Stdio::inherit())
        .output()
        .context("running go (is Go installed?)")?;
    ensure!(output.status.success(), "go {} failed", args.join(" "));
    Ok(output.stdout)
}

/// `go build -v` into a scratch directory, then moved into `bin`, so that an
/// interrupted build never leaves a binary that looks cached.
fn go_build(src: &Path, bin: &Path, flags: &[&str], packages: &[&str], what: &str) -> Result<()> {
    let scratch = src.join("out");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)?;
    let out = format!("{}/", scratch.display());
    let mut args = vec!["build", "-v", "-trimpath", "-o", &out];
    args.extend_from_slice(flags);
    args.extend_from_slice(packages);
    let mut child = go_command(src, &args).stderr(Stdio::piped()).spawn()?;
    let started = Instant::now();
    let mut compiled = 0usize;
    let mut tail = Vec::new();
    for line in BufReader::new(child.stderr.take().context("no stderr")?).lines() {
        let line = line?;
        compiled += 1;
        if compiled.is_multiple_of(250) {
            eprintln!(
                "testenv: {what}: {compiled} packages compiled ({}s)",
                started.elapsed().as_secs()
            );
        }
        tail.push(line);
        if tail.len() > 40 {
            tail.remove(0);
        }
    }
    if !child.wait()?.success() {
        bail!("go build of {what} failed:\n{}", tail.join("\n"));
    }
    fs::create_dir_all(bin)?;
    for entry in fs::read_dir(&scratch)? {
        let entry = entry?;
        fs::rename(entry.path(), bin.join(entry.file_name()))?;
    }
    eprintln!("testenv: {what} built in {}s", started.elapsed().as_secs());
    Ok(())
}

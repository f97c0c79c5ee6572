//! Running Go for the tools this project builds from the Go module proxy
//! (the control plane, helm, kubectl): one way to call it, one progress
//! display, one cache-safe install.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, Result, bail, ensure};

/// The root of everything built from the Go module proxy: `~/.cache/socle`
/// (or `$SOCLE_CACHE_DIR`, or `$XDG_CACHE_HOME/socle`), outside the repository
/// so that a fresh clone reuses it.
pub fn cache_root() -> Result<PathBuf> {
    Ok(match std::env::var_os("SOCLE_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(dir) => PathBuf::from(dir).join("socle"),
            None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
                .join(".cache/socle"),
        },
    })
}

/// `go` with the local toolchain only (never a download), no cgo (static
/// binaries), and no VCS stamping (the wrappers are not repositories).
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("go");
    command
        .args(args)
        .current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        // `go install pkg@version` refuses -mod; the wrappers need none.
        .env("GOFLAGS", "-buildvcs=false");
    command
}

/// Runs `go args` in `dir`, failing on a non-zero exit.
/// `-ldflags` stamping a Kubernetes release (`v1.36.3`) into
/// component-base, so that `/version` and `kubectl version` name it.
pub fn kubernetes_ldflags(release: &str) -> Result<String> {
    let minor = release
        .split('.')
        .nth(1)
        .context("malformed Kubernetes version")?;
    Ok(format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={release} \
         -X k8s.io/component-base/version.gitMajor=1 \
         -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean"
    ))
}

pub fn run(dir: &Path, args: &[&str]) -> Result<()> {
    let status = command(dir, args)
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

/// The go.mod of `module@version`, from the module proxy.
pub fn module_go_mod(module: &str, version: &str) -> Result<String> {
    let output = command(
        Path::new("."),
        &["mod", "download", "-json", &format!("{module}@{version}")],
    )
    .stderr(Stdio::inherit())
    .output()
    .context("running go (is Go installed?)")?;
    ensure!(
        output.status.success(),
        "go mod download {module}@{version} failed"
    );
    let info: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let path = info["GoMod"]
        .as_str()
        .context("`go mod download` gave no GoMod path")?;
    fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// A fresh, writable copy in `dest` of the module in Go's module cache at
/// `module` (the cache is read-only; a fresh copy each time, so that an
/// interrupted build leaves no half-edited one behind).
pub fn copy_module(module: &Path, dest: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(dest);
    fs::create_dir_all(dest.parent().context("a source directory")?)?;
    let copied = Command::new("cp")
        .arg("-R")
        .arg(module)
        .arg(dest)
        .status()?;
    ensure!(copied.success(), "copying {}", module.display());
    let writable = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dest)
        .status()?;
    ensure!(writable.success(), "chmod -R u+w {}", dest.display());
    Ok(())
}

/// The module's directory in Go's module cache, downloaded if need be.
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf> {
    let output = command(
        Path::new("."),
        &["mod", "download", "-json", &format!("{module}@{version}")],
    )
    .output()
    .context("running go (is Go installed?)")?;
    let info: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("go mod download {module}@{version}"))?;
    ensure!(
        output.status.success() && info["Error"].is_null(),
        "go mod download {module}@{version} failed: {}",
        info["Error"]
    );
    Ok(PathBuf::from(
        info["Dir"]
            .as_str()
            .context("`go mod download` gave no Dir")?,
    ))
}

/// Runs a verbose `go build` or `go install` in `dir`, printing progress, and
/// moves what it made into `dest`. It builds into a scratch directory first,
/// so that an interrupted build never leaves a binary that looks cached.
pub fn compile(dir: &Path, dest: &Path, args: &[&str], what: &str) -> Result<()> {
    let scratch = dest.join("partial");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)?;
    let out = format!("{}/", scratch.display());
    let mut args = args.to_vec();
    if args.first() == Some(&"build") {
        args.splice(1..1, ["-o", out.as_str()]);
    }
    let mut child = command(dir, &args)
        .env("GOBIN", &scratch)
        .stderr(Stdio::piped())
        .spawn()
        .context("running go (is Go installed?)")?;
    let started = Instant::now();
    let mut compiled = 0usize;
    let mut tail = Vec::new();
    for line in BufReader::new(child.stderr.take().context("no stderr")?).lines() {
        let line = line?;
        // `go: downloading …` lines are not packages (and must not repeat
        // the last count: `go install` downloads hundreds of modules).
        if !line.starts_with("go: ") {
            compiled += 1;
            if compiled.is_multiple_of(250) {
                eprintln!(
                    "tools: {what}: {compiled} packages compiled ({}s)",
                    started.elapsed().as_secs()
                );
            }
        }
        tail.push(line);
        if tail.len() > 40 {
            tail.remove(0);
        }
    }
    if !child.wait()?.success() {
        bail!("go build of {what} failed:\n{}", tail.join("\n"));
    }
    for entry in fs::read_dir(&scratch)? {
        let entry = entry?;
        fs::rename(entry.path(), dest.join(entry.file_name()))?;
    }
    fs::remove_dir_all(&scratch)?;
    eprintln!("tools: {what} built in {}s", started.elapsed().as_secs());
    Ok(())
}

/// A go.mod's `replace` directives, single or in a block, as
/// `(module [version], target)`; a target starting with `./` or `../` is a
/// local directory, which a copy of the module cannot follow.
pub fn replace_directives(go_mod: &str) -> Vec<(String, String)> {
    let mut in_block = false;
    let mut found = Vec::new();
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        let directive = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if line == "replace (" {
            in_block = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("replace ") {
            rest
        } else {
            continue;
        };
        if let Some((module, target)) = directive.split_once("=>") {
            found.push((module.trim().to_owned(), target.trim().to_owned()));
        }
    }
    found
}

/// Whether a `replace` target is a local directory.
pub fn is_local(target: &str) -> bool {
    target.starts_with("./") || target.starts_with("../")
}

//! `socle validate DIR`: the pull-request check of a GitOps repository.
//!
//! Prints one `file:line: message` per mistake or warning on stdout (or
//! GitHub Actions annotations), a summary on stderr. Exit status, as
//! `socle contribution`'s: 0 when nothing is wrong (warnings do not fail the
//! check), 1 when something is (a YAML error included: it is the pull
//! request's mistake, with its line), 2 when the directory, a file or stdin
//! cannot be read, or holds no socle object at all (a wrong path must not
//! pass).

use std::{
    collections::BTreeSet,
    io::{Read as _, Write},
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use clap::{Args, ValueEnum};
use socle::{
    manifests::ManifestFile,
    validate::{self, Finding, Options, Severity, Validation},
};

/// How findings are printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// `file:line: message`, as compilers print: editors and CI logs link it.
    Plain,
    /// GitHub Actions workflow commands: each mistake annotates its line in the pull request.
    Github,
}

/// The name stdin's documents go by in messages.
const STDIN: &str = "<stdin>";

/// Arguments of `socle validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Directory of manifests (the GitOps repository, or the part of it
    /// holding socle's objects), read recursively as Flux and Argo CD read
    /// it (each directory's kustomization.yaml); or a single file; or `-`
    /// for stdin (`kustomize build . | socle validate -`). References are
    /// resolved within it.
    pub dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "plain")]
    pub format: Format,
    /// Prefix of tenant namespaces, as given to `socle run`.
    #[arg(long, env = "SOCLE_TENANT_PREFIX", default_value = "commune-")]
    pub tenant_prefix: String,
    /// The Datacenter's own networks, as given to `socle run`: no town
    /// hall's site network may overlap them.
    #[arg(
        long,
        env = "SOCLE_CLUSTER_CIDRS",
        value_delimiter = ',',
        default_value = "10.96.0.0/12,10.244.0.0/16"
    )]
    pub cluster_cidrs: Vec<String>,
    /// The operator's namespace: it reads UsageRecords there and nowhere else.
    #[arg(long, env = "POD_NAMESPACE", default_value = "socle-system")]
    pub operator_namespace: String,
    /// The day of the check (YYYY-MM-DD; default: today). A notice of
    /// termination whose day is not recorded in `noticeDate` is counted
    /// from it: an `endDate` closer than the notice is refused.
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// The branch a pull request goes into (e.g. origin/main): a conflict
    /// between two files (a name, an INSEE code, a site network taken
    /// twice) is reported on the file changed since the branch forked from
    /// it, naming the other, and a Member the change removes is a warning.
    /// Needs git and the history back to the fork.
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
}

pub fn validate(args: &ValidateArgs) -> ExitCode {
    let mut options = Options {
        tenant_prefix: args.tenant_prefix.clone(),
        cluster_cidrs: args.cluster_cidrs.clone(),
        operator_namespace: args.operator_namespace.clone(),
        ..Options::default()
    };
    if let Some(day) = args.as_of {
        options.as_of = day;
    }
    let stdin = args.dir == Path::new("-");
    if let Some(reference) = &args.changed_since {
        if stdin {
            eprintln!("error: --changed-since needs the repository's files, not stdin");
            return ExitCode::from(2);
        }
        match changes(&args.dir, reference) {
            Ok((changed, before)) => {
                options.changed = Some(changed);
                options.before = before;
            }
            Err(error) => {
                eprintln!("error: --changed-since {reference}: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let validation = if stdin {
        let mut text = String::new();
        if let Err(error) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: {STDIN}: {error}");
            return ExitCode::from(2);
        }
        let file = ManifestFile {
            path: STDIN.into(),
            text,
        };
        validate::validate_files(&[file], false, &options)
    } else {
        match validate::validate_dir(&args.dir, &options) {
            Ok(validation) => validation,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    };
    print(&validation, args.format);
    let name = if stdin {
        STDIN.to_owned()
    } else {
        args.dir.display().to_string()
    };
    summary(&validation, &name)
}

fn print(validation: &Validation, format: Format) {
    let mut out = std::io::stdout().lock();
    for finding in &validation.findings {
        let line = match format {
            Format::Plain => finding.to_string(),
            Format::Github => github(finding),
        };
        // A closed pipe (`| head`) is not a reason to panic.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
}

/// The summary on stderr, and the exit status.
fn summary(validation: &Validation, dir: &str) -> ExitCode {
    let findings = &validation.findings;
    let objects = count(validation.objects, "socle object", "socle objects");
    if validation.objects == 0 && findings.is_empty() {
        eprintln!("error: {dir}: no socle object found; is it the right directory?");
        return ExitCode::from(2);
    }
    let (errors, warnings): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.is_error());
    let warned = if warnings.is_empty() {
        String::new()
    } else {
        format!(", {}", count(warnings.len(), "warning", "warnings"))
    };
    if errors.is_empty() {
        eprintln!("{dir}: {objects} checked, no mistake found{warned}");
        ExitCode::SUCCESS
    } else {
        let files = errors
            .iter()
            .map(|f| &f.file)
            .collect::<BTreeSet<_>>()
            .len();
        eprintln!(
            "{dir}: {objects} checked, {} in {}{warned}",
            count(errors.len(), "mistake", "mistakes"),
            count(files, "file", "files")
        );
        ExitCode::FAILURE
    }
}

/// The YAML files changed since `reference` forked (canonical paths: the
/// working tree against the merge base, untracked files included), and the
/// changed or removed ones as they were then, named as the validated
/// directory names its files.
fn changes(dir: &Path, reference: &str) -> Result<(BTreeSet<PathBuf>, Vec<ManifestFile>), String> {
    let at = if dir.is_dir() {
        dir
    } else {
        dir.parent().unwrap_or(Path::new("."))
    };
    let git = |args: &[&str]| -> Result<String, String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(if at.as_os_str().is_empty() {
                Path::new(".")
            } else {
                at
            })
            .args(args)
            .output()
            .map_err(|e| format!("running git: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    let base = git(&["merge-base", reference, "HEAD"])?.trim().to_owned();
    let root = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let diff = git(&["diff", "--name-status", "--no-renames", &base])?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard", "--full-name"])?;
    let entries = diff
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(status, path)| (status.starts_with('A'), path.to_owned()))
        .chain(untracked.lines().map(|path| (true, path.to_owned())));
    let mut changed = BTreeSet::new();
    let mut before = Vec::new();
    for (added, relative) in entries {
        let path = top.join(&relative);
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        if let Ok(canonical) = std::fs::canonicalize(&path) {
            changed.insert(canonical);
        }
        let Ok(within) = path.strip_prefix(&root) else {
            continue;
        };
        if !added {
            let text = git(&["show", &format!("{base}:{relative}")])?;
            before.push(ManifestFile {
                path: dir.join(within),
                text,
            });
        }
    }
    Ok((changed, before))
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A GitHub Actions error annotation; `%`, CR and LF are escaped as the
/// workflow-command syntax requires.
fn github(finding: &Finding) -> String {
    let escape = |text: &str| {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |text: &str| escape(text).replace(':', "%3A").replace(',', "%2C");
    let level = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!(
        "::{level} file={},line={},title=socle validate::{}",
        property(&finding.file.display().to_string()),
        finding.line,
        escape(&finding.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_annotations_escape_their_properties() {
        let finding = Finding {
            file: "members/a,b.yaml".into(),
            line: 7,
            severity: Severity::Error,
            message: "Member a: spec: 100% wrong\nreally".into(),
        };
        assert_eq!(
            github(&finding),
            "::error file=members/a%2Cb.yaml,line=7,title=socle validate::Member a: spec: 100%25 wrong%0Areally"
        );
    }
}

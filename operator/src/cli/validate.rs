//! `socle validate DIR`: the pull-request check of a GitOps repository.
//!
//! Prints one `file:line: message` per mistake on stdout (or GitHub Actions
//! annotations), a summary on stderr. Exit status: 0 when nothing is wrong,
//! 1 when something is (a YAML error included: it is the pull request's
//! mistake, with its line), 2 when the directory or a file cannot be read or
//! holds no socle object at all (a wrong path must not pass).

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::{Args, ValueEnum};
use socle::validate::{self, Finding, Options};

/// How findings are printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// `file:line: message`, as compilers print: editors and CI logs link it.
    Plain,
    /// GitHub Actions workflow commands: each mistake annotates its line in the pull request.
    Github,
}

/// Arguments of `socle validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Directory of manifests (the GitOps repository, or the part of it
    /// holding socle's objects), read recursively; or a single file.
    /// References are resolved within it.
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
    /// The day of the check (YYYY-MM-DD; default: today). A notice of
    /// termination whose day is not recorded in `noticeDate` is counted
    /// from it: an `endDate` closer than the notice is refused.
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
}

pub fn validate(args: &ValidateArgs) -> ExitCode {
    let mut options = Options {
        tenant_prefix: args.tenant_prefix.clone(),
        cluster_cidrs: args.cluster_cidrs.clone(),
        ..Options::default()
    };
    if let Some(day) = args.as_of {
        options.as_of = day;
    }
    let validation = match validate::validate_dir(&args.dir, &options) {
        Ok(validation) => validation,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let findings = &validation.findings;
    let mut out = std::io::stdout().lock();
    for finding in findings {
        let line = match args.format {
            Format::Plain => finding.to_string(),
            Format::Github => github(finding),
        };
        // A closed pipe (`| head`) is not a reason to panic.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    let dir = args.dir.display();
    let objects = count(validation.objects, "socle object", "socle objects");
    if validation.objects == 0 && findings.is_empty() {
        eprintln!("error: {dir}: no socle object found; is it the right directory?");
        return ExitCode::from(2);
    }
    if findings.is_empty() {
        eprintln!("{dir}: {objects} checked, no mistake found");
        ExitCode::SUCCESS
    } else {
        let files = findings
            .iter()
            .map(|f| &f.file)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        eprintln!(
            "{dir}: {objects} checked, {} in {}",
            count(findings.len(), "mistake", "mistakes"),
            count(files, "file", "files")
        );
        ExitCode::FAILURE
    }
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
    format!(
        "::error file={},line={},title=socle validate::{}",
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
            message: "Member a: spec: 100% wrong\nreally".into(),
        };
        assert_eq!(
            github(&finding),
            "::error file=members/a%2Cb.yaml,line=7,title=socle validate::Member a: spec: 100%25 wrong%0Areally"
        );
    }
}

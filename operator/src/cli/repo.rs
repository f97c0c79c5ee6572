//! The GitOps repository as the generators (`socle member new`, `socle usage
//! new`) use it with `--repo DIR`: the new object is checked among the
//! repository's objects, and with `--write` its file is added and listed in
//! its directory's kustomization.yaml — the step a technician forgets.

use std::path::{Path, PathBuf};

use clap::Args;
use socle::{
    manifests::{ManifestFile, read_files},
    validate::{self, Finding, Options},
};

/// `--repo` and `--write`.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Repository")]
pub struct RepoFlags {
    /// The GitOps repository (socle gitops init's layout): the new object is
    /// checked among its objects — names and codes already taken, the VPN
    /// gateway and backup target it names, site networks — instead of alone.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Write the file into the repository and list it in its directory's
    /// kustomization.yaml, instead of printing it.
    #[arg(long, requires = "repo")]
    pub write: bool,
}

/// What the checks say of a new object: its mistakes and its warnings.
#[derive(Debug, Default)]
pub struct Verdict {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl RepoFlags {
    /// The repository's files (none without `--repo`).
    pub fn files(&self) -> Result<Vec<ManifestFile>, String> {
        self.repo.as_deref().map_or_else(
            || Ok(Vec::new()),
            |dir| read_files(dir).map_err(|e| e.to_string()),
        )
    }

    /// Checks `text`, to be written at `path` (e.g. members/guenrouet.yaml)
    /// in the repository: among `files`, or alone without `--repo`.
    pub fn check(&self, files: &[ManifestFile], path: &str, text: &str) -> Verdict {
        let options = Options {
            references: self.repo.is_some(),
            ..Options::default()
        };
        let new = ManifestFile {
            path: PathBuf::from(path),
            text: text.to_owned(),
        };
        let (errors, warnings): (Vec<Finding>, Vec<Finding>) =
            validate::check_new(files, &new, &options)
                .into_iter()
                .partition(Finding::is_error);
        let messages = |found: Vec<Finding>| found.into_iter().map(|f| f.message).collect();
        Verdict {
            errors: messages(errors),
            warnings: messages(warnings),
        }
    }

    /// Writes `text` to `dir/name` in the repository and lists `name` in
    /// `dir/kustomization.yaml`; an existing file is never overwritten.
    pub fn write(&self, dir: &str, name: &str, text: &str) -> Result<PathBuf, String> {
        let repo = self.repo.as_deref().unwrap_or(Path::new("."));
        let path = repo.join(dir).join(name);
        if path.exists() {
            return Err(format!(
                "{} already exists: nothing written",
                path.display()
            ));
        }
        let list = repo.join(dir).join("kustomization.yaml");
        let listed = std::fs::read_to_string(&list)
            .map_err(|e| format!("{}: {e}", list.display()))
            .and_then(|kustomization| {
                listing(&kustomization, name).map_err(|e| format!("{}: {e}", list.display()))
            })?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&list, listed).map_err(|e| format!("{}: {e}", list.display()))?;
        Ok(path)
    }
}

/// `kustomization` with `entry` among its `resources`, in name order, its
/// comments kept; unchanged when it is already listed.
fn listing(kustomization: &str, entry: &str) -> Result<String, String> {
    let mut lines: Vec<String> = kustomization.lines().map(str::to_owned).collect();
    let item = |indent: &str| format!("{indent}- {entry}");
    match lines.iter().position(|l| l.starts_with("resources:")) {
        None => {
            lines.push("resources:".into());
            lines.push(item("  "));
        }
        Some(at) if lines[at].trim_end() == "resources: []" => {
            lines[at] = "resources:".into();
            lines.insert(at + 1, item("  "));
        }
        Some(at) if lines[at].trim_end() == "resources:" => {
            let items: Vec<usize> = (at + 1..lines.len())
                .take_while(|&i| {
                    let line = lines[i].trim_start();
                    line.starts_with("- ") || line.starts_with('#') || line.is_empty()
                })
                .filter(|&i| lines[i].trim_start().starts_with("- "))
                .collect();
            let listed = |i: usize| lines[i].trim_start()[2..].trim().to_owned();
            if items.iter().any(|&i| listed(i) == entry) {
                return Ok(kustomization.to_owned());
            }
            let indent = items.first().map_or("  ".to_owned(), |&i| {
                lines[i][..lines[i].len() - lines[i].trim_start().len()].to_owned()
            });
            let before = items.iter().find(|&&i| listed(i).as_str() > entry);
            let position = before
                .copied()
                .unwrap_or_else(|| items.last().map_or(at, |i| *i) + 1);
            lines.insert(position, item(&indent));
        }
        Some(_) => {
            return Err(
                "resources is not a block list (`- file` lines): list the file by hand".into(),
            );
        }
    }
    let text = lines.join("\n") + "\n";
    // What was written must read back as listing the entry.
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let listed = value["resources"]
        .as_sequence()
        .is_some_and(|items| items.iter().any(|i| i.as_str() == Some(entry)));
    if listed {
        Ok(text)
    } else {
        Err("could not list the file: list it by hand".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_listed_in_name_order_with_the_comments_kept() {
        let empty = "# members\nkind: Kustomization\nresources: []\n";
        assert_eq!(
            listing(empty, "guenrouet.yaml").unwrap(),
            "# members\nkind: Kustomization\nresources:\n  - guenrouet.yaml\n"
        );
        let some = "kind: Kustomization\nresources:\n  - allaire.yaml\n  # the newest\n  - pipriac.yaml\nnamespace: x\n";
        assert_eq!(
            listing(some, "guenrouet.yaml").unwrap(),
            "kind: Kustomization\nresources:\n  - allaire.yaml\n  # the newest\n  - guenrouet.yaml\n  - pipriac.yaml\nnamespace: x\n"
        );
        assert_eq!(
            listing(some, "redon.yaml").unwrap(),
            "kind: Kustomization\nresources:\n  - allaire.yaml\n  # the newest\n  - pipriac.yaml\n  - redon.yaml\nnamespace: x\n"
        );
        assert_eq!(listing(some, "allaire.yaml").unwrap(), some);
        assert!(listing("resources: [a.yaml]\n", "b.yaml").is_err());
    }
}

//! `socle gitops init DIR`: the DSI's GitOps repository, as the README
//! draws it — members/, services/, tarifs/, usage/, platform/, the
//! pull-request check for GitHub Actions and GitLab CI, the Flux
//! Kustomizations and Argo CD Applications that apply it, and a README.
//!
//! The files are the repository's `gitops/template/` and socle's own
//! `manifests/` (the platform), embedded in the binary; only the CRDs are
//! generated, from this binary's API, so that the platform is the version
//! that wrote it. `--platform` rewrites platform/ alone: an upgrade.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Subcommand};

/// `socle gitops …`
#[derive(Debug, Args)]
pub struct GitopsArgs {
    #[command(subcommand)]
    pub command: GitopsCommand,
}

#[derive(Debug, Subcommand)]
pub enum GitopsCommand {
    /// Write a new GitOps repository for socle into DIR (created if needed;
    /// no existing file is overwritten).
    Init(InitArgs),
}

/// Arguments of `socle gitops init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the repository.
    pub dir: PathBuf,
    /// The repository's URL as Flux and Argo CD clone it, e.g.
    /// ssh://git@git.redon-agglomeration.bzh/dsi/socle-gitops.git
    #[arg(long)]
    pub url: String,
    /// The branch pull requests merge into, which the cluster follows.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Rewrite platform/ only (the CRDs, the operator, its policies), from
    /// this version of socle, overwriting it: how socle is upgraded, in a
    /// pull request like any change.
    #[arg(long)]
    pub platform: bool,
}

/// A file of the template, at its path in the new repository.
type File = (&'static str, &'static str);

/// The template's own files (`gitops/template/`), at the same paths.
macro_rules! template {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_str!(concat!("../../../gitops/template/", $path)))),*]
    };
}

/// socle's manifests (`manifests/<dir>/`), under `platform/<into>/`.
macro_rules! platform {
    ($dir:literal => $into:literal: $($file:literal),* $(,)?) => {
        [$((
            concat!("platform/", $into, "/", $file),
            include_str!(concat!("../../../manifests/", $dir, "/", $file)),
        )),*]
    };
}

const TEMPLATE: [File; 18] = template![
    "README.md",
    "kustomization.yaml",
    "tarifs/kustomization.yaml",
    "tarifs/convention-cadre.yaml",
    "services/kustomization.yaml",
    "services/vpn-datacenter.yaml",
    "services/sauvegarde-datacenter.yaml",
    "services/stockage-datacenter.yaml",
    "members/kustomization.yaml",
    "usage/kustomization.yaml",
    "flux/socle.yaml",
    "argocd/socle.yaml",
    "argocd/apps/socle-platform.yaml",
    "argocd/apps/socle-adherents.yaml",
    "argocd/apps/socle-velero-access.yaml",
    ".github/workflows/validate.yaml",
    ".gitlab-ci.yml",
    "platform/socle/kustomization.yaml",
];

const INSTALL: [File; 13] = platform!["install" => "socle/install":
    "kustomization.yaml",
    "kustomizeconfig.yaml",
    "namespace.yaml",
    "serviceaccount.yaml",
    "clusterrole.yaml",
    "role.yaml",
    "bindings.yaml",
    "admission-policy.yaml",
    "tenant-namespaces.yaml",
    "issued-statements.yaml",
    "member-finalizers.yaml",
    "deployment.yaml",
    "service.yaml",
];

const VPN_GATEWAY: [File; 6] = platform!["vpn-gateway" => "socle/vpn-gateway":
    "kustomization.yaml",
    "namespace.yaml",
    "rolebinding.yaml",
    "deployment.yaml",
    "service.yaml",
    "networkpolicy.yaml",
];

const VELERO_ACCESS: [File; 2] = platform!["velero-access" => "velero-access":
    "kustomization.yaml",
    "role.yaml",
];

/// Where the CRDs go, one file each, with the kustomization listing them.
const CRDS: &str = "platform/socle/crds";

/// Every file of a new repository, placeholders filled.
pub fn files(url: &str, branch: &str) -> Result<Vec<(PathBuf, String)>, serde_yaml::Error> {
    let fill = |text: &str| {
        text.replace("{{url}}", url)
            .replace("{{branch}}", branch)
            .replace("{{version}}", env!("CARGO_PKG_VERSION"))
    };
    let mut files: Vec<(PathBuf, String)> = TEMPLATE
        .iter()
        .chain(&INSTALL)
        .chain(&VPN_GATEWAY)
        .chain(&VELERO_ACCESS)
        .map(|(path, text)| (PathBuf::from(path), fill(text)))
        .collect();
    files.extend(crds()?);
    Ok(files)
}

/// The CRDs of this binary, as `socle crd --output-dir` writes them, and
/// their kustomization.
fn crds() -> Result<Vec<(PathBuf, String)>, serde_yaml::Error> {
    let mut files = Vec::new();
    let mut names = Vec::new();
    for crd in socle::api::crds() {
        let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
        files.push((Path::new(CRDS).join(&name), serde_yaml::to_string(&crd)?));
        names.push(name);
    }
    names.sort();
    let list = names
        .iter()
        .fold(String::new(), |list, n| list + "  - " + n + "\n");
    files.push((
        Path::new(CRDS).join("kustomization.yaml"),
        format!(
            "# socle {}'s CRDs, written by `socle gitops init`; do not edit.\n\
             apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{list}",
            env!("CARGO_PKG_VERSION")
        ),
    ));
    Ok(files)
}

pub fn gitops(args: &GitopsArgs) -> ExitCode {
    let GitopsCommand::Init(init) = &args.command;
    match write(init) {
        Ok(count) => {
            let dir = init.dir.display();
            if init.platform {
                eprintln!(
                    "{dir}: platform/ rewritten for socle {} ({count} files); review the diff and open a pull request",
                    env!("CARGO_PKG_VERSION")
                );
            } else {
                eprintln!(
                    "{dir}: {count} files written; next: {dir}/README.md (bootstrap Flux or Argo CD, then one pull request per adherent)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn write(args: &InitArgs) -> Result<usize, String> {
    let mut files = files(&args.url, &args.branch).map_err(|e| e.to_string())?;
    if args.platform {
        files.retain(|(path, _)| path.starts_with("platform"));
        // A CRD this version no longer has must not stay behind.
        let _ = std::fs::remove_dir_all(args.dir.join(CRDS));
    } else {
        let existing: Vec<String> = files
            .iter()
            .filter(|(path, _)| args.dir.join(path).exists())
            .map(|(path, _)| path.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(format!(
                "{} already holds {}: nothing written (socle gitops init writes a new repository; --platform rewrites platform/ alone)",
                args.dir.display(),
                existing.join(", ")
            ));
        }
    }
    for (path, text) in &files {
        let path = args.dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_yaml_file_parses_and_every_placeholder_is_filled() {
        let files = files("ssh://git@example.org/dsi/socle-gitops.git", "main").unwrap();
        let mut yaml = 0;
        for (path, text) in &files {
            assert!(
                !text.contains("{{"),
                "{}: a placeholder is left",
                path.display()
            );
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                for document in serde_yaml::Deserializer::from_str(text) {
                    serde_yaml::Value::deserialize(document)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                yaml += 1;
            }
        }
        assert!(yaml > 40, "{yaml} YAML files");
    }

    use serde::Deserialize as _;

    fn objects(files: &[(PathBuf, String)], prefix: &str) -> Vec<serde_yaml::Value> {
        files
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .flat_map(|(_, text)| {
                serde_yaml::Deserializer::from_str(text)
                    .map(|d| serde_yaml::Value::deserialize(d).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Flux: the platform is Ready once socle's CRDs are, the adherents wait
    /// for it, everything is pruned, and each path is one of the template's.
    #[test]
    fn flux_applies_the_platform_first_then_the_rest_with_prune() {
        let files = files("ssh://git@example.org/r.git", "main").unwrap();
        let flux = objects(&files, "flux");
        let kustomization = |name: &str| {
            flux.iter()
                .find(|o| o["kind"] == "Kustomization" && o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("no Kustomization {name}"))
        };
        let platform = kustomization("socle-platform");
        let checked: std::collections::BTreeSet<&str> = platform["spec"]["healthChecks"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|check| check["name"].as_str().unwrap())
            .collect();
        let crds: Vec<String> = socle::api::crds()
            .into_iter()
            .map(|crd| crd.metadata.name.unwrap())
            .collect();
        assert_eq!(checked, crds.iter().map(String::as_str).collect());
        let adherents = kustomization("socle-adherents");
        assert_eq!(adherents["spec"]["dependsOn"][0]["name"], "socle-platform");
        for object in flux.iter().filter(|o| o["kind"] == "Kustomization") {
            assert_eq!(object["spec"]["prune"], true, "{object:?}");
            let path = object["spec"]["path"].as_str().unwrap();
            let dir = Path::new(path.trim_start_matches("./"));
            assert!(
                files
                    .iter()
                    .any(|(file, _)| file == &dir.join("kustomization.yaml")),
                "{path} has no kustomization.yaml"
            );
        }
    }

    /// Argo CD: the platform in an earlier sync wave than the adherents,
    /// every Application applying server-side.
    #[test]
    fn argo_cd_syncs_in_waves_server_side() {
        let files = files("ssh://git@example.org/r.git", "main").unwrap();
        let applications = objects(&files, "argocd");
        let wave = |name: &str| -> i32 {
            let application = applications
                .iter()
                .find(|o| o["metadata"]["name"] == name)
                .unwrap();
            application["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(wave("socle-platform") < wave("socle-adherents"));
        for application in &applications {
            let options = application["spec"]["syncPolicy"]["syncOptions"]
                .as_sequence()
                .unwrap();
            assert!(
                options.iter().any(|o| o == "ServerSideApply=true"),
                "{application:?}"
            );
            let path = application["spec"]["source"]["path"].as_str().unwrap();
            let dir = Path::new(path.trim_start_matches('.'));
            let exists = path == "argocd/apps"
                || files
                    .iter()
                    .any(|(file, _)| file == &dir.join("kustomization.yaml"));
            assert!(exists, "{path}");
        }
    }

    /// The template's shared services and tariff are the examples' own.
    #[test]
    fn the_templates_services_and_tariff_are_the_examples() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
        let mut expected = std::collections::BTreeMap::new();
        for file in ["shared-services.yaml", "tariff.yaml"] {
            let text = std::fs::read_to_string(examples.join(file)).unwrap();
            for document in serde_yaml::Deserializer::from_str(&text) {
                let value = serde_yaml::Value::deserialize(document).unwrap();
                let name = value["metadata"]["name"].as_str().unwrap().to_owned();
                expected.insert(name, value);
            }
        }
        for (path, text) in TEMPLATE {
            if !(path.starts_with("services/") || path.starts_with("tarifs/"))
                || path.ends_with("kustomization.yaml")
            {
                continue;
            }
            let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
            let name = value["metadata"]["name"].as_str().unwrap();
            assert_eq!(Some(&value), expected.get(name), "{path}");
        }
    }
}

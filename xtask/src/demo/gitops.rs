//! `cargo xtask demo --gitops`: a new commune's life as pull requests, the
//! flow of `tests/gitops.rs` with the DSI's own tools, printed step by
//! step. The repository is `socle gitops init`'s, served over SSH by a real
//! `sshd` on 127.0.0.1; Flux's source-controller and kustomize-controller
//! (from the testenv) apply it with the template's GitRepository and
//! Kustomization `socle-adherents`; Guenrouët's file is `socle member
//! new --write`'s; each pull request passes `socle validate` before its
//! merge (a commit pushed). The platform is the CRDs the demo applies and
//! `socle run` as a process (no kubelet runs the shipped Deployment), so the
//! template's `socle-platform` Kustomization is left out.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use kube::{
    Client,
    api::{Api, ApiResource, DynamicObject, Patch, PatchParams},
};
use serde_json::{Value, json};
use socle_router_emulator::git::GitServer;

use super::{Operator, apply_yaml, condition, drill, socle_resource, step, wait_for_crds};
use crate::{cargo, testenv, workspace_root};

/// Flux's namespace, where the template puts its objects.
const FLUX: &str = "flux-system";
/// The template's GitRepository (and its Secret).
const SOURCE: &str = "socle-gitops";
/// The template's Kustomization of the members, services, tariffs.
const ADHERENTS: &str = "socle-adherents";
const MEMBER: &str = "guenrouet";
/// How long one pull request may take to show.
const TIMEOUT: Duration = Duration::from_secs(180);

pub fn demo() -> Result<()> {
    let kubeconfig = testenv::up(testenv::Backups::Velero, testenv::Gitops::Flux)?;
    cargo(&["build", "--quiet", "--package", "socle"], &[])?;
    let socle = workspace_root().join("target/debug/socle");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = runtime.block_on(testenv::client())?;
    // Flux would prune a previous run's Guenrouët on this run's first commit.
    let previous: Api<DynamicObject> = Api::namespaced_with(client.clone(), FLUX, &kustomization());
    if runtime.block_on(previous.get_opt(ADHERENTS))?.is_some() {
        bail!(
            "this control plane ran the GitOps demo already (Kustomization {FLUX}/{ADHERENTS}): \
             `cargo xtask testenv down` first"
        );
    }

    step("the platform: socle's CRDs, its namespace, Velero's storage location datacenter-s3");
    runtime.block_on(async {
        super::apply_dir(&client, &workspace_root().join("crds"), &|_| {}).await?;
        wait_for_crds(&client).await?;
        apply_yaml(
            &client,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: socle-system\n",
            &|_| {},
        )
        .await?;
        drill::storage_location(&client).await
    })?;

    step("the DSI's repository: `socle gitops init`, served over SSH on 127.0.0.1");
    let server = GitServer::start();
    let repo = server.work_tree();
    let repo_arg = repo.to_str().context("a UTF-8 path")?.to_owned();
    socle_cli(
        &socle,
        &["gitops", "init", "--url", &server.url(), &repo_arg],
    )?;
    println!("  {} (git-shell only, for one deploy key)", server.url());
    let pr = PullRequests {
        server: &server,
        socle: &socle,
        client: &client,
    };
    let commit = pr.merge("Le dépôt GitOps du service commun")?;

    step(
        "Flux follows it: the deploy key and the pinned host key in a Secret, the template's GitRepository and Kustomization socle-adherents",
    );
    runtime.block_on(start_flux(&client, &server))?;
    runtime.block_on(pr.wait_applied(&commit, Instant::now()))?;

    step("socle run (the operator)");
    let operator = Operator::start(&socle, &testenv::operator_kubeconfig_path(), None)?;
    runtime.block_on(pr.life(&repo_arg))?;
    drop(operator);
    println!(
        "\nThe control plane and Flux still run: export KUBECONFIG={} ; kubectl get \
         gitrepositories,kustomizations -n {FLUX} ; `cargo xtask testenv down` stops them.",
        kubeconfig.display()
    );
    Ok(())
}

/// The repository, and what a merge does.
struct PullRequests<'a> {
    server: &'a GitServer,
    socle: &'a Path,
    client: &'a Client,
}

impl PullRequests<'_> {
    /// The check (`socle validate` on the working copy), the merge (a
    /// commit pushed), the fetch a push webhook asks Flux for. Returns the
    /// commit.
    fn merge(&self, title: &str) -> Result<String> {
        let repo = self.server.work_tree();
        let output = Command::new(self.socle)
            .arg("validate")
            .arg(&repo)
            .output()
            .context("running socle validate")?;
        ensure!(
            output.status.success(),
            "socle validate refuses \"{title}\":\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let commit = self.server.merge(title);
        println!(
            "  pull request \"{title}\": socle validate passes; merged as {}",
            &commit[..12]
        );
        Ok(commit)
    }

    /// [`Self::merge`], then Flux asked to fetch; returns when it was pushed.
    async fn merge_and_fetch(&self, title: &str) -> Result<Instant> {
        self.merge(title)?;
        let pushed = Instant::now();
        request_fetch(self.client).await?;
        Ok(pushed)
    }

    /// Guenrouët joins, moves to the Standard tier, gives notice, is
    /// confirmed and its file removed.
    async fn life(&self, repo: &str) -> Result<()> {
        step("pull request 1: Guenrouët joins (socle member new --write)");
        let effective = format!("{}-01-01", jiff_year() - 2);
        let args = [
            "member",
            "new",
            "--name",
            MEMBER,
            "--display-name",
            "Guenrouët",
            "--insee",
            "44068",
            "--population",
            "3346",
            "--offer",
            "SocleComplet",
            "--effective",
            &effective,
            "--deliberation",
            "DEL-2024-201",
            "--storage",
            "20Gi",
            "--admin-group",
            "commune-guenrouet-admins",
            "--backup-tier",
            "Essential",
            "--backup-target",
            "sauvegarde-datacenter",
            "--decision-maker",
            "Mairie de Guenrouët",
            "--decision-maker-role",
            "Maire",
            "--repo",
            repo,
            "--write",
        ];
        socle_cli(self.socle, &args)?;
        let pushed = self.merge_and_fetch("Adhésion de Guenrouët").await?;
        let member = wait_member(self.client, |m| has(m, "Ready", "True")).await?;
        println!(
            "  push → Member {MEMBER} Ready in {:.1} s; tenant namespace {}",
            pushed.elapsed().as_secs_f64(),
            member.data["status"]["tenant"]["namespace"]
                .as_str()
                .unwrap_or("commune-guenrouet")
        );
        let schedule = wait_schedule(self.client, "720h0m0s").await?;
        println!("  Velero Schedule: \"{schedule}\", kept 30 days");

        step("pull request 2: Guenrouët moves to the Standard tier");
        self.edit(|text| text.replace("tier: Essential", "tier: Standard"))?;
        let pushed = self
            .merge_and_fetch("Guenrouët passe au niveau Standard")
            .await?;
        let schedule = wait_schedule(self.client, "2160h0m0s").await?;
        println!(
            "  push → Velero Schedule \"{schedule}\", kept 90 days, in {:.1} s",
            pushed.elapsed().as_secs_f64()
        );
        self.leave().await
    }

    /// The README's offboarding, one pull request per step.
    async fn leave(&self) -> Result<()> {
        step(
            "pull request 3: notice (noticeDate, endDate; dates in the past, so that the departure shows today)",
        );
        let year = jiff_year();
        let (notice, end) = (format!("{}-12-01", year - 2), format!("{}-12-31", year - 1));
        // Beside the subscription's decision, at its indentation.
        self.edit(|text| {
            text.lines()
                .flat_map(|line| {
                    let mut lines = vec![line.to_owned()];
                    if line.trim() == "decision: DEL-2024-201" {
                        let indent = &line[..line.len() - line.trim_start().len()];
                        lines.push(format!("{indent}noticeDate: \"{notice}\""));
                        lines.push(format!("{indent}endDate: \"{end}\""));
                    }
                    lines
                })
                .map(|line| line + "\n")
                .collect()
        })?;
        let pushed = self
            .merge_and_fetch("Retrait de Guenrouët : préavis")
            .await?;
        let member = wait_member(self.client, |m| has(m, "Offboarding", "True")).await?;
        println!(
            "  push → Offboarding in {:.1} s: {}",
            pushed.elapsed().as_secs_f64(),
            condition(&member, "Offboarding").map_or(&Value::Null, |c| &c["message"])
        );

        step("pull request 4: the confirmation annotation");
        self.edit(|text| {
            text.replacen(
                "metadata:\n",
                &format!(
                    "metadata:\n  annotations:\n    socle.redon-agglomeration.bzh/confirm-offboarding: {MEMBER}\n"
                ),
                1,
            )
        })?;
        let pushed = self
            .merge_and_fetch("Retrait de Guenrouët : confirmation")
            .await?;
        wait_member(self.client, |m| has(m, "Departed", "True")).await?;
        println!(
            "  push → exit backup taken, tenant deleted, Member Departed in {:.1} s",
            pushed.elapsed().as_secs_f64()
        );

        step("pull request 5: the file removed; Flux prunes the Member, the data stays");
        let path = self
            .server
            .work_tree()
            .join(format!("members/{MEMBER}.yaml"));
        std::fs::remove_file(&path)?;
        let listing = self.server.work_tree().join("members/kustomization.yaml");
        let text = std::fs::read_to_string(&listing)?
            .replace(&format!("  - {MEMBER}.yaml\n"), "")
            .replace("resources:\n", "resources: []\n");
        std::fs::write(&listing, text)?;
        let pushed = self
            .merge_and_fetch("Retrait de Guenrouët : le fichier est retiré")
            .await?;
        let members: Api<DynamicObject> =
            Api::all_with(self.client.clone(), &socle_resource("Member", "members"));
        poll(|| async { Ok(members.get_opt(MEMBER).await?.is_none().then_some(())) }).await?;
        println!(
            "  push → Member pruned in {:.1} s; its volume stays (kubectl get pv -l \
             socle.redon-agglomeration.bzh/member={MEMBER}), Released and Retain",
            pushed.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Rewrites Guenrouët's file with `change`.
    fn edit(&self, change: impl FnOnce(&str) -> String) -> Result<()> {
        let path = self
            .server
            .work_tree()
            .join(format!("members/{MEMBER}.yaml"));
        let text = std::fs::read_to_string(&path)?;
        let changed = change(&text);
        ensure!(
            changed != text,
            "the edit of {} changed nothing",
            path.display()
        );
        std::fs::write(&path, changed)?;
        Ok(())
    }

    /// Until the Kustomization applied `commit`.
    async fn wait_applied(&self, commit: &str, since: Instant) -> Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), FLUX, &kustomization());
        poll(|| async {
            let sync = api.get(ADHERENTS).await?;
            let applied = sync.data["status"]["lastAppliedRevision"]
                .as_str()
                .unwrap_or_default();
            Ok(applied.ends_with(commit).then_some(()))
        })
        .await?;
        println!(
            "  Flux applied it in {:.1} s",
            since.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// The Secret (deploy key, pinned host key) and, from the template's
/// `flux/socle.yaml`, the GitRepository and the Kustomization
/// `socle-adherents` (its `dependsOn` the platform left out, see above).
async fn start_flux(client: &Client, server: &GitServer) -> Result<()> {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SOURCE, "namespace": FLUX},
        "stringData": {
            "identity": server.deploy_key(),
            "identity.pub": server.deploy_key_pub(),
            "known_hosts": server.known_hosts(),
        },
    });
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), FLUX)
        .patch(
            SOURCE,
            &PatchParams::apply("socle-demo"),
            &Patch::Apply(&secret),
        )
        .await
        .map(drop)
        .map_err(|error| anyhow::anyhow!("applying the deploy key's Secret: {error}"))?;
    let template = std::fs::read_to_string(server.work_tree().join("flux/socle.yaml"))?;
    // The GitRepository and socle-adherents only: the platform's
    // Kustomizations are not applied.
    let kept: Vec<&str> = template
        .split("\n---\n")
        .filter(|document| {
            serde_yaml::from_str::<Value>(document).is_ok_and(|object| {
                [SOURCE, ADHERENTS]
                    .contains(&object["metadata"]["name"].as_str().unwrap_or_default())
            })
        })
        .collect();
    ensure!(
        kept.len() == 2,
        "flux/socle.yaml has no {SOURCE} and {ADHERENTS}"
    );
    apply_yaml(client, &kept.join("\n---\n"), &|object| {
        if object.metadata.name.as_deref() == Some(ADHERENTS)
            && let Some(spec) = object.data["spec"].as_object_mut()
        {
            spec.remove("dependsOn");
        }
    })
    .await?;
    Ok(())
}

/// The template's Kustomization kind.
fn kustomization() -> ApiResource {
    ApiResource {
        group: "kustomize.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        plural: "kustomizations".into(),
    }
}

/// What a Git host's push webhook has Flux do, through its Receiver.
async fn request_fetch(client: &Client) -> Result<()> {
    let source = ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        plural: "gitrepositories".into(),
    };
    let patch = json!({"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": k8s_openapi::jiff::Timestamp::now().to_string(),
    }}});
    Api::<DynamicObject>::namespaced_with(client.clone(), FLUX, &source)
        .patch(SOURCE, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Guenrouët's Member once `check` holds.
async fn wait_member(
    client: &Client,
    check: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    let members: Api<DynamicObject> =
        Api::all_with(client.clone(), &socle_resource("Member", "members"));
    poll(|| async { Ok(members.get_opt(MEMBER).await?.filter(|m| check(m))) }).await
}

/// The cron of Guenrouët's Velero Schedule once its TTL is `ttl`.
async fn wait_schedule(client: &Client, ttl: &str) -> Result<String> {
    let schedules: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "velero",
        &ApiResource {
            group: "velero.io".into(),
            version: "v1".into(),
            api_version: "velero.io/v1".into(),
            kind: "Schedule".into(),
            plural: "schedules".into(),
        },
    );
    let name = format!("commune-{MEMBER}");
    poll(|| async {
        Ok(schedules.get_opt(&name).await?.and_then(|schedule| {
            (schedule.data["spec"]["template"]["ttl"] == ttl).then(|| {
                schedule.data["spec"]["schedule"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
        }))
    })
    .await
}

fn has(member: &DynamicObject, type_: &str, status: &str) -> bool {
    condition(member, type_).is_some_and(|c| c["status"] == status)
}

/// Calls `check` every 100 ms until it gives a value, for [`TIMEOUT`].
async fn poll<T, F, Fut>(mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("nothing after {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn jiff_year() -> i16 {
    k8s_openapi::jiff::Zoned::now().year()
}

/// `socle args…`, its output shown.
fn socle_cli(socle: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new(socle).args(args).status()?;
    ensure!(status.success(), "socle {} failed", args.join(" "));
    Ok(())
}

//! One pull request per step, from a commune's adhesion to its departure,
//! applied by a real GitOps engine: Flux's source-controller and
//! kustomize-controller (`cargo xtask testenv up` runs them) follow a Git
//! repository served over SSH on 127.0.0.1 (a real `sshd`, the deploy key
//! and the pinned host key in a Secret); a merged pull request is a commit
//! pushed to it, checked first by `socle validate` as the pull request's CI
//! would. The repository has the template's layout (`members/`,
//! `services/`, a `kustomization.yaml` listing each file) and its
//! Kustomization `socle-adherents`, `prune: true`; the platform (CRDs,
//! install) is the scope's copy of `manifests/install`, as in every e2e
//! test, rather than a Kustomization of its own: the CRDs are shared by
//! every test.
//!
//! Guenrouët (INSEE 44068) joins, changes its backup tier, and leaves in
//! the order the README's offboarding procedure gives, its data volume
//! really bound (the testenv's host-path provisioner) with a file in it,
//! and Velero's own server taking its backups.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use k8s_openapi::{
    api::core::v1::{Namespace, PersistentVolume},
    jiff::Zoned,
};
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, PostParams},
};
use serde_json::json;
use socle::{
    api::Member,
    backup::velero::{Backup, Schedule},
    validate,
};
use socle_e2e::{
    TestScope, eventually,
    examples::condition,
    gitops::{FluxSync, GitServer, inventory, logs_showing_the_deploy_key, require_flux},
    operator::Operator,
    volumes,
};

const DOMAIN: &str = "socle.redon-agglomeration.bzh";
/// Velero's namespace in the testenv.
const VELERO: &str = "velero";
/// For Flux to apply a merged commit.
const APPLY: Duration = Duration::from_secs(120);
/// For socle to act on what Flux applied, Velero's backups included, on a
/// 2-core machine running other tests.
const CONVERGE: Duration = Duration::from_secs(180);
const CONTENT: &str = "registre des délibérations 1790-2026\n";

/// What Guenrouët's Member file says at one step of its life.
struct Guenrouet<'a> {
    name: &'a str,
    labels: String,
    target: &'a str,
    tier: &'a str,
    /// `(noticeDate, endDate)` once notice is given.
    notice: Option<(String, String)>,
    confirmed: bool,
}

impl Guenrouet<'_> {
    /// `members/<name>.yaml`, as a technician writes it (the shape of
    /// `manifests/examples/members`).
    fn yaml(&self) -> String {
        let (name, labels, target, tier) = (self.name, &self.labels, self.target, self.tier);
        let effective = effective_date();
        let annotations = if self.confirmed {
            format!("  annotations:\n    {DOMAIN}/confirm-offboarding: {name}\n")
        } else {
            String::new()
        };
        let notice = self
            .notice
            .as_ref()
            .map_or_else(String::new, |(notice, end)| {
                format!("      noticeDate: \"{notice}\"\n      endDate: \"{end}\"\n")
            });
        format!(
            "apiVersion: {DOMAIN}/v1alpha1\nkind: Member\nmetadata:\n  name: {name}\n  labels:\n\
             {labels}    {DOMAIN}/departement: \"44\"\n{annotations}spec:\n\
             \x20 displayName: Guenrouët\n  inseeCode: \"44068\"\n  population:\n\
             \x20   count: 3346\n    year: 2021\n  subscriptions:\n\
             \x20   - offer: SocleComplet\n      effectiveDate: \"{effective}\"\n\
             \x20     decision: \"DEL-2025-201\"\n{notice}  contacts:\n    decisionMaker:\n\
             \x20     name: Mairie de Guenrouët\n      role: Maire\n    technical:\n\
             \x20     name: Secrétariat de mairie de Guenrouët\n      role: Secrétaire de mairie\n\
             \x20 tenant:\n    storage:\n      size: 20Gi\n      storageClass: standard\n\
             \x20   adminGroups:\n      - commune-guenrouet-admins\n  backup:\n\
             \x20   tier: {tier}\n    target: {target}\n"
        )
    }
}

/// The repository, Flux following it, and what a merge measures.
struct Repository {
    server: GitServer,
    flux: Option<FluxSync>,
    prefix: String,
}

impl Repository {
    /// The pull request's check (`socle validate`, which must find socle
    /// objects and no mistake), then the merge, then what the Git host's
    /// push webhook has Flux do. Returns the commit and when it was pushed.
    async fn merge(&self, message: &str) -> (String, Instant) {
        let options = validate::Options {
            tenant_prefix: self.prefix.clone(),
            ..validate::Options::default()
        };
        let validation = validate::validate_dir(&self.server.work_tree(), &options)
            .unwrap_or_else(|error| panic!("socle validate: {error}"));
        let mistakes: Vec<String> = validation
            .findings
            .iter()
            .filter(|finding| finding.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(
            mistakes.is_empty() && validation.objects > 0,
            "socle validate refuses the pull request \"{message}\": {mistakes:#?}"
        );
        let commit = self.server.merge(message);
        let pushed = Instant::now();
        if let Some(flux) = &self.flux {
            flux.request_fetch().await;
        }
        (commit, pushed)
    }

    fn flux(&self) -> &FluxSync {
        self.flux.as_ref().expect("Flux follows the repository")
    }
}

/// A kustomization.yaml listing `resources`.
fn kustomization(resources: &[&str]) -> String {
    let mut text = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:",
    );
    if resources.is_empty() {
        text.push_str(" []\n");
    }
    for resource in resources {
        text.push_str("\n  - ");
        text.push_str(resource);
    }
    text.push('\n');
    text
}

/// The scope's labels, as YAML lines under `metadata.labels`.
fn label_lines(scope: &TestScope) -> String {
    scope
        .labels()
        .iter()
        .fold(String::new(), |mut lines, (key, value)| {
            let _ = writeln!(lines, "    {key}: {value}");
            lines
        })
}

/// The repository's first commit: the backup target (Velero's namespace and
/// storage location of the testenv) and no member yet.
fn first_commit(server: &GitServer, scope: &TestScope, target: &str) {
    server.write(
        "kustomization.yaml",
        &kustomization(&["services", "members"]),
    );
    server.write(
        "services/kustomization.yaml",
        &kustomization(&[&format!("{target}.yaml")]),
    );
    server.write(
        &format!("services/{target}.yaml"),
        &format!(
            "apiVersion: {DOMAIN}/v1alpha1\nkind: SharedService\nmetadata:\n  name: {target}\n\
             \x20 labels:\n{}spec:\n  displayName: Sauvegarde et PRI du Datacenter\n\
             \x20 category: BackupTarget\n  serviceLevel: 3\n  hosting: Datacenter\n\
             \x20 backupTarget:\n    veleroNamespace: {VELERO}\n    storageLocation: default\n",
            label_lines(scope)
        ),
    );
    server.write("members/kustomization.yaml", &kustomization(&[]));
}

/// The data volume of a tenant, once bound: the volume's name and the file
/// written into its directory (the host-path volume *is* that directory:
/// there is no kubelet to mount it in a pod).
async fn write_into_volume(client: &Client, namespace: &str) -> (String, PathBuf) {
    let volume = volumes::bound_volume(client, namespace, "data").await;
    let name = volume.name_any();
    let spec = volume.spec.expect("a volume spec");
    let file = PathBuf::from(spec.host_path.expect("a host-path volume").path).join("registre.txt");
    std::fs::write(&file, CONTENT).unwrap();
    (name, file)
}

/// The volume is Retain and labelled as the member's, and the file is on
/// disk as written.
async fn assert_data_kept(client: &Client, volume: &str, file: &PathBuf, member: &str) {
    let live = Api::<PersistentVolume>::all(client.clone())
        .get(volume)
        .await
        .unwrap_or_else(|error| panic!("volume {volume} is gone: {error}"));
    assert_eq!(
        live.spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref()),
        Some("Retain"),
        "volume {volume}"
    );
    assert_eq!(
        live.labels()
            .get(&format!("{DOMAIN}/member"))
            .map(String::as_str),
        Some(member),
        "the volume says whose data it is"
    );
    assert_eq!(
        std::fs::read_to_string(file)
            .unwrap_or_else(|error| panic!("{} is gone from the disk: {error}", file.display())),
        CONTENT
    );
}

/// How often a measured wait looks: the figures printed are upper bounds
/// within this much.
const MEASURE_PAUSE: Duration = Duration::from_millis(100);

/// [`eventually`], looking every [`MEASURE_PAUSE`] (it backs off to 500
/// ms), for the waits whose time the test prints.
async fn measure<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(error) => assert!(
                Instant::now() < deadline,
                "condition not met within {timeout:?}; last observed: {error:#}"
            ),
        }
        tokio::time::sleep(MEASURE_PAUSE).await;
    }
}

/// Waits until `member` is Ready for its current generation, its tenant
/// namespace Active.
async fn wait_ready(client: &Client, member: &str, namespace: &str) -> Member {
    let members = Api::<Member>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());
    measure(CONVERGE, || async {
        let live = members.get_opt(member).await?.context("no Member yet")?;
        let ready = condition(&live, "Ready").cloned();
        let current =
            live.status.as_ref().and_then(|s| s.observed_generation) == live.metadata.generation;
        ensure!(
            current && ready.as_ref().is_some_and(|c| c.status == "True"),
            "Ready {ready:?}, observed generation current: {current}"
        );
        let phase = namespaces
            .get_opt(namespace)
            .await?
            .and_then(|n| n.status)
            .and_then(|s| s.phase);
        ensure!(
            phase.as_deref() == Some("Active"),
            "namespace {namespace}: {phase:?}"
        );
        Ok(live)
    })
    .await
}

/// The condition `type_` of `member` once `check` holds for it.
async fn wait_condition(
    client: &Client,
    member: &str,
    type_: &str,
    check: impl Fn(&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> bool,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    let members = Api::<Member>::all(client.clone());
    measure(CONVERGE, || async {
        let live = members.get(member).await?;
        let found = condition(&live, type_).cloned();
        ensure!(found.as_ref().is_some_and(&check), "{type_} is {found:?}");
        Ok(found.unwrap())
    })
    .await
}

/// The Schedule of `namespace` once its TTL is `ttl`.
async fn wait_schedule(client: &Client, namespace: &str, ttl: &str) -> Schedule {
    let schedules = Api::<Schedule>::namespaced(client.clone(), VELERO);
    measure(CONVERGE, || async {
        let schedule = schedules.get_opt(namespace).await?.context("no Schedule")?;
        let live = schedule.spec.template.ttl.clone();
        ensure!(
            live.as_deref() == Some(ttl),
            "ttl {live:?}, waiting for {ttl}"
        );
        Ok(schedule)
    })
    .await
}

/// Guenrouët joins, moves to the Standard tier, gives notice, is confirmed
/// and its file removed, each step a merged pull request that Flux applies;
/// the data volume outlives the tenant. Prints how long each merge took to
/// show in the cluster.
#[tokio::test]
async fn a_commune_s_life_in_pull_requests_applied_by_flux() {
    require_flux();
    let scope = TestScope::new("gitops_flux").await;
    let operator = Operator::start_with_velero(&scope).await;
    let client = scope.client();
    let name = scope.name("guenrouet");
    let target = scope.name("sauvegarde");
    let namespace = operator.tenant_namespace(&name);
    let server = GitServer::start();
    first_commit(&server, &scope, &target);
    let mut repository = Repository {
        server,
        flux: None,
        prefix: operator.namespace_prefix().to_owned(),
    };
    let (commit, _) = repository.merge("Le dépôt GitOps du service commun").await;
    repository.flux = Some(FluxSync::start(&scope, &repository.server).await);
    repository.flux().wait_applied(&commit, APPLY).await;

    let mut file = Guenrouet {
        name: &name,
        labels: label_lines(&scope),
        target: &target,
        tier: "Essential",
        notice: None,
        confirmed: false,
    };
    let path = format!("members/{name}.yaml");
    repository.server.write(&path, &file.yaml());
    repository.server.write(
        "members/kustomization.yaml",
        &kustomization(&[&format!("{name}.yaml")]),
    );
    let (_, pushed) = repository
        .merge("Adhésion de Guenrouët (DEL-2025-201)")
        .await;
    wait_ready(&client, &name, &namespace).await;
    let ready_after = pushed.elapsed();
    let (volume, data) = write_into_volume(&client, &namespace).await;
    wait_schedule(&client, &namespace, "720h0m0s").await;
    eprintln!(
        "gitops: commit → Member {name} Ready (tenant {namespace} Active): {:.1} s",
        ready_after.as_secs_f64()
    );

    file.tier = "Standard";
    repository.server.write(&path, &file.yaml());
    let (_, pushed) = repository.merge("Guenrouët passe au niveau Standard").await;
    let standard = wait_schedule(&client, &namespace, "2160h0m0s").await;
    eprintln!(
        "gitops: commit → Velero Schedule at the Standard tier: {:.1} s",
        pushed.elapsed().as_secs_f64()
    );
    assert!(
        standard.spec.schedule.ends_with("/4 * * *"),
        "every 4 hours: {}",
        standard.spec.schedule
    );

    give_notice_then_leave(&client, &mut repository, &mut file, &path, (&volume, &data)).await;

    assert_eq!(
        logs_showing_the_deploy_key(&repository.server),
        Vec::<String>::new(),
        "the deploy key's private half is in these logs"
    );
    // The end of the test: Flux's objects go (prune takes the backup
    // target with them), then the operator, the Velero backups of the
    // member, the retained volume, the scope.
    repository
        .flux
        .take()
        .expect("Flux follows the repository")
        .delete(APPLY)
        .await;
    operator.stop().await;
    delete_backups(&scope, &name).await;
    release_volume(&client, &volume, &data).await;
    scope.cleanup().await;
}

/// The README's procedure, one pull request per step: the notice (its date
/// already passed here), the confirmation, then the file removed, which
/// Flux prunes. The data stays on its volume throughout.
async fn give_notice_then_leave(
    client: &Client,
    repository: &mut Repository,
    file: &mut Guenrouet<'_>,
    path: &str,
    (volume, data): (&str, &PathBuf),
) {
    let name = file.name.to_owned();
    file.notice = Some(notice_and_end());
    repository.server.write(path, &file.yaml());
    let (_, pushed) = repository
        .merge("Retrait de Guenrouët : préavis (article 2.4)")
        .await;
    let waiting = wait_condition(client, &name, "Offboarding", |c| c.status == "True").await;
    eprintln!(
        "gitops: commit → Offboarding ({}): {:.1} s",
        waiting.reason,
        pushed.elapsed().as_secs_f64()
    );
    assert_eq!(waiting.reason, "AwaitingConfirmation", "{waiting:?}");
    assert!(waiting.message.contains(volume), "{waiting:?}");
    assert_data_kept(client, volume, data, &name).await;

    file.confirmed = true;
    repository.server.write(path, &file.yaml());
    let (_, pushed) = repository
        .merge("Retrait de Guenrouët : confirmation")
        .await;
    wait_condition(client, &name, "Departed", |c| c.status == "True").await;
    eprintln!(
        "gitops: commit → tenant gone after its exit backup, Member Departed: {:.1} s",
        pushed.elapsed().as_secs_f64()
    );
    let namespaces = Api::<Namespace>::all(client.clone());
    let namespace = format!("{}{name}", repository.prefix);
    assert!(namespaces.get_opt(&namespace).await.unwrap().is_none());
    let exit = Api::<Backup>::namespaced(client.clone(), VELERO)
        .get(&format!("{namespace}-exit"))
        .await
        .expect("the exit backup");
    assert_eq!(
        exit.status.and_then(|s| s.phase).as_deref(),
        Some("Completed")
    );
    volumes::wait_released(client, volume).await;
    assert_data_kept(client, volume, data, &name).await;

    repository.server.remove(path);
    repository
        .server
        .write("members/kustomization.yaml", &kustomization(&[]));
    let (commit, pushed) = repository
        .merge("Retrait de Guenrouët : le fichier est retiré")
        .await;
    let members = Api::<Member>::all(client.clone());
    measure(CONVERGE, || async {
        ensure!(
            members.get_opt(&name).await?.is_none(),
            "Member {name} still there"
        );
        Ok(())
    })
    .await;
    eprintln!(
        "gitops: commit → Member pruned by Flux: {:.1} s",
        pushed.elapsed().as_secs_f64()
    );
    repository.flux().wait_applied(&commit, APPLY).await;
    let applied = inventory(client, repository.flux().namespace())
        .await
        .unwrap();
    assert!(
        !applied.iter().any(|id| id.contains(&name)),
        "Flux no longer lists the Member: {applied:?}"
    );
    assert_data_kept(client, volume, data, &name).await;
}

/// The year in force: the commune joined two years ago, so that its notice
/// (a year and a month before its end, as article 2.4 wants) and its end
/// (the last day of an exercise) have both passed today.
fn effective_date() -> String {
    format!("{}-01-01", Zoned::now().year() - 2)
}

/// `(noticeDate, endDate)`: notice given on 1 December two years ago, the
/// subscription ending on 31 December of last year.
fn notice_and_end() -> (String, String) {
    let year = Zoned::now().year();
    (format!("{}-12-01", year - 2), format!("{}-12-31", year - 1))
}

/// Has Velero delete the member's backups (from the cluster and the
/// bucket), as `velero backup delete` does, and waits until they are gone.
async fn delete_backups(scope: &TestScope, member: &str) {
    let client = &scope.client();
    let backups = Api::<Backup>::namespaced(client.clone(), VELERO);
    let of_member = ListParams::default().labels(&format!("{DOMAIN}/member={member}"));
    let requests = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        VELERO,
        &ApiResource {
            group: "velero.io".into(),
            version: "v1".into(),
            api_version: "velero.io/v1".into(),
            kind: "DeleteBackupRequest".into(),
            plural: "deletebackuprequests".into(),
        },
    );
    for backup in backups.list(&of_member).await.unwrap() {
        let request: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
            "metadata": {"generateName": format!("{}-", backup.name_any()), "labels": scope.labels()},
            "spec": {"backupName": backup.name_any()},
        }))
        .unwrap();
        requests
            .create(&PostParams::default(), &request)
            .await
            .unwrap();
    }
    eventually(CONVERGE, || async {
        let left: Vec<String> = backups
            .list(&of_member)
            .await?
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        ensure!(left.is_empty(), "backups left: {left:?}");
        Ok(())
    })
    .await;
}

/// What the test leaves: the retained volume and its directory, which the
/// DSI would hand back to the commune and then release.
async fn release_volume(client: &Client, volume: &str, data: &Path) {
    match Api::<PersistentVolume>::all(client.clone())
        .delete(volume, &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => {}
        Err(error) => panic!("deleting volume {volume}: {error}"),
    }
    if let Some(directory) = data.parent() {
        let _ = std::fs::remove_dir_all(directory);
    }
}

/// Flux fetches only from the host whose key it pinned: a server at the
/// pinned address with another host key (an impostor) is refused before
/// Flux logs in, and nothing it serves is applied.
#[tokio::test]
async fn a_server_with_another_host_key_is_refused() {
    require_flux();
    let scope = TestScope::new("gitops_host_key").await;
    let genuine = GitServer::start();
    let impostor = GitServer::start();
    let target = scope.name("sauvegarde");
    first_commit(&impostor, &scope, &target);
    impostor.merge("Un dépôt qui n'est pas celui de la DSI");
    let flux = FluxSync::start_pinning(
        &scope,
        &impostor,
        &impostor.known_hosts_with(&genuine.host_key()),
    )
    .await;
    let (_, message) = eventually(APPLY, || async {
        let ready = flux.source_ready().await?;
        ensure!(ready.0 == "False", "GitRepository Ready {ready:?}");
        Ok(ready)
    })
    .await;
    assert!(
        message.contains("key mismatch") || message.contains("knownhosts"),
        "the refusal says why: {message}"
    );
    assert!(
        !impostor.sshd_log().contains("Accepted publickey"),
        "Flux did not log in to the impostor"
    );
    assert_eq!(flux.applied_revision().await.unwrap(), "");
    let services = Api::<socle::api::SharedService>::all(scope.client());
    assert!(services.get_opt(&target).await.unwrap().is_none());
    flux.delete(APPLY).await;
    scope.cleanup().await;
}

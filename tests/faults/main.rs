//! `socle-faults`: the fault suite (`cargo xtask faults`, and the last step
//! of `cargo xtask ci`). The real `socle run` binary, as the shipped
//! ServiceAccount, provisions and bills Members whose volumes really bind,
//! while the harness kills what a Datacenter loses: the operator (SIGKILL at
//! random moments of provisioning and metering), kube-apiserver and etcd
//! (SIGKILL, then started again with the same data, through `cargo xtask
//! testenv restart`), and the object store under Velero's own server (down
//! 30 s as a commune with backups joins, then as a drill's restore begins). After each fault it waits until
//! everything has converged again and checks what the commune and the
//! finance department rely on:
//!
//! - every Member Ready;
//! - exactly one ContributionStatement per member, exercise and title (the
//!   contribution, and an audit delivered that year on its own);
//! - no usage fact recorded twice (one record per member, meter, period and
//!   evidence, corrections aside);
//! - every volume of an offboarded commune kept (`Retain`), its file on disk;
//! - after the store's outage, the Member said `StorageUnavailable` while it
//!   lasted, then has a completed backup and `BackupReady` again;
//! - the drill caught by the outage ended with a verdict that says why, and
//!   the next one passed.
//!
//! It kills kube-apiserver and etcd: it runs alone on its control plane,
//! never beside the end-to-end tests. Tunnels are not part of it yet (the
//! emulated routers of the VPN tests are not started here).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use socle::{
    api::{ContributionStatement, DrillReport, Member, UsageRecord, drill_report::Verdict},
    backup::{
        metadata::{DRILL_NOW, REQUEST},
        velero::{Backup, Restore},
    },
    contribution::{Offer, TitleKind},
    labels::{CONFIRM_OFFBOARDING, MEMBER},
};
use socle_e2e::{
    TestScope, eventually,
    examples::{condition, examples, scoped, wait_until_ready},
    install::ScopedInstall,
    install_socle_crds,
    operator::{force_delete, offboard_scope},
    process::{OperatorProcess, OperatorSetup},
    velero::create_backup_target,
};

/// The testenv's StorageClass: kube-controller-manager's host-path provisioner.
const STORAGE_CLASS: &str = "standard";
/// How long the whole population may take to converge after a fault.
const CONVERGE: Duration = Duration::from_secs(300);
/// Velero's namespace in the testenv.
const VELERO: &str = "velero";
/// How long the object store stays down in step 5: long enough for Velero
/// to find its storage location unavailable (it checks every 10 s here).
const STORE_DOWN: Duration = Duration::from_secs(30);
/// What a file in a commune's volume holds.
const CONTENT: &str = "registre des délibérations\n";

#[derive(Debug, Parser)]
#[command(about = "socle's fault suite: the operator, kube-apiserver and etcd killed under load")]
struct Args {
    /// The `socle` binary to run.
    #[arg(long)]
    socle: PathBuf,
    /// How many Members (the 31 example communes, repeated).
    #[arg(long, default_value_t = 50)]
    members: usize,
    /// How many times the operator is SIGKILLed while it provisions and meters.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// How many communes are offboarded, the operator killed meanwhile.
    #[arg(long, default_value_t = 5)]
    offboarded: usize,
}

/// What one fault cost.
#[derive(Debug)]
struct Outcome {
    fault: String,
    /// From the fault's end to everything converged and checked.
    converged: Duration,
    /// Apply → Ready of a Member created right after the fault.
    probe: Option<Duration>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let scope = TestScope::new("faults").await;
    let client = scope.client();
    install_socle_crds(&client).await;
    // socle's Velero access where the testenv's `velero server` runs.
    let install = ScopedInstall::apply_in_velero(&scope, VELERO).await;
    let kubeconfig = std::env::temp_dir().join(format!("socle-faults-{}.kubeconfig", scope.id()));
    std::fs::write(
        &kubeconfig,
        serde_yaml::to_string(&install.operator_kubeconfig(&client).await)?,
    )?;
    let setup = OperatorSetup {
        binary: args.socle.clone(),
        kubeconfig,
        namespace: install.namespace.clone(),
        member_selector: scope.selector(),
        tenant_prefix: scope.tenant_prefix(),
        renamed: Some(install.renamed()),
        // Outside the testenv's directory, which goes with the testenv.
        log: std::env::temp_dir().join(format!("socle-faults-{}.log", scope.id())),
    };
    let mut suite = Suite {
        client,
        scope,
        setup,
        members: Vec::new(),
        outcomes: Vec::new(),
    };
    let result = suite.run(&args).await;
    println!("{}", suite.report());
    if let Err(error) = &result {
        eprintln!("faults: {error:#}");
        let log = std::fs::read_to_string(&suite.setup.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        eprintln!(
            "faults: the last lines of the operator's log ({}):\n{}",
            suite.setup.log.display(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        );
        // No operator may be left to offboard them: gone without it.
        if let Err(error) = force_delete(
            &suite.client,
            &suite.scope.selector(),
            &suite.setup.tenant_prefix,
        )
        .await
        {
            eprintln!("faults: cleaning up: {error:#}");
        }
    }
    suite.scope.cleanup().await;
    result
}

struct Suite {
    client: Client,
    scope: TestScope,
    setup: OperatorSetup,
    /// The Members created, as created.
    members: Vec<Member>,
    outcomes: Vec<Outcome>,
}

impl Suite {
    async fn run(&mut self, args: &Args) -> Result<()> {
        // 1. The operator SIGKILLed at random moments while it provisions
        //    the population and meters it.
        let population = self.population(args.members);
        let mut operator = OperatorProcess::start(&self.setup)?;
        operator.wait_ready(Duration::from_secs(60)).await?;
        let members = Api::<Member>::all(self.client.clone());
        for member in &population {
            members.create(&PostParams::default(), member).await?;
        }
        self.members.extend(population);
        let mut moments = Moments::new(self.scope.id());
        for _ in 0..args.kills {
            tokio::time::sleep(moments.next(Duration::from_millis(300), Duration::from_secs(4)))
                .await;
            operator.kill()?;
            operator = OperatorProcess::start(&self.setup)?;
        }
        let started = Instant::now();
        self.check().await?;
        self.outcomes.push(Outcome {
            fault: format!(
                "operator SIGKILLed {} times while provisioning and metering {} Members",
                args.kills, args.members
            ),
            converged: started.elapsed(),
            probe: None,
        });

        // 2 and 3. kube-apiserver, then etcd, killed and started again under
        //    the running operator; a Member created as soon as the API
        //    server answers again.
        for component in ["kube-apiserver", "etcd"] {
            restart(component, Duration::ZERO)?;
            let (probe, probed) = self.probe(component).await?;
            let started = Instant::now();
            self.check().await?;
            self.members.push(probe);
            self.outcomes.push(Outcome {
                fault: format!("{component} SIGKILLed and started again"),
                converged: started.elapsed(),
                probe: Some(probed),
            });
        }

        // 4. Communes offboarded (confirmed, then deleted) with the operator
        //    killed twice meanwhile: their data stays.
        let leaving: Vec<Member> = self
            .members
            .iter()
            .filter(|member| has_volume(member))
            .take(args.offboarded)
            .cloned()
            .collect();
        let files = self.write_files(&leaving).await?;
        for member in &leaving {
            let name = member.name_any();
            let confirm = json!({"metadata": {"annotations": {CONFIRM_OFFBOARDING: name}}});
            members
                .patch(&name, &PatchParams::default(), &Patch::Merge(&confirm))
                .await?;
            members.delete(&name, &DeleteParams::background()).await?;
        }
        for _ in 0..2 {
            tokio::time::sleep(moments.next(Duration::from_millis(100), Duration::from_secs(2)))
                .await;
            operator.kill()?;
            operator = OperatorProcess::start(&self.setup)?;
        }
        let started = Instant::now();
        self.members
            .retain(|member| !leaving.iter().any(|l| l.name_any() == member.name_any()));
        self.check_offboarded(&leaving, &files).await?;
        self.check().await?;
        self.outcomes.push(Outcome {
            fault: format!(
                "{} communes offboarded, the operator SIGKILLed twice meanwhile",
                leaving.len()
            ),
            converged: started.elapsed(),
            probe: None,
        });

        self.store_faults(&members).await?;

        // The rest go the way they came; the kept volumes are released.
        offboard_scope(
            &self.client,
            &self.scope.selector(),
            &self.setup.tenant_prefix,
        )
        .await;
        operator.stop()?;
        for (volume, file) in files.values() {
            release(&self.client, volume, file).await?;
        }
        self.release_retained().await?;
        Ok(())
    }

    /// `n` hosted communes: the examples, repeated, renamed into the scope,
    /// without VPN nor backups, their data volumes on the real provisioner.
    fn population(&self, n: usize) -> Vec<Member> {
        let examples = examples();
        (0..n)
            .map(|i| {
                let mut member = scoped(&self.scope, examples[i % examples.len()].clone(), "none");
                if i >= examples.len() {
                    let name = self.scope.name(&format!("c{i}"));
                    member.metadata.name = Some(name);
                }
                member.spec.vpn = None;
                member.spec.backup = None;
                if let Some(storage) = member
                    .spec
                    .tenant
                    .as_mut()
                    .and_then(|tenant| tenant.storage.as_mut())
                {
                    storage.storage_class = Some(STORAGE_CLASS.into());
                }
                member
            })
            .collect()
    }

    /// Steps 5 and 6: the object store under Velero's server killed as a
    /// commune with backups joins, then as a drill restores its backup.
    async fn store_faults(&mut self, members: &Api<Member>) -> Result<()> {
        // 5. The object store down for a while just as a commune with
        //    backups joins: the Member says its storage location is
        //    unavailable; once the store is back, its first backup is taken
        //    again and completes.
        let (commune, attempts, converged) = self.store_outage(members).await?;
        self.members.push(commune);
        self.check().await?;
        self.outcomes.push(Outcome {
            fault: format!(
                "object store (versitygw) SIGKILLed and down {} s as a commune with backups joined ({attempts} first-backup attempts)",
                STORE_DOWN.as_secs()
            ),
            converged,
            probe: None,
        });

        // 6. The object store killed as a drill restores that commune's
        //    backup: the drill ends with a verdict that says what happened
        //    (no drill left hanging), and once the store is back a drill
        //    passes again.
        let (first, converged) = self.drill_outage(members).await?;
        self.check().await?;
        self.outcomes.push(Outcome {
            fault: format!(
                "object store SIGKILLed and down {} s as a drill's restore began (that drill: {first})",
                STORE_DOWN.as_secs()
            ),
            converged,
            probe: None,
        });
        Ok(())
    }

    /// Step 5: the commune, how many first backups were asked for, and the
    /// time from the store's return to a completed backup and BackupReady.
    async fn store_outage(&self, members: &Api<Member>) -> Result<(Member, usize, Duration)> {
        let target = create_backup_target(&self.scope, "sauvegardes", VELERO, "default").await;
        let mut commune = self.population(1).remove(0);
        commune.metadata.name = Some(self.scope.name("sauvegardee"));
        commune.spec.backup = Some(serde_json::from_value(
            json!({"tier": "Standard", "target": target}),
        )?);
        let name = commune.name_any();
        let outage = tokio::task::spawn_blocking(|| restart("versitygw", STORE_DOWN));
        // Let the kill land first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        members.create(&PostParams::default(), &commune).await?;
        // What the DSI sees while the store is down.
        tokio::time::timeout(STORE_DOWN, async {
            loop {
                let member = members.get(&name).await?;
                if condition(&member, "BackupReady")
                    .is_some_and(|c| c.reason == "StorageUnavailable")
                {
                    return Ok::<_, anyhow::Error>(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
        .context("BackupReady never said StorageUnavailable while the store was down")??;
        outage.await??;
        let started = Instant::now();
        let backups: Api<Backup> = Api::namespaced(self.client.clone(), VELERO);
        let selector = ListParams::default().labels(&format!("{MEMBER}={name}"));
        let attempts = tokio::time::timeout(CONVERGE, async {
            loop {
                let taken = backups.list(&selector).await?.items;
                let completed = taken.iter().any(|b| {
                    b.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Completed")
                });
                let member = members.get(&name).await?;
                let ready = condition(&member, "BackupReady").is_some_and(|c| c.status == "True");
                if completed && ready {
                    return Ok::<_, anyhow::Error>(taken.len());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
        .context("no completed backup and BackupReady after the store came back")??;
        Ok((commune, attempts, started.elapsed()))
    }

    /// Step 6, on step 5's commune (which has a completed backup): what
    /// the drill during the outage ended with, and the time from the
    /// store's return to a passed drill and `DrillHealthy`.
    async fn drill_outage(&self, members: &Api<Member>) -> Result<(String, Duration)> {
        let name = self.scope.name("sauvegardee");
        let restores: Api<Restore> = Api::namespaced(self.client.clone(), VELERO);
        let of_member = ListParams::default().labels(&format!("{MEMBER}={name}"));
        let before = restores.list(&of_member).await?.items.len();
        self.ask_for_drill(members, &name, "fault-store-down")
            .await?;
        tokio::time::timeout(CONVERGE, async {
            while restores.list(&of_member).await?.items.len() == before {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await
        .context("no drill Restore was created")??;
        // Velero reads the backup from the store as the Restore begins: the
        // kill lands within milliseconds of it, before or after that read.
        restart("versitygw", STORE_DOWN)?;
        let during = self.drill_report(&name, "fault-store-down").await?;
        let first = match during.spec.verdict {
            Verdict::Passed => "Passed: Velero had read the backup before the store went".into(),
            Verdict::Failed => {
                let why = during.spec.failed_checks();
                ensure!(!why.is_empty(), "a failed drill that says nothing");
                format!("Failed, {}", why.join("; "))
            }
        };
        let started = Instant::now();
        // Velero checks the location every 10 s: until it finds it
        // Available again, socle starts no drill.
        self.ask_for_drill(members, &name, "fault-store-back")
            .await?;
        let after = self.drill_report(&name, "fault-store-back").await?;
        ensure!(
            after.spec.verdict == Verdict::Passed,
            "the drill after the store came back: {:?}",
            after.spec.failed_checks()
        );
        eventually(CONVERGE, || async {
            let member = members.get(&name).await?;
            let healthy = condition(&member, "DrillHealthy");
            ensure!(
                healthy.is_some_and(|c| c.status == "True"),
                "DrillHealthy {healthy:?}"
            );
            Ok(())
        })
        .await;
        Ok((first, started.elapsed()))
    }

    /// Asks for an on-demand drill of `member` (the drill-now annotation).
    async fn ask_for_drill(
        &self,
        members: &Api<Member>,
        member: &str,
        request: &str,
    ) -> Result<()> {
        let ask = json!({"metadata": {"annotations": {DRILL_NOW: request}}});
        members
            .patch(member, &PatchParams::default(), &Patch::Merge(&ask))
            .await?;
        Ok(())
    }

    /// The DrillReport answering the on-demand `request` of `member`.
    async fn drill_report(&self, member: &str, request: &str) -> Result<DrillReport> {
        let reports = Api::<DrillReport>::namespaced(self.client.clone(), &self.setup.namespace);
        let of_member = ListParams::default().labels(&format!("{MEMBER}={member}"));
        tokio::time::timeout(CONVERGE, async {
            loop {
                let answered =
                    reports.list(&of_member).await?.items.into_iter().find(|r| {
                        r.annotations().get(REQUEST).map(String::as_str) == Some(request)
                    });
                if let Some(report) = answered {
                    return Ok::<_, anyhow::Error>(report);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
        .with_context(|| format!("no DrillReport answered the drill request {request}"))?
    }

    /// Creates one more Member and returns it with its apply → Ready.
    async fn probe(&self, after: &str) -> Result<(Member, Duration)> {
        let mut probe = self.population(1).remove(0);
        probe.metadata.name = Some(self.scope.name(&format!("after-{after}")));
        let started = Instant::now();
        Api::<Member>::all(self.client.clone())
            .create(&PostParams::default(), &probe)
            .await?;
        wait_until_ready(&self.client, &self.scope, std::slice::from_ref(&probe)).await;
        Ok((probe, started.elapsed()))
    }

    /// Waits until every Member is Ready and billed, then checks that no
    /// statement and no usage fact exists twice.
    async fn check(&self) -> Result<()> {
        let live = tokio::time::timeout(
            CONVERGE,
            wait_until_ready(&self.client, &self.scope, &self.members),
        )
        .await
        .context("the Members did not all get Ready")?;
        // An annual subscription in force owes the exercise (ruling 6); an
        // audit is billed only once its report is delivered (ruling 3).
        let today = k8s_openapi::jiff::Zoned::now().date();
        let exercise = today.year();
        let billed: Vec<String> = live
            .iter()
            .filter(|member| {
                matches!(
                    member.offer_on(today),
                    Some(Offer::SocleComplet | Offer::GroupementAchats)
                )
            })
            .map(ResourceExt::name_any)
            .collect();
        let statements =
            Api::<ContributionStatement>::namespaced(self.client.clone(), &self.setup.namespace);
        eventually(CONVERGE, || async {
            // One per member, exercise and title: the contribution, and an
            // audit delivered that year on a title of its own.
            let mut count: BTreeMap<(String, i16), usize> = BTreeMap::new();
            let mut titles: BTreeMap<(String, i16, TitleKind), usize> = BTreeMap::new();
            for statement in statements.list(&ListParams::default()).await? {
                let spec = &statement.spec;
                *count
                    .entry((spec.member.clone(), spec.exercise))
                    .or_default() += 1;
                *titles
                    .entry((spec.member.clone(), spec.exercise, spec.title_kind))
                    .or_default() += 1;
            }
            let twice: Vec<_> = titles.iter().filter(|(_, n)| **n > 1).collect();
            ensure!(twice.is_empty(), "statements written twice: {twice:?}");
            let missing: Vec<&String> = billed
                .iter()
                .filter(|member| !count.contains_key(&((*member).clone(), exercise)))
                .collect();
            ensure!(
                missing.is_empty(),
                "{} members without a {exercise} statement yet: {missing:?}",
                missing.len()
            );
            Ok(())
        })
        .await;
        // Metering follows the bulk once it has settled: every member that
        // is billed has its facts, and none twice.
        let records = Api::<UsageRecord>::namespaced(self.client.clone(), &self.setup.namespace);
        eventually(CONVERGE, || async {
            // A fact: its member, meter, period and what it is evidence of
            // (the offer of a subscription's days, the namespace of a
            // volume): two records of one fact would bill it twice.
            let mut facts: BTreeMap<(String, String, String, String, String), Vec<String>> =
                BTreeMap::new();
            for record in records.list(&ListParams::default()).await? {
                if record.spec.corrects.is_some() {
                    continue;
                }
                let spec = &record.spec;
                facts
                    .entry((
                        spec.member.clone(),
                        spec.meter.clone(),
                        spec.period.start.to_string(),
                        spec.period.end.to_string(),
                        spec.evidence.clone().unwrap_or_default(),
                    ))
                    .or_default()
                    .push(record.name_any());
            }
            let twice: Vec<_> = facts.iter().filter(|(_, names)| names.len() > 1).collect();
            ensure!(twice.is_empty(), "usage facts recorded twice: {twice:?}");
            let unmetered: Vec<&String> = billed
                .iter()
                .filter(|member| !facts.keys().any(|(m, ..)| m == *member))
                .collect();
            ensure!(
                unmetered.is_empty(),
                "{} billed members without a usage fact yet",
                unmetered.len()
            );
            Ok(())
        })
        .await;
        Ok(())
    }

    /// A file written into the volume of each of `members`: volume name and
    /// file path by member.
    async fn write_files(&self, members: &[Member]) -> Result<BTreeMap<String, (String, PathBuf)>> {
        let mut files = BTreeMap::new();
        for member in members {
            let name = member.name_any();
            let namespace = format!("{}{name}", self.setup.tenant_prefix);
            let claim = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &namespace)
                .get("data")
                .await?;
            let volume = claim
                .spec
                .and_then(|spec| spec.volume_name)
                .with_context(|| format!("the claim of {name} is not bound"))?;
            let path = Api::<PersistentVolume>::all(self.client.clone())
                .get(&volume)
                .await?
                .spec
                .and_then(|spec| spec.host_path)
                .with_context(|| format!("volume {volume} is not a host-path volume"))?
                .path;
            let file = PathBuf::from(path).join("registre.txt");
            std::fs::write(&file, CONTENT)?;
            files.insert(name, (volume, file));
        }
        Ok(files)
    }

    /// The offboarded communes' namespaces are gone, their volumes Retain
    /// and released, their files on disk.
    async fn check_offboarded(
        &self,
        leaving: &[Member],
        files: &BTreeMap<String, (String, PathBuf)>,
    ) -> Result<()> {
        let namespaces = Api::<Namespace>::all(self.client.clone());
        let volumes = Api::<PersistentVolume>::all(self.client.clone());
        eventually(CONVERGE, || async {
            for member in leaving {
                let name = member.name_any();
                let namespace = format!("{}{name}", self.setup.tenant_prefix);
                ensure!(
                    namespaces.get_opt(&namespace).await?.is_none(),
                    "namespace {namespace} still there"
                );
                let (volume, _) = &files[&name];
                let live = volumes.get(volume).await?;
                let spec = live.spec.unwrap_or_default();
                ensure!(
                    spec.persistent_volume_reclaim_policy.as_deref() == Some("Retain"),
                    "volume {volume} of {name} is {:?}",
                    spec.persistent_volume_reclaim_policy
                );
                let phase = live.status.and_then(|s| s.phase);
                ensure!(
                    phase.as_deref() == Some("Released"),
                    "volume {volume} is {phase:?}"
                );
            }
            Ok(())
        })
        .await;
        for (name, (volume, file)) in files {
            let content = std::fs::read_to_string(file)
                .with_context(|| format!("the file of {name} on volume {volume} is gone"))?;
            ensure!(content == CONTENT, "the file of {name} changed");
        }
        Ok(())
    }

    /// Releases what the final offboarding kept: the scope's volumes,
    /// labelled by socle with their member.
    async fn release_retained(&self) -> Result<()> {
        let volumes = Api::<PersistentVolume>::all(self.client.clone());
        for volume in volumes.list(&ListParams::default()).await? {
            let ours = volume
                .labels()
                .get(socle::labels::MEMBER)
                .is_some_and(|member| member.ends_with(&format!("-{}", self.scope.id())));
            let path = volume
                .spec
                .as_ref()
                .and_then(|spec| spec.host_path.as_ref())
                .map(|source| PathBuf::from(&source.path));
            if let (true, Some(path)) = (ours, path) {
                release(&self.client, &volume.name_any(), &path.join("registre.txt")).await?;
            }
        }
        Ok(())
    }

    fn report(&self) -> String {
        let mut text = String::from(
            "| fault | converged and checked after | apply → Ready of a Member created right after |\n|---|---|---|\n",
        );
        for outcome in &self.outcomes {
            let probe = outcome
                .probe
                .map_or_else(|| "—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
            let _ = writeln!(
                text,
                "| {} | {:.1} s | {probe} |",
                outcome.fault,
                outcome.converged.as_secs_f64(),
            );
        }
        text
    }
}

fn has_volume(member: &Member) -> bool {
    member
        .spec
        .tenant
        .as_ref()
        .is_some_and(|tenant| tenant.storage.is_some())
}

/// Deletes a kept volume and its directory (the file's).
async fn release(client: &Client, volume: &str, file: &std::path::Path) -> Result<()> {
    match Api::<PersistentVolume>::all(client.clone())
        .delete(volume, &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => {}
        Err(error) => return Err(error.into()),
    }
    if let Some(directory) = file.parent() {
        let _ = std::fs::remove_dir_all(directory);
    }
    Ok(())
}

/// `cargo xtask testenv restart <component> --down-for <s>`: SIGKILL, then
/// the same process again `down_for` later; returns once the API server is
/// ready.
fn restart(component: &str, down_for: Duration) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let down_for = down_for.as_secs().to_string();
    let status = Command::new(cargo)
        .args([
            "xtask",
            "testenv",
            "restart",
            component,
            "--down-for",
            &down_for,
        ])
        .status()
        .context("running cargo xtask testenv restart")?;
    if !status.success() {
        bail!("cargo xtask testenv restart {component} failed");
    }
    Ok(())
}

/// Pseudo-random moments, reproducible from the scope's id (printed), so
/// that a failing run can be told apart from another.
struct Moments(u64);

impl Moments {
    fn new(seed: &str) -> Self {
        let seed = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        eprintln!("faults: moments seeded with {seed:#x}");
        Self(seed | 1)
    }

    /// A duration between `low` and `high` (xorshift).
    fn next(&mut self, low: Duration, high: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = u64::try_from(high.saturating_sub(low).as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        low + Duration::from_millis(self.0 % span)
    }
}

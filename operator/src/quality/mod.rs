//! The quality of service, recorded month by month for the annual report
//! (article 6.2): one `QualityRecord` per member and month in the
//! operator's namespace (`<member>-<YYYY-MM>`, UTC months), read by `socle
//! report` from the cluster, or from a directory holding `kubectl get
//! qualityrecords -o yaml`.
//!
//! Two writers, each its own part of the record under its own field
//! manager, by server-side apply: the backup controller (`spec.backups`,
//! [`BackupRecorder`]) and the VPN health watch (`spec.tunnels`, one entry
//! per site, [`TunnelRecorder`]). Each keeps in memory what it last wrote
//! and reads a record only the first time it needs it after a start, so a
//! look that changes no fact costs no request; the facts themselves change
//! only when something happens ([`backups`], [`tunnels`]). A record is
//! kept after its month, as evidence; nothing here deletes one.

pub mod backups;
pub mod tunnels;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use croner::Cron;
use jiff::{Timestamp, civil::Date, tz::TimeZone};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    api::{
        QualityRecord,
        quality_record::{BackupQuality, QualityRecordSpec, TunnelQuality},
    },
    labels,
    runtime::{Context, telemetry::Metrics},
};

/// The value of the component label on the records.
pub const COMPONENT: &str = "quality";
/// Field manager of the backups part.
pub const BACKUPS_MANAGER: &str = "socle-quality-backups";
/// Field manager of the tunnels part.
pub const TUNNELS_MANAGER: &str = "socle-quality-tunnels";

/// A UTC month: its first instant and the first instant after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

impl Month {
    pub fn of(at: Timestamp) -> Self {
        let date = at.to_zoned(TimeZone::UTC).date();
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    #[must_use]
    pub fn before(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    fn after(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn start(self) -> Timestamp {
        Date::new(self.year, self.month, 1)
            .and_then(|date| date.to_zoned(TimeZone::UTC))
            .map_or(Timestamp::MIN, |zoned| zoned.timestamp())
    }

    pub fn end(self) -> Timestamp {
        self.after().start()
    }

    /// `YYYY-MM`.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// From `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let (year, month) = text.split_once('-')?;
        let month = Self {
            year: year.parse().ok()?,
            month: month.parse().ok()?,
        };
        (1..=12).contains(&month.month).then_some(month)
    }
}

/// The record's name: `<member>-<YYYY-MM>`.
pub fn record_name(member: &str, month: Month) -> String {
    format!("{member}-{}", month.label())
}

/// What one writer knows of the records: read once after a start, then
/// what it wrote.
struct Records {
    client: Client,
    namespace: String,
    metrics: Arc<Metrics>,
    manager: &'static str,
    known: Mutex<HashMap<String, Option<QualityRecordSpec>>>,
}

impl Records {
    fn new(ctx: &Context, manager: &'static str) -> Self {
        Self {
            client: ctx.client.clone(),
            namespace: ctx.namespace.clone(),
            metrics: ctx.metrics.clone(),
            manager,
            known: Mutex::default(),
        }
    }

    fn api(&self) -> Api<QualityRecord> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The record as this writer knows it, read on first use.
    async fn get(&self, name: &str) -> Result<Option<QualityRecordSpec>, kube::Error> {
        if let Some(known) = self.known.lock().expect("not poisoned").get(name) {
            return Ok(known.clone());
        }
        let live = self.api().get_opt(name).await?.map(|record| record.spec);
        self.known
            .lock()
            .expect("not poisoned")
            .insert(name.to_owned(), live.clone());
        Ok(live)
    }

    /// Applies `part` (the writer's fields of the spec) to `name`, and
    /// remembers `spec` as what the record now says.
    async fn apply(
        &self,
        name: &str,
        member: &str,
        part: serde_json::Value,
        spec: QualityRecordSpec,
    ) -> Result<(), kube::Error> {
        let mut body = json!({
            "apiVersion": "socle.redon-agglomeration.bzh/v1alpha1",
            "kind": "QualityRecord",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {
                    labels::MEMBER: member,
                    labels::COMPONENT: COMPONENT,
                    labels::MANAGED_BY: labels::MANAGER,
                },
            },
            "spec": {"member": spec.member, "month": spec.month},
        });
        if let (Some(spec), serde_json::Value::Object(part)) = (body["spec"].as_object_mut(), part)
        {
            spec.extend(part);
        }
        self.api()
            .patch(
                name,
                &PatchParams::apply(self.manager).force(),
                &Patch::Apply(body),
            )
            .await?;
        self.metrics.wrote(COMPONENT, 1);
        let mut known = self.known.lock().expect("not poisoned");
        known.insert(name.to_owned(), Some(spec));
        // Only this month and the one before are ever written again.
        if known.len() > 4096 {
            known.clear();
        }
        Ok(())
    }
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

fn empty(member: &str, month: Month) -> QualityRecordSpec {
    QualityRecordSpec {
        member: member.to_owned(),
        month: month.label(),
        backups: None,
        tunnels: Vec::new(),
    }
}

/// Records each member's backups, for the backup controller.
#[derive(Debug)]
pub struct BackupRecorder(Records);

/// How long after a month's end its last runs are still judged: the
/// longest objective of a tier, and its grace.
const LATE_RUNS: jiff::SignedDuration = jiff::SignedDuration::from_hours(26);

impl BackupRecorder {
    pub fn new(ctx: &Context) -> Self {
        Self(Records::new(ctx, BACKUPS_MANAGER))
    }

    /// Records what the backup controller observed of `member`'s schedule:
    /// this month, and the month before while its last runs are judged.
    /// Writes only what changed.
    pub async fn observed(
        &self,
        member: &str,
        observed: &backups::Observed<'_>,
    ) -> Result<(), kube::Error> {
        let cron = crate::backup::plan::parse_cron(observed.cron).ok();
        let this = Month::of(observed.now);
        let before = this.before();
        let before_name = record_name(member, before);
        let before_spec = self.0.get(&before_name).await?;
        let before_part = before_spec.as_ref().and_then(|spec| spec.backups.clone());
        if let Some(previous) = &before_part
            && observed.now < this.start() + LATE_RUNS
        {
            self.write(
                member,
                before,
                observed,
                cron.as_ref(),
                Some(previous),
                true,
            )
            .await?;
        }
        let name = record_name(member, this);
        let current = self.0.get(&name).await?.and_then(|spec| spec.backups);
        self.write(
            member,
            this,
            observed,
            cron.as_ref(),
            current.as_ref(),
            before_part.is_some(),
        )
        .await
    }

    async fn write(
        &self,
        member: &str,
        month: Month,
        observed: &backups::Observed<'_>,
        cron: Option<&Cron>,
        previous: Option<&BackupQuality>,
        watched_before: bool,
    ) -> Result<(), kube::Error> {
        let new = backups::record(
            observed,
            &backups::Month {
                start: month.start(),
                end: month.end(),
                previous,
                watched_before,
            },
            cron,
        );
        if previous == Some(&new) {
            return Ok(());
        }
        let name = record_name(member, month);
        let mut spec = self
            .0
            .get(&name)
            .await?
            .unwrap_or_else(|| empty(member, month));
        spec.backups = Some(new.clone());
        self.0
            .apply(&name, member, json!({ "backups": new }), spec)
            .await
    }
}

/// Records each tunnel's outages, for the VPN health watch.
#[derive(Debug)]
pub struct TunnelRecorder(Records);

impl TunnelRecorder {
    pub fn new(ctx: &Context) -> Self {
        Self(Records::new(ctx, TUNNELS_MANAGER))
    }

    /// Records what the hub said of `member`'s tunnel to `site` at `now`
    /// (Unix seconds), silent beyond `bound` meaning down. Writes only what
    /// changed; a failure is logged, and the next look tries again.
    pub async fn observed(
        &self,
        member: &str,
        site: &str,
        heard: crate::vpn::health::Heard,
        now: u64,
        bound: Duration,
    ) {
        let heard = tunnels::Heard {
            handshake: heard.handshake,
            last: heard.last,
        };
        let now = Timestamp::from_second(i64::try_from(now).unwrap_or(i64::MAX))
            .unwrap_or_else(|_| Timestamp::now());
        if let Err(error) = self.record(member, site, heard, now, bound).await {
            tracing::warn!(member, site, error = %crate::runtime::chain(&error), "tunnel quality not recorded");
        }
    }

    async fn record(
        &self,
        member: &str,
        site: &str,
        heard: tunnels::Heard,
        now: Timestamp,
        bound: Duration,
    ) -> Result<(), kube::Error> {
        let this = Month::of(now);
        let name = record_name(member, this);
        let spec = self.0.get(&name).await?;
        let previous = spec
            .as_ref()
            .and_then(|spec| spec.tunnels.iter().find(|t| t.site == site).cloned());
        let before = if previous.is_none() {
            self.0
                .get(&record_name(member, this.before()))
                .await?
                .and_then(|spec| spec.tunnels.into_iter().find(|t| t.site == site))
        } else {
            None
        };
        let new = tunnels::record(
            site,
            heard,
            now,
            bound,
            &tunnels::Month {
                start: this.start(),
                end: this.end(),
                previous: previous.as_ref(),
                before: before.as_ref(),
            },
        );
        if previous.as_ref() == Some(&new) {
            return Ok(());
        }
        let mut spec = spec.unwrap_or_else(|| empty(member, this));
        // Every site this writer knows, so that applying one keeps the others.
        let mut sites: BTreeMap<String, TunnelQuality> = spec
            .tunnels
            .drain(..)
            .map(|tunnel| (tunnel.site.clone(), tunnel))
            .collect();
        sites.insert(site.to_owned(), new);
        spec.tunnels = sites.into_values().collect();
        self.0
            .apply(&name, member, json!({ "tunnels": spec.tunnels }), spec)
            .await
    }
}

//! What the admin port shows: Prometheus metrics of every controller, and
//! readiness (every watch has synced).

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    controller: &'static str,
    category: &'static str,
}

/// The operator's metrics, registered once at start.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<ControllerLabel, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<ControllerLabel, Histogram>,
    writes: Family<ControllerLabel, Counter>,
    is_leader: Gauge,
    admission_holds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("socle");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            // 1 ms to ~30 s: an unchanged member is milliseconds, a router push seconds.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 16,
            ))
        });
        let writes = Family::<ControllerLabel, Counter>::default();
        let is_leader = Gauge::default();
        let admission_holds = Gauge::default();
        registry.register(
            "reconciles",
            "Reconciles run, by controller",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Failed reconciles, by controller and error category",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles, by controller",
            duration.clone(),
        );
        registry.register(
            "writes",
            "Write requests made to the API server, by controller",
            writes.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            is_leader.clone(),
        );
        registry.register(
            "admission_policy_holds",
            "1 when the admission policy socle-stays-in-its-namespaces refused the start's probe (it holds this operator), 0 when nothing refused it, -1 when the probe could not tell",
            admission_holds.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            reconciles,
            failures,
            duration,
            writes,
            is_leader,
            admission_holds,
        }
    }
}

impl Metrics {
    /// Counts one reconcile of `controller` that took `elapsed`.
    pub fn reconciled(&self, controller: &'static str, elapsed: Duration) {
        let label = ControllerLabel { controller };
        self.reconciles.get_or_create(&label).inc();
        self.duration
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
    }

    /// Runs one reconcile of `controller`, counted and timed.
    pub async fn timed<T>(
        &self,
        controller: &'static str,
        reconcile: impl std::future::Future<Output = T>,
    ) -> T {
        let started = std::time::Instant::now();
        let result = reconcile.await;
        self.reconciled(controller, started.elapsed());
        result
    }

    /// How many reconciles `controller` has run.
    pub fn reconciles(&self, controller: &'static str) -> u64 {
        self.reconciles
            .get_or_create(&ControllerLabel { controller })
            .get()
    }

    /// Counts one failure of `controller` in `category`.
    pub fn failed(&self, controller: &'static str, category: &'static str) {
        self.failures
            .get_or_create(&FailureLabels {
                controller,
                category,
            })
            .inc();
    }

    /// Counts `count` writes made by `controller`.
    pub fn wrote(&self, controller: &'static str, count: usize) {
        self.writes
            .get_or_create(&ControllerLabel { controller })
            .inc_by(count as u64);
    }

    pub fn set_leader(&self, leader: bool) {
        self.is_leader.set(i64::from(leader));
    }

    pub fn set_admission_holds(&self, holds: &super::admission::Holds) {
        use super::admission::Holds;
        self.admission_holds.set(match holds {
            Holds::Yes => 1,
            Holds::No => 0,
            Holds::Unknown(_) => -1,
        });
    }

    /// Adds metrics computed at each scrape (e.g. the backup gauges).
    pub fn register_collector(&self, collector: Box<dyn prometheus_client::collector::Collector>) {
        self.registry
            .lock()
            .expect("registry lock")
            .register_collector(collector);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(
            &mut text,
            &self.registry.lock().expect("registry lock"),
        )
        .expect("writing to a String cannot fail");
        text
    }
}

/// Readiness: each controller says when its watches have synced.
#[derive(Debug, Default)]
pub struct Health {
    synced: Mutex<BTreeMap<&'static str, bool>>,
}

impl Health {
    /// A controller that must sync before the operator is ready.
    pub fn expect(&self, controller: &'static str) {
        self.synced
            .lock()
            .expect("health lock")
            .entry(controller)
            .or_insert(false);
    }

    pub fn synced(&self, controller: &'static str) {
        self.synced
            .lock()
            .expect("health lock")
            .insert(controller, true);
    }

    /// Ready when every controller that runs has synced. A follower, waiting
    /// for the leader lease, runs none and is ready: it can take over.
    pub fn is_ready(&self) -> bool {
        self.synced
            .lock()
            .expect("health lock")
            .values()
            .all(|ok| *ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exposed_by_controller_and_category() {
        let metrics = Metrics::default();
        metrics.reconciled("tenant", Duration::from_millis(3));
        metrics.failed("tenant", "InvalidSpec");
        let text = metrics.encode();
        assert!(
            text.contains("socle_reconciles_total{controller=\"tenant\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "socle_reconcile_failures_total{controller=\"tenant\",category=\"InvalidSpec\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("socle_reconcile_duration_seconds_count{controller=\"tenant\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn ready_only_when_every_controller_synced() {
        let health = Health::default();
        assert!(health.is_ready(), "a follower is ready");
        health.expect("tenant");
        health.expect("billing");
        health.synced("tenant");
        assert!(!health.is_ready());
        health.synced("billing");
        assert!(health.is_ready());
    }
}

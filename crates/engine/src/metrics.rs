//! What the engine counts for operators (issue 15 item 2): [`EngineMetrics`], and [`Metered`],
//! the store decorator that times every store operation.
//!
//! The metrics live in memory and are encoded by whoever serves them (the runtime's admin
//! listener), through [`EngineMetrics::register`]; the engine does no I/O for them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::history::{EventKind, TaskEvent};
use crate::store::{
    AdminQuery, ChangeFeed, Lease, ListQuery, TaskCount, TaskStore, UnfinishedQuery,
};
use crate::task::{NewTask, Owner, TaskId, TaskRecord, Transition};
use crate::Result;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    tool: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Task durations: buckets from 0.01 s to 167,772.16 s (about 46.6 hours), ×4, so a task that
/// lives out the default maximum ttl (24 hours) still lands in a bucket of its own size.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 4.0, 13))
}

/// Store latencies: from 50 µs to about 3 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
}

/// The engine's metrics, shared by every clone of one [`Engine`](crate::Engine).
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `mcp_tasks_tasks_created_total` | counter | `tool` |
/// | `mcp_tasks_tasks_finished_total` | counter | `tool`, `status` (completed, failed, cancelled) |
/// | `mcp_tasks_task_duration_seconds` | histogram, creation to terminal | `tool`, `status` |
/// | `mcp_tasks_store_operation_seconds` | histogram | `op` (`create`, `get`, `transition`, …) |
/// | `mcp_tasks_waiters` | gauge: futures waiting on a task right now | |
/// | `mcp_tasks_running` | gauge: work running in this process | |
///
/// A task without a tool has the label `tool=""`.
#[derive(Debug)]
pub struct EngineMetrics {
    created: Family<ToolLabels, Counter>,
    finished: Family<FinishedLabels, Counter>,
    durations: HistogramFamily<FinishedLabels>,
    store_ops: HistogramFamily<OpLabels>,
    waiters: Gauge,
    running: Gauge,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineMetrics {
    /// Metrics at zero.
    pub fn new() -> Self {
        Self {
            created: Family::default(),
            finished: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            store_ops: Family::new_with_constructor(latency_histogram),
            waiters: Gauge::default(),
            running: Gauge::default(),
        }
    }

    /// Adds these metrics to `registry`; they are read at every encoding of it, so one
    /// registration serves every scrape.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mcp_tasks_tasks_created",
            "Tasks created, by tool",
            self.created.clone(),
        );
        registry.register(
            "mcp_tasks_tasks_finished",
            "Tasks that reached a terminal status (completed, failed, cancelled), by tool and \
             status; tasks failed after a restart included",
            self.finished.clone(),
        );
        registry.register_with_unit(
            "mcp_tasks_task_duration",
            "Time from a task's creation to its terminal status, by tool and status",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register_with_unit(
            "mcp_tasks_store_operation",
            "Latency of task store operations, by operation",
            Unit::Seconds,
            self.store_ops.clone(),
        );
        registry.register(
            "mcp_tasks_waiters",
            "Requests waiting for a task to change right now (tasks/result, input waits)",
            self.waiters.clone(),
        );
        registry.register(
            "mcp_tasks_running",
            "Tasks whose work runs in this process right now",
            self.running.clone(),
        );
    }

    /// How many futures wait on a task right now: `mcp_tasks_waiters`.
    pub fn waiters(&self) -> i64 {
        self.waiters.get()
    }

    pub(crate) fn task_created(&self, record: &TaskRecord) {
        self.created
            .get_or_create(&ToolLabels {
                tool: tool_label(record),
            })
            .inc();
    }

    /// Counts a task that just became terminal, with its duration measured at `now`.
    pub(crate) fn task_finished(&self, record: &TaskRecord, now: Timestamp) {
        let labels = FinishedLabels {
            tool: tool_label(record),
            status: record.status().as_str(),
        };
        self.finished.get_or_create(&labels).inc();
        let took = now.duration_since(record.created_at).as_secs_f64().max(0.0);
        self.durations.get_or_create(&labels).observe(took);
    }

    pub(crate) fn set_running(&self, n: usize) {
        self.running.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts a waiter until the guard is dropped.
    pub(crate) fn waiter(&self) -> WaiterGuard {
        self.waiters.inc();
        WaiterGuard(self.waiters.clone())
    }

    fn store_op(&self, op: &'static str, took: Duration) {
        self.store_ops
            .get_or_create(&OpLabels { op })
            .observe(took.as_secs_f64());
    }
}

fn tool_label(record: &TaskRecord) -> String {
    record.name.clone().unwrap_or_default()
}

/// One waiter in `mcp_tasks_waiters`, for as long as it lives.
#[derive(Debug)]
pub(crate) struct WaiterGuard(Gauge);

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A store that times every operation of the store it wraps into
/// `mcp_tasks_store_operation_seconds{op}`, failures included, and otherwise passes everything
/// through: the engine wraps its store in one, so every store is measured alike.
#[derive(Debug)]
pub struct Metered {
    inner: Arc<dyn TaskStore>,
    metrics: Arc<EngineMetrics>,
}

impl Metered {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: Arc<dyn TaskStore>, metrics: Arc<EngineMetrics>) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn TaskStore> {
        &self.inner
    }

    async fn timed<T>(&self, op: &'static str, f: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let out = f.await;
        self.metrics.store_op(op, started.elapsed());
        out
    }
}

#[async_trait]
impl TaskStore for Metered {
    async fn create(&self, new: NewTask) -> Result<TaskRecord> {
        self.timed("create", self.inner.create(new)).await
    }

    async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
        self.timed("get", self.inner.get(owner, id)).await
    }

    async fn transition(
        &self,
        id: &TaskId,
        change: Transition,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        self.timed("transition", self.inner.transition(id, change, now))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
        self.timed("list", self.inner.list(query)).await
    }

    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        self.timed("delete_expired", self.inner.delete_expired(now, limit))
            .await
    }

    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
        self.timed("unfinished", self.inner.unfinished(query)).await
    }

    fn changes(&self) -> ChangeFeed {
        self.inner.changes()
    }

    async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()> {
        self.timed("record", self.inner.record(id, at, kind)).await
    }

    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskEvent>> {
        self.timed("history", self.inner.history(id, after, limit))
            .await
    }

    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
        self.timed("inspect", self.inner.inspect(id)).await
    }

    async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>> {
        self.timed("admin_list", self.inner.admin_list(query)).await
    }

    async fn purge(&self, finished_before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        self.timed("purge", self.inner.purge(finished_before, limit))
            .await
    }

    async fn counts(&self) -> Result<Vec<TaskCount>> {
        self.timed("counts", self.inner.counts()).await
    }

    async fn check(&self) -> Result<()> {
        self.timed("check", self.inner.check()).await
    }

    fn cursor_key(&self) -> &[u8] {
        self.inner.cursor_key()
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    async fn renew_lease(&self, runner: &str, ttl: Duration) -> Result<Lease> {
        self.timed("renew_lease", self.inner.renew_lease(runner, ttl))
            .await
    }

    async fn release_lease(&self, runner: &str) -> Result<()> {
        self.timed("release_lease", self.inner.release_lease(runner))
            .await
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use serde_json::json;

    use super::*;
    use crate::task::{Outcome, RequestKind, Requestor};
    use crate::MemoryStore;

    fn new_task(name: Option<&str>) -> NewTask {
        NewTask {
            id: TaskId::generate(),
            requestor: Requestor::anonymous("s"),
            kind: RequestKind::ToolsCall,
            name: name.map(Into::into),
            params: json!({}),
            created_at: Timestamp::UNIX_EPOCH,
            ttl: None,
            poll_interval: None,
            progress_token: None,
            runner: None,
            active_limit: None,
        }
    }

    fn encoded(metrics: &EngineMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    /// Issue 15 item 2: the metric names of the contract appear in the encoding, and counts
    /// move with what happens.
    #[tokio::test]
    async fn metrics_encode_under_their_names_and_count() {
        let metrics = Arc::new(EngineMetrics::new());
        let store = Metered::new(Arc::new(MemoryStore::new()), metrics.clone());
        let a = store.create(new_task(Some("build"))).await.unwrap();
        metrics.task_created(&a);
        let b = store.create(new_task(None)).await.unwrap();
        metrics.task_created(&b);
        let done = store
            .transition(
                &a.id,
                Transition::Finish(Outcome::Completed(json!({}))),
                Timestamp::from_second(3).unwrap(),
            )
            .await
            .unwrap();
        metrics.task_finished(&done, Timestamp::from_second(3).unwrap());
        store.get(None, &b.id).await.unwrap();
        let waiter = metrics.waiter();
        metrics.set_running(2);

        let text = encoded(&metrics);
        for line in [
            "mcp_tasks_tasks_created_total{tool=\"build\"} 1",
            "mcp_tasks_tasks_created_total{tool=\"\"} 1",
            "mcp_tasks_tasks_finished_total{tool=\"build\",status=\"completed\"} 1",
            "mcp_tasks_task_duration_seconds_count{tool=\"build\",status=\"completed\"} 1",
            "mcp_tasks_task_duration_seconds_sum{tool=\"build\",status=\"completed\"} 3.0",
            "mcp_tasks_store_operation_seconds_count{op=\"create\"} 2",
            "mcp_tasks_store_operation_seconds_count{op=\"transition\"} 1",
            "mcp_tasks_store_operation_seconds_count{op=\"get\"} 1",
            "mcp_tasks_waiters 1",
            "mcp_tasks_running 2",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        drop(waiter);
        assert!(encoded(&metrics).contains("mcp_tasks_waiters 0"));
    }

    /// Issue 15 item 2 (review: durations above 2.9 hours all fell into +Inf): a task that
    /// lives out the default maximum ttl is counted in a finite bucket.
    #[test]
    fn durations_up_to_the_longest_default_ttl_have_a_bucket() {
        let metrics = EngineMetrics::new();
        let max = crate::EngineConfig::default().max_ttl.unwrap();
        let mut record = TaskRecord::new(new_task(Some("long")));
        record
            .apply(
                Transition::Finish(Outcome::Completed(json!({}))),
                Timestamp::UNIX_EPOCH,
            )
            .unwrap();
        let end = Timestamp::UNIX_EPOCH + max;
        metrics.task_finished(&record, end);
        let text = encoded(&metrics);
        let top = text
            .lines()
            .rfind(|l| {
                l.starts_with("mcp_tasks_task_duration_seconds_bucket") && !l.contains("+Inf")
            })
            .expect("finite buckets");
        assert!(
            top.starts_with("mcp_tasks_task_duration_seconds_bucket{le=\"167772.16\""),
            "{top}"
        );
        assert!(top.ends_with(" 1"), "the 24-hour task is in it: {top}");
    }
}

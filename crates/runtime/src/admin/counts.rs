//! The store's task counts, read for `/metrics` and the overview through one cache.
//!
//! Counting groups every task in the store (`GROUP BY status, tool, owner`), and finished
//! tasks stay until their ttl runs out, so one read can be costly. Every scrape and every
//! dashboard refetch would otherwise make one, and with several dashboards open under task
//! churn those add up. So one read serves every caller for a while, and callers that come
//! while a read is under way wait for it rather than starting their own (single flight).
//!
//! How long a read is reused depends on whether tasks changed since it began, as the store's
//! change feed tells: while nothing changed, up to [`FRESH`]; after a change, only until it
//! is [`FRESH_AFTER_CHANGE`] old. The second bound is below the dashboard's 250 ms debounce,
//! so its one refetch after the last change of a burst sees that change rather than counts
//! from before it, which nothing would correct until the next change. On a store shared by
//! several instances the feed may not tell of the others' changes; they show within
//! [`FRESH`].
//!
//! A read is bounded like the readiness check ([`WAIT`]): a store that does not answer makes
//! the counts unknown, and the callers say so, instead of hanging a scrape or the overview
//! on a pool connection.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use mcp_tasks_engine::{Admin, ChangeFeed, TaskCount};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::health::CHECK_WAIT;

/// How long a read is reused while no task changed.
pub(super) const FRESH: Duration = Duration::from_secs(2);

/// How long a read is reused once a task changed after it began.
pub(super) const FRESH_AFTER_CHANGE: Duration = Duration::from_millis(200);

/// How long the store may take to count.
pub(super) const WAIT: Duration = CHECK_WAIT;

/// The counts of one read, or why there are none.
pub(super) type Read = Result<Arc<Vec<TaskCount>>, String>;

/// What the callers get: the last read, and every tool seen in any read so far.
#[derive(Clone, Debug)]
pub(super) struct Snapshot {
    /// The counts by status, tool and owner; `Err` says why the store did not tell.
    pub(super) counts: Read,
    /// The tool of every task counted since the listener started (`""` for none), so a
    /// tool whose tasks are all gone still has its gauges, at 0.
    pub(super) tools: Arc<BTreeSet<String>>,
}

/// The cache; see the module docs.
#[derive(Debug)]
pub(super) struct StoreCounts {
    admin: Admin,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    feed: ChangeFeed,
    last: Option<Cached>,
}

/// The last read.
#[derive(Debug)]
struct Cached {
    /// When it began: a change after this may be missing from it.
    began: Instant,
    /// Whether the feed told of a change since it began.
    changed_since: bool,
    snapshot: Snapshot,
}

impl Cached {
    fn is_fresh(&self) -> bool {
        let fresh_for = if self.changed_since {
            FRESH_AFTER_CHANGE
        } else {
            FRESH
        };
        self.began.elapsed() < fresh_for
    }
}

impl StoreCounts {
    pub(super) fn new(admin: Admin, feed: ChangeFeed) -> Self {
        Self {
            admin,
            state: Mutex::new(State { feed, last: None }),
        }
    }

    /// The counts, from the last read while it is fresh, else from a new one.
    pub(super) async fn get(&self) -> Snapshot {
        let mut state = self.state.lock().await;
        let changed = drain(&mut state.feed);
        if let Some(last) = &mut state.last {
            last.changed_since |= changed;
            if last.is_fresh() {
                return last.snapshot.clone();
            }
        }
        // The feed was drained before the read begins: a change from here on is after it.
        let began = Instant::now();
        let counts = match tokio::time::timeout(WAIT, self.admin.counts()).await {
            Ok(Ok(counts)) => Ok(Arc::new(counts)),
            Ok(Err(e)) => Err(format!("the store cannot count its tasks: {e}")),
            Err(_) => Err(format!(
                "the store did not count its tasks within {} s",
                WAIT.as_secs()
            )),
        };
        let mut tools = state
            .last
            .as_ref()
            .map(|last| Arc::clone(&last.snapshot.tools))
            .unwrap_or_default();
        if let Ok(counts) = &counts {
            let new: Vec<String> = counts
                .iter()
                .map(|c| c.tool.clone().unwrap_or_default())
                .filter(|t| !tools.contains(t))
                .collect();
            if !new.is_empty() {
                Arc::make_mut(&mut tools).extend(new);
            }
        }
        let snapshot = Snapshot { counts, tools };
        state.last = Some(Cached {
            began,
            changed_since: false,
            snapshot: snapshot.clone(),
        });
        snapshot
    }
}

/// Takes what the feed holds; whether any of it says a task changed (or changes were
/// missed, or the feed is gone, which may hide changes too).
fn drain(feed: &mut ChangeFeed) -> bool {
    let mut changed = false;
    while let Some(next) = feed.recv().now_or_never() {
        changed = true;
        if matches!(next, Err(RecvError::Closed)) {
            break;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use async_trait::async_trait;
    use jiff::Timestamp;
    use mcp_tasks_engine::{
        AdminQuery, CreateTask, Engine, EngineConfig, EventKind, ListQuery, MemoryStore, NewTask,
        Owner, RequestKind, Requestor, TaskEvent, TaskId, TaskRecord, TaskStore, Transition,
        UnfinishedQuery,
    };
    use serde_json::json;
    use tokio::sync::Notify;

    use super::*;

    type Result<T> = mcp_tasks_engine::Result<T>;

    /// A memory store that counts its `counts` calls, which wait at a gate while `gated`.
    #[derive(Debug, Default)]
    struct Counting {
        inner: MemoryStore,
        calls: AtomicUsize,
        gated: AtomicBool,
        open: Notify,
    }

    #[async_trait]
    impl TaskStore for Counting {
        async fn create(&self, new: NewTask) -> Result<TaskRecord> {
            self.inner.create(new).await
        }
        async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
            self.inner.get(owner, id).await
        }
        async fn transition(
            &self,
            id: &TaskId,
            change: Transition,
            now: Timestamp,
        ) -> Result<TaskRecord> {
            self.inner.transition(id, change, now).await
        }
        async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
            self.inner.list(query).await
        }
        async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
            self.inner.delete_expired(now, limit).await
        }
        async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
            self.inner.unfinished(query).await
        }
        fn changes(&self) -> ChangeFeed {
            self.inner.changes()
        }
        async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()> {
            self.inner.record(id, at, kind).await
        }
        async fn history(
            &self,
            id: &TaskId,
            after: Option<u64>,
            limit: usize,
        ) -> Result<Vec<TaskEvent>> {
            self.inner.history(id, after, limit).await
        }
        async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
            self.inner.inspect(id).await
        }
        async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>> {
            self.inner.admin_list(query).await
        }
        async fn purge(&self, before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
            self.inner.purge(before, limit).await
        }
        async fn counts(&self) -> Result<Vec<TaskCount>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.gated.load(Ordering::SeqCst) {
                self.open.notified().await;
            }
            self.inner.counts().await
        }
        async fn check(&self) -> Result<()> {
            self.inner.check().await
        }
    }

    fn cache() -> (Arc<StoreCounts>, Arc<Counting>, Engine) {
        let store = Arc::new(Counting::default());
        let engine = Engine::new(store.clone(), EngineConfig::default());
        let counts = StoreCounts::new(engine.admin(), engine.changes());
        (Arc::new(counts), store, engine)
    }

    async fn make_task(engine: &Engine, tool: &str) {
        engine
            .create(CreateTask {
                requestor: Requestor::anonymous("s"),
                kind: RequestKind::ToolsCall,
                name: Some(tool.into()),
                params: json!({"name": tool}),
                ttl_ms: None,
                progress_token: None,
            })
            .await
            .unwrap();
    }

    fn total(snapshot: &Snapshot) -> u64 {
        snapshot
            .counts
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.count)
            .sum()
    }

    /// Review item 5: while no task changes, one read serves for FRESH.
    #[tokio::test(start_paused = true)]
    async fn a_read_is_reused_while_nothing_changes() {
        let (cache, store, _engine) = cache();
        cache.get().await;
        tokio::time::advance(FRESH - Duration::from_millis(10)).await;
        cache.get().await;
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(10)).await;
        cache.get().await;
        assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    }

    /// Review item 5: after a change, a read is reused only briefly, so the counts a
    /// dashboard reads after its debounce include the change.
    #[tokio::test(start_paused = true)]
    async fn a_change_makes_the_next_read_come_soon() {
        let (cache, store, engine) = cache();
        assert_eq!(total(&cache.get().await), 0);
        make_task(&engine, "t").await;
        assert_eq!(total(&cache.get().await), 0, "reused right after");
        tokio::time::advance(FRESH_AFTER_CHANGE).await;
        let after = cache.get().await;
        assert_eq!(total(&after), 1);
        assert_eq!(store.calls.load(Ordering::SeqCst), 2);
        assert!(after.tools.contains("t"));
    }

    /// Review item 5: callers that come while a read is under way wait for it.
    #[tokio::test(start_paused = true)]
    async fn callers_share_a_read_under_way() {
        let (cache, store, _engine) = cache();
        store.gated.store(true, Ordering::SeqCst);
        let first = tokio::spawn({
            let cache = cache.clone();
            async move { cache.get().await }
        });
        let second = tokio::spawn({
            let cache = cache.clone();
            async move { cache.get().await }
        });
        while store.calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        store.open.notify_waiters();
        first.await.unwrap().counts.unwrap();
        second.await.unwrap().counts.unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
    }

    /// Review item 4: a store that does not answer makes the counts unknown after WAIT, and
    /// the tools seen before are kept.
    #[tokio::test(start_paused = true)]
    async fn a_store_that_does_not_answer_is_given_up_on() {
        let (cache, store, engine) = cache();
        make_task(&engine, "t").await;
        assert_eq!(total(&cache.get().await), 1);
        tokio::time::advance(FRESH).await;
        store.gated.store(true, Ordering::SeqCst);
        let late = cache.get().await;
        let why = late.counts.unwrap_err();
        assert!(why.contains("within 5 s"), "{why}");
        assert!(late.tools.contains("t"));
    }
}

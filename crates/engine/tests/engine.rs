//! The engine over real stores: limits, expiry, restarts, and leaks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use mcp_tasks_engine::store::{ChangeFeed, ListQuery, TaskStore, UnfinishedQuery};
use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Error, Failure, Limits, ManualClock, MemoryStore, NewTask,
    Outcome, Owner, RequestKind, Requestor, Result, SqliteStore, TaskId, TaskRecord, TaskStatus,
    Transition,
};
use serde_json::json;

fn call(session: &str, tool: &str, ttl_ms: Option<u64>) -> CreateTask {
    CreateTask {
        requestor: Requestor::anonymous(session),
        kind: RequestKind::ToolsCall,
        name: Some(tool.into()),
        params: json!({"name": tool, "arguments": {}}),
        ttl_ms,
        progress_token: None,
    }
}

fn start() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// T-TTL-2: a result above the limit fails the task with an error that says so, instead of
/// being stored; a task asking more questions at once than allowed is refused.
#[tokio::test]
async fn result_and_input_limits() {
    let engine = Engine::new(
        Arc::new(MemoryStore::new()),
        EngineConfig::default().limits(Limits {
            max_result_bytes: Some(1000),
            max_pending_inputs: Some(2),
            ..Limits::default()
        }),
    );
    let me = Requestor::anonymous("s");
    let big = engine.create(call("s", "big", None)).await.unwrap();
    engine.start(&big, |_| async {
        Outcome::Completed(json!({"content": [{"type": "text", "text": "x".repeat(5000)}]}))
    });
    let done = engine.wait_terminal(&me, &big.id).await.unwrap();
    assert_eq!(done.status(), TaskStatus::Failed);
    let msg = done.status_message.clone().unwrap();
    assert!(
        msg.contains("above this server's limit of 1000 bytes"),
        "{msg}"
    );
    assert!(matches!(done.failure(), Some(Failure::Error(e)) if e.code == -32603));

    let small = engine.create(call("s", "small", None)).await.unwrap();
    engine.start(&small, |_| async {
        Outcome::Completed(json!({"content": []}))
    });
    let done = engine.wait_terminal(&me, &small.id).await.unwrap();
    assert_eq!(done.status(), TaskStatus::Completed);

    let asker = engine.create(call("s", "asker", None)).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    engine.start(&asker, |cx| async move {
        let cx = Arc::new(cx);
        let ask = |n: u32| {
            let cx = cx.clone();
            async move {
                cx.request_input("elicitation/create", json!({"n": n}))
                    .await
            }
        };
        // Two questions wait; the third is over the limit at once.
        let _ = tokio::join!(ask(1), ask(2), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(ask(3).await.map(drop));
        });
        Outcome::Completed(json!({}))
    });
    let third = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the third question is refused at once")
        .unwrap();
    assert!(
        matches!(third, Err(Error::TooManyInputs { limit: 2, .. })),
        "{third:?}"
    );
}

/// T-TTL-2 (issue 16): the per-client cap on stored result bytes holds when results are
/// stored: two tasks started while their client held nothing each finish with a result that
/// fits alone but not together; the first is stored, the second fails with an error that
/// names the limit instead of being stored.
#[tokio::test]
async fn stored_result_bytes_per_client_hold_when_stored() {
    let engine = Engine::new(
        Arc::new(MemoryStore::new()),
        EngineConfig::default().limits(Limits {
            max_result_bytes_per_client: Some(1500),
            ..Limits::default()
        }),
    );
    let me = Requestor::anonymous("s");
    let result =
        || Outcome::Completed(json!({"content": [{"type": "text", "text": "x".repeat(1000)}]}));
    let first = engine.create(call("s", "a", None)).await.unwrap();
    let second = engine.create(call("s", "b", None)).await.unwrap();
    engine.start(&first, move |_| async move { result() });
    let done = engine.wait_terminal(&me, &first.id).await.unwrap();
    assert_eq!(done.status(), TaskStatus::Completed);
    engine.start(&second, move |_| async move { result() });
    let done = engine.wait_terminal(&me, &second.id).await.unwrap();
    assert_eq!(done.status(), TaskStatus::Failed);
    let msg = done.status_message.clone().unwrap();
    assert!(
        msg.contains("limit of 1500 bytes of stored results per client"),
        "{msg}"
    );
    assert!(matches!(done.failure(), Some(Failure::Error(e)) if e.code == -32603));
}

/// T-TTL-1: when the sweeper deletes a task, whoever waits on it is woken with "expired", and
/// its running work is stopped.
#[tokio::test]
async fn expiry_wakes_waiters_and_stops_work() {
    for store in stores() {
        let clock = Arc::new(ManualClock::new(start()));
        let engine =
            Engine::with_clock(store.store.clone(), EngineConfig::default(), clock.clone());
        let me = Requestor::anonymous("s");
        let task = engine.create(call("s", "slow", Some(1000))).await.unwrap();
        let stopped = Arc::new(AtomicUsize::new(0));
        let flag = stopped.clone();
        engine.start(&task, |cx| async move {
            cx.cancellation().cancelled().await;
            flag.fetch_add(1, Ordering::SeqCst);
            Outcome::Completed(json!({}))
        });
        let waiter = tokio::spawn({
            let (engine, me, id) = (engine.clone(), me.clone(), task.id.clone());
            async move { engine.wait_terminal(&me, &id).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        clock.advance(Duration::from_millis(1000));
        assert!(matches!(
            engine.get(&me, &task.id).await,
            Err(Error::Expired { .. })
        ));
        assert_eq!(engine.sweep_expired().await.unwrap(), 1);
        let woke = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiter wakes")
            .unwrap();
        assert!(matches!(woke, Err(Error::Expired { .. })), "{woke:?}");
        assert!(matches!(
            engine.get(&me, &task.id).await,
            Err(Error::NotFound { .. })
        ));
        eventually("work stopped", async || {
            (engine.running() == 0).then_some(())
        })
        .await;
        assert_eq!(store.count().await, 0, "{}", store.name);
    }
}

/// DESIGN "Restart": a new engine on the same store fails the dead one's unfinished tasks
/// with a statusMessage saying the server restarted, re-runs the resumable ones, leaves
/// finished ones alone, and a second recovery finds nothing.
#[tokio::test]
async fn orphans_are_failed_or_rerun_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.sqlite3");
    let me = Requestor::anonymous("s");
    // The first server runs on its own runtime, dropped mid-work as a crash would end it:
    // its unfinished work never finishes, and its store closes.
    let crashed = path.clone();
    let (working, asking, resumable, finished) = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let ids = rt.block_on(first_life(&crashed));
        drop(rt);
        ids
    })
    .join()
    .unwrap();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let engine = Engine::new(store, EngineConfig::default());
    let recovered = engine
        .recover_orphans(|r| r.name.as_deref() == Some("rebuild"))
        .await
        .unwrap();
    let failed: Vec<_> = recovered.failed.iter().map(|r| r.id.clone()).collect();
    assert_eq!(failed, vec![working.id.clone(), asking.id.clone()]);
    assert_eq!(recovered.rerun.len(), 1);
    assert_eq!(recovered.rerun[0].id, resumable.id);
    assert_eq!(recovered.rerun[0].runner.as_deref(), Some(engine.runner()));
    for id in [&working.id, &asking.id] {
        let r = engine.get(&me, id).await.unwrap();
        assert_eq!(r.status(), TaskStatus::Failed);
        assert!(r
            .status_message
            .as_deref()
            .unwrap()
            .contains("server restarted"));
        assert!(matches!(r.failure(), Some(Failure::Error(e)) if e.code == -32603));
    }
    let r = engine.get(&me, &finished.id).await.unwrap();
    assert_eq!(
        r.status(),
        TaskStatus::Completed,
        "finished work is untouched"
    );
    engine.start(&recovered.rerun[0], |_| async {
        Outcome::Completed(json!({"again": true}))
    });
    let again = engine.wait_terminal(&me, &resumable.id).await.unwrap();
    assert_eq!(again.status(), TaskStatus::Completed);
    let twice = engine.recover_orphans(|_| true).await.unwrap();
    assert!(twice.failed.is_empty() && twice.rerun.is_empty());
}

type Ids = (TaskRecord, TaskRecord, TaskRecord, TaskRecord);

/// Creates tasks in every state a crash can leave them in, on the store at `path`.
async fn first_life(path: &std::path::Path) -> Ids {
    let me = Requestor::anonymous("s");
    let store = Arc::new(SqliteStore::open(path).unwrap());
    let dead = Engine::new(store, EngineConfig::default());
    let working = dead.create(call("s", "build", None)).await.unwrap();
    let asking = dead.create(call("s", "approve", None)).await.unwrap();
    let resumable = dead.create(call("s", "rebuild", None)).await.unwrap();
    let finished = dead.create(call("s", "quick", None)).await.unwrap();
    dead.start(&working, |_| std::future::pending());
    dead.start(&asking, |cx| async move {
        let _ = cx.request_input("elicitation/create", json!({})).await;
        std::future::pending().await
    });
    dead.start(&finished, |_| async {
        Outcome::Completed(json!({"content": []}))
    });
    eventually("asking waits", async || {
        (dead.get(&me, &asking.id).await.unwrap().status() == TaskStatus::InputRequired)
            .then_some(())
    })
    .await;
    dead.wait_terminal(&me, &finished.id).await.unwrap();
    (working, asking, resumable, finished)
}

/// A store whose first writes of outcomes fail, as a disk briefly full would.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    failures: AtomicUsize,
}

#[async_trait]
impl TaskStore for Flaky {
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
        if matches!(change, Transition::Finish(_))
            && self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(Error::store("disk full"));
        }
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
    async fn record(
        &self,
        id: &TaskId,
        at: Timestamp,
        kind: mcp_tasks_engine::EventKind,
    ) -> Result<()> {
        self.inner.record(id, at, kind).await
    }
    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<mcp_tasks_engine::TaskEvent>> {
        self.inner.history(id, after, limit).await
    }
    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
        self.inner.inspect(id).await
    }
    async fn admin_list(&self, query: &mcp_tasks_engine::AdminQuery) -> Result<Vec<TaskRecord>> {
        self.inner.admin_list(query).await
    }
    async fn purge(&self, before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        self.inner.purge(before, limit).await
    }
    async fn counts(&self) -> Result<Vec<mcp_tasks_engine::TaskCount>> {
        self.inner.counts().await
    }
    async fn check(&self) -> Result<()> {
        self.inner.check().await
    }
}

/// A transient store failure when the work ends does not lose the result.
#[tokio::test]
async fn finishing_retries_a_failing_store() {
    let store = Arc::new(Flaky {
        inner: MemoryStore::new(),
        failures: AtomicUsize::new(2),
    });
    let engine = Engine::new(store, EngineConfig::default());
    let me = Requestor::anonymous("s");
    let task = engine.create(call("s", "t", None)).await.unwrap();
    engine.start(&task, |_| async {
        Outcome::Completed(json!({"kept": true}))
    });
    let done = engine.wait_terminal(&me, &task.id).await.unwrap();
    assert_eq!(done.status(), TaskStatus::Completed);
}

/// A store that refuses writes for much longer than the quick retries (a disk full for
/// minutes) still gets the outcome once it takes writes again: the task does not stay
/// `working` until a restart.
#[tokio::test(start_paused = true)]
async fn finishing_outlasts_a_long_store_fault() {
    let store = Arc::new(Flaky {
        inner: MemoryStore::new(),
        failures: AtomicUsize::new(40),
    });
    let engine = Engine::new(
        Arc::clone(&store) as Arc<dyn TaskStore>,
        EngineConfig::default(),
    );
    let me = Requestor::anonymous("s");
    let task = engine.create(call("s", "t", None)).await.unwrap();
    engine.start(&task, |_| async {
        Outcome::Completed(json!({"kept": true}))
    });
    // Paused time: an hour of virtual time passes at once if the outcome is never stored.
    let done = tokio::time::timeout(
        Duration::from_secs(3600),
        engine.wait_terminal(&me, &task.id),
    )
    .await
    .expect("the outcome is stored once the store takes writes")
    .unwrap();
    assert_eq!(done.status(), TaskStatus::Completed);
    assert_eq!(
        store.failures.load(Ordering::SeqCst),
        0,
        "every failure was retried"
    );
}

/// T-TTL-1, T-TTL-2: no leaks at the engine level: thousands of tasks created, finished or
/// not, and expired leave the store empty, the engine running nothing, and a SQLite file no
/// bigger after the second round than after the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tasks_leave_nothing_behind() {
    for store in stores() {
        let clock = Arc::new(ManualClock::new(start()));
        let config = EngineConfig::default().limits(Limits {
            max_active_per_requestor: None,
            ..Limits::default()
        });
        let engine = Engine::with_clock(store.store.clone(), config, clock.clone());
        let mut sizes = Vec::new();
        for round in 0..3 {
            let creations = (0..3000).map(|i| {
                let engine = engine.clone();
                async move {
                    let t = engine
                        .create(call(&format!("s{}", i % 8), "t", Some(1000)))
                        .await
                        .unwrap();
                    if i % 3 == 0 {
                        engine.start(&t, |_| std::future::pending());
                    } else {
                        engine.start(&t, move |_| async move {
                            Outcome::Completed(
                                json!({"content": [{"type": "text", "text": i.to_string()}]}),
                            )
                        });
                    }
                }
            });
            futures::future::join_all(creations).await;
            eventually("quick tasks done", async || {
                (engine.running() == 1000).then_some(())
            })
            .await;
            clock.advance(Duration::from_secs(2));
            assert_eq!(engine.sweep_expired().await.unwrap(), 3000, "round {round}");
            eventually("work stopped", async || {
                (engine.running() == 0).then_some(())
            })
            .await;
            assert_eq!(store.count().await, 0, "{} round {round}", store.name);
            sizes.push(store.file_size());
        }
        if store.name == "sqlite" {
            assert!(
                sizes[2] <= sizes[0] + sizes[0] / 5 + 512 * 1024,
                "the file grows with each round: {sizes:?}"
            );
        }
        eprintln!("{}: file sizes after each round: {sizes:?}", store.name);
    }
}

/// The stores under test, with a way to count what they hold.
struct Under {
    name: &'static str,
    store: Arc<dyn TaskStore>,
    memory: Option<Arc<MemoryStore>>,
    sqlite: Option<Arc<SqliteStore>>,
    _dir: Option<tempfile::TempDir>,
}

impl Under {
    async fn count(&self) -> u64 {
        match (&self.memory, &self.sqlite) {
            (Some(m), _) => m.len() as u64,
            (_, Some(s)) => s.count().await.unwrap(),
            _ => unreachable!(),
        }
    }

    fn file_size(&self) -> u64 {
        let Some(s) = &self.sqlite else { return 0 };
        let wal = s.path().with_extension("sqlite3-wal");
        std::fs::metadata(s.path()).map_or(0, |m| m.len())
            + std::fs::metadata(wal).map_or(0, |m| m.len())
    }
}

fn stores() -> Vec<Under> {
    let memory = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open(dir.path().join("tasks.sqlite3")).unwrap());
    vec![
        Under {
            name: "memory",
            store: memory.clone(),
            memory: Some(memory),
            sqlite: None,
            _dir: None,
        },
        Under {
            name: "sqlite",
            store: sqlite.clone(),
            memory: None,
            sqlite: Some(sqlite),
            _dir: Some(dir),
        },
    ]
}

/// T-LIST-1, T-TTL-1: expired tasks the sweeper has not reached yet are left out of listings,
/// and a page is filled from further on, never empty while live tasks follow.
#[tokio::test]
async fn listing_skips_expired_tasks_without_empty_pages() {
    for store in stores() {
        let clock = Arc::new(ManualClock::new(start()));
        let config = EngineConfig::default().page_size(2);
        let engine = Engine::with_clock(store.store.clone(), config, clock.clone());
        let me = Requestor::anonymous("s");
        let mut live = Vec::new();
        for i in 0..12 {
            clock.advance(Duration::from_millis(1));
            // Runs of three short-lived tasks between the long-lived ones.
            let ttl = if i % 4 == 3 { 3_600_000 } else { 1000 };
            let t = engine.create(call("s", "t", Some(ttl))).await.unwrap();
            if ttl > 1000 {
                live.push(t.id);
            }
        }
        clock.advance(Duration::from_secs(2));
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = engine.list(&me, cursor.as_deref()).await.unwrap();
            assert!(!page.tasks.is_empty(), "{}: an empty page", store.name);
            seen.extend(page.tasks.into_iter().map(|t| t.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, live, "{}", store.name);
    }
}

//! Several instances on one PostgreSQL database, in one process: each instance is its own
//! [`PostgresStore`] (its own pool and listening connection, as a separate process has) and its
//! own [`Engine`]. The same behaviours with real `mcp-tasks serve` processes are tested in the
//! binary's `multi_instance` tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use mcp_tasks_engine::store::{ChangeFeed, Lease, ListQuery, TaskStore, UnfinishedQuery};
use mcp_tasks_engine::ChangeEvent;
use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Error, NewTask, Outcome, Owner, PostgresStore, RequestKind,
    Requestor, Result, TaskId, TaskRecord, TaskStatus, Transition,
};
use serde_json::json;
use testkit::postgres::TempDatabase;
use tokio::sync::{mpsc, oneshot};

/// Alice, speaking through a session on the given instance: her tasks are hers on every one.
fn alice(session: &str) -> Requestor {
    Requestor {
        owner: Some(Owner::new("alice")),
        session: Some(session.into()),
    }
}

fn call(requestor: Requestor, tool: &str) -> CreateTask {
    CreateTask {
        requestor,
        kind: RequestKind::ToolsCall,
        name: Some(tool.into()),
        params: json!({"name": tool, "arguments": {}}),
        ttl_ms: None,
        progress_token: None,
    }
}

async fn instance(db: &TempDatabase, config: EngineConfig) -> (Arc<PostgresStore>, Engine) {
    let store = Arc::new(PostgresStore::connect(db.url()).await.expect("connects"));
    let engine = Engine::new(store.clone(), config);
    (store, engine)
}

async fn within<T>(what: &str, limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}: {what}"))
}

/// Sends on drop: the work was aborted or ended.
struct Dropped(Option<oneshot::Sender<()>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// T-RES-2 across instances: `tasks/result` waiting on B returns when the work on A
/// completes, woken by A's notification, not by polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_one_instance_wakes_when_another_completes() {
    let db = TempDatabase::create().await;
    let (_, a) = instance(&db, EngineConfig::default()).await;
    let (_, b) = instance(&db, EngineConfig::default()).await;
    let task = a.create(call(alice("on-a"), "slow")).await.unwrap();
    let (release, released) = oneshot::channel::<()>();
    a.start(&task, |_| async move {
        let _ = released.await;
        Outcome::Completed(json!({"content": [{"type": "text", "text": "done"}]}))
    });
    let waiter = tokio::spawn({
        let b = b.clone();
        let id = task.id.clone();
        async move { b.wait_terminal(&alice("on-b"), &id).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "nothing finished yet");
    release.send(()).unwrap();
    let done = within("B wakes", Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status(), TaskStatus::Completed);
}

/// T-CAN-1 across instances: `tasks/cancel` on B makes the task `cancelled` at once and
/// stops its work on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_one_instance_stops_the_work_on_the_other() {
    let db = TempDatabase::create().await;
    let (_, a) = instance(&db, EngineConfig::default()).await;
    let (_, b) = instance(&db, EngineConfig::default()).await;
    let task = a.create(call(alice("on-a"), "forever")).await.unwrap();
    let (stopped_tx, stopped) = oneshot::channel();
    a.start(&task, |_| async move {
        let _guard = Dropped(Some(stopped_tx));
        std::future::pending::<Outcome>().await
    });
    assert_eq!(a.running(), 1);
    let cancelled = b
        .cancel(&alice("on-b"), &task.id, Some("stop".into()))
        .await
        .unwrap();
    assert_eq!(cancelled.status(), TaskStatus::Cancelled);
    within("the work on A stops", Duration::from_secs(5), stopped)
        .await
        .unwrap();
    within("A forgets the work", Duration::from_secs(5), async {
        while a.running() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// T-LIFE-2 across instances: a cancel on B racing the completion on A; exactly one terminal
/// status wins, the loser is told which, and it never changes afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_racing_completion_across_instances_has_one_winner() {
    let db = TempDatabase::create().await;
    let (_, a) = instance(&db, EngineConfig::default()).await;
    let (_, b) = instance(&db, EngineConfig::default()).await;
    let mut outcomes = (0, 0);
    for _ in 0..40 {
        let task = a.create(call(alice("on-a"), "race")).await.unwrap();
        let (go, wait) = oneshot::channel::<()>();
        a.start(&task, |_| async move {
            let _ = wait.await;
            Outcome::Completed(json!({"content": []}))
        });
        let _ = go.send(());
        let cancel = b.cancel(&alice("on-b"), &task.id, None).await;
        let done = a.wait_terminal(&alice("on-a"), &task.id).await.unwrap();
        match cancel {
            Ok(record) => {
                assert_eq!(record.status(), TaskStatus::Cancelled);
                assert_eq!(done.status(), TaskStatus::Cancelled);
                outcomes.0 += 1;
            }
            Err(Error::Conflict { actual, .. }) => {
                assert_eq!(actual, TaskStatus::Completed);
                assert_eq!(done.status(), TaskStatus::Completed);
                outcomes.1 += 1;
            }
            Err(e) => panic!("unexpected: {e}"),
        }
        let later = b.get(&alice("on-b"), &task.id).await.unwrap();
        assert_eq!(later.status(), done.status(), "terminal never changes");
    }
    assert_eq!(outcomes.0 + outcomes.1, 40);
}

/// A listening connection that drops is made again, and a change committed meanwhile still
/// wakes the waiter (by the re-read the reconnection triggers, or by its notification).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listener_reconnects_and_loses_no_wake_up() {
    let db = TempDatabase::create().await;
    let (store_a, a) = instance(&db, EngineConfig::default()).await;
    let (_, b) = instance(&db, EngineConfig::default()).await;
    for round in 0..3 {
        let task = b.create(call(alice("on-b"), "watched")).await.unwrap();
        let waiter = tokio::spawn({
            let a = a.clone();
            let id = task.id.clone();
            async move { a.wait_terminal(&alice("on-a"), &id).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        db.execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name LIKE 'mcp-tasks listener {} %'",
            store_a.instance()
        ))
        .await;
        b.cancel(&alice("on-b"), &task.id, None).await.unwrap();
        let done = within("A's waiter wakes", Duration::from_secs(10), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.status(), TaskStatus::Cancelled);
        within("the listener reconnects", Duration::from_secs(10), async {
            while store_a.listener_reconnects() <= round {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
    // And it listens again: a later change reaches A by notification.
    let mut feed = a.changes();
    let task = b.create(call(alice("on-b"), "after")).await.unwrap();
    let seen = within(
        "a change after reconnecting",
        Duration::from_secs(5),
        async {
            loop {
                if let Ok(change) = feed.recv().await {
                    if change.id == task.id {
                        return change;
                    }
                }
            }
        },
    )
    .await;
    assert_eq!(seen.id, task.id);
}

/// Issue 15 item 1: a database of the version before history is migrated in place: its tasks
/// get their tool and last change time from their records, so the operator's filters and purge
/// see them, and their history starts at seq 1 with the next event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_history_is_migrated() {
    let db = TempDatabase::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let engine = Engine::new(Arc::new(store), EngineConfig::default());
    let old = engine.create(call(alice("s"), "build")).await.unwrap();
    let finished = engine
        .store()
        .transition(
            &old.id,
            Transition::Finish(Outcome::Completed(json!({}))),
            old.created_at,
        )
        .await
        .unwrap();
    drop(engine);
    // Back to schema version 2: what a database made by the previous release holds.
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "DROP TABLE mcp_tasks_events; DROP INDEX mcp_tasks_by_age; \
             DROP FUNCTION mcp_tasks_columns_from_record CASCADE; \
             ALTER TABLE mcp_tasks DROP COLUMN name, DROP COLUMN updated_at, DROP COLUMN events; \
             DELETE FROM mcp_tasks_schema WHERE version >= 3;",
        )
        .await
        .unwrap();

    let store = PostgresStore::connect(db.url()).await.unwrap();
    let by_tool = store
        .admin_list(&mcp_tasks_engine::AdminQuery {
            tool: Some("build".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_tool, std::slice::from_ref(&finished));
    assert!(store.history(&old.id, None, 10).await.unwrap().is_empty());
    let retrieved = mcp_tasks_engine::EventKind::ResultRetrieved { by: None };
    store
        .record(&old.id, finished.last_updated_at, retrieved)
        .await
        .unwrap();
    assert_eq!(store.history(&old.id, None, 10).await.unwrap()[0].seq, 1);
    let just_before = finished.last_updated_at - jiff::SignedDuration::from_micros(1);
    assert!(store.purge(just_before, 10).await.unwrap().is_empty());
    let after = finished.last_updated_at + jiff::SignedDuration::from_micros(1);
    assert_eq!(store.purge(after, 10).await.unwrap().len(), 1);
    assert!(store.history(&old.id, None, 10).await.unwrap().is_empty());
}

/// Issue 15 (review: a version-2 instance still running after the migration): the rows and
/// updates it writes, which know nothing of `name` and `updated_at`, are listed by tool and
/// purged by the time they finished all the same, whether written after the migration or
/// between versions 3 and 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_an_older_instance_writes_are_listed_and_purged() {
    let db = TempDatabase::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let created = Timestamp::from_second(1_800_000_000).unwrap();
    let finished = created + jiff::SignedDuration::from_secs(3600);
    // As version 2 wrote: the columns of version 1 only, then a compare-and-swap update.
    let write_as_v2 = async |tool: &str| {
        let mut record = TaskRecord::new(NewTask {
            id: TaskId::generate(),
            requestor: alice("s"),
            kind: RequestKind::ToolsCall,
            name: Some(tool.into()),
            params: json!({}),
            created_at: created,
            ttl: None,
            poll_interval: None,
            progress_token: None,
            runner: Some("old".into()),
            active_limit: None,
        });
        let nanos = |t: Timestamp| i64::try_from(t.as_nanosecond()).unwrap();
        client
            .execute(
                "INSERT INTO mcp_tasks (id, owner, session, status, created_at, expires_at, \
                 runner, record) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)",
                &[
                    &record.id.as_str(),
                    &"alice",
                    &"s",
                    &record.status().as_str(),
                    &nanos(created),
                    &record.runner,
                    &serde_json::to_string(&record).unwrap(),
                ],
            )
            .await
            .unwrap();
        record
            .apply(Transition::Finish(Outcome::Completed(json!({}))), finished)
            .unwrap();
        client
            .execute(
                "UPDATE mcp_tasks SET status = $2, runner = $3, record = $4, \
                 version = version + 1 WHERE id = $1 AND version = 0",
                &[
                    &record.id.as_str(),
                    &record.status().as_str(),
                    &record.runner,
                    &serde_json::to_string(&record).unwrap(),
                ],
            )
            .await
            .unwrap();
        record
    };
    let by_tool = async |store: &PostgresStore, tool: &str| {
        store
            .admin_list(&mcp_tasks_engine::AdminQuery {
                tool: Some(tool.into()),
                ..Default::default()
            })
            .await
            .unwrap()
    };

    let after = write_as_v2("after").await;
    assert_eq!(by_tool(&store, "after").await, std::slice::from_ref(&after));

    // Between versions 3 and 4, nothing filled them: version 4 does, when it migrates.
    client
        .batch_execute(
            "DROP FUNCTION mcp_tasks_columns_from_record CASCADE; \
             DELETE FROM mcp_tasks_schema WHERE version = 4;",
        )
        .await
        .unwrap();
    let between = write_as_v2("between").await;
    let unfilled: Option<i64> = client
        .query_one(
            "SELECT updated_at FROM mcp_tasks WHERE id = $1",
            &[&between.id.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unfilled, None, "the schema of version 3 leaves it empty");
    drop(store);
    let store = PostgresStore::connect(db.url()).await.unwrap();
    assert_eq!(
        by_tool(&store, "between").await,
        std::slice::from_ref(&between)
    );

    // Purged by when they finished, not when they were created.
    let just_before = finished - jiff::SignedDuration::from_micros(1);
    assert!(store.purge(just_before, 10).await.unwrap().is_empty());
    let mut purged: Vec<TaskId> = store
        .purge(finished + jiff::SignedDuration::from_micros(1), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    purged.sort();
    let mut both = vec![after.id, between.id];
    both.sort();
    assert_eq!(purged, both);
}

/// A store whose lease renewals can be made to fail, as when its process loses the database
/// or freezes: the lease lapses while its work still runs.
#[derive(Debug)]
struct Unreachable {
    inner: Arc<PostgresStore>,
    cut: AtomicBool,
}

#[async_trait]
impl TaskStore for Unreachable {
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
    fn is_shared(&self) -> bool {
        true
    }
    async fn renew_lease(&self, runner: &str, ttl: Duration) -> Result<Lease> {
        if self.cut.load(Ordering::Acquire) {
            return Err(Error::store("cut off"));
        }
        self.inner.renew_lease(runner, ttl).await
    }
    async fn release_lease(&self, runner: &str) -> Result<()> {
        self.inner.release_lease(runner).await
    }
}

/// An instance whose lease lapses has its unfinished tasks recovered exactly once across two
/// surviving instances recovering at the same time: failed with a statusMessage, or run again
/// when resumable. When it comes back it learns its lease had lapsed and stops the work the
/// others took over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_instance_tasks_are_recovered_once_by_the_survivors() {
    let db = TempDatabase::create().await;
    let lease = EngineConfig::default().lease_ttl(Duration::from_millis(600));
    let a_store = Arc::new(Unreachable {
        inner: Arc::new(PostgresStore::connect(db.url()).await.unwrap()),
        cut: AtomicBool::new(false),
    });
    let a = Engine::new(a_store.clone(), lease.clone());
    let (_, b) = instance(&db, lease.clone()).await;
    let (_, c) = instance(&db, lease.clone()).await;

    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for tool in ["plain", "plain", "resumable", "plain", "resumable"] {
        let task = a.create(call(alice("on-a"), tool)).await.unwrap();
        let tx = stopped_tx.clone();
        a.start(&task, |_| async move {
            struct Tell(mpsc::UnboundedSender<()>);
            impl Drop for Tell {
                fn drop(&mut self) {
                    let _ = self.0.send(());
                }
            }
            let _tell = Tell(tx);
            std::future::pending::<Outcome>().await
        });
        tasks.push(task);
    }
    // Alive: nothing is an orphan, however often the others look.
    let resumable = |r: &TaskRecord| r.name.as_deref() == Some("resumable");
    let none = b.recover_orphans(resumable).await.unwrap();
    assert!(none.failed.is_empty() && none.rerun.is_empty());

    a_store.cut.store(true, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (from_b, from_c) = tokio::join!(b.recover_orphans(resumable), c.recover_orphans(resumable));
    let (from_b, from_c) = (from_b.unwrap(), from_c.unwrap());
    let failed = from_b.failed.len() + from_c.failed.len();
    let rerun = from_b.rerun.len() + from_c.rerun.len();
    assert_eq!(
        (failed, rerun),
        (3, 2),
        "each orphan recovered exactly once"
    );
    for task in &tasks {
        let now = b.get(&alice("on-b"), &task.id).await.unwrap();
        if task.name.as_deref() == Some("resumable") {
            assert_eq!(now.status(), TaskStatus::Working);
            assert_ne!(now.runner, task.runner, "another instance runs it now");
        } else {
            assert_eq!(now.status(), TaskStatus::Failed);
            let message = now.status_message.unwrap();
            assert!(message.contains("its lease lapsed"), "{message}");
        }
    }
    // A comes back: every piece of its work was taken over, so all of it stops.
    a_store.cut.store(false, Ordering::Release);
    for _ in 0..tasks.len() {
        within(
            "A stops the work taken over",
            Duration::from_secs(5),
            stopped.recv(),
        )
        .await
        .unwrap();
    }
}

/// Instances that start together on an empty database migrate it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let db = TempDatabase::create().await;
    let stores = futures::future::join_all((0..4).map(|_| PostgresStore::connect(db.url()))).await;
    for store in stores {
        assert_eq!(store.unwrap().count().await.unwrap(), 0);
    }
}

/// T-LIST-1, T-LIST-2: instances that start together on one database share one cursor key, so
/// a `tasks/list` cursor from A is honoured by B, and on B too it is refused for another
/// requestor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_cursors() {
    let db = TempDatabase::create().await;
    let stores = futures::future::join_all((0..3).map(|_| PostgresStore::connect(db.url()))).await;
    let keys: Vec<Vec<u8>> = stores
        .iter()
        .map(|s| s.as_ref().unwrap().cursor_key().to_vec())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "instances disagree on the cursor key"
    );

    let config = EngineConfig::default().page_size(1);
    let (_a, engine_a) = instance(&db, config.clone()).await;
    let (_b, engine_b) = instance(&db, config).await;
    let alice = Requestor {
        owner: Some(Owner::new("alice")),
        session: Some("a".into()),
    };
    for _ in 0..2 {
        engine_a.create(call(alice.clone(), "demo")).await.unwrap();
    }
    let first = engine_a.list(&alice, None).await.unwrap();
    let cursor = first.next_cursor.expect("a second page");
    let second = engine_b.list(&alice, Some(&cursor)).await.unwrap();
    assert_eq!(second.tasks.len(), 1);
    assert_ne!(second.tasks[0].id, first.tasks[0].id);
    let bob = Requestor {
        owner: Some(Owner::new("bob")),
        session: Some("a".into()),
    };
    assert!(matches!(
        engine_b.list(&bob, Some(&cursor)).await,
        Err(Error::InvalidCursor { .. })
    ));
}

/// A wrong address, a server out of reach, and a missing database each say what is wrong.
#[tokio::test]
async fn bad_addresses_are_explained() {
    let err = PostgresStore::connect("postgres://nobody@127.0.0.1:1/none")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is PostgreSQL running there"), "{err}");
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/mcp_tasks_no_such_db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    let err = PostgresStore::connect("postgres://h/db?sslmode=required")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sslmode=\"required\" is not a TLS mode"),
        "{err}"
    );
    let err = PostgresStore::connect("postgres://h:notaport/db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid"), "{err}");
}

/// The queries run per request, and the sweepers' and recoverers' queries, can use their
/// indexes: with sequential scans priced out, each plan names its index and sorts nothing. A
/// migration that loses one fails here, not in production at a million rows.
#[tokio::test]
async fn hot_queries_use_indexes() {
    let db = TempDatabase::create().await;
    drop(PostgresStore::connect(db.url()).await.unwrap());
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    for (sql, index) in [
        (
            "SELECT record FROM mcp_tasks WHERE id = 'x' AND owner IS NOT DISTINCT FROM 'o'",
            "mcp_tasks_pkey",
        ),
        (
            "SELECT record FROM mcp_tasks WHERE owner = 'o' AND (created_at, id) > (0, '') \
             ORDER BY created_at, id LIMIT 10",
            "mcp_tasks_by_owner",
        ),
        (
            "SELECT record FROM mcp_tasks WHERE owner IS NULL AND session = 's' \
             AND (created_at, id) > (0, '') ORDER BY created_at, id LIMIT 10",
            "mcp_tasks_by_session",
        ),
        (
            "SELECT id FROM mcp_tasks WHERE expires_at <= 5 ORDER BY expires_at LIMIT 10",
            "mcp_tasks_by_expiry",
        ),
        (
            "SELECT count(*) FROM mcp_tasks WHERE owner = 'o' \
             AND status IN ('working', 'input_required')",
            "mcp_tasks_live_by_requestor",
        ),
        (
            "SELECT count(*) FROM mcp_tasks WHERE owner IS NULL AND session = 's' \
             AND status IN ('working', 'input_required')",
            "mcp_tasks_live_by_requestor",
        ),
        (
            "SELECT record FROM mcp_tasks t WHERE status IN ('working', 'input_required') \
             AND t.runner IS DISTINCT FROM 'r' \
             AND NOT EXISTS (SELECT 1 FROM mcp_tasks_instances i \
                             WHERE i.runner = t.runner AND i.lease_until > now()) \
             AND (created_at, id) > (0, '') ORDER BY created_at, id LIMIT 10",
            "mcp_tasks_live_by_age",
        ),
        // Issue 15: the operator's listing, counts, purge and history.
        (
            "SELECT record FROM mcp_tasks WHERE true AND (created_at, id) < (5, 'x') \
             ORDER BY created_at DESC, id DESC LIMIT 10",
            "mcp_tasks_by_age",
        ),
        (
            "SELECT record FROM mcp_tasks WHERE true AND owner = 'o' \
             ORDER BY created_at DESC, id DESC LIMIT 10",
            "mcp_tasks_by_owner",
        ),
        (
            "SELECT status, name, owner, count(*) FROM mcp_tasks GROUP BY name, owner, status",
            "mcp_tasks_by_group",
        ),
        (
            "SELECT id FROM mcp_tasks WHERE status IN ('completed', 'failed', 'cancelled') \
             AND updated_at < 5 ORDER BY updated_at LIMIT 10",
            "mcp_tasks_finished_by_update",
        ),
        (
            "SELECT body FROM mcp_tasks_events WHERE task_id = 't' AND seq > 0 \
             ORDER BY seq LIMIT 10",
            "mcp_tasks_events_pkey",
        ),
    ] {
        let rows = client.query(&format!("EXPLAIN {sql}"), &[]).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{sql}\n  plan:\n{plan}");
        assert!(!plan.contains("Sort"), "{sql}\n  sorts:\n{plan}");
    }
}

/// A write whose caller gave up after it committed (its future dropped, as when an HTTP
/// client hangs up mid-request) still wakes this instance's own waiters: its notification
/// comes back to the instance that made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_after_commit_still_reaches_its_own_feed() {
    let db = TempDatabase::create().await;
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    let now = Timestamp::now();
    for attempt in 0..400u64 {
        let task = a
            .create(NewTask {
                id: TaskId::generate(),
                requestor: alice("on-a"),
                kind: RequestKind::ToolsCall,
                name: Some("dropped".into()),
                params: json!({}),
                created_at: now,
                ttl: None,
                poll_interval: None,
                progress_token: None,
                runner: Some("runner-a".into()),
                active_limit: None,
            })
            .await
            .unwrap();
        let mut feed = a.changes();
        let cut = Duration::from_micros(25 * attempt);
        let write = a.transition(
            &task.id,
            Transition::Cancel {
                message: None,
                by: None,
            },
            now,
        );
        if tokio::time::timeout(cut, write).await.is_ok() {
            continue;
        }
        // Dropped: did it commit anyway?
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = b.get(task.owner.as_ref(), &task.id).await.unwrap().unwrap();
        if seen.status() != TaskStatus::Cancelled {
            continue;
        }
        within("the own feed hears of it", Duration::from_secs(5), async {
            loop {
                if let Ok(change) = feed.recv().await {
                    if change.id == task.id
                        && change.event == ChangeEvent::Updated(TaskStatus::Cancelled)
                    {
                        return;
                    }
                }
            }
        })
        .await;
        return;
    }
    panic!("no write was dropped after its commit in 400 attempts");
}

/// Issue 15 item 3 (review: a deletion failed after deleting): a task whose stored record no
/// longer decodes is purged or swept with the others and reported by id on the feed, and the
/// readable ones are returned, instead of an error for a deletion that happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_do_not_fail_a_deletion() {
    let db = TempDatabase::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let at = Timestamp::from_second(1_800_000_000).unwrap();
    let make = async |finished: bool| {
        let record = store
            .create(NewTask {
                id: TaskId::generate(),
                requestor: alice("s"),
                kind: RequestKind::ToolsCall,
                name: Some("t".into()),
                params: json!({}),
                created_at: at,
                ttl: Some(Duration::from_secs(60)),
                poll_interval: None,
                progress_token: None,
                runner: None,
                active_limit: None,
            })
            .await
            .unwrap();
        if finished {
            let done = Transition::Finish(Outcome::Completed(json!({})));
            store.transition(&record.id, done, at).await.unwrap();
        }
        record.id
    };
    // Behind the store's back, as a hand or another program would: no trigger of ours runs.
    client
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let corrupt = async |id: &TaskId| {
        let n = client
            .execute(
                "UPDATE mcp_tasks SET record = 'garbage' WHERE id = $1",
                &[&id.as_str()],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    };
    // Until both are reported; this instance's earlier writes, and these deletions, also come
    // back through its listener, in no set order.
    let fed = async |feed: &mut ChangeFeed| {
        let mut ids = std::collections::BTreeSet::new();
        while ids.len() < 2 {
            let change = within("the feed", Duration::from_secs(10), feed.recv())
                .await
                .unwrap();
            if change.event == ChangeEvent::Expired {
                ids.insert(change.id);
            }
        }
        ids.into_iter().collect::<Vec<_>>()
    };

    let (good, bad) = (make(true).await, make(true).await);
    corrupt(&bad).await;
    let mut feed = store.changes();
    let purged = store
        .purge(at + jiff::SignedDuration::from_secs(1), 10)
        .await
        .unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].id, good);
    assert_eq!(store.count().await.unwrap(), 0);
    let mut both = vec![good, bad];
    both.sort();
    assert_eq!(fed(&mut feed).await, both);

    let (good, bad) = (make(false).await, make(false).await);
    corrupt(&bad).await;
    let mut feed = store.changes();
    let swept = store
        .delete_expired(at + jiff::SignedDuration::from_secs(61), 10)
        .await
        .unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(store.count().await.unwrap(), 0);
    let mut both = vec![good, bad];
    both.sort();
    assert_eq!(fed(&mut feed).await, both);
}

/// Issue 14: writes are batched, many per transaction, with their notes packed in one
/// notification; two instances writing at once each hear every change the other made (on
/// their change feeds) and read it at once, whichever batch carried it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_see_each_other_batched_changes() {
    const EACH: usize = 48;
    let db = TempDatabase::create().await;
    let a = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let b = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let (mut feed_a, mut feed_b) = (a.changes(), b.changes());
    let new = |session: &str| NewTask {
        id: TaskId::generate(),
        requestor: alice(session),
        kind: RequestKind::ToolsCall,
        name: Some("batched".into()),
        params: json!({}),
        created_at: Timestamp::now(),
        ttl: None,
        poll_interval: None,
        progress_token: None,
        runner: None,
        active_limit: None,
    };
    // Concurrent writes on both instances, so that each store's writers batch them.
    let create_on = |store: Arc<PostgresStore>, session: &'static str| async move {
        let creations = (0..EACH).map(|_| store.create(new(session)));
        futures::future::join_all(creations).await
    };
    let (on_a, on_b) = tokio::join!(create_on(a.clone(), "on-a"), create_on(b.clone(), "on-b"));
    let on_a: Vec<TaskRecord> = on_a.into_iter().map(Result::unwrap).collect();
    let on_b: Vec<TaskRecord> = on_b.into_iter().map(Result::unwrap).collect();
    // Each instance completes the tasks the other created.
    let complete_on = |store: Arc<PostgresStore>, tasks: Vec<TaskRecord>| async move {
        let done = tasks.iter().map(|t| {
            store.transition(
                &t.id,
                Transition::Finish(Outcome::Completed(json!({"content": []}))),
                Timestamp::now(),
            )
        });
        futures::future::join_all(done).await
    };
    let (done_by_b, done_by_a) = tokio::join!(
        complete_on(b.clone(), on_a.clone()),
        complete_on(a.clone(), on_b.clone())
    );
    assert!(done_by_a.iter().chain(&done_by_b).all(Result::is_ok));

    // Every change, on both feeds: an instance's own from its writers, the other's through
    // its listener.
    let all: Vec<&TaskRecord> = on_a.iter().chain(&on_b).collect();
    for (name, feed) in [("a", &mut feed_a), ("b", &mut feed_b)] {
        let mut created: std::collections::HashSet<TaskId> =
            all.iter().map(|t| t.id.clone()).collect();
        let mut completed = created.clone();
        within(
            &format!("{name} hears of every creation and completion"),
            Duration::from_secs(20),
            async {
                while !created.is_empty() || !completed.is_empty() {
                    match feed.recv().await {
                        Ok(change) if change.event == ChangeEvent::Created => {
                            created.remove(&change.id);
                        }
                        Ok(change)
                            if change.event == ChangeEvent::Updated(TaskStatus::Completed) =>
                        {
                            completed.remove(&change.id);
                        }
                        Ok(_) => {}
                        Err(e) => panic!("{name}'s feed lagged: {e:?}"),
                    }
                }
            },
        )
        .await;
    }
    for task in &all {
        for store in [&a, &b] {
            let seen = store
                .get(task.owner.as_ref(), &task.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(seen.status(), TaskStatus::Completed);
        }
    }
}

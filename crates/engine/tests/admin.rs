//! The operator's side of the engine (issue 15): who cancelled, results retrieved and progress
//! in the history, the [`Admin`](mcp_tasks_engine::Admin) facade over every owner's tasks, and
//! the metrics the engine keeps, over the memory and SQLite stores.

use std::sync::Arc;
use std::time::Duration;

use mcp_tasks_engine::{
    AdminFilter, CreateTask, Engine, EngineConfig, Error, EventKind, MemoryStore, Outcome, Owner,
    OwnerFilter, RequestKind, Requestor, SqliteStore, TaskStatus, TaskStore,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde_json::json;

fn owned(owner: &str) -> Requestor {
    Requestor {
        owner: Some(Owner::new(owner)),
        session: Some(format!("{owner}-session")),
    }
}

fn call(requestor: &Requestor, tool: &str) -> CreateTask {
    CreateTask {
        requestor: requestor.clone(),
        kind: RequestKind::ToolsCall,
        name: Some(tool.into()),
        params: json!({"name": tool, "arguments": {}}),
        ttl_ms: None,
        progress_token: None,
    }
}

/// The stores to run on, with what must outlive them.
fn stores() -> Vec<(Arc<dyn TaskStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("tasks.sqlite3")).unwrap();
    vec![
        (Arc::new(MemoryStore::new()), None),
        (Arc::new(sqlite), Some(dir)),
    ]
}

async fn last_event(engine: &Engine, id: &mcp_tasks_engine::TaskId) -> EventKind {
    let history = engine.admin().task(id, None).await.unwrap().history;
    history.last().expect("a history").kind.clone()
}

/// Issue 15 item 1: a requestor's cancel names the requestor, by owner or else by session; an
/// operator's names the operator; a retrieved result names who retrieved it.
#[tokio::test]
async fn the_history_says_who() {
    for (store, _dir) in stores() {
        let engine = Engine::new(store, EngineConfig::default());
        let alice = owned("alice");
        let anon = Requestor::anonymous("s-1");
        let by = |who: &str| Some(who.to_owned());

        let task = engine.create(call(&alice, "t")).await.unwrap();
        engine.cancel(&alice, &task.id, None).await.unwrap();
        assert_eq!(
            last_event(&engine, &task.id).await,
            EventKind::Cancelled {
                by: by("owner:alice")
            }
        );
        let task = engine.create(call(&anon, "t")).await.unwrap();
        engine.cancel(&anon, &task.id, None).await.unwrap();
        assert_eq!(
            last_event(&engine, &task.id).await,
            EventKind::Cancelled {
                by: by("session:s-1")
            }
        );
        let task = engine.create(call(&anon, "t")).await.unwrap();
        let cancelled = engine
            .admin()
            .cancel(&task.id, "admin", Some("runaway".into()))
            .await
            .unwrap();
        assert_eq!(cancelled.status(), TaskStatus::Cancelled);
        assert_eq!(cancelled.status_message.as_deref(), Some("runaway"));
        assert_eq!(
            last_event(&engine, &task.id).await,
            EventKind::Cancelled { by: by("admin") }
        );

        let task = engine.create(call(&alice, "t")).await.unwrap();
        engine.start(&task, |_| async { Outcome::Completed(json!({})) });
        let done = engine.wait_terminal(&alice, &task.id).await.unwrap();
        engine.result_retrieved(&alice, &done).await;
        assert_eq!(
            last_event(&engine, &task.id).await,
            EventKind::ResultRetrieved {
                by: by("owner:alice")
            }
        );
    }
}

fn progress_of(history: &[mcp_tasks_engine::TaskEvent]) -> Vec<(f64, Option<String>)> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Progress {
                progress, message, ..
            } => Some((*progress, message.clone())),
            _ => None,
        })
        .collect()
}

/// How many `record` calls reached the store, from the engine's own metrics.
fn records_written(engine: &Engine) -> u64 {
    let text = encoded(engine);
    let line = "mcp_tasks_store_operation_seconds_count{op=\"record\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .map_or(0, |n| n.parse().unwrap())
}

/// Issue 15 item 1: progress goes into the history once a second at most, the first report
/// at once; what the work reports in between is replaced by the latest, and the last report
/// before the work returns is written before its outcome.
#[tokio::test(start_paused = true)]
async fn progress_is_kept_once_a_second() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let me = Requestor::anonymous("s");
    let task = engine.create(call(&me, "t")).await.unwrap();
    engine.start(&task, |cx| async move {
        cx.progress(1.0, Some(4.0), Some("one".into()));
        cx.progress(2.0, Some(4.0), None);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cx.progress(3.0, Some(4.0), Some("three".into()));
        cx.progress(4.0, Some(4.0), Some("done".into()));
        Outcome::Completed(json!({}))
    });
    engine.wait_terminal(&me, &task.id).await.unwrap();
    let history = engine.admin().task(&task.id, None).await.unwrap().history;
    assert_eq!(
        progress_of(&history),
        [
            (1.0, Some("one".into())),
            (3.0, Some("three".into())),
            (4.0, Some("done".into()))
        ]
    );
    assert_eq!(
        history.last().unwrap().kind,
        EventKind::Completed,
        "nothing after the outcome: {history:?}"
    );
}

/// Issue 15 item 1 (review: a task per progress call): a tool reporting two million times in
/// a tight loop starts one write, keeps one report, and holds no task or memory per call;
/// its history shows the first report and the last, then the outcome.
#[tokio::test]
async fn progress_in_a_tight_loop_stays_flat() {
    const CALLS: u32 = 2_000_000;
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let me = Requestor::anonymous("s");
    let task = engine.create(call(&me, "t")).await.unwrap();
    let (spawned_tx, spawned_rx) = tokio::sync::oneshot::channel();
    engine.start(&task, |cx| async move {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        for i in 1..=CALLS {
            let message = (i == CALLS).then(|| "last".to_owned());
            cx.progress(f64::from(i), Some(f64::from(CALLS)), message);
        }
        let _ = spawned_tx.send(metrics.num_alive_tasks() - before);
        Outcome::Completed(json!({}))
    });
    engine.wait_terminal(&me, &task.id).await.unwrap();
    assert_eq!(
        spawned_rx.await.unwrap(),
        1,
        "one write in flight, not one per call"
    );
    assert_eq!(records_written(&engine), 2, "the first report and the last");
    let history = engine.admin().task(&task.id, None).await.unwrap().history;
    assert_eq!(
        progress_of(&history),
        [(1.0, None), (f64::from(CALLS), Some("last".into()))]
    );
    assert_eq!(history.last().unwrap().kind, EventKind::Completed);
}

/// Issue 15 item 1 (review: progress off a tokio thread): a report from a thread of the
/// tool's own never panics; with no runtime to write it, it waits and is written before the
/// outcome.
#[tokio::test]
async fn progress_from_a_plain_thread_is_kept() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let me = Requestor::anonymous("s");
    let task = engine.create(call(&me, "t")).await.unwrap();
    engine.start(&task, |cx| async move {
        std::thread::scope(|threads| {
            threads.spawn(|| {
                for i in 1..=3 {
                    cx.progress(f64::from(i), None, Some(format!("step {i}")));
                }
            });
        });
        Outcome::Completed(json!({}))
    });
    engine.wait_terminal(&me, &task.id).await.unwrap();
    let history = engine.admin().task(&task.id, None).await.unwrap().history;
    assert_eq!(progress_of(&history), [(3.0, Some("step 3".into()))]);
    assert_eq!(history.last().unwrap().kind, EventKind::Completed);
    assert_eq!(records_written(&engine), 1);
}

/// Issue 15 item 1: the work's context may outlive the work (a thread of the tool's keeps
/// it); what it reports after the work ended is not noted, and nothing follows the outcome.
#[tokio::test]
async fn progress_after_the_work_ended_is_not_noted() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let me = Requestor::anonymous("s");
    let task = engine.create(call(&me, "t")).await.unwrap();
    let (kept_tx, kept_rx) = tokio::sync::oneshot::channel();
    engine.start(&task, |cx| async move {
        let _ = kept_tx.send(cx);
        Outcome::Completed(json!({}))
    });
    engine.wait_terminal(&me, &task.id).await.unwrap();
    let cx = kept_rx.await.unwrap();
    cx.progress(1.0, None, None);
    tokio::task::yield_now().await;
    let history = engine.admin().task(&task.id, None).await.unwrap().history;
    assert_eq!(history.len(), 2, "created, completed: {history:?}");
    assert_eq!(records_written(&engine), 0);
}

/// Issue 15 item 3: the operator lists every owner's tasks newest first, in pages whose
/// cursors are signed for the operator's listing alone; reads one task with its history;
/// cancels any owner's task, stopping its work; and purges finished tasks.
#[tokio::test]
async fn the_operator_sees_and_steers_every_task() {
    for (store, _dir) in stores() {
        let engine = Engine::new(store, EngineConfig::default().page_size(2));
        let admin = engine.admin();
        let (alice, bob) = (owned("alice"), owned("bob"));
        let mut made = Vec::new();
        for i in 0..5 {
            let who = if i % 2 == 0 { &alice } else { &bob };
            made.push(engine.create(call(who, "t")).await.unwrap());
        }
        // Newest first: tasks made within one clock tick tie on createdAt and go by id.
        made.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
        let made: Vec<_> = made.into_iter().map(|r| r.id).collect();

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = admin
                .list(AdminFilter::default(), cursor.as_deref(), 2)
                .await
                .unwrap();
            assert!(page.tasks.len() <= 2);
            seen.extend(page.tasks.iter().map(|r| r.id.clone()));
            match page.next_cursor {
                Some(next) => {
                    // A requestor's tasks/list takes no operator's cursor.
                    let refused = engine.list(&alice, Some(&next)).await.unwrap_err();
                    assert!(matches!(refused, Error::InvalidCursor { .. }), "{refused}");
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, made, "every task once, newest first");
        let bobs = admin
            .list(
                AdminFilter {
                    owner: Some(OwnerFilter::Owner(Owner::new("bob"))),
                    ..AdminFilter::default()
                },
                None,
                50,
            )
            .await
            .unwrap();
        assert_eq!(bobs.tasks.len(), 2);
        assert!(bobs.next_cursor.is_none());

        // Nor does the operator's listing take a requestor's cursor, or a forged one.
        let theirs = engine
            .list(&alice, None)
            .await
            .unwrap()
            .next_cursor
            .expect("alice's 3 tasks take two pages of 2");
        for bad in [theirs.as_str(), "forged", ""] {
            let refused = admin
                .list(AdminFilter::default(), Some(bad), 2)
                .await
                .unwrap_err();
            assert!(matches!(refused, Error::InvalidCursor { .. }), "{refused}");
        }

        // Any owner's task, with its history; unknown ids are NotFound.
        let shown = admin.task(&made[0], None).await.unwrap();
        assert_eq!(shown.record.id, made[0]);
        assert_eq!(shown.history.len(), 1);
        assert!(!shown.history_more);
        assert!(matches!(shown.history[0].kind, EventKind::Created { .. }));
        let unknown = mcp_tasks_engine::TaskId::generate();
        assert!(matches!(
            admin.task(&unknown, None).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            admin.cancel(&unknown, "admin", None).await,
            Err(Error::NotFound { .. })
        ));

        // Cancelling stops the work; a second cancel is refused naming the status.
        let running = engine.create(call(&bob, "forever")).await.unwrap();
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
        engine.start(&running, |cx| async move {
            cx.cancellation().cancelled().await;
            let _ = stopped_tx.send(());
            std::future::pending::<Outcome>().await
        });
        admin.cancel(&running.id, "admin", None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), stopped_rx)
            .await
            .expect("the work is stopped")
            .unwrap();
        let again = admin.cancel(&running.id, "admin", None).await.unwrap_err();
        assert!(
            matches!(
                again,
                Error::Conflict {
                    actual: TaskStatus::Cancelled,
                    ..
                }
            ),
            "{again}"
        );

        let counts = admin.counts().await.unwrap();
        let total: u64 = counts.iter().map(|c| c.count).sum();
        assert_eq!(total, 6);
        admin.check().await.unwrap();
        assert_eq!(
            admin.lease_held(),
            None,
            "a store of one process has no lease"
        );

        // Only the finished task goes, with its history.
        let purged = admin
            .purge(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(purged, 1);
        assert!(matches!(
            admin.task(&running.id, None).await,
            Err(Error::NotFound { .. })
        ));
        assert_eq!(
            admin
                .list(AdminFilter::default(), None, 50)
                .await
                .unwrap()
                .tasks
                .len(),
            5
        );
    }
}

fn encoded(engine: &Engine) -> String {
    let mut registry = Registry::default();
    engine.metrics().register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    text
}

/// Issue 15 item 2: the engine counts what it does: tasks created and finished by tool and
/// status, the work running and the requests waiting now, and every store operation.
#[tokio::test]
async fn the_engine_keeps_its_metrics() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let me = Requestor::anonymous("s");
    let done = engine.create(call(&me, "build")).await.unwrap();
    engine.start(&done, |_| async { Outcome::Completed(json!({})) });
    engine.wait_terminal(&me, &done.id).await.unwrap();

    let held = engine.create(call(&me, "build")).await.unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    engine.start(&held, |_| async move {
        let _ = released.await;
        Outcome::Completed(json!({}))
    });
    let waiter = {
        let engine = engine.clone();
        let me = me.clone();
        let id = held.id.clone();
        tokio::spawn(async move { engine.wait_terminal(&me, &id).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.metrics().waiters() < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the waiter is counted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let text = encoded(&engine);
    for line in [
        "mcp_tasks_tasks_created_total{tool=\"build\"} 2",
        "mcp_tasks_tasks_finished_total{tool=\"build\",status=\"completed\"} 1",
        "mcp_tasks_task_duration_seconds_count{tool=\"build\",status=\"completed\"} 1",
        "mcp_tasks_running 1",
        "mcp_tasks_waiters 1",
        "mcp_tasks_store_operation_seconds_count{op=\"create\"} 2",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    release.send(()).unwrap();
    waiter.await.unwrap().unwrap();

    let cancelled = engine.create(call(&me, "deploy")).await.unwrap();
    engine.cancel(&me, &cancelled.id, None).await.unwrap();
    let text = encoded(&engine);
    for line in [
        "mcp_tasks_tasks_finished_total{tool=\"build\",status=\"completed\"} 2",
        "mcp_tasks_tasks_finished_total{tool=\"deploy\",status=\"cancelled\"} 1",
        "mcp_tasks_running 0",
        "mcp_tasks_waiters 0",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

/// Issue 15 item 3 (review: purge deleted tasks and still failed): a task whose stored record
/// no longer decodes is deleted all the same by a purge or by the sweep, and reported by id on
/// the feed; the others are returned, counted and fed as usual, and nothing is left behind
/// while an error claims nothing happened.
#[tokio::test]
async fn unreadable_records_do_not_fail_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.sqlite3");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    use mcp_tasks_engine::Clock;
    let clock = Arc::new(mcp_tasks_engine::ManualClock::new(jiff::Timestamp::now()));
    let engine = Engine::with_clock(store.clone(), EngineConfig::default(), clock.clone());
    let me = Requestor::anonymous("s");
    let corrupt = |id: &mcp_tasks_engine::TaskId| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let n = conn
            .execute(
                "UPDATE tasks SET record = 'garbage' WHERE id = ?1",
                [id.as_str()],
            )
            .unwrap();
        assert_eq!(n, 1);
    };
    let make = async |finished: bool| {
        let mut new = call(&me, "t");
        new.ttl_ms = Some(60_000);
        let task = engine.create(new).await.unwrap();
        if finished {
            engine
                .store()
                .transition(
                    &task.id,
                    mcp_tasks_engine::Transition::Finish(Outcome::Completed(json!({}))),
                    clock.now(),
                )
                .await
                .unwrap();
        }
        task.id
    };
    let deleted = async |feed: &mut mcp_tasks_engine::ChangeFeed| {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let change = tokio::time::timeout(Duration::from_secs(10), feed.recv())
                .await
                .expect("both deletions are on the feed")
                .unwrap();
            assert_eq!(change.event, mcp_tasks_engine::ChangeEvent::Expired);
            ids.push(change.id);
        }
        ids.sort();
        ids
    };

    let (good, bad) = (make(true).await, make(true).await);
    corrupt(&bad);
    let mut feed = engine.changes();
    let purged = engine
        .admin()
        .purge(clock.now() + jiff::SignedDuration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(purged, 1, "the readable task is counted");
    assert_eq!(store.count().await.unwrap(), 0, "both went");
    let mut both = vec![good, bad];
    both.sort();
    assert_eq!(deleted(&mut feed).await, both);

    let (good, bad) = (make(false).await, make(false).await);
    corrupt(&bad);
    clock.advance(Duration::from_secs(61));
    let mut feed = engine.changes();
    assert_eq!(engine.sweep_expired().await.unwrap(), 1);
    assert_eq!(store.count().await.unwrap(), 0, "both went");
    let mut both = vec![good, bad];
    both.sort();
    assert_eq!(deleted(&mut feed).await, both);
}

//! No leaks: a soak test creates and expires many thousands of tasks and checks that the store and
//! the process return to their baseline (T-TTL-1, T-TTL-2), once per store.
//!
//! Each round creates [`TASKS_PER_ROUND`] tasks with `ttl` 1000 ms over [`SESSIONS`] HTTP sessions,
//! many requests in flight at once: most are `slow_echo` tasks that complete at once, a few are
//! left `working` (a long delay) so they expire while working, with `tasks/result` waiters open on
//! them that must wake with a -32602 "expired" error. The round then waits until the sweeper
//! (`--sweep-interval-ms 50`) has deleted everything: every session's `tasks/list` is empty and
//! `tasks/get` of a sample is -32602. The first round is the warm-up; its resident set size (and,
//! for SQLite, database plus WAL size) is the baseline the later rounds must come back to.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::future::join_all;
use futures::StreamExt;
use serde_json::{json, Value};
use testkit::http::{HttpServer, HttpSession};
use testkit::process::ServeOptions;
use testkit::stdio::RpcError;
use testkit::store::TempStore;

/// HTTP sessions the load is spread over.
const SESSIONS: usize = 8;
/// Requests in flight at once, over all sessions.
const IN_FLIGHT: usize = 64;
/// Tasks created per round.
const TASKS_PER_ROUND: usize = 2000;
/// Rounds after the warm-up.
const ROUNDS_AFTER_WARM_UP: usize = 4;
/// Tasks per round left working until they expire.
const EXPIRING_WHILE_WORKING: usize = 8;
/// Their delay: far beyond their ttl.
const LONG_DELAY_MS: u64 = 5_000;
/// The ttl every task asks for (the server's minimum).
const TTL_MS: u64 = 1000;
/// The ttl of the tasks whose results are fetched and checked: long enough that no load delays
/// the fetch past it, short enough to be swept well before [`EMPTY_DEADLINE`].
const CHECKED_TTL_MS: u64 = 5000;
/// How long a round may wait for the sweeper to empty the store.
const EMPTY_DEADLINE: Duration = Duration::from_secs(20);
/// Tasks per round whose result is fetched before they expire.
const RESULTS_CHECKED: usize = 50;

/// T-TTL-1, T-TTL-2: with the memory store, ten thousand tasks created and expired leave the
/// process's resident set where the warm-up left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_returns_to_baseline_after_10k_expired_tasks() {
    soak(None).await;
}

/// T-TTL-1, T-TTL-2: with a SQLite store, ten thousand tasks created and expired leave the
/// process's resident set and the database plus WAL size where the warm-up left them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_returns_to_baseline_after_10k_expired_tasks() {
    soak(Some(TempStore::new())).await;
}

/// What one round saw.
#[derive(Debug)]
struct Round {
    created: usize,
    create_time: Duration,
    empty_time: Duration,
    rss_kib: u64,
    db_and_wal: Option<u64>,
}

async fn soak(store: Option<TempStore>) {
    let label = if store.is_some() { "sqlite" } else { "memory" };
    let mut options = ServeOptions::default().args([
        "--sweep-interval-ms",
        "50",
        "--max-active-tasks",
        "unlimited",
    ]);
    if let Some(store) = &store {
        // The default durability (`full`): the store as shipped.
        options = options.store(store.store_arg());
    }
    let started = Instant::now();
    let server = HttpServer::spawn_with(bin(), &options).await;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        sessions.push(second_session(&server).await);
    }
    let start_rss = server.rss_kib();
    eprintln!(
        "[soak {label}] started: rss {start_rss} KiB{}",
        sizes_note(store.as_ref())
    );

    let mut rounds = Vec::new();
    for round_no in 0..=ROUNDS_AFTER_WARM_UP {
        let round = run_round(&server, &sessions, store.as_ref(), round_no).await;
        eprintln!(
            "[soak {label}] round {round_no}{}: {} tasks created in {:?} ({:.0}/s), empty {:?} later; \
             rss {} KiB{}",
            if round_no == 0 { " (warm-up)" } else { "" },
            round.created,
            round.create_time,
            round.created as f64 / round.create_time.as_secs_f64(),
            round.empty_time,
            round.rss_kib,
            round
                .db_and_wal
                .map(|b| format!(", db+wal {b} bytes"))
                .unwrap_or_default(),
        );
        rounds.push(round);
    }

    let baseline = &rounds[0];
    let last = rounds.last().expect("rounds ran");
    let total: usize = rounds.iter().map(|r| r.created).sum();
    let after_warm_up: usize = rounds[1..].iter().map(|r| r.created).sum();
    let peak_rss = rounds.iter().map(|r| r.rss_kib).max().unwrap_or_default();
    eprintln!(
        "[soak {label}] {total} tasks in {:?}; rss warm-up {} KiB, peak after {} KiB, final {} KiB \
         ({:+} KiB){}",
        started.elapsed(),
        baseline.rss_kib,
        peak_rss,
        last.rss_kib,
        last.rss_kib as i64 - baseline.rss_kib as i64,
        sizes_note(store.as_ref())
    );
    assert!(
        after_warm_up >= 8000,
        "the soak must create at least 8000 tasks after the warm-up, made {after_warm_up}"
    );

    // T-TTL-2: expired tasks are cleaned, so memory comes back to where the warm-up left it.
    let rss_tolerance = (baseline.rss_kib / 5).max(16 * 1024);
    assert!(
        last.rss_kib <= baseline.rss_kib + rss_tolerance,
        "T-TTL-2 [{label}]: the server's resident set grew from {} KiB after the warm-up to {} KiB \
         after {after_warm_up} more tasks were created and expired (tolerance {rss_tolerance} KiB); \
         rounds: {rounds:?}",
        baseline.rss_kib,
        last.rss_kib
    );
    if let (Some(base), Some(now)) = (baseline.db_and_wal, last.db_and_wal) {
        let file_tolerance = (base / 5).max(4 * 1024 * 1024);
        assert!(
            now <= base + file_tolerance,
            "T-TTL-2 [{label}]: the SQLite database plus WAL grew from {base} bytes after the \
             warm-up to {now} bytes after {after_warm_up} more tasks were created and expired \
             (tolerance {file_tolerance} bytes); rounds: {rounds:?}"
        );
    }
    for session in &sessions {
        session.assert_clean();
    }
}

fn sizes_note(store: Option<&TempStore>) -> String {
    store
        .map(|s| {
            let sizes = s.sizes();
            format!(
                ", db {} + wal {} (+ shm {}) bytes",
                sizes.db, sizes.wal, sizes.shm
            )
        })
        .unwrap_or_default()
}

/// One create-and-expire round; returns once the store is empty again.
async fn run_round(
    server: &HttpServer,
    sessions: &[HttpSession],
    store: Option<&TempStore>,
    round_no: usize,
) -> Round {
    let started = Instant::now();

    // A few tasks that are still working when their ttl runs out, with waiters blocked on them.
    let expiring = join_all((0..EXPIRING_WHILE_WORKING).map(|i| {
        let session = &sessions[i % SESSIONS];
        async move {
            create(
                session,
                json!({ "text": format!("r{round_no} long {i}"), "delay_ms": LONG_DELAY_MS }),
            )
            .await
        }
    }))
    .await;
    let waiters = join_all(expiring.iter().enumerate().map(|(i, id)| {
        let session = &sessions[(i + 1) % SESSIONS];
        async move {
            (
                id,
                session
                    .request("tasks/result", json!({ "taskId": id }))
                    .await,
            )
        }
    }));

    // The bulk: tasks that complete at once, many requests in flight.
    let bulk = TASKS_PER_ROUND - EXPIRING_WHILE_WORKING;
    let create_all = futures::stream::iter(0..bulk)
        .map(|i| {
            let session = &sessions[i % SESSIONS];
            async move {
                let text = format!("r{round_no} t{i}");
                let arguments = json!({ "text": text, "delay_ms": i % 20 });
                // Some results are fetched (blocking until done) and checked before they
                // expire. Those live longer, so a loaded machine (64 requests in flight on two
                // cores) cannot expire one between its creation and the fetch; they still end
                // well within the round's deadline for an empty store.
                let checked = i % (bulk / RESULTS_CHECKED) == 0;
                let id = if checked {
                    create_with_ttl(session, arguments, CHECKED_TTL_MS).await
                } else {
                    create(session, arguments).await
                };
                if checked {
                    let result = task_result_on(session, &id).await.unwrap_or_else(|e| {
                        panic!("tasks/result of {id} ({text}) before its ttl: {e}")
                    });
                    assert_eq!(text_of(&result), text, "the result of {id}");
                }
                id
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<String>>();
    let (ids, outcomes) = bounded(
        "creating a round of tasks",
        futures::future::join(create_all, waiters),
    )
    .await;
    let create_time = started.elapsed();

    // T-TTL-1: waiters on a task that expires while working wake with -32602 "expired".
    for (id, outcome) in outcomes {
        match outcome {
            Err(RpcError { code, message, .. }) if code == INVALID_PARAMS => assert!(
                message.to_lowercase().contains("expired"),
                "T-TTL-1: the tasks/result waiter on {id}, which expired while working, must be \
                 told it expired: {message:?}"
            ),
            other => panic!(
                "T-TTL-1: the tasks/result waiter on {id}, which expired while working, must get \
                 -32602 \"expired\", got {other:?}"
            ),
        }
    }

    // Wait for the sweeper: every session lists nothing, a sample of ids is gone.
    let sample: Vec<&String> = ids
        .iter()
        .step_by(ids.len() / 20)
        .chain(expiring.iter())
        .collect();
    let deadline = Instant::now() + EMPTY_DEADLINE;
    loop {
        let listed = join_all(sessions.iter().map(listed_count)).await;
        if listed.iter().all(|n| *n == 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "T-TTL-2: {EMPTY_DEADLINE:?} after round {round_no} was created, sessions still list \
             {listed:?} tasks (ttl {TTL_MS} ms, sweep every 50 ms)\nserver stderr:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in sample {
        match sessions[0]
            .request("tasks/get", json!({ "taskId": id }))
            .await
        {
            Err(e) if e.code == INVALID_PARAMS => {}
            other => panic!(
                "T-TTL-1: tasks/get of {id} after its ttl ran out and it left tasks/list must be \
                 -32602, got {other:?}"
            ),
        }
    }
    let empty_time = started.elapsed() - create_time;
    Round {
        created: ids.len() + expiring.len(),
        create_time,
        empty_time,
        rss_kib: server.rss_kib(),
        db_and_wal: store.map(|s| s.sizes().db_and_wal()),
    }
}

/// Creates a `slow_echo` task with the test's ttl; returns its id.
async fn create(session: &HttpSession, arguments: Value) -> String {
    create_with_ttl(session, arguments, TTL_MS).await
}

/// Creates a `slow_echo` task with `ttl_ms`; returns its id.
async fn create_with_ttl(session: &HttpSession, arguments: Value, ttl_ms: u64) -> String {
    let result = session
        .request(
            "tools/call",
            task_call("slow_echo", arguments, json!({ "ttl": ttl_ms })),
        )
        .await
        .unwrap_or_else(|e| panic!("creating a slow_echo task failed: {e}"));
    let task = check_create_result(&result);
    assert_eq!(
        task["ttl"], ttl_ms,
        "T-TTL-1: a ttl of {ttl_ms} ms is granted as asked: {task}"
    );
    task_id(&task)
}

async fn task_result_on(session: &HttpSession, id: &str) -> Result<Value, RpcError> {
    let result = session
        .request("tasks/result", json!({ "taskId": id }))
        .await;
    if let Ok(result) = &result {
        check_task_result(result, id);
    }
    result
}

fn text_of(result: &Value) -> String {
    text(result).to_owned()
}

/// How many tasks a session's `tasks/list` shows, over every page (bounded). A page may be empty
/// and still carry a `nextCursor` (expired tasks not yet swept are left out of a page), so the
/// cursor is followed.
async fn listed_count(session: &HttpSession) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let page = session
            .request("tasks/list", params)
            .await
            .unwrap_or_else(|e| panic!("tasks/list (cursor {cursor:?}) failed: {e}"));
        check_list_page(&page);
        count += page["tasks"].as_array().map_or(0, Vec::len);
        cursor = page
            .get("nextCursor")
            .map(|c| c.as_str().expect("nextCursor is a string").to_owned());
        if cursor.is_none() {
            return count;
        }
    }
    panic!("tasks/list did not end within 1000 pages")
}

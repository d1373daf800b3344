//! Two real `mcp-tasks serve --http` processes on one PostgreSQL database (a throw-away one per
//! test), with requests spread across both. HTTP sessions stay with the instance that made
//! them, as load balancers keep them; tasks do not: a session of the same subject on the other
//! instance serves any task by id.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use testkit::auth::{BearerSession, TokensFile};
use testkit::http::HttpServer;
use testkit::postgres::TempDatabase;
use testkit::process::ServeOptions;

const ALICE: &str = "alice-token-6f1d2c3b4a5e";
const BOB: &str = "bob-token-9e8d7c6b5a4f";

/// The engine's debug lines for the end of a task's work (`mcp_tasks_engine=debug`): its
/// outcome stored, refused because the task was already terminal, or the work stopped because
/// the task ended (a cancel seen here or through the store's change feed).
const WORK_ENDED: [&str; 4] = [
    "task finished",
    "work ended after the task was already terminal",
    "the work is stopped",
    "stopping its work here",
];

fn tokens() -> TokensFile {
    TokensFile::new(&[("alice", ALICE), ("bob", BOB)])
}

/// An instance on `db`, with bearer auth, a short lease (so a killed one is noticed in about a
/// second and a half) and the engine's debug log, which says when work is stopped.
async fn instance(db: &TempDatabase, tokens: &TokensFile) -> HttpServer {
    let options = ServeOptions::default()
        .store(db.url())
        .args(tokens.serve_args())
        .args(["--lease-ttl-ms", "1500", "--log", "mcp_tasks_engine=debug"]);
    HttpServer::spawn_with(bin(), &options).await
}

/// Two instances on one throw-away database, and a session of alice on each.
struct Pair {
    a: HttpServer,
    b: HttpServer,
    on_a: BearerSession,
    on_b: BearerSession,
    // Bound first by the tests, so dropped last: the database outlives the servers.
    _db: TempDatabase,
    _tokens: TokensFile,
}

impl Pair {
    async fn start() -> Self {
        let db = TempDatabase::create().await;
        let tokens = tokens();
        let a = instance(&db, &tokens).await;
        let b = instance(&db, &tokens).await;
        let on_a = BearerSession::start(a.url(), ALICE).await;
        let on_b = BearerSession::start(b.url(), ALICE).await;
        Self {
            a,
            b,
            on_a,
            on_b,
            _db: db,
            _tokens: tokens,
        }
    }
}

async fn create(session: &BearerSession, tool: &str, arguments: Value) -> String {
    let created = session
        .request("tools/call", task_call(tool, arguments, json!({})))
        .await
        .unwrap_or_else(|e| panic!("creating a {tool} task failed: {e}"));
    task_id(&check_create_result(&created))
}

async fn get(session: &BearerSession, id: &str) -> Value {
    let task = session
        .request("tasks/get", json!({"taskId": id}))
        .await
        .unwrap_or_else(|e| panic!("tasks/get {id} failed: {e}"));
    check_get_result(&task, id);
    task
}

async fn list(session: &BearerSession) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let page = session.request("tasks/list", params).await.unwrap();
        check_list_page(&page);
        ids.extend(page["tasks"].as_array().unwrap().iter().map(task_id));
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

async fn wait_for(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// T-GET-1, T-RES-2, T-LIST-1, T-SEC-1 across instances: a task created through A is read,
/// listed and waited for through a session on B; `tasks/result` on B returns when the work on
/// A completes; both instances list the owner's tasks alike; another subject sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_created_on_one_instance_are_served_by_the_other() {
    let Pair {
        _db,
        _tokens,
        a: _a,
        b,
        on_a,
        on_b,
    } = Pair::start().await;

    let slow = create(
        &on_a,
        "slow_echo",
        json!({"text": "from A", "delay_ms": 1500}),
    )
    .await;
    let quick = create(&on_b, "slow_echo", json!({"text": "from B", "delay_ms": 0})).await;
    assert_eq!(status(&get(&on_b, &slow).await), "working");

    let waiting = tokio::spawn({
        let on_b = on_b.clone();
        let slow = slow.clone();
        async move { on_b.request("tasks/result", json!({"taskId": slow})).await }
    });
    let result = bounded("tasks/result on B", waiting)
        .await
        .unwrap()
        .expect("the result");
    check_task_result(&result, &slow);
    assert_eq!(text(&result), "from A");
    assert_eq!(status(&get(&on_a, &slow).await), "completed");

    let (from_a, from_b) = (list(&on_a).await, list(&on_b).await);
    assert_eq!(from_a, from_b, "one listing, whichever instance answers");
    assert_eq!(from_a, vec![slow.clone(), quick.clone()]);

    let bob = BearerSession::start(b.url(), BOB).await;
    let refused = bob
        .request("tasks/get", json!({"taskId": slow}))
        .await
        .unwrap_err();
    assert_eq!(refused.code, INVALID_PARAMS);
    assert!(list(&bob).await.is_empty());
}

/// T-CAN-1 across instances: `tasks/cancel` on B makes a task running on A `cancelled` at
/// once, and A stops its handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_one_instance_stops_the_work_on_the_other() {
    let Pair {
        _db,
        _tokens,
        a,
        b,
        on_a,
        on_b,
    } = Pair::start().await;

    let id = create(&on_a, "countdown", json!({"from": 600, "interval_ms": 100})).await;
    let cancelled = on_b
        .request("tasks/cancel", json!({"taskId": id}))
        .await
        .expect("cancelled");
    assert_eq!(status(&cancelled), "cancelled");
    assert_eq!(status(&get(&on_a, &id).await), "cancelled");
    wait_for(
        "A stops the countdown's handler",
        Duration::from_secs(10),
        async || {
            a.stderr()
                .lines()
                .any(|line| line.contains(&id) && line.contains("the work is stopped"))
        },
    )
    .await;
    assert!(
        !b.stderr().contains("the work is stopped"),
        "B ran nothing, so it stopped nothing"
    );
}

/// T-LIFE-2 across processes: cancels sent to B while the work on A completes; each task ends
/// in exactly one terminal status, the one the loser was told of, and it never changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_racing_completion_across_instances_has_one_winner() {
    let Pair {
        _db,
        _tokens,
        a,
        b: _b,
        on_a,
        on_b,
    } = Pair::start().await;

    let mut ids = Vec::new();
    for round in 0..24u64 {
        // The cancel leaves as soon as the task exists, and the work ends a little earlier or
        // later than it arrives, differently each round: from at once to 35 ms after creation.
        let delay = (round % 8) * 5;
        let id = create(
            &on_a,
            "slow_echo",
            json!({"text": "done", "delay_ms": delay}),
        )
        .await;
        let told = match on_b.request("tasks/cancel", json!({"taskId": id})).await {
            Ok(task) => {
                assert_eq!(status(&task), "cancelled");
                "cancelled"
            }
            Err(e) => {
                assert_eq!(e.code, INVALID_PARAMS, "{e}");
                assert!(e.message.contains("completed"), "{e}");
                "completed"
            }
        };
        ids.push((id, told));
    }
    // Each task's work on A has ended once A logs how: stored, refused as already terminal,
    // or stopped by the cancel. Only then is "it never changes" worth checking.
    for (id, _) in &ids {
        wait_for(
            "A logs that the work of the task ended",
            Duration::from_secs(10),
            async || {
                a.stderr().lines().any(|line| {
                    line.contains(id.as_str()) && WORK_ENDED.iter().any(|end| line.contains(end))
                })
            },
        )
        .await;
    }
    for (id, told) in &ids {
        for session in [&on_a, &on_b, &on_a] {
            assert_eq!(status(&get(session, id).await), *told, "task {id}");
        }
    }
}

/// An instance killed with SIGKILL while it runs tasks: once its lease lapses, the survivor
/// fails its plain tasks with a statusMessage saying so and runs its resumable one again;
/// a `tasks/result` waiting on the survivor returns; nothing stays `working`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_tasks_are_taken_over_by_the_survivor() {
    let Pair {
        _db,
        _tokens,
        a,
        b,
        on_a,
        on_b,
    } = Pair::start().await;

    let mut plain = Vec::new();
    for n in 0..3 {
        plain.push(
            create(
                &on_a,
                "slow_echo",
                json!({"text": format!("lost {n}"), "delay_ms": 120_000}),
            )
            .await,
        );
    }
    let resumable = create(&on_a, "resumable_wait", json!({"delay_ms": 1500})).await;
    // Whether this reaches B just before A dies or just after, it waits on B for a task that
    // stays `working` until A's lease lapses (1.5 s), so it is answered by the takeover.
    let waiting = tokio::spawn({
        let on_b = on_b.clone();
        let id = plain[0].clone();
        async move { on_b.request("tasks/result", json!({"taskId": id})).await }
    });
    a.kill9().await;

    let lost = bounded("tasks/result on B after A died", waiting)
        .await
        .unwrap()
        .expect_err("a failed task's result is its error");
    assert!(lost.message.contains("its lease lapsed"), "{lost}");
    // Orphans are recovered one after another; the first may be answered before the last.
    for id in &plain {
        wait_for(
            "every orphan is failed",
            Duration::from_secs(10),
            async || status(&get(&on_b, id).await) != "working",
        )
        .await;
        let task = get(&on_b, id).await;
        assert_eq!(status(&task), "failed", "{task}");
        let message = task["statusMessage"].as_str().unwrap();
        assert!(message.contains("stopped (its lease lapsed)"), "{message}");
    }
    let again = bounded(
        "the resumable task runs again on B",
        on_b.request("tasks/result", json!({"taskId": resumable})),
    )
    .await
    .expect("it completes");
    assert_eq!(text(&again), "waited 1500 ms");
    assert!(
        b.stderr()
            .contains("recovered tasks of a server instance that stopped")
            || b.stderr().contains("recovered a task left unfinished"),
        "{}",
        b.stderr()
    );
}

//! Two real `mcp-tasks serve --http` processes on one PostgreSQL database (a throw-away one per
//! test), with requests spread across both. HTTP sessions stay with the instance that made
//! them, as load balancers keep them; tasks do not: a session of the same subject on the other
//! instance serves any task by id. One instance's admin listener (issue 15) sees and steers the
//! tasks of both.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use testkit::auth::{BearerSession, TokensFile};
use testkit::http::HttpServer;
use testkit::postgres::TempDatabase;
use testkit::process::ServeOptions;
use testkit::stdio::TIMEOUT;
use testkit::store::TempStore;

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
/// `extra` are more arguments, such as `--admin`.
async fn instance(db: &TempDatabase, tokens: &TokensFile, extra: &[&str]) -> HttpServer {
    let options = ServeOptions::default()
        .store(db.url())
        .args(tokens.serve_args())
        .args(["--lease-ttl-ms", "1500", "--log", "mcp_tasks_engine=debug"])
        .args(extra.iter().copied());
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
        Self::start_with(&[]).await
    }

    /// Two instances, A started with the arguments `on_a` as well.
    async fn start_with(on_a: &[&str]) -> Self {
        let db = TempDatabase::create().await;
        let tokens = tokens();
        let a = instance(&db, &tokens, on_a).await;
        let b = instance(&db, &tokens, &[]).await;
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

/// The admin token of the instances started with `--admin`.
const ADMIN_TOKEN: &str = "admin-token-multi-instance-0123456789";

/// The admin listener of an instance: the URL of its `admin: http://…/` stderr line (printed
/// before `listening on`, so it is there once the server is up) and the token.
struct AdminApi {
    url: String,
    http: reqwest::Client,
}

impl AdminApi {
    fn of(server: &HttpServer) -> Self {
        let stderr = server.stderr();
        let line = stderr
            .lines()
            .find(|l| l.contains("admin: http://"))
            .unwrap_or_else(|| panic!("no `admin: http://…` line on stderr:\n{stderr}"));
        let url = line[line.find("http://").unwrap()..]
            .trim_end_matches('/')
            .to_owned();
        Self {
            url,
            http: reqwest::Client::new(),
        }
    }

    async fn answer(what: &str, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = bounded(what, request.bearer_auth(ADMIN_TOKEN).send())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = response.status().as_u16();
        let body = bounded(what, response.json::<Value>())
            .await
            .unwrap_or_else(|e| panic!("{what}: the body is not JSON: {e}"));
        (status, body)
    }

    /// `GET PATH`: the status code and the JSON body.
    async fn get(&self, path: &str) -> (u16, Value) {
        let request = self.http.get(format!("{}{path}", self.url));
        Self::answer(&format!("GET {path}"), request).await
    }

    /// `POST PATH` with a JSON body: the status code and the JSON body.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.http.post(format!("{}{path}", self.url)).json(&body);
        Self::answer(&format!("POST {path}"), request).await
    }

    /// `GET /api/events`, once it said it is subscribed: every change after this is on it.
    async fn events(&self) -> AdminEvents {
        let response = bounded(
            "GET /api/events",
            self.http
                .get(format!("{}/api/events", self.url))
                .bearer_auth(ADMIN_TOKEN)
                .send(),
        )
        .await
        .expect("GET /api/events");
        assert_eq!(response.status().as_u16(), 200);
        let mut events = AdminEvents {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
            seen: Vec::new(),
        };
        events
            .wait_for("the `: subscribed` comment", |name, data| {
                name.is_empty() && data == &json!("subscribed")
            })
            .await;
        events
    }
}

/// An admin event stream, read as it comes.
struct AdminEvents {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    /// Every block read so far, for failure messages.
    seen: Vec<String>,
}

impl AdminEvents {
    /// The next block: its `event:` name and its `data:` as JSON; a comment is named "" with
    /// its text as a JSON string. `None` when the stream ended.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                self.seen.push(block.trim_end().to_owned());
                let (mut name, mut data) = (String::new(), Value::Null);
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        data = json!(comment.trim());
                    } else if let Some(event) = line.strip_prefix("event:") {
                        name = event.trim().to_owned();
                    } else if let Some(text) = line.strip_prefix("data:") {
                        data = serde_json::from_str(text.trim())
                            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {block}"));
                    }
                }
                return Some((name, data));
            }
            let chunk = self.body.next().await?.expect("reading /api/events");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until a block matches (bounded); panics with what came when none does.
    async fn wait_for(&mut self, what: &str, matches: impl Fn(&str, &Value) -> bool) {
        let found = tokio::time::timeout(TIMEOUT, async {
            while let Some((name, data)) = self.next().await {
                if matches(&name, &data) {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            found == Ok(true),
            "no {what} on /api/events ({}); it sent:\n{}",
            if found.is_ok() {
                "the stream ended"
            } else {
                "timed out"
            },
            self.seen.join("\n")
        );
    }

    /// Waits for the `event: task` of `id` with this change and status.
    async fn wait_for_task(&mut self, id: &str, change: &str, status: &str) {
        let wanted = json!({"taskId": id, "change": change, "status": status});
        self.wait_for(&format!("event: task {wanted}"), |name, data| {
            name == "task" && data == &wanted
        })
        .await;
    }
}

/// The `type` of each event of a `GET /api/tasks/{id}` history.
fn event_types(shown: &Value) -> Vec<&str> {
    shown["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history: {shown}"))
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

/// Issue 15 items 1 to 3 on a shared store: the admin listener of instance A shows a task
/// created through B (in `/api/tasks`, as a `created` event on `/api/events` through
/// LISTEN/NOTIFY, and with the history B wrote), its cancel stops the work running on B for
/// good, and its `/readyz` says A holds its lease once A runs tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_of_one_instance_sees_and_steers_the_other() {
    let scratch = TempStore::new();
    let token_file = scratch.dir().join("admin.token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let token_file = token_file.display().to_string();
    let Pair {
        _db,
        _tokens,
        a,
        b,
        on_a,
        on_b,
    } = Pair::start_with(&["--admin", "127.0.0.1:0", "--admin-token-file", &token_file]).await;
    let admin = AdminApi::of(&a);
    assert!(
        !b.stderr().contains("admin: http://"),
        "only A has an admin listener"
    );

    let (code, overview) = admin.get("/api/overview").await;
    assert_eq!(code, 200, "{overview}");
    assert_eq!(overview["server"]["shared"], json!(true), "{overview}");
    let runner_a = overview["server"]["runner"].as_str().unwrap().to_owned();
    let (code, ready) = admin.get("/readyz").await;
    assert_eq!((code, &ready["status"]), (200, &json!("ready")), "{ready}");
    assert!(
        ["held", "not taken yet"].contains(&ready["checks"]["lease"].as_str().unwrap()),
        "{ready}"
    );

    // A task made through B: on A's event stream, in A's list, with its history.
    let mut events = admin.events().await;
    let quick = create(&on_b, "slow_echo", json!({"text": "from B", "delay_ms": 0})).await;
    events.wait_for_task(&quick, "created", "working").await;
    let result = bounded(
        "tasks/result on B",
        on_b.request("tasks/result", json!({"taskId": quick})),
    )
    .await
    .expect("the result");
    assert_eq!(text(&result), "from B");
    events.wait_for_task(&quick, "updated", "completed").await;

    let (code, listed) = admin.get("/api/tasks?owner=alice").await;
    assert_eq!(code, 200, "{listed}");
    let row = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["taskId"] == json!(quick))
        .unwrap_or_else(|| panic!("A does not list {quick}: {listed}"));
    assert_eq!(
        (&row["status"], &row["owner"], &row["tool"]),
        (&json!("completed"), &json!("alice"), &json!("slow_echo")),
        "{row}"
    );
    let runner_b = row["runner"].as_str().unwrap().to_owned();
    assert_ne!(runner_b, runner_a, "B ran it, not A: {row}");

    let (code, shown) = admin.get(&format!("/api/tasks/{quick}")).await;
    assert_eq!(code, 200, "{shown}");
    assert_eq!(
        shown["task"]["result"]["content"][0]["text"],
        json!("from B")
    );
    let types = event_types(&shown);
    assert_eq!(
        types[..2],
        ["created", "completed"],
        "the history B wrote: {shown}"
    );
    let created = &shown["history"][0];
    assert_eq!(
        (&created["runner"], &created["owner"], &created["tool"]),
        (&json!(runner_b), &json!("alice"), &json!("slow_echo")),
        "{shown}"
    );
    assert_eq!(shown["history"][1]["status"], json!("completed"), "{shown}");

    // A's cancel stops the work running on B, and the task stays cancelled.
    let long = create(&on_b, "countdown", json!({"from": 600, "interval_ms": 50})).await;
    let (code, running) = admin.get(&format!("/api/tasks/{long}")).await;
    assert_eq!(code, 200, "{running}");
    assert_eq!(
        (&running["task"]["status"], &running["task"]["runner"]),
        (&json!("working"), &json!(runner_b)),
        "{running}"
    );
    let (code, cancelled) = admin
        .post(
            &format!("/api/tasks/{long}/cancel"),
            json!({"message": "runaway"}),
        )
        .await;
    assert_eq!(code, 200, "{cancelled}");
    assert_eq!(
        (
            &cancelled["task"]["status"],
            &cancelled["task"]["statusMessage"]
        ),
        (&json!("cancelled"), &json!("runaway")),
        "{cancelled}"
    );
    wait_for(
        "B stops the countdown's handler",
        Duration::from_secs(10),
        async || {
            b.stderr().lines().any(|line| {
                line.contains(&long)
                    && (line.contains("the work is stopped")
                        || line.contains("stopping its work here"))
            })
        },
    )
    .await;
    assert!(
        !a.stderr().contains("the work is stopped"),
        "A ran nothing, so it stopped nothing"
    );
    events.wait_for_task(&long, "updated", "cancelled").await;
    for session in [&on_a, &on_b] {
        let task = get(session, &long).await;
        assert_eq!(
            (status(&task), &task["statusMessage"]),
            ("cancelled", &json!("runaway")),
            "{task}"
        );
    }
    let (code, shown) = admin.get(&format!("/api/tasks/{long}")).await;
    assert_eq!(code, 200, "{shown}");
    let types = event_types(&shown);
    assert_eq!(types.first(), Some(&"created"), "{shown}");
    assert!(
        types[1..types.len() - 1].iter().all(|t| *t == "progress"),
        "only progress between the creation and the cancel: {shown}"
    );
    let last = shown["history"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (
            &last["type"],
            &last["by"],
            &last["status"],
            &last["statusMessage"]
        ),
        (
            &json!("cancelled"),
            &json!("admin"),
            &json!("cancelled"),
            &json!("runaway")
        ),
        "the cancel is the last event: B's stopped work wrote nothing after it: {shown}"
    );
    let (code, again) = admin
        .post(&format!("/api/tasks/{long}/cancel"), json!({}))
        .await;
    assert_eq!(
        (code, &again["error"]["code"]),
        (409, &json!("conflict")),
        "{again}"
    );

    // Once A runs a task, it holds its lease on the shared store.
    let own = create(&on_a, "slow_echo", json!({"text": "from A", "delay_ms": 0})).await;
    events.wait_for_task(&own, "created", "working").await;
    wait_for(
        "A's /readyz says its lease is held",
        Duration::from_secs(10),
        async || {
            let (code, ready) = admin.get("/readyz").await;
            assert_eq!((code, &ready["status"]), (200, &json!("ready")), "{ready}");
            ready["checks"]["lease"] == json!("held")
        },
    )
    .await;
}

//! The admin listener of a real server (issue 15 items 2 and 3): a server built with
//! `Server::builder(…).admin(…)` on loopback, serving Streamable HTTP with two owners' bearer
//! tokens, on a memory store and on an SQLite file; real MCP clients make its tasks, and the
//! admin API is driven over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mcp_tasks_runtime::admin::{AdminOptions, AdminToken};
use mcp_tasks_runtime::client::{handler_fn, Client, ClientBuilder, Protocol, ToolCall};
use mcp_tasks_runtime::server::{BuildError, ReadyServer, Server, Tools};
use mcp_tasks_runtime::transport::http::{BearerTokens, HttpConfig};
use mcp_tasks_wire::v2025_11_25::{
    CallToolResult, ElicitRequestParams, ElicitResult, Implementation, Tool,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Bounds every wait: a hang fails the test instead of stalling it.
const LIMIT: Duration = Duration::from_secs(20);

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-012345678901";

#[derive(Deserialize)]
struct NoArgs {}

fn tool(name: &str, support: &str) -> Tool {
    serde_json::from_value(json!({
        "name": name,
        "inputSchema": {"type": "object"},
        "execution": {"taskSupport": support}
    }))
    .unwrap()
}

fn tools() -> Tools {
    Tools::new()
        .add(tool("quick", "optional"), |_: NoArgs, _cx| async move {
            Ok(CallToolResult::text("quick"))
        })
        .add(
            tool("always_a_task", "required"),
            |_: NoArgs, _cx| async move { Ok(CallToolResult::text("done")) },
        )
        .add(tool("slow", "optional"), |_: NoArgs, _cx| async move {
            std::future::pending::<()>().await;
            Ok(CallToolResult::text("never"))
        })
        .add(tool("ask", "optional"), |_: NoArgs, cx| async move {
            cx.progress(1.0, Some(2.0), Some("asking"));
            let answer = cx
                .elicit(ElicitRequestParams::form(
                    "What is your name?",
                    json!({"type": "object", "properties": {"name": {"type": "string"}}}),
                ))
                .await?;
            let name = answer
                .content
                .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            Ok(CallToolResult::text(format!("Hello, {name}!")))
        })
}

/// Which store the server keeps its tasks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    Memory,
    Sqlite,
    /// A throw-away database of the test PostgreSQL server (testkit): shared, with a lease.
    Postgres,
}

/// A running server: its MCP endpoint, its admin listener, and the way to stop it.
struct Fixture {
    mcp: String,
    admin: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: Option<tempfile::TempDir>,
    _database: Option<testkit::postgres::TempDatabase>,
}

/// What keeps a fixture's store alive: its directory or its database.
type Kept = (
    Option<tempfile::TempDir>,
    Option<testkit::postgres::TempDatabase>,
);

async fn build(store: Store, grace: Duration) -> (ReadyServer, Kept, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let (url, kept) = match store {
        Store::Memory => ("memory".to_owned(), (None, None)),
        Store::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("tasks.sqlite3").display());
            (url, (Some(dir), None))
        }
        Store::Postgres => {
            let database = testkit::postgres::TempDatabase::create().await;
            (database.url().to_owned(), (None, Some(database)))
        }
    };
    let auth = BearerTokens::parse(&format!("alice {ALICE}\nbob {BOB}\n")).unwrap();
    let ready = Server::builder("admin-test", "1.0.0")
        .store_url(&url)
        .tools(tools())
        .http_config(HttpConfig {
            auth: Some(auth.into()),
            ..HttpConfig::default()
        })
        .admin(AdminOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            AdminToken::new(ADMIN_TOKEN).unwrap(),
        ))
        .shutdown_grace(grace)
        .shutdown_signal(async move {
            let _ = stopped.await;
        })
        .build()
        .await
        .unwrap();
    (ready, kept, stop)
}

/// A server whose shutdown waits briefly for running work (the `slow` tool runs until
/// cancelled).
async fn start(store: Store) -> Fixture {
    start_with(store, Duration::from_millis(100)).await
}

async fn start_with(store: Store, grace: Duration) -> Fixture {
    let (ready, (dir, database), stop) = build(store, grace).await;
    let admin = ready.admin().expect("the admin listener is bound").addr();
    assert!(
        ready.admin().unwrap().login_url().is_none(),
        "a given token"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = listener.local_addr().unwrap();
    let serving = tokio::spawn(ready.serve_http_on(listener));
    Fixture {
        mcp: format!("http://{mcp}/mcp"),
        admin: format!("http://{admin}"),
        http: reqwest::Client::new(),
        stop: Some(stop),
        serving,
        _dir: dir,
        _database: database,
    }
}

impl Fixture {
    async fn client(&self, token: &str) -> Client {
        ClientBuilder::new(Implementation::new("admin-test-client", "1.0.0"))
            .protocol(Protocol::V2025_11_25)
            .bearer_token(token)
            .elicitation(handler_fn(|_request: ElicitRequestParams, _cx| async {
                Ok(ElicitResult::accept(
                    json!({"name": "Ada"}).as_object().cloned().unwrap(),
                ))
            }))
            .connect_http(&self.mcp)
            .await
            .unwrap()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.admin))
            .timeout(LIMIT)
    }

    /// An authenticated GET: its status and JSON body.
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .request(Method::GET, path)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// An authenticated POST of `body`: its status and JSON body.
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .request(Method::POST, path)
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn metrics(&self) -> String {
        let response = self
            .request(Method::GET, "/metrics")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        response.text().await.unwrap()
    }

    /// Scrapes until `done` holds for the text; that text.
    async fn metrics_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        tokio::time::timeout(LIMIT, async {
            loop {
                let text = self.metrics().await;
                if done(&text) {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the metrics never showed {what}"))
    }

    /// Stops the server and waits until it has stopped.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(LIMIT, &mut self.serving)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// The task ids of a page of `/api/tasks`.
fn ids(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `quick` as a task of `client` to its end; its id.
async fn quick_task(client: &Client) -> String {
    let handle = client
        .call_tool_as_task("quick", json!({}), Some(60_000))
        .await
        .unwrap();
    let id = handle.id().to_owned();
    let result = tokio::time::timeout(LIMIT, handle.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result["content"][0]["text"], "quick");
    id
}

/// Starts `slow` as a task of `client`; its id.
async fn slow_task(client: &Client) -> String {
    client
        .call_tool_as_task("slow", json!({}), Some(60_000))
        .await
        .unwrap()
        .id()
        .to_owned()
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Store::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Store::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Store::Postgres).await;
                }
            )*
        }
    };
}

on_every_store!(
    only_healthz_and_the_dashboard_are_open,
    a_result_fetched_in_2026_07_28_is_noted,
    a_result_fetched_again_is_noted_once,
    a_task_history_is_read_after_an_event,
    readiness_and_metrics_follow_the_tasks,
    tasks_of_every_owner_are_listed_filtered_and_paged,
    a_task_shows_its_history_with_the_question_asked_and_answered,
    an_operator_cancels_a_live_task_once,
    finished_tasks_are_purged,
    the_event_stream_tells_of_a_new_task,
    bad_parameters_are_named,
);

/// Issue 15 item 3: `/healthz` and the dashboard's files need no token; every other route
/// answers 401 with a Bearer challenge without the admin token, or with a wrong one (an MCP
/// owner's token included).
async fn only_healthz_and_the_dashboard_are_open(store: Store) {
    let f = start(store).await;
    let health = f.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let r = f.request(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let content_type = r.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        // The page holds the token once logged in: no other site may frame it.
        assert_eq!(r.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        let policy = r.headers()["content-security-policy"].to_str().unwrap();
        for directive in ["default-src 'self'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
    }
    let guarded = [
        (Method::GET, "/readyz"),
        (Method::GET, "/metrics"),
        (Method::GET, "/api/overview"),
        (Method::GET, "/api/tasks"),
        (Method::GET, "/api/tasks/some-id"),
        (Method::GET, "/api/events"),
        (Method::POST, "/api/tasks/some-id/cancel"),
        (Method::POST, "/api/purge"),
    ];
    for (method, path) in guarded {
        for token in [None, Some("wrong-token-0123456789"), Some(ALICE)] {
            let mut request = f.request(method.clone(), path);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let r = request.send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(
                challenge.starts_with("Bearer realm=\"mcp-tasks admin\""),
                "{challenge}"
            );
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
    }
    let (status, body) = f.get("/api/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_route", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("/api/nowhere") && message.contains("mcp-tasks admin API"),
        "{message}"
    );
    let r = f
        .request(Method::DELETE, "/api/purge")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    f.stop().await;
}

/// Issue 15 item 2: `/readyz` says the store answers; `/metrics` has the contract's metrics
/// and they move when a task runs; the overview counts it.
async fn readiness_and_metrics_follow_the_tasks(store: Store) {
    let f = start(store).await;
    let shared = store == Store::Postgres;
    let (status, ready) = f.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"], "ok");
    if !shared {
        assert_eq!(ready["checks"]["lease"], "not shared");
    }
    let before = f.metrics().await;
    // A family with no labelled entry yet is left out; these have none or need none.
    for family in [
        "mcp_tasks_store_operation_seconds histogram",
        "mcp_tasks_waiters gauge",
        "mcp_tasks_running gauge",
        "mcp_tasks_sessions gauge",
        "mcp_tasks_open_streams gauge",
        "mcp_tasks_rate_limited counter",
    ] {
        assert!(
            before.contains(&format!("# TYPE {family}\n")),
            "{family} missing:\n{before}"
        );
    }
    assert!(
        before.contains("\nmcp_tasks_rate_limited_total 0\n"),
        "{before}"
    );
    assert!(
        !before.contains("mcp_tasks_tasks_created_total{"),
        "{before}"
    );
    assert!(
        !before.contains("mcp_tasks_upstream_up"),
        "not a gateway:\n{before}"
    );
    assert!(before.contains("\nmcp_tasks_store_up 1\n"), "{before}");
    let alice = f.client(ALICE).await;
    quick_task(&alice).await;
    // The store's counts are cached briefly: the scrape shows the task soon, not at once.
    let after = f
        .metrics_until("the task counted", |m| {
            m.contains("mcp_tasks_tasks{status=\"completed\",tool=\"quick\"} 1")
        })
        .await;
    // OpenMetrics names a counter's family without its `_total` suffix.
    for family in [
        "mcp_tasks_tasks_created counter",
        "mcp_tasks_tasks_finished counter",
        "mcp_tasks_task_duration_seconds histogram",
        "mcp_tasks_tasks gauge",
    ] {
        assert!(
            after.contains(&format!("# TYPE {family}\n")),
            "{family} missing:\n{after}"
        );
    }
    for line in [
        "mcp_tasks_tasks_created_total{tool=\"quick\"} 1",
        "mcp_tasks_tasks_finished_total{tool=\"quick\",status=\"completed\"} 1",
        "mcp_tasks_task_duration_seconds_count{tool=\"quick\",status=\"completed\"} 1",
        "mcp_tasks_tasks{status=\"completed\",tool=\"quick\"} 1",
        // Every status of a tool seen, 0 included, so a series does not vanish (review
        // item 6).
        "mcp_tasks_tasks{status=\"working\",tool=\"quick\"} 0",
        "mcp_tasks_tasks{status=\"input_required\",tool=\"quick\"} 0",
        "mcp_tasks_tasks{status=\"failed\",tool=\"quick\"} 0",
        "mcp_tasks_tasks{status=\"cancelled\",tool=\"quick\"} 0",
        "mcp_tasks_store_up 1",
        "mcp_tasks_sessions{era=\"2025-11-25\"} 1",
    ] {
        assert!(after.contains(line), "{line} missing:\n{after}");
    }
    let (status, overview) = f.get("/api/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["server"]["name"], "admin-test");
    assert_eq!(overview["server"]["role"], "serve");
    assert_eq!(overview["server"]["shared"], shared);
    assert_eq!(overview["ready"]["status"], "ready");
    if shared {
        // A task was run, so this instance took its lease on the shared store.
        assert_eq!(overview["ready"]["checks"]["lease"], "held", "{overview}");
    }
    assert_eq!(overview["counts"]["byStatus"]["completed"], 1);
    assert_eq!(overview["counts"]["byOwner"][0]["owner"], "alice");
    assert_eq!(overview["counts"]["byOwner"][0]["total"], 1);
    assert_eq!(overview["limits"]["maxSessions"], 10_000);
    assert_eq!(overview["sessions"], 1);
    assert_eq!(overview["upstream"], Value::Null);
    alice.close().await;
    f.stop().await;
}

/// Issue 15 item 3: every owner's tasks, newest first, by status, owner, tool and age, in
/// pages that walk them all once.
async fn tasks_of_every_owner_are_listed_filtered_and_paged(store: Store) {
    let f = start(store).await;
    let (alice, bob) = (f.client(ALICE).await, f.client(BOB).await);
    let first = quick_task(&alice).await;
    let second = quick_task(&alice).await;
    let third = slow_task(&bob).await;
    let (status, all) = f.get("/api/tasks").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), [third.clone(), second.clone(), first.clone()]);
    assert_eq!(all["nextCursor"], Value::Null);
    let bobs = &all["tasks"][0];
    assert_eq!(bobs["owner"], "bob");
    assert_eq!(bobs["tool"], "slow");
    assert_eq!(bobs["kind"], "tools/call");
    assert_eq!(bobs["status"], "working");
    assert_eq!(bobs["ttlMs"], 60_000);
    assert_eq!(bobs["pendingInputs"], 0);
    for (query, expected) in [
        ("owner=alice", vec![second.clone(), first.clone()]),
        ("owner=bob&status=working", vec![third.clone()]),
        (
            "status=completed,failed",
            vec![second.clone(), first.clone()],
        ),
        ("status=cancelled", vec![]),
        ("tool=slow", vec![third.clone()]),
        ("owner=-", vec![]),
        (
            "newerThan=1h",
            vec![third.clone(), second.clone(), first.clone()],
        ),
        ("olderThan=1h", vec![]),
    ] {
        let (status, page) = f.get(&format!("/api/tasks?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    let mut seen = Vec::new();
    let mut path = "/api/tasks?limit=1".to_owned();
    loop {
        let (status, page) = f.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/tasks?limit=1&cursor={}", urlencode(cursor));
            }
            None => break,
        }
        assert!(seen.len() <= 3, "paging does not end: {seen:?}");
    }
    assert_eq!(seen, [third, second, first]);
    alice.close().await;
    bob.close().await;
    f.stop().await;
}

/// Percent-encodes what a query value may not hold as is.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Issue 15 items 1 and 3: one task with its params, result, mailbox and history: created,
/// the question asked and answered, completed, the result retrieved.
async fn a_task_shows_its_history_with_the_question_asked_and_answered(store: Store) {
    let f = start(store).await;
    let alice = f.client(ALICE).await;
    let handle = alice
        .call_tool_as_task("ask", json!({}), Some(60_000))
        .await
        .unwrap();
    let id = handle.id().to_owned();
    let result = tokio::time::timeout(LIMIT, handle.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result["content"][0]["text"], "Hello, Ada!");
    // Progress is noted in the background, the handler does not wait for it.
    let shown = tokio::time::timeout(LIMIT, async {
        loop {
            let (status, shown) = f.get(&format!("/api/tasks/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{shown}");
            let history = shown["history"].as_array().unwrap();
            if history.iter().any(|e| e["type"] == "progress") {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the progress is noted in the history");
    let task = &shown["task"];
    assert_eq!(task["taskId"], id.as_str());
    assert_eq!(task["status"], "completed");
    assert_eq!(task["params"]["name"], "ask");
    assert_eq!(task["result"]["content"][0]["text"], "Hello, Ada!");
    assert_eq!(task["inputs"][0]["method"], "elicitation/create");
    assert_eq!(
        task["inputs"][0]["response"]["result"]["content"]["name"], "Ada",
        "{shown}"
    );
    let history = shown["history"].as_array().unwrap();
    let kinds: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    let milestones: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| {
            matches!(
                *k,
                "created" | "inputRequested" | "inputAnswered" | "completed"
            )
        })
        .collect();
    assert_eq!(
        milestones,
        ["created", "inputRequested", "inputAnswered", "completed"],
        "{shown}"
    );
    let retrieved = history
        .iter()
        .find(|e| e["type"] == "resultRetrieved")
        .expect("the result's retrieval is noted");
    assert_eq!(retrieved["by"], "owner:alice");
    let progress = history.iter().find(|e| e["type"] == "progress").unwrap();
    assert_eq!(
        (
            &progress["progress"],
            &progress["total"],
            &progress["message"]
        ),
        (&json!(1.0), &json!(2.0), &json!("asking"))
    );
    let asked = history
        .iter()
        .find(|e| e["type"] == "inputRequested")
        .unwrap();
    assert_eq!(asked["status"], "input_required");
    assert_eq!(asked["params"]["message"], "What is your name?");
    let seqs: Vec<u64> = history.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let (status, missing) = f.get("/api/tasks/no-such-task").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "not_found");
    alice.close().await;
    f.stop().await;
}

/// Issue 15 item 1: in MCP 2026-07-28 the result comes with `tasks/get` of the finished
/// task; its retrieval is noted in the history as in 2025-11-25.
async fn a_result_fetched_in_2026_07_28_is_noted(store: Store) {
    let f = start(store).await;
    let alice = ClientBuilder::new(Implementation::new("admin-test-client", "1.0.0"))
        .protocol(Protocol::V2026_07_28)
        .bearer_token(ALICE)
        .connect_http(&f.mcp)
        .await
        .unwrap();
    let ToolCall::Task(handle) = alice
        .start_tool_call("always_a_task", json!({}), None)
        .await
        .unwrap()
    else {
        panic!("a tool whose task support is required runs as a task");
    };
    let id = handle.id().to_owned();
    let result = tokio::time::timeout(LIMIT, handle.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result["content"][0]["text"], "done");
    let (status, shown) = f.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let retrieved = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "resultRetrieved")
        .unwrap_or_else(|| panic!("no resultRetrieved in {shown}"));
    assert_eq!(retrieved["by"], "owner:alice");
    // A client that keeps polling the finished task adds nothing more to its history.
    for _ in 0..5 {
        alice
            .request("tasks/get", json!({"taskId": id}))
            .await
            .unwrap();
    }
    assert_eq!(retrievals(&f, &id).await, ["owner:alice"]);
    alice.close().await;
    f.stop().await;
}

/// Who retrieved the result of task `id`, by its history.
async fn retrievals(f: &Fixture, id: &str) -> Vec<String> {
    let (status, shown) = f.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "resultRetrieved")
        .map(|e| e["by"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Review of issue 15, item 3: `tasks/result` asked again and again notes the retrieval
/// once; a cancelled task hands no result over, so nothing is noted for it.
async fn a_result_fetched_again_is_noted_once(store: Store) {
    let f = start(store).await;
    let alice = f.client(ALICE).await;
    let id = quick_task(&alice).await;
    for _ in 0..3 {
        alice
            .request("tasks/result", json!({"taskId": id}))
            .await
            .unwrap();
    }
    assert_eq!(retrievals(&f, &id).await, ["owner:alice"]);
    let live = slow_task(&alice).await;
    alice
        .request("tasks/cancel", json!({"taskId": live}))
        .await
        .unwrap();
    let _refused = alice.request("tasks/result", json!({"taskId": live})).await;
    assert!(retrievals(&f, &live).await.is_empty());
    alice.close().await;
    f.stop().await;
}

/// Review of issue 15, item 3: `?after=SEQ` starts the page of history after that event;
/// `historyMore` says whether more follow; a bad `after` is 400 naming it.
async fn a_task_history_is_read_after_an_event(store: Store) {
    let f = start(store).await;
    let alice = f.client(ALICE).await;
    let id = quick_task(&alice).await;
    let (status, all) = f.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["historyMore"], false);
    let seqs = |shown: &Value| -> Vec<u64> {
        shown["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    let every = seqs(&all);
    assert!(every.len() >= 3, "created, completed, retrieved: {all}");
    let (status, rest) = f.get(&format!("/api/tasks/{id}?after={}", every[0])).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(seqs(&rest), every[1..]);
    assert_eq!(rest["task"]["taskId"], id.as_str());
    let last = every.last().unwrap();
    let (_, none) = f.get(&format!("/api/tasks/{id}?after={last}")).await;
    assert_eq!(none["history"], json!([]));
    assert_eq!(none["historyMore"], false);
    for query in ["after=soon", "after=-1", "after=1&after=2", "before=3"] {
        let (status, body) = f.get(&format!("/api/tasks/{id}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        let parameter = if query.starts_with("before") {
            "before"
        } else {
            "after"
        };
        assert!(
            message.starts_with(&format!("parameter {parameter}: ")),
            "{query}: {message}"
        );
    }
    alice.close().await;
    f.stop().await;
}

/// Issue 15 item 3: a cancel stops a live task of any owner (200, recorded as by `admin`);
/// a second one is 409 naming the status; an unknown task is 404.
async fn an_operator_cancels_a_live_task_once(store: Store) {
    let f = start(store).await;
    let bob = f.client(BOB).await;
    let id = slow_task(&bob).await;
    let (status, cancelled) = f
        .post(
            &format!("/api/tasks/{id}/cancel"),
            json!({"message": "stuck for hours"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["task"]["status"], "cancelled");
    assert_eq!(cancelled["task"]["statusMessage"], "stuck for hours");
    assert_eq!(cancelled["task"]["owner"], "bob");
    let (status, again) = f.post(&format!("/api/tasks/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "conflict");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{again}"
    );
    let (_, shown) = f.get(&format!("/api/tasks/{id}")).await;
    let by_admin = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "cancelled")
        .expect("the cancel is in the history");
    assert_eq!(by_admin["by"], "admin");
    let (status, _) = f.post("/api/tasks/no-such-task/cancel", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, bad) = f
        .post(&format!("/api/tasks/{id}/cancel"), json!({"reason": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("reason"),
        "{bad}"
    );
    bob.close().await;
    f.stop().await;
}

/// Issue 15 item 3: a purge deletes the finished tasks older than its cutoff, with their
/// history, and leaves live ones; a purge without exactly one cutoff is 400 naming it.
async fn finished_tasks_are_purged(store: Store) {
    let f = start(store).await;
    let (alice, bob) = (f.client(ALICE).await, f.client(BOB).await);
    let done = quick_task(&alice).await;
    quick_task(&alice).await;
    let live = slow_task(&bob).await;
    let (status, none) = f.post("/api/purge", json!({"olderThan": "1h"})).await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none, json!({"purged": 0}));
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60)).to_string();
    let (status, purged) = f
        .post("/api/purge", json!({"finishedBefore": future}))
        .await;
    assert_eq!(status, StatusCode::OK, "{purged}");
    assert_eq!(purged, json!({"purged": 2}));
    let (_, left) = f.get("/api/tasks").await;
    assert_eq!(ids(&left), [live]);
    let (status, _) = f.get(&format!("/api/tasks/{done}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (body, parameter) in [
        (json!({}), "finishedBefore"),
        (json!({"finishedBefore": "yesterday"}), "finishedBefore"),
        (json!({"olderThan": "a while"}), "olderThan"),
        (
            json!({"olderThan": "7d", "finishedBefore": future}),
            "olderThan",
        ),
    ] {
        let (status, refused) = f.post("/api/purge", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused["error"]["code"], "bad_request");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("parameter {parameter}")),
            "{message}"
        );
    }
    alice.close().await;
    bob.close().await;
    f.stop().await;
}

/// Issue 15 item 4: the event stream sends `event: task` with `change: created` when a task
/// is created, and keeps the connection open.
async fn the_event_stream_tells_of_a_new_task(store: Store) {
    let f = start(store).await;
    let response = f
        .http
        .get(format!("{}/api/events", f.admin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let mut text = String::new();
    // The first comment says the stream is subscribed: what happens from here on is seen.
    tokio::time::timeout(LIMIT, async {
        while !text.contains(": subscribed") {
            text.push_str(&String::from_utf8_lossy(
                &body.next().await.unwrap().unwrap(),
            ));
        }
    })
    .await
    .expect("the stream opens with a comment");
    let alice = f.client(ALICE).await;
    let id = slow_task(&alice).await;
    let created = json!({"taskId": id, "change": "created", "status": "working"}).to_string();
    tokio::time::timeout(LIMIT, async {
        loop {
            if text.contains(&format!("event: task\ndata: {created}\n")) {
                return;
            }
            text.push_str(&String::from_utf8_lossy(
                &body.next().await.unwrap().unwrap(),
            ));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no created event for {id} in:\n{text}"));
    drop(body);
    alice.close().await;
    f.stop().await;
}

/// Issue 15 item 3: a query parameter that cannot be used is 400 naming it.
async fn bad_parameters_are_named(store: Store) {
    let f = start(store).await;
    for (query, parameter) in [
        ("status=running", "status"),
        ("owner=", "owner"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("olderThan=soon", "olderThan"),
        ("newerThan=1y", "newerThan"),
        ("cursor=forged", "cursor"),
        ("sort=asc", "sort"),
    ] {
        let (status, body) = f.get(&format!("/api/tasks?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("parameter {parameter}: ")),
            "{query}: {message}"
        );
    }
    f.stop().await;
}

/// Issue 15 item 2: once shutdown began, `/readyz` answers 503 while the server finishes its
/// running work, and the admin listener stops with the server.
#[tokio::test]
async fn readyz_is_unready_once_shutdown_began() {
    let mut f = start_with(Store::Memory, LIMIT).await;
    let bob = f.client(BOB).await;
    let id = slow_task(&bob).await;
    // The slow task runs until cancelled, so the grace period holds the server (and its
    // admin listener) up after the signal.
    f.stop.take().unwrap().send(()).unwrap();
    let unready = tokio::time::timeout(LIMIT, async {
        loop {
            let (status, body) = f.get("/readyz").await;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return body;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("readyz turns 503 after the signal");
    assert_eq!(unready["status"], "unready");
    assert_eq!(unready["checks"]["shutdown"], "in progress");
    let (status, _) = f.post(&format!("/api/tasks/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::timeout(LIMIT, &mut f.serving)
        .await
        .expect("the server stops once its work is cancelled")
        .unwrap()
        .unwrap();
    let gone = f.request(Method::GET, "/healthz").send().await;
    assert!(gone.is_err(), "the admin listener stopped with the server");
    drop(bob);
}

/// Issue 15 item 2: an admin address that cannot be bound fails the build, naming it.
#[tokio::test]
async fn a_busy_admin_address_fails_the_build() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let err = Server::builder("t", "1")
        .admin(AdminOptions::new(addr, AdminToken::generate()))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::Admin { addr: a, .. } if *a == addr),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("cannot listen for the admin API on {addr}")),
        "{message}"
    );
}

/// Issue 15 item 2: a generated token comes with a login URL carrying it in the fragment,
/// and that token opens the API.
#[tokio::test]
async fn a_generated_token_comes_with_a_login_url() {
    let token = AdminToken::generate();
    let (stop, stopped) = oneshot::channel::<()>();
    let ready = Server::builder("t", "1")
        .admin(AdminOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            token.clone(),
        ))
        .shutdown_signal(async move {
            let _ = stopped.await;
        })
        .build()
        .await
        .unwrap();
    let admin = ready.admin().unwrap().clone();
    let shown = format!("{ready:?}");
    assert!(
        !shown.contains(token.as_str()),
        "a built server's Debug hides the token: {shown}"
    );
    assert_eq!(admin.url(), format!("http://{}/", admin.addr()));
    assert_eq!(
        admin.login_url(),
        Some(format!("http://{}/#token={}", admin.addr(), token.as_str()).as_str())
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let serving = tokio::spawn(ready.serve_http_on(listener));
    let ready = reqwest::Client::new()
        .get(format!("http://{}/readyz", admin.addr()))
        .bearer_auth(token.as_str())
        .timeout(LIMIT)
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    stop.send(()).unwrap();
    tokio::time::timeout(LIMIT, serving)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// An upstream MCP server for a gateway: a server of `tools()` on `listener`, until `stop`.
fn upstream(
    listener: tokio::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    use mcp_tasks_runtime::engine::{Engine, EngineConfig, MemoryStore};
    use mcp_tasks_runtime::transport::http;
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let server = Server::new(engine, tools(), Implementation::new("upstream", "1.0.0"));
    // Its GET streams end at the stop, so it stops at once, like an upstream that went away.
    let (router, drained) = http::router_until(server, HttpConfig::default(), stop);
    tokio::spawn(http::serve(listener, router, drained))
}

/// Asks the admin overview of `admin` until `done` holds for its `upstream`; that upstream.
async fn upstream_until(f: &Fixture, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(LIMIT, async {
        loop {
            let (status, overview) = f.get("/api/overview").await;
            assert_eq!(status, StatusCode::OK, "{overview}");
            if done(&overview["upstream"]) {
                return overview["upstream"].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the upstream never became {what}"))
}

/// Issue 15 item 2: a gateway's admin listener reports its upstream in the overview and the
/// metrics: up, then, after the upstream went and came back, up again with one restart and
/// why it went down.
#[tokio::test]
async fn a_gateway_reports_its_upstream() {
    use mcp_tasks_runtime::gateway::{Backoff, Gateway, GatewayConfig, UpstreamSpec};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    let first = tokio_util::sync::CancellationToken::new();
    let first_serving = upstream(listener, first.clone());
    let config = GatewayConfig::new(UpstreamSpec::url(format!("http://{upstream_addr}/mcp")))
        .protocol(Protocol::V2025_11_25)
        .backoff(Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
            call_wait: Duration::from_secs(5),
        });
    let gateway = tokio::time::timeout(LIMIT, Gateway::connect(config))
        .await
        .unwrap()
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let ready = gateway
        .configure(Server::builder("gateway", "1.0.0"))
        .admin(AdminOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            AdminToken::new(ADMIN_TOKEN).unwrap(),
        ))
        .shutdown_grace(Duration::from_millis(100))
        .shutdown_signal(async move {
            let _ = stopped.await;
        })
        .build()
        .await
        .unwrap();
    let running = gateway.start(ready.server());
    let admin = ready.admin().unwrap().addr();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = listener.local_addr().unwrap();
    let f = Fixture {
        mcp: format!("http://{mcp}/mcp"),
        admin: format!("http://{admin}"),
        http: reqwest::Client::new(),
        stop: Some(stop),
        serving: tokio::spawn(ready.serve_http_on(listener)),
        _dir: None,
        _database: None,
    };
    let (_, overview) = f.get("/api/overview").await;
    assert_eq!(overview["server"]["role"], "gateway");
    assert_eq!(
        overview["upstream"],
        json!({"state": "up", "restarts": 0, "lastError": null})
    );
    let metrics = f.metrics().await;
    assert!(metrics.contains("\nmcp_tasks_upstream_up 1\n"), "{metrics}");
    assert!(
        metrics.contains("\nmcp_tasks_upstream_restarts_total 0\n"),
        "{metrics}"
    );

    // A new upstream process on the same address: the gateway's session there is unknown
    // (404), so it finds its connection gone and connects again.
    first.cancel();
    tokio::time::timeout(LIMIT, first_serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(upstream_addr).await.unwrap();
    let second = tokio_util::sync::CancellationToken::new();
    let _second_serving = upstream(listener, second.clone());
    let up = upstream_until(&f, "up again", |u| u["state"] == "up" && u["restarts"] == 1).await;
    assert!(up["lastError"].is_string(), "the last error is kept: {up}");
    let metrics = f.metrics().await;
    assert!(
        metrics.contains("\nmcp_tasks_upstream_restarts_total 1\n"),
        "{metrics}"
    );
    running.stop().await;
    f.stop().await;
    second.cancel();
}

use failing::Failing;

mod failing {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use jiff::Timestamp;
    use mcp_tasks_runtime::engine::{
        AdminQuery, ChangeFeed, Error, EventKind, ListQuery, MemoryStore, NewTask, Owner, Result,
        TaskCount, TaskEvent, TaskId, TaskRecord, TaskStore, Transition, UnfinishedQuery,
    };

    /// A memory store whose `counts` fails while `failing` is set, like a store in an outage.
    #[derive(Debug, Default)]
    pub(crate) struct Failing {
        inner: MemoryStore,
        pub(crate) failing: AtomicBool,
    }

    #[async_trait]
    impl TaskStore for Failing {
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
            if self.failing.load(Ordering::SeqCst) {
                return Err(Error::store("connection refused"));
            }
            self.inner.counts().await
        }
        async fn check(&self) -> Result<()> {
            self.inner.check().await
        }
    }
}

/// Review of issue 15, item 4: a store that cannot count its tasks fails neither the scrape
/// nor the overview: the metrics say `mcp_tasks_store_up 0` and leave the task gauges out,
/// the overview says why in `countsError`; both come back when the store does.
#[tokio::test]
async fn a_failing_store_fails_neither_metrics_nor_overview() {
    let store = Arc::new(Failing::default());
    store
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (stop, stopped) = oneshot::channel::<()>();
    let ready = Server::builder("t", "1")
        .task_store(store.clone())
        .tools(tools())
        .admin(AdminOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            AdminToken::new(ADMIN_TOKEN).unwrap(),
        ))
        .shutdown_signal(async move {
            let _ = stopped.await;
        })
        .build()
        .await
        .unwrap();
    let admin = ready.admin().unwrap().addr();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = listener.local_addr().unwrap();
    let f = Fixture {
        mcp: format!("http://{mcp}/mcp"),
        admin: format!("http://{admin}"),
        http: reqwest::Client::new(),
        stop: Some(stop),
        serving: tokio::spawn(ready.serve_http_on(listener)),
        _dir: None,
        _database: None,
    };
    let down = f.metrics().await;
    for line in [
        "\nmcp_tasks_store_up 0\n",
        "\nmcp_tasks_running 0\n",
        "mcp_tasks_sessions{era=\"2025-11-25\"} 0",
        "# TYPE mcp_tasks_store_operation_seconds histogram",
    ] {
        assert!(down.contains(line), "{line:?} missing:\n{down}");
    }
    assert!(!down.contains("# TYPE mcp_tasks_tasks gauge"), "{down}");
    assert!(!down.contains("mcp_tasks_tasks{"), "{down}");
    let (status, overview) = f.get("/api/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let why = overview["countsError"].as_str().unwrap_or_default();
    assert!(why.contains("connection refused"), "{overview}");
    assert_eq!(overview["counts"]["byStatus"]["working"], 0);

    store
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    f.metrics_until("the store up again", |m| {
        m.contains("\nmcp_tasks_store_up 1\n")
    })
    .await;
    let (_, overview) = f.get("/api/overview").await;
    assert_eq!(overview["countsError"], Value::Null, "{overview}");
    f.stop().await;
}

/// Review of issue 15, item 7: a library user who drops the serve future (here: aborts the
/// task running it) stops the admin listener with it.
#[tokio::test]
async fn dropping_the_serve_future_stops_the_admin_listener() {
    let (ready, _kept, _stop) = build(Store::Memory, Duration::from_millis(100)).await;
    let admin = ready.admin().unwrap().addr();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let serving = tokio::spawn(ready.serve_http_on(listener));
    let http = reqwest::Client::new();
    let healthz = format!("http://{admin}/healthz");
    let up = http.get(&healthz).timeout(LIMIT).send().await.unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    serving.abort();
    assert!(serving.await.unwrap_err().is_cancelled());
    tokio::time::timeout(LIMIT, async {
        // A fresh client each time: no pooled connection outlives the listener's check.
        while reqwest::Client::new()
            .get(&healthz)
            .timeout(LIMIT)
            .send()
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the admin listener stops once the serve future is gone");
}

/// Review of issue 15, item 9: a body over 64 KiB is 413 and a task id that cannot be read
/// is 400, both with the API's JSON error body rather than axum's plain text.
#[tokio::test]
async fn oversized_bodies_and_unreadable_ids_get_json_errors() {
    let f = start(Store::Memory).await;
    let big = json!({"message": "x".repeat(100 * 1024)});
    for path in ["/api/purge", "/api/tasks/some-id/cancel"] {
        let r = f
            .request(Method::POST, path)
            .bearer_auth(ADMIN_TOKEN)
            .json(&big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_large", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("too large"), "{message}");
        assert!(message.contains("64 KiB"), "{message}");
    }
    for (method, path) in [
        (Method::GET, "/api/tasks/%FF"),
        (Method::POST, "/api/tasks/%FF/cancel"),
    ] {
        let r = f
            .request(method.clone(), path)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("task id in the path"),
            "{body}"
        );
    }
    f.stop().await;
}

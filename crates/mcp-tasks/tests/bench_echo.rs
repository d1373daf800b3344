//! The ceiling server of `bench/compare.sh` (`examples/bench_echo.rs`) answers what a benchmark
//! client sends with results the official schemas accept, in both protocol eras: a ceiling that
//! answered malformed JSON would be measuring less work than the servers it is compared with,
//! and a client that checks answers would count its replies as errors.
//!
//! Each test starts the example on a loopback port (killed on drop), bounded in time.

use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::schema::{self, Spec};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How long the server may take to say it listens, and one request to be answered.
const LIMIT: Duration = Duration::from_secs(20);
const V2025: &str = "2025-11-25";
const V2026: &str = "2026-07-28";

/// The `bench_echo` example, built on first use (a no-op when `cargo test` already built the
/// examples), so this file runs alone too.
fn fixture() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = StdCommand::new(cargo);
        build.args(["build", "-p", "mcp-tasks", "--example", "bench_echo"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building bench_echo failed: {status}");
        examples_dir().join("bench_echo").display().to_string()
    })
}

/// `target/<profile>/examples/`, where cargo puts the example binaries beside this test's.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary sits in target/<profile>/deps")
        .join("examples")
}

/// The example serving on a loopback port; killed on drop.
struct EchoServer {
    _child: Child,
    url: String,
    http: reqwest::Client,
}

impl EchoServer {
    async fn spawn() -> Self {
        let mut child = Command::new(fixture())
            .args(["--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", fixture()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        tokio::time::timeout(LIMIT, BufReader::new(stdout).read_line(&mut line))
            .await
            .expect("bench_echo says where it listens in time")
            .expect("bench_echo's stdout reads");
        let url = line
            .strip_prefix("listening on ")
            .map(str::trim_end)
            .filter(|url| url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"))
            .unwrap_or_else(|| panic!("not a `listening on http://…/mcp` line: {line:?}"))
            .to_owned();
        Self {
            _child: child,
            url,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body` with the headers a client of `version` sends; the status, the session id
    /// header if any, and the body (`Value::Null` when empty).
    async fn post(
        &self,
        version: Option<&str>,
        body: &Value,
    ) -> (reqwest::StatusCode, Option<String>, Value) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        let response = tokio::time::timeout(LIMIT, request.send())
            .await
            .expect("answered in time")
            .expect("the request is answered");
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().expect("an ASCII session id").to_owned());
        if status != reqwest::StatusCode::ACCEPTED {
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            assert_eq!(kind.as_deref(), Some("application/json"), "{body}");
        }
        let text = response.text().await.expect("the body reads");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, session, value)
    }

    /// POSTs a request of `method` and returns its answer, after checking the status is 200,
    /// the id came back, and the answer is valid against `spec` as a response to `method`.
    async fn call(&self, spec: Spec, id: Value, method: &str, params: Value) -> Value {
        let version = if spec == Spec::Mcp20251125 {
            V2025
        } else {
            V2026
        };
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, _, answer) = self.post(Some(version), &body).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{method}: {answer}");
        assert_eq!(answer["id"], id, "{method}: the id is copied: {answer}");
        if let Err(e) = schema::validate_response_to(spec, method, &answer) {
            panic!("{method}: {e}\n{answer}");
        }
        answer["result"].clone()
    }
}

/// The `_meta` every 2026-07-28 request carries, declaring the tasks extension.
fn meta_2026() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": V2026,
        "io.modelcontextprotocol/clientCapabilities": {
            "extensions": {"io.modelcontextprotocol/tasks": {}}
        },
    })
}

#[track_caller]
fn assert_valid(spec: Spec, def: &str, value: &Value) {
    if let Err(e) = schema::validate(spec, def, value) {
        panic!("{e}\n{value}");
    }
}

/// A 2025-11-25 session as `mcp-tasks bench` drives one: initialize, the initialized
/// notification, tools, a plain call, a task-augmented call, then the task read back.
#[tokio::test]
async fn answers_a_2025_11_25_client_with_schema_valid_results() {
    let server = EchoServer::spawn().await;
    let spec = Spec::Mcp20251125;

    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": V2025, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, session, answer) = server.post(None, &init).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    schema::validate_response_to(spec, "initialize", &answer).unwrap();
    assert_eq!(answer["result"]["protocolVersion"], V2025, "{answer}");
    assert!(
        answer["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(),
        "task-augmented tools/call is advertised: {answer}"
    );
    assert!(
        session.is_some_and(|s| !s.is_empty()),
        "initialize sets Mcp-Session-Id"
    );

    let older = server
        .call(
            spec,
            json!(1),
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await;
    assert_eq!(older["protocolVersion"], "2025-06-18", "{older}");

    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, body) = server.post(Some(V2025), &note).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED);
    assert_eq!(body, Value::Null, "a 202 has no body");

    let tools = server.call(spec, json!(2), "tools/list", json!({})).await;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("a tools array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["echo", "slow_echo"]);

    let plain = server
        .call(
            spec,
            json!("plain"),
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "bench"}}),
        )
        .await;
    assert_eq!(plain["content"][0]["text"], "bench", "{plain}");
    assert!(plain.get("task").is_none(), "a plain call: {plain}");

    let created = server
        .call(
            spec,
            json!(3),
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"text": "bench", "delay_ms": 0},
                   "task": {"ttl": 60000}}),
        )
        .await;
    assert_eq!(created["task"]["status"], "working", "{created}");
    let task_id = created["task"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_owned();

    let got = server
        .call(spec, json!(4), "tasks/get", json!({"taskId": task_id}))
        .await;
    assert_eq!(got["taskId"], task_id.as_str(), "{got}");
    assert_eq!(got["status"], "completed", "{got}");

    let result = server
        .call(spec, json!(5), "tasks/result", json!({"taskId": task_id}))
        .await;
    assert_valid(spec, "CallToolResult", &result);
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task_id.as_str(),
        "{result}"
    );

    let cancelled = server
        .call(spec, json!(6), "tasks/cancel", json!({"taskId": task_id}))
        .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");

    server.call(spec, json!(7), "ping", json!({})).await;
}

/// A 2026-07-28 client declaring the tasks extension: discovery, tools, a call answered plainly,
/// a task read with its result inlined, and a cancel acknowledged.
#[tokio::test]
async fn answers_a_2026_07_28_client_with_schema_valid_results() {
    let server = EchoServer::spawn().await;
    let base = Spec::Mcp20260728;

    let discovered = server
        .call(
            base,
            json!(1),
            "server/discover",
            json!({"_meta": meta_2026()}),
        )
        .await;
    assert!(
        discovered["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.contains(&json!(V2026))),
        "{discovered}"
    );
    assert!(
        discovered["capabilities"]["extensions"]["io.modelcontextprotocol/tasks"].is_object(),
        "{discovered}"
    );

    server
        .call(base, json!(2), "tools/list", json!({"_meta": meta_2026()}))
        .await;

    let called = server
        .call(
            base,
            json!(3),
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"text": "bench", "delay_ms": 0},
                   "_meta": meta_2026()}),
        )
        .await;
    assert_eq!(called["resultType"], "complete", "{called}");
    assert_eq!(called["content"][0]["text"], "bench", "{called}");

    let got = server
        .call(
            Spec::ExtTasks,
            json!(4),
            "tasks/get",
            json!({"taskId": "t-1", "_meta": meta_2026()}),
        )
        .await;
    assert_eq!(got["taskId"], "t-1", "{got}");
    assert_eq!(got["status"], "completed", "{got}");
    assert_valid(Spec::ExtTasks, "CompletedTask", &got);
    assert_valid(base, "CallToolResult", &got["result"]);

    let ack = server
        .call(
            Spec::ExtTasks,
            json!(5),
            "tasks/cancel",
            json!({"taskId": "t-1", "_meta": meta_2026()}),
        )
        .await;
    assert_eq!(ack, json!({"resultType": "complete"}));

    // tasks/result is not a method of this era.
    let body = json!({"jsonrpc": "2.0", "id": 6, "method": "tasks/result",
                      "params": {"taskId": "t-1", "_meta": meta_2026()}});
    let (status, _, answer) = server.post(Some(V2026), &body).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    schema::validate_message(base, &answer).unwrap();

    // A client that leaves the header out is still known by its _meta.
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "x"}, "_meta": meta_2026()}});
    let (_, _, answer) = server.post(None, &body).await;
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
}

/// A GET opens an SSE stream that stays open while requests go on being answered; what no
/// method matches, or is not JSON, is a JSON-RPC error.
#[tokio::test]
async fn get_opens_a_stream_and_errors_are_json_rpc() {
    let server = EchoServer::spawn().await;
    let mut stream = tokio::time::timeout(
        LIMIT,
        server
            .http
            .get(&server.url)
            .header("accept", "text/event-stream")
            .send(),
    )
    .await
    .expect("the GET is answered in time")
    .expect("the GET is answered");
    assert_eq!(stream.status(), reqwest::StatusCode::OK);
    assert_eq!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let first = tokio::time::timeout(LIMIT, stream.chunk())
        .await
        .expect("the stream's first bytes come in time")
        .expect("the stream reads")
        .expect("the stream has not ended");
    assert!(first.starts_with(b":"), "an SSE comment: {first:?}");

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "no/such/method"});
    let (status, _, answer) = server.post(Some(V2025), &body).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    schema::validate_message(Spec::Mcp20251125, &answer).unwrap();

    let response = server
        .http
        .post(&server.url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.expect("a JSON error");
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert_eq!(answer["id"], Value::Null, "{answer}");

    // The stream is still open: it has nothing more to send, and has not ended (an ended stream
    // answers `None` at once; an open one lets the short wait run out).
    let more = tokio::time::timeout(Duration::from_millis(100), stream.chunk()).await;
    assert!(more.is_err(), "the stream sent or ended: {more:?}");
}

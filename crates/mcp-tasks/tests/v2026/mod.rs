//! Helpers for the MCP 2026-07-28 tests of `v2026_http.rs` and `v2026_stdio.rs`: the
//! per-request `_meta`, a stateless HTTP client that sends the era's headers, a line client for
//! stdio that is not tied to one era, and the schema checks of everything the server sends.
//!
//! Every message read is checked against the official 2026-07-28 schema and, for the tasks
//! extension's shapes, the extension's schema ([`check`]); a 2025-11-25 answer against that
//! era's schema ([`check_2025`]).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::schema::{self, Spec};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

/// The era's protocol version.
pub(crate) const PV: &str = "2026-07-28";
/// The tasks extension's identifier.
pub(crate) const TASKS: &str = "io.modelcontextprotocol/tasks";
/// The `_meta` key tying a notification to its `subscriptions/listen`.
pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Guards every wait on the server against a hang; nothing timed is asserted.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// The binary under test.
pub(crate) fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// Client capabilities declaring the tasks extension, exactly `{}`.
pub(crate) fn with_tasks() -> Value {
    json!({"extensions": {TASKS: {}}})
}

/// Client capabilities declaring the tasks extension and form elicitation.
pub(crate) fn with_tasks_and_elicitation() -> Value {
    json!({"elicitation": {}, "extensions": {TASKS: {}}})
}

/// `params` with the era's `_meta` (version, capabilities `caps`, client info) merged in.
pub(crate) fn with_meta(params: Value, caps: &Value) -> Value {
    let mut params = if params.is_null() { json!({}) } else { params };
    let meta = params
        .as_object_mut()
        .expect("params are an object")
        .entry("_meta")
        .or_insert_with(|| json!({}));
    let meta = meta.as_object_mut().expect("_meta is an object");
    meta.insert("io.modelcontextprotocol/protocolVersion".into(), json!(PV));
    meta.insert(
        "io.modelcontextprotocol/clientCapabilities".into(),
        caps.clone(),
    );
    meta.insert(
        "io.modelcontextprotocol/clientInfo".into(),
        json!({"name": "v2026-tests", "version": "0"}),
    );
    params
}

/// Checks a message the server sent while answering a `method` request of the stateless era
/// against the official schemas: the 2026-07-28 envelope, then the result, error or
/// notification's own definition (the extension's for its shapes).
pub(crate) fn check(method: &str, message: &Value) {
    schema::assert_valid_message(Spec::Mcp20260728, message);
    if let Some(error) = message.get("error") {
        let def = match error["code"].as_i64() {
            Some(-32020) => "HeaderMismatchError",
            Some(-32021) => "MissingRequiredClientCapabilityError",
            Some(-32022) => "UnsupportedProtocolVersionError",
            _ => "JSONRPCErrorResponse",
        };
        schema::assert_valid(Spec::Mcp20260728, def, message);
        return;
    }
    if let Some(result) = message.get("result") {
        assert!(
            result["resultType"].is_string(),
            "B-4: every result of the era names its resultType: {message}"
        );
        let (spec, def) = match method {
            "server/discover" => (Spec::Mcp20260728, "DiscoverResult"),
            "tools/list" => (Spec::Mcp20260728, "ListToolsResult"),
            "tools/call" if result["resultType"] == "task" => (Spec::ExtTasks, "CreateTaskResult"),
            "tools/call" => (Spec::Mcp20260728, "CallToolResult"),
            "tasks/get" => (Spec::ExtTasks, "GetTaskResult"),
            "tasks/update" => (Spec::ExtTasks, "UpdateTaskResult"),
            "tasks/cancel" => (Spec::ExtTasks, "CancelTaskResult"),
            _ => (Spec::Mcp20260728, "Result"),
        };
        schema::assert_valid(spec, def, result);
        if method == "tasks/get" && result["status"] == "completed" {
            schema::assert_valid(Spec::Mcp20260728, "CallToolResult", &result["result"]);
        }
        return;
    }
    if message["method"] == "notifications/tasks" {
        schema::assert_valid(Spec::ExtTasks, "TaskStatusNotification", message);
        if message["params"]["status"] == "completed" {
            schema::assert_valid(
                Spec::Mcp20260728,
                "CallToolResult",
                &message["params"]["result"],
            );
        }
    }
}

/// Checks a 2025-11-25 answer to `method` against that era's schema.
pub(crate) fn check_2025(method: &str, message: &Value) {
    if let Err(e) = schema::validate_response_to(Spec::Mcp20251125, method, message) {
        panic!("{e}\nmessage: {message}");
    }
}

/// The answer to one POST.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) content_type: String,
    /// The JSON body, or each SSE event's message, in order.
    pub(crate) messages: Vec<Value>,
}

impl Reply {
    /// The JSON-RPC response (the last message).
    pub(crate) fn response(&self) -> &Value {
        self.messages
            .last()
            .unwrap_or_else(|| panic!("no message in the reply: {self:?}"))
    }

    /// The result, or a panic naming the error.
    pub(crate) fn result(&self) -> &Value {
        let r = self.response();
        assert!(
            r.get("error").is_none(),
            "expected a result, got {r} (HTTP {})",
            self.status
        );
        &r["result"]
    }

    /// The error object, or a panic naming the result.
    pub(crate) fn error(&self) -> &Value {
        let r = self.response();
        assert!(
            r.get("error").is_some(),
            "expected an error, got {r} (HTTP {})",
            self.status
        );
        &r["error"]
    }

    /// The error code.
    pub(crate) fn code(&self) -> i64 {
        self.error()["code"].as_i64().expect("an integer code")
    }
}

/// The messages of a whole SSE body: each event's `data` lines, comments skipped.
pub(crate) fn sse_messages(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| {
                let text = data.join("\n");
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {text:?}"))
            })
        })
        .collect()
}

/// A client of the stateless era over Streamable HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    url: String,
    http: reqwest::Client,
    token: Option<String>,
    next_id: Arc<AtomicI64>,
}

impl Http {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            http: reqwest::Client::new(),
            token: None,
            next_id: Arc::new(AtomicI64::new(1)),
        }
    }

    /// The same client sending `Authorization: Bearer <token>`.
    pub(crate) fn as_bearer(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub(crate) fn fresh_id(&self) -> Value {
        json!(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The era's headers for a body: version, `Mcp-Method`, and `Mcp-Name` when the method has
    /// one (Base64 sentinel when the value is not plain ASCII).
    pub(crate) fn standard_headers(method: &str, params: &Value) -> Vec<(String, String)> {
        let mut headers = vec![
            ("mcp-protocol-version".to_owned(), PV.to_owned()),
            ("mcp-method".to_owned(), method.to_owned()),
        ];
        let field = match method {
            "tools/call" | "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
            _ => None,
        };
        if let Some(name) = field.and_then(|f| params.get(f)).and_then(Value::as_str) {
            headers.push((
                "mcp-name".to_owned(),
                mcp_tasks_wire::v2026_07_28::headers::encode_value(name),
            ));
        }
        headers
    }

    /// POSTs `body` with exactly `headers` (plus content type and accept unless given), reads
    /// the whole reply, and checks every message as an answer to `method`.
    pub(crate) async fn post_raw(
        &self,
        method: &str,
        body: &Value,
        headers: &[(String, String)],
    ) -> Reply {
        let mut request = self.http.post(&self.url).body(body.to_string());
        let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !given("content-type") {
            request = request.header("content-type", "application/json");
        }
        if !given("accept") {
            request = request.header("accept", "application/json, text/event-stream");
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = tokio::time::timeout(HANG, request.send())
            .await
            .expect("the server answers in time")
            .expect("the POST reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = tokio::time::timeout(HANG, response.text())
            .await
            .expect("the body ends in time")
            .expect("the body reads");
        let messages = if content_type.starts_with("text/event-stream") {
            sse_messages(&text)
        } else if text.trim().is_empty() {
            Vec::new()
        } else {
            vec![serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {text:?}"))]
        };
        for m in &messages {
            check(method, m);
        }
        Reply {
            status,
            headers,
            content_type,
            messages,
        }
    }

    /// A request of the era with capabilities `caps` and the standard headers.
    pub(crate) async fn request(&self, method: &str, params: Value, caps: &Value) -> Reply {
        let params = with_meta(params, caps);
        let headers = Self::standard_headers(method, &params);
        let body =
            json!({"jsonrpc": "2.0", "id": self.fresh_id(), "method": method, "params": params});
        self.post_raw(method, &body, &headers).await
    }

    /// Opens `subscriptions/listen` with id `id` and filter `notifications`; the stream is read
    /// message by message.
    pub(crate) async fn listen(&self, id: Value, notifications: Value, caps: &Value) -> Listen {
        let params = with_meta(json!({"notifications": notifications}), caps);
        let body =
            json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen", "params": params});
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PV)
            .header("mcp-method", "subscriptions/listen")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = tokio::time::timeout(HANG, request.send())
            .await
            .expect("the server answers in time")
            .expect("the POST reaches the server");
        assert_eq!(response.status().as_u16(), 200, "{response:?}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "B-7: the listen stream is SSE, got {content_type:?}"
        );
        Listen {
            response,
            buffer: String::new(),
            queued: Vec::new(),
        }
    }
}

/// A `subscriptions/listen` stream being read.
#[derive(Debug)]
pub(crate) struct Listen {
    response: reqwest::Response,
    buffer: String,
    queued: Vec<Value>,
}

impl Listen {
    /// The next message, checked; `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> Option<Value> {
        loop {
            if !self.queued.is_empty() {
                return Some(self.queued.remove(0));
            }
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                for m in sse_messages(&event) {
                    check("subscriptions/listen", &m);
                    self.queued.push(m);
                }
                continue;
            }
            let chunk = tokio::time::timeout(HANG, self.response.chunk())
                .await
                .expect("the listen stream sends or ends in time");
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Reads until a message satisfies `pred`, returning it; panics if the stream ends first.
    pub(crate) async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        while let Some(m) = self.next().await {
            if pred(&m) {
                return m;
            }
            seen.push(m);
        }
        panic!("the listen stream ended before {what}; it carried {seen:#?}");
    }
}

/// `mcp-tasks serve --store memory` on stdio, driven line by line with no assumption about the
/// era of each request.
pub(crate) struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
    notifications: mpsc::UnboundedReceiver<Value>,
    next_id: AtomicI64,
}

impl StdioServer {
    pub(crate) fn spawn() -> Self {
        Self::spawn_with(&[])
    }

    /// As [`StdioServer::spawn`], with `extra` arguments to `serve`.
    pub(crate) fn spawn_with(extra: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .args(["serve", "--store", "memory"])
            .args(extra)
            .env_remove("MCP_TASKS_CONFIG")
            .env_remove("MCP_TASKS_STORE")
            .env_remove("MCP_TASKS_AUTH_TOKENS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>> = Arc::default();
        let (tx, notifications) = mpsc::unbounded_channel();
        let waiting = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let message: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
                let is_response = message.get("result").is_some() || message.get("error").is_some();
                let waiter = is_response
                    .then(|| waiting.lock().unwrap().remove(&message["id"].to_string()))
                    .flatten();
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(message);
                    }
                    None => {
                        let _ = tx.send(message);
                    }
                }
            }
        });
        Self {
            child,
            stdin,
            pending,
            notifications,
            next_id: AtomicI64::new(1),
        }
    }

    pub(crate) fn fresh_id(&self) -> Value {
        json!(format!(
            "s-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ))
    }

    pub(crate) async fn send(&mut self, message: &Value) {
        let mut line = message.to_string().into_bytes();
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .await
            .expect("stdin takes the line");
        self.stdin.flush().await.expect("stdin flushes");
    }

    /// Sends request `id` and waits for its answer (unchecked).
    pub(crate) async fn exchange(&mut self, id: Value, method: &str, params: Value) -> Value {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.to_string(), tx);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        tokio::time::timeout(HANG, rx)
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} in time"))
            .expect("stdout stays open")
    }

    /// A request of the stateless era with capabilities `caps`; its answer, checked.
    pub(crate) async fn request(&mut self, method: &str, params: Value, caps: &Value) -> Value {
        let id = self.fresh_id();
        let answer = self.exchange(id, method, with_meta(params, caps)).await;
        check(method, &answer);
        answer
    }

    /// A request of the connection's 2025-11-25 session; its answer, checked.
    pub(crate) async fn request_2025(&mut self, method: &str, params: Value) -> Value {
        let id = self.fresh_id();
        let answer = self.exchange(id, method, params).await;
        check_2025(method, &answer);
        answer
    }

    /// The next message that is not an answer; `None` when stdout closed.
    pub(crate) async fn next_notification(&mut self) -> Option<Value> {
        tokio::time::timeout(HANG, self.notifications.recv())
            .await
            .expect("a notification in time")
    }

    /// Closes stdin, waits for the server to exit, and returns its exit status and the
    /// messages no request waited for that were still unread.
    pub(crate) async fn finish(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        drop(self.stdin);
        let status = tokio::time::timeout(HANG, self.child.wait())
            .await
            .expect("the server exits in time")
            .expect("the exit status reads");
        let mut rest = Vec::new();
        while let Some(m) = tokio::time::timeout(HANG, self.notifications.recv())
            .await
            .expect("stdout ends in time")
        {
            rest.push(m);
        }
        (status, rest)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the server runs")
    }
}

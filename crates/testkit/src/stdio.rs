//! A test client that drives the real `mcp-tasks` binary over the stdio transport.
//!
//! MCP 2025-11-25, "Transports" (stdio): newline-delimited JSON-RPC on the child's stdin and stdout,
//! logs on stderr. [`StdioPeer`] runs a background reader that routes responses by id to their
//! callers, so many requests can be in flight at once on one connection; server-initiated requests go
//! to a queue ([`StdioPeer::next_request`]) and notifications to a buffer
//! ([`StdioPeer::wait_notification`]). Every line the server writes is checked against the official
//! JSON Schema ([`check_server_message`]); violations fail the test.
//!
//! The message plumbing shared with [`crate::http`] ([`RpcError`], [`Received`], [`Via`]) lives
//! here too.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::process::{without_settings_env, ServeOptions};
use crate::schema::{self, Spec};

/// How long any single wait in this crate may take before the test fails as hung.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The protocol version the peers speak.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// A JSON-RPC error object received in place of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i64,
    /// The error message.
    pub message: String,
    /// The optional `data` member.
    pub data: Option<Value>,
}

impl RpcError {
    /// Reads an `error` object of a JSON-RPC error response.
    pub fn from_error_object(error: &Value) -> Self {
        Self {
            code: error
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MIN),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: error.get("data").cloned(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)?;
        if let Some(data) = &self.data {
            write!(f, " (data: {data})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// Turns a JSON-RPC response message into its result or its error.
pub fn outcome(response: &Value) -> Result<Value, RpcError> {
    if let Some(error) = response.get("error") {
        return Err(RpcError::from_error_object(error));
    }
    Ok(response.get("result").cloned().unwrap_or(Value::Null))
}

/// Where a message from the server arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    /// A line on the child's stdout.
    Stdout,
    /// The body of a POST answered with `application/json`.
    PostBody,
    /// An SSE event on the stream answering a POST of a request.
    PostStream {
        /// The id of the request that POST carried.
        request_id: Value,
        /// The method of the request that POST carried.
        method: String,
    },
    /// An SSE event on the GET stream of the session.
    GetStream,
}

/// A message the server sent, with its arrival order and channel.
#[derive(Debug, Clone)]
pub struct Received {
    /// Arrival order across everything this peer received (starts at 0).
    pub seq: u64,
    /// The JSON-RPC message.
    pub message: Value,
    /// The channel it came on.
    pub via: Via,
}

impl Received {
    /// The `id` of a request or response.
    pub fn id(&self) -> Value {
        self.message.get("id").cloned().unwrap_or(Value::Null)
    }

    /// The `method` of a request or notification.
    pub fn method(&self) -> &str {
        self.message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The `params` of a request or notification.
    pub fn params(&self) -> &Value {
        self.message.get("params").unwrap_or(&Value::Null)
    }
}

/// Checks one message the server sent against the MCP 2025-11-25 schema: the JSON-RPC envelope,
/// and for known server requests and notifications, their own definitions.
///
/// # Errors
/// Says which check failed and why.
pub fn check_server_message(message: &Value) -> Result<(), String> {
    let mut message = message.clone();
    // JSON-RPC 2.0 answers an error it cannot attribute with `"id": null`; the MCP schema models that
    // case by leaving `id` out.
    if message.get("error").is_some() && message.get("id") == Some(&Value::Null) {
        if let Some(object) = message.as_object_mut() {
            object.remove("id");
        }
    }
    schema::validate_message(Spec::Mcp20251125, &message)
        .map_err(|e| format!("not a valid JSON-RPC message: {e}"))?;
    let has_id = message.get("id").is_some();
    let def = match message.get("method").and_then(Value::as_str) {
        Some("notifications/tasks/status") => Some("TaskStatusNotification"),
        Some("notifications/progress") => Some("ProgressNotification"),
        Some("notifications/message") => Some("LoggingMessageNotification"),
        Some("elicitation/create") => Some("ElicitRequest"),
        Some("sampling/createMessage") => Some("CreateMessageRequest"),
        Some(_) if has_id => Some("ServerRequest"),
        Some(_) => Some("ServerNotification"),
        None if message.get("error").is_some() => Some("JSONRPCErrorResponse"),
        None => Some("JSONRPCResultResponse"),
    };
    if let Some(def) = def {
        schema::validate(Spec::Mcp20251125, def, &message)
            .map_err(|e| format!("not a {def}: {e}"))?;
    }
    Ok(())
}

/// The kinds of JSON-RPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Notification,
    Response,
    Other,
}

pub(crate) fn kind(message: &Value) -> Kind {
    let has_method = message.get("method").is_some();
    let has_id = message.get("id").is_some();
    let has_outcome = message.get("result").is_some() || message.get("error").is_some();
    match (has_method, has_id, has_outcome) {
        (true, true, false) => Kind::Request,
        (true, false, false) => Kind::Notification,
        (false, _, true) => Kind::Response,
        _ => Kind::Other,
    }
}

/// Key of a pending request: the JSON text of its id, so `1` and `"1"` differ.
pub(crate) fn id_key(id: &Value) -> String {
    id.to_string()
}

/// The outcome of [`Inbox::accept`].
#[derive(Debug)]
pub(crate) enum Filed {
    /// A response, for the caller to route.
    Response(Received),
    /// A request or notification, filed; this is a copy.
    Other(Received),
}

/// What a peer received that nobody asked for yet: server requests, notifications, schema
/// violations, and the server's stderr for diagnostics.
#[derive(Debug)]
pub(crate) struct Inbox {
    seq: AtomicU64,
    notifications: Mutex<Vec<Received>>,
    changed: watch::Sender<u64>,
    requests_tx: mpsc::UnboundedSender<Received>,
    requests_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    violations: Mutex<Vec<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Inbox {
    pub(crate) fn new(stderr: Arc<Mutex<String>>) -> Self {
        let (requests_tx, requests_rx) = mpsc::unbounded_channel();
        Self {
            seq: AtomicU64::new(0),
            notifications: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
            requests_tx,
            requests_rx: tokio::sync::Mutex::new(requests_rx),
            violations: Mutex::new(Vec::new()),
            stderr,
        }
    }

    /// Validates and files one message. Responses are handed back for the caller to route;
    /// anything else is filed, and a copy handed back.
    pub(crate) fn accept(&self, message: Value, via: Via) -> Filed {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = check_server_message(&message) {
            self.violation(format!("{via:?}: {e}\n  message: {message}"));
        }
        let received = Received { seq, message, via };
        match kind(&received.message) {
            Kind::Request => {
                // The receiver lives as long as the inbox.
                let _ = self.requests_tx.send(received.clone());
            }
            Kind::Notification => {
                self.notifications.lock().unwrap().push(received.clone());
                self.changed.send_modify(|n| *n += 1);
            }
            Kind::Response => return Filed::Response(received),
            Kind::Other => {
                self.violation(format!(
                    "{:?}: neither a request, a notification nor a response: {}",
                    received.via, received.message
                ));
            }
        }
        Filed::Other(received)
    }

    pub(crate) fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(crate) fn stderr_tail(&self) -> String {
        let all = self.stderr();
        let lines: Vec<&str> = all.lines().collect();
        let start = lines.len().saturating_sub(40);
        lines[start..].join("\n")
    }

    pub(crate) fn notifications(&self) -> Vec<Received> {
        self.notifications.lock().unwrap().clone()
    }

    pub(crate) async fn wait_notification(
        &self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Received {
        let mut changed = self.changed.subscribe();
        let wait = async {
            loop {
                let found = {
                    let all = self.notifications.lock().unwrap();
                    all.iter().find(|r| pred(&r.message)).cloned()
                };
                if let Some(found) = found {
                    return found;
                }
                // The sender lives in `self`, so this never errs while we borrow it.
                let _ = changed.changed().await;
            }
        };
        match tokio::time::timeout(TIMEOUT, wait).await {
            Ok(found) => found,
            Err(_) => panic!(
                "no notification {what} within {TIMEOUT:?}; notifications so far:\n{}\nserver stderr:\n{}",
                self.notifications()
                    .iter()
                    .map(|r| r.message.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.stderr_tail()
            ),
        }
    }

    pub(crate) async fn next_request(&self) -> Received {
        let mut rx = self.requests_rx.lock().await;
        match tokio::time::timeout(TIMEOUT, rx.recv()).await {
            Ok(Some(request)) => request,
            Ok(None) => unreachable!("the inbox owns the sender"),
            Err(_) => panic!(
                "no request from the server within {TIMEOUT:?}; server stderr:\n{}",
                self.stderr_tail()
            ),
        }
    }

    pub(crate) fn try_next_request(&self) -> Option<Received> {
        self.requests_rx.try_lock().ok()?.try_recv().ok()
    }

    pub(crate) fn assert_clean(&self, who: &str) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "{who}: the server sent {} message(s) that break the protocol or schema:\n{}\nserver stderr:\n{}",
            violations.len(),
            violations.join("\n"),
            self.stderr_tail()
        );
    }
}

/// Copies a child's stderr into a shared buffer, line by line.
pub(crate) fn capture_stderr(
    stderr: impl AsyncRead + Unpin + Send + 'static,
    buffer: Arc<Mutex<String>>,
    mut first_match: Option<(String, oneshot::Sender<String>)>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            {
                let mut buffer = buffer.lock().unwrap();
                buffer.push_str(&line);
                buffer.push('\n');
            }
            let matched = first_match
                .as_ref()
                .is_some_and(|(needle, _)| line.contains(needle.as_str()));
            if matched {
                if let Some((_, tx)) = first_match.take() {
                    let _ = tx.send(line);
                }
            }
        }
    })
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Received>>>>;

/// The `initialize` params a test client sends: protocol 2025-11-25, form elicitation supported, no
/// `tasks` capability (so the server, as a requestor, must not task-augment its requests to us).
pub fn default_initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": { "elicitation": { "form": {} } },
        "clientInfo": { "name": "mcp-tasks-testkit", "version": "0.0.0" }
    })
}

/// A client connected to a spawned server over stdio. Kills the child on drop.
#[derive(Debug)]
pub struct StdioPeer {
    child: tokio::sync::Mutex<Child>,
    pid: u32,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    next_id: AtomicI64,
    pending: Pending,
    null_ids: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    inbox: Arc<Inbox>,
    reader: JoinHandle<()>,
    stderr_reader: JoinHandle<()>,
}

impl StdioPeer {
    /// Starts `bin args…` with piped stdio. Must be called inside a tokio runtime.
    pub fn spawn(bin: &Path, args: &[&str]) -> Self {
        let mut child = without_settings_env(&mut Command::new(bin))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let pid = child.id().expect("a child that was just spawned has a pid");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let stderr_buffer = Arc::new(Mutex::new(String::new()));
        let stderr_reader = capture_stderr(stderr, Arc::clone(&stderr_buffer), None);
        let inbox = Arc::new(Inbox::new(stderr_buffer));
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (null_tx, null_rx) = mpsc::unbounded_channel();

        let reader = {
            let inbox = Arc::clone(&inbox);
            let pending = Arc::clone(&pending);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                loop {
                    let line = match lines.next_line().await {
                        Ok(Some(line)) => line,
                        Ok(None) => break,
                        Err(e) => {
                            inbox.violation(format!("stdout is not UTF-8 lines: {e}"));
                            break;
                        }
                    };
                    let message: Value = match serde_json::from_str(&line) {
                        Ok(message) => message,
                        Err(e) => {
                            inbox.violation(format!("stdout line is not JSON ({e}): {line:?}"));
                            continue;
                        }
                    };
                    let Filed::Response(response) = inbox.accept(message, Via::Stdout) else {
                        continue;
                    };
                    let id = response.id();
                    if id.is_null() {
                        let _ = null_tx.send(response);
                        continue;
                    }
                    let waiter = pending.lock().unwrap().remove(&id_key(&id));
                    match waiter {
                        Some(waiter) => {
                            let _ = waiter.send(response);
                        }
                        None => inbox.violation(format!(
                            "response to an id we never sent or already got an answer for: {}",
                            response.message
                        )),
                    }
                }
                // Stdout closed: wake every waiter (their senders drop).
                pending.lock().unwrap().clear();
            })
        };

        Self {
            child: tokio::sync::Mutex::new(child),
            pid,
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            next_id: AtomicI64::new(1),
            pending,
            null_ids: tokio::sync::Mutex::new(null_rx),
            inbox,
            reader,
            stderr_reader,
        }
    }

    /// Starts `bin serve --store memory` plus `extra_args`.
    pub fn serve(bin: &Path, extra_args: &[&str]) -> Self {
        Self::serve_with(bin, &ServeOptions::memory_with(extra_args))
    }

    /// Starts `bin serve --store STORE ARGS…` on stdio as `options` say.
    pub fn serve_with(bin: &Path, options: &ServeOptions) -> Self {
        let args = options.serve_args(&[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::spawn(bin, &args)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the server with SIGKILL and reaps it (bounded); returns its exit status.
    pub async fn kill9(&self) -> ExitStatus {
        let mut child = self.child.lock().await;
        // On unix, tokio's `start_kill` sends SIGKILL. It errs only if the child was reaped
        // already, which `wait` then reports.
        let _ = child.start_kill();
        match tokio::time::timeout(TIMEOUT, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("cannot reap the killed server: {e}"),
            Err(_) => panic!("the server survived SIGKILL for {TIMEOUT:?}"),
        }
    }

    /// Starts the server and runs [`Self::initialize`].
    pub async fn serve_initialized(bin: &Path) -> (Self, Value) {
        let peer = Self::serve(bin, &[]);
        let init = peer.initialize().await;
        (peer, init)
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.inbox.stderr()
    }

    /// Writes one line (a newline is added) to the server's stdin.
    pub async fn send_raw(&self, line: &str) {
        let mut stdin = self.stdin.lock().await;
        let stdin = stdin.as_mut().expect("stdin is still open");
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        let write = async {
            stdin.write_all(&bytes).await?;
            stdin.flush().await
        };
        match tokio::time::timeout(TIMEOUT, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!(
                "cannot write to the server's stdin: {e}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
            Err(_) => panic!("writing to the server's stdin hung for {TIMEOUT:?}"),
        }
    }

    async fn send(&self, message: &Value) {
        self.send_raw(&message.to_string()).await;
    }

    fn register(&self, id: &Value) -> oneshot::Receiver<Received> {
        let (tx, rx) = oneshot::channel();
        let previous = self.pending.lock().unwrap().insert(id_key(id), tx);
        assert!(previous.is_none(), "request id {id} is already in flight");
        rx
    }

    async fn await_response(&self, rx: oneshot::Receiver<Received>, what: &str) -> Received {
        match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => panic!(
                "the server closed stdout before answering {what}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
            Err(_) => panic!(
                "no answer to {what} within {TIMEOUT:?}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
        }
    }

    /// Allocates a fresh numeric request id.
    pub fn fresh_id(&self) -> Value {
        json!(self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// Sends a request with the given id and returns the whole response message as received.
    /// `params` of `Value::Null` are left out.
    pub async fn exchange(&self, id: Value, method: &str, params: Value) -> Received {
        let mut message = json!({ "jsonrpc": "2.0", "id": id.clone(), "method": method });
        if !params.is_null() {
            message["params"] = params;
        }
        let rx = self.register(&id);
        self.send(&message).await;
        let response = self
            .await_response(rx, &format!("{method} (id {id})"))
            .await;
        if let Err(e) = schema::validate_response_to(Spec::Mcp20251125, method, &response.message) {
            self.inbox.violation(format!(
                "the response to {method} does not match its result type: {e}\n  message: {}",
                response.message
            ));
        }
        response
    }

    /// Sends a request and waits for its result or error.
    ///
    /// # Errors
    /// The JSON-RPC error the server answered with.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.fresh_id();
        self.request_with_id(id, method, params).await
    }

    /// Like [`Self::request`] with a caller-chosen id.
    ///
    /// # Errors
    /// The JSON-RPC error the server answered with.
    pub async fn request_with_id(
        &self,
        id: Value,
        method: &str,
        params: Value,
    ) -> Result<Value, RpcError> {
        outcome(&self.exchange(id, method, params).await.message)
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Value) {
        self.send(&crate::message::notification(method, params))
            .await;
    }

    /// Answers a server request with a result.
    pub async fn respond(&self, id: Value, result: Value) {
        self.send(&crate::message::result(id, result)).await;
    }

    /// Answers a server request with an error.
    pub async fn respond_error(&self, id: Value, code: i64, message: &str) {
        self.send(&crate::message::error(id, code, message)).await;
    }

    /// Sends a raw line and waits for the response it provokes: the one carrying `id` if given,
    /// or one with `"id": null`, whichever comes first. Returns the whole response message.
    pub async fn send_raw_expecting(&self, line: &str, id: Option<Value>) -> Value {
        let waiter = id.as_ref().map(|id| self.register(id));
        self.send_raw(line).await;
        let mut null_ids = self.null_ids.lock().await;
        let wait = async {
            match waiter {
                Some(waiter) => tokio::select! {
                    by_id = waiter => by_id.ok(),
                    null = null_ids.recv() => null,
                },
                None => null_ids.recv().await,
            }
        };
        let response = match tokio::time::timeout(TIMEOUT, wait).await {
            Ok(Some(response)) => response,
            Ok(None) => panic!(
                "the server closed stdout before answering {line:?}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
            Err(_) => panic!(
                "no answer to {line:?} within {TIMEOUT:?}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
        };
        if let Some(id) = &id {
            self.pending.lock().unwrap().remove(&id_key(id));
        }
        response.message
    }

    /// Waits for the next response whose id is `null` (answers to unparseable input).
    pub async fn next_null_id_response(&self) -> Value {
        let mut null_ids = self.null_ids.lock().await;
        match tokio::time::timeout(TIMEOUT, null_ids.recv()).await {
            Ok(Some(response)) => response.message,
            Ok(None) => panic!(
                "the server closed stdout\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
            Err(_) => panic!(
                "no response with a null id within {TIMEOUT:?}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
        }
    }

    /// `initialize` with [`default_initialize_params`], then `notifications/initialized`.
    /// Returns the `InitializeResult` (checked against the schema).
    pub async fn initialize(&self) -> Value {
        self.initialize_with(default_initialize_params()).await
    }

    /// `initialize` with the given params, then `notifications/initialized`.
    pub async fn initialize_with(&self, params: Value) -> Value {
        let result = self
            .request("initialize", params)
            .await
            .unwrap_or_else(|e| panic!("initialize failed: {e}"));
        if let Err(e) = schema::validate(Spec::Mcp20251125, "InitializeResult", &result) {
            panic!("initialize answered with an invalid InitializeResult: {e}\n{result:#}");
        }
        self.notify("notifications/initialized", Value::Null).await;
        result
    }

    /// The next request the server sent us (elicitation, sampling, ping …).
    pub async fn next_request(&self) -> Received {
        self.inbox.next_request().await
    }

    /// A server request already received and not yet taken, if any.
    pub fn try_next_request(&self) -> Option<Received> {
        self.inbox.try_next_request()
    }

    /// Every notification received so far, in arrival order.
    pub fn notifications(&self) -> Vec<Received> {
        self.inbox.notifications()
    }

    /// The notifications received so far that satisfy `pred`.
    pub fn notifications_matching(&self, pred: impl Fn(&Value) -> bool) -> Vec<Received> {
        self.notifications()
            .into_iter()
            .filter(|r| pred(&r.message))
            .collect()
    }

    /// The first notification (already received or yet to come) that satisfies `pred`.
    /// `what` describes it in the failure message.
    pub async fn wait_notification(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Received {
        self.inbox.wait_notification(what, pred).await
    }

    /// The first notification with this method.
    pub async fn next_notification(&self, method: &str) -> Received {
        self.wait_notification(method, |m| m["method"] == method)
            .await
    }

    /// Schema or protocol violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.inbox.violations()
    }

    /// Fails if the server sent anything invalid so far.
    pub fn assert_clean(&self) {
        self.inbox.assert_clean("stdio peer");
    }

    /// Closes the server's stdin (EOF).
    pub async fn close_stdin(&self) {
        self.stdin.lock().await.take();
    }

    /// Waits for the child to exit.
    pub async fn wait_exit(&self) -> ExitStatus {
        let mut child = self.child.lock().await;
        match tokio::time::timeout(TIMEOUT, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("cannot wait for the server: {e}"),
            Err(_) => panic!(
                "the server did not exit within {TIMEOUT:?}\nserver stderr:\n{}",
                self.inbox.stderr_tail()
            ),
        }
    }

    /// Waits (bounded) until the server's stderr is read to its end, so that [`Self::stderr`]
    /// holds everything it wrote: after [`Self::wait_exit`], a line missing from it then is a
    /// line never written, not one still in the pipe.
    pub async fn wait_stderr_closed(&self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !self.stderr_reader.is_finished() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server's stderr stayed open for {TIMEOUT:?} (a child of it holds it?)"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for StdioPeer {
    fn drop(&mut self) {
        self.reader.abort();
        self.stderr_reader.abort();
        if !std::thread::panicking() {
            self.inbox.assert_clean("stdio peer (at drop)");
        }
    }
}

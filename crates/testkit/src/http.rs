//! A test client that drives the real `mcp-tasks` binary over Streamable HTTP.
//!
//! MCP 2025-11-25, "Transports" (Streamable HTTP): every client message is a POST to the MCP
//! endpoint; a request is answered with `application/json` or an SSE stream whose events each carry
//! one JSON-RPC message, the last one being the response; notifications and responses get 202; GET
//! opens the server stream; DELETE ends the session named by `Mcp-Session-Id`.
//!
//! [`HttpServer`] starts the binary on `127.0.0.1:0` and reads its URL from stderr. [`HttpSession`]
//! reads SSE replies incrementally (with `eventsource-stream`), so a server request arriving on the
//! stream of a still-open `tasks/result` POST can be answered before that POST completes. Every
//! message the server sends is checked against the schema, like [`crate::stdio`] does.
//!
//! For crash tests, [`HttpServer::spawn_with`] takes the store (see [`crate::store::TempStore`]),
//! [`HttpServer::kill9`] kills the server with SIGKILL, and [`HttpSession::try_request`] reports a
//! request the dead server never answered as an error instead of failing the test.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::process::{rss_kib, without_settings_env, ServeOptions};
use crate::schema::{self, Spec};
use crate::stdio::{
    capture_stderr, default_initialize_params, id_key, outcome, Filed, Inbox, Received, RpcError,
    Via, PROTOCOL_VERSION, TIMEOUT,
};

/// The session header.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// The `Accept` value a Streamable HTTP client sends with a POST.
pub const POST_ACCEPT: &str = "application/json, text/event-stream";

/// A spawned `mcp-tasks serve --store … --http 127.0.0.1:0 …`. Kills the child on drop.
#[derive(Debug)]
pub struct HttpServer {
    child: tokio::sync::Mutex<Child>,
    pid: u32,
    url: String,
    stderr: Arc<Mutex<String>>,
    stderr_reader: JoinHandle<()>,
    terminate: bool,
}

impl HttpServer {
    /// Starts the server on `--store memory` with `extra_args` appended and waits (bounded) for the
    /// `listening on http://…/mcp` line on its stderr.
    pub async fn spawn(bin: &Path, extra_args: &[&str]) -> Self {
        Self::spawn_with(bin, &ServeOptions::memory_with(extra_args)).await
    }

    /// Starts `serve --store STORE --http 127.0.0.1:0 ARGS…` as `options` say and waits (bounded)
    /// for the `listening on http://…/mcp` line on its stderr. Panics, with the stderr, if the
    /// server exits or stays silent instead.
    pub async fn spawn_with(bin: &Path, options: &ServeOptions) -> Self {
        Self::spawn_command(bin, &options.serve_args(&["--http", "127.0.0.1:0"])).await
    }

    /// Starts `bin ARGS…`, any command that serves HTTP (`gateway --http 127.0.0.1:0 -- …`), and
    /// waits (bounded) for its `listening on http://…/mcp` line, as [`HttpServer::spawn_with`].
    pub async fn spawn_command(bin: &Path, args: &[String]) -> Self {
        let mut child = without_settings_env(&mut Command::new(bin))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let pid = child.id().expect("a child that was just spawned has a pid");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = oneshot::channel();
        let stderr_reader = capture_stderr(
            child.stderr.take().expect("stderr is piped"),
            Arc::clone(&stderr),
            Some(("listening on http://".to_owned(), tx)),
        );
        let line = match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(line)) => line,
            Ok(Err(_)) => panic!(
                "the server ({}) closed its stderr before it said `listening on http://…`; stderr:\n{}",
                args.join(" "),
                stderr.lock().unwrap()
            ),
            Err(_) => panic!(
                "the server ({}) did not say `listening on http://…` within {TIMEOUT:?}; stderr:\n{}",
                args.join(" "),
                stderr.lock().unwrap()
            ),
        };
        let start = line.find("http://").expect("the line holds the URL");
        let url: String = line[start..]
            .chars()
            .take_while(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, ':' | '/' | '.' | '-' | '_' | '[' | ']' | '%')
            })
            .collect();
        assert!(
            url.ends_with("/mcp"),
            "unexpected endpoint URL {url:?} in {line:?}"
        );
        Self {
            child: tokio::sync::Mutex::new(child),
            pid,
            url,
            stderr,
            stderr_reader,
            terminate: false,
        }
    }

    /// On drop, asks the server to stop with SIGTERM and waits (bounded) for it, instead of
    /// killing it: a gateway stops its upstream process only when it stops gracefully.
    #[must_use]
    pub fn terminate_on_drop(mut self) -> Self {
        self.terminate = true;
        self
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's resident set size in KiB (`VmRSS`). Panics if it cannot be read (the process
    /// is gone, or this is not Linux).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid).unwrap_or_else(|| {
            panic!(
                "cannot read VmRSS of the server (pid {}) from /proc\nserver stderr:\n{}",
                self.pid,
                self.stderr()
            )
        })
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it (bounded), so that whatever
    /// it held (a SQLite file's lock, its port) is released when this returns. Returns its exit
    /// status. Sessions on it fail from then on; use [`HttpSession::try_request`] where that is
    /// expected.
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

    /// The exit status if the server has exited, without waiting.
    pub async fn try_exit_status(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .await
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot check on the server: {e}"))
    }

    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A client without a session yet (call [`HttpSession::initialize`], or use it for raw
    /// requests that must carry no session id).
    pub fn client(&self) -> HttpSession {
        HttpSession::new(&self.url, Arc::clone(&self.stderr))
    }

    /// A client with an initialized session.
    pub async fn session(&self) -> HttpSession {
        let session = self.client();
        session.initialize().await;
        session
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stderr_reader.abort();
        let child = self.child.get_mut();
        if self.terminate && matches!(child.try_wait(), Ok(None)) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = std::time::Instant::now() + TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// The reply to a raw HTTP request, body read to the end.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl RawReply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of `Content-Type`, lowercased, without parameters.
    pub fn content_type(&self) -> String {
        media_type(self.header("content-type"))
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The JSON-RPC messages in the body: the JSON body itself, or each SSE event's data.
    /// Each is checked against the schema; a violation panics.
    pub async fn messages(&self) -> Vec<Value> {
        let messages = if self.content_type() == "text/event-stream" {
            let chunk: Result<Vec<u8>, std::convert::Infallible> =
                Ok(self.body.clone().into_bytes());
            let mut events = futures::stream::iter([chunk]).eventsource();
            let mut messages = Vec::new();
            while let Some(event) = events.next().await {
                let event = event.unwrap_or_else(|e| panic!("bad SSE body ({e}): {:?}", self.body));
                if event.data.trim().is_empty() {
                    continue;
                }
                messages
                    .push(serde_json::from_str(&event.data).unwrap_or_else(|e| {
                        panic!("SSE data is not JSON ({e}): {:?}", event.data)
                    }));
            }
            messages
        } else if self.body.trim().is_empty() {
            Vec::new()
        } else {
            vec![serde_json::from_str(&self.body)
                .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))]
        };
        for message in &messages {
            if let Err(e) = crate::stdio::check_server_message(message) {
                panic!("the server sent an invalid message: {e}\n{message}");
            }
        }
        messages
    }
}

fn media_type(value: Option<&str>) -> String {
    value
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The answer to a JSON-RPC request sent over HTTP.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// HTTP status code (200 for a served request).
    pub status: u16,
    /// The media type the server chose: `application/json` or `text/event-stream`.
    pub content_type: String,
    /// Response headers.
    pub headers: HeaderMap,
    /// The JSON-RPC response message.
    pub response: Received,
    /// Server requests and notifications that came on this POST's SSE stream before the response.
    pub before: Vec<Received>,
}

impl HttpReply {
    /// The result, or the error.
    ///
    /// # Errors
    /// The JSON-RPC error the server answered with.
    pub fn outcome(&self) -> Result<Value, RpcError> {
        outcome(&self.response.message)
    }
}

/// Why a request sent with [`HttpSession::try_exchange`] got no JSON-RPC response: the
/// connection failed, the HTTP status was not 200, or the SSE stream broke or ended first (as when
/// the server is killed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The method of the request.
    pub method: String,
    /// What went wrong.
    pub detail: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} got no answer: {}", self.method, self.detail)
    }
}

impl std::error::Error for TransportError {}

/// Whether a transport failure is also a protocol violation (it is, unless the test expects the
/// server to go away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    Strict,
    Lenient,
}

#[derive(Debug)]
struct SessionInner {
    http: reqwest::Client,
    url: String,
    session_id: Mutex<Option<String>>,
    protocol_version: Mutex<Option<String>>,
    next_id: AtomicI64,
    inbox: Arc<Inbox>,
    streams: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        for stream in self.streams.lock().unwrap().drain(..) {
            stream.abort();
        }
        if !std::thread::panicking() {
            self.inbox.assert_clean("HTTP session (at drop)");
        }
    }
}

/// One MCP session over Streamable HTTP. Clones share the session.
#[derive(Debug, Clone)]
pub struct HttpSession {
    inner: Arc<SessionInner>,
}

impl HttpSession {
    fn new(url: &str, server_stderr: Arc<Mutex<String>>) -> Self {
        let http = reqwest::Client::builder()
            .build()
            .expect("a plain HTTP client builds");
        Self {
            inner: Arc::new(SessionInner {
                http,
                url: url.to_owned(),
                session_id: Mutex::new(None),
                protocol_version: Mutex::new(None),
                next_id: AtomicI64::new(1),
                inbox: Arc::new(Inbox::new(server_stderr)),
                streams: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The MCP endpoint.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The `Mcp-Session-Id` the server assigned, once initialized.
    pub fn session_id(&self) -> Option<String> {
        self.inner.session_id.lock().unwrap().clone()
    }

    /// Uses this session id from now on (or none).
    pub fn set_session_id(&self, id: Option<String>) {
        *self.inner.session_id.lock().unwrap() = id;
    }

    /// Sends this `MCP-Protocol-Version` from now on (or none).
    pub fn set_protocol_version(&self, version: Option<String>) {
        *self.inner.protocol_version.lock().unwrap() = version;
    }

    fn stderr_tail(&self) -> String {
        self.inner.inbox.stderr_tail()
    }

    /// The headers a client sends besides `Content-Type` and `Accept`.
    fn session_headers(&self) -> Vec<(HeaderName, String)> {
        let mut headers = Vec::new();
        if let Some(id) = self.session_id() {
            headers.push((HeaderName::from_static(SESSION_HEADER), id));
        }
        if let Some(version) = self.inner.protocol_version.lock().unwrap().clone() {
            headers.push((HeaderName::from_static(VERSION_HEADER), version));
        }
        headers
    }

    async fn post_message(&self, message: &Value) -> reqwest::Response {
        match self.try_post_message(message).await {
            Ok(response) => response,
            Err(e) => panic!("{e}\nserver stderr:\n{}", self.stderr_tail()),
        }
    }

    /// POSTs one message; a connection failure is an error, a hang panics.
    async fn try_post_message(&self, message: &Value) -> Result<reqwest::Response, String> {
        let mut request = self
            .inner
            .http
            .post(&self.inner.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, POST_ACCEPT)
            .body(message.to_string());
        for (name, value) in self.session_headers() {
            request = request.header(name, value);
        }
        match tokio::time::timeout(TIMEOUT, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(format!("POST {message} failed: {e}")),
            Err(_) => panic!(
                "POST {message} got no response headers within {TIMEOUT:?}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
        }
    }

    /// Allocates a fresh numeric request id.
    pub fn fresh_id(&self) -> Value {
        json!(self.inner.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// POSTs a request with the given id and reads the answer, JSON or SSE. Server requests and
    /// notifications on its SSE stream are filed as they arrive (see [`Self::next_request`]) while
    /// this call is still waiting for the response, and are also returned in
    /// [`HttpReply::before`]. Panics on a non-2xx status or a stream that ends without the response.
    pub async fn exchange(&self, id: Value, method: &str, params: Value) -> HttpReply {
        match self
            .exchange_inner(id, method, params, Strictness::Strict)
            .await
        {
            Ok(reply) => reply,
            Err(e) => panic!("{e}\nserver stderr:\n{}", self.stderr_tail()),
        }
    }

    /// Like [`Self::exchange`], but a request that gets no JSON-RPC answer because the connection
    /// failed, the server answered with another HTTP status than 200, or the SSE stream broke or
    /// ended first, is an error instead of a panic (and not a protocol violation). For load that
    /// runs while the server is killed. A hang still panics after [`TIMEOUT`].
    ///
    /// # Errors
    /// Why no JSON-RPC response arrived.
    pub async fn try_exchange(
        &self,
        id: Value,
        method: &str,
        params: Value,
    ) -> Result<HttpReply, TransportError> {
        self.exchange_inner(id, method, params, Strictness::Lenient)
            .await
    }

    /// [`Self::request`] on [`Self::try_exchange`]: `Err` when no answer came, `Ok(outcome)` with
    /// the result or JSON-RPC error when one did.
    ///
    /// # Errors
    /// Why no JSON-RPC response arrived.
    pub async fn try_request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, RpcError>, TransportError> {
        let id = self.fresh_id();
        Ok(self.try_exchange(id, method, params).await?.outcome())
    }

    async fn exchange_inner(
        &self,
        id: Value,
        method: &str,
        params: Value,
        strictness: Strictness,
    ) -> Result<HttpReply, TransportError> {
        let mut message = json!({ "jsonrpc": "2.0", "id": id.clone(), "method": method });
        if !params.is_null() {
            message["params"] = params;
        }
        let failed = |detail: String| TransportError {
            method: method.to_owned(),
            detail,
        };
        let work = async {
            let response = self.try_post_message(&message).await.map_err(failed)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let content_type = media_type(headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()));
            if status != 200 {
                let body = response.text().await.unwrap_or_default();
                return Err(failed(format!(
                    "POST {message} answered HTTP {status} ({content_type}): {body}"
                )));
            }
            let mut before = Vec::new();
            let answer = match content_type.as_str() {
                "application/json" => {
                    let body = response.text().await.map_err(|e| {
                        failed(format!("reading the JSON body for {method} failed: {e}"))
                    })?;
                    let value: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
                        panic!("the JSON body for {method} is not JSON ({e}): {body:?}")
                    });
                    match self.inner.inbox.accept(value, Via::PostBody) {
                        Filed::Response(answer) => Some(answer),
                        Filed::Other(_) => None,
                    }
                }
                "text/event-stream" => {
                    let via = Via::PostStream {
                        request_id: id.clone(),
                        method: method.to_owned(),
                    };
                    match self
                        .read_stream_until_response(response, &via, &id, &mut before)
                        .await
                    {
                        Ok(answer) => answer,
                        Err(broken) => {
                            if strictness == Strictness::Strict {
                                self.inner.inbox.violation(broken.clone());
                            }
                            return Err(failed(broken));
                        }
                    }
                }
                other => panic!("POST {message} answered with Content-Type {other:?}"),
            };
            let Some(answer) = answer else {
                return Err(failed(format!(
                    "POST {message} ({content_type}) ended without a JSON-RPC response"
                )));
            };
            assert_eq!(
                answer.id(),
                id,
                "POST {message} was answered for another id: {}",
                answer.message
            );
            if let Err(e) = schema::validate_response_to(Spec::Mcp20251125, method, &answer.message)
            {
                self.inner.inbox.violation(format!(
                    "the response to {method} does not match its result type: {e}\n  message: {}",
                    answer.message
                ));
            }
            Ok(HttpReply {
                status,
                content_type,
                headers,
                response: answer,
                before,
            })
        };
        match tokio::time::timeout(TIMEOUT, work).await {
            Ok(reply) => reply,
            Err(_) => panic!(
                "no answer to {method} (id {id}) within {TIMEOUT:?}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
        }
    }

    /// Reads SSE events until the response to `id`. `Ok(None)`: the stream ended without it;
    /// `Err`: the stream broke.
    async fn read_stream_until_response(
        &self,
        response: reqwest::Response,
        via: &Via,
        id: &Value,
        before: &mut Vec<Received>,
    ) -> Result<Option<Received>, String> {
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => return Err(format!("{via:?}: broken SSE stream: {e}")),
            };
            if event.data.trim().is_empty() {
                continue; // a priming event (id only)
            }
            let value: Value = match serde_json::from_str(&event.data) {
                Ok(value) => value,
                Err(e) => {
                    self.inner.inbox.violation(format!(
                        "{via:?}: SSE data is not JSON ({e}): {:?}",
                        event.data
                    ));
                    continue;
                }
            };
            match self.inner.inbox.accept(value, via.clone()) {
                Filed::Response(answer) if id_key(&answer.id()) == id_key(id) => {
                    return Ok(Some(answer))
                }
                Filed::Response(answer) => self.inner.inbox.violation(format!(
                    "{via:?}: a response to another request on this stream: {}",
                    answer.message
                )),
                Filed::Other(filed) => before.push(filed),
            }
        }
        Ok(None)
    }

    /// Sends a request and waits for its result or error.
    ///
    /// # Errors
    /// The JSON-RPC error the server answered with.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.fresh_id();
        self.exchange(id, method, params).await.outcome()
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
        self.exchange(id, method, params).await.outcome()
    }

    /// POSTs `message` with this session's headers on a raw TCP connection and returns the
    /// socket without reading anything from it: a client that never reads its answer (the
    /// server's writes pile up once the socket buffers are full). Dropping the socket closes
    /// it.
    pub async fn post_unread(&self, message: &Value) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let rest = self
            .url()
            .strip_prefix("http://")
            .expect("an http:// endpoint");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let body = message.to_string();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
             Accept: {POST_ACCEPT}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in self.session_headers() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut socket = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(authority))
            .await
            .expect("connecting does not hang")
            .unwrap_or_else(|e| panic!("cannot connect to {authority}: {e}"));
        socket
            .write_all(format!("{head}{body}").as_bytes())
            .await
            .expect("the request is written");
        socket
    }

    /// POSTs one JSON-RPC message with the session's headers and reads the whole reply.
    pub async fn post_message_raw(&self, message: &Value) -> RawReply {
        let response = self.post_message(message).await;
        read_raw(response, &self.stderr_tail()).await
    }

    async fn post_expect_accepted(&self, message: &Value) {
        let reply = self.post_message_raw(message).await;
        assert_eq!(
            reply.status, 202,
            "POST of {message} must be answered 202 Accepted, got {} with body {:?}\nserver stderr:\n{}",
            reply.status, reply.body, self.stderr_tail()
        );
        assert!(
            reply.body.is_empty(),
            "a 202 has no body, got {:?} for {message}",
            reply.body
        );
    }

    /// POSTs a notification and checks it is answered 202 with no body.
    pub async fn notify(&self, method: &str, params: Value) {
        self.post_expect_accepted(&crate::message::notification(method, params))
            .await;
    }

    /// POSTs the result for a server request and checks it is answered 202 with no body.
    pub async fn respond(&self, id: Value, result: Value) {
        self.post_expect_accepted(&crate::message::result(id, result))
            .await;
    }

    /// POSTs an error for a server request and checks it is answered 202 with no body.
    pub async fn respond_error(&self, id: Value, code: i64, message: &str) {
        self.post_expect_accepted(&crate::message::error(id, code, message))
            .await;
    }

    /// `initialize` with [`crate::stdio::default_initialize_params`], keeping the `Mcp-Session-Id`
    /// the server assigns, then `notifications/initialized` (202). Returns the `InitializeResult`.
    pub async fn initialize(&self) -> Value {
        self.initialize_with(default_initialize_params()).await
    }

    /// `initialize` with the given params; see [`Self::initialize`].
    pub async fn initialize_with(&self, params: Value) -> Value {
        let id = self.fresh_id();
        let reply = self.exchange(id, "initialize", params).await;
        let result = reply
            .outcome()
            .unwrap_or_else(|e| panic!("initialize failed: {e}"));
        if let Err(e) = schema::validate(Spec::Mcp20251125, "InitializeResult", &result) {
            panic!("initialize answered with an invalid InitializeResult: {e}\n{result:#}");
        }
        let session_id = reply
            .headers
            .get(SESSION_HEADER)
            .map(|v| {
                v.to_str()
                    .unwrap_or_else(|_| panic!("Mcp-Session-Id is not visible ASCII: {v:?}"))
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("initialize answered without an Mcp-Session-Id header"));
        self.set_session_id(Some(session_id));
        self.set_protocol_version(Some(PROTOCOL_VERSION.to_owned()));
        self.notify("notifications/initialized", Value::Null).await;
        result
    }

    /// POSTs `body` as is. Sends `Content-Type: application/json`, the POST `Accept`, the session id
    /// and the protocol version unless `headers` names them (a header given with an empty value is
    /// left out altogether). Reads the whole reply.
    pub async fn post_raw(&self, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> RawReply {
        let mut all: Vec<(String, String)> = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), POST_ACCEPT.to_owned()),
        ];
        all.extend(
            self.session_headers()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_owned(), value)),
        );
        let request = self.inner.http.post(&self.inner.url).body(body.into());
        self.send_raw(request, all, headers, true).await
    }

    /// A GET of the endpoint with `Accept: text/event-stream` and the session's headers (overridable as
    /// in [`Self::post_raw`]). Returns status and headers only; the body is dropped.
    pub async fn get_raw(&self, headers: &[(&str, &str)]) -> RawReply {
        let mut all: Vec<(String, String)> =
            vec![("accept".to_owned(), "text/event-stream".to_owned())];
        all.extend(
            self.session_headers()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_owned(), value)),
        );
        let request = self.inner.http.get(&self.inner.url);
        self.send_raw(request, all, headers, false).await
    }

    /// A DELETE of the endpoint with the session's headers (overridable as in [`Self::post_raw`]).
    pub async fn delete_raw(&self, headers: &[(&str, &str)]) -> RawReply {
        let all: Vec<(String, String)> = self
            .session_headers()
            .into_iter()
            .map(|(name, value)| (name.as_str().to_owned(), value))
            .collect();
        let request = self.inner.http.delete(&self.inner.url);
        self.send_raw(request, all, headers, true).await
    }

    /// Ends the session with DELETE; returns the HTTP status.
    pub async fn delete(&self) -> u16 {
        self.delete_raw(&[]).await.status
    }

    async fn send_raw(
        &self,
        mut request: reqwest::RequestBuilder,
        defaults: Vec<(String, String)>,
        overrides: &[(&str, &str)],
        read_body: bool,
    ) -> RawReply {
        for (name, value) in defaults {
            if !overrides.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                request = request.header(name, value);
            }
        }
        for (name, value) in overrides {
            if !value.is_empty() {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
                let value = HeaderValue::from_str(value).expect("a valid header value");
                request = request.header(name, value);
            }
        }
        let response = match tokio::time::timeout(TIMEOUT, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!(
                "raw request failed: {e}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
            Err(_) => panic!(
                "raw request got no response headers within {TIMEOUT:?}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
        };
        if read_body {
            read_raw(response, &self.stderr_tail()).await
        } else {
            RawReply {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                body: String::new(),
            }
        }
    }

    /// Opens the GET stream of the session (checks 200 and `text/event-stream`) and files what it
    /// carries, in the background, until the session is dropped.
    pub async fn open_get_stream(&self) {
        let mut request = self
            .inner
            .http
            .get(&self.inner.url)
            .header(ACCEPT, "text/event-stream");
        for (name, value) in self.session_headers() {
            request = request.header(name, value);
        }
        let response = match tokio::time::timeout(TIMEOUT, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!(
                "GET stream failed: {e}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
            Err(_) => panic!(
                "GET stream got no response headers within {TIMEOUT:?}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
        };
        let status = response.status().as_u16();
        let content_type = media_type(
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        assert_eq!(status, 200, "GET stream answered HTTP {status}");
        assert_eq!(
            content_type, "text/event-stream",
            "GET stream answered with Content-Type {content_type:?}"
        );
        let inbox = Arc::clone(&self.inner.inbox);
        let task = tokio::spawn(async move {
            let mut events = response.bytes_stream().eventsource();
            while let Some(event) = events.next().await {
                let Ok(event) = event else {
                    break; // the connection went away (session ended, server stopped)
                };
                if event.data.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(&event.data) {
                    Ok(value) => {
                        if let Filed::Response(response) = inbox.accept(value, Via::GetStream) {
                            inbox.violation(format!(
                                "a JSON-RPC response on the GET stream (no resumption asked): {}",
                                response.message
                            ));
                        }
                    }
                    Err(e) => inbox.violation(format!(
                        "GET stream: SSE data is not JSON ({e}): {:?}",
                        event.data
                    )),
                }
            }
        });
        self.inner.streams.lock().unwrap().push(task);
    }

    /// The next request the server sent us on any stream, with the stream it came on.
    pub async fn next_request(&self) -> Received {
        self.inner.inbox.next_request().await
    }

    /// A server request already received and not yet taken, if any.
    pub fn try_next_request(&self) -> Option<Received> {
        self.inner.inbox.try_next_request()
    }

    /// Every notification received so far on any stream, in arrival order.
    pub fn notifications(&self) -> Vec<Received> {
        self.inner.inbox.notifications()
    }

    /// The notifications received so far that satisfy `pred`.
    pub fn notifications_matching(&self, pred: impl Fn(&Value) -> bool) -> Vec<Received> {
        self.notifications()
            .into_iter()
            .filter(|r| pred(&r.message))
            .collect()
    }

    /// The first notification (already received or yet to come) that satisfies `pred`.
    pub async fn wait_notification(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Received {
        self.inner.inbox.wait_notification(what, pred).await
    }

    /// Schema or protocol violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.inner.inbox.violations()
    }

    /// Fails if the server sent anything invalid so far.
    pub fn assert_clean(&self) {
        self.inner.inbox.assert_clean("HTTP session");
    }
}

async fn read_raw(response: reqwest::Response, stderr_tail: &str) -> RawReply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match tokio::time::timeout(TIMEOUT, response.bytes()).await {
        Ok(Ok(body)) => String::from_utf8_lossy(&body).into_owned(),
        Ok(Err(e)) => panic!("reading a reply body failed: {e}\nserver stderr:\n{stderr_tail}"),
        Err(_) => panic!(
            "a reply body did not end within {TIMEOUT:?} (HTTP {status})\nserver stderr:\n{stderr_tail}"
        ),
    };
    RawReply {
        status,
        headers,
        body,
    }
}

/// One SSE event read by [`SseStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event id: the event's own `id` field, or the last one the stream set before it.
    pub id: String,
    /// The `data` field; empty for a priming event (MCP 2025-11-25, Transports: "an event ID and
    /// an empty `data` field").
    pub data: String,
}

impl SseEvent {
    /// The JSON-RPC message the event carries, checked against the schema (a violation panics);
    /// `None` for an event with empty data.
    pub fn message(&self) -> Option<Value> {
        if self.data.trim().is_empty() {
            return None;
        }
        let message: Value = serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {:?}", self.data));
        if let Err(e) = crate::stdio::check_server_message(&message) {
            panic!("the server sent an invalid message: {e}\n{message}");
        }
        Some(message)
    }
}

type BoxedEvents = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// An SSE response read one event at a time, for tests that drop a stream part-way and resume
/// it with `Last-Event-ID` ([`HttpSession::post_sse`], [`HttpSession::get_sse`]). Dropping it
/// closes the connection. What it carries is not filed in the session's inbox: the test reads
/// it here.
pub struct SseStream {
    events: BoxedEvents,
    stderr_tail: String,
}

impl std::fmt::Debug for SseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseStream").finish_non_exhaustive()
    }
}

impl SseStream {
    fn new(response: reqwest::Response, stderr_tail: String) -> Self {
        Self {
            events: Box::pin(response.bytes_stream().eventsource()),
            stderr_tail,
        }
    }

    /// The next event (priming events included); `None` when the stream ends or breaks. Panics
    /// if none comes within [`TIMEOUT`].
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        match tokio::time::timeout(TIMEOUT, self.events.next()).await {
            Ok(Some(Ok(event))) => Some(SseEvent {
                id: event.id,
                data: event.data,
            }),
            Ok(Some(Err(_)) | None) => None,
            Err(_) => panic!(
                "no SSE event within {TIMEOUT:?}\nserver stderr (when the stream opened):\n{}",
                self.stderr_tail
            ),
        }
    }

    /// The events up to and including the first whose message satisfies `pred`. Panics, naming
    /// `what` and listing what came, if the stream ends first.
    pub async fn until_message(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while let Some(event) = self.next_event().await {
            let hit = event.message().is_some_and(|m| pred(&m));
            seen.push(event);
            if hit {
                return seen;
            }
        }
        panic!("the SSE stream ended before {what}; it carried {seen:#?}");
    }
}

impl HttpSession {
    /// POSTs a request with the session's headers and returns its SSE stream unread, so a test
    /// can read part of it and drop it. `Err` holds the whole reply when it is not a 200
    /// `text/event-stream` (a JSON answer, or an HTTP error).
    ///
    /// # Errors
    /// The reply, when it is not an SSE stream.
    pub async fn post_sse(
        &self,
        id: Value,
        method: &str,
        params: Value,
    ) -> Result<SseStream, RawReply> {
        let mut message = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        if !params.is_null() {
            message["params"] = params;
        }
        let response = self.post_message(&message).await;
        self.sse_or_reply(response).await
    }

    /// A GET of the endpoint with `Accept: text/event-stream`, the session's headers and
    /// `headers` (e.g. `[("last-event-id", "3-1")]`; overridable as in [`Self::post_raw`]), its
    /// stream returned unread. `Err` holds the whole reply when it is not a 200
    /// `text/event-stream` (as when a `Last-Event-ID` cannot be resumed).
    ///
    /// # Errors
    /// The reply, when it is not an SSE stream.
    pub async fn get_sse(&self, headers: &[(&str, &str)]) -> Result<SseStream, RawReply> {
        let mut request = self.inner.http.get(&self.inner.url);
        let mut defaults: Vec<(String, String)> =
            vec![("accept".to_owned(), "text/event-stream".to_owned())];
        defaults.extend(
            self.session_headers()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_owned(), value)),
        );
        for (name, value) in defaults {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                request = request.header(name, value);
            }
        }
        for (name, value) in headers {
            if !value.is_empty() {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
                let value = HeaderValue::from_str(value).expect("a valid header value");
                request = request.header(name, value);
            }
        }
        let response = match tokio::time::timeout(TIMEOUT, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("GET failed: {e}\nserver stderr:\n{}", self.stderr_tail()),
            Err(_) => panic!(
                "GET got no response headers within {TIMEOUT:?}\nserver stderr:\n{}",
                self.stderr_tail()
            ),
        };
        self.sse_or_reply(response).await
    }

    async fn sse_or_reply(&self, response: reqwest::Response) -> Result<SseStream, RawReply> {
        let content_type = media_type(
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        if response.status().as_u16() == 200 && content_type == "text/event-stream" {
            Ok(SseStream::new(response, self.stderr_tail()))
        } else {
            Err(read_raw(response, &self.stderr_tail()).await)
        }
    }
}

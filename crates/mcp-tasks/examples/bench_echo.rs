//! The ceiling of `bench/compare.sh`: a bare hyper server that answers MCP over Streamable HTTP
//! with canned, spec-shaped results and does nothing else. No session table, no task store, no
//! tool runs: what `mcp-tasks bench` measures against it is the cost of HTTP/1.1 and of decoding
//! and encoding the JSON-RPC messages, which every real server pays before any work of its own.
//! A server's throughput as a fraction of this one's says how much its own work costs.
//!
//! `bench_echo --http ADDR` (port 0 picks a free one) prints exactly
//! `listening on http://ADDR/mcp` on stdout once it accepts connections, as
//! `tests/interop/server.mjs` does. Each POST is answered by its method, the JSON-RPC id copied:
//!
//! - `initialize`: an `InitializeResult` for the version asked (one of the 2025 versions, else
//!   2025-11-25) with tools and tasks capabilities, and a new `Mcp-Session-Id` header (never
//!   checked afterwards: there is no session);
//! - a notification or a client's response: 202, no body;
//! - `tools/list`: `echo {text}` and `slow_echo {text, delay_ms}` (task support optional);
//! - `tools/call`: a `CallToolResult` with the text "bench"; with `params.task` (2025-11-25) a
//!   `CreateTaskResult` with a fixed task id, `working`;
//! - `tasks/get`: the asked task, `completed` (in 2026-07-28 with its result inlined);
//! - `tasks/result` (2025-11-25): the `CallToolResult`; `tasks/cancel`: the task, `cancelled`
//!   (2026-07-28: the empty acknowledgement); `server/discover`; `ping`.
//!
//! A request is of MCP 2026-07-28 when its `MCP-Protocol-Version` header says so (or, for a
//! client that leaves the header out, its `params._meta` names that version); its results then
//! carry `resultType` and the tasks extension's flat task shape. A GET opens an SSE stream that
//! sends one comment and then stays open and silent, as a session's stream with nothing to say.
//! Every answer is `application/json`.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt as _};
use http_body_util::{BodyExt as _, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// The protocol version whose requests get the 2026-07-28 shapes.
const V2026: &str = "2026-07-28";
/// The version `initialize` answers when the client asks for one this server does not know.
const V2025: &str = "2025-11-25";
/// The 2025 versions `initialize` agrees to.
const V2025_ALL: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
/// The `_meta` key naming a 2026-07-28 request's version.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The task every task-augmented call answers with, and the one `tasks/get` falls back on.
const TASK_ID: &str = "00000000-0000-4000-8000-000000000000";
/// Every task's `createdAt` and `lastUpdatedAt`: canned, no clock is read.
const TIMESTAMP: &str = "2026-01-01T00:00:00Z";
const TTL_MS: u64 = 3_600_000;
const POLL_INTERVAL_MS: u64 = 250;
/// What every tool answers.
const TEXT: &str = "bench";
/// Largest body read; a benchmark's requests are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;
/// How long the answers' discovery results may be cached, in ms (2026-07-28 `ttlMs`).
const CACHE_TTL_MS: u64 = 60_000;

/// A whole JSON answer, or an SSE stream that never ends.
type Body = Either<Full<Bytes>, StreamBody<SseStream>>;
/// The frames of a GET stream: one comment, then nothing, forever.
type SseStream = std::pin::Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;

/// `bench_echo --http ADDR`.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = parse_args()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}/mcp")?;
        out.flush()?;
    }
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: the connection is lost, the server is not.
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "bench_echo: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handle);
            // A client that goes away mid-request is its own business; nothing to log.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn parse_args() -> anyhow::Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--http"), Some(addr), None) => addr
            .parse()
            .with_context(|| format!("--http {addr:?} is not an address like 127.0.0.1:0")),
        _ => anyhow::bail!("usage: bench_echo --http ADDR (e.g. 127.0.0.1:0)"),
    }
}

async fn handle(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if request.uri().path() != "/mcp" {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    Ok(match *request.method() {
        Method::POST => post(request).await,
        Method::GET => sse(),
        Method::DELETE => status(StatusCode::OK),
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    })
}

async fn post(request: Request<Incoming>) -> Response<Body> {
    let v2026 = request
        .headers()
        .get("mcp-protocol-version")
        .is_some_and(|v| v.as_bytes() == V2026.as_bytes());
    let body = match http_body_util::Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &error(&Value::Null, -32700, "Parse error"),
            None,
        );
    };
    let (Some(id), Some(method)) = (
        message.get("id"),
        message.get("method").and_then(Value::as_str),
    ) else {
        // A notification, or the client's answer to a request: accepted, nothing to say.
        return status(StatusCode::ACCEPTED);
    };
    let params = message.get("params").unwrap_or(&Value::Null);
    let v2026 = v2026
        || method == "server/discover"
        || params
            .get("_meta")
            .and_then(|m| m.get(META_VERSION))
            .and_then(Value::as_str)
            == Some(V2026);
    match answer(method, params, v2026) {
        Ok(Answer { result, session }) => json_response(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
            session,
        ),
        Err((http, code, text)) => json_response(http, &error(id, code, text), None),
    }
}

/// A result, and for `initialize` the session id to send with it.
struct Answer {
    result: Value,
    session: Option<String>,
}

impl From<Value> for Answer {
    fn from(result: Value) -> Self {
        Self {
            result,
            session: None,
        }
    }
}

/// The canned result of `method`, or the HTTP status, JSON-RPC code and message of its error.
fn answer(
    method: &str,
    params: &Value,
    v2026: bool,
) -> Result<Answer, (StatusCode, i64, &'static str)> {
    let task_id = params
        .get("taskId")
        .and_then(Value::as_str)
        .unwrap_or(TASK_ID);
    Ok(match (method, v2026) {
        ("initialize", false) => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked.filter(|v| V2025_ALL.contains(v)).unwrap_or(V2025);
            Answer {
                result: json!({
                    "protocolVersion": version,
                    "capabilities": {
                        "tools": {"listChanged": false},
                        "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
                    },
                    "serverInfo": server_info(),
                }),
                session: Some(uuid::Uuid::new_v4().to_string()),
            }
        }
        ("ping", false) => json!({}).into(),
        ("server/discover", _) => json!({
            "resultType": "complete",
            "supportedVersions": [V2026, V2025],
            "capabilities": {
                "tools": {"listChanged": false},
                "extensions": {"io.modelcontextprotocol/tasks": {}},
            },
            "serverInfo": server_info(),
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": "public",
        })
        .into(),
        ("tools/list", false) => json!({"tools": tools()}).into(),
        ("tools/list", true) => json!({
            "resultType": "complete",
            "tools": tools(),
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": "public",
        })
        .into(),
        ("tools/call", false) if params.get("task").is_some() => {
            json!({"task": task_2025(TASK_ID, "working")}).into()
        }
        ("tools/call", false) => tool_result(false).into(),
        ("tools/call", true) => tool_result(true).into(),
        ("tasks/get", false) => task_2025(task_id, "completed").into(),
        ("tasks/get", true) => {
            let mut task = task_2026(task_id, "completed");
            task["resultType"] = json!("complete");
            task["result"] = tool_result(true);
            task.into()
        }
        ("tasks/result", false) => {
            let mut result = tool_result(false);
            result["_meta"] = json!({"io.modelcontextprotocol/related-task": {"taskId": task_id}});
            result.into()
        }
        ("tasks/cancel", false) => task_2025(task_id, "cancelled").into(),
        ("tasks/cancel", true) => json!({"resultType": "complete"}).into(),
        _ => return Err((StatusCode::NOT_FOUND, -32601, "Method not found")),
    })
}

fn server_info() -> Value {
    json!({"name": "bench-echo", "version": env!("CARGO_PKG_VERSION")})
}

fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "description": "Answers \"bench\" at once",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        },
        {
            "name": "slow_echo",
            "description": "Answers \"bench\" at once; may run as a task",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "delay_ms": {"type": "integer", "minimum": 0},
                },
                "required": ["text"],
            },
            "execution": {"taskSupport": "optional"},
        },
    ])
}

fn tool_result(v2026: bool) -> Value {
    let mut result = json!({"content": [{"type": "text", "text": TEXT}]});
    if v2026 {
        result["resultType"] = json!("complete");
    }
    result
}

/// A 2025-11-25 `Task`.
fn task_2025(task_id: &str, status: &str) -> Value {
    json!({
        "taskId": task_id,
        "status": status,
        "createdAt": TIMESTAMP,
        "lastUpdatedAt": TIMESTAMP,
        "ttl": TTL_MS,
        "pollInterval": POLL_INTERVAL_MS,
    })
}

/// A task of the 2026-07-28 tasks extension (durations in `…Ms`).
fn task_2026(task_id: &str, status: &str) -> Value {
    json!({
        "taskId": task_id,
        "status": status,
        "createdAt": TIMESTAMP,
        "lastUpdatedAt": TIMESTAMP,
        "ttlMs": TTL_MS,
        "pollIntervalMs": POLL_INTERVAL_MS,
    })
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn json_response(code: StatusCode, message: &Value, session: Option<String>) -> Response<Body> {
    let bytes = serde_json::to_vec(message).unwrap_or_default();
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(bytes))));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(session) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
        headers.insert("mcp-session-id", session);
    }
    response
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
    *response.status_mut() = code;
    response
}

/// A GET's stream: one SSE comment, so the client sees it open, then silence until it leaves.
fn sse() -> Response<Body> {
    let frames: SseStream = Box::pin(
        stream::once(async { Ok(Frame::data(Bytes::from_static(b": open\n\n"))) })
            .chain(stream::pending()),
    );
    let mut response = Response::new(Either::Right(StreamBody::new(frames)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

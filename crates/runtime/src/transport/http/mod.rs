//! MCP Streamable HTTP: one endpoint; POST carries client messages and is answered with JSON or
//! an SSE stream, GET opens the server's standing stream, DELETE ends the session.
//!
//! - Sessions: `initialize` creates one and answers its id in `Mcp-Session-Id`; every later
//!   request must carry it (missing: 400; unknown or ended: 404).
//! - `MCP-Protocol-Version`, when sent, must be a version we speak (else 400).
//! - `Origin` must be loopback or listed (else 403), against DNS rebinding.
//! - Bodies above the configured size are refused with 413.
//! - `tasks/result` and plain `tools/call` are answered as SSE, so input requests and progress
//!   can ride on the same exchange (T-RES-4); everything else as JSON. Server messages with no
//!   open exchange go to the GET stream.
//! - Accepted sockets get `TCP_NODELAY`, so a response is not held back by delayed ACKs.
//! - Sessions a client abandons without DELETE end after
//!   [`HttpConfig::session_idle_timeout`] with no request or open stream, and at most
//!   [`HttpConfig::max_sessions`] exist at once (a new one beyond is refused with 503), so a
//!   long-running server does not accumulate them. Their tasks live on: tasks belong to the
//!   store, not to sessions.

mod origin;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures::{Stream, StreamExt};
use mcp_tasks_wire::jsonrpc::{decode, ErrorObject, Message, Request, RequestId};
use mcp_tasks_wire::method::{self, SUPPORTED_PROTOCOL_VERSIONS};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use origin::OriginPolicy;

use crate::server::Server;
use crate::session::Session;

/// The session header.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// Settings of the HTTP transport.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The endpoint path.
    pub path: String,
    /// The largest POST body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Which browser origins may call.
    pub origins: OriginPolicy,
    /// How long a session may go without a request or an open stream before it ends.
    pub session_idle_timeout: Duration,
    /// The most sessions at once.
    pub max_sessions: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            path: "/mcp".into(),
            max_body_bytes: 4 * 1024 * 1024,
            origins: OriginPolicy::default(),
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
        }
    }
}

#[derive(Debug)]
struct HttpState {
    server: Arc<Server>,
    config: HttpConfig,
    sessions: Mutex<HashMap<String, Tracked>>,
}

/// A session and how recently it was used.
#[derive(Debug, Clone)]
struct Tracked {
    session: Arc<Session>,
    activity: Arc<Activity>,
}

#[derive(Debug)]
struct Activity {
    /// Requests being answered and streams open right now.
    busy: AtomicUsize,
    /// When the last of them ended.
    idle_since: Mutex<Instant>,
}

impl Tracked {
    fn new(session: Arc<Session>) -> Self {
        Self {
            session,
            activity: Arc::new(Activity {
                busy: AtomicUsize::new(0),
                idle_since: Mutex::new(Instant::now()),
            }),
        }
    }

    fn idle_for(&self, timeout: Duration) -> bool {
        self.activity.busy.load(Ordering::Acquire) == 0
            && self
                .activity
                .idle_since
                .lock()
                .expect("activity mutex poisoned")
                .elapsed()
                > timeout
    }

    fn busy(&self) -> Busy {
        self.activity.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.activity.clone())
    }
}

/// Marks a session in use while alive: held by a request's handler, or by a stream until the
/// client goes.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().expect("activity mutex poisoned") = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HttpState {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.sessions.lock().expect("session table mutex poisoned")
    }

    /// Ends every session idle for longer than the timeout.
    fn reap(&self) {
        let timeout = self.config.session_idle_timeout;
        let idle: Vec<Tracked> = {
            let mut sessions = self.sessions();
            let ids: Vec<String> = sessions
                .iter()
                .filter(|(_, t)| t.idle_for(timeout))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for t in idle {
            tracing::debug!(
                session = t.session.id(),
                "HTTP session ended after being idle"
            );
            t.session.close();
        }
    }
}

/// The axum router serving `server` at `config.path`.
pub fn router(server: Arc<Server>, config: HttpConfig) -> Router {
    let limit = config.max_body_bytes;
    let path = config.path.clone();
    let state = Arc::new(HttpState {
        server,
        config,
        sessions: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route(&path, get(get_stream).post(post).delete(delete))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves `router` on `listener` with `TCP_NODELAY` until `shutdown` completes.
///
/// # Errors
///
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn rpc_error(status: StatusCode, id: Option<RequestId>, error: ErrorObject) -> Response {
    let body = mcp_tasks_wire::jsonrpc::Response::error(id, error);
    let body = serde_json::to_vec(&body).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn bad_request(status: StatusCode, message: impl Into<String>) -> Response {
    rpc_error(status, None, ErrorObject::invalid_request(message))
}

/// A request refused before any JSON-RPC handling: an HTTP status and the reason.
#[derive(Debug)]
struct Reject(StatusCode, String);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        bad_request(self.0, self.1)
    }
}

fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(accept) => accept
            .split(',')
            .map(|part| part.split(';').next().unwrap_or("").trim())
            .any(|mt| {
                mt == wanted
                    || mt == "*/*"
                    || (mt == "application/*" && wanted.starts_with("application/"))
                    || (mt == "text/*" && wanted.starts_with("text/"))
            }),
    }
}

/// Origin and protocol version checks common to every method.
fn precheck(state: &HttpState, headers: &HeaderMap) -> Result<(), Reject> {
    state
        .config
        .origins
        .check(headers)
        .map_err(|why| Reject(StatusCode::FORBIDDEN, why))?;
    if let Some(v) = headers.get(PROTOCOL_VERSION_HEADER) {
        let ok = v
            .to_str()
            .is_ok_and(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v));
        if !ok {
            return Err(Reject(
                StatusCode::BAD_REQUEST,
                format!(
                    "unsupported MCP-Protocol-Version {:?}; this server speaks {}",
                    String::from_utf8_lossy(v.as_bytes()),
                    SUPPORTED_PROTOCOL_VERSIONS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn session_of(state: &HttpState, headers: &HeaderMap) -> Result<(Arc<Session>, Busy), Reject> {
    let Some(raw) = headers.get(SESSION_HEADER) else {
        return Err(Reject(
            StatusCode::BAD_REQUEST,
            "missing Mcp-Session-Id header; send initialize first and echo the id it returns"
                .into(),
        ));
    };
    let id = raw.to_str().unwrap_or_default();
    let gone = || {
        Reject(
            StatusCode::NOT_FOUND,
            "unknown or ended session; send initialize again to start a new one".into(),
        )
    };
    let tracked = state.sessions().get(id).cloned().ok_or_else(gone)?;
    if tracked.idle_for(state.config.session_idle_timeout) {
        state.reap();
        return Err(gone());
    }
    let busy = tracked.busy();
    Ok((tracked.session, busy))
}

async fn post(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = precheck(&state, &headers) {
        return r.into_response();
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|mt| mt.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_type {
        return bad_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST bodies must be JSON-RPC messages with Content-Type: application/json",
        );
    }
    if !accepts(&headers, "application/json") && !accepts(&headers, "text/event-stream") {
        return bad_request(
            StatusCode::NOT_ACCEPTABLE,
            "the Accept header must allow application/json and text/event-stream",
        );
    }
    let message = match decode(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, e.id(), e.to_error_object()),
    };
    if let Message::Request(request) = &message {
        if request.method == method::INITIALIZE {
            return initialize(&state, request.clone()).await;
        }
    }
    let (session, busy) = match session_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match message {
        Message::Request(request) => answer(&state, &session, request, busy).await,
        Message::Notification(n) => {
            state.server.handle_notification(&session, n);
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response(r) => {
            state.server.handle_response(&session, r);
            StatusCode::ACCEPTED.into_response()
        }
    }
}

async fn initialize(state: &Arc<HttpState>, request: Request) -> Response {
    state.reap();
    let open = state.sessions().len();
    if open >= state.config.max_sessions {
        return rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(request.id),
            ErrorObject::internal(format!(
                "this server has {open} open sessions, the most it allows; end unused ones \
                 with DELETE, or retry once idle ones time out"
            )),
        );
    }
    let session = Arc::new(Session::new(uuid::Uuid::new_v4().to_string()));
    let (tx, _rx) = mpsc::unbounded_channel();
    let response = state.server.handle_request(&session, request, &tx).await;
    if response.outcome.is_err() {
        return json_response(&Message::Response(response), None);
    }
    state.server.start_session(&session);
    state
        .sessions()
        .insert(session.id().to_owned(), Tracked::new(session.clone()));
    tracing::debug!(session = session.id(), "HTTP session started");
    json_response(&Message::Response(response), Some(session.id()))
}

fn json_response(message: &Message, session: Option<&str>) -> Response {
    let body = serde_json::to_vec(message).unwrap_or_default();
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        response.headers_mut().insert(SESSION_HEADER, id);
    }
    response
}

/// Whether a request is answered as an SSE stream: when the server may need to send messages
/// tied to it before the answer.
fn wants_stream(request: &Request) -> bool {
    match request.method.as_str() {
        method::TASKS_RESULT => true,
        method::TOOLS_CALL => request
            .params
            .as_ref()
            .and_then(|p| p.get("task"))
            .is_none_or(serde_json::Value::is_null),
        _ => false,
    }
}

async fn answer(
    state: &Arc<HttpState>,
    session: &Arc<Session>,
    request: Request,
    busy: Busy,
) -> Response {
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    if !wants_stream(&request) {
        // Anything sent beside the answer goes to the standing stream.
        let forward = session.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                forward.send_standing(m);
            }
        });
        let response = state.server.handle_request(session, request, &tx).await;
        return json_response(&Message::Response(response), None);
    }
    let id = request.id.clone();
    let (server, session) = (state.server.clone(), session.clone());
    let answer_tx = tx.clone();
    tokio::spawn(async move {
        let response = server.handle_request(&session, request, &answer_tx).await;
        let _ = answer_tx.send(response.into());
    });
    drop(tx);
    sse(until_answer(rx, id).map(move |m| {
        let _in_use = &busy;
        m
    }))
}

/// The messages of one exchange, ending with the answer to `id`.
fn until_answer(
    rx: mpsc::UnboundedReceiver<Message>,
    id: RequestId,
) -> impl Stream<Item = Message> {
    futures::stream::unfold((rx, false), move |(mut rx, done)| {
        let id = id.clone();
        async move {
            if done {
                return None;
            }
            let message = rx.recv().await?;
            let last = matches!(&message, Message::Response(r) if r.id.as_ref() == Some(&id));
            Some((message, (rx, last)))
        }
    })
}

fn sse(messages: impl Stream<Item = Message> + Send + 'static) -> Response {
    let events = messages.map(|m| {
        let data = serde_json::to_string(&m).unwrap_or_default();
        Ok::<_, Infallible>(Event::default().event("message").data(data))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn get_stream(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Err(r) = precheck(&state, &headers) {
        return r.into_response();
    }
    let wants_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    if !wants_sse {
        return bad_request(
            StatusCode::NOT_ACCEPTABLE,
            "GET opens the server's SSE stream; send Accept: text/event-stream",
        );
    }
    let (session, busy) = match session_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    session.set_standing(Some(tx));
    sse(tokio_stream_of(rx).map(move |m| {
        let _in_use = &busy;
        m
    }))
}

fn tokio_stream_of(rx: mpsc::UnboundedReceiver<Message>) -> impl Stream<Item = Message> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
}

async fn delete(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Err(r) = precheck(&state, &headers) {
        return r.into_response();
    }
    let (session, _busy) = match session_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    state.sessions().remove(session.id());
    session.close();
    tracing::debug!(session = session.id(), "HTTP session ended by the client");
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(method: &str, params: serde_json::Value) -> Request {
        Request::new(RequestId::Number(1), method, Some(params))
    }

    fn app(config: HttpConfig) -> Router {
        let engine = mcp_tasks_engine::Engine::new(
            Arc::new(mcp_tasks_engine::MemoryStore::new()),
            mcp_tasks_engine::EngineConfig::default(),
        );
        let server = Server::new(
            engine,
            crate::server::Tools::new(),
            mcp_tasks_wire::v2025_11_25::Implementation::new("t", "0"),
        );
        router(server, config)
    }

    async fn post_json(app: &Router, session: Option<&str>, body: serde_json::Value) -> Response {
        use tower::ServiceExt;
        let mut req = axum::http::Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        if let Some(s) = session {
            req = req.header(SESSION_HEADER, s);
        }
        let req = req.body(axum::body::Body::from(body.to_string())).unwrap();
        app.clone().oneshot(req).await.unwrap()
    }

    fn init() -> serde_json::Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}})
    }

    /// Abandoned sessions end after the idle timeout (404 afterwards), and the number of
    /// sessions is capped with a 503 that says what to do.
    #[tokio::test]
    async fn idle_sessions_end_and_sessions_are_capped() {
        let app = app(HttpConfig {
            session_idle_timeout: Duration::from_millis(200),
            max_sessions: 2,
            ..HttpConfig::default()
        });
        let first = post_json(&app, None, init()).await;
        assert_eq!(first.status(), StatusCode::OK);
        let id = first.headers()[SESSION_HEADER].to_str().unwrap().to_owned();
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
        assert_eq!(
            post_json(&app, Some(&id), list.clone()).await.status(),
            StatusCode::OK
        );
        assert_eq!(post_json(&app, None, init()).await.status(), StatusCode::OK);
        let third = post_json(&app, None, init()).await;
        assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(third.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("open sessions"));

        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            post_json(&app, Some(&id), list).await.status(),
            StatusCode::NOT_FOUND,
            "an idle session ends"
        );
        assert_eq!(
            post_json(&app, None, init()).await.status(),
            StatusCode::OK,
            "ended sessions free their places"
        );
    }

    /// T-RES-4: tasks/result and plain tools/call stream, so questions can ride on them;
    /// `"task": null` is a plain call, not a task.
    #[test]
    fn streams_exactly_the_exchanges_that_may_ask() {
        assert!(wants_stream(&req("tasks/result", json!({"taskId": "t"}))));
        assert!(wants_stream(&req("tools/call", json!({"name": "x"}))));
        assert!(wants_stream(&req(
            "tools/call",
            json!({"name": "x", "task": null})
        )));
        assert!(!wants_stream(&req(
            "tools/call",
            json!({"name": "x", "task": {}})
        )));
        assert!(!wants_stream(&req("tasks/get", json!({"taskId": "t"}))));
    }
}

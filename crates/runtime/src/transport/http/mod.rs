//! MCP Streamable HTTP: one endpoint; POST carries client messages and is answered with JSON or
//! an SSE stream, GET opens the server's standing stream, DELETE ends the session.
//!
//! The endpoint serves both eras, chosen per request (B-8): a POST whose request carries the
//! MCP 2026-07-28 `_meta` version, or a `server/discover`, is served statelessly (module
//! `stateless`: no session, the headers checked against the body, the era's status codes);
//! everything below is about the 2025-11-25 sessions, which work exactly as before.
//!
//! - Sessions: `initialize` creates one and answers its id in `Mcp-Session-Id`; every later
//!   request must carry it (missing: 400; unknown or ended: 404).
//! - `MCP-Protocol-Version`, when sent, must be a version we speak (else 400). A request
//!   without a session that announces a version no session speaks belongs to the stateless
//!   era, and GET or DELETE so announced get 405.
//! - `Origin` must be loopback or listed (else 403), against DNS rebinding.
//! - With [`HttpConfig::auth`], every request carries `Authorization: Bearer <token>` (else
//!   401), and the token's subject owns the session and its tasks, which all of that subject's
//!   sessions reach (T-SEC-1). A request with another subject's token on a session is answered
//!   404, like an unknown session. See [`Authenticator`]: static [`BearerTokens`], or an
//!   [`OAuth`] resource server, whose Protected Resource Metadata is served here too.
//! - Bodies above the configured size are refused with 413.
//! - `tasks/result` and plain `tools/call` are answered as SSE, so input requests and progress
//!   can ride on the same exchange (T-RES-4); everything else as JSON. A client whose `Accept`
//!   does not allow `text/event-stream` gets every answer as JSON, and what would have ridden
//!   on the exchange goes to its GET stream. Server messages with no open exchange go to the
//!   GET stream.
//! - Memory is bounded whatever clients do: every stream's queue is bounded, a connection
//!   whose client stops reading is cut with a logged reason (its stream stays resumable), and
//!   the replay logs have per-stream, per-session and server-wide caps
//!   ([`HttpConfig::max_replay_bytes`]).
//! - SSE streams are resumable (see [below](#resumable-streams)): every event has
//!   an id `<stream>-<seq>`, a new stream opens with a priming event (the id, empty data), and
//!   `GET` with `Last-Event-ID` replays that stream's events after the id, then goes on live. A
//!   `Last-Event-ID` on POST is ignored.
//! - A graceful shutdown waits for every open response, and a GET stream never ends by
//!   itself; with [`router_until`], the GET streams end when the shutdown begins (a client
//!   reconnects elsewhere or later), so only POST exchanges are waited for.
//! - Accepted sockets get `TCP_NODELAY`, so a response is not held back by delayed ACKs.
//! - Sessions a client abandons without DELETE end after
//!   [`HttpConfig::session_idle_timeout`] with no request or open stream, and at most
//!   [`HttpConfig::max_sessions`] exist at once (a new one beyond is refused with 503), so a
//!   long-running server does not accumulate them. Their tasks live on: tasks belong to the
//!   store, not to sessions. Requests of the stateless era, which have no session, are
//!   bounded the same way: at most [`HttpConfig::max_stateless_requests`] at once.
//!
//! # Resumable streams
//!
//! A dropped connection does not end its stream. The request's handler keeps running and what
//! it sends is logged, so a client that lost a `tasks/result` stream before the answer can
//! `GET` with `Last-Event-ID` and still receive the answer; a client that lost the GET stream
//! gets the notifications it missed. Per session the log keeps the last [`MAX_REPLAY_EVENTS`]
//! events and [`MAX_REPLAY_BYTES`] bytes (at most [`HttpConfig::replay_stream_bytes`] of them
//! for one stream, and [`HttpConfig::max_replay_bytes`] for the whole server), and a stream nobody resumes is forgotten
//! [`RESUME_WINDOW`] after its connection dropped or it ended; only then does its handler see
//! the stream closed (`tasks/result` stops waiting, and its unanswered questions stay in the
//! task's mailbox for the next exchange).
//!
//! A `Last-Event-ID` that cannot be resumed is refused, never answered with some other stream:
//! `400` when it is not one of our ids or names an event its stream never sent, `410 Gone` when
//! the session has no such stream (it was forgotten, belongs to another session, or predates
//! a restart) or its events after that id were pushed out of the log. The body says what to do:
//! send the request again (`tasks/result` may be asked any number of times) or open a fresh
//! GET stream. Not `404`, which would tell the client its session ended.
//!
//! Only sessions that negotiated 2025-11-25 or later get the priming event: older clients may
//! try to parse its empty data as JSON.

mod accept;
mod auth;
mod conn;
mod drain;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod limits;
mod origin;
mod param_headers;
mod replay;
mod stateless;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use mcp_tasks_engine::Owner;
use mcp_tasks_wire::jsonrpc::{decode, ErrorObject, Message, Request, RequestId};
use mcp_tasks_wire::method::{self, SUPPORTED_PROTOCOL_VERSIONS};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::{
    Authenticator, BearerTokens, IntrospectionConfig, JwksSource, JwtAlgorithm, OAuth, OAuthConfig,
    OAuthError, TokenError, TokensError, DEFAULT_FETCH_TIMEOUT,
    DEFAULT_INTROSPECTION_CACHE_ENTRIES, DEFAULT_INTROSPECTION_CACHE_TTL,
    DEFAULT_INTROSPECTION_CONCURRENCY, DEFAULT_JWKS_MIN_REFETCH, DEFAULT_JWKS_REFRESH,
    DEFAULT_LEEWAY, MAX_SUBJECT_BYTES, METADATA_PATH, MIN_TOKEN_CHARS,
};
pub use conn::{
    default_max_connections, default_max_connections_per_client, serve_with, ConnectionLimits,
    BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, WRITE_STALL_TIMEOUT,
};
pub use origin::OriginPolicy;
pub use replay::{
    MAX_REPLAY_BYTES, MAX_REPLAY_EVENTS, MAX_REPLAY_STREAMS, MAX_SERVER_REPLAY_BYTES,
    MAX_STREAM_REPLAY_BYTES, MAX_UNSENT_BYTES, RESUME_WINDOW,
};

use accept::accepts;
use auth::Refusal;
use replay::{EventId, Replay, Unresumable};

use crate::server::era::{self, Era};
use crate::server::Server;
use crate::session::{Outbound, Session, Sink, DEFAULT_QUEUE};

/// The session header.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
/// The default [`HttpConfig::max_body_bytes_in_flight`]: 256 MiB, 64 bodies of the default
/// 4 MiB at once.
pub const MAX_BODY_BYTES_IN_FLIGHT: usize = 256 * 1024 * 1024;

/// The header a client resumes a stream with (on GET).
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";

/// Settings of the HTTP transport.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The endpoint path.
    pub path: String,
    /// The largest POST body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The most bytes of request bodies being read at once, over all connections: a slow
    /// body holds its bytes while it arrives, so without this cap many bodies one byte short
    /// of `max_body_bytes` hold `max_connections` times that. Beyond it a body is refused
    /// with 503 (module `limits`). Never below `max_body_bytes`.
    pub max_body_bytes_in_flight: usize,
    /// Which browser origins may call.
    pub origins: OriginPolicy,
    /// How long a session may go without a request or an open stream before it ends.
    pub session_idle_timeout: Duration,
    /// The most sessions at once.
    pub max_sessions: usize,
    /// The most sessions one client holds at once: a bearer token's subject, or without auth
    /// an IP address; one more is refused with 429 (module `limits`).
    pub max_sessions_per_client: usize,
    /// The most SSE streams and MCP 2026-07-28 requests in flight one client has open at
    /// once (module `limits`); one more is refused with 429.
    pub max_streams_per_client: usize,
    /// Timeouts and the cap of the connections themselves, used by [`serve_with`].
    pub connections: ConnectionLimits,
    /// The most requests of MCP 2026-07-28 served at once, `subscriptions/listen` streams
    /// included; one more is refused with 503. They have no session to count them by.
    pub max_stateless_requests: usize,
    /// How every request's bearer token is checked, and whose it is: its subject owns the
    /// sessions it opens and the tasks it creates (T-SEC-1); `None` serves anonymous sessions.
    pub auth: Option<Authenticator>,
    /// The most bytes of events the whole server keeps so clients can resume streams; beyond
    /// it the oldest streams' events are dropped first (and resuming before them is refused).
    pub max_replay_bytes: usize,
    /// The most bytes of events one stream keeps for resuming.
    pub replay_stream_bytes: usize,
    /// The most bytes that may wait unsent for one SSE connection before its client counts
    /// as not reading and the connection is cut (the stream stays resumable).
    pub max_unsent_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            path: "/mcp".into(),
            max_body_bytes: 4 * 1024 * 1024,
            max_body_bytes_in_flight: MAX_BODY_BYTES_IN_FLIGHT,
            origins: OriginPolicy::default(),
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            max_sessions_per_client: 100,
            max_streams_per_client: 1000,
            connections: ConnectionLimits::default(),
            max_stateless_requests: 10_000,
            auth: None,
            max_replay_bytes: MAX_SERVER_REPLAY_BYTES,
            replay_stream_bytes: MAX_STREAM_REPLAY_BYTES,
            max_unsent_bytes: MAX_UNSENT_BYTES,
        }
    }
}

#[derive(Debug)]
struct HttpState {
    server: Arc<Server>,
    config: HttpConfig,
    sessions: Mutex<HashMap<String, Tracked>>,
    /// Numbers SSE streams server-wide, so an event id names one stream of one session.
    next_stream: AtomicU64,
    replay_limits: replay::Limits,
    replay_budget: Arc<replay::Budget>,
    /// Tripped when the server stops: GET streams end and no new one opens.
    stopping: CancellationToken,
    /// The tools' arguments mirrored into `Mcp-Param-*` headers, found on first use.
    /// The `Mcp-Param-*` headers of the tools last seen, remade when the tools change.
    param_headers: Mutex<Option<(Arc<crate::server::Tools>, Arc<param_headers::ParamHeaders>)>>,
    /// The requests of MCP 2026-07-28 being served.
    stateless: stateless::InFlight,
    /// The streams open per client.
    streams: limits::Streams,
}

/// A session, how recently it was used, and its streams' replay log.
#[derive(Debug, Clone)]
struct Tracked {
    session: Arc<Session>,
    /// Who its per-client limit counts it for ([`limits::client_key`]).
    client: Option<String>,
    activity: Arc<Activity>,
    replay: Arc<Replay>,
}

#[derive(Debug)]
struct Activity {
    /// Requests being answered and streams open right now.
    busy: AtomicUsize,
    /// When the last of them ended.
    idle_since: Mutex<Instant>,
}

impl Tracked {
    fn new(
        session: Arc<Session>,
        client: Option<String>,
        limits: replay::Limits,
        budget: Arc<replay::Budget>,
    ) -> Self {
        Self {
            session,
            client,
            activity: Arc::new(Activity {
                busy: AtomicUsize::new(0),
                idle_since: Mutex::new(Instant::now()),
            }),
            replay: Replay::new(limits, budget),
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
    fn param_headers(&self) -> Arc<param_headers::ParamHeaders> {
        let tools = self.server.tools();
        let mut cached = self
            .param_headers
            .lock()
            .expect("param headers mutex poisoned");
        match cached.as_ref() {
            Some((seen, headers)) if Arc::ptr_eq(seen, &tools) => headers.clone(),
            _ => {
                let headers = Arc::new(param_headers::ParamHeaders::of(&tools.definitions()));
                *cached = Some((tools, headers.clone()));
                headers
            }
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.sessions.lock().expect("session table mutex poisoned")
    }

    /// Opens an SSE stream of `tracked`'s session fed by `rx`, ending after the response to
    /// `until` (a POST's) or when its senders go (the GET stream), and answers with it.
    fn open_stream(
        &self,
        tracked: &Tracked,
        rx: Outbound,
        until: Option<RequestId>,
        busy: (Busy, limits::StreamSlot),
    ) -> Response {
        let number = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let session = &tracked.session;
        let prime = replay::primes(session.peer_info().protocol_version.as_deref());
        tracked
            .replay
            .open(number, rx, until, session.closed().clone(), prime)
            .into_response((busy, self.server.counters().stream()))
    }

    /// Ends the standing (GET) streams of every session, resumed ones included. Only POST
    /// exchanges end with an answer; a graceful shutdown waits for every open response, so
    /// a GET stream left open would hold it for the whole grace period.
    fn end_standing_streams(&self) {
        let sessions: Vec<Tracked> = self.sessions().values().cloned().collect();
        for t in sessions {
            t.session.set_standing(None);
            t.replay.end_standing();
        }
        tracing::debug!("standing SSE streams ended for shutdown");
    }

    /// The refusal of a new session: 503 when the server holds its most sessions, 429 when
    /// `client` holds its own most; `Retry-After` says when the soonest idle one of those
    /// will have timed out.
    fn session_cap(
        &self,
        sessions: &HashMap<String, Tracked>,
        id: &RequestId,
        client: Option<&str>,
    ) -> Option<Response> {
        let timeout = self.config.session_idle_timeout;
        let soonest = |of_client: bool| {
            sessions
                .values()
                .filter(|t| !of_client || t.client.as_deref() == client)
                .filter(|t| t.activity.busy.load(Ordering::Acquire) == 0)
                .map(|t| {
                    let idle = t
                        .activity
                        .idle_since
                        .lock()
                        .expect("activity mutex poisoned");
                    timeout.saturating_sub(idle.elapsed())
                })
                .min()
                .unwrap_or(timeout)
        };
        let open = sessions.len();
        let max = self.config.max_sessions;
        if open >= max {
            return Some(limits::refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id.clone()),
                "max-sessions",
                max,
                soonest(false),
                format!(
                    "this server has {open} open sessions, the most it allows; end unused ones \
                     with DELETE, or retry once idle ones time out"
                ),
            ));
        }
        let client = client?;
        let max = self.config.max_sessions_per_client;
        let held = sessions
            .values()
            .filter(|t| t.client.as_deref() == Some(client))
            .count();
        (held >= max).then(|| {
            limits::refuse(
                StatusCode::TOO_MANY_REQUESTS,
                Some(id.clone()),
                "max-sessions-per-client",
                max,
                soonest(true),
                format!(
                    "this client ({client}) has {held} open sessions, the most one client may \
                     hold; end unused ones with DELETE, or retry once idle ones time out"
                ),
            )
        })
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
            self.server.engine().unbind_client(t.session.id());
            tracing::debug!(
                session = t.session.id(),
                "HTTP session ended after being idle"
            );
            t.session.close();
            t.replay.clear();
        }
    }
}

/// The axum router serving `server` at `config.path`. Its GET streams never end by
/// themselves; to shut it down gracefully, use [`router_until`].
pub fn router(server: Arc<Server>, config: HttpConfig) -> Router {
    let limits = replay_limits(&config);
    router_with(server, config, limits, None)
}

/// The axum router serving `server` at `config.path`, ready to stop gracefully when
/// `stopping` trips, and the future to give [`serve`] as its shutdown signal.
///
/// Once `stopping` trips, new requests (and GET streams) are refused with 503 and the GET
/// streams end, while the answers and notifications that open exchanges wait for are still
/// taken: a call waiting for the user's answer can still get it. The future completes when no
/// exchange is open any more; only then does [`serve`] close the listener. Bound the wait from
/// outside (a `tasks/result` lasts as long as its task).
///
/// # Panics
///
/// Outside a tokio runtime (it spawns the task that waits for `stopping`).
pub fn router_until(
    server: Arc<Server>,
    config: HttpConfig,
    stopping: CancellationToken,
) -> (
    Router,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let limits = replay_limits(&config);
    let exchanges = drain::Exchanges::new();
    let router = router_with(server, config, limits, Some(stopping.clone())).layer(
        axum::middleware::from_fn_with_state(exchanges.clone(), drain::count),
    );
    let drained = async move {
        stopping.cancelled().await;
        exchanges.idle().await;
    };
    (router, drained)
}

fn replay_limits(config: &HttpConfig) -> replay::Limits {
    replay::Limits {
        stream_bytes: config.replay_stream_bytes,
        unsent_bytes: config.max_unsent_bytes,
        ..replay::Limits::default()
    }
}

fn router_with(
    server: Arc<Server>,
    config: HttpConfig,
    replay_limits: replay::Limits,
    stopping: Option<CancellationToken>,
) -> Router {
    let limit = config.max_body_bytes;
    let in_flight = config.max_body_bytes_in_flight;
    let path = config.path.clone();
    let config_replay_cap = config.max_replay_bytes;
    let state = Arc::new(HttpState {
        server,
        config,
        sessions: Mutex::new(HashMap::new()),
        next_stream: AtomicU64::new(1),
        replay_limits,
        replay_budget: replay::Budget::new(config_replay_cap),
        stopping: stopping.clone().unwrap_or_default(),
        param_headers: Mutex::new(None),
        stateless: stateless::InFlight::default(),
        streams: limits::Streams::default(),
    });
    if let Some(stopping) = stopping {
        let watched = Arc::downgrade(&state);
        tokio::spawn(async move {
            stopping.cancelled().await;
            if let Some(state) = watched.upgrade() {
                state.end_standing_streams();
            }
        });
    }
    let mut router = Router::new().route(&path, get(get_stream).post(post).delete(delete));
    // RFC 9728: the metadata is public, so it is served before any credentials are asked for.
    if let Some(oauth) = state.config.auth.as_ref().and_then(Authenticator::oauth) {
        for at in oauth.metadata_paths(&path) {
            let document = axum::Json(oauth.metadata().clone());
            router = router.route(&at, get(move || async move { document }));
        }
    }
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            limits::BodyLimits::new(limit, in_flight),
            limits::read_body,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` with `TCP_NODELAY` and the default [`ConnectionLimits`]
/// until `shutdown` completes; [`serve_with`] takes other limits.
///
/// # Errors
///
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ConnectionLimits::default()).await
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

/// A request refused before any JSON-RPC handling.
#[derive(Debug)]
enum Reject {
    /// An HTTP status and the reason.
    Status(StatusCode, String),
    /// Missing or refused credentials: 401 (403 for a missing scope) with a
    /// `WWW-Authenticate` challenge.
    Unauthorized(Refusal),
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Self::Status(status, why) => bad_request(status, why),
            Self::Unauthorized(refusal) => refusal.into_response(),
        }
    }
}

/// The checks common to every method and both eras: origin and credentials. Gives the
/// request's owner: the subject of its bearer token, or `None` without authentication.
async fn precheck(state: &HttpState, headers: &HeaderMap) -> Result<Option<Owner>, Reject> {
    state
        .config
        .origins
        .check(headers)
        .map_err(|why| Reject::Status(StatusCode::FORBIDDEN, why))?;
    match &state.config.auth {
        Some(auth) => Ok(Some(
            auth.authenticate(headers)
                .await
                .map_err(Reject::Unauthorized)?,
        )),
        None => Ok(None),
    }
}

/// The protocol version check of a 2025-11-25 session's requests: `MCP-Protocol-Version`, when
/// sent, must be a version a session speaks. (A request of the stateless era checks its header
/// against its `_meta` instead, in [`stateless`].)
fn session_version(headers: &HeaderMap) -> Result<(), Reject> {
    if let Some(v) = headers.get(PROTOCOL_VERSION_HEADER) {
        let ok = v
            .to_str()
            .is_ok_and(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v));
        if !ok {
            return Err(Reject::Status(
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

/// GET and DELETE belong to 2025-11-25 sessions; the stateless era has neither (its one
/// long-lived stream is `subscriptions/listen`), so a client of that era gets 405 (MCP
/// 2026-07-28, "Streamable HTTP", Backward Compatibility).
fn not_in_stateless_era(headers: &HeaderMap) -> Option<Response> {
    if headers.contains_key(SESSION_HEADER) || !stateless::announces_stateless(headers) {
        return None;
    }
    let mut response = bad_request(
        StatusCode::METHOD_NOT_ALLOWED,
        "protocol 2026-07-28 has no GET stream and no session to DELETE: POST each request, \
         and subscriptions/listen for notifications",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    Some(response)
}

/// The session the request names, if it exists and belongs to `owner`: another owner's
/// session is answered like an unknown one (T-SEC-1).
fn session_of(
    state: &HttpState,
    headers: &HeaderMap,
    owner: Option<&Owner>,
) -> Result<(Tracked, Busy), Reject> {
    let Some(raw) = headers.get(SESSION_HEADER) else {
        return Err(Reject::Status(
            StatusCode::BAD_REQUEST,
            "missing Mcp-Session-Id header; send initialize first and echo the id it returns"
                .into(),
        ));
    };
    let id = raw.to_str().unwrap_or_default();
    let gone = || {
        Reject::Status(
            StatusCode::NOT_FOUND,
            "unknown or ended session; send initialize again to start a new one".into(),
        )
    };
    let tracked = state.sessions().get(id).cloned().ok_or_else(gone)?;
    if tracked.session.requestor().owner.as_ref() != owner {
        return Err(gone());
    }
    if tracked.idle_for(state.config.session_idle_timeout) {
        state.reap();
        return Err(gone());
    }
    let busy = tracked.busy();
    Ok((tracked, busy))
}

async fn post(
    State(state): State<Arc<HttpState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let owner = match precheck(&state, &headers).await {
        Ok(owner) => owner,
        Err(refused) => return refused.into_response(),
    };
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
    if let (Message::Request(request), true) = (&message, state.stopping.is_cancelled()) {
        // The answers and notifications below still count: exchanges in flight wait on them.
        return rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(request.id.clone()),
            ErrorObject::internal(
                "the server is shutting down and takes no new requests; send it to another \
                 instance, or again once this one is back",
            ),
        );
    }
    let no_session = !headers.contains_key(SESSION_HEADER);
    if let Message::Request(request) = &message {
        // The era is each request's own (B-8): its `_meta` says, else its headers.
        match era::of(request) {
            // A missing version header is told before a malformed `_meta` (the spec digest's
            // order, the conformance suite's).
            Err(_) if !headers.contains_key(PROTOCOL_VERSION_HEADER) => {
                return stateless::refuse(request.id.clone(), stateless::missing_version_header())
            }
            Err(error) => return stateless::refuse(request.id.clone(), error),
            Ok(Era::Stateless(meta)) => {
                let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
                return stateless::serve(&state, &headers, owner, peer, request.clone(), *meta)
                    .await;
            }
            Ok(Era::Session)
                if no_session
                    && request.method != method::INITIALIZE
                    && stateless::announces_stateless(&headers) =>
            {
                return stateless::refuse(request.id.clone(), era::missing_meta(&request.method));
            }
            Ok(Era::Session) => {}
        }
    } else if no_session && stateless::announces_stateless(&headers) {
        // The stateless era defines no client notifications over HTTP and no client answers.
        return match message {
            Message::Notification(_) => StatusCode::ACCEPTED.into_response(),
            _ => bad_request(
                StatusCode::BAD_REQUEST,
                "protocol 2026-07-28 has no server requests to answer over HTTP",
            ),
        };
    }
    if let Err(refused) = session_version(&headers) {
        return refused.into_response();
    }
    if let Message::Request(request) = &message {
        if request.method == method::INITIALIZE {
            let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
            return initialize(&state, request.clone(), owner, peer).await;
        }
    }
    let (tracked, busy) = match session_of(&state, &headers, owner.as_ref()) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let session = &tracked.session;
    match message {
        Message::Request(request) => {
            // No Accept header states no preference: the method decides. A client that takes
            // only SSE gets every answer as SSE; one that takes only JSON, every answer as JSON.
            let json_ok = accepts(&headers, "application/json");
            let stream =
                accepts(&headers, "text/event-stream") && (wants_stream(&request) || !json_ok);
            answer(&state, &tracked, request, stream, json_ok, busy).await
        }
        Message::Notification(n) => {
            state.server.handle_notification(session, n);
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response(r) => {
            state.server.handle_response(session, r);
            StatusCode::ACCEPTED.into_response()
        }
    }
}

async fn initialize(
    state: &Arc<HttpState>,
    request: Request,
    owner: Option<Owner>,
    peer: Option<std::net::IpAddr>,
) -> Response {
    state.reap();
    let client = limits::client_key(owner.as_ref(), peer);
    let session = Arc::new(Session::with_owner(uuid::Uuid::new_v4().to_string(), owner));
    let tracked = Tracked::new(
        session.clone(),
        client.clone(),
        state.replay_limits,
        state.replay_budget.clone(),
    );
    // The session takes its place among the counted ones in the same step as the check, and
    // before the handshake is answered: concurrent initializes of one client would otherwise
    // all pass the check and together exceed the caps. Until the handshake succeeds it is a
    // reservation, busy (never reaped), and removed if the handshake fails or is dropped.
    let reserved = {
        let mut sessions = state.sessions();
        if let Some(refused) = state.session_cap(&sessions, &request.id, client.as_deref()) {
            return refused;
        }
        let busy = tracked.busy();
        sessions.insert(session.id().to_owned(), tracked);
        Reservation {
            state,
            id: Some(session.id().to_owned()),
            _busy: busy,
        }
    };
    let (tx, _rx) = Sink::channel(DEFAULT_QUEUE);
    let response = state.server.handle_request(&session, request, &tx).await;
    if response.outcome.is_err() {
        return json_response(&Message::Response(response), None);
    }
    state.server.start_session(&session);
    if let (None, Some(client)) = (&session.requestor().owner, &client) {
        // The sessions of one address share its allowance of tasks and results.
        state.server.engine().bind_client(session.id(), client);
    }
    reserved.keep();
    tracing::debug!(session = session.id(), "HTTP session started");
    json_response(&Message::Response(response), Some(session.id()))
}

/// A new session's place in the session table while its handshake is answered: removed on
/// drop unless kept, so a handshake that fails, or whose request goes away, holds no place.
struct Reservation<'a> {
    state: &'a HttpState,
    id: Option<String>,
    _busy: Busy,
}

impl Reservation<'_> {
    /// The handshake succeeded: the session stays.
    fn keep(mut self) {
        self.id = None;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.state.sessions().remove(&id);
        }
    }
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

/// Answers a request: as an SSE stream when `stream` (see [`post`]), else as JSON. A stream's
/// answer that comes first and soon goes back as JSON too when `json_ok`.
async fn answer(
    state: &Arc<HttpState>,
    tracked: &Tracked,
    request: Request,
    stream: bool,
    json_ok: bool,
    busy: Busy,
) -> Response {
    let session = &tracked.session;
    let (tx, rx) = Sink::channel(DEFAULT_QUEUE);
    if !stream {
        let mut rx = rx;
        let response = {
            let handling = crate::server::tasks::result::answered_as_json(
                state.server.handle_request(session, request, &tx),
            );
            tokio::pin!(handling);
            // Anything sent beside the answer goes to the standing stream as it comes: the
            // handler may be waiting on the answer to a question it sent.
            loop {
                tokio::select! {
                    biased;
                    response = &mut handling => break response,
                    Some(m) = rx.recv() => forward_beside(session, m),
                }
            }
        };
        drop(tx);
        // A sink the handler handed on may still send; its messages go on being forwarded.
        // Most requests hand none on, and pay for no task.
        if !rx.is_finished() {
            let forward = session.clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    forward_beside(&forward, m);
                }
            });
        }
        return json_response(&Message::Response(response), None);
    }
    let id = request.id.clone();
    let max = state.config.max_streams_per_client;
    let Some(slot) = state.streams.admit(tracked.client.as_deref(), max) else {
        return limits::Streams::refusal(Some(id), max);
    };
    // The handler runs on its own, not tied to the connection: a client that drops the
    // connection may resume the stream and still get the answer.
    let (server, handler_session) = (state.server.clone(), session.clone());
    tokio::spawn(async move {
        let response = server.handle_request(&handler_session, request, &tx).await;
        let _ = tx.send(response.into());
    });
    // An answer that comes first and soon is sent as plain JSON: most calls ask nothing and
    // stream nothing, and a stream (priming event, replay log, stream bookkeeping) would cost
    // them more than the call. Anything else first, or nothing soon, opens the stream, which
    // then starts with what was read.
    let mut rx = rx;
    if !json_ok {
        return state.open_stream(tracked, rx, Some(id), (busy, slot));
    }
    match tokio::time::timeout(JSON_WINDOW, rx.recv()).await {
        Ok(Some(Message::Response(response))) if response.id.as_ref() == Some(&id) => {
            return json_response(&Message::Response(response), None);
        }
        Ok(Some(first)) => rx.put_back(first),
        Ok(None) | Err(_) => {}
    }
    state.open_stream(tracked, rx, Some(id), (busy, slot))
}

/// Sends a message that goes beside a JSON answer to the session's standing stream. A request
/// that cannot go there is answered here with an error, or its sender would wait for ever.
fn forward_beside(session: &Arc<Session>, message: Message) {
    let asked = match &message {
        Message::Request(r) => Some((r.id.clone(), r.method.clone())),
        _ => None,
    };
    if !session.send_standing(message) {
        if let Some((id, method)) = asked {
            session.complete(mcp_tasks_wire::jsonrpc::Response::error(
                Some(id),
                ErrorObject::internal(format!(
                    "{method} cannot reach the client: its request is answered as JSON and \
                     it has no GET stream open"
                )),
            ));
        }
    }
}

/// How long an exchange that may stream waits for its answer before it opens an SSE stream;
/// an answer within it goes back as `application/json`. Short enough that a slow call's stream
/// (and its priming event, which makes it resumable) starts at once as far as a person can tell.
const JSON_WINDOW: Duration = Duration::from_millis(50);

async fn get_stream(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    let owner = match precheck(&state, &headers).await {
        Ok(owner) => owner,
        Err(refused) => return refused.into_response(),
    };
    if let Some(refused) = not_in_stateless_era(&headers) {
        return refused;
    }
    if let Err(refused) = session_version(&headers) {
        return refused.into_response();
    }
    // The spec has GET list `text/event-stream`; a client that sends no Accept at all has not.
    let wants_sse = headers.contains_key(header::ACCEPT) && accepts(&headers, "text/event-stream");
    if !wants_sse {
        return bad_request(
            StatusCode::NOT_ACCEPTABLE,
            "GET opens the server's SSE stream; send Accept: text/event-stream",
        );
    }
    let (tracked, busy) = match session_of(&state, &headers, owner.as_ref()) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if state.stopping.is_cancelled() {
        return bad_request(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down; reconnect once it is back, or to another instance",
        );
    }
    let max = state.config.max_streams_per_client;
    let Some(slot) = state.streams.admit(tracked.client.as_deref(), max) else {
        return limits::Streams::refusal(None, max);
    };
    let response = if let Some(last) = headers.get(LAST_EVENT_ID_HEADER) {
        resume(
            &tracked,
            last,
            (busy, state.server.counters().stream(), slot),
        )
    } else {
        let (tx, rx) = Sink::channel(DEFAULT_QUEUE);
        tracked.session.set_standing(Some(tx));
        crate::server::tasks::result::standing_opened();
        state.open_stream(&tracked, rx, None, (busy, slot))
    };
    // A shutdown that began while this stream opened has ended the others already; this one
    // must not hold the server open for the whole grace period either.
    if state.stopping.is_cancelled() {
        tracked.session.set_standing(None);
        tracked.replay.end_standing();
    }
    response
}

/// `GET` with `Last-Event-ID`: the rest of the stream that id belongs to, or why not.
fn resume(tracked: &Tracked, last: &HeaderValue, busy: impl Send + 'static) -> Response {
    let text = String::from_utf8_lossy(last.as_bytes());
    let Ok(after) = text.parse::<EventId>() else {
        return bad_request(
            StatusCode::BAD_REQUEST,
            format!(
                "Last-Event-ID {text:?} is not an event id of this server (they look like \
                 `12-3`); send the id of the last event received on the stream to resume, or \
                 GET without Last-Event-ID for a new stream"
            ),
        );
    };
    let again = "send the request again (tasks/result may be asked any number of times), or GET \
                 without Last-Event-ID for a new stream";
    match tracked.replay.resume(after) {
        Ok(connection) => {
            tracing::debug!(session = tracked.session.id(), %after, "SSE stream resumed");
            connection.into_response(busy)
        }
        Err(Unresumable::NotSent(id)) => bad_request(
            StatusCode::BAD_REQUEST,
            format!(
                "Last-Event-ID {id} names an event its stream never sent; send the id of the \
                 last event received"
            ),
        ),
        Err(Unresumable::UnknownStream(id)) => bad_request(
            StatusCode::GONE,
            format!(
                "this session has no stream {} to resume from event {id}: a stream is \
                 forgotten {}s after its connection drops or it ends, and ids of other \
                 sessions name nothing here; {again}",
                id.stream,
                RESUME_WINDOW.as_secs()
            ),
        ),
        Err(Unresumable::Evicted(id)) => bad_request(
            StatusCode::GONE,
            format!(
                "the events after {id} are no longer kept (a session keeps its last \
                 {MAX_REPLAY_EVENTS} events and {} MiB), so stream {} cannot be resumed \
                 without a gap; {again}",
                MAX_REPLAY_BYTES / (1024 * 1024),
                id.stream
            ),
        ),
    }
}

async fn delete(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    let owner = match precheck(&state, &headers).await {
        Ok(owner) => owner,
        Err(refused) => return refused.into_response(),
    };
    if let Some(refused) = not_in_stateless_era(&headers) {
        return refused;
    }
    if let Err(refused) = session_version(&headers) {
        return refused.into_response();
    }
    let (tracked, _busy) = match session_of(&state, &headers, owner.as_ref()) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let session = tracked.session;
    state.sessions().remove(session.id());
    state.server.engine().unbind_client(session.id());
    session.close();
    tracked.replay.clear();
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
        app_with(
            config,
            crate::server::Tools::new(),
            replay::Limits::default(),
        )
    }

    fn app_with(config: HttpConfig, tools: crate::server::Tools, limits: replay::Limits) -> Router {
        let engine = mcp_tasks_engine::Engine::new(
            Arc::new(mcp_tasks_engine::MemoryStore::new()),
            mcp_tasks_engine::EngineConfig::default(),
        );
        let server = Server::new(
            engine,
            tools,
            mcp_tasks_wire::v2025_11_25::Implementation::new("t", "0"),
        );
        router_with(server, config, limits, None)
    }

    /// The app with [`wait_tools`].
    fn app_with_wait() -> Router {
        app_with(
            HttpConfig::default(),
            wait_tools(),
            replay::Limits::default(),
        )
    }

    /// A `wait` tool: sleeps `ms`, then answers "done". May run as a task.
    fn wait_tools() -> crate::server::Tools {
        #[derive(serde::Deserialize)]
        struct Wait {
            ms: u64,
        }
        let tool = serde_json::from_value(json!({
            "name": "wait",
            "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}},
            "execution": {"taskSupport": "optional"}
        }))
        .unwrap();
        crate::server::Tools::new().add(tool, |a: Wait, _cx| async move {
            tokio::time::sleep(Duration::from_millis(a.ms)).await;
            Ok(mcp_tasks_wire::v2025_11_25::CallToolResult::text("done"))
        })
    }

    async fn start(app: &Router, version: &str) -> String {
        let mut init = init();
        init["params"]["protocolVersion"] = json!(version);
        let r = post_json(app, None, init).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.headers()[SESSION_HEADER].to_str().unwrap().to_owned()
    }

    async fn get_sse(app: &Router, session: &str, last_event_id: Option<&str>) -> Response {
        use tower::ServiceExt;
        let mut req = axum::http::Request::get("/mcp")
            .header(header::ACCEPT, "text/event-stream")
            .header(SESSION_HEADER, session);
        if let Some(id) = last_event_id {
            req = req.header(LAST_EVENT_ID_HEADER, id);
        }
        let req = req.body(axum::body::Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap()
    }

    /// An SSE response's frames, one at a time.
    struct Frames(axum::body::BodyDataStream);

    impl Frames {
        fn of(response: Response) -> Self {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/event-stream"
            );
            Self(response.into_body().into_data_stream())
        }

        /// The next frame as (id, data); None when the stream ends.
        async fn next(&mut self) -> Option<(String, String)> {
            use futures::StreamExt;
            loop {
                let frame = tokio::time::timeout(Duration::from_secs(5), self.0.next())
                    .await
                    .expect("an SSE frame within 5s")?
                    .unwrap();
                let text = String::from_utf8(frame.to_vec()).unwrap();
                if text.starts_with(':') {
                    continue; // keep-alive
                }
                let field = |name: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                        .unwrap_or_default()
                };
                return Some((field("id:"), field("data:")));
            }
        }

        /// Frames up to and including the first whose data satisfies `pred`.
        async fn until(
            &mut self,
            pred: impl Fn(&serde_json::Value) -> bool,
        ) -> Vec<(String, String)> {
            let mut seen = Vec::new();
            while let Some((id, data)) = self.next().await {
                let hit = serde_json::from_str(&data).is_ok_and(|v| pred(&v));
                seen.push((id, data));
                if hit {
                    return seen;
                }
            }
            panic!("the stream ended before the awaited event; got {seen:?}");
        }
    }

    fn call_wait(id: i64, ms: u64) -> serde_json::Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "wait", "arguments": {"ms": ms}}})
    }

    async fn error_text(response: Response) -> String {
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8_lossy(&body).into_owned()
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

    /// T-SEC-3: initializes racing on every worker thread cannot together pass the session
    /// caps: the check and the new session's place in the table are one step. Each round
    /// starts 64 at once on a server that allows 2 sessions, 1 per client.
    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn concurrent_initializes_stay_within_the_session_caps() {
        use tower::ServiceExt;
        for round in 0..300 {
            let app = app(HttpConfig {
                max_sessions: 2,
                max_sessions_per_client: 1,
                ..HttpConfig::default()
            });
            let start = Arc::new(tokio::sync::Barrier::new(64));
            let calls: Vec<_> = (0..64u8)
                .map(|n| {
                    let (app, start) = (app.clone(), start.clone());
                    tokio::spawn(async move {
                        let peer = SocketAddr::from(([10, 0, 0, n % 2], 1000));
                        let mut req = axum::http::Request::post("/mcp")
                            .header(header::CONTENT_TYPE, "application/json")
                            .header(header::ACCEPT, "application/json, text/event-stream")
                            .body(axum::body::Body::from(init().to_string()))
                            .unwrap();
                        req.extensions_mut().insert(ConnectInfo(peer));
                        start.wait().await;
                        (peer.ip(), app.oneshot(req).await.unwrap().status())
                    })
                })
                .collect();
            let mut opened = HashMap::new();
            for call in calls {
                let (ip, status) = call.await.unwrap();
                if status == StatusCode::OK {
                    *opened.entry(ip).or_insert(0) += 1;
                } else {
                    assert!(
                        [
                            StatusCode::TOO_MANY_REQUESTS,
                            StatusCode::SERVICE_UNAVAILABLE
                        ]
                        .contains(&status),
                        "{status}"
                    );
                }
            }
            assert!(
                opened.values().all(|n| *n == 1) && opened.len() == 2,
                "round {round}: sessions opened per client: {opened:?}"
            );
        }
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

    /// A POST stream opens with a priming event (id, empty data); dropping the connection
    /// does not stop the call, and `GET` with `Last-Event-ID` delivers its answer
    /// (2025-11-25 Transports, "Resumability and Redelivery").
    #[tokio::test]
    async fn a_dropped_post_stream_is_resumed_with_its_answer() {
        let app = app_with_wait();
        let session = start(&app, "2025-11-25").await;
        let mut frames = Frames::of(post_json(&app, Some(&session), call_wait(7, 200)).await);
        let (priming, data) = frames.next().await.unwrap();
        assert!(
            data.is_empty(),
            "the priming event has empty data: {data:?}"
        );
        let stream = priming
            .strip_suffix("-0")
            .expect("the priming id is `<stream>-0`");
        drop(frames);

        let mut resumed = Frames::of(get_sse(&app, &session, Some(&priming)).await);
        let seen = resumed.until(|m| m["id"] == 7).await;
        let (id, answer) = seen.last().unwrap();
        assert_eq!(id, &format!("{stream}-1"), "ids count on within the stream");
        assert!(answer.contains("done"), "{answer}");
        assert!(
            resumed.next().await.is_none(),
            "the stream ends after the answer"
        );

        // The answer stays resumable for a client that lost it in transit.
        let mut again = Frames::of(get_sse(&app, &session, Some(&priming)).await);
        assert_eq!(again.until(|m| m["id"] == 7).await.len(), 1);
    }

    /// The GET stream keeps what it missed while the client was away: a status notification
    /// sent after the drop comes on the resumed stream.
    #[tokio::test]
    async fn a_dropped_get_stream_keeps_what_it_missed() {
        let app = app_with_wait();
        let session = start(&app, "2025-11-25").await;
        let mut standing = Frames::of(get_sse(&app, &session, None).await);
        let (priming, _) = standing.next().await.unwrap();
        drop(standing);

        let mut create = call_wait(2, 20);
        create["params"]["task"] = json!({});
        let created = post_json(&app, Some(&session), create).await;
        assert_eq!(created.status(), StatusCode::OK);

        let mut resumed = Frames::of(get_sse(&app, &session, Some(&priming)).await);
        let seen = resumed
            .until(|m| {
                m["method"] == "notifications/tasks/status" && m["params"]["status"] == "completed"
            })
            .await;
        assert!(
            seen.iter().all(|(id, _)| !id.is_empty()),
            "every event has an id"
        );
    }

    /// Ids that cannot be resumed are refused with what to do, never answered with another
    /// stream: junk and never-sent events 400, another session's stream 410 (never its
    /// events); a Last-Event-ID on POST is ignored.
    #[tokio::test]
    async fn unresumable_ids_are_refused() {
        let app = app_with_wait();
        let a = start(&app, "2025-11-25").await;
        let b = start(&app, "2025-11-25").await;
        let mut frames = Frames::of(post_json(&app, Some(&a), call_wait(1, 200)).await);
        let (a_id, _) = frames.next().await.unwrap();
        frames.until(|m| m["id"] == 1).await;

        let junk = get_sse(&app, &a, Some("yesterday")).await;
        assert_eq!(junk.status(), StatusCode::BAD_REQUEST);
        assert!(error_text(junk).await.contains("not an event id"));

        let stream = a_id.strip_suffix("-0").unwrap();
        let future = get_sse(&app, &a, Some(&format!("{stream}-99"))).await;
        assert_eq!(future.status(), StatusCode::BAD_REQUEST);
        assert!(error_text(future).await.contains("never sent"));

        let foreign = get_sse(&app, &b, Some(&a_id)).await;
        assert_eq!(foreign.status(), StatusCode::GONE);
        let text = error_text(foreign).await;
        assert!(
            text.contains("no stream") && !text.contains("done"),
            "{text}"
        );

        use tower::ServiceExt;
        let post = axum::http::Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(SESSION_HEADER, &a)
            .header(LAST_EVENT_ID_HEADER, &a_id)
            .body(axum::body::Body::from(
                json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string(),
            ))
            .unwrap();
        let listed = app.clone().oneshot(post).await.unwrap();
        assert_eq!(listed.status(), StatusCode::OK);
        assert!(error_text(listed).await.contains("\"wait\""));
    }

    /// A client whose Accept allows only `application/json` gets a plain `tools/call` and a
    /// `tasks/result` answered as JSON, never an SSE stream it said it cannot read; a client
    /// that takes both still gets the stream (2025-11-25 Transports, "Sending Messages").
    #[tokio::test]
    async fn json_only_clients_get_json_answers() {
        use tower::ServiceExt;
        let app = app_with_wait();
        let session = start(&app, "2025-11-25").await;
        let json_only = |body: serde_json::Value| {
            axum::http::Request::post("/mcp")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .header(SESSION_HEADER, &session)
                .body(axum::body::Body::from(body.to_string()))
                .unwrap()
        };
        let plain = app
            .clone()
            .oneshot(json_only(call_wait(4, 0)))
            .await
            .unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()[header::CONTENT_TYPE], "application/json");
        let answer = json_body(plain).await;
        assert_eq!(answer["id"], 4, "{answer}");
        assert_eq!(answer["result"]["content"][0]["text"], "done", "{answer}");

        let mut create = call_wait(5, 0);
        create["params"]["task"] = json!({});
        let created = json_body(app.clone().oneshot(json_only(create)).await.unwrap()).await;
        let task = created["result"]["task"]["taskId"].clone();
        let result = json!({"jsonrpc": "2.0", "id": 6, "method": "tasks/result",
                            "params": {"taskId": task}});
        let fetched = app.clone().oneshot(json_only(result)).await.unwrap();
        assert_eq!(fetched.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            json_body(fetched).await["result"]["content"][0]["text"],
            "done"
        );

        // A client that takes both gets a quick answer as JSON, and a slow one (longer than
        // JSON_WINDOW) as a stream, which a question could ride on.
        let quick = post_json(&app, Some(&session), call_wait(7, 0)).await;
        assert_eq!(quick.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(json_body(quick).await["id"], 7);
        let slow = post_json(&app, Some(&session), call_wait(9, 200)).await;
        assert_eq!(slow.headers()[header::CONTENT_TYPE], "text/event-stream");

        // A client that takes only SSE gets even a ping as SSE, never a JSON body it refused.
        let sse_only = axum::http::Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "text/event-stream")
            .header(SESSION_HEADER, &session)
            .body(axum::body::Body::from(
                json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}).to_string(),
            ))
            .unwrap();
        let pong = app.clone().oneshot(sse_only).await.unwrap();
        assert_eq!(pong.status(), StatusCode::OK);
        assert_eq!(pong.headers()[header::CONTENT_TYPE], "text/event-stream");
    }

    /// Sessions on an older protocol get ids but no priming event, whose empty data older
    /// clients may fail to parse.
    #[tokio::test]
    async fn older_sessions_get_no_priming_event() {
        let app = app_with_wait();
        let session = start(&app, "2025-06-18").await;
        // Longer than JSON_WINDOW, so the answer streams.
        let mut frames = Frames::of(post_json(&app, Some(&session), call_wait(3, 200)).await);
        let (id, data) = frames.next().await.unwrap();
        assert!(id.ends_with("-1"), "{id}");
        assert!(data.contains("done"), "{data}");
    }

    const ALICE: &str = "alice-token-0123456789";
    const ALICE_2: &str = "alice-laptop-0123456789";
    const BOB: &str = "bob-token-0123456789ab";

    /// The `wait` app with bearer auth: two tokens of alice, one of bob.
    fn app_with_auth() -> Router {
        let tokens =
            BearerTokens::parse(&format!("alice {ALICE}\nalice {ALICE_2}\nbob {BOB}\n")).unwrap();
        let config = HttpConfig {
            auth: Some(tokens.into()),
            ..HttpConfig::default()
        };
        app_with(config, wait_tools(), replay::Limits::default())
    }

    /// One request to the endpoint with an optional session and bearer token.
    async fn send(
        app: &Router,
        method: axum::http::Method,
        session: Option<&str>,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Response {
        use tower::ServiceExt;
        let accept = if method == axum::http::Method::GET {
            "text/event-stream"
        } else {
            "application/json, text/event-stream"
        };
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, accept);
        if let Some(s) = session {
            req = req.header(SESSION_HEADER, s);
        }
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = body.map_or_else(axum::body::Body::empty, |b| {
            axum::body::Body::from(b.to_string())
        });
        app.clone().oneshot(req.body(body).unwrap()).await.unwrap()
    }

    async fn start_as(app: &Router, token: &str) -> String {
        let r = send(
            app,
            axum::http::Method::POST,
            None,
            Some(token),
            Some(init()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.headers()[SESSION_HEADER].to_str().unwrap().to_owned()
    }

    async fn json_body(response: Response) -> serde_json::Value {
        serde_json::from_str(&error_text(response).await).unwrap()
    }

    /// Every method needs a known bearer token: 401 with `WWW-Authenticate: Bearer` (RFC 6750
    /// §3), `error="invalid_token"` when the token is unknown, and a JSON-RPC error body.
    #[tokio::test]
    async fn requests_without_a_known_token_get_401() {
        use axum::http::Method;
        let app = app_with_auth();
        let session = start_as(&app, ALICE).await;
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
        for (method, body) in [
            (Method::POST, Some(init())),
            (Method::POST, Some(list.clone())),
            (Method::GET, None),
            (Method::DELETE, None),
        ] {
            let missing = send(&app, method.clone(), Some(&session), None, body.clone()).await;
            assert_eq!(missing.status(), StatusCode::UNAUTHORIZED, "{method}");
            assert_eq!(missing.headers()[header::WWW_AUTHENTICATE], "Bearer");
            let error = json_body(missing).await;
            assert_eq!(error["error"]["code"], -32600, "{error}");
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("Authorization: Bearer"),
                "{error}"
            );

            let wrong = send(
                &app,
                method.clone(),
                Some(&session),
                Some("x".repeat(20).as_str()),
                body,
            )
            .await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{method}");
            assert_eq!(
                wrong.headers()[header::WWW_AUTHENTICATE],
                "Bearer error=\"invalid_token\""
            );
        }
        let ok = send(&app, Method::POST, Some(&session), Some(ALICE), Some(list)).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }

    /// T-SEC-1: a session belongs to its subject, not to one token: alice's other token works
    /// on it, bob's valid token gets the 404 of an unknown session on every method.
    #[tokio::test]
    async fn a_session_answers_only_its_subject() {
        use axum::http::Method;
        let app = app_with_auth();
        let session = start_as(&app, ALICE).await;
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
        let own = send(
            &app,
            Method::POST,
            Some(&session),
            Some(ALICE_2),
            Some(list.clone()),
        )
        .await;
        assert_eq!(own.status(), StatusCode::OK);

        let unknown = send(
            &app,
            Method::POST,
            Some("no-such-session"),
            Some(BOB),
            Some(list.clone()),
        )
        .await;
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        let unknown = error_text(unknown).await;
        for (method, body) in [
            (Method::POST, Some(list.clone())),
            (Method::GET, None),
            (Method::DELETE, None),
        ] {
            let foreign = send(&app, method.clone(), Some(&session), Some(BOB), body).await;
            assert_eq!(foreign.status(), StatusCode::NOT_FOUND, "{method}");
            assert_eq!(
                error_text(foreign).await,
                unknown,
                "{method}: no existence leak"
            );
        }
        let still = send(&app, Method::POST, Some(&session), Some(ALICE), Some(list)).await;
        assert_eq!(
            still.status(),
            StatusCode::OK,
            "bob's DELETE did not end it"
        );
    }

    /// T-SEC-1: a task belongs to the subject: another session of alice (with her other token)
    /// gets and lists it; bob's session gets the unknown-task -32602 and an empty list.
    #[tokio::test]
    async fn tasks_are_shared_by_the_sessions_of_one_subject() {
        use axum::http::Method;
        let app = app_with_auth();
        let first = start_as(&app, ALICE).await;
        let mut create = call_wait(2, 0);
        create["params"]["task"] = json!({});
        let created = send(&app, Method::POST, Some(&first), Some(ALICE), Some(create)).await;
        let task_id = json_body(created).await["result"]["task"]["taskId"]
            .as_str()
            .unwrap()
            .to_owned();

        let get = |id: &str| json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": {"taskId": id}});
        let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tasks/list"});
        let second = start_as(&app, ALICE_2).await;
        let got = send(
            &app,
            Method::POST,
            Some(&second),
            Some(ALICE_2),
            Some(get(&task_id)),
        )
        .await;
        assert_eq!(json_body(got).await["result"]["taskId"], task_id.as_str());
        let listed = send(
            &app,
            Method::POST,
            Some(&second),
            Some(ALICE_2),
            Some(list.clone()),
        )
        .await;
        assert_eq!(
            json_body(listed).await["result"]["tasks"][0]["taskId"],
            task_id.as_str()
        );

        let bob = start_as(&app, BOB).await;
        let foreign = json_body(
            send(
                &app,
                Method::POST,
                Some(&bob),
                Some(BOB),
                Some(get(&task_id)),
            )
            .await,
        )
        .await;
        let unknown = json_body(
            send(
                &app,
                Method::POST,
                Some(&bob),
                Some(BOB),
                Some(get("no-such-task")),
            )
            .await,
        )
        .await;
        assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
        assert_eq!(
            foreign["error"]["message"]
                .as_str()
                .unwrap()
                .replace(&task_id, "ID"),
            unknown["error"]["message"]
                .as_str()
                .unwrap()
                .replace("no-such-task", "ID"),
            "another subject's task reads exactly like an unknown one"
        );
        let listed =
            json_body(send(&app, Method::POST, Some(&bob), Some(BOB), Some(list)).await).await;
        assert_eq!(listed["result"]["tasks"], json!([]), "{listed}");
    }

    /// GET reads `Accept` like POST does: `*/*` and `text/*` open the stream, `q=0` refuses
    /// it, case does not matter, and a GET without Accept is still told what to send.
    #[tokio::test]
    async fn get_parses_accept_as_media_ranges() {
        use tower::ServiceExt;
        let app = app_with_wait();
        let session = start(&app, "2025-11-25").await;
        let get = |accept: Option<&str>| {
            let mut req = axum::http::Request::get("/mcp").header(SESSION_HEADER, &session);
            if let Some(accept) = accept {
                req = req.header(header::ACCEPT, accept);
            }
            app.clone()
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
        };
        for accept in [
            "*/*",
            "text/*",
            "TEXT/EVENT-STREAM",
            "application/json, text/*;q=0.5",
        ] {
            let r = get(Some(accept)).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{accept}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
        }
        for accept in [
            Some("text/event-stream;q=0, */*"),
            Some("application/json"),
            None,
        ] {
            let r = get(accept).await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE, "{accept:?}");
        }
    }
}

//! The MCP server: what it offers (tools, the tasks capability) and how it answers each
//! message of a session, whatever the transport.

mod builder;
mod discover;
pub(crate) mod era;
mod ext_tasks;
mod initialize;
mod logging;
pub(crate) mod mrtr;
pub mod passthrough;
mod rate;
mod router;
pub(crate) mod stats;
pub mod tasks;
pub mod tools;

use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use mcp_tasks_engine::{Engine, Recovered, RequestKind};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Notification, Request, Response};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::Implementation;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::peer::Received;
use crate::session::{Session, Sink};

pub use builder::{
    ctrl_c_or_sigterm, BuildError, ReadyServer, ServerBuilder, DEFAULT_SHUTDOWN_GRACE,
};
pub use passthrough::{Passthrough, PassthroughContext};
pub use rate::RateLimit;
pub use stats::ServerStats;
pub use tools::{ToolContext, ToolDef, ToolResult, Tools};

/// An MCP server: tools, and the engine that runs them as tasks.
///
/// Shared by all sessions (`Arc<Server>`); transports call [`Server::handle_request`] and
/// friends for each message.
#[derive(Debug)]
pub struct Server {
    engine: Engine,
    /// Replaced whole when the tools change ([`Server::set_tools`]); a request keeps the
    /// registry it started with.
    tools: RwLock<Arc<Tools>>,
    /// The 2025-11-25 sessions, for notifications to all of them (`list_changed`).
    sessions: Mutex<Vec<Weak<Session>>>,
    passthrough: Option<Arc<dyn Passthrough>>,
    info: Implementation,
    instructions: Option<String>,
    rate: Option<rate::RateLimiter>,
    task_after: Duration,
    /// Derived from the store's secret on first use (see [`mrtr`]).
    state_key: OnceLock<mrtr::StateKey>,
    /// Requests of the stateless era and SSE streams open now, for operators.
    stats: stats::Stats,
}

/// How long a MCP 2026-07-28 call of a tool whose task support is optional runs before it
/// becomes a task, unless the tool or [`ServerOptions::task_after`] says otherwise.
pub const DEFAULT_TASK_AFTER: Duration = Duration::from_secs(1);

/// What a [`Server`] is built with besides its engine and tools.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Instructions for the model, shown at initialize.
    pub instructions: Option<String>,
    /// A per-requestor limit on task operations (T-SEC-3); `None` is unlimited.
    pub rate_limit: Option<RateLimit>,
    /// How long a MCP 2026-07-28 call of a tool with optional task support runs as a plain
    /// call before the server makes it a task; `None` is [`DEFAULT_TASK_AFTER`]. A tool
    /// overrides it with [`ToolDef::task_after`].
    pub task_after: Option<Duration>,
    /// Serves what the server does not: resources, prompts, completion (a gateway).
    pub passthrough: Option<Arc<dyn Passthrough>>,
}

impl Server {
    /// A server named `info`, serving `tools` through `engine`.
    pub fn new(engine: Engine, tools: Tools, info: Implementation) -> Arc<Self> {
        Self::with_options(engine, tools, info, ServerOptions::default())
    }

    /// A server with every option.
    pub fn with_options(
        engine: Engine,
        tools: Tools,
        info: Implementation,
        options: ServerOptions,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            tools: RwLock::new(Arc::new(tools)),
            sessions: Mutex::new(Vec::new()),
            passthrough: options.passthrough,
            info,
            instructions: options.instructions,
            rate: options.rate_limit.map(rate::RateLimiter::new),
            task_after: options.task_after.unwrap_or(DEFAULT_TASK_AFTER),
            state_key: OnceLock::new(),
            stats: stats::Stats::default(),
        })
    }

    /// A server with instructions for the model, shown at initialize.
    pub fn with_instructions(
        engine: Engine,
        tools: Tools,
        info: Implementation,
        instructions: impl Into<String>,
    ) -> Arc<Self> {
        Self::with_options(
            engine,
            tools,
            info,
            ServerOptions {
                instructions: Some(instructions.into()),
                rate_limit: None,
                task_after: None,
                passthrough: None,
            },
        )
    }

    /// The task engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Who the server tells clients it is.
    pub fn info(&self) -> &Implementation {
        &self.info
    }

    /// The tools, as they are now.
    pub fn tools(&self) -> Arc<Tools> {
        self.tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the tools (an upstream's list changed) and tells every MCP 2025-11-25 session
    /// with `notifications/tools/list_changed`. Calls already running keep their tool; a task
    /// of a tool that is gone still answers `tasks/get` and `tasks/result`.
    pub fn set_tools(&self, tools: Tools) {
        *self.tools.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tools);
        self.broadcast(method::NOTIFY_TOOLS_LIST_CHANGED, None, |_| true);
    }

    /// The passthrough, if the server has one.
    pub fn passthrough(&self) -> Option<&Arc<dyn Passthrough>> {
        self.passthrough.as_ref()
    }

    /// Sends a notification on the standing stream of every MCP 2025-11-25 session that
    /// `to` picks; returns how many took it. A session without a standing stream (an HTTP
    /// client that opened no GET stream) misses it, as MCP allows. A connection that never
    /// sent `initialize` gets nothing: over stdio it may be a MCP 2026-07-28 client, which
    /// takes only what it subscribed to (B-7).
    pub fn broadcast(
        &self,
        method: &str,
        params: Option<Value>,
        to: impl Fn(&Session) -> bool,
    ) -> usize {
        let sessions: Vec<Arc<Session>> = self.live_sessions();
        sessions
            .iter()
            .filter(|s| s.peer_info().protocol_version.is_some() && to(s))
            .filter(|s| s.send_standing(Notification::new(method, params.clone()).into()))
            .count()
    }

    /// The sessions still open, forgetting those that closed.
    fn live_sessions(&self) -> Vec<Arc<Session>> {
        let mut all = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|s| s.upgrade().is_some_and(|s| !s.closed().is_cancelled()));
        all.iter().filter_map(Weak::upgrade).collect()
    }

    /// How long a call of `tool` in MCP 2026-07-28 runs before it becomes a task, when its
    /// task support is optional: the tool's own [`ToolDef::task_after`], else the server's.
    pub fn task_after(&self, tool: &str) -> Duration {
        self.tools().task_after(tool).unwrap_or(self.task_after)
    }

    /// The key that seals `requestState` (B-6), derived from the store's secret so every
    /// instance on a shared store opens what another sealed.
    pub(crate) fn state_key(&self) -> &mrtr::StateKey {
        self.state_key
            .get_or_init(|| mrtr::StateKey::derive(self.engine.store().cursor_key()))
    }

    pub(crate) fn rate_limiter(&self) -> Option<&rate::RateLimiter> {
        self.rate.as_ref()
    }

    pub(crate) fn counters(&self) -> &stats::Stats {
        &self.stats
    }

    /// What is open now: sessions of each era, SSE streams, and the rate limit's refusals so
    /// far; what an operator's metrics and overview show.
    pub fn stats(&self) -> ServerStats {
        let sessions = self
            .live_sessions()
            .iter()
            .filter(|s| s.peer_info().protocol_version.is_some())
            .count();
        ServerStats {
            sessions,
            stateless_requests: self.stats.stateless_requests(),
            open_streams: self.stats.open_streams(),
            rate_limited: self.rate.as_ref().map_or(0, rate::RateLimiter::refused),
        }
    }

    /// The rate limit in force, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate.as_ref().map(rate::RateLimiter::limit)
    }

    /// Answers one request. `sink` is the stream the request came on: messages tied to this
    /// request (progress, questions for a plain call, input requests of `tasks/result`) go there.
    ///
    /// Never fails: every problem becomes an error response.
    pub async fn handle_request(
        self: &Arc<Self>,
        session: &Arc<Session>,
        request: Request,
        sink: &Sink,
    ) -> Response {
        let id = request.id.clone();
        let outcome = router::route(self, session, request, sink).await;
        match outcome {
            Ok(result) => Response::result(id, result),
            Err(error) => Response::error(Some(id), error),
        }
    }

    /// Answers one request of the stateless era (MCP 2026-07-28) in its own context (see
    /// [`era`]): `sink` is the stream the request came on, where what belongs to it goes
    /// (progress, the notifications of a `subscriptions/listen`). `None` when the request has
    /// no answer: a `subscriptions/listen` stream that ended.
    ///
    /// Never fails: every problem becomes an error response.
    pub(crate) async fn handle_stateless(
        self: &Arc<Self>,
        cx: &era::RequestContext,
        request: Request,
        sink: &Sink,
    ) -> Option<Response> {
        let id = request.id.clone();
        let _counted = self.stats.stateless_request();
        match router::route_stateless(self, cx, request, sink).await {
            Ok(Some(result)) => Some(Response::result(id, result)),
            Ok(None) => None,
            Err(error) => Some(Response::error(Some(id), error)),
        }
    }

    /// Takes a notification from the client (through the session's peer, which handles
    /// `notifications/cancelled`).
    pub fn handle_notification(&self, session: &Session, notification: Notification) {
        self.handle_received(session, session.receive(notification.into()));
    }

    /// Takes a response from the client to a request we sent.
    pub fn handle_response(&self, session: &Session, response: Response) {
        self.handle_received(session, session.receive(response.into()));
    }

    /// Handles what the session's peer handed back, except requests: those need a stream to
    /// answer on, and the transport that has one passes them to [`Server::handle_request`].
    pub(crate) fn handle_received(&self, session: &Session, received: Option<Received>) {
        match received {
            Some(Received::Notification(n)) => router::notification(self, session, n),
            Some(Received::Request(r)) => {
                tracing::warn!(
                    method = r.method,
                    "a request reached the notification path; ignored"
                );
            }
            None => {}
        }
    }

    /// Deals with the tasks a previous run of this server left unfinished: tasks of tools
    /// added with [`Tools::add_resumable`] run again, all others become `failed` with a
    /// statusMessage saying the server restarted. Call it once after opening a durable store
    /// and before serving; nothing is ever left `working` by a dead process.
    ///
    /// # Errors
    ///
    /// The store's error, when it cannot be read or written.
    pub async fn recover_orphans(self: &Arc<Self>) -> Result<Recovered, mcp_tasks_engine::Error> {
        let recovered = self
            .engine
            .recover_orphans(|r| {
                r.kind == RequestKind::ToolsCall
                    && r.name
                        .as_deref()
                        .is_some_and(|n| self.tools().is_resumable(n))
            })
            .await?;
        for record in &recovered.rerun {
            tools::rerun(self, record);
        }
        Ok(recovered)
    }

    /// On a shared store, looks for tasks of instances that died (their lease lapsed) every
    /// third of the lease ttl, and recovers them as [`Server::recover_orphans`] does, until
    /// `shutdown` trips. Every surviving instance looks; each orphan is recovered by exactly
    /// one. On a store of one process this returns at once: orphans there appear only across
    /// a restart, which start-up recovery handles.
    pub fn spawn_recovery(self: &Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        let server = self.clone();
        tokio::spawn(async move {
            if !server.engine.store().is_shared() {
                return;
            }
            let mut tick = tokio::time::interval(server.engine.config().lease_ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                match server.recover_orphans().await {
                    Ok(r) if r.failed.is_empty() && r.rerun.is_empty() => {}
                    Ok(r) => tracing::warn!(
                        failed = r.failed.len(),
                        running_again = r.rerun.len(),
                        "recovered tasks of a server instance that stopped"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "looking for tasks of stopped instances failed")
                    }
                }
            }
        })
    }

    /// Starts what a new session needs beside its requests: status notifications for the tasks
    /// it creates (T-NOTE-1). Stops when the session closes.
    pub fn start_session(self: &Arc<Self>, session: &Arc<Session>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        // Pruned here too, so a server that never broadcasts keeps no list of dead sessions.
        sessions.retain(|s| s.upgrade().is_some_and(|s| !s.closed().is_cancelled()));
        sessions.push(Arc::downgrade(session));
        drop(sessions);
        tasks::notify::spawn(self.clone(), session.clone());
    }
}

pub(crate) fn to_value(v: &impl Serialize) -> Result<Value, ErrorObject> {
    serde_json::to_value(v)
        .map_err(|e| ErrorObject::internal(format!("cannot encode the result: {e}")))
}

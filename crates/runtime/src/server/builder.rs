//! [`ServerBuilder`]: a whole MCP task server, lifecycle included, in a dozen lines.
//!
//! A durable server is more than a [`Server`] and a transport: before the first request, the
//! tasks a previous run left `working` must be failed or run again (DESIGN "Restart"); while it
//! serves, expired tasks must be swept (T-TTL-1) and, on a shared store, the tasks of instances
//! that died recovered; when it stops, in-flight work gets a bounded grace period and the
//! instance's lease is released so other instances take its tasks over at once instead of after
//! the lease ttl. Forgetting any of these leaves tasks stuck or lost, so the builder owns them
//! all, and `mcp-tasks serve` is one of its callers.
//!
//! ```no_run
//! use mcp_tasks_runtime::server::{Server, ToolDef};
//! use mcp_tasks_runtime::{CallToolResult, JsonSchema, TaskSupport};
//!
//! #[derive(serde::Deserialize, JsonSchema)]
//! #[schemars(crate = "mcp_tasks_runtime::schemars")]
//! struct Shout {
//!     /// The text to shout.
//!     text: String,
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! Server::builder("shouter", "1.0.0")
//!     .store_url("sqlite:tasks.db")
//!     .tool(
//!         ToolDef::new("shout").task_support(TaskSupport::Optional),
//!         |args: Shout, _cx| async move { Ok(CallToolResult::text(args.text.to_uppercase())) },
//!     )
//!     .build()
//!     .await?
//!     .serve_stdio()
//!     .await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mcp_tasks_engine::{
    ConfigError, Engine, EngineConfig, OpenOptions, Recovered, StoreUrl, StoreUrlError, TaskStore,
};
use mcp_tasks_wire::v2025_11_25::Implementation;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{RateLimit, Server, ServerOptions, ToolContext, ToolDef, ToolResult, Tools};
use crate::admin::{self, AdminListening, AdminOptions, UpstreamProbe};
use crate::transport::{http, stdio};

/// How long in-flight work may go on after a shutdown signal, unless
/// [`ServerBuilder::shutdown_grace`] says otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the tasks are kept, as the author named it.
enum StoreSource {
    Url(Result<StoreUrl, StoreUrlError>),
    Open(Arc<dyn TaskStore>),
}

/// Sets up a server: its name, store, tools and options.
///
/// Required values are [`Server::builder`]'s arguments; everything else has a default: the
/// store is `memory` (tasks end with the process; name a `sqlite:` file to keep them), the
/// engine uses [`EngineConfig::default`], and the server stops on Ctrl-C or SIGTERM.
#[must_use]
pub struct ServerBuilder {
    info: Implementation,
    store: StoreSource,
    open: OpenOptions,
    engine: EngineConfig,
    tools: Tools,
    options: ServerOptions,
    http: http::HttpConfig,
    max_line_bytes: usize,
    shutdown: Option<Signal>,
    grace: Duration,
    admin: Option<AdminOptions>,
    upstream: Option<Arc<dyn UpstreamProbe>>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match &self.store {
            StoreSource::Url(Ok(url)) => url.to_string(),
            StoreSource::Url(Err(_)) => "(an invalid URL)".to_owned(),
            StoreSource::Open(_) => "(an open store)".to_owned(),
        };
        f.debug_struct("ServerBuilder")
            .field("info", &self.info)
            .field("store", &store)
            .field("tools", &self.tools)
            .field("options", &self.options)
            .field("grace", &self.grace)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts building a server that tells clients it is `name` at `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation::new(name, version),
            store: StoreSource::Url(Ok(StoreUrl::Memory)),
            open: OpenOptions::default(),
            engine: EngineConfig::default(),
            tools: Tools::new(),
            options: ServerOptions::default(),
            http: http::HttpConfig::default(),
            max_line_bytes: stdio::DEFAULT_MAX_LINE_BYTES,
            shutdown: None,
            grace: DEFAULT_SHUTDOWN_GRACE,
            admin: None,
            upstream: None,
        }
    }
}

/// Why [`ServerBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The store URL does not parse; the message never shows a password.
    #[error("invalid store URL: {0}")]
    StoreUrl(#[source] StoreUrlError),
    /// The engine settings contradict each other.
    #[error("invalid engine settings: {0}")]
    Config(#[source] ConfigError),
    /// The store cannot be opened; the message names it (without a password) and the fix.
    #[error(transparent)]
    Open(mcp_tasks_engine::Error),
    /// The tasks a previous run left unfinished could not be read or recovered.
    #[error("recovering the tasks left unfinished by the previous run: {0}")]
    Recovery(#[source] mcp_tasks_engine::Error),
    /// The admin listener's address cannot be bound.
    #[error("cannot listen for the admin API on {addr}: {error}; is the port free?")]
    Admin {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it cannot be bound (in the message already, so not a `source` said twice).
        error: std::io::Error,
    },
}

impl ServerBuilder {
    /// Keeps tasks in the store at `url`: `memory`, `sqlite` (a file in the platform's data
    /// directory), `sqlite:PATH`, or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
    /// (shared by every instance serving it). A bad URL is reported by [`build`](Self::build).
    pub fn store_url(mut self, url: &str) -> Self {
        self.store = StoreSource::Url(url.parse());
        self
    }

    /// Keeps tasks in the store at an already parsed URL.
    pub fn store(mut self, url: StoreUrl) -> Self {
        self.store = StoreSource::Url(Ok(url));
        self
    }

    /// Keeps tasks in a store opened by the caller (a custom [`TaskStore`]).
    pub fn task_store(mut self, store: Arc<dyn TaskStore>) -> Self {
        self.store = StoreSource::Open(store);
        self
    }

    /// How a store named by URL is opened (SQLite durability, PostgreSQL pool size).
    pub fn open_options(mut self, options: OpenOptions) -> Self {
        self.open = options;
        self
    }

    /// The engine's settings: ttls, limits, page size, poll interval, lease ttl, audit.
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// Adds a tool whose `inputSchema` comes from its argument type; see [`Tools::tool`].
    pub fn tool<A, F, Fut>(mut self, def: ToolDef, handler: F) -> Self
    where
        A: JsonSchema + DeserializeOwned + Send + 'static,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        self.tools = self.tools.tool(def, handler);
        self
    }

    /// Serves `tools`, replacing any added before (for a registry built elsewhere).
    pub fn tools(mut self, tools: Tools) -> Self {
        self.tools = tools;
        self
    }

    /// Instructions for the model, shown at initialize.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.options.instructions = Some(instructions.into());
        self
    }

    /// How long a MCP 2026-07-28 call of a tool whose task support is optional runs as a
    /// plain call before the server makes it a task and answers `CreateTaskResult` (X-2);
    /// [`DEFAULT_TASK_AFTER`](super::DEFAULT_TASK_AFTER), 1 s, unless set. A tool's own
    /// [`ToolDef::task_after`] wins.
    pub fn task_after(mut self, after: Duration) -> Self {
        self.options.task_after = Some(after);
        self
    }

    /// Serves, through `passthrough`, the requests the server does not serve itself
    /// (resources, prompts, completion), and declares its capabilities beside ours: a server
    /// in front of another (see [`Passthrough`](super::Passthrough)).
    pub fn passthrough(mut self, passthrough: std::sync::Arc<dyn super::Passthrough>) -> Self {
        self.options.passthrough = Some(passthrough);
        self
    }

    /// A per-requestor limit on task operations (T-SEC-3); `None`, the default, is unlimited.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.options.rate_limit = limit;
        self
    }

    /// The Streamable HTTP settings: path, body limit, origins, sessions, bearer auth.
    pub fn http_config(mut self, config: http::HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// The longest stdio line accepted, in bytes ([`stdio::DEFAULT_MAX_LINE_BYTES`]).
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes;
        self
    }

    /// Stops serving when `signal` completes, instead of on Ctrl-C or SIGTERM
    /// ([`ctrl_c_or_sigterm`]).
    pub fn shutdown_signal(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// How long, after the shutdown signal, in-flight HTTP exchanges and running tasks may go
    /// on before they are cut ([`DEFAULT_SHUTDOWN_GRACE`]). A task cut off is recovered like
    /// any orphan: at the next start on a store of one process, at once by another instance on
    /// a shared one.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Serves the admin API, its metrics, health and dashboard on an address of their own
    /// (see [`admin`](crate::admin)): bound by [`build`](Self::build), served beside
    /// [`ReadyServer::serve_stdio`] or [`ReadyServer::serve_http`], stopped with the server.
    pub fn admin(mut self, options: AdminOptions) -> Self {
        self.admin = Some(options);
        self
    }

    /// Reports the health of the server this one stands in front of on the admin listener
    /// (its overview's `upstream`, the `mcp_tasks_upstream_*` metrics) and makes its role
    /// `gateway`. [`Gateway::configure`](crate::gateway::Gateway::configure) sets it.
    pub fn upstream(mut self, probe: Arc<dyn UpstreamProbe>) -> Self {
        self.upstream = Some(probe);
        self
    }

    /// Opens the store and recovers the tasks a previous run left unfinished, then starts the
    /// TTL sweeper and (on a shared store) the recovery of stopped instances' tasks, and binds
    /// the admin listener if one was asked for.
    ///
    /// # Errors
    ///
    /// A bad store URL, contradicting engine settings, a store that cannot be opened, a
    /// store that fails during recovery, or an admin address that cannot be bound; each
    /// message says what to change.
    pub async fn build(self) -> Result<ReadyServer, BuildError> {
        self.engine.validate().map_err(BuildError::Config)?;
        let started_at = jiff::Timestamp::now();
        let (store, shown) = match self.store {
            StoreSource::Url(url) => {
                let url = url.map_err(BuildError::StoreUrl)?;
                let shown = url.clone().resolved().unwrap_or(url.clone()).to_string();
                (url.open(&self.open).await.map_err(BuildError::Open)?, shown)
            }
            StoreSource::Open(store) => (store, "(a custom store)".to_owned()),
        };
        // Bound before recovery, which may take a while: a busy port fails at once.
        let admin = match self.admin {
            Some(options) => Some(AdminSetup {
                bound: admin::Bound::bind(options)
                    .await
                    .map_err(|(addr, error)| BuildError::Admin { addr, error })?,
                context: admin::Context {
                    store: shown,
                    upstream: self.upstream,
                    started_at,
                },
            }),
            None => None,
        };
        let engine = Engine::new(store, self.engine);
        let server = Server::with_options(engine.clone(), self.tools, self.info, self.options);
        // Before any request: a task the previous process (or, on a shared store, a stopped
        // instance) left unfinished must not look alive.
        let recovered = server
            .recover_orphans()
            .await
            .map_err(BuildError::Recovery)?;
        if !recovered.failed.is_empty() || !recovered.rerun.is_empty() {
            tracing::info!(
                failed = recovered.failed.len(),
                running_again = recovered.rerun.len(),
                "recovered the tasks left unfinished by the previous run"
            );
        }
        let stop = CancellationToken::new();
        let background = Background {
            sweeper: engine.spawn_sweeper(stop.clone()),
            recovery: server.spawn_recovery(stop.clone()),
            stop,
        };
        Ok(ReadyServer {
            server,
            recovered,
            http: self.http,
            max_line_bytes: self.max_line_bytes,
            shutdown: self.shutdown,
            grace: self.grace,
            background,
            admin,
        })
    }
}

/// The admin listener of a built server, bound, and what it shows.
#[derive(Debug)]
struct AdminSetup {
    bound: admin::Bound,
    context: admin::Context,
}

/// The sweeper and the recovery loop; stopped when the server stops, or is dropped unserved.
#[derive(Debug)]
struct Background {
    stop: CancellationToken,
    sweeper: JoinHandle<()>,
    recovery: JoinHandle<()>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.cancel();
        self.sweeper.abort();
        self.recovery.abort();
    }
}

/// A built server, recovered and sweeping, ready to serve one transport.
#[must_use = "a built server does nothing until one of its serve methods runs"]
pub struct ReadyServer {
    server: Arc<Server>,
    recovered: Recovered,
    http: http::HttpConfig,
    max_line_bytes: usize,
    shutdown: Option<Signal>,
    grace: Duration,
    background: Background,
    admin: Option<AdminSetup>,
}

impl std::fmt::Debug for ReadyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyServer")
            .field("server", &self.server)
            .field("grace", &self.grace)
            .field("admin", &self.admin())
            .finish_non_exhaustive()
    }
}

impl ReadyServer {
    /// The server, for callers that drive a transport of their own.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    /// The task engine.
    pub fn engine(&self) -> &Engine {
        self.server.engine()
    }

    /// What start-up recovery did: the tasks it failed and those it runs again.
    pub fn recovered(&self) -> &Recovered {
        &self.recovered
    }

    /// The Streamable HTTP settings [`serve_http`](Self::serve_http) will use (its path, say).
    pub fn http_config(&self) -> &http::HttpConfig {
        &self.http
    }

    /// The admin listener, when [`ServerBuilder::admin`] asked for one: its bound address and,
    /// for a generated token, the login URL. It serves once a `serve_*` method runs.
    pub fn admin(&self) -> Option<&AdminListening> {
        self.admin.as_ref().map(|a| a.bound.listening())
    }

    /// Serves one session on stdin and stdout until stdin ends or the shutdown signal comes,
    /// then stops gracefully: new requests are refused while the answers of the requests
    /// already read (and the client's answers they wait for) are still read and written.
    ///
    /// # Errors
    ///
    /// An I/O error writing stdout.
    pub async fn serve_stdio(self) -> std::io::Result<()> {
        let max = self.max_line_bytes;
        self.serve(None, |server, stopping| async move {
            stdio::serve_until(
                server,
                tokio::io::stdin(),
                tokio::io::stdout(),
                max,
                stopping,
            )
            .await
        })
        .await
    }

    /// Binds `addr` and serves Streamable HTTP on it (see [`ReadyServer::serve_http_on`]).
    ///
    /// # Errors
    ///
    /// The address cannot be bound, or the listener fails.
    pub async fn serve_http(self, addr: SocketAddr) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {addr}: {e}; is the port free?"),
            )
        })?;
        self.serve_http_on(listener).await
    }

    /// Serves Streamable HTTP on a bound listener until the shutdown signal: then no new
    /// connection is accepted, the sessions' GET streams end, and open POST exchanges may
    /// finish within the grace period.
    ///
    /// # Errors
    ///
    /// An I/O error of the listener.
    pub async fn serve_http_on(self, listener: TcpListener) -> std::io::Result<()> {
        if let Ok(local) = listener.local_addr() {
            tracing::info!("listening on http://{local}{}", self.http.path);
        }
        let config = self.http.clone();
        let max_sessions = Some(config.max_sessions);
        self.serve(max_sessions, |server, stopping| async move {
            let connections = config.connections.clone();
            let (router, drained) = http::router_until(server, config, stopping);
            http::serve_with(listener, router, drained, connections).await
        })
        .await
    }

    /// Runs `transport` until it ends or the shutdown signal comes. After the signal,
    /// `transport` gets `stopping` tripped and the grace period to end by itself (HTTP stops
    /// accepting connections, stdio refuses new requests, and both finish the exchanges already
    /// open), and running tasks get what is left of it. Then the
    /// sweeper and recovery loop stop and the lease is released. The admin listener, if any,
    /// serves from the start to the very end (`/readyz` answers 503 from the signal on).
    /// `max_sessions` is the transport's cap on sessions, for the admin overview.
    async fn serve<F, Fut>(self, max_sessions: Option<usize>, transport: F) -> std::io::Result<()>
    where
        F: FnOnce(Arc<Server>, CancellationToken) -> Fut,
        Fut: Future<Output = std::io::Result<()>>,
    {
        let Self {
            server,
            shutdown,
            grace,
            background,
            admin,
            ..
        } = self;
        let stopping = CancellationToken::new();
        let admin = admin.map(|a| {
            admin::spawn(
                a.bound,
                server.clone(),
                a.context,
                max_sessions,
                stopping.clone(),
            )
        });
        let mut signal = shutdown.unwrap_or_else(|| Box::pin(ctrl_c_or_sigterm()));
        // A signal future registers its handlers when first polled; polled only by the
        // spawned watcher, a SIGTERM before the watcher first ran would kill the process by
        // the default action, lease unreleased. So poll it once here, before serving.
        let signalled = futures::poll!(signal.as_mut()).is_ready();
        let trip = stopping.clone();
        let watcher = tokio::spawn(async move {
            if !signalled {
                signal.await;
            }
            tracing::info!("shutting down");
            trip.cancel();
        });
        let serving = transport(server.clone(), stopping.clone());
        tokio::pin!(serving);
        let result = tokio::select! {
            result = &mut serving => result,
            () = stopping.cancelled() => {
                let deadline = tokio::time::Instant::now() + grace;
                let finished = tokio::time::timeout_at(deadline, &mut serving).await;
                wait_for_tasks(server.engine(), deadline).await;
                finished.unwrap_or_else(|_| {
                    tracing::warn!(?grace, "the grace period ended with exchanges still open; they are cut");
                    Ok(())
                })
            }
        };
        watcher.abort();
        // Whatever still waits for the stop (the HTTP router's stream watcher) ends now, also
        // when the transport ended by itself.
        stopping.cancel();
        drop(background);
        release_lease(server.engine()).await;
        if let Some(admin) = admin {
            admin.stop().await;
        }
        result
    }
}

/// The longest shutdown waits for the store to release the lease.
const MAX_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Releases this instance's lease, so other instances take over the work still running here
/// now rather than after the lease ttl. Bounded like the lease keeper's renewals: a store that
/// does not answer must not hold the process up, and the lease then lapses by itself.
async fn release_lease(engine: &Engine) {
    let wait = (engine.config().lease_ttl / 3).min(MAX_RELEASE_WAIT);
    match tokio::time::timeout(wait, engine.release_lease()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot release this instance's lease; it lapses by itself");
        }
        Err(_) => tracing::warn!(
            ?wait,
            "the store did not release this instance's lease in time; it lapses by itself \
             within the lease ttl"
        ),
    }
}

/// Waits until no task runs in `engine`, or `deadline`. Running tasks have no completion
/// signal to wait on, so this looks every few milliseconds; it runs once, at shutdown.
async fn wait_for_tasks(engine: &Engine, deadline: tokio::time::Instant) {
    let mut look = tokio::time::interval(Duration::from_millis(20));
    loop {
        let running = engine.running();
        if running == 0 {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                running,
                "the grace period ended with tasks still running; they are recovered as orphans"
            );
            return;
        }
        look.tick().await;
    }
}

/// Completes on Ctrl-C, or on SIGTERM on unix: the signals a terminal and a service manager
/// send to stop a server.
///
/// The handlers are registered by this call, not when the future is first polled, so a signal
/// that arrives in between is caught rather than killing the process by the default action.
/// If a handler cannot be registered (a runtime without the signal driver), that is logged
/// and only the other signal stops the server.
pub fn ctrl_c_or_sigterm() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let registered = |kind: SignalKind, name: &str| {
            signal(kind)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "cannot listen for {name}; it will not stop the server");
                })
                .ok()
        };
        let mut interrupt = registered(SignalKind::interrupt(), "Ctrl-C (SIGINT)");
        let mut terminate = registered(SignalKind::terminate(), "SIGTERM");
        async move {
            /// The next delivery of `s`; never, when it is not registered.
            async fn next(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(interrupt.as_mut()) => {}
                () = next(terminate.as_mut()) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        let ctrl_c = tokio::signal::windows::ctrl_c();
        async move {
            match ctrl_c {
                Ok(mut ctrl_c) => {
                    ctrl_c.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for Ctrl-C; it will not stop the server");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::{CreateTask, RequestKind, Requestor, TaskStatus};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_bad_store_url_or_contradicting_settings_fail_the_build() {
        let err = Server::builder("t", "1")
            .store_url("mysql://u:hunter2@db/tasks")
            .build()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown store") && !err.contains("hunter2"),
            "{err}"
        );
        let err = Server::builder("t", "1")
            .engine_config(EngineConfig::default().default_ttl(None))
            .build()
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::Config(_)), "{err}");
    }

    /// DESIGN "Restart": a task left `working` by a previous run on the same store is failed
    /// by `build`, before any request is served.
    #[tokio::test]
    async fn build_recovers_the_tasks_a_previous_run_left_working() {
        let store: Arc<dyn TaskStore> = Arc::new(mcp_tasks_engine::MemoryStore::new());
        let first = Server::builder("t", "1")
            .task_store(store.clone())
            .build()
            .await
            .unwrap();
        let task = first
            .engine()
            .create(CreateTask {
                requestor: Requestor::anonymous("s"),
                kind: RequestKind::ToolsCall,
                name: Some("slow".into()),
                params: json!({"name": "slow", "arguments": {}}),
                ttl_ms: Some(60_000),
                progress_token: None,
            })
            .await
            .unwrap();
        drop(first);
        let second = Server::builder("t", "1")
            .task_store(store)
            .build()
            .await
            .unwrap();
        let failed: Vec<_> = second.recovered().failed.iter().map(|r| &r.id).collect();
        assert_eq!(failed, [&task.id]);
        assert_eq!(second.recovered().failed[0].status(), TaskStatus::Failed);
    }

    /// The shutdown signal ends `serve_http_on`, and the lease release and background stop
    /// follow without waiting for anything that does not run.
    #[tokio::test]
    async fn the_shutdown_signal_stops_an_http_server() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ready = Server::builder("t", "1")
            .shutdown_signal(async move {
                let _ = rx.await;
            })
            .build()
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let serving = tokio::spawn(ready.serve_http_on(listener));
        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("the server stops after the signal")
            .unwrap()
            .unwrap();
    }
}

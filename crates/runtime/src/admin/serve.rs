//! Binding and serving the admin listener, and the routes it serves.
//!
//! The listener is bound when the server is built, so a busy port fails the build naming the
//! address and `:0` is known before serving (the binary prints it first). It is served from
//! when the MCP transport starts until the server has stopped: during the shutdown grace
//! period `/readyz` answers 503, so a load balancer stops sending work while the exchanges
//! already open finish. It is served like the MCP endpoint (`transport::http::serve`), with
//! `TCP_NODELAY` on accepted sockets so an answer is not held back by delayed ACKs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::auth::{self, TokenCheck};
use super::error::ApiError;
use super::view::{Limits, ServerInfo};
use super::{api, assets, events, health, metrics};
use super::{AdminListening, AdminOptions, AdminToken, UpstreamProbe};
use crate::server::Server;

/// How long the admin listener may take to close once the server stopped.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The admin listener, bound and not yet serving.
#[derive(Debug)]
pub(crate) struct Bound {
    listener: TcpListener,
    listening: AdminListening,
    token: AdminToken,
}

impl Bound {
    /// Binds `options.addr`, and logs the login URL of a generated token.
    ///
    /// # Errors
    ///
    /// The address asked for, and why it cannot be bound.
    pub(crate) async fn bind(options: AdminOptions) -> Result<Self, (SocketAddr, std::io::Error)> {
        let addr = options.addr;
        let listener = TcpListener::bind(addr).await.map_err(|e| (addr, e))?;
        let local = listener.local_addr().map_err(|e| (addr, e))?;
        let login_url = options
            .token
            .is_generated()
            .then(|| format!("http://{local}/#token={}", options.token.as_str()));
        match &login_url {
            Some(url) => tracing::info!(
                token = options.token.as_str(),
                "admin API and dashboard on http://{local}/ with a generated token; log in at {url}"
            ),
            None => tracing::info!("admin API and dashboard on http://{local}/"),
        }
        Ok(Self {
            listener,
            listening: AdminListening {
                addr: local,
                login_url,
            },
            token: options.token,
        })
    }

    pub(crate) fn listening(&self) -> &AdminListening {
        &self.listening
    }
}

/// What the builder knows about the server that the admin API shows.
#[derive(Debug)]
pub(crate) struct Context {
    /// The store, as it may be shown.
    pub(crate) store: String,
    /// The gateway's upstream, if the server is one.
    pub(crate) upstream: Option<Arc<dyn UpstreamProbe>>,
    /// When the server was built.
    pub(crate) started_at: Timestamp,
}

/// What every admin route reads.
#[derive(Debug)]
pub(super) struct AdminState {
    pub(super) server: Arc<Server>,
    pub(super) admin: mcp_tasks_engine::Admin,
    pub(super) info: ServerInfo,
    pub(super) limits: Limits,
    pub(super) upstream: Option<Arc<dyn UpstreamProbe>>,
    /// Tripped when the server's shutdown begins: `/readyz` answers 503 from then on.
    pub(super) stopping: CancellationToken,
    /// Tripped when the listener stops: the event streams end.
    pub(super) stop: CancellationToken,
}

/// The admin listener being served; stop it with [`Serving::stop`].
#[derive(Debug)]
pub(crate) struct Serving {
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Serving {
    /// Stops the listener: event streams end, open requests get a moment to finish.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let mut task = self.task;
        match tokio::time::timeout(STOP_WAIT, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the admin listener failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the admin listener ended abnormally"),
            Err(_) => {
                tracing::debug!("admin requests still open at shutdown are cut");
                task.abort();
            }
        }
    }
}

/// Starts serving `bound` for `server` until [`Serving::stop`]. `max_sessions` is the HTTP
/// transport's cap, `None` over stdio; `stopping` trips when the server's shutdown begins.
pub(crate) fn spawn(
    bound: Bound,
    server: Arc<Server>,
    context: Context,
    max_sessions: Option<usize>,
    stopping: CancellationToken,
) -> Serving {
    let stop = CancellationToken::new();
    let engine = server.engine().clone();
    let config = engine.config();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let limits = Limits {
        max_active_per_requestor: config.limits.max_active_per_requestor,
        max_result_bytes: config.limits.max_result_bytes,
        rate_limit: server.rate_limit().map(|r| r.to_string()),
        default_ttl_ms: config.default_ttl.map(millis),
        max_ttl_ms: config.max_ttl.map(millis),
        poll_interval_ms: millis(config.poll_interval),
        max_sessions,
    };
    let info = ServerInfo {
        name: server.info().name.clone(),
        version: server.info().version.clone(),
        role: if context.upstream.is_some() {
            "gateway"
        } else {
            "serve"
        }
        .to_owned(),
        runner: engine.runner().to_owned(),
        started_at: context.started_at,
        store: context.store,
        shared: engine.store().is_shared(),
    };
    let state = Arc::new(AdminState {
        admin: engine.admin(),
        server,
        info,
        limits,
        upstream: context.upstream,
        stopping,
        stop: stop.clone(),
    });
    let app = router(state, &bound.token);
    let shutdown = stop.clone().cancelled_owned();
    let task = tokio::spawn(crate::transport::http::serve(bound.listener, app, shutdown));
    Serving { stop, task }
}

/// The routes: open ones, then those behind the token.
fn router(state: Arc<AdminState>, token: &AdminToken) -> Router {
    let check = Arc::new(TokenCheck::new(token));
    let guarded = Router::new()
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/overview", get(api::overview))
        .route("/api/tasks", get(api::tasks::list))
        .route("/api/tasks/{id}", get(api::tasks::show))
        .route("/api/tasks/{id}/cancel", post(api::tasks::cancel))
        .route("/api/purge", post(api::purge))
        .route("/api/events", get(events::events))
        .route_layer(middleware::from_fn_with_state(check, auth::require_token));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/", get(assets::index))
        .route("/assets/app.js", get(assets::script))
        .route("/assets/app.css", get(assets::style))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        "no such admin route; the API is under /api (tasks, overview, purge, events), with \
         /healthz, /readyz and /metrics",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed(
        "this route does not take that method: the API reads with GET and changes with POST",
    )
}

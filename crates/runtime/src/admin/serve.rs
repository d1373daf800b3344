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

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::auth::{self, TokenCheck};
use super::counts::StoreCounts;
use super::error::ApiError;
use super::view::{Limits, ServerInfo};
use super::{api, assets, events, health, metrics};
use super::{AdminListening, AdminOptions, AdminToken, UpstreamProbe, MIN_TOKEN_CHARS};
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
        // The generated token is logged once, inside the login URL, and in no field of its
        // own: a JSON log pipeline would index such a field.
        match &login_url {
            Some(url) => tracing::info!(
                "admin API and dashboard on http://{local}/ with a generated token; log in at {url}"
            ),
            None => tracing::info!("admin API and dashboard on http://{local}/"),
        }
        if options.token.is_short() {
            tracing::warn!(
                "the admin token is only {} characters long, and nothing slows down guesses; \
                 use at least {MIN_TOKEN_CHARS}, such as the output of `openssl rand -hex 32`",
                options.token.as_str().len()
            );
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
    /// The store's task counts, read for the metrics and the overview alike.
    pub(super) counts: StoreCounts,
    /// Tripped when the server's shutdown begins: `/readyz` answers 503 from then on.
    pub(super) stopping: CancellationToken,
    /// Tripped when the listener stops: the event streams end.
    pub(super) stop: CancellationToken,
}

/// The admin listener being served; stop it with [`Serving::stop`].
///
/// Dropped without that (the serve future of a library user dropped or aborted, say by a
/// `select!`), it stops the listener at once: an admin API must not go on answering `/readyz`
/// for a server that no longer serves.
#[derive(Debug)]
pub(crate) struct Serving {
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    /// Stops the listener: event streams end, open requests get a moment to finish.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
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

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
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
        max_stored_result_bytes: config.limits.max_result_bytes_per_client,
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
        counts: StoreCounts::new(engine.admin(), engine.changes()),
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
    Serving {
        stop,
        task: Some(task),
    }
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
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(api::MAX_BODY))
        .with_state(state)
}

/// Any other path. It names the path, since the usual cause is an address or path prefix
/// that is not the admin listener's.
async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::unknown_route(format!(
        "no such route: {}; the mcp-tasks admin API's routes are /api/tasks, /api/tasks/{{id}}, \
         /api/tasks/{{id}}/cancel, /api/purge, /api/overview, /api/events, /healthz, /readyz \
         and /metrics, at the root of the --admin address",
        uri.path()
    ))
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed(
        "this route does not take that method: the API reads with GET and changes with POST",
    )
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing::span;

    use super::*;

    /// A subscriber that keeps each event as `level field=value…`.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    struct Line(String);

    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut line = Line(event.metadata().level().to_string());
            event.record(&mut line);
            self.0.lock().unwrap().push(line.0);
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    async fn logged_binding(token: AdminToken) -> Vec<String> {
        let capture = Capture::default();
        let _logging = tracing::subscriber::set_default(capture.clone());
        let options = AdminOptions::new("127.0.0.1:0".parse().unwrap(), token);
        Bound::bind(options).await.unwrap();
        let lines = capture.0.lock().unwrap().clone();
        lines
    }

    /// Review item 8: a generated token is logged once, in the login URL, and in no field
    /// of its own.
    #[tokio::test]
    async fn a_generated_token_is_logged_once_in_the_login_url() {
        let token = AdminToken::generate();
        let lines = logged_binding(token.clone()).await;
        let with_token: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(token.as_str()))
            .collect();
        assert_eq!(with_token.len(), 1, "{lines:?}");
        assert_eq!(
            with_token[0].matches(token.as_str()).count(),
            1,
            "{lines:?}"
        );
        assert!(with_token[0].contains("/#token="), "{lines:?}");
    }

    /// Review of issue 15, smaller issues: a token under 16 characters is taken, with a
    /// warning; a longer one without.
    #[tokio::test]
    async fn a_short_token_is_warned_of() {
        let lines = logged_binding(AdminToken::new("short").unwrap()).await;
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("WARN") && l.contains("only 5 characters")),
            "{lines:?}"
        );
        let lines = logged_binding(AdminToken::new("a-long-enough-token").unwrap()).await;
        assert!(!lines.iter().any(|l| l.starts_with("WARN")), "{lines:?}");
    }
}

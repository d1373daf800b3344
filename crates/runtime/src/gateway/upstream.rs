//! The upstream server: how it is reached, and the one connection to it that every call
//! shares, kept up by a supervisor.
//!
//! A stdio upstream is one child process for the whole gateway. When it dies (or an HTTP
//! upstream's session ends), the calls in flight fail with what happened (G-4: "the upstream
//! server process was killed by signal 9 before it answered tools/call"), and the supervisor
//! starts a new one after a backoff that doubles from [`Backoff::first`] to [`Backoff::max`]
//! while starts keep failing, and resets once a connection has stayed up. A call that comes
//! while there is none waits for the next connection, up to [`Backoff::call_wait`], then
//! fails saying why the upstream is down.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::{ClientCapabilities, Implementation};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::admin::{UpstreamProbe, UpstreamState, UpstreamStatus};
use crate::client::{Client, ClientBuilder, ClientError, Forwarder, Protocol};

/// Where the upstream server is.
#[derive(Debug, Clone)]
pub enum UpstreamSpec {
    /// A command the gateway spawns and speaks to over its stdin and stdout.
    Stdio {
        /// The program.
        program: OsString,
        /// Its arguments.
        args: Vec<OsString>,
        /// Its working directory; the gateway's when `None`.
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        /// The MCP endpoint, e.g. `http://127.0.0.1:3001/mcp`.
        url: String,
        /// Sent as `Authorization: Bearer …`: the gateway's own credentials, never a client's.
        bearer_token: Option<String>,
        /// More headers to send with every request, as `(name, value)`.
        headers: Vec<(String, String)>,
    },
}

impl UpstreamSpec {
    /// A command line: `program` and its arguments.
    pub fn command(program: impl Into<OsString>, args: impl IntoIterator<Item = OsString>) -> Self {
        Self::Stdio {
            program: program.into(),
            args: args.into_iter().collect(),
            cwd: None,
        }
    }

    /// A Streamable HTTP endpoint, without credentials.
    pub fn url(url: impl Into<String>) -> Self {
        Self::Http {
            url: url.into(),
            bearer_token: None,
            headers: Vec::new(),
        }
    }

    /// The upstream, for people and logs (never a token).
    pub fn describe(&self) -> String {
        match self {
            Self::Stdio { program, args, .. } => {
                let mut line = program.to_string_lossy().into_owned();
                for arg in args {
                    line.push(' ');
                    line.push_str(&arg.to_string_lossy());
                }
                line
            }
            Self::Http { url, .. } => url.clone(),
        }
    }
}

/// How long a new upstream may take to answer its first request: `npx` or `uvx` may fetch
/// the server's package first.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a connection must have stayed up for its end to start the backoff over.
const STABLE: Duration = Duration::from_secs(10);

/// How the supervisor waits between starts of the upstream.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How long a call waits for a connection when there is none.
    pub call_wait: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(200),
            max: Duration::from_secs(30),
            call_wait: Duration::from_secs(30),
        }
    }
}

/// The state of the connection to the upstream, as calls and operators see it.
#[derive(Debug, Clone)]
pub enum Health {
    /// Connected: calls go out on this client.
    Up(Arc<Client>),
    /// Not connected: why, and since when.
    Down {
        /// What went wrong last.
        reason: String,
        /// When the upstream went down.
        since: Instant,
    },
    /// The gateway is stopping; no more connections.
    Stopped,
}

/// What connects to the upstream: its spec, and what the client declares and forwards.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    pub(crate) spec: UpstreamSpec,
    pub(crate) forwarder: Arc<dyn Forwarder>,
    pub(crate) capabilities: ClientCapabilities,
    pub(crate) protocol: Option<Protocol>,
}

impl Connector {
    pub(crate) async fn connect(&self) -> Result<Client, ClientError> {
        let info = Implementation::new("mcp-tasks-gateway", env!("CARGO_PKG_VERSION"));
        let mut builder = ClientBuilder::new(info)
            .forward(self.forwarder.clone(), self.capabilities.clone())
            .discover_timeout(START_TIMEOUT);
        if let Some(protocol) = self.protocol {
            builder = builder.protocol(protocol);
        }
        match &self.spec {
            UpstreamSpec::Stdio { program, args, cwd } => {
                let mut command = tokio::process::Command::new(program);
                command.args(args).stderr(std::process::Stdio::piped());
                if let Some(cwd) = cwd {
                    command.current_dir(cwd);
                }
                builder.connect_stdio(command).await
            }
            UpstreamSpec::Http {
                url,
                bearer_token,
                headers,
            } => {
                if let Some(token) = bearer_token {
                    builder = builder.bearer_token(token);
                }
                for (name, value) in headers {
                    builder = builder.header(name, value);
                }
                builder.connect_http(url).await
            }
        }
    }
}

/// The shared connection, and the supervisor that keeps it.
#[derive(Debug)]
pub(crate) struct Upstream {
    health: watch::Sender<Health>,
    backoff: Backoff,
    describe: String,
    /// A process the gateway starts (stdio), rather than a server it reaches (HTTP): how its
    /// failures are told.
    spawned: bool,
    /// Connections made again after the first, for operators.
    restarts: AtomicU64,
    /// A new connection is being made now.
    starting: AtomicBool,
    /// Why the upstream last went down, kept after it is up again.
    last_error: Mutex<Option<String>>,
}

impl Upstream {
    pub(crate) fn new(first: Arc<Client>, backoff: Backoff, spec: &UpstreamSpec) -> Arc<Self> {
        Arc::new(Self {
            health: watch::Sender::new(Health::Up(first)),
            backoff,
            describe: spec.describe(),
            spawned: matches!(spec, UpstreamSpec::Stdio { .. }),
            restarts: AtomicU64::new(0),
            starting: AtomicBool::new(false),
            last_error: Mutex::new(None),
        })
    }

    /// The connection as operators see it.
    pub(crate) fn status(&self) -> UpstreamStatus {
        let state = match &*self.health.borrow() {
            Health::Up(client) if !client.closed().is_cancelled() => UpstreamState::Up,
            _ if self.starting.load(Ordering::Acquire) => UpstreamState::Starting,
            _ => UpstreamState::Down,
        };
        UpstreamStatus {
            state,
            restarts: self.restarts.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// What the gateway does about a failed upstream, for messages: "starts it again" (a
    /// process) or "connects to it again" (over HTTP).
    pub(crate) fn recovery(&self) -> &'static str {
        if self.spawned {
            "starts it again"
        } else {
            "connects to it again"
        }
    }

    /// The connection's state now.
    pub(crate) fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// The client to call the upstream on: the current one, or the next one within
    /// [`Backoff::call_wait`].
    ///
    /// # Errors
    ///
    /// -32603 saying why the upstream is down, when no connection comes in time.
    pub(crate) async fn client(&self) -> Result<Arc<Client>, ErrorObject> {
        let mut health = self.health.subscribe();
        let up = tokio::time::timeout(self.backoff.call_wait, async {
            loop {
                match &*health.borrow_and_update() {
                    Health::Up(client) if !client.closed().is_cancelled() => {
                        return Some(client.clone())
                    }
                    Health::Stopped => return None,
                    _ => {}
                }
                if health.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match up {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(ErrorObject::internal("the gateway is stopping")),
            Err(_) => Err(ErrorObject::internal(format!(
                "the upstream server ({}) is unavailable: {}; the gateway keeps trying to \
                 {}",
                self.describe,
                match &*health.borrow() {
                    Health::Down { reason, .. } => reason.clone(),
                    _ => "its connection is being made again".to_owned(),
                },
                if self.spawned { "start it" } else { "reach it" },
            ))),
        }
    }

    /// Keeps the upstream up until `stop` trips: waits for the connection to end, reports why,
    /// and connects again after the backoff. `connected` runs after each new connection (to
    /// read the tools again).
    pub(crate) async fn supervise<F, Fut>(
        self: Arc<Self>,
        connector: Connector,
        stop: CancellationToken,
        connected: F,
    ) where
        F: Fn(Arc<Client>) -> Fut + Send + Sync,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let mut wait = self.backoff.first;
        loop {
            let current = match self.health() {
                Health::Up(client) => client,
                Health::Stopped => return,
                Health::Down { .. } => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => break,
                    }
                    // The next start, should this one not last, waits longer: a crash loop
                    // backs off.
                    wait = (wait * 2).min(self.backoff.max);
                    tracing::info!(upstream = %self.describe, "connecting to the upstream server again");
                    // A stop does not wait for a start (it may take minutes, as npx fetches).
                    self.starting.store(true, Ordering::Release);
                    let started = tokio::select! {
                        started = connector.connect() => started,
                        () = stop.cancelled() => break,
                    };
                    match started {
                        Ok(client) => {
                            let client = Arc::new(client);
                            // Calls wait until the new connection is set up (its tools read,
                            // its subscriptions made again), not only connected.
                            tokio::select! {
                                () = connected(client.clone()) => {}
                                () = stop.cancelled() => {
                                    client.shutdown().await;
                                    break;
                                }
                            }
                            tracing::info!(upstream = %self.describe, "the upstream server is up again");
                            self.restarts.fetch_add(1, Ordering::Relaxed);
                            self.health.send_replace(Health::Up(client.clone()));
                            self.starting.store(false, Ordering::Release);
                            client
                        }
                        Err(e) => {
                            tracing::warn!(upstream = %self.describe, error = %e, retry_in = ?wait, "the upstream server did not start");
                            self.down(e.to_string());
                            self.starting.store(false, Ordering::Release);
                            continue;
                        }
                    }
                }
            };
            let up_since = Instant::now();
            tokio::select! {
                () = current.closed().cancelled() => {}
                () = stop.cancelled() => break,
            }
            let reason = current
                .end_reason()
                .unwrap_or_else(|| "the connection to the upstream server ended".to_owned());
            tracing::warn!(upstream = %self.describe, %reason, recovery = self.recovery(), "the upstream server went away; calls in flight fail, and the gateway recovers it");
            // A connection that stayed up a while starts the backoff over; one that dies at
            // once (a crash loop) keeps the longer wait of its start.
            if up_since.elapsed() > STABLE {
                wait = self.backoff.first;
            }
            self.down(reason);
        }
        self.starting.store(false, Ordering::Release);
        if let Health::Up(client) = self.health.send_replace(Health::Stopped) {
            // Calls in flight may still hold the client: they fail now, the process goes.
            client.shutdown().await;
        }
    }

    fn down(&self, reason: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
        self.health.send_replace(Health::Down {
            reason,
            since: Instant::now(),
        });
    }
}

impl UpstreamProbe for Upstream {
    fn status(&self) -> UpstreamStatus {
        Self::status(self)
    }
}

//! Shared helpers for the gateway tests (`gateway_everything.rs`, `gateway_servers.rs`): a
//! gateway from the library in front of a real upstream, served in process on Streamable HTTP
//! (loopback, port 0) or on an in-process stdio pipe, and driven with our own client.
//!
//! The upstreams are the real reference servers: the npm ones from `tests/interop` (installed on
//! demand by [`crate::nodejs::ready`]) and the PyPI ones from `tests/python/.venv` (installed by
//! `tests/python/install.sh`; [`python_ready`] says so when it is missing).
//!
//! A test file that uses this module declares `mod nodejs;` beside `mod gateway;`.
// Each test file that includes this module uses part of it.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mcp_tasks_runtime::client::{
    Client, ClientBuilder, ClientError, Forwarder, Inbound, Incoming, Protocol, RequestContext,
    Scope, Transport,
};
use mcp_tasks_runtime::gateway::{Gateway, GatewayConfig, Health};
use mcp_tasks_runtime::server::ReadyServer;
use mcp_tasks_runtime::wire::jsonrpc::{self, ErrorCode, ErrorObject, Message, Notification};
use mcp_tasks_runtime::wire::v2025_11_25::Implementation;
use mcp_tasks_runtime::{EngineConfig, Server};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, WriteHalf};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest any single wait of a gateway test may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// The `pollInterval` the gateway's store suggests: short, so handles follow tasks quickly.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Awaits `future` for at most `limit`, failing the test with `what` when it takes longer.
pub(crate) async fn within<F: Future>(what: &str, limit: Duration, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: did not happen within {limit:?}"),
    }
}

/// Awaits `future` for at most [`WAIT`].
pub(crate) async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    within(what, WAIT, future).await
}

// ---------------------------------------------------------------------------------------------
// The upstream servers' programs.

/// A directory beside the workspace, `tests/<name>`, absolute.
pub(crate) fn tests_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(name)
        .canonicalize()
        .unwrap_or_else(|e| panic!("cannot find tests/{name} beside the workspace: {e}"))
}

/// A bin of the npm packages in `tests/interop`, installed first if needed.
pub(crate) fn npm_bin(name: &str) -> PathBuf {
    let dir = crate::nodejs::package_dir("interop");
    crate::nodejs::ready(&dir);
    let bin = dir.join("node_modules/.bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing after the npm install; run `npm ci --prefix tests/interop`",
        bin.display()
    );
    bin
}

/// `tests/interop/node_modules/.bin/mcp-server-everything`.
pub(crate) fn everything_bin() -> PathBuf {
    npm_bin("mcp-server-everything")
}

/// `tests/interop/node_modules/.bin/mcp-server-filesystem`.
pub(crate) fn filesystem_bin() -> PathBuf {
    npm_bin("mcp-server-filesystem")
}

/// `tests/python/.venv`, checked to hold the PyPI servers; fails the test saying how to
/// install them when it does not.
pub(crate) fn python_ready() -> PathBuf {
    let venv = tests_dir("python").join(".venv");
    for bin in ["mcp-server-time", "mcp-server-git"] {
        let path = venv.join("bin").join(bin);
        assert!(
            path.exists(),
            "{} is missing: run tests/python/install.sh (it needs Python 3.11 with venv, and \
             PyPI) to install the PyPI reference servers",
            path.display()
        );
    }
    venv
}

/// A bin of `tests/python/.venv` (`mcp-server-time`, `mcp-server-git`), after [`python_ready`].
pub(crate) fn python_bin(name: &str) -> PathBuf {
    python_ready().join("bin").join(name)
}

// ---------------------------------------------------------------------------------------------
// The gateway, served in process.

/// Where the gateway under test keeps its tasks.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// `memory`.
    Memory,
    /// `sqlite:PATH`.
    Sqlite(PathBuf),
}

impl Store {
    fn url(&self) -> String {
        match self {
            Self::Memory => "memory".to_owned(),
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
        }
    }
}

/// The engine settings of the gateway under test: the default, polled quickly.
pub(crate) fn engine_config() -> EngineConfig {
    EngineConfig {
        poll_interval: POLL,
        ..EngineConfig::default()
    }
}

/// Connects a gateway to its upstream and builds its server on `store`, to stop serving when
/// `stop` trips.
pub(crate) async fn build(
    config: GatewayConfig,
    store: &Store,
    stop: &CancellationToken,
) -> (Gateway, ReadyServer) {
    let gateway = bounded(
        "the gateway connects to its upstream",
        Gateway::connect(config),
    )
    .await
    .unwrap_or_else(|e| panic!("the gateway could not connect: {e}"));
    let info = gateway.server_info();
    let ready = gateway
        .configure(Server::builder(info.name, info.version))
        .store_url(&store.url())
        .engine_config(engine_config())
        .shutdown_grace(Duration::from_secs(1))
        .shutdown_signal(stop.clone().cancelled_owned())
        .build()
        .await
        .unwrap_or_else(|e| panic!("the gateway's server did not build: {e}"));
    (gateway, ready)
}

/// A gateway serving in process; stops when dropped.
#[derive(Debug)]
pub(crate) struct Served {
    /// The library's gateway, for its health.
    pub(crate) gateway: Gateway,
    /// The gateway's server.
    pub(crate) server: Arc<Server>,
    /// `http://127.0.0.1:PORT/mcp` when served on HTTP.
    pub(crate) url: Option<String>,
    running: Option<mcp_tasks_runtime::gateway::Running>,
    stop: CancellationToken,
    serving: Option<JoinHandle<std::io::Result<()>>>,
    /// Kept for the stdio case, whose serving does not consume it (its sweeper lives in it).
    _ready: Option<ReadyServer>,
}

impl Served {
    /// The HTTP endpoint; panics for a gateway served on stdio.
    pub(crate) fn url(&self) -> &str {
        self.url.as_deref().expect("this gateway is served on HTTP")
    }

    /// The upstream connection's state now.
    pub(crate) fn health(&self) -> Health {
        self.gateway.health()
    }

    /// Waits until the gateway has a live upstream connection.
    pub(crate) async fn wait_up(&self) {
        bounded("the upstream is up", async {
            loop {
                if let Health::Up(client) = self.health() {
                    if !client.closed().is_cancelled() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// Stops serving and following the upstream.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(serving) = self.serving.take() {
            let _ = within("the gateway stops serving", WAIT, serving).await;
        }
        if let Some(running) = self.running.take() {
            within(
                "the gateway stops following its upstream",
                WAIT,
                running.stop(),
            )
            .await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(serving) = &self.serving {
            serving.abort();
        }
    }
}

/// A gateway for `config` on `store`, serving Streamable HTTP on `127.0.0.1:0`.
pub(crate) async fn serve_http(config: GatewayConfig, store: &Store) -> Served {
    let stop = CancellationToken::new();
    let (gateway, ready) = build(config, store, &stop).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port to listen on");
    let addr = listener.local_addr().expect("the listener's address");
    let url = format!("http://{addr}{}", ready.http_config().path);
    let server = ready.server().clone();
    let running = gateway.start(&server);
    let serving = tokio::spawn(ready.serve_http_on(listener));
    Served {
        gateway,
        server,
        url: Some(url),
        running: Some(running),
        stop,
        serving: Some(serving),
        _ready: None,
    }
}

/// A gateway for `config` on `store`, serving one session on an in-process pipe, and a client
/// transport on the other end of it (for [`ClientBuilder::connect`]).
pub(crate) async fn serve_pipe(
    config: GatewayConfig,
    store: &Store,
) -> (Served, PipeTransport, Inbound) {
    let stop = CancellationToken::new();
    let (gateway, ready) = build(config, store, &stop).await;
    let server = ready.server().clone();
    let running = gateway.start(&server);
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(theirs);
    let serving = tokio::spawn(mcp_tasks_runtime::transport::stdio::serve_until(
        server.clone(),
        read,
        write,
        mcp_tasks_runtime::transport::stdio::DEFAULT_MAX_LINE_BYTES,
        stop.clone(),
    ));
    let (transport, inbound) = PipeTransport::new(ours);
    let served = Served {
        gateway,
        server,
        url: None,
        running: Some(running),
        stop,
        serving: Some(serving),
        _ready: Some(ready),
    };
    (served, transport, inbound)
}

/// Our client's end of an in-process stdio pipe: one JSON-RPC message per line.
#[derive(Debug)]
pub(crate) struct PipeTransport {
    writer: tokio::sync::Mutex<Option<WriteHalf<DuplexStream>>>,
}

impl PipeTransport {
    fn new(stream: DuplexStream) -> (Self, Inbound) {
        let (read, write) = tokio::io::split(stream);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                match jsonrpc::decode(line.as_bytes()) {
                    Ok(message) => {
                        if tx.send(Incoming::Message(message)).is_err() {
                            return;
                        }
                    }
                    Err(e) => panic!(
                        "the gateway wrote a line that is not JSON-RPC ({}): {line}",
                        e.to_error_object().message
                    ),
                }
            }
        });
        let transport = Self {
            writer: tokio::sync::Mutex::new(Some(write)),
        };
        (transport, rx)
    }
}

#[async_trait]
impl Transport for PipeTransport {
    async fn send(&self, message: Message) -> Result<(), ClientError> {
        let mut line = serde_json::to_vec(&message)
            .map_err(|e| ClientError::Transport(format!("cannot encode a message: {e}")))?;
        line.push(b'\n');
        let mut writer = self.writer.lock().await;
        let pipe = writer
            .as_mut()
            .ok_or_else(|| ClientError::Transport("the pipe was closed".into()))?;
        pipe.write_all(&line)
            .await
            .map_err(|e| ClientError::Transport(format!("cannot write to the pipe: {e}")))
    }

    async fn close(&self) {
        if let Some(mut writer) = self.writer.lock().await.take() {
            let _ = writer.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Our client.

/// A client builder named for the tests, speaking `protocol`.
pub(crate) fn client(protocol: Protocol) -> ClientBuilder {
    ClientBuilder::new(Implementation::new("gateway-test", "1.0.0")).protocol(protocol)
}

/// Connects `builder` to a gateway served on HTTP.
pub(crate) async fn connect_http(builder: ClientBuilder, served: &Served) -> Client {
    bounded(
        "the client connects to the gateway",
        builder.connect_http(served.url()),
    )
    .await
    .unwrap_or_else(|e| panic!("the client could not connect to the gateway: {e}"))
}

/// Both eras, for tests that run in each.
pub(crate) const ERAS: [Protocol; 2] = [Protocol::V2025_11_25, Protocol::V2026_07_28];

/// How a [`Recorder`] answers a request: from its method and params.
type Answer = Box<dyn Fn(&str, Option<Value>) -> Result<Value, ErrorObject> + Send + Sync>;

/// A request a [`Recorder`] was asked: method, params, and the scope the client saw.
type Asked = (String, Option<Value>, Option<Scope>);

/// A [`Forwarder`] for a test client that watches what the gateway sends: it records every
/// notification, and answers requests with `answer` (by default: -32601).
#[derive(Default)]
pub(crate) struct Recorder {
    seen: Mutex<Vec<Notification>>,
    changed: Notify,
    answer: Option<Answer>,
    asked: Mutex<Vec<Asked>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("seen", &self.seen.lock().map(|s| s.len()))
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder that answers every request with `answer`.
    pub(crate) fn answering(
        answer: impl Fn(&str, Option<Value>) -> Result<Value, ErrorObject> + Send + Sync + 'static,
    ) -> Self {
        Self {
            answer: Some(Box::new(answer)),
            ..Self::default()
        }
    }

    /// Every notification so far.
    pub(crate) fn notifications(&self) -> Vec<Notification> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The notifications of `method` so far.
    pub(crate) fn of(&self, method: &str) -> Vec<Notification> {
        self.notifications()
            .into_iter()
            .filter(|n| n.method == method)
            .collect()
    }

    /// The requests asked so far: method, params.
    pub(crate) fn asked(&self) -> Vec<(String, Option<Value>)> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }

    /// The scope of each request asked so far: `Some` when it came on the stream of a request
    /// the client sent inside [`mcp_tasks_runtime::client::in_scope`].
    pub(crate) fn asked_scopes(&self) -> Vec<Option<Scope>> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, _, scope)| *scope)
            .collect()
    }

    /// Waits up to `limit` for a notification that satisfies `pred`, and returns it.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Notification) -> bool,
    ) -> Notification {
        within(what, limit, async {
            loop {
                let changed = self.changed.notified();
                if let Some(n) = self.notifications().into_iter().find(|n| pred(n)) {
                    return n;
                }
                changed.await;
            }
        })
        .await
    }
}

#[async_trait]
impl Forwarder for Recorder {
    async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        cx: RequestContext,
    ) -> Result<Value, ErrorObject> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((method.to_owned(), params.clone(), cx.scope));
        match &self.answer {
            Some(answer) => answer(method, params),
            None => Err(ErrorObject::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("the test client answers no {method}"),
            )),
        }
    }

    fn notification(&self, notification: &Notification, _scope: Option<Scope>) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notification.clone());
        self.changed.notify_waiters();
    }
}

/// A client of `served` (HTTP) whose notifications `recorder` records, declaring
/// `capabilities`.
pub(crate) async fn recording_client(
    protocol: Protocol,
    served: &Served,
    recorder: Arc<Recorder>,
    capabilities: mcp_tasks_runtime::wire::v2025_11_25::ClientCapabilities,
) -> Client {
    connect_http(client(protocol).forward(recorder, capabilities), served).await
}

/// Waits until `n` sessions of `served` have a standing stream open (an HTTP client opens its
/// GET stream in the background after initialize): a harmless `tools/list_changed` is sent
/// until that many take it. For tests that watch notifications broadcast to sessions.
pub(crate) async fn wait_standing(served: &Served, n: usize) {
    bounded("the sessions open their standing streams", async {
        loop {
            let took = served
                .server
                .broadcast("notifications/tools/list_changed", None, |_| true);
            if took >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The text of every text content item of a tool result, joined by newlines.
pub(crate) fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The child pid a `sh -c 'echo $$ > PIDFILE; exec …'` upstream wrote, waited for.
pub(crate) async fn read_pid(pidfile: &Path) -> u32 {
    bounded("the upstream writes its pid", async {
        loop {
            if let Ok(text) = std::fs::read_to_string(pidfile) {
                if let Ok(pid) = text.trim().parse() {
                    return pid;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A free loopback TCP port (bound, then released) for an upstream that takes its port as a
/// setting.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

// ---------------------------------------------------------------------------------------------
// Added by helper T2 (gateway_servers.rs): the PyPI servers, installed by the test itself.

/// How long `tests/python/install.sh` may take when it has to build the venv.
const PYTHON_INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// A bin of `tests/python/.venv`, after running `tests/python/install.sh` once per test process
/// (idempotent, locked across processes, bounded by [`PYTHON_INSTALL_LIMIT`]): a test that needs
/// the PyPI servers installs them rather than skipping, and fails saying how to install them by
/// hand when it cannot.
pub(crate) fn python_installed(name: &str) -> PathBuf {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Err(why) = INSTALLED.get_or_init(install_python) {
        panic!("{why}");
    }
    python_bin(name)
}

fn install_python() -> Result<(), String> {
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let script = tests_dir("python").join("install.sh");
    let by_hand = "run tests/python/install.sh by hand (it needs Python 3.11 with venv, and PyPI)";
    // A file, not a pipe: a pip that says much cannot block on a full pipe while we poll.
    let log = std::env::temp_dir().join(format!(
        "mcp-tasks-python-install-{}.log",
        std::process::id()
    ));
    let out =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut child = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {} ({e}); {by_hand}", script.display()))?;
    let deadline = Instant::now() + PYTHON_INSTALL_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&log);
                return Err(format!(
                    "tests/python/install.sh did not finish within {PYTHON_INSTALL_LIMIT:?}; \
                     {by_hand}"
                ));
            }
            Err(e) => return Err(format!("waiting for tests/python/install.sh: {e}")),
        }
    };
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "tests/python/install.sh failed ({status}); {by_hand}:\n{said}"
        ))
    }
}

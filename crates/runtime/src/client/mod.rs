//! The requestor side of MCP tasks: a client that calls tools as tasks, follows them, answers
//! their questions and fetches their results, over stdio (a spawned server) or Streamable HTTP.
//!
//! ```no_run
//! use mcp_tasks_runtime::client::{handler_fn, ClientBuilder, TaskEvent, ToolCall};
//! use mcp_tasks_wire::v2025_11_25::{ElicitResult, Implementation};
//! use serde_json::json;
//!
//! # #[tokio::main] async fn main() -> Result<(), mcp_tasks_runtime::client::ClientError> {
//! let client = ClientBuilder::new(Implementation::new("my-app", "1.0.0"))
//!     // Questions a call or a task asks land here, in either era (T-RES-4, B-6, X-5).
//!     .elicitation(handler_fn(|_request, _cx| async {
//!         let name = json!({"name": "Ada"});
//!         Ok(ElicitResult::accept(name.as_object().cloned().unwrap_or_default()))
//!     }))
//!     .connect_http("http://127.0.0.1:8080/mcp")
//!     .await?;
//! // A task when the tool may be one (2025-11-25) or the server makes it one (2026-07-28).
//! let mut task = match client.start_tool_call("ask_name", json!({}), None).await? {
//!     ToolCall::Task(task) => task,
//!     ToolCall::Finished(result) => {
//!         println!("{result}");
//!         return Ok(());
//!     }
//! };
//! loop {
//!     match task.next_event().await? {
//!         TaskEvent::Status(t) => eprintln!("{:?} {}", t.status, t.status_message.unwrap_or_default()),
//!         TaskEvent::Progress(p) => eprintln!("progress {}", p.progress),
//!         TaskEvent::Finished(result) => {
//!             println!("{}", result?);
//!             break;
//!         }
//!     }
//! }
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! What the client declares at initialize follows what it is given: `elicitation` and
//! `sampling` when it has those handlers, and `capabilities.tasks` when it hosts tasks
//! ([`ClientBuilder::host_tasks`]). It only ever sends a task-augmented request the server
//! declared (T-CAP-3), for a tool whose `execution.taskSupport` allows one (T-CAP-5).
//!
//! # Two eras
//!
//! The client speaks MCP 2025-11-25 (a session opened with `initialize`) and MCP 2026-07-28
//! with the tasks extension (stateless: every request carries the version, the client's
//! capabilities and the extension in its `_meta`). Unless told which
//! ([`ClientBuilder::protocol`]), it asks `server/discover` and speaks 2026-07-28 to a server
//! that answers as one, else `initialize`s (B-8). [`Client::protocol`] says which it chose.
//!
//! Most of the API reads the same in both: [`Client::call_tool`] returns the tool's result
//! (following a task or answering questions on the way if the server makes it so),
//! [`Client::start_tool_call`] returns the result or the [`TaskHandle`] of the task the call
//! became, [`Client::task`] finds a task by id. What differs:
//!
//! - In 2026-07-28 the *server* decides whether a call becomes a task (X-2), and its ttl:
//!   [`Client::call_tool_as_task`], which asks for a task, is a 2025-11-25 method.
//! - A 2026-07-28 call may first answer `input_required` (B-6): the client answers its
//!   questions with the same handlers and sends the call again, round after round.
//! - 2026-07-28 has no `tasks/list` and no `tasks/result` (X-7): [`Client::list_tasks`] is
//!   [`ClientError::Unsupported`] there, and a [`TaskHandle`] reads the result from `tasks/get`.
//! - The client hosts no tasks in 2026-07-28: the server asks its questions inside results.

mod connection;
mod error;
mod ext_task;
pub mod forward;
pub mod handler;
mod hosted;
mod http;
mod input;
mod param_headers;
mod protocol;
pub(crate) mod sse;

/// The largest message the HTTP client reads from a server: a JSON answer's whole body, or one
/// SSE event. Four times the largest result a server of ours stores by default, so a real
/// answer fits; past it the answer is refused rather than read into memory without end.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
mod stdio;
mod task;
mod transport;

use std::sync::Arc;

use mcp_tasks_engine::Engine;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{
    CallToolResult, ClientCapabilities, ClientTaskElicitationRequests, ClientTaskRequests,
    ClientTaskSamplingRequests, ClientTasksCapability, CreateTaskResult, ElicitationCapability,
    Empty, Implementation, InitializeRequestParams, InitializeResult, ListTasksResult,
    ListToolsResult, RootsCapability, SamplingCapability, Task, TaskSupport, Tool,
};
use mcp_tasks_wire::v2026_07_28::{self as v2, InputRequiredResult, ResultType};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::sync::Mutex;

use connection::{Connection, Handlers};
pub use error::{ClientError, Result};
pub use forward::{in_scope, scope, Forwarder, Scope};
pub use handler::{handler_fn, sampling_fn, ElicitationHandler, RequestContext, SamplingHandler};
pub use http::HttpTransport;
pub use input::Root;
pub use protocol::{Discovery, Protocol};
pub use stdio::StdioTransport;
pub use task::{
    Peer, TaskEvent, TaskHandle, CANCEL_SETTLE, DEFAULT_POLL_INTERVAL, MIN_POLL_INTERVAL,
};
pub use transport::{Inbound, Incoming, Transport};

/// How many times in a row a 2026-07-28 call may answer `input_required` before the client
/// gives up on it (a server that never has enough would otherwise ask forever).
pub const MAX_INPUT_ROUNDS: usize = 16;

/// Sets up a [`Client`]: who it is, how it answers the server, whether it hosts tasks.
#[derive(Debug)]
pub struct ClientBuilder {
    info: Implementation,
    handlers: Handlers,
    host: Option<Engine>,
    bearer_token: Option<BearerToken>,
    protocols: Vec<Protocol>,
    roots: Option<Vec<Root>>,
    discover_timeout: std::time::Duration,
    /// What a forwarding client declares, in place of what its handlers would.
    forwarded: Option<ClientCapabilities>,
    headers: Vec<(String, String)>,
}

/// A bearer token, kept out of `Debug` output.
struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl ClientBuilder {
    /// A client named `info` that answers no server requests and hosts no tasks.
    pub fn new(info: Implementation) -> Self {
        Self {
            info,
            handlers: Handlers::default(),
            host: None,
            bearer_token: None,
            protocols: vec![Protocol::V2026_07_28, Protocol::V2025_11_25],
            roots: None,
            discover_timeout: protocol::DISCOVER_TIMEOUT,
            forwarded: None,
            headers: Vec::new(),
        }
    }

    /// Hands every request and notification of the server to `forwarder` instead of the
    /// client's own handlers, and declares `capabilities` (what the forwarder's callers can
    /// answer) in both eras; see [`forward`]. For a client that stands for others: a gateway.
    pub fn forward(
        mut self,
        forwarder: Arc<dyn Forwarder>,
        capabilities: ClientCapabilities,
    ) -> Self {
        self.handlers.forwarder = Some(forwarder);
        self.forwarded = Some(capabilities);
        self
    }

    /// Sends the header `name: value` with every HTTP request (an API key a server wants in
    /// a header of its own, say). Applies to [`ClientBuilder::connect_http`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Speaks `protocol` without asking the server first: 2025-11-25 `initialize`s at once;
    /// 2026-07-28 sends no `server/discover` and no `initialize`, only the requests asked for.
    pub fn protocol(self, protocol: Protocol) -> Self {
        self.protocols([protocol])
    }

    /// The eras the client may speak, the one it prefers first. With more than one, connecting
    /// asks `server/discover` and speaks the first the server lists; a server that does not
    /// answer it as a 2026-07-28 server is `initialize`d (B-8). The default prefers 2026-07-28.
    /// An empty list makes connecting fail.
    pub fn protocols(mut self, preference: impl IntoIterator<Item = Protocol>) -> Self {
        self.protocols = Vec::new();
        for p in preference {
            if !self.protocols.contains(&p) {
                self.protocols.push(p);
            }
        }
        self
    }

    /// How long connecting waits for the answer to `server/discover` before it gives up
    /// (10 s unless set): a spawned server that takes long to start (`npx` fetching a package)
    /// needs longer.
    pub fn discover_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.discover_timeout = timeout;
        self
    }

    /// The roots the client offers: the answer to a 2026-07-28 `roots/list` input request, and
    /// declared as the `roots` capability there. Without it the client declares no roots and
    /// answers such a request with an empty list.
    pub fn roots(mut self, roots: Vec<Root>) -> Self {
        self.roots = Some(roots);
        self
    }

    /// Sends `Authorization: Bearer <token>` with every HTTP request, so a server with bearer
    /// auth binds this session, and the tasks it creates, to the token's subject (T-SEC-1):
    /// every session of that subject reaches them. Applies to [`ClientBuilder::connect_http`].
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(BearerToken(token.into()));
        self
    }

    /// Answers `elicitation/create` with `handler`, and declares form-mode elicitation.
    pub fn elicitation(mut self, handler: impl ElicitationHandler) -> Self {
        self.handlers.elicitation = Some(Arc::new(handler));
        self
    }

    /// Answers `sampling/createMessage` with `handler`, and declares sampling.
    pub fn sampling(mut self, handler: impl SamplingHandler) -> Self {
        self.handlers.sampling = Some(Arc::new(handler));
        self
    }

    /// Runs task-augmented elicitation and sampling requests as tasks of `engine`, and
    /// declares so in `capabilities.tasks` (T-CAP-1): the server gets a task at once and
    /// polls it, instead of holding a request open while the user or the model takes its time.
    /// Only the request types with a handler are declared.
    pub fn host_tasks(mut self, engine: Engine) -> Self {
        self.host = Some(engine);
        self
    }

    /// Connects over Streamable HTTP to the MCP endpoint `url`, with the
    /// [bearer token](ClientBuilder::bearer_token) if one was given.
    ///
    /// # Errors
    ///
    /// A bad URL or token, a server that cannot be reached or refuses the credentials, or a
    /// failed initialize.
    pub async fn connect_http(self, url: &str) -> Result<Client> {
        let token = self.bearer_token.as_ref().map(|BearerToken(t)| t.as_str());
        let (transport, inbound) = HttpTransport::with_headers(url, token, &self.headers)?;
        self.connect(transport, inbound).await
    }

    /// Spawns `command` and speaks to it over its stdin and stdout.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] when a bearer token was given (stdio carries no
    /// credentials); a command that cannot start, or a failed initialize.
    pub async fn connect_stdio(self, command: Command) -> Result<Client> {
        if self.bearer_token.is_some() || !self.headers.is_empty() {
            return Err(ClientError::Unsupported(
                "a bearer token or header applies to Streamable HTTP only; a server spawned \
                 over stdio takes no credentials"
                    .into(),
            ));
        }
        let (transport, inbound) = StdioTransport::spawn(command)?;
        self.connect(transport, inbound).await
    }

    /// Connects over any transport: discovers the server's era, or speaks the one given
    /// ([`ClientBuilder::protocol`]), and initializes a 2025-11-25 session.
    ///
    /// # Errors
    ///
    /// The transport's error, the server's error answer to `initialize`, a protocol version
    /// this client does not speak, or no era in common with the server.
    pub async fn connect(self, transport: impl Transport, inbound: Inbound) -> Result<Client> {
        let transport: Arc<dyn Transport> = Arc::new(transport);
        let capabilities = self.capabilities();
        let meta = protocol::request_meta(&self.info, self.capabilities_v2026());
        let preference = self.protocols.clone();
        let discover_timeout = self.discover_timeout;
        let answerer = input::Answerer {
            handlers: self.handlers,
            roots: self.roots.map(Arc::new),
        };
        let host = self.host.map(|engine| {
            hosted::Host::new(
                engine,
                hosted::Hosting {
                    elicitation: answerer.handlers.elicitation.is_some(),
                    sampling: answerer.handlers.sampling.is_some(),
                },
                self.info.clone(),
                transport.clone(),
            )
        });
        let conn = Connection::start(transport.clone(), inbound, answerer, host);
        let params = InitializeRequestParams {
            protocol_version: method::LATEST_PROTOCOL_VERSION.into(),
            capabilities,
            client_info: self.info,
        };
        match handshake(&conn, &preference, meta, params, discover_timeout).await {
            Ok(handshake) => Ok(Client {
                conn,
                handshake,
                tools: Mutex::new(None),
            }),
            Err(e) => {
                // Nothing may outlive a failed connect: the child, the session, the dispatcher.
                transport.close().await;
                conn.closed().cancel();
                Err(e)
            }
        }
    }

    /// What a 2026-07-28 request declares (before the tasks extension is added): what the
    /// handlers and roots can answer. The client hosts no tasks in that era.
    fn capabilities_v2026(&self) -> v2::ClientCapabilities {
        if let Some(caps) = &self.forwarded {
            return v2::ClientCapabilities {
                elicitation: caps.elicitation,
                sampling: caps.sampling,
                roots: caps.roots,
                ..v2::ClientCapabilities::default()
            };
        }
        v2::ClientCapabilities {
            elicitation: self
                .handlers
                .elicitation
                .is_some()
                .then_some(ElicitationCapability {
                    form: Some(Empty {}),
                    url: None,
                }),
            sampling: self
                .handlers
                .sampling
                .is_some()
                .then(SamplingCapability::default),
            roots: self.roots.as_ref().map(|_| RootsCapability::default()),
            ..v2::ClientCapabilities::default()
        }
    }

    fn capabilities(&self) -> ClientCapabilities {
        if let Some(caps) = &self.forwarded {
            return caps.clone();
        }
        let elicit = self.handlers.elicitation.is_some();
        let sample = self.handlers.sampling.is_some();
        ClientCapabilities {
            elicitation: elicit.then_some(ElicitationCapability {
                form: Some(Empty {}),
                url: None,
            }),
            sampling: sample.then(SamplingCapability::default),
            tasks: self.host.as_ref().map(|_| ClientTasksCapability {
                list: Some(Empty {}),
                cancel: Some(Empty {}),
                requests: Some(ClientTaskRequests {
                    sampling: sample.then_some(ClientTaskSamplingRequests {
                        create_message: Some(Empty {}),
                    }),
                    elicitation: elicit.then_some(ClientTaskElicitationRequests {
                        create: Some(Empty {}),
                    }),
                }),
            }),
            ..ClientCapabilities::default()
        }
    }
}

/// How the connection came to speak its era.
#[derive(Debug)]
enum Handshake {
    /// A 2025-11-25 session: what the server said at initialize.
    Initialized(InitializeResult),
    /// 2026-07-28, after `server/discover`.
    Discovered(Discovery),
    /// 2026-07-28 as told ([`ClientBuilder::protocol`]), without asking.
    Assumed,
}

/// Settles the era (B-8): the only one given, or `server/discover` then the first preferred
/// era the server lists; `initialize` for 2025-11-25, framing for 2026-07-28.
async fn handshake(
    conn: &Connection,
    preference: &[Protocol],
    meta: serde_json::Map<String, Value>,
    params: InitializeRequestParams,
    discover_timeout: std::time::Duration,
) -> Result<Handshake> {
    match preference {
        [] => Err(ClientError::Unsupported(
            "no protocol version to speak: give the client at least one".into(),
        )),
        [Protocol::V2025_11_25] => Ok(Handshake::Initialized(initialize(conn, params).await?)),
        [Protocol::V2026_07_28] => {
            speak_stateless(conn, meta).await;
            Ok(Handshake::Assumed)
        }
        _ => {
            let probe = serde_json::json!({ "_meta": meta.clone() });
            let answer = tokio::time::timeout(
                discover_timeout,
                conn.request_quietly(method::SERVER_DISCOVER, probe),
            )
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Transport(format!(
                    "no answer to server/discover within {discover_timeout:?}; a server that \
                     only speaks MCP 2025-11-25 may ignore it: connect with protocol 2025-11-25"
                )))
            });
            if matches!(answer, Err(ClientError::Closed { .. })) {
                return Err(ClientError::Transport(
                    "the server closed the connection when asked server/discover; a server that \
                     only speaks MCP 2025-11-25 may not take it before initialize: connect with \
                     protocol 2025-11-25"
                        .into(),
                ));
            }
            let reason = match protocol::classify(answer)? {
                protocol::Discovered::Modern(discovery) => {
                    match protocol::choose(preference, &discovery) {
                        Some(Protocol::V2026_07_28) => {
                            speak_stateless(conn, meta).await;
                            return Ok(Handshake::Discovered(*discovery));
                        }
                        Some(Protocol::V2025_11_25) => "2025-11-25 is preferred".to_owned(),
                        None => {
                            return Err(ClientError::Unsupported(format!(
                                "the server speaks MCP {}, none of which this client was told \
                                 to speak ({})",
                                discovery.supported_versions.join(", "),
                                preference
                                    .iter()
                                    .map(|p| p.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                    }
                }
                protocol::Discovered::Legacy(reason) => reason,
            };
            if !preference.contains(&Protocol::V2025_11_25) {
                return Err(ClientError::Unsupported(format!(
                    "the server does not speak MCP 2026-07-28 ({reason}), and 2025-11-25 is not \
                     one this client was told to speak"
                )));
            }
            tracing::debug!(%reason, "initializing a 2025-11-25 session");
            Ok(Handshake::Initialized(initialize(conn, params).await?))
        }
    }
}

/// From now on the connection speaks 2026-07-28: every request carries `meta` (B-2), and the
/// transport frames each message for the era (HTTP: its headers, B-5).
async fn speak_stateless(conn: &Connection, meta: serde_json::Map<String, Value>) {
    conn.set_framing(Some(meta));
    conn.transport().stateless(v2::PROTOCOL_VERSION).await;
}

async fn initialize(
    conn: &Connection,
    params: InitializeRequestParams,
) -> Result<InitializeResult> {
    let params =
        serde_json::to_value(params).map_err(|e| ClientError::protocol(method::INITIALIZE, e))?;
    let answer = conn.request(method::INITIALIZE, params).await?;
    let init: InitializeResult = task::decode(method::INITIALIZE, answer)?;
    if !method::SUPPORTED_PROTOCOL_VERSIONS.contains(&init.protocol_version.as_str()) {
        return Err(ClientError::Unsupported(format!(
            "the server speaks MCP {}, which this client does not (it speaks {})",
            init.protocol_version,
            method::SUPPORTED_PROTOCOL_VERSIONS.join(", ")
        )));
    }
    conn.notify(method::INITIALIZED, None).await?;
    conn.transport().initialized(&init.protocol_version).await;
    Ok(init)
}

/// A connection to one server: a 2025-11-25 session, or a client of a 2026-07-28 server.
///
/// Dropping it without [`Client::close`] still ends the connection (a spawned server is
/// killed), but without the polite `DELETE` of the HTTP session.
#[derive(Debug)]
pub struct Client {
    conn: Arc<Connection>,
    handshake: Handshake,
    tools: Mutex<Option<Vec<Tool>>>,
}

/// How a `tools/call` came back, from [`Client::start_tool_call`].
#[derive(Debug)]
pub enum ToolCall {
    /// The tool's result (a `CallToolResult`, as sent), at once.
    Finished(Value),
    /// The call became a task, to follow (boxed: a handle is large beside a result).
    Task(Box<TaskHandle>),
}

impl Client {
    /// The era this connection speaks.
    pub fn protocol(&self) -> Protocol {
        match self.handshake {
            Handshake::Initialized(_) => Protocol::V2025_11_25,
            Handshake::Discovered(_) | Handshake::Assumed => Protocol::V2026_07_28,
        }
    }

    /// What the server said at initialize: its name, version, capabilities (2025-11-25 only).
    pub fn server(&self) -> Option<&InitializeResult> {
        match &self.handshake {
            Handshake::Initialized(init) => Some(init),
            _ => None,
        }
    }

    /// What the server said to `server/discover` (2026-07-28, when the client asked).
    pub fn discovery(&self) -> Option<&Discovery> {
        match &self.handshake {
            Handshake::Discovered(d) => Some(d),
            _ => None,
        }
    }

    /// Who the server says it is, when it said.
    pub fn server_info(&self) -> Option<&Implementation> {
        match &self.handshake {
            Handshake::Initialized(init) => Some(&init.server_info),
            Handshake::Discovered(d) => d.server_info.as_ref(),
            Handshake::Assumed => None,
        }
    }

    fn server_name(&self) -> String {
        self.server_info().map_or_else(
            || "the server".to_owned(),
            |i| format!("the server {}", i.name),
        )
    }

    /// Tripped when the connection is gone for good: the spawned server exited, the HTTP
    /// session ended. Requests then fail at once.
    pub fn closed(&self) -> &tokio_util::sync::CancellationToken {
        self.conn.closed()
    }

    /// Why the connection ended, once it did, when the transport knows: "the server process
    /// exited with status 1".
    pub fn end_reason(&self) -> Option<String> {
        self.conn.end_reason()
    }

    /// The connection, as a [`Peer`] for [`TaskHandle`]s of tasks created elsewhere.
    pub fn peer(&self) -> Arc<dyn Peer> {
        self.conn.clone()
    }

    /// The engine the client hosts tasks in, when it does.
    pub fn hosted_engine(&self) -> Option<&Engine> {
        self.conn.host().map(hosted::Host::engine)
    }

    /// Whether a `tools/call` may become a task: in 2025-11-25 the server's capabilities
    /// let the client ask for one (T-CAP-3); in 2026-07-28 the server declared the tasks
    /// extension (X-1), or was not asked (then only the calls can tell).
    pub fn server_runs_tool_tasks(&self) -> bool {
        match &self.handshake {
            Handshake::Initialized(init) => init
                .capabilities
                .tasks
                .is_some_and(|t| t.tools_call_supported()),
            Handshake::Discovered(d) => d.has_tasks_extension(),
            Handshake::Assumed => true,
        }
    }

    /// Sends any request and returns its raw result (in 2026-07-28 with the era's `_meta`
    /// added to its params).
    ///
    /// # Errors
    ///
    /// The server's error answer, or the connection's.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value> {
        self.conn.request(method, params).await
    }

    /// Every tool, following `tools/list` cursors. The list is remembered, for the
    /// `taskSupport` checks of later calls.
    ///
    /// # Errors
    ///
    /// The server's error answer, or the connection's.
    ///
    /// In 2026-07-28 a tool whose `x-mcp-header` annotations are invalid is left out, with a
    /// warning, as the spec requires of clients (B-5).
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        let mut tools = self
            .all_pages(method::TOOLS_LIST, |page: ListToolsResult| {
                (page.tools, page.next_cursor)
            })
            .await?;
        if self.protocol() == Protocol::V2026_07_28 {
            tools.retain(|tool| match param_headers::mirrored(tool) {
                Ok(_) => true,
                Err(why) => {
                    tracing::warn!(tool = %tool.name, %why, "left out a tool with an invalid x-mcp-header");
                    false
                }
            });
            self.conn.transport().tools_listed(&tools);
        }
        *self.tools.lock().await = Some(tools.clone());
        Ok(tools)
    }

    /// A tool by name, from the remembered list (read once if needed).
    ///
    /// # Errors
    ///
    /// As [`Client::list_tools`].
    pub async fn tool(&self, name: &str) -> Result<Option<Tool>> {
        if let Some(tools) = self.tools.lock().await.as_ref() {
            if let Some(tool) = tools.iter().find(|t| t.name == name) {
                return Ok(Some(tool.clone()));
            }
        }
        Ok(self
            .list_tools()
            .await?
            .into_iter()
            .find(|t| t.name == name))
    }

    /// Calls a tool and waits for its result.
    ///
    /// In 2025-11-25 the call is plain, never a task. In 2026-07-28 the server may answer
    /// `input_required` (the client answers and calls again, B-6) or make the call a task,
    /// which the client then follows to its end, answering its questions (X-2, X-5); dropping
    /// the future before that end, or failing to follow (a question no handler answers, polls
    /// lost), cancels that task with `tasks/cancel`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] when the tool requires a task (T-CAP-5, 2025-11-25); the
    /// server's error answer (in 2026-07-28 also that of the task), or the connection's.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<CallToolResult> {
        if self.protocol() == Protocol::V2026_07_28 {
            let value = match self.call_v2026(name, arguments).await? {
                ToolCall::Finished(value) => value,
                ToolCall::Task(mut task) => {
                    // Nobody else knows this task: if the caller stops waiting, or following
                    // it fails, it is cancelled rather than left to run until its ttl.
                    task.cancel_on_drop();
                    task.wait().await?
                }
            };
            return task::decode(method::TOOLS_CALL, value);
        }
        if let Some(tool) = self.tool(name).await? {
            if tool.task_support() == TaskSupport::Required {
                return Err(ClientError::Unsupported(format!(
                    "tool {name:?} must be called as a task (its execution.taskSupport is \
                     \"required\")"
                )));
            }
        }
        let params = json!({"name": name, "arguments": arguments});
        task::decode(
            method::TOOLS_CALL,
            self.request(method::TOOLS_CALL, params).await?,
        )
    }

    /// Calls a tool and returns its result or, when the call becomes a task, the task's
    /// handle, in either era.
    ///
    /// In 2025-11-25 the client asks for a task when the server runs tool tasks (T-CAP-3) and
    /// the tool allows one (T-CAP-5), with `ttl_ms` as the time to live asked for, and calls
    /// plainly otherwise. In 2026-07-28 the server decides (X-2) and chooses the ttl, so
    /// `ttl_ms` is not sent; questions before the server decides are answered with the
    /// client's handlers, round after round (B-6).
    ///
    /// # Errors
    ///
    /// The server's error answer, or the connection's; in 2026-07-28 also
    /// [`ClientError::Protocol`] after [`MAX_INPUT_ROUNDS`] rounds of questions, and the
    /// handlers' errors.
    pub async fn start_tool_call(
        &self,
        name: &str,
        arguments: Value,
        ttl_ms: Option<u64>,
    ) -> Result<ToolCall> {
        if self.protocol() == Protocol::V2026_07_28 {
            return self.call_v2026(name, arguments).await;
        }
        let as_task = self.server_runs_tool_tasks()
            && self
                .tool(name)
                .await?
                .is_some_and(|t| t.task_support() != TaskSupport::Forbidden);
        if as_task {
            return Ok(ToolCall::Task(Box::new(
                self.call_tool_as_task(name, arguments, ttl_ms).await?,
            )));
        }
        let params = json!({"name": name, "arguments": arguments});
        Ok(ToolCall::Finished(
            self.request(method::TOOLS_CALL, params).await?,
        ))
    }

    /// A 2026-07-28 `tools/call`: answers `input_required` rounds until the server answers
    /// the result or a task (B-6, X-2).
    async fn call_v2026(&self, name: &str, arguments: Value) -> Result<ToolCall> {
        if self.conn.transport().mirrors_arguments() {
            // Its Mcp-Param-* headers come from its definition (B-5).
            self.tool(name).await?;
        }
        let mut params = json!({"name": name, "arguments": arguments});
        for _ in 0..MAX_INPUT_ROUNDS {
            let answer = self.request(method::TOOLS_CALL, params.clone()).await?;
            match ResultType::of(&answer) {
                Some(ResultType::Complete) => return Ok(ToolCall::Finished(answer)),
                Some(ResultType::Task) => {
                    let created: v2::CreateTaskResult = task::decode(method::TOOLS_CALL, answer)?;
                    return Ok(ToolCall::Task(Box::new(TaskHandle::extension(
                        self.conn.clone(),
                        &created.task,
                    ))));
                }
                Some(ResultType::InputRequired) => {
                    let asked: InputRequiredResult = task::decode(method::TOOLS_CALL, answer)?;
                    let requests = asked.input_requests.unwrap_or_default();
                    let responses = self.conn.answer_inputs(&requests, None).await?;
                    params["inputResponses"] = Value::Object(responses);
                    match asked.request_state {
                        Some(state) => params["requestState"] = Value::String(state),
                        None => {
                            if let Some(p) = params.as_object_mut() {
                                p.remove("requestState");
                            }
                        }
                    }
                }
                None => {
                    return Err(ClientError::protocol(
                        method::TOOLS_CALL,
                        format!("unknown resultType {}", answer["resultType"]),
                    ))
                }
            }
        }
        Err(ClientError::protocol(
            method::TOOLS_CALL,
            format!(
                "the server still asked for input after {MAX_INPUT_ROUNDS} rounds of answers; \
                 giving up on the call"
            ),
        ))
    }

    /// Calls a tool as a task: the server answers at once with the task, and the handle
    /// follows it. `ttl_ms` asks for a time to live (the server may lower it). The call
    /// carries a progress token, so the handle also sees the task's progress.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] when the server did not declare task-augmented
    /// `tools/call` (T-CAP-3) or the tool does not allow a task (T-CAP-5, also when it is
    /// unknown), and in 2026-07-28, where the server decides (use
    /// [`Client::start_tool_call`]); the server's error answer, or the connection's.
    pub async fn call_tool_as_task(
        &self,
        name: &str,
        arguments: Value,
        ttl_ms: Option<u64>,
    ) -> Result<TaskHandle> {
        if self.protocol() == Protocol::V2026_07_28 {
            return Err(ClientError::Unsupported(
                "in MCP 2026-07-28 the server decides whether a call becomes a task; \
                 start_tool_call returns the result or the task"
                    .into(),
            ));
        }
        if !self.server_runs_tool_tasks() {
            return Err(ClientError::Unsupported(format!(
                "{} does not run tools as tasks (no capabilities.tasks.requests.tools.call)",
                self.server_name()
            )));
        }
        let Some(tool) = self.tool(name).await? else {
            return Err(ClientError::Unsupported(format!(
                "the server has no tool {name:?}; `tools` lists what it has"
            )));
        };
        if tool.task_support() == TaskSupport::Forbidden {
            return Err(ClientError::Unsupported(format!(
                "tool {name:?} cannot be called as a task (its execution.taskSupport is \
                 \"forbidden\" or absent); call it without --task"
            )));
        }
        let token = json!(format!("task-call-{}", uuid::Uuid::new_v4().simple()));
        let mut task = json!({});
        if let Some(ttl) = ttl_ms {
            task["ttl"] = json!(ttl);
        }
        let params = json!({
            "name": name,
            "arguments": arguments,
            "task": task,
            "_meta": {"progressToken": token},
        });
        let (status, progress) = (self.conn.subscribe_status(), self.conn.subscribe_progress());
        let created: CreateTaskResult = task::decode(
            method::TOOLS_CALL,
            self.request(method::TOOLS_CALL, params).await?,
        )?;
        Ok(TaskHandle::subscribed(
            self.conn.clone(),
            created.task,
            Some(token),
            Some(status),
            Some(progress),
        ))
    }

    /// A handle for a task created earlier (by this or another session of the same
    /// requestor), read once with `tasks/get`.
    ///
    /// # Errors
    ///
    /// The server's -32602 for an unknown or expired task, or the connection's error.
    pub async fn task(&self, task_id: &str) -> Result<TaskHandle> {
        match self.protocol() {
            Protocol::V2025_11_25 => TaskHandle::attach(self.conn.clone(), task_id).await,
            Protocol::V2026_07_28 => TaskHandle::attach_extension(self.conn.clone(), task_id).await,
        }
    }

    /// Every task the server shows this requestor, following `tasks/list` cursors.
    ///
    /// # Errors
    ///
    /// The server's error answer, or the connection's; [`ClientError::Unsupported`] when
    /// the server did not declare `tasks.list`, and in 2026-07-28, which has no `tasks/list`
    /// (X-7).
    pub async fn list_tasks(&self) -> Result<Vec<Task>> {
        let Handshake::Initialized(init) = &self.handshake else {
            return Err(ClientError::Unsupported(
                "MCP 2026-07-28 has no tasks/list: a client keeps the ids of the tasks it \
                 created"
                    .into(),
            ));
        };
        if init.capabilities.tasks.and_then(|t| t.list).is_none() {
            return Err(ClientError::Unsupported(format!(
                "{} does not list tasks (no capabilities.tasks.list)",
                self.server_name()
            )));
        }
        self.all_pages(method::TASKS_LIST, |page: ListTasksResult| {
            (page.tasks, page.next_cursor)
        })
        .await
    }

    /// Every item of a paginated list method, following `nextCursor` until it is absent
    /// (or repeats, which would loop forever).
    async fn all_pages<P, T>(
        &self,
        method: &str,
        split: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>>
    where
        P: serde::de::DeserializeOwned,
    {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
            let (page, next) = split(task::decode(method, self.request(method, params).await?)?);
            items.extend(page);
            match next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Ends the connection: `DELETE` of a 2025-11-25 HTTP session (a 2026-07-28 client has
    /// none); closes the child's stdin over stdio.
    pub async fn close(self) {
        self.shutdown().await;
    }

    /// [`Client::close`] for a client shared behind an `Arc` (a gateway's upstream, which
    /// calls in flight still hold): they fail at once with [`ClientError::Closed`].
    pub async fn shutdown(&self) {
        self.conn.transport().close().await;
        self.conn.closed().cancel();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.conn.closed().cancel();
    }
}

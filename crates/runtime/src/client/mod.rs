//! The requestor side of MCP tasks: a client that calls tools as tasks, follows them, answers
//! their questions and fetches their results, over stdio (a spawned server) or Streamable HTTP.
//!
//! ```no_run
//! use mcp_tasks_runtime::client::{handler_fn, ClientBuilder, TaskEvent};
//! use mcp_tasks_wire::v2025_11_25::{ElicitResult, Implementation};
//! use serde_json::json;
//!
//! # #[tokio::main] async fn main() -> Result<(), mcp_tasks_runtime::client::ClientError> {
//! let client = ClientBuilder::new(Implementation::new("my-app", "1.0.0"))
//!     // Questions a task asks while we follow it land here (T-RES-4).
//!     .elicitation(handler_fn(|_request, _cx| async {
//!         let name = json!({"name": "Ada"});
//!         Ok(ElicitResult::accept(name.as_object().cloned().unwrap_or_default()))
//!     }))
//!     .connect_http("http://127.0.0.1:8080/mcp")
//!     .await?;
//! let mut task = client.call_tool_as_task("ask_name", json!({}), None).await?;
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

mod connection;
mod error;
pub mod handler;
mod hosted;
mod http;
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
    ListToolsResult, SamplingCapability, Task, TaskSupport, Tool,
};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::sync::Mutex;

use connection::{Connection, Handlers};
pub use error::{ClientError, Result};
pub use handler::{handler_fn, sampling_fn, ElicitationHandler, RequestContext, SamplingHandler};
pub use http::HttpTransport;
pub use stdio::StdioTransport;
pub use task::{Peer, TaskEvent, TaskHandle, DEFAULT_POLL_INTERVAL, MIN_POLL_INTERVAL};
pub use transport::{Inbound, Incoming, Transport};

/// Sets up a [`Client`]: who it is, how it answers the server, whether it hosts tasks.
#[derive(Debug)]
pub struct ClientBuilder {
    info: Implementation,
    handlers: Handlers,
    host: Option<Engine>,
    bearer_token: Option<BearerToken>,
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
        }
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
        let (transport, inbound) = match &self.bearer_token {
            Some(BearerToken(token)) => HttpTransport::with_bearer_token(url, token)?,
            None => HttpTransport::new(url)?,
        };
        self.connect(transport, inbound).await
    }

    /// Spawns `command` and speaks to it over its stdin and stdout.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] when a bearer token was given (stdio carries no
    /// credentials); a command that cannot start, or a failed initialize.
    pub async fn connect_stdio(self, command: Command) -> Result<Client> {
        if self.bearer_token.is_some() {
            return Err(ClientError::Unsupported(
                "a bearer token applies to Streamable HTTP only; a server spawned over stdio \
                 takes no credentials"
                    .into(),
            ));
        }
        let (transport, inbound) = StdioTransport::spawn(command)?;
        self.connect(transport, inbound).await
    }

    /// Initializes a session over any transport.
    ///
    /// # Errors
    ///
    /// The transport's error, the server's error answer to `initialize`, or a protocol
    /// version this client does not speak.
    pub async fn connect(self, transport: impl Transport, inbound: Inbound) -> Result<Client> {
        let transport: Arc<dyn Transport> = Arc::new(transport);
        let capabilities = self.capabilities();
        let host = self.host.map(|engine| {
            hosted::Host::new(
                engine,
                hosted::Hosting {
                    elicitation: self.handlers.elicitation.is_some(),
                    sampling: self.handlers.sampling.is_some(),
                },
                self.info.clone(),
                transport.clone(),
            )
        });
        let conn = Connection::start(transport.clone(), inbound, self.handlers, host);
        let params = InitializeRequestParams {
            protocol_version: method::LATEST_PROTOCOL_VERSION.into(),
            capabilities,
            client_info: self.info,
        };
        match initialize(&conn, params).await {
            Ok(init) => {
                transport.initialized(&init.protocol_version).await;
                Ok(Client {
                    conn,
                    init,
                    tools: Mutex::new(None),
                })
            }
            Err(e) => {
                // Nothing may outlive a failed connect: the child, the session, the dispatcher.
                transport.close().await;
                conn.closed().cancel();
                Err(e)
            }
        }
    }

    fn capabilities(&self) -> ClientCapabilities {
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
    Ok(init)
}

/// An initialized session with one server.
///
/// Dropping it without [`Client::close`] still ends the connection (a spawned server is
/// killed), but without the polite `DELETE` of the HTTP session.
#[derive(Debug)]
pub struct Client {
    conn: Arc<Connection>,
    init: InitializeResult,
    tools: Mutex<Option<Vec<Tool>>>,
}

impl Client {
    /// What the server said at initialize: its name, version, capabilities.
    pub fn server(&self) -> &InitializeResult {
        &self.init
    }

    /// The connection, as a [`Peer`] for [`TaskHandle`]s of tasks created elsewhere.
    pub fn peer(&self) -> Arc<dyn Peer> {
        self.conn.clone()
    }

    /// The engine the client hosts tasks in, when it does.
    pub fn hosted_engine(&self) -> Option<&Engine> {
        self.conn.host().map(hosted::Host::engine)
    }

    /// Whether the server's capabilities let a `tools/call` be a task (T-CAP-3).
    pub fn server_runs_tool_tasks(&self) -> bool {
        self.init
            .capabilities
            .tasks
            .is_some_and(|t| t.tools_call_supported())
    }

    /// Sends any request and returns its raw result.
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
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        let tools = self
            .all_pages(method::TOOLS_LIST, |page: ListToolsResult| {
                (page.tools, page.next_cursor)
            })
            .await?;
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

    /// Calls a tool and waits for its result, without a task.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] when the tool requires a task (T-CAP-5); the server's
    /// error answer, or the connection's.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<CallToolResult> {
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

    /// Calls a tool as a task: the server answers at once with the task, and the handle
    /// follows it. `ttl_ms` asks for a time to live (the server may lower it). The call
    /// carries a progress token, so the handle also sees the task's progress.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] when the server did not declare task-augmented
    /// `tools/call` (T-CAP-3) or the tool does not allow a task (T-CAP-5, also when it is
    /// unknown); the server's error answer, or the connection's.
    pub async fn call_tool_as_task(
        &self,
        name: &str,
        arguments: Value,
        ttl_ms: Option<u64>,
    ) -> Result<TaskHandle> {
        if !self.server_runs_tool_tasks() {
            return Err(ClientError::Unsupported(format!(
                "the server {} does not run tools as tasks (no capabilities.tasks.requests.tools.call)",
                self.init.server_info.name
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
        let created: CreateTaskResult = task::decode(
            method::TOOLS_CALL,
            self.request(method::TOOLS_CALL, params).await?,
        )?;
        Ok(TaskHandle::new(
            self.conn.clone(),
            created.task,
            Some(token),
        ))
    }

    /// A handle for a task created earlier (by this or another session of the same
    /// requestor), read once with `tasks/get`.
    ///
    /// # Errors
    ///
    /// The server's -32602 for an unknown or expired task, or the connection's error.
    pub async fn task(&self, task_id: &str) -> Result<TaskHandle> {
        TaskHandle::attach(self.conn.clone(), task_id).await
    }

    /// Every task the server shows this requestor, following `tasks/list` cursors.
    ///
    /// # Errors
    ///
    /// The server's error answer, or the connection's; [`ClientError::Unsupported`] when
    /// the server did not declare `tasks.list`.
    pub async fn list_tasks(&self) -> Result<Vec<Task>> {
        if self.init.capabilities.tasks.and_then(|t| t.list).is_none() {
            return Err(ClientError::Unsupported(format!(
                "the server {} does not list tasks (no capabilities.tasks.list)",
                self.init.server_info.name
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

    /// Ends the session (`DELETE` over HTTP; closes the child's stdin over stdio).
    pub async fn close(self) {
        self.conn.transport().close().await;
        self.conn.closed().cancel();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.conn.closed().cancel();
    }
}

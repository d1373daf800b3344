//! A task server written with another implementation of MCP 2026-07-28: the official Rust SDK,
//! `rmcp` from crates.io (its `TaskManager` for the `io.modelcontextprotocol/tasks` extension).
//! `tests/rmcp_interop.rs` points `mcp-tasks call` at it, so the terminal client is proven
//! against a peer whose wire format we did not write. It speaks over stdio (one JSON-RPC message
//! a line, how `mcp-tasks call -- COMMAND` runs a server), or over Streamable HTTP with
//! `--http 127.0.0.1:0`.
//!
//! Tools:
//! - `echo {text}`: answered at once (`resultType: "complete"`).
//! - `slow {seconds}`: the server makes it a task (server-directed, when the request declares
//!   the tasks extension); it ends `cancelled` if `tasks/cancel` arrives first.
//! - `ask_name`: a task that asks "What is your name?" (an elicitation form in `inputRequests`,
//!   answered with `tasks/update`), then greets.
//! - `greet`: the same question without a task, as a multi round-trip request
//!   (`resultType: "input_required"`, then a retry with `inputResponses` and `requestState`).
//! - `fail {message}`: a tool error (`isError: true`) at once; `fail_task {message}`: a task
//!   that completes with such a result.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    CreateTaskResult, DiscoverResult, ElicitRequest, ElicitRequestParams, ElicitationSchema,
    GetTaskParams, GetTaskResult, Implementation, InputRequest, InputRequests, InputRequiredResult,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskExit, TaskManager, TaskOptions};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt as _};
use serde_json::{json, Value};

/// Short, so a test following a task is not slowed by rmcp's default of a second.
const POLL_INTERVAL_MS: u64 = 100;
/// The `inputRequests` key of the question `ask_name` asks inside its task.
const NAME_KEY: &str = "name";
/// The `requestState` `greet` hands out with its question and expects back.
const GREET_STATE: &str = "asked-name";
/// How every `--log` line starts.
const LOG_PREFIX: &str = "rmcp-task-server:";

#[derive(Clone, Default)]
struct TaskServer {
    tasks: TaskManager,
    /// `--log`: one stderr line per request, so a test sees what the client sent (over stdio
    /// the client passes this process's stderr through as its own).
    log: bool,
}

impl ServerHandler for TaskServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new("rmcp-task-server", "3.11.0"))
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        self.note(&context, "server/discover");
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.note(&context, "tools/list");
        let text = object_schema(json!({"text": {"type": "string"}}), &["text"]);
        let seconds = object_schema(json!({"seconds": {"type": "number"}}), &["seconds"]);
        let message = object_schema(json!({"message": {"type": "string"}}), &["message"]);
        let nothing = object_schema(json!({}), &[]);
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("echo", "Echoes its text at once", text),
            Tool::new("slow", "Sleeps for `seconds` as a task", seconds),
            Tool::new(
                "ask_name",
                "Asks your name inside a task, then greets you",
                nothing.clone(),
            ),
            Tool::new(
                "greet",
                "Asks your name in a multi round-trip request, then greets you",
                nothing,
            ),
            Tool::new("fail", "Reports a tool error at once", message.clone()),
            Tool::new("fail_task", "A task that ends with a tool error", message),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // SEP-2663: a task only for a request that declared the extension; rmcp refuses a
        // CreateTaskResult to any other, so those calls are answered inline instead.
        let tasks = context
            .client_capabilities()
            .is_some_and(|caps| caps.supports_tasks());
        let round = if request.request_state.is_some() {
            " (retry with inputResponses)"
        } else {
            ""
        };
        let declared = if tasks { "tasks declared" } else { "no tasks" };
        self.note(
            &context,
            &format!("tools/call {}{round}, {declared}", request.name),
        );
        let args = request.arguments.clone().unwrap_or_default();
        match request.name.as_ref() {
            "echo" => Ok(text_result(string_arg(&args, "text")?).into()),
            "slow" => {
                let seconds = seconds_arg(&args)?;
                if tasks {
                    Ok(self.spawn(move |ctx| Box::pin(slow(ctx, seconds))))
                } else {
                    tokio::time::sleep(seconds).await;
                    Ok(slept(seconds).into())
                }
            }
            "ask_name" if tasks => Ok(self.spawn(|ctx| Box::pin(ask_name(ctx)))),
            "ask_name" => Err(ErrorData::missing_required_client_capability(
                rmcp::model::ClientCapabilities::builder()
                    .enable_tasks()
                    .build(),
            )),
            "greet" => greet(&request),
            "fail" => Ok(CallToolResult::error(vec![ContentBlock::text(string_arg(
                &args, "message",
            )?)])
            .into()),
            "fail_task" => {
                let message = string_arg(&args, "message")?;
                let failed = CallToolResult::error(vec![ContentBlock::text(message)]);
                if tasks {
                    Ok(self.spawn(move |_ctx| Box::pin(async move { Ok(failed) })))
                } else {
                    Ok(failed.into())
                }
            }
            other => Err(ErrorData::invalid_params(
                format!("no tool named {other:?}"),
                None,
            )),
        }
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let task = self.tasks.get_task(&request.task_id)?;
        let status = serde_json::to_value(task.status()).unwrap_or_default();
        self.note(
            &context,
            &format!(
                "tasks/get {}: {}",
                request.task_id,
                status.as_str().unwrap_or("?")
            ),
        );
        Ok(GetTaskResult::new(task))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let keys: Vec<&str> = request.input_responses.keys().map(String::as_str).collect();
        self.note(
            &context,
            &format!("tasks/update {} answers {keys:?}", request.task_id),
        );
        self.tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.note(&context, &format!("tasks/cancel {}", request.task_id));
        self.tasks.cancel_task(&request.task_id)
    }
}

impl TaskServer {
    /// Starts `work` as a task and answers with its `CreateTaskResult`.
    fn spawn(
        &self,
        work: impl FnOnce(rmcp::task_manager::TaskContext) -> rmcp::task_manager::TaskFuture,
    ) -> CallToolResponse {
        let options = TaskOptions::new().with_poll_interval_ms(POLL_INTERVAL_MS);
        let task = self.tasks.spawn(options, work);
        if self.log {
            log_line(&format!("started task {}", task.task_id));
        }
        CallToolResponse::Task(CreateTaskResult::new(task))
    }

    /// With `--log`: `rmcp-task-server: WHAT (protocol VERSION)`.
    fn note(&self, context: &RequestContext<RoleServer>, what: &str) {
        if self.log {
            let version = context
                .protocol_version()
                .map_or_else(|| "none".to_owned(), |v| v.as_str().to_owned());
            log_line(&format!("{what} (protocol {version})"));
        }
    }
}

/// `slow`'s task: sleeps, unless `tasks/cancel` comes first (rmcp's cancel is cooperative).
async fn slow(
    ctx: rmcp::task_manager::TaskContext,
    seconds: Duration,
) -> Result<CallToolResult, TaskExit> {
    ctx.set_status_message(format!("sleeping {}s", seconds.as_secs_f64()));
    tokio::select! {
        () = ctx.cancelled() => Err(TaskExit::Cancelled),
        () = tokio::time::sleep(seconds) => Ok(slept(seconds)),
    }
}

/// `ask_name`'s task: parks in `input_required` until `tasks/update` answers the question.
async fn ask_name(ctx: rmcp::task_manager::TaskContext) -> Result<CallToolResult, TaskExit> {
    let answer = ctx.request_input(NAME_KEY, name_question()?).await?;
    Ok(text_result(format!("Hello, {}!", answered_name(&answer))))
}

/// `greet`: the first round asks, the retry carrying the answer greets.
fn greet(request: &CallToolRequestParams) -> Result<CallToolResponse, ErrorData> {
    match request.request_state.as_deref() {
        None => {
            let mut questions = InputRequests::new();
            questions.insert(NAME_KEY.to_owned(), name_question()?);
            Ok(InputRequiredResult::new(Some(questions), Some(GREET_STATE.to_owned())).into())
        }
        Some(GREET_STATE) => {
            let answer = request
                .input_responses
                .as_ref()
                .and_then(|responses| responses.get(NAME_KEY))
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("inputResponses has no {NAME_KEY:?}"), None)
                })?;
            Ok(text_result(format!("Hello, {}!", answered_name(answer))).into())
        }
        Some(other) => Err(ErrorData::invalid_params(
            format!("requestState {other:?} is not one this server handed out"),
            None,
        )),
    }
}

/// The elicitation form both `ask_name` and `greet` send.
fn name_question() -> Result<InputRequest, ErrorData> {
    let schema = ElicitationSchema::builder()
        .required_string_with("name", |s| s.title("Name"))
        .build()
        .map_err(|e| ErrorData::internal_error(e.to_owned(), None))?;
    Ok(InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: "What is your name?".to_owned(),
            requested_schema: schema,
        },
    )))
}

/// The name in an accepted `ElicitResult`; "stranger" for a decline or a cancel.
fn answered_name(answer: &Value) -> &str {
    match answer.get("action").and_then(Value::as_str) {
        Some("accept") => answer
            .pointer("/content/name")
            .and_then(Value::as_str)
            .unwrap_or("stranger"),
        _ => "stranger",
    }
}

/// One `--log` line, written whole: over stdio it shares the client's stderr, and a line written
/// in one `write` (shorter than `PIPE_BUF`) is never cut by the client's own output.
fn log_line(what: &str) {
    let line = format!("{LOG_PREFIX} {what}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text.into())])
}

fn slept(seconds: Duration) -> CallToolResult {
    text_result(format!("slept {}s", seconds.as_secs_f64()))
}

fn string_arg(args: &JsonObject, name: &str) -> Result<String, ErrorData> {
    args.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ErrorData::invalid_params(format!("`{name}` must be a string"), None))
}

fn seconds_arg(args: &JsonObject) -> Result<Duration, ErrorData> {
    args.get("seconds")
        .and_then(Value::as_f64)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            ErrorData::invalid_params("`seconds` must be a number of seconds, 0 or more", None)
        })
}

fn object_schema(properties: Value, required: &[&str]) -> JsonObject {
    let schema = json!({"type": "object", "properties": properties, "required": required});
    match schema {
        Value::Object(map) => map,
        _ => unreachable!("json!({{…}}) is an object"),
    }
}

/// `rmcp_task_server [--log] [--http ADDR]`: serves over stdio, or with `--http` over
/// Streamable HTTP at `http://ADDR/mcp`, saying `listening on http://…/mcp` on stderr once it
/// accepts connections.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut server = TaskServer::default();
    let mut http = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--log" => server.log = true,
            "--http" => {
                http = Some(
                    args.next()
                        .context("--http needs an address, e.g. 127.0.0.1:0")?,
                )
            }
            other => anyhow::bail!(
                "unexpected argument {other:?}; usage: rmcp_task_server [--log] [--http ADDR]"
            ),
        }
    }
    match http {
        Some(addr) => serve_http(server, &addr).await,
        None => serve_stdio(server).await,
    }
}

async fn serve_stdio(server: TaskServer) -> anyhow::Result<()> {
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

async fn serve_http(server: TaskServer, addr: &str) -> anyhow::Result<()> {
    // rmcp builds a handler per session (or per stateless 2026-07-28 request): each one is a
    // clone sharing this server's task store, so `tasks/get` finds what `tools/call` started.
    let service: StreamableHttpService<TaskServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::default(),
            StreamableHttpServerConfig::default(),
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on http://{}/mcp", listener.local_addr()?);
    // TCP_NODELAY, as hyper servers are usually run (ours and bench_echo do): rmcp writes an
    // SSE answer in several small chunks, and with Nagle's algorithm the last one waits for the
    // client's delayed ACK, about 40 ms per request, which bench/compare.sh would otherwise
    // measure instead of rmcp.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await?;
    Ok(())
}

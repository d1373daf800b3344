//! One `tools/call` through the gateway: an ordinary call upstream (G-2), whatever it is
//! downstream (a plain call, a task from the start, or a MCP 2026-07-28 call that becomes a
//! task when slow), with what the upstream asks and reports on the way relayed to the caller
//! through the call's [`ToolContext`] (G-3), which puts it where the caller's era wants it.
//!
//! How a call ends upstream decides how the task ends (G-4):
//!
//! | upstream | the call |
//! |---|---|
//! | a result (also one with `isError`) | that result |
//! | a JSON-RPC error | that error, unchanged (the task is `failed`) |
//! | the process dies, or the HTTP session ends | -32603 saying how ("the upstream server process was killed by signal 9 before it answered tools/call") |
//! | the tool's time limit passes | -32603 naming the limit; the call is cancelled upstream |
//! | the caller cancels | the upstream request is cancelled (`notifications/cancelled`, or `tasks/cancel` for an upstream task) |

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{CallToolResult, ProgressNotificationParams, TaskSupport};
use serde_json::{json, Map, Value};

use super::relay::{Call, Event};
use super::Inner;
use crate::client::{in_scope, Client, ClientError, Protocol, TaskEvent, ToolCall};
use crate::server::{ToolContext, ToolResult};

/// The longest statusMessage the gateway makes from an upstream log message.
const MAX_STATUS_CHARS: usize = 200;

/// The shortest time between two statusMessages made from progress: each is a write to the
/// store, and an upstream may report progress far more often than anyone reads it.
const PROGRESS_STATUS_EVERY: Duration = Duration::from_millis(200);

/// Runs `tool` upstream with `arguments` for the downstream call `cx`.
pub(crate) async fn run(
    gateway: Arc<Inner>,
    tool: String,
    arguments: Map<String, Value>,
    cx: ToolContext,
) -> ToolResult {
    let rules = gateway.rules.for_tool(&tool);
    let client = gateway.upstream.client().await?;
    let (call, mut events) = gateway.relay.open();
    let upstream = async {
        let outcome = in_scope(
            call.scope(),
            call_upstream(&gateway, &client, &call, &tool, arguments, &cx),
        );
        match rules.timeout {
            Some(limit) => tokio::time::timeout(limit, outcome)
                .await
                .unwrap_or_else(|_| Err(timed_out(&tool, limit))),
            None => outcome.await,
        }
    };
    tokio::pin!(upstream);
    let mut asks = FuturesUnordered::new();
    let mut reported = Reported::default();
    loop {
        tokio::select! {
            outcome = &mut upstream => return outcome,
            Some(event) = events.recv() => match event {
                Event::Ask { method, params, reply } => asks.push(async {
                    let method = method;
                    let answer = ask(&cx, &method, params).await;
                    let _ = reply.send(answer);
                }),
                Event::Progress(p) => reported.progress(&cx, &p).await,
                Event::Log(l) => {
                    cx.log(l.level, l.logger.as_deref(), l.data.clone());
                    status(&cx, log_text(&l.data)).await;
                }
            },
            Some(()) = asks.next(), if !asks.is_empty() => {}
            () = cx.cancellation().cancelled() => {
                return Err(ErrorObject::internal("the call was cancelled"));
            }
        }
    }
}

/// Calls the tool upstream: as a task of the upstream's own when it runs the tool as one
/// (its ids stay inside the gateway: the client only ever sees the gateway's task), else as a
/// plain request carrying the call's progress token.
async fn call_upstream(
    gateway: &Inner,
    client: &Client,
    call: &Call,
    tool: &str,
    arguments: Map<String, Value>,
    cx: &ToolContext,
) -> ToolResult {
    let native = client.protocol() == Protocol::V2026_07_28
        || (client.server_runs_tool_tasks()
            && gateway
                .upstream_tool(tool)
                .is_some_and(|t| t.task_support() != TaskSupport::Forbidden));
    if !native {
        let params = json!({
            "name": tool,
            "arguments": arguments,
            "_meta": {"progressToken": call.progress_token()},
        });
        let answer = client
            .request(method::TOOLS_CALL, params)
            .await
            .map_err(upstream_failed)?;
        return decode(answer);
    }
    let started = client
        .start_tool_call(tool, Value::Object(arguments), None)
        .await
        .map_err(upstream_failed)?;
    let mut handle = match started {
        ToolCall::Finished(answer) => return decode(answer),
        ToolCall::Task(handle) => handle,
    };
    call.runs_as_upstream_task(&handle.task().task_id);
    // The upstream's task as it was created says what it does first ("Gathering sources...").
    if let Some(message) = handle.task().status_message.clone() {
        status(cx, message).await;
    }
    let mut reported = Reported::default();
    loop {
        match handle.next_event().await.map_err(upstream_failed)? {
            TaskEvent::Status(task) => {
                if let Some(message) = task.status_message {
                    status(cx, message).await;
                }
            }
            TaskEvent::Progress(p) => reported.progress(cx, &p).await,
            TaskEvent::Finished(outcome) => return decode(outcome.map_err(upstream_failed)?),
        }
    }
}

/// Asks the caller what the upstream asked, if the caller said it can answer it.
async fn ask(cx: &ToolContext, method: &str, params: Value) -> Result<Value, ErrorObject> {
    let caps = cx.client_capabilities();
    let answerable = match method {
        method::ROOTS_LIST => caps.roots.is_some(),
        _ => crate::server::tasks::input::can_answer(&caps, method, &params),
    };
    // A task run again after a restart has no caller yet: its question waits in the task
    // for whoever comes for the result.
    if !answerable && !cx.is_resumed() {
        return Err(ErrorObject::new(
            mcp_tasks_wire::jsonrpc::ErrorCode::METHOD_NOT_FOUND,
            format!(
                "the gateway's client cannot answer {method}: it did not declare the \
                 capability for it"
            ),
        ));
    }
    cx.ask(method, params).await
}

/// Sets the task's statusMessage from what the upstream reported; a plain call has none.
async fn status(cx: &ToolContext, message: String) {
    if let Err(e) = cx.set_status_message(message).await {
        tracing::debug!(error = %e.message, "could not set the task's statusMessage");
    }
}

/// Passes the upstream's progress on as the call's progress and as the task's statusMessage
/// ("3 of 4" when the upstream says no more), so a requestor that only polls `tasks/get`
/// (MCP 2026-07-28 has no progress notifications) sees how far it got.
#[derive(Debug, Default)]
struct Reported {
    last_status: Option<Instant>,
}

impl Reported {
    async fn progress(&mut self, cx: &ToolContext, p: &ProgressNotificationParams) {
        cx.progress(p.progress, p.total, p.message.as_deref());
        if self
            .last_status
            .is_some_and(|at| at.elapsed() < PROGRESS_STATUS_EVERY)
        {
            return;
        }
        self.last_status = Some(Instant::now());
        status(cx, progress_text(p)).await;
    }
}

/// A progress notification as a statusMessage: its message, else how far it got.
fn progress_text(p: &ProgressNotificationParams) -> String {
    if let Some(message) = &p.message {
        return message.clone();
    }
    match p.total {
        Some(total) => format!("{} of {}", number(p.progress), number(total)),
        None => format!("progress {}", number(p.progress)),
    }
}

/// A progress value as people write it: `3`, not `3.0`.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// A log message's data as a line for a statusMessage.
fn log_text(data: &Value) -> String {
    let text = match data {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(MAX_STATUS_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn decode(answer: Value) -> ToolResult {
    serde_json::from_value::<CallToolResult>(answer).map_err(|e| {
        ErrorObject::internal(format!(
            "the upstream server's answer to tools/call is not a CallToolResult: {e}"
        ))
    })
}

/// The error a call gets when the upstream fails it: the upstream's own JSON-RPC error
/// unchanged, else -32603 saying what happened to the upstream.
fn upstream_failed(e: ClientError) -> ErrorObject {
    match e {
        ClientError::Rpc { error, .. } => *error,
        ClientError::Closed { .. } => ErrorObject::internal(
            "the connection to the upstream server closed during the call; the gateway \
             connects again for the next call",
        ),
        ClientError::Transport(why) => ErrorObject::internal(format!(
            "the upstream server failed during the call: {why}; the gateway starts it again \
             for the next call"
        )),
        other => ErrorObject::internal(format!("the upstream server: {other}")),
    }
}

fn timed_out(tool: &str, limit: Duration) -> ErrorObject {
    ErrorObject::internal(format!(
        "the upstream call of {tool} timed out after {}s, the gateway's limit for this tool; \
         it was cancelled upstream",
        limit.as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_become_short_status_messages() {
        assert_eq!(log_text(&json!("copying")), "copying");
        assert_eq!(log_text(&json!({"step": 2})), r#"{"step":2}"#);
        let long = "é".repeat(300);
        let short = log_text(&json!(long));
        assert_eq!(short.chars().count(), MAX_STATUS_CHARS + 1);
        assert!(short.ends_with('…'));
    }

    /// G-2: progress becomes a statusMessage a poller can read.
    #[test]
    fn progress_reads_as_a_status_message() {
        let p = |progress, total, message: Option<&str>| ProgressNotificationParams {
            progress_token: mcp_tasks_wire::v2025_11_25::ProgressToken::Number(1),
            progress,
            total,
            message: message.map(str::to_owned),
            meta: None,
        };
        assert_eq!(progress_text(&p(3.0, Some(4.0), None)), "3 of 4");
        assert_eq!(progress_text(&p(0.5, None, None)), "progress 0.5");
        assert_eq!(
            progress_text(&p(1.0, Some(2.0), Some("copying"))),
            "copying"
        );
    }

    /// G-4: the upstream's own error passes unchanged; a dead upstream says what happened.
    #[test]
    fn upstream_failures_say_what_happened() {
        let own = ErrorObject::invalid_params("no such file");
        let passed = upstream_failed(ClientError::Rpc {
            method: "tools/call".into(),
            error: Box::new(own.clone()),
        });
        assert_eq!(passed, own);
        let died = upstream_failed(ClientError::Transport(
            "the server process was killed by signal 9 before it answered tools/call".into(),
        ));
        assert!(
            died.message.contains("killed by signal 9"),
            "{}",
            died.message
        );
        assert!(timed_out("build", Duration::from_secs(5))
            .message
            .contains("timed out after 5s"));
    }
}

//! `tools/call` in MCP 2026-07-28: the server decides whether the call becomes a task,
//! and what the tool asks before that is answered within the request (B-6).
//!
//! The `session` here is the request's own: built for this one request from its `_meta`
//! (version and capabilities, B-2) and the caller's auth context, and dropped with it.
//!
//! | task support | extension declared on the request | the call |
//! |---|---|---|
//! | forbidden | either | plain to the end (a legacy `params.task` is ignored) |
//! | optional | no | plain to the end |
//! | optional | yes | plain if it ends within [`task_after`](super::ToolDef::task_after), else a task |
//! | required | no | -32021, naming the extension |
//! | required | yes | a task as soon as its handler first waits on something else than an in-request question (one that fails before it ever waits answers its error) |
//!
//! A call becomes a task without restarting its handler: the task is created in the store
//! (so `tasks/get` finds it before the client hears of it, X-10), the `CreateTaskResult`
//! answers the request, and the same handler future goes on under the engine, its
//! [`ToolContext`] switched to task mode. A question the handler asks with
//! [`ToolContext::ask`] (or `elicit`, `create_message`) while the call may still become a task
//! makes it one at once, and the question waits in the task's mailbox. Otherwise a question
//! the request's answers do not hold ends the round: the handler is dropped and the call
//! answers `InputRequiredResult` with every question left open and a sealed `requestState`
//! carrying the answers used so far ([`mrtr`]).
//!
//! The handler is polled here, inline, so what it did in each poll is known before anything
//! else happens: a required tool's in-request questions in its first poll end the round
//! rather than race a zero timer.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use mcp_tasks_engine::{CreateTask, RequestKind, Requestor, TaskId, TaskRecord};
use mcp_tasks_wire::jsonrpc::{ErrorObject, RequestId, Response};
use mcp_tasks_wire::v2025_11_25::TaskSupport;
use mcp_tasks_wire::v2026_07_28::{self as v2, InputRequests, InputRequiredResult, ResultType};
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::call::outcome;
use super::directed::Directed;
use super::{BoxFuture, ToolContext, ToolResult};
use crate::server::{mrtr, Server};
use crate::session::{Session, Sink};

/// Runs a `tools/call` of this era for a client whose capabilities are `caps` (this request's
/// own declaration).
pub(crate) async fn handle(
    server: &Arc<Server>,
    session: &Arc<Session>,
    caps: &v2::ClientCapabilities,
    id: &RequestId,
    params: Option<Value>,
    sink: &Sink,
) -> Result<Value, ErrorObject> {
    let raw = params.unwrap_or_else(|| Value::Object(Map::new()));
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorObject::invalid_params("params.name must be the tool's name"))?
        .to_owned();
    let tools = server.tools();
    let Some((tool, handler)) = tools.get(&name) else {
        return Err(ErrorObject::invalid_params(format!(
            "unknown tool {name:?}; tools/list shows the tools this server has"
        )));
    };
    let support = tool.task_support();
    let args = match raw.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ErrorObject::invalid_params(
                "params.arguments must be an object",
            ))
        }
    };
    let (responses, state) = v2::mrtr::retry_parts(Some(&raw))?;
    if support == TaskSupport::Required && !caps.has_tasks_extension() {
        return Err(v2::missing_capability(
            format!(
                "tool {name:?} runs only as a task: declare the tasks extension \
                 (\"{}\": {{}}) under _meta[\"{}\"].extensions",
                v2::TASKS_EXTENSION,
                v2::CLIENT_CAPABILITIES
            ),
            json!({"extensions": {v2::TASKS_EXTENSION: {}}}),
        ));
    }
    // Arguments are checked before anything runs: a bad call is an error, never a task.
    let prepared = handler(args.clone())?;

    let binding = mrtr::Binding::new(&name, &args, session.requestor());
    let mut given = match &state {
        Some(state) => mrtr::open(server.state_key(), &binding, state, mrtr::now_secs())?,
        None => Map::new(),
    };
    // Answers from earlier rounds stand: the handler already acted on them.
    for (key, answer) in responses {
        given.entry(key).or_insert(answer);
    }
    let promotable = support != TaskSupport::Forbidden && caps.has_tasks_extension();
    let threshold = match support {
        TaskSupport::Required => Some(Duration::ZERO),
        TaskSupport::Optional if promotable => Some(server.task_after(&name)),
        TaskSupport::Optional | TaskSupport::Forbidden => None,
    };
    let progress_token = raw
        .get("_meta")
        .and_then(|m| m.get("progressToken"))
        .cloned();
    let directed = Arc::new(Directed::new(
        sink.clone(),
        progress_token,
        promotable,
        given,
    ));
    let mut run = guarded(
        &name,
        prepared(ToolContext::directed(session.clone(), directed.clone())),
    );
    // Whatever ends this call without the handler finishing or going on as a task (the end
    // of a round, a cancel, this future dropped) trips the handler's token, for any work it
    // spawned.
    let stop_handler = directed.cancellation().clone().drop_guard();
    let inflight = session.track_inflight(id);
    let step = drive(&mut run, &directed, threshold, &inflight).await;
    session.untrack_inflight(id);

    match step {
        // A required tool is a task even when it finishes at once, but a call that failed
        // before it ever waited is an error like any other: no task is made for it.
        Step::Done(Ok(result)) if support == TaskSupport::Required => {
            stop_handler.disarm();
            become_task(server, session, name, raw, Work::Finished(Ok(result))).await
        }
        Step::Done(answer) => {
            stop_handler.disarm();
            let mut value = crate::server::to_value(&answer?)?;
            ResultType::Complete.stamp(&mut value);
            Ok(value)
        }
        Step::Input(questions) => {
            drop(run);
            let state = mrtr::seal(
                server.state_key(),
                &binding,
                &directed.used_answers(),
                mrtr::now_secs(),
            )?;
            crate::server::to_value(&InputRequiredResult::new(questions, Some(state)))
        }
        Step::Task => {
            let work = Work::Running {
                run,
                directed,
                stop_handler,
            };
            become_task(server, session, name, raw, work).await
        }
        Step::Cancelled => Err(ErrorObject::internal("the call was cancelled")),
    }
}

/// What goes on as the task.
enum Work {
    /// The handler, still running; its token trips if it never gets to run as the task.
    Running {
        run: BoxFuture,
        directed: Arc<Directed>,
        stop_handler: DropGuard,
    },
    /// The handler's answer, already there.
    Finished(ToolResult),
}

/// Creates the call's task, starts `work` as it, and answers the flat `CreateTaskResult`
/// once the store holds the task.
///
/// Creating and starting run on a tokio task of their own: a client that goes away meanwhile
/// drops this future, and a task created but never started would stay `working` until this
/// instance stops. So once created, a task always runs.
async fn become_task(
    server: &Arc<Server>,
    session: &Session,
    name: String,
    raw: Value,
    work: Work,
) -> Result<Value, ErrorObject> {
    let server = server.clone();
    let requestor = session.requestor().clone();
    let started = tokio::spawn(async move {
        let record = create_task(&server, requestor, name, raw).await?;
        match work {
            Work::Finished(answer) => server
                .engine()
                .start(&record, move |_| async move { outcome(answer) }),
            Work::Running {
                run,
                directed,
                stop_handler,
            } => {
                let handler = stop_handler.disarm();
                server.engine().start(&record, move |task| {
                    let link = CancelLink {
                        handler,
                        task: task.cancellation().clone(),
                    };
                    directed.become_task(task);
                    async move {
                        let _link = link;
                        outcome(run.await)
                    }
                });
            }
        }
        Ok::<_, ErrorObject>(record)
    });
    let record = started.await.map_err(|e| {
        tracing::error!(error = %e, "creating a call's task failed unexpectedly");
        ErrorObject::internal("internal error: the call's task could not be created")
    })??;
    crate::server::to_value(&v2::CreateTaskResult::from(crate::ext_dialect::task(
        &record,
    )))
}

/// The task a stateless answer made: its id, when the answer is a `CreateTaskResult`.
pub(crate) fn created_task(answer: &Response) -> Option<TaskId> {
    let result = answer.outcome.as_ref().ok()?;
    if ResultType::of(result) != Some(ResultType::Task) {
        return None;
    }
    result.get("taskId")?.as_str().map(TaskId::from)
}

/// Cancels task `id`, made by a call whose answer never reached its client: the request was
/// cancelled, or its client went, after the task was made and before the answer was taken.
/// Nobody else knows the id, so the task would run unseen, holding a slot of the caller's
/// cap on live tasks (T-TTL-2) until its ttl.
pub(crate) async fn cancel_unheard(server: &Server, requestor: &Requestor, id: &TaskId) {
    let why = "the request that made this task was cancelled before its answer reached the client";
    match server
        .engine()
        .cancel(requestor, id, Some(why.to_owned()))
        .await
    {
        Ok(_) | Err(mcp_tasks_engine::Error::Conflict { .. }) => {
            tracing::debug!(task = %id, "{why}; the task was cancelled");
        }
        Err(e) => {
            tracing::warn!(task = %id, error = %e, "{why}, and cancelling the task failed");
        }
    }
}

/// Where a round of the handler ended.
enum Step {
    /// It finished.
    Done(ToolResult),
    /// It asked what this round's answers do not hold.
    Input(InputRequests),
    /// It must go on as a task: it ran past the threshold, or asked what only a task waits for.
    Task,
    /// The request was cancelled.
    Cancelled,
}

/// Polls the handler until it finishes, ends its round with open questions, must become a
/// task (a question for the mailbox, or `threshold` elapsed), or the request is cancelled.
/// After every poll the handler's questions are read before the clock, so what a handler asks
/// in a poll decides that poll's outcome whatever the time. Besides the handler, the timer and
/// the cancellation, a question wakes it wherever it was asked ([`Directed::register`]): a
/// handler may ask from a task it spawned.
async fn drive(
    run: &mut BoxFuture,
    directed: &Directed,
    threshold: Option<Duration>,
    cancel: &CancellationToken,
) -> Step {
    let deadline = threshold.map(|t| Instant::now() + t);
    let mut timer = deadline.map(|at| Box::pin(tokio::time::sleep_until(at)));
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    std::future::poll_fn(|cx| {
        // Before anything is read: a question asked from a task the handler spawned wakes us.
        directed.register(cx.waker());
        if let Poll::Ready(answer) = run.as_mut().poll(cx) {
            return Poll::Ready(Step::Done(answer));
        }
        if let Some(questions) = directed.open_questions() {
            return Poll::Ready(Step::Input(questions));
        }
        if directed.wants_task() {
            return Poll::Ready(Step::Task);
        }
        if let (Some(at), Some(timer)) = (deadline, timer.as_mut()) {
            if Instant::now() >= at || timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Step::Task);
            }
        }
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Step::Cancelled);
        }
        Poll::Pending
    })
    .await
}

/// The handler with its panics caught: polled inline here, a panic would otherwise take the
/// request (or, once a task, the task's outcome) down with it.
fn guarded(tool: &str, run: BoxFuture) -> BoxFuture {
    let tool = tool.to_owned();
    Box::pin(AssertUnwindSafe(run).catch_unwind().map(move |caught| {
        caught.unwrap_or_else(|_| {
            tracing::error!(tool = %tool, "tool handler panicked");
            Err(ErrorObject::internal(format!(
                "internal error: tool {tool:?} failed unexpectedly"
            )))
        })
    }))
}

/// Trips the handler's token when the task's work is dropped because the task was cancelled
/// (or expired): the handler may have taken its token before the call became a task.
struct CancelLink {
    handler: CancellationToken,
    task: CancellationToken,
}

impl Drop for CancelLink {
    fn drop(&mut self) {
        if self.task.is_cancelled() {
            self.handler.cancel();
        }
    }
}

/// Creates the task a call becomes; returns once the store holds it. The stored params
/// leave out the round's answers and state: they belong to the request, not the task.
async fn create_task(
    server: &Server,
    requestor: Requestor,
    name: String,
    mut params: Value,
) -> Result<TaskRecord, ErrorObject> {
    if let Value::Object(p) = &mut params {
        for key in ["inputResponses", "requestState", "task"] {
            p.remove(key);
        }
    }
    server
        .engine()
        .create(CreateTask {
            requestor,
            kind: RequestKind::ToolsCall,
            name: Some(name),
            params,
            ttl_ms: None,
            progress_token: None,
        })
        .await
        .map_err(|e| crate::error::to_error_object(&e))
}

#[cfg(test)]
mod tests;

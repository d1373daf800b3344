//! [`ToolContext`]: what a tool's handler can do besides compute: report progress, ask the
//! requestor, notice cancellation.

use std::sync::Arc;

use mcp_tasks_engine::{TaskContext, TaskId};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Notification};
use mcp_tasks_wire::v2025_11_25::{ElicitRequestParams, ElicitResult};
use mcp_tasks_wire::{meta, method};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::server::tasks::input;
use crate::session::{Session, Sink};

/// The handler's view of the call it serves.
///
/// The same handler runs for a plain call and for a task: in a task, questions go through the
/// task's mailbox (the task shows `input_required` until answered, T-RES-4) and progress keeps
/// the request's token for the task's whole life (T-PROG-1); in a plain call they go straight
/// to the caller's stream.
#[derive(Debug)]
pub struct ToolContext {
    session: Arc<Session>,
    progress_token: Option<Value>,
    mode: Mode,
    /// A re-run after a restart: the creating session is gone, so its capabilities are unknown
    /// and questions wait in the mailbox for whichever session fetches the result.
    resumed: bool,
}

#[derive(Debug)]
enum Mode {
    Plain {
        sink: Sink,
        cancel: CancellationToken,
    },
    Task(TaskContext),
}

impl ToolContext {
    pub(crate) fn plain(
        session: Arc<Session>,
        sink: Sink,
        cancel: CancellationToken,
        progress_token: Option<Value>,
    ) -> Self {
        Self {
            session,
            progress_token,
            mode: Mode::Plain { sink, cancel },
            resumed: false,
        }
    }

    pub(crate) fn task(session: Arc<Session>, task: TaskContext) -> Self {
        Self {
            session,
            progress_token: task.progress_token().cloned(),
            mode: Mode::Task(task),
            resumed: false,
        }
    }

    /// The context of a task run again after a restart, with no session behind it.
    pub(crate) fn resumed(task: TaskContext) -> Self {
        Self {
            session: Arc::new(Session::new(format!("resumed-{}", task.id()))),
            progress_token: None,
            mode: Mode::Task(task),
            resumed: true,
        }
    }

    /// Whether this run is a re-run of a resumable tool's task after the server restarted.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The task this call runs as, if it is one.
    pub fn task_id(&self) -> Option<&TaskId> {
        match &self.mode {
            Mode::Task(t) => Some(t.id()),
            Mode::Plain { .. } => None,
        }
    }

    /// Tripped when the caller cancels (`tasks/cancel`, or `notifications/cancelled` for a plain
    /// call). A task's work is also aborted at its next `.await`.
    pub fn cancellation(&self) -> &CancellationToken {
        match &self.mode {
            Mode::Task(t) => t.cancellation(),
            Mode::Plain { cancel, .. } => cancel,
        }
    }

    /// Reports progress, when the caller gave a progress token; otherwise does nothing.
    /// Nothing is sent once the call is cancelled or the task is over (T-PROG-1).
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else {
            return;
        };
        if self.cancellation().is_cancelled() {
            return;
        }
        let mut params = json!({"progressToken": token, "progress": progress});
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        match &self.mode {
            Mode::Plain { sink, .. } => {
                let _ = sink.send(Notification::new(method::NOTIFY_PROGRESS, Some(params)).into());
            }
            Mode::Task(t) => {
                meta::with_related_task(&mut params, t.id().as_str());
                self.session.send_for_task(
                    t.id(),
                    Notification::new(method::NOTIFY_PROGRESS, Some(params)).into(),
                );
            }
        }
    }

    /// Sets the task's statusMessage; a plain call has none, so this does nothing there.
    ///
    /// # Errors
    ///
    /// -32603 when the store fails; a task that already ended is not an error.
    pub async fn set_status_message(&self, message: impl Into<String>) -> Result<(), ErrorObject> {
        match &self.mode {
            Mode::Plain { .. } => Ok(()),
            Mode::Task(t) => match t.set_message(message).await {
                Ok(()) | Err(mcp_tasks_engine::Error::Conflict { .. }) => Ok(()),
                Err(e) => Err(crate::error::to_error_object(&e)),
            },
        }
    }

    /// Asks the requestor to fill a form (`elicitation/create`) and waits for the answer.
    ///
    /// # Errors
    ///
    /// -32602 when the client did not declare the elicitation capability (a server must not
    /// send requests the client cannot take); the client's own error; -32603 when the task was
    /// cancelled or the session ended while waiting.
    pub async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        let caps = self.session.peer_info().capabilities;
        if caps.elicitation.is_none() && !self.resumed {
            return Err(ErrorObject::invalid_params(
                "this tool asks the user a question, but the client did not declare the \
                 elicitation capability at initialize",
            ));
        }
        let params = serde_json::to_value(&params)
            .map_err(|e| ErrorObject::internal(format!("cannot encode the elicitation: {e}")))?;
        let answer = self.ask(method::ELICITATION_CREATE, params).await?;
        serde_json::from_value(answer).map_err(|e| {
            ErrorObject::invalid_params(format!(
                "the client's elicitation answer is not an ElicitResult: {e}"
            ))
        })
    }

    /// Sends any request to the requestor in the context of this call and waits for its result.
    ///
    /// # Errors
    ///
    /// As [`ToolContext::elicit`], without the capability check.
    pub async fn ask(&self, method: &str, params: Value) -> Result<Value, ErrorObject> {
        match &self.mode {
            Mode::Plain { sink, cancel } => tokio::select! {
                r = self.session.request(sink, method, params) => r,
                () = cancel.cancelled() => Err(ErrorObject::internal("the call was cancelled")),
            },
            Mode::Task(t) => {
                let answer = t
                    .request_input(method, params)
                    .await
                    .map_err(|e| crate::error::to_error_object(&e))?;
                input::open_answer(answer)
            }
        }
    }
}

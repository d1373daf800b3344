//! Following a task in the terminal until its result: the live status line, questions, and
//! Ctrl-C, which cancels the task with `tasks/cancel` (never `notifications/cancelled`,
//! T-CAN-3) and says so.

use mcp_tasks_runtime::client::{ClientError, TaskEvent, TaskHandle};
use serde_json::Value;

use super::exit::{Exit, Failure};
use crate::term::status::StatusLine;

/// How following ended.
pub(crate) enum Followed {
    /// `tasks/result` answered with a result.
    Result(Value),
    /// Ctrl-C; the task was cancelled.
    Interrupted,
}

pub(crate) async fn follow(
    mut handle: TaskHandle,
    status: &StatusLine,
) -> Result<Followed, Failure> {
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let event = tokio::select! {
            event = handle.next_event() => event,
            _ = &mut interrupt => {
                status.note(&format!("interrupted: cancelling task {}", handle.id()));
                match handle.cancel().await {
                    Ok(task) => status.note(&format!("task {} is {}", task.task_id, task.status.as_str())),
                    Err(e) => status.note(&format!("could not cancel task {}: {e}", handle.id())),
                }
                status.finish();
                return Ok(Followed::Interrupted);
            }
        };
        match event.map_err(Failure::from)? {
            TaskEvent::Status(task) => {
                status.status(task.status.as_str(), task.status_message.as_deref())
            }
            TaskEvent::Progress(p) => status.progress(p.progress, p.total, p.message.as_deref()),
            TaskEvent::Finished(outcome) => {
                // tasks/result may answer before a poll saw the final status; one read shows it.
                if !handle.task().status.is_terminal() {
                    let _ = handle.refresh().await;
                }
                status.status(
                    handle.task().status.as_str(),
                    handle.task().status_message.as_deref(),
                );
                status.finish();
                return match outcome {
                    Ok(value) => Ok(Followed::Result(value)),
                    Err(e) => Err(task_failure(&handle, e)),
                };
            }
        }
    }
}

/// The failure of a task's `tasks/result`: a cancelled task is [`Exit::Cancelled`], whatever
/// code the server chose for it.
fn task_failure(handle: &TaskHandle, e: ClientError) -> Failure {
    let cancelled = handle.task().status.as_str() == "cancelled";
    let mut failure = Failure::from(e);
    if cancelled {
        failure.exit = Exit::Cancelled;
        failure.message = format!("task {} was cancelled: {}", handle.id(), failure.message);
    }
    failure
}

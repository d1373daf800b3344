//! Following a task in the terminal until its result: the live status line, questions, and
//! Ctrl-C, which cancels the task with `tasks/cancel` (never `notifications/cancelled`,
//! T-CAN-3) and says so.

use mcp_tasks_runtime::client::{ClientError, TaskEvent, TaskHandle};
use serde_json::Value;

use super::exit::{Exit, Failure};
use crate::term::status::StatusLine;

/// Ctrl-C, listened to from the start of a command: a SIGINT that arrives while the task is
/// being created is kept, and cancels the task as soon as it exists, instead of killing the
/// process and leaving the task running.
pub(crate) struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Takes over SIGINT for the rest of the process.
    pub(crate) fn install() -> Self {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(|e| tracing::warn!(error = %e, "cannot listen for Ctrl-C"))
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Waits for Ctrl-C.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        match self.signal.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

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
    interrupt: &mut Interrupt,
) -> Result<Followed, Failure> {
    loop {
        let event = tokio::select! {
            event = handle.next_event() => event,
            () = interrupt.recv() => {
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

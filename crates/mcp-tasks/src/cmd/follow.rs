//! Following a task in the terminal until its result: the live status line, questions, and
//! Ctrl-C, which cancels the task with `tasks/cancel` (never `notifications/cancelled`,
//! T-CAN-3) and says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mcp_tasks_runtime::client::{ClientError, TaskEvent, TaskHandle};
use serde_json::Value;
use tokio::sync::Notify;

use super::exit::{Exit, Failure};
use crate::term::status::StatusLine;

/// Ctrl-C for a client command. While something is *armed* to handle it (following a task,
/// or creating one), Ctrl-C is handed to it: it cancels the task and says so. Otherwise, and on
/// a second Ctrl-C, the command stops at once with exit 130, as a terminal program should.
pub(crate) struct Interrupt {
    armed: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    /// Takes over SIGINT for the rest of the process, from the moment it returns.
    ///
    /// The handler is registered here, synchronously, and only its listening is spawned: a
    /// handler registered inside the spawned task would leave a window in which a Ctrl-C kills
    /// the process by the signal, after a task was created and before it could be cancelled.
    /// When SIGINT cannot be taken over, Ctrl-C keeps its default effect (the process ends) and a
    /// warning says so.
    pub(crate) fn install() -> Self {
        let armed = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(Notify::new());
        let mut sigint = match listen() {
            Ok(sigint) => sigint,
            Err(e) => {
                tracing::warn!(
                    "cannot take over Ctrl-C ({e}); Ctrl-C will end the command without \
                     cancelling its task"
                );
                return Self { armed, notify };
            }
        };
        let (listener_armed, listener_notify) = (armed.clone(), notify.clone());
        tokio::spawn(async move {
            while sigint.recv().await.is_some() {
                if listener_armed.swap(false, Ordering::AcqRel) {
                    listener_notify.notify_one();
                } else {
                    eprintln!("mcp-tasks: interrupted");
                    #[allow(clippy::exit)] // Nothing to clean up that the OS does not.
                    std::process::exit(Exit::Interrupted as i32);
                }
            }
        });
        Self { armed, notify }
    }

    /// From now on Ctrl-C is kept for [`Interrupt::recv`] instead of ending the process: a
    /// Ctrl-C while a task is being created cancels it once it exists.
    pub(crate) fn arm(&self) {
        self.armed.store(true, Ordering::Release);
    }

    /// Back to ending the process on Ctrl-C.
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// Waits for a Ctrl-C (arming first); a second one ends the process.
    pub(crate) async fn recv(&mut self) {
        self.arm();
        self.notify.notified().await;
    }
}

/// The Ctrl-C listener, registered with the OS when created (both kinds are).
#[cfg(unix)]
fn listen() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
}

/// The Ctrl-C listener, registered with the OS when created (both kinds are).
#[cfg(windows)]
fn listen() -> std::io::Result<tokio::signal::windows::CtrlC> {
    tokio::signal::windows::ctrl_c()
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

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Ctrl-C is caught from the moment `install` returns, before the runtime ever runs the
    /// spawned listener: this current-thread runtime does not poll it until the test awaits.
    /// A handler registered inside that task would not exist yet, and the SIGINT sent here
    /// would end the whole test process.
    #[tokio::test(flavor = "current_thread")]
    async fn ctrl_c_is_caught_as_soon_as_install_returns() {
        let mut interrupt = Interrupt::install();
        interrupt.arm();
        let status = std::process::Command::new("kill")
            .args(["-INT", &std::process::id().to_string()])
            .status()
            .expect("the `kill` utility runs");
        assert!(status.success(), "`kill -INT` failed: {status}");
        tokio::time::timeout(Duration::from_secs(10), interrupt.recv())
            .await
            .expect("the armed Ctrl-C is handed to recv");
    }
}

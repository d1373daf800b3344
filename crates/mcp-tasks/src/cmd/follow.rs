//! Following a task in the terminal until its result: the live status line, questions, and
//! Ctrl-C, which cancels the task with `tasks/cancel` (never `notifications/cancelled`,
//! T-CAN-3) and says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// How long a task this command created may take to acknowledge `tasks/cancel` when
/// following it failed, before the command gives up on it.
const ABANDON_LIMIT: Duration = Duration::from_secs(5);

/// Follows `handle` to its end. With `created` (a 2026-07-28 call this command made, which the
/// server turned into a task), following that fails (a question nothing here can answer,
/// polls lost) cancels the task before the command ends: it would otherwise run for no one
/// until its ttl.
pub(crate) async fn follow(
    mut handle: TaskHandle,
    created: bool,
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
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                if created {
                    abandon(&mut handle, status).await;
                }
                return Err(Failure::from(e));
            }
        };
        match event {
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

/// Cancels a created task whose following failed, saying so; best effort, bounded.
async fn abandon(handle: &mut TaskHandle, status: &StatusLine) {
    let id = handle.id().to_owned();
    match tokio::time::timeout(ABANDON_LIMIT, handle.abandon()).await {
        Ok(Ok(())) => status.note(&format!("following failed: cancelled task {id}")),
        Ok(Err(e)) => status.note(&format!("could not cancel task {id}: {e}")),
        Err(_) => status.note(&format!("could not cancel task {id}: no answer")),
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
    use std::sync::Mutex;

    use async_trait::async_trait;
    use mcp_tasks_runtime::client::{Peer, Protocol};
    use serde_json::json;

    use super::*;

    /// A 2026-07-28 server whose task asks a sampling question: this command answers none.
    #[derive(Debug, Default)]
    struct Asking {
        calls: Mutex<Vec<(String, Value)>>,
    }

    #[async_trait]
    impl Peer for Asking {
        async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
            self.calls.lock().unwrap().push((method.to_owned(), params));
            Ok(match method {
                "tasks/get" => json!({
                    "resultType": "complete", "taskId": "t-1", "status": "input_required",
                    "createdAt": "2026-12-05T00:00:00Z", "lastUpdatedAt": "2026-12-05T00:00:00Z",
                    "ttlMs": 60000, "pollIntervalMs": 10,
                    "inputRequests": {"s": {"method": "sampling/createMessage", "params": {
                        "messages": [], "maxTokens": 5}}}
                }),
                _ => json!({"resultType": "complete"}),
            })
        }
    }

    /// X-2, X-6 (client side): following a task this command created that fails (here a
    /// question with no handler) cancels the task before the command ends; following a task
    /// it did not create leaves the task alone.
    #[tokio::test(flavor = "current_thread")]
    async fn a_created_task_whose_following_fails_is_cancelled() {
        let task = serde_json::from_value(json!({
            "taskId": "t-1", "status": "working", "createdAt": "2026-12-05T00:00:00Z",
            "lastUpdatedAt": "2026-12-05T00:00:00Z", "ttlMs": 60000, "pollIntervalMs": 10
        }))
        .unwrap();
        // Not installed: SIGINT stays with the test below.
        let mut interrupt = Interrupt {
            armed: Arc::default(),
            notify: Arc::default(),
        };
        for created in [true, false] {
            let peer = Arc::new(Asking::default());
            let handle = TaskHandle::extension(peer.clone(), &task);
            assert_eq!(handle.protocol(), Protocol::V2026_07_28);
            let status = StatusLine::plain(Box::new(std::io::sink()));
            let followed = tokio::time::timeout(
                Duration::from_secs(10),
                follow(handle, created, &status, &mut interrupt),
            )
            .await
            .expect("following ends");
            assert!(followed.is_err());
            let cancels: Vec<_> = peer
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(m, _)| m == "tasks/cancel")
                .map(|(_, p)| p["taskId"].clone())
                .collect();
            let want = if created { vec![json!("t-1")] } else { vec![] };
            assert_eq!(cancels, want, "created: {created}");
        }
    }

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

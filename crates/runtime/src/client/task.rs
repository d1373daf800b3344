//! Following a task from the requestor's side: [`TaskHandle`].
//!
//! The same handle serves a client following a server's tool task and a server following a
//! task its client hosts (a task-augmented `sampling/createMessage` or `elicitation/create`):
//! both only need a [`Peer`] to send `tasks/*` requests to.
//!
//! Polling honours the receiver's `pollInterval` (T-GET-2); `notifications/tasks/status`, when
//! the receiver sends them, wake the handle sooner, but it never depends on them (T-NOTE-1).
//! When polling sees `input_required` the handle opens `tasks/result` at once, because that
//! exchange is where the receiver delivers the task's questions (T-RES-4).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{
    CancelTaskResult, GetTaskResult, ProgressNotificationParams, Task, TaskStatus,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::error::{ClientError, Result};

/// The interval used when the receiver suggests none.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest interval the handle polls at, whatever the receiver suggests: a `pollInterval`
/// of 0 must not turn into a busy loop.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How often `tasks/result` is asked again when the connection lost its answer.
const RESULT_RETRIES: u32 = 3;

/// Something that takes requests: a client's connection to its server, or a server's session
/// with its client.
#[async_trait]
pub trait Peer: Send + Sync + std::fmt::Debug + 'static {
    /// Sends a request and waits for the result.
    async fn call(&self, method: &str, params: Value) -> Result<Value>;

    /// Status notifications from this peer, when it can receive them.
    fn status_updates(&self) -> Option<broadcast::Receiver<Task>> {
        None
    }

    /// Progress notifications from this peer, when it can receive them.
    fn progress_updates(&self) -> Option<broadcast::Receiver<ProgressNotificationParams>> {
        None
    }
}

enum Wake {
    Finished(Result<Value>),
    Progress(ProgressNotificationParams),
    Status(Task),
    Poll,
}

/// What happened to a task, in order, from [`TaskHandle::next_event`].
#[derive(Debug, Clone)]
pub enum TaskEvent {
    /// The task's status or statusMessage changed.
    Status(Task),
    /// The receiver reported progress on the task's progress token.
    Progress(ProgressNotificationParams),
    /// `tasks/result` answered: the underlying request's result, or its error. Last event.
    Finished(std::result::Result<Value, ClientError>),
}

/// A task the requestor follows. Cheap to create for any task id with
/// [`TaskHandle::attach`].
#[derive(Debug)]
pub struct TaskHandle {
    peer: std::sync::Arc<dyn Peer>,
    task: Task,
    last_poll: Instant,
    status: Option<broadcast::Receiver<Task>>,
    progress: Option<(Value, broadcast::Receiver<ProgressNotificationParams>)>,
    result: Option<JoinHandle<Result<Value>>>,
    finished: bool,
}

impl TaskHandle {
    /// A handle for `task`, as its receiver just reported it (a `CreateTaskResult` or a
    /// `tasks/get`). `progress_token` is the token the creating request carried, if any.
    pub fn new(peer: std::sync::Arc<dyn Peer>, task: Task, progress_token: Option<Value>) -> Self {
        let status = peer.status_updates();
        let progress = progress_token.and_then(|t| peer.progress_updates().map(|rx| (t, rx)));
        Self {
            peer,
            task,
            last_poll: Instant::now(),
            status,
            progress,
            result: None,
            finished: false,
        }
    }

    /// A handle for a task known only by id: reads it once with `tasks/get`.
    ///
    /// # Errors
    ///
    /// The receiver's error (-32602 for an unknown or expired task), or the connection's.
    pub async fn attach(peer: std::sync::Arc<dyn Peer>, task_id: &str) -> Result<Self> {
        let task = get(peer.as_ref(), task_id).await?;
        Ok(Self::new(peer, task, None))
    }

    /// The task's id.
    pub fn id(&self) -> &str {
        &self.task.task_id
    }

    /// The task as last seen.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// How long to wait between polls: the receiver's hint, never below
    /// [`MIN_POLL_INTERVAL`].
    pub fn poll_interval(&self) -> Duration {
        self.task
            .poll_interval
            .map_or(DEFAULT_POLL_INTERVAL, Duration::from_millis)
            .max(MIN_POLL_INTERVAL)
    }

    /// Reads the task now with `tasks/get`, whenever the last poll was.
    ///
    /// # Errors
    ///
    /// The receiver's error, or the connection's.
    pub async fn refresh(&mut self) -> Result<&Task> {
        let task = get(self.peer.as_ref(), self.id()).await?;
        self.last_poll = Instant::now();
        self.task = task;
        Ok(&self.task)
    }

    /// Cancels the task with `tasks/cancel` and returns it as the receiver left it.
    ///
    /// # Errors
    ///
    /// -32602 from the receiver when the task is already terminal (T-CAN-2), or the
    /// connection's error.
    pub async fn cancel(&mut self) -> Result<&Task> {
        let value = self
            .peer
            .call(method::TASKS_CANCEL, json!({"taskId": self.id()}))
            .await?;
        let result: CancelTaskResult = decode(method::TASKS_CANCEL, value)?;
        self.task = result.task;
        Ok(&self.task)
    }

    /// The underlying request's result via `tasks/result`, blocking until the task is
    /// terminal. Questions the task asks meanwhile reach the client's handlers.
    ///
    /// # Errors
    ///
    /// Exactly the error the underlying request would have answered ([`ClientError::Rpc`]),
    /// or the connection's.
    pub async fn result(&self) -> Result<Value> {
        fetch_result(self.peer.clone(), self.id().to_owned()).await
    }

    /// [`TaskHandle::result`], decoded (e.g. into a `CallToolResult`).
    ///
    /// # Errors
    ///
    /// As [`TaskHandle::result`], and [`ClientError::Protocol`] when the result does not
    /// decode.
    pub async fn result_as<T: DeserializeOwned>(&self) -> Result<T> {
        decode(method::TASKS_RESULT, self.result().await?)
    }

    /// Waits for the next thing that happens to the task: a status change, progress, or the
    /// result. Polls no faster than the receiver's `pollInterval`; opens `tasks/result` as
    /// soon as the task needs input or is terminal, so its questions can be delivered.
    ///
    /// After [`TaskEvent::Finished`] there is nothing more: further calls return
    /// [`ClientError::Closed`].
    ///
    /// # Errors
    ///
    /// The connection's error while polling; the receiver's -32602 when the task vanished
    /// (expired) while followed.
    pub async fn next_event(&mut self) -> Result<TaskEvent> {
        if self.finished {
            return Err(ClientError::Closed {
                method: method::TASKS_RESULT.into(),
            });
        }
        loop {
            if self.result.is_none()
                && (self.task.status.is_terminal() || self.task.status == TaskStatus::InputRequired)
            {
                let (peer, id) = (self.peer.clone(), self.id().to_owned());
                self.result = Some(tokio::spawn(fetch_result(peer, id)));
            }
            let next_poll = self.last_poll + self.poll_interval();
            let polling = !self.task.status.is_terminal();
            let id = self.task.task_id.clone();
            let (result, progress, status) =
                (&mut self.result, &mut self.progress, &mut self.status);
            let woke = tokio::select! {
                biased;
                joined = async { result.as_mut().expect("checked").await }, if result.is_some() => {
                    Wake::Finished(joined.unwrap_or_else(|e| {
                        Err(ClientError::Transport(format!("tasks/result stopped: {e}")))
                    }))
                }
                Some(p) = recv_progress(progress) => Wake::Progress(p),
                Some(task) = recv_status(status, &id) => Wake::Status(task),
                () = tokio::time::sleep_until(next_poll.into()), if polling => Wake::Poll,
            };
            match woke {
                Wake::Finished(outcome) => {
                    self.result = None;
                    self.finished = true;
                    return Ok(TaskEvent::Finished(outcome));
                }
                Wake::Progress(p) => return Ok(TaskEvent::Progress(p)),
                Wake::Status(task) => {
                    if self.accept(task) {
                        return Ok(TaskEvent::Status(self.task.clone()));
                    }
                }
                Wake::Poll => {
                    let task = get(self.peer.as_ref(), &id).await?;
                    self.last_poll = Instant::now();
                    if self.accept(task) {
                        return Ok(TaskEvent::Status(self.task.clone()));
                    }
                }
            }
        }
    }

    /// Follows the task to its end and returns its result, ignoring the events on the way.
    ///
    /// # Errors
    ///
    /// As [`TaskHandle::result`].
    pub async fn wait(mut self) -> Result<Value> {
        loop {
            if let TaskEvent::Finished(outcome) = self.next_event().await? {
                return outcome;
            }
        }
    }

    /// Takes a newer view of the task; true when its status or message changed. A terminal
    /// task never goes back (T-LIFE-2), whatever a late notification says.
    fn accept(&mut self, task: Task) -> bool {
        if self.task.status.is_terminal() && !task.status.is_terminal() {
            return false;
        }
        let changed =
            task.status != self.task.status || task.status_message != self.task.status_message;
        self.task = task;
        changed
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        if let Some(result) = self.result.take() {
            result.abort();
        }
    }
}

async fn get(peer: &dyn Peer, id: &str) -> Result<Task> {
    let value = peer.call(method::TASKS_GET, json!({"taskId": id})).await?;
    Ok(decode::<GetTaskResult>(method::TASKS_GET, value)?.task)
}

async fn fetch_result(peer: std::sync::Arc<dyn Peer>, id: String) -> Result<Value> {
    let mut attempt = 0;
    loop {
        match peer.call(method::TASKS_RESULT, json!({"taskId": id})).await {
            // The stream carrying the answer was lost; the task is not: ask again.
            Err(ClientError::Transport(reason)) if attempt < RESULT_RETRIES => {
                attempt += 1;
                tracing::debug!(task = %id, %reason, attempt, "tasks/result lost its answer; asking again");
            }
            other => return other,
        }
    }
}

async fn recv_status(rx: &mut Option<broadcast::Receiver<Task>>, id: &str) -> Option<Task> {
    let Some(receiver) = rx.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(task) if task.task_id == id => return Some(task),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => {
                *rx = None;
                return None;
            }
        }
    }
}

async fn recv_progress(
    rx: &mut Option<(Value, broadcast::Receiver<ProgressNotificationParams>)>,
) -> Option<ProgressNotificationParams> {
    let Some((token, receiver)) = rx.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(p) if serde_json::to_value(&p.progress_token).ok().as_ref() == Some(token) => {
                return Some(p)
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => {
                *rx = None;
                return None;
            }
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(method: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| ClientError::protocol(method, e))
}

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
//!
//! # Both eras
//!
//! The handle hides which era the task belongs to where it can: [`TaskHandle::task`],
//! [`TaskHandle::next_event`], [`TaskHandle::result`], [`TaskHandle::cancel`] work alike. What
//! differs underneath, for a task of the MCP 2026-07-28 tasks extension
//! ([`TaskHandle::extension`], [`TaskHandle::attach_extension`]):
//!
//! | | 2025-11-25 | 2026-07-28 |
//! |---|---|---|
//! | the result | `tasks/result`, held open | inlined by `tasks/get` once terminal |
//! | questions | requests on the `tasks/result` exchange | `inputRequests` of `tasks/get`, answered with `tasks/update` |
//! | a tool's `isError` result | status `failed` | status `completed` (X-4) |
//! | `cancel` | answers the cancelled task | an acknowledgement; the handle then reads the task until it shows the end, for up to 5 s |
//! | wakes | polling, and `notifications/tasks/status` | polling only |
//! | progress | `notifications/progress` | none |
//!
//! In both, a task that failed with a JSON-RPC error ends with that error, and a cancelled
//! task with -32800.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{
    CancelTaskResult, GetTaskResult, ProgressNotificationParams, Task, TaskStatus,
};
use mcp_tasks_wire::v2026_07_28::{self as v2, DetailedTask, InputRequest};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::error::{ClientError, Result};
use super::ext_task::{self, Extension};
use super::protocol::Protocol;

/// The interval used when the receiver suggests none.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest interval the handle polls at, whatever the receiver suggests: a `pollInterval`
/// of 0 must not turn into a busy loop.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How often `tasks/result` is asked again when the connection lost its answer.
const RESULT_RETRIES: u32 = 3;
/// How long [`TaskHandle::cancel`] of a 2026-07-28 task reads the task after the
/// acknowledgement, waiting for it to show `cancelled` (or another end).
pub const CANCEL_SETTLE: Duration = Duration::from_secs(5);

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

    /// Answers one question of a 2026-07-28 task (an entry of its `inputRequests`, X-5), as
    /// the user or model would; `task` is the task that asks.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] by default: a peer that answers nothing.
    async fn answer_input(&self, request: &InputRequest, task: Option<&str>) -> Result<Value> {
        let _ = task;
        Err(ClientError::Unsupported(format!(
            "this peer answers no input requests (the task asks {})",
            request.method
        )))
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
    /// The task ended: the underlying request's result, or its error (from `tasks/result` in
    /// 2025-11-25, inlined by `tasks/get` in 2026-07-28). Last event.
    Finished(std::result::Result<Value, ClientError>),
}

/// A task the requestor follows. Cheap to create for any task id with
/// [`TaskHandle::attach`].
#[derive(Debug)]
pub struct TaskHandle {
    peer: Arc<dyn Peer>,
    task: Task,
    last_poll: Instant,
    status: Option<broadcast::Receiver<Task>>,
    progress: Option<(Value, broadcast::Receiver<ProgressNotificationParams>)>,
    result: Option<JoinHandle<Result<Value>>>,
    finished: bool,
    /// `Some` for a task of the 2026-07-28 tasks extension.
    ext: Option<Extension>,
    /// Dropping the handle before the task ended sends `tasks/cancel`
    /// ([`TaskHandle::cancel_on_drop`]).
    cancel_on_drop: bool,
}

impl TaskHandle {
    /// A handle for `task`, as its receiver just reported it (a `CreateTaskResult` or a
    /// `tasks/get`). `progress_token` is the token the creating request carried, if any.
    pub fn new(peer: Arc<dyn Peer>, task: Task, progress_token: Option<Value>) -> Self {
        let status = peer.status_updates();
        let progress = peer.progress_updates();
        Self::subscribed(peer, task, progress_token, status, progress)
    }

    /// [`TaskHandle::new`] with status and progress receivers subscribed before the creating
    /// request was sent: a quick task's `completed` notification, sent before its
    /// `CreateTaskResult` was read, then waits in the receiver instead of being missed (which
    /// cost a whole poll interval).
    pub(crate) fn subscribed(
        peer: Arc<dyn Peer>,
        task: Task,
        progress_token: Option<Value>,
        status: Option<broadcast::Receiver<Task>>,
        progress: Option<broadcast::Receiver<ProgressNotificationParams>>,
    ) -> Self {
        let progress = progress_token.zip(progress);
        Self {
            peer,
            task,
            last_poll: Instant::now(),
            status,
            progress,
            result: None,
            finished: false,
            ext: None,
            cancel_on_drop: false,
        }
    }

    /// A handle for a task of the MCP 2026-07-28 tasks extension, as its `CreateTaskResult`
    /// showed it. It learns of changes by polling `tasks/get` only.
    pub fn extension(peer: Arc<dyn Peer>, task: &v2::Task) -> Self {
        Self {
            peer,
            task: ext_task::legacy_view(task),
            last_poll: Instant::now(),
            status: None,
            progress: None,
            result: None,
            finished: false,
            ext: Some(Extension::default()),
            cancel_on_drop: false,
        }
    }

    /// A handle for a task known only by id: reads it once with `tasks/get`.
    ///
    /// # Errors
    ///
    /// The receiver's error (-32602 for an unknown or expired task), or the connection's.
    pub async fn attach(peer: Arc<dyn Peer>, task_id: &str) -> Result<Self> {
        let task = get(peer.as_ref(), task_id).await?;
        Ok(Self::new(peer, task, None))
    }

    /// [`TaskHandle::attach`] for a task of the MCP 2026-07-28 tasks extension.
    ///
    /// # Errors
    ///
    /// The receiver's error (-32602 for an unknown or expired task), or the connection's.
    pub async fn attach_extension(peer: Arc<dyn Peer>, task_id: &str) -> Result<Self> {
        let detailed = ext_task::get(peer.as_ref(), task_id).await?;
        let mut handle = Self::extension(peer, &detailed.task);
        if let Some(ext) = handle.ext.as_mut() {
            ext.detailed = Some(detailed);
        }
        Ok(handle)
    }

    /// The era of the task: how the handle reads it.
    pub fn protocol(&self) -> Protocol {
        if self.ext.is_some() {
            Protocol::V2026_07_28
        } else {
            Protocol::V2025_11_25
        }
    }

    /// The task's id.
    pub fn id(&self) -> &str {
        &self.task.task_id
    }

    /// The task as last seen (in the 2025-11-25 shape, whatever its era).
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The last `tasks/get` answer of a 2026-07-28 task, as sent (with its inlined result,
    /// error or questions); `None` in 2025-11-25, and before the first poll.
    pub fn detailed(&self) -> Option<&DetailedTask> {
        self.ext.as_ref().and_then(|e| e.detailed.as_ref())
    }

    /// How long to wait between polls: the receiver's hint, never below
    /// [`MIN_POLL_INTERVAL`].
    pub fn poll_interval(&self) -> Duration {
        interval_of(self.task.poll_interval)
    }

    /// Reads the task now with `tasks/get`, whenever the last poll was.
    ///
    /// # Errors
    ///
    /// The receiver's error, or the connection's.
    pub async fn refresh(&mut self) -> Result<&Task> {
        if self.ext.is_some() {
            let detailed = ext_task::get(self.peer.as_ref(), self.id()).await?;
            self.take_detailed(detailed);
            return Ok(&self.task);
        }
        let task = get(self.peer.as_ref(), self.id()).await?;
        self.last_poll = Instant::now();
        self.task = task;
        Ok(&self.task)
    }

    /// From now on, dropping the handle before it saw the task end (the caller stopped
    /// waiting, or following failed) sends `tasks/cancel`, best effort, on the current tokio
    /// runtime: for a task nobody asked for by name (a 2026-07-28 call the server made a
    /// task), which would otherwise run until its ttl for no one. [`TaskHandle::cancel`] and
    /// [`TaskHandle::abandon`] send it themselves.
    pub fn cancel_on_drop(&mut self) {
        self.cancel_on_drop = true;
    }

    /// Sends `tasks/cancel` and nothing else (no settle loop), stopping to answer the task's
    /// questions: for a requestor that stops following a task it created because following
    /// failed.
    ///
    /// # Errors
    ///
    /// The receiver's error, or the connection's.
    pub async fn abandon(&mut self) -> Result<()> {
        self.cancel_on_drop = false;
        if let Some(ext) = self.ext.as_mut() {
            ext.cancelling();
        }
        self.peer
            .call(method::TASKS_CANCEL, json!({"taskId": self.id()}))
            .await
            .map(drop)
    }

    /// Cancels the task with `tasks/cancel` and returns it as the receiver left it.
    ///
    /// In 2026-07-28 the receiver only acknowledges; the handle then reads the task
    /// until it is terminal, for up to [`CANCEL_SETTLE`], and returns what it saw last.
    ///
    /// # Errors
    ///
    /// -32602 from the receiver when the task is already terminal (T-CAN-2, 2025-11-25 only:
    /// the extension acknowledges that too), or the connection's error.
    pub async fn cancel(&mut self) -> Result<&Task> {
        self.cancel_on_drop = false;
        if let Some(ext) = self.ext.as_mut() {
            // Questions asked from now on are for a task on its way out: none is answered,
            // neither by this settle loop nor by later polls.
            ext.cancelling();
            ext_task::cancel(self.peer.as_ref(), self.id()).await?;
            let deadline = Instant::now() + CANCEL_SETTLE;
            loop {
                self.refresh().await?;
                let now = Instant::now();
                if self.task.status.is_terminal() || now >= deadline {
                    return Ok(&self.task);
                }
                tokio::time::sleep(self.poll_interval().min(deadline - now)).await;
            }
        }
        self.cancel_on_drop = false;
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
        if let Some(ext) = &self.ext {
            let (peer, id) = (self.peer.clone(), self.id().to_owned());
            return ext_task::wait(peer, id, self.poll_interval(), ext.sharing()).await;
        }
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
        if self.ext.is_some() {
            return self.next_extension_event().await;
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

    /// [`TaskHandle::next_event`] of a 2026-07-28 task: polls `tasks/get`, answers new
    /// questions in the background (polling goes on meanwhile), and ends with the inlined
    /// outcome.
    async fn next_extension_event(&mut self) -> Result<TaskEvent> {
        loop {
            let ext = self.ext.as_mut().expect("an extension handle");
            if let Some(outcome) = ext.outcome() {
                ext.stop();
                self.finished = true;
                return Ok(TaskEvent::Finished(outcome));
            }
            // A terminal status without its outcome (as a CreateTaskResult shows it) is read
            // at once, until a tasks/get answered; so is the task right after answers were
            // sent, once. Anything else waits out the interval, or this loop would spin.
            let read_at_once = (self.task.status.is_terminal() && !ext.read) || ext.poll_now;
            let next_poll = if read_at_once {
                Instant::now()
            } else {
                self.last_poll + interval_of(self.task.poll_interval)
            };
            let answering = &mut ext.answering;
            let answered = tokio::select! {
                biased;
                joined = async { answering.as_mut().expect("checked").await }, if answering.is_some() => Some(joined),
                () = tokio::time::sleep_until(next_poll.into()) => None,
            };
            if let Some(joined) = answered {
                ext.answering = None;
                joined.map_err(|e| {
                    ClientError::Transport(format!("answering the task's questions stopped: {e}"))
                })??;
                ext.poll_now = true;
                continue;
            }
            ext.poll_now = false;
            let (peer, id) = (self.peer.clone(), self.task.task_id.clone());
            let Some(detailed) = ext_task::poll(peer.as_ref(), &id, &mut ext.lost_polls).await?
            else {
                self.last_poll = Instant::now();
                continue;
            };
            if self.take_detailed(detailed) {
                return Ok(TaskEvent::Status(self.task.clone()));
            }
        }
    }

    /// Takes a `tasks/get` answer of a 2026-07-28 task and starts answering its new questions;
    /// true when the status or message changed. A terminal task never goes back (T-LIFE-2).
    fn take_detailed(&mut self, detailed: DetailedTask) -> bool {
        self.last_poll = Instant::now();
        if let Some(ext) = self.ext.as_mut() {
            ext.read = true;
        }
        let view = ext_task::legacy_view(&detailed.task);
        if self.task.status.is_terminal() && !view.status.is_terminal() {
            return false;
        }
        let changed = self.accept(view);
        if let Some(ext) = self.ext.as_mut() {
            ext.detailed = Some(detailed);
            ext.answer_new(&self.peer);
        }
        changed
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
        if let Some(ext) = self.ext.as_mut() {
            ext.stop();
        }
        if self.cancel_on_drop && !self.finished && !self.task.status.is_terminal() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let (peer, id) = (self.peer.clone(), self.id().to_owned());
            runtime.spawn(async move {
                if let Err(e) = peer.call(method::TASKS_CANCEL, json!({"taskId": id})).await {
                    tracing::debug!(task = %id, error = %e, "could not cancel an abandoned task");
                }
            });
        }
    }
}

/// The interval to poll at for a receiver's hint in milliseconds: [`DEFAULT_POLL_INTERVAL`]
/// without one, never below [`MIN_POLL_INTERVAL`].
pub(super) fn interval_of(hint_ms: Option<u64>) -> Duration {
    hint_ms
        .map_or(DEFAULT_POLL_INTERVAL, Duration::from_millis)
        .max(MIN_POLL_INTERVAL)
}

async fn get(peer: &dyn Peer, id: &str) -> Result<Task> {
    let value = peer.call(method::TASKS_GET, json!({"taskId": id})).await?;
    Ok(decode::<GetTaskResult>(method::TASKS_GET, value)?.task)
}

async fn fetch_result(peer: Arc<dyn Peer>, id: String) -> Result<Value> {
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

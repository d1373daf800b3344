//! [`ToolContext`]: what a tool's handler can do besides compute: report progress, log, ask
//! the requestor, notice cancellation.

use std::sync::Arc;

use mcp_tasks_engine::{TaskContext, TaskId};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Message, Notification};
use mcp_tasks_wire::v2025_11_25::{
    ClientTasksCapability, CreateMessageRequestParams, CreateMessageResult, CreateTaskResult,
    ElicitRequestParams, ElicitResult, LoggingLevel, LoggingMessageNotificationParams,
    TaskMetadata,
};
use mcp_tasks_wire::v2026_07_28::InputRequests;
use mcp_tasks_wire::{meta, method};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::client_task::{self, ClientPeer, Route};
use super::directed::Directed;
use crate::client::TaskHandle;

/// How long a cancelled call waits for the client to confirm it cancelled its own task.
const CLIENT_CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
use crate::server::tasks::input;
use crate::session::{Session, Sink};

/// The handler's view of the call it serves.
///
/// The same handler runs for a plain call and for a task: in a task, questions go through the
/// task's mailbox (the task shows `input_required` until answered, T-RES-4) and progress keeps
/// the request's token for the task's whole life (T-PROG-1); in a plain MCP 2025-11-25 call
/// they go straight to the caller's stream.
///
/// In MCP 2026-07-28 the server decides whether a call becomes a task (X-2), and a call may
/// become one while its handler runs: the handler is not restarted, its context switches to
/// task mode (see [`ToolContext::ask`] for where questions go, [`ToolDef::task_after`] for
/// when a call becomes a task). Before that, questions are answered within the request
/// (multi round-trip, [`ToolContext::ask_in_request`]), which runs the handler again from the
/// start with the answers.
///
/// [`ToolDef::task_after`]: super::ToolDef::task_after
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
    /// A MCP 2025-11-25 call without a task: questions go on the request's stream.
    Plain {
        sink: Sink,
        cancel: CancellationToken,
    },
    /// A task from its start (either era): questions wait in its mailbox.
    Task(TaskContext),
    /// A MCP 2026-07-28 call the server directs: answered within the request (multi
    /// round-trip) until it becomes a task, if it does.
    Directed(Arc<Directed>),
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

    /// The context of a MCP 2026-07-28 call, sharing `directed` with the code that answers it.
    pub(crate) fn directed(session: Arc<Session>, directed: Arc<Directed>) -> Self {
        Self {
            session,
            progress_token: directed.progress_token().cloned(),
            mode: Mode::Directed(directed),
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

    /// What the client declared it can answer: at initialize in 2025-11-25, on this very
    /// request in 2026-07-28 (B-2). A tool reads it to ask only questions the client can take.
    pub fn client_capabilities(&self) -> mcp_tasks_wire::v2025_11_25::ClientCapabilities {
        self.session.peer_info().capabilities
    }

    /// Whether this run is a re-run of a resumable tool's task after the server restarted.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The task this call runs as, if it is one.
    pub fn task_id(&self) -> Option<&TaskId> {
        match &self.mode {
            Mode::Task(t) => Some(t.id()),
            Mode::Directed(d) => d.task().map(TaskContext::id),
            Mode::Plain { .. } => None,
        }
    }

    /// Tripped when the caller cancels (`tasks/cancel`, or `notifications/cancelled` for a plain
    /// call). A task's work is also aborted at its next `.await`. A MCP 2026-07-28 call that
    /// became a task keeps the same token, tripped by `tasks/cancel` from then on.
    pub fn cancellation(&self) -> &CancellationToken {
        match &self.mode {
            Mode::Task(t) => t.cancellation(),
            Mode::Plain { cancel, .. } => cancel,
            Mode::Directed(d) => d.cancellation(),
        }
    }

    /// Reports progress: to the caller when it gave a progress token, and, for a task, into
    /// the task's history for operators (the first report, then at most one a second).
    /// Nothing is sent or noted once the call is cancelled or the task is over (T-PROG-1). A
    /// MCP 2026-07-28 call reports on the request's stream while it is plain; once it became
    /// a task that stream is answered and gone, so its progress goes to the history only
    /// (`tasks/get` and the status message tell how it goes).
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        if self.cancellation().is_cancelled() {
            return;
        }
        self.note_progress(progress, total, message);
        let Some(token) = &self.progress_token else {
            return;
        };
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
            Mode::Directed(d) => {
                if let (None, Some(sink)) = (d.task(), d.sink()) {
                    let _ =
                        sink.send(Notification::new(method::NOTIFY_PROGRESS, Some(params)).into());
                }
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

    /// Notes a task's progress in its history. The engine keeps the latest report and writes
    /// at most one at a time, in the background, so this never waits, spawns nothing per
    /// call, and works from any thread, a tokio worker or not.
    fn note_progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let task = match &self.mode {
            Mode::Task(t) => Some(t),
            Mode::Directed(d) => d.task(),
            Mode::Plain { .. } => None,
        };
        if let Some(task) = task {
            task.progress(progress, total, message.map(str::to_owned));
        }
    }

    /// Sends a log message (`notifications/message`) to the requestor when it takes `level`;
    /// otherwise does nothing. `logger` names the part of the tool that speaks; `data` is a
    /// string or any JSON value. Log lines reach the client, so they must not hold secrets or
    /// personal data (MCP "Logging", "Security").
    ///
    /// | call | the level the requestor takes | the message goes |
    /// |---|---|---|
    /// | MCP 2025-11-25, plain | the session's `logging/setLevel`; every level before one | on the request's stream |
    /// | MCP 2025-11-25, a task | as above | on a `tasks/result` stream open for the task, else the session's standing stream, with the related-task `_meta` |
    /// | MCP 2026-07-28 | this request's `_meta["io.modelcontextprotocol/logLevel"]`; none without it | on the request's stream while the call is plain; dropped once it became a task (that stream is answered and gone) |
    ///
    /// Nothing is sent once the call is cancelled or the task is over, as for
    /// [`ToolContext::progress`]. A task re-run after a restart has no requestor to log to.
    pub fn log(&self, level: LoggingLevel, logger: Option<&str>, data: Value) {
        if !self.session.takes_log(level) || self.cancellation().is_cancelled() {
            return;
        }
        let mut params = LoggingMessageNotificationParams {
            level,
            logger: logger.map(str::to_owned),
            data,
            meta: None,
        };
        let message = |params: &LoggingMessageNotificationParams| -> Message {
            let params = serde_json::to_value(params).expect("log params are plain JSON");
            Notification::new(method::NOTIFY_MESSAGE, Some(params)).into()
        };
        match &self.mode {
            Mode::Plain { sink, .. } => {
                let _ = sink.send(message(&params));
            }
            Mode::Directed(d) => {
                if let (None, Some(sink)) = (d.task(), d.sink()) {
                    let _ = sink.send(message(&params));
                }
            }
            Mode::Task(t) => {
                params.meta = Some(meta::related_task(t.id().as_str()));
                self.session.send_for_task(t.id(), message(&params));
            }
        }
    }

    /// Sets the task's statusMessage; a plain call has none, so this does nothing there.
    ///
    /// # Errors
    ///
    /// -32603 when the store fails; a task that already ended is not an error.
    pub async fn set_status_message(&self, message: impl Into<String>) -> Result<(), ErrorObject> {
        let task = match &self.mode {
            Mode::Plain { .. } => None,
            Mode::Task(t) => Some(t),
            Mode::Directed(d) => d.task(),
        };
        let Some(task) = task else {
            return Ok(());
        };
        match task.set_message(message).await {
            Ok(()) | Err(mcp_tasks_engine::Error::Conflict { .. }) => Ok(()),
            Err(e) => Err(crate::error::to_error_object(&e)),
        }
    }

    /// Asks the requestor to fill a form (`elicitation/create`) and waits for the answer.
    ///
    /// # Errors
    ///
    /// -32602 when the client did not declare the elicitation capability for the request's
    /// mode (`elicitation.url` for URL mode, else form; a server must not send requests the
    /// client cannot take); the client's own error; -32603 when the task was cancelled or the
    /// session ended while waiting.
    pub async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ErrorObject> {
        let params = encode(&params)?;
        let caps = self.session.peer_info().capabilities;
        if !self.resumed
            && !crate::server::tasks::input::can_answer(&caps, method::ELICITATION_CREATE, &params)
        {
            return Err(ErrorObject::invalid_params(
                "this tool asks the user a question, but the client did not declare the \
                 elicitation capability for its mode (capabilities.elicitation.form, or .url \
                 for URL mode) at initialize, or in this request's _meta clientCapabilities \
                 in MCP 2026-07-28",
            ));
        }
        let answer = self.ask(method::ELICITATION_CREATE, params).await?;
        decode(answer, "ElicitResult")
    }

    /// Asks the client's model for a message (`sampling/createMessage`) and waits for it.
    ///
    /// # Errors
    ///
    /// -32602 when the client did not declare the sampling capability; the client's own
    /// error; -32603 when the call was cancelled or the session ended while waiting.
    pub async fn create_message(
        &self,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ErrorObject> {
        if self.session.peer_info().capabilities.sampling.is_none() && !self.resumed {
            return Err(ErrorObject::invalid_params(
                "this tool asks the client's model, but the client did not declare the \
                 sampling capability at initialize, or in this request's _meta \
                 clientCapabilities in MCP 2026-07-28",
            ));
        }
        let answer = self
            .ask(method::SAMPLING_CREATE_MESSAGE, encode(&params)?)
            .await?;
        decode(answer, "CreateMessageResult")
    }

    /// Whether the client runs `elicitation/create` as a task when asked to (it declared
    /// `tasks.requests.elicitation.create`, T-CAP-3, on a session that negotiated 2025-11-25:
    /// on an older version the declaration means nothing).
    pub fn client_hosts_elicitation(&self) -> bool {
        self.client_hosts(|t| t.elicitation_create_supported())
    }

    /// Whether the client runs `sampling/createMessage` as a task when asked to (as for
    /// [`ToolContext::client_hosts_elicitation`]).
    pub fn client_hosts_sampling(&self) -> bool {
        self.client_hosts(|t| t.sampling_create_message_supported())
    }

    /// Whether the client declared, in a session that has tasks, the task capability `declared`
    /// looks for.
    fn client_hosts(&self, declared: impl FnOnce(&ClientTasksCapability) -> bool) -> bool {
        crate::server::initialize::session_has_tasks(&self.session)
            && self
                .session
                .peer_info()
                .capabilities
                .tasks
                .as_ref()
                .is_some_and(declared)
    }

    /// [`ToolContext::elicit`] as a task the client hosts: the client answers at once with
    /// its task, and the server follows it (`tasks/get` at the client's `pollInterval`, then
    /// `tasks/result`) instead of holding one request open while the user takes their time.
    /// Cancelling this call cancels the client's task.
    ///
    /// # Errors
    ///
    /// -32602 when the client does not host elicitation tasks (check
    /// [`ToolContext::client_hosts_elicitation`] first); the client's error; -32603 when the
    /// call was cancelled or the connection to the client ended.
    pub async fn elicit_as_task(
        &self,
        mut params: ElicitRequestParams,
        ttl_ms: Option<u64>,
    ) -> Result<ElicitResult, ErrorObject> {
        if !self.client_hosts_elicitation() {
            return Err(ErrorObject::invalid_params(
                "the client does not run elicitation as a task (it did not declare \
                 capabilities.tasks.requests.elicitation.create)",
            ));
        }
        params.task = Some(TaskMetadata { ttl: ttl_ms });
        let answer = self
            .ask_as_task(method::ELICITATION_CREATE, encode(&params)?)
            .await?;
        decode(answer, "ElicitResult")
    }

    /// [`ToolContext::create_message`] as a task the client hosts; see
    /// [`ToolContext::elicit_as_task`].
    ///
    /// # Errors
    ///
    /// As [`ToolContext::elicit_as_task`], for sampling.
    pub async fn create_message_as_task(
        &self,
        mut params: CreateMessageRequestParams,
        ttl_ms: Option<u64>,
    ) -> Result<CreateMessageResult, ErrorObject> {
        if !self.client_hosts_sampling() {
            return Err(ErrorObject::invalid_params(
                "the client does not run sampling as a task (it did not declare \
                 capabilities.tasks.requests.sampling.createMessage)",
            ));
        }
        params.task = Some(TaskMetadata { ttl: ttl_ms });
        let answer = self
            .ask_as_task(method::SAMPLING_CREATE_MESSAGE, encode(&params)?)
            .await?;
        decode(answer, "CreateMessageResult")
    }

    /// Sends a task-augmented request and follows the client's task to its result.
    async fn ask_as_task(&self, method: &str, params: Value) -> Result<Value, ErrorObject> {
        let created: CreateTaskResult =
            decode(self.ask(method, params).await?, "CreateTaskResult")?;
        let route = match &self.mode {
            Mode::Plain { sink, .. } => Route::Exchange(sink.clone()),
            Mode::Task(t) => Route::Task(t.id().clone()),
            Mode::Directed(d) => match (d.task(), d.sink()) {
                (Some(t), _) => Route::Task(t.id().clone()),
                (None, Some(sink)) => Route::Exchange(sink),
                (None, None) => {
                    return Err(ErrorObject::internal(
                        "the call's request stream is gone and it is no task",
                    ))
                }
            },
        };
        let peer = Arc::new(ClientPeer {
            session: self.session.clone(),
            route,
        });
        // The work of a cancelled task is dropped at its next await, so the client's task is
        // cancelled from a guard rather than after the wait.
        let task_id = created.task.task_id.clone();
        let mut guard = client_task::CancelOnDrop::new(peer.clone(), task_id.clone());
        let handle = TaskHandle::new(peer.clone(), created.task, None);
        let outcome = tokio::select! {
            outcome = handle.wait() => outcome,
            () = self.cancellation().cancelled() => {
                // A plain call goes on running here: cancel the client's task before the
                // call's exchange ends and takes the stream with it.
                guard.disarm();
                let cancel = crate::client::Peer::call(
                    peer.as_ref(),
                    method::TASKS_CANCEL,
                    json!({"taskId": task_id}),
                );
                if let Err(e) = tokio::time::timeout(CLIENT_CANCEL_WAIT, cancel).await {
                    tracing::debug!(task = %task_id, error = %e, "the client did not confirm the cancel in time");
                }
                return Err(ErrorObject::internal("the call was cancelled"));
            }
        };
        // The client answered tasks/result: its task is over, whatever the answer.
        if matches!(outcome, Ok(_) | Err(crate::client::ClientError::Rpc { .. })) {
            guard.disarm();
        }
        outcome.map_err(client_task::to_error_object)
    }

    /// Asks a question that belongs to this request, under a key the tool chooses, and
    /// returns the client's answer (the result of `method`).
    ///
    /// The difference from [`ToolContext::ask`] shows in MCP 2026-07-28, before a call has
    /// become a task: the question is answered within the request (multi round-trip, B-6).
    /// If this request's `inputResponses` (or the answers its `requestState` carries from
    /// earlier rounds) hold `key`, this returns that answer at once. If not, this round ends:
    /// the handler is dropped where it waits, and the call answers `InputRequiredResult` with
    /// `inputRequests[key]` and every other question asked and not answered in the round; the
    /// client retries the same call with the answers, and **the handler runs again from the
    /// start**, this time getting them. So a handler that asks in-request questions must be
    /// deterministic up to its questions: ask the same questions under the same keys, and do
    /// nothing before them that must not happen twice. Use it for what a tool needs before it
    /// starts its real work; a question asked once the call is a task (or in MCP 2025-11-25)
    /// is [`ToolContext::ask`].
    ///
    /// ```
    /// use mcp_tasks_runtime::server::{ToolContext, ToolDef, Tools};
    /// use mcp_tasks_runtime::{CallToolResult, JsonSchema, TaskSupport};
    /// use serde_json::json;
    ///
    /// #[derive(serde::Deserialize, JsonSchema)]
    /// #[schemars(crate = "mcp_tasks_runtime::schemars")]
    /// struct NoArgs {}
    ///
    /// // Asks for a name within the request, then works long enough to become a task.
    /// let tools = Tools::new().tool(
    ///     ToolDef::new("greet_slowly").task_support(TaskSupport::Optional),
    ///     |_: NoArgs, cx: ToolContext| async move {
    ///         let form = json!({
    ///             "message": "What is your name?",
    ///             "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}
    ///         });
    ///         let answer = cx.ask_in_request("user_name", "elicitation/create", form).await?;
    ///         let name = answer["content"]["name"].as_str().unwrap_or("stranger").to_owned();
    ///         tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    ///         Ok(CallToolResult::text(format!("Hello, {name}!")))
    ///     },
    /// );
    /// # let _ = tools;
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ToolContext::ask`].
    pub async fn ask_in_request(
        &self,
        key: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, ErrorObject> {
        match &self.mode {
            Mode::Directed(d) => self.ask_directed(d, Some(key), method, params).await,
            Mode::Plain { .. } | Mode::Task(_) => self.ask(method, params).await,
        }
    }

    /// Asks several questions at once and waits for all the answers, by key. In a MCP
    /// 2026-07-28 request round they go out together in one `InputRequiredResult` (only those
    /// not answered yet); in a task they wait in the mailbox together (the task shows them all
    /// in `inputRequests`); in MCP 2025-11-25 they are sent together.
    ///
    /// # Errors
    ///
    /// The first error of [`ToolContext::ask_in_request`].
    pub async fn ask_all_in_request(
        &self,
        requests: InputRequests,
    ) -> Result<Map<String, Value>, ErrorObject> {
        let asks = requests.into_iter().map(|(key, q)| async move {
            let answer = self.ask_in_request(&key, &q.method, q.params).await?;
            Ok::<_, ErrorObject>((key, answer))
        });
        futures::future::try_join_all(asks)
            .await
            .map(|answers| answers.into_iter().collect())
    }

    /// Sends any request to the requestor in the context of this call and waits for its result.
    ///
    /// Where the question goes depends on the call:
    ///
    /// | call | the question |
    /// |---|---|
    /// | a task (either era) | waits in the task's mailbox: `tasks/get` shows it, `tasks/result` (2025-11-25) or `tasks/update` (2026-07-28) answers it |
    /// | MCP 2025-11-25, plain | is sent on the request's stream |
    /// | MCP 2026-07-28, may become a task | makes the call a task at once, then waits in its mailbox |
    /// | MCP 2026-07-28, cannot become a task | is answered within the request, as [`ToolContext::ask_in_request`] under the key `q1`, `q2`, … in the order asked |
    ///
    /// A MCP 2026-07-28 call may become a task when the tool's task support is not forbidden
    /// and the client declared the tasks extension on the request.
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
            Mode::Task(t) => ask_mailbox(t, method, params).await,
            Mode::Directed(d) => self.ask_directed(d, None, method, params).await,
        }
    }
}

/// Asks in a task's mailbox and waits for the answer (T-RES-4, X-5).
async fn ask_mailbox(
    task: &TaskContext,
    method: &str,
    params: Value,
) -> Result<Value, ErrorObject> {
    let answer = task
        .request_input(method, params)
        .await
        .map_err(|e| crate::error::to_error_object(&e))?;
    input::open_answer(answer)
}

impl ToolContext {
    /// A question of a MCP 2026-07-28 call: answered from this request's answers, else asked
    /// in the mailbox of the task the call is or becomes, else left open to end the round
    /// (B-6), if the client declared on this request that it can answer it.
    async fn ask_directed(
        &self,
        d: &Directed,
        key: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, ErrorObject> {
        if key.is_none() && d.promotable() {
            let task = task_of(d, true).await?;
            return ask_mailbox(task, method, params).await;
        }
        let key = key.map_or_else(|| d.next_key(), ToOwned::to_owned);
        if let Some(answer) = d.answer(&key) {
            return Ok(answer);
        }
        if let Some(task) = d.task() {
            return ask_mailbox(task, method, params).await;
        }
        // A server sends only input requests the client declared it can answer.
        if !can_answer_in_request(&self.session.peer_info().capabilities, method, &params) {
            return Err(ErrorObject::invalid_params(format!(
                "this tool asks {method}, which the client did not declare it can answer in \
                 this request's _meta clientCapabilities"
            )));
        }
        d.ask(&key, method, params.clone());
        // The round ends here: the code answering the request sees the open question after
        // this poll and drops the handler. Should the call become a task first, the question
        // moves to its mailbox instead.
        let task = task_of(d, false).await?;
        d.withdraw(&key);
        ask_mailbox(task, method, params).await
    }
}

/// The task a directed call is or becomes (asking for it at once with `now`), or -32603 once
/// the call ended otherwise: its round ended, or it was cancelled. A handler's own future is
/// dropped then, but a question it asks from a task it spawned would wait for ever.
async fn task_of(d: &Directed, now: bool) -> Result<&TaskContext, ErrorObject> {
    tokio::select! {
        biased;
        task = d.wait_task(now) => Ok(task),
        () = d.cancellation().cancelled() => Err(ErrorObject::internal(
            "the call ended before this question could be asked: its round ended or it was \
             cancelled",
        )),
    }
}

/// Whether a client that declared `caps` takes a `method` input request: as for a question
/// sent on a stream ([`input::can_answer`]), and `roots/list` needs `capabilities.roots`.
fn can_answer_in_request(
    caps: &mcp_tasks_wire::v2025_11_25::ClientCapabilities,
    method: &str,
    params: &Value,
) -> bool {
    match method {
        method::ROOTS_LIST => caps.roots.is_some(),
        _ => input::can_answer(caps, method, params),
    }
}

fn encode(params: &impl serde::Serialize) -> Result<Value, ErrorObject> {
    serde_json::to_value(params)
        .map_err(|e| ErrorObject::internal(format!("cannot encode the request: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(answer: Value, what: &str) -> Result<T, ErrorObject> {
    serde_json::from_value(answer).map_err(|e| {
        ErrorObject::invalid_params(format!("the client's answer is not a {what}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use mcp_tasks_wire::jsonrpc::Message;
    use serde_json::Map;

    use super::*;
    use crate::session::Outbound;

    /// The params of every `notifications/message` the stream carried, once its senders are
    /// gone.
    async fn logged(mut out: Outbound) -> Vec<Value> {
        let mut params = Vec::new();
        while let Some(message) = out.recv().await {
            if let Message::Notification(n) = message {
                assert_eq!(n.method, method::NOTIFY_MESSAGE);
                params.push(n.params.unwrap_or_default());
            }
        }
        params
    }

    /// MCP 2025-11-25 "Logging": a plain call logs on its request's stream every level until
    /// `logging/setLevel`, then only that level and above; nothing once it is cancelled.
    #[tokio::test]
    async fn a_plain_call_logs_at_or_above_the_sessions_level() {
        let session = Arc::new(Session::new("s"));
        let (sink, out) = Sink::channel(8);
        let cancel = CancellationToken::new();
        let cx = ToolContext::plain(session.clone(), sink, cancel.clone(), None);
        cx.log(LoggingLevel::Debug, None, json!("before any setLevel"));
        session.set_log_level(Some(LoggingLevel::Warning));
        cx.log(LoggingLevel::Info, None, json!("below the level"));
        cx.log(
            LoggingLevel::Error,
            Some("db"),
            json!({"host": "localhost"}),
        );
        cancel.cancel();
        cx.log(LoggingLevel::Emergency, None, json!("after the cancel"));
        drop(cx);
        assert_eq!(
            logged(out).await,
            [
                json!({"level": "debug", "data": "before any setLevel"}),
                json!({"level": "error", "logger": "db", "data": {"host": "localhost"}}),
            ]
        );
    }

    /// MCP 2026-07-28 "Logging": a request without `_meta` logLevel gets no log message at
    /// all; one with a level gets that level and above on its stream.
    #[tokio::test]
    async fn a_stateless_call_logs_only_what_its_request_asked_for() {
        for (asked, expected) in [
            (None, vec![]),
            (
                Some(LoggingLevel::Info),
                vec![json!({"level": "info", "data": "working"})],
            ),
        ] {
            let session = Arc::new(Session::new("request"));
            session.set_log_level(asked);
            let (sink, out) = Sink::channel(8);
            let directed = Arc::new(Directed::new(sink, None, false, Map::new()));
            let cx = ToolContext::directed(session, directed);
            cx.log(LoggingLevel::Debug, None, json!("detail"));
            cx.log(LoggingLevel::Info, None, json!("working"));
            drop(cx);
            assert_eq!(logged(out).await, expected, "{asked:?}");
        }
    }

    /// Issue 15 item 1 (review: progress off a tokio thread panicked the task): a task's tool
    /// that reports progress from a plain thread of its own completes, and its last report is
    /// in the history before the outcome.
    #[tokio::test]
    async fn a_task_reports_progress_from_a_plain_thread() {
        use mcp_tasks_engine::{
            CreateTask, Engine, EngineConfig, EventKind, MemoryStore, Outcome, RequestKind,
            Requestor, TaskStatus,
        };
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let me = Requestor::anonymous("s");
        let task = engine
            .create(CreateTask {
                requestor: me.clone(),
                kind: RequestKind::ToolsCall,
                name: Some("crunch".into()),
                params: json!({"name": "crunch", "arguments": {}}),
                ttl_ms: None,
                progress_token: Some(json!("p")),
            })
            .await
            .unwrap();
        let session = Arc::new(Session::new("s"));
        engine.start(&task, move |task| async move {
            let cx = ToolContext::task(session, task);
            std::thread::scope(|threads| {
                threads.spawn(|| {
                    for step in 1..=100 {
                        cx.progress(f64::from(step), Some(100.0), Some("crunching"));
                    }
                });
            });
            Outcome::Completed(json!({"content": []}))
        });
        let done = engine.wait_terminal(&me, &task.id).await.unwrap();
        assert_eq!(done.status(), TaskStatus::Completed, "{done:?}");
        let history = engine.admin().task(&task.id, None).await.unwrap().history;
        let kinds: Vec<_> = history.into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds[1..],
            [
                EventKind::Progress {
                    progress: 100.0,
                    total: Some(100.0),
                    message: Some("crunching".into())
                },
                EventKind::Completed
            ]
        );
    }
}

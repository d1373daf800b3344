//! One connection to a server: JSON-RPC ids and the requests waiting for answers, and the
//! dispatch of what the server sends (answers, its own requests, notifications).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{
    params_as, ErrorObject, Message, Notification, Request, RequestId, Response,
};
use mcp_tasks_wire::v2025_11_25::{
    CancelledNotificationParams, CreateMessageRequestParams, ElicitRequestParams,
    ProgressNotificationParams, Task, TaskStatusNotificationParams,
};
use mcp_tasks_wire::{meta, method};
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use super::error::{ClientError, Result};
use super::handler::{ElicitationHandler, RequestContext, SamplingHandler};
use super::hosted::Host;
use super::task::Peer;
use super::transport::{Inbound, Incoming, Transport};

/// How many status and progress notifications a slow subscriber may fall behind by before it
/// misses some (it then polls, which it does anyway).
const EVENT_BUFFER: usize = 256;

type Waiter = oneshot::Sender<Result<Value>>;

/// The handlers the client answers server requests with.
#[derive(Debug, Default, Clone)]
pub(crate) struct Handlers {
    pub(crate) elicitation: Option<Arc<dyn ElicitationHandler>>,
    pub(crate) sampling: Option<Arc<dyn SamplingHandler>>,
}

#[derive(Debug)]
pub(crate) struct Connection {
    transport: Arc<dyn Transport>,
    next_id: AtomicI64,
    pending: Mutex<HashMap<RequestId, (String, Waiter)>>,
    inflight: Mutex<HashMap<RequestId, CancellationToken>>,
    status: broadcast::Sender<Task>,
    progress: broadcast::Sender<ProgressNotificationParams>,
    handlers: Handlers,
    host: Option<Host>,
    closed: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("connection mutex poisoned")
}

impl Connection {
    /// Starts dispatching `inbound`; the connection lives while the inbound channel does.
    pub(crate) fn start(
        transport: Arc<dyn Transport>,
        inbound: Inbound,
        handlers: Handlers,
        host: Option<Host>,
    ) -> Arc<Self> {
        let conn = Arc::new(Self {
            transport,
            next_id: AtomicI64::new(1),
            pending: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            status: broadcast::channel(EVENT_BUFFER).0,
            progress: broadcast::channel(EVENT_BUFFER).0,
            handlers,
            host,
            closed: CancellationToken::new(),
        });
        tokio::spawn(conn.clone().dispatch(inbound));
        conn
    }

    pub(crate) fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    pub(crate) fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    pub(crate) fn subscribe_status(&self) -> broadcast::Receiver<Task> {
        self.status.subscribe()
    }

    pub(crate) fn subscribe_progress(&self) -> broadcast::Receiver<ProgressNotificationParams> {
        self.progress.subscribe()
    }

    /// Sends a request and waits for its answer.
    ///
    /// Dropping the future forgets the request (a late answer is ignored) and, unless it was
    /// task-augmented, tells the server with `notifications/cancelled` (best effort).
    pub(crate) async fn request(&self, method: &str, params: Value) -> Result<Value> {
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), (method.to_owned(), tx));
        // A task-augmented request is never cancelled with notifications/cancelled (T-CAN-3):
        // the task it may have created is cancelled with tasks/cancel or left to its ttl.
        let augmented = params.get("task").is_some_and(|t| !t.is_null());
        let mut guard = Forget {
            conn: self,
            id: Some(id.clone()),
            notify: method != method::INITIALIZE && !augmented,
        };
        // Checked after the waiter is in place, so a connection ending meanwhile fails it.
        if self.closed.is_cancelled() {
            guard.notify = false;
            return Err(ClientError::Closed {
                method: method.into(),
            });
        }
        let request = Request::new(id.clone(), method, Some(params));
        if let Err(e) = self.transport.send(request.into()).await {
            guard.notify = false;
            return Err(e);
        }
        let answer = rx.await.unwrap_or_else(|_| {
            Err(ClientError::Closed {
                method: method.into(),
            })
        });
        guard.id = None;
        answer
    }

    /// Sends a notification.
    pub(crate) async fn notify(&self, method: &str, params: Option<Value>) -> Result<()> {
        self.transport
            .send(Notification::new(method, params).into())
            .await
    }

    async fn dispatch(self: Arc<Self>, mut inbound: Inbound) {
        loop {
            let incoming = tokio::select! {
                incoming = inbound.recv() => incoming,
                () = self.closed.cancelled() => None,
            };
            let Some(incoming) = incoming else { break };
            match incoming {
                Incoming::Message(Message::Response(r)) => self.complete(r),
                Incoming::Message(Message::Request(r)) => {
                    tokio::spawn(self.clone().answer(r));
                }
                Incoming::Message(Message::Notification(n)) => self.notification(n),
                Incoming::Lost { id, reason } => {
                    if let Some((_, waiter)) = lock(&self.pending).remove(&id) {
                        let _ = waiter.send(Err(ClientError::Transport(reason)));
                    }
                }
            }
        }
        tracing::debug!("the connection to the server ended");
        self.closed.cancel();
        // Waiters see their sender dropped: ClientError::Closed.
        lock(&self.pending).clear();
        for token in lock(&self.inflight).values() {
            token.cancel();
        }
    }

    fn complete(&self, response: Response) {
        let Some(id) = response.id.clone() else {
            tracing::warn!(error = ?response.outcome.err(), "the server sent an error without an id");
            return;
        };
        let Some((method, waiter)) = lock(&self.pending).remove(&id) else {
            tracing::debug!(%id, "an answer to no pending request");
            return;
        };
        let outcome = response.outcome.map_err(|error| ClientError::Rpc {
            method,
            error: Box::new(error),
        });
        let _ = waiter.send(outcome);
    }

    fn notification(&self, n: Notification) {
        match n.method.as_str() {
            method::NOTIFY_TASK_STATUS => {
                match params_as::<TaskStatusNotificationParams>(n.params) {
                    Ok(p) => {
                        let _ = self.status.send(p.task);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.message, "malformed task status notification")
                    }
                }
            }
            method::NOTIFY_PROGRESS => match params_as::<ProgressNotificationParams>(n.params) {
                Ok(p) => {
                    let _ = self.progress.send(p);
                }
                Err(e) => tracing::warn!(error = %e.message, "malformed progress notification"),
            },
            method::NOTIFY_CANCELLED => {
                if let Ok(CancelledNotificationParams {
                    request_id: Some(id),
                    ..
                }) = params_as::<CancelledNotificationParams>(n.params)
                {
                    if let Some(token) = lock(&self.inflight).get(&id) {
                        token.cancel();
                    }
                }
            }
            method::NOTIFY_MESSAGE => {
                let text = n.params.map(|p| p.to_string()).unwrap_or_default();
                tracing::info!(target: "mcp_tasks::server_log", "{text}");
            }
            other => tracing::debug!(method = other, "notification ignored"),
        }
    }

    /// Answers one request of the server's, on its own tokio task.
    async fn answer(self: Arc<Self>, request: Request) {
        let Request {
            id, method, params, ..
        } = request;
        let related_task = params.as_ref().and_then(meta::related_task_id);
        let cancellation = CancellationToken::new();
        lock(&self.inflight).insert(id.clone(), cancellation.clone());
        let cx = RequestContext {
            related_task: related_task.clone(),
            hosted_task: None,
            cancellation: cancellation.clone(),
        };
        let outcome = tokio::select! {
            outcome = self.route(&id, &method, params, cx) => outcome,
            () = cancellation.cancelled() => Err(ErrorObject::internal("the request was cancelled")),
        };
        lock(&self.inflight).remove(&id);
        if cancellation.is_cancelled() {
            // A cancelled request is not answered (MCP, cancellation).
            return;
        }
        let response = match outcome {
            Ok(mut result) => {
                // An answer tied to a task says so (T-META-1).
                if let Some(task) = &related_task {
                    meta::with_related_task(&mut result, task);
                }
                Response::result(id, result)
            }
            Err(error) => Response::error(Some(id), error),
        };
        if let Err(e) = self.transport.send(response.into()).await {
            tracing::warn!(error = %e, method, "could not send the answer to a server request");
        }
    }

    async fn route(
        &self,
        id: &RequestId,
        name: &str,
        params: Option<Value>,
        cx: RequestContext,
    ) -> std::result::Result<Value, ErrorObject> {
        match name {
            method::PING => Ok(json!({})),
            method::ELICITATION_CREATE => {
                let Some(handler) = self.handlers.elicitation.clone() else {
                    return Err(ErrorObject::method_not_found(name));
                };
                let p: ElicitRequestParams = params_as(params.clone())?;
                if let (Some(task), Some(host)) = (p.task, self.host()) {
                    if host.takes_elicitation() {
                        return host
                            .create_elicitation(params.unwrap_or(Value::Null), task, p, handler)
                            .await;
                    }
                }
                // Not declared as a task request: run it normally, `task` ignored (T-CAP-4).
                let result = handler.elicit(p, cx).await?;
                to_value(&result)
            }
            method::SAMPLING_CREATE_MESSAGE => {
                let Some(handler) = self.handlers.sampling.clone() else {
                    return Err(ErrorObject::method_not_found(name));
                };
                let p: CreateMessageRequestParams = params_as(params.clone())?;
                if let (Some(task), Some(host)) = (p.task, self.host()) {
                    if host.takes_sampling() {
                        return host
                            .create_sampling(params.unwrap_or(Value::Null), task, p, handler)
                            .await;
                    }
                }
                let result = handler.create_message(p, cx).await?;
                to_value(&result)
            }
            method::TASKS_GET
            | method::TASKS_RESULT
            | method::TASKS_LIST
            | method::TASKS_CANCEL => match self.host() {
                Some(host) => host.serve(Request::new(id.clone(), name, params)).await,
                None => Err(ErrorObject::method_not_found(name)),
            },
            other => Err(ErrorObject::method_not_found(other)),
        }
    }
}

/// Encodes an answer the client sends back.
pub(super) fn to_value(v: &impl serde::Serialize) -> std::result::Result<Value, ErrorObject> {
    serde_json::to_value(v)
        .map_err(|e| ErrorObject::internal(format!("cannot encode the answer: {e}")))
}

/// Forgets a request whose caller stopped waiting, and tells the server.
struct Forget<'a> {
    conn: &'a Connection,
    id: Option<RequestId>,
    notify: bool,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let was_pending = lock(&self.conn.pending).remove(&id).is_some();
        if was_pending && self.notify && !self.conn.closed.is_cancelled() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let transport = self.conn.transport.clone();
            let params = json!({"requestId": id, "reason": "the client stopped waiting"});
            runtime.spawn(async move {
                let n = Notification::new(method::NOTIFY_CANCELLED, Some(params));
                let _ = transport.send(n.into()).await;
            });
        }
    }
}

#[async_trait]
impl Peer for Connection {
    async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.request(method, params).await
    }

    fn status_updates(&self) -> Option<broadcast::Receiver<Task>> {
        Some(self.subscribe_status())
    }

    fn progress_updates(&self) -> Option<broadcast::Receiver<ProgressNotificationParams>> {
        Some(self.subscribe_progress())
    }
}

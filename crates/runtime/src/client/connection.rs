//! One connection to a server: the client's configuration of the shared JSON-RPC
//! [`peer`](crate::peer) (ids, pending requests, cancellation), plus what only a client has:
//! the transport, the status and progress broadcasts, the handlers of the server's requests,
//! the engine of client-hosted tasks, and, in MCP 2026-07-28, the `_meta` every request carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{
    self as rpc_message, params_as, ErrorObject, Notification, Request, RequestId, Response,
};
use mcp_tasks_wire::v2025_11_25::{
    CreateMessageRequestParams, ElicitRequestParams, ProgressNotificationParams, Task,
    TaskStatusNotificationParams,
};
use mcp_tasks_wire::v2026_07_28::{InputRequest, InputRequests, InputResponses};
use mcp_tasks_wire::{meta, method};
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::error::{ClientError, Result};
use super::forward::{self, Forwarder, Scope};
use super::handler::{ElicitationHandler, RequestContext, SamplingHandler};
use super::hosted::Host;
use super::input::Answerer;
use super::protocol;
use super::task::Peer;
use super::transport::{Inbound, Incoming, Transport};
use crate::peer::{self as rpc, Failure, Received};

/// How many status and progress notifications a slow subscriber may fall behind by before it
/// misses some (it then polls, which it does anyway).
const EVENT_BUFFER: usize = 256;

/// The handlers the client answers server requests with.
#[derive(Debug, Default, Clone)]
pub(crate) struct Handlers {
    pub(crate) elicitation: Option<Arc<dyn ElicitationHandler>>,
    pub(crate) sampling: Option<Arc<dyn SamplingHandler>>,
    /// Takes every server request and notification instead (a gateway's client).
    pub(crate) forwarder: Option<Arc<dyn Forwarder>>,
}

#[derive(Debug)]
pub(crate) struct Connection {
    transport: Arc<dyn Transport>,
    peer: rpc::Peer,
    status: broadcast::Sender<Task>,
    progress: broadcast::Sender<ProgressNotificationParams>,
    answerer: Answerer,
    host: Option<Host>,
    /// The `_meta` of an MCP 2026-07-28 request, put on every request once the connection
    /// speaks that era (B-2); `None` in a 2025-11-25 session.
    framing: RwLock<Option<Arc<Map<String, Value>>>>,
    /// The scope of each request sent in one and not answered yet, for what the server sends
    /// on its stream (see [`forward`]).
    scopes: Mutex<HashMap<RequestId, Scope>>,
}

impl Connection {
    /// Starts dispatching `inbound`; the connection lives while the inbound channel does.
    pub(crate) fn start(
        transport: Arc<dyn Transport>,
        inbound: Inbound,
        answerer: Answerer,
        host: Option<Host>,
    ) -> Arc<Self> {
        let conn = Arc::new(Self {
            transport,
            peer: rpc::Peer::new(),
            status: broadcast::channel(EVENT_BUFFER).0,
            progress: broadcast::channel(EVENT_BUFFER).0,
            answerer,
            host,
            framing: RwLock::new(None),
            scopes: Mutex::new(HashMap::new()),
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
        self.peer.closed()
    }

    pub(crate) fn subscribe_status(&self) -> broadcast::Receiver<Task> {
        self.status.subscribe()
    }

    pub(crate) fn subscribe_progress(&self) -> broadcast::Receiver<ProgressNotificationParams> {
        self.progress.subscribe()
    }

    /// From now on every request carries `meta` in its `_meta` (MCP 2026-07-28, B-2); `None`
    /// goes back to plain requests (discovery found a 2025-11-25 server).
    pub(crate) fn set_framing(&self, meta: Option<Map<String, Value>>) {
        *self.framing.write().unwrap_or_else(PoisonError::into_inner) = meta.map(Arc::new);
    }

    /// Answers the input requests of a 2026-07-28 result or task with the client's handlers.
    pub(crate) async fn answer_inputs(
        &self,
        requests: &InputRequests,
        task: Option<&str>,
    ) -> Result<InputResponses> {
        self.answerer.answer_all(requests, task).await
    }

    /// Sends a request and waits for its answer.
    ///
    /// Dropping the future forgets the request (a late answer is ignored) and, unless it was
    /// task-augmented, tells the server with `notifications/cancelled` (best effort).
    pub(crate) async fn request(&self, method: &str, params: Value) -> Result<Value> {
        self.send_request(method, params, true).await
    }

    /// [`Connection::request`] whose abandonment is not announced: a probe sent before the
    /// session exists (`server/discover`) must leave a server that ignored it undisturbed.
    pub(crate) async fn request_quietly(&self, method: &str, params: Value) -> Result<Value> {
        self.send_request(method, params, false).await
    }

    async fn send_request(&self, method: &str, mut params: Value, announce: bool) -> Result<Value> {
        let framing = self
            .framing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(meta) = framing {
            protocol::frame(&mut params, &meta);
        }
        let answer = self.send_once(method, params.clone(), announce).await;
        // A 2026-07-28 server that refuses the version it lists as supported is retried once,
        // with a new id, as the versioning page asks of a client ("select a mutually supported
        // version and retry"; this client has one).
        match answer {
            Err(e) if protocol::retry_version(&params, &e) => {
                tracing::debug!(
                    method,
                    "-32022 for a version the server lists; asking again"
                );
                self.send_once(method, params, announce).await
            }
            other => other,
        }
    }

    async fn send_once(&self, method: &str, params: Value, announce: bool) -> Result<Value> {
        // A task-augmented request is never cancelled with notifications/cancelled (T-CAN-3):
        // the task it may have created is cancelled with tasks/cancel or left to its ttl.
        let augmented = params.get("task").is_some_and(|t| !t.is_null());
        let on_abandon: Option<Box<dyn FnOnce(RequestId) + Send>> =
            (announce && method != method::INITIALIZE && !augmented)
                .then(|| self.cancel_on_abandon());
        let mut outgoing = self.peer.outgoing(on_abandon);
        let closed = || ClientError::Closed {
            method: method.into(),
        };
        // Checked after the waiter is in place, so a connection ending meanwhile fails it.
        if self.closed().is_cancelled() {
            outgoing.unsent();
            return Err(closed());
        }
        let id = outgoing.id().clone();
        let _scoped = forward::scope().map(|scope| ScopeGuard::new(&self.scopes, &id, scope));
        let request = Request::new(id, method, Some(params));
        if let Err(e) = self.transport.send(request.into()).await {
            outgoing.unsent();
            return Err(e);
        }
        match outgoing.answer().await {
            Ok(value) => Ok(value),
            Err(Failure::Error(error)) => Err(ClientError::Rpc {
                method: method.into(),
                error: Box::new(error),
            }),
            Err(Failure::Lost(reason)) => Err(ClientError::Transport(reason)),
            Err(Failure::Closed) => match self.transport.end_reason() {
                Some(why) => Err(ClientError::Transport(unanswered(&why, method))),
                None => Err(closed()),
            },
        }
    }

    /// Why the connection ended, when the transport knows (a spawned server's exit status).
    pub(crate) fn end_reason(&self) -> Option<String> {
        self.transport.end_reason()
    }

    /// What a request whose caller stopped waiting does: tell the server, best effort, the
    /// way its transport and era take it (closing the stream, or `notifications/cancelled`).
    fn cancel_on_abandon(&self) -> Box<dyn FnOnce(RequestId) + Send> {
        let transport = self.transport.clone();
        Box::new(move |id| {
            if transport.abandon(&id) {
                return;
            }
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let params = json!({"requestId": id, "reason": "the client stopped waiting"});
            runtime.spawn(async move {
                let n = Notification::new(method::NOTIFY_CANCELLED, Some(params));
                let _ = transport.send(n.into()).await;
            });
        })
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
                () = self.peer.closed().cancelled() => None,
            };
            let Some(incoming) = incoming else { break };
            match incoming {
                Incoming::Message(message) => self.received(message, None),
                Incoming::OnStream { message, request } => {
                    let scope = self
                        .scopes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get(&request)
                        .copied();
                    self.received(message, scope);
                }
                Incoming::Lost { id, reason } => self.peer.lose(&id, reason),
            }
        }
        tracing::debug!("the connection to the server ended");
        // Waiters fail with ClientError::Closed; handlers of the server's requests stop.
        self.peer.close();
        self.peer.cancel_all_inflight();
    }

    fn received(self: &Arc<Self>, message: rpc_message::Message, scope: Option<Scope>) {
        match self.peer.receive(message) {
            Some(Received::Request(r)) => {
                tokio::spawn(self.clone().answer(r, scope));
            }
            Some(Received::Notification(n)) => {
                if let Some(forwarder) = &self.answerer.handlers.forwarder {
                    forwarder.notification(&n, scope);
                }
                self.notification(n);
            }
            None => {}
        }
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
            method::NOTIFY_MESSAGE => {
                let text = n.params.map(|p| p.to_string()).unwrap_or_default();
                tracing::info!(target: "mcp_tasks::server_log", "{text}");
            }
            other => tracing::debug!(method = other, "notification ignored"),
        }
    }

    /// Answers one request of the server's, on its own tokio task.
    async fn answer(self: Arc<Self>, request: Request, scope: Option<Scope>) {
        let Request {
            id, method, params, ..
        } = request;
        let related_task = params.as_ref().and_then(meta::related_task_id);
        let cancellation = self.peer.track_inflight(&id);
        let cx = RequestContext {
            related_task: related_task.clone(),
            hosted_task: None,
            cancellation: cancellation.clone(),
            scope,
        };
        let outcome = tokio::select! {
            outcome = self.route(&id, &method, params, cx) => outcome,
            () = cancellation.cancelled() => Err(ErrorObject::internal("the request was cancelled")),
        };
        self.peer.untrack_inflight(&id);
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
        let hosted = matches!(
            name,
            method::TASKS_GET | method::TASKS_RESULT | method::TASKS_LIST | method::TASKS_CANCEL
        ) && self.host().is_some();
        if let (Some(forwarder), false, false) = (
            &self.answerer.handlers.forwarder,
            hosted,
            name == method::PING,
        ) {
            return forwarder.request(name, params, cx).await;
        }
        match name {
            method::PING => Ok(json!({})),
            method::ELICITATION_CREATE => {
                let Some(handler) = self.answerer.handlers.elicitation.clone() else {
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
                let Some(handler) = self.answerer.handlers.sampling.clone() else {
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

/// "the server process exited with status 1 before it answered tools/call", with what the
/// server said last (see [`LAST_WORDS`](super::transport::LAST_WORDS)) after it.
fn unanswered(why: &str, method: &str) -> String {
    match why.split_once(super::transport::LAST_WORDS) {
        Some((how, words)) => format!(
            "{how} before it answered {method}{}{words}",
            super::transport::LAST_WORDS
        ),
        None => format!("{why} before it answered {method}"),
    }
}

/// Keeps a request's scope while it waits for its answer.
struct ScopeGuard<'a> {
    scopes: &'a Mutex<HashMap<RequestId, Scope>>,
    id: RequestId,
}

impl<'a> ScopeGuard<'a> {
    fn new(scopes: &'a Mutex<HashMap<RequestId, Scope>>, id: &RequestId, scope: Scope) -> Self {
        scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), scope);
        Self {
            scopes,
            id: id.clone(),
        }
    }
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        self.scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Encodes an answer the client sends back.
pub(super) fn to_value(v: &impl serde::Serialize) -> std::result::Result<Value, ErrorObject> {
    serde_json::to_value(v)
        .map_err(|e| ErrorObject::internal(format!("cannot encode the answer: {e}")))
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

    async fn answer_input(&self, request: &InputRequest, task: Option<&str>) -> Result<Value> {
        self.answerer.answer(request, task).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_server_said_last_comes_after_what_it_did_not_answer() {
        assert_eq!(
            unanswered(
                "the server process exited with status 0; its last words on stderr: ERROR: no repo",
                "server/discover"
            ),
            "the server process exited with status 0 before it answered server/discover; its \
             last words on stderr: ERROR: no repo"
        );
        assert_eq!(
            unanswered("the server process was killed by signal 9", "tools/call"),
            "the server process was killed by signal 9 before it answered tools/call"
        );
    }
}

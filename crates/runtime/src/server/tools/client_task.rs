//! The server as requestor (T-CAP-1, server side): a tool sends `elicitation/create` or
//! `sampling/createMessage` as a task to a client that hosts them, gets the client's task at
//! once, and follows it with `tasks/get` and `tasks/result` like any requestor would.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_tasks_engine::TaskId;
use mcp_tasks_wire::jsonrpc::ErrorObject;
use serde_json::Value;

use crate::client::{ClientError, Peer};
use crate::session::{Session, Sink};

/// The client, seen from a tool as a peer that takes `tasks/*` requests.
#[derive(Debug)]
pub(super) struct ClientPeer {
    pub(super) session: Arc<Session>,
    pub(super) route: Route,
}

/// Which stream the requests travel on.
#[derive(Debug)]
pub(super) enum Route {
    /// A plain call's own exchange.
    Exchange(Sink),
    /// A tool task's `tasks/result` stream when one is open, else the standing stream.
    Task(TaskId),
    /// The standing stream: for what must outlive the call's own exchange.
    Standing,
}

#[async_trait]
impl Peer for ClientPeer {
    async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let sink = match &self.route {
            Route::Exchange(sink) => sink.clone(),
            Route::Standing => self.session.standing_sink().ok_or_else(|| {
                ClientError::Transport(format!(
                    "no standing stream to the client to send {method} on"
                ))
            })?,
            Route::Task(id) => self.session.sink_for_task(id).ok_or_else(|| {
                ClientError::Transport(format!(
                    "no stream to the client is open to send {method} on (over HTTP the client \
                     needs its GET stream or a tasks/result exchange open)"
                ))
            })?,
        };
        self.session
            .request(&sink, method, params)
            .await
            .map_err(|error| {
                if sink.is_closed() || self.session.closed().is_cancelled() {
                    ClientError::Transport(error.message)
                } else {
                    ClientError::Rpc {
                        method: method.to_owned(),
                        error: Box::new(error),
                    }
                }
            })
    }
}

/// The error a tool sees when following the client's task failed.
pub(super) fn to_error_object(e: ClientError) -> ErrorObject {
    match e {
        ClientError::Rpc { error, .. } => *error,
        other => ErrorObject::internal(other.to_string()),
    }
}

/// Cancels the client's task unless disarmed: the tool stopped following it (cancelled,
/// failed, or its work dropped), so nobody will want its answer.
#[derive(Debug)]
pub(super) struct CancelOnDrop {
    peer: Arc<ClientPeer>,
    task_id: Option<String>,
}

impl CancelOnDrop {
    pub(super) fn new(peer: Arc<ClientPeer>, task_id: String) -> Self {
        Self {
            peer,
            task_id: Some(task_id),
        }
    }

    pub(super) fn disarm(&mut self) {
        self.task_id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(task_id) = self.task_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The call's own exchange is ending with it: a plain call's cancel goes on the
        // standing stream when the client keeps one.
        let peer = match &self.peer.route {
            Route::Exchange(_) if self.peer.session.standing_sink().is_some() => {
                Arc::new(ClientPeer {
                    session: self.peer.session.clone(),
                    route: Route::Standing,
                })
            }
            _ => self.peer.clone(),
        };
        runtime.spawn(async move {
            let params = serde_json::json!({"taskId": task_id});
            match peer.call(mcp_tasks_wire::method::TASKS_CANCEL, params).await {
                Ok(_) => tracing::debug!(task = %task_id, "cancelled the client's task"),
                Err(e) => tracing::debug!(task = %task_id, error = %e, "could not cancel the client's task"),
            }
        });
    }
}

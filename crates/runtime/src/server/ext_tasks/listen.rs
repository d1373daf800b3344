//! `subscriptions/listen`: the one long-lived stream of MCP 2026-07-28, and on it
//! `notifications/tasks` for the tasks a client follows (B-7, X-7).
//!
//! MCP 2026-07-28, "Subscriptions", and the extension's "Task Status Notifications":
//! - the first message is `notifications/subscriptions/acknowledged`, with the part of the
//!   filter the server agreed to; every message carries `_meta["io.modelcontextprotocol/
//!   subscriptionId"]`, the listen request's id, so on stdio, where all streams share stdout,
//!   the client can tell them apart;
//! - nothing is sent that was not asked for, and only what this server sends is agreed to:
//!   not `toolsListChanged` (a gateway's tools may change, but its 2026-07-28 clients learn
//!   of it by reading the list again when its cache ttl passes), nor prompts or resources
//!   (a gateway's discovery declares neither `listChanged` nor `subscribe` for them);
//!   `taskIds` is agreed to for the tasks that exist and are the caller's (another owner's task
//!   is left out exactly like an unknown one, T-SEC-1), and asking for it without declaring
//!   the tasks extension on the request is -32021;
//! - each followed task gets its current state right after the acknowledgement, so a client
//!   that subscribes after a change has not missed it, and then the full `DetailedTask` (what
//!   `tasks/get` would answer) each time it changes, until it ends or goes;
//! - nothing on the stream is dropped: the client cannot ask for a missed acknowledgement or
//!   task state again, so a client that reads slower than they come slows its own stream
//!   (the sends wait for room, [`Sink::send_waiting`]) instead of losing them;
//! - the stream has no answer: it ends when the client goes (the HTTP stream closes, or on
//!   stdio `notifications/cancelled` names the request) or when the server stops, which says
//!   so with `notifications/cancelled` naming the request before the stream ends.
//!
//! Changes come from the engine's feed, routed by task id ([`super::watch`]), so a task run by
//! another instance on the same PostgreSQL store is followed just the same.

use std::collections::HashMap;

use mcp_tasks_engine::{Error, TaskId, TaskRecord};
use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject, Notification, RequestId};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2026_07_28::{
    SubscriptionFilter, SubscriptionsAcknowledgedParams, SubscriptionsListenParams, SUBSCRIPTION_ID,
};
use serde_json::{json, Map, Value};

use crate::server::era::RequestContext;
use crate::server::Server;
use crate::session::Sink;

/// The most task ids one stream may follow.
pub(crate) const MAX_TASK_IDS: usize = 1000;

/// Runs the stream on `sink` until it ends; it never has an answer.
///
/// # Errors
///
/// Before the stream starts: -32602 for malformed params or too many task ids, -32021 for task
/// ids without the tasks extension, -32603 when the store fails.
pub(crate) async fn handle(
    server: &Server,
    cx: &RequestContext,
    id: &RequestId,
    params: Option<Value>,
    sink: &Sink,
) -> Result<(), ErrorObject> {
    let p: SubscriptionsListenParams = params_as(params)?;
    let tasks_asked = p.notifications.task_ids.is_some();
    let asked = p.notifications.task_ids.unwrap_or_default();
    // Asked for at all, even empty: an empty filter agreed to would be echoed back as the
    // extension's, to a request that did not declare it.
    if tasks_asked {
        super::require_extension(cx, "notifications/tasks (the taskIds filter)")?;
    }
    if asked.len() > MAX_TASK_IDS {
        return Err(ErrorObject::invalid_params(format!(
            "params.notifications.taskIds names {} tasks, over the limit of {MAX_TASK_IDS} per \
             stream; open several streams, or follow fewer tasks",
            asked.len()
        )));
    }
    let mut ids: Vec<TaskId> = Vec::new();
    for raw in &asked {
        // An id no task of this server can have is simply not agreed to.
        if let Ok(id) = crate::server::tasks::task_id(raw.clone()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let engine = server.engine();
    let requestor = cx.session.requestor();
    // Registered before the current state is read: a change in between wakes us.
    let watching = engine.watch(ids.clone());
    let mut current: Vec<TaskRecord> = Vec::new();
    for id in &ids {
        match engine.get(requestor, id).await {
            Ok(record) => current.push(record),
            Err(Error::NotFound { .. } | Error::Expired { .. }) => watching.forget(id),
            Err(e) => return Err(crate::error::to_error_object(&e)),
        }
    }

    let subscription = serde_json::to_value(id).unwrap_or(Value::Null);
    let agreed = SubscriptionFilter {
        task_ids: tasks_asked.then(|| current.iter().map(|r| r.id.to_string()).collect()),
        ..SubscriptionFilter::default()
    };
    let ack = SubscriptionsAcknowledgedParams {
        notifications: agreed,
        meta: Some(tagged(&subscription)),
    };
    let ack = crate::server::to_value(&ack)?;
    let sending = Stream {
        cx,
        sink,
        subscription: &subscription,
    };
    if let Err(halt) = sending
        .send(method::NOTIFY_SUBSCRIPTIONS_ACKNOWLEDGED, ack)
        .await
    {
        return sending.end(halt, id).await;
    }

    let mut sent: HashMap<TaskId, Value> = HashMap::new();
    for record in current {
        if let Err(halt) = sending.notify(&record, &mut sent, &watching).await {
            return sending.end(halt, id).await;
        }
    }
    loop {
        let changed = tokio::select! {
            changed = watching.changed() => match changed {
                Ok(changed) => changed,
                // The store is gone: the server is stopping.
                Err(_) => return sending.end(Halt::Stopping, id).await,
            },
            () = cx.session.closed().cancelled() => return Ok(()),
            () = sink.closed() => return Ok(()),
            () = cx.stopping.cancelled() => return sending.end(Halt::Stopping, id).await,
        };
        for task in changed {
            match engine.get(requestor, &task).await {
                Ok(record) => {
                    if let Err(halt) = sending.notify(&record, &mut sent, &watching).await {
                        return sending.end(halt, id).await;
                    }
                }
                Err(Error::NotFound { .. } | Error::Expired { .. }) => {
                    sent.remove(&task);
                    watching.forget(&task);
                }
                Err(e) => {
                    tracing::warn!(task = %task, error = %e, "cannot read a followed task; \
                                   its next change is tried again");
                }
            }
        }
    }
}

/// `_meta` naming the stream.
fn tagged(subscription: &Value) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(SUBSCRIPTION_ID.to_owned(), subscription.clone());
    meta
}

/// Why the stream stopped sending.
enum Halt {
    /// The client went: the connection closed, or it cancelled the listen request.
    Gone,
    /// The server is stopping.
    Stopping,
}

/// The sending side of one listen stream.
struct Stream<'a> {
    cx: &'a RequestContext,
    sink: &'a Sink,
    subscription: &'a Value,
}

impl Stream<'_> {
    /// Sends a notification of the stream, waiting while the client reads slower than they
    /// come rather than dropping it: a client that misses the acknowledgement or a task's
    /// last state has no way to ask for it on the stream again.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is sent when dropped before it completes.
    async fn send(&self, method: &str, params: Value) -> Result<(), Halt> {
        let message = Notification::new(method, Some(params)).into();
        tokio::select! {
            biased;
            sent = self.sink.send_waiting(message) => sent.map_err(|_| Halt::Gone),
            () = self.cx.session.closed().cancelled() => Err(Halt::Gone),
            () = self.cx.stopping.cancelled() => Err(Halt::Stopping),
        }
    }

    /// Sends the task's state unless it is what was sent last; stops following it once it
    /// ended. A state is recorded as sent only once it was.
    async fn notify(
        &self,
        record: &TaskRecord,
        sent: &mut HashMap<TaskId, Value>,
        watching: &mcp_tasks_engine::Watching,
    ) -> Result<(), Halt> {
        let detailed = crate::ext_dialect::detailed(record);
        let Ok(state) = serde_json::to_value(&detailed) else {
            return Ok(());
        };
        if sent.get(&record.id) == Some(&state) {
            return Ok(());
        }
        let mut params = state.clone();
        if let Value::Object(obj) = &mut params {
            obj.insert("_meta".to_owned(), Value::Object(tagged(self.subscription)));
        }
        self.send(method::NOTIFY_TASKS, params).await?;
        if record.status().is_terminal() {
            sent.remove(&record.id);
            watching.forget(&record.id);
        } else {
            sent.insert(record.id.clone(), state);
        }
        Ok(())
    }

    /// Ends the stream of request `id`: silently when the client went; when the server stops,
    /// with `notifications/cancelled` naming the request, sent unless the client goes first.
    async fn end(&self, halt: Halt, id: &RequestId) -> Result<(), ErrorObject> {
        if let Halt::Stopping = halt {
            let params = json!({
                "requestId": id,
                "reason": "the server is shutting down; listen again once it is back, or on \
                           another instance",
                "_meta": tagged(self.subscription),
            });
            let message = Notification::new(method::NOTIFY_CANCELLED, Some(params)).into();
            tokio::select! {
                _ = self.sink.send_waiting(message) => {}
                () = self.cx.session.closed().cancelled() => {}
            }
        }
        Ok(())
    }
}

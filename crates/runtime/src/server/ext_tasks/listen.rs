//! `subscriptions/listen`: the one long-lived stream of MCP 2026-07-28, and on it
//! `notifications/tasks` for the tasks a client follows (B-7, X-7).
//!
//! MCP 2026-07-28, "Subscriptions", and the extension's "Task Status Notifications":
//! - the first message is `notifications/subscriptions/acknowledged`, with the part of the
//!   filter the server agreed to; every message carries `_meta["io.modelcontextprotocol/
//!   subscriptionId"]`, the listen request's id, so on stdio, where all streams share stdout,
//!   the client can tell them apart;
//! - nothing is sent that was not asked for. This server's tools never change, so
//!   `toolsListChanged` is not agreed to, nor are prompts or resources, which it has none of;
//!   `taskIds` is agreed to for the tasks that exist and are the caller's (another owner's task
//!   is left out exactly like an unknown one, T-SEC-1), and asking for it without declaring
//!   the tasks extension on the request is -32021;
//! - each followed task gets its current state right after the acknowledgement, so a client
//!   that subscribes after a change has not missed it, and then the full `DetailedTask` (what
//!   `tasks/get` would answer) each time it changes, until it ends or goes;
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
    if !asked.is_empty() {
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
    let mut watching = server.task_watch.watch(engine, ids.clone());
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
    if send(sink, method::NOTIFY_SUBSCRIPTIONS_ACKNOWLEDGED, ack).is_err() {
        return Ok(());
    }

    let mut sent: HashMap<TaskId, Value> = HashMap::new();
    for record in current {
        if notify(sink, &subscription, &record, &mut sent, &mut watching).is_err() {
            return Ok(());
        }
    }
    loop {
        let changed = tokio::select! {
            changed = watching.changed() => changed,
            () = cx.session.closed().cancelled() => return Ok(()),
            () = sink.closed() => return Ok(()),
            () = cx.stopping.cancelled() => {
                let params = json!({
                    "requestId": id,
                    "reason": "the server is shutting down; listen again once it is back, or \
                               on another instance",
                    "_meta": tagged(&subscription),
                });
                let _ = send(sink, method::NOTIFY_CANCELLED, params);
                return Ok(());
            }
        };
        for id in changed {
            match engine.get(requestor, &id).await {
                Ok(record) => {
                    if notify(sink, &subscription, &record, &mut sent, &mut watching).is_err() {
                        return Ok(());
                    }
                }
                Err(Error::NotFound { .. } | Error::Expired { .. }) => {
                    sent.remove(&id);
                    watching.forget(&id);
                }
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "cannot read a followed task; \
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

fn send(sink: &Sink, method: &str, params: Value) -> Result<(), crate::session::SendError> {
    sink.send(Notification::new(method, Some(params)).into())
}

/// Sends the task's state unless it is what was sent last; stops following it once it ended.
fn notify(
    sink: &Sink,
    subscription: &Value,
    record: &TaskRecord,
    sent: &mut HashMap<TaskId, Value>,
    watching: &mut super::watch::Watching,
) -> Result<(), crate::session::SendError> {
    let detailed = crate::ext_dialect::detailed(record);
    let Ok(mut params) = serde_json::to_value(&detailed) else {
        return Ok(());
    };
    if sent.get(&record.id) == Some(&params) {
        return Ok(());
    }
    sent.insert(record.id.clone(), params.clone());
    if let Value::Object(obj) = &mut params {
        obj.insert("_meta".to_owned(), Value::Object(tagged(subscription)));
    }
    if record.status().is_terminal() {
        sent.remove(&record.id);
        watching.forget(&record.id);
    }
    send(sink, method::NOTIFY_TASKS, params)
}

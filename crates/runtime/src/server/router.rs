//! Dispatch by method name; bad params are -32602, unknown methods -32601.

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject, Notification, Request};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::CancelledNotificationParams;
use serde_json::{json, Value};

use super::{initialize, tasks, tools, Server};
use crate::session::{Session, Sink};

pub(super) async fn route(
    server: &Arc<Server>,
    session: &Arc<Session>,
    request: Request,
    sink: &Sink,
) -> Result<Value, ErrorObject> {
    let Request {
        id,
        method: name,
        params,
        ..
    } = request;
    if let Some(limiter) = server.rate_limiter() {
        if is_task_operation(&name, params.as_ref()) {
            limiter.check(session.requestor())?;
        }
    }
    match name.as_str() {
        method::INITIALIZE => initialize::handle(server, session, params),
        method::PING => Ok(json!({})),
        method::TOOLS_LIST => tools::list(server),
        method::TOOLS_CALL => tools::call(server, session, &id, params, sink).await,
        method::TASKS_GET => tasks::get::handle(server, session, params).await,
        method::TASKS_RESULT => tasks::result::handle(server, session, params, sink).await,
        method::TASKS_LIST => tasks::list::handle(server, session, params).await,
        method::TASKS_CANCEL => tasks::cancel::handle(server, session, params).await,
        other => Err(ErrorObject::method_not_found(other)),
    }
}

/// Whether a request counts against the rate limit: it creates or reads tasks.
fn is_task_operation(name: &str, params: Option<&Value>) -> bool {
    match name {
        method::TASKS_GET | method::TASKS_RESULT | method::TASKS_LIST | method::TASKS_CANCEL => {
            true
        }
        method::TOOLS_CALL => params
            .and_then(|p| p.get("task"))
            .is_some_and(|t| !t.is_null()),
        _ => false,
    }
}

pub(super) fn notification(session: &Session, n: Notification) {
    match n.method.as_str() {
        method::INITIALIZED => tracing::debug!(session = session.id(), "client initialized"),
        method::NOTIFY_CANCELLED => match params_as::<CancelledNotificationParams>(n.params) {
            Ok(p) => {
                if let Some(id) = p.request_id {
                    let hit = session.cancel_inflight(&id);
                    tracing::debug!(%id, hit, "client cancelled a request");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "malformed notifications/cancelled ignored")
            }
        },
        other => tracing::debug!(method = other, "notification ignored"),
    }
}

//! Dispatch by method name; bad params are -32602, unknown methods -32601.
//!
//! Before any work, the ids a request asks us to echo back (its JSON-RPC id, and
//! `_meta.progressToken`, which every progress notification repeats) are held to
//! [`MAX_ECHOED_ID_BYTES`]: a peer must not make us store and resend megabytes per message.
//! The `tasks/*` methods exist only for sessions that negotiated 2025-11-25 (T-CAP-1).

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{ErrorObject, Notification, Request, RequestId};
use mcp_tasks_wire::method;
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
    check_echoed_ids(&id, params.as_ref())?;
    if method::is_tasks_method(&name) && !initialize::session_has_tasks(session) {
        return Err(ErrorObject::new(
            mcp_tasks_wire::jsonrpc::ErrorCode::METHOD_NOT_FOUND,
            format!(
                "method not found: {name:?} belongs to the tasks utility of protocol {}, and this \
                 session negotiated an older version; initialize with {0} to use tasks",
                method::TASKS_PROTOCOL_VERSION
            ),
        ));
    }
    if let Some(limiter) = server.rate_limiter() {
        if is_task_operation(&name, params.as_ref()) {
            limiter.check(session.requestor())?;
        }
    }
    match name.as_str() {
        method::INITIALIZE => initialize::handle(server, session, params),
        method::PING => Ok(json!({})),
        method::TOOLS_LIST => tools::list(server, session),
        method::TOOLS_CALL => tools::call(server, session, &id, params, sink).await,
        method::TASKS_GET => tasks::get::handle(server, session, params).await,
        method::TASKS_RESULT => tasks::result::handle(server, session, params, sink).await,
        method::TASKS_LIST => tasks::list::handle(server, session, params).await,
        method::TASKS_CANCEL => tasks::cancel::handle(server, session, params).await,
        other if other.len() > MAX_ECHOED_ID_BYTES => Err(ErrorObject::new(
            mcp_tasks_wire::jsonrpc::ErrorCode::METHOD_NOT_FOUND,
            format!(
                "method not found: a method name of {} bytes (not repeated here)",
                other.len()
            ),
        )),
        other => Err(ErrorObject::method_not_found(other)),
    }
}

/// The most bytes an id we echo back may take: a request id, or a `progressToken` (as JSON
/// text). Real ids are counters or UUIDs; 1 KiB leaves room for any reasonable scheme.
pub(crate) const MAX_ECHOED_ID_BYTES: usize = 1024;

/// Refuses, with -32602, a request whose id or `_meta.progressToken` is over
/// [`MAX_ECHOED_ID_BYTES`].
fn check_echoed_ids(id: &RequestId, params: Option<&Value>) -> Result<(), ErrorObject> {
    if let RequestId::String(s) = id {
        if s.len() > MAX_ECHOED_ID_BYTES {
            return Err(ErrorObject::invalid_params(format!(
                "the request id is {} bytes, over the limit of {MAX_ECHOED_ID_BYTES}; \
                 use a shorter id",
                s.len()
            )));
        }
    }
    let token = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("progressToken"));
    if let Some(token) = token {
        let len = match token {
            Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        if len > MAX_ECHOED_ID_BYTES {
            return Err(ErrorObject::invalid_params(format!(
                "params._meta.progressToken is {len} bytes, over the limit of \
                 {MAX_ECHOED_ID_BYTES}; use a shorter token"
            )));
        }
    }
    Ok(())
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

/// A notification the session's peer handed on (it handles `notifications/cancelled`).
pub(super) fn notification(session: &Session, n: Notification) {
    match n.method.as_str() {
        method::INITIALIZED => tracing::debug!(session = session.id(), "client initialized"),
        other => tracing::debug!(method = other, "notification ignored"),
    }
}

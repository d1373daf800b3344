//! Dispatch by method name; bad params are -32602, unknown methods -32601.
//!
//! Before any work, the ids a request asks us to echo back (its JSON-RPC id, and
//! `_meta.progressToken`, which every progress notification repeats) are held to
//! [`MAX_ECHOED_ID_BYTES`]: a peer must not make us store and resend megabytes per message.
//! The `tasks/*` methods exist only for sessions that negotiated 2025-11-25 (T-CAP-1).
//!
//! Requests of the stateless era (MCP 2026-07-28, [`super::era`]) have a table of their own,
//! [`route_stateless`]: `server/discover`, `tools/list`, `tools/call`, the tasks extension's
//! `tasks/get|update|cancel` and `subscriptions/listen`. What the era removed (`initialize`,
//! `ping`, `logging/setLevel`, and the extension's dropped `tasks/result` and `tasks/list`,
//! X-7) is -32601 there, like any method this server does not have, and every result names its
//! kind in `resultType` (B-4).

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{ErrorObject, Notification, Request, RequestId};
use mcp_tasks_wire::method;
use serde_json::{json, Value};

use mcp_tasks_wire::v2026_07_28::ResultType;

use super::era::RequestContext;
use super::{discover, ext_tasks, initialize, logging, tasks, tools, PassthroughContext, Server};
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
        method::LOGGING_SET_LEVEL => logging::set_level(session, params),
        method::TOOLS_LIST => tools::list(server, session),
        method::TOOLS_CALL => tools::call(server, session, &id, params, sink).await,
        method::TASKS_GET => tasks::get::handle(server, session, params).await,
        method::TASKS_RESULT => tasks::result::handle(server, session, params, sink).await,
        method::TASKS_LIST => tasks::list::handle(server, session, params).await,
        method::TASKS_CANCEL => tasks::cancel::handle(server, session, params).await,
        other if serves(server, other) => {
            let cancellation = session.track_inflight(&id);
            let cx = PassthroughContext {
                session: session.clone(),
                stateless: false,
                sink: sink.clone(),
                cancellation: cancellation.clone(),
            };
            let outcome = passthrough(server, cx, other, params).await;
            session.untrack_inflight(&id);
            outcome
        }
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

/// Routes one request of the stateless era. `Ok(None)` is a request that has no answer: a
/// `subscriptions/listen` stream that ended.
pub(super) async fn route_stateless(
    server: &Arc<Server>,
    cx: &RequestContext,
    request: Request,
    sink: &Sink,
) -> Result<Option<Value>, ErrorObject> {
    let Request {
        id,
        method: name,
        params,
        ..
    } = request;
    check_echoed_ids(&id, params.as_ref())?;
    let mut result = match name.as_str() {
        method::SERVER_DISCOVER => discover::handle(server)?,
        method::TOOLS_LIST => tools::list_v2026(server)?,
        method::TOOLS_CALL => {
            rate_limit(server, cx)?;
            let caps = &cx.meta.client_capabilities;
            tools::call_v2026(server, &cx.session, caps, &id, params, sink).await?
        }
        method::TASKS_GET | method::TASKS_UPDATE | method::TASKS_CANCEL => {
            ext_tasks::require_extension(cx, &name)?;
            rate_limit(server, cx)?;
            match name.as_str() {
                method::TASKS_GET => ext_tasks::get::handle(server, cx, params).await?,
                method::TASKS_UPDATE => ext_tasks::update::handle(server, cx, params).await?,
                _ => ext_tasks::cancel::handle(server, cx, params).await?,
            }
        }
        method::SUBSCRIPTIONS_LISTEN => {
            ext_tasks::listen::handle(server, cx, &id, params, sink).await?;
            return Ok(None);
        }
        other if serves(server, other) => {
            let pcx = PassthroughContext {
                session: cx.session.clone(),
                stateless: true,
                sink: sink.clone(),
                cancellation: cx.stopping.child_token(),
            };
            passthrough(server, pcx, other, params).await?
        }
        other => return Err(not_in_this_era(other)),
    };
    if result.get("resultType").is_none() {
        ResultType::Complete.stamp(&mut result);
    }
    discover::stamp_server_info(server, &mut result);
    Ok(Some(result))
}

/// Whether the server's passthrough serves `method` (G-1).
fn serves(server: &Server, method: &str) -> bool {
    server.passthrough().is_some_and(|p| p.serves(method))
}

async fn passthrough(
    server: &Server,
    cx: PassthroughContext,
    method: &str,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    match server.passthrough() {
        Some(p) => p.request(cx, method, params).await,
        None => Err(ErrorObject::method_not_found(method)),
    }
}

/// Counts a task operation of a stateless request against its requestor's limit (T-SEC-3).
fn rate_limit(server: &Server, cx: &RequestContext) -> Result<(), ErrorObject> {
    match server.rate_limiter() {
        Some(limiter) => limiter.check(cx.session.requestor()),
        None => Ok(()),
    }
}

/// -32601 for a method the stateless era does not have here, saying where it went.
fn not_in_this_era(name: &str) -> ErrorObject {
    let why = match name {
        method::INITIALIZE => format!(
            "protocol {} has no initialize: send requests with their params._meta directly \
             (server/discover says what this server offers); to open a 2025-11-25 session \
             instead, send initialize without the _meta protocol version",
            mcp_tasks_wire::v2026_07_28::PROTOCOL_VERSION
        ),
        method::TASKS_RESULT => "tasks/result is not part of the tasks extension: tasks/get \
                                 inlines the result of a completed task"
            .to_owned(),
        method::TASKS_LIST => "tasks/list is not part of the tasks extension: keep the ids of \
                               the tasks you start"
            .to_owned(),
        method::PING | method::LOGGING_SET_LEVEL => format!(
            "{name} was removed in protocol {}",
            mcp_tasks_wire::v2026_07_28::PROTOCOL_VERSION
        ),
        other if other.len() > MAX_ECHOED_ID_BYTES => {
            return ErrorObject::new(
                mcp_tasks_wire::jsonrpc::ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "method not found: a method name of {} bytes (not repeated here)",
                    other.len()
                ),
            )
        }
        other => return ErrorObject::method_not_found(other),
    };
    ErrorObject::new(
        mcp_tasks_wire::jsonrpc::ErrorCode::METHOD_NOT_FOUND,
        format!("method not found: {why}"),
    )
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
pub(super) fn notification(server: &Server, session: &Session, n: Notification) {
    match n.method.as_str() {
        method::INITIALIZED => tracing::debug!(session = session.id(), "client initialized"),
        other => match server.passthrough() {
            Some(p) => p.notification(session, &n),
            None => tracing::debug!(method = other, "notification ignored"),
        },
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore, Requestor};
    use mcp_tasks_wire::jsonrpc::{ErrorCode, Message};
    use mcp_tasks_wire::v2025_11_25::Implementation;
    use mcp_tasks_wire::v2026_07_28::{
        ClientCapabilities, RequestMetaObject, PROTOCOL_VERSION, SERVER_INFO,
    };
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::server::Tools;

    fn server() -> Arc<Server> {
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        Server::new(engine, Tools::new(), Implementation::new("t", "1"))
    }

    fn context(caps: ClientCapabilities, stopping: CancellationToken) -> RequestContext {
        let meta = RequestMetaObject {
            protocol_version: PROTOCOL_VERSION.into(),
            client_capabilities: caps,
            ..RequestMetaObject::default()
        };
        RequestContext::new(meta, Requestor::anonymous("conn"), stopping)
    }

    async fn route(
        server: &Arc<Server>,
        cx: &RequestContext,
        method: &str,
        params: Option<Value>,
    ) -> (Result<Option<Value>, ErrorObject>, Vec<Message>) {
        let (sink, mut rx) = Sink::channel(16);
        let request = Request::new(RequestId::Number(1), method, params);
        let outcome = route_stateless(server, cx, request, &sink).await;
        drop(sink);
        let mut sent = Vec::new();
        while let Some(m) = rx.recv().await {
            sent.push(m);
        }
        (outcome, sent)
    }

    /// X-7, B-8: what the era removed, or never had here, is -32601 saying where it went.
    #[tokio::test]
    async fn removed_methods_are_not_found() {
        let server = server();
        let cx = context(ClientCapabilities::default(), CancellationToken::new());
        for (method, says) in [
            ("initialize", "initialize"),
            ("ping", "removed"),
            ("logging/setLevel", "removed"),
            ("tasks/result", "tasks/get"),
            ("tasks/list", "keep the ids"),
            ("prompts/list", "prompts/list"),
        ] {
            let (outcome, _) = route(&server, &cx, method, None).await;
            let e = outcome.unwrap_err();
            assert_eq!(e.code, ErrorCode::METHOD_NOT_FOUND, "{method}");
            assert!(e.message.contains(says), "{method}: {}", e.message);
        }
    }

    /// B-4: every result names its kind, and the server in `_meta`.
    #[tokio::test]
    async fn every_result_names_its_kind_and_the_server() {
        let server = server();
        let cx = context(ClientCapabilities::default(), CancellationToken::new());
        for method in ["server/discover", "tools/list"] {
            let (outcome, _) = route(&server, &cx, method, None).await;
            let result = outcome.unwrap().unwrap();
            assert_eq!(result["resultType"], "complete", "{method}");
            assert_eq!(result["_meta"][SERVER_INFO]["name"], "t", "{method}");
        }
    }

    /// the tasks methods refuse a request without the extension before reading params.
    #[tokio::test]
    async fn tasks_methods_need_the_extension_first() {
        let server = server();
        let cx = context(ClientCapabilities::default(), CancellationToken::new());
        for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
            let (outcome, _) = route(&server, &cx, method, None).await;
            let e = outcome.unwrap_err();
            assert_eq!(e.code, ErrorCode::MISSING_CAPABILITY, "{method}");
        }
        let cx = context(
            ClientCapabilities::default().with_tasks_extension(),
            CancellationToken::new(),
        );
        let (outcome, _) = route(&server, &cx, "tasks/get", None).await;
        assert_eq!(outcome.unwrap_err().code, ErrorCode::INVALID_PARAMS);
    }

    /// B-7: a listen stream has no answer; when the server stops it is acknowledged first,
    /// then ended with `notifications/cancelled` naming it.
    #[tokio::test]
    async fn a_listen_stream_has_no_answer_and_ends_when_the_server_stops() {
        let server = server();
        let stopping = CancellationToken::new();
        stopping.cancel();
        let cx = context(ClientCapabilities::default(), stopping);
        let params = serde_json::json!({"notifications": {}});
        let (outcome, sent) = route(&server, &cx, "subscriptions/listen", Some(params)).await;
        assert_eq!(outcome.unwrap(), None);
        let methods: Vec<&str> = sent
            .iter()
            .map(|m| match m {
                Message::Notification(n) => n.method.as_str(),
                _ => "not a notification",
            })
            .collect();
        assert_eq!(
            methods,
            [
                "notifications/subscriptions/acknowledged",
                "notifications/cancelled"
            ]
        );
    }
}

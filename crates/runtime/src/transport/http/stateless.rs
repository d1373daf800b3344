//! Requests of the stateless era (MCP 2026-07-28) on the same endpoint as the 2025-11-25
//! sessions (B-8): no `Mcp-Session-Id`, no GET stream, no resumption; each POST is one request
//! and its answer.
//!
//! MCP 2026-07-28, "Streamable HTTP":
//! - The headers mirror the body for intermediaries and must agree with it (B-5, X-8):
//!   `MCP-Protocol-Version` equals the `_meta` version, `Mcp-Method` the method, and `Mcp-Name`
//!   the tool name of `tools/call` (the `uri` of `resources/read`, the `taskId` of
//!   `tasks/get|update|cancel`), decoded from the `=?base64?…?=` sentinel when so sent, as are
//!   the `Mcp-Param-*` headers of the arguments a tool marks (`param_headers`). Header names
//!   are case-insensitive and values are trimmed of surrounding whitespace, but compared
//!   case-sensitively. A missing or disagreeing header is 400 with -32020.
//! - A version this server does not speak statelessly is 400 with -32022 (B-3), a malformed
//!   `_meta` 400 with -32602 (B-2), a capability the request did not declare 400 with -32021,
//!   and an unknown method 404 with -32601. A JSON-RPC error body comes with every status, so a
//!   client always learns which case it hit; the official requester reads one on 2xx and 400.
//!   They are told apart in the conformance suite's order: a missing `MCP-Protocol-Version`,
//!   then a malformed `_meta`, then the headers against the body, then the version, then the
//!   method, then the capabilities.
//! - The answer is one JSON body, or an SSE stream when the request sends something before its
//!   answer (the progress of a `tools/call`, the notifications of `subscriptions/listen`) and
//!   the client takes `text/event-stream`. Whether to stream is decided by what comes first: an
//!   answer that is ready before anything else goes as JSON, with the HTTP status its error
//!   calls for, which a stream, already `200`, could no longer carry.
//! - At most [`HttpConfig::max_stateless_requests`](super::HttpConfig) are served at once,
//!   a `subscriptions/listen` stream counting until it ends; one more is refused with 503 and
//!   a JSON-RPC error, before it runs.
//! - Closing the connection cancels the request: its context closes, which stops a plain
//!   call's work and ends a `subscriptions/listen`; a call that became a task meanwhile has
//!   its task cancelled, since the client never learns its id. A graceful shutdown ends the listen
//!   streams, so they do not hold it open.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use mcp_tasks_engine::{Owner, Requestor};
use mcp_tasks_wire::jsonrpc::{ErrorCode, ErrorObject, Message, Request, RequestId};
use mcp_tasks_wire::method::{self, SUPPORTED_PROTOCOL_VERSIONS};
use mcp_tasks_wire::v2026_07_28::headers::{decode_value, has_name, name_of, MCP_METHOD, MCP_NAME};
use mcp_tasks_wire::v2026_07_28::{header_mismatch, RequestMetaObject, PROTOCOL_VERSION};
use tokio_util::sync::CancellationToken;

use super::accept::accepts;
use super::param_headers::ParamHeaders;
use super::{HttpState, PROTOCOL_VERSION_HEADER};
use crate::server::era::{self, RequestContext};
use crate::server::stats::Counted;
use crate::server::tools;
use crate::session::{Outbound, Session, Sink, DEFAULT_QUEUE};

/// Whether a request without a session announces the stateless era in its headers: an
/// `MCP-Protocol-Version` that is not one of the 2025 versions (which a 2025-11-25 client sends
/// only with the session `initialize` gave it).
pub(super) fn announces_stateless(headers: &HeaderMap) -> bool {
    headers.get(PROTOCOL_VERSION_HEADER).is_some_and(|v| {
        !v.to_str()
            .is_ok_and(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v))
    })
}

/// The HTTP status of an error of this era (see the module docs).
fn status_of(error: &ErrorObject) -> StatusCode {
    match error.code {
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        ErrorCode::PARSE_ERROR
        | ErrorCode::INVALID_REQUEST
        | ErrorCode::INVALID_PARAMS
        | ErrorCode::HEADER_MISMATCH
        | ErrorCode::MISSING_CAPABILITY
        | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// The JSON answer to request `id`, with the status its outcome calls for.
fn json(id: Option<RequestId>, outcome: Result<serde_json::Value, ErrorObject>) -> Response {
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(e) => status_of(e),
    };
    let response = mcp_tasks_wire::jsonrpc::Response { id, outcome };
    let body = serde_json::to_vec(&Message::Response(response)).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Refuses request `id` with `error`, before it runs.
pub(super) fn refuse(id: RequestId, error: ErrorObject) -> Response {
    json(Some(id), Err(error))
}

/// The value of header `name`, trimmed; `Err` when it is not text.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ErrorObject> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|v| Some(v.trim_matches([' ', '\t'])))
            .map_err(|_| header_mismatch(format!("the {name} header is not visible ASCII text"))),
    }
}

/// -32020 for a request of this era without `MCP-Protocol-Version`.
pub(super) fn missing_version_header() -> ErrorObject {
    header_mismatch(format!(
        "missing MCP-Protocol-Version header; send the version of params._meta \
         (\"{PROTOCOL_VERSION}\")"
    ))
}

/// Checks the headers against the body (B-5, X-8), then the version (B-3), in the order the
/// spec's errors are told apart (the conformance suite's own order): the version header
/// (missing or not the `_meta` one is -32020), `Mcp-Method`, `Mcp-Name`, the `Mcp-Param-*` of
/// a `tools/call` (each -32020), and only then whether this server speaks the version the
/// header and `_meta` agree on (-32022).
pub(super) fn check(
    headers: &HeaderMap,
    request: &Request,
    meta: &RequestMetaObject,
    params: &ParamHeaders,
) -> Result<(), ErrorObject> {
    check_headers(headers, request, meta)?;
    if request.method == method::TOOLS_CALL {
        let p = request.params.as_ref();
        if let Some(tool) = p.and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
            params.check(headers, tool, p.and_then(|p| p.get("arguments")))?;
        }
    }
    era::check_version(meta)
}

/// The standard headers' half of [`check`]: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`.
fn check_headers(
    headers: &HeaderMap,
    request: &Request,
    meta: &RequestMetaObject,
) -> Result<(), ErrorObject> {
    match header_text(headers, PROTOCOL_VERSION_HEADER)? {
        None => return Err(missing_version_header()),
        Some(v) if v != meta.protocol_version => {
            return Err(header_mismatch(format!(
                "the MCP-Protocol-Version header {v:?} does not match params._meta's version \
                 {:?}; send the same version in both",
                meta.protocol_version
            )))
        }
        Some(_) => {}
    }
    match header_text(headers, MCP_METHOD)? {
        None => {
            return Err(header_mismatch(format!(
                "missing Mcp-Method header; send Mcp-Method: {}",
                request.method
            )))
        }
        Some(v) if v != request.method => {
            return Err(header_mismatch(format!(
                "the Mcp-Method header {v:?} does not match the body's method {:?}",
                request.method
            )))
        }
        Some(_) => {}
    }
    if !has_name(&request.method) {
        return Ok(());
    }
    let Some(body) = name_of(&request.method, request.params.as_ref()) else {
        // Nothing to mirror: the params' own check says what is missing.
        return Ok(());
    };
    let Some(raw) = header_text(headers, MCP_NAME)? else {
        return Err(header_mismatch(format!(
            "missing Mcp-Name header; {} needs Mcp-Name: {body:?} (the =?base64?…?= form when \
             it is not plain ASCII)",
            request.method
        )));
    };
    let sent = decode_value(raw)
        .map_err(|why| header_mismatch(format!("the Mcp-Name header is malformed: {why}")))?;
    if sent != body {
        return Err(header_mismatch(format!(
            "the Mcp-Name header {sent:?} does not match the body's {body:?}"
        )));
    }
    Ok(())
}

/// Serves one request of the stateless era for `owner` (the bearer token's subject, if any)
/// from the peer at `peer`, when known.
pub(super) async fn serve(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    owner: Option<Owner>,
    peer: Option<IpAddr>,
    request: Request,
    meta: RequestMetaObject,
) -> Response {
    if let Err(error) = check(headers, &request, &meta, &state.param_headers()) {
        return refuse(request.id, error);
    }
    let sse = accepts(headers, "text/event-stream");
    let json_ok = accepts(headers, "application/json");
    if request.method == method::SUBSCRIPTIONS_LISTEN && !sse {
        return (
            StatusCode::NOT_ACCEPTABLE,
            refuse(
                request.id,
                ErrorObject::invalid_request(
                    "subscriptions/listen is answered with an SSE stream; send Accept: \
                     text/event-stream",
                ),
            ),
        )
            .into_response();
    }
    let Some(admitted) = state.stateless.admit(state.config.max_stateless_requests) else {
        let max = state.config.max_stateless_requests;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            refuse(
                request.id,
                ErrorObject::internal(format!(
                    "this server is serving {max} requests of protocol {PROTOCOL_VERSION} \
                     (subscriptions/listen streams included), the most it allows at once; \
                     retry later, or close listen streams you no longer read"
                )),
            ),
        )
            .into_response();
    };
    let max = state.config.max_streams_per_client;
    let client = super::limits::client_key(owner.as_ref(), peer);
    let Some(slot) = state.streams.admit(client.as_deref(), max) else {
        return super::limits::Streams::refusal(Some(request.id), max);
    };
    let id = request.id.clone();
    // Limited and counted as the caller (its owner, else its address), not afresh per request.
    let requestor = Requestor {
        owner,
        session: Some(era::stateless_key(peer)),
    };
    let cx = RequestContext::new(meta, requestor, state.stopping.clone());
    let session = cx.session.clone();
    // Until the answer is on its way, losing the client cancels the request.
    let mut cancel = CancelOnDrop::new(session.clone());
    let taken = cancel.taken.clone();
    let (tx, mut rx) = Sink::channel(DEFAULT_QUEUE);
    let server = state.server.clone();
    tokio::spawn(async move {
        if let Some(answer) = server.handle_stateless(&cx, request, &tx).await {
            let made = tools::created_task(&answer);
            let _ = tx.send(answer.into());
            if let Some(task) = made {
                // Either the answer is taken for the client, or the client went before and
                // never learns of the task.
                tokio::select! {
                    biased;
                    () = taken.cancelled() => {}
                    () = cx.session.closed().cancelled() => {
                        tools::cancel_unheard(&server, cx.session.requestor(), &task).await;
                    }
                }
            }
        }
        // Counted until its work ends, however its client went.
        drop((admitted, slot));
    });
    loop {
        let Some(first) = rx.recv().await else {
            cancel.disarm();
            return json(
                Some(id),
                Err(ErrorObject::internal(
                    "internal error: the request ended without an answer; the server's log says why",
                )),
            );
        };
        match first {
            Message::Response(r) if r.id.as_ref() == Some(&id) && (json_ok || !sse) => {
                cancel.disarm();
                return json(r.id, r.outcome);
            }
            first if sse => {
                return stream(first, rx, id, (cancel, state.server.counters().stream()))
            }
            // A client that takes no stream gets the answer alone.
            _ => {}
        }
    }
}

/// The SSE answer: `first`, then what the request sends, until its answer (or, for a stream
/// with no answer, until it ends).
fn stream(
    first: Message,
    rx: Outbound,
    id: RequestId,
    (cancel, counted): (CancelOnDrop, Counted),
) -> Response {
    let events = futures::stream::unfold(
        (Some(first), rx, Some(cancel), false, counted),
        move |(next, mut rx, mut cancel, done, counted)| {
            let id = id.clone();
            async move {
                if done {
                    return None;
                }
                let message = match next {
                    Some(m) => m,
                    None => rx.recv().await?,
                };
                let last = matches!(&message, Message::Response(r) if r.id.as_ref() == Some(&id));
                if last {
                    if let Some(c) = cancel.as_mut() {
                        c.disarm();
                    }
                }
                let data = serde_json::to_string(&message).unwrap_or_default();
                let event = Event::default().data(data);
                Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (None, rx, cancel, last, counted),
                ))
            }
        },
    );
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Reverse proxies must pass each event on at once (MCP 2026-07-28, "Receiving Messages").
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The requests of this era being served, which have no session to count them by.
#[derive(Debug, Default)]
pub(super) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Admits one more request while fewer than `max` are served; it counts until dropped.
    fn admit(&self, max: usize) -> Option<Admitted> {
        let before = self.0.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(self.0.clone());
        (before < max).then_some(admitted)
    }
}

/// One request counted in [`InFlight`], until dropped.
#[derive(Debug)]
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Closes a request's context when dropped armed: the client went before the answer.
/// Disarmed, it trips `taken` instead: the answer was taken for the client. Exactly one of
/// the two happens.
#[derive(Debug)]
struct CancelOnDrop {
    session: Option<Arc<Session>>,
    taken: CancellationToken,
}

impl CancelOnDrop {
    fn new(session: Arc<Session>) -> Self {
        Self {
            session: Some(session),
            taken: CancellationToken::new(),
        }
    }

    fn disarm(&mut self) {
        if self.session.take().is_some() {
            self.taken.cancel();
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            tracing::debug!("the client of a stateless request went before its answer; cancelled");
            session.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta() -> RequestMetaObject {
        RequestMetaObject {
            protocol_version: PROTOCOL_VERSION.into(),
            ..RequestMetaObject::default()
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        h
    }

    fn call(name: &str) -> Request {
        Request::new(
            RequestId::Number(1),
            "tools/call",
            Some(json!({"name": name, "arguments": {}})),
        )
    }

    fn none() -> ParamHeaders {
        ParamHeaders::default()
    }

    fn code(r: Result<(), ErrorObject>) -> Option<i32> {
        r.err().map(|e| e.code.0)
    }

    /// B-5: the headers must be there and agree with the body; names are case-insensitive,
    /// values trimmed and compared case-sensitively, `Mcp-Name` decoded from Base64.
    #[test]
    fn headers_must_mirror_the_body() {
        let m = meta();
        let ok = [
            ("MCP-Protocol-Version", PROTOCOL_VERSION),
            ("mcp-method", "tools/call"),
            ("MCP-NAME", "  greet\t"),
        ];
        assert_eq!(
            code(check(&headers(&ok), &call("greet"), &m, &none())),
            None
        );
        let b64 = [
            ("mcp-protocol-version", PROTOCOL_VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?5pel5pys?="),
        ];
        assert_eq!(
            code(check(&headers(&b64), &call("日本"), &m, &none())),
            None
        );
        let cases: [&[(&str, &str)]; 6] = [
            &[("mcp-method", "tools/call"), ("mcp-name", "greet")],
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "greet"),
            ],
            &[
                ("mcp-protocol-version", PROTOCOL_VERSION),
                ("mcp-name", "greet"),
            ],
            &[
                ("mcp-protocol-version", PROTOCOL_VERSION),
                ("mcp-method", "TOOLS/CALL"),
                ("mcp-name", "greet"),
            ],
            &[
                ("mcp-protocol-version", PROTOCOL_VERSION),
                ("mcp-method", "tools/call"),
            ],
            &[
                ("mcp-protocol-version", PROTOCOL_VERSION),
                ("mcp-method", "tools/call"),
                ("mcp-name", "other"),
            ],
        ];
        for case in cases {
            assert_eq!(
                code(check(&headers(case), &call("greet"), &m, &none())),
                Some(-32020),
                "{case:?}"
            );
        }
    }

    /// the tasks methods mirror their task id; methods without a name need none.
    #[test]
    fn tasks_methods_mirror_the_task_id() {
        let m = meta();
        let get = Request::new(
            RequestId::Number(2),
            "tasks/get",
            Some(json!({"taskId": "t-1"})),
        );
        let base = [
            ("mcp-protocol-version", PROTOCOL_VERSION),
            ("mcp-method", "tasks/get"),
        ];
        assert_eq!(
            code(check(&headers(&base), &get, &m, &none())),
            Some(-32020)
        );
        let mut named = base.to_vec();
        named.push(("mcp-name", "t-1"));
        assert_eq!(code(check(&headers(&named), &get, &m, &none())), None);
        let list = Request::new(RequestId::Number(3), "tools/list", Some(json!({})));
        let h = [
            ("mcp-protocol-version", PROTOCOL_VERSION),
            ("mcp-method", "tools/list"),
        ];
        assert_eq!(code(check(&headers(&h), &list, &m, &none())), None);
    }

    /// B-3, B-5: a header and `_meta` that disagree is -32020; agreeing on a version this server
    /// does not speak is -32022.
    #[test]
    fn version_mismatch_and_unsupported_version_are_told_apart() {
        let mut m = meta();
        m.protocol_version = "v999.0.0".into();
        let h = [
            ("mcp-protocol-version", PROTOCOL_VERSION),
            ("mcp-method", "tools/list"),
        ];
        let list = Request::new(RequestId::Number(1), "tools/list", None);
        assert_eq!(code(check(&headers(&h), &list, &m, &none())), Some(-32020));
        let h = [
            ("mcp-protocol-version", "v999.0.0"),
            ("mcp-method", "tools/list"),
        ];
        assert_eq!(code(check(&headers(&h), &list, &m, &none())), Some(-32022));
    }

    /// B-3, B-5: the headers are checked before the version (the spec digest's order): with
    /// an unspoken version that the header and `_meta` agree on, a missing `Mcp-Method`,
    /// `Mcp-Name` or `Mcp-Param-*` is still -32020, not -32022.
    #[test]
    fn headers_are_checked_before_the_version() {
        let mut m = meta();
        m.protocol_version = "v999.0.0".into();
        let v = ("mcp-protocol-version", "v999.0.0");
        let list = Request::new(RequestId::Number(1), "tools/list", None);
        assert_eq!(
            code(check(&headers(&[v]), &list, &m, &none())),
            Some(-32020)
        );
        let method = ("mcp-method", "tools/call");
        let nameless = headers(&[v, method]);
        assert_eq!(
            code(check(&nameless, &call("greet"), &m, &none())),
            Some(-32020)
        );
        let tool = serde_json::from_value(json!({"name": "greet", "inputSchema": {
            "type": "object",
            "properties": {"who": {"type": "string", "x-mcp-header": "Who"}}
        }}))
        .unwrap();
        let mirrored = ParamHeaders::of(&[tool]);
        let with_who = Request::new(
            RequestId::Number(2),
            "tools/call",
            Some(json!({"name": "greet", "arguments": {"who": "Ada"}})),
        );
        let named = headers(&[v, method, ("mcp-name", "greet")]);
        assert_eq!(code(check(&named, &with_who, &m, &mirrored)), Some(-32020));
        let complete = headers(&[v, method, ("mcp-name", "greet"), ("mcp-param-who", "Ada")]);
        assert_eq!(
            code(check(&complete, &with_who, &m, &mirrored)),
            Some(-32022)
        );
    }

    /// B-5: the HTTP status of each error of the era.
    #[test]
    fn errors_get_their_status() {
        let table = [
            (ErrorCode::METHOD_NOT_FOUND, 404),
            (ErrorCode::INVALID_PARAMS, 400),
            (ErrorCode::HEADER_MISMATCH, 400),
            (ErrorCode::MISSING_CAPABILITY, 400),
            (ErrorCode::UNSUPPORTED_PROTOCOL_VERSION, 400),
            (ErrorCode::INTERNAL_ERROR, 200),
        ];
        for (code, status) in table {
            assert_eq!(
                status_of(&ErrorObject::new(code, "x")).as_u16(),
                status,
                "{code}"
            );
        }
    }

    /// A router whose one tool, `region`, mirrors its `region` argument into
    /// `Mcp-Param-Region` and answers it back.
    fn region_app() -> axum::Router {
        region_app_with(super::super::HttpConfig::default())
    }

    fn region_app_with(config: super::super::HttpConfig) -> axum::Router {
        #[derive(serde::Deserialize)]
        struct Args {
            region: String,
        }
        let tool = serde_json::from_value(json!({
            "name": "region",
            "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"}
            }}
        }))
        .unwrap();
        let tools = crate::server::Tools::new().add(tool, |a: Args, _cx| async move {
            Ok(mcp_tasks_wire::v2025_11_25::CallToolResult::text(a.region))
        });
        let engine = mcp_tasks_engine::Engine::new(
            Arc::new(mcp_tasks_engine::MemoryStore::new()),
            mcp_tasks_engine::EngineConfig::default(),
        );
        let server = crate::server::Server::new(
            engine,
            tools,
            mcp_tasks_wire::v2025_11_25::Implementation::new("t", "0"),
        );
        super::super::router(server, config)
    }

    async fn call_region(app: &axum::Router, param: Option<&str>) -> (u16, serde_json::Value) {
        use tower::ServiceExt;
        let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "region", "arguments": {"region": "us-west1"},
            "_meta": {"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                      "io.modelcontextprotocol/clientCapabilities": {}}}});
        let mut req = axum::http::Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "region");
        if let Some(v) = param {
            req = req.header("mcp-param-region", v);
        }
        let req = req.body(axum::body::Body::from(body.to_string())).unwrap();
        let response = app.clone().oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        assert!(response
            .headers()
            .get(super::super::SESSION_HEADER)
            .is_none());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// B-5: a tool's mirrored argument must come in its `Mcp-Param-*` header, equal to the
    /// body's, through the real router; answered statelessly, without a session.
    #[tokio::test]
    async fn mirrored_arguments_are_checked_on_the_endpoint() {
        let app = region_app();
        let (status, answer) = call_region(&app, Some("us-west1")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"]["content"][0]["text"], "us-west1");
        for param in [None, Some("eu-west1")] {
            let (status, answer) = call_region(&app, param).await;
            assert_eq!(status, 400, "{param:?}: {answer}");
            assert_eq!(answer["error"]["code"], -32020, "{param:?}");
            assert_eq!(answer["id"], 5);
        }
    }

    /// A POST of request `id` of this era, with its headers.
    fn post(
        method: &str,
        params: serde_json::Value,
        id: i64,
    ) -> axum::http::Request<axum::body::Body> {
        let mut params = params;
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                                 "io.modelcontextprotocol/clientCapabilities": {}});
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        axum::http::Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .header("mcp-method", method)
            .body(axum::body::Body::from(body.to_string()))
            .unwrap()
    }

    /// B-2, B-5: without `MCP-Protocol-Version`, a request whose `_meta` is missing or
    /// malformed is -32020 for the header; with the header, -32602 for the `_meta`.
    #[tokio::test]
    async fn a_missing_version_header_is_told_before_a_malformed_meta() {
        use tower::ServiceExt;
        let app = region_app();
        let metas = [
            json!({}),
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION}}),
        ];
        for (params, version) in metas
            .iter()
            .flat_map(|p| [(p, None), (p, Some(PROTOCOL_VERSION))])
        {
            let body = json!({"jsonrpc": "2.0", "id": 4, "method": "server/discover",
                              "params": params});
            let mut req = axum::http::Request::post("/mcp")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header("mcp-method", "server/discover");
            if let Some(v) = version {
                req = req.header("mcp-protocol-version", v);
            }
            let req = req.body(axum::body::Body::from(body.to_string())).unwrap();
            let response = app.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let expected = if version.is_some() { -32602 } else { -32020 };
            assert_eq!(answer["error"]["code"], expected, "{params} {version:?}");
            assert_eq!(answer["id"], 4);
        }
    }

    /// B-7: at most `max_stateless_requests` are served at once, a listen stream holding its
    /// slot until it ends; one more is 503 with a JSON-RPC error naming the limit.
    #[tokio::test]
    async fn stateless_requests_are_bounded() {
        use tower::ServiceExt;
        let app = region_app_with(super::super::HttpConfig {
            max_stateless_requests: 1,
            ..super::super::HttpConfig::default()
        });
        let listen = app
            .clone()
            .oneshot(post(
                "subscriptions/listen",
                json!({"notifications": {}}),
                1,
            ))
            .await
            .unwrap();
        assert_eq!(listen.status(), StatusCode::OK);
        let refused = app
            .clone()
            .oneshot(post("tools/list", json!({}), 2))
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        let bytes = axum::body::to_bytes(refused.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["id"], 2);
        assert_eq!(answer["error"]["code"], -32603);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 requests"),
            "{answer}"
        );
        // The client of the listen stream goes: the stream ends and frees its slot.
        drop(listen);
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let r = app.clone().oneshot(post("tools/list", json!({}), 3)).await;
                if r.unwrap().status() == StatusCode::OK {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the ended stream's slot is free again");
    }

    /// B-8: only a version header that no 2025 session sends announces the stateless era.
    #[test]
    fn a_2025_version_header_does_not_announce_the_stateless_era() {
        assert!(announces_stateless(&headers(&[(
            "mcp-protocol-version",
            PROTOCOL_VERSION
        )])));
        assert!(!announces_stateless(&headers(&[(
            "mcp-protocol-version",
            "2025-11-25"
        )])));
        assert!(!announces_stateless(&HeaderMap::new()));
    }
}

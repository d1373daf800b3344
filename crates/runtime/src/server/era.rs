//! Which era a request speaks, and the context a request of the stateless era runs in (B-2,
//! B-3, B-8).
//!
//! MCP 2026-07-28, "Versioning and Compatibility": a dual-era server "selects its behavior from
//! how the client opens": a request carrying the per-request `_meta` version is served
//! statelessly, `initialize` opens a 2025-11-25 session. So the era is a property of each
//! request, read from its own `_meta`, never from the connection it came on: one stdio pipe or
//! one HTTP endpoint may carry both.
//!
//! A request of the stateless era gets a [`RequestContext`]: its `_meta`, and a [`Session`] of
//! its own that lives as long as the request, speaking for the caller's auth context (the
//! bearer token's subject on HTTP, the same owner a 2025-11-25 session of that caller gets)
//! and holding this request's capabilities and nothing else (B-2: "never inferred from earlier
//! ones"). Tasks it creates belong to that owner, so the same caller reaches them from either
//! era; without auth they are anonymous and reachable by their unguessable id alone, exactly
//! like anonymous 2025-11-25 tasks (T-SEC-1).
//!
//! The session is the request's, but the requestor it speaks for is the caller's: the rate
//! limit and the cap on live tasks (T-SEC-3, T-TTL-2) key on the owner, else on the
//! requestor's session, and a fresh key per request would give every request a fresh
//! allowance (and the limiter a new entry each). So the transport names the caller: on stdio
//! the connection's session, on HTTP without auth the peer's address ([`stateless_key`]).

use std::sync::Arc;

use mcp_tasks_engine::Requestor;
use mcp_tasks_wire::jsonrpc::{ErrorObject, Request};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2026_07_28::{
    unsupported_version, RequestMetaObject, CLIENT_CAPABILITIES, PROTOCOL_VERSION,
    PROTOCOL_VERSION_META,
};
use tokio_util::sync::CancellationToken;

use crate::session::{PeerInfo, Session};

/// The era of one request.
#[derive(Debug)]
pub(crate) enum Era {
    /// MCP 2025-11-25 and older: the request belongs to the session `initialize` opened.
    Session,
    /// MCP 2026-07-28: the request stands alone, described by its `_meta`.
    Stateless(Box<RequestMetaObject>),
}

/// The era of `request`: stateless when its params carry `_meta` with the protocol version
/// (B-2), and for `server/discover`, which exists only in the stateless era (B-1); otherwise
/// the session's.
///
/// # Errors
///
/// -32602 when the version is there but the rest of the `_meta` is malformed, and for a
/// `server/discover` without it.
pub(crate) fn of(request: &Request) -> Result<Era, ErrorObject> {
    match RequestMetaObject::from_params(request.params.as_ref())? {
        Some(meta) => Ok(Era::Stateless(Box::new(meta))),
        None if request.method == method::SERVER_DISCOVER => Err(missing_meta(&request.method)),
        None => Ok(Era::Session),
    }
}

/// -32602 for a request of the stateless era that lacks the `_meta` every such request carries.
pub(crate) fn missing_meta(method: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!(
        "{method:?} needs params._meta[\"{PROTOCOL_VERSION_META}\"] (\"{PROTOCOL_VERSION}\") and \
         params._meta[\"{CLIENT_CAPABILITIES}\"] on every request of protocol {PROTOCOL_VERSION}; \
         to use 2025-11-25 instead, send initialize first"
    ))
}

/// Refuses a version this server does not serve statelessly with -32022, listing the versions
/// a request may name instead (B-3). The message adds that the 2025 versions are spoken
/// through `initialize`, not in `_meta`.
///
/// # Errors
///
/// -32022 with `data.supported` and `data.requested`.
pub(crate) fn check_version(meta: &RequestMetaObject) -> Result<(), ErrorObject> {
    if meta.protocol_version == PROTOCOL_VERSION {
        return Ok(());
    }
    let mut error = unsupported_version(&meta.protocol_version);
    error.message = format!(
        "{} (params._meta); the 2025 versions are spoken through initialize instead",
        error.message
    );
    Err(error)
}

/// What a request of the stateless era runs with.
#[derive(Debug)]
pub(crate) struct RequestContext {
    /// The request's `_meta`: its version and capabilities.
    pub(crate) meta: RequestMetaObject,
    /// The request's own session: the caller's auth context and this request's capabilities.
    /// Closing it cancels what the request still runs (the client went away).
    pub(crate) session: Arc<Session>,
    /// Tripped when the server begins to stop: long-lived answers (`subscriptions/listen`)
    /// end then, so they do not hold a graceful shutdown open.
    pub(crate) stopping: CancellationToken,
}

impl RequestContext {
    /// The context of a request of `requestor` (the caller: its auth context, if any, and the
    /// key it is limited and counted by) described by `meta`.
    pub(crate) fn new(
        meta: RequestMetaObject,
        requestor: Requestor,
        stopping: CancellationToken,
    ) -> Self {
        let id = format!("request-{}", uuid::Uuid::new_v4());
        let session = Session::with_requestor(id, requestor);
        session.set_peer_info(PeerInfo {
            protocol_version: Some(PROTOCOL_VERSION.to_owned()),
            capabilities: meta.client_capabilities.as_v2025(),
        });
        session.set_log_level(meta.log_level);
        Self {
            meta,
            session: Arc::new(session),
            stopping,
        }
    }
}

/// The requestor session of the stateless requests an HTTP peer at `peer` sends: one per
/// address, or one for every peer when the address is not known (a router served without
/// connection info).
pub(crate) fn stateless_key(peer: Option<std::net::IpAddr>) -> String {
    match peer {
        Some(ip) => format!("stateless-http-{ip}"),
        None => "stateless-http".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::Owner;
    use mcp_tasks_wire::jsonrpc::{ErrorCode, RequestId};
    use serde_json::{json, Value};

    use super::*;

    fn request(method: &str, params: Value) -> Request {
        Request::new(RequestId::Number(1), method, Some(params))
    }

    fn meta(version: &str) -> Value {
        json!({PROTOCOL_VERSION_META: version, CLIENT_CAPABILITIES: {"elicitation": {}}})
    }

    /// B-8: `_meta` with a version makes a request stateless whatever its method, `initialize`
    /// included; without it, the request is the session's, except `server/discover`.
    #[test]
    fn the_era_is_read_from_each_request() {
        for method in ["tools/list", "initialize", "tasks/get", "server/discover"] {
            let era = of(&request(method, json!({"_meta": meta(PROTOCOL_VERSION)}))).unwrap();
            assert!(matches!(era, Era::Stateless(_)), "{method}");
        }
        for method in ["tools/list", "initialize", "tasks/result"] {
            let era = of(&request(method, json!({"_meta": {"progressToken": 1}}))).unwrap();
            assert!(matches!(era, Era::Session), "{method}");
        }
        let e = of(&request("server/discover", json!({}))).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
        assert!(e.message.contains(PROTOCOL_VERSION_META), "{}", e.message);
    }

    /// B-2: a version with malformed capabilities is -32602, not another era.
    #[test]
    fn malformed_meta_is_invalid_params() {
        let bad = json!({"_meta": {PROTOCOL_VERSION_META: PROTOCOL_VERSION}});
        let e = of(&request("tools/list", bad)).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    }

    /// B-3: only 2026-07-28 is spoken statelessly; any other version, a 2025 one included, is
    /// -32022 listing only what a request may name (not the 2025 versions a retry would be
    /// refused again with) and echoing what was asked.
    #[test]
    fn other_versions_are_refused_with_what_is_spoken() {
        let ok = RequestMetaObject::from_params(Some(&json!({"_meta": meta(PROTOCOL_VERSION)})))
            .unwrap()
            .unwrap();
        check_version(&ok).unwrap();
        for version in ["v999.0.0", "2025-11-25"] {
            let m = RequestMetaObject::from_params(Some(&json!({"_meta": meta(version)})))
                .unwrap()
                .unwrap();
            let e = check_version(&m).unwrap_err();
            assert_eq!(e.code, ErrorCode::UNSUPPORTED_PROTOCOL_VERSION);
            let data = e.data.unwrap();
            assert_eq!(data["requested"], version);
            assert_eq!(data["supported"], json!([PROTOCOL_VERSION]));
        }
    }

    /// T-SEC-3: stateless HTTP callers are told apart by their address when it is known.
    #[test]
    fn stateless_http_callers_are_keyed_by_address() {
        let a = stateless_key(Some("10.0.0.1".parse().unwrap()));
        let b = stateless_key(Some("10.0.0.2".parse().unwrap()));
        assert_ne!(a, b);
        assert_eq!(a, stateless_key(Some("10.0.0.1".parse().unwrap())));
        assert_ne!(stateless_key(None), a);
    }

    /// B-2, T-SEC-3: the request's session holds this request's capabilities and a fresh id
    /// of its own, but speaks for the caller: its owner, and the key the caller is limited by,
    /// the same for every request of that caller.
    #[test]
    fn the_context_holds_this_requests_capabilities() {
        let m = RequestMetaObject::from_params(Some(&json!({"_meta": meta(PROTOCOL_VERSION)})))
            .unwrap()
            .unwrap();
        let alice = Requestor {
            owner: Some(Owner::new("alice")),
            session: Some(stateless_key(None)),
        };
        let a = RequestContext::new(m.clone(), alice.clone(), CancellationToken::new());
        let b = RequestContext::new(
            m.clone(),
            Requestor::anonymous("stdio-1"),
            CancellationToken::new(),
        );
        let c = RequestContext::new(m, Requestor::anonymous("stdio-1"), CancellationToken::new());
        assert_ne!(a.session.id(), b.session.id());
        assert_ne!(b.session.id(), c.session.id());
        assert_eq!(a.session.requestor(), &alice);
        assert_eq!(b.session.requestor(), c.session.requestor());
        assert_eq!(b.session.requestor().owner, None);
        let info = a.session.peer_info();
        assert_eq!(info.protocol_version.as_deref(), Some(PROTOCOL_VERSION));
        assert!(info.capabilities.elicitation.is_some());
        assert!(info.capabilities.sampling.is_none());
    }
}

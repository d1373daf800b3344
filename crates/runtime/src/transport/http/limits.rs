//! What one client may hold of the endpoint, and the answers that say which limit it hit and
//! when to retry.
//!
//! - A request body is read here, before routing, and never beyond
//!   [`HttpConfig::max_body_bytes`](super::HttpConfig): a larger one is answered 413 (a
//!   declared `Content-Length` above it without reading a byte), one that does not end within
//!   the body read timeout 408 (`conn`), both with a JSON-RPC error body and
//!   `Connection: close`, so the rest of the body is never read.
//! - The bytes of all request bodies being read at once are capped
//!   ([`HttpConfig::max_body_bytes_in_flight`](super::HttpConfig)): a body holds its declared
//!   length (or, chunked, what has arrived) until it is read, one address at most a
//!   sixteenth of it (and at least one whole body), and one that does not fit is answered
//!   503 with `Retry-After` and `Connection: close`, so slow bodies cannot hold
//!   `max_connections` times the body limit, nor one client the whole budget.
//! - Sessions are capped per client ([`HttpConfig::max_sessions_per_client`](super::HttpConfig)):
//!   the bearer token's subject, or without auth the peer's IP address, so one client cannot
//!   take every one of [`HttpConfig::max_sessions`](super::HttpConfig). One more is refused
//!   with 429, a JSON-RPC error naming the limit, and `Retry-After`: when the client's
//!   soonest idle session will have timed out.
//! - Streams are capped per client ([`HttpConfig::max_streams_per_client`](super::HttpConfig)):
//!   the SSE streams of its sessions (GET streams, resumed streams, POST exchanges answered as
//!   SSE) and its MCP 2026-07-28 requests in flight (`subscriptions/listen` included), counted
//!   while open. One more is refused with 429 before it runs.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use mcp_tasks_engine::Owner;
use mcp_tasks_wire::jsonrpc::{ErrorObject, RequestId};

use super::conn::{caused_by, BodyTimedOut};
use super::rpc_error;

/// The body limits [`read_body`] applies: each body's size, and the bytes of all bodies
/// being read at once, overall and per client address.
#[derive(Clone, Debug)]
pub(super) struct BodyLimits {
    max: usize,
    in_flight: usize,
    per_client: usize,
    held: Arc<Mutex<BodyBytes>>,
}

/// The bytes bodies hold while being read: in all, and by client address.
#[derive(Debug, Default)]
struct BodyBytes {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

impl BodyLimits {
    /// `max` bytes per body, `in_flight` bytes (at least `max`) for all bodies being read;
    /// one address may hold a sixteenth of that, and at least one whole body, so that a few
    /// addresses cannot take it all.
    pub(super) fn new(max: usize, in_flight: usize) -> Self {
        let in_flight = in_flight.max(max);
        Self {
            max,
            in_flight,
            per_client: (in_flight / 16).max(max),
            held: Arc::default(),
        }
    }
}

/// Bytes of the in-flight budget one body holds, given back when it is read (or refused).
struct Held {
    limits: BodyLimits,
    client: Option<IpAddr>,
    bytes: usize,
}

impl Held {
    /// Takes `n` more bytes, unless that would pass the budget or the client's share.
    fn take(&mut self, n: usize) -> bool {
        let mut held = self.limits.held.lock().expect("body budget mutex poisoned");
        let BodyBytes { total, by_client } = &mut *held;
        if total.saturating_add(n) > self.limits.in_flight {
            return false;
        }
        if let Some(client) = self.client {
            let mine = by_client.entry(client).or_default();
            if mine.saturating_add(n) > self.limits.per_client {
                if *mine == 0 {
                    by_client.remove(&client);
                }
                return false;
            }
            *mine += n;
        }
        *total += n;
        self.bytes += n;
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut held = self.limits.held.lock().expect("body budget mutex poisoned");
        held.total = held.total.saturating_sub(self.bytes);
        if let Some(client) = self.client {
            if let Some(mine) = held.by_client.get_mut(&client) {
                *mine = mine.saturating_sub(self.bytes);
                if *mine == 0 {
                    held.by_client.remove(&client);
                }
            }
        }
    }
}

/// Middleware: reads the request body within `max` bytes, the body read timeout and the
/// in-flight budget, or answers 413 / 408 / 503 (see the module docs).
pub(super) async fn read_body(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let max = limits.max;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| address_key(peer.ip()));
    let mut held = Held {
        limits: limits.clone(),
        client,
        bytes: 0,
    };
    // A declared length is held whole from the start, so a body that stops one byte short
    // holds all it announced; an undeclared (chunked) one holds what has arrived.
    if let Some(n) = declared {
        if !held.take(usize::try_from(n).unwrap_or(usize::MAX)) {
            return bodies_busy(limits.in_flight);
        }
    }
    let (parts, body) = request.into_parts();
    let mut body = Limited::new(body, max);
    let mut collected = Vec::new();
    let read = loop {
        match body.frame().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if declared.is_none() && !held.take(data.len()) {
                        return bodies_busy(limits.in_flight);
                    }
                    collected.extend_from_slice(&data);
                }
            }
        }
    };
    drop(held);
    let bytes = match read {
        Ok(()) => Bytes::from(collected),
        Err(e) if caused_by::<LengthLimitError>(e.as_ref()) => return too_large(max),
        Err(e) if caused_by::<BodyTimedOut>(e.as_ref()) => {
            return closing(rpc_error(
                StatusCode::REQUEST_TIMEOUT,
                None,
                ErrorObject::invalid_request(format!(
                    "{e}: the body read timeout; send the whole body at once, and a \
                     Content-Length rather than a chunked body that may never end"
                )),
            ))
        }
        Err(e) => {
            tracing::debug!(error = %e, "could not read a request body");
            return closing(rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request(format!("the request body could not be read: {e}")),
            ));
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The 503 for a body beyond the in-flight budget, closing the connection (the rest of the
/// body is never read).
fn bodies_busy(in_flight: usize) -> Response {
    closing(refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "max-body-bytes-in-flight",
        in_flight,
        Duration::from_secs(1),
        "this server, or this client, is sending as many request bytes as it may at once \
         (a client holds at most a sixteenth); send the request again in a second"
            .to_owned(),
    ))
}

fn too_large(max: usize) -> Response {
    closing(rpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        ErrorObject::invalid_request(format!(
            "the request body is above this server's limit of {max} bytes (max body bytes); \
             send a smaller message"
        )),
    ))
}

/// Closes the connection after `response`: the rest of a refused body is never read.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Who a per-client limit counts: the bearer token's subject, else the peer's address
/// ([`address_key`]; `None` when the router is served without connection info: then nothing
/// is counted).
pub(super) fn client_key(owner: Option<&Owner>, peer: Option<IpAddr>) -> Option<String> {
    match (owner, peer) {
        (Some(owner), _) => Some(format!("owner:{owner}")),
        (None, Some(ip)) => Some(format!("address:{}", address_key(ip))),
        (None, None) => None,
    }
}

/// The address that stands for a client: an IPv4 address as it is (an IPv4-mapped IPv6
/// address as its IPv4 address), an IPv6 address by its /64 prefix. One host is commonly
/// given a whole /64 and may send from any address in it, so counting full IPv6 addresses
/// would give it 2^64 allowances.
pub(super) fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        IpAddr::V4(v4) => IpAddr::V4(v4),
    }
}

/// Open streams by client key.
type StreamTable = Arc<Mutex<HashMap<String, usize>>>;

/// The streams open per client.
#[derive(Debug, Default)]
pub(super) struct Streams(StreamTable);

impl Streams {
    /// Admits one more stream of `client` while it has fewer than `max` open; it counts until
    /// the slot is dropped. A request with no client key (no connection info) is not counted.
    pub(super) fn admit(&self, client: Option<&str>, max: usize) -> Option<StreamSlot> {
        let Some(client) = client else {
            return Some(StreamSlot(None));
        };
        let mut open = self.0.lock().expect("stream table mutex poisoned");
        let n = open.entry(client.to_owned()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(StreamSlot(Some((self.0.clone(), client.to_owned()))))
    }

    /// The 429 for a client over [`HttpConfig::max_streams_per_client`](super::HttpConfig).
    pub(super) fn refusal(id: Option<RequestId>, max: usize) -> Response {
        refuse(
            StatusCode::TOO_MANY_REQUESTS,
            id,
            "max-streams-per-client",
            max,
            Duration::from_secs(1),
            format!(
                "this client has {max} streams and requests open, the most one client may; \
                 close GET or listen streams it no longer reads, or wait for answers in flight"
            ),
        )
    }
}

/// One open stream of a client, counted until dropped.
#[derive(Debug)]
pub(super) struct StreamSlot(Option<(StreamTable, String)>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some((table, client)) = self.0.take() {
            let mut open = table.lock().expect("stream table mutex poisoned");
            if let Some(n) = open.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&client);
                }
            }
        }
    }
}

/// A refusal by a per-client limit `name` (the flag's name without `--`): `status` (429 for a
/// client's own limit, 503 for the server's), a JSON-RPC error that says which limit and when
/// to retry, and `Retry-After`.
pub(super) fn refuse(
    status: StatusCode,
    id: Option<RequestId>,
    name: &str,
    max: usize,
    retry_after: Duration,
    message: String,
) -> Response {
    let secs = retry_after.as_secs().max(1);
    let mut error = ErrorObject::internal(format!("{message} (limit {name} = {max})"));
    error.data = Some(serde_json::json!({
        "limit": name,
        "max": max,
        "retryAfterSecs": secs,
    }));
    let mut response = rpc_error(status, id, error);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owners are counted by subject, anonymous clients by address, and the two never meet.
    #[test]
    fn clients_are_keyed_by_owner_else_address() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let alice = Owner::new("alice");
        assert_eq!(
            client_key(Some(&alice), Some(ip)),
            client_key(Some(&alice), None)
        );
        assert_eq!(client_key(None, Some(ip)).unwrap(), "address:10.0.0.1");
        assert_ne!(
            client_key(Some(&Owner::new("10.0.0.1")), None),
            client_key(None, Some(ip))
        );
        assert_eq!(client_key(None, None), None);
    }

    /// T-SEC-3: an IPv6 host rotating addresses within its /64 is one client; another /64 is
    /// another; an IPv4-mapped address is its IPv4 address.
    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |s: &str| client_key(None, Some(s.parse().unwrap())).unwrap();
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:ffff:ffff:2"));
        assert_eq!(key("2001:db8::1"), "address:2001:db8::");
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
    }

    /// A body above the limit is 413 with a JSON-RPC error and `Connection: close`, declared
    /// or not; one at the limit reaches the handler whole.
    #[tokio::test]
    async fn bodies_above_the_limit_get_a_json_rpc_413() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::post(
                    |body: axum::body::Bytes| async move { body.len().to_string() },
                ),
            )
            .layer(axum::middleware::from_fn_with_state(
                BodyLimits::new(16, 16),
                read_body,
            ));
        let send = |body: Body, declared: Option<usize>| {
            let mut req = axum::http::Request::post("/");
            if let Some(n) = declared {
                req = req.header(header::CONTENT_LENGTH, n);
            }
            app.clone().oneshot(req.body(body).unwrap())
        };
        let ok = send(Body::from(vec![b'x'; 16]), Some(16)).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        let declared = send(Body::empty(), Some(17)).await.unwrap();
        let streamed = futures::stream::iter(
            [b"0123456789".as_slice(), b"0123456789".as_slice()]
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from_static(c))),
        );
        let undeclared = send(Body::from_stream(streamed), None).await.unwrap();
        for r in [declared, undeclared] {
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(r.headers()[header::CONNECTION], "close");
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], -32600, "{v}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("16 bytes"),
                "{v}"
            );
        }
    }

    /// A client's streams are counted until their slots drop; other clients and requests
    /// without a client key are not affected.
    #[test]
    fn streams_are_counted_per_client() {
        let streams = Streams::default();
        let a = streams.admit(Some("address:a"), 2).unwrap();
        let _b = streams.admit(Some("address:a"), 2).unwrap();
        assert!(streams.admit(Some("address:a"), 2).is_none());
        let _other = streams.admit(Some("address:b"), 2).unwrap();
        let _unkeyed = streams.admit(None, 2).unwrap();
        drop(a);
        assert!(streams.admit(Some("address:a"), 2).is_some());
    }

    /// A refusal carries the limit's name in the message and the data, and Retry-After.
    #[tokio::test]
    async fn refusals_name_the_limit_and_when_to_retry() {
        let r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            Some(RequestId::Number(3)),
            "max-sessions-per-client",
            2,
            Duration::from_millis(10),
            "too many".into(),
        );
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], 3);
        assert_eq!(v["error"]["data"]["limit"], "max-sessions-per-client");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max-sessions-per-client = 2"));
    }
}

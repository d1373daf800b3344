//! The accept loop: what a client may hold at the connection level, before any request is
//! routed.
//!
//! `axum::serve` sets no timeout and no cap, so a client that sends half a header, a chunked
//! body that never ends, or nothing at all keeps its socket for ever, and a few hundred such
//! sockets exhaust the process's file descriptors (issue 16 measured all three still open
//! after 150 s, and a new client timing out at 300 idle connections). This loop serves each
//! connection with hyper's HTTP/1 server and bounds it:
//!
//! - **Header read timeout** ([`ConnectionLimits::header_read_timeout`]): a request's head must
//!   arrive within it, counted from the moment the connection is ready for a request. That
//!   also closes a connection that sends nothing (a silent socket, or an idle keep-alive
//!   connection between requests). A response being sent is not a wait for a head, so a
//!   long-lived SSE stream is never cut by it.
//! - **Body read timeout** ([`ConnectionLimits::body_read_timeout`]): a request's body must end
//!   within it, counted from its head; otherwise the request is answered 408 with a JSON-RPC
//!   error and the connection closes (see `limits::read_body`).
//! - **Connection cap** ([`ConnectionLimits::max_connections`]): beyond it, a new connection
//!   is answered 503 with `Retry-After` in one non-blocking write and closed at once, so a
//!   flood costs no descriptor for longer than the accept. The default is sized from the
//!   process's `RLIMIT_NOFILE` ([`default_max_connections`]).
//! - **Connection cap per client** ([`ConnectionLimits::max_connections_per_client`]): one
//!   address (an IPv6 address by its /64, the block one host is given) may hold no more than
//!   this share of the cap, so one client's sockets cannot fill it and starve every other
//!   client. Beyond it a new connection is answered 429 with `Retry-After`, the same way.
//!   The default is a sixteenth of the cap, at least 8
//!   ([`default_max_connections_per_client`]).
//!
//! - **Write stall timeout** ([`ConnectionLimits::write_stall_timeout`]): a response write
//!   that makes no progress for this long (the client stopped reading) fails, and the
//!   connection closes, so a client that never reads a large answer holds neither the
//!   connection nor the answer's bytes for ever. A client reading an SSE stream makes progress
//!   (keep-alives come every few seconds), and a stream cut this way can be resumed.
//!
//! Every accepted socket gets `TCP_NODELAY`, and every request carries its peer's
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), which keys the per-client limits.
//! When the shutdown future completes the listener closes, every connection is asked to end
//! once its response is sent, and the loop returns when the last one has.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The default [`ConnectionLimits::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`ConnectionLimits::body_read_timeout`].
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`ConnectionLimits::write_stall_timeout`].
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The descriptors [`default_max_connections`] leaves to everything else: the store, the
/// admin listener, logs, the upstream of a gateway.
const RESERVED_FDS: u64 = 256;
/// The default connection cap when the process's descriptor limit is unlimited or unknown.
const MAX_DEFAULT_CONNECTIONS: u64 = 16_384;

/// What one connection may hold and how many may be open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a request's head may take to arrive, from when the connection is ready for
    /// it: also how long a connection may sit idle between requests.
    pub header_read_timeout: Duration,
    /// How long a request's body may take to arrive, from its head; a slower one is answered
    /// 408 and its connection closed.
    pub body_read_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may have open at once; one more is
    /// answered 429 and closed.
    pub max_connections_per_client: usize,
    /// How long a response write may make no progress before the connection is closed.
    pub write_stall_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        let max_connections = default_max_connections();
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            max_connections,
            max_connections_per_client: default_max_connections_per_client(max_connections),
            write_stall_timeout: WRITE_STALL_TIMEOUT,
        }
    }
}

/// The default per-client connection cap for a cap of `max_connections`: a sixteenth of it,
/// so that at least sixteen clients fill the server before any is refused for want of room,
/// and at least 8, which a browser or an SDK with a few streams open never needs more than.
pub fn default_max_connections_per_client(max_connections: usize) -> usize {
    (max_connections / 16).max(8)
}

/// The default connection cap: half of the process's soft `RLIMIT_NOFILE` after
/// 256 descriptors, at least 32 and at most 16,384, so that connections alone never exhaust
/// the descriptors the store and the admin listener need (the admin listener has a cap of
/// its own, from the same default).
pub fn default_max_connections() -> usize {
    let soft = nofile_soft_limit().unwrap_or(u64::MAX);
    let cap = soft
        .saturating_sub(RESERVED_FDS)
        .checked_div(2)
        .unwrap_or(0)
        .clamp(32, MAX_DEFAULT_CONNECTIONS);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[cfg(unix)]
fn nofile_soft_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn nofile_soft_limit() -> Option<u64> {
    None
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then until the
/// last connection has ended (see the module docs).
///
/// # Errors
///
/// None today: errors of `accept` (out of descriptors, say) are logged and retried after a
/// pause, since the server must go on serving the connections it has.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let open = Arc::new(Semaphore::new(max));
    let closing = CancellationToken::new();
    let refusal = overloaded(max);
    let per_client = limits.max_connections_per_client.max(1);
    let client_refusal = too_many(per_client);
    let clients = PerClient::default();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "cannot accept a connection; retrying shortly");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        let Some(client) = clients.admit(peer.ip(), per_client) else {
            let _ = tcp.try_write(&client_refusal);
            tracing::debug!(%peer, per_client, "connection refused: this client's connection cap is reached");
            continue;
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // One write that cannot block on a fresh socket, then the descriptor is gone.
            let _ = tcp.try_write(&refusal);
            tracing::debug!(%peer, max, "connection refused: the connection cap is reached");
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            peer,
            body_timeout: limits.body_read_timeout,
            write_stall: limits.write_stall_timeout,
            closing: closing.clone(),
        };
        tokio::spawn(async move {
            connection.run(tcp).await;
            drop(permit);
            drop(client);
        });
    }
    drop(listener);
    closing.cancel();
    // Every permit back means every connection has ended.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
    Ok(())
}

/// Open connections by client address ([`super::limits::address_key`]).
#[derive(Clone, Debug, Default)]
struct PerClient(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PerClient {
    /// Counts one more connection of `ip`'s client while it has fewer than `max` open; it
    /// counts until the guard drops.
    fn admit(&self, ip: IpAddr, max: usize) -> Option<ClientConnection> {
        let key = super::limits::address_key(ip);
        let mut open = self.0.lock().expect("connection table mutex poisoned");
        let n = open.entry(key).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientConnection(self.clone(), key))
    }
}

/// One open connection of a client, counted until dropped.
#[derive(Debug)]
struct ClientConnection(PerClient, IpAddr);

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut open = (self.0).0.lock().expect("connection table mutex poisoned");
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    builder: Arc<hyper::server::conn::http1::Builder>,
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    write_stall: Duration,
    closing: CancellationToken,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let Self {
            builder,
            router,
            peer,
            body_timeout,
            write_stall,
            closing,
        } = self;
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(|body| Body::new(Timed::new(body, body_timeout)));
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let io = TokioIo::new(StallGuard::new(tcp, write_stall));
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            () = closing.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            // Timeouts and clients that go away land here: normal for a server, so quiet.
            tracing::debug!(%peer, error = %e, "HTTP connection ended");
        }
    }
}

/// A connection's socket whose writes fail once one has made no progress for `limit`.
struct StallGuard {
    tcp: TcpStream,
    limit: Duration,
    /// Running while a write is pending: since when it made no progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn new(tcp: TcpStream, limit: Duration) -> Self {
        Self {
            tcp,
            limit,
            stalled: None,
        }
    }

    /// Passes on a write's `poll`, failing it once it has been pending for the limit.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client read nothing of the response for {} s (the write stall timeout)",
                    limit.as_secs_f64()
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.tcp).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.tcp).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

/// Errors of `accept` that concern one connection only (it went before it was taken).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The whole answer to a connection beyond the cap: 503, `Retry-After`, a JSON-RPC error
/// that names the limit, and `Connection: close`.
fn overloaded(max: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32603,
            "message": format!(
                "this server has {max} open connections, the most it allows (max connections); \
                 retry in a second, and reuse one connection for many requests"
            ),
            "data": {"limit": "max_connections", "max": max, "retryAfterSecs": 1}
        }
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The whole answer to a connection beyond its client's share: 429, `Retry-After`, a
/// JSON-RPC error that names the limit, and `Connection: close`.
fn too_many(max: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32603,
            "message": format!(
                "this client (this address, or this IPv6 /64) has {max} open connections, the \
                 most one client may (max connections per client); close idle ones, reuse one \
                 connection for many requests, and retry in a second"
            ),
            "data": {"limit": "max_connections_per_client", "max": max, "retryAfterSecs": 1}
        }
    })
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The error a request body gives when it did not end within the body read timeout.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyTimedOut(pub(super) Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} s",
            self.0.as_secs_f64()
        )
    }
}

impl StdError for BodyTimedOut {}

/// Whether `error`, or an error it wraps, is a `T`.
pub(super) fn caused_by<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<T>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A request body that fails with [`BodyTimedOut`] once its deadline passes before its end.
struct Timed {
    body: Incoming,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Timed {
    fn new(body: Incoming, limit: Duration) -> Self {
        Self {
            body,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl http_body::Body for Timed {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // What has arrived is taken first: a body that ends in time never fails.
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default cap leaves room under any descriptor limit, and is never absurdly small.
    #[test]
    fn default_cap_fits_the_descriptor_limit() {
        let cap = default_max_connections();
        assert!((32..=16_384).contains(&cap), "{cap}");
        if let Some(soft) = nofile_soft_limit() {
            if soft > RESERVED_FDS + 64 {
                assert!((cap as u64) < soft, "{cap} of {soft}");
            }
        }
    }

    /// The refusal is a complete HTTP response that a client can parse.
    #[test]
    fn the_refusal_is_a_whole_response() {
        let text = String::from_utf8(overloaded(7)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains("retry-after: 1"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(error["error"]["data"]["limit"], "max_connections");
        let text = String::from_utf8(too_many(4)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            error["error"]["data"]["limit"],
            "max_connections_per_client"
        );
    }

    /// T-SEC-3: one client's connections are counted together (an IPv6 /64 is one client)
    /// until they close; other addresses have their own share.
    #[test]
    fn connections_are_counted_per_client() {
        let clients = PerClient::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = clients.admit(ip("2001:db8::1"), 2).unwrap();
        let _b = clients.admit(ip("2001:db8::ffff:2"), 2).unwrap();
        assert!(clients.admit(ip("2001:db8::3"), 2).is_none());
        let _other = clients.admit(ip("2001:db8:0:1::1"), 2).unwrap();
        let _v4 = clients.admit(ip("10.0.0.1"), 2).unwrap();
        drop(a);
        assert!(clients.admit(ip("2001:db8::3"), 2).is_some());
        assert_eq!(default_max_connections_per_client(16), 8);
        assert_eq!(default_max_connections_per_client(9872), 617);
    }
}

//! One HTTP/1.1 keep-alive connection, driven with hyper's connection API: no pool, no
//! per-request allocation beyond the request itself, and the answer read as it arrives (a JSON
//! body, or an SSE stream whose events are read one by one until the response to our request).
//!
//! A connection that broke, timed out, or whose answer was abandoned midway (a request from
//! the server, which bench does not answer) is dropped and opened again by the next request.
//! A request the connection could not even send (the server closed an idle keep-alive
//! connection just then) is sent again once on a fresh connection; anything else is an error
//! of the operation.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::plan::Target;
use super::protocol::{read_message, Message, RpcError, SseReader, SESSION_HEADER};

/// The largest answer read: a JSON body, or what an SSE stream holds before its response.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// The most of a refusal's body read to say why.
const MAX_REFUSAL_BYTES: usize = 64 * 1024;

/// Why an operation failed; [`Failure::kind`] is how the report counts it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// No connection could be opened.
    Connect(String),
    /// The connection broke during the request.
    Connection(String),
    /// An HTTP error status without a JSON-RPC error in its body.
    Http(u16, String),
    /// A JSON-RPC error answer.
    Rpc(i64, String),
    /// No answer within `--timeout`.
    Timeout,
    /// An answer that is not what MCP says it should be.
    Protocol(String),
    /// The task ended `failed`.
    TaskFailed(String),
    /// The task ended `cancelled`.
    TaskCancelled(String),
    /// The tool answered `isError: true`.
    ToolError,
    /// The server asked the client something (elicitation, sampling…) instead of answering.
    ServerRequest(String),
    /// The server wants input to go on (`input_required`), which bench does not give.
    InputRequired,
}

impl Failure {
    /// The error's kind in the report: `connect`, `http-503`, `rpc--32602`, `timeout`…
    pub(crate) fn kind(&self) -> Cow<'static, str> {
        match self {
            Self::Connect(_) => "connect".into(),
            Self::Connection(_) => "connection".into(),
            Self::Http(status, _) => format!("http-{status}").into(),
            Self::Rpc(code, _) => format!("rpc-{code}").into(),
            Self::Timeout => "timeout".into(),
            Self::Protocol(_) => "protocol".into(),
            Self::TaskFailed(_) => "task-failed".into(),
            Self::TaskCancelled(_) => "task-cancelled".into(),
            Self::ToolError => "tool-error".into(),
            Self::ServerRequest(_) => "server-request".into(),
            Self::InputRequired => "input-required".into(),
        }
    }

    /// What happened, for people.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Connect(m) => format!("cannot connect: {m}"),
            Self::Connection(m) => format!("the connection broke: {m}"),
            Self::Http(status, body) if body.is_empty() => format!("HTTP {status}"),
            Self::Http(status, body) => format!("HTTP {status}: {body}"),
            Self::Rpc(code, m) => format!("JSON-RPC error {code}: {m}"),
            Self::Timeout => "no answer within --timeout".into(),
            Self::Protocol(m) => format!("unexpected answer: {m}"),
            Self::TaskFailed(m) => format!("the task failed: {m}"),
            Self::TaskCancelled(m) => format!("the task was cancelled: {m}"),
            Self::ToolError => "the tool answered with isError: true".into(),
            Self::ServerRequest(method) => format!(
                "the server sent a request ({method}) instead of the answer; bench answers none"
            ),
            Self::InputRequired => {
                "the server asked for input (input_required); bench gives none".into()
            }
        }
    }
}

/// What a POST got back.
#[derive(Debug)]
pub(crate) enum Reply<R> {
    /// The response to the request: its result or error.
    Answer(Result<R, RpcError>),
    /// `202 Accepted` to a notification.
    Accepted,
}

/// A POST's reply and the session id the server gave with it, if any.
#[derive(Debug)]
pub(crate) struct Answered<R> {
    pub(crate) reply: Reply<R>,
    pub(crate) session: Option<HeaderValue>,
}

/// One connection to one target.
#[derive(Debug)]
pub(crate) struct Conn {
    addr: std::net::SocketAddr,
    uri: Uri,
    /// `Host`, `Content-Type`, `Accept`, and `Authorization` when a token is given.
    base: Vec<(HeaderName, HeaderValue)>,
    sender: Option<SendRequest<Full<Bytes>>>,
    driver: Option<JoinHandle<()>>,
    /// HTTP requests sent so far.
    pub(crate) requests: u64,
    buf: Vec<u8>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

impl Conn {
    /// A connection to `target`, opened by the first request.
    pub(crate) fn new(target: &Target, authorization: Option<&HeaderValue>) -> Self {
        let mut base = vec![
            (HOST, target.host.clone()),
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            ),
        ];
        if let Some(a) = authorization {
            base.push((AUTHORIZATION, a.clone()));
        }
        Self {
            addr: target.addr,
            uri: Uri::from(target.path.clone()),
            base,
            sender: None,
            driver: None,
            requests: 0,
            buf: Vec::new(),
        }
    }

    /// Drops the connection; the next request opens another.
    pub(crate) fn close(&mut self) {
        self.sender = None;
        if let Some(d) = self.driver.take() {
            d.abort();
        }
    }

    /// Opens the connection now, unless it is open.
    pub(crate) async fn connect(&mut self, timeout: Duration) -> Result<(), Failure> {
        within(Instant::now() + timeout, self.ready())
            .await?
            .map(drop)
    }

    async fn open(&mut self) -> Result<(), Failure> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Failure::Connect(format!("{}: {e}", self.addr)))?;
        // Small requests and answers: do not wait to fill a segment.
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| Failure::Connect(format!("{}: {e}", self.addr)))?;
        self.driver = Some(tokio::spawn(async move {
            let _ = connection.await;
        }));
        self.sender = Some(sender);
        Ok(())
    }

    /// The sender, once the connection can take a request; a connection the server closed
    /// while it was idle is opened again.
    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Failure> {
        let alive = match &mut self.sender {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !alive {
            self.close();
            self.open().await?;
        }
        Ok(self
            .sender
            .as_mut()
            .expect("the connection was just opened"))
    }

    /// Sends `request`, once more on a fresh connection if it could not be sent at all.
    async fn send(
        &mut self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, Failure> {
        for attempt in 0..2 {
            let sender = self.ready().await?;
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(response),
                Err(mut e) => {
                    self.close();
                    match e.take_message() {
                        Some(unsent) if attempt == 0 => request = unsent,
                        _ => return Err(Failure::Connection(e.into_error().to_string())),
                    }
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    fn request(
        &self,
        method: Method,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.uri.clone();
        let h = request.headers_mut();
        h.reserve(self.base.len() + headers.len());
        for (k, v) in self.base.iter().chain(headers) {
            h.insert(k.clone(), v.clone());
        }
        request
    }

    /// POSTs one JSON-RPC message and reads the answer to request `id` (`None` for a
    /// notification) into `R`, within `timeout`.
    pub(crate) async fn post<R: for<'de> Deserialize<'de>>(
        &mut self,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
        id: Option<u64>,
        timeout: Duration,
    ) -> Result<Answered<R>, Failure> {
        self.requests += 1;
        let deadline = Instant::now() + timeout;
        let outcome = self.exchange(body, headers, id, deadline).await;
        if matches!(
            outcome,
            Err(Failure::Timeout | Failure::Connection(_) | Failure::ServerRequest(_))
        ) {
            self.close();
        }
        outcome
    }

    async fn exchange<R: for<'de> Deserialize<'de>>(
        &mut self,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
        id: Option<u64>,
        deadline: Instant,
    ) -> Result<Answered<R>, Failure> {
        let request = self.request(Method::POST, body, headers);
        let response = within(deadline, self.send(request)).await??;
        let (parts, mut body) = response.into_parts();
        let session = parts.headers.get(SESSION_HEADER).cloned();
        let sse = is_event_stream(&parts.headers);
        let status = parts.status;
        if !status.is_success() {
            return Err(self.refusal(status, sse, body, id, deadline).await);
        }
        let Some(id) = id else {
            self.drain(body, deadline).await;
            return Ok(Answered {
                reply: Reply::Accepted,
                session,
            });
        };
        if status == StatusCode::ACCEPTED {
            self.drain(body, deadline).await;
            return Err(Failure::Protocol(
                "HTTP 202 to a request, which needs an answer".into(),
            ));
        }
        let reply = if sse {
            self.read_stream(&mut body, id, deadline).await?
        } else {
            let text = self
                .read_body(&mut body, MAX_ANSWER_BYTES, deadline)
                .await?;
            match read_message::<R>(text, id) {
                Ok(Message::Answer(a)) => a,
                // One request per exchange: an error about no request in particular is its.
                Ok(Message::Unaddressed(e)) => Err(e),
                Ok(Message::ServerRequest(m)) => return Err(Failure::ServerRequest(m)),
                Ok(Message::Other) => {
                    return Err(Failure::Protocol(format!(
                        "the JSON answer is not the response to request {id}"
                    )))
                }
                Err(e) => return Err(Failure::Protocol(format!("the JSON answer: {e}"))),
            }
        };
        if sse {
            // The stream ends after the response; read it to its end so the connection can
            // carry the next request.
            self.drain(body, deadline).await;
        }
        Ok(Answered {
            reply: Reply::Answer(reply),
            session,
        })
    }

    /// Reads SSE events until the response to `id`.
    async fn read_stream<R: for<'de> Deserialize<'de>>(
        &mut self,
        body: &mut Incoming,
        id: u64,
        deadline: Instant,
    ) -> Result<Result<R, RpcError>, Failure> {
        let mut reader = SseReader::default();
        loop {
            let Some(frame) = within(deadline, body.frame()).await? else {
                return Err(Failure::Protocol(format!(
                    "the SSE stream ended without the response to request {id}"
                )));
            };
            let frame = frame.map_err(|e| Failure::Connection(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            reader.feed(&data);
            while let Some(event) = reader.next_event() {
                match read_message::<R>(&event, id) {
                    Ok(Message::Answer(a)) => return Ok(a),
                    Ok(Message::Unaddressed(e)) => return Ok(Err(e)),
                    Ok(Message::ServerRequest(m)) => return Err(Failure::ServerRequest(m)),
                    Ok(Message::Other) => {}
                    Err(e) => {
                        self.close();
                        return Err(Failure::Protocol(format!("an SSE event: {e}")));
                    }
                }
            }
            if reader.held() > MAX_ANSWER_BYTES {
                self.close();
                return Err(Failure::Protocol(format!(
                    "the SSE stream held over {MAX_ANSWER_BYTES} bytes without the response"
                )));
            }
        }
    }

    /// The whole body, up to `limit` bytes (a larger one is an error and drops the
    /// connection).
    async fn read_body(
        &mut self,
        body: &mut Incoming,
        limit: usize,
        deadline: Instant,
    ) -> Result<&[u8], Failure> {
        self.buf.clear();
        while let Some(frame) = within(deadline, body.frame()).await? {
            let frame = frame.map_err(|e| Failure::Connection(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if self.buf.len() + data.len() > limit {
                    self.close();
                    return Err(Failure::Protocol(format!(
                        "the answer is larger than {limit} bytes"
                    )));
                }
                self.buf.extend_from_slice(&data);
            }
        }
        Ok(&self.buf)
    }

    /// Reads the rest of a body and throws it away; one that does not end by `deadline`, or
    /// breaks, takes the connection with it.
    async fn drain(&mut self, mut body: Incoming, deadline: Instant) {
        loop {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(_))) => {}
                Ok(None) => return,
                Ok(Some(Err(_))) | Err(_) => {
                    self.close();
                    return;
                }
            }
        }
    }

    /// The failure an error status stands for: with 400 or 404, the JSON-RPC error answering
    /// request `id` when the body carries one; else the status and what the body says.
    async fn refusal(
        &mut self,
        status: StatusCode,
        sse: bool,
        mut body: Incoming,
        id: Option<u64>,
        deadline: Instant,
    ) -> Failure {
        let text = match self.read_body(&mut body, MAX_REFUSAL_BYTES, deadline).await {
            Ok(text) => text,
            Err(Failure::Timeout) => return Failure::Timeout,
            Err(_) => return Failure::Http(status.as_u16(), String::new()),
        };
        if !sse {
            // 400 and 404 are how MCP 2026-07-28 answers most JSON-RPC errors; any other
            // status (429, 503…) is a refusal first, whatever error its body words it with.
            let answers = matches!(status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND);
            match read_message::<serde::de::IgnoredAny>(text, id.unwrap_or(u64::MAX)) {
                Ok(Message::Answer(Err(e))) if answers => return Failure::Rpc(e.code, e.message),
                Ok(Message::Answer(Err(e)) | Message::Unaddressed(e)) => {
                    return Failure::Http(status.as_u16(), e.message)
                }
                _ => {}
            }
        }
        let said = String::from_utf8_lossy(text);
        let said: String = said.trim().chars().take(200).collect();
        Failure::Http(status.as_u16(), said)
    }

    /// Sends a request without a body (a session's `DELETE`) and reads its answer's status.
    pub(crate) async fn request_only(
        &mut self,
        method: Method,
        headers: &[(HeaderName, HeaderValue)],
        timeout: Duration,
    ) -> Result<StatusCode, Failure> {
        let deadline = Instant::now() + timeout;
        let response = self
            .open_stream(method, Bytes::new(), headers, timeout)
            .await?;
        let status = response.status();
        self.drain(response.into_body(), deadline).await;
        Ok(status)
    }

    /// Sends request `id` whose answer is a stream to hold open (an idle session's GET, a
    /// `tasks/result` or `subscriptions/listen`), and returns its body once the headers say
    /// it is one. An error status, or an answer given at once as JSON, is a failure.
    pub(crate) async fn open_held(
        &mut self,
        method: Method,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
        id: Option<u64>,
        timeout: Duration,
    ) -> Result<Incoming, Failure> {
        let deadline = Instant::now() + timeout;
        let response = self.open_stream(method, body, headers, timeout).await?;
        let (parts, mut body) = response.into_parts();
        let sse = is_event_stream(&parts.headers);
        if !parts.status.is_success() {
            return Err(self.refusal(parts.status, sse, body, id, deadline).await);
        }
        if sse {
            return Ok(body);
        }
        let text = self
            .read_body(&mut body, MAX_REFUSAL_BYTES, deadline)
            .await?;
        if let Ok(Message::Answer(Err(e)) | Message::Unaddressed(e)) =
            read_message::<serde::de::IgnoredAny>(text, id.unwrap_or(u64::MAX))
        {
            return Err(Failure::Rpc(e.code, e.message));
        }
        Err(Failure::Protocol(
            "the server answered at once instead of holding the stream open".into(),
        ))
    }

    /// Sends a request whose answer is a long stream (an idle session's GET, a held
    /// `tasks/result` or `subscriptions/listen`) and returns the response once its headers
    /// arrive, its body unread.
    pub(crate) async fn open_stream(
        &mut self,
        method: Method,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
        timeout: Duration,
    ) -> Result<Response<Incoming>, Failure> {
        self.requests += 1;
        let request = self.request(method, body, headers);
        let outcome = within(Instant::now() + timeout, self.send(request))
            .await
            .and_then(|sent| sent);
        if outcome.is_err() {
            self.close();
        }
        outcome
    }
}

/// `future`, or [`Failure::Timeout`] at `deadline`.
pub(crate) async fn within<T>(
    deadline: Instant,
    future: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    tokio::time::timeout_at(deadline, future)
        .await
        .map_err(|_| Failure::Timeout)
}

fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

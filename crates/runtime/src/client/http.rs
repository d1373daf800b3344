//! The client end of MCP Streamable HTTP.
//!
//! Every message is a `POST` to the endpoint. The server answers a request with one JSON
//! message or with an SSE stream that carries the response and, before it, whatever the server
//! sends in the request's context (progress, the questions of a task on its `tasks/result`
//! exchange). Once initialized, a `GET` stream carries the rest (status notifications, requests
//! not tied to an exchange). The session id from `initialize` rides on every later request, and
//! `close` ends the session with `DELETE`.
//!
//! In MCP 2026-07-28 ([`Transport::stateless`]) there is no session: no session id, no
//! standing stream, no `DELETE`, and a dropped stream is not resumed (B-7): its request fails. Every POST then carries `MCP-Protocol-Version`, `Mcp-Method`
//! and, for `tools/call` and the tasks methods, `Mcp-Name` (the tool name or task id, as the
//! Base64 sentinel when it is not plain ASCII), mirroring the body for routers (B-5, X-8), and a
//! `tools/call` carries the `Mcp-Param-*` headers of the arguments its tool marks (see
//! `param_headers`). A request whose `_meta` names that version (the `server/discover` probe)
//! is framed so too.
//!
//! A transport made with [`HttpTransport::with_bearer_token`] sends `Authorization: Bearer` on
//! every request (each POST, GET and DELETE). A server that refuses the credentials (`401`)
//! fails the request at once with [`ClientError::Transport`] saying so, and the standing stream
//! stops asking.
//!
//! Streams drop: proxies time out, laptops sleep. When an SSE stream ends before the answer it
//! was opened for, the transport reconnects with `GET` and `Last-Event-ID` (the last event id
//! it saw on that stream), so the server can replay what was lost and go on. A server that
//! gives no event ids cannot be resumed: the request then fails with
//! [`ClientError::Transport`], and the tasks layer asks again (`tasks/result` is idempotent).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::EventStreamError;
use futures::StreamExt;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use mcp_tasks_wire::jsonrpc::{self, Message, RequestId};
use mcp_tasks_wire::v2026_07_28::{headers as era, PROTOCOL_VERSION_META};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::{ClientError, Result};
use super::param_headers::Mirrors;
use super::sse::BodyError;
use super::transport::{Inbound, Incoming, Transport};

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
const LAST_EVENT_ID_HEADER: &str = "last-event-id";

/// How many times in a row a dropped stream is resumed before giving up.
const MAX_RESUMES: u32 = 5;
/// The first wait before resuming; doubled each further attempt, unless the server set
/// `retry`.
const RESUME_DELAY: Duration = Duration::from_millis(250);
/// The longest wait between attempts to reopen the standing `GET` stream.
const MAX_STANDING_DELAY: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a refusal's body (401) read to tell the user why.
const MAX_REFUSAL_BYTES: usize = 64 * 1024;

/// `Bearer <token>` as a header value marked sensitive, so it is never logged.
fn bearer(token: &str) -> Result<HeaderValue> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ClientError::Transport("the bearer token is empty".into()));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ClientError::Transport(
            "the bearer token holds characters an HTTP header cannot carry (control \
             characters or non-ASCII)"
                .into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The Streamable HTTP transport, for one endpoint URL and one session.
#[derive(Debug)]
pub struct HttpTransport {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    url: reqwest::Url,
    /// `Bearer <token>`, marked sensitive so it is never logged.
    authorization: Option<HeaderValue>,
    /// Headers the caller asked to send with every request.
    extra: HeaderMap,
    session: Mutex<Option<HeaderValue>>,
    version: Mutex<Option<HeaderValue>>,
    /// The version of a stateless era, once the connection speaks one.
    stateless: Mutex<Option<HeaderValue>>,
    /// The arguments each listed tool mirrors into `Mcp-Param-*` headers.
    mirrors: Mutex<Mirrors>,
    inbound: Mutex<Option<mpsc::UnboundedSender<Incoming>>>,
    closed: CancellationToken,
    /// The requests whose answer an SSE stream is being read for: tripping a token drops
    /// that stream (MCP 2026-07-28 cancels a request by closing it).
    streams: Mutex<HashMap<RequestId, CancellationToken>>,
}

impl HttpTransport {
    /// A transport for the MCP endpoint at `url` (e.g. `http://127.0.0.1:8080/mcp`). Nothing
    /// is sent until the first message.
    ///
    /// # Errors
    ///
    /// [`ClientError::Transport`] when `url` is not an http(s) URL.
    pub fn new(url: &str) -> Result<(Self, Inbound)> {
        Self::build(url, None, HeaderMap::new())
    }

    /// Like [`HttpTransport::new`], sending `Authorization: Bearer <token>` with every request;
    /// the server's bearer auth then binds this session's tasks to the token's subject.
    ///
    /// # Errors
    ///
    /// [`ClientError::Transport`] when `url` is not an http(s) URL, or `token` is empty or
    /// holds characters an HTTP header cannot carry.
    pub fn with_bearer_token(url: &str, token: &str) -> Result<(Self, Inbound)> {
        Self::build(url, Some(bearer(token)?), HeaderMap::new())
    }

    /// Like [`HttpTransport::new`], with a bearer token when given and `headers` sent with
    /// every request (values are marked sensitive, so they are never logged).
    ///
    /// # Errors
    ///
    /// As [`HttpTransport::with_bearer_token`], and a header name or value HTTP cannot carry,
    /// or one the transport sets itself (`Accept`, `Content-Type`, the `Mcp-*` headers,
    /// `Authorization` when a token is given).
    pub fn with_headers(
        url: &str,
        token: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<(Self, Inbound)> {
        let mut extra = HeaderMap::new();
        for (name, value) in headers {
            let name = header::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ClientError::Transport(format!("{name:?} is not an HTTP header name"))
            })?;
            let reserved = name == SESSION_HEADER
                || name == PROTOCOL_VERSION_HEADER
                || name == header::ACCEPT
                || name == header::CONTENT_TYPE
                || name.as_str().starts_with("mcp-")
                || (token.is_some() && name == header::AUTHORIZATION);
            if reserved {
                return Err(ClientError::Transport(format!(
                    "the header {name} is set by the transport itself; leave it out"
                )));
            }
            let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
                ClientError::Transport(format!(
                    "the value of header {name} holds characters an HTTP header cannot carry"
                ))
            })?;
            value.set_sensitive(true);
            extra.append(name, value);
        }
        let authorization = token.map(bearer).transpose()?;
        Self::build(url, authorization, extra)
    }

    fn build(
        url: &str,
        authorization: Option<HeaderValue>,
        extra: HeaderMap,
    ) -> Result<(Self, Inbound)> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| ClientError::Transport(format!("{url:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Transport(format!(
                "{url} is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError::Transport(format!("cannot set up HTTP: {e}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Self {
                shared: Arc::new(Shared {
                    http,
                    url,
                    authorization,
                    extra,
                    session: Mutex::new(None),
                    version: Mutex::new(None),
                    stateless: Mutex::new(None),
                    mirrors: Mutex::new(Mirrors::default()),
                    inbound: Mutex::new(Some(tx)),
                    closed: CancellationToken::new(),
                    streams: Mutex::default(),
                }),
            },
            rx,
        ))
    }

    /// The session id the server gave at initialize, if any yet.
    pub fn session_id(&self) -> Option<String> {
        lock(&self.shared.session)
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("transport mutex poisoned")
}

impl Shared {
    fn deliver(&self, incoming: Incoming) {
        if let Some(tx) = lock(&self.inbound).as_ref() {
            let _ = tx.send(incoming);
        }
    }

    /// The server forgot the session: nothing more will come.
    fn end(&self) {
        lock(&self.inbound).take();
        self.closed.cancel();
    }

    fn headers(&self) -> HeaderMap {
        let mut h = self.extra.clone();
        if let Some(auth) = &self.authorization {
            h.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(s) = lock(&self.session).clone() {
            h.insert(SESSION_HEADER, s);
        }
        if let Some(v) = lock(&self.version).clone() {
            h.insert(PROTOCOL_VERSION_HEADER, v);
        }
        h
    }

    /// The headers of a stateless era for `message` (B-5, X-8), when the connection speaks one
    /// or the message's `_meta` names its version; none otherwise.
    fn era_headers(&self, message: &Message) -> HeaderMap {
        let mut h = HeaderMap::new();
        let (method, params) = match message {
            Message::Request(r) => (&r.method, r.params.as_ref()),
            Message::Notification(n) => (&n.method, n.params.as_ref()),
            Message::Response(_) => return h,
        };
        let from_body = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(PROTOCOL_VERSION_META))
            .and_then(Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok());
        let Some(version) = from_body.or_else(|| lock(&self.stateless).clone()) else {
            return h;
        };
        h.insert(era::MCP_PROTOCOL_VERSION, version);
        if let Ok(m) = HeaderValue::from_str(&era::encode_value(method)) {
            h.insert(era::MCP_METHOD, m);
        }
        if let Some(name) = era::name_of(method, params) {
            if let Ok(n) = HeaderValue::from_str(&era::encode_value(&name)) {
                h.insert(era::MCP_NAME, n);
            }
            if method == "tools/call" {
                let arguments = params.and_then(|p| p.get("arguments"));
                for (header, value) in lock(&self.mirrors).headers(&name, arguments) {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(header.as_bytes()),
                        HeaderValue::from_str(&value),
                    ) {
                        h.insert(k, v);
                    }
                }
            }
        }
        h
    }

    fn remember_session(&self, headers: &HeaderMap) {
        if let Some(id) = headers.get(SESSION_HEADER) {
            let mut session = lock(&self.session);
            if session.is_none() {
                *session = Some(id.clone());
            }
        }
    }

    async fn post(self: &Arc<Self>, message: Message) -> Result<()> {
        let request_id = match &message {
            Message::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let body = serde_json::to_vec(&message)
            .map_err(|e| ClientError::Transport(format!("cannot encode a message: {e}")))?;
        let mut headers = self.headers();
        headers.extend(self.era_headers(&message));
        let response = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("POST {} failed: {e}", self.url)))?;
        self.remember_session(response.headers());
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(self.refused(response).await);
        }
        if status == StatusCode::ACCEPTED {
            if request_id.is_some() {
                return Err(ClientError::Transport(
                    "the server accepted a request (HTTP 202) without answering it".into(),
                ));
            }
            return Ok(());
        }
        if status == StatusCode::NOT_FOUND && lock(&self.session).is_some() {
            self.end();
            return Err(ClientError::Transport(
                "the server no longer knows this session (HTTP 404); connect again".into(),
            ));
        }
        if is_event_stream(response.headers()) && status.is_success() {
            let abandoned = CancellationToken::new();
            if let Some(id) = &request_id {
                lock(&self.streams).insert(id.clone(), abandoned.clone());
            }
            let shared = self.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shared.clone().read_exchange(response, request_id.clone()) => {}
                    () = abandoned.cancelled() => {
                        tracing::debug!(?request_id, "closed the stream of an abandoned request");
                    }
                }
                if let Some(id) = &request_id {
                    lock(&shared.streams).remove(id);
                }
            });
            return Ok(());
        }
        let text = match read_limited(response, super::MAX_MESSAGE_BYTES).await {
            Ok(text) => text,
            Err(e) => return Err(ClientError::Transport(format!("POST {}: {e}", self.url))),
        };
        // Errors the server words as JSON-RPC (400 with an error response) reach the caller as
        // the server's own answer. One without an id (the server could not tell which request
        // it refused) answers the one request this POST carried.
        if let Ok(Message::Response(mut answer)) = jsonrpc::decode(text.as_bytes()) {
            if answer.id.is_none() {
                answer.id = request_id;
            }
            self.deliver(Incoming::Message(answer.into()));
            return Ok(());
        }
        if !status.is_success() {
            return Err(ClientError::Http {
                status: status.as_u16(),
                detail: text.trim().to_owned(),
            });
        }
        if request_id.is_some() {
            return Err(ClientError::Transport(format!(
                "the server answered HTTP {status} with a body that is not a JSON-RPC message: {}",
                text.trim()
            )));
        }
        Ok(())
    }

    /// Reads a POST's SSE stream until the answer to `request_id`, resuming it when it drops
    /// first.
    async fn read_exchange(
        self: Arc<Self>,
        response: reqwest::Response,
        request_id: Option<RequestId>,
    ) {
        let mut cursor = Cursor::default();
        let mut response = response;
        let mut attempt = 0;
        loop {
            let before = cursor.last_id.clone();
            let answered = self
                .read_events(response, &mut cursor, request_id.as_ref())
                .await;
            if cursor.last_id != before {
                // The stream made progress: count drops in a row, not over its whole life.
                attempt = 0;
            }
            if answered || request_id.is_none() || self.closed.is_cancelled() {
                return;
            }
            let Some(id) = request_id.clone() else { return };
            if lock(&self.stateless).is_some() {
                self.deliver(Incoming::Lost {
                    id,
                    reason: "the server's stream ended before the answer, and MCP 2026-07-28 \
                             has no stream resumption"
                        .into(),
                });
                return;
            }
            let Some(last) = cursor.last_id.clone() else {
                self.deliver(Incoming::Lost {
                    id,
                    reason: "the server's stream ended before the answer, and the server gives \
                             no event ids to resume it"
                        .into(),
                });
                return;
            };
            let resumed = loop {
                attempt += 1;
                if attempt > MAX_RESUMES {
                    break None;
                }
                let delay = cursor.retry.unwrap_or(RESUME_DELAY * 2u32.pow(attempt - 1));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.closed.cancelled() => return,
                }
                match self.resume(&last).await {
                    Ok(r) => break Some(r),
                    Err(Resume::Refused(e)) => {
                        self.deliver(Incoming::Lost {
                            id,
                            reason: e.to_string(),
                        });
                        return;
                    }
                    Err(Resume::Failed(e)) => {
                        tracing::debug!(error = %e, attempt, "resuming a dropped stream failed")
                    }
                }
            };
            match resumed {
                Some(r) => {
                    tracing::debug!(last_event_id = %last, "resumed a dropped stream");
                    response = r;
                }
                None => {
                    self.deliver(Incoming::Lost {
                        id,
                        reason: format!(
                            "the server's stream ended before the answer and could not be \
                             resumed from event {last} after {MAX_RESUMES} attempts"
                        ),
                    });
                    return;
                }
            }
        }
    }

    async fn resume(&self, last_event_id: &str) -> Result<reqwest::Response, Resume> {
        let response = self
            .http
            .get(self.url.clone())
            .headers(self.headers())
            .header(header::ACCEPT, "text/event-stream")
            .header(LAST_EVENT_ID_HEADER, last_event_id)
            .send()
            .await
            .map_err(|e| {
                Resume::Failed(ClientError::Transport(format!(
                    "GET {} failed: {e}",
                    self.url
                )))
            })?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(Resume::Refused(self.refused(response).await));
        }
        if response.status().is_success() && is_event_stream(response.headers()) {
            Ok(response)
        } else {
            Err(Resume::Failed(ClientError::Transport(format!(
                "the server did not resume the stream: HTTP {}",
                response.status()
            ))))
        }
    }

    /// The error for a `401` answer, with the server's reason (from its JSON-RPC error body
    /// when it sent one).
    async fn refused(&self, response: reqwest::Response) -> ClientError {
        let text = read_limited(response, MAX_REFUSAL_BYTES)
            .await
            .unwrap_or_default();
        let reason = match jsonrpc::decode(text.as_bytes()) {
            Ok(Message::Response(jsonrpc::Response {
                outcome: Err(error),
                ..
            })) => error.message,
            _ => text.trim().to_owned(),
        };
        let sent = if self.authorization.is_some() {
            ""
        } else {
            "; no bearer token was sent"
        };
        ClientError::Transport(format!(
            "the server refused the credentials (HTTP 401): {reason}{sent}"
        ))
    }

    /// Delivers a stream's messages; true once the answer to `waiting_for` came.
    async fn read_events(
        &self,
        response: reqwest::Response,
        cursor: &mut Cursor,
        waiting_for: Option<&RequestId>,
    ) -> bool {
        let mut events = std::pin::pin!(super::sse::events(
            response.bytes_stream(),
            super::MAX_MESSAGE_BYTES
        ));
        loop {
            let event = tokio::select! {
                e = events.next() => e,
                () = self.closed.cancelled() => return false,
            };
            let event = match event {
                Some(Ok(event)) => event,
                Some(Err(EventStreamError::Transport(e @ BodyError::EventTooLarge { .. }))) => {
                    tracing::warn!(url = %self.url, "{e}");
                    return false;
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "an SSE stream broke");
                    return false;
                }
                None => return false,
            };
            if !event.id.is_empty() {
                cursor.last_id = Some(event.id.clone());
            }
            if event.retry.is_some() {
                cursor.retry = event.retry;
            }
            if event.data.trim().is_empty() {
                continue;
            }
            match jsonrpc::decode(event.data.as_bytes()) {
                Ok(message) => {
                    let is_answer = matches!(
                        (&message, waiting_for),
                        (Message::Response(r), Some(id)) if r.id.as_ref() == Some(id)
                    );
                    let on_stream =
                        waiting_for.filter(|_| !matches!(message, Message::Response(_)));
                    self.deliver(match on_stream {
                        Some(request) => Incoming::OnStream {
                            message,
                            request: request.clone(),
                        },
                        None => Incoming::Message(message),
                    });
                    if is_answer {
                        return true;
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e.to_error_object().message,
                    "the server sent an SSE event that is not a JSON-RPC message; skipped"
                ),
            }
        }
    }

    /// Keeps the standing `GET` stream open until the transport closes.
    async fn standing(self: Arc<Self>) {
        let mut cursor = Cursor::default();
        let mut failures = 0u32;
        while !self.closed.is_cancelled() {
            let mut request = self
                .http
                .get(self.url.clone())
                .headers(self.headers())
                .header(header::ACCEPT, "text/event-stream");
            if let Some(last) = &cursor.last_id {
                request = request.header(LAST_EVENT_ID_HEADER, last.as_str());
            }
            let sent = tokio::select! {
                r = request.send() => r,
                () = self.closed.cancelled() => return,
            };
            match sent {
                Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => {
                    tracing::debug!("the server offers no standing stream (GET: 405)");
                    return;
                }
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    tracing::debug!("the server ended the session (GET: 404)");
                    self.end();
                    return;
                }
                Ok(r) if r.status() == StatusCode::UNAUTHORIZED => {
                    // Asking again cannot help; the next request reports the refusal.
                    tracing::warn!("{}", self.refused(r).await);
                    return;
                }
                Ok(r) if r.status().is_success() && is_event_stream(r.headers()) => {
                    failures = 0;
                    self.read_events(r, &mut cursor, None).await;
                }
                Ok(r) => {
                    failures += 1;
                    if matches!(r.status(), StatusCode::BAD_REQUEST | StatusCode::GONE) {
                        // The server cannot resume from our last event (forgotten after a
                        // long sleep, say): open a fresh stream instead of asking forever.
                        cursor.last_id = None;
                    }
                    tracing::debug!(status = %r.status(), "the standing stream was refused");
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(error = %e, "the standing stream could not be opened");
                }
            }
            let delay = cursor
                .retry
                .unwrap_or(RESUME_DELAY * 2u32.pow(failures.min(6)))
                .min(MAX_STANDING_DELAY);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.closed.cancelled() => return,
            }
        }
    }
}

/// Why a dropped stream was not resumed.
#[derive(Debug)]
enum Resume {
    /// The server refused the credentials: asking again cannot help.
    Refused(ClientError),
    /// Anything else: worth another attempt.
    Failed(ClientError),
}

/// Where a stream got to, for resuming it.
#[derive(Debug, Default)]
struct Cursor {
    last_id: Option<String>,
    retry: Option<Duration>,
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

impl Drop for HttpTransport {
    /// Stops the standing stream's loop: a client dropped without `close` leaves nothing
    /// running (the server reaps the idle session).
    fn drop(&mut self) {
        self.shared.closed.cancel();
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, message: Message) -> Result<()> {
        self.shared.post(message).await
    }

    async fn initialized(&self, protocol_version: &str) {
        if let Ok(v) = HeaderValue::from_str(protocol_version) {
            *lock(&self.shared.version) = Some(v);
        }
        tokio::spawn(self.shared.clone().standing());
    }

    async fn stateless(&self, protocol_version: &str) {
        if let Ok(v) = HeaderValue::from_str(protocol_version) {
            *lock(&self.shared.stateless) = Some(v);
        }
    }

    fn mirrors_arguments(&self) -> bool {
        true
    }

    fn abandon(&self, id: &RequestId) -> bool {
        if lock(&self.shared.stateless).is_none() {
            // A 2025-11-25 session: a closed stream is not a cancellation there, the
            // notification is.
            return false;
        }
        if let Some(stream) = lock(&self.shared.streams).remove(id) {
            stream.cancel();
        }
        true
    }

    fn tools_listed(&self, tools: &[mcp_tasks_wire::v2025_11_25::Tool]) {
        lock(&self.shared.mirrors).learn(tools);
    }

    async fn close(&self) {
        self.shared.closed.cancel();
        let headers = self.shared.headers();
        if headers.contains_key(SESSION_HEADER) {
            let deleted = self
                .shared
                .http
                .delete(self.shared.url.clone())
                .headers(headers)
                .timeout(CONNECT_TIMEOUT)
                .send()
                .await;
            if let Err(e) = deleted {
                tracing::debug!(error = %e, "DELETE of the session failed");
            }
        }
        lock(&self.shared.inbound).take();
    }
}

/// A response body as text, refused once it passes `limit` bytes (a body that declares more is
/// refused before it is read).
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<String, String> {
    let too_large = || format!("the server's answer is larger than {limit} bytes; it was not read");
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {e}"))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    /// Headers the transport sets itself cannot be given again; any other can, and a token
    /// keeps `Authorization` for itself.
    #[test]
    fn extra_headers_leave_the_transports_own_alone() {
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        let url = "http://127.0.0.1:9/mcp";
        assert!(
            super::HttpTransport::with_headers(url, None, &headers(&[("X-Api-Key", "k")])).is_ok()
        );
        assert!(super::HttpTransport::with_headers(
            url,
            None,
            &headers(&[("Authorization", "Basic x")])
        )
        .is_ok());
        for own in ["Accept", "content-type", "Mcp-Session-Id", "Mcp-Method"] {
            let e =
                super::HttpTransport::with_headers(url, None, &headers(&[(own, "x")])).unwrap_err();
            assert!(e.to_string().contains("set by the transport"), "{own}: {e}");
        }
        let e = super::HttpTransport::with_headers(
            url,
            Some("t0ken-0123456789"),
            &headers(&[("Authorization", "x")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("set by the transport"), "{e}");
        assert!(
            super::HttpTransport::with_headers(url, None, &headers(&[("bad header", "x")]))
                .is_err()
        );
    }

    use ::http::header;
    use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore};
    use mcp_tasks_wire::v2025_11_25::{CallToolResult, Implementation, Tool};
    use serde_json::json;

    use crate::client::{ClientBuilder, ClientError, Protocol, ToolCall};
    use crate::server::{Server, Tools};
    use crate::transport::http::{self, BearerTokens, HttpConfig};

    const ALICE: &str = "alice-token-0123456789";
    const ALICE_2: &str = "alice-laptop-0123456789";
    const LIMIT: Duration = Duration::from_secs(20);

    /// Each request the server got: its method and `Authorization` header.
    type Seen = Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

    /// A server with bearer auth on loopback, recording each request's method and
    /// `Authorization` header; its endpoint URL.
    async fn serve(seen: Seen) -> (String, tokio_util::sync::CancellationToken) {
        let tool: Tool = serde_json::from_value(json!({
            "name": "hello", "inputSchema": {"type": "object"},
            "execution": {"taskSupport": "optional"}
        }))
        .unwrap();
        let tools = Tools::new().add(tool, |_: serde_json::Value, _cx| async {
            Ok(CallToolResult::text("hello"))
        });
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let server = Server::new(engine, tools, Implementation::new("t", "0"));
        let config = HttpConfig {
            auth: Some(
                BearerTokens::parse(&format!("alice {ALICE}\nalice {ALICE_2}\n"))
                    .unwrap()
                    .into(),
            ),
            ..HttpConfig::default()
        };
        let router = http::router(server, config).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let auth = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock()
                    .unwrap()
                    .push((request.method().to_string(), auth));
                next.run(request)
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(http::serve(listener, router, shutdown.cancelled_owned()));
        (url, stop)
    }

    /// A 2025-11-25 client: these tests follow sessions (GET stream, DELETE).
    fn builder() -> ClientBuilder {
        ClientBuilder::new(Implementation::new("t", "0")).protocol(Protocol::V2025_11_25)
    }

    /// A refused token fails the connect at once with what the server said, not a hang.
    /// A server's answer is read up to a limit: a body that declares more is refused before
    /// it is read, one sent in chunks is refused once it passes the limit, and one within it is
    /// read whole.
    #[tokio::test]
    async fn answers_are_read_up_to_a_limit() {
        use axum::body::Body;
        let app = axum::Router::new()
            .route(
                "/declared",
                axum::routing::get(|| async { "x".repeat(2048) }),
            )
            .route(
                "/chunked",
                axum::routing::get(|| async {
                    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>("y".repeat(64)));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let get = |path: &'static str| async move {
            reqwest::get(format!("http://{addr}{path}")).await.unwrap()
        };
        let refused = super::read_limited(get("/declared").await, 1024).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("larger than 1024 bytes")),
            "{refused:?}"
        );
        let refused = super::read_limited(get("/chunked").await, 1024).await;
        assert!(refused.is_err(), "{refused:?}");
        let whole = super::read_limited(get("/chunked").await, 4096)
            .await
            .unwrap();
        assert_eq!(whole.len(), 4096);
    }

    #[tokio::test]
    async fn refused_credentials_are_an_error_saying_so() {
        let (url, _stop) = serve(Arc::default()).await;
        for (client, needles) in [
            (
                builder(),
                &[
                    "refused the credentials (HTTP 401)",
                    "no bearer token was sent",
                ][..],
            ),
            (
                builder().bearer_token("not-a-known-token-at-all"),
                &[
                    "refused the credentials (HTTP 401)",
                    "not one this server accepts",
                ],
            ),
        ] {
            let err = tokio::time::timeout(LIMIT, client.connect_http(&url))
                .await
                .expect("a refusal is answered, not awaited forever")
                .unwrap_err();
            assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
            let text = err.to_string();
            for needle in needles {
                assert!(text.contains(needle), "{text}");
            }
        }
        let bad = builder()
            .bearer_token("line\nbreak")
            .connect_http(&url)
            .await;
        assert!(bad.unwrap_err().to_string().contains("cannot carry"));
    }

    /// T-SEC-1, client side: the token rides on every POST, GET and DELETE, and a task one
    /// session of the subject created is reached by another session with another of its tokens.
    #[tokio::test]
    async fn the_token_rides_on_every_request() {
        let seen = Seen::default();
        let (url, _stop) = serve(seen.clone()).await;
        let first = builder()
            .bearer_token(ALICE)
            .connect_http(&url)
            .await
            .unwrap();
        let task = first
            .call_tool_as_task("hello", json!({}), None)
            .await
            .unwrap();
        let id = task.id().to_owned();
        let second = builder()
            .bearer_token(ALICE_2)
            .connect_http(&url)
            .await
            .unwrap();
        let found = tokio::time::timeout(LIMIT, second.task(&id))
            .await
            .unwrap()
            .unwrap();
        let result = tokio::time::timeout(LIMIT, found.result())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(result["content"][0]["text"], "hello");
        first.close().await;
        second.close().await;

        let seen = seen.lock().unwrap().clone();
        for method in ["POST", "GET", "DELETE"] {
            assert!(
                seen.iter().any(|(m, _)| m == method),
                "no {method}: {seen:?}"
            );
        }
        for (method, auth) in &seen {
            let auth = auth.as_deref().unwrap_or_default();
            assert!(
                auth == format!("Bearer {ALICE}") || auth == format!("Bearer {ALICE_2}"),
                "{method} without the token: {auth:?}"
            );
        }
    }

    /// T-SEC-1 and B-2 in MCP 2026-07-28: a discovering client sends only POSTs (no session, no
    /// GET stream, no DELETE), each with the token, and a refused token fails discovery and the
    /// fallback alike with the server's reason.
    #[tokio::test]
    async fn the_token_rides_on_every_post_in_2026() {
        let seen = Seen::default();
        let (url, _stop) = serve(seen.clone()).await;
        let client = ClientBuilder::new(Implementation::new("t", "0"))
            .bearer_token(ALICE)
            .connect_http(&url)
            .await
            .unwrap();
        assert_eq!(client.protocol(), Protocol::V2026_07_28);
        let called = tokio::time::timeout(LIMIT, client.start_tool_call("hello", json!({}), None))
            .await
            .unwrap()
            .unwrap();
        let ToolCall::Finished(result) = called else {
            panic!("a quick call is answered at once")
        };
        assert_eq!(result["content"][0]["text"], "hello");
        client.close().await;
        let seen = seen.lock().unwrap().clone();
        assert!(seen.len() >= 2, "{seen:?}");
        for (method, auth) in &seen {
            assert_eq!(method, "POST");
            assert_eq!(auth.as_deref(), Some(format!("Bearer {ALICE}").as_str()));
        }
        let refused = ClientBuilder::new(Implementation::new("t", "0"))
            .bearer_token("not-a-known-token-at-all")
            .connect_http(&url)
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("refused the credentials (HTTP 401)"),
            "{refused}"
        );
    }
}

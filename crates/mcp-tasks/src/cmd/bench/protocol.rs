//! What bench says and reads, per MCP era: the JSON-RPC bodies (built once per run, only the
//! request id and task id written per request), the headers each era asks for, and the answer
//! read back, from a JSON body or an SSE stream, into the few fields an operation needs.
//!
//! MCP 2025-11-25: a session per client (`initialize`, then `Mcp-Session-Id` and
//! `MCP-Protocol-Version` on every request); a task is asked for with `params.task` and its
//! result read with `tasks/result`.
//!
//! MCP 2026-07-28: no session; every request carries the version, the client's capabilities
//! and info in `params._meta`, and mirrors the body in `MCP-Protocol-Version`, `Mcp-Method`
//! and `Mcp-Name` (the tool name, or the task id), plus the `Mcp-Param-*` headers of the
//! arguments the tool marks (B-5). A request that declares the tasks extension may be answered
//! with a task (`resultType: "task"`), read with `tasks/get`, which inlines the result once the
//! task is done (X-3).

use std::io::Write as _;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2026_07_28::headers::{encode_value, MCP_METHOD, MCP_NAME};
use mcp_tasks_wire::v2026_07_28::{
    CLIENT_CAPABILITIES, CLIENT_INFO, PROTOCOL_VERSION as V2026, PROTOCOL_VERSION_META,
    TASKS_EXTENSION,
};
use serde::de;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::plan::ToolSpec;
use crate::cli::ProtocolVersion;

/// The `MCP-Protocol-Version` header.
pub(crate) const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The 2025-11-25 session header.
pub(crate) const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const METHOD_HEADER: HeaderName = HeaderName::from_static(MCP_METHOD);
const NAME_HEADER: HeaderName = HeaderName::from_static(MCP_NAME);

/// Headers beyond the connection's own, for one request.
pub(crate) type Headers = Vec<(HeaderName, HeaderValue)>;

/// The bodies and headers of one run, shared by every client.
#[derive(Debug)]
pub(crate) struct Bodies {
    era: ProtocolVersion,
    /// `"_meta":{…}` of a 2026-07-28 request declaring the tasks extension.
    meta_ext: String,
    /// `params` of each kind of `tools/call`.
    call: String,
    task: String,
    get_setup: String,
    waiter: String,
    /// The headers of each kind of `tools/call` in 2026-07-28 (method, name, mirrored
    /// arguments); empty in 2025-11-25.
    call_headers: Headers,
    task_headers: Headers,
    get_setup_headers: Headers,
    waiter_headers: Headers,
}

/// The tools a run calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tools<'a> {
    pub(crate) call: &'a ToolSpec,
    pub(crate) task: &'a ToolSpec,
    pub(crate) get_setup: &'a ToolSpec,
    pub(crate) waiter: &'a ToolSpec,
}

/// Which `tools/call` of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallOf {
    /// A plain call of the call tool.
    Plain,
    /// A call of the task tool, as a task.
    Task,
    /// The call that makes the task `get` reads, as a task.
    GetSetup,
    /// A call of the waiter tool, as a task.
    Waiter,
}

impl Bodies {
    /// The bodies of a run calling `tools`' tools; `mirrors` are the `Mcp-Param-*` headers
    /// of each (2026-07-28), found with `tools/list`.
    pub(crate) fn new(
        era: ProtocolVersion,
        tools: &Tools<'_>,
        mirrors: &dyn Fn(&ToolSpec) -> Headers,
    ) -> Self {
        let meta = |ext: bool| {
            let mut caps = Map::new();
            if ext {
                caps.insert("extensions".into(), json!({ TASKS_EXTENSION: {} }));
            }
            let meta = json!({
                PROTOCOL_VERSION_META: V2026,
                CLIENT_CAPABILITIES: caps,
                CLIENT_INFO: client_info(),
            });
            format!("\"_meta\":{meta}")
        };
        let (meta_ext, meta_plain) = (meta(true), meta(false));
        let params = |tool: &ToolSpec, as_task: bool| {
            let mut p = json!({"name": tool.name, "arguments": tool.arguments}).to_string();
            p.pop();
            match era {
                ProtocolVersion::V2025_11_25 if as_task => p.push_str(",\"task\":{}"),
                ProtocolVersion::V2025_11_25 => {}
                ProtocolVersion::V2026_07_28 => {
                    p.push(',');
                    p.push_str(if as_task { &meta_ext } else { &meta_plain });
                }
            }
            p.push('}');
            p
        };
        let headers = |tool: &ToolSpec| match era {
            ProtocolVersion::V2025_11_25 => Vec::new(),
            ProtocolVersion::V2026_07_28 => {
                let mut h = era_headers(method::TOOLS_CALL, Some(&tool.name));
                h.extend(mirrors(tool));
                h
            }
        };
        Self {
            call: params(tools.call, false),
            task: params(tools.task, true),
            get_setup: params(tools.get_setup, true),
            waiter: params(tools.waiter, true),
            call_headers: headers(tools.call),
            task_headers: headers(tools.task),
            get_setup_headers: headers(tools.get_setup),
            waiter_headers: headers(tools.waiter),
            era,
            meta_ext,
        }
    }

    /// A `tools/call`.
    pub(crate) fn tool_call(&self, id: u64, of: CallOf) -> (Bytes, &Headers) {
        let (params, headers) = match of {
            CallOf::Plain => (&self.call, &self.call_headers),
            CallOf::Task => (&self.task, &self.task_headers),
            CallOf::GetSetup => (&self.get_setup, &self.get_setup_headers),
            CallOf::Waiter => (&self.waiter, &self.waiter_headers),
        };
        (envelope(id, method::TOOLS_CALL, params), headers)
    }

    /// A request about one task: `tasks/get`, `tasks/result` or `tasks/cancel`.
    pub(crate) fn task_request(&self, id: u64, method: &str, task_id: &str) -> (Bytes, Headers) {
        let mut params = Vec::with_capacity(64 + self.meta_ext.len());
        params.extend_from_slice(b"{\"taskId\":");
        serde_json::to_writer(&mut params, task_id).expect("a string serializes");
        let headers = match self.era {
            ProtocolVersion::V2025_11_25 => Vec::new(),
            ProtocolVersion::V2026_07_28 => {
                params.push(b',');
                params.extend_from_slice(self.meta_ext.as_bytes());
                era_headers(method, Some(task_id))
            }
        };
        params.push(b'}');
        (envelope_bytes(id, method, &params), headers)
    }

    /// `subscriptions/listen` (2026-07-28), following `task_ids` when there are any.
    pub(crate) fn listen(&self, id: u64, task_ids: &[String]) -> (Bytes, Headers) {
        let notifications = if task_ids.is_empty() {
            json!({})
        } else {
            json!({ "taskIds": task_ids })
        };
        let params = format!("{{\"notifications\":{notifications},{}}}", self.meta_ext);
        (
            envelope(id, method::SUBSCRIPTIONS_LISTEN, &params),
            era_headers(method::SUBSCRIPTIONS_LISTEN, None),
        )
    }

    /// `server/discover` (2026-07-28).
    pub(crate) fn discover(&self, id: u64) -> (Bytes, Headers) {
        let params = format!("{{{}}}", self.meta_ext);
        (
            envelope(id, method::SERVER_DISCOVER, &params),
            era_headers(method::SERVER_DISCOVER, None),
        )
    }
}

/// `tools/list` of 2026-07-28 (for the tools' mirrored arguments), from `cursor`.
pub(crate) fn tools_list_v2026(id: u64, cursor: Option<&str>) -> (Bytes, Headers) {
    let meta = json!({
        PROTOCOL_VERSION_META: V2026,
        CLIENT_CAPABILITIES: {},
        CLIENT_INFO: client_info(),
    });
    let mut params = json!({ "_meta": meta });
    if let Some(c) = cursor {
        params["cursor"] = Value::String(c.to_owned());
    }
    (
        envelope(id, method::TOOLS_LIST, &params.to_string()),
        era_headers(method::TOOLS_LIST, None),
    )
}

/// `initialize` of 2025-11-25.
pub(crate) fn initialize(id: u64) -> Bytes {
    let params = json!({
        "protocolVersion": method::LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": client_info(),
    });
    envelope(id, method::INITIALIZE, &params.to_string())
}

/// `notifications/initialized` of 2025-11-25.
pub(crate) fn initialized() -> Bytes {
    Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}")
}

fn client_info() -> Value {
    json!({"name": "mcp-tasks-bench", "version": env!("CARGO_PKG_VERSION")})
}

/// The headers of 2026-07-28 that mirror a request's method and name (B-5, X-8).
pub(crate) fn era_headers(method: &str, name: Option<&str>) -> Headers {
    let mut h = Vec::with_capacity(3);
    h.push((VERSION_HEADER, HeaderValue::from_static(V2026)));
    if let Ok(v) = HeaderValue::from_str(method) {
        h.push((METHOD_HEADER, v));
    }
    if let Some(v) = name.and_then(|n| HeaderValue::from_str(&encode_value(n)).ok()) {
        h.push((NAME_HEADER, v));
    }
    h
}

fn envelope(id: u64, method: &str, params: &str) -> Bytes {
    envelope_bytes(id, method, params.as_bytes())
}

/// `{"jsonrpc":"2.0","id":ID,"method":METHOD,"params":PARAMS}`; `method` is one of ours, plain
/// ASCII without quotes.
fn envelope_bytes(id: u64, method: &str, params: &[u8]) -> Bytes {
    let mut body = Vec::with_capacity(48 + method.len() + params.len());
    body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    write!(body, "{id}").expect("writing to a Vec cannot fail");
    body.extend_from_slice(b",\"method\":\"");
    body.extend_from_slice(method.as_bytes());
    body.extend_from_slice(b"\",\"params\":");
    body.extend_from_slice(params);
    body.push(b'}');
    Bytes::from(body)
}

/// The `Mcp-Param-*` headers a call of `tool` carries, from the tool's `inputSchema` as
/// `tools/list` gave it (B-5): each property reached from the root through `properties` alone
/// and marked `x-mcp-header`, whose argument is a string, integer or boolean.
pub(crate) fn mirrored_headers(input_schema: &Value, arguments: &Map<String, Value>) -> Headers {
    let mut found = Vec::new();
    marks(input_schema, &mut Vec::new(), &mut found);
    found
        .into_iter()
        .filter_map(|(name, path)| {
            let mut value = arguments.get(path.first()?)?;
            for key in &path[1..] {
                value = value.get(key)?;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) => i.to_string(),
                    (_, Some(u), _) => u.to_string(),
                    (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{f:.0}"),
                    _ => n.to_string(),
                },
                _ => return None,
            };
            let header = HeaderName::from_bytes(
                format!("mcp-param-{}", name.to_ascii_lowercase()).as_bytes(),
            )
            .ok()?;
            Some((header, HeaderValue::from_str(&encode_value(&text)).ok()?))
        })
        .collect()
}

/// The `x-mcp-header` marks under `schema`'s `properties`, with the property path to each.
fn marks(schema: &Value, path: &mut Vec<String>, found: &mut Vec<(String, Vec<String>)>) {
    if !path.is_empty() {
        if let Some(name) = schema.get("x-mcp-header").and_then(Value::as_str) {
            found.push((name.to_owned(), path.clone()));
        }
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            path.push(name.clone());
            marks(property, path, found);
            path.pop();
        }
    }
}

/// A task's status, as both eras name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
    #[serde(other)]
    Unknown,
}

impl Status {
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// `resultType` of 2026-07-28; absent means complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResultType {
    Complete,
    Task,
    InputRequired,
    #[serde(other)]
    Unknown,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    #[serde(default)]
    pub(crate) message: String,
}

/// The task inside a 2025-11-25 `CreateTaskResult`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskView {
    pub(crate) task_id: String,
    pub(crate) status: Option<Status>,
}

/// A tool result inlined in a 2026-07-28 `tasks/get`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InlinedResult {
    #[serde(default)]
    pub(crate) is_error: Option<bool>,
}

/// The fields of any result an operation looks at: a tool result's `isError`, a task's id and
/// status (flat as `tasks/get` answers and 2026-07-28 creates, or under `task` as 2025-11-25
/// creates), the `resultType`, and a completed or failed task's inlined result or error.
/// Everything else (the content) is skipped, not built.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct View {
    pub(crate) result_type: Option<ResultType>,
    pub(crate) is_error: Option<bool>,
    pub(crate) task_id: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) status_message: Option<String>,
    pub(crate) task: Option<TaskView>,
    pub(crate) result: Option<InlinedResult>,
    pub(crate) error: Option<RpcError>,
}

impl View {
    /// The task this result is or creates: its id and status.
    pub(crate) fn task(&self) -> Option<(&str, Option<Status>)> {
        match (&self.task, &self.task_id) {
            (Some(t), _) => Some((&t.task_id, t.status)),
            (None, Some(id)) => Some((id, self.status)),
            (None, None) => None,
        }
    }
}

/// A JSON-RPC request id as the server echoes it: ours are whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Number(u64),
    Other,
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl de::Visitor<'_> for Visit {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON-RPC id")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Id, E> {
                Ok(Id::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Id, E> {
                Ok(u64::try_from(v).map_or(Id::Other, Id::Number))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Id, E> {
                Ok(Id::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Id, E> {
                Ok(Id::Other)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// One JSON-RPC message, read only as far as telling what it is needs.
#[derive(Debug, Deserialize)]
#[serde(bound = "R: Deserialize<'de>")]
struct Envelope<R> {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    result: Option<R>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// What one message on an answer is to the request `id` waiting for it.
#[derive(Debug)]
pub(crate) enum Message<R> {
    /// The answer: its result or error.
    Answer(Result<R, RpcError>),
    /// An error without an id: the server could not tell which request it is about (it
    /// could not read it, or refused it before reading it).
    Unaddressed(RpcError),
    /// A request from the server (elicitation, sampling…), named by its method.
    ServerRequest(String),
    /// A notification, or a message about something else.
    Other,
}

/// Reads one JSON-RPC message (a JSON body, or one SSE event's data) as seen by request `id`.
///
/// # Errors
///
/// Not JSON, or not the shape of a JSON-RPC message.
pub(crate) fn read_message<R: for<'de> Deserialize<'de>>(
    data: &[u8],
    id: u64,
) -> Result<Message<R>, serde_json::Error> {
    let m: Envelope<R> = serde_json::from_slice(data)?;
    Ok(match (m.method, m.id) {
        (Some(method), Some(_)) => Message::ServerRequest(method),
        (Some(_), None) => Message::Other,
        (None, Some(Id::Number(n))) if n == id => match (m.result, m.error) {
            (_, Some(e)) => Message::Answer(Err(e)),
            (Some(r), None) => Message::Answer(Ok(r)),
            (None, None) => {
                return Err(de::Error::custom(
                    "a response with neither result nor error",
                ))
            }
        },
        (None, None) => match m.error {
            Some(e) => Message::Unaddressed(e),
            None => Message::Other,
        },
        (None, Some(_)) => Message::Other,
    })
}

/// An SSE stream read as it arrives (the WHATWG event stream format): lines end with CRLF, LF
/// or CR; `data:` lines of one event are joined with LF; a blank line ends the event; comments,
/// `event:`, `id:` and `retry:` are skipped, and so are events without data (a priming event).
/// An event still open when the stream ends is dropped, as the format says.
#[derive(Debug, Default)]
pub(crate) struct SseReader {
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    at: usize,
    data: Vec<u8>,
    has_data: bool,
    /// The last line ended with CR: an LF first in the next chunk belongs to it.
    after_cr: bool,
}

impl SseReader {
    /// Adds bytes that arrived.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        // What was read is dropped before the buffer grows, so it holds at most the line
        // being read.
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// How many bytes are held (an event's data, and a line not ended yet).
    pub(crate) fn held(&self) -> usize {
        self.buf.len() - self.at + self.data.len()
    }

    /// The data of the next complete event, if one has arrived.
    pub(crate) fn next_event(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.after_cr && self.at < self.buf.len() {
                if self.buf[self.at] == b'\n' {
                    self.at += 1;
                }
                self.after_cr = false;
            }
            let rest = &self.buf[self.at..];
            let end = rest.iter().position(|b| *b == b'\n' || *b == b'\r')?;
            let line_start = self.at;
            self.at += end + 1;
            if rest[end] == b'\r' {
                self.after_cr = true;
            }
            let line = &self.buf[line_start..line_start + end];
            if line.is_empty() {
                // An event whose data is empty (a priming event) is not dispatched.
                self.has_data = false;
                if !self.data.is_empty() {
                    return Some(std::mem::take(&mut self.data));
                }
                continue;
            }
            let (field, value) = match line.iter().position(|b| *b == b':') {
                Some(0) => continue,
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            if field == b"data" {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
        }
    }
}

/// The result of `initialize`: the version the server chose.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InitializeView {
    pub(crate) protocol_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut r = SseReader::default();
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c);
            while let Some(e) = r.next_event() {
                out.push(String::from_utf8(e).unwrap());
            }
        }
        out
    }

    /// Events split anywhere across chunks, with any line ending, come out whole; priming
    /// events, comments and other fields are skipped; multi-line data is joined with LF.
    #[test]
    fn sse_events_are_read_across_chunks_and_line_endings() {
        let stream: &[u8] = b"id: s-0\ndata:\n\n: keep-alive\n\nevent: message\r\nid: s-1\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata:x\r\rdata: y\n\n";
        let whole = events(&[stream]);
        assert_eq!(whole, ["{\"a\":\n1}", "x", "y"]);
        for split in 1..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(events(&[a, b]), whole, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events(&bytewise), whole);
        // An event the stream ends inside is not dispatched.
        assert!(events(&[b"data: {}\n"]).is_empty());
    }

    /// The answer is the message with our id; notifications and other ids are not; a request
    /// from the server and an error without an id are told apart.
    #[test]
    fn messages_are_told_apart_by_id_and_method() {
        let read = |s: &str| read_message::<View>(s.as_bytes(), 7).unwrap();
        let Message::Answer(Ok(v)) = read(
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"isError":true}}"#,
        ) else {
            panic!("not the answer")
        };
        assert_eq!(v.is_error, Some(true));
        assert!(matches!(
            read(r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#),
            Message::Other
        ));
        assert!(matches!(
            read(r#"{"jsonrpc":"2.0","id":8,"result":{}}"#),
            Message::Other
        ));
        assert!(matches!(
            read(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#),
            Message::Other
        ));
        let Message::ServerRequest(m) =
            read(r#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}"#)
        else {
            panic!("not a server request")
        };
        assert_eq!(m, "elicitation/create");
        let Message::Answer(Err(e)) =
            read(r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no tool"}}"#)
        else {
            panic!("not an error")
        };
        assert_eq!((e.code, e.message.as_str()), (-32602, "no tool"));
        assert!(matches!(
            read(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}"#),
            Message::Unaddressed(RpcError { code: -32700, .. })
        ));
        assert!(read_message::<View>(b"{\"id\":7}", 7).is_err());
        assert!(read_message::<View>(b"not json", 7).is_err());
    }

    /// The task of either era's create result, and what `tasks/get` inlines.
    #[test]
    fn views_read_both_eras_tasks() {
        let v: View = serde_json::from_str(
            r#"{"task":{"taskId":"t1","status":"working","ttl":1000,"createdAt":"x"}}"#,
        )
        .unwrap();
        assert_eq!(v.task(), Some(("t1", Some(Status::Working))));
        let v: View = serde_json::from_str(
            r#"{"resultType":"task","taskId":"t2","status":"input_required","ttlMs":null}"#,
        )
        .unwrap();
        assert_eq!(v.result_type, Some(ResultType::Task));
        assert_eq!(v.task(), Some(("t2", Some(Status::InputRequired))));
        let v: View = serde_json::from_str(
            r#"{"resultType":"complete","taskId":"t3","status":"completed","result":{"content":[],"isError":true}}"#,
        )
        .unwrap();
        assert_eq!(v.result.unwrap().is_error, Some(true));
        let v: View = serde_json::from_str(r#"{"status":"someday","resultType":"later"}"#).unwrap();
        assert_eq!(v.status, Some(Status::Unknown));
        assert_eq!(v.result_type, Some(ResultType::Unknown));
    }

    /// Bodies are JSON-RPC with the id written in; 2026-07-28 ones carry the era's `_meta`
    /// and headers, the task tool's declaring the extension.
    #[test]
    fn bodies_carry_each_eras_framing() {
        let tool = |name: &str| ToolSpec {
            name: name.into(),
            arguments: json!({"text": "é\"q"}).as_object().unwrap().clone(),
        };
        let none = |_: &ToolSpec| Vec::new();
        let (echo, slow, wait) = (tool("echo"), tool("slow"), tool("wait"));
        let tools = Tools {
            call: &echo,
            task: &slow,
            get_setup: &slow,
            waiter: &wait,
        };
        let old = Bodies::new(ProtocolVersion::V2025_11_25, &tools, &none);
        let (body, headers) = old.tool_call(41, CallOf::Task);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                   "params": {"name": "slow", "arguments": {"text": "é\"q"}, "task": {}}})
        );
        assert!(headers.is_empty());
        let (body, _) = old.task_request(9, "tasks/get", "a\"b");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"], json!({"taskId": "a\"b"}));

        let mirror = |t: &ToolSpec| {
            vec![(
                HeaderName::from_static("mcp-param-x"),
                HeaderValue::from_str(&t.name).unwrap(),
            )]
        };
        let new = Bodies::new(ProtocolVersion::V2026_07_28, &tools, &mirror);
        let (body, headers) = new.tool_call(1, CallOf::Plain);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"]["_meta"][PROTOCOL_VERSION_META], V2026);
        assert_eq!(v["params"]["_meta"][CLIENT_CAPABILITIES], json!({}));
        let names: Vec<_> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
                ("mcp-param-x", "echo")
            ]
        );
        let (body, _) = new.tool_call(2, CallOf::Task);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["params"]["_meta"][CLIENT_CAPABILITIES],
            json!({"extensions": {TASKS_EXTENSION: {}}})
        );
        assert!(v["params"].get("task").is_none());
        let (body, headers) = new.task_request(3, "tasks/get", "tä");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"]["taskId"], "tä");
        assert_eq!(headers[2].1, encode_value("tä").as_str());
        let (body, _) = new.listen(4, &["t".into()]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["params"]["notifications"], json!({"taskIds": ["t"]}));
    }

    /// B-5: marked arguments become `Mcp-Param-*` headers, converted as the spec says.
    #[test]
    fn marked_arguments_are_mirrored() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "integer", "x-mcp-header": "N"},
            "deep": {"type": "object", "properties": {"on": {"type": "boolean", "x-mcp-header": "On"}}},
            "plain": {"type": "string"}
        }});
        let args = json!({"region": "Zürich", "n": 42.0, "deep": {"on": true}, "plain": "x"});
        let mut h: Vec<_> = mirrored_headers(&schema, args.as_object().unwrap())
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        h.sort();
        assert_eq!(
            h,
            [
                ("mcp-param-n".to_owned(), "42".to_owned()),
                ("mcp-param-on".to_owned(), "true".to_owned()),
                ("mcp-param-region".to_owned(), encode_value("Zürich")),
            ]
        );
    }
}

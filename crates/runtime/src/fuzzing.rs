//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`), not an API.
//!
//! The code they reach is private on purpose: the sealed `requestState`, the SSE reading of the
//! HTTP client and the `Mcp-Param-*` checks are details of the transports. A fuzzer still needs
//! to call them with whatever bytes it makes, so each function here is the thinnest wrapper
//! that does what the server or client does with untrusted input, and nothing more. Built only
//! with the feature, so a normal build has none of it.

use futures::StreamExt as _;
use mcp_tasks_engine::{Owner, Requestor};
use mcp_tasks_wire::jsonrpc::{self, DecodeError, ErrorObject, Message};
use serde_json::{Map, Value};

use crate::server::mrtr;

pub use crate::transport::http::fuzzing::{check_param_headers, check_stateless_headers};

/// One SSE event as the HTTP client's reader sees it, and what its data decoded to.
#[derive(Debug, PartialEq)]
pub struct SseEvent {
    /// `id:`, which the client keeps to resume the stream.
    pub id: String,
    /// `retry:`, which the client waits before resuming.
    pub retry: Option<std::time::Duration>,
    /// `data:`, joined by newlines.
    pub data: String,
    /// The JSON-RPC message the data held; `None` for the blank data the client skips.
    pub message: Option<Result<Message, DecodeError>>,
}

/// Parses a response body arriving as `chunks` the way the HTTP client's `read_events` does:
/// its SSE reader over the byte stream, then [`jsonrpc::decode`] of each non-blank data.
/// Stops at the first stream error, as the client does.
pub fn sse_events(chunks: Vec<Vec<u8>>) -> Vec<SseEvent> {
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::from(c))),
    );
    let mut events = std::pin::pin!(crate::client::sse::events(
        stream,
        crate::client::MAX_MESSAGE_BYTES
    ));
    let mut out = Vec::new();
    futures::executor::block_on(async {
        while let Some(Ok(event)) = events.next().await {
            let message =
                (!event.data.trim().is_empty()).then(|| jsonrpc::decode(event.data.as_bytes()));
            out.push(SseEvent {
                id: event.id,
                retry: event.retry,
                data: event.data,
                message,
            });
        }
    });
    out
}

/// The binding of a `tools/call` of `tool` with `arguments`, by `owner` (anonymous when
/// `None`), as the server makes it.
fn binding(tool: &str, arguments: &Map<String, Value>, owner: Option<&str>) -> mrtr::Binding {
    let requestor = Requestor {
        owner: owner.map(Owner::new),
        session: Some("fuzz".to_owned()),
    };
    mrtr::Binding::new(tool, arguments, &requestor)
}

/// Seals `answers` as the server does for a call bound as in [`open_request_state`].
///
/// # Errors
///
/// What the server's seal refuses (-32602: too many answers, too long once sealed).
pub fn seal_request_state(
    store_secret: &[u8],
    tool: &str,
    arguments: &Map<String, Value>,
    owner: Option<&str>,
    answers: &Map<String, Value>,
    now: u64,
) -> Result<String, ErrorObject> {
    let key = mrtr::StateKey::derive(store_secret);
    mrtr::seal(&key, &binding(tool, arguments, owner), answers, now)
}

/// Opens a client's `requestState` as the server does on a retried `tools/call`.
///
/// # Errors
///
/// -32602 for every state that is not one this key sealed for this binding, unexpired.
pub fn open_request_state(
    store_secret: &[u8],
    tool: &str,
    arguments: &Map<String, Value>,
    owner: Option<&str>,
    state: &str,
    now: u64,
) -> Result<Map<String, Value>, ErrorObject> {
    let key = mrtr::StateKey::derive(store_secret);
    mrtr::open(&key, &binding(tool, arguments, owner), state, now)
}

//! The seam between a [`Client`](super::Client) and the bytes: a transport sends messages and
//! delivers whatever the server sends on one inbound channel, whichever stream it came on.

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{Message, RequestId};
use mcp_tasks_wire::v2025_11_25::Tool;
use tokio::sync::mpsc;

use super::error::Result;

/// What a transport delivers.
#[derive(Debug)]
pub enum Incoming {
    /// A message from the server.
    Message(Message),
    /// A message from the server that came on the stream of our request `request` (a POST's
    /// SSE response), so it belongs to that request: a question it asks, its progress.
    OnStream {
        /// The message.
        message: Message,
        /// The request whose stream carried it.
        request: RequestId,
    },
    /// The stream that was to carry the answer to request `id` ended without it and could not
    /// be resumed; the request's caller gets a transport error instead of waiting forever.
    Lost {
        /// The request whose answer will not come.
        id: RequestId,
        /// Why, for the caller.
        reason: String,
    },
}

/// What joins an [`end_reason`](Transport::end_reason) to the server's last words (its
/// last stderr lines), so an error can put what it waited for between them.
pub(crate) const LAST_WORDS: &str = "; its last words on stderr: ";

/// Messages from the server, in arrival order per stream. The channel ends when the
/// connection is gone for good (the child exited; the HTTP session ended).
pub type Inbound = mpsc::UnboundedReceiver<Incoming>;

/// Carries messages to one server.
///
/// Implemented by [`StdioTransport`](super::StdioTransport) and
/// [`HttpTransport`](super::HttpTransport); a test can implement it over channels.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Sends one message. Errors are the transport's own (the pipe broke, HTTP refused); a
    /// JSON-RPC error answer arrives on the inbound channel like any response.
    async fn send(&self, message: Message) -> Result<()>;

    /// Called once initialize succeeded, with the negotiated protocol version (HTTP sends it
    /// as a header on every later request, and opens its standing stream).
    async fn initialized(&self, _protocol_version: &str) {}

    /// Called when the connection speaks a stateless era (MCP 2026-07-28) with
    /// `protocol_version`: there is no session, and HTTP frames every POST with the era's
    /// headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, B-5). Stdio needs nothing.
    async fn stateless(&self, _protocol_version: &str) {}

    /// Whether a 2026-07-28 `tools/call` needs the tool's definition first: HTTP mirrors the
    /// arguments a tool marks with `x-mcp-header` into `Mcp-Param-*` headers (B-5).
    fn mirrors_arguments(&self) -> bool {
        false
    }

    /// The tools the server listed, for [`Transport::mirrors_arguments`].
    fn tools_listed(&self, _tools: &[Tool]) {}

    /// The caller stopped waiting for request `id`. True when the transport itself tells
    /// the server, so `notifications/cancelled` is not sent: over HTTP in MCP 2026-07-28,
    /// closing the request's stream is the cancellation (a server ignores the notification
    /// there). False by default: the client sends the notification.
    fn abandon(&self, _id: &RequestId) -> bool {
        false
    }

    /// Why the connection ended, once it did, when the transport knows more than that it
    /// ended: a spawned server's exit status, say. For the error a caller reports.
    fn end_reason(&self) -> Option<String> {
        None
    }

    /// Ends the connection politely: HTTP sends `DELETE`, stdio closes the child's stdin and
    /// waits briefly for it to exit.
    async fn close(&self);
}

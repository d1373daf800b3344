//! What can go wrong on the requestor side, split by who is to blame: the server's answer, the
//! connection, or a request the server never declared it takes.

use mcp_tasks_wire::jsonrpc::ErrorObject;

/// A failed client operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered the request with a JSON-RPC error.
    #[error("the server answered {method} with error {}: {}", .error.code, .error.message)]
    Rpc {
        /// The request's method.
        method: String,
        /// The server's error object, unchanged (boxed: it is large and rare).
        error: Box<ErrorObject>,
    },
    /// The server's answer does not have the shape MCP gives it.
    #[error("the server's answer to {method} is not what MCP specifies: {detail}")]
    Protocol {
        /// The request's method.
        method: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The request was not sent because the server does not take it (T-CAP-3, T-CAP-5).
    #[error("{0}")]
    Unsupported(String),
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Transport(String),
    /// The server refused an HTTP request with this status and no JSON-RPC answer; kept apart
    /// from [`ClientError::Transport`] because discovery tells a 2025-11-25 server (400, 404,
    /// 405) from a failing one (5xx) by it.
    #[error("the server refused the POST with HTTP {status}: {detail}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The body, trimmed.
        detail: String,
    },
    /// The connection ended before the answer came.
    #[error("the connection to the server closed before it answered {method}")]
    Closed {
        /// The request's method.
        method: String,
    },
}

impl ClientError {
    /// The server's error object, when the server answered with one.
    pub fn rpc(&self) -> Option<&ErrorObject> {
        match self {
            Self::Rpc { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    pub(crate) fn protocol(method: &str, detail: impl std::fmt::Display) -> Self {
        Self::Protocol {
            method: method.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// The result of a client operation.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

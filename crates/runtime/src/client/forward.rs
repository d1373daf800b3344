//! Handing what a server sends on to someone else: the seam a gateway is built on.
//!
//! A client that stands for other clients (the `mcp-tasks gateway`, in front of a server that
//! knows nothing of tasks) cannot answer the server's questions itself: an elicitation is for
//! the person whose call caused it, a `sampling/createMessage` for their model. Such a client
//! gives the builder a [`Forwarder`] ([`ClientBuilder::forward`](super::ClientBuilder::forward)),
//! which gets every request and notification of the server raw, and tells its calls apart with
//! a [`Scope`]: requests sent inside [`in_scope`] belong to that scope, and what the server
//! sends *because of* one of them says so in [`RequestContext::scope`] when the transport can
//! tell:
//!
//! - over Streamable HTTP, a message on the SSE stream of a POST belongs to that request;
//! - the input requests of a MCP 2026-07-28 result (B-6) or task belong to the call whose
//!   future answers them;
//! - over stdio, MCP gives a server's request no link to the call that caused it, so the scope
//!   is `None` and the forwarder decides (a gateway with one call in flight knows).
//!
//! ```
//! use mcp_tasks_runtime::client::{in_scope, scope, Scope};
//!
//! # #[tokio::main] async fn main() {
//! let outside = scope();
//! let inside = in_scope(Scope(7), async { scope() }).await;
//! assert_eq!((outside, inside), (None, Some(Scope(7))));
//! # }
//! ```

use std::future::Future;

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{ErrorObject, Notification};
use serde_json::Value;

use super::handler::RequestContext;

/// Names the caller a request was sent for, so what the server sends back because of it can
/// be routed to that caller. The forwarder chooses the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(pub u64);

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `future` with `scope`: the requests it sends belong to it, and the input requests it
/// answers (MCP 2026-07-28) are forwarded with it.
pub async fn in_scope<F: Future>(scope: Scope, future: F) -> F::Output {
    SCOPE.scope(scope, future).await
}

/// The scope the current future runs in, if any.
pub fn scope() -> Option<Scope> {
    SCOPE.try_with(|s| *s).ok()
}

/// Takes every request and notification the server sends, in place of the client's own
/// handlers (`ping` and the requests of tasks the client hosts aside).
#[async_trait]
pub trait Forwarder: Send + Sync + std::fmt::Debug + 'static {
    /// Answers a request of the server's (`elicitation/create`, `sampling/createMessage`,
    /// `roots/list`, or anything else), or an input request of a MCP 2026-07-28 result or task
    /// with its method and params. An error goes back to the server as the JSON-RPC error (in
    /// 2026-07-28, where an input request cannot fail alone, it fails the call).
    async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        cx: RequestContext,
    ) -> Result<Value, ErrorObject>;

    /// Takes a notification of the server's: progress, log messages, list changes, resource
    /// updates. `scope` is the request whose stream it came on, when the transport can tell.
    /// The client's own bookkeeping (task status and progress for its task handles) happens
    /// as well.
    fn notification(&self, notification: &Notification, scope: Option<Scope>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scopes_nest_and_end_with_their_future() {
        let seen = in_scope(Scope(1), async {
            let inner = in_scope(Scope(2), async { scope() }).await;
            (scope(), inner)
        })
        .await;
        assert_eq!(seen, (Some(Scope(1)), Some(Scope(2))));
        assert_eq!(scope(), None);
    }
}

//! [`Passthrough`]: what a server offers besides its tools and tasks, served by someone else.
//!
//! This runtime serves tools and tasks itself. A server in front of another (the
//! `mcp-tasks gateway`) must also offer whatever the other one does, unchanged in meaning
//! (G-1): resources, prompts, completion, and their notifications. Rather than teaching the
//! router every method MCP has, the server hands a [`Passthrough`] each request it does not
//! serve itself, and merges the passthrough's capabilities into what it declares at
//! `initialize` and `server/discover`. Without a passthrough, such a request is -32601 as
//! before.
//!
//! The server's own methods always win: `initialize`, `ping`, `logging/setLevel` (each
//! session's level is applied by the server to what it sends), `tools/*`, `tasks/*`,
//! `server/discover` and `subscriptions/listen`.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{ErrorObject, Notification};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::session::{Session, Sink};

/// Serves the requests a [`Server`](super::Server) does not serve itself.
#[async_trait]
pub trait Passthrough: Send + Sync + std::fmt::Debug + 'static {
    /// The capabilities it adds, as `ServerCapabilities` fields (`resources`, `prompts`,
    /// `completions`, `experimental`, …). `tasks` is ignored (the server declares its own);
    /// `tools.listChanged` is taken, for a passthrough that changes the server's tools.
    fn capabilities(&self) -> Map<String, Value>;

    /// Whether it serves `method`; the server answers -32601 for a method nobody serves.
    fn serves(&self, method: &str) -> bool;

    /// Answers one request. `params` are as the client sent them (in MCP 2026-07-28 with the
    /// request's `_meta`).
    async fn request(
        &self,
        cx: PassthroughContext,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, ErrorObject>;

    /// Takes a notification from a client that the server does not handle itself
    /// (`notifications/roots/list_changed`, say). Nothing by default.
    fn notification(&self, _session: &Session, _notification: &Notification) {}
}

/// What a [`Passthrough`] knows of the request it answers.
#[derive(Debug, Clone)]
pub struct PassthroughContext {
    /// The session the request came on; in MCP 2026-07-28 the request's own context.
    pub session: Arc<Session>,
    /// Whether the request is of the stateless era (MCP 2026-07-28).
    pub stateless: bool,
    /// The stream the request came on, for messages that belong to it.
    pub sink: Sink,
    /// Tripped when the client cancels the request or goes.
    pub cancellation: CancellationToken,
}

/// Merges a passthrough's capabilities into a capabilities object: its keys are added, `tasks`
/// aside; of `tools`, only `listChanged` is taken.
pub(crate) fn merge_capabilities(ours: &mut Value, theirs: &Map<String, Value>) {
    let Value::Object(ours) = ours else {
        return;
    };
    for (key, value) in theirs {
        match key.as_str() {
            "tasks" | "extensions" => {}
            "tools" => {
                if let Some(changed) = value.get("listChanged") {
                    if let Some(Value::Object(tools)) = ours.get_mut("tools") {
                        tools.insert("listChanged".to_owned(), changed.clone());
                    }
                }
            }
            _ => {
                ours.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// G-1: capabilities are ours plus theirs; our tasks stay ours.
    #[test]
    fn capabilities_are_ours_plus_theirs() {
        let mut ours =
            json!({"tools": {"listChanged": false}, "tasks": {"list": {}}, "logging": {}});
        let theirs = json!({
            "tools": {"listChanged": true},
            "tasks": {"requests": {}},
            "resources": {"subscribe": true},
            "prompts": {}
        });
        merge_capabilities(&mut ours, theirs.as_object().unwrap());
        assert_eq!(
            ours,
            json!({
                "tools": {"listChanged": true},
                "tasks": {"list": {}},
                "logging": {},
                "resources": {"subscribe": true},
                "prompts": {}
            })
        );
    }
}

//! Resources, prompts and completion: passed to the upstream as they come (G-1), in the
//! upstream's era, and only those the upstream declared ("what the upstream lacks is not
//! invented").
//!
//! A request of either era goes upstream without the era's `_meta` keys (the gateway's own
//! client adds what the upstream's era needs). What the upstream asks while answering one
//! (rare: a resource read that needs a confirmation) reaches a MCP 2025-11-25 client on the
//! request's stream; a MCP 2026-07-28 request cannot be asked anything outside a tool call,
//! so such a question is refused. `resources/subscribe` (MCP 2025-11-25 only) is counted per
//! open session, so the upstream is subscribed once per resource, told when the last session
//! unsubscribes or closes, subscribed again when it restarts, and its
//! `notifications/resources/updated` reach exactly the sessions that subscribed.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{ErrorCode, ErrorObject, Notification};
use mcp_tasks_wire::method;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::call::upstream_failed;
use super::relay::{self, Caller, Event};
use super::Inner;
use crate::server::{Passthrough, PassthroughContext};

/// The methods passed through, with the capability the upstream must declare for each.
const PASSED: [(&str, &str); 8] = [
    (method::RESOURCES_LIST, "resources"),
    (method::RESOURCES_TEMPLATES_LIST, "resources"),
    (method::RESOURCES_READ, "resources"),
    (method::RESOURCES_SUBSCRIBE, "resources"),
    (method::RESOURCES_UNSUBSCRIBE, "resources"),
    (method::PROMPTS_LIST, "prompts"),
    (method::PROMPTS_GET, "prompts"),
    (method::COMPLETION_COMPLETE, "completions"),
];

/// The gateway's [`Passthrough`].
#[derive(Debug)]
pub(crate) struct Offer(pub(crate) Arc<Inner>);

#[async_trait]
impl Passthrough for Offer {
    fn capabilities(&self) -> Map<String, Value> {
        self.0.capabilities()
    }

    fn serves(&self, name: &str) -> bool {
        let caps = self.0.capabilities();
        PASSED
            .iter()
            .any(|(m, capability)| *m == name && caps.contains_key(*capability))
    }

    async fn request(
        &self,
        cx: PassthroughContext,
        name: &str,
        params: Option<Value>,
    ) -> Result<Value, ErrorObject> {
        let mut params = params.unwrap_or_else(|| Value::Object(Map::new()));
        strip_era_meta(&mut params);
        let uri = params.get("uri").and_then(Value::as_str).map(str::to_owned);
        let relay = &self.0.relay;
        let following =
            name == method::RESOURCES_SUBSCRIBE || name == method::RESOURCES_UNSUBSCRIBE;
        if following && cx.stateless {
            // The era has no session to send updates on: a client reads the resource again.
            return Err(ErrorObject::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "{name} is a MCP 2025-11-25 method (updates go on a session's stream); in \
                     2026-07-28 read the resource again when you need it"
                ),
            ));
        }
        if following {
            self.0.unsubscribe_unfollowed().await;
        }
        let session = cx.session.id().to_owned();
        match (name, &uri) {
            // Another session follows it already: the upstream sends its updates.
            (method::RESOURCES_SUBSCRIBE, Some(uri)) if !relay.subscribe(uri, &cx.session) => {
                return Ok(Value::Object(Map::new()))
            }
            (method::RESOURCES_UNSUBSCRIBE, Some(uri)) if !relay.unsubscribe(uri, &session) => {
                return Ok(Value::Object(Map::new()))
            }
            _ => {}
        }
        let outcome = self.forward(&cx, name, params).await;
        if let (Err(_), method::RESOURCES_SUBSCRIBE, Some(uri)) = (&outcome, name, &uri) {
            relay.unsubscribe(uri, &session);
        }
        outcome
    }

    fn notification(&self, _session: &crate::session::Session, notification: &Notification) {
        tracing::debug!(
            method = %notification.method,
            "a client notification the gateway does not pass upstream"
        );
    }
}

impl Offer {
    /// Sends the request upstream, relaying what the upstream asks and reports meanwhile.
    async fn forward(
        &self,
        cx: &PassthroughContext,
        name: &str,
        mut params: Value,
    ) -> Result<Value, ErrorObject> {
        let client = self.0.upstream.client().await?;
        let (call, events) = self.0.relay.open();
        // The upstream gets the gateway's token, which routes its progress to this request
        // (a client's own token could name another's call); the client gets its own back.
        let token = swap_progress_token(&mut params, Value::String(call.progress_token()));
        let recovery = self.0.upstream.recovery();
        let upstream = async {
            client
                .request(name, params)
                .await
                .map_err(|e| upstream_failed(e, recovery))
        };
        relay::drive(call, events, upstream, &Requester { cx, token }).await
    }
}

/// The client request a passthrough request is made for.
struct Requester<'a> {
    cx: &'a PassthroughContext,
    /// The client's own progress token, if it gave one.
    token: Option<Value>,
}

#[async_trait]
impl Caller for Requester<'_> {
    /// Asks a 2025-11-25 client, on the request's stream, what the upstream asked.
    async fn ask(&self, method: &str, params: Value) -> Result<Value, ErrorObject> {
        let cx = self.cx;
        if cx.stateless {
            return Err(ErrorObject::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "the gateway cannot ask {method} within a MCP 2026-07-28 request that is \
                     no tool call"
                ),
            ));
        }
        relay::answerable(&cx.session.peer_info().capabilities, method, &params)?;
        cx.session.request(&cx.sink, method, params).await
    }

    /// Passes progress (under the client's own token; none without one) or a log line on to
    /// the request's stream.
    async fn report(&self, event: Event) {
        let cx = self.cx;
        let notification = match (event, &self.token) {
            (Event::Progress(p), Some(token)) if !cx.stateless => {
                serde_json::to_value(&p).ok().map(|mut params| {
                    params["progressToken"] = token.clone();
                    Notification::new(method::NOTIFY_PROGRESS, Some(params))
                })
            }
            (Event::Log(l), _) if cx.session.takes_log(l.level) => serde_json::to_value(&l)
                .ok()
                .map(|params| Notification::new(method::NOTIFY_MESSAGE, Some(params))),
            _ => None,
        };
        if let Some(n) = notification {
            let _ = cx.sink.send(n.into());
        }
    }

    fn cancellation(&self) -> &CancellationToken {
        &self.cx.cancellation
    }
}

/// Sets `ours` as the request's `_meta.progressToken`, and returns the token it had.
fn swap_progress_token(params: &mut Value, ours: Value) -> Option<Value> {
    let Value::Object(map) = params else {
        return None;
    };
    let meta = map
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else {
        return None;
    };
    meta.insert("progressToken".to_owned(), ours)
}

/// Removes the `_meta` keys of MCP 2026-07-28 (`io.modelcontextprotocol/…`): they describe the
/// downstream request, and the gateway's client frames the upstream one itself.
pub(crate) fn strip_era_meta(params: &mut Value) {
    let Some(Value::Object(meta)) = params.get_mut("_meta") else {
        return;
    };
    meta.retain(|key, _| !key.starts_with("io.modelcontextprotocol/"));
    if meta.is_empty() {
        if let Value::Object(p) = params {
            p.remove("_meta");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The upstream sees the gateway's progress token, never a client's.
    #[test]
    fn the_upstream_gets_the_gateways_progress_token() {
        let mut params = json!({"uri": "file:///a", "_meta": {"progressToken": "mine"}});
        let theirs = swap_progress_token(&mut params, json!("mcp-tasks-gateway/3"));
        assert_eq!(theirs, Some(json!("mine")));
        assert_eq!(params["_meta"]["progressToken"], "mcp-tasks-gateway/3");
        let mut bare = json!({"uri": "file:///a"});
        assert_eq!(swap_progress_token(&mut bare, json!("t")), None);
        assert_eq!(bare["_meta"], json!({"progressToken": "t"}));
    }

    #[test]
    fn the_downstream_era_meta_stays_downstream() {
        let mut params = json!({
            "uri": "file:///a",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "progressToken": 7
            }
        });
        strip_era_meta(&mut params);
        assert_eq!(
            params,
            json!({"uri": "file:///a", "_meta": {"progressToken": 7}})
        );
        let mut only_era = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "x"}});
        strip_era_meta(&mut only_era);
        assert_eq!(only_era, json!({}));
    }
}

//! `server/discover`: what this server speaks and offers, asked without a session (B-1, X-1).
//!
//! MCP 2026-07-28, "Versioning" and `DiscoverResult`: `supportedVersions` lists every version
//! the server speaks (2026-07-28 per request, the 2025 ones through `initialize`, B-8), and
//! the tasks extension is declared under `capabilities.extensions` with its one accepted
//! value, `{}` (the official requester treats any other value as no support), never as the
//! 2025-11-25 `capabilities.tasks`. Who the server is goes in `serverInfo` and, as the spec
//! asks of every response, in `_meta["io.modelcontextprotocol/serverInfo"]`. `logging` is
//! declared because tools may log: a request that asks with its `_meta` logLevel gets their
//! `notifications/message` on its response stream.

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::ToolsCapability;
use mcp_tasks_wire::v2026_07_28::{
    CacheScope, DiscoverResult, ResultType, ServerCapabilities, SERVER_INFO, SUPPORTED_VERSIONS,
    TASKS_EXTENSION,
};
use serde_json::{json, Map, Value};

use super::Server;

/// How long a client may keep a discovery or a tool list before asking again: a restart with
/// other tools, or a gateway whose upstream changed its tools, is seen within this time (this
/// era has no list-changed notification this server agrees to, see [`stateless_claims`]).
pub(crate) const CACHE_TTL_MS: u64 = 60_000;

pub(crate) fn handle(server: &Server) -> Result<Value, ErrorObject> {
    let mut extensions = Map::new();
    extensions.insert(TASKS_EXTENSION.to_owned(), json!({}));
    let result = DiscoverResult {
        result_type: ResultType::Complete,
        supported_versions: SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        capabilities: ServerCapabilities {
            tools: Some(ToolsCapability {
                list_changed: Some(false),
            }),
            logging: Some(Map::new()),
            extensions: Some(extensions),
        },
        server_info: server.info.clone(),
        instructions: server.instructions.clone(),
        ttl_ms: Some(CACHE_TTL_MS),
        // The same for every caller: nothing in it depends on who asks.
        cache_scope: Some(CacheScope::Public),
        meta: Some(server_info_meta(server)),
    };
    let mut result = super::to_value(&result)?;
    if let Some(p) = server.passthrough() {
        super::passthrough::merge_capabilities(&mut result["capabilities"], &p.capabilities());
        stateless_claims(&mut result["capabilities"]);
    }
    Ok(result)
}

/// Takes out of a passthrough's capabilities what this era's server does not do: notify.
/// `subscriptions/listen` agrees to no list change and no resource subscription here, so
/// declaring `listChanged` or `subscribe` would promise
/// notifications that never come; a client reads the lists again when their ttl passes.
fn stateless_claims(capabilities: &mut Value) {
    let Value::Object(caps) = capabilities else {
        return;
    };
    for (name, flags) in [
        ("tools", &["listChanged"][..]),
        ("prompts", &["listChanged"][..]),
        ("resources", &["listChanged", "subscribe"][..]),
    ] {
        if let Some(Value::Object(cap)) = caps.get_mut(name) {
            for flag in flags {
                cap.remove(*flag);
            }
        }
    }
    if let Some(Value::Object(tools)) = caps.get_mut("tools") {
        tools.insert("listChanged".to_owned(), Value::Bool(false));
    }
}

/// `_meta` naming the server.
fn server_info_meta(server: &Server) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(
        SERVER_INFO.to_owned(),
        serde_json::to_value(&server.info).unwrap_or(Value::Null),
    );
    meta
}

/// Names the server in a result's `_meta`, as MCP 2026-07-28 asks of every response
/// (`ResultMetaObject`), keeping what the result's `_meta` already holds.
pub(crate) fn stamp_server_info(server: &Server, result: &mut Value) {
    let Value::Object(obj) = result else {
        return;
    };
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        for (key, value) in server_info_meta(server) {
            meta.entry(key).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a 2026-07-28 discovery promises no notification `subscriptions/listen` does not
    /// agree to, whatever a passthrough's upstream declared.
    #[test]
    fn discovery_claims_no_notifications_the_era_does_not_send() {
        let mut caps = json!({
            "tools": {"listChanged": true},
            "resources": {"subscribe": true, "listChanged": true},
            "prompts": {"listChanged": true},
            "completions": {}
        });
        stateless_claims(&mut caps);
        assert_eq!(
            caps,
            json!({
                "tools": {"listChanged": false},
                "resources": {},
                "prompts": {},
                "completions": {}
            })
        );
    }
}

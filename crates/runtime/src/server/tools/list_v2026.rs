//! `tools/list` in MCP 2026-07-28: every tool, with the cache hints the era requires
//! (`ttlMs`, `cacheScope`) and `resultType`.
//!
//! The era has no `execution.taskSupport`: the server alone decides per call whether it
//! becomes a task, so neither the 2026-07-28 schema nor the extension's `Tool` carries
//! it, and it is left out. The list is the same for every caller, whatever the capabilities it
//! declares: a tool that can only run as a task answers a caller without the extension with
//! -32021 naming what to declare, which a missing tool could not.

use mcp_tasks_wire::jsonrpc::ErrorObject;
use serde_json::{json, Value};

use crate::server::discover::CACHE_TTL_MS;
use crate::server::Server;

pub(crate) fn handle(server: &Server) -> Result<Value, ErrorObject> {
    let mut tools = server.tools().definitions();
    for tool in &mut tools {
        tool.execution = None;
    }
    Ok(json!({
        "resultType": "complete",
        "tools": crate::server::to_value(&tools)?,
        "ttlMs": CACHE_TTL_MS,
        "cacheScope": "public",
    }))
}

//! `tools/list`: every tool with its `execution.taskSupport` (T-CAP-5).

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::ListToolsResult;
use serde_json::Value;

use crate::server::Server;

pub(crate) fn handle(server: &Server) -> Result<Value, ErrorObject> {
    let result = ListToolsResult {
        tools: server.tools().definitions(),
        next_cursor: None,
    };
    crate::server::to_value(&result)
}

//! `tools/list`: every tool with its `execution.taskSupport` (T-CAP-5).
//!
//! A session that negotiated a version before 2025-11-25 has no tasks: it is shown neither
//! `execution` (a field its schema does not have) nor the tools that can only run as tasks,
//! which it could never call.

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::{ListToolsResult, TaskSupport};
use serde_json::Value;

use crate::server::Server;
use crate::session::Session;

pub(crate) fn handle(server: &Server, session: &Session) -> Result<Value, ErrorObject> {
    let mut tools = server.tools().definitions();
    if !crate::server::initialize::session_has_tasks(session) {
        tools.retain(|t| t.task_support() != TaskSupport::Required);
        for tool in &mut tools {
            tool.execution = None;
        }
    }
    let result = ListToolsResult {
        tools,
        next_cursor: None,
    };
    crate::server::to_value(&result)
}

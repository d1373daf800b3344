//! The `tasks/*` methods of MCP 2025-11-25, one file each, plus the input-request side channel
//! and status notifications.

pub mod cancel;
pub(crate) mod claim;
pub mod get;
pub(crate) mod input;
pub mod list;
pub(crate) mod notify;
pub mod result;

use mcp_tasks_engine::TaskId;

fn task_id(raw: String) -> Result<TaskId, mcp_tasks_wire::jsonrpc::ErrorObject> {
    if raw.is_empty() {
        return Err(mcp_tasks_wire::jsonrpc::ErrorObject::invalid_params(
            "taskId must not be empty",
        ));
    }
    Ok(TaskId::from(raw))
}

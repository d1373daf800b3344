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

/// The task a `tasks/*` request names. An id longer than any this server makes is refused
/// before it is looked up, so its error does not echo it (issue 11: echoed ids are bounded).
pub(crate) fn task_id(raw: String) -> Result<TaskId, mcp_tasks_wire::jsonrpc::ErrorObject> {
    if raw.is_empty() {
        return Err(mcp_tasks_wire::jsonrpc::ErrorObject::invalid_params(
            "taskId must not be empty",
        ));
    }
    if raw.len() > crate::server::router::MAX_ECHOED_ID_BYTES {
        return Err(mcp_tasks_wire::jsonrpc::ErrorObject::invalid_params(
            format!(
                "taskId is {} bytes, over the limit of {}; no task has such an id",
                raw.len(),
                crate::server::router::MAX_ECHOED_ID_BYTES
            ),
        ));
    }
    Ok(TaskId::from(raw))
}

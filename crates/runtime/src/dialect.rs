//! The MCP 2025-11-25 codec: engine records to wire `Task`s and `tasks/result` answers.

use mcp_tasks_engine::{Failure, RpcError, TaskRecord, TaskState, TaskStatus};
use mcp_tasks_wire::jsonrpc::{ErrorCode, ErrorObject};
use mcp_tasks_wire::{meta, v2025_11_25 as v1};
use serde_json::Value;

/// A duration in whole milliseconds, as both eras put durations on the wire.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The wire status of an engine status.
pub fn status(s: TaskStatus) -> v1::TaskStatus {
    match s {
        TaskStatus::Working => v1::TaskStatus::Working,
        TaskStatus::InputRequired => v1::TaskStatus::InputRequired,
        TaskStatus::Completed => v1::TaskStatus::Completed,
        TaskStatus::Failed => v1::TaskStatus::Failed,
        TaskStatus::Cancelled => v1::TaskStatus::Cancelled,
    }
}

/// The wire `Task` of a record (T-OBJ-1, T-OBJ-2): RFC 3339 timestamps, the actual ttl in ms
/// (`null` = unlimited), the polling hint.
pub fn task(r: &TaskRecord) -> v1::Task {
    v1::Task {
        task_id: r.id.to_string(),
        status: status(r.status()),
        status_message: r.status_message.clone(),
        created_at: r.created_at.to_string(),
        last_updated_at: r.last_updated_at.to_string(),
        ttl: r.ttl.map(millis),
        poll_interval: r.poll_interval.map(millis),
    }
}

/// The error object stored for a failure, as the underlying request would have answered.
pub fn error_object(e: &RpcError) -> ErrorObject {
    let obj = ErrorObject::new(ErrorCode(e.code), e.message.clone());
    match &e.data {
        Some(d) => obj.with_data(d.clone()),
        None => obj,
    }
}

/// What `tasks/result` answers for a terminal record (T-RES-1, T-RES-3): exactly the
/// underlying result or error; results carry the related-task `_meta`.
pub fn terminal_answer(r: &TaskRecord) -> Result<Value, ErrorObject> {
    let mut result = match &r.state {
        TaskState::Completed(v) | TaskState::Failed(Failure::Result(v)) => v.clone(),
        TaskState::Failed(Failure::Error(e)) => return Err(error_object(e)),
        TaskState::Cancelled => {
            let why = r
                .status_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(ErrorObject::new(
                ErrorCode::REQUEST_CANCELLED,
                format!(
                    "task {} was cancelled before it produced a result{why}",
                    r.id
                ),
            ));
        }
        TaskState::Working | TaskState::InputRequired => {
            return Err(ErrorObject::internal(format!(
                "task {} is not terminal yet",
                r.id
            )))
        }
    };
    meta::with_related_task(&mut result, r.id.as_str());
    Ok(result)
}

//! The tasks-extension codec (MCP 2026-07-28, SEP-2663): engine records to the extension's
//! `Task` and `DetailedTask`.
//!
//! One record reads right in both eras: a tool result with `isError: true` is stored as a
//! failure carrying the result, which [`crate::dialect`] shows as `failed` (2025-11-25) and
//! this codec as `completed` with `result.isError`.

use mcp_tasks_engine::{Failure, TaskRecord, TaskState};
use mcp_tasks_wire::v2025_11_25::TaskStatus;
use mcp_tasks_wire::v2026_07_28 as v2;

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The extension's `Task` of a record: `ttlMs` (`null` = unlimited), `pollIntervalMs`.
pub fn task(r: &TaskRecord) -> v2::Task {
    v2::Task {
        task_id: r.id.to_string(),
        status: status(r),
        status_message: r.status_message.clone(),
        created_at: r.created_at.to_string(),
        last_updated_at: r.last_updated_at.to_string(),
        ttl_ms: r.ttl.map(millis),
        poll_interval_ms: r.poll_interval.map(millis),
    }
}

/// The extension's status of a record: a tool result with `isError: true` completed.
pub fn status(r: &TaskRecord) -> TaskStatus {
    match &r.state {
        TaskState::Failed(Failure::Result(_)) => TaskStatus::Completed,
        _ => crate::dialect::status(r.status()),
    }
}

//! The tasks extension `io.modelcontextprotocol/tasks` (SEP-2663): the task a `tools/call`
//! may become, what `tasks/get` shows, `tasks/update`, `tasks/cancel` and
//! `notifications/tasks`.
//!
//! Extension schema `Task`, `CreateTaskResult`, `DetailedTask` (`WorkingTask`,
//! `InputRequiredTask`, `CompletedTask`, `FailedTask`, `CancelledTask`), `GetTaskRequest`,
//! `UpdateTaskRequest`, `CancelTaskRequest`, `TaskStatusNotificationParams`.
//!
//! Unlike 2025-11-25, durations name their unit (`ttlMs`, `pollIntervalMs`), the result or
//! error is inlined in `tasks/get` (no `tasks/result`), a tool result with `isError: true`
//! completes the task, and `failed` is only for JSON-RPC errors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mrtr::{InputRequests, InputResponses};
use super::ResultType;
use crate::jsonrpc::ErrorObject;
use crate::v2025_11_25::TaskStatus;

/// The extension's identifier, under `capabilities.extensions` on both sides.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The fields every task shape shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task's id.
    pub task_id: String,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// A human-readable note on the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_updated_at: String,
    /// How long the task is kept after creation, in milliseconds; `null` is unlimited.
    /// Required, so always serialized.
    pub ttl_ms: Option<u64>,
    /// How often to poll `tasks/get`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
}

/// A `tools/call` that became a task: `Result & Task`, flat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTaskResult {
    /// Always [`ResultType::Task`].
    pub result_type: ResultType,
    /// The task.
    #[serde(flatten)]
    pub task: Task,
}

impl From<Task> for CreateTaskResult {
    fn from(task: Task) -> Self {
        Self {
            result_type: ResultType::Task,
            task,
        }
    }
}

/// What `tasks/get` answers and `notifications/tasks` carries: the task with, by status, its
/// result, error or open questions inlined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailedTask {
    /// `complete` on a `tasks/get` answer; absent on a notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_type: Option<ResultType>,
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// The tool's result, when `completed` (including `isError: true` results, X-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The JSON-RPC error, when `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
    /// The questions still open, when `input_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<InputRequests>,
}

/// Params of `tasks/get` and `tasks/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdParams {
    /// The task.
    pub task_id: String,
}

/// Params of `tasks/update`: answers to some or all of a task's open questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTaskParams {
    /// The task.
    pub task_id: String,
    /// Answers by question key; unknown or already answered keys are ignored.
    pub input_responses: InputResponses,
}

/// Params of `notifications/tasks`: the whole [`DetailedTask`] after a change.
pub type TaskStatusNotificationParams = DetailedTask;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(status: TaskStatus) -> Task {
        Task {
            task_id: "t1".into(),
            status,
            status_message: None,
            created_at: "2026-12-04T00:00:00Z".into(),
            last_updated_at: "2026-12-04T00:00:01Z".into(),
            ttl_ms: None,
            poll_interval_ms: Some(500),
        }
    }

    /// a flat CreateTaskResult with `ttlMs` always present (null = unlimited).
    #[test]
    fn create_task_result_is_flat_with_ttl_ms() {
        let v = serde_json::to_value(CreateTaskResult::from(task(TaskStatus::Working))).unwrap();
        assert_eq!(
            v,
            json!({"resultType": "task", "taskId": "t1", "status": "working",
                   "createdAt": "2026-12-04T00:00:00Z", "lastUpdatedAt": "2026-12-04T00:00:01Z",
                   "ttlMs": null, "pollIntervalMs": 500})
        );
        let back: CreateTaskResult = serde_json::from_value(v).unwrap();
        assert_eq!(back.task.task_id, "t1");
    }

    /// the detailed task inlines by status.
    #[test]
    fn detailed_task_inlines_result() {
        let d = DetailedTask {
            result_type: Some(ResultType::Complete),
            task: task(TaskStatus::Completed),
            result: Some(json!({"content": [], "isError": true})),
            error: None,
            input_requests: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["result"]["isError"], true);
        assert!(v.get("error").is_none() && v.get("inputRequests").is_none());
        let p: UpdateTaskParams =
            serde_json::from_value(json!({"taskId": "t1", "inputResponses": {"k": {}}})).unwrap();
        assert_eq!(p.input_responses.len(), 1);
    }
}

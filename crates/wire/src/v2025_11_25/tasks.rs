//! Tasks: the `Task` object, its status, and the `tasks/*` params and results.
//!
//! MCP 2025-11-25, "Tasks" (`basic/utilities/tasks.mdx`, SEP-1686); schema `Task`,
//! `TaskStatus`, `TaskMetadata`, `CreateTaskResult`, `GetTaskRequest`, `GetTaskResult`,
//! `GetTaskPayloadRequest`, `ListTasksRequest`, `ListTasksResult`, `CancelTaskRequest`,
//! `CancelTaskResult`, `TaskStatusNotificationParams`. Requirements T-NEW-1, T-OBJ-1, T-OBJ-2,
//! T-LIFE-1, T-LIFE-2, T-GET-1, T-LIST-1, T-CAN-1, T-NOTE-1.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::common::Meta;

/// Where a task is in its life (T-LIFE-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Running. Left by the receiver when the work needs input, finishes or fails, or by the
    /// requestor through `tasks/cancel`.
    Working,
    /// Waiting for the requestor to answer a request tied to the task. Left when the answer
    /// arrives (back to working), or as `working` is left.
    InputRequired,
    /// Finished with a result. Terminal (T-LIFE-2).
    Completed,
    /// Finished with an error, or with a tool result carrying `isError: true`. Terminal.
    Failed,
    /// Cancelled by the requestor. Terminal.
    Cancelled,
}

impl TaskStatus {
    /// `completed`, `failed` and `cancelled` are final: nothing moves a task out of them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The wire spelling, e.g. `"input_required"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::InputRequired => "input_required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `params.task` of a task-augmented request: the requestor asks for a task (T-NEW-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetadata {
    /// Requested time to live in milliseconds from creation; the receiver may lower it.
    /// Absent: the receiver's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// A task's state as the receiver reports it (T-OBJ-1).
///
/// On input a missing `ttl` is read as `null`; on output `ttl` is always written (T-OBJ-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Receiver-chosen id, unique and unguessable (T-NEW-2).
    pub task_id: String,
    /// Current status.
    pub status: TaskStatus,
    /// Why the task is in its status, for humans (e.g. the failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When the task was created, RFC 3339.
    pub created_at: String,
    /// When the task last changed, RFC 3339.
    pub last_updated_at: String,
    /// Time to live in milliseconds from `createdAt`, as the receiver applies it; `None` is
    /// serialized as `null` and means unlimited.
    #[serde(default)]
    pub ttl: Option<u64>,
    /// Suggested delay between `tasks/get` polls, in milliseconds (T-GET-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<u64>,
}

/// The receiver's immediate answer to a task-augmented request: the new task (T-NEW-1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTaskResult {
    /// The task just created, normally `working`.
    pub task: Task,
    /// Extra metadata, e.g. [`crate::meta::MODEL_IMMEDIATE_RESPONSE`] (T-NEW-4).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl From<Task> for CreateTaskResult {
    fn from(task: Task) -> Self {
        Self { task, meta: None }
    }
}

/// Params of `tasks/get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTaskRequestParams {
    /// The task to read; any related-task `_meta` is ignored (T-META-2).
    pub task_id: String,
}

/// Result of `tasks/get`: the task's fields at the top level, not wrapped (T-GET-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTaskResult {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// Extra metadata; never the related-task key (T-META-2).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl From<Task> for GetTaskResult {
    fn from(task: Task) -> Self {
        Self { task, meta: None }
    }
}

/// Params of `tasks/result`, which answers with the underlying request's own result or error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTaskPayloadRequestParams {
    /// The task whose outcome is wanted.
    pub task_id: String,
}

/// Params of `tasks/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksRequestParams {
    /// Opaque position from a previous result's `nextCursor`; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Result of `tasks/list` (T-LIST-1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksResult {
    /// This page of the requestor's tasks.
    pub tasks: Vec<Task>,
    /// Opaque cursor of the next page; present whenever more tasks remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Params of `tasks/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelTaskRequestParams {
    /// The task to cancel.
    pub task_id: String,
}

/// Result of `tasks/cancel`: the task, now `cancelled`, not wrapped (T-CAN-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelTaskResult {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// Extra metadata; never the related-task key (T-META-2).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl From<Task> for CancelTaskResult {
    fn from(task: Task) -> Self {
        Self { task, meta: None }
    }
}

/// Params of `notifications/tasks/status`: the full task after a change (T-NOTE-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusNotificationParams {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// Extra metadata; never the related-task key (T-META-2).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl From<Task> for TaskStatusNotificationParams {
    fn from(task: Task) -> Self {
        Self { task, meta: None }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(status: TaskStatus, ttl: Option<u64>) -> Task {
        Task {
            task_id: "t-1".into(),
            status,
            status_message: None,
            created_at: "2025-11-25T10:30:00Z".into(),
            last_updated_at: "2025-11-25T10:30:01Z".into(),
            ttl,
            poll_interval: None,
        }
    }

    /// T-OBJ-1, T-OBJ-2: `ttl` is always written; `null` means unlimited.
    #[test]
    fn ttl_null_is_serialized() {
        let v = serde_json::to_value(task(TaskStatus::Working, None)).unwrap();
        assert_eq!(
            v,
            json!({"taskId": "t-1", "status": "working", "createdAt": "2025-11-25T10:30:00Z",
                   "lastUpdatedAt": "2025-11-25T10:30:01Z", "ttl": null})
        );
        let text =
            serde_json::to_string(&GetTaskResult::from(task(TaskStatus::Working, None))).unwrap();
        assert!(text.contains("\"ttl\":null"), "{text}");
        let v = serde_json::to_value(task(TaskStatus::Completed, Some(60_000))).unwrap();
        assert_eq!(v["ttl"], json!(60000));
    }

    #[test]
    fn missing_ttl_reads_as_unlimited() {
        let t: Task = serde_json::from_value(json!({
            "taskId": "x", "status": "failed", "createdAt": "a", "lastUpdatedAt": "b"
        }))
        .unwrap();
        assert_eq!(t.ttl, None);
    }

    /// T-LIFE-2: exactly completed, failed and cancelled are terminal.
    #[test]
    fn statuses_spell_and_classify() {
        let all = [
            (TaskStatus::Working, "working", false),
            (TaskStatus::InputRequired, "input_required", false),
            (TaskStatus::Completed, "completed", true),
            (TaskStatus::Failed, "failed", true),
            (TaskStatus::Cancelled, "cancelled", true),
        ];
        for (status, text, terminal) in all {
            assert_eq!(status.as_str(), text);
            assert_eq!(status.to_string(), text);
            assert_eq!(serde_json::to_value(status).unwrap(), json!(text));
            assert_eq!(
                serde_json::from_value::<TaskStatus>(json!(text)).unwrap(),
                status
            );
            assert_eq!(status.is_terminal(), terminal, "{text}");
        }
    }

    /// T-GET-1: the result is the task's fields plus `_meta`, not `{"task": ...}`.
    #[test]
    fn get_task_result_is_flat() {
        let mut meta = Meta::new();
        meta.insert("k".into(), json!(1));
        let r = GetTaskResult {
            task: Task {
                status_message: Some("half way".into()),
                poll_interval: Some(500),
                ..task(TaskStatus::InputRequired, Some(1000))
            },
            meta: Some(meta),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"taskId": "t-1", "status": "input_required", "statusMessage": "half way",
                   "createdAt": "2025-11-25T10:30:00Z", "lastUpdatedAt": "2025-11-25T10:30:01Z",
                   "ttl": 1000, "pollInterval": 500, "_meta": {"k": 1}})
        );
        assert_eq!(serde_json::from_value::<GetTaskResult>(v).unwrap(), r);
        let null_ttl =
            serde_json::to_value(CancelTaskResult::from(task(TaskStatus::Cancelled, None)))
                .unwrap();
        assert_eq!(
            serde_json::from_value::<CancelTaskResult>(null_ttl)
                .unwrap()
                .task
                .ttl,
            None
        );
    }

    #[test]
    fn create_task_result_wraps_the_task() {
        let v =
            serde_json::to_value(CreateTaskResult::from(task(TaskStatus::Working, None))).unwrap();
        assert_eq!(v["task"]["status"], json!("working"));
        assert!(v.get("_meta").is_none());
    }

    #[test]
    fn task_metadata_ttl_is_optional() {
        assert_eq!(
            serde_json::to_value(TaskMetadata::default()).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::from_value::<TaskMetadata>(json!({"ttl": 5})).unwrap(),
            TaskMetadata { ttl: Some(5) }
        );
        assert!(serde_json::from_value::<TaskMetadata>(json!({"ttl": -5})).is_err());
    }
}

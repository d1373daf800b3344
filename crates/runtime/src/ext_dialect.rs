//! The tasks-extension codec (MCP 2026-07-28, SEP-2663): engine records to the extension's
//! `Task` and `DetailedTask`.
//!
//! One record reads right in both eras: a tool result with `isError: true` is stored as a
//! failure carrying the result, which [`crate::dialect`] shows as `failed` (2025-11-25) and
//! this codec as `completed` with `result.isError`.

use mcp_tasks_engine::{Failure, TaskRecord, TaskState};
use mcp_tasks_wire::meta::RELATED_TASK;
use mcp_tasks_wire::v2025_11_25::TaskStatus;
use mcp_tasks_wire::v2026_07_28::{self as v2, InputRequest, InputRequests, ResultType};
use serde_json::Value;

/// The extension's `Task` of a record: `ttlMs` (`null` = unlimited), `pollIntervalMs`.
pub fn task(r: &TaskRecord) -> v2::Task {
    v2::Task {
        task_id: r.id.to_string(),
        status: status(r),
        status_message: r.status_message.clone(),
        created_at: r.created_at.to_string(),
        last_updated_at: r.last_updated_at.to_string(),
        ttl_ms: r.ttl.map(crate::dialect::millis),
        poll_interval_ms: r.poll_interval.map(crate::dialect::millis),
    }
}

/// The extension's status of a record: a tool result with `isError: true` completed.
pub fn status(r: &TaskRecord) -> TaskStatus {
    match &r.state {
        TaskState::Failed(Failure::Result(_)) => TaskStatus::Completed,
        _ => crate::dialect::status(r.status()),
    }
}

/// What `tasks/get` answers and `notifications/tasks` carries for a record, without
/// `resultType` (the caller sets it where the shape is a result):
/// - `completed`: `result`, the tool's own result, `isError` ones included, marked
///   `resultType: "complete"` as a result of this era is, and without the 2025-11-25
///   related-task `_meta`, which this era does not use;
/// - `failed`: `error`, the JSON-RPC error the call answered;
/// - `input_required`: `inputRequests`, every question still waiting in the mailbox, by key;
/// - `working` and `cancelled`: the task alone.
pub fn detailed(r: &TaskRecord) -> v2::DetailedTask {
    let mut detailed = v2::DetailedTask {
        result_type: None,
        task: task(r),
        result: None,
        error: None,
        input_requests: None,
    };
    match &r.state {
        TaskState::Completed(result) | TaskState::Failed(Failure::Result(result)) => {
            detailed.result = Some(inlined(result.clone()));
        }
        TaskState::Failed(Failure::Error(e)) => {
            detailed.error = Some(crate::dialect::error_object(e));
        }
        TaskState::InputRequired => {
            let pending: InputRequests = r
                .pending_inputs()
                .map(|i| {
                    (
                        i.key.clone(),
                        InputRequest {
                            method: i.method.clone(),
                            params: i.params.clone(),
                        },
                    )
                })
                .collect();
            detailed.input_requests = Some(pending);
        }
        TaskState::Working | TaskState::Cancelled => {}
    }
    detailed
}

/// A stored result as this era inlines it.
fn inlined(mut result: Value) -> Value {
    if let Some(Value::Object(meta)) = result.get_mut("_meta") {
        meta.remove(RELATED_TASK);
        if meta.is_empty() {
            if let Value::Object(obj) = &mut result {
                obj.remove("_meta");
            }
        }
    }
    ResultType::Complete.stamp(&mut result);
    result
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_tasks_engine::{
        InputRequest as Question, NewTask, Outcome, RequestKind, Requestor, RpcError, TaskId,
        Transition,
    };
    use serde_json::json;

    use super::*;

    fn record() -> TaskRecord {
        TaskRecord::new(NewTask {
            id: TaskId::from("t-1"),
            requestor: Requestor::anonymous("s"),
            kind: RequestKind::ToolsCall,
            name: Some("tool".into()),
            params: json!({}),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            ttl: Some(Duration::from_secs(60)),
            poll_interval: Some(Duration::from_millis(500)),
            progress_token: None,
            runner: None,
            active_limit: None,
        })
    }

    fn after(change: Transition) -> TaskRecord {
        let mut r = record();
        r.apply(change, jiff::Timestamp::UNIX_EPOCH).unwrap();
        r
    }

    fn value(r: &TaskRecord) -> Value {
        serde_json::to_value(detailed(r)).unwrap()
    }

    /// a working task is the task alone, with `ttlMs` and `pollIntervalMs`.
    #[test]
    fn working_is_the_task_alone() {
        let v = value(&record());
        assert_eq!(v["status"], "working");
        assert_eq!(v["ttlMs"], 60_000);
        assert_eq!(v["pollIntervalMs"], 500);
        for absent in ["result", "error", "inputRequests", "resultType"] {
            assert!(v.get(absent).is_none(), "{absent} in {v}");
        }
    }

    /// a completed task and a tool error both read `completed` with the result
    /// inlined, marked complete, and without the 2025-11-25 related-task `_meta`.
    #[test]
    fn completed_and_tool_errors_inline_the_result() {
        let stored = json!({"content": [{"type": "text", "text": "hi"}],
                            "_meta": {RELATED_TASK: {"taskId": "t-1"}}});
        let done = after(Transition::Finish(Outcome::Completed(stored)));
        let v = value(&done);
        assert_eq!(v["status"], "completed");
        assert_eq!(
            v["result"],
            json!({"content": [{"type": "text", "text": "hi"}], "resultType": "complete"})
        );
        let tool_error = json!({"content": [{"type": "text", "text": "no"}], "isError": true,
                                "_meta": {"kept": 1, RELATED_TASK: {"taskId": "t-1"}}});
        let failed = after(Transition::Finish(Outcome::Failed {
            failure: Failure::Result(tool_error),
            message: "no".into(),
        }));
        let v = value(&failed);
        assert_eq!(v["status"], "completed");
        assert_eq!(v["result"]["isError"], true);
        assert_eq!(v["result"]["_meta"], json!({"kept": 1}));
        assert!(v.get("error").is_none(), "{v}");
    }

    /// only a JSON-RPC error fails the task, and it is inlined as `error`.
    #[test]
    fn rpc_errors_fail_with_the_error_inlined() {
        let failed = after(Transition::Finish(Outcome::Failed {
            failure: Failure::Error(RpcError {
                code: -32603,
                message: "boom".into(),
                data: Some(json!({"why": "x"})),
            }),
            message: "boom".into(),
        }));
        let v = value(&failed);
        assert_eq!(v["status"], "failed");
        assert_eq!(
            v["error"],
            json!({"code": -32603, "message": "boom", "data": {"why": "x"}})
        );
        assert!(v.get("result").is_none(), "{v}");
    }

    /// a task waiting for input shows every unanswered question by key, and only those.
    #[test]
    fn input_required_shows_the_open_questions() {
        let mut r = record();
        let now = jiff::Timestamp::UNIX_EPOCH;
        for key in ["a", "b"] {
            r.apply(
                Transition::RequestInput(Question::new(
                    key,
                    "elicitation/create",
                    json!({"message": key}),
                )),
                now,
            )
            .unwrap();
        }
        r.apply(
            Transition::AnswerInput {
                key: "a".into(),
                response: json!({"result": {"action": "cancel"}}),
            },
            now,
        )
        .unwrap();
        let v = value(&r);
        assert_eq!(v["status"], "input_required");
        assert_eq!(
            v["inputRequests"],
            json!({"b": {"method": "elicitation/create", "params": {"message": "b"}}})
        );
    }
}

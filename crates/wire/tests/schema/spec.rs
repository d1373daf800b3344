//! The schema's method names and the spec's own examples, read into our types; and a check that
//! the validator can fail at all.

use super::*;

/// Every method constant is the `method` of a request (with `id`) or notification (without)
/// in the schema.
#[test]
fn method_constants_match_the_schema() {
    let requests = [
        method::INITIALIZE,
        method::PING,
        method::TOOLS_LIST,
        method::TOOLS_CALL,
        method::ELICITATION_CREATE,
        method::SAMPLING_CREATE_MESSAGE,
        method::TASKS_GET,
        method::TASKS_RESULT,
        method::TASKS_LIST,
        method::TASKS_CANCEL,
        method::LOGGING_SET_LEVEL,
    ];
    let notifications = [
        method::INITIALIZED,
        method::NOTIFY_TASK_STATUS,
        method::NOTIFY_PROGRESS,
        method::NOTIFY_MESSAGE,
        method::NOTIFY_CANCELLED,
        method::NOTIFY_TOOLS_LIST_CHANGED,
    ];
    let defs = SPEC.document()["$defs"].as_object().unwrap();
    let declared = |m: &str, with_id: bool| {
        defs.values().any(|d| {
            d["properties"]["method"]["const"] == json!(m)
                && d["properties"].get("id").is_some() == with_id
        })
    };
    for m in requests {
        assert!(
            declared(m, true),
            "{m} is not a request method in the schema"
        );
    }
    for m in notifications {
        assert!(
            declared(m, false),
            "{m} is not a notification method in the schema"
        );
    }
    assert_eq!(LATEST_PROTOCOL_VERSION, "2025-11-25");
    assert_eq!(SUPPORTED_PROTOCOL_VERSIONS[0], LATEST_PROTOCOL_VERSION);
}

/// Reads a message from the spec, checks it against the schema, types `part` of it (its params
/// or result) as `T`, and checks that serializing `T` gives the same JSON back.
fn spec_example<T: Serialize + DeserializeOwned>(text: &str, part: &str) -> T {
    let msg: Value = serde_json::from_str(text).unwrap();
    schema::assert_valid_message(SPEC, &msg);
    assert!(jsonrpc::decode(text.as_bytes()).is_ok(), "{text}");
    let typed: T = serde_json::from_value(msg[part].clone()).unwrap();
    assert_eq!(to_value(&typed), msg[part], "{text}");
    typed
}

/// T-NEW-1, T-GET-1, T-RES-3, T-NOTE-1, T-LIST-1, T-CAN-1: the examples of MCP 2025-11-25's
/// "Tasks" page read into our types and serialize back unchanged.
#[test]
fn spec_examples_read_into_our_types() {
    let call: CallToolRequestParams = spec_example(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"New York"},"task":{"ttl":60000}}}"#,
        "params",
    );
    assert_eq!(call.task, Some(TaskMetadata { ttl: Some(60_000) }));
    let created: CreateTaskResult = spec_example(
        r#"{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840","status":"working","statusMessage":"The operation is now in progress.","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:40:00Z","ttl":60000,"pollInterval":5000}}}"#,
        "result",
    );
    assert_eq!(created.task.status, TaskStatus::Working);
    let get: GetTaskRequestParams = spec_example(
        r#"{"jsonrpc":"2.0","id":3,"method":"tasks/get","params":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840"}}"#,
        "params",
    );
    assert_eq!(get.task_id, TASK_ID);
    let got: GetTaskResult = spec_example(
        r#"{"jsonrpc":"2.0","id":3,"result":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840","status":"working","statusMessage":"The operation is now in progress.","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:40:00Z","ttl":30000,"pollInterval":5000}}"#,
        "result",
    );
    assert_eq!(got.task.ttl, Some(30_000));
    let _: GetTaskPayloadRequestParams = spec_example(
        r#"{"jsonrpc":"2.0","id":4,"method":"tasks/result","params":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840"}}"#,
        "params",
    );
    let payload: CallToolResult = spec_example(
        r#"{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"Current weather in New York:\nTemperature: 72°F\nConditions: Partly cloudy"}],"isError":false,"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840"}}}}"#,
        "result",
    );
    assert_eq!(
        meta::related_task_id(&to_value(&payload)).as_deref(),
        Some(TASK_ID)
    );
    let status: TaskStatusNotificationParams = spec_example(
        r#"{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840","status":"completed","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:50:00Z","ttl":60000,"pollInterval":5000}}"#,
        "params",
    );
    assert!(status.task.status.is_terminal());
    let _: ListTasksRequestParams = spec_example(
        r#"{"jsonrpc":"2.0","id":5,"method":"tasks/list","params":{"cursor":"optional-cursor-value"}}"#,
        "params",
    );
    let listed: ListTasksResult = spec_example(
        r#"{"jsonrpc":"2.0","id":5,"result":{"tasks":[{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840","status":"working","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:40:00Z","ttl":30000,"pollInterval":5000},{"taskId":"abc123-def456-ghi789","status":"completed","createdAt":"2025-11-25T09:15:00Z","lastUpdatedAt":"2025-11-25T10:40:00Z","ttl":60000}],"nextCursor":"next-page-cursor"}}"#,
        "result",
    );
    assert_eq!(listed.tasks.len(), 2);
    let _: CancelTaskRequestParams = spec_example(
        r#"{"jsonrpc":"2.0","id":6,"method":"tasks/cancel","params":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840"}}"#,
        "params",
    );
    let cancelled: CancelTaskResult = spec_example(
        r#"{"jsonrpc":"2.0","id":6,"result":{"taskId":"786512e2-9e0d-44bd-8f29-789f320fe840","status":"cancelled","statusMessage":"The task was cancelled by request.","createdAt":"2025-11-25T10:30:00Z","lastUpdatedAt":"2025-11-25T10:40:00Z","ttl":30000,"pollInterval":5000}}"#,
        "result",
    );
    assert_eq!(cancelled.task.status, TaskStatus::Cancelled);
    let server: InitializeResult = serde_json::from_value(json!({
        "protocolVersion": "2025-11-25",
        "capabilities": {"tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}},
        "serverInfo": {"name": "s", "version": "1"}
    }))
    .unwrap();
    assert!(server.capabilities.tasks.unwrap().tools_call_supported());
    let client: ClientCapabilities = serde_json::from_value(json!({
        "tasks": {"list": {}, "cancel": {}, "requests": {"sampling": {"createMessage": {}}, "elicitation": {"create": {}}}}
    }))
    .unwrap();
    let t = client.tasks.unwrap();
    assert!(t.sampling_create_message_supported() && t.elicitation_create_supported());
    for error in [
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Task augmentation required for tools/call requests"}}"#,
        r#"{"jsonrpc":"2.0","id":70,"error":{"code":-32602,"message":"Failed to retrieve task: Task not found"}}"#,
    ] {
        let Message::Response(Response {
            outcome: Err(e), ..
        }) = jsonrpc::decode(error.as_bytes()).unwrap()
        else {
            panic!("{error} is an error response");
        };
        assert!(e.code == ErrorCode::INVALID_REQUEST || e.code == ErrorCode::INVALID_PARAMS);
    }
}

/// The validator itself can fail: a Task without `ttl`, or with a bad status, is rejected, so
/// the checks above prove something.
#[test]
fn the_validator_rejects_broken_values() {
    let mut v = to_value(task(TaskStatus::Working));
    v.as_object_mut().unwrap().remove("ttl");
    assert!(schema::validate(SPEC, "Task", &v).is_err());
    let mut v = to_value(task(TaskStatus::Working));
    v["status"] = json!("running");
    assert!(schema::validate(SPEC, "Task", &v).is_err());
    let wrapped = json!({"task": to_value(task(TaskStatus::Working))});
    assert!(schema::validate(SPEC, "GetTaskResult", &wrapped).is_err());
}

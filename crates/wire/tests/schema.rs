//! Every wire type we emit, built as the runtime builds it and validated against the official MCP 2025-11-25 JSON Schema; plus the spec's own examples read into our types.

use std::fmt::Debug;

use mcp_tasks_wire::jsonrpc::{
    self, DecodeError, ErrorCode, ErrorObject, Message, Notification, Request, RequestId, Response,
};
use mcp_tasks_wire::v2025_11_25::*;
use mcp_tasks_wire::{meta, method};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use testkit::schema::{self, Spec};

#[path = "schema/spec.rs"]
mod spec;

const SPEC: Spec = Spec::Mcp20251125;
const TASK_ID: &str = "786512e2-9e0d-44bd-8f29-789f320fe840";

/// Serializes `value`, validates it against `def`, reads it back and checks nothing was lost.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(def: &str, value: &T) -> Value {
    let v = serde_json::to_value(value).unwrap();
    schema::assert_valid(SPEC, def, &v);
    let back: T = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(&back, value, "{def} did not survive a round trip");
    v
}

/// Validates a whole message against `JSONRPCMessage` (and its method's definition), and checks
/// that `decode` reads the serialized line back to the same message.
fn check_message(msg: impl Into<Message>) -> Value {
    let msg = msg.into();
    let line = serde_json::to_string(&msg).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    schema::assert_valid_message(SPEC, &v);
    assert_eq!(jsonrpc::decode(line.as_bytes()).unwrap(), msg, "{line}");
    v
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

fn task(status: TaskStatus) -> Task {
    Task {
        task_id: TASK_ID.into(),
        status,
        status_message: None,
        created_at: "2025-11-25T10:30:00Z".into(),
        last_updated_at: "2025-11-25T10:40:00.250+00:00".into(),
        ttl: Some(60_000),
        poll_interval: Some(5_000),
    }
}

/// T-OBJ-1, T-OBJ-2, T-LIFE-1: a Task in every status, with a ttl and with `null` (unlimited),
/// is a valid `Task`, and its timestamps are RFC 3339.
#[test]
fn task_in_every_status() {
    for status in [
        TaskStatus::Working,
        TaskStatus::InputRequired,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ] {
        let mut t = task(status);
        if status == TaskStatus::Failed {
            t.status_message = Some("tool reported isError: the city is unknown".into());
        }
        let v = check("Task", &t);
        assert_eq!(v["status"], json!(status.as_str()));
        assert!(schema::is_rfc3339(&t.created_at) && schema::is_rfc3339(&t.last_updated_at));

        let unlimited = Task {
            ttl: None,
            poll_interval: None,
            ..t
        };
        let v = check("Task", &unlimited);
        assert_eq!(
            v.get("ttl"),
            Some(&Value::Null),
            "ttl must be written as null"
        );
    }
}

/// T-NEW-1, T-NEW-3, T-NEW-4: the immediate answer to a task-augmented `tools/call` is a
/// `CreateTaskResult` holding a working task and may carry model-immediate-response `_meta`.
#[test]
fn create_task_result_with_model_immediate_response() {
    let result = CreateTaskResult {
        task: task(TaskStatus::Working),
        meta: Some(meta::model_immediate_response(
            "The weather lookup is running; I'll report back.",
        )),
    };
    let v = check("CreateTaskResult", &result);
    assert_eq!(
        v["_meta"][meta::MODEL_IMMEDIATE_RESPONSE],
        json!("The weather lookup is running; I'll report back.")
    );
    let resp = check_message(Response::result(RequestId::Number(1), v));
    schema::validate_response_to(SPEC, method::TOOLS_CALL, &resp).unwrap();
}

/// T-GET-1, T-OBJ-2: `tasks/get` answers the task's fields unwrapped, with createdAt,
/// lastUpdatedAt and the actual ttl.
#[test]
fn get_task_result() {
    let result = GetTaskResult::from(Task {
        status_message: Some("waiting for the user".into()),
        ..task(TaskStatus::InputRequired)
    });
    let v = check("GetTaskResult", &result);
    for key in ["createdAt", "lastUpdatedAt", "ttl"] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert!(
        v.get("task").is_none(),
        "GetTaskResult must not wrap the task"
    );
    let unlimited = GetTaskResult::from(Task {
        ttl: None,
        ..task(TaskStatus::Working)
    });
    let v = check("GetTaskResult", &unlimited);
    let resp = check_message(Response::result("g-1".into(), v));
    schema::validate_response_to(SPEC, method::TASKS_GET, &resp).unwrap();
}

/// T-LIST-1: a `tasks/list` page with a `nextCursor`.
#[test]
fn list_tasks_result_with_next_cursor() {
    let result = ListTasksResult {
        tasks: vec![
            task(TaskStatus::Working),
            Task {
                task_id: "abc123".into(),
                ttl: None,
                ..task(TaskStatus::Completed)
            },
        ],
        next_cursor: Some("opaque-cursor-2".into()),
        meta: None,
    };
    let v = check("ListTasksResult", &result);
    assert_eq!(v["nextCursor"], json!("opaque-cursor-2"));
    let last_page = ListTasksResult {
        tasks: vec![],
        next_cursor: None,
        meta: None,
    };
    check("ListTasksResult", &last_page);
    let resp = check_message(Response::result(RequestId::Number(5), v));
    schema::validate_response_to(SPEC, method::TASKS_LIST, &resp).unwrap();
}

/// Schema: a `CancelTaskResult` encodes as the schema says. What the server answers to
/// `tasks/cancel` (T-CAN-1) is proved against the binary in `mcp-tasks/tests/exact.rs`.
#[test]
fn cancel_task_result() {
    let result = CancelTaskResult::from(Task {
        status_message: Some("The task was cancelled by request.".into()),
        ..task(TaskStatus::Cancelled)
    });
    let v = check("CancelTaskResult", &result);
    let resp = check_message(Response::result(RequestId::Number(6), v));
    schema::validate_response_to(SPEC, method::TASKS_CANCEL, &resp).unwrap();
}

/// T-NOTE-1, T-META-2: `notifications/tasks/status` carries the full task and no related-task
/// `_meta`.
#[test]
fn task_status_notification() {
    let params = TaskStatusNotificationParams::from(task(TaskStatus::Completed));
    let v = check("TaskStatusNotificationParams", &params);
    assert_eq!(meta::related_task_id(&v), None);
    let msg = check_message(Notification::new(method::NOTIFY_TASK_STATUS, Some(v)));
    schema::assert_valid(SPEC, "TaskStatusNotification", &msg);
}

fn every_content_block() -> Vec<ContentBlock> {
    let annotations = Annotations {
        audience: Some(vec![Role::User, Role::Assistant]),
        priority: Some(0.8),
        last_modified: Some("2025-11-25T10:30:00Z".into()),
    };
    vec![
        ContentBlock::Text(TextContent {
            text: "72°F, partly cloudy".into(),
            annotations: Some(annotations.clone()),
            meta: None,
        }),
        ContentBlock::Image(ImageContent {
            data: "iVBORw0KGgo=".into(),
            mime_type: "image/png".into(),
            annotations: None,
            meta: None,
        }),
        ContentBlock::Audio(AudioContent {
            data: "UklGRg==".into(),
            mime_type: "audio/wav".into(),
            annotations: None,
            meta: None,
        }),
        ContentBlock::ResourceLink(ResourceLink {
            uri: "file:///reports/weather.csv".into(),
            name: "weather.csv".into(),
            title: Some("Weather report".into()),
            description: Some("Hourly readings".into()),
            mime_type: Some("text/csv".into()),
            size: Some(1024),
            annotations: Some(annotations),
            icons: Some(vec![
                json!({"src": "https://example.com/csv.png", "sizes": ["48x48"]}),
            ]),
            meta: None,
        }),
        ContentBlock::Resource(EmbeddedResource {
            resource: ResourceContents::Text(TextResourceContents {
                uri: "file:///reports/summary.txt".into(),
                mime_type: Some("text/plain".into()),
                text: "sunny".into(),
                meta: None,
            }),
            annotations: None,
            meta: None,
        }),
        ContentBlock::Resource(EmbeddedResource {
            resource: ResourceContents::Blob(BlobResourceContents {
                uri: "file:///reports/chart.png".into(),
                mime_type: Some("image/png".into()),
                blob: "iVBORw0KGgo=".into(),
                meta: None,
            }),
            annotations: None,
            meta: None,
        }),
    ]
}

/// A `CallToolResult` with every content block kind, structured content and `isError`.
#[test]
fn call_tool_result_with_every_content_block() {
    let result = CallToolResult {
        content: every_content_block(),
        structured_content: Some(json!({"temperature": 72, "conditions": "partly cloudy"})),
        is_error: Some(false),
        meta: None,
    };
    check("CallToolResult", &result);
    for block in every_content_block() {
        check("ContentBlock", &block);
    }
    check("CallToolResult", &CallToolResult::text("done"));
    let failed = check(
        "CallToolResult",
        &CallToolResult::error_text("city unknown"),
    );
    assert_eq!(failed["isError"], json!(true));
}

/// Schema: a `CallToolResult` carrying the related-task `_meta`, as [`meta::with_related_task`]
/// adds it, is a valid `tasks/result` answer. That the server answers with it (T-RES-1,
/// T-RES-3, T-META-1) is proved against the binary in `mcp-tasks/tests/exact.rs`.
#[test]
fn tasks_result_response_carries_related_task() {
    let typed = CallToolResult {
        meta: Some(meta::related_task(TASK_ID)),
        ..CallToolResult::text("Current weather in New York: 72°F")
    };
    let v = check("CallToolResult", &typed);
    assert_eq!(meta::related_task_id(&v).as_deref(), Some(TASK_ID));

    // The runtime stores results as JSON and adds the key on the way out.
    let mut stored = to_value(CallToolResult::text("stored"));
    meta::with_related_task(&mut stored, TASK_ID);
    schema::assert_valid(SPEC, "CallToolResult", &stored);
    schema::assert_valid(SPEC, "GetTaskPayloadResult", &stored);
    let related: meta::RelatedTaskMetadata =
        serde_json::from_value(stored["_meta"][meta::RELATED_TASK].clone()).unwrap();
    schema::assert_valid(SPEC, "RelatedTaskMetadata", &to_value(&related));
    assert_eq!(related.task_id, TASK_ID);

    let resp = check_message(Response::result(RequestId::Number(4), stored));
    schema::validate_response_to(SPEC, method::TASKS_RESULT, &resp).unwrap();
    assert_eq!(
        meta::related_task_id(&resp["result"]).as_deref(),
        Some(TASK_ID)
    );
}

/// Schema: the JSON-RPC errors `tasks/result` may answer with encode validly. That the server
/// answers a failed task with the underlying request's own error (T-RES-1) is proved against
/// the binary in `mcp-tasks/tests/exact.rs`.
#[test]
fn tasks_result_error_responses() {
    let original = ErrorObject::internal("the weather service is down")
        .with_data(json!({"retryAfterMs": 30000}));
    let v = check("Error", &original);
    assert_eq!(v["code"], json!(-32603));
    check_message(Response::error(Some(RequestId::Number(4)), original));
    let cancelled = ErrorObject::new(ErrorCode::REQUEST_CANCELLED, "task was cancelled");
    check_message(Response::error(Some(RequestId::Number(4)), cancelled));
}

/// T-CAP-1: the server declares `tasks` with list, cancel and `requests.tools.call`.
#[test]
fn initialize_result_with_server_tasks_capability() {
    let result = InitializeResult {
        protocol_version: LATEST_PROTOCOL_VERSION.into(),
        capabilities: ServerCapabilities {
            logging: Some(Empty {}),
            tools: Some(ToolsCapability {
                list_changed: Some(true),
            }),
            tasks: Some(ServerTasksCapability {
                list: Some(Empty {}),
                cancel: Some(Empty {}),
                requests: Some(ServerTaskRequests {
                    tools: Some(ServerTaskToolRequests {
                        call: Some(Empty {}),
                    }),
                }),
            }),
            ..ServerCapabilities::default()
        },
        server_info: Implementation {
            title: Some("MCP Tasks demo".into()),
            website_url: Some("https://example.invalid/mcp-tasks".into()),
            ..Implementation::new("mcp-tasks", "0.1.0")
        },
        instructions: Some("Long tools run as tasks; poll tasks/get.".into()),
    };
    let v = check("InitializeResult", &result);
    assert_eq!(
        v["capabilities"]["tasks"],
        json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
    );
    assert!(result.capabilities.tasks.unwrap().tools_call_supported());
    let resp = check_message(Response::result(RequestId::Number(0), v));
    schema::validate_response_to(SPEC, method::INITIALIZE, &resp).unwrap();
    // T-LIST-3: a receiver that cannot tell requestors apart leaves `list` out.
    check(
        "ServerCapabilities",
        &ServerCapabilities {
            tasks: Some(ServerTasksCapability {
                list: None,
                ..result.capabilities.tasks.unwrap()
            }),
            ..ServerCapabilities::default()
        },
    );
}

/// T-CAP-1: the client declares `tasks` for `sampling.createMessage` and `elicitation.create`.
#[test]
fn client_capabilities_with_tasks() {
    let caps = ClientCapabilities {
        roots: Some(RootsCapability {
            list_changed: Some(true),
        }),
        sampling: Some(SamplingCapability {
            context: Some(Empty {}),
            tools: Some(Empty {}),
        }),
        elicitation: Some(ElicitationCapability {
            form: Some(Empty {}),
            url: Some(Empty {}),
        }),
        tasks: Some(ClientTasksCapability {
            list: Some(Empty {}),
            cancel: Some(Empty {}),
            requests: Some(ClientTaskRequests {
                sampling: Some(ClientTaskSamplingRequests {
                    create_message: Some(Empty {}),
                }),
                elicitation: Some(ClientTaskElicitationRequests {
                    create: Some(Empty {}),
                }),
            }),
        }),
        ..ClientCapabilities::default()
    };
    let v = check("ClientCapabilities", &caps);
    assert_eq!(
        v["tasks"]["requests"],
        json!({"sampling": {"createMessage": {}}, "elicitation": {"create": {}}})
    );
    let t = caps.tasks.unwrap();
    assert!(t.sampling_create_message_supported() && t.elicitation_create_supported());

    let params = InitializeRequestParams {
        protocol_version: LATEST_PROTOCOL_VERSION.into(),
        capabilities: caps,
        client_info: Implementation::new("mcp-tasks-client", "0.1.0"),
    };
    let p = check("InitializeRequestParams", &params);
    check_message(Request::new(1, method::INITIALIZE, Some(p)));
    check_message(Notification::new(method::INITIALIZED, None));
}

/// T-CAP-5: `tools/list` shows `execution.taskSupport` as forbidden, optional or required (and
/// absent, which means forbidden).
#[test]
fn tools_with_each_task_support() {
    let tool = |name: &str, support: Option<TaskSupport>| Tool {
        name: name.into(),
        title: Some(format!("The {name} tool")),
        description: Some("Looks up the weather.".into()),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        output_schema: Some(
            json!({"type": "object", "properties": {"temperature": {"type": "number"}}}),
        ),
        annotations: Some(json!({"readOnlyHint": true, "openWorldHint": true})),
        execution: support.map(|s| ToolExecution {
            task_support: Some(s),
        }),
        icons: None,
        meta: None,
    };
    let tools = vec![
        tool("plain", None),
        tool("never", Some(TaskSupport::Forbidden)),
        tool("maybe", Some(TaskSupport::Optional)),
        tool("always", Some(TaskSupport::Required)),
    ];
    let expected = [
        TaskSupport::Forbidden,
        TaskSupport::Forbidden,
        TaskSupport::Optional,
        TaskSupport::Required,
    ];
    for (t, want) in tools.iter().zip(expected) {
        check("Tool", t);
        assert_eq!(t.task_support(), want, "{}", t.name);
    }
    let result = ListToolsResult {
        tools,
        next_cursor: Some("page-2".into()),
    };
    let v = check("ListToolsResult", &result);
    assert_eq!(
        v["tools"][3]["execution"],
        json!({"taskSupport": "required"})
    );
    let resp = check_message(Response::result(RequestId::Number(2), v));
    schema::validate_response_to(SPEC, method::TOOLS_LIST, &resp).unwrap();
    let list = to_value(PaginatedRequestParams {
        cursor: Some("page-2".into()),
    });
    schema::assert_valid(SPEC, "PaginatedRequestParams", &list);
    check_message(Request::new(2, method::TOOLS_LIST, Some(list)));
}

/// T-NEW-1, T-PROG-1: the requests a client sends: a task-augmented `tools/call` with a
/// progress token, and `tasks/get|result|list|cancel`.
#[test]
fn requests_we_send() {
    let mut arguments = serde_json::Map::new();
    arguments.insert("city".into(), json!("New York"));
    let call = CallToolRequestParams {
        name: "get_weather".into(),
        arguments: Some(arguments),
        task: Some(TaskMetadata { ttl: Some(60_000) }),
        meta: Some(RequestMeta {
            progress_token: Some(ProgressToken::from("p-1")),
            other: serde_json::Map::new(),
        }),
    };
    let p = check("CallToolRequestParams", &call);
    check_message(Request::new(1, method::TOOLS_CALL, Some(p)));
    check("TaskMetadata", &TaskMetadata::default());

    let get = to_value(GetTaskRequestParams {
        task_id: TASK_ID.into(),
    });
    check_message(Request::new(3, method::TASKS_GET, Some(get)));
    let result = to_value(GetTaskPayloadRequestParams {
        task_id: TASK_ID.into(),
    });
    check_message(Request::new(4, method::TASKS_RESULT, Some(result)));
    let list = to_value(ListTasksRequestParams {
        cursor: Some("c".into()),
    });
    check_message(Request::new(5, method::TASKS_LIST, Some(list)));
    check_message(Request::new(5, method::TASKS_LIST, None));
    let cancel = to_value(CancelTaskRequestParams {
        task_id: TASK_ID.into(),
    });
    check_message(Request::new(6, method::TASKS_CANCEL, Some(cancel)));
    check_message(Request::new("ping-1", method::PING, None));
    let level = to_value(SetLevelRequestParams {
        level: LoggingLevel::Warning,
    });
    check_message(Request::new(7, method::LOGGING_SET_LEVEL, Some(level)));
}

/// Schema: form and URL elicitations, with the related-task `_meta` and with `task`, encode
/// validly. The server's own elicitations (T-META-1, T-RES-4) are checked in
/// `mcp-tasks/tests/exact.rs` and `input_required.rs`.
#[test]
fn elicit_request_form_and_url() {
    let form = ElicitRequestParams {
        meta: Some(meta::related_task(TASK_ID)),
        ..ElicitRequestParams::form(
            "Which city?",
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string", "title": "City", "minLength": 1},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                    "units": {"type": "string", "enum": ["metric", "imperial"]}
                },
                "required": ["city"]
            }),
        )
    };
    let v = check("ElicitRequestParams", &form);
    schema::assert_valid(SPEC, "ElicitRequestFormParams", &v);
    assert_eq!(meta::related_task_id(&v).as_deref(), Some(TASK_ID));
    check_message(Request::new(100, method::ELICITATION_CREATE, Some(v)));

    let as_task = ElicitRequestParams {
        task: Some(TaskMetadata { ttl: Some(300_000) }),
        ..ElicitRequestParams::url(
            "Sign in to the weather service",
            "https://example.com/oauth/start?state=abc",
            "elicit-1",
        )
    };
    let v = check("ElicitRequestParams", &as_task);
    schema::assert_valid(SPEC, "ElicitRequestURLParams", &v);
    check_message(Request::new(101, method::ELICITATION_CREATE, Some(v)));
}

/// Schema: elicitation answers, with the related-task `_meta`, encode validly.
#[test]
fn elicit_results() {
    let mut content = serde_json::Map::new();
    content.insert("city".into(), json!("Paris"));
    content.insert("days".into(), json!(3));
    content.insert("alerts".into(), json!(true));
    content.insert("tags".into(), json!(["rain", "wind"]));
    let accept = ElicitResult {
        meta: Some(meta::related_task(TASK_ID)),
        ..ElicitResult::accept(content)
    };
    let v = check("ElicitResult", &accept);
    assert_eq!(meta::related_task_id(&v).as_deref(), Some(TASK_ID));
    check_message(Response::result(RequestId::Number(100), v));
    check("ElicitResult", &ElicitResult::decline());
    check("ElicitResult", &ElicitResult::cancel());
}

/// Schema: a sampling request as a task and tied to a tool task, and its result, encode
/// validly.
#[test]
fn create_message_request_and_result() {
    let params = CreateMessageRequestParams {
        messages: vec![
            SamplingMessage::text(Role::User, "Summarize the forecast."),
            SamplingMessage {
                role: Role::Assistant,
                content: json!([{"type": "text", "text": "Sure."}, {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}]),
                meta: None,
            },
        ],
        model_preferences: Some(json!({"hints": [{"name": "claude"}], "speedPriority": 0.5})),
        system_prompt: Some("Be brief.".into()),
        include_context: Some(IncludeContext::None),
        temperature: Some(0.2),
        stop_sequences: Some(vec!["\n\n".into()]),
        metadata: Some(json!({"requestSource": "weather"})),
        tools: Some(vec![Tool {
            name: "lookup".into(),
            title: None,
            description: None,
            input_schema: json!({"type": "object"}),
            output_schema: None,
            annotations: None,
            execution: None,
            icons: None,
            meta: None,
        }]),
        tool_choice: Some(json!({"mode": "auto"})),
        task: Some(TaskMetadata {
            ttl: Some(3_600_000),
        }),
        meta: Some(meta::related_task(TASK_ID)),
        ..CreateMessageRequestParams::new(vec![], 200)
    };
    let v = check("CreateMessageRequestParams", &params);
    check_message(Request::new(200, method::SAMPLING_CREATE_MESSAGE, Some(v)));
    let minimal =
        CreateMessageRequestParams::new(vec![SamplingMessage::text(Role::User, "hi")], 10);
    check("CreateMessageRequestParams", &minimal);

    let result = CreateMessageResult {
        role: Role::Assistant,
        content: json!({"type": "text", "text": "Sunny all week."}),
        model: "claude-sonnet".into(),
        stop_reason: Some("endTurn".into()),
        meta: Some(meta::related_task(TASK_ID)),
    };
    let v = check("CreateMessageResult", &result);
    let resp = check_message(Response::result(RequestId::Number(200), v));
    schema::validate_response_to(SPEC, method::SAMPLING_CREATE_MESSAGE, &resp).unwrap();
}

/// Schema: progress, log and cancellation notifications encode validly. The server's progress
/// of a task naming it (T-META-1) is checked in `mcp-tasks/tests/exact.rs`.
#[test]
fn notification_params() {
    let progress = ProgressNotificationParams {
        progress_token: ProgressToken::Number(7),
        progress: 50.0,
        total: Some(100.0),
        message: Some("Half way".into()),
        meta: Some(meta::related_task(TASK_ID)),
    };
    let v = check("ProgressNotificationParams", &progress);
    check_message(Notification::new(method::NOTIFY_PROGRESS, Some(v)));

    let log = LoggingMessageNotificationParams {
        level: LoggingLevel::Warning,
        logger: Some("weather".into()),
        data: json!({"msg": "slow upstream", "latencyMs": 1200}),
        meta: Some(meta::related_task(TASK_ID)),
    };
    let v = check("LoggingMessageNotificationParams", &log);
    check_message(Notification::new(method::NOTIFY_MESSAGE, Some(v)));
    for level in [
        LoggingLevel::Debug,
        LoggingLevel::Info,
        LoggingLevel::Notice,
        LoggingLevel::Warning,
        LoggingLevel::Error,
        LoggingLevel::Critical,
        LoggingLevel::Alert,
        LoggingLevel::Emergency,
    ] {
        schema::assert_valid(SPEC, "LoggingLevel", &to_value(level));
    }

    let cancelled = CancelledNotificationParams {
        request_id: Some(RequestId::String("r-9".into())),
        reason: Some("user pressed stop".into()),
    };
    let v = check("CancelledNotificationParams", &cancelled);
    check_message(Notification::new(method::NOTIFY_CANCELLED, Some(v)));
    check_message(Notification::new(method::NOTIFY_TOOLS_LIST_CHANGED, None));
}

/// JSON-RPC envelopes: request, notification, result and error responses (with and without an
/// id), including the errors `decode` produces.
#[test]
fn jsonrpc_envelopes() {
    let req = check_message(Request::new(
        RequestId::String("req-1".into()),
        "x/custom",
        Some(json!({})),
    ));
    schema::assert_valid(SPEC, "JSONRPCRequest", &req);
    let note = check_message(Notification::new("notifications/custom", None));
    schema::assert_valid(SPEC, "JSONRPCNotification", &note);
    let ok = check_message(Response::result(RequestId::Number(i64::MAX), json!({})));
    schema::assert_valid(SPEC, "JSONRPCResultResponse", &ok);
    schema::assert_valid(SPEC, "JSONRPCResponse", &ok);

    for error in [
        ErrorObject::parse_error("x"),
        ErrorObject::invalid_request("x"),
        ErrorObject::method_not_found("tools/nope"),
        ErrorObject::invalid_params("unknown task id \"t\""),
        ErrorObject::internal("x"),
        ErrorObject::new(ErrorCode::REQUEST_CANCELLED, "x"),
        ErrorObject::new(ErrorCode::MISSING_CAPABILITY, "x"),
        ErrorObject::new(ErrorCode(-31000), "a code we don't know"),
    ] {
        check("Error", &error);
        let err = check_message(Response::error(Some(RequestId::Number(1)), error));
        schema::assert_valid(SPEC, "JSONRPCErrorResponse", &err);
        schema::assert_valid(SPEC, "JSONRPCResponse", &err);
    }

    // URL elicitation required: the one error whose shape the schema fixes.
    let url_required = ErrorObject::new(ErrorCode::URL_ELICITATION_REQUIRED, "sign in first")
        .with_data(json!({"elicitations": [to_value(ElicitRequestParams::url(
            "Sign in",
            "https://example.com/login",
            "e-2",
        ))]}));
    let v = check_message(Response::error(Some(RequestId::Number(9)), url_required));
    schema::assert_valid(SPEC, "URLElicitationRequiredError", &v);

    // What the runtime answers to lines it cannot read.
    for (line, has_id) in [
        (&b"{not json"[..], false),
        (&b"[]"[..], false),
        (&br#"{"jsonrpc":"1.0","id":12,"method":"ping"}"#[..], true),
        (&br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#[..], false),
        (
            &br#"{"jsonrpc":"2.0","id":"s","method":"m","params":"p"}"#[..],
            true,
        ),
    ] {
        let err: DecodeError = jsonrpc::decode(line).unwrap_err();
        assert_eq!(err.id().is_some(), has_id, "{err}");
        let resp = check_message(Response::error(err.id(), err.to_error_object()));
        schema::assert_valid(SPEC, "JSONRPCErrorResponse", &resp);
    }
}

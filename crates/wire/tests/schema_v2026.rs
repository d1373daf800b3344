//! The MCP 2026-07-28 wire types we emit, built as the runtime builds them and validated against
//! the official 2026-07-28 schema and the tasks extension's schema; and the era's method names
//! against those schemas.

use mcp_tasks_wire::jsonrpc::{Notification, RequestId, Response};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{Implementation, TaskStatus, ToolsCapability};
use mcp_tasks_wire::v2026_07_28::{
    header_mismatch, missing_capability, unsupported_version, CacheScope, CreateTaskResult,
    DetailedTask, DiscoverResult, InputRequest, InputRequests, InputRequiredResult, ResultType,
    ServerCapabilities, SubscriptionFilter, SubscriptionsAcknowledgedParams, Task, SERVER_INFO,
    SUBSCRIPTION_ID, SUPPORTED_VERSIONS, TASKS_EXTENSION,
};
use serde_json::{json, Map, Value};
use testkit::schema::{self, Spec};

fn task(status: TaskStatus) -> Task {
    Task {
        task_id: "786512e2-9e0d-44bd-8f29-789f320fe840".into(),
        status,
        status_message: None,
        created_at: "2026-07-28T10:30:00Z".into(),
        last_updated_at: "2026-07-28T10:40:00.250Z".into(),
        ttl_ms: Some(60_000),
        poll_interval_ms: Some(500),
    }
}

fn value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

/// B-1, X-1: a discovery result with the extension declared as `{}` and the server named in
/// `_meta`.
#[test]
fn discover_result() {
    let mut extensions = Map::new();
    extensions.insert(TASKS_EXTENSION.into(), json!({}));
    let info = Implementation::new("mcp-tasks", "0.1.0");
    let mut meta = Map::new();
    meta.insert(SERVER_INFO.into(), value(&info));
    let result = DiscoverResult {
        result_type: ResultType::Complete,
        supported_versions: SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        capabilities: ServerCapabilities {
            tools: Some(ToolsCapability {
                list_changed: Some(false),
            }),
            logging: None,
            extensions: Some(extensions),
        },
        server_info: info,
        instructions: Some("Tools that may run as tasks.".into()),
        ttl_ms: Some(60_000),
        cache_scope: Some(CacheScope::Public),
        meta: Some(meta),
    };
    schema::assert_valid(Spec::Mcp20260728, "DiscoverResult", &value(&result));
}

/// a flat CreateTaskResult, with and without a ttl.
#[test]
fn create_task_result() {
    let created = value(CreateTaskResult::from(task(TaskStatus::Working)));
    schema::assert_valid(Spec::ExtTasks, "CreateTaskResult", &created);
    let unlimited = value(CreateTaskResult::from(Task {
        ttl_ms: None,
        poll_interval_ms: None,
        ..task(TaskStatus::Working)
    }));
    assert_eq!(unlimited["ttlMs"], Value::Null);
    schema::assert_valid(Spec::ExtTasks, "CreateTaskResult", &unlimited);
}

/// The detailed task of `status`, with what that status inlines.
fn detailed(status: TaskStatus) -> DetailedTask {
    let mut d = DetailedTask {
        result_type: Some(ResultType::Complete),
        task: task(status),
        result: None,
        error: None,
        input_requests: None,
    };
    match status {
        TaskStatus::Completed => {
            d.result = Some(json!({"content": [{"type": "text", "text": "no"}],
                                   "isError": true, "resultType": "complete"}));
        }
        TaskStatus::Failed => {
            d.error = Some(mcp_tasks_wire::jsonrpc::ErrorObject::internal("boom"));
        }
        TaskStatus::InputRequired => {
            let mut q = InputRequests::new();
            q.insert(
                "name".into(),
                InputRequest {
                    method: method::ELICITATION_CREATE.into(),
                    params: json!({"mode": "form", "message": "Your name?",
                                   "requestedSchema": {"type": "object",
                                   "properties": {"name": {"type": "string"}}}}),
                },
            );
            d.input_requests = Some(q);
        }
        TaskStatus::Working | TaskStatus::Cancelled => {}
    }
    d
}

const STATUSES: [TaskStatus; 5] = [
    TaskStatus::Working,
    TaskStatus::InputRequired,
    TaskStatus::Completed,
    TaskStatus::Failed,
    TaskStatus::Cancelled,
];

/// `tasks/get` in every status, the inlined result itself a 2026-07-28
/// `CallToolResult`.
#[test]
fn get_task_result_in_every_status() {
    for status in STATUSES {
        let v = value(detailed(status));
        schema::assert_valid(Spec::ExtTasks, "GetTaskResult", &v);
        if status == TaskStatus::Completed {
            schema::assert_valid(Spec::Mcp20260728, "CallToolResult", &v["result"]);
        }
    }
}

/// `notifications/tasks` in every status, tagged with its subscription.
#[test]
fn task_status_notification_in_every_status() {
    for status in STATUSES {
        let mut params = value(DetailedTask {
            result_type: None,
            ..detailed(status)
        });
        params["_meta"] = json!({SUBSCRIPTION_ID: "sub-1"});
        let message = value(Notification::new(method::NOTIFY_TASKS, Some(params)));
        schema::assert_valid(Spec::ExtTasks, "TaskStatusNotification", &message);
    }
}

/// B-7, X-7: the acknowledgement of a listen stream, with the task ids agreed to.
#[test]
fn subscriptions_acknowledged() {
    let mut meta = Map::new();
    meta.insert(SUBSCRIPTION_ID.into(), json!(7));
    let params = SubscriptionsAcknowledgedParams {
        notifications: SubscriptionFilter {
            task_ids: Some(vec!["t-1".into()]),
            ..SubscriptionFilter::default()
        },
        meta: Some(meta),
    };
    let message = value(Notification::new(
        method::NOTIFY_SUBSCRIPTIONS_ACKNOWLEDGED,
        Some(value(params)),
    ));
    schema::assert_valid_message(Spec::Mcp20260728, &message);
    schema::assert_valid(
        Spec::ExtTasks,
        "TaskSubscriptionAcknowledgedNotifications",
        &message["params"]["notifications"],
    );
}

/// B-6: an input-required result.
#[test]
fn input_required_result() {
    let mut q = InputRequests::new();
    q.insert(
        "roots".into(),
        InputRequest {
            method: method::ROOTS_LIST.into(),
            params: json!({}),
        },
    );
    let v = value(InputRequiredResult::new(q, Some("sealed".into())));
    schema::assert_valid(Spec::Mcp20260728, "InputRequiredResult", &v);
}

/// B-3, B-5, X-9: the era's three errors, as whole responses.
#[test]
fn the_eras_errors() {
    let id = Some(RequestId::Number(1));
    for (def, error) in [
        (
            "UnsupportedProtocolVersionError",
            unsupported_version("v999.0.0"),
        ),
        ("HeaderMismatchError", header_mismatch("Mcp-Name differs")),
        (
            "MissingRequiredClientCapabilityError",
            missing_capability("declare it", json!({"extensions": {TASKS_EXTENSION: {}}})),
        ),
    ] {
        let response = value(Response::error(id.clone(), error));
        schema::assert_valid(Spec::Mcp20260728, def, &response);
        schema::assert_valid_message(Spec::Mcp20260728, &response);
    }
}

/// The era's method constants name requests (with `id`) or notifications (without) of the
/// 2026-07-28 schema or, for the extension's, of its schema.
#[test]
fn method_constants_match_the_schemas() {
    let has = |spec: Spec, method: &str, with_id: bool| {
        spec.document()["$defs"]
            .as_object()
            .unwrap()
            .values()
            .any(|def| {
                let props = def
                    .get("properties")
                    .or_else(|| def.pointer("/allOf/1/properties"));
                props
                    .and_then(|p| p.get("method"))
                    .and_then(|m| m.get("const"))
                    .and_then(Value::as_str)
                    == Some(method)
                    && props.and_then(|p| p.get("id")).is_some() == with_id
            })
    };
    for m in [method::SERVER_DISCOVER, method::SUBSCRIPTIONS_LISTEN] {
        assert!(has(Spec::Mcp20260728, m, true), "{m}");
    }
    assert!(has(
        Spec::Mcp20260728,
        method::NOTIFY_SUBSCRIPTIONS_ACKNOWLEDGED,
        false
    ));
    for m in [
        method::TASKS_GET,
        method::TASKS_UPDATE,
        method::TASKS_CANCEL,
    ] {
        assert!(
            has(Spec::ExtTasks, m, true) || has(Spec::ExtTasks, m, false),
            "{m}"
        );
    }
    assert!(has(Spec::ExtTasks, method::NOTIFY_TASKS, false));
}

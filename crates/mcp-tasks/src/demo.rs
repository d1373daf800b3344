//! The demo tools of `mcp-tasks serve`: one per way a tool can behave as a task.

use std::time::Duration;

use mcp_tasks_runtime::server::{ToolContext, ToolDef, ToolResult, Tools};
use mcp_tasks_runtime::JsonSchema;
use mcp_tasks_wire::v2025_11_25::{
    CallToolResult, CreateMessageRequestParams, ElicitAction, ElicitRequestParams, Role,
    SamplingMessage, TaskSupport,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// All demo tools; each one's `inputSchema` comes from its argument type.
pub(crate) fn tools() -> Tools {
    use TaskSupport::{Optional, Required};
    let def = |name: &str, description: &str| ToolDef::new(name).description(description);
    Tools::new()
        .tool(
            def("echo", "Returns the text at once. Cannot run as a task."),
            echo,
        )
        .tool(
            def(
                "slow_echo",
                "Waits delay_ms (default 1000), then returns the text. May run as a task; in \
                 MCP 2026-07-28 it answers plainly when done within 500 ms, else becomes one.",
            )
            .task_support(Optional)
            // Below the default delay, so a default call shows a 2026-07-28 call becoming a task.
            .task_after(Duration::from_millis(500)),
            slow_echo,
        )
        .tool(
            def(
                "must_be_task",
                "Waits delay_ms (default 100), then returns \"ok\". Must run as a task.",
            )
            .task_support(Required),
            must_be_task,
        )
        .tool(
            def(
                "fail",
                "Returns an isError result with the message; as a task it ends failed.",
            )
            .task_support(Optional),
            fail,
        )
        .tool(
            def(
                "ask_name",
                "Asks the user's name through elicitation and greets them. Must run as a task.",
            )
            .task_support(Required),
            ask_name,
        )
        .tool(
            def(
                "countdown",
                "Counts down from `from`, one step every interval_ms (default 100), reporting \
                 progress at each step.",
            )
            .task_support(Optional),
            countdown,
        )
        .tool(
            def(
                "summarize",
                "Asks the client's model to summarize the text (sampling). When the client hosts \
                 sampling tasks, the request runs as a task on the client, which this tool polls.",
            )
            .task_support(Optional),
            summarize,
        )
        .tool(
            def(
                "approve",
                "Asks the user to approve an action (elicitation). When the client hosts \
                 elicitation tasks, the question runs as a task on the client, which this tool \
                 polls, so an approval may take as long as its ttl.",
            )
            .task_support(Optional),
            approve,
        )
        .tool(
            def(
                "resumable_wait",
                "Waits delay_ms (default 1000) and returns \"waited N ms\". May run as a task; \
                 declared resumable: if the server restarts while it runs, it runs again from the \
                 start (at-least-once).",
            )
            .task_support(Optional)
            .resumable(),
            resumable_wait,
        )
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Text {
    text: String,
}

async fn echo(args: Text, _cx: ToolContext) -> ToolResult {
    Ok(CallToolResult::text(args.text))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct SlowEcho {
    text: String,
    delay_ms: Option<u64>,
}

async fn slow_echo(args: SlowEcho, _cx: ToolContext) -> ToolResult {
    tokio::time::sleep(Duration::from_millis(args.delay_ms.unwrap_or(1000))).await;
    Ok(CallToolResult::text(args.text))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Delay {
    delay_ms: Option<u64>,
}

async fn must_be_task(args: Delay, _cx: ToolContext) -> ToolResult {
    tokio::time::sleep(Duration::from_millis(args.delay_ms.unwrap_or(100))).await;
    Ok(CallToolResult::text("ok"))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Fail {
    message: Option<String>,
}

async fn fail(args: Fail, _cx: ToolContext) -> ToolResult {
    Ok(CallToolResult::error_text(
        args.message
            .unwrap_or_else(|| "the tool failed as asked".into()),
    ))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct NoArgs {}

async fn ask_name(_args: NoArgs, cx: ToolContext) -> ToolResult {
    cx.set_status_message("waiting for the user's name").await?;
    let question = ElicitRequestParams::form(
        "What is your name?",
        json!({
            "type": "object",
            "properties": {"name": {"type": "string", "title": "Name", "description": "Your name"}},
            "required": ["name"]
        }),
    );
    let answer = cx.elicit(question).await?;
    let name = match answer.action {
        ElicitAction::Accept => answer
            .content
            .as_ref()
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        ElicitAction::Decline | ElicitAction::Cancel => None,
    };
    Ok(CallToolResult::text(format!(
        "Hello, {}!",
        name.as_deref().unwrap_or("stranger")
    )))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Countdown {
    #[schemars(range(max = 100_000))]
    from: u64,
    interval_ms: Option<u64>,
}

async fn countdown(args: Countdown, cx: ToolContext) -> ToolResult {
    let every = Duration::from_millis(args.interval_ms.unwrap_or(100));
    let total = args.from as f64;
    for step in 1..=args.from {
        tokio::time::sleep(every).await;
        let left = args.from - step;
        cx.progress(step as f64, Some(total), Some(&format!("{left} to go")));
    }
    Ok(CallToolResult::text(format!(
        "Liftoff after counting down from {}!",
        args.from
    )))
}

/// Safe to run twice: it has no effect but its answer, so it can be declared resumable.
async fn resumable_wait(args: Delay, _cx: ToolContext) -> ToolResult {
    let ms = args.delay_ms.unwrap_or(1000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(CallToolResult::text(format!("waited {ms} ms")))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Summarize {
    text: String,
}

/// How long a question sent as a client-hosted task may stay open.
const CLIENT_TASK_TTL_MS: u64 = 10 * 60 * 1000;

async fn summarize(args: Summarize, cx: ToolContext) -> ToolResult {
    let mut request =
        CreateMessageRequestParams::new(vec![SamplingMessage::text(Role::User, args.text)], 200);
    request.system_prompt = Some("Summarize the user's text in one sentence.".into());
    let answer = if cx.client_hosts_sampling() {
        cx.set_status_message("waiting for the client's model (a task on the client)")
            .await?;
        cx.create_message_as_task(request, Some(CLIENT_TASK_TTL_MS))
            .await?
    } else {
        cx.set_status_message("waiting for the client's model")
            .await?;
        cx.create_message(request).await?
    };
    let text = answer
        .content
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(CallToolResult::text(format!(
        "{} (model: {})",
        text, answer.model
    )))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Approve {
    action: String,
}

async fn approve(args: Approve, cx: ToolContext) -> ToolResult {
    let question = ElicitRequestParams::form(
        format!("Approve: {}?", args.action),
        json!({
            "type": "object",
            "properties": {"approve": {"type": "boolean", "title": "Approve", "default": false}},
            "required": ["approve"]
        }),
    );
    cx.set_status_message("waiting for approval").await?;
    let answer = if cx.client_hosts_elicitation() {
        cx.elicit_as_task(question, Some(CLIENT_TASK_TTL_MS))
            .await?
    } else {
        cx.elicit(question).await?
    };
    let approved = answer.action == ElicitAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|c| c.get("approve"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    Ok(if approved {
        CallToolResult::text(format!("approved: {}", args.action))
    } else {
        CallToolResult::error_text(format!("not approved: {}", args.action))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schemas derived from the argument types say what the hand-written ones said before
    /// (T-CAP-5 for `execution`), give or take the dialect marker and integer formats, which
    /// only add information.
    #[test]
    fn derived_schemas_match_the_published_ones() {
        let want = json!({
            "echo": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "slow_echo": {"type": "object", "properties": {
                "text": {"type": "string"},
                "delay_ms": {"type": "integer", "minimum": 0}
            }, "required": ["text"]},
            "must_be_task": {"type": "object", "properties": {"delay_ms": {"type": "integer", "minimum": 0}}},
            "fail": {"type": "object", "properties": {"message": {"type": "string"}}},
            "ask_name": {"type": "object", "properties": {}},
            "countdown": {"type": "object", "properties": {
                "from": {"type": "integer", "minimum": 0, "maximum": 100000},
                "interval_ms": {"type": "integer", "minimum": 0}
            }, "required": ["from"]},
            "summarize": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "approve": {"type": "object", "properties": {"action": {"type": "string"}}, "required": ["action"]},
            "resumable_wait": {"type": "object", "properties": {"delay_ms": {"type": "integer", "minimum": 0}}},
        });
        let tools = tools();
        let defs = tools.definitions();
        let names: Vec<&str> = defs.iter().map(|t| t.name.as_str()).collect();
        let want_names: Vec<&str> = want
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, want_names);
        for tool in &defs {
            let mut got = tool.input_schema.clone();
            let root = got.as_object_mut().unwrap();
            assert_eq!(
                root.remove("$schema"),
                Some(json!("https://json-schema.org/draft/2020-12/schema"))
            );
            if let Some(Value::Object(props)) = root.get_mut("properties") {
                for prop in props.values_mut() {
                    prop.as_object_mut().unwrap().remove("format");
                }
            }
            assert_eq!(got, want[&tool.name], "{}", tool.name);
        }
        let support = |name: &str| {
            defs.iter()
                .find(|t| t.name == name)
                .map(|t| t.task_support())
        };
        assert_eq!(support("echo"), Some(TaskSupport::Forbidden));
        assert_eq!(support("ask_name"), Some(TaskSupport::Required));
        assert_eq!(support("countdown"), Some(TaskSupport::Optional));
        assert!(tools.is_resumable("resumable_wait") && !tools.is_resumable("slow_echo"));
    }
}

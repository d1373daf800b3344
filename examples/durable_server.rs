//! A durable MCP task server in a screenful: two typed tools, tasks kept in SQLite.
//!
//! ```text
//! cargo run --example durable_server                          # stdio, tasks in durable-tasks.db
//! cargo run --example durable_server -- sqlite:/tmp/t.db --http 127.0.0.1:8080
//! ```
//!
//! Stop it with Ctrl-C: open exchanges and running tasks get a grace period. Kill it instead
//! and start it again on the same file: the tasks it was running come back `failed`, never
//! stuck in `working`.

use std::time::Duration;

use mcp_tasks_runtime::server::{Server, ToolContext, ToolDef, ToolResult};
use mcp_tasks_runtime::{
    CallToolResult, ElicitAction, ElicitRequestParams, JsonSchema, TaskSupport,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct SlowAdd {
    /// The numbers to add.
    numbers: Vec<i64>,
    /// How long to spend on each number, in milliseconds.
    #[schemars(range(max = 10_000))]
    step_ms: Option<u64>,
}

/// Slow on purpose: one step per number, each reported as progress.
async fn slow_add(args: SlowAdd, cx: ToolContext) -> ToolResult {
    let total = args.numbers.len() as f64;
    let mut sum = 0i64;
    for (i, n) in args.numbers.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(args.step_ms.unwrap_or(200))).await;
        sum = sum.saturating_add(*n);
        cx.progress(
            (i + 1) as f64,
            Some(total),
            Some(&format!("sum so far {sum}")),
        );
    }
    Ok(CallToolResult::text(sum.to_string()))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mcp_tasks_runtime::schemars")]
struct Greet {}

/// Asks the person at the client for their name (elicitation), then greets them.
async fn greet(_args: Greet, cx: ToolContext) -> ToolResult {
    cx.set_status_message("waiting for a name").await?;
    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let answer = cx
        .elicit(ElicitRequestParams::form("What is your name?", schema))
        .await?;
    let name = match (answer.action, &answer.content) {
        (ElicitAction::Accept, Some(content)) => content.get("name").and_then(|n| n.as_str()),
        _ => None,
    };
    Ok(CallToolResult::text(format!(
        "Hello, {}!",
        name.unwrap_or("stranger")
    )))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map_or("sqlite:durable-tasks.db", String::as_str);
    let http = args
        .iter()
        .position(|a| a == "--http")
        .and_then(|i| args.get(i + 1));

    let server = Server::builder("durable-server", "1.0.0")
        .store_url(store)
        .tool(
            ToolDef::new("slow_add")
                .description("Adds the numbers, slowly, reporting progress. May run as a task.")
                .task_support(TaskSupport::Optional),
            slow_add,
        )
        .tool(
            ToolDef::new("greet")
                .description("Asks for your name, then greets you. Must run as a task.")
                .task_support(TaskSupport::Required),
            greet,
        )
        .build()
        .await?;
    match http {
        Some(addr) => server.serve_http(addr.parse()?).await?,
        None => server.serve_stdio().await?,
    }
    Ok(())
}

//! A client that calls the `durable_server` example's tools, follows the tasks they become, and
//! prints what happens. It speaks whichever era the server does (MCP 2026-07-28, where the
//! server decides what becomes a task, or 2025-11-25, where the client asks for one).
//!
//! ```text
//! cargo run --example task_client                                  # spawns durable_server over stdio
//! cargo run --example task_client -- http://127.0.0.1:8080/mcp     # a server already listening
//! ```
//!
//! It answers the server's question (an elicitation) with the name in `$NAME`, or "Ada".
#![allow(clippy::print_stdout, reason = "an example whose output is the point")]

use mcp_tasks_runtime::client::{handler_fn, Client, ClientBuilder, TaskEvent, ToolCall};
use mcp_tasks_runtime::{ElicitResult, Implementation};
use serde_json::{json, Value};
use tokio::process::Command;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::var("NAME").unwrap_or_else(|_| "Ada".to_owned());
    let builder = ClientBuilder::new(Implementation::new("task-client", "1.0.0")).elicitation(
        handler_fn(move |request, _cx| {
            let name = name.clone();
            async move {
                println!("question: {}", request.message);
                let answer = json!({ "name": name });
                Ok(ElicitResult::accept(
                    answer.as_object().cloned().unwrap_or_default(),
                ))
            }
        }),
    );
    let client = match std::env::args().nth(1) {
        Some(url) => builder.connect_http(&url).await?,
        None => {
            // The server example sits next to this one in target/*/examples/.
            let server = std::env::current_exe()?.with_file_name("durable_server");
            let mut command = Command::new(server);
            command.arg("memory");
            builder.connect_stdio(command).await?
        }
    };
    follow(
        &client,
        "slow_add",
        json!({"numbers": [1, 2, 3], "step_ms": 50}),
    )
    .await?;
    follow(&client, "greet", json!({})).await?;
    client.close().await;
    Ok(())
}

/// Calls `tool` (as a task when the tool may be one) and prints each status, progress step and
/// the result.
async fn follow(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut task = match client
        .start_tool_call(tool, arguments, Some(60_000))
        .await?
    {
        ToolCall::Task(task) => *task,
        ToolCall::Finished(result) => {
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            println!("{tool}: result {text} (at once, no task)");
            return Ok(());
        }
    };
    println!("{tool}: task {} created ({})", task.id(), client.protocol());
    loop {
        match task.next_event().await? {
            TaskEvent::Status(t) => println!("{tool}: status {}", t.status.as_str()),
            TaskEvent::Progress(p) => println!("{tool}: progress {}", p.progress),
            TaskEvent::Finished(result) => {
                let result = result?;
                let text = result["content"][0]["text"].as_str().unwrap_or_default();
                println!("{tool}: result {text}");
                return Ok(());
            }
        }
    }
}

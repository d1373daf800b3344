//! What client commands print on stdout: results for people (text) or programs (`--json`).
//! Status and questions go to stderr, so stdout holds only the answer.

use std::io::Write as _;

use mcp_tasks_wire::v2025_11_25::{CallToolResult, ContentBlock, Task, Tool};
use serde_json::Value;

use super::exit::{Exit, Failure};

fn out(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(Exit::Protocol, format!("cannot write to stdout: {e}")))
}

/// Prints a JSON value, pretty.
pub(crate) fn json(value: &Value) -> Result<(), Failure> {
    out(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()))
}

/// Prints a tool's result and says how the command ends: [`Exit::ToolError`] for `isError`.
pub(crate) fn tool_result(value: &Value, as_json: bool) -> Result<Exit, Failure> {
    let result: CallToolResult = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        // Not a tool's result (a hosted sampling task, say): print it as it is.
        Err(_) => {
            json(value)?;
            return Ok(Exit::Success);
        }
    };
    if as_json {
        json(value)?;
    } else {
        let mut printed = false;
        for block in &result.content {
            match block {
                ContentBlock::Text(t) => out(&t.text)?,
                other => out(&format!(
                    "[{} content: use --json to see it]",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_else(|| "non-text".into())
                ))?,
            }
            printed = true;
        }
        if let Some(structured) = &result.structured_content {
            if !printed {
                json(structured)?;
            }
        }
    }
    Ok(if result.is_error() {
        Exit::ToolError
    } else {
        Exit::Success
    })
}

/// One line per tool: name, whether it may be a task, description. When `server_decides`
/// (MCP 2026-07-28, X-2) a tool that declares no `execution.taskSupport` shows `server`: the
/// server chooses per call.
pub(crate) fn tools(tools: &[Tool], server_decides: bool) -> Result<(), Failure> {
    let width = tools.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for tool in tools {
        let support = if server_decides && tool.execution.is_none() {
            "server".to_owned()
        } else {
            serde_json::to_value(tool.task_support())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let description = tool
            .description
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        out(&format!(
            "{:width$}  task:{support:<9}  {description}",
            tool.name
        ))?;
    }
    Ok(())
}

/// One line per task: id, status, creation time, statusMessage.
pub(crate) fn tasks(tasks: &[Task]) -> Result<(), Failure> {
    for task in tasks {
        out(&task_line(task))?;
    }
    Ok(())
}

pub(crate) fn task_line(task: &Task) -> String {
    let mut line = format!(
        "{}  {:<14}  {}",
        task.task_id,
        task.status.as_str(),
        task.created_at
    );
    if let Some(m) = &task.status_message {
        line.push_str("  ");
        line.push_str(m);
    }
    line
}

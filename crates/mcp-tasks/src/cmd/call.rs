//! `mcp-tasks call TOOL [JSON] [--task]`: calls a tool, plainly or as a task it then follows.
//!
//! In MCP 2025-11-25 `--task` asks for a task. In MCP 2026-07-28 the server decides (X-2): the
//! command answers the questions a call comes back with (B-6) and follows the task the call
//! becomes, if it does, exactly as a 2025-11-25 task: same status line, same questions, same
//! Ctrl-C and exit statuses.

use std::io::Read as _;
use std::sync::Arc;

use mcp_tasks_runtime::client::{Client, Protocol, TaskHandle, ToolCall};
use serde_json::{Map, Value};

use super::connect::{connect, eras, BadAnswers, Questions};
use super::exit::{Exit, Failure};
use super::follow::{follow, Followed, Interrupt};
use super::print;
use crate::cli::CallArgs;
use crate::term::status::StatusLine;
use crate::term::tty::Tty;

pub(crate) async fn run(args: CallArgs) -> Result<Exit, Failure> {
    let mut interrupt = Interrupt::install();
    let arguments = arguments(args.arguments.as_deref())?;
    let tty = Tty::open();
    let status = Arc::new(StatusLine::following(tty.as_ref()));
    let questions = Questions::new(&args.answers, status.clone(), tty)?;
    let bad_answers = questions.bad_answers();
    let client = connect(
        &args.target,
        eras(&args.target, Protocol::V2026_07_28),
        questions,
    )
    .await?;
    let exit = if client.protocol() == Protocol::V2026_07_28 {
        call_v2026(
            &client,
            &args,
            arguments,
            &status,
            &mut interrupt,
            &bad_answers,
        )
        .await
    } else if args.task {
        call_as_task(
            &client,
            &args,
            arguments,
            &status,
            &mut interrupt,
            &bad_answers,
        )
        .await
    } else {
        call_plain(&client, &args, arguments, &status, &mut interrupt).await
    };
    client.close().await;
    bad_answers.check()?;
    exit
}

/// A call in MCP 2026-07-28: the result at once, or the task the server made of the call,
/// followed to its end.
async fn call_v2026(
    client: &Client,
    args: &CallArgs,
    arguments: Value,
    status: &StatusLine,
    interrupt: &mut Interrupt,
    bad_answers: &BadAnswers,
) -> Result<Exit, Failure> {
    if args.ttl.is_some() {
        status.note("--ttl is not sent: in MCP 2026-07-28 the server chooses a task's ttl");
    }
    interrupt.arm();
    let started = tokio::select! {
        r = client.start_tool_call(&args.tool, arguments, None) => r?,
        () = interrupt.recv() => {
            // Dropping the call tells the server with notifications/cancelled.
            status.note(&format!("interrupted: the call to {} was abandoned", args.tool));
            status.finish();
            return Ok(Exit::Interrupted);
        }
    };
    match started {
        ToolCall::Finished(value) => {
            interrupt.disarm();
            status.finish();
            bad_answers.check()?;
            print::tool_result(&value, args.output.json)
        }
        ToolCall::Task(handle) => {
            follow_created(*handle, args, status, interrupt, bad_answers).await
        }
    }
}

async fn call_as_task(
    client: &Client,
    args: &CallArgs,
    arguments: Value,
    status: &StatusLine,
    interrupt: &mut Interrupt,
    bad_answers: &BadAnswers,
) -> Result<Exit, Failure> {
    interrupt.arm();
    let handle = client
        .call_tool_as_task(&args.tool, arguments, args.ttl)
        .await?;
    follow_created(handle, args, status, interrupt, bad_answers).await
}

/// Follows a task the call just created until its result, and prints it.
async fn follow_created(
    handle: TaskHandle,
    args: &CallArgs,
    status: &StatusLine,
    interrupt: &mut Interrupt,
    bad_answers: &BadAnswers,
) -> Result<Exit, Failure> {
    status.task_created(handle.id(), handle.task().ttl);
    status.status(
        handle.task().status.as_str(),
        handle.task().status_message.as_deref(),
    );
    // A 2026-07-28 task exists because the server chose it for this call: if following fails,
    // nobody else will cancel it.
    let created = handle.protocol() == Protocol::V2026_07_28;
    let followed = follow(handle, created, status, interrupt).await;
    interrupt.disarm();
    match followed? {
        Followed::Result(value) => {
            // A result built on answers the file did not have is not what was asked for.
            bad_answers.check()?;
            print::tool_result(&value, args.output.json)
        }
        Followed::Interrupted => Ok(Exit::Interrupted),
    }
}

async fn call_plain(
    client: &Client,
    args: &CallArgs,
    arguments: Value,
    status: &StatusLine,
    interrupt: &mut Interrupt,
) -> Result<Exit, Failure> {
    interrupt.arm();
    let result = tokio::select! {
        r = client.call_tool(&args.tool, arguments) => r?,
        () = interrupt.recv() => {
            // Dropping the call tells the server with notifications/cancelled.
            status.note(&format!("interrupted: the call to {} was abandoned", args.tool));
            status.finish();
            return Ok(Exit::Interrupted);
        }
    };
    interrupt.disarm();
    status.finish();
    let value = serde_json::to_value(&result)
        .map_err(|e| Failure::new(Exit::Protocol, format!("cannot encode the result: {e}")))?;
    print::tool_result(&value, args.output.json)
}

/// The tool's arguments: a JSON object given inline, read from stdin for `-`, or `{}`.
fn arguments(given: Option<&str>) -> Result<Value, Failure> {
    let text = match given {
        None => return Ok(Value::Object(Map::new())),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                Failure::usage(format!("cannot read the arguments from stdin: {e}"))
            })?;
            text
        }
        Some(text) => text.to_owned(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(Failure::usage(format!(
            "the tool's arguments must be a JSON object like '{{\"text\":\"hi\"}}', not {other}"
        ))),
        Err(e) => Err(Failure::usage(format!(
            "the tool's arguments are not JSON ({e}); give an object like '{{\"text\":\"hi\"}}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(arguments(None).unwrap(), serde_json::json!({}));
        assert_eq!(
            arguments(Some(r#"{"text":"hi"}"#)).unwrap(),
            serde_json::json!({"text": "hi"})
        );
        let not_object = arguments(Some("[1]")).unwrap_err();
        assert_eq!(not_object.exit, Exit::Usage);
        assert!(
            not_object.message.contains("JSON object"),
            "{}",
            not_object.message
        );
        let not_json = arguments(Some("{text")).unwrap_err();
        assert_eq!(not_json.exit, Exit::Usage);
        assert!(
            not_json.message.contains("not JSON"),
            "{}",
            not_json.message
        );
    }
}

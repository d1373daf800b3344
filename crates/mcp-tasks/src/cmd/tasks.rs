//! `mcp-tasks tasks list|get|result|cancel`: a server's tasks, by id or as listed.
//!
//! `get` and `cancel` work in both eras. MCP 2026-07-28 has no `tasks/list` and no
//! `tasks/result`, so `list` and `result` prefer 2025-11-25 when the server speaks both,
//! and say what to do instead when it speaks only 2026-07-28.

use std::sync::Arc;

use mcp_tasks_runtime::client::{Client, Protocol};
use serde_json::json;

use super::connect::{connect, eras, BadAnswers, Questions};
use super::exit::{Exit, Failure};
use super::follow::{follow, Followed, Interrupt};
use super::print;
use crate::cli::{AnswersArg, TasksCommand};
use crate::term::status::StatusLine;
use crate::term::tty::Tty;

pub(crate) async fn run(command: TasksCommand) -> Result<Exit, Failure> {
    let mut interrupt = Interrupt::install();
    let (target, answers) = match &command {
        TasksCommand::List { target, .. }
        | TasksCommand::Get { target, .. }
        | TasksCommand::Cancel { target, .. } => (target, None),
        TasksCommand::Result {
            target, answers, ..
        } => (target, Some(answers)),
    };
    // Only `tasks result` follows a task, with a live line and questions for the person.
    let tty = answers.and_then(|_| Tty::open());
    let status = Arc::new(match answers {
        Some(_) => StatusLine::following(tty.as_ref()),
        None => StatusLine::new(false),
    });
    let none = AnswersArg { answers: None };
    let questions = Questions::new(answers.unwrap_or(&none), status.clone(), tty)?;
    let bad_answers = questions.bad_answers();
    // list and result exist only in 2025-11-25: ask for it first when the server speaks both.
    let favour = match &command {
        TasksCommand::List { .. } | TasksCommand::Result { .. } => Protocol::V2025_11_25,
        TasksCommand::Get { .. } | TasksCommand::Cancel { .. } => Protocol::V2026_07_28,
    };
    let client = connect(target, eras(target, favour), questions).await?;
    let exit = run_on(&client, &command, &status, &mut interrupt, &bad_answers).await;
    client.close().await;
    bad_answers.check()?;
    exit
}

/// Why the command speaks 2026-07-28, for a message saying what that era lacks.
fn why_2026(target: &crate::cli::Target) -> &'static str {
    if target.protocol.is_some() {
        "--protocol 2026-07-28 was given"
    } else {
        "this server speaks only that version"
    }
}

async fn run_on(
    client: &Client,
    command: &TasksCommand,
    status: &StatusLine,
    interrupt: &mut Interrupt,
    bad_answers: &BadAnswers,
) -> Result<Exit, Failure> {
    let modern = client.protocol() == Protocol::V2026_07_28;
    match command {
        TasksCommand::List { target, .. } if modern => Err(Failure::usage(format!(
            "MCP 2026-07-28 has no tasks/list, and {}: keep the ids of the tasks you create \
             (`call` prints each one) and read them with `tasks get ID`",
            why_2026(target)
        ))),
        TasksCommand::Result { id, target, .. } if modern => Err(Failure::usage(format!(
            "MCP 2026-07-28 has no tasks/result, and {}: `tasks get {id} --json` shows the task \
             with its result inlined once it is done",
            why_2026(target)
        ))),
        TasksCommand::List { output, target } => {
            let tasks = client.list_tasks().await?;
            if output.json {
                print::json(&json!({ "tasks": tasks }))?;
            } else if tasks.is_empty() && target.token.is_some() {
                status.note("no tasks for this token's subject");
            } else if tasks.is_empty() {
                status.note(
                    "no tasks in this session (without authentication each command is a session \
                     of its own; `tasks get ID` reaches any task by id)",
                );
            } else {
                print::tasks(&tasks)?;
            }
            Ok(Exit::Success)
        }
        TasksCommand::Get { id, output, .. } => {
            let handle = client.task(id).await?;
            if output.json {
                // 2026-07-28: the DetailedTask as sent, with its inlined result, error or
                // questions.
                match handle.detailed() {
                    Some(detailed) => print::json(&json!(detailed))?,
                    None => print::json(&json!(handle.task()))?,
                }
            } else {
                print::tasks(std::slice::from_ref(handle.task()))?;
            }
            Ok(Exit::Success)
        }
        TasksCommand::Result { id, output, .. } => {
            let handle = client.task(id).await?;
            status.following_task(handle.id());
            status.status(
                handle.task().status.as_str(),
                handle.task().status_message.as_deref(),
            );
            let followed = follow(handle, false, status, interrupt).await;
            interrupt.disarm();
            match followed? {
                Followed::Result(value) => {
                    bad_answers.check()?;
                    print::tool_result(&value, output.json)
                }
                Followed::Interrupted => Ok(Exit::Interrupted),
            }
        }
        TasksCommand::Cancel { id, output, .. } => {
            let mut handle = client.task(id).await?;
            let task = handle.cancel().await?.clone();
            if output.json {
                match handle.detailed() {
                    Some(detailed) => print::json(&json!(detailed))?,
                    None => print::json(&json!(task))?,
                }
            } else {
                print::tasks(std::slice::from_ref(&task))?;
            }
            Ok(Exit::Success)
        }
    }
}

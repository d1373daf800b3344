//! `mcp-tasks tasks list|get|result|cancel`: a server's tasks, by id or as listed.

use std::sync::Arc;

use mcp_tasks_runtime::client::Client;
use serde_json::json;

use super::connect::{connect, BadAnswers, Questions};
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
    let client = connect(target, questions).await?;
    let exit = run_on(&client, &command, &status, &mut interrupt, &bad_answers).await;
    client.close().await;
    bad_answers.check()?;
    exit
}

async fn run_on(
    client: &Client,
    command: &TasksCommand,
    status: &StatusLine,
    interrupt: &mut Interrupt,
    bad_answers: &BadAnswers,
) -> Result<Exit, Failure> {
    match command {
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
                print::json(&json!(handle.task()))?;
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
            let followed = follow(handle, status, interrupt).await;
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
                print::json(&json!(task))?;
            } else {
                print::tasks(std::slice::from_ref(&task))?;
            }
            Ok(Exit::Success)
        }
    }
}

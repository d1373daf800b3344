//! `mcp-tasks tools`: the server's tools and whether each may run as a task.

use std::sync::Arc;

use mcp_tasks_runtime::client::Protocol;

use super::connect::{connect, eras, Questions};
use super::exit::{Exit, Failure};
use super::print;
use crate::cli::{AnswersArg, ToolsArgs};
use crate::term::status::StatusLine;

pub(crate) async fn run(args: ToolsArgs) -> Result<Exit, Failure> {
    let status = Arc::new(StatusLine::new(false));
    let questions = Questions::new(&AnswersArg { answers: None }, status, None)?;
    let client = connect(
        &args.target,
        eras(&args.target, Protocol::V2026_07_28),
        questions,
    )
    .await?;
    let listed = client.list_tools().await;
    let decides = client.protocol() == Protocol::V2026_07_28;
    client.close().await;
    let tools = listed?;
    if args.output.json {
        print::json(&serde_json::json!({ "tools": tools }))?;
    } else {
        print::tools(&tools, decides)?;
    }
    Ok(Exit::Success)
}

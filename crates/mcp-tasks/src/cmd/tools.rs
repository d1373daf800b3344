//! `mcp-tasks tools`: the server's tools and whether each may run as a task.

use std::sync::Arc;

use super::connect::{connect, Questions};
use super::exit::{Exit, Failure};
use super::print;
use crate::cli::{AnswersArg, ToolsArgs};
use crate::term::status::StatusLine;

pub(crate) async fn run(args: ToolsArgs) -> Result<Exit, Failure> {
    let status = Arc::new(StatusLine::new(false));
    let questions = Questions::new(&AnswersArg { answers: None }, status, None)?;
    let client = connect(&args.target, questions).await?;
    let listed = client.list_tools().await;
    client.close().await;
    let tools = listed?;
    if args.output.json {
        print::json(&serde_json::json!({ "tools": tools }))?;
    } else {
        print::tools(&tools)?;
    }
    Ok(Exit::Success)
}

//! `tasks/cancel` in the tasks extension: an empty acknowledgement.
//!
//! A live task is cancelled and its work stopped, as in 2025-11-25; unlike there, a task that
//! already ended is not an error: cancellation is cooperative and eventually consistent, so
//! asking after the work finished is acknowledged like asking before. Only an unknown, expired
//! or other owner's task is -32602.

use mcp_tasks_engine::Error;
use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2026_07_28::TaskIdParams;
use serde_json::{json, Value};

use crate::error::to_error_object;
use crate::server::era::RequestContext;
use crate::server::Server;

pub(crate) async fn handle(
    server: &Server,
    cx: &RequestContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let p: TaskIdParams = params_as(params)?;
    let id = crate::server::tasks::task_id(p.task_id)?;
    let cancelled = server
        .engine()
        .cancel(
            cx.session.requestor(),
            &id,
            Some("The task was cancelled by request.".into()),
        )
        .await;
    match cancelled {
        Ok(_) | Err(Error::Conflict { .. }) => Ok(json!({"resultType": "complete"})),
        Err(e) => Err(to_error_object(&e)),
    }
}

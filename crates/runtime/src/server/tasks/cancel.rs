//! `tasks/cancel`: moves a live task to `cancelled` before answering and stops its work
//! (T-CAN-1); a terminal task is -32602 naming its status (T-CAN-2).

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2025_11_25::{CancelTaskRequestParams, CancelTaskResult};
use serde_json::Value;

use crate::dialect;
use crate::error::to_error_object;
use crate::server::Server;
use crate::session::Session;

pub(crate) async fn handle(
    server: &Server,
    session: &Session,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let p: CancelTaskRequestParams = params_as(params)?;
    let id = super::task_id(p.task_id)?;
    let record = server
        .engine()
        .cancel(
            session.requestor(),
            &id,
            Some("The task was cancelled by request.".into()),
        )
        .await
        .map_err(|e| to_error_object(&e))?;
    crate::server::to_value(&CancelTaskResult::from(dialect::task(&record)))
}

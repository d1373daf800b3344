//! `tasks/get`: the Task itself, unwrapped, without related-task `_meta` (T-GET-1, T-META-2).

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2025_11_25::{GetTaskRequestParams, GetTaskResult};
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
    let p: GetTaskRequestParams = params_as(params)?;
    let id = super::task_id(p.task_id)?;
    let record = server
        .engine()
        .get(session.requestor(), &id)
        .await
        .map_err(|e| to_error_object(&e))?;
    crate::server::to_value(&GetTaskResult::from(dialect::task(&record)))
}

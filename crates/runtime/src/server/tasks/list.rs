//! `tasks/list`: the caller's tasks, a page at a time, with opaque cursors (T-LIST-1, T-LIST-2).

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2025_11_25::{ListTasksRequestParams, ListTasksResult};
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
    let p: ListTasksRequestParams = params_as(params)?;
    let page = server
        .engine()
        .list(session.requestor(), p.cursor.as_deref())
        .await
        .map_err(|e| to_error_object(&e))?;
    let result = ListTasksResult {
        tasks: page.tasks.iter().map(dialect::task).collect(),
        next_cursor: page.next_cursor,
        meta: None,
    };
    crate::server::to_value(&result)
}

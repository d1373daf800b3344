//! `tasks/get` in the tasks extension: the task with its result, error or open questions
//! inlined, as a result of kind `complete`.
//!
//! An unknown, expired or other owner's task is -32602, alike (T-SEC-1).
//!
//! A terminal task's answer carries its result or error, so in this era it is where the
//! result is retrieved: audited and noted in the task's history as `tasks/result` is in
//! 2025-11-25. A client polls here, so the engine notes the retrieval once per task and
//! requestor, not per poll.

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2026_07_28::{ResultType, TaskIdParams};
use serde_json::Value;

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
    let record = server
        .engine()
        .get(cx.session.requestor(), &id)
        .await
        .map_err(|e| to_error_object(&e))?;
    if record.status().is_terminal() {
        // After the note, as `tasks/result` does (see there).
        server
            .engine()
            .result_retrieved(cx.session.requestor(), &record)
            .await;
        server
            .engine()
            .audit(mcp_tasks_engine::AuditEvent::ResultRetrieved, &record);
    }
    let mut detailed = crate::ext_dialect::detailed(&record);
    detailed.result_type = Some(ResultType::Complete);
    crate::server::to_value(&detailed)
}

//! `tasks/update`: the client's answers to a task's open questions, written into the task's
//! mailbox, where the waiting work picks them up, on this instance or any other.
//!
//! The same mailbox the 2025-11-25 `tasks/result` exchange writes into, in the same stored form
//! (`input::close_answer`), so a question asked in one era may be answered in the other.
//! Keys are unique for a task's life: an answer to a key that is unknown or already answered
//! is ignored, and a partial set leaves the task `input_required` until the rest arrives. The
//! acknowledgement is empty; the task's status follows, eventually, in `tasks/get`.

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2026_07_28::UpdateTaskParams;
use serde_json::{json, Value};

use crate::error::to_error_object;
use crate::server::era::RequestContext;
use crate::server::tasks::input::close_answer;
use crate::server::Server;

pub(crate) async fn handle(
    server: &Server,
    cx: &RequestContext,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let p: UpdateTaskParams = params_as(params)?;
    if let Some((key, _)) = p.input_responses.iter().find(|(_, v)| !v.is_object()) {
        return Err(ErrorObject::invalid_params(format!(
            "params.inputResponses[{key:?}] must be an object: the result of the input request \
             with that key"
        )));
    }
    let id = crate::server::tasks::task_id(p.task_id)?;
    let engine = server.engine();
    let requestor = cx.session.requestor();
    let record = engine
        .get(requestor, &id)
        .await
        .map_err(|e| to_error_object(&e))?;
    let open: Vec<String> = record.pending_inputs().map(|i| i.key.clone()).collect();
    for (key, answer) in p.input_responses {
        if !open.contains(&key) {
            tracing::debug!(task = %id, key, "answer to a question that is not open; ignored");
            continue;
        }
        engine
            .answer_input(requestor, &id, &key, close_answer(&Ok(answer)))
            .await
            .map_err(|e| to_error_object(&e))?;
    }
    Ok(json!({"resultType": "complete"}))
}

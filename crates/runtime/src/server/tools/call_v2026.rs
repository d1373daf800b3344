//! `tools/call` in MCP 2026-07-28: the server decides whether the call becomes a task.
//!
//! The `session` here is the request's own: built for this one request from its `_meta`
//! (version and capabilities, B-2) and the caller's auth context, and dropped with it.

use std::sync::Arc;

use mcp_tasks_engine::{CreateTask, RequestKind};
use mcp_tasks_wire::jsonrpc::{ErrorObject, RequestId};
use mcp_tasks_wire::v2025_11_25::TaskSupport;
use mcp_tasks_wire::v2026_07_28::{self as v2, ResultType};
use serde_json::{json, Map, Value};

use super::call::outcome;
use super::ToolContext;
use crate::server::Server;
use crate::session::{Session, Sink};

/// Runs a `tools/call` of this era for a client whose capabilities are `caps` (this request's
/// own declaration).
pub(crate) async fn handle(
    server: &Arc<Server>,
    session: &Arc<Session>,
    caps: &v2::ClientCapabilities,
    id: &RequestId,
    params: Option<Value>,
    sink: &Sink,
) -> Result<Value, ErrorObject> {
    let raw = params.clone().unwrap_or_else(|| Value::Object(Map::new()));
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorObject::invalid_params("params.name must be the tool's name"))?
        .to_owned();
    let Some((tool, handler)) = server.tools().get(&name) else {
        return Err(ErrorObject::invalid_params(format!(
            "unknown tool {name:?}; tools/list shows the tools this server has"
        )));
    };
    let support = tool.task_support();
    let args = match raw.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ErrorObject::invalid_params(
                "params.arguments must be an object",
            ))
        }
    };
    if support == TaskSupport::Required && !caps.has_tasks_extension() {
        return Err(v2::missing_capability(
            format!(
                "tool {name:?} runs only as a task: declare the tasks extension \
                 (\"{}\": {{}}) under _meta[\"{}\"].extensions",
                v2::TASKS_EXTENSION,
                v2::CLIENT_CAPABILITIES
            ),
            json!({"extensions": {v2::TASKS_EXTENSION: {}}}),
        ));
    }
    let prepared = handler(args)?;

    if support == TaskSupport::Required {
        let record = server
            .engine()
            .create(CreateTask {
                requestor: session.requestor().clone(),
                kind: RequestKind::ToolsCall,
                name: Some(name.clone()),
                params: raw,
                ttl_ms: None,
                progress_token: None,
            })
            .await
            .map_err(|e| crate::error::to_error_object(&e))?;
        let for_work = session.clone();
        server.engine().start(&record, move |tcx| {
            let run = prepared(ToolContext::task(for_work, tcx));
            async move { outcome(run.await) }
        });
        return crate::server::to_value(&v2::CreateTaskResult::from(crate::ext_dialect::task(
            &record,
        )));
    }

    let cancel = session.track_inflight(id);
    let cx = ToolContext::plain(session.clone(), sink.clone(), cancel.clone(), None);
    let run = tokio::spawn(prepared(cx));
    let abort = run.abort_handle();
    let answer = tokio::select! {
        joined = run => joined.unwrap_or_else(|e| {
            tracing::error!(tool = %name, error = %e, "tool handler failed");
            Err(ErrorObject::internal(format!("internal error: tool {name:?} failed unexpectedly")))
        }),
        () = cancel.cancelled() => {
            abort.abort();
            Err(ErrorObject::internal("the call was cancelled"))
        }
    };
    session.untrack_inflight(id);
    let mut value = crate::server::to_value(&answer?)?;
    ResultType::Complete.stamp(&mut value);
    Ok(value)
}

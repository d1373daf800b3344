//! `tools/call`, plain or task-augmented (T-NEW-1, T-CAP-4, T-CAP-5, T-LIFE-3).

use std::sync::Arc;

use mcp_tasks_engine::{CreateTask, Failure, Outcome, RequestKind, RpcError, TaskRecord};
use mcp_tasks_wire::jsonrpc::{params_as, ErrorCode, ErrorObject, RequestId};
use mcp_tasks_wire::meta;
use mcp_tasks_wire::v2025_11_25::{
    CallToolRequestParams, CallToolResult, ContentBlock, CreateTaskResult, TaskSupport,
};
use serde_json::{Map, Value};

use super::{ToolContext, ToolResult};
use crate::dialect;
use crate::server::Server;
use crate::session::{Session, Sink};

pub(crate) async fn handle(
    server: &Arc<Server>,
    session: &Arc<Session>,
    id: &RequestId,
    params: Option<Value>,
    sink: &Sink,
) -> Result<Value, ErrorObject> {
    let raw = params.clone().unwrap_or_else(|| Value::Object(Map::new()));
    let p: CallToolRequestParams = params_as(params)?;
    let tools = server.tools();
    let Some((tool, handler)) = tools.get(&p.name) else {
        return Err(ErrorObject::invalid_params(format!(
            "unknown tool {:?}; tools/list shows the tools this server has",
            p.name
        )));
    };
    let support = tool.task_support();
    let progress_token = p
        .meta
        .as_ref()
        .and_then(|m| m.progress_token.as_ref())
        .map(|t| serde_json::to_value(t).expect("a progress token is JSON"));
    let args = p.arguments.clone().unwrap_or_default();
    // The base protocol before 2025-11-25 has no `params.task`: from such a session it is an
    // unknown field, ignored like any other, and the call runs plain (T-CAP-4).
    let task = p
        .task
        .filter(|_| crate::server::initialize::session_has_tasks(session));

    // Whether the tool may run this way at all comes before its arguments: a task for a
    // forbidden tool is -32601 whatever the arguments say (T-CAP-5).
    if task.is_some() && support == TaskSupport::Forbidden {
        return Err(ErrorObject::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!(
                "tool {:?} cannot be called as a task (execution.taskSupport is \"forbidden\"); \
                 call it without params.task",
                p.name
            ),
        ));
    }

    // Arguments are checked next: a bad call is an error, never a failed task.
    let prepared = handler(args)?;

    let Some(task) = task else {
        if support == TaskSupport::Required {
            return Err(ErrorObject::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "tool {:?} must be called as a task (execution.taskSupport is \"required\"); \
                     add params.task",
                    p.name
                ),
            ));
        }
        let cancel = session.track_inflight(id);
        let cx = ToolContext::plain(
            session.clone(),
            sink.clone(),
            cancel.clone(),
            progress_token,
        );
        // On its own tokio task, so a panicking handler is an error answer, not a lost request.
        let run = tokio::spawn(prepared(cx));
        let abort = run.abort_handle();
        let answer = tokio::select! {
            joined = run => joined.unwrap_or_else(|e| {
                tracing::error!(tool = %p.name, error = %e, "tool handler failed");
                Err(ErrorObject::internal(format!("internal error: tool {:?} failed unexpectedly", p.name)))
            }),
            () = cancel.cancelled() => {
                abort.abort();
                Err(ErrorObject::internal("the call was cancelled"))
            }
        };
        session.untrack_inflight(id);
        return answer.and_then(|r| crate::server::to_value(&r));
    };

    // Creating and starting run on a tokio task of their own, as for MCP 2026-07-28
    // (`call_v2026::become_task`): over HTTP this future is dropped when the client goes away,
    // and a creation cut off inside the store would leave the task charged to its client for
    // good (never inserted, so no change ever releases it) or created but never started.
    let create = CreateTask {
        requestor: session.requestor().clone(),
        kind: RequestKind::ToolsCall,
        name: Some(p.name.clone()),
        params: raw,
        ttl_ms: task.ttl,
        progress_token,
    };
    let (spawned_server, session_for_work) = (server.clone(), session.clone());
    let created = tokio::spawn(async move {
        let record = spawned_server
            .engine()
            .create(create)
            .await
            .map_err(|e| crate::error::to_error_object(&e))?;
        session_for_work.own_task(&record.id);
        spawned_server.engine().start(&record, move |tcx| {
            let run = prepared(ToolContext::task(session_for_work, tcx));
            async move { outcome(run.await) }
        });
        Ok::<_, ErrorObject>(record)
    });
    let record = created.await.map_err(|e| {
        tracing::error!(tool = %p.name, error = %e, "creating a call's task failed unexpectedly");
        ErrorObject::internal("internal error: the call's task could not be created")
    })??;
    let mut result = CreateTaskResult::from(dialect::task(&record));
    result.meta = Some(meta::model_immediate_response(&format!(
        "Tool {} is running as task {}; its result will be available through tasks/result.",
        p.name, record.id
    )));
    crate::server::to_value(&result)
}

/// Starts a resumable tool's task again from its stored params, after a restart.
pub(crate) fn rerun(server: &Arc<Server>, record: &TaskRecord) {
    let prepared = serde_json::from_value::<CallToolRequestParams>(record.params.clone())
        .map_err(|e| ErrorObject::invalid_params(format!("stored params unreadable: {e}")))
        .and_then(|p| {
            let tools = server.tools();
            let (_, handler) = tools.get(&p.name).ok_or_else(|| {
                ErrorObject::invalid_params(format!("tool {:?} is no longer offered", p.name))
            })?;
            handler(p.arguments.unwrap_or_default())
        });
    match prepared {
        Ok(prepared) => server.engine().start(record, move |tcx| {
            let run = prepared(ToolContext::resumed(tcx));
            async move { outcome(run.await) }
        }),
        // The task was taken over but cannot run: fail it with the reason rather than leave it.
        Err(e) => server.engine().start(record, move |_| async move {
            outcome(Err(ErrorObject::internal(format!(
                "the server restarted and could not run this task again: {}",
                e.message
            ))))
        }),
    }
}

/// The task outcome of a tool's answer (T-LIFE-3): `isError` results fail the task with their
/// text as statusMessage, and `tasks/result` still returns the result itself.
pub(super) fn outcome(answer: ToolResult) -> Outcome {
    match answer {
        Ok(result) if result.is_error() => {
            let message =
                first_text(&result).unwrap_or_else(|| "the tool reported an error".into());
            Outcome::Failed {
                failure: Failure::Result(serde_json::to_value(&result).unwrap_or(Value::Null)),
                message,
            }
        }
        Ok(result) => match serde_json::to_value(&result) {
            Ok(v) => Outcome::Completed(v),
            Err(e) => Outcome::Failed {
                failure: Failure::Error(RpcError {
                    code: -32603,
                    message: format!("cannot encode the tool's result: {e}"),
                    data: None,
                }),
                message: "the tool's result could not be encoded".into(),
            },
        },
        Err(e) => Outcome::Failed {
            message: e.message.clone(),
            failure: Failure::Error(RpcError {
                code: e.code.0,
                message: e.message,
                data: e.data,
            }),
        },
    }
}

fn first_text(result: &CallToolResult) -> Option<String> {
    result.content.iter().find_map(|c| match c {
        ContentBlock::Text(t) => Some(t.text.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use jiff::Timestamp;
    use mcp_tasks_engine::{
        AdminQuery, ChangeFeed, Engine, EngineConfig, EventKind, ListQuery, MemoryStore, NewTask,
        Owner, Result, TaskCount, TaskEvent, TaskId, TaskStore, Transition, UnfinishedQuery,
    };
    use mcp_tasks_wire::v2025_11_25::{Implementation, TaskSupport};
    use serde_json::json;

    use super::*;
    use crate::server::{ToolDef, Tools};

    /// A memory store whose `create` takes a while, so a caller can go away in the middle.
    #[derive(Debug)]
    struct SlowCreate(MemoryStore);

    #[async_trait]
    impl TaskStore for SlowCreate {
        async fn create(&self, new: NewTask) -> Result<TaskRecord> {
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.0.create(new).await
        }
        async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
            self.0.get(owner, id).await
        }
        async fn transition(
            &self,
            id: &TaskId,
            change: Transition,
            now: Timestamp,
        ) -> Result<TaskRecord> {
            self.0.transition(id, change, now).await
        }
        async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
            self.0.list(query).await
        }
        async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
            self.0.delete_expired(now, limit).await
        }
        async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
            self.0.unfinished(query).await
        }
        fn changes(&self) -> ChangeFeed {
            self.0.changes()
        }
        async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()> {
            self.0.record(id, at, kind).await
        }
        async fn history(
            &self,
            id: &TaskId,
            after: Option<u64>,
            limit: usize,
        ) -> Result<Vec<TaskEvent>> {
            self.0.history(id, after, limit).await
        }
        async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
            self.0.inspect(id).await
        }
        async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>> {
            self.0.admin_list(query).await
        }
        async fn purge(&self, finished_before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
            self.0.purge(finished_before, limit).await
        }
        async fn counts(&self) -> Result<Vec<TaskCount>> {
            self.0.counts().await
        }
        async fn check(&self) -> Result<()> {
            self.0.check().await
        }
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}

    /// T-TTL-2 (issue 16): a task-augmented call whose request goes away while the store is
    /// creating its task still creates and runs it, so the client's charge is released when
    /// the task ends; were the creation cut off, the charge would never be released and the
    /// client, with an allowance of one, could never create another task.
    #[tokio::test]
    async fn a_call_dropped_mid_create_leaves_no_charge_behind() {
        let mut config = EngineConfig::default();
        config.limits.max_active_per_requestor = Some(1);
        let engine = Engine::new(Arc::new(SlowCreate(MemoryStore::new())), config);
        let tools = Tools::new().tool(
            ToolDef::new("quick").task_support(TaskSupport::Optional),
            |_: NoArgs, _cx: ToolContext| async { Ok(CallToolResult::text("done")) },
        );
        let server = Server::new(engine, tools, Implementation::new("t", "0"));
        let session = Arc::new(Session::new("s".to_owned()));
        let (sink, _out) = Sink::channel(64);
        let params = || Some(json!({"name": "quick", "task": {"ttl": 60_000}}));
        let id = RequestId::Number(1);
        let cut = tokio::time::timeout(
            Duration::from_millis(20),
            handle(&server, &session, &id, params(), &sink),
        )
        .await;
        assert!(cut.is_err(), "the call was still creating its task");
        // Once the first task has run, the allowance of one is free again.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match handle(&server, &session, &id, params(), &sink).await {
                Ok(created) => {
                    assert!(created["task"]["taskId"].is_string(), "{created}");
                    break;
                }
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "the dropped call's charge was never released: {e:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

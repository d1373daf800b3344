//! Transports: newline-delimited JSON-RPC over stdio, and Streamable HTTP.

pub mod http;
pub mod stdio;

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{decode, ErrorObject, Request, Response};
use tokio_util::sync::CancellationToken;

use crate::peer::Received;
use crate::server::era::{self, Era, RequestContext};
use crate::server::{tools, Server};
use crate::session::{Session, Sink};

/// Handles one decoded-or-not message of a connection whose answers all go to `sink`
/// (stdio). What arrives goes through the session's peer, as on the client: answers reach
/// their waiters and `notifications/cancelled` its request there. A request is first put to
/// `admit`: admitted, it runs concurrently and its answer is sent when ready, and the
/// admission (a guard) is let go only after that answer is queued; refused, it is answered
/// at once with the error `admit` gave.
///
/// Each request is served in its own era (B-8): one carrying the 2026-07-28 `_meta` runs
/// statelessly ([`stateless`]), any other belongs to `session`, the connection's. `stopping`
/// trips when the transport begins to stop: the stateless streams end then.
pub(crate) fn dispatch<G>(
    server: &Arc<Server>,
    session: &Arc<Session>,
    bytes: &[u8],
    sink: &Sink,
    stopping: &CancellationToken,
    admit: impl FnOnce(&Request) -> Result<G, ErrorObject>,
) where
    G: Send + 'static,
{
    let message = match decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            tracing::debug!(error = %e, "undecodable message");
            let _ = sink.send(Response::error(e.id(), e.to_error_object()).into());
            return;
        }
    };
    match session.receive(message) {
        Some(Received::Request(request)) => match admit(&request) {
            Ok(admitted) => {
                let meta = match era::of(&request) {
                    Ok(Era::Session) => None,
                    Ok(Era::Stateless(meta)) => match era::check_version(&meta) {
                        Ok(()) => Some(meta),
                        Err(error) => {
                            let _ = sink.send(Response::error(Some(request.id), error).into());
                            return;
                        }
                    },
                    Err(error) => {
                        let _ = sink.send(Response::error(Some(request.id), error).into());
                        return;
                    }
                };
                if let Some(meta) = meta {
                    // Limited and counted as the connection's requestor, not afresh per
                    // request.
                    let cx =
                        RequestContext::new(*meta, session.requestor().clone(), stopping.clone());
                    stateless(server, session, cx, request, sink, admitted);
                    return;
                }
                let (server, session, sink) = (server.clone(), session.clone(), sink.clone());
                tokio::spawn(async move {
                    let response = server.handle_request(&session, request, &sink).await;
                    let _ = sink.send(response.into());
                    drop(sink);
                    drop(admitted);
                });
            }
            Err(error) => {
                let _ = sink.send(Response::error(Some(request.id), error).into());
            }
        },
        received => server.handle_received(session, received),
    }
}

/// Runs a request of the stateless era that came on a connection (stdio), in the context `cx`
/// of its own. The connection's `notifications/cancelled` naming it closes that context,
/// which cancels what it runs and ends a `subscriptions/listen`; a cancelled request is not
/// answered (MCP 2026-07-28, "Cancellation": nothing more is sent for it), and a task its
/// answer made is cancelled, since the client never learns its id.
fn stateless<G>(
    server: &Arc<Server>,
    connection: &Arc<Session>,
    cx: RequestContext,
    request: Request,
    sink: &Sink,
    admitted: G,
) where
    G: Send + 'static,
{
    let (server, connection, sink) = (server.clone(), connection.clone(), sink.clone());
    let id = request.id.clone();
    let cancel = connection.track_inflight(&id);
    tokio::spawn(async move {
        let answer = {
            let handling = server.handle_stateless(&cx, request, &sink);
            tokio::pin!(handling);
            tokio::select! {
                answer = &mut handling => answer,
                () = cancel.cancelled() => {
                    cx.session.close();
                    handling.await
                }
            }
        };
        // Past this point a cancel finds nothing to trip: the answer goes.
        connection.untrack_inflight(&id);
        match answer {
            Some(answer) if !cancel.is_cancelled() => {
                let _ = sink.send(answer.into());
            }
            Some(answer) => {
                // Nothing is sent for a cancelled request, so a task it made is known to
                // nobody.
                if let Some(task) = tools::created_task(&answer) {
                    tools::cancel_unheard(&server, cx.session.requestor(), &task).await;
                }
            }
            None => {}
        }
        drop(sink);
        drop(admitted);
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;
    use jiff::Timestamp;
    use mcp_tasks_engine::store::{ListQuery, TaskStore, UnfinishedQuery};
    use mcp_tasks_engine::{
        ChangeFeed, Engine, EngineConfig, MemoryStore, NewTask, Owner, Requestor, TaskId,
        TaskRecord, TaskStatus, Transition,
    };
    use mcp_tasks_wire::jsonrpc::Message;
    use mcp_tasks_wire::v2025_11_25::{Implementation, TaskSupport};
    use mcp_tasks_wire::v2026_07_28::{PROTOCOL_VERSION, TASKS_EXTENSION};
    use serde_json::{json, Value};
    use tokio::sync::Notify;

    use super::*;
    use crate::server::{ToolDef, ToolResult, Tools};

    const GUARD: Duration = Duration::from_secs(10);

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}

    /// A store whose `create` waits at a gate, so a test can act while a task is being made.
    #[derive(Debug, Default)]
    struct Gated {
        inner: MemoryStore,
        reached: Notify,
        open: Notify,
        made: Mutex<Option<TaskId>>,
    }

    #[async_trait]
    impl TaskStore for Gated {
        async fn create(&self, new: NewTask) -> mcp_tasks_engine::Result<TaskRecord> {
            self.reached.notify_one();
            self.open.notified().await;
            let record = self.inner.create(new).await?;
            *self.made.lock().unwrap() = Some(record.id.clone());
            Ok(record)
        }
        async fn get(
            &self,
            owner: Option<&Owner>,
            id: &TaskId,
        ) -> mcp_tasks_engine::Result<Option<TaskRecord>> {
            self.inner.get(owner, id).await
        }
        async fn transition(
            &self,
            id: &TaskId,
            change: Transition,
            now: Timestamp,
        ) -> mcp_tasks_engine::Result<TaskRecord> {
            self.inner.transition(id, change, now).await
        }
        async fn list(&self, query: &ListQuery) -> mcp_tasks_engine::Result<Vec<TaskRecord>> {
            self.inner.list(query).await
        }
        async fn delete_expired(
            &self,
            now: Timestamp,
            limit: usize,
        ) -> mcp_tasks_engine::Result<Vec<TaskRecord>> {
            self.inner.delete_expired(now, limit).await
        }
        async fn unfinished(
            &self,
            query: &UnfinishedQuery,
        ) -> mcp_tasks_engine::Result<Vec<TaskRecord>> {
            self.inner.unfinished(query).await
        }
        fn changes(&self) -> ChangeFeed {
            self.inner.changes()
        }
        async fn record(
            &self,
            id: &TaskId,
            at: Timestamp,
            kind: mcp_tasks_engine::EventKind,
        ) -> mcp_tasks_engine::Result<()> {
            self.inner.record(id, at, kind).await
        }
        async fn history(
            &self,
            id: &TaskId,
            after: Option<u64>,
            limit: usize,
        ) -> mcp_tasks_engine::Result<Vec<mcp_tasks_engine::TaskEvent>> {
            self.inner.history(id, after, limit).await
        }
        async fn inspect(&self, id: &TaskId) -> mcp_tasks_engine::Result<Option<TaskRecord>> {
            self.inner.inspect(id).await
        }
        async fn admin_list(
            &self,
            query: &mcp_tasks_engine::AdminQuery,
        ) -> mcp_tasks_engine::Result<Vec<TaskRecord>> {
            self.inner.admin_list(query).await
        }
        async fn purge(
            &self,
            before: Timestamp,
            limit: usize,
        ) -> mcp_tasks_engine::Result<Vec<TaskRecord>> {
            self.inner.purge(before, limit).await
        }
        async fn counts(&self) -> mcp_tasks_engine::Result<Vec<mcp_tasks_engine::TaskCount>> {
            self.inner.counts().await
        }
        async fn check(&self) -> mcp_tasks_engine::Result<()> {
            self.inner.check().await
        }
    }

    /// A server on a gated store whose one tool, `job`, always runs as a task and never ends
    /// by itself.
    fn gated_server() -> (Arc<Server>, Arc<Gated>) {
        let store = Arc::new(Gated::default());
        let engine = Engine::new(store.clone(), EngineConfig::default());
        let tools = Tools::new().tool(
            ToolDef::new("job").task_support(TaskSupport::Required),
            |_: NoArgs, _cx| std::future::pending::<ToolResult>(),
        );
        (
            Server::new(engine, tools, Implementation::new("t", "0")),
            store,
        )
    }

    fn call_job(id: i64) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "job",
            "_meta": {"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                      "io.modelcontextprotocol/clientCapabilities":
                          {"extensions": {TASKS_EXTENSION: {}}}}}})
    }

    /// Waits until the gated store made its task and the task ended; its final status.
    async fn made_task_ends(server: &Server, store: &Gated) -> TaskStatus {
        tokio::time::timeout(GUARD, async {
            let id = loop {
                if let Some(id) = store.made.lock().unwrap().clone() {
                    break id;
                }
                tokio::task::yield_now().await;
            };
            let anyone = Requestor::anonymous("reader");
            let ended = server
                .engine()
                .wait_until(&anyone, &id, |r| r.status().is_terminal())
                .await
                .unwrap();
            ended.status()
        })
        .await
        .expect("the task nobody learns of is cancelled")
    }

    /// MCP 2026-07-28 "Cancellation", X-2: on stdio, a call cancelled while its task is being
    /// made is not answered, and the task it made, whose id nobody learns, is cancelled.
    #[tokio::test]
    async fn a_call_cancelled_while_it_becomes_a_task_leaves_no_task_on_stdio() {
        let (server, store) = gated_server();
        let session = Arc::new(Session::new("conn"));
        let (sink, mut out) = Sink::channel(16);
        let stopping = CancellationToken::new();
        let admit = |_: &Request| Ok::<(), ErrorObject>(());
        let line = call_job(7).to_string();
        dispatch(&server, &session, line.as_bytes(), &sink, &stopping, admit);
        tokio::time::timeout(GUARD, store.reached.notified())
            .await
            .expect("the call gets to making its task");
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": 7}});
        dispatch(
            &server,
            &session,
            cancel.to_string().as_bytes(),
            &sink,
            &stopping,
            admit,
        );
        store.open.notify_one();
        assert_eq!(made_task_ends(&server, &store).await, TaskStatus::Cancelled);
        drop(sink);
        while let Some(m) = tokio::time::timeout(GUARD, out.recv()).await.unwrap() {
            assert!(
                !matches!(m, Message::Response(_)),
                "a cancelled request is not answered: {m:?}"
            );
        }
    }

    /// over HTTP, a call whose client goes while its task is being made has that task,
    /// whose id nobody learns, cancelled.
    #[tokio::test]
    async fn a_call_whose_client_goes_while_it_becomes_a_task_leaves_no_task_on_http() {
        use tower::ServiceExt;
        let (server, store) = gated_server();
        let app = http::router(server.clone(), http::HttpConfig::default());
        let post = axum::http::Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "job")
            .body(axum::body::Body::from(call_job(8).to_string()))
            .unwrap();
        let client = tokio::spawn(app.oneshot(post));
        tokio::time::timeout(GUARD, store.reached.notified())
            .await
            .expect("the call gets to making its task");
        client.abort();
        assert!(client.await.unwrap_err().is_cancelled());
        store.open.notify_one();
        assert_eq!(made_task_ends(&server, &store).await, TaskStatus::Cancelled);
    }
}

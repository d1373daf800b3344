//! Client-hosted tasks (T-CAP-1, client side): the server sends `sampling/createMessage` or
//! `elicitation/create` with `params.task`, the client answers `CreateTaskResult` at once, runs
//! its handler as a task of its own engine, and answers the server's `tasks/*` about it.
//!
//! The receiving half is the server runtime's: a [`Server`] with no tools, whose one session
//! is the connection to the real server. So `tasks/get|result|list|cancel`, status
//! notifications and TTLs behave on the client exactly as they do on our servers.

use std::sync::Arc;

use mcp_tasks_engine::{CreateTask, Engine, Failure, Outcome, RequestKind, RpcError};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Request};
use mcp_tasks_wire::v2025_11_25::{
    CreateMessageRequestParams, CreateTaskResult, ElicitRequestParams, Implementation, TaskMetadata,
};
use serde_json::Value;

use super::handler::{ElicitationHandler, RequestContext, SamplingHandler};
use super::transport::Transport;
use crate::dialect;
use crate::server::{Server, Tools};
use crate::session::{Session, Sink};

/// Which request types the client runs as tasks; what it declares in `capabilities.tasks`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hosting {
    pub(crate) elicitation: bool,
    pub(crate) sampling: bool,
}

#[derive(Debug)]
pub(crate) struct Host {
    server: Arc<Server>,
    session: Arc<Session>,
    sink: Sink,
    hosting: Hosting,
}

impl Host {
    /// Hosts tasks in `engine`; what it sends the server (status notifications) goes out on
    /// `transport`.
    pub(crate) fn new(
        engine: Engine,
        hosting: Hosting,
        info: Implementation,
        transport: Arc<dyn Transport>,
    ) -> Self {
        let server = Server::new(engine, Tools::new(), info);
        let session = Arc::new(Session::new(format!(
            "server-{}",
            uuid::Uuid::new_v4().simple()
        )));
        let (sink, mut rx) = Sink::channel(crate::session::DEFAULT_QUEUE);
        session.set_standing(Some(sink.clone()));
        server.start_session(&session);
        // Nobody else sweeps a client's engine: without this, expired hosted tasks would stay
        // (and count against the limits) for the client's whole life.
        server.engine().spawn_sweeper(session.closed().clone());
        let closed = session.closed().clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = rx.recv() => m,
                    () = closed.cancelled() => None,
                };
                let Some(message) = message else { return };
                if let Err(e) = transport.send(message).await {
                    tracing::debug!(error = %e, "could not send a hosted task's message to the server");
                }
            }
        });
        Self {
            server,
            session,
            sink,
            hosting,
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        self.server.engine()
    }

    pub(crate) fn takes_elicitation(&self) -> bool {
        self.hosting.elicitation
    }

    pub(crate) fn takes_sampling(&self) -> bool {
        self.hosting.sampling
    }

    /// Answers `tasks/*` from the server about the tasks it created here.
    pub(crate) async fn serve(&self, request: Request) -> Result<Value, ErrorObject> {
        self.server
            .handle_request(&self.session, request, &self.sink)
            .await
            .outcome
    }

    pub(crate) async fn create_elicitation(
        &self,
        raw: Value,
        task: TaskMetadata,
        params: ElicitRequestParams,
        handler: Arc<dyn ElicitationHandler>,
    ) -> Result<Value, ErrorObject> {
        self.create(
            RequestKind::ElicitationCreate,
            raw,
            task,
            move |cx| async move {
                let result = handler.elicit(params, cx).await?;
                serde_json::to_value(result)
                    .map_err(|e| ErrorObject::internal(format!("cannot encode the answer: {e}")))
            },
        )
        .await
    }

    pub(crate) async fn create_sampling(
        &self,
        raw: Value,
        task: TaskMetadata,
        params: CreateMessageRequestParams,
        handler: Arc<dyn SamplingHandler>,
    ) -> Result<Value, ErrorObject> {
        self.create(
            RequestKind::SamplingCreateMessage,
            raw,
            task,
            move |cx| async move {
                let result = handler.create_message(params, cx).await?;
                serde_json::to_value(result)
                    .map_err(|e| ErrorObject::internal(format!("cannot encode the answer: {e}")))
            },
        )
        .await
    }

    async fn create<F, Fut>(
        &self,
        kind: RequestKind,
        raw: Value,
        task: TaskMetadata,
        work: F,
    ) -> Result<Value, ErrorObject>
    where
        F: FnOnce(RequestContext) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        let engine = self.server.engine();
        let record = engine
            .create(CreateTask {
                requestor: self.session.requestor().clone(),
                kind,
                name: None,
                params: raw,
                ttl_ms: task.ttl,
                progress_token: None,
            })
            .await
            .map_err(|e| crate::error::to_error_object(&e))?;
        self.session.own_task(&record.id);
        let related = mcp_tasks_wire::meta::related_task_id(&record.params);
        engine.start(&record, move |tcx| {
            let cx = RequestContext {
                related_task: related,
                hosted_task: Some(tcx.id().to_string()),
                cancellation: tcx.cancellation().clone(),
                scope: None,
            };
            let run = work(cx);
            async move {
                // Keeps the task's context (and so its cancellation) alive while it runs.
                let _tcx = tcx;
                match run.await {
                    Ok(value) => Outcome::Completed(value),
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
        });
        super::connection::to_value(&CreateTaskResult::from(dialect::task(&record)))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.session.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use mcp_tasks_engine::{EngineConfig, ManualClock, MemoryStore, Requestor};
    use serde_json::json;

    use super::*;

    #[derive(Debug)]
    struct Nowhere;

    #[async_trait]
    impl Transport for Nowhere {
        async fn send(
            &self,
            _message: mcp_tasks_wire::jsonrpc::Message,
        ) -> crate::client::Result<()> {
            Ok(())
        }
        async fn close(&self) {}
    }

    /// T-TTL-1 on the client: a task hosted by a client is deleted once its ttl runs out,
    /// by the sweeper the client starts for its engine.
    #[tokio::test(start_paused = true)]
    async fn a_hosting_client_sweeps_its_expired_tasks() {
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
        let engine = Engine::with_clock(
            Arc::new(MemoryStore::new()),
            EngineConfig::default().sweep_interval(Duration::from_millis(100)),
            clock.clone(),
        );
        let host = Host::new(
            engine.clone(),
            Hosting {
                elicitation: true,
                sampling: false,
            },
            Implementation::new("client", "1"),
            Arc::new(Nowhere),
        );
        let requestor = Requestor::anonymous("server");
        let task = engine
            .create(CreateTask {
                requestor: requestor.clone(),
                kind: RequestKind::ElicitationCreate,
                name: None,
                params: json!({}),
                ttl_ms: Some(1000),
                progress_token: None,
            })
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));
        let gone = async {
            // The store, not `Engine::get`: that one reports an expired task as gone already.
            while engine
                .store()
                .get(requestor.owner.as_ref(), &task.id)
                .await
                .unwrap()
                .is_some()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), gone)
            .await
            .expect("the expired task is swept");
        drop(host);
    }
}

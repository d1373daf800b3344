//! `tasks/result`: blocks until the task is terminal and answers exactly what the underlying
//! request would have (T-RES-1, T-RES-2, T-RES-3); while it waits, it delivers the task's input
//! requests over this exchange (T-RES-4).
//!
//! Only the questions this exchange's session can answer are sent on it (the others wait for
//! an exchange that can, `input::can_answer`), and each only while this exchange holds its
//! claim (`claim.rs`), so two exchanges open on one task never both ask.

use std::collections::HashSet;
use std::sync::Arc;

use mcp_tasks_engine::AuditEvent;
use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::meta;
use mcp_tasks_wire::v2025_11_25::GetTaskPayloadRequestParams;
use serde_json::Value;
use tokio::task::JoinSet;

use super::claim::{self, Claim};
use super::input;
use crate::dialect;
use crate::error::to_error_object;
use crate::server::Server;
use crate::session::{Session, Sink};

pub(crate) async fn handle(
    server: &Arc<Server>,
    session: &Arc<Session>,
    params: Option<Value>,
    sink: &Sink,
) -> Result<Value, ErrorObject> {
    let p: GetTaskPayloadRequestParams = params_as(params)?;
    let id = super::task_id(p.task_id)?;
    let engine = server.engine();
    let requestor = session.requestor().clone();
    // Related messages (progress, status) for this task now prefer this stream.
    let _stream = session.open_task_stream(&id, sink.clone());
    // Asks in flight on this exchange; dropping the exchange aborts them, releasing their
    // claims, and their questions stay in the mailbox for the next exchange.
    let mut asks = JoinSet::new();
    let mut delivered: HashSet<String> = HashSet::new();
    let caps = session.peer_info().capabilities;
    let ours = |i: &mcp_tasks_engine::InputRequest, delivered: &HashSet<String>| {
        !delivered.contains(&i.key) && input::can_answer(&caps, &i.method, &i.params)
    };
    let watch = claim::watch(&id);
    loop {
        // Registered before the claims are looked at, so a release in between is not missed.
        let released = watch.released();
        tokio::pin!(released);
        released.as_mut().enable();
        let wait = engine.wait_until(&requestor, &id, |r| {
            r.status().is_terminal()
                || r.pending_inputs()
                    .any(|i| ours(i, &delivered) && !claim::is_claimed(&id, &i.key))
        });
        let record = tokio::select! {
            r = wait => r.map_err(|e| to_error_object(&e))?,
            () = &mut released => continue,
            () = session.closed().cancelled() => {
                return Err(ErrorObject::internal("the session ended before the task did"));
            }
            () = sink.closed() => {
                return Err(ErrorObject::internal("the stream to the client closed"));
            }
        };
        if record.status().is_terminal() {
            engine.audit(AuditEvent::ResultRetrieved, &record);
            return dialect::terminal_answer(&record);
        }
        let fresh: Vec<_> = record
            .pending_inputs()
            .filter(|i| ours(i, &delivered))
            .cloned()
            .collect();
        for pending in fresh {
            let Some(claimed) = claim::claim(&id, &pending.key) else {
                continue;
            };
            delivered.insert(pending.key.clone());
            let mut params = pending.params.clone();
            meta::with_related_task(&mut params, id.as_str());
            let (session, sink, engine, requestor, id) = (
                session.clone(),
                sink.clone(),
                engine.clone(),
                requestor.clone(),
                id.clone(),
            );
            let (method, key) = (pending.method.clone(), pending.key.clone());
            asks.spawn(async move {
                let _claimed: Claim = claimed;
                let answer = session.request(&sink, &method, params).await;
                if answer.is_err() && (sink.is_closed() || session.closed().is_cancelled()) {
                    // Not an answer: the stream went away. The question waits for the next
                    // tasks/result exchange, which the claim's release wakes.
                    return;
                }
                if let Err(e) = engine
                    .answer_input(&requestor, &id, &key, input::close_answer(&answer))
                    .await
                {
                    tracing::debug!(task = %id, error = %e, "answer to an input request not stored");
                }
            });
        }
    }
}

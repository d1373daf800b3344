//! `tasks/result`: blocks until the task is terminal and answers exactly what the underlying
//! request would have (T-RES-1, T-RES-2, T-RES-3); while it waits, it delivers the task's input
//! requests over this exchange (T-RES-4).
//!
//! Only the questions this exchange's session can answer are sent on it (the others wait for
//! an exchange that can, `input::can_answer`), and each only while this exchange holds its
//! claim (`claim.rs`), so two exchanges open on one task never both ask.
//!
//! An exchange answered with one JSON body (an HTTP client that does not take SSE,
//! `answered_as_json`) cannot carry a question: its questions go on the session's standing
//! stream while one is open, and otherwise stay in the mailbox, unclaimed, for an exchange
//! that can ask them. Sent nowhere, a question would count as asked and the task would wait
//! for an answer until its ttl.

use std::collections::HashSet;
use std::sync::Arc;

use mcp_tasks_engine::AuditEvent;
use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::meta;
use mcp_tasks_wire::v2025_11_25::GetTaskPayloadRequestParams;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::claim::{self, Claim};
use super::input;
use crate::dialect;
use crate::error::to_error_object;
use crate::server::Server;
use crate::session::{Session, Sink};

tokio::task_local! {
    /// Set while a transport handles a request it answers with one JSON body.
    static ANSWERED_AS_JSON: ();
}

/// Woken when a standing stream opens: the JSON-answered exchanges that have no place to ask
/// their questions look again.
static STANDING_OPENED: Notify = Notify::const_new();

/// Runs `exchange`, the handling of one request, as answered with a single JSON body: the
/// sink it is given only relays to the standing stream, so a `tasks/result` in it asks its
/// questions on the standing stream itself, and only while one is open.
pub(crate) async fn answered_as_json<F: std::future::Future>(exchange: F) -> F::Output {
    ANSWERED_AS_JSON.scope((), exchange).await
}

/// Tells the JSON-answered exchanges waiting for a place to ask that a standing stream opened.
pub(crate) fn standing_opened() {
    STANDING_OPENED.notify_waiters();
}

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
    let as_json = ANSWERED_AS_JSON.try_with(|()| ()).is_ok();
    // Where this exchange's questions go: a stream that carries the answer back.
    let ask_on = || {
        if as_json {
            session.standing_sink()
        } else {
            Some(sink.clone())
        }
    };
    let watch = claim::watch(&id);
    loop {
        // Registered before the claims and the standing stream are looked at, so a release
        // or an opening in between is not missed.
        let released = watch.released();
        tokio::pin!(released);
        released.as_mut().enable();
        let opened = STANDING_OPENED.notified();
        tokio::pin!(opened);
        opened.as_mut().enable();
        let can_ask = ask_on().is_some();
        let wait = engine.wait_until(&requestor, &id, |r| {
            r.status().is_terminal()
                || (can_ask
                    && r.pending_inputs()
                        .any(|i| ours(i, &delivered) && !claim::is_claimed(&id, &i.key)))
        });
        let record = tokio::select! {
            r = wait => r.map_err(|e| to_error_object(&e))?,
            () = &mut released => continue,
            () = &mut opened, if !can_ask => continue,
            Some(asked) = asks.join_next(), if !asks.is_empty() => {
                // A question whose stream went away unanswered may be asked again here.
                if let Ok(Some(key)) = asked {
                    delivered.remove(&key);
                }
                continue;
            }
            () = session.closed().cancelled() => {
                return Err(ErrorObject::internal("the session ended before the task did"));
            }
            () = sink.closed() => {
                return Err(ErrorObject::internal("the stream to the client closed"));
            }
        };
        if record.status().is_terminal() {
            // After the note: on a durable store that is a commit later than the one that
            // ended the task, so the audit log has the task's end before its retrieval.
            engine.result_retrieved(&requestor, &record).await;
            engine.audit(AuditEvent::ResultRetrieved, &record);
            return dialect::terminal_answer(&record);
        }
        let fresh: Vec<_> = record
            .pending_inputs()
            .filter(|i| ours(i, &delivered))
            .cloned()
            .collect();
        for pending in fresh {
            let Some(target) = ask_on() else {
                break;
            };
            let Some(claimed) = claim::claim(&id, &pending.key) else {
                continue;
            };
            delivered.insert(pending.key.clone());
            let mut params = pending.params.clone();
            meta::with_related_task(&mut params, id.as_str());
            let (session, engine, requestor, id) = (
                session.clone(),
                engine.clone(),
                requestor.clone(),
                id.clone(),
            );
            let (method, key) = (pending.method.clone(), pending.key.clone());
            // Gives the key back when the question was not answered.
            asks.spawn(async move {
                let _claimed: Claim = claimed;
                let answer = session.request(&target, &method, params).await;
                if answer.is_err() && (target.is_closed() || session.closed().is_cancelled()) {
                    // Not an answer: the stream went away. The question waits for the next
                    // exchange able to ask it, which the claim's release wakes.
                    return Some(key);
                }
                if let Err(e) = engine
                    .answer_input(&requestor, &id, &key, input::close_answer(&answer))
                    .await
                {
                    tracing::debug!(task = %id, error = %e, "answer to an input request not stored");
                }
                None
            });
        }
    }
}

//! Following a task of the tasks extension (MCP 2026-07-28, SEP-2663) from the requestor's
//! side: what [`TaskHandle`](super::TaskHandle) does in that era.
//!
//! There is no `tasks/result` to hold open and no stream the server pushes questions on: the
//! requestor polls `tasks/get` at the task's `pollIntervalMs`, which inlines the result or error
//! once the task is terminal and the open questions (`inputRequests`) while it is
//! `input_required`. Each question is answered once, with the client's handlers, by a
//! `tasks/update` of its own. `tasks/cancel` is only an acknowledgement: the task
//! ends `cancelled` when the server gets to it, which a later `tasks/get` shows.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use mcp_tasks_wire::jsonrpc::{ErrorCode, ErrorObject};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{Task, TaskStatus};
use mcp_tasks_wire::v2026_07_28::{self as v2, DetailedTask, InputResponses};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::error::{ClientError, Result};
use super::task::{decode, Peer};

/// What a handle of the extension keeps between polls.
#[derive(Debug, Default)]
pub(super) struct Extension {
    /// The last `tasks/get` answer; `None` while only the `CreateTaskResult` is known.
    pub(super) detailed: Option<DetailedTask>,
    /// The keys of the questions handed to the handlers: each is answered once. Shared with
    /// the answering task, which takes back the keys it could not send an answer for, so a
    /// later poll asks them again.
    asked: Arc<Mutex<HashSet<String>>>,
    /// The questions being answered now, in the background, so polling goes on meanwhile.
    pub(super) answering: Option<JoinHandle<Result<()>>>,
    /// Answers were just sent: read the task again without waiting out the interval.
    pub(super) poll_now: bool,
    /// A `tasks/get` answer was taken: until then a task the `CreateTaskResult` showed
    /// terminal is read at once, after that only at its interval, whatever it shows.
    pub(super) read: bool,
    /// Polls in a row whose answer the connection lost.
    pub(super) lost_polls: u32,
    /// `tasks/cancel` was sent: the task's questions are no longer answered (a form opened
    /// for a task being cancelled would ask the user for nothing).
    pub(super) cancelling: bool,
}

/// How many polls in a row may lose their answer (a dropped stream: the era resumes none)
/// before following the task fails; `tasks/get` is safe to ask again.
pub(super) const LOST_POLLS: u32 = 3;

impl Extension {
    /// The task's outcome once `tasks/get` showed it terminal: the inlined result of a
    /// `completed` task (a tool error with `isError: true` included, X-4), the inlined error
    /// of a `failed` one, and for a `cancelled` one the error 2025-11-25's `tasks/result`
    /// gives (-32800), so a caller reads both eras alike.
    pub(super) fn outcome(&self) -> Option<Result<Value>> {
        let d = self.detailed.as_ref()?;
        let id = &d.task.task_id;
        match d.task.status {
            TaskStatus::Completed => Some(d.result.clone().ok_or_else(|| {
                ClientError::protocol(
                    method::TASKS_GET,
                    format!("task {id} is completed but its result is not inlined"),
                )
            })),
            TaskStatus::Failed => Some(Err(match &d.error {
                Some(error) => ClientError::Rpc {
                    method: method::TASKS_GET.into(),
                    error: Box::new(error.clone()),
                },
                None => ClientError::protocol(
                    method::TASKS_GET,
                    format!("task {id} failed but its error is not inlined"),
                ),
            })),
            TaskStatus::Cancelled => {
                let why = d
                    .task
                    .status_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                Some(Err(ClientError::Rpc {
                    method: method::TASKS_GET.into(),
                    error: Box::new(ErrorObject::new(
                        ErrorCode::REQUEST_CANCELLED,
                        format!("task {id} was cancelled before it produced a result{why}"),
                    )),
                }))
            }
            TaskStatus::Working | TaskStatus::InputRequired => None,
        }
    }

    /// Starts answering the questions of the last `tasks/get` not handed over yet, unless
    /// answers are already under way (the rest wait for the next poll).
    pub(super) fn answer_new(&mut self, peer: &Arc<dyn Peer>) {
        if self.answering.is_some() || self.cancelling {
            return;
        }
        let Some(d) = &self.detailed else { return };
        if d.task.status != TaskStatus::InputRequired {
            return;
        }
        let fresh: Vec<_> = {
            let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
            d.input_requests
                .iter()
                .flatten()
                .filter(|(key, _)| asked.insert((*key).clone()))
                .map(|(key, request)| (key.clone(), request.clone()))
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let (peer, id, asked) = (peer.clone(), d.task.task_id.clone(), self.asked.clone());
        self.answering = Some(tokio::spawn(async move {
            for (i, (key, request)) in fresh.iter().enumerate() {
                let sent = async {
                    let answer = peer.answer_input(request, Some(&id)).await?;
                    let mut responses = InputResponses::new();
                    responses.insert(key.clone(), answer);
                    update(peer.as_ref(), &id, responses).await
                };
                if let Err(e) = sent.await {
                    let mut asked = asked.lock().unwrap_or_else(PoisonError::into_inner);
                    for (unsent, _) in &fresh[i..] {
                        asked.remove(unsent);
                    }
                    return Err(e);
                }
            }
            Ok(())
        }));
    }

    /// Stops answering for good: the task is being cancelled.
    pub(super) fn cancelling(&mut self) {
        self.cancelling = true;
        self.stop();
    }

    /// A fresh record for another reader of the same task
    /// ([`TaskHandle::result`](super::TaskHandle::result)): the questions this one handed over
    /// are not answered again, and a task being cancelled stays unanswered.
    pub(super) fn sharing(&self) -> Self {
        Self {
            asked: self.asked.clone(),
            cancelling: self.cancelling,
            ..Self::default()
        }
    }

    /// Stops answering (the task ended, or the handle is dropped).
    pub(super) fn stop(&mut self) {
        if let Some(answering) = self.answering.take() {
            answering.abort();
        }
    }
}

/// An [`Extension`] whose answering stops when it goes: the record of a
/// [`wait`] whose caller may drop it midway.
struct Stopping(Extension);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The task as 2025-11-25 shows it, so one [`TaskHandle::task`](super::TaskHandle::task) serves
/// both eras: the fields are the same, only the names of the durations differ.
pub(super) fn legacy_view(task: &v2::Task) -> Task {
    Task {
        task_id: task.task_id.clone(),
        status: task.status,
        status_message: task.status_message.clone(),
        created_at: task.created_at.clone(),
        last_updated_at: task.last_updated_at.clone(),
        ttl: task.ttl_ms,
        poll_interval: task.poll_interval_ms,
    }
}

/// `tasks/get`, checking that the answer is about the task asked for.
pub(super) async fn get(peer: &dyn Peer, id: &str) -> Result<DetailedTask> {
    let value = peer.call(method::TASKS_GET, json!({"taskId": id})).await?;
    let detailed: DetailedTask = decode(method::TASKS_GET, value)?;
    if detailed.task.task_id != id {
        return Err(ClientError::protocol(
            method::TASKS_GET,
            format!(
                "asked for task {id}, the answer is about task {}",
                detailed.task.task_id
            ),
        ));
    }
    Ok(detailed)
}

/// `tasks/cancel`: an acknowledgement only.
pub(super) async fn cancel(peer: &dyn Peer, id: &str) -> Result<()> {
    peer.call(method::TASKS_CANCEL, json!({"taskId": id}))
        .await
        .map(drop)
}

/// `tasks/update` with some answers.
async fn update(peer: &dyn Peer, id: &str, responses: InputResponses) -> Result<()> {
    let params = json!({"taskId": id, "inputResponses": responses});
    peer.call(method::TASKS_UPDATE, params).await.map(drop)
}

/// `tasks/get`, where a lost answer (up to [`LOST_POLLS`] in a row, counted in `lost`) is
/// `Ok(None)`: poll again later.
pub(super) async fn poll(
    peer: &dyn Peer,
    id: &str,
    lost: &mut u32,
) -> Result<Option<DetailedTask>> {
    match get(peer, id).await {
        Ok(detailed) => {
            *lost = 0;
            Ok(Some(detailed))
        }
        Err(ClientError::Transport(reason)) if *lost < LOST_POLLS => {
            *lost += 1;
            tracing::debug!(task = %id, %reason, lost = *lost, "tasks/get lost its answer; polling again");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Polls the task to its end, answering its questions inline, and returns its outcome: what
/// [`TaskHandle::result`](super::TaskHandle::result) is in this era. `interval` is the poll
/// interval known so far; each answer's `pollIntervalMs` then sets it. `state` is shared with
/// the handle ([`Extension::sharing`]); dropping the future stops its answering.
pub(super) async fn wait(
    peer: Arc<dyn Peer>,
    id: String,
    mut interval: std::time::Duration,
    state: Extension,
) -> Result<Value> {
    let mut stopping = Stopping(state);
    let state = &mut stopping.0;
    loop {
        let Some(detailed) = poll(peer.as_ref(), &id, &mut state.lost_polls).await? else {
            tokio::time::sleep(interval).await;
            continue;
        };
        interval = super::task::interval_of(detailed.task.poll_interval_ms);
        state.detailed = Some(detailed);
        if let Some(outcome) = state.outcome() {
            return outcome;
        }
        state.answer_new(&peer);
        if let Some(answering) = state.answering.as_mut() {
            let answered = answering.await;
            state.answering = None;
            answered.map_err(|e| ClientError::Transport(format!("answering stopped: {e}")))??;
            continue;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detailed(v: Value) -> Extension {
        Extension {
            detailed: Some(serde_json::from_value(v).unwrap()),
            ..Extension::default()
        }
    }

    fn base(status: &str) -> Value {
        json!({"resultType": "complete", "taskId": "t1", "status": status,
               "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z",
               "ttlMs": null})
    }

    /// the outcome is read from what `tasks/get` inlines: an `isError` result is a
    /// result, a failure its JSON-RPC error, a cancellation -32800 as in 2025-11-25.
    #[test]
    fn the_outcome_is_what_tasks_get_inlines() {
        let mut v = base("completed");
        v["result"] = json!({"content": [], "isError": true});
        let result = detailed(v).outcome().unwrap().unwrap();
        assert_eq!(result["isError"], true);

        let mut v = base("failed");
        v["error"] = json!({"code": -32603, "message": "boom"});
        let e = detailed(v).outcome().unwrap().unwrap_err();
        assert_eq!(e.rpc().unwrap().message, "boom");

        let e = detailed(base("cancelled")).outcome().unwrap().unwrap_err();
        assert_eq!(e.rpc().unwrap().code, ErrorCode::REQUEST_CANCELLED);

        assert!(detailed(base("working")).outcome().is_none());
        assert!(matches!(
            detailed(base("completed")).outcome().unwrap(),
            Err(ClientError::Protocol { .. })
        ));
    }

    /// the extension's task reads as the 2025 one, durations renamed.
    #[test]
    fn the_legacy_view_keeps_every_field() {
        let t: v2::Task = serde_json::from_value(json!({
            "taskId": "t1", "status": "working", "statusMessage": "m",
            "createdAt": "a", "lastUpdatedAt": "b", "ttlMs": 5, "pollIntervalMs": 7
        }))
        .unwrap();
        let view = legacy_view(&t);
        assert_eq!(
            serde_json::to_value(view).unwrap(),
            json!({"taskId": "t1", "status": "working", "statusMessage": "m",
                   "createdAt": "a", "lastUpdatedAt": "b", "ttl": 5, "pollInterval": 7})
        );
    }
}

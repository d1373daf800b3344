//! What one MCP 2026-07-28 `tools/call` shares between its handler's [`ToolContext`] and the
//! code answering the request: the answers and open questions of this round (B-6), and the
//! task the call may become.
//!
//! In this era the server directs the call. The answering side
//! ([`call_v2026`](super::call_v2026)) polls the handler and, after each poll, reads what the
//! handler did here: a question it could not answer from this round's answers ends the round
//! (`InputRequiredResult`); a question that must wait in a task's mailbox, or a call running
//! past its threshold, makes the call a task, and the very same handler future goes on as that
//! task, its [`TaskContext`] installed here so the context switches to task mode.
//!
//! [`ToolContext`]: super::ToolContext

use std::sync::{Mutex, OnceLock};
use std::task::Waker;

use futures::task::AtomicWaker;
use mcp_tasks_engine::TaskContext;
use mcp_tasks_wire::v2026_07_28::{InputRequest, InputRequests};
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::session::Sink;

/// The shared state of one directed call.
#[derive(Debug)]
pub(crate) struct Directed {
    /// The request's stream; let go when the call becomes a task, since the request is then
    /// answered and its stream must be free to end.
    sink: Mutex<Option<Sink>>,
    token: CancellationToken,
    progress_token: Option<Value>,
    promotable: bool,
    task: OnceLock<TaskContext>,
    promoted: Notify,
    round: Mutex<Round>,
    /// The code answering the request, woken when the handler asks something: a handler may
    /// ask from a task it spawned, whose wake-ups never reach the handler's own future.
    answering: AtomicWaker,
}

/// What the handler did in this round.
#[derive(Debug, Default)]
struct Round {
    /// Answers the client gave: carried by `requestState` and sent in `inputResponses`.
    given: Map<String, Value>,
    /// The answers the handler took, which the next round's `requestState` carries.
    used: Map<String, Value>,
    /// Questions asked and not answered: the round ends with them.
    open: InputRequests,
    /// How many questions without a key of their own were asked, to key them in order.
    unkeyed: u32,
    /// A question asked that only a task can wait for.
    wants_task: bool,
}

impl Directed {
    /// A call that may become a task when `promotable` (the tool is not forbidden to, and the
    /// client declared the tasks extension on this request), with the answers the client gave.
    pub(crate) fn new(
        sink: Sink,
        progress_token: Option<Value>,
        promotable: bool,
        given: Map<String, Value>,
    ) -> Self {
        Self {
            sink: Mutex::new(Some(sink)),
            token: CancellationToken::new(),
            progress_token,
            promotable,
            task: OnceLock::new(),
            promoted: Notify::new(),
            round: Mutex::new(Round {
                given,
                ..Round::default()
            }),
            answering: AtomicWaker::new(),
        }
    }

    /// Registers the code answering the request, to be woken when the handler asks a
    /// question or for a task. Register before reading [`Directed::open_questions`] and
    /// [`Directed::wants_task`], so a question asked in between still wakes it.
    pub(crate) fn register(&self, waker: &Waker) {
        self.answering.register(waker);
    }

    fn round(&self) -> std::sync::MutexGuard<'_, Round> {
        self.round.lock().expect("round mutex poisoned")
    }

    /// The request's stream, while the call is plain.
    pub(crate) fn sink(&self) -> Option<Sink> {
        self.sink.lock().expect("sink mutex poisoned").clone()
    }

    /// The progress token of the request.
    pub(crate) fn progress_token(&self) -> Option<&Value> {
        self.progress_token.as_ref()
    }

    /// The handler's cancellation: tripped by the request's cancellation while plain, by
    /// `tasks/cancel` (or expiry) once a task.
    pub(crate) fn cancellation(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether the call may become a task.
    pub(crate) fn promotable(&self) -> bool {
        self.promotable
    }

    /// The task the call became, once it did.
    pub(crate) fn task(&self) -> Option<&TaskContext> {
        self.task.get()
    }

    /// The key of the next question asked without one: `q1`, `q2`, … in the order asked, so
    /// a handler that runs again asks under the same keys.
    pub(crate) fn next_key(&self) -> String {
        let mut round = self.round();
        round.unkeyed += 1;
        format!("q{}", round.unkeyed)
    }

    /// The client's answer to `key`, taken (the next round carries it); `None` when it has
    /// not given one.
    pub(crate) fn answer(&self, key: &str) -> Option<Value> {
        let mut round = self.round();
        let answer = round.given.get(key).cloned()?;
        round.used.insert(key.to_owned(), answer.clone());
        Some(answer)
    }

    /// Records a question this round cannot answer.
    pub(crate) fn ask(&self, key: &str, method: &str, params: Value) {
        self.round().open.insert(
            key.to_owned(),
            InputRequest {
                method: method.to_owned(),
                params,
            },
        );
        self.answering.wake();
    }

    /// Forgets an open question, asked again in the task's mailbox instead.
    pub(crate) fn withdraw(&self, key: &str) {
        self.round().open.remove(key);
    }

    /// Waits until the call is a task; with `now`, asks for it to become one at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; the request for a task stands.
    pub(crate) async fn wait_task(&self, now: bool) -> &TaskContext {
        loop {
            let promoted = self.promoted.notified();
            tokio::pin!(promoted);
            // Registered before looking, so a promotion in between still wakes us.
            promoted.as_mut().enable();
            if let Some(task) = self.task.get() {
                return task;
            }
            if now {
                self.round().wants_task = true;
                self.answering.wake();
            }
            promoted.await;
        }
    }

    /// Makes the call a task: from now on its questions go to `task`'s mailbox and
    /// `tasks/cancel` cancels it. Wakes the questions waiting for it.
    pub(crate) fn become_task(&self, task: TaskContext) {
        self.sink.lock().expect("sink mutex poisoned").take();
        if self.task.set(task).is_err() {
            tracing::error!("a call was made a task twice; the second task is ignored");
        }
        self.promoted.notify_waiters();
    }

    /// The questions that end this round, if any.
    pub(crate) fn open_questions(&self) -> Option<InputRequests> {
        let round = self.round();
        (!round.open.is_empty()).then(|| round.open.clone())
    }

    /// Whether the handler asked something only a task can wait for.
    pub(crate) fn wants_task(&self) -> bool {
        self.round().wants_task
    }

    /// The answers the handler took in this round, for the next round's `requestState`.
    pub(crate) fn used_answers(&self) -> Map<String, Value> {
        self.round().used.clone()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn directed(given: Value) -> Directed {
        let (sink, _out) = Sink::channel(4);
        let Value::Object(given) = given else {
            unreachable!("answers are an object")
        };
        Directed::new(sink, None, true, given)
    }

    /// B-6: an answer given is taken and carried on; a missing one becomes an open question;
    /// keys without a name are numbered in order.
    #[test]
    fn answers_are_taken_and_missing_ones_asked() {
        let d = directed(json!({"a": {"action": "accept"}, "extra": {}}));
        assert_eq!(d.answer("a"), Some(json!({"action": "accept"})));
        assert_eq!(d.answer("b"), None);
        assert!(d.open_questions().is_none());
        d.ask("b", "roots/list", json!({}));
        assert_eq!(d.open_questions().unwrap()["b"].method, "roots/list");
        assert_eq!(
            d.used_answers(),
            json!({"a": {"action": "accept"}})
                .as_object()
                .cloned()
                .unwrap()
        );
        d.withdraw("b");
        assert!(d.open_questions().is_none());
        assert_eq!([d.next_key(), d.next_key()], ["q1", "q2"]);
    }
}

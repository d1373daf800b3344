//! The status state machine (T-LIFE-1, T-LIFE-2, T-LIFE-3).
//!
//! [`TaskStatus`] is the `Copy` view the wire shows; [`TaskState`] holds the data that is legal
//! only in a given status (a result only when completed, a failure only when failed).
//! [`TaskRecord::apply`](super::TaskRecord::apply) is the one place a [`Transition`] is checked,
//! and every store calls it under its own lock or transaction, so "terminal is final" is
//! enforced by the store, not by callers.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::InputRequest;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// The work runs. Left by the executor (finish), by the handler asking for input, or by a
    /// cancel.
    Working,
    /// The work waits for answers from the requestor. Left when the last pending input is
    /// answered (back to working), or by finish or cancel.
    InputRequired,
    /// Terminal: the work produced a result. Nothing leaves it.
    Completed,
    /// Terminal: the work ended in an error, or a tool result with `isError`. Nothing leaves it.
    Failed,
    /// Terminal: the requestor cancelled. Nothing leaves it, even when the work finishes later.
    Cancelled,
}

impl TaskStatus {
    /// All statuses, for tables and tests.
    pub const ALL: [Self; 5] = [
        Self::Working,
        Self::InputRequired,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Whether nothing can move a task out of this status (T-LIFE-2).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The transition table of T-LIFE-1. Staying in a non-terminal status is allowed (a status
    /// message update); staying in a terminal one is not.
    pub fn can_move_to(self, next: Self) -> bool {
        use TaskStatus::*;
        match (self, next) {
            (Completed | Failed | Cancelled, _) => false,
            (Working | InputRequired, _) => true,
        }
    }

    /// The wire spelling, shared by both dialects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::InputRequired => "input_required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON-RPC error as data: what the underlying request would have answered (T-RES-1).
///
/// The engine knows no JSON-RPC framing; it only keeps this triple so `tasks/result` can return
/// it unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i32,
    /// The error message.
    pub message: String,
    /// Optional structured data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Why a task failed (T-LIFE-3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Failure {
    /// The underlying request answered a JSON-RPC error.
    Error(RpcError),
    /// The underlying request answered a result that reports failure, such as a tool result
    /// with `isError: true`. `tasks/result` returns it as a result, not as an error.
    Result(Value),
}

/// A task's status with the data legal in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "outcome", rename_all = "snake_case")]
pub enum TaskState {
    /// See [`TaskStatus::Working`].
    Working,
    /// See [`TaskStatus::InputRequired`]; the pending requests are the record's unanswered
    /// [`InputRequest`]s.
    InputRequired,
    /// See [`TaskStatus::Completed`]; holds the result object.
    Completed(Value),
    /// See [`TaskStatus::Failed`].
    Failed(Failure),
    /// See [`TaskStatus::Cancelled`].
    Cancelled,
}

impl TaskState {
    /// The `Copy` view.
    pub fn status(&self) -> TaskStatus {
        match self {
            Self::Working => TaskStatus::Working,
            Self::InputRequired => TaskStatus::InputRequired,
            Self::Completed(_) => TaskStatus::Completed,
            Self::Failed(_) => TaskStatus::Failed,
            Self::Cancelled => TaskStatus::Cancelled,
        }
    }
}

/// How a task's work ended, as the handler reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A result; the task completes.
    Completed(Value),
    /// A failure, with the statusMessage that says why (T-LIFE-3).
    Failed {
        /// What `tasks/result` will answer.
        failure: Failure,
        /// The statusMessage.
        message: String,
    },
}

/// A change to a task, checked by [`TaskRecord::apply`](super::TaskRecord::apply).
///
/// Every variant except [`Transition::AnswerInput`] needs a non-terminal task; a terminal one
/// answers [`Error::Conflict`](crate::Error::Conflict) with its status.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Sets or clears the statusMessage; the status stays.
    Message(Option<String>),
    /// Adds a keyed request to the mailbox and moves the task to `input_required`.
    RequestInput(InputRequest),
    /// Records the answer to a pending request. When no request is left unanswered the task
    /// returns to `working`. An unknown or already answered key is ignored (no change).
    AnswerInput {
        /// The request's key.
        key: String,
        /// The requestor's answer (a result object, or an error object).
        response: Value,
    },
    /// Ends the work.
    Finish(Outcome),
    /// Moves the task to `cancelled`.
    Cancel {
        /// The statusMessage to show.
        message: Option<String>,
        /// Who cancelled, for the task's history: `owner:alice`, `session:…`, `admin`…
        by: Option<String>,
    },
    /// Takes over a task whose runner died, compare-and-swap on the runner: of several
    /// recoverers exactly one wins, the others get
    /// [`Error::RunnerChanged`](crate::Error::RunnerChanged).
    Recover {
        /// The runner the recoverer believes dead; the change applies only if it still runs
        /// the task.
        dead_runner: Option<String>,
        /// What becomes of the task.
        recovery: Recovery,
    },
}

/// What becomes of a task whose runner died while it was not terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Run the work again under `runner`: at-least-once execution, for tools declared
    /// resumable. The mailbox is cleared (the new run asks again) and the task is `working`.
    Rerun {
        /// The runner that takes the task.
        runner: String,
        /// The statusMessage saying why the work starts over.
        message: String,
    },
    /// Fail the task: `tasks/result` answers a -32603 error with `message`, which is also the
    /// statusMessage.
    Fail {
        /// Why, in words for the requestor.
        message: String,
    },
}

impl Transition {
    /// The status this change aims for, if it changes status at all.
    pub fn target(&self) -> Option<TaskStatus> {
        match self {
            Self::Message(_) | Self::AnswerInput { .. } => None,
            Self::RequestInput(_) => Some(TaskStatus::InputRequired),
            Self::Finish(Outcome::Completed(_)) => Some(TaskStatus::Completed),
            Self::Finish(Outcome::Failed { .. }) => Some(TaskStatus::Failed),
            Self::Cancel { .. } => Some(TaskStatus::Cancelled),
            Self::Recover {
                recovery: Recovery::Rerun { .. },
                ..
            } => Some(TaskStatus::Working),
            Self::Recover {
                recovery: Recovery::Fail { .. },
                ..
            } => Some(TaskStatus::Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-LIFE-1, T-LIFE-2: the whole 5x5 table.
    #[test]
    fn transition_table_has_all_25_pairs_right() {
        use TaskStatus::*;
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                // The spec's list of legal moves, plus staying put while non-terminal.
                let legal = [
                    (Working, Working),
                    (Working, InputRequired),
                    (Working, Completed),
                    (Working, Failed),
                    (Working, Cancelled),
                    (InputRequired, InputRequired),
                    (InputRequired, Working),
                    (InputRequired, Completed),
                    (InputRequired, Failed),
                    (InputRequired, Cancelled),
                ];
                let want = legal.contains(&(from, to));
                assert_eq!(from.can_move_to(to), want, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn status_spelling_round_trips() {
        for st in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(st.as_str()), Some(st));
            let json = serde_json::to_value(st).unwrap();
            assert_eq!(json, Value::String(st.as_str().into()));
        }
        assert_eq!(TaskStatus::parse("done"), None);
    }
}

//! The engine's one error type.

use crate::task::{TaskId, TaskStatus};

/// Everything that can go wrong in the engine and its stores.
///
/// The runtime maps each variant to a JSON-RPC error in one exhaustive `match`; messages here
/// name the task, what was expected, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No task with this id is visible to the requestor. Another owner's task gives exactly
    /// this error, so a denial never reveals that the task exists (T-SEC-1).
    #[error("task {id} not found; it may never have existed, or it was deleted")]
    NotFound {
        /// The id asked for.
        id: TaskId,
    },
    /// The task's ttl ran out; it is gone or about to be (T-TTL-1).
    #[error("task {id} has expired; its ttl ran out and it was deleted with its result")]
    Expired {
        /// The id asked for.
        id: TaskId,
    },
    /// A change was refused because the task is already terminal (T-LIFE-2), or a
    /// compare-and-swap lost a race to a change that made it terminal.
    #[error("task {id} is already {actual}; a {actual} task cannot change")]
    Conflict {
        /// The task.
        id: TaskId,
        /// Its status now.
        actual: TaskStatus,
    },
    /// An input request reused a key of the same task.
    #[error(
        "task {id} already has an input request keyed {key:?}; keys are unique for a task's life"
    )]
    DuplicateInputKey {
        /// The task.
        id: TaskId,
        /// The reused key.
        key: String,
    },
    /// A `tasks/list` cursor that this engine did not make (T-LIST-1).
    #[error("invalid cursor {cursor:?}; pass back a nextCursor exactly as received, or none for the first page")]
    InvalidCursor {
        /// The cursor as received.
        cursor: String,
    },
    /// The task was cancelled while its work waited for something.
    #[error("task {id} was cancelled")]
    Cancelled {
        /// The task.
        id: TaskId,
    },
    /// The requestor already has as many unfinished tasks as it may (T-TTL-2).
    #[error("too many unfinished tasks: this requestor already has {limit} tasks working or waiting for input, the most allowed; wait for some to finish or cancel them")]
    LimitExceeded {
        /// The limit.
        limit: usize,
    },
    /// The requestor's client already holds more bytes of unexpired task results than it may
    /// (T-TTL-2): a new task would only add to them.
    #[error("too many stored results: this client holds {held} bytes of unexpired task results, above the limit of {limit} bytes (max stored result bytes); {}", retry_hint(*.retry_after))]
    ResultBytesExceeded {
        /// What the client holds.
        held: u64,
        /// The limit.
        limit: u64,
        /// When the oldest of those results expires; `None` when none of them ever does.
        retry_after: Option<std::time::Duration>,
    },
    /// A task asked for more input at once than allowed.
    #[error("task {id} already waits for {limit} answers, the most allowed; answer those first")]
    TooManyInputs {
        /// The task.
        id: TaskId,
        /// The limit.
        limit: usize,
    },
    /// Orphan recovery lost the race: another runner already took the task over.
    #[error("task {id} is run by {runner:?} now; another recoverer took it over first")]
    RunnerChanged {
        /// The task.
        id: TaskId,
        /// Its runner now.
        runner: Option<String>,
    },
    /// Orphan recovery was refused: the task's runner holds a live lease on a shared store, so
    /// it is not dead; it was slow to renew and is back.
    #[error("task {id} is run by {runner:?}, which is alive (its lease is live); it is no orphan")]
    RunnerAlive {
        /// The task.
        id: TaskId,
        /// Its runner.
        runner: Option<String>,
    },
    /// A string the task would keep holds a NUL byte (U+0000). PostgreSQL's text cannot hold
    /// one, so every store refuses it alike, as the requestor's mistake, rather than one store
    /// failing where the others do not.
    #[error("{field} holds a NUL byte (U+0000), which no task store keeps")]
    NulByte {
        /// What held it: `owner`, `session` or `tool name`.
        field: &'static str,
    },
    /// The store failed; the message of the cause says how.
    ///
    /// The cause is part of the message and deliberately not exposed as `source()`, so error
    /// reports that print the chain do not say it twice.
    #[error("task store failed: {cause}")]
    Store {
        /// The backend's error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Wraps a backend error.
    pub fn store(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Store {
            cause: source.into(),
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a client over its stored-result cap can do.
fn retry_hint(after: Option<std::time::Duration>) -> String {
    match after {
        Some(after) => format!(
            "retry in {} s, when the oldest of them expires, or ask for shorter ttls",
            after.as_secs().max(1)
        ),
        None => "they never expire: ask the operator to delete finished tasks, or ask for \
                 ttls with new tasks"
            .to_owned(),
    }
}

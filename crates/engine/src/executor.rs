//! What a task's work sees while it runs: [`TaskContext`].

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::progress::{ProgressNotes, Report};
use crate::task::{InputRequest, Requestor, TaskId, TaskRecord, Transition};
use crate::{Error, Result};

/// The handle a task's work holds: its id, its cancellation, its status message, and its way to
/// ask the requestor for input.
#[derive(Debug)]
pub struct TaskContext {
    engine: Engine,
    id: TaskId,
    requestor: Requestor,
    token: CancellationToken,
    progress_token: Option<Value>,
    /// Questions of this run not answered yet; only this run asks for its task, so counting
    /// here is exact.
    pending: AtomicUsize,
    /// Progress on its way into the task's history.
    progress: ProgressNotes,
}

/// Gives a pending-question slot back when the question is answered or abandoned.
struct PendingSlot<'a>(&'a AtomicUsize);

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl TaskContext {
    pub(crate) fn new(engine: Engine, record: &TaskRecord, token: CancellationToken) -> Self {
        Self {
            progress: ProgressNotes::new(engine.clone(), record.id.clone()),
            engine,
            id: record.id.clone(),
            requestor: Requestor {
                owner: record.owner.clone(),
                session: record.session.clone(),
            },
            token,
            progress_token: record.progress_token.clone(),
            pending: AtomicUsize::new(0),
        }
    }

    /// The run's progress notes, for the engine to close when the work ends.
    pub(crate) fn progress_notes(&self) -> ProgressNotes {
        self.progress.clone()
    }

    /// The task's id.
    pub fn id(&self) -> &TaskId {
        &self.id
    }

    /// The progress token the task-augmented request carried (T-PROG-1).
    pub fn progress_token(&self) -> Option<&Value> {
        self.progress_token.as_ref()
    }

    /// Tripped when the task is cancelled or expires; the work is also aborted at its next
    /// `.await`, so watching it is only needed for clean-up.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.token
    }

    /// Sets the statusMessage requestors see.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the task is already terminal.
    pub async fn set_message(&self, message: impl Into<String>) -> Result<()> {
        self.engine
            .transition(&self.id, Transition::Message(Some(message.into())))
            .await
            .map(drop)
    }

    /// Notes progress in the task's history, for operators: the first report at once, then at
    /// most one a second, each time the latest; the last report before the work returns is
    /// written before its outcome. Reports in between are replaced, not queued, so reporting
    /// costs no memory however often it happens.
    ///
    /// Never waits and never fails: it may be called from any thread, inside a tokio runtime
    /// or not (outside one the report waits for a later one, or for the work's end). Sending
    /// progress to the requestor is the runtime's; a failure to note it is logged, since the
    /// work goes on all the same. Nothing is noted once the work ended.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        self.progress.report(Report {
            progress,
            total,
            message,
            at: self.engine.now(),
        });
    }

    /// Asks the requestor a question tied to this task (an `elicitation/create` or
    /// `sampling/createMessage` request) and waits for the answer (T-RES-4).
    ///
    /// The request goes into the task's mailbox and the task moves to `input_required`;
    /// whoever serves the requestor delivers it and writes the answer back; the task then
    /// returns to `working` and this returns the answer (a result object, or an error object
    /// under the key `"error"`).
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] when the task is cancelled while waiting; [`Error::Conflict`] when
    /// it is already terminal; [`Error::TooManyInputs`] when it already waits for as many
    /// answers as [`Limits::max_pending_inputs`](crate::Limits) allows.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the question in the mailbox, unanswered.
    pub async fn request_input(&self, method: &str, params: Value) -> Result<Value> {
        let in_flight = self.pending.fetch_add(1, Ordering::AcqRel);
        let _slot = PendingSlot(&self.pending);
        if let Some(limit) = self.engine.config().limits.max_pending_inputs {
            if in_flight >= limit {
                return Err(Error::TooManyInputs {
                    id: self.id.clone(),
                    limit,
                });
            }
        }
        let key = uuid::Uuid::new_v4().simple().to_string();
        self.engine
            .transition(
                &self.id,
                Transition::RequestInput(InputRequest::new(key.clone(), method, params)),
            )
            .await?;
        let wait = self.engine.wait_until(&self.requestor, &self.id, |r| {
            r.input_response(&key).is_some() || r.status().is_terminal()
        });
        let record = tokio::select! {
            r = wait => r?,
            () = self.token.cancelled() => return Err(Error::Cancelled { id: self.id.clone() }),
        };
        match record.input_response(&key) {
            Some(answer) => Ok(answer.clone()),
            None => Err(Error::Conflict {
                id: self.id.clone(),
                actual: record.status(),
            }),
        }
    }
}

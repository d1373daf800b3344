//! A running task's progress in its history: [`ProgressNotes`].
//!
//! A tool may report progress millions of times, from any thread, tokio's or not, and must
//! never wait for the store to do so. So a report only replaces the latest one in a slot; at
//! most one write per task is in flight, at most one starts a second, and the engine writes
//! the last report before the task's end. Memory stays one report per task, however often the
//! work reports, and the history never shows progress after the task ended.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::Engine;
use crate::history::EventKind;
use crate::task::TaskId;
use crate::Error;

/// At most one progress event a second goes into a task's history.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// One report of the work.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) progress: f64,
    pub(crate) total: Option<f64>,
    pub(crate) message: Option<String>,
    /// When the work reported it, which is when the history says it happened.
    pub(crate) at: Timestamp,
}

/// The progress of one run of a task, shared by its [`TaskContext`](crate::TaskContext), the
/// write in flight, and the engine that ends the run.
#[derive(Clone, Debug)]
pub(crate) struct ProgressNotes {
    engine: Engine,
    id: TaskId,
    slot: Arc<Mutex<Slot>>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The latest report not written; a newer one replaces it.
    latest: Option<Report>,
    /// When the last write started.
    last_write: Option<Instant>,
    /// The write in flight, if any: the only one. A writer the runtime dropped (it shut down)
    /// counts as finished.
    writer: Option<JoinHandle<()>>,
    /// The run ended: nothing more is noted.
    closed: bool,
}

impl ProgressNotes {
    pub(crate) fn new(engine: Engine, id: TaskId) -> Self {
        Self {
            engine,
            id,
            slot: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().expect("progress slot mutex poisoned")
    }

    /// Keeps `report` as the latest, and starts writing it when no write is in flight and the
    /// last started a second ago or more (the first report goes at once). Off a tokio runtime
    /// nothing can start: the report waits in the slot for a later one, or for the run's end.
    pub(crate) fn report(&self, report: Report) {
        let now = Instant::now();
        let mut slot = self.lock();
        if slot.closed {
            return;
        }
        slot.latest = Some(report);
        let due = slot.writer.as_ref().is_none_or(JoinHandle::is_finished)
            && slot
                .last_write
                .is_none_or(|at| now.duration_since(at) >= PROGRESS_EVERY);
        if !due {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(first) = slot.latest.take() else {
            return;
        };
        slot.last_write = Some(now);
        // Stored under the lock, so the writer cannot clear it before it is set.
        slot.writer = Some(runtime.spawn(self.clone().write_from(first)));
    }

    /// Writes `report`, then, while a newer report waited its second (the store was slow),
    /// that one too; then leaves the way free for the next writer.
    async fn write_from(self, mut report: Report) {
        loop {
            self.write(report).await;
            let mut slot = self.lock();
            let due = !slot.closed
                && slot
                    .last_write
                    .is_none_or(|at| at.elapsed() >= PROGRESS_EVERY);
            match slot.latest.take() {
                Some(next) if due => {
                    slot.last_write = Some(Instant::now());
                    report = next;
                }
                waiting => {
                    slot.latest = waiting;
                    slot.writer = None;
                    return;
                }
            }
        }
    }

    /// Ends the run's notes: nothing reported from now on is kept. With `keep_latest` (the work
    /// returned an outcome), waits for the write in flight and writes the latest report, so the
    /// history holds the last progress before the outcome the engine stores next.
    pub(crate) async fn close(&self, keep_latest: bool) {
        let (writer, latest) = {
            let mut slot = self.lock();
            slot.closed = true;
            (slot.writer.take(), slot.latest.take())
        };
        if !keep_latest {
            return;
        }
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        if let Some(latest) = latest {
            self.write(latest).await;
        }
    }

    /// Appends one progress event; a failure is logged, never returned, since the work goes on
    /// all the same.
    async fn write(&self, report: Report) {
        let kind = EventKind::Progress {
            progress: report.progress,
            total: report.total,
            message: report.message,
        };
        match self.engine.store().record(&self.id, report.at, kind).await {
            Ok(()) => {}
            Err(Error::Conflict { actual, .. }) => {
                tracing::debug!(task = %self.id, %actual, "progress not noted: the task already ended");
            }
            Err(Error::NotFound { .. }) => {
                tracing::debug!(task = %self.id, "progress not noted: the task is gone");
            }
            Err(e) => {
                tracing::warn!(task = %self.id, error = %e, "could not note progress in the task's history");
            }
        }
    }
}

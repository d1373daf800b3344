//! [`Admin`]: what an operator may do over every owner's tasks (issue 15 item 3).
//!
//! Requestors see their own tasks through [`Engine`]; an operator sees and steers all of them
//! through this facade, which whoever serves operators (the runtime's admin listener, the CLI on
//! a store no server holds) authenticates first. Nothing here is reachable from MCP.

use jiff::Timestamp;

use crate::cursor::Position;
use crate::engine::Engine;
use crate::history::TaskEvent;
use crate::store::{AdminQuery, OwnerFilter, TaskCount};
use crate::task::{TaskId, TaskRecord, TaskStatus};
use crate::{AuditEvent, Error, Result};

/// How many tasks one store call purges, and how many events one history read takes.
const BATCH: usize = 1000;

/// Which tasks an operator's listing shows; the default shows every task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminFilter {
    /// Only tasks in one of these statuses; empty: any.
    pub statuses: Vec<TaskStatus>,
    /// Only this owner's tasks, or only unowned ones; `None`: any.
    pub owner: Option<OwnerFilter>,
    /// Only tasks of this tool.
    pub tool: Option<String>,
    /// Only tasks created strictly after this time.
    pub created_after: Option<Timestamp>,
    /// Only tasks created strictly before this time.
    pub created_before: Option<Timestamp>,
}

/// One page of an operator's listing, newest first.
#[derive(Clone, Debug)]
pub struct AdminPage {
    /// The tasks, newest first.
    pub tasks: Vec<TaskRecord>,
    /// The cursor of the next (older) page, when more tasks remain.
    pub next_cursor: Option<String>,
}

/// An operator's handle on an [`Engine`]; see the module docs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Admin {
    engine: Engine,
}

impl Engine {
    /// The operator's facade on this engine.
    pub fn admin(&self) -> Admin {
        Admin {
            engine: self.clone(),
        }
    }
}

impl Admin {
    /// One page of every owner's tasks that pass `filter`, newest first, starting after
    /// `cursor` (a `next_cursor` of an earlier page).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCursor`] for a cursor this store's key did not sign for an operator's
    /// listing (forged, from another server, or a requestor's `tasks/list` cursor);
    /// [`Error::Store`] when the store fails.
    pub async fn list(
        &self,
        filter: AdminFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<AdminPage> {
        let store = self.engine.store();
        let key = store.cursor_key();
        let before = cursor.map(|c| Position::decode_admin(c, key)).transpose()?;
        let limit = limit.max(1);
        let AdminFilter {
            statuses,
            owner,
            tool,
            created_after,
            created_before,
        } = filter;
        let mut tasks = store
            .admin_list(&AdminQuery {
                statuses,
                owner,
                tool,
                created_after,
                created_before,
                before,
                limit: limit.saturating_add(1),
            })
            .await?;
        let more = tasks.len() > limit;
        tasks.truncate(limit);
        let next_cursor = more
            .then(|| tasks.last())
            .flatten()
            .map(|last| position(last).encode_admin(key));
        Ok(AdminPage { tasks, next_cursor })
    }

    /// Any owner's task and its whole history.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown id; [`Error::Store`] when the store fails.
    pub async fn task(&self, id: &TaskId) -> Result<(TaskRecord, Vec<TaskEvent>)> {
        let store = self.engine.store();
        let record = store
            .inspect(id)
            .await?
            .ok_or_else(|| Error::NotFound { id: id.clone() })?;
        let mut history = Vec::new();
        loop {
            let after = history.last().map(|e: &TaskEvent| e.seq);
            let page = store.history(id, after, BATCH).await?;
            let done = page.len() < BATCH;
            history.extend(page);
            if done {
                return Ok((record, history));
            }
        }
    }

    /// Cancels any owner's task and stops its work, wherever it runs; `by` names the operator
    /// in the task's history (`admin`, `admin:cli`…).
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] naming the status when the task is already terminal;
    /// [`Error::NotFound`] for an unknown id; [`Error::Store`] when the store fails.
    pub async fn cancel(
        &self,
        id: &TaskId,
        by: &str,
        message: Option<String>,
    ) -> Result<TaskRecord> {
        self.engine
            .cancel_by(id, message, Some(by.to_owned()))
            .await
    }

    /// Deletes every terminal task last changed before `finished_before`, with its history;
    /// returns how many went. Waiters on them learn they are gone.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails; what was purged before stays purged.
    pub async fn purge(&self, finished_before: Timestamp) -> Result<usize> {
        let mut total = 0;
        loop {
            let gone = self.engine.store().purge(finished_before, BATCH).await?;
            total += gone.len();
            for record in &gone {
                self.engine.audit(AuditEvent::Purge, record);
            }
            if gone.len() < BATCH {
                tracing::info!(count = total, before = %finished_before, "purged finished tasks");
                return Ok(total);
            }
        }
    }

    /// How many tasks there are by status, tool and owner.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn counts(&self) -> Result<Vec<TaskCount>> {
        self.engine.store().counts().await
    }

    /// Readiness: the store answers, and on a shared store this instance holds its lease (so
    /// the others do not take its tasks for orphans), if it runs tasks there. Nothing here
    /// starts the engine's duties or takes a lease: checking is safe on a store that another
    /// process serves.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] saying which of the two failed.
    pub async fn check(&self) -> Result<()> {
        self.engine.store().check().await?;
        if self.lease_held() == Some(false) {
            return Err(Error::store(
                "this instance does not hold its lease on the shared store (its last renewal \
                 failed, or it was released at shutdown); other instances may take over its \
                 tasks",
            ));
        }
        Ok(())
    }

    /// Whether this instance holds its lease on a shared store: `None` when it needs none (the
    /// store is not shared, or this engine never ran a task on it: an operator's tool reading a
    /// store takes no lease), `Some(false)` while renewals fail or after release.
    pub fn lease_held(&self) -> Option<bool> {
        self.engine.lease_held()
    }
}

fn position(record: &TaskRecord) -> Position {
    Position {
        created_at: record.created_at,
        id: record.id.clone(),
    }
}

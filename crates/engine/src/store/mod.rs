//! The storage seam: [`TaskStore`] and its implementations.
//!
//! A store keeps records and refuses illegal transitions; it does not wait, resolve ttls,
//! enforce limits, or run work. [`Engine`](crate::Engine) does those once, over any store.

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::broadcast;

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous, WriterStats};

use crate::cursor::Position;
use crate::task::{NewTask, Owner, TaskId, TaskRecord, TaskStatus, Transition};
use crate::Result;

/// What happened to a task, as the change feed reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeEvent {
    /// The task was created.
    Created,
    /// The task changed; its status after the change.
    Updated(TaskStatus),
    /// The task was deleted because its ttl ran out.
    Expired,
}

/// One entry of the change feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The task.
    pub id: TaskId,
    /// What happened.
    pub event: ChangeEvent,
}

/// A subscription to a store's changes.
///
/// A feed is a hint, never the truth: a subscriber that lags (or, on shared stores, reconnects)
/// may miss entries, so it re-reads the records it cares about. Subscribe before reading, or a
/// change between the read and the subscription is lost.
pub type ChangeFeed = broadcast::Receiver<Change>;

/// Which tasks a `tasks/list` page shows, and from where.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// With an owner: that owner's tasks. Without: unowned tasks of `session` only.
    pub owner: Option<Owner>,
    /// The requestor's session; see [`Requestor`](crate::task::Requestor).
    pub session: Option<String>,
    /// Start strictly after this position.
    pub after: Option<Position>,
    /// At most this many tasks.
    pub limit: usize,
}

/// Which unfinished tasks to read, for orphan recovery.
#[derive(Clone, Debug)]
pub struct UnfinishedQuery {
    /// Leave out tasks run by this runner (the caller's own, which are alive).
    pub except_runner: Option<String>,
    /// Start strictly after this position.
    pub after: Option<Position>,
    /// At most this many tasks.
    pub limit: usize,
}

/// Where tasks live.
///
/// # Contract
///
/// Every implementation passes the [`conformance`](crate::conformance) suite; each rule names
/// the case that proves it.
/// - `create` makes the task durable before it returns: a `get` right after, through any handle
///   on the same backend, finds it (T-NEW-5; `create_then_get`). With
///   [`NewTask::active_limit`] it refuses with [`Error::LimitExceeded`](crate::Error::LimitExceeded)
///   when the requestor already has that many unfinished tasks, checked atomically with the
///   insert (T-TTL-2; `active_limit_is_exact`).
/// - `get` returns `None` for a task of another owner, exactly as for an unknown id
///   (T-SEC-1; `get_is_owner_scoped`).
/// - `transition` is compare-and-swap: it applies the change with
///   [`TaskRecord::apply`] atomically, refuses to leave a terminal status with
///   [`Error::Conflict`](crate::Error::Conflict), and returns the record after the change
///   (T-LIFE-2; `terminal_is_final`, `racing_finishers_have_one_winner`). An unknown id is
///   [`Error::NotFound`](crate::Error::NotFound).
/// - `list` returns tasks in `(created_at, id)` order after `query.after`, filtered as
///   [`TaskRecord::listed_for`] says (T-LIST-1, T-LIST-2; `list_pages_and_scopes`).
/// - `delete_expired` deletes tasks whose `expires_at` is at or before `now`, returns them as
///   they were, and reports them on the feed as [`ChangeEvent::Expired`] (T-TTL-1;
///   `expired_tasks_are_deleted`).
/// - `unfinished` returns non-terminal tasks in `(created_at, id)` order, for orphan recovery
///   (`unfinished_and_recovery`).
/// - Every create, change and deletion is sent on the feed (`feed_reports_changes`).
#[async_trait]
pub trait TaskStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a new task.
    async fn create(&self, new: NewTask) -> Result<TaskRecord>;

    /// Reads a task visible to `owner`.
    async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>>;

    /// Applies a change atomically.
    async fn transition(
        &self,
        id: &TaskId,
        change: Transition,
        now: Timestamp,
    ) -> Result<TaskRecord>;

    /// Reads one page of a listing.
    async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>>;

    /// Deletes up to `limit` tasks whose ttl ran out by `now`; returns them.
    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>>;

    /// Reads one page of tasks that are not terminal.
    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>>;

    /// Subscribes to changes.
    fn changes(&self) -> ChangeFeed;
}

const _: Option<&dyn TaskStore> = None;

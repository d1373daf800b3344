//! The storage seam: [`TaskStore`] and its implementations.
//!
//! A store keeps records and refuses illegal transitions; it does not wait, resolve ttls,
//! enforce limits, or run work. [`Engine`](crate::Engine) does those once, over any store.

mod feed;
mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

pub use feed::{ChangeFeed, ChangeSender, RecvError};
pub use memory::MemoryStore;
pub use open::{
    default_sqlite_path, redact, OpenOptions, PgUrl, StoreUrl, StoreUrlError, DEFAULT_SQLITE_FILE,
};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
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

/// What renewing a runner's lease found; see [`TaskStore::renew_lease`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The lease was live and now runs for another ttl.
    Kept,
    /// There was no lease: this is the runner's first.
    Started,
    /// The lease had lapsed and was taken again, or other runners recovered some of this
    /// runner's tasks since its last renewal: it must check the work it still runs.
    Regained,
}

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
    /// Leave out tasks run by this runner (the caller's own, which are alive). Tasks of runners
    /// holding a live lease are always left out.
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
/// - `unfinished` returns non-terminal tasks in `(created_at, id)` order, for orphan recovery,
///   leaving out tasks of runners with a live lease (`unfinished_and_recovery`,
///   `leases_keep_runners_alive`).
/// - `cursor_key` is the same for every handle on the same backend, and across reopening a
///   durable one, so `tasks/list` cursors signed by one instance are honoured by the others and
///   after a restart (T-LIST-1; `cursor_key_is_stable`).
/// - Every create, change and deletion is sent on the feed (`feed_reports_changes`), also to
///   subscribers of other handles on the same backend when the store is shared; an entry may
///   come more than once.
///
/// # Shared stores
///
/// A store that several processes use at once ([`TaskStore::is_shared`]) also keeps runner
/// leases: a runner whose lease lapsed is dead, its unfinished tasks are orphans that any other
/// runner recovers while serving, and a [`Transition::Recover`] of a task whose runner holds a
/// live lease is refused with [`Error::RunnerAlive`](crate::Error::RunnerAlive), atomically with
/// the renewal, so a runner that comes back never loses a task it was not told about. Stores
/// served by one process at a time keep no leases: to them every runner but the caller's is
/// dead, which is true once the previous process is gone.
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

    /// The secret that signs `tasks/list` cursors (see [`Position`]). A store that other
    /// processes read, or that outlives its process, keeps a random key in the backend, made
    /// when it is first opened. The default, for stores no other process reads, is a random key
    /// made once per process.
    fn cursor_key(&self) -> &[u8] {
        crate::cursor::process_key()
    }

    /// Whether several processes may serve this store at once; see "Shared stores" above.
    fn is_shared(&self) -> bool {
        false
    }

    /// Holds `runner`'s lease for `ttl` from now, by the store's clock, so that no other
    /// process takes its tasks for orphans.
    async fn renew_lease(&self, runner: &str, ttl: Duration) -> Result<Lease> {
        let _ = (runner, ttl);
        Ok(Lease::Kept)
    }

    /// Ends `runner`'s lease at once, on a clean shutdown, so that its unfinished tasks are
    /// recovered by the others without waiting for the lease to lapse.
    async fn release_lease(&self, runner: &str) -> Result<()> {
        let _ = runner;
        Ok(())
    }
}

const _: Option<&dyn TaskStore> = None;

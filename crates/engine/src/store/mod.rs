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
use crate::history::{EventKind, TaskEvent};
use crate::task::{NewTask, Owner, TaskId, TaskRecord, TaskStatus, Transition};
use crate::Result;

/// What happened to a task, as the change feed reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeEvent {
    /// The task was created.
    Created,
    /// The task changed; its status after the change.
    Updated(TaskStatus),
    /// The task was deleted: its ttl ran out or an operator purged it.
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

/// Whose tasks an operator's listing shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerFilter {
    /// Tasks bound to this owner.
    Owner(Owner),
    /// Tasks bound to no owner (created without authentication).
    Unowned,
}

/// Which tasks an operator's listing shows ([`TaskStore::admin_list`]): every owner's, newest
/// first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminQuery {
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
    /// Start strictly before (older than) this position: the cursor of the previous page.
    pub before: Option<Position>,
    /// At most this many tasks.
    pub limit: usize,
}

impl Default for AdminQuery {
    /// Everything, newest first, 50 at a time.
    fn default() -> Self {
        Self {
            statuses: Vec::new(),
            owner: None,
            tool: None,
            created_after: None,
            created_before: None,
            before: None,
            limit: 50,
        }
    }
}

impl AdminQuery {
    /// Whether `record` passes the filters (not the position or the limit): the one
    /// definition stores without a query language apply.
    pub fn matches(&self, record: &TaskRecord) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&record.status()))
            && match &self.owner {
                None => true,
                Some(OwnerFilter::Owner(o)) => record.owner.as_ref() == Some(o),
                Some(OwnerFilter::Unowned) => record.owner.is_none(),
            }
            && self
                .tool
                .as_ref()
                .is_none_or(|t| record.name.as_ref() == Some(t))
            && self.created_after.is_none_or(|at| record.created_at > at)
            && self.created_before.is_none_or(|at| record.created_at < at)
    }
}

/// How many tasks share a status, a tool and an owner ([`TaskStore::counts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCount {
    /// Their status.
    pub status: TaskStatus,
    /// Their tool; `None` for tasks that wrap no tool call.
    pub tool: Option<String>,
    /// Their owner; `None` for unowned tasks.
    pub owner: Option<Owner>,
    /// How many.
    pub count: u64,
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
/// - `create` appends the task's [`EventKind::Created`] event (seq 1) and `transition` the
///   event [`history::event_for`](crate::history::event_for) makes of the change, in the same
///   write as the change; `record` appends an event that changes no state; `history` reads them
///   back in order, whoever owns the task; a task's history goes with it
///   (`history_of_a_full_life`, `cancel_and_failure_are_in_the_history`,
///   `recovery_is_in_the_history`,
///   `history_goes_with_the_task`, `record_needs_a_task`).
/// - `inspect`, `admin_list`, `counts` and `purge` see every owner's tasks, for operators:
///   `admin_list` newest first, `(created_at, id)` descending, strictly before `query.before`;
///   `purge` deletes terminal tasks last changed before a time and reports them as
///   [`ChangeEvent::Expired`] (`admin_list_filters_and_pages`, `counts_group_tasks`,
///   `inspect_ignores_owner`, `purge_deletes_old_finished_tasks`).
/// - `check` answers `Ok` while the backend serves (`check_passes_when_healthy`).
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

    /// Deletes up to `limit` tasks whose ttl ran out by `now`; returns them, and reports each
    /// on the feed as [`ChangeEvent::Expired`].
    ///
    /// A task whose stored record no longer decodes is deleted all the same, reported on the
    /// feed and logged with its id, but not returned (there is no record to return): the
    /// deletion is never an error once it happened.
    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>>;

    /// Reads one page of tasks that are not terminal.
    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>>;

    /// Subscribes to changes.
    fn changes(&self) -> ChangeFeed;

    /// Appends an event that changes no state ([`EventKind::Progress`],
    /// [`EventKind::ResultRetrieved`]) to the task's history, with its current status. The
    /// change feed is not told: nothing a waiter waits for changed.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown id, whoever owns it;
    /// [`Error::Conflict`](crate::Error::Conflict) for [`EventKind::Progress`] once the task is
    /// terminal, decided in the same atomic step as the append, so no history shows progress
    /// after the task's end.
    async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()>;

    /// Reads up to `limit` events of the task's history with a seq above `after`, in order.
    /// Not owner-scoped: an operator's read. An unknown task has no history.
    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskEvent>>;

    /// Reads any owner's task: an operator's read.
    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>>;

    /// Reads one page of every owner's tasks, newest first.
    async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>>;

    /// Deletes up to `limit` terminal tasks last changed before `finished_before`, with their
    /// history; returns them, and reports each on the feed as [`ChangeEvent::Expired`]. An
    /// unreadable record goes as in [`TaskStore::delete_expired`].
    async fn purge(&self, finished_before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>>;

    /// How many tasks there are by status, tool and owner; groups of none are left out.
    async fn counts(&self) -> Result<Vec<TaskCount>>;

    /// Whether the backend serves: it answers a trivial query, and a file-backed store still
    /// has the file it opened. For readiness probes.
    async fn check(&self) -> Result<()>;

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

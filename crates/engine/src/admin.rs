//! [`Admin`]: what an operator may do over every owner's tasks (issue 15 item 3).
//!
//! Requestors see their own tasks through [`Engine`]; an operator sees and steers all of them
//! through this facade, which whoever serves operators (the runtime's admin listener, the CLI on
//! a store no server holds) authenticates first. Nothing here is reachable from MCP.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, OnceLock};

use jiff::Timestamp;

use crate::cursor::Position;
use crate::engine::Engine;
use crate::history::TaskEvent;
use crate::store::{AdminQuery, OwnerFilter, TaskCount};
use crate::task::{TaskId, TaskRecord, TaskStatus};
use crate::{AuditEvent, Error, Result};

/// How many tasks one store call purges.
const BATCH: usize = 1000;

/// The most events [`Admin::task`] returns at once: a task that reports progress every second
/// for a day has some 86,000, more than an operator's page or a dashboard's timeline should
/// take in one answer.
pub const HISTORY_PAGE: usize = 1000;

/// How many result retrievals this process remembers having noted (see
/// [`Engine::result_retrieved`]): some 100 bytes each, so about a megabyte at most.
const RETRIEVALS_REMEMBERED: usize = 10_000;

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

/// A task as an operator reads it: the record and one page of its history.
#[derive(Clone, Debug)]
pub struct AdminTask {
    /// The task now.
    pub record: TaskRecord,
    /// Its events after the `after` asked for, oldest first, at most [`HISTORY_PAGE`].
    pub history: Vec<TaskEvent>,
    /// Whether later events remain: read them with `after` set to the last event's `seq`.
    pub history_more: bool,
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

    /// Any owner's task and the first [`HISTORY_PAGE`] events of its history with a `seq`
    /// above `after` (`None`: from the first).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown id; [`Error::Store`] when the store fails.
    pub async fn task(&self, id: &TaskId, after: Option<u64>) -> Result<AdminTask> {
        let store = self.engine.store();
        let record = store
            .inspect(id)
            .await?
            .ok_or_else(|| Error::NotFound { id: id.clone() })?;
        let mut history = store.history(id, after, HISTORY_PAGE + 1).await?;
        let history_more = history.len() > HISTORY_PAGE;
        history.truncate(HISTORY_PAGE);
        Ok(AdminTask {
            record,
            history,
            history_more,
        })
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

/// The result retrievals noted in this process, newest last: what makes
/// [`Engine::result_retrieved`] note a retrieval once per task and requestor.
///
/// One memory for the whole process rather than one per engine: a task id is a random UUID,
/// so it names one task whichever engine reads it, and two engines of one process on one
/// shared store should not both note the same retrieval. Bounded: past its capacity the
/// oldest entry is forgotten.
#[derive(Debug)]
struct Retrievals {
    capacity: usize,
    noted: HashSet<(TaskId, Option<String>)>,
    order: VecDeque<(TaskId, Option<String>)>,
}

impl Retrievals {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            noted: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` is new; remembered from now on.
    fn insert(&mut self, key: &(TaskId, Option<String>)) -> bool {
        if !self.noted.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key.clone());
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.noted.remove(&oldest);
            }
        }
        true
    }
}

fn retrievals() -> &'static Mutex<Retrievals> {
    static RETRIEVALS: OnceLock<Mutex<Retrievals>> = OnceLock::new();
    RETRIEVALS.get_or_init(|| Mutex::new(Retrievals::new(RETRIEVALS_REMEMBERED)))
}

/// A retrieval being noted; [`forget`](Self::forget) it when the note could not be written,
/// so the next retrieval tries again.
#[must_use]
pub(crate) struct Noting {
    key: (TaskId, Option<String>),
}

impl Noting {
    pub(crate) fn forget(self) {
        retrievals()
            .lock()
            .expect("retrievals mutex poisoned")
            .noted
            .remove(&self.key);
    }
}

/// `Some` the first time `by` retrieves the result of task `id` (as far as this process
/// remembers), `None` after.
pub(crate) fn first_retrieval(id: &TaskId, by: Option<&str>) -> Option<Noting> {
    let key = (id.clone(), by.map(str::to_owned));
    let mut memory = retrievals().lock().expect("retrievals mutex poisoned");
    memory.insert(&key).then_some(Noting { key })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::engine::CreateTask;
    use crate::history::EventKind;
    use crate::store::MemoryStore;
    use crate::task::{Outcome, RequestKind, Requestor};
    use crate::EngineConfig;

    fn engine() -> Engine {
        Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default())
    }

    async fn finished(engine: &Engine, who: &Requestor, outcome: Outcome) -> TaskRecord {
        let task = engine
            .create(CreateTask {
                requestor: who.clone(),
                kind: RequestKind::ToolsCall,
                name: Some("t".into()),
                params: json!({"name": "t"}),
                ttl_ms: None,
                progress_token: None,
            })
            .await
            .unwrap();
        engine.start(&task, move |_| async move { outcome });
        engine.wait_terminal(who, &task.id).await.unwrap()
    }

    async fn retrievals_of(engine: &Engine, id: &TaskId) -> Vec<Option<String>> {
        let shown = engine.admin().task(id, None).await.unwrap();
        shown
            .history
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::ResultRetrieved { by } => Some(by),
                _ => None,
            })
            .collect()
    }

    /// Issue 15 item 1 (review item 3): a client polling a finished task notes its retrieval
    /// once, not once per poll; another requestor's retrieval is noted once too.
    #[tokio::test]
    async fn a_retrieval_is_noted_once_per_requestor() {
        let engine = engine();
        let alice = Requestor::anonymous("s-alice");
        let done = finished(&engine, &alice, Outcome::Completed(json!({}))).await;
        for _ in 0..5 {
            engine.result_retrieved(&alice, &done).await;
        }
        let other = Requestor::anonymous("s-other");
        engine.result_retrieved(&other, &done).await;
        engine.result_retrieved(&other, &done).await;
        assert_eq!(
            retrievals_of(&engine, &done.id).await,
            [
                Some("session:s-alice".into()),
                Some("session:s-other".into())
            ]
        );
    }

    /// Issue 15 item 1 (review item 3): a cancelled task hands nothing over, and a running
    /// one nothing yet, so neither notes a retrieval; a failed one hands its error over.
    #[tokio::test]
    async fn only_a_result_or_an_error_is_retrieved() {
        let engine = engine();
        let me = Requestor::anonymous("s");
        let task = engine
            .create(CreateTask {
                requestor: me.clone(),
                kind: RequestKind::ToolsCall,
                name: None,
                params: json!({}),
                ttl_ms: None,
                progress_token: None,
            })
            .await
            .unwrap();
        engine.result_retrieved(&me, &task).await;
        let cancelled = engine.cancel(&me, &task.id, None).await.unwrap();
        engine.result_retrieved(&me, &cancelled).await;
        assert!(retrievals_of(&engine, &task.id).await.is_empty());
        let failed = finished(
            &engine,
            &me,
            Outcome::Failed {
                failure: crate::task::Failure::Result(json!({"isError": true})),
                message: "the tool said no".into(),
            },
        )
        .await;
        engine.result_retrieved(&me, &failed).await;
        assert_eq!(
            retrievals_of(&engine, &failed.id).await,
            [Some("session:s".into())]
        );
    }

    /// The memory of noted retrievals forgets its oldest entries past its bound.
    #[test]
    fn the_retrieval_memory_is_bounded() {
        let mut memory = Retrievals::new(3);
        let first = (TaskId::generate(), Some("a".to_owned()));
        assert!(memory.insert(&first));
        assert!(!memory.insert(&first));
        for _ in 0..3 {
            assert!(memory.insert(&(TaskId::generate(), None)));
        }
        assert_eq!((memory.noted.len(), memory.order.len()), (3, 3));
        assert!(memory.insert(&first), "the oldest was forgotten");
    }

    /// Review item 3: one read returns at most a page of history and says when more
    /// follow; the next page starts after the last event read.
    #[tokio::test]
    async fn the_history_comes_in_pages() {
        let engine = engine();
        let me = Requestor::anonymous("s");
        let done = finished(&engine, &me, Outcome::Completed(json!({}))).await;
        let at = Timestamp::now();
        // Events a finished task still takes (progress is refused once it ended).
        for i in 0..HISTORY_PAGE {
            let kind = EventKind::ResultRetrieved {
                by: Some(format!("session:{i}")),
            };
            engine.store().record(&done.id, at, kind).await.unwrap();
        }
        let admin = engine.admin();
        let first = admin.task(&done.id, None).await.unwrap();
        assert_eq!(first.history.len(), HISTORY_PAGE);
        assert!(first.history_more);
        assert_eq!(first.history[0].seq, 1);
        let last = first.history.last().unwrap().seq;
        let rest = admin.task(&done.id, Some(last)).await.unwrap();
        assert!(!rest.history_more);
        // created, completed, and the retrieval notes: two past the first page.
        assert_eq!(rest.history.len(), 2);
        assert_eq!(rest.history[0].seq, last + 1);
    }
}

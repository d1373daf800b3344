//! The tasks the writer changed last, kept in memory as committed.
//!
//! A SQLite file is served by one process and written by its one writer thread (see the
//! module docs of [`super`]), so what that thread committed last is the truth about a task
//! until it commits again: nobody else can change the row. Keeping those records lets a
//! task's hot path skip the file altogether:
//! - a requestor's read (`tasks/get`, the re-read of a woken `tasks/result`) is a map lookup
//!   and a clone instead of a page fetch through a reader's invalidated cache and a JSON decode;
//! - a transition or a history note reads the record, and its history's last event number,
//!   from here instead of two statements and a decode on the writer thread.
//!
//! Only the writer puts records in, and only after their transaction commits, so a reader
//! never sees a write that could still be undone; a read that misses goes to the file, whose
//! last commit is the same state. Deleted tasks are taken out in the commit that deletes them.
//! The cache is bounded by count, oldest entry out first, and a record whose stored form is
//! large is not kept at all: the file has it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::task::{Owner, TaskId, TaskRecord};

/// How many tasks are kept: about the tasks a busy server touches within a few seconds, at
/// some 2 KiB each with their results (see [`MAX_RECORD_BYTES`]).
pub(super) const CAPACITY: usize = 8192;

/// A record whose stored JSON is longer than this is not kept: the cache is for the many
/// small tasks of a hot path, and a large result is cheaper to read again than to hold.
pub(super) const MAX_RECORD_BYTES: usize = 16 * 1024;

/// A task as its last commit left it.
#[derive(Clone, Debug)]
pub(super) struct Cached {
    pub(super) record: Arc<TaskRecord>,
    /// The row's `created_at`, under which its history is filed.
    pub(super) created: i64,
    /// The number of its last history event.
    pub(super) last_event: i64,
    /// The length of its stored JSON.
    pub(super) bytes: usize,
}

/// Committed records by task id.
#[derive(Debug, Default)]
pub(super) struct Cache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tasks: HashMap<TaskId, Cached>,
    /// Ids in the order they came in; may hold ids already gone (deleted), skipped when met.
    order: VecDeque<TaskId>,
}

impl Cache {
    /// The committed record of `id` if kept, as [`TaskStore::get`](crate::TaskStore::get)
    /// would find it: `Some(None)` when kept but bound to another owner.
    pub(super) fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Option<Option<TaskRecord>> {
        let record = self.lock().tasks.get(id).map(|c| c.record.clone())?;
        Some((record.owner.as_ref() == owner).then(|| (*record).clone()))
    }

    /// The committed state of `id` if kept, for the writer.
    pub(super) fn entry(&self, id: &TaskId) -> Option<Cached> {
        self.lock().tasks.get(id).cloned()
    }

    /// Applies what one transaction committed: a record kept or replaced, or (`None`) a task
    /// deleted.
    pub(super) fn commit(&self, changes: impl IntoIterator<Item = (TaskId, Option<Cached>)>) {
        let mut inner = self.lock();
        for (id, change) in changes {
            match change {
                Some(cached) if cached.bytes <= MAX_RECORD_BYTES => inner.keep(id, cached),
                _ => {
                    inner.tasks.remove(&id);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change is a whole insert or remove: a panic elsewhere cannot leave it half done.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().tasks.len()
    }
}

impl Inner {
    fn keep(&mut self, id: TaskId, cached: Cached) {
        if let Some(slot) = self.tasks.get_mut(&id) {
            *slot = cached;
            return;
        }
        while self.tasks.len() >= CAPACITY {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.tasks.remove(&oldest);
        }
        // Deleted tasks leave their ids behind; drop them before they outnumber the kept.
        if self.order.len() >= 2 * CAPACITY {
            let tasks = &self.tasks;
            self.order.retain(|id| tasks.contains_key(id));
        }
        self.order.push_back(id.clone());
        self.tasks.insert(id, cached);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::task::{NewTask, RequestKind, Requestor};
    use serde_json::json;

    /// A new `tools/call` task with nothing set that a test does not need.
    pub(in crate::store::sqlite) fn bare_record(id: TaskId, requestor: Requestor) -> TaskRecord {
        TaskRecord::new(NewTask {
            id,
            requestor,
            kind: RequestKind::ToolsCall,
            name: None,
            params: json!({}),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            ttl: None,
            poll_interval: None,
            progress_token: None,
            runner: None,
            active_limit: None,
        })
    }

    fn cached(id: &TaskId, owner: Option<&str>, bytes: usize) -> Cached {
        let requestor = match owner {
            Some(o) => Requestor {
                owner: Some(Owner::new(o)),
                session: Some("s".into()),
            },
            None => Requestor::anonymous("s"),
        };
        Cached {
            record: Arc::new(bare_record(id.clone(), requestor)),
            created: 0,
            last_event: 1,
            bytes,
        }
    }

    /// A kept task is found only by its own owner, like the store's `get`.
    #[test]
    fn a_kept_task_is_found_by_its_owner_only() {
        let cache = Cache::default();
        let id = TaskId::generate();
        cache.commit([(id.clone(), Some(cached(&id, Some("alice"), 10)))]);
        let alice = Owner::new("alice");
        let bob = Owner::new("bob");
        assert_eq!(cache.get(Some(&alice), &id).unwrap().unwrap().id, id);
        assert!(cache.get(Some(&bob), &id).unwrap().is_none());
        assert!(cache.get(None, &id).unwrap().is_none());
        assert!(cache.get(None, &TaskId::generate()).is_none(), "not kept");
    }

    /// A deletion takes the task out; a large record is not kept and drops an older copy.
    #[test]
    fn deleted_and_large_records_are_not_kept() {
        let cache = Cache::default();
        let (a, b) = (TaskId::generate(), TaskId::generate());
        cache.commit([
            (a.clone(), Some(cached(&a, None, 10))),
            (b.clone(), Some(cached(&b, None, 10))),
        ]);
        cache.commit([(a.clone(), None)]);
        assert!(cache.get(None, &a).is_none());
        cache.commit([(b.clone(), Some(cached(&b, None, MAX_RECORD_BYTES + 1)))]);
        assert!(
            cache.get(None, &b).is_none(),
            "a large record is read from the file"
        );
    }

    /// The cache holds at most `CAPACITY` tasks, dropping the oldest first, and ids left by
    /// deleted tasks do not pile up.
    #[test]
    fn it_is_bounded_and_drops_the_oldest() {
        let cache = Cache::default();
        let ids: Vec<TaskId> = (0..CAPACITY + 10).map(|_| TaskId::generate()).collect();
        for id in &ids {
            cache.commit([(id.clone(), Some(cached(id, None, 10)))]);
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get(None, &ids[9]).is_none(), "among the oldest");
        assert!(cache.get(None, &ids[10]).is_some());
        for _ in 0..3 * CAPACITY {
            let id = TaskId::generate();
            cache.commit([(id.clone(), Some(cached(&id, None, 10)))]);
            cache.commit([(id, None)]);
        }
        assert!(cache.lock().order.len() <= 2 * CAPACITY + 1);
        assert!(cache.get(None, &ids[CAPACITY + 9]).is_some(), "kept");
    }
}

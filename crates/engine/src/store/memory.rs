//! The in-memory store: for tests and ephemeral servers; everything is gone with the process.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::broadcast;

use super::{Change, ChangeEvent, ChangeFeed, ListQuery, TaskStore};
use crate::cursor::Position;
use crate::task::{NewTask, Owner, TaskId, TaskRecord, Transition};
use crate::{Error, Result};

/// Capacity of the change feed; a slower subscriber lags and re-reads.
const FEED_CAPACITY: usize = 4096;

/// Tasks in a map behind one mutex, never held across an `.await`.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    feed: broadcast::Sender<Change>,
}

#[derive(Debug, Default)]
struct State {
    tasks: HashMap<TaskId, TaskRecord>,
    order: BTreeSet<Position>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            feed: broadcast::channel(FEED_CAPACITY).0,
        }
    }

    /// How many tasks are held, expired or not.
    pub fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    /// Whether no task is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory store mutex poisoned")
    }

    fn publish(&self, id: TaskId, event: ChangeEvent) {
        // No subscriber is fine: nobody waits.
        let _ = self.feed.send(Change { id, event });
    }
}

fn position(r: &TaskRecord) -> Position {
    Position {
        created_at: r.created_at,
        id: r.id.clone(),
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create(&self, new: NewTask) -> Result<TaskRecord> {
        let record = TaskRecord::new(new);
        {
            let mut st = self.lock();
            if st.tasks.contains_key(&record.id) {
                return Err(Error::store(format!(
                    "task id {} already exists",
                    record.id
                )));
            }
            st.order.insert(position(&record));
            st.tasks.insert(record.id.clone(), record.clone());
        }
        self.publish(record.id.clone(), ChangeEvent::Created);
        Ok(record)
    }

    async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
        let st = self.lock();
        Ok(st
            .tasks
            .get(id)
            .filter(|r| r.owner.as_ref() == owner)
            .cloned())
    }

    async fn transition(
        &self,
        id: &TaskId,
        change: Transition,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let (record, changed) = {
            let mut st = self.lock();
            let record = st
                .tasks
                .get_mut(id)
                .ok_or_else(|| Error::NotFound { id: id.clone() })?;
            let changed = record.apply(change, now)?;
            (record.clone(), changed)
        };
        if changed {
            self.publish(id.clone(), ChangeEvent::Updated(record.status()));
        }
        Ok(record)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
        let st = self.lock();
        let requestor = crate::task::Requestor {
            owner: query.owner.clone(),
            session: query.session.clone(),
        };
        let range = match &query.after {
            Some(after) => st.order.range((
                std::ops::Bound::Excluded(after.clone()),
                std::ops::Bound::Unbounded,
            )),
            None => st.order.range(..),
        };
        Ok(range
            .filter_map(|p| st.tasks.get(&p.id))
            .filter(|r| r.listed_for(&requestor))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskId>> {
        let gone: Vec<TaskId> = {
            let mut st = self.lock();
            let ids: Vec<TaskId> = st
                .tasks
                .values()
                .filter(|r| r.is_expired(now))
                .take(limit)
                .map(|r| r.id.clone())
                .collect();
            for id in &ids {
                if let Some(r) = st.tasks.remove(id) {
                    st.order.remove(&position(&r));
                }
            }
            if st.tasks.is_empty() {
                st.tasks.shrink_to_fit();
            }
            ids
        };
        for id in &gone {
            self.publish(id.clone(), ChangeEvent::Expired);
        }
        Ok(gone)
    }

    fn changes(&self) -> ChangeFeed {
        self.feed.subscribe()
    }
}

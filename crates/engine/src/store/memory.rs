//! The in-memory store: for tests and ephemeral servers; everything is gone with the process.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::{
    AdminQuery, Change, ChangeEvent, ChangeFeed, ChangeSender, ListQuery, TaskCount, TaskStore,
    UnfinishedQuery,
};
use crate::cursor::Position;
use crate::history::{self, EventKind, TaskEvent};
use crate::task::{NewTask, Owner, Requestor, TaskId, TaskRecord, TaskStatus, Transition};
use crate::{Error, Result};
use async_trait::async_trait;
use jiff::Timestamp;

/// Capacity of the change feed; a slower subscriber lags and re-reads.
const FEED_CAPACITY: usize = 4096;

/// Tasks in a map behind one mutex, never held across an `.await`, with the indexes that keep
/// listing, sweeping and limit checks from scanning every task.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    feed: ChangeSender,
}

/// Who an unfinished task counts against: its owner, or without one, its session.
type LimitKey = (Option<Owner>, Option<String>);

/// Whose listing a task appears in (T-LIST-2): its owner's, or without one, its session's.
type ListKey = (Option<Owner>, Option<String>);

#[derive(Debug, Default)]
struct State {
    tasks: HashMap<TaskId, TaskRecord>,
    order: BTreeSet<Position>,
    /// Each listing in creation order, so a page costs the page, not a scan of every task.
    listings: HashMap<ListKey, BTreeSet<Position>>,
    expiry: BTreeSet<(Timestamp, TaskId)>,
    live: HashMap<LimitKey, usize>,
    /// Each task's history, in seq order (seq is the index plus one).
    history: HashMap<TaskId, Vec<TaskEvent>>,
}

impl State {
    /// Appends an event to the history of `record`, numbered after the last.
    fn append(&mut self, record: &TaskRecord, at: Timestamp, kind: EventKind) {
        let events = self.history.entry(record.id.clone()).or_default();
        let seq = events.len() as u64 + 1;
        events.push(TaskEvent::new(seq, at, record, kind));
    }

    /// Removes a task with everything that points at it.
    fn remove(&mut self, id: &TaskId) -> Option<TaskRecord> {
        let r = self.tasks.remove(id)?;
        self.order.remove(&position(&r));
        self.unlist(&r);
        if let Some(at) = r.expires_at {
            self.expiry.remove(&(at, r.id.clone()));
        }
        if r.is_live() {
            self.forget_live(record_key(&r));
        }
        self.history.remove(id);
        Some(r)
    }

    fn unlist(&mut self, r: &TaskRecord) {
        let key = record_key(r);
        if let Some(list) = self.listings.get_mut(&key) {
            list.remove(&position(r));
            if list.is_empty() {
                self.listings.remove(&key);
            }
        }
    }

    /// Gives a burst's memory back once it has all gone.
    fn reclaim(&mut self) {
        if self.tasks.is_empty() {
            self.tasks.shrink_to_fit();
            self.live.shrink_to_fit();
            self.listings.shrink_to_fit();
            self.history.shrink_to_fit();
        }
    }

    fn forget_live(&mut self, key: LimitKey) {
        if let Some(n) = self.live.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(&key);
            }
        }
    }
}

fn limit_key(owner: &Option<Owner>, session: &Option<String>) -> LimitKey {
    match owner {
        Some(o) => (Some(o.clone()), None),
        None => (None, session.clone()),
    }
}

fn record_key(r: &TaskRecord) -> LimitKey {
    limit_key(&r.owner, &r.session)
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
            feed: ChangeSender::new(FEED_CAPACITY),
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
        self.feed.send(Change { id, event });
    }
}

/// The positions strictly after `from`, or all of them.
fn after<'a>(
    set: &'a BTreeSet<Position>,
    from: Option<&Position>,
) -> std::collections::btree_set::Range<'a, Position> {
    match from {
        Some(p) => set.range((
            std::ops::Bound::Excluded(p.clone()),
            std::ops::Bound::Unbounded,
        )),
        None => set.range(..),
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
        let limit = new.active_limit;
        let key = limit_key(&new.requestor.owner, &new.requestor.session);
        let record = TaskRecord::new(new);
        {
            let mut st = self.lock();
            if st.tasks.contains_key(&record.id) {
                return Err(Error::store(format!(
                    "task id {} already exists",
                    record.id
                )));
            }
            let live = st.live.get(&key).copied().unwrap_or(0);
            if let Some(limit) = limit {
                if live >= limit {
                    return Err(Error::LimitExceeded { limit });
                }
            }
            st.live.insert(key, live + 1);
            st.order.insert(position(&record));
            st.listings
                .entry(record_key(&record))
                .or_default()
                .insert(position(&record));
            if let Some(at) = record.expires_at {
                st.expiry.insert((at, record.id.clone()));
            }
            st.append(&record, record.created_at, EventKind::created(&record));
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
            let was_live = record.is_live();
            let event = history::apply(record, change, now)?;
            let record = record.clone();
            if was_live && !record.is_live() {
                st.forget_live(record_key(&record));
            }
            let changed = event.is_some();
            if let Some(kind) = event {
                st.append(&record, now, kind);
            }
            (record, changed)
        };
        if changed {
            self.publish(id.clone(), ChangeEvent::Updated(record.status()));
        }
        Ok(record)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
        let st = self.lock();
        let requestor = Requestor {
            owner: query.owner.clone(),
            session: query.session.clone(),
        };
        let Some(listing) = st.listings.get(&limit_key(&query.owner, &query.session)) else {
            return Ok(Vec::new());
        };
        Ok(after(listing, query.after.as_ref())
            .filter_map(|p| st.tasks.get(&p.id))
            .filter(|r| r.listed_for(&requestor))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        let gone: Vec<TaskRecord> = {
            let mut st = self.lock();
            let due: Vec<(Timestamp, TaskId)> = st
                .expiry
                .iter()
                .take_while(|(at, _)| *at <= now)
                .take(limit)
                .cloned()
                .collect();
            let mut gone = Vec::with_capacity(due.len());
            for (_, id) in due {
                gone.extend(st.remove(&id));
            }
            st.reclaim();
            gone
        };
        for r in &gone {
            self.publish(r.id.clone(), ChangeEvent::Expired);
        }
        Ok(gone)
    }

    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
        let st = self.lock();
        Ok(after(&st.order, query.after.as_ref())
            .filter_map(|p| st.tasks.get(&p.id))
            .filter(|r| r.is_live())
            .filter(|r| query.except_runner.is_none() || r.runner != query.except_runner)
            .take(query.limit)
            .cloned()
            .collect())
    }

    fn changes(&self) -> ChangeFeed {
        self.feed.subscribe()
    }

    async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()> {
        let mut st = self.lock();
        let record = st
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound { id: id.clone() })?;
        history::recordable(&record, &kind)?;
        st.append(&record, at, kind);
        Ok(())
    }

    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskEvent>> {
        let st = self.lock();
        let Some(events) = st.history.get(id) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(after.unwrap_or(0)).unwrap_or(usize::MAX);
        Ok(events.iter().skip(skip).take(limit).cloned().collect())
    }

    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
        Ok(self.lock().tasks.get(id).cloned())
    }

    async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>> {
        let st = self.lock();
        let older = match &query.before {
            Some(p) => st.order.range(..p.clone()),
            None => st.order.range(..),
        };
        Ok(older
            .rev()
            .filter_map(|p| st.tasks.get(&p.id))
            .filter(|r| query.matches(r))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn purge(&self, finished_before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        let gone: Vec<TaskRecord> = {
            let mut st = self.lock();
            let due: Vec<TaskId> = st
                .tasks
                .values()
                .filter(|r| !r.is_live() && r.last_updated_at < finished_before)
                .take(limit)
                .map(|r| r.id.clone())
                .collect();
            let gone = due.iter().filter_map(|id| st.remove(id)).collect();
            st.reclaim();
            gone
        };
        for r in &gone {
            self.publish(r.id.clone(), ChangeEvent::Expired);
        }
        Ok(gone)
    }

    async fn counts(&self) -> Result<Vec<TaskCount>> {
        let st = self.lock();
        let mut groups: HashMap<(TaskStatus, Option<String>, Option<Owner>), u64> = HashMap::new();
        for r in st.tasks.values() {
            *groups
                .entry((r.status(), r.name.clone(), r.owner.clone()))
                .or_default() += 1;
        }
        Ok(groups
            .into_iter()
            .map(|((status, tool, owner), count)| TaskCount {
                status,
                tool,
                owner,
                count,
            })
            .collect())
    }

    async fn check(&self) -> Result<()> {
        // Memory is always there while the process is.
        Ok(())
    }
}

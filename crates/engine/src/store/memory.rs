//! The in-memory store: for tests and ephemeral servers; everything is gone with the process.
//!
//! Tasks are kept as [`Entry`]s (module `entry`), which hold a finished task in under a
//! kilobyte besides its result; indexes hold ids, which are shared, not copied.

mod entry;
mod shared;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::{
    AdminQuery, Change, ChangeEvent, ChangeFeed, ChangeSender, ListQuery, OwnerFilter, TaskCount,
    TaskStore, UnfinishedQuery,
};
use crate::cursor::Position;
use crate::history::{self, EventKind, TaskEvent};
use crate::task::{NewTask, Owner, TaskId, TaskRecord, TaskStatus, Transition};
use crate::{Error, Result};
use async_trait::async_trait;
use entry::Entry;
use jiff::Timestamp;
use shared::Shared;

/// Capacity of the change feed; a slower subscriber lags and re-reads.
const FEED_CAPACITY: usize = 4096;

/// How many of the tasks that finished last keep their params as a tree, which reads faster
/// than compact text: clients read a task as it finishes (their last poll, its result), and
/// seldom later. About 1.5 MB for small `tools/call`s.
const FRESH: usize = 1024;

/// Tasks in a map behind one mutex, never held across an `.await`, with the indexes that keep
/// listing, sweeping and limit checks from scanning every task.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    feed: ChangeSender,
}

/// Who a task counts against (its owner, or without one, its session), and whose listing it
/// appears in (T-LIST-2): the same key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Owner(Arc<str>),
    Session(Arc<str>),
    Nobody,
}

impl Key {
    fn of(owner: Option<&Arc<str>>, session: Option<&Arc<str>>) -> Self {
        match (owner, session) {
            (Some(o), _) => Self::Owner(o.clone()),
            (None, Some(s)) => Self::Session(s.clone()),
            (None, None) => Self::Nobody,
        }
    }

    fn entry(e: &Entry) -> Self {
        Self::of(e.origin().owner.as_ref(), e.origin().session.as_ref())
    }

    /// The key of a requestor's tasks, if any task holds its strings.
    fn find(shared: &Shared, owner: Option<&Owner>, session: Option<&str>) -> Option<Self> {
        Some(match (owner, session) {
            (Some(o), _) => Self::Owner(shared.find(o.as_str())?.clone()),
            (None, Some(s)) => Self::Session(shared.find(s)?.clone()),
            (None, None) => Self::Nobody,
        })
    }
}

#[derive(Debug, Default)]
struct State {
    tasks: HashMap<TaskId, Box<Entry>>,
    order: BTreeSet<Position>,
    /// Each listing in creation order, so a page costs the page, not a scan of every task.
    listings: HashMap<Key, BTreeSet<Position>>,
    expiry: BTreeSet<(Timestamp, TaskId)>,
    live: HashMap<Key, usize>,
    shared: Shared,
    /// The last [`FRESH`] tasks to finish, oldest first; some may be gone since.
    fresh: VecDeque<TaskId>,
}

impl State {
    /// Removes a task with everything that points at it.
    fn remove(&mut self, id: &TaskId) -> Option<TaskRecord> {
        let e = self.tasks.remove(id)?;
        self.order.remove(&position(&e));
        let key = Key::entry(&e);
        if let Some(list) = self.listings.get_mut(&key) {
            list.remove(&position(&e));
            if list.is_empty() {
                self.listings.remove(&key);
            }
        }
        if let Some(at) = e.expires_at() {
            self.expiry.remove(&(at, e.id().clone()));
        }
        if e.is_live() {
            self.forget_live(&key);
        }
        // Last: the indexes' keys hold the task's strings too.
        drop(key);
        Some(e.remove(&mut self.shared))
    }

    /// Gives a burst's memory back once it has all gone.
    fn reclaim(&mut self) {
        if self.tasks.is_empty() {
            self.tasks.shrink_to_fit();
            self.live.shrink_to_fit();
            self.listings.shrink_to_fit();
            self.shared.clear();
            self.fresh = VecDeque::new();
        }
    }

    fn forget_live(&mut self, key: &Key) {
        if let Some(n) = self.live.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(key);
            }
        }
    }

    /// The tasks at `positions`.
    fn entries<'a>(
        &'a self,
        positions: impl Iterator<Item = &'a Position> + 'a,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        positions.filter_map(|p| self.tasks.get(&p.id).map(|e| &**e))
    }
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

fn position(e: &Entry) -> Position {
    Position {
        created_at: e.created_at(),
        id: e.id().clone(),
    }
}

/// Whether `e` is in the `tasks/list` of this owner or session: as
/// [`TaskRecord::listed_for`], on the entry.
fn listed_for(e: &Entry, owner: Option<&Owner>, session: Option<&str>) -> bool {
    match owner {
        Some(o) => e.origin().owner.as_deref() == Some(o.as_str()),
        None => {
            e.origin().owner.is_none()
                && e.origin().session.is_some()
                && e.origin().session.as_deref() == session
        }
    }
}

/// Whether `e` passes an operator's filters: as [`AdminQuery::matches`], on the entry.
fn matches(query: &AdminQuery, e: &Entry) -> bool {
    (query.statuses.is_empty() || query.statuses.contains(&e.status()))
        && match &query.owner {
            None => true,
            Some(OwnerFilter::Owner(o)) => e.origin().owner.as_deref() == Some(o.as_str()),
            Some(OwnerFilter::Unowned) => e.origin().owner.is_none(),
        }
        && query
            .tool
            .as_deref()
            .is_none_or(|t| e.origin().name.as_deref() == Some(t))
        && query.created_after.is_none_or(|at| e.created_at() > at)
        && query.created_before.is_none_or(|at| e.created_at() < at)
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create(&self, new: NewTask) -> Result<TaskRecord> {
        let limit = new.active_limit;
        let record = {
            let mut st = self.lock();
            if st.tasks.contains_key(&new.id) {
                return Err(Error::store(format!("task id {} already exists", new.id)));
            }
            let State {
                tasks,
                order,
                listings,
                expiry,
                live,
                shared,
                ..
            } = &mut *st;
            let (entry, record) = Entry::create(new, shared);
            let key = Key::entry(&entry);
            let count = live.get(&key).copied().unwrap_or(0);
            if let Some(limit) = limit.filter(|limit| count >= *limit) {
                drop(key);
                entry.remove(shared);
                return Err(Error::LimitExceeded { limit });
            }
            order.insert(position(&entry));
            listings
                .entry(key.clone())
                .or_default()
                .insert(position(&entry));
            live.insert(key, count + 1);
            if let Some(at) = entry.expires_at() {
                expiry.insert((at, entry.id().clone()));
            }
            tasks.insert(entry.id().clone(), entry);
            record
        };
        self.publish(record.id.clone(), ChangeEvent::Created);
        Ok(record)
    }

    async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
        let st = self.lock();
        Ok(st
            .tasks
            .get(id)
            .filter(|e| e.origin().owner.as_deref() == owner.map(Owner::as_str))
            .map(|e| e.record()))
    }

    async fn transition(
        &self,
        id: &TaskId,
        change: Transition,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let (record, changed) = {
            let mut st = self.lock();
            let State {
                tasks,
                live,
                shared,
                fresh,
                ..
            } = &mut *st;
            let entry = tasks
                .get_mut(id)
                .ok_or_else(|| Error::NotFound { id: id.clone() })?;
            if matches!(change, Transition::Recover { .. }) {
                entry.keep_created();
            }
            let was_live = entry.is_live();
            let mut record = entry.take_record();
            let event = match history::apply(&mut record, change, now) {
                Ok(event) => event,
                Err(e) => {
                    entry.unchanged(record);
                    return Err(e);
                }
            };
            entry.changed(&record, shared);
            if was_live && !entry.is_live() {
                let key = Key::entry(entry);
                if let Some(n) = live.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        live.remove(&key);
                    }
                }
            }
            let (changed, ended) = (event.is_some(), was_live && !entry.is_live());
            if let Some(kind) = event {
                entry.append(now, kind, shared);
            }
            if ended {
                fresh.push_back(id.clone());
                if fresh.len() > FRESH {
                    let stale = fresh.pop_front().and_then(|id| tasks.get_mut(&id));
                    stale.into_iter().for_each(|e| e.compact());
                }
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
        let (owner, session) = (query.owner.as_ref(), query.session.as_deref());
        let Some(listing) = Key::find(&st.shared, owner, session).and_then(|k| st.listings.get(&k))
        else {
            return Ok(Vec::new());
        };
        Ok(st
            .entries(after(listing, query.after.as_ref()))
            .filter(|e| listed_for(e, owner, session))
            .take(query.limit)
            .map(Entry::record)
            .collect())
    }

    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        let gone: Vec<TaskRecord> = {
            let mut st = self.lock();
            let due: Vec<TaskId> = st
                .expiry
                .iter()
                .take_while(|(at, _)| *at <= now)
                .take(limit)
                .map(|(_, id)| id.clone())
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

    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
        let st = self.lock();
        let except = query.except_runner.as_deref();
        Ok(st
            .entries(after(&st.order, query.after.as_ref()))
            .filter(|e| e.is_live())
            .filter(|e| except.is_none() || e.origin().runner.as_deref() != except)
            .take(query.limit)
            .map(Entry::record)
            .collect())
    }

    fn changes(&self) -> ChangeFeed {
        self.feed.subscribe()
    }

    async fn record(&self, id: &TaskId, at: Timestamp, kind: EventKind) -> Result<()> {
        let mut st = self.lock();
        let State { tasks, shared, .. } = &mut *st;
        let entry = tasks
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.clone() })?;
        history::recordable_in(id, entry.status(), &kind)?;
        entry.append(at, kind, shared);
        Ok(())
    }

    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<TaskEvent>> {
        let st = self.lock();
        let Some(entry) = st.tasks.get(id) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(after.unwrap_or(0)).unwrap_or(usize::MAX);
        Ok(entry.history(skip, limit))
    }

    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
        Ok(self.lock().tasks.get(id).map(|e| e.record()))
    }

    async fn admin_list(&self, query: &AdminQuery) -> Result<Vec<TaskRecord>> {
        let st = self.lock();
        let older = match &query.before {
            Some(p) => st.order.range(..p.clone()),
            None => st.order.range(..),
        };
        Ok(st
            .entries(older.rev())
            .filter(|e| matches(query, e))
            .take(query.limit)
            .map(Entry::record)
            .collect())
    }

    async fn purge(&self, finished_before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        let gone: Vec<TaskRecord> = {
            let mut st = self.lock();
            let due: Vec<TaskId> = st
                .tasks
                .values()
                .filter(|e| !e.is_live() && e.last_updated_at() < finished_before)
                .take(limit)
                .map(|e| e.id().clone())
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
        let mut groups: HashMap<(TaskStatus, Option<&str>, Option<&str>), u64> = HashMap::new();
        for e in st.tasks.values() {
            *groups
                .entry((
                    e.status(),
                    e.origin().name.as_deref(),
                    e.origin().owner.as_deref(),
                ))
                .or_default() += 1;
        }
        Ok(groups
            .into_iter()
            .map(|((status, tool, owner), count)| TaskCount {
                status,
                tool: tool.map(str::to_owned),
                owner: owner.map(Owner::new),
                count,
            })
            .collect())
    }

    async fn check(&self) -> Result<()> {
        // Memory is always there while the process is.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::task::{Failure, Outcome, Recovery, RequestKind, Requestor, RpcError};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn new_task(session: &str, params: Value) -> NewTask {
        NewTask {
            id: TaskId::generate(),
            requestor: Requestor::anonymous(session),
            kind: RequestKind::ToolsCall,
            name: Some("echo".into()),
            params,
            created_at: at(0),
            ttl: Some(Duration::from_secs(60)),
            poll_interval: Some(Duration::from_secs(1)),
            progress_token: Some(json!({"token": [1, "p"]})),
            runner: Some("runner-a".into()),
            active_limit: None,
        }
    }

    fn done(text: &str) -> Transition {
        Transition::Finish(Outcome::Completed(
            json!({"content": [{"type": "text", "text": text}]}),
        ))
    }

    /// A finished task reads back exactly as it was stored, whatever form the store keeps its
    /// params in: a tree while it is among the last to finish, then compact text, unless it
    /// is too deep to be read back from text.
    #[tokio::test]
    async fn finished_tasks_read_back_exactly() {
        let store = MemoryStore::new();
        let mut deep = json!("bottom");
        for i in 0..200 {
            deep = if i % 2 == 0 {
                json!([deep])
            } else {
                json!({ "k": deep })
            };
        }
        let params = [
            json!({"name": "echo", "arguments": {"text": "ü€𝄞\n", "n": 1.5, "big": 1e300, "z": null}}),
            json!({"name": "echo", "arguments": {"deep": deep}}),
        ];
        let mut finished = Vec::new();
        for params in &params {
            let new = new_task("s", params.clone());
            let created = store.create(new.clone()).await.unwrap();
            assert_eq!(&created.params, params);
            assert_eq!(store.get(None, &new.id).await.unwrap(), Some(created));
            let done = store.transition(&new.id, done("hi"), at(1)).await.unwrap();
            assert_eq!(&done.params, params);
            assert_eq!(done.progress_token, Some(json!({"token": [1, "p"]})));
            finished.push(done);
        }
        let text = |store: &MemoryStore| {
            let st = store.lock();
            let text = |r: &TaskRecord| st.tasks[&r.id].params_are_text();
            finished.iter().map(text).collect::<Vec<_>>()
        };
        assert_eq!(
            text(&store),
            [false, false],
            "the last to finish keep their trees"
        );
        for _ in 0..FRESH {
            let filler = new_task("t", json!({}));
            store.create(filler.clone()).await.unwrap();
            store
                .transition(&filler.id, done("x"), at(1))
                .await
                .unwrap();
        }
        assert_eq!(text(&store), [true, false], "too deep to be text");
        for done in &finished {
            assert_eq!(
                store.get(None, &done.id).await.unwrap().as_ref(),
                Some(done)
            );
            assert_eq!(store.inspect(&done.id).await.unwrap().as_ref(), Some(done));
        }
        let mut gone = store.purge(at(2), usize::MAX).await.unwrap();
        gone.retain(|r| finished.iter().any(|f| f.id == r.id));
        gone.sort_by_key(|r| r.params.to_string().len());
        assert_eq!(gone, finished);
    }

    /// The `created` event names the runner that created the task, also once a recovery gave
    /// the task to another; a result retrieved from a failed task keeps its statusMessage.
    #[tokio::test]
    async fn history_outlives_a_new_runner() {
        let store = MemoryStore::new();
        let new = new_task("s", json!({}));
        store.create(new.clone()).await.unwrap();
        let rerun = Transition::Recover {
            dead_runner: Some("runner-a".into()),
            recovery: Recovery::Rerun {
                runner: "runner-b".into(),
                message: "again".into(),
            },
        };
        let taken = store.transition(&new.id, rerun, at(1)).await.unwrap();
        assert_eq!(taken.runner.as_deref(), Some("runner-b"));
        let failed = Transition::Finish(Outcome::Failed {
            failure: Failure::Error(RpcError {
                code: -32000,
                message: "broke".into(),
                data: None,
            }),
            message: "broke".into(),
        });
        store.transition(&new.id, failed, at(2)).await.unwrap();
        let by = Some("session:s".to_owned());
        let retrieved = EventKind::ResultRetrieved { by: by.clone() };
        store
            .record(&new.id, at(3), retrieved.clone())
            .await
            .unwrap();

        let events = store.history(&new.id, None, 10).await.unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert!(
            matches!(&events[0].kind, EventKind::Created { runner: Some(r), .. } if r == "runner-a"),
            "{events:?}"
        );
        assert_eq!(events[3].kind, retrieved);
        assert_eq!(events[3].status, TaskStatus::Failed);
        assert_eq!(events[3].status_message.as_deref(), Some("broke"));
        assert_eq!(
            store.history(&new.id, Some(2), 1).await.unwrap(),
            events[2..3]
        );
    }

    /// Shared strings and origins go once the last task holding them is deleted, and stay
    /// while another task holds them.
    #[tokio::test]
    async fn shared_parts_go_with_their_last_task() {
        let store = MemoryStore::new();
        let kept = |store: &MemoryStore| store.lock().shared.len();
        let a = new_task("session-a", json!({}));
        let b = new_task("session-b", json!({}));
        let short = NewTask {
            ttl: Some(Duration::from_secs(1)),
            ..new_task("session-b", json!({}))
        };
        for new in [&a, &b, &short] {
            store.create(new.clone()).await.unwrap();
        }
        let retrieved = EventKind::ResultRetrieved {
            by: Some("session:session-b".into()),
        };
        for id in [&b.id, &short.id] {
            store.transition(id, done("x"), at(1)).await.unwrap();
            store.record(id, at(1), retrieved.clone()).await.unwrap();
        }
        // "echo", "runner-a", both sessions, who retrieved; one origin per session.
        assert_eq!(kept(&store), (5, 2));
        assert_eq!(store.delete_expired(at(1), 10).await.unwrap().len(), 1);
        assert_eq!(
            kept(&store),
            (5, 2),
            "b still holds what the expired task held"
        );
        let gone = store.purge(at(2), 10).await.unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(kept(&store), (3, 1), "session-a's task holds its own");
        assert!(store.lock().listings.len() == 1 && store.lock().live.len() == 1);
        let list = |session: &str| ListQuery {
            owner: None,
            session: Some(session.into()),
            after: None,
            limit: 10,
        };
        assert!(store.list(&list("session-b")).await.unwrap().is_empty());
        assert_eq!(store.list(&list("session-a")).await.unwrap().len(), 1);
        store.delete_expired(at(60), 10).await.unwrap();
        assert_eq!(kept(&store), (0, 0));
        assert!(store.is_empty());
    }

    /// A task refused for its requestor's limit leaves nothing behind.
    #[tokio::test]
    async fn a_refused_task_leaves_nothing() {
        let store = MemoryStore::new();
        let limited = |session: &str| NewTask {
            active_limit: Some(1),
            ..new_task(session, json!({}))
        };
        store.create(limited("s")).await.unwrap();
        let refused = store.create(limited("t")).await;
        assert!(refused.is_ok(), "another session has its own allowance");
        let refused = store.create(limited("s")).await;
        assert!(matches!(refused, Err(Error::LimitExceeded { limit: 1 })));
        assert_eq!(store.len(), 2);
        assert_eq!(store.lock().shared.len(), (4, 2));
    }
}

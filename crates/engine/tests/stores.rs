//! The shared store suite, mounted once per store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use mcp_tasks_engine::store::{ChangeFeed, Lease, ListQuery, TaskStore, UnfinishedQuery};
use mcp_tasks_engine::{
    MemoryStore, NewTask, Owner, PostgresStore, Result, SqliteStore, TaskId, TaskRecord, Transition,
};
use testkit::postgres::TempDatabase;

mcp_tasks_engine::store_conformance!(memory, || async { MemoryStore::new() });

mcp_tasks_engine::store_conformance!(sqlite, || async {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SqliteStore::open(dir.path().join("tasks.sqlite3")).expect("opens");
    Scratch::new(store, dir)
});

mcp_tasks_engine::store_conformance!(postgres, || async {
    let db = TempDatabase::create().await;
    let store = PostgresStore::connect(db.url()).await.expect("connects");
    Scratch::new(store, db)
});

/// A store and what must outlive it (its directory, its database), dropped after it.
#[derive(Debug)]
struct Scratch<S, G> {
    store: Arc<S>,
    _guard: G,
}

impl<S, G> Scratch<S, G> {
    fn new(store: S, guard: G) -> Self {
        Self {
            store: Arc::new(store),
            _guard: guard,
        }
    }
}

#[async_trait]
impl<S: TaskStore, G: std::fmt::Debug + Send + Sync + 'static> TaskStore for Scratch<S, G> {
    async fn create(&self, new: NewTask) -> Result<TaskRecord> {
        self.store.create(new).await
    }
    async fn get(&self, owner: Option<&Owner>, id: &TaskId) -> Result<Option<TaskRecord>> {
        self.store.get(owner, id).await
    }
    async fn transition(
        &self,
        id: &TaskId,
        change: Transition,
        now: Timestamp,
    ) -> Result<TaskRecord> {
        self.store.transition(id, change, now).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<TaskRecord>> {
        self.store.list(query).await
    }
    async fn delete_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        self.store.delete_expired(now, limit).await
    }
    async fn unfinished(&self, query: &UnfinishedQuery) -> Result<Vec<TaskRecord>> {
        self.store.unfinished(query).await
    }
    fn changes(&self) -> ChangeFeed {
        self.store.changes()
    }
    async fn record(
        &self,
        id: &TaskId,
        at: Timestamp,
        kind: mcp_tasks_engine::EventKind,
    ) -> Result<()> {
        self.store.record(id, at, kind).await
    }
    async fn history(
        &self,
        id: &TaskId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<mcp_tasks_engine::TaskEvent>> {
        self.store.history(id, after, limit).await
    }
    async fn inspect(&self, id: &TaskId) -> Result<Option<TaskRecord>> {
        self.store.inspect(id).await
    }
    async fn admin_list(&self, query: &mcp_tasks_engine::AdminQuery) -> Result<Vec<TaskRecord>> {
        self.store.admin_list(query).await
    }
    async fn purge(&self, before: Timestamp, limit: usize) -> Result<Vec<TaskRecord>> {
        self.store.purge(before, limit).await
    }
    async fn counts(&self) -> Result<Vec<mcp_tasks_engine::TaskCount>> {
        self.store.counts().await
    }
    async fn check(&self) -> Result<()> {
        self.store.check().await
    }
    fn is_shared(&self) -> bool {
        self.store.is_shared()
    }
    fn cursor_key(&self) -> &[u8] {
        self.store.cursor_key()
    }
    async fn renew_lease(&self, runner: &str, ttl: Duration) -> Result<Lease> {
        self.store.renew_lease(runner, ttl).await
    }
    async fn release_lease(&self, runner: &str) -> Result<()> {
        self.store.release_lease(runner).await
    }
}

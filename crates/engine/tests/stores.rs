//! The shared store suite, mounted once per store.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use mcp_tasks_engine::store::{ChangeFeed, ListQuery, TaskStore, UnfinishedQuery};
use mcp_tasks_engine::{
    MemoryStore, NewTask, Owner, Result, SqliteStore, TaskId, TaskRecord, Transition,
};

mcp_tasks_engine::store_conformance!(memory, || async { MemoryStore::new() });

mcp_tasks_engine::store_conformance!(sqlite, || async { Scratch::new() });

/// A SQLite store in a directory that is removed with it.
#[derive(Debug)]
struct Scratch {
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join("tasks.sqlite3")).expect("opens");
        Self {
            store: Arc::new(store),
            _dir: dir,
        }
    }
}

#[async_trait]
impl TaskStore for Scratch {
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
}

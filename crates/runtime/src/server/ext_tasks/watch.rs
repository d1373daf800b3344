//! The engine's change feed, routed by task id to the `subscriptions/listen` streams that follow
//! those tasks.
//!
//! One pump per server reads the feed (which on PostgreSQL carries the changes of every
//! instance) and wakes only the listeners of the task that changed, so a change costs the
//! same whether ten or ten thousand streams are open on other tasks (DESIGN: "wakes are routed
//! by task id"). A listener is told *which* of its tasks changed, not how: it re-reads them
//! from the store, so a wake that coalesces several changes, or a feed that lagged (every
//! listener is then told all its tasks changed), never shows a state the store does not hold.
//!
//! A listener registers before it reads the tasks' current state (tokio's "register before
//! you check"): a change between the two is either already in what it reads or wakes it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use mcp_tasks_engine::{ChangeFeed, Engine, TaskId};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;

/// The routes of one server's change feed.
#[derive(Debug, Default)]
pub(crate) struct TaskWatch {
    routes: Arc<Routes>,
    started: AtomicBool,
}

#[derive(Debug, Default)]
struct Routes {
    by_task: Mutex<HashMap<TaskId, Vec<Weak<Listener>>>>,
}

/// One listener's mailbox of changed tasks.
#[derive(Debug, Default)]
struct Listener {
    changed: Mutex<Changed>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct Changed {
    ids: HashSet<TaskId>,
    /// The feed lagged: any task may have changed.
    all: bool,
}

/// A listener's registration, until dropped.
#[derive(Debug)]
pub(crate) struct Watching {
    listener: Arc<Listener>,
    ids: Vec<TaskId>,
    routes: Arc<Routes>,
}

impl TaskWatch {
    /// Follows `ids`, starting the pump on `engine`'s feed with the first listener.
    pub(crate) fn watch(&self, engine: &Engine, ids: Vec<TaskId>) -> Watching {
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(pump(engine.changes(), Arc::downgrade(&self.routes)));
        }
        let listener = Arc::new(Listener::default());
        {
            let mut routes = self.routes.lock();
            for id in &ids {
                routes
                    .entry(id.clone())
                    .or_default()
                    .push(Arc::downgrade(&listener));
            }
        }
        Watching {
            listener,
            ids,
            routes: self.routes.clone(),
        }
    }
}

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Vec<Weak<Listener>>>> {
        self.by_task.lock().expect("watch routes mutex poisoned")
    }

    fn changed(&self, id: &TaskId) {
        let listeners: Vec<Arc<Listener>> = self
            .lock()
            .get(id)
            .map(|l| l.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        for listener in listeners {
            listener.mark(|c| {
                c.ids.insert(id.clone());
            });
        }
    }

    fn lagged(&self) {
        let listeners: Vec<Arc<Listener>> = self
            .lock()
            .values()
            .flatten()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.mark(|c| c.all = true);
        }
    }
}

impl Listener {
    fn mark(&self, change: impl FnOnce(&mut Changed)) {
        change(&mut self.changed.lock().expect("listener mutex poisoned"));
        // A stored permit: a mark between the listener's check and its wait is not lost.
        self.wake.notify_one();
    }
}

impl Watching {
    /// The followed tasks that changed since the last call, waiting until one does. After the
    /// feed lagged, all of them.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: changes noted while nobody waits are kept for the next call.
    pub(crate) async fn changed(&self) -> Vec<TaskId> {
        loop {
            {
                let mut changed = self
                    .listener
                    .changed
                    .lock()
                    .expect("listener mutex poisoned");
                if std::mem::take(&mut changed.all) {
                    changed.ids.clear();
                    return self.ids.clone();
                }
                if !changed.ids.is_empty() {
                    return changed.ids.drain().collect();
                }
            }
            self.listener.wake.notified().await;
        }
    }

    /// Stops following `id` (a task that ended or went).
    pub(crate) fn forget(&mut self, id: &TaskId) {
        self.ids.retain(|i| i != id);
        self.routes.unroute(id, &self.listener);
    }
}

impl Routes {
    fn unroute(&self, id: &TaskId, listener: &Arc<Listener>) {
        let mut routes = self.lock();
        if let Some(list) = routes.get_mut(id) {
            list.retain(|l| l.upgrade().is_some_and(|l| !Arc::ptr_eq(&l, listener)));
            if list.is_empty() {
                routes.remove(id);
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.ids) {
            self.routes.unroute(&id, &self.listener);
        }
    }
}

/// Reads the feed until it closes or the server's routes are gone.
async fn pump(mut feed: ChangeFeed, routes: Weak<Routes>) {
    loop {
        let change = feed.recv().await;
        let Some(routes) = routes.upgrade() else {
            return;
        };
        match change {
            Ok(change) => routes.changed(&change.id),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    "task change feed lagged; every listener re-reads its tasks"
                );
                routes.lagged();
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_tasks_engine::{CreateTask, EngineConfig, MemoryStore, RequestKind, Requestor};

    use super::*;

    const HANG: Duration = Duration::from_secs(10);

    /// a change wakes the listeners of that task only, and a listener that stops
    /// following a task is no longer woken by it.
    #[tokio::test]
    async fn changes_are_routed_by_task_id() {
        let watch = TaskWatch::default();
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let (a, b) = (TaskId::from("a"), TaskId::from("b"));
        let mut on_a = watch.watch(&engine, vec![a.clone()]);
        let on_b = watch.watch(&engine, vec![b.clone()]);
        watch.routes.changed(&a);
        let got = tokio::time::timeout(HANG, on_a.changed()).await.unwrap();
        assert_eq!(got, vec![a.clone()]);
        let quiet = tokio::time::timeout(Duration::from_millis(50), on_b.changed()).await;
        assert!(quiet.is_err(), "b's listener was woken by a change to a");
        on_a.forget(&a);
        assert!(on_a.ids.is_empty());
        assert!(watch.routes.lock().get(&a).is_none());
        drop(on_b);
        assert!(watch.routes.lock().is_empty(), "dropping unroutes");
    }

    /// after a lag every listener is told all its tasks may have changed.
    #[tokio::test]
    async fn a_lagged_feed_marks_everything() {
        let watch = TaskWatch::default();
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let ids = vec![TaskId::from("a"), TaskId::from("b")];
        let listening = watch.watch(&engine, ids.clone());
        watch.routes.lagged();
        let mut got = tokio::time::timeout(HANG, listening.changed())
            .await
            .unwrap();
        got.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(got, ids);
    }

    /// the pump carries the store's feed to the listener: a task created and then
    /// cancelled wakes its listener.
    #[tokio::test]
    async fn the_pump_follows_the_store_feed() {
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let requestor = Requestor::anonymous("s");
        let record = engine
            .create(CreateTask {
                requestor: requestor.clone(),
                kind: RequestKind::ToolsCall,
                name: Some("t".into()),
                params: serde_json::json!({}),
                ttl_ms: None,
                progress_token: None,
            })
            .await
            .unwrap();
        let watch = TaskWatch::default();
        let listening = watch.watch(&engine, vec![record.id.clone()]);
        engine.cancel(&requestor, &record.id, None).await.unwrap();
        let got = tokio::time::timeout(HANG, listening.changed())
            .await
            .unwrap();
        assert_eq!(got, vec![record.id]);
    }
}

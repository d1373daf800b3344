//! The store's change feed, routed by task id to whoever follows those tasks.
//!
//! One pump per engine reads the feed (which on PostgreSQL carries the changes of every
//! instance) and wakes only the followers of the task that changed, so a change costs the same
//! whether ten or ten thousand waiters, sessions or `subscriptions/listen` streams follow other
//! tasks (DESIGN: "wakes are routed by task id"). Before this, every follower read the whole
//! feed: with 1,000 idle sessions each change woke 1,000 tokio tasks, and round trips fell by
//! two thirds.
//!
//! A follower is told *which* of its tasks changed, not how: it re-reads them from the store,
//! so a wake that coalesces several changes, or a feed that lagged (every follower is then told
//! all its tasks may have changed), never shows a state the store does not hold.
//!
//! Register before reading the current state (tokio's "register before you check"): a change
//! between the two is either already in what is read or wakes the follower.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_tasks_engine::Error> {
//! use std::sync::Arc;
//! use mcp_tasks_engine::{CreateTask, Engine, EngineConfig, MemoryStore, RequestKind, Requestor};
//!
//! let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
//! let me = Requestor::anonymous("session-1");
//! let task = engine
//!     .create(CreateTask {
//!         requestor: me.clone(),
//!         kind: RequestKind::ToolsCall,
//!         name: Some("build".into()),
//!         params: serde_json::json!({}),
//!         ttl_ms: None,
//!         progress_token: None,
//!     })
//!     .await?;
//! let watching = engine.watch([task.id.clone()]);
//! engine.cancel(&me, &task.id, None).await?;
//! assert_eq!(watching.changed().await?, vec![task.id]);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;

use crate::store::ChangeFeed;
use crate::task::TaskId;
use crate::{Error, Result};

/// The routes of one engine's change feed.
#[derive(Debug, Default)]
pub(crate) struct TaskWatch {
    routes: Arc<Routes>,
    started: AtomicBool,
}

#[derive(Debug, Default)]
struct Routes {
    by_task: Mutex<HashMap<TaskId, Vec<Weak<Follower>>>>,
}

/// One follower's mailbox of changed tasks.
#[derive(Debug, Default)]
struct Follower {
    changed: Mutex<Changed>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct Changed {
    ids: HashSet<TaskId>,
    /// The feed lagged: any task may have changed.
    all: bool,
    /// The feed closed: the store is gone, nothing will change again.
    closed: bool,
}

/// A registration to hear of changes to some tasks, until dropped; see the module docs.
#[derive(Debug)]
pub struct Watching {
    follower: Arc<Follower>,
    ids: Mutex<Vec<TaskId>>,
    routes: Arc<Routes>,
}

impl TaskWatch {
    /// Follows `ids`, starting the pump on `feed` with the first follower. `feed` is only
    /// called then, so an engine nobody watches holds no subscription.
    pub(crate) fn watch(
        &self,
        feed: impl FnOnce() -> ChangeFeed,
        ids: impl IntoIterator<Item = TaskId>,
    ) -> Watching {
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(pump(feed(), Arc::downgrade(&self.routes)));
        }
        let watching = Watching {
            follower: Arc::new(Follower::default()),
            ids: Mutex::new(Vec::new()),
            routes: self.routes.clone(),
        };
        for id in ids {
            watching.follow(id);
        }
        watching
    }
}

impl Follower {
    fn mark(&self, change: impl FnOnce(&mut Changed)) {
        change(&mut lock(&self.changed));
        // A stored permit: a mark between the follower's check and its wait is not lost.
        self.wake.notify_one();
    }
}

impl Watching {
    /// The followed tasks that changed since the last call, waiting until one does. After the
    /// feed lagged, all of them.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store's feed closed (the store is gone).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: changes noted while nobody waits are kept for the next call.
    pub async fn changed(&self) -> Result<Vec<TaskId>> {
        loop {
            {
                let mut changed = lock(&self.follower.changed);
                if changed.closed {
                    return Err(Error::store("the store's change feed closed"));
                }
                if std::mem::take(&mut changed.all) {
                    changed.ids.clear();
                    return Ok(self.ids());
                }
                if !changed.ids.is_empty() {
                    return Ok(changed.ids.drain().collect());
                }
            }
            self.follower.wake.notified().await;
        }
    }

    /// Follows one more task (a session's new task). Changes made before this call are not
    /// reported: follow before the task can change, or re-read it after.
    pub fn follow(&self, id: TaskId) {
        let mut ids = lock(&self.ids);
        if ids.contains(&id) {
            return;
        }
        self.routes
            .lock()
            .entry(id.clone())
            .or_default()
            .push(Arc::downgrade(&self.follower));
        ids.push(id);
    }

    /// Stops following `id` (a task that ended or went).
    pub fn forget(&self, id: &TaskId) {
        let mut ids = lock(&self.ids);
        let before = ids.len();
        ids.retain(|i| i != id);
        if ids.len() != before {
            self.routes.unroute(id, &self.follower);
        }
    }

    /// The tasks followed.
    pub fn ids(&self) -> Vec<TaskId> {
        lock(&self.ids).clone()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        for id in std::mem::take(&mut *lock(&self.ids)) {
            self.routes.unroute(&id, &self.follower);
        }
    }
}

impl Routes {
    fn lock(&self) -> MutexGuard<'_, HashMap<TaskId, Vec<Weak<Follower>>>> {
        lock(&self.by_task)
    }

    fn changed(&self, id: &TaskId) {
        let followers: Vec<Arc<Follower>> = self
            .lock()
            .get(id)
            .map(|l| l.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        for follower in followers {
            follower.mark(|c| {
                c.ids.insert(id.clone());
            });
        }
    }

    fn everyone(&self, change: impl Fn(&mut Changed)) {
        let mut seen = HashSet::new();
        let followers: Vec<Arc<Follower>> = self
            .lock()
            .values()
            .flatten()
            .filter_map(Weak::upgrade)
            .filter(|f| seen.insert(Arc::as_ptr(f)))
            .collect();
        for follower in followers {
            follower.mark(&change);
        }
    }

    fn unroute(&self, id: &TaskId, follower: &Arc<Follower>) {
        let mut routes = self.lock();
        if let Some(list) = routes.get_mut(id) {
            list.retain(|l| l.upgrade().is_some_and(|l| !Arc::ptr_eq(&l, follower)));
            if list.is_empty() {
                routes.remove(id);
            }
        }
    }
}

/// Reads the feed until it closes or the engine's routes are gone.
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
                    "task change feed lagged; every follower re-reads its tasks"
                );
                routes.everyone(|c| c.all = true);
            }
            Err(RecvError::Closed) => {
                routes.everyone(|c| c.closed = true);
                return;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::ChangeSender;

    use super::*;

    const HANG: Duration = Duration::from_secs(10);

    /// Follows `ids` on a feed that stays open while `feed` lives.
    fn started(watch: &TaskWatch, feed: &ChangeSender, ids: Vec<TaskId>) -> Watching {
        watch.watch(|| feed.subscribe(), ids)
    }

    /// X-7: a change wakes the followers of that task only, and a follower that stops
    /// following a task is no longer woken by it.
    #[tokio::test]
    async fn changes_are_routed_by_task_id() {
        let (watch, feed) = (TaskWatch::default(), ChangeSender::new(8));
        let (a, b) = (TaskId::from("a"), TaskId::from("b"));
        let on_a = started(&watch, &feed, vec![a.clone()]);
        let on_b = started(&watch, &feed, vec![b.clone()]);
        watch.routes.changed(&a);
        let got = tokio::time::timeout(HANG, on_a.changed()).await.unwrap();
        assert_eq!(got.unwrap(), vec![a.clone()]);
        let quiet = tokio::time::timeout(Duration::from_millis(50), on_b.changed()).await;
        assert!(quiet.is_err(), "b's follower was woken by a change to a");
        on_a.forget(&a);
        assert!(on_a.ids().is_empty());
        assert!(watch.routes.lock().get(&a).is_none());
        drop(on_b);
        assert!(watch.routes.lock().is_empty(), "dropping unroutes");
    }

    /// A session follows its tasks one by one as it makes them.
    #[tokio::test]
    async fn a_follower_can_add_tasks_later() {
        let (watch, feed) = (TaskWatch::default(), ChangeSender::new(8));
        let following = started(&watch, &feed, Vec::new());
        let id = TaskId::from("later");
        following.follow(id.clone());
        following.follow(id.clone());
        assert_eq!(following.ids(), vec![id.clone()], "following twice is once");
        watch.routes.changed(&id);
        let got = tokio::time::timeout(HANG, following.changed()).await;
        assert_eq!(got.unwrap().unwrap(), vec![id]);
    }

    /// X-7: after a lag every follower is told all its tasks may have changed.
    #[tokio::test]
    async fn a_lagged_feed_marks_everything() {
        let (watch, feed) = (TaskWatch::default(), ChangeSender::new(8));
        let ids = vec![TaskId::from("a"), TaskId::from("b")];
        let following = started(&watch, &feed, ids.clone());
        watch.routes.everyone(|c| c.all = true);
        let mut got = tokio::time::timeout(HANG, following.changed())
            .await
            .unwrap()
            .unwrap();
        got.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(got, ids);
    }

    /// The pump carries the store's feed to the follower, and a store that goes away ends the
    /// wait with an error instead of leaving it waiting for ever.
    #[tokio::test]
    async fn the_pump_follows_the_feed_until_it_closes() {
        let sender = ChangeSender::new(8);
        let watch = TaskWatch::default();
        let id = TaskId::from("t");
        let following = watch.watch(|| sender.subscribe(), vec![id.clone()]);
        sender.send(crate::store::Change {
            id: id.clone(),
            event: crate::store::ChangeEvent::Expired,
        });
        let got = tokio::time::timeout(HANG, following.changed()).await;
        assert_eq!(got.unwrap().unwrap(), vec![id]);
        drop(sender);
        let closed = tokio::time::timeout(HANG, following.changed()).await;
        assert!(matches!(closed.unwrap(), Err(Error::Store { .. })));
    }
}

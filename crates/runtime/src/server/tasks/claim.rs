//! Who delivers a task's question: one `tasks/result` exchange per (task, key) at a time.
//!
//! Several `tasks/result` exchanges may be open on one task (a retry beside a stalled one, two
//! sessions of the same owner). Each queued question must reach the person once, so an
//! exchange first claims `(task, key)`; the others leave it alone while the claim is held. The
//! claim is released when the exchange's ask ends: answered (the question leaves the mailbox)
//! or not (its stream or session went away), in which case every waiting exchange is woken to
//! look again and the next one able to deliver it does.
//!
//! The claim is held in this process. Exchanges on several instances sharing a PostgreSQL
//! store can each claim the same question, so a requestor connected to two instances at once
//! may be asked twice there; the first answer wins and the second is ignored by the mailbox
//! (an answer to an answered key is dropped).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use mcp_tasks_engine::TaskId;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

#[derive(Default)]
struct Claims {
    held: HashSet<(TaskId, String)>,
    /// Per task with an open exchange: woken when a claim on that task is released, so a
    /// release wakes the exchanges of its own task only.
    watchers: HashMap<TaskId, Arc<Notify>>,
}

static CLAIMS: LazyLock<Mutex<Claims>> = LazyLock::new(Mutex::default);

fn claims() -> std::sync::MutexGuard<'static, Claims> {
    CLAIMS.lock().expect("claims mutex poisoned")
}

/// The right to deliver one question, until dropped.
#[derive(Debug)]
pub(crate) struct Claim {
    task: TaskId,
    key: String,
}

/// Claims `(task, key)`; `None` when another exchange holds it.
pub(crate) fn claim(task: &TaskId, key: &str) -> Option<Claim> {
    claims()
        .held
        .insert((task.clone(), key.to_owned()))
        .then(|| Claim {
            task: task.clone(),
            key: key.to_owned(),
        })
}

/// Whether an exchange holds `(task, key)`.
pub(crate) fn is_claimed(task: &TaskId, key: &str) -> bool {
    claims().held.contains(&(task.clone(), key.to_owned()))
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claims = claims();
        claims
            .held
            .remove(&(self.task.clone(), std::mem::take(&mut self.key)));
        if let Some(watch) = claims.watchers.get(&self.task) {
            watch.notify_waiters();
        }
    }
}

/// An exchange's interest in the claims of one task, for its life.
#[derive(Debug)]
pub(crate) struct Watch {
    task: TaskId,
    notify: Arc<Notify>,
}

/// Starts watching the claims of `task`.
pub(crate) fn watch(task: &TaskId) -> Watch {
    let notify = claims().watchers.entry(task.clone()).or_default().clone();
    Watch {
        task: task.clone(),
        notify,
    }
}

impl Watch {
    /// Resolves when a claim on the task is released. Create it (and `enable` it) before
    /// looking at the claims, or a release in between is missed.
    pub(crate) fn released(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut claims = claims();
        // The map's handle and ours: no other exchange watches this task.
        if Arc::strong_count(&self.notify) == 2 {
            claims.watchers.remove(&self.task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-RES-4: one claim per (task, key); released on drop, with a wake-up.
    #[tokio::test]
    async fn one_claim_per_key_until_dropped() {
        let task = TaskId::generate();
        let first = claim(&task, "k").expect("free");
        assert!(claim(&task, "k").is_none());
        assert!(is_claimed(&task, "k"));
        let other = claim(&task, "k2").expect("another key is free");
        let watch = watch(&task);
        {
            let woken = watch.released();
            tokio::pin!(woken);
            woken.as_mut().enable();
            drop(first);
            tokio::time::timeout(std::time::Duration::from_secs(5), woken)
                .await
                .expect("a release wakes waiters");
        }
        assert!(!is_claimed(&task, "k"));
        assert!(claim(&task, "k").is_some());
        drop(other);
        drop(watch);
        assert!(
            !claims().watchers.contains_key(&task),
            "the last watch cleans up"
        );
    }
}

//! What one client holds in this engine: unfinished tasks and unexpired result bytes, counted
//! per client rather than per requestor session (T-TTL-2; issue 16 measured 11 anonymous
//! sessions of one address holding 11,000 active tasks, and 200 tasks with 1 MB results
//! holding 404 MB).
//!
//! A client is the requestor's owner (with auth), else the client key its transport bound to
//! its session ([`Engine::bind_client`](crate::Engine::bind_client): the HTTP peer's address),
//! else its session (stdio: the connection, one client).
//!
//! The stores enforce [`Limits::max_active_per_requestor`](crate::Limits) exactly, per owner or
//! session, on every instance; they know nothing of addresses or result sizes. This ledger
//! adds the per-client counts in memory, per engine:
//! - a task is charged to its client when created here (before the store is asked, so two
//!   creations cannot both pass the check), released from the active count when the change
//!   feed (or this engine's own `finish`) says it ended, and its result's bytes charged when
//!   this engine stores it, until the feed says it was deleted or its `expires_at` passes;
//! - so it is exact on one instance; on several sharing a store, each instance counts what it
//!   created and finished, so one client may hold up to the limit on each instance. Counts
//!   start empty at start-up: unfinished tasks of a previous run are failed or rerun by
//!   recovery, and results stored before the start are not counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::task::{Owner, Requestor, TaskId};
use crate::{Error, Result};

/// The ledger: per task, who it is charged to; per client, its totals.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    state: Mutex<State>,
}

/// Unfinished tasks and finished ones with a stored result are kept apart: the second kind
/// can be many (every result until it expires), so each is kept in a few words (issue 14).
#[derive(Debug, Default)]
struct State {
    /// Tasks charged as unfinished.
    active: HashMap<TaskId, Active>,
    /// Finished tasks whose result still counts.
    held: HashMap<TaskId, Held>,
    /// Each client's totals, by client key; the tasks' charges share the key.
    clients: HashMap<Arc<str>, Usage>,
    /// Session → client key, as the transport bound them.
    bound: HashMap<String, String>,
}

/// An unfinished task's charge.
#[derive(Debug)]
struct Active {
    client: Arc<str>,
    /// For [`Quotas::active`]'s re-check, which reads the task as its owner.
    owner: Option<Owner>,
    /// Its result's bytes, once being stored ([`Quotas::storing`]); 0 before.
    bytes: u64,
    /// When its result stops counting.
    ends: Nanos,
}

/// A finished task's stored result.
#[derive(Debug)]
struct Held {
    client: Arc<str>,
    bytes: u64,
    ends: Nanos,
}

/// One client's totals.
#[derive(Debug, Default)]
struct Usage {
    active: usize,
    bytes: u64,
    /// The charged results by expiry, to drop expired ones and to say when to retry.
    results: BTreeSet<(Nanos, TaskId)>,
}

/// A time in nanoseconds since the Unix epoch: half a [`Timestamp`], and there are two per
/// stored result. Exact from 1677 to 2262; an expiry after that counts as [`NEVER`].
type Nanos = i64;

/// The expiry of a result that never expires.
const NEVER: Nanos = Nanos::MAX;

fn nanos(t: Timestamp) -> Nanos {
    Nanos::try_from(t.as_nanosecond()).unwrap_or(if t.as_nanosecond() < 0 {
        Nanos::MIN
    } else {
        NEVER
    })
}

/// A result refused by [`Quotas::storing`]: its client already holds `held` bytes of results,
/// and the result would take it above `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OverCap {
    pub(crate) held: u64,
    pub(crate) limit: u64,
}

/// The limits the ledger checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    pub(crate) active: Option<usize>,
    pub(crate) result_bytes: Option<u64>,
}

impl Caps {
    fn any(self) -> bool {
        self.active.is_some() || self.result_bytes.is_some()
    }
}

impl Quotas {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("quota mutex poisoned")
    }

    /// Counts `session`'s tasks as `client`'s from now on.
    pub(crate) fn bind(&self, session: &str, client: &str) {
        self.lock()
            .bound
            .insert(session.to_owned(), client.to_owned());
    }

    /// Forgets `session`'s binding; its tasks stay charged to the client they were charged to.
    pub(crate) fn unbind(&self, session: &str) {
        self.lock().bound.remove(session);
    }

    /// Charges a new task `id` of `requestor`, or refuses it: the client has `caps.active`
    /// unfinished tasks, or `caps.result_bytes` (or more) of unexpired results.
    pub(crate) fn charge(
        &self,
        caps: Caps,
        requestor: &Requestor,
        id: &TaskId,
        now: Timestamp,
    ) -> Result<()> {
        if !caps.any() {
            return Ok(());
        }
        let mut st = self.lock();
        let client = match (&requestor.owner, &requestor.session) {
            (Some(owner), _) => format!("owner:{owner}"),
            (None, Some(session)) => st
                .bound
                .get(session)
                .cloned()
                .unwrap_or_else(|| format!("session:{session}")),
            (None, None) => return Ok(()),
        };
        let State {
            active,
            held,
            clients,
            ..
        } = &mut *st;
        let client = match clients.get_key_value(client.as_str()) {
            Some((kept, _)) => kept.clone(),
            None => Arc::from(client),
        };
        let usage = clients.entry(client.clone()).or_default();
        if let Some(limit) = caps.active {
            if usage.active >= limit {
                return Err(Error::LimitExceeded { limit });
            }
        }
        if let Some(limit) = caps.result_bytes {
            // Full: no result would fit ([`Quotas::storing`] keeps the client within the cap).
            if usage.bytes >= limit {
                usage.drop_expired(active, held, now);
            }
            if usage.bytes >= limit {
                let retry_after = usage
                    .results
                    .iter()
                    .next()
                    .map(|(at, _)| *at)
                    .filter(|at| *at < NEVER)
                    .map(|at| {
                        let wait = at.saturating_sub(nanos(now));
                        Duration::from_nanos(u64::try_from(wait).unwrap_or(0))
                    });
                return Err(Error::ResultBytesExceeded {
                    held: usage.bytes,
                    limit,
                    retry_after,
                });
            }
        }
        usage.active += 1;
        active.insert(
            id.clone(),
            Active {
                client,
                owner: requestor.owner.clone(),
                bytes: 0,
                ends: NEVER,
            },
        );
        Ok(())
    }

    /// Undoes the charge of a task the store did not create.
    pub(crate) fn uncharge(&self, id: &TaskId) {
        self.forget(id);
    }

    /// The task ended (any terminal status): it no longer counts as unfinished; its result,
    /// if one is charged, counts until it expires or is deleted.
    pub(crate) fn ended(&self, id: &TaskId) {
        let mut st = self.lock();
        let State {
            active,
            held,
            clients,
            ..
        } = &mut *st;
        let Some(task) = active.remove(id) else {
            return;
        };
        if let Some(usage) = clients.get_mut(&task.client) {
            usage.active = usage.active.saturating_sub(1);
        }
        if task.bytes == 0 {
            // Nothing stored to count: an entry would only take memory.
            tidy(clients, &task.client);
        } else {
            held.insert(
                id.clone(),
                Held {
                    client: task.client,
                    bytes: task.bytes,
                    ends: task.ends,
                },
            );
        }
    }

    /// The store created the task, to expire at `expires_at`.
    pub(crate) fn created(&self, id: &TaskId, expires_at: Option<Timestamp>) {
        if let Some(task) = self.lock().active.get_mut(id) {
            task.ends = expires_at.map_or(NEVER, nanos);
        }
    }

    /// A result of `bytes` is about to be stored for the task. Charged before the store is
    /// asked, so the change feed's "ended" cannot overtake it; or refused, charging nothing,
    /// when it would put the task's client above `limit` bytes of unexpired results. The
    /// check at creation alone would let a client holding nothing start many tasks at once
    /// and then store a full result from each.
    pub(crate) fn storing(
        &self,
        id: &TaskId,
        bytes: u64,
        limit: Option<u64>,
        now: Timestamp,
    ) -> std::result::Result<(), OverCap> {
        let mut st = self.lock();
        let State {
            active,
            held,
            clients,
            ..
        } = &mut *st;
        // A task that ended already (charged here or not) stores nothing more.
        let Some(task) = active.get(id) else {
            return Ok(());
        };
        if bytes == 0 || task.bytes != 0 {
            return Ok(());
        }
        let usage = clients.entry(task.client.clone()).or_default();
        if let Some(limit) = limit {
            if usage.bytes.saturating_add(bytes) > limit {
                usage.drop_expired(active, held, now);
            }
            if usage.bytes.saturating_add(bytes) > limit {
                return Err(OverCap {
                    held: usage.bytes,
                    limit,
                });
            }
        }
        let Some(task) = active.get_mut(id) else {
            return Ok(());
        };
        task.bytes = bytes;
        usage.bytes += bytes;
        usage.results.insert((task.ends, id.clone()));
        Ok(())
    }

    /// The result charged by [`Quotas::storing`] was not stored after all (the task had
    /// ended otherwise, or the store failed).
    pub(crate) fn not_stored(&self, id: &TaskId) {
        let mut st = self.lock();
        let State {
            active,
            held,
            clients,
            ..
        } = &mut *st;
        if let Some(task) = active.get_mut(id) {
            let bytes = std::mem::take(&mut task.bytes);
            if let Some(usage) = clients.get_mut(&task.client) {
                usage.uncount(bytes, task.ends, id);
            }
        } else if let Some(result) = held.remove(id) {
            if let Some(usage) = clients.get_mut(&result.client) {
                usage.uncount(result.bytes, result.ends, id);
            }
            tidy(clients, &result.client);
        }
    }

    /// The task was deleted (expired or purged): nothing of it counts any more.
    pub(crate) fn deleted(&self, id: &TaskId) {
        self.forget(id);
    }

    fn forget(&self, id: &TaskId) {
        let mut st = self.lock();
        let State {
            active,
            held,
            clients,
            ..
        } = &mut *st;
        if let Some(task) = active.remove(id) {
            if let Some(usage) = clients.get_mut(&task.client) {
                usage.active = usage.active.saturating_sub(1);
                usage.uncount(task.bytes, task.ends, id);
            }
            tidy(clients, &task.client);
        } else if let Some(result) = held.remove(id) {
            if let Some(usage) = clients.get_mut(&result.client) {
                usage.uncount(result.bytes, result.ends, id);
            }
            tidy(clients, &result.client);
        }
    }

    /// The tasks still counted as unfinished, with their owners: for a re-check against the
    /// store when the change feed lost changes.
    pub(crate) fn active(&self) -> Vec<(TaskId, Option<Owner>)> {
        self.lock()
            .active
            .iter()
            .map(|(id, task)| (id.clone(), task.owner.clone()))
            .collect()
    }
}

impl Usage {
    /// Takes a result of `bytes` bytes, ending at `ends`, out of the totals.
    fn uncount(&mut self, bytes: u64, ends: Nanos, id: &TaskId) {
        if bytes > 0 {
            self.bytes = self.bytes.saturating_sub(bytes);
            self.results.remove(&(ends, id.clone()));
        }
    }

    /// Drops the results whose ttl has run out, whether or not the sweeper has deleted them,
    /// with the charges of their tasks.
    fn drop_expired(
        &mut self,
        active: &mut HashMap<TaskId, Active>,
        held: &mut HashMap<TaskId, Held>,
        now: Timestamp,
    ) {
        let now = nanos(now);
        while let Some((at, id)) = self.results.first().cloned() {
            if at > now {
                break;
            }
            if let Some(result) = held.remove(&id) {
                self.uncount(result.bytes, result.ends, &id);
            } else if let Some(task) = active.remove(&id) {
                self.active = self.active.saturating_sub(1);
                self.uncount(task.bytes, task.ends, &id);
            } else {
                self.results.remove(&(at, id));
            }
        }
    }
}

/// Forgets a client that holds nothing.
fn tidy(clients: &mut HashMap<Arc<str>, Usage>, client: &str) {
    if clients
        .get(client)
        .is_some_and(|u| u.active == 0 && u.bytes == 0)
    {
        clients.remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    const CAPS: Caps = Caps {
        active: Some(2),
        result_bytes: Some(100),
    };

    /// T-TTL-2: anonymous sessions bound to one address share its allowance of unfinished
    /// tasks; another address has its own; a task that ends frees its slot.
    #[test]
    fn sessions_of_one_address_share_the_active_cap() {
        let q = Quotas::default();
        q.bind("s1", "address:10.0.0.1");
        q.bind("s2", "address:10.0.0.1");
        q.bind("s3", "address:10.0.0.2");
        let (a, b, c) = (TaskId::generate(), TaskId::generate(), TaskId::generate());
        q.charge(CAPS, &Requestor::anonymous("s1"), &a, now())
            .unwrap();
        q.charge(CAPS, &Requestor::anonymous("s2"), &b, now())
            .unwrap();
        let over = q.charge(CAPS, &Requestor::anonymous("s2"), &c, now());
        assert!(
            matches!(over, Err(Error::LimitExceeded { limit: 2 })),
            "{over:?}"
        );
        q.charge(CAPS, &Requestor::anonymous("s3"), &c, now())
            .unwrap();
        q.ended(&a);
        q.charge(
            CAPS,
            &Requestor::anonymous("s1"),
            &TaskId::generate(),
            now(),
        )
        .unwrap();
    }

    /// T-TTL-2: a client holding more than the cap in unexpired results is refused, told when
    /// the oldest expires; once it expired, or was deleted, the client may create again.
    #[test]
    fn stored_results_above_the_cap_refuse_new_tasks() {
        let q = Quotas::default();
        let me = Requestor {
            owner: Some(Owner::new("alice")),
            session: Some("s".into()),
        };
        let (a, b) = (TaskId::generate(), TaskId::generate());
        let soon = now().checked_add(Duration::from_secs(60)).unwrap();
        q.charge(CAPS, &me, &a, now()).unwrap();
        q.created(&a, Some(soon));
        q.storing(&a, 80, None, now()).unwrap();
        q.ended(&a);
        q.charge(CAPS, &me, &b, now()).unwrap();
        q.created(&b, None);
        q.storing(&b, 80, None, now()).unwrap();
        q.ended(&b);
        let refused = q.charge(CAPS, &me, &TaskId::generate(), now()).unwrap_err();
        match &refused {
            Error::ResultBytesExceeded {
                held: 160,
                limit: 100,
                retry_after: Some(after),
            } => assert_eq!(*after, Duration::from_secs(60)),
            other => panic!("{other:?}"),
        }
        assert!(refused.to_string().contains("60 s"), "{refused}");
        let later = soon.checked_add(Duration::from_secs(1)).unwrap();
        q.charge(CAPS, &me, &TaskId::generate(), later)
            .expect("the expired result no longer counts");
        q.deleted(&b);
        assert!(q.lock().clients.get("owner:alice").unwrap().bytes == 0);
    }

    /// A result that was not stored after all (the task was cancelled first) is uncharged,
    /// and a finished task with nothing stored leaves no entry.
    #[test]
    fn results_not_stored_are_uncharged() {
        let q = Quotas::default();
        let me = Requestor::anonymous("s");
        let a = TaskId::generate();
        q.charge(CAPS, &me, &a, now()).unwrap();
        q.storing(&a, 500, None, now()).unwrap();
        q.ended(&a);
        assert!(q.charge(CAPS, &me, &TaskId::generate(), now()).is_err());
        q.not_stored(&a);
        let st = q.lock();
        assert!(!st.active.contains_key(&a) && !st.held.contains_key(&a));
        assert!(
            !st.clients.contains_key("session:s"),
            "a client holding nothing is forgotten"
        );
    }

    /// T-TTL-2 (issue 16): the cap holds when results are stored, not only when tasks are
    /// created: two tasks started while their client held nothing cannot both store a result
    /// that together takes it over the cap; the refused one charges nothing, and a result
    /// that fits once an older one expired is stored.
    #[test]
    fn a_result_that_would_pass_the_cap_is_refused_when_stored() {
        let q = Quotas::default();
        let me = Requestor::anonymous("s");
        let (a, b) = (TaskId::generate(), TaskId::generate());
        q.charge(CAPS, &me, &a, now()).unwrap();
        q.charge(CAPS, &me, &b, now()).unwrap();
        let soon = now().checked_add(Duration::from_secs(60)).unwrap();
        q.created(&a, Some(soon));
        q.created(&b, None);
        q.storing(&a, 80, CAPS.result_bytes, now()).unwrap();
        assert_eq!(
            q.storing(&b, 80, CAPS.result_bytes, now()),
            Err(OverCap {
                held: 80,
                limit: 100
            })
        );
        assert_eq!(q.lock().clients["session:s"].bytes, 80);
        q.storing(&b, 20, CAPS.result_bytes, now()).unwrap();
        assert_eq!(q.lock().clients["session:s"].bytes, 100);
        let later = soon.checked_add(Duration::from_secs(1)).unwrap();
        let c = TaskId::generate();
        q.ended(&b);
        q.charge(CAPS, &me, &c, later).unwrap();
        q.storing(&c, 80, CAPS.result_bytes, later)
            .expect("the expired result no longer counts");
    }

    /// Without limits nothing is kept.
    #[test]
    fn no_limits_keep_nothing() {
        let q = Quotas::default();
        let none = Caps {
            active: None,
            result_bytes: None,
        };
        q.charge(none, &Requestor::anonymous("s"), &TaskId::generate(), now())
            .unwrap();
        assert!(q.lock().active.is_empty());
    }

    /// A finished task's result is counted in a small entry of its own until it is deleted,
    /// and the client is forgotten once it holds nothing; one without a result leaves nothing.
    #[test]
    fn a_finished_task_keeps_only_its_result() {
        let q = Quotas::default();
        let me = Requestor::anonymous("s");
        let (a, b) = (TaskId::generate(), TaskId::generate());
        q.charge(CAPS, &me, &a, now()).unwrap();
        q.charge(CAPS, &me, &b, now()).unwrap();
        q.created(&a, None);
        q.storing(&a, 30, CAPS.result_bytes, now()).unwrap();
        q.ended(&a);
        q.ended(&b);
        {
            let st = q.lock();
            assert!(st.active.is_empty());
            assert_eq!(st.held.len(), 1);
            assert_eq!(st.held[&a].bytes, 30);
            let usage = &st.clients["session:s"];
            assert_eq!((usage.active, usage.bytes), (0, 30));
            assert!(Arc::ptr_eq(
                st.clients.keys().next().unwrap(),
                &st.held[&a].client
            ));
        }
        q.ended(&a);
        assert_eq!(
            q.lock().clients["session:s"].bytes,
            30,
            "ending twice changes nothing"
        );
        q.deleted(&a);
        let st = q.lock();
        assert!(st.held.is_empty() && st.clients.is_empty());
    }
}

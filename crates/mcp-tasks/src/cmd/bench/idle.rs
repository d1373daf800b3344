//! The idle load held while the benchmark runs (`--idle-sessions`, `--idle-waiters`): what a
//! server keeps for clients that are connected but quiet, so its memory and its throughput
//! can be measured with them.
//!
//! - An idle session: in 2025-11-25 an initialized session with its GET stream open; in
//!   2026-07-28, which has no session, an open `subscriptions/listen` stream (its one
//!   long-lived request).
//! - A waiter: a task and a client waiting for its result, on a connection of its own: in
//!   2025-11-25 a `tasks/result` held open; in 2026-07-28, which has no blocking result, a
//!   `subscriptions/listen` following the task (its notifications carry the result when it
//!   ends). The waiters' tasks are cancelled at the end.
//!
//! They are opened at most [`CONCURRENCY`] at a time. A stream counts as open once its
//! response headers say so, or when the server has held the request [`OPEN_GRACE`] without
//! answering (a server may send headers only with the first event).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http::Method;
use http_body_util::BodyExt as _;
use mcp_tasks_wire::method;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::{Conn, Failure};
use super::ops::{Shared, Speaker};
use super::protocol::{CallOf, Headers};
use super::stats::ErrorCount;
use crate::cli::ProtocolVersion;

/// How many idle streams are being opened at once, and requests sent at once when closing.
pub(crate) const CONCURRENCY: usize = 64;
/// How long a held request may go without headers before it counts as open anyway.
const OPEN_GRACE: Duration = Duration::from_secs(2);
/// How long a held stream may stay open: longer than any run.
const HOLD: Duration = Duration::from_secs(7 * 24 * 3600);

/// The idle load, open.
#[derive(Debug, Default)]
pub(crate) struct Idle {
    /// The tasks holding the streams.
    holders: Vec<JoinHandle<()>>,
    /// Idle sessions opened.
    pub(crate) sessions: usize,
    /// Waiters opened.
    pub(crate) waiters: usize,
    /// Waiters' tasks cancelled at the end.
    pub(crate) cancelled: usize,
    /// Why some did not open, by kind.
    pub(crate) failures: BTreeMap<String, ErrorCount>,
    /// Sessions to end at the end (2025-11-25): the target and the session's headers.
    sessions_to_end: Vec<(usize, Headers)>,
    /// The waiters' tasks: the target and the task id.
    tasks: Vec<(usize, String)>,
    /// The waiters' session on each target (2025-11-25).
    waiter_sessions: Vec<Option<Headers>>,
}

/// What opening one idle stream left: the task holding it, or why it did not open; and the
/// session or task made on the way, to end or cancel at the end either way.
struct Attempt {
    holder: Result<JoinHandle<()>, Failure>,
    target: usize,
    session: Option<Headers>,
    task: Option<String>,
}

impl Attempt {
    fn failed(target: usize, failure: Failure) -> Self {
        Self {
            holder: Err(failure),
            target,
            session: None,
            task: None,
        }
    }
}

impl Idle {
    fn fail(&mut self, f: &Failure) {
        self.failures
            .entry(f.kind().into_owned())
            .and_modify(|e| e.count += 1)
            .or_insert_with(|| ErrorCount {
                count: 1,
                first: f.message(),
            });
    }

    /// Opens the idle sessions and waiters `shared.plan` asks for.
    pub(crate) async fn open(shared: &Arc<Shared>) -> Self {
        let plan = &shared.plan;
        let mut idle = Self::default();
        idle.waiter_sessions = vec![None; plan.targets.len()];
        let sessions: Vec<_> = futures::stream::iter(0..plan.idle_sessions)
            .map(|i| idle_session(shared.clone(), i % plan.targets.len()))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for a in sessions {
            if idle.keep(a) {
                idle.sessions += 1;
            }
        }
        if plan.idle_waiters == 0 {
            return idle;
        }
        if plan.era == ProtocolVersion::V2025_11_25 {
            // One session per target holds every waiter there: a session is one instance's.
            for (t, target) in plan.targets.iter().enumerate() {
                let mut s = Speaker::new(target, plan);
                match s.initialize().await {
                    Ok(()) => idle.waiter_sessions[t] = Some(s.session.clone()),
                    Err(f) => idle.fail(&f),
                }
            }
        }
        let sessions = idle.waiter_sessions.clone();
        let waiters: Vec<_> = futures::stream::iter(0..plan.idle_waiters)
            .map(|i| {
                let t = i % plan.targets.len();
                waiter(shared.clone(), t, sessions[t].clone())
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for a in waiters {
            if idle.keep(a) {
                idle.waiters += 1;
            }
        }
        idle
    }

    /// Keeps what `a` left; whether its stream opened.
    fn keep(&mut self, a: Attempt) -> bool {
        if let Some(session) = a.session {
            self.sessions_to_end.push((a.target, session));
        }
        if let Some(task) = a.task {
            self.tasks.push((a.target, task));
        }
        match a.holder {
            Ok(h) => {
                self.holders.push(h);
                true
            }
            Err(f) => {
                self.fail(&f);
                false
            }
        }
    }

    /// Cancels the waiters' tasks (best effort), closes every stream, and ends the sessions
    /// (2025-11-25).
    pub(crate) async fn close(mut self, shared: &Arc<Shared>) -> Self {
        let plan = &shared.plan;
        let tasks = std::mem::take(&mut self.tasks);
        let sessions = self.waiter_sessions.clone();
        let cancelled: Vec<bool> = futures::stream::iter(tasks)
            .map(|(t, task)| {
                let shared = shared.clone();
                let session = sessions[t].clone();
                async move {
                    let mut s = Speaker::new(&shared.plan.targets[t], &shared.plan);
                    if let Some(session) = session {
                        s.session = session;
                    }
                    s.task_request(&shared.bodies, method::TASKS_CANCEL, &task)
                        .await
                        .is_ok()
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        self.cancelled = cancelled.into_iter().filter(|c| *c).count();
        for h in self.holders.drain(..) {
            h.abort();
        }
        let mut to_end = std::mem::take(&mut self.sessions_to_end);
        to_end.extend(
            sessions
                .into_iter()
                .enumerate()
                .filter_map(|(t, s)| Some((t, s?))),
        );
        futures::stream::iter(to_end)
            .for_each_concurrent(CONCURRENCY, |(t, session)| async move {
                let mut s = Speaker::new(&plan.targets[t], plan);
                s.session = session;
                s.end_session().await;
            })
            .await;
        self
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        for h in &self.holders {
            h.abort();
        }
    }
}

/// Opens one idle session on target `t`.
async fn idle_session(shared: Arc<Shared>, t: usize) -> Attempt {
    let plan = &shared.plan;
    let mut s = Speaker::new(&plan.targets[t], plan);
    match plan.era {
        ProtocolVersion::V2025_11_25 => {
            if let Err(f) = s.initialize().await {
                return Attempt::failed(t, f);
            }
            let session = s.session.clone();
            Attempt {
                holder: hold(s.conn, Method::GET, Bytes::new(), session.clone(), None).await,
                target: t,
                session: Some(session),
                task: None,
            }
        }
        ProtocolVersion::V2026_07_28 => {
            let id = s.id();
            let (body, headers) = shared.bodies.listen(id, &[]);
            Attempt {
                holder: hold(s.conn, Method::POST, body, headers, Some(id)).await,
                target: t,
                session: None,
                task: None,
            }
        }
    }
}

/// Makes one waiter's task on target `t` and waits on it.
async fn waiter(shared: Arc<Shared>, t: usize, session: Option<Headers>) -> Attempt {
    let plan = &shared.plan;
    let mut s = Speaker::new(&plan.targets[t], plan);
    if plan.era == ProtocolVersion::V2025_11_25 {
        match session {
            Some(session) => s.session = session,
            None => {
                return Attempt::failed(
                    t,
                    Failure::Protocol("the waiters' session could not be opened".into()),
                )
            }
        }
    }
    let task = match s.create_task(&shared.bodies, CallOf::Waiter).await {
        Ok(Some((task, _))) => task,
        Ok(None) => {
            return Attempt::failed(
                t,
                Failure::Protocol(format!(
                    "the server answered the call of {} at once, without a task; a waiter \
                     needs a tool it runs as a task (--waiter-tool, --waiter-arguments)",
                    plan.waiter_tool.name
                )),
            )
        }
        Err(f) => return Attempt::failed(t, f),
    };
    let id = s.id();
    let (body, headers) = match plan.era {
        ProtocolVersion::V2025_11_25 => {
            let (body, _) = shared.bodies.task_request(id, method::TASKS_RESULT, &task);
            (body, s.session.clone())
        }
        ProtocolVersion::V2026_07_28 => shared.bodies.listen(id, std::slice::from_ref(&task)),
    };
    Attempt {
        holder: hold(s.conn, Method::POST, body, headers, Some(id)).await,
        target: t,
        session: None,
        task: Some(task),
    }
}

/// Sends the request on `conn` and holds its answer open in a task of its own, reading and
/// dropping what comes; returns once it is open (or held without headers for
/// [`OPEN_GRACE`]).
async fn hold(
    mut conn: Conn,
    method: Method,
    body: Bytes,
    headers: Headers,
    id: Option<u64>,
) -> Result<JoinHandle<()>, Failure> {
    let (opened, open) = oneshot::channel();
    let holder = tokio::spawn(async move {
        match conn.open_held(method, body, &headers, id, HOLD).await {
            Ok(mut stream) => {
                let _ = opened.send(Ok(()));
                while let Some(Ok(_)) = stream.frame().await {}
            }
            Err(f) => {
                let _ = opened.send(Err(f));
            }
        }
        drop(conn);
    });
    match tokio::time::timeout(OPEN_GRACE, open).await {
        Ok(Ok(Ok(()))) | Err(_) => Ok(holder),
        Ok(Ok(Err(f))) => Err(f),
        Ok(Err(_)) => Err(Failure::Connection("the stream's task ended".into())),
    }
}

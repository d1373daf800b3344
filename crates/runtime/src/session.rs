//! One requestor's connection: its identity, what it declared at initialize, the JSON-RPC peer
//! state for requests we send it, and the routes its messages take.
//!
//! The same `Session` serves stdio (one connection, one outbound stream) and Streamable HTTP
//! (one `Mcp-Session-Id`, many streams). A *sink* is one outbound stream: stdout, a POST's SSE
//! response, or the GET stream. Messages tied to a task prefer a `tasks/result` stream open for
//! that task (T-RES-4), then the session's standing stream.
//!
//! The JSON-RPC side (ids, pending requests, cancellation, bounded streams) is the shared
//! [`peer`](crate::peer) the client is built on too; the session adds the routes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use mcp_tasks_engine::{Owner, Requestor, TaskId, Watching};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Message, Notification, Request, RequestId, Response};
use mcp_tasks_wire::v2025_11_25::{ClientCapabilities, LoggingLevel};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::peer::{Failure, Peer, Received};
pub use crate::peer::{Outbound, SendError, Sink, DEFAULT_QUEUE};

/// What the peer declared at initialize.
#[derive(Clone, Debug, Default)]
pub struct PeerInfo {
    /// The negotiated protocol version.
    pub protocol_version: Option<String>,
    /// The peer's capabilities.
    pub capabilities: ClientCapabilities,
}

/// A requestor's session.
#[derive(Debug)]
pub struct Session {
    id: String,
    requestor: Requestor,
    info: Mutex<PeerInfo>,
    log_level: Mutex<Option<LoggingLevel>>,
    peer: Peer,
    standing: Mutex<Option<Sink>>,
    task_sinks: Mutex<HashMap<TaskId, Vec<Sink>>>,
    own_tasks: Mutex<HashSet<TaskId>>,
    /// The engine's change feed for `own_tasks` only, once the server follows them for status
    /// notifications: a session is woken by its own tasks' changes, not by every change.
    following: OnceLock<Arc<Watching>>,
}

impl Session {
    /// A new anonymous session; its id doubles as the requestor's session (T-SEC-2).
    pub fn new(id: impl Into<String>) -> Self {
        Self::with_owner(id, None)
    }

    /// A new session speaking for `owner`, the auth context that binds every task it creates
    /// and lets it reach every task of that owner, from any session (T-SEC-1); with `None`, as
    /// [`Session::new`].
    pub fn with_owner(id: impl Into<String>, owner: Option<Owner>) -> Self {
        let id = id.into();
        let requestor = Requestor {
            owner,
            session: Some(id.clone()),
        };
        Self::with_requestor(id, requestor)
    }

    /// A new session `id` speaking for `requestor`, whose `session` need not be `id`: a
    /// request of MCP 2026-07-28 gets a session of its own, but is limited and counted as the
    /// caller it comes from (its connection, or the stateless callers of an HTTP peer).
    pub(crate) fn with_requestor(id: impl Into<String>, requestor: Requestor) -> Self {
        Self {
            requestor,
            id: id.into(),
            info: Mutex::new(PeerInfo::default()),
            log_level: Mutex::new(Some(LoggingLevel::Debug)),
            peer: Peer::new(),
            standing: Mutex::new(None),
            task_sinks: Mutex::new(HashMap::new()),
            own_tasks: Mutex::new(HashSet::new()),
            following: OnceLock::new(),
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Who this session speaks for.
    pub fn requestor(&self) -> &Requestor {
        &self.requestor
    }

    /// What the peer declared at initialize.
    pub fn peer_info(&self) -> PeerInfo {
        lock(&self.info).clone()
    }

    pub(crate) fn set_peer_info(&self, info: PeerInfo) {
        *lock(&self.info) = info;
    }

    /// The least severe log level the peer takes (`notifications/message`); `None` takes no
    /// log messages.
    ///
    /// A new session takes every level: MCP 2025-11-25 ("Logging") sets no level before the
    /// client's first `logging/setLevel`, and the reference SDKs send every message until one
    /// comes. A request of MCP 2026-07-28 gets the level of its own `_meta`, and without one no
    /// log message at all.
    pub fn log_level(&self) -> Option<LoggingLevel> {
        *lock(&self.log_level)
    }

    /// Sets the least severe log level the peer takes; `None` for none.
    pub(crate) fn set_log_level(&self, level: Option<LoggingLevel>) {
        *lock(&self.log_level) = level;
    }

    /// Whether the peer takes a log message of `level`: one at or above its level ("the
    /// server should send all logs at this level and higher", `SetLevelRequest`).
    pub fn takes_log(&self, level: LoggingLevel) -> bool {
        self.log_level().is_some_and(|least| level >= least)
    }

    /// Tripped when the session ends.
    pub fn closed(&self) -> &CancellationToken {
        self.peer.closed()
    }

    /// Ends the session: its watchers stop, requests we await fail, the plain calls still
    /// running are cancelled (nobody will take their answers; tasks are not touched, T-CAN-3),
    /// and the streams it holds are let go (their memory with them).
    pub fn close(&self) {
        self.peer.close();
        self.peer.cancel_all_inflight();
        *lock(&self.standing) = None;
        lock(&self.task_sinks).clear();
    }

    /// Sets the standing stream (stdout, or the HTTP GET stream).
    pub fn set_standing(&self, sink: Option<Sink>) {
        *lock(&self.standing) = sink;
    }

    /// The standing stream, when one is open.
    pub fn standing_sink(&self) -> Option<Sink> {
        lock(&self.standing).clone().filter(|s| !s.is_closed())
    }

    /// Sends on the standing stream; false when there is none or it closed.
    pub fn send_standing(&self, msg: Message) -> bool {
        lock(&self.standing)
            .as_ref()
            .is_some_and(|s| s.send(msg).is_ok())
    }

    /// Registers a `tasks/result` stream for a task, until the guard drops.
    pub(crate) fn open_task_stream(
        self: &std::sync::Arc<Self>,
        id: &TaskId,
        sink: Sink,
    ) -> TaskStreamGuard {
        lock(&self.task_sinks)
            .entry(id.clone())
            .or_default()
            .push(sink.clone());
        TaskStreamGuard {
            session: self.clone(),
            id: id.clone(),
            sink,
        }
    }

    /// Sends a message tied to a task: on the newest `tasks/result` stream open for it (an
    /// older one may be a dropped connection kept for resumption), else on the standing
    /// stream. False when neither took it.
    pub fn send_for_task(&self, id: &TaskId, msg: Message) -> bool {
        match self.task_stream(id) {
            Some(s) if s.send(msg.clone()).is_ok() => true,
            _ => self.send_standing(msg),
        }
    }

    /// The stream a request tied to a task goes on: a `tasks/result` stream open for it, else
    /// the standing stream.
    pub fn sink_for_task(&self, id: &TaskId) -> Option<Sink> {
        self.task_stream(id).or_else(|| self.standing_sink())
    }

    /// The newest open `tasks/result` stream of a task.
    fn task_stream(&self, id: &TaskId) -> Option<Sink> {
        lock(&self.task_sinks)
            .get(id)
            .and_then(|sinks| sinks.iter().rev().find(|s| !s.is_closed()).cloned())
    }

    /// Sends a request to the peer on `sink` and waits for its answer.
    ///
    /// # Errors
    ///
    /// The peer's error object; -32603 when the sink or session closed first.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future forgets the request; a late answer is then ignored.
    pub async fn request(
        &self,
        sink: &Sink,
        method: &str,
        params: Value,
    ) -> Result<Value, ErrorObject> {
        let mut outgoing = self.peer.outgoing(None);
        let request = Request::new(outgoing.id().clone(), method, Some(params));
        if let Err(e) = sink.send(request.into()) {
            outgoing.unsent();
            return Err(ErrorObject::internal(format!("cannot send {method}: {e}")));
        }
        let gone = || {
            Err(ErrorObject::internal(format!(
                "no answer to {method}: the stream or session to the client ended"
            )))
        };
        tokio::select! {
            answer = outgoing.answer() => match answer {
                Ok(value) => Ok(value),
                Err(Failure::Error(error)) => Err(error),
                Err(Failure::Lost(_) | Failure::Closed) => gone(),
            },
            () = self.peer.closed().cancelled() => gone(),
            () = sink.closed() => gone(),
        }
    }

    /// Routes a response from the peer to the request that waits for it; unknown ids are
    /// dropped (the waiter gave up).
    pub fn complete(&self, response: Response) {
        self.peer.complete(response);
    }

    /// Takes a message from the client the way the client's connection takes the server's:
    /// answers go to the requests waiting for them, `notifications/cancelled` trips the plain
    /// request it names (requests that created tasks are long answered, so this never touches
    /// a task: T-CAN-3); requests and other notifications come back to be handled.
    pub(crate) fn receive(&self, message: Message) -> Option<Received> {
        self.peer.receive(message)
    }

    /// Sends a notification on the standing stream.
    pub fn notify(&self, method: &str, params: Value) -> bool {
        self.send_standing(Notification::new(method, Some(params)).into())
    }

    pub(crate) fn track_inflight(&self, id: &RequestId) -> CancellationToken {
        self.peer.track_inflight(id)
    }

    pub(crate) fn untrack_inflight(&self, id: &RequestId) {
        self.peer.untrack_inflight(id);
    }

    /// Records a task this session made. Called before the task's work starts, so its
    /// follower hears of every change after its creation.
    pub(crate) fn own_task(&self, id: &TaskId) {
        lock(&self.own_tasks).insert(id.clone());
        if let Some(following) = self.following.get() {
            following.follow(id.clone());
        }
    }

    /// Follows this session's tasks with `watching` from now on; the first call wins.
    pub(crate) fn follow_tasks(&self, watching: Arc<Watching>) {
        let following = self.following.get_or_init(|| watching);
        // After the set: a task owned meanwhile is followed by `own_task` or here, or both.
        for id in self.owned_tasks() {
            following.follow(id);
        }
    }

    pub(crate) fn owned_tasks(&self) -> Vec<TaskId> {
        lock(&self.own_tasks).iter().cloned().collect()
    }

    pub(crate) fn forget_task(&self, id: &TaskId) {
        lock(&self.own_tasks).remove(id);
        if let Some(following) = self.following.get() {
            following.forget(id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("session mutex poisoned")
}

/// Keeps a `tasks/result` stream registered for its task while alive.
#[derive(Debug)]
pub(crate) struct TaskStreamGuard {
    session: std::sync::Arc<Session>,
    id: TaskId,
    sink: Sink,
}

impl Drop for TaskStreamGuard {
    fn drop(&mut self) {
        let mut sinks = lock(&self.session.task_sinks);
        if let Some(list) = sinks.get_mut(&self.id) {
            list.retain(|s| !s.same_channel(&self.sink));
            if list.is_empty() {
                sinks.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new session takes every level; a set level lets through itself and what is more
    /// severe; `None` lets nothing through.
    #[test]
    fn the_log_level_filters_by_severity() {
        let session = Session::new("s");
        assert!(session.takes_log(LoggingLevel::Debug));
        session.set_log_level(Some(LoggingLevel::Warning));
        assert!(!session.takes_log(LoggingLevel::Info));
        assert!(session.takes_log(LoggingLevel::Warning));
        assert!(session.takes_log(LoggingLevel::Emergency));
        session.set_log_level(None);
        assert!(!session.takes_log(LoggingLevel::Emergency));
    }
}

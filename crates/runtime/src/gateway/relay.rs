//! What the upstream sends, routed to the downstream call it belongs to (G-3), or to every
//! client when it belongs to none (G-1).
//!
//! Each upstream request the gateway makes (a tool call, a `resources/read`, …) is a *call*
//! with a [`Scope`] of its own. What the upstream sends back is routed to a call by, in order:
//!
//! 1. the stream it came on (Streamable HTTP: a message on a POST's SSE stream belongs to
//!    that POST's request), or the call whose future answers it (a MCP 2026-07-28 input
//!    request);
//! 2. its related-task `_meta`, for an upstream that runs the call as a task of its own;
//! 3. for progress, its progress token, which the gateway sets on each call;
//! 4. over stdio only, where MCP links a server's request to nothing: the one call in flight.
//!    (Over HTTP a message that came on no call's stream is session-wide, never a call's.)
//!
//! A message that names a call that has ended (its stream, or its upstream task) belongs to
//! no call. The upstream may ask only what the gateway declared to it, elicitation and
//! sampling; anything else (`roots/list`: no one client's roots are the shared upstream's) is
//! -32601. A request that matches no call (several calls in flight over stdio, or none) is
//! refused with -32603 saying so, rather than shown to a client it may not belong to. A
//! notification that matches no call is for every client: list changes go to every
//! 2025-11-25 session, `resources/updated` to the sessions that subscribed to the resource,
//! log messages to the sessions whose level takes them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use mcp_tasks_wire::jsonrpc::{params_as, ErrorCode, ErrorObject, Notification};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{
    ClientCapabilities, LoggingMessageNotificationParams, ProgressNotificationParams, ProgressToken,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use crate::client::{in_scope, Forwarder, RequestContext, Scope};
use crate::server::Server;
use crate::session::Session;

/// How many progress and log events a call may have queued before more are dropped (they
/// are reports, and a later one says more than an earlier one).
const EVENT_QUEUE: usize = 256;

/// The prefix of the progress tokens the gateway sets on upstream calls.
const TOKEN_PREFIX: &str = "mcp-tasks-gateway/";

/// Something the upstream sent during a call, for the code serving that call.
#[derive(Debug)]
pub(crate) enum Event {
    /// A request to answer (elicitation, sampling): its method, params, where the answer
    /// goes, and what trips when the upstream withdraws it (`notifications/cancelled`).
    Ask {
        method: String,
        params: Value,
        reply: oneshot::Sender<Result<Value, ErrorObject>>,
        withdrawn: CancellationToken,
    },
    /// Progress of the call.
    Progress(ProgressNotificationParams),
    /// A log message of the call.
    Log(LoggingMessageNotificationParams),
}

#[derive(Debug, Clone)]
struct Slot {
    events: mpsc::Sender<Event>,
}

/// The calls in flight, and what the upstream's uncorrelated notifications go to.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    /// Whether a message linked to no call belongs to the one call in flight: over stdio, where
    /// MCP links a server's message to nothing else.
    sole_call: bool,
    calls: Mutex<BTreeMap<Scope, Slot>>,
    next: AtomicU64,
    /// Upstream task ids of calls the upstream runs as tasks, to their calls.
    upstream_tasks: Mutex<HashMap<String, Scope>>,
    /// Resource URIs to the sessions subscribed to them, by id; held weakly, so a session
    /// that closed without unsubscribing stops counting.
    subscriptions: Mutex<HashMap<String, HashMap<String, Weak<Session>>>>,
    server: OnceLock<Weak<Server>>,
    /// Woken when the upstream's tool list changed.
    pub(crate) tools_changed: Notify,
}

/// What names a call: its scope, for the code that makes its upstream requests. Cheap to
/// clone; the registration itself is the [`Call`].
#[derive(Debug, Clone)]
pub(crate) struct Link {
    relay: Arc<Relay>,
    scope: Scope,
}

impl Link {
    pub(crate) fn scope(&self) -> Scope {
        self.scope
    }

    /// The progress token to send on this call's upstream request.
    pub(crate) fn progress_token(&self) -> String {
        format!("{TOKEN_PREFIX}{}", self.scope.0)
    }

    /// Routes what comes with the upstream task `task_id` to this call.
    pub(crate) fn runs_as_upstream_task(&self, task_id: &str) {
        lock(&self.relay.upstream_tasks).insert(task_id.to_owned(), self.scope);
    }
}

/// A call's registration; dropping it ends the call's routing.
#[derive(Debug)]
pub(crate) struct Call {
    link: Link,
}

impl std::ops::Deref for Call {
    type Target = Link;

    fn deref(&self) -> &Link {
        &self.link
    }
}

impl Call {
    /// What names the call, for the future that makes its upstream request.
    pub(crate) fn link(&self) -> Link {
        self.link.clone()
    }

    /// Ends the call's routing, now that its answer came: from here on what the upstream
    /// sends for it goes where messages of no call go (a log line to every session that
    /// takes it). Returns the reports that were queued before (progress, log lines), to pass
    /// on with the answer; a question still queued is refused.
    pub(crate) fn finish(self, mut events: mpsc::Receiver<Event>) -> Vec<Event> {
        drop(self);
        events.close();
        let mut left = Vec::new();
        while let Ok(event) = events.try_recv() {
            match event {
                Event::Ask { reply, .. } => {
                    let _ = reply.send(Err(ErrorObject::internal(
                        "the call this request belongs to has ended",
                    )));
                }
                report => left.push(report),
            }
        }
        left
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let (relay, scope) = (&self.link.relay, self.link.scope);
        lock(&relay.calls).remove(&scope);
        lock(&relay.upstream_tasks).retain(|_, s| *s != scope);
    }
}

/// The caller an upstream call is made for, as [`drive`] serves it.
#[async_trait]
pub(crate) trait Caller: Send + Sync {
    /// Asks the caller what the upstream asked (elicitation, sampling).
    async fn ask(&self, method: &str, params: Value) -> Result<Value, ErrorObject>;

    /// Passes progress or a log line of the upstream on (never an [`Event::Ask`]).
    async fn report(&self, event: Event);

    /// Tripped when the caller cancels.
    fn cancellation(&self) -> &CancellationToken;
}

/// Runs `upstream`, the upstream request of `call`, to its answer, serving `caller`
/// meanwhile: the upstream's questions are asked (and withdrawn when the upstream withdraws
/// them), its reports passed on, in order, before the answer; the caller's cancellation ends
/// it. Then the call lets go (see [`Call::finish`]).
pub(crate) async fn drive<T>(
    call: Call,
    mut events: mpsc::Receiver<Event>,
    upstream: impl Future<Output = Result<T, ErrorObject>>,
    caller: &impl Caller,
) -> Result<T, ErrorObject> {
    let outcome = {
        let upstream = in_scope(call.scope(), upstream);
        tokio::pin!(upstream);
        let mut asks = FuturesUnordered::new();
        loop {
            tokio::select! {
                // What the upstream sent before its answer is passed on before the answer: a
                // log line or the last progress written just before the result is not lost.
                biased;
                Some(event) = events.recv() => match event {
                    Event::Ask { method, params, reply, withdrawn } => asks.push(async move {
                        tokio::select! {
                            answer = caller.ask(&method, params) => {
                                let _ = reply.send(answer);
                            }
                            () = withdrawn.cancelled() => {}
                        }
                    }),
                    report => caller.report(report).await,
                },
                Some(()) = asks.next(), if !asks.is_empty() => {}
                outcome = &mut upstream => break outcome,
                () = caller.cancellation().cancelled() => {
                    break Err(ErrorObject::internal("the caller cancelled the request"));
                }
            }
        }
    };
    // Reports that came with the answer still belong to the call; later ones go to every
    // session, as for no call.
    for report in call.finish(events) {
        caller.report(report).await;
    }
    outcome
}

/// Whether a caller who declared `caps` can be asked `method`: if not, the -32601 the
/// upstream gets.
pub(crate) fn answerable(
    caps: &ClientCapabilities,
    method: &str,
    params: &Value,
) -> Result<(), ErrorObject> {
    if crate::server::tasks::input::can_answer(caps, method, params) {
        return Ok(());
    }
    Err(ErrorObject::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!(
            "the gateway's client cannot answer {method}: it did not declare the capability \
             for it"
        ),
    ))
}

/// Why a message of the upstream belongs to no call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// It names a call (its stream, or its upstream task) that has ended.
    Ended,
    /// No call is in flight.
    Idle,
    /// Several calls are in flight over stdio, and nothing tells them apart.
    Ambiguous(usize),
    /// Over HTTP, it came on no call's stream: it is session-wide.
    Unlinked,
}

impl Relay {
    /// A relay for an upstream over stdio (`sole_call`: a message linked to nothing belongs
    /// to the one call in flight) or over HTTP.
    pub(crate) fn new(sole_call: bool) -> Self {
        Self {
            sole_call,
            ..Self::default()
        }
    }

    pub(crate) fn attach(&self, server: &Arc<Server>) {
        let _ = self.server.set(Arc::downgrade(server));
    }

    fn server(&self) -> Option<Arc<Server>> {
        self.server.get().and_then(Weak::upgrade)
    }

    /// Registers a new call, and what the upstream sends for it.
    pub(crate) fn open(self: &Arc<Self>) -> (Call, mpsc::Receiver<Event>) {
        let scope = Scope(self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        lock(&self.calls).insert(scope, Slot { events: tx });
        let call = Call {
            link: Link {
                relay: self.clone(),
                scope,
            },
        };
        (call, rx)
    }

    /// How many calls are in flight: none once every call has let go.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Records that `session` follows `uri` (`resources/subscribe`); true when no open
    /// session followed it, so the upstream must be asked.
    pub(crate) fn subscribe(&self, uri: &str, session: &Arc<Session>) -> bool {
        let mut subs = lock(&self.subscriptions);
        let sessions = subs.entry(uri.to_owned()).or_default();
        sessions.retain(|_, s| is_open(s));
        let first = sessions.is_empty();
        sessions.insert(session.id().to_owned(), Arc::downgrade(session));
        first
    }

    /// Forgets that `session` follows `uri`; true when it did and no open session follows it
    /// any more, so the upstream can be told.
    pub(crate) fn unsubscribe(&self, uri: &str, session: &str) -> bool {
        let mut subs = lock(&self.subscriptions);
        let Some(sessions) = subs.get_mut(uri) else {
            return false;
        };
        if sessions.remove(session).is_none() {
            return false;
        }
        sessions.retain(|_, s| is_open(s));
        let last = sessions.is_empty();
        if last {
            subs.remove(uri);
        }
        last
    }

    /// Forgets the sessions that closed without unsubscribing; returns the resources no open
    /// session follows any more, for the upstream to be told.
    pub(crate) fn prune_subscriptions(&self) -> Vec<String> {
        let mut subs = lock(&self.subscriptions);
        let mut unfollowed = Vec::new();
        subs.retain(|uri, sessions| {
            sessions.retain(|_, s| is_open(s));
            if sessions.is_empty() {
                unfollowed.push(uri.clone());
            }
            !sessions.is_empty()
        });
        unfollowed
    }

    /// The resources some session follows: what a new upstream connection must be subscribed
    /// to again.
    pub(crate) fn subscribed(&self) -> Vec<String> {
        lock(&self.subscriptions).keys().cloned().collect()
    }

    /// The call a request or notification of the upstream belongs to.
    fn route(&self, scope: Option<Scope>, related_task: Option<&str>) -> Result<Slot, Miss> {
        let calls = lock(&self.calls);
        let named = match (scope, related_task) {
            (Some(scope), _) => Some(scope),
            (None, Some(task)) => Some(
                lock(&self.upstream_tasks)
                    .get(task)
                    .copied()
                    .ok_or(Miss::Ended)?,
            ),
            (None, None) => None,
        };
        if let Some(scope) = named {
            return calls.get(&scope).cloned().ok_or(Miss::Ended);
        }
        match calls.len() {
            0 => Err(Miss::Idle),
            1 if self.sole_call => Ok(calls.values().next().cloned().expect("one call")),
            n if self.sole_call => Err(Miss::Ambiguous(n)),
            _ => Err(Miss::Unlinked),
        }
    }

    fn slot(&self, scope: Scope) -> Option<Slot> {
        lock(&self.calls).get(&scope).cloned()
    }

    fn broadcast(&self, n: &Notification, to: impl Fn(&Session) -> bool) {
        if let Some(server) = self.server() {
            server.broadcast(&n.method, n.params.clone(), to);
        }
    }

    fn progress(&self, n: &Notification, scope: Option<Scope>) {
        let Ok(p) = params_as::<ProgressNotificationParams>(n.params.clone()) else {
            tracing::debug!("a malformed progress notification from the upstream; dropped");
            return;
        };
        let by_token = match &p.progress_token {
            ProgressToken::String(t) => t
                .strip_prefix(TOKEN_PREFIX)
                .and_then(|n| n.parse().ok())
                .map(Scope),
            ProgressToken::Number(_) => None,
        };
        if let Some(slot) = by_token.or(scope).and_then(|s| self.slot(s)) {
            // Progress is a report: when the call's queue is full, a later one will say more.
            let _ = slot.events.try_send(Event::Progress(p));
        }
    }

    fn log(&self, n: &Notification, scope: Option<Scope>) {
        let Ok(p) = params_as::<LoggingMessageNotificationParams>(n.params.clone()) else {
            tracing::debug!("a malformed log message from the upstream; dropped");
            return;
        };
        let related = p.meta.as_ref().and_then(|m| {
            m.get(mcp_tasks_wire::meta::RELATED_TASK)?
                .get("taskId")?
                .as_str()
                .map(str::to_owned)
        });
        let level = p.level;
        let unrouted = match self.route(scope, related.as_deref()) {
            // A call that just got its answer no longer listens: its log line is for everyone.
            Ok(slot) => matches!(
                slot.events.try_send(Event::Log(p)),
                Err(mpsc::error::TrySendError::Closed(_))
            ),
            Err(_) => true,
        };
        if unrouted {
            self.broadcast(n, |s| s.takes_log(level));
        }
    }
}

#[async_trait]
impl Forwarder for Relay {
    async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        cx: RequestContext,
    ) -> Result<Value, ErrorObject> {
        if method != method::ELICITATION_CREATE && method != method::SAMPLING_CREATE_MESSAGE {
            return Err(ErrorObject::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "the gateway answers no {method}: it declared only elicitation and \
                     sampling, which it asks the client whose call this is"
                ),
            ));
        }
        let slot = self
            .route(cx.scope, cx.related_task.as_deref())
            .map_err(|miss| {
                ErrorObject::internal(match miss {
                    Miss::Ended => format!(
                        "the gateway cannot forward {method}: the call it belongs to has ended"
                    ),
                    Miss::Idle => format!(
                        "the gateway has no client call to forward {method} to: the upstream \
                         asked it outside any call"
                    ),
                    Miss::Ambiguous(n) => format!(
                        "the gateway cannot tell which of the {n} calls in flight {method} \
                         belongs to (over stdio, MCP links a server's request to no call); it \
                         is answered within a call when only that call is in flight"
                    ),
                    Miss::Unlinked => format!(
                        "the gateway cannot forward {method}: it came on no call's stream, so \
                         it belongs to no client's call"
                    ),
                })
            })?;
        let (reply, answer) = oneshot::channel();
        let ask = Event::Ask {
            method: method.to_owned(),
            params: params.unwrap_or_else(|| Value::Object(serde_json::Map::new())),
            reply,
            withdrawn: cx.cancellation.clone(),
        };
        let gone = || ErrorObject::internal("the call this request belongs to has ended");
        if slot.events.send(ask).await.is_err() {
            return Err(gone());
        }
        tokio::select! {
            answer = answer => answer.unwrap_or_else(|_| Err(gone())),
            () = cx.cancellation.cancelled() => Err(ErrorObject::internal("the upstream cancelled the request")),
        }
    }

    fn notification(&self, n: &Notification, scope: Option<Scope>) {
        match n.method.as_str() {
            method::NOTIFY_PROGRESS => self.progress(n, scope),
            method::NOTIFY_MESSAGE => self.log(n, scope),
            method::NOTIFY_TOOLS_LIST_CHANGED => self.tools_changed.notify_one(),
            method::NOTIFY_RESOURCES_LIST_CHANGED | method::NOTIFY_PROMPTS_LIST_CHANGED => {
                self.broadcast(n, |_| true);
            }
            method::NOTIFY_RESOURCES_UPDATED => {
                let uri = n
                    .params
                    .as_ref()
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let sessions: HashSet<String> = lock(&self.subscriptions)
                    .get(uri)
                    .map(|s| s.keys().cloned().collect())
                    .unwrap_or_default();
                if !sessions.is_empty() {
                    self.broadcast(n, |s| sessions.contains(s.id()));
                }
            }
            // The client itself follows the status of upstream tasks.
            method::NOTIFY_TASK_STATUS | method::NOTIFY_CANCELLED => {}
            other => tracing::debug!(
                method = other,
                "a notification of the upstream not passed on"
            ),
        }
    }
}

/// Whether a subscribed session is still there to be told.
fn is_open(session: &Weak<Session>) -> bool {
    session
        .upgrade()
        .is_some_and(|s| !s.closed().is_cancelled())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn cx(scope: Option<Scope>, related_task: Option<&str>) -> RequestContext {
        RequestContext {
            related_task: related_task.map(str::to_owned),
            hosted_task: None,
            cancellation: CancellationToken::new(),
            scope,
        }
    }

    /// Answers the next ask of `call` with its own method, and returns what was asked.
    async fn answer_next(events: &mut mpsc::Receiver<Event>) -> String {
        match events.recv().await {
            Some(Event::Ask { method, reply, .. }) => {
                let _ = reply.send(Ok(json!({"answered": method})));
                method
            }
            other => panic!("expected an ask, got {other:?}"),
        }
    }

    /// G-3: a request reaches its call by scope, by upstream task, or (over stdio) as the
    /// only call.
    #[tokio::test]
    async fn requests_reach_the_call_they_belong_to() {
        let relay = Arc::new(Relay::new(true));
        let (only, mut only_events) = relay.open();
        let asked = tokio::spawn({
            let relay = relay.clone();
            async move {
                relay
                    .request("elicitation/create", None, cx(None, None))
                    .await
            }
        });
        assert_eq!(answer_next(&mut only_events).await, "elicitation/create");
        assert_eq!(
            asked.await.unwrap().unwrap(),
            json!({"answered": "elicitation/create"})
        );

        let (second, mut second_events) = relay.open();
        second.runs_as_upstream_task("up-1");
        let by_task = tokio::spawn({
            let relay = relay.clone();
            async move {
                relay
                    .request("sampling/createMessage", None, cx(None, Some("up-1")))
                    .await
            }
        });
        assert_eq!(
            answer_next(&mut second_events).await,
            "sampling/createMessage"
        );
        by_task.await.unwrap().unwrap();

        let by_scope = tokio::spawn({
            let relay = relay.clone();
            let scope = only.scope();
            async move {
                relay
                    .request("elicitation/create", None, cx(Some(scope), None))
                    .await
            }
        });
        assert_eq!(answer_next(&mut only_events).await, "elicitation/create");
        by_scope.await.unwrap().unwrap();
    }

    /// G-1: the upstream is asked nothing it was not declared: no one client's roots are the
    /// shared upstream's.
    #[tokio::test]
    async fn only_elicitation_and_sampling_are_forwarded() {
        let relay = Arc::new(Relay::new(true));
        let (_only, _events) = relay.open();
        let e = relay
            .request("roots/list", None, cx(None, None))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::METHOD_NOT_FOUND, "{e:?}");
    }

    /// A message naming an upstream task whose call ended, or (over HTTP) one that came on no
    /// call's stream, goes to no call, even when only one is in flight: it is not that call's.
    #[tokio::test]
    async fn a_message_of_no_call_reaches_none() {
        let stdio = Arc::new(Relay::new(true));
        let (_only, _events) = stdio.open();
        let e = stdio
            .request("elicitation/create", None, cx(None, Some("gone")))
            .await
            .unwrap_err();
        assert!(e.message.contains("has ended"), "{}", e.message);
        let ended = {
            let (call, _events) = stdio.open();
            call.scope()
        };
        let e = stdio
            .request("elicitation/create", None, cx(Some(ended), None))
            .await
            .unwrap_err();
        assert!(e.message.contains("has ended"), "{}", e.message);

        let http = Arc::new(Relay::new(false));
        let (_only, _events) = http.open();
        let e = http
            .request("elicitation/create", None, cx(None, None))
            .await
            .unwrap_err();
        assert!(e.message.contains("no call's stream"), "{}", e.message);
    }

    /// With several calls in flight and nothing to tell them apart, a request is refused
    /// rather than shown to the wrong client; with none, too.
    #[tokio::test]
    async fn an_ambiguous_request_is_refused_saying_why() {
        let relay = Arc::new(Relay::new(true));
        let e = relay
            .request("elicitation/create", None, cx(None, None))
            .await
            .unwrap_err();
        assert!(e.message.contains("outside any call"), "{}", e.message);
        let (_a, _b) = (relay.open(), relay.open());
        let e = relay
            .request("elicitation/create", None, cx(None, None))
            .await
            .unwrap_err();
        assert!(e.message.contains("2 calls in flight"), "{}", e.message);
    }

    /// G-3: progress reaches the call whose token it carries; a call that ended gets nothing
    /// and its registration is gone.
    #[tokio::test]
    async fn progress_follows_the_token_and_calls_unregister_when_dropped() {
        let relay = Arc::new(Relay::default());
        let (first, mut first_events) = relay.open();
        let _second = relay.open();
        let n = Notification::new(
            "notifications/progress",
            Some(json!({"progressToken": first.progress_token(), "progress": 3})),
        );
        relay.notification(&n, None);
        match first_events.recv().await {
            Some(Event::Progress(p)) => assert_eq!(p.progress, 3.0),
            other => panic!("expected progress, got {other:?}"),
        }
        drop(first);
        assert_eq!(relay.in_flight(), 1);
    }

    /// A call that got its answer hands back what came before it, refuses a late question,
    /// and routes nothing more.
    #[tokio::test]
    async fn a_finished_call_keeps_its_reports_and_lets_go() {
        let relay = Arc::new(Relay::new(true));
        let (call, events) = relay.open();
        let log = Notification::new(
            "notifications/message",
            Some(json!({"level": "info", "data": "last words"})),
        );
        relay.notification(&log, None);
        let late = tokio::spawn({
            let relay = relay.clone();
            async move {
                relay
                    .request("elicitation/create", None, cx(None, None))
                    .await
            }
        });
        // The log line and the question are queued for the call.
        for _ in 0..1000 {
            if events.len() == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(events.len(), 2);
        let left = call.finish(events);
        assert!(
            matches!(left.as_slice(), [Event::Log(l)] if l.data == json!("last words")),
            "{left:?}"
        );
        let refused = late.await.unwrap().unwrap_err();
        assert!(refused.message.contains("ended"), "{}", refused.message);
        assert_eq!(relay.in_flight(), 0);
    }

    /// G-1: the upstream is subscribed once per resource, told when the last session goes,
    /// and a session that closed without unsubscribing stops counting.
    #[test]
    fn subscriptions_count_their_open_sessions() {
        let relay = Relay::default();
        let s1 = Arc::new(Session::new("s1"));
        let s2 = Arc::new(Session::new("s2"));
        assert!(relay.subscribe("file:///a", &s1));
        assert!(!relay.subscribe("file:///a", &s2));
        assert!(!relay.unsubscribe("file:///a", "s1"));
        assert!(relay.unsubscribe("file:///a", "s2"));
        assert!(!relay.unsubscribe("file:///a", "s2"));

        assert!(relay.subscribe("file:///b", &s1));
        assert!(relay.subscribe("file:///c", &s2));
        drop(s1);
        assert_eq!(relay.prune_subscriptions(), vec!["file:///b".to_owned()]);
        assert_eq!(relay.subscribed(), vec!["file:///c".to_owned()]);
        s2.close();
        let s3 = Arc::new(Session::new("s3"));
        assert!(
            relay.subscribe("file:///c", &s3),
            "a closed session does not count"
        );
    }
}

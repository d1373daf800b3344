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
//! 3. its progress token, which the gateway sets on each call;
//! 4. over stdio, where MCP links a server's request to nothing: the one call in flight.
//!
//! A request that matches no call (several calls in flight over stdio, or none) is refused
//! with -32603 saying so, rather than shown to a client it may not belong to. A notification
//! that matches no call is for every client: list changes go to every 2025-11-25 session,
//! `resources/updated` to the sessions that subscribed to the resource, log messages to the
//! sessions whose level takes them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject, Notification};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{
    LoggingMessageNotificationParams, ProgressNotificationParams, ProgressToken,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::client::{Forwarder, RequestContext, Scope};
use crate::server::Server;

/// How many progress and log events a call may have queued before more are dropped (they
/// are reports, and a later one says more than an earlier one).
const EVENT_QUEUE: usize = 256;

/// The prefix of the progress tokens the gateway sets on upstream calls.
const TOKEN_PREFIX: &str = "mcp-tasks-gateway/";

/// Something the upstream sent during a call, for the code serving that call.
#[derive(Debug)]
pub(crate) enum Event {
    /// A request to answer (elicitation, sampling, roots): its method, params and where the
    /// answer goes.
    Ask {
        method: String,
        params: Value,
        reply: oneshot::Sender<Result<Value, ErrorObject>>,
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
    calls: Mutex<BTreeMap<Scope, Slot>>,
    next: AtomicU64,
    /// Upstream task ids of calls the upstream runs as tasks, to their calls.
    upstream_tasks: Mutex<HashMap<String, Scope>>,
    /// Resource URIs to the ids of the sessions subscribed to them.
    subscriptions: Mutex<HashMap<String, HashSet<String>>>,
    server: OnceLock<Weak<Server>>,
    /// Woken when the upstream's tool list changed.
    pub(crate) tools_changed: Notify,
}

/// A call's registration; dropping it ends the call's routing.
#[derive(Debug)]
pub(crate) struct Call {
    relay: Arc<Relay>,
    scope: Scope,
}

impl Call {
    pub(crate) fn scope(&self) -> Scope {
        self.scope
    }

    /// The progress token to send on this call's upstream request.
    pub(crate) fn progress_token(&self) -> String {
        format!("{TOKEN_PREFIX}{}", self.scope.0)
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

    /// Routes what comes with the upstream task `task_id` to this call.
    pub(crate) fn runs_as_upstream_task(&self, task_id: &str) {
        lock(&self.relay.upstream_tasks).insert(task_id.to_owned(), self.scope);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        lock(&self.relay.calls).remove(&self.scope);
        lock(&self.relay.upstream_tasks).retain(|_, s| *s != self.scope);
    }
}

impl Relay {
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
            relay: self.clone(),
            scope,
        };
        (call, rx)
    }

    /// How many calls are in flight.
    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Records that `session` follows `uri` (`resources/subscribe`); true when it is the
    /// first session to, so the upstream must be asked.
    pub(crate) fn subscribe(&self, uri: &str, session: &str) -> bool {
        let mut subs = lock(&self.subscriptions);
        let first = !subs.contains_key(uri);
        subs.entry(uri.to_owned())
            .or_default()
            .insert(session.to_owned());
        first
    }

    /// Forgets that `session` follows `uri`; true when no session follows it any more.
    pub(crate) fn unsubscribe(&self, uri: &str, session: &str) -> bool {
        let mut subs = lock(&self.subscriptions);
        let Some(sessions) = subs.get_mut(uri) else {
            return false;
        };
        sessions.remove(session);
        let last = sessions.is_empty();
        if last {
            subs.remove(uri);
        }
        last
    }

    /// The call a request or notification of the upstream belongs to.
    fn route(&self, scope: Option<Scope>, related_task: Option<&str>) -> Option<(Scope, Slot)> {
        let calls = lock(&self.calls);
        let scope = scope
            .or_else(|| related_task.and_then(|t| lock(&self.upstream_tasks).get(t).copied()))
            .or_else(|| match calls.len() {
                1 => calls.keys().next().copied(),
                _ => None,
            })?;
        calls.get(&scope).map(|slot| (scope, slot.clone()))
    }

    fn slot(&self, scope: Scope) -> Option<Slot> {
        lock(&self.calls).get(&scope).cloned()
    }

    fn broadcast(&self, n: &Notification, to: impl Fn(&crate::session::Session) -> bool) {
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
            Some((_, slot)) => matches!(
                slot.events.try_send(Event::Log(p)),
                Err(mpsc::error::TrySendError::Closed(_))
            ),
            None => true,
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
        let Some((_, slot)) = self.route(cx.scope, cx.related_task.as_deref()) else {
            let in_flight = self.in_flight();
            return Err(ErrorObject::internal(if in_flight == 0 {
                format!(
                    "the gateway has no client call to forward {method} to: the upstream \
                     asked it outside any call"
                )
            } else {
                format!(
                    "the gateway cannot tell which of the {in_flight} calls in flight {method} \
                     belongs to (over stdio, MCP links a server's request to no call); it is \
                     answered within a call when only that call is in flight"
                )
            }));
        };
        let (reply, answer) = oneshot::channel();
        let ask = Event::Ask {
            method: method.to_owned(),
            params: params.unwrap_or_else(|| Value::Object(serde_json::Map::new())),
            reply,
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
                let sessions = lock(&self.subscriptions).get(uri).cloned();
                if let Some(sessions) = sessions {
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

    /// G-3: a request reaches its call by scope, by upstream task, or as the only call.
    #[tokio::test]
    async fn requests_reach_the_call_they_belong_to() {
        let relay = Arc::new(Relay::default());
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
                    .request("roots/list", None, cx(Some(scope), None))
                    .await
            }
        });
        assert_eq!(answer_next(&mut only_events).await, "roots/list");
        by_scope.await.unwrap().unwrap();
    }

    /// With several calls in flight and nothing to tell them apart, a request is refused
    /// rather than shown to the wrong client; with none, too.
    #[tokio::test]
    async fn an_ambiguous_request_is_refused_saying_why() {
        let relay = Arc::new(Relay::default());
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
        let relay = Arc::new(Relay::default());
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

    #[test]
    fn subscriptions_count_their_sessions() {
        let relay = Relay::default();
        assert!(relay.subscribe("file:///a", "s1"));
        assert!(!relay.subscribe("file:///a", "s2"));
        assert!(!relay.unsubscribe("file:///a", "s1"));
        assert!(relay.unsubscribe("file:///a", "s2"));
        assert!(!relay.unsubscribe("file:///a", "s2"));
    }
}

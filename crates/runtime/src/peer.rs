//! The JSON-RPC peer under both ends: the server's [`Session`](crate::session::Session) and the
//! client's connection are two configurations of it (DESIGN.md, "One JSON-RPC peer").
//!
//! A peer owns what JSON-RPC needs in both directions, once:
//! - the ids of requests we send, and the table of those still waiting for an answer, with a
//!   guard (`Outgoing`) that forgets a request whose caller stopped waiting, so a late answer
//!   is dropped instead of leaking a waiter;
//! - the requests we are answering, each with a cancellation token that
//!   `notifications/cancelled` trips (MCP 2025-11-25, Cancellation);
//! - the routing of what arrives: answers go to their waiters here, requests and other
//!   notifications to the configuration (`Peer::receive`);
//! - the bounded outbound queue ([`Sink`]) every stream toward a client is built on.
//!
//! # Bounded outbound queues
//!
//! Nothing the server sends waits for the reader: tool handlers report progress from
//! synchronous code, and one stalled client must not hold up the others. So a [`Sink`] never
//! blocks and never grows without end: [`Sink::send`] queues when there is room, and when the
//! queue is full the reader has stalled, so the stream is *cut*: it counts as closed from then
//! on, its reader stops, and the reason is logged once. What depended on that stream behaves as
//! if the connection had dropped (a `tasks/result` exchange returns and leaves its task and
//! unanswered questions to the next exchange).
//!
//! Notifications (progress, task status, log messages) are lossy by nature: a client that
//! misses one polls or gets the next. So they may only take the first half of a queue: once
//! no more free slots than [`Sink::reserve`] are left, a notification is dropped (counted, and
//! logged once per stream) instead of queued. A chatty tool reporting progress faster than the
//! client reads then slows nobody down and cuts nothing: the other half of the queue stays for
//! answers and requests, and only those, meeting a truly full queue, cut the stream.
//!
//! Some notifications cannot be polled for again: the acknowledgement and the task updates of
//! a `subscriptions/listen` stream. Those go through [`Sink::send_waiting`], which waits for
//! the reader to make room below the reserve instead of dropping them, so they still leave
//! the reserve to answers and slow down only the stream that sends them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mcp_tasks_wire::jsonrpc::{
    params_as, ErrorObject, Message, Notification, Request, RequestId, Response,
};
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::CancelledNotificationParams;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

/// How many messages a stream toward a client may hold before its reader counts as stalled.
/// Readers that keep up (an SSE pump, the stdout writer) hold a handful at most.
pub const DEFAULT_QUEUE: usize = 256;

/// One outbound stream of messages to the peer: stdout, a POST's SSE response, the GET stream.
///
/// Clones feed the same queue. Sending never waits; a full queue cuts the stream (see the
/// [module docs](self#bounded-outbound-queues)).
#[derive(Clone, Debug)]
pub struct Sink {
    tx: mpsc::Sender<Message>,
    cut: CancellationToken,
    dropped: Arc<Dropped>,
    /// Woken each time the reader takes a message: room for [`Sink::send_waiting`].
    room: Arc<Notify>,
}

/// The notifications one stream dropped for want of room, shared by its clones.
#[derive(Debug, Default)]
struct Dropped {
    count: AtomicU64,
    logged: AtomicBool,
}

/// Why [`Sink::send`] did not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The reader is gone, or the stream was cut before.
    #[error("the stream to the peer is closed")]
    Closed,
    /// The queue was full, so the reader stalled; the stream is now cut.
    #[error("the reader of the stream stalled with {0} messages queued; the stream was cut")]
    Stalled(usize),
}

impl Sink {
    /// A new stream holding at most `capacity` unread messages, and its reading end.
    ///
    /// # Panics
    ///
    /// When `capacity` is 0.
    pub fn channel(capacity: usize) -> (Self, Outbound) {
        let (tx, rx) = mpsc::channel(capacity);
        let cut = CancellationToken::new();
        let room = Arc::new(Notify::new());
        (
            Self {
                tx,
                cut: cut.clone(),
                dropped: Arc::default(),
                room: room.clone(),
            },
            Outbound {
                rx,
                cut,
                room,
                first: None,
            },
        )
    }

    /// Queues `message` without waiting. A notification meeting a queue with no more than
    /// [`Sink::reserve`] free slots is dropped instead, and that is not an error (see the
    /// [module docs](self#bounded-outbound-queues)).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the reader is gone or the stream was cut;
    /// [`SendError::Stalled`] when the queue is full: the stream is cut, and the reason
    /// logged.
    pub fn send(&self, message: Message) -> Result<(), SendError> {
        if self.cut.is_cancelled() {
            return Err(SendError::Closed);
        }
        if matches!(message, Message::Notification(_)) && self.tx.capacity() <= self.reserve() {
            if self.tx.is_closed() {
                return Err(SendError::Closed);
            }
            self.drop_notification(&message);
            return Ok(());
        }
        match self.tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
            // Other senders filled the queue between the reserve check and this send: still
            // a notification, still not worth a stream.
            Err(mpsc::error::TrySendError::Full(message @ Message::Notification(_))) => {
                self.drop_notification(&message);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let queued = self.tx.max_capacity();
                tracing::warn!(
                    queued,
                    "a client stopped reading a stream: {queued} messages wait unread, so the \
                     stream is cut (its exchange ends as if the connection dropped; tasks live \
                     on and can be fetched again)"
                );
                self.cut.cancel();
                Err(SendError::Stalled(queued))
            }
        }
    }

    /// Queues `message` once the queue has more free slots than [`Sink::reserve`], waiting for
    /// the reader to make room rather than dropping it: for notifications the client cannot
    /// get again by polling (see the [module docs](self#bounded-outbound-queues)). It never
    /// cuts the stream.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the reader is gone or the stream was cut, before or while
    /// waiting.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it completes, it queued nothing.
    pub async fn send_waiting(&self, message: Message) -> Result<(), SendError> {
        let mut message = message;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before looking, so a message taken in between still wakes us.
            room.as_mut().enable();
            if self.is_closed() {
                return Err(SendError::Closed);
            }
            if self.tx.capacity() > self.reserve() {
                match self.tx.try_send(message) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(SendError::Closed),
                    // Other senders took the room first: wait for the reader again.
                    Err(mpsc::error::TrySendError::Full(back)) => message = back,
                }
            }
            tokio::select! {
                () = room => {}
                () = self.closed() => return Err(SendError::Closed),
            }
        }
    }

    /// The free slots kept for answers and requests: half the queue. Notifications are
    /// dropped rather than take them, so the notifications of a chatty handler can never
    /// crowd out the answers of the requests in flight.
    pub fn reserve(&self) -> usize {
        self.tx.max_capacity() / 2
    }

    /// How many notifications this stream dropped because its reader lagged.
    pub fn dropped_notifications(&self) -> u64 {
        self.dropped.count.load(Ordering::Relaxed)
    }

    fn drop_notification(&self, message: &Message) {
        self.dropped.count.fetch_add(1, Ordering::Relaxed);
        if !self.dropped.logged.swap(true, Ordering::Relaxed) {
            let method = match message {
                Message::Notification(n) => n.method.as_str(),
                _ => "",
            };
            tracing::debug!(
                method,
                queued = self.tx.max_capacity() - self.tx.capacity(),
                "a client reads a stream slower than notifications come: notifications on it \
                 are dropped while its queue is over half full (said once per stream)"
            );
        }
    }

    /// Whether the stream no longer takes messages: its reader went, or it was cut.
    pub fn is_closed(&self) -> bool {
        self.cut.is_cancelled() || self.tx.is_closed()
    }

    /// Completes when the stream no longer takes messages.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn closed(&self) {
        tokio::select! {
            () = self.cut.cancelled() => {}
            () = self.tx.closed() => {}
        }
    }

    /// Whether `other` feeds the same stream.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

/// The reading end of a [`Sink`].
#[derive(Debug)]
pub struct Outbound {
    rx: mpsc::Receiver<Message>,
    cut: CancellationToken,
    room: Arc<Notify>,
    /// A message taken and given back ([`Outbound::put_back`]), read before the queue.
    first: Option<Message>,
}

impl Outbound {
    /// The next message; `None` when every sink is gone or the stream was cut (what was
    /// queued then is dropped: its reader had stalled).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`mpsc::Receiver::recv`].
    pub async fn recv(&mut self) -> Option<Message> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        let message = tokio::select! {
            biased;
            () = self.cut.cancelled() => None,
            m = self.rx.recv() => m,
        };
        if message.is_some() {
            self.room.notify_waiters();
        }
        message
    }

    /// Whether nothing more will come: nothing queued or given back, and every sink gone or
    /// the stream cut.
    pub(crate) fn is_finished(&self) -> bool {
        self.first.is_none()
            && (self.cut.is_cancelled() || (self.rx.is_closed() && self.rx.is_empty()))
    }

    /// Gives back a message taken by [`Outbound::recv`], so that the next `recv` returns it:
    /// a reader that looked at the first message to choose how to answer hands the stream on
    /// whole.
    pub(crate) fn put_back(&mut self, message: Message) {
        debug_assert!(self.first.is_none(), "one message given back at a time");
        self.first = Some(message);
    }
}

/// Why a request we sent got no result.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The peer answered with an error.
    Error(ErrorObject),
    /// The stream that was to carry the answer ended without it, for this reason.
    Lost(String),
    /// The peer went away (or was closed) before answering.
    Closed,
}

type Outcome = Result<Value, Failure>;

/// What arrives from the other end that the peer does not handle itself.
#[derive(Debug)]
pub(crate) enum Received {
    /// A request to answer.
    Request(Request),
    /// A notification other than `notifications/cancelled`.
    Notification(Notification),
}

/// The JSON-RPC state of one connection, either end.
#[derive(Debug)]
pub(crate) struct Peer {
    next_id: AtomicI64,
    pending: Mutex<HashMap<RequestId, oneshot::Sender<Outcome>>>,
    inflight: Mutex<HashMap<RequestId, CancellationToken>>,
    closed: CancellationToken,
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

impl Peer {
    pub(crate) fn new() -> Self {
        Self {
            next_id: AtomicI64::new(1),
            pending: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
        }
    }

    /// Tripped when the connection ends.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Ends the connection: every request we await fails with [`Failure::Closed`]. Requests
    /// we are answering keep running; [`Peer::cancel_all_inflight`] stops them.
    pub(crate) fn close(&self) {
        self.closed.cancel();
        lock(&self.pending).clear();
    }

    /// Registers a request we are about to send, under a fresh id. `on_abandon` runs if the
    /// caller stops waiting while the request is still unanswered (and the peer still open),
    /// e.g. to send `notifications/cancelled`.
    pub(crate) fn outgoing(
        &self,
        on_abandon: Option<Box<dyn FnOnce(RequestId) + Send>>,
    ) -> Outgoing<'_> {
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        Outgoing {
            peer: self,
            id,
            rx,
            settled: false,
            on_abandon,
        }
    }

    /// Routes what arrived: answers to the requests waiting for them, `notifications/cancelled`
    /// to the request it names; requests and other notifications go back to the caller.
    pub(crate) fn receive(&self, message: Message) -> Option<Received> {
        match message {
            Message::Response(r) => {
                self.complete(r);
                None
            }
            Message::Notification(n) if n.method == method::NOTIFY_CANCELLED => {
                self.cancelled(n.params);
                None
            }
            Message::Notification(n) => Some(Received::Notification(n)),
            Message::Request(r) => Some(Received::Request(r)),
        }
    }

    /// Routes an answer to the request that waits for it; unknown ids are dropped (the
    /// waiter gave up).
    pub(crate) fn complete(&self, response: Response) {
        let Some(id) = response.id.clone() else {
            tracing::warn!(error = ?response.outcome.err(), "the peer sent an error without an id");
            return;
        };
        match lock(&self.pending).remove(&id) {
            Some(waiter) => {
                let _ = waiter.send(response.outcome.map_err(Failure::Error));
            }
            None => tracing::debug!(%id, "an answer to no pending request"),
        }
    }

    /// Fails the request `id` with `reason`: the stream that was to carry its answer is gone.
    pub(crate) fn lose(&self, id: &RequestId, reason: String) {
        if let Some(waiter) = lock(&self.pending).remove(id) {
            let _ = waiter.send(Err(Failure::Lost(reason)));
        }
    }

    /// Handles `notifications/cancelled`: trips the named request if we are still answering
    /// it. False when it names none (already answered, or never ours).
    pub(crate) fn cancelled(&self, params: Option<Value>) -> bool {
        match params_as::<CancelledNotificationParams>(params) {
            Ok(CancelledNotificationParams {
                request_id: Some(id),
                ..
            }) => {
                let hit = self.cancel_inflight(&id);
                tracing::debug!(%id, hit, "the peer cancelled a request");
                hit
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e.message, "malformed notifications/cancelled ignored");
                false
            }
        }
    }

    /// Starts answering request `id`; the token trips when the peer cancels it, and is
    /// tripped already when the connection has closed.
    pub(crate) fn track_inflight(&self, id: &RequestId) -> CancellationToken {
        let token = CancellationToken::new();
        let mut inflight = lock(&self.inflight);
        // Checked under the lock that `cancel_all_inflight` takes after `close`: a handler
        // that registers as the connection ends is either seen by it or sees `closed` here,
        // never neither.
        if self.closed.is_cancelled() {
            token.cancel();
        }
        inflight.insert(id.clone(), token.clone());
        token
    }

    /// Done answering request `id`.
    pub(crate) fn untrack_inflight(&self, id: &RequestId) {
        lock(&self.inflight).remove(id);
    }

    /// Trips request `id` if we are still answering it.
    pub(crate) fn cancel_inflight(&self, id: &RequestId) -> bool {
        lock(&self.inflight)
            .get(id)
            .map(CancellationToken::cancel)
            .is_some()
    }

    /// Trips every request we are answering: the connection is gone, nobody takes answers.
    pub(crate) fn cancel_all_inflight(&self) {
        for token in lock(&self.inflight).values() {
            token.cancel();
        }
    }

    #[cfg(test)]
    fn pending_count(&self) -> usize {
        lock(&self.pending).len()
    }
}

/// A request we sent, until it is answered or its caller stops waiting; dropping it unanswered
/// forgets the id, so a late answer is ignored.
pub(crate) struct Outgoing<'a> {
    peer: &'a Peer,
    id: RequestId,
    rx: oneshot::Receiver<Outcome>,
    settled: bool,
    on_abandon: Option<Box<dyn FnOnce(RequestId) + Send>>,
}

impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

impl Outgoing<'_> {
    /// The request's id.
    pub(crate) fn id(&self) -> &RequestId {
        &self.id
    }

    /// The request never left (the stream refused it): forget it without `on_abandon`.
    pub(crate) fn unsent(mut self) {
        self.on_abandon = None;
    }

    /// Waits for the answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the answer stays routed here until the guard drops.
    pub(crate) async fn answer(&mut self) -> Outcome {
        let outcome = (&mut self.rx).await.unwrap_or(Err(Failure::Closed));
        self.settled = true;
        outcome
    }
}

impl Drop for Outgoing<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let was_pending = lock(&self.peer.pending).remove(&self.id).is_some();
        if was_pending && !self.peer.closed.is_cancelled() {
            if let Some(abandon) = self.on_abandon.take() {
                abandon(self.id.clone());
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("peer mutex poisoned")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(n: usize) -> Message {
        Notification::new("notifications/message", Some(serde_json::json!({"n": n}))).into()
    }

    fn answer(n: i64) -> Message {
        Response::result(RequestId::Number(n), serde_json::json!({})).into()
    }

    /// A reader that stops reading gets its stream cut at the bound, once, never an
    /// ever-growing queue; the cut is visible to every clone and to the reader.
    /// A reader is finished only once every sink is gone and what they queued is read, so a
    /// JSON exchange hands its queue on while a sink kept by its handler may still send.
    #[tokio::test]
    async fn the_reader_is_finished_when_every_sink_is_gone_and_all_is_read() {
        let (sink, mut rx) = Sink::channel(4);
        let kept = sink.clone();
        drop(sink);
        assert!(!rx.is_finished(), "a clone may still send");
        kept.send(note(1)).unwrap();
        drop(kept);
        assert!(!rx.is_finished(), "a message is queued");
        let first = rx.recv().await.unwrap();
        rx.put_back(first);
        assert!(!rx.is_finished(), "a message was given back");
        rx.recv().await.unwrap();
        assert!(rx.is_finished());
    }

    #[tokio::test]
    async fn a_full_queue_cuts_the_stream() {
        let (sink, mut out) = Sink::channel(3);
        let clone = sink.clone();
        for n in 0..3 {
            sink.send(answer(n)).unwrap();
        }
        assert_eq!(clone.send(answer(3)), Err(SendError::Stalled(3)));
        assert!(sink.is_closed() && clone.is_closed());
        assert_eq!(sink.send(answer(4)), Err(SendError::Closed));
        assert_eq!(sink.send(note(4)), Err(SendError::Closed));
        tokio::time::timeout(std::time::Duration::from_secs(5), sink.closed())
            .await
            .expect("closed() completes once cut");
        assert!(out.recv().await.is_none(), "the reader stops at the cut");
    }

    /// Notifications never take the reserved half of a queue: a flood of them on a stream
    /// nobody reads is dropped and counted (not an error to the sender), and the answers and
    /// requests that follow still fit; only those meeting a truly full queue cut the stream.
    #[tokio::test]
    async fn notifications_leave_the_reserve_to_answers() {
        let (sink, _out) = Sink::channel(DEFAULT_QUEUE);
        assert_eq!(sink.reserve(), DEFAULT_QUEUE / 2);
        for n in 0..10 * DEFAULT_QUEUE {
            assert_eq!(
                sink.send(note(n)),
                Ok(()),
                "a notification is never an error"
            );
        }
        let kept = DEFAULT_QUEUE - sink.reserve();
        assert_eq!(
            sink.dropped_notifications(),
            u64::try_from(10 * DEFAULT_QUEUE - kept).unwrap()
        );
        assert!(!sink.is_closed(), "dropped notifications cut nothing");
        for n in 0..sink.reserve() {
            let id = i64::try_from(n).unwrap();
            assert_eq!(sink.send(answer(id)), Ok(()), "answer {n} fits the reserve");
        }
        assert_eq!(
            sink.send(answer(-1)),
            Err(SendError::Stalled(DEFAULT_QUEUE))
        );

        let (sink, mut reading) = Sink::channel(4);
        for n in 0..2 {
            sink.send(note(n)).unwrap();
        }
        sink.send(note(2)).unwrap();
        assert_eq!(sink.dropped_notifications(), 1);
        assert!(reading.recv().await.is_some());
        sink.send(note(3)).unwrap();
        assert_eq!(
            sink.dropped_notifications(),
            1,
            "room again once the reader reads"
        );
    }

    /// `subscriptions/listen` (B-7, X-7): a notification that must not be lost waits for the
    /// reader instead of being dropped, never takes the reserve, and every one arrives in
    /// order; a stream that closes ends the wait.
    #[tokio::test]
    async fn waiting_sends_lose_nothing_and_keep_the_reserve() {
        let (sink, mut out) = Sink::channel(4);
        let sender = sink.clone();
        let sending = tokio::spawn(async move {
            for n in 0..300 {
                sender.send_waiting(note(n)).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while got.len() < 300 {
            // The reserve stays free for answers whatever the waiting sender does.
            assert!(sink.tx.capacity() >= sink.reserve());
            let Some(Message::Notification(n)) = out.recv().await else {
                panic!("only the notifications were sent");
            };
            got.push(n.params.unwrap()["n"].as_u64().unwrap());
        }
        sending.await.unwrap();
        assert_eq!(got, (0..300).collect::<Vec<u64>>());
        assert_eq!(sink.dropped_notifications(), 0);

        let (sink, out) = Sink::channel(2);
        sink.send_waiting(note(0)).await.unwrap();
        let blocked = tokio::spawn({
            let sink = sink.clone();
            async move { sink.send_waiting(note(1)).await }
        });
        drop(out);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), blocked)
            .await
            .expect("a closed stream ends the wait")
            .unwrap();
        assert_eq!(ended, Err(SendError::Closed));
    }

    /// A reader that keeps up is never cut, however many messages pass.
    #[tokio::test]
    async fn a_reader_that_keeps_up_is_never_cut() {
        let (sink, mut out) = Sink::channel(2);
        for n in 0..1000 {
            sink.send(note(n)).unwrap();
            assert!(out.recv().await.is_some());
        }
        assert!(!sink.is_closed());
        drop(out);
        assert_eq!(sink.send(note(0)), Err(SendError::Closed));
    }

    /// Answers reach their waiters by id; a caller that stops waiting is forgotten (its late
    /// answer is dropped) and `on_abandon` runs; an answered request does not run it.
    #[tokio::test]
    async fn pending_requests_are_answered_or_forgotten() {
        let peer = Peer::new();
        let mut first = peer.outgoing(None);
        let second_abandoned = Arc::new(AtomicBool::new(false));
        let flag = second_abandoned.clone();
        let second = peer.outgoing(Some(Box::new(move |_| {
            flag.store(true, Ordering::SeqCst);
        })));
        assert_ne!(first.id(), second.id(), "ids are unique");
        let second_id = second.id().clone();
        assert_eq!(peer.pending_count(), 2);
        drop(second);
        assert!(second_abandoned.load(Ordering::SeqCst));
        assert_eq!(peer.pending_count(), 1);
        peer.complete(Response::result(second_id, serde_json::json!({})));

        peer.complete(Response::result(
            first.id().clone(),
            serde_json::json!({"ok": 1}),
        ));
        assert_eq!(first.answer().await.unwrap(), serde_json::json!({"ok": 1}));
        assert_eq!(peer.pending_count(), 0);

        let mut third = peer.outgoing(None);
        peer.lose(&third.id().clone(), "the stream broke".into());
        assert!(matches!(third.answer().await, Err(Failure::Lost(r)) if r.contains("broke")));
        let mut fourth = peer.outgoing(None);
        peer.close();
        assert!(matches!(fourth.answer().await, Err(Failure::Closed)));
    }

    /// `notifications/cancelled` trips exactly the request it names, and only while it runs;
    /// answers and cancellations are handled by the peer, the rest handed on.
    #[test]
    fn cancellation_trips_the_named_request() {
        let peer = Peer::new();
        let a = RequestId::Number(7);
        let token = peer.track_inflight(&a);
        let other = peer.track_inflight(&RequestId::Number(8));
        let cancel = |id: i64| -> Message {
            Notification::new(
                method::NOTIFY_CANCELLED,
                Some(serde_json::json!({"requestId": id, "reason": "gone"})),
            )
            .into()
        };
        assert!(peer.receive(cancel(7)).is_none());
        assert!(token.is_cancelled() && !other.is_cancelled());
        peer.untrack_inflight(&a);
        assert!(!peer.cancelled(Some(serde_json::json!({"requestId": 7}))));
        assert!(matches!(
            peer.receive(note(1)),
            Some(Received::Notification(_))
        ));
        let request = Request::new(RequestId::Number(1), "ping", None);
        assert!(matches!(
            peer.receive(request.into()),
            Some(Received::Request(_))
        ));
        peer.cancel_all_inflight();
        assert!(other.is_cancelled());
    }

    /// A request handler that registers after the connection closed and its requests were
    /// cancelled (it was spawned just before) gets a tripped token, not one nobody trips.
    #[test]
    fn a_request_tracked_after_close_is_cancelled() {
        let peer = Peer::new();
        let before = peer.track_inflight(&RequestId::Number(1));
        peer.close();
        peer.cancel_all_inflight();
        assert!(before.is_cancelled());
        let late = peer.track_inflight(&RequestId::Number(2));
        assert!(late.is_cancelled(), "the late handler stops too");
    }
}

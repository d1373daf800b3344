//! Resumable SSE streams: every event gets an id, and a session keeps its recent events so a
//! client that lost a connection can `GET` with `Last-Event-ID` and pick the stream up where it
//! broke (MCP 2025-11-25, Transports, "Resumability and Redelivery").
//!
//! A *stream* is one POST's answer or one GET's standing stream; a *connection* is the HTTP
//! response currently carrying it. The two are apart on purpose: the stream's *pump* reads the
//! sink the server writes to, numbers each message and logs it, and hands it to whichever
//! connection is attached. A dropped connection detaches; the pump goes on logging, so the
//! sink stays open and the request's handler keeps working (the spec: "disconnection SHOULD
//! NOT be interpreted as the client cancelling its request"). A resume attaches a new
//! connection, which gets the logged events after the client's cursor and then the live ones.
//!
//! Ids are `<stream>-<seq>`: the stream number comes from a server-wide counter, so an id names
//! exactly one stream of one session and an id from another session names nothing in this
//! one; `seq` counts the stream's events from 1 (0 is the priming event, which carries no
//! message). Lookups only ever search the requesting session's log, so another session's
//! events can never be replayed.
//!
//! Bounds, per session: the last [`MAX_REPLAY_EVENTS`] events and [`MAX_REPLAY_BYTES`] bytes
//! across its streams (the oldest go first), at most [`MAX_STREAM_REPLAY_BYTES`] per stream,
//! at most [`MAX_REPLAY_STREAMS`] streams, and a stream nobody is attached to is forgotten
//! [`RESUME_WINDOW`] after its connection dropped or it ended. Server-wide, the logs of all
//! sessions hold at most [`MAX_SERVER_REPLAY_BYTES`] (a [`Budget`]): beyond it the oldest
//! streams' events are dropped first, with a log line. An event that cannot be kept is sent
//! all the same; a resume from before it is refused as evicted, never answered with a gap.
//!
//! A connection whose client stops reading (the socket is open but nothing is read) is cut
//! once [`MAX_UNSENT_BYTES`] wait unsent for it: it is detached as if it had dropped, with a
//! logged reason, and the stream goes on into the log, resumable from the last event the
//! client did receive. Without this, whatever a handler sends (progress every millisecond, a
//! large progress token echoed in each) would pile up in memory for as long as the socket
//! stays open. Forgetting a stream whose pump still runs stops the pump, which closes the sink:
//! the handler then sees what it saw at once before this module existed (`tasks/result`
//! returns, and its unanswered questions stay in the task's mailbox for the next exchange).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_tasks_wire::jsonrpc::{Message, RequestId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::session::Outbound;

/// The most events a session keeps for replay, across its streams. Enough for the questions,
/// progress and answer of a few dozen concurrent exchanges; a flood of progress pushes out the
/// oldest first.
pub const MAX_REPLAY_EVENTS: usize = 256;
/// The most bytes of events a session keeps for replay (the SSE frames, ids included). An event
/// larger than this is sent but cannot be replayed. Times [`HttpConfig::max_sessions`], this
/// is the most the logs of the whole server can hold; typical events are far smaller.
///
/// [`HttpConfig::max_sessions`]: super::HttpConfig::max_sessions
pub const MAX_REPLAY_BYTES: usize = 4 * 1024 * 1024;
/// The most bytes of events one stream keeps for replay: a flood on one exchange (progress
/// carrying a large token) pushes out that stream's own oldest events before others'.
pub const MAX_STREAM_REPLAY_BYTES: usize = 1024 * 1024;
/// The most bytes of events the whole server keeps for replay, across sessions; beyond it the
/// oldest streams' events go first. The default of
/// [`HttpConfig::max_replay_bytes`](super::HttpConfig::max_replay_bytes).
pub const MAX_SERVER_REPLAY_BYTES: usize = 64 * 1024 * 1024;
/// The most bytes that may wait unsent for one connection before its client counts as not
/// reading and the connection is cut (one event larger than this still goes out alone).
pub const MAX_UNSENT_BYTES: usize = 1024 * 1024;
/// The most streams a session keeps. Beyond it, opening a stream forgets the oldest streams
/// with no connection attached (as if their window had passed).
pub const MAX_REPLAY_STREAMS: usize = 256;
/// How long a stream with no connection stays resumable, and so how long a handler whose
/// client dropped keeps its sink open: long enough to ride out a proxy timeout or a laptop lid,
/// short enough that abandoned exchanges do not pile up.
pub const RESUME_WINDOW: Duration = Duration::from_secs(5 * 60);
/// A connection idle this long gets an SSE comment, so proxies do not cut it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The protocol version from which clients are known to skip events with empty data; older
/// sessions get no priming event (the TypeScript SDK makes the same cut).
const PRIMING_SINCE: &str = "2025-11-25";

/// Whether a session that negotiated `version` gets a priming event on each new stream.
pub(super) fn primes(version: Option<&str>) -> bool {
    version.is_some_and(|v| v >= PRIMING_SINCE)
}

/// The bounds of one session's replay log; [`Limits::default`] is the constants above.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) events: usize,
    pub(super) bytes: usize,
    pub(super) stream_bytes: usize,
    pub(super) unsent_bytes: usize,
    pub(super) streams: usize,
    pub(super) window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            events: MAX_REPLAY_EVENTS,
            bytes: MAX_REPLAY_BYTES,
            stream_bytes: MAX_STREAM_REPLAY_BYTES,
            unsent_bytes: MAX_UNSENT_BYTES,
            streams: MAX_REPLAY_STREAMS,
            window: RESUME_WINDOW,
        }
    }
}

/// The server-wide cap on replay bytes, shared by every session's [`Replay`]: it counts what
/// all logs hold and, over the cap, drops the events of the oldest streams first (stream
/// numbers grow with time, so the smallest is the oldest).
#[derive(Debug)]
pub(super) struct Budget {
    cap: usize,
    total: AtomicUsize,
    /// Every stream with a log, by number. Lock order: this, then a session's logs.
    streams: Mutex<BTreeMap<u64, Weak<Replay>>>,
}

impl Budget {
    pub(super) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            total: AtomicUsize::new(0),
            streams: Mutex::new(BTreeMap::new()),
        })
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Weak<Replay>>> {
        self.streams.lock().expect("replay budget mutex poisoned")
    }

    fn account(&self, added: usize, freed: usize) {
        if added > 0 {
            self.total.fetch_add(added, Ordering::AcqRel);
        }
        if freed > 0 {
            self.total.fetch_sub(freed, Ordering::AcqRel);
        }
    }

    fn over(&self) -> bool {
        self.total.load(Ordering::Acquire) > self.cap
    }

    /// Drops the events of the oldest streams until the server is within its cap.
    fn shed(&self) {
        let mut streams = self.streams();
        let mut dead = Vec::new();
        for (&stream, replay) in streams.iter() {
            if !self.over() {
                break;
            }
            let Some(replay) = replay.upgrade() else {
                dead.push(stream);
                continue;
            };
            let freed = replay.drop_events(stream);
            if freed > 0 {
                tracing::warn!(
                    stream,
                    freed,
                    cap = self.cap,
                    "the server's replay logs reached their cap; the oldest stream's events \
                     were dropped (resuming it before them is refused; raise \
                     max_replay_bytes to keep more)"
                );
            }
        }
        for stream in dead {
            streams.remove(&stream);
        }
    }

    #[cfg(test)]
    pub(super) fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// An SSE event id: which stream, and where in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct EventId {
    pub(super) stream: u64,
    pub(super) seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.stream, self.seq)
    }
}

impl FromStr for EventId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (stream, seq) = s.trim().split_once('-').ok_or(())?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(stream) || !digits(seq) {
            return Err(());
        }
        Ok(Self {
            stream: stream.parse().map_err(|_| ())?,
            seq: seq.parse().map_err(|_| ())?,
        })
    }
}

/// Why a `Last-Event-ID` cannot be resumed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unresumable {
    /// The session has no such stream: never its own, or forgotten.
    UnknownStream(EventId),
    /// The stream never sent that event.
    NotSent(EventId),
    /// Events after it were pushed out of the log by newer ones.
    Evicted(EventId),
}

/// One session's streams and their recent events.
#[derive(Debug)]
pub(super) struct Replay {
    limits: Limits,
    budget: Arc<Budget>,
    logs: Mutex<Logs>,
}

#[derive(Debug, Default)]
struct Logs {
    streams: HashMap<u64, StreamLog>,
    /// The session's events in the order they were logged, as (stream, seq): the eviction
    /// order across streams. Holds every buffered event, and entries of events already
    /// dropped another way (a stream's own cap, the server's), skipped when reached.
    order: VecDeque<(u64, u64)>,
    /// How many events are buffered, and their bytes.
    events: usize,
    bytes: usize,
}

/// The feed of the connection attached to a stream, and what waits unsent in it.
///
/// Bounded in bytes, not in messages: the channel itself has no bound, but `unsent` counts
/// what waits in it and the connection is cut once that passes `Limits::unsent_bytes`, so a
/// burst of small events never cuts a reader that keeps up and a stalled one costs at most
/// that many bytes.
#[derive(Debug)]
struct Live {
    tx: mpsc::UnboundedSender<Bytes>,
    unsent: Arc<AtomicUsize>,
}

impl Live {
    fn channel() -> (Self, LiveRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        let unsent = Arc::new(AtomicUsize::new(0));
        (
            Self {
                tx,
                unsent: unsent.clone(),
            },
            LiveRx { rx, unsent },
        )
    }
}

#[derive(Debug)]
struct LiveRx {
    rx: mpsc::UnboundedReceiver<Bytes>,
    unsent: Arc<AtomicUsize>,
}

impl LiveRx {
    async fn recv(&mut self) -> Option<Bytes> {
        let frame = self.rx.recv().await?;
        self.unsent.fetch_sub(frame.len(), Ordering::AcqRel);
        Some(frame)
    }
}

#[derive(Debug)]
struct StreamLog {
    /// The seq of the next event; messages start at 1.
    next_seq: u64,
    /// Buffered events, oldest first; their seqs are consecutive and end at `next_seq - 1`.
    events: VecDeque<(u64, Bytes)>,
    /// The bytes of `events`.
    bytes: usize,
    /// The attached connection's feed, if one is attached and the stream goes on.
    live: Option<Live>,
    /// Whether a connection is attached.
    attached: bool,
    /// Counts attachments, so a replaced connection's departure does not detach its successor.
    generation: u64,
    /// No more events will come: the answer went out, or the sink's writers all went.
    ended: bool,
    /// Tripped when the stream is forgotten: its pump stops and drops the sink's receiver.
    forgotten: CancellationToken,
    /// A GET stream: it has no answer to end with, so it goes on until the session does.
    standing: bool,
}

impl StreamLog {
    /// The seq of the oldest event still buffered.
    fn first_kept(&self) -> u64 {
        self.events.front().map_or(self.next_seq, |(seq, _)| *seq)
    }
}

impl Replay {
    pub(super) fn new(limits: Limits, budget: Arc<Budget>) -> Arc<Self> {
        Arc::new(Self {
            limits,
            budget,
            logs: Mutex::new(Logs::default()),
        })
    }

    fn logs(&self) -> std::sync::MutexGuard<'_, Logs> {
        self.logs.lock().expect("replay log mutex poisoned")
    }

    /// Opens stream number `stream` (unique server-wide) fed by `rx`, and attaches its first
    /// connection. The stream ends after the response to `until` (a POST's stream), or when
    /// every sender of `rx` is gone or `session_closed` trips (the GET stream). `prime` sends
    /// the priming event first.
    pub(super) fn open(
        self: &Arc<Self>,
        stream: u64,
        rx: Outbound,
        until: Option<RequestId>,
        session_closed: CancellationToken,
        prime: bool,
    ) -> Connection {
        let forgotten = CancellationToken::new();
        let (tx, live) = Live::channel();
        let stale: Vec<u64> = {
            let mut logs = self.logs();
            let stale = logs.crowded(self.limits.streams);
            logs.streams.insert(
                stream,
                StreamLog {
                    next_seq: 1,
                    events: VecDeque::new(),
                    bytes: 0,
                    live: Some(tx),
                    attached: true,
                    generation: 0,
                    ended: false,
                    forgotten: forgotten.clone(),
                    standing: until.is_none(),
                },
            );
            stale
        };
        self.budget.streams().insert(stream, Arc::downgrade(self));
        for s in stale {
            tracing::debug!(stream = s, "replay stream forgotten: too many streams");
            self.forget(s);
        }
        tokio::spawn(pump(
            Arc::downgrade(self),
            stream,
            rx,
            until,
            session_closed,
            forgotten,
        ));
        let backlog = if prime {
            VecDeque::from([priming(EventId { stream, seq: 0 })])
        } else {
            VecDeque::new()
        };
        Connection {
            backlog,
            live: Some(live),
            _detach: Detach {
                replay: Arc::downgrade(self),
                stream,
                generation: 0,
            },
        }
    }

    /// Attaches a connection to the stream `after` belongs to: it gets the events after it,
    /// then the live ones. A connection already attached to that stream is ended, so no
    /// message goes out twice.
    ///
    /// # Errors
    ///
    /// Why the stream cannot be resumed from there.
    pub(super) fn resume(self: &Arc<Self>, after: EventId) -> Result<Connection, Unresumable> {
        let mut logs = self.logs();
        let Some(log) = logs.streams.get_mut(&after.stream) else {
            return Err(Unresumable::UnknownStream(after));
        };
        if after.seq >= log.next_seq {
            return Err(Unresumable::NotSent(after));
        }
        if after.seq + 1 < log.first_kept() {
            return Err(Unresumable::Evicted(after));
        }
        let backlog = log
            .events
            .iter()
            .filter(|(seq, _)| *seq > after.seq)
            .map(|(_, frame)| frame.clone())
            .collect();
        log.generation += 1;
        log.attached = true;
        let live = if log.ended {
            log.live = None;
            None
        } else {
            let (tx, rx) = Live::channel();
            // Replacing the sender ends the connection it fed.
            log.live = Some(tx);
            Some(rx)
        };
        Ok(Connection {
            backlog,
            live,
            _detach: Detach {
                replay: Arc::downgrade(self),
                stream: after.stream,
                generation: log.generation,
            },
        })
    }

    /// Numbers and logs one message of `stream`, and sends it to the attached connection,
    /// unless that connection's client stopped reading: then it is cut.
    fn push(self: &Arc<Self>, stream: u64, message: &Message) {
        let data = match serde_json::to_string(message) {
            Ok(data) => data,
            Err(e) => {
                tracing::error!(error = %e, "a message could not be serialized; not sent");
                return;
            }
        };
        let limits = &self.limits;
        let (added, freed, cut) = {
            let mut guard = self.logs();
            let logs = &mut *guard;
            let Some(log) = logs.streams.get_mut(&stream) else {
                return;
            };
            let id = EventId {
                stream,
                seq: log.next_seq,
            };
            log.next_seq += 1;
            // Compact JSON never holds a raw line break, so one `data` line carries it.
            let frame = Bytes::from(format!("id: {id}\nevent: message\ndata: {data}\n\n"));
            let mut cut = None;
            if let Some(live) = &log.live {
                let unsent = live.unsent.load(Ordering::Acquire);
                if unsent > 0 && unsent + frame.len() > limits.unsent_bytes {
                    cut = Some((unsent, log.generation + 1));
                } else {
                    live.unsent.fetch_add(frame.len(), Ordering::AcqRel);
                    // A failed send is a connection on its way out; its detach follows.
                    let _ = live.tx.send(frame.clone());
                }
            }
            if cut.is_some() {
                // Detached as if it had dropped: a newer generation, so its own late detach
                // is ignored, and the window to resume runs from now.
                log.generation += 1;
                log.attached = false;
                log.live = None;
            }
            let mut freed = 0;
            let mut added = 0;
            if frame.len() <= limits.stream_bytes.min(limits.bytes) {
                added = frame.len();
                log.bytes += added;
                log.events.push_back((id.seq, frame));
                logs.order.push_back((stream, id.seq));
                logs.events += 1;
                logs.bytes += added;
                while logs
                    .streams
                    .get(&stream)
                    .is_some_and(|l| l.bytes > limits.stream_bytes)
                {
                    freed += logs.drop_front(stream);
                }
            } else {
                // Too large to keep: what came before it goes too, so a resume from before
                // it is refused instead of skipping it.
                freed += logs.drop_all(stream);
            }
            freed += logs.evict(limits);
            (added, freed, cut)
        };
        self.budget.account(added, freed);
        if let Some((unsent, generation)) = cut {
            tracing::warn!(
                stream,
                unsent,
                "an SSE client stopped reading: {unsent} bytes wait unsent, so its connection \
                 is cut; the stream goes on and can be resumed with Last-Event-ID"
            );
            self.forget_later(stream, generation);
        }
        if self.budget.over() {
            self.budget.shed();
        }
    }

    /// Drops every buffered event of `stream` (the server-wide cap needs room); gives the
    /// bytes freed.
    fn drop_events(&self, stream: u64) -> usize {
        let freed = self.logs().drop_all(stream);
        self.budget.account(0, freed);
        freed
    }

    /// Forgets every stream: the session ended, nothing will resume.
    pub(super) fn clear(&self) {
        let streams: Vec<u64> = self.logs().streams.keys().copied().collect();
        for stream in streams {
            self.forget(stream);
        }
    }

    /// Forgets the standing (GET) streams: their connections finish what they were sent and
    /// close, and their sinks close. A graceful shutdown waits for every open response, and
    /// these never end by themselves.
    pub(super) fn end_standing(&self) {
        let standing: Vec<u64> = self
            .logs()
            .streams
            .iter()
            .filter(|(_, log)| log.standing)
            .map(|(s, _)| *s)
            .collect();
        for stream in standing {
            self.forget(stream);
        }
    }

    /// Marks `stream` ended: its connection finishes what it has and closes.
    fn end(self: &Arc<Self>, stream: u64) {
        let generation = {
            let mut logs = self.logs();
            let Some(log) = logs.streams.get_mut(&stream) else {
                return;
            };
            log.ended = true;
            log.live = None;
            if log.attached {
                return;
            }
            log.generation
        };
        // Ended while nobody listened: the window runs from now.
        self.forget_later(stream, generation);
    }

    /// A connection of `stream` went; unless a newer one replaced it, the stream waits for a
    /// resume, and is forgotten if none comes within the window.
    fn detach(self: &Arc<Self>, stream: u64, generation: u64) {
        {
            let mut logs = self.logs();
            let Some(log) = logs.streams.get_mut(&stream) else {
                return;
            };
            if log.generation != generation {
                return;
            }
            log.attached = false;
            log.live = None;
        }
        self.forget_later(stream, generation);
    }

    fn forget_later(self: &Arc<Self>, stream: u64, generation: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime: the server is shutting down; nothing will resume.
            self.forget(stream);
            return;
        };
        let replay = Arc::downgrade(self);
        let window = self.limits.window;
        runtime.spawn(async move {
            tokio::time::sleep(window).await;
            let Some(replay) = replay.upgrade() else {
                return;
            };
            let expired = replay
                .logs()
                .streams
                .get(&stream)
                .is_some_and(|log| log.generation == generation && !log.attached);
            if expired {
                tracing::debug!(stream, "replay stream forgotten: not resumed in time");
                replay.forget(stream);
            }
        });
    }

    /// Drops `stream` and its events; its pump, if still running, stops.
    fn forget(&self, stream: u64) {
        let freed = {
            let mut logs = self.logs();
            let freed = logs.drop_all(stream);
            let Some(log) = logs.streams.remove(&stream) else {
                return;
            };
            log.forgotten.cancel();
            freed
        };
        self.budget.account(0, freed);
        self.budget.streams().remove(&stream);
    }

    #[cfg(test)]
    fn buffered(&self) -> (usize, usize) {
        let logs = self.logs();
        (logs.events, logs.bytes)
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        // The session is gone: its bytes leave the server-wide count. The budget's entries
        // for its streams are pruned when next walked.
        let bytes = self.logs.get_mut().map_or(0, |logs| logs.bytes);
        self.budget.account(0, bytes);
    }
}

impl Logs {
    /// Drops the oldest buffered event of `stream`; gives its bytes.
    fn drop_front(&mut self, stream: u64) -> usize {
        let Some((_, frame)) = self
            .streams
            .get_mut(&stream)
            .and_then(|log| log.events.pop_front())
        else {
            return 0;
        };
        let len = frame.len();
        if let Some(log) = self.streams.get_mut(&stream) {
            log.bytes -= len;
        }
        self.events -= 1;
        self.bytes -= len;
        len
    }

    /// Drops every buffered event of `stream`; gives their bytes.
    fn drop_all(&mut self, stream: u64) -> usize {
        let Some(log) = self.streams.get_mut(&stream) else {
            return 0;
        };
        let (count, freed) = (log.events.len(), log.bytes);
        log.events.clear();
        log.bytes = 0;
        self.events -= count;
        self.bytes -= freed;
        freed
    }

    /// Drops the oldest events until the session is within its bounds; gives the bytes
    /// freed.
    fn evict(&mut self, limits: &Limits) -> usize {
        let mut freed = 0;
        while self.events > limits.events || self.bytes > limits.bytes {
            let Some((stream, seq)) = self.order.pop_front() else {
                break;
            };
            let buffered = self
                .streams
                .get(&stream)
                .and_then(|log| log.events.front())
                .is_some_and(|(front, _)| *front == seq);
            if buffered {
                freed += self.drop_front(stream);
            }
        }
        // Entries of events dropped another way are skipped when reached; sweep them once
        // they outnumber the live ones, so the order stays as bounded as the events.
        if self.order.len() > 2 * self.events + 64 {
            let streams = &self.streams;
            self.order.retain(|(stream, seq)| {
                streams
                    .get(stream)
                    .and_then(|log| log.events.front())
                    .is_some_and(|(front, _)| seq >= front)
            });
        }
        freed
    }

    /// The streams to forget so that one more fits: the oldest with no connection.
    fn crowded(&self, max: usize) -> Vec<u64> {
        let over = (self.streams.len() + 1).saturating_sub(max);
        if over == 0 {
            return Vec::new();
        }
        let mut idle: Vec<u64> = self
            .streams
            .iter()
            .filter(|(_, log)| !log.attached)
            .map(|(s, _)| *s)
            .collect();
        idle.sort_unstable();
        idle.truncate(over);
        idle
    }
}

/// Moves a stream's messages from its sink into the log until the stream ends or is
/// forgotten. Holding `rx` is what keeps the sink open while no connection is attached.
async fn pump(
    replay: Weak<Replay>,
    stream: u64,
    mut rx: Outbound,
    until: Option<RequestId>,
    session_closed: CancellationToken,
    forgotten: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            m = rx.recv() => m,
            () = forgotten.cancelled() => return,
            () = session_closed.cancelled() => None,
        };
        let Some(message) = message else {
            break;
        };
        let Some(log) = replay.upgrade() else {
            return;
        };
        let last = until.as_ref().is_some_and(
            |id| matches!(&message, Message::Response(r) if r.id.as_ref() == Some(id)),
        );
        log.push(stream, &message);
        if last {
            break;
        }
    }
    if let Some(replay) = replay.upgrade() {
        replay.end(stream);
    }
}

fn priming(id: EventId) -> Bytes {
    // An id and an empty `data` line: clients record the id and dispatch nothing useful
    // (MCP 2025-11-25: "an event ID and an empty data field").
    Bytes::from(format!("id: {id}\ndata: \n\n"))
}

/// One HTTP response carrying a stream: its backlog, then live events until the stream ends.
/// Dropping it (the client went) detaches it from the stream.
#[derive(Debug)]
pub(super) struct Connection {
    backlog: VecDeque<Bytes>,
    live: Option<LiveRx>,
    _detach: Detach,
}

impl Connection {
    /// The SSE response; `guard` lives as long as the connection.
    pub(super) fn into_response(self, guard: impl Send + 'static) -> Response {
        let frames = futures::stream::unfold((self, guard), |(mut c, guard)| async move {
            if let Some(frame) = c.backlog.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(frame), (c, guard)));
            }
            let live = c.live.as_mut()?;
            let frame = tokio::select! {
                frame = live.recv() => frame?,
                () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b":\n\n"),
            };
            Some((Ok(frame), (c, guard)))
        });
        (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            Body::from_stream(frames),
        )
            .into_response()
    }
}

#[derive(Debug)]
struct Detach {
    replay: Weak<Replay>,
    stream: u64,
    generation: u64,
}

impl Drop for Detach {
    fn drop(&mut self) {
        if let Some(replay) = self.replay.upgrade() {
            replay.detach(self.stream, self.generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use mcp_tasks_wire::jsonrpc::Notification;

    use crate::session::Sink;

    // These tests run on paused tokio time: a timer fires only once every task is idle, so
    // "the pump has logged everything sent so far" needs no sleep, and the resume window
    // passes in virtual time.

    fn note(n: usize) -> Message {
        Notification::new("notifications/message", Some(serde_json::json!({"n": n}))).into()
    }

    fn unbudgeted(limits: Limits) -> Arc<Replay> {
        Replay::new(limits, Budget::new(usize::MAX))
    }

    fn sink() -> (Sink, Outbound) {
        Sink::channel(64)
    }

    /// Lets every runnable task run (the pump, detaches) before going on.
    async fn settle() {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
    }

    /// A connection's frames until it ends.
    async fn frames(c: Connection) -> Vec<String> {
        let body = c.into_response(()).into_body();
        tokio::time::timeout(
            Duration::from_secs(3600),
            body.into_data_stream()
                .map(|f| String::from_utf8_lossy(&f.unwrap()).into_owned())
                .collect::<Vec<_>>(),
        )
        .await
        .expect("the connection ends")
    }

    /// The first `n` frames of a connection, then drops it.
    async fn first_frames(c: Connection, n: usize) -> Vec<String> {
        let body = c.into_response(()).into_body();
        let mut data = body.into_data_stream();
        let mut out = Vec::new();
        while out.len() < n {
            let frame = tokio::time::timeout(Duration::from_secs(1), data.next())
                .await
                .expect("a frame comes")
                .expect("the connection is still open")
                .unwrap();
            out.push(String::from_utf8_lossy(&frame).into_owned());
        }
        out
    }

    fn ids(frames: &[String]) -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| f.strip_prefix("id: "))
            .map(|f| f.split('\n').next().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn event_ids_round_trip_and_reject_junk() {
        let id = EventId { stream: 12, seq: 3 };
        assert_eq!(id.to_string(), "12-3");
        assert_eq!("12-3".parse::<EventId>(), Ok(id));
        for junk in [
            "",
            "12",
            "12-",
            "-3",
            "a-3",
            "12-3-4",
            "12--3",
            "+1-2",
            "1-99999999999999999999",
        ] {
            assert!(junk.parse::<EventId>().is_err(), "{junk:?} parsed");
        }
    }

    #[test]
    fn only_sessions_that_skip_empty_events_are_primed() {
        assert!(primes(Some("2025-11-25")));
        assert!(!primes(Some("2025-06-18")));
        assert!(!primes(None));
    }

    /// A dropped connection loses nothing: what the sink got meanwhile, and the answer that
    /// ends the stream, come on the resumed connection, after the client's cursor only.
    #[tokio::test(start_paused = true)]
    async fn resume_replays_after_the_cursor_then_goes_live() {
        let replay = unbudgeted(Limits::default());
        let (tx, rx) = sink();
        let first = replay.open(7, rx, None, CancellationToken::new(), true);
        tx.send(note(1)).unwrap();
        let seen = first_frames(first, 2).await; // dropped here
        assert_eq!(ids(&seen), ["7-0", "7-1"]);
        assert!(seen[0].contains("data: \n"), "priming event: {seen:?}");
        tx.send(note(2)).unwrap();
        tx.send(note(3)).unwrap();
        settle().await;
        assert!(
            !tx.is_closed(),
            "the sink stays open while the stream can be resumed"
        );

        let resumed = replay.resume(EventId { stream: 7, seq: 1 }).unwrap();
        tx.send(note(4)).unwrap();
        drop(tx);
        let seen = frames(resumed).await;
        assert_eq!(ids(&seen), ["7-2", "7-3", "7-4"]);
        assert!(seen[0].contains(r#""n":2"#));
    }

    /// A POST's stream ends with its answer; a resume of an ended stream gets the rest and
    /// closes.
    #[tokio::test(start_paused = true)]
    async fn a_post_stream_ends_with_its_answer() {
        let replay = unbudgeted(Limits::default());
        let (tx, rx) = sink();
        let id = RequestId::Number(9);
        let first = replay.open(1, rx, Some(id.clone()), CancellationToken::new(), false);
        drop(first);
        tx.send(note(1)).unwrap();
        let answer = mcp_tasks_wire::jsonrpc::Response::result(id, serde_json::json!({}));
        tx.send(answer.into()).unwrap();
        tokio::time::timeout(Duration::from_secs(1), tx.closed())
            .await
            .expect("the stream ended with the answer");
        let seen = frames(replay.resume(EventId { stream: 1, seq: 0 }).unwrap()).await;
        assert_eq!(ids(&seen), ["1-1", "1-2"]);
        assert!(seen[1].contains(r#""id":9"#));
    }

    /// Unknown streams, events never sent and events pushed out are refused, each for what
    /// it is; the session's bounds hold across streams.
    #[tokio::test(start_paused = true)]
    async fn bounds_hold_and_lost_cursors_are_refused() {
        let replay = unbudgeted(Limits {
            events: 4,
            bytes: 10_000,
            ..Limits::default()
        });
        let (tx, rx) = sink();
        let _c = replay.open(3, rx, None, CancellationToken::new(), false);
        for n in 1..=6 {
            tx.send(note(n)).unwrap();
        }
        settle().await;
        assert_eq!(replay.buffered().0, 4);
        let at = |seq| EventId { stream: 3, seq };
        assert!(matches!(replay.resume(at(1)), Err(Unresumable::Evicted(_))));
        assert!(matches!(replay.resume(at(7)), Err(Unresumable::NotSent(_))));
        let other = EventId { stream: 4, seq: 0 };
        assert!(matches!(
            replay.resume(other),
            Err(Unresumable::UnknownStream(_))
        ));
        assert!(replay.resume(at(2)).is_ok(), "3..=6 are all kept");

        let small = unbudgeted(Limits {
            bytes: 200,
            ..Limits::default()
        });
        let (tx, rx) = sink();
        let _c = small.open(1, rx, None, CancellationToken::new(), false);
        for n in 1..=10 {
            tx.send(note(n)).unwrap();
        }
        settle().await;
        let (events, bytes) = small.buffered();
        assert!(
            bytes <= 200 && events >= 1,
            "{events} events, {bytes} bytes"
        );
    }

    /// One stream keeps at most its own byte cap, so a flood on one exchange pushes out its
    /// own oldest events, not another stream's; an event larger than the cap is sent but not
    /// kept, and a resume from before it is refused rather than skipping it.
    #[tokio::test(start_paused = true)]
    async fn one_stream_keeps_at_most_its_cap() {
        let replay = unbudgeted(Limits {
            stream_bytes: 400,
            ..Limits::default()
        });
        let (quiet_tx, quiet_rx) = sink();
        let _quiet = replay.open(1, quiet_rx, None, CancellationToken::new(), false);
        quiet_tx.send(note(0)).unwrap();
        let (tx, rx) = sink();
        let loud = replay.open(2, rx, None, CancellationToken::new(), false);
        for n in 1..=20 {
            tx.send(note(n)).unwrap();
        }
        settle().await;
        let (events, bytes) = replay.buffered();
        assert!(bytes <= 400 + 100, "{events} events, {bytes} bytes");
        assert!(
            replay.resume(EventId { stream: 1, seq: 0 }).is_ok(),
            "the quiet stream kept its event"
        );
        assert!(matches!(
            replay.resume(EventId { stream: 2, seq: 1 }),
            Err(Unresumable::Evicted(_))
        ));

        let big = Notification::new(
            "notifications/message",
            Some(serde_json::json!({"blob": "x".repeat(1000)})),
        );
        tx.send(big.into()).unwrap();
        settle().await;
        assert!(matches!(
            replay.resume(EventId { stream: 2, seq: 20 }),
            Err(Unresumable::Evicted(_))
        ));
        assert!(replay.resume(EventId { stream: 2, seq: 21 }).is_ok());
        drop(loud);
    }

    /// The server-wide cap holds across sessions: the oldest stream's events go first, the
    /// newest stay resumable, and a session's bytes leave the count when it ends.
    #[tokio::test(start_paused = true)]
    async fn the_server_wide_cap_drops_the_oldest_streams_first() {
        let budget = Budget::new(600);
        let a = Replay::new(Limits::default(), budget.clone());
        let b = Replay::new(Limits::default(), budget.clone());
        let (a_tx, a_rx) = sink();
        let _a = a.open(1, a_rx, None, CancellationToken::new(), false);
        let (b_tx, b_rx) = sink();
        let _b = b.open(2, b_rx, None, CancellationToken::new(), false);
        for n in 0..4 {
            a_tx.send(note(n)).unwrap();
        }
        settle().await;
        let a_bytes = a.buffered().1;
        assert_eq!(budget.total(), a_bytes);
        for n in 0..4 {
            b_tx.send(note(n)).unwrap();
        }
        settle().await;
        assert!(budget.total() <= 600, "{} bytes kept", budget.total());
        assert_eq!(a.buffered(), (0, 0), "the oldest stream went first");
        assert!(matches!(
            a.resume(EventId { stream: 1, seq: 1 }),
            Err(Unresumable::Evicted(_))
        ));
        assert!(b.resume(EventId { stream: 2, seq: 0 }).is_ok());
        assert_eq!(budget.total(), b.buffered().1);

        b.clear();
        assert_eq!(budget.total(), 0, "an ended session frees its share");
    }

    /// A connection whose client stops reading is cut once too much waits unsent for it,
    /// rather than holding all that comes: the stream goes on into the log and a resume from
    /// the last event received gets the rest.
    #[tokio::test(start_paused = true)]
    async fn a_connection_nobody_reads_is_cut_and_the_stream_resumes() {
        let replay = unbudgeted(Limits {
            unsent_bytes: 500,
            ..Limits::default()
        });
        let (tx, rx) = sink();
        let stalled = replay.open(4, rx, None, CancellationToken::new(), false);
        for n in 1..=30 {
            tx.send(note(n)).unwrap();
            settle().await;
        }
        let got = frames(stalled).await;
        let bytes: usize = got.iter().map(String::len).sum();
        assert!(
            bytes <= 500 && got.len() < 30,
            "the stalled connection held {} frames, {bytes} bytes",
            got.len()
        );
        assert!(!tx.is_closed(), "the handler's sink stays open");
        let last = ids(&got).pop().unwrap();
        let resumed = replay.resume(last.parse().unwrap()).unwrap();
        drop(tx);
        let rest = frames(resumed).await;
        assert_eq!(got.len() + rest.len(), 30, "nothing lost, nothing twice");
    }

    /// A stream nobody resumes within the window is forgotten: its sink closes (so a waiting
    /// handler stops, as on a plain drop) and its id is unknown from then on.
    #[tokio::test(start_paused = true)]
    async fn unresumed_streams_are_forgotten_and_close_their_sink() {
        let budget = Budget::new(usize::MAX);
        let replay = Replay::new(
            Limits {
                window: Duration::from_millis(100),
                ..Limits::default()
            },
            budget.clone(),
        );
        let (tx, rx) = sink();
        drop(replay.open(5, rx, None, CancellationToken::new(), true));
        tx.send(note(1)).unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(!tx.is_closed());
        assert!(budget.total() > 0);
        tokio::time::sleep(Duration::from_millis(70)).await;
        settle().await;
        assert!(tx.is_closed(), "the sink closes when the window passes");
        assert!(matches!(
            replay.resume(EventId { stream: 5, seq: 0 }),
            Err(Unresumable::UnknownStream(_))
        ));
        assert_eq!(replay.buffered(), (0, 0));
        assert_eq!(budget.total(), 0);
    }

    /// At shutdown the GET streams end (their connections close after what they were sent,
    /// their sinks close) while a POST stream goes on to its answer.
    #[tokio::test(start_paused = true)]
    async fn ending_standing_streams_spares_post_streams() {
        let replay = unbudgeted(Limits::default());
        let (get_tx, get_rx) = sink();
        let standing = replay.open(1, get_rx, None, CancellationToken::new(), true);
        let (post_tx, post_rx) = sink();
        let post = replay.open(
            2,
            post_rx,
            Some(RequestId::Number(9)),
            CancellationToken::new(),
            true,
        );
        get_tx.send(note(1)).unwrap();
        settle().await;
        replay.end_standing();
        let standing = frames(standing).await;
        assert_eq!(ids(&standing), ["1-0", "1-1"], "{standing:?}");
        settle().await;
        assert!(get_tx.is_closed(), "the GET stream's sink closes");
        assert!(!post_tx.is_closed(), "the POST stream goes on");
        post_tx
            .send(
                mcp_tasks_wire::jsonrpc::Response::result(
                    RequestId::Number(9),
                    serde_json::json!({}),
                )
                .into(),
            )
            .unwrap();
        assert_eq!(ids(&frames(post).await), ["2-0", "2-1"]);
    }

    /// A resumed stream is carried by one connection at a time: a second resume ends the
    /// first connection instead of sending the same message twice.
    #[tokio::test(start_paused = true)]
    async fn a_second_resume_replaces_the_first() {
        let replay = unbudgeted(Limits::default());
        let (tx, rx) = sink();
        drop(replay.open(2, rx, None, CancellationToken::new(), true));
        let first = replay.resume(EventId { stream: 2, seq: 0 }).unwrap();
        let second = replay.resume(EventId { stream: 2, seq: 0 }).unwrap();
        tx.send(note(1)).unwrap();
        assert!(
            frames(first).await.is_empty(),
            "the replaced connection ends"
        );
        drop(tx);
        assert_eq!(ids(&frames(second).await), ["2-1"]);
    }

    /// Too many streams: the oldest detached ones make room.
    #[tokio::test(start_paused = true)]
    async fn crowded_sessions_forget_their_oldest_idle_streams() {
        let replay = unbudgeted(Limits {
            streams: 2,
            ..Limits::default()
        });
        let (tx1, rx1) = sink();
        drop(replay.open(1, rx1, None, CancellationToken::new(), false));
        let (_tx2, rx2) = sink();
        let _attached = replay.open(2, rx2, None, CancellationToken::new(), false);
        let (_tx3, rx3) = sink();
        let _also = replay.open(3, rx3, None, CancellationToken::new(), false);
        settle().await;
        assert!(tx1.is_closed(), "stream 1 was forgotten to make room");
        assert!(replay.resume(EventId { stream: 2, seq: 0 }).is_ok());
    }
}

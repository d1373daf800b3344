//! What a running server has open right now, counted for operators (issue 15 item 2): the
//! requests of the stateless era in flight and the SSE streams held open.
//!
//! These live beside the transports rather than in a metrics library: the counts are plain
//! atomics bumped by guards the transports already hold (a dropped guard is a closed stream,
//! however the client went), and the admin listener turns a [`ServerStats`] into whatever format
//! it serves. The sessions of the 2025-11-25 era are not counted here: the server's session
//! registry knows them ([`Server::stats`](super::Server::stats)).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The live counts of one server.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    stateless: Arc<AtomicUsize>,
    streams: Arc<AtomicUsize>,
}

impl Stats {
    /// Counts one request of the stateless era until the guard drops.
    pub(crate) fn stateless_request(&self) -> Counted {
        Counted::new(&self.stateless)
    }

    /// Counts one open SSE stream until the guard drops.
    pub(crate) fn stream(&self) -> Counted {
        Counted::new(&self.streams)
    }

    pub(crate) fn stateless_requests(&self) -> usize {
        self.stateless.load(Ordering::Acquire)
    }

    pub(crate) fn open_streams(&self) -> usize {
        self.streams.load(Ordering::Acquire)
    }
}

/// One thing counted while alive.
#[derive(Debug)]
pub(crate) struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A server's sessions, streams and refusals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Open MCP 2025-11-25 sessions that completed `initialize` (stdio and HTTP).
    pub sessions: usize,
    /// Requests of MCP 2026-07-28 being served, `subscriptions/listen` streams included: each
    /// is a session of its own for as long as it runs.
    pub stateless_requests: usize,
    /// SSE responses open on the HTTP transport: GET streams, streamed POST answers, resumed
    /// streams and `subscriptions/listen`.
    pub open_streams: usize,
    /// Task operations refused by the rate limit since the server started.
    pub rate_limited: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_counts_until_dropped() {
        let stats = Stats::default();
        let a = stats.stream();
        let b = stats.stream();
        let r = stats.stateless_request();
        assert_eq!((stats.open_streams(), stats.stateless_requests()), (2, 1));
        drop(a);
        drop(r);
        assert_eq!((stats.open_streams(), stats.stateless_requests()), (1, 0));
        drop(b);
        assert_eq!(stats.open_streams(), 0);
    }
}

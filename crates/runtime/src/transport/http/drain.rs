//! Counting the HTTP exchanges in flight, so a graceful shutdown can wait for them while the
//! listener stays open.
//!
//! An exchange can need another one to finish: a plain `tools/call` that asks the user a
//! question waits for the answer the client POSTs, on a new request and often a new
//! connection. Closing the listener when the shutdown begins (what a plain graceful shutdown
//! does) would make that answer impossible and the call hang for the whole grace period. So
//! while stopping, the server keeps accepting, refuses new *requests* (503), still takes the
//! answers and notifications they wait for, and only closes the listener once no exchange is
//! open: each one counts from the moment its request arrives until its response body (an SSE
//! stream, possibly) has ended.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::Notify;

/// The number of exchanges in flight.
///
/// Every request counts in and out, and only a shutdown waits, so the count is an atomic and
/// the waiter is woken only when it reaches zero: a `watch` channel would wake its (absent)
/// waiters twice per request, about 2% of a `tasks/get`'s CPU.
#[derive(Clone, Debug, Default)]
pub(super) struct Exchanges(Arc<Count>);

#[derive(Debug, Default)]
struct Count {
    open: AtomicUsize,
    none: Notify,
}

impl Exchanges {
    pub(super) fn new() -> Self {
        Self::default()
    }

    fn enter(&self) -> Open {
        self.0.open.fetch_add(1, Ordering::AcqRel);
        Open(self.0.clone())
    }

    /// Completes once no exchange is in flight.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub(super) async fn idle(&self) {
        loop {
            // Registered before the count is read, so a last exchange ending in between is
            // not missed.
            let none = self.0.none.notified();
            tokio::pin!(none);
            none.as_mut().enable();
            if self.0.open.load(Ordering::Acquire) == 0 {
                return;
            }
            none.await;
        }
    }
}

/// One exchange in flight, until dropped.
#[derive(Debug)]
struct Open(Arc<Count>);

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none.notify_waiters();
        }
    }
}

/// Middleware: counts each exchange from its request until its response body ends.
pub(super) async fn count(
    State(exchanges): State<Exchanges>,
    request: Request,
    next: Next,
) -> Response {
    let open = exchanges.enter();
    next.run(request)
        .await
        .map(|body| Body::new(Counted { body, _open: open }))
}

/// A response body that keeps its exchange counted while it is being sent.
struct Counted {
    body: Body,
    _open: Open,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count follows the exchanges, and `idle` waits for the last one.
    #[tokio::test]
    async fn idle_waits_for_the_last_exchange() {
        let exchanges = Exchanges::new();
        exchanges.idle().await;
        let first = exchanges.enter();
        let second = exchanges.enter();
        drop(first);
        let waiting = tokio::spawn({
            let exchanges = exchanges.clone();
            async move { exchanges.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one exchange is still open");
        drop(second);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("idle once the last exchange ends")
            .unwrap();
    }
}

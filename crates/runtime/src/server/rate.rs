//! Rate limits on task operations, per requestor (T-SEC-3).
//!
//! A generic cell rate limiter (the `governor` crate) keyed by the requestor: its auth owner,
//! or without one, its session. A request of MCP 2026-07-28 has a session of its own but
//! speaks for its caller's requestor (its connection, or its HTTP peer, `era`), so it is
//! limited as that caller. Only task operations count: `tools/call` with `params.task` (in
//! MCP 2026-07-28, every `tools/call`) and `tasks/*`; `initialize`, `ping` and `tools/list`
//! are never limited.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use mcp_tasks_engine::Requestor;
use mcp_tasks_wire::jsonrpc::ErrorObject;
use serde_json::json;

/// How many task operations a requestor may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained operations per second.
    pub per_second: NonZeroU32,
    /// Operations allowed at once after a quiet spell.
    pub burst: NonZeroU32,
}

/// As an operator reads it: `5/s, bursts of 10`.
impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s, bursts of {}", self.per_second, self.burst)
    }
}

/// How often stale keys are dropped, in checks; a key of a requestor that went quiet costs
/// memory until then.
const PRUNE_EVERY: u64 = 4096;

/// The limiter of one server.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    cells: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
    /// Operations refused so far, for operators.
    refused: AtomicU64,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            limit,
            cells: governor::RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }

    /// How many operations were refused since the limiter was made.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Admits one operation of `requestor`, or says when to retry.
    pub(crate) fn check(&self, requestor: &Requestor) -> Result<(), ErrorObject> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.cells.retain_recent();
            self.cells.shrink_to_fit();
        }
        let key = match (&requestor.owner, &requestor.session) {
            (Some(owner), _) => format!("owner:{owner}"),
            (None, Some(session)) => format!("session:{session}"),
            (None, None) => "anonymous".to_owned(),
        };
        self.cells.check_key(&key).map_err(|not_until| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            ErrorObject::internal(format!(
                "rate limit exceeded: this requestor may make {} task requests per second \
                 (bursts of {}); retry in {ms} ms",
                self.limit.per_second, self.limit.burst
            ))
            .with_data(json!({"retryAfterMs": ms}))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-SEC-3: a burst above the limit is refused with -32603 saying when to retry; other
    /// requestors are not affected.
    #[test]
    fn bursts_above_the_limit_are_refused_per_requestor() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        });
        let a = Requestor::anonymous("a");
        for _ in 0..3 {
            limiter.check(&a).unwrap();
        }
        let refused = limiter.check(&a).unwrap_err();
        assert_eq!(refused.code.0, -32603);
        assert!(refused.message.contains("retry in"), "{}", refused.message);
        assert!(refused.data.unwrap()["retryAfterMs"].as_u64().unwrap() > 0);
        limiter.check(&Requestor::anonymous("b")).unwrap();
        assert_eq!(limiter.refused(), 1);
    }
}

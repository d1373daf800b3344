//! What a client saw, recorded without sharing: each client keeps its own latency histograms
//! and counts, and they are merged once the run is over, so recording an operation takes no
//! lock and touches no other thread's memory.
//!
//! Latencies are in microseconds, with three significant digits (HdrHistogram); a histogram
//! grows with the largest latency it holds, so an idle kind costs nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cli::BenchKind;

/// The kinds of operation, in the order of [`BenchKind`].
pub(crate) const KINDS: [BenchKind; 4] = [
    BenchKind::Call,
    BenchKind::Task,
    BenchKind::Poll,
    BenchKind::Get,
];

/// The largest latency recorded, an hour in microseconds; longer ones count as an hour.
const MAX_MICROS: u64 = 3_600_000_000;

fn slot(kind: BenchKind) -> usize {
    match kind {
        BenchKind::Call => 0,
        BenchKind::Task => 1,
        BenchKind::Poll => 2,
        BenchKind::Get => 3,
    }
}

/// The operations of one kind.
#[derive(Debug)]
pub(crate) struct KindStats {
    /// Operations recorded, succeeded or not.
    pub(crate) ops: u64,
    /// Latencies of those that succeeded, in microseconds.
    pub(crate) latency: Histogram<u32>,
}

impl KindStats {
    fn new() -> Self {
        Self {
            ops: 0,
            latency: Histogram::new(3).expect("3 significant digits are allowed"),
        }
    }
}

/// How often one kind of error came, and what it said the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorCount {
    pub(crate) count: u64,
    pub(crate) first: String,
}

/// One client's record of the measured operations.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    kinds: [Option<KindStats>; 4],
    /// Errors by kind (`connect`, `http-503`, `rpc--32602`, `timeout`…).
    pub(crate) errors: BTreeMap<String, ErrorCount>,
    /// HTTP requests the recorded operations made.
    pub(crate) http_requests: u64,
    /// Recorded operations whose call became a task.
    pub(crate) tasks_made: u64,
    /// When the last recorded operation ended.
    pub(crate) last: Option<Instant>,
}

impl Recorder {
    /// Records a successful operation of `kind` that took `latency`.
    pub(crate) fn ok(&mut self, kind: BenchKind, latency: Duration) {
        let stats = self.kinds[slot(kind)].get_or_insert_with(KindStats::new);
        stats.ops += 1;
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        // `record`, not `saturating_record`: the latter clamps to the histogram's current
        // range instead of growing it.
        stats
            .latency
            .record(micros)
            .expect("an auto-resizing histogram takes any value up to its limit");
    }

    /// Records a failed operation of `kind`: the error's kind and what it said.
    pub(crate) fn error(&mut self, kind: BenchKind, error: &str, message: impl FnOnce() -> String) {
        self.kinds[slot(kind)]
            .get_or_insert_with(KindStats::new)
            .ops += 1;
        match self.errors.get_mut(error) {
            Some(e) => e.count += 1,
            None => {
                self.errors.insert(
                    error.to_owned(),
                    ErrorCount {
                        count: 1,
                        first: message(),
                    },
                );
            }
        }
    }

    /// Adds `other`'s record to this one.
    pub(crate) fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.kinds.iter_mut().zip(other.kinds) {
            let Some(theirs) = theirs else { continue };
            match mine {
                Some(m) => {
                    m.ops += theirs.ops;
                    m.latency
                        .add(&theirs.latency)
                        .expect("auto-resizing histograms can always be added");
                }
                None => *mine = Some(theirs),
            }
        }
        for (kind, e) in other.errors {
            match self.errors.get_mut(&kind) {
                Some(mine) => mine.count += e.count,
                None => {
                    self.errors.insert(kind, e);
                }
            }
        }
        self.http_requests += other.http_requests;
        self.tasks_made += other.tasks_made;
        self.last = self.last.max(other.last);
    }

    /// The record of one kind, if any operation of it was recorded.
    pub(crate) fn kind(&self, kind: BenchKind) -> Option<&KindStats> {
        self.kinds[slot(kind)].as_ref()
    }

    /// Every kind's operations together.
    pub(crate) fn total(&self) -> KindStats {
        let mut all = KindStats::new();
        for k in self.kinds.iter().flatten() {
            all.ops += k.ops;
            all.latency
                .add(&k.latency)
                .expect("auto-resizing histograms can always be added");
        }
        all
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Latency {
    pub(crate) min: f64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Latency {
    /// The percentiles of `h` (microseconds), or `None` when it holds nothing.
    pub(crate) fn of(h: &Histogram<u32>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        // Microseconds to milliseconds, to the microsecond.
        let ms = |us: f64| (us).round() / 1000.0;
        #[allow(clippy::cast_precision_loss)]
        let at = |q: f64| ms(h.value_at_quantile(q) as f64);
        #[allow(clippy::cast_precision_loss)]
        Some(Self {
            min: ms(h.min() as f64),
            mean: ms(h.mean()),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: ms(h.max() as f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merging two clients' records adds their operations, errors and histograms, keeps the
    /// first message of each error kind, and the latest end.
    #[test]
    fn records_merge() {
        let now = Instant::now();
        let mut a = Recorder::default();
        for ms in 1..=100 {
            a.ok(BenchKind::Call, Duration::from_millis(ms));
        }
        a.error(BenchKind::Call, "timeout", || "first".into());
        a.http_requests = 101;
        a.last = Some(now);
        let mut b = Recorder::default();
        for ms in 101..=200 {
            b.ok(BenchKind::Get, Duration::from_millis(ms));
        }
        b.error(BenchKind::Get, "timeout", || "second".into());
        b.error(BenchKind::Get, "rpc--32602", || "no tool".into());
        b.tasks_made = 3;
        b.http_requests = 102;
        b.last = Some(now + Duration::from_secs(1));
        a.merge(b);

        assert_eq!(a.kind(BenchKind::Call).unwrap().ops, 101);
        assert_eq!(a.kind(BenchKind::Get).unwrap().ops, 102);
        assert!(a.kind(BenchKind::Task).is_none());
        assert_eq!(a.errors.values().map(|e| e.count).sum::<u64>(), 3);
        assert_eq!(
            a.errors["timeout"],
            ErrorCount {
                count: 2,
                first: "first".into()
            }
        );
        assert_eq!(a.errors["rpc--32602"].count, 1);
        assert_eq!((a.http_requests, a.tasks_made), (203, 3));
        assert_eq!(a.last, Some(now + Duration::from_secs(1)));

        let total = a.total();
        assert_eq!(total.ops, 203);
        assert_eq!(total.latency.len(), 200);
        let l = Latency::of(&total.latency).unwrap();
        assert!((l.min - 1.0).abs() < 0.01, "{l:?}");
        assert!((l.max - 200.0).abs() < 0.2, "{l:?}");
        assert!((l.p50 - 100.0).abs() < 0.2, "{l:?}");
        assert!((l.mean - 100.5).abs() < 0.2, "{l:?}");
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
        assert!(Latency::of(&KindStats::new().latency).is_none());
    }
}

//! What a run measured: one JSON document (`--json`), or a short summary for people. The
//! JSON's fields are documented in docs/bench.md; scripts read them, so they are only added
//! to, never renamed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::stats::{ErrorCount, Latency, Recorder, KINDS};

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) mode: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) urls: Vec<String>,
    pub(crate) clients: usize,
    /// Operations per second asked for (open loop); `null` for the closed loop.
    pub(crate) rate: Option<f64>,
    pub(crate) warmup_s: f64,
    /// The measured window: from the end of the warm-up to the end of the last measured
    /// operation.
    pub(crate) duration_s: f64,
    /// `--count`, when the window was a count of operations.
    pub(crate) count: Option<u64>,
    /// Ctrl-C ended the run early.
    pub(crate) interrupted: bool,
    pub(crate) ops: u64,
    pub(crate) ops_per_s: f64,
    pub(crate) ok: u64,
    /// Failed operations by kind of error.
    pub(crate) errors: BTreeMap<String, u64>,
    /// What the first error of each kind said.
    pub(crate) error_messages: BTreeMap<String, String>,
    /// Operations due when no client was free (open loop).
    pub(crate) late: u64,
    /// Percentiles of the operations that succeeded; `null` when none did.
    pub(crate) latency_ms: Option<Latency>,
    pub(crate) per_kind: BTreeMap<&'static str, KindReport>,
    /// Operations whose call became a task.
    pub(crate) tasks_made: u64,
    /// HTTP requests the measured operations made.
    pub(crate) http_requests: u64,
    pub(crate) idle: IdleReport,
    /// `null` without --server-pid.
    pub(crate) server: Option<ServerReport>,
}

/// The operations of one kind.
#[derive(Debug, Serialize)]
pub(crate) struct KindReport {
    pub(crate) ops: u64,
    pub(crate) ok: u64,
    pub(crate) ops_per_s: f64,
    pub(crate) latency_ms: Option<Latency>,
}

/// The idle load that was held.
#[derive(Debug, Serialize)]
pub(crate) struct IdleReport {
    pub(crate) sessions: usize,
    pub(crate) waiters: usize,
    pub(crate) waiters_cancelled: usize,
    /// Why some did not open, by kind.
    pub(crate) failures: BTreeMap<String, u64>,
}

/// Resident memory at three moments, in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Rss {
    /// Before the idle load was opened.
    pub(crate) start: Option<u64>,
    /// Once it was open, before the warm-up.
    pub(crate) after_idle: Option<u64>,
    /// After the measured window.
    pub(crate) end: Option<u64>,
}

/// One server process.
#[derive(Debug, Serialize)]
pub(crate) struct PidReport {
    pub(crate) pid: u32,
    pub(crate) cpu_s: Option<f64>,
    pub(crate) rss_kib: Rss,
}

/// The server's processes, summed and each.
#[derive(Debug, Serialize)]
pub(crate) struct ServerReport {
    /// CPU time over the measured window, user and system.
    pub(crate) cpu_s: Option<f64>,
    pub(crate) cpu_us_per_op: Option<f64>,
    pub(crate) rss_kib: Rss,
    pub(crate) pids: Vec<PidReport>,
}

/// Per-second rate of `n` over `secs`.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        round(n as f64 / secs, 1)
    } else {
        0.0
    }
}

/// `x` to `digits` decimals, so the JSON does not show float noise.
pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The operation counts, errors and latencies of `record` over `secs`.
pub(crate) struct Counts {
    pub(crate) ops: u64,
    pub(crate) ok: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) error_messages: BTreeMap<String, String>,
    pub(crate) latency_ms: Option<Latency>,
    pub(crate) per_kind: BTreeMap<&'static str, KindReport>,
}

impl Counts {
    pub(crate) fn of(record: &Recorder, secs: f64) -> Self {
        let total = record.total();
        let mut per_kind = BTreeMap::new();
        for kind in KINDS {
            if let Some(k) = record.kind(kind) {
                let ok = k.latency.len();
                per_kind.insert(
                    kind.name(),
                    KindReport {
                        ops: k.ops,
                        ok,
                        ops_per_s: per_second(k.ops, secs),
                        latency_ms: Latency::of(&k.latency),
                    },
                );
            }
        }
        Self {
            ops: total.ops,
            ok: total.latency.len(),
            errors: record
                .errors
                .iter()
                .map(|(k, ErrorCount { count, .. })| (k.clone(), *count))
                .collect(),
            error_messages: record
                .errors
                .iter()
                .map(|(k, e)| (k.clone(), e.first.clone()))
                .collect(),
            latency_ms: Latency::of(&total.latency),
            per_kind,
        }
    }
}

impl Report {
    /// The summary for people.
    pub(crate) fn text(&self) -> String {
        let mut t = String::new();
        let mut line = |s: String| {
            t.push_str(&s);
            t.push('\n');
        };
        let looped = match self.rate {
            Some(r) => format!("open loop at {r} ops/s"),
            None => "closed loop".to_owned(),
        };
        line(format!(
            "bench: {} mode, MCP {}, {} client{}, {looped}, {}",
            self.mode,
            self.protocol,
            self.clients,
            if self.clients == 1 { "" } else { "s" },
            self.urls.join(" ")
        ));
        let ended = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        line(format!(
            "  measured {:.2} s after a {:.2} s warm-up{ended}: {} ops, {} ops/s",
            self.duration_s, self.warmup_s, self.ops, self.ops_per_s
        ));
        #[allow(clippy::cast_precision_loss)]
        let per_op = if self.ops > 0 {
            format!(
                ", {:.2} HTTP requests per op",
                self.http_requests as f64 / self.ops as f64
            )
        } else {
            String::new()
        };
        let errors: u64 = self.errors.values().sum();
        line(format!("  ok {}, errors {errors}{per_op}", self.ok));
        for (kind, n) in &self.errors {
            let said = self.error_messages.get(kind).map_or("", String::as_str);
            line(format!("    {kind}: {n} (first: {said})"));
        }
        if self.rate.is_some() {
            line(format!("  late (no client free when due): {}", self.late));
        }
        match &self.latency_ms {
            Some(l) => line(format!("  latency ms: {}", latency(l))),
            None => line("  latency: no operation succeeded".to_owned()),
        }
        if self.per_kind.len() > 1 {
            for (kind, k) in &self.per_kind {
                let l = k.latency_ms.as_ref().map_or_else(
                    || "no operation succeeded".to_owned(),
                    |l| format!("p50 {} ms, p99 {} ms", l.p50, l.p99),
                );
                line(format!(
                    "    {kind}: {} ops ({} ok), {} ops/s, {l}",
                    k.ops, k.ok, k.ops_per_s
                ));
            }
        }
        if self.per_kind.keys().any(|k| matches!(*k, "task" | "poll")) {
            line(format!(
                "  operations that became tasks: {}",
                self.tasks_made
            ));
        }
        if self.idle.sessions + self.idle.waiters > 0 || !self.idle.failures.is_empty() {
            let mut s = format!(
                "  idle: {} sessions, {} waiters ({} cancelled at the end)",
                self.idle.sessions, self.idle.waiters, self.idle.waiters_cancelled
            );
            for (kind, n) in &self.idle.failures {
                let _ = write!(s, "; {n} failed ({kind})");
            }
            line(s);
        }
        if let Some(server) = &self.server {
            let cpu = match (server.cpu_s, server.cpu_us_per_op) {
                (Some(c), Some(per)) => format!(
                    "{c:.2} s CPU ({:.0}% of one core), {per:.1} µs per op",
                    100.0 * c / self.duration_s.max(f64::MIN_POSITIVE)
                ),
                (Some(c), None) => format!("{c:.2} s CPU"),
                _ => "CPU not measured".to_owned(),
            };
            let kib = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
            line(format!(
                "  server: {cpu}; RSS KiB {} at start, {} with the idle load, {} at the end",
                kib(server.rss_kib.start),
                kib(server.rss_kib.after_idle),
                kib(server.rss_kib.end)
            ));
        }
        t
    }
}

fn latency(l: &Latency) -> String {
    format!(
        "min {}  mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        l.min, l.mean, l.p50, l.p90, l.p99, l.p999, l.max
    )
}

//! The measured run: every client runs operations, closed loop (each sends its next when the
//! last is answered) or open loop (a scheduler issues them at fixed times to whichever client
//! is free), and records those that belong to the measured window in its own [`Recorder`].
//!
//! An operation belongs to the window when it started (closed loop) or was due (open loop)
//! within it: after the warm-up, and before its end or among the first `--count`. Each is
//! waited for to its end, so the slow ones are never left out; the window's length is then
//! from its start to when the last recorded operation ended.
//!
//! In the open loop, latency counts from when the operation was due, not from when a client
//! took it: a server that falls behind shows its queue in the latency instead of slowing the
//! load down (no coordinated omission). An operation due when no client is free is `late`.
//! The scheduler's timer has a resolution of about a millisecond, so operations are issued in
//! small bursts, each within a millisecond of its time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::Failure;
use super::ops::{Client, Shared};
use super::plan::Length;
use super::stats::Recorder;
use crate::cli::BenchKind;

/// When measuring starts and ends.
#[derive(Debug)]
pub(crate) struct Window {
    /// The end of the warm-up.
    pub(crate) start: Instant,
    /// The end of a timed window.
    end: Option<Instant>,
    /// How many operations a counted window takes.
    count: Option<u64>,
    /// Operations admitted to a counted window so far.
    admitted: AtomicU64,
}

impl Window {
    /// The window after a warm-up of `warmup` from `now`.
    pub(crate) fn new(now: Instant, warmup: Duration, length: Length) -> Self {
        let start = now + warmup;
        let (end, count) = match length {
            Length::Time(d) => (Some(start + d), None),
            Length::Count(n) => (None, Some(n)),
        };
        Self {
            start,
            end,
            count,
            admitted: AtomicU64::new(0),
        }
    }

    /// Whether an operation starting (or due) at `at`, after the warm-up, is measured;
    /// `false` once the window is over.
    fn admit(&self, at: Instant) -> bool {
        match (self.end, self.count) {
            (Some(end), _) => at < end,
            (None, Some(n)) => self.admitted.fetch_add(1, Ordering::Relaxed) < n,
            (None, None) => false,
        }
    }
}

/// What the clients did.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) clients: Vec<Client>,
    pub(crate) record: Recorder,
    /// Operations due when no client was free (open loop).
    pub(crate) late: u64,
}

/// A client's counters before an operation, to record what the operation added.
#[derive(Debug, Clone, Copy)]
struct Before {
    requests: u64,
    tasks_made: u64,
}

impl Before {
    fn of(client: &Client) -> Self {
        Self {
            requests: client.requests(),
            tasks_made: client.tasks_made(),
        }
    }
}

/// Records one measured operation of `kind` that ran from `from` to `to`.
fn record(
    rec: &mut Recorder,
    kind: BenchKind,
    (from, to): (Instant, Instant),
    outcome: &Result<(), Failure>,
    client: &Client,
    before: Before,
) {
    rec.http_requests += client.requests() - before.requests;
    rec.tasks_made += client.tasks_made() - before.tasks_made;
    rec.last = Some(to.into_std());
    match outcome {
        Ok(()) => rec.ok(kind, to - from),
        Err(f) => rec.error(kind, &f.kind(), || f.message()),
    }
}

/// Runs the clients in a closed loop until the window is over or `stop`.
pub(crate) async fn closed(
    clients: Vec<Client>,
    shared: &Arc<Shared>,
    window: &Arc<Window>,
    stop: &CancellationToken,
) -> Ran {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (shared, window) = (shared.clone(), window.clone());
            // A token of its own: waiting on it locks nothing another client touches.
            let stop = stop.child_token();
            tokio::spawn(closed_client(client, shared, window, stop))
        })
        .collect();
    join(tasks, 0).await
}

async fn closed_client(
    mut client: Client,
    shared: Arc<Shared>,
    window: Arc<Window>,
    stop: CancellationToken,
) -> (Client, Recorder) {
    let schedule = &shared.plan.schedule;
    // Clients start at different places in the mix, so its kinds are spread at every moment.
    let mut step = client.index;
    let mut rec = Recorder::default();
    // Made once: a fresh one per operation would register with the token each time.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let started = Instant::now();
        let measured = started >= window.start;
        if measured && !window.admit(started) {
            break;
        }
        let kind = schedule[step % schedule.len()];
        step += 1;
        let before = Before::of(&client);
        let outcome = tokio::select! {
            biased;
            () = &mut stopped => break,
            outcome = client.op(kind) => outcome,
        };
        if measured {
            let span = (started, Instant::now());
            record(&mut rec, kind, span, &outcome, &client, before);
        }
    }
    (client, rec)
}

/// One operation for a client of the open loop.
#[derive(Debug)]
struct Job {
    due: Instant,
    kind: BenchKind,
    measured: bool,
}

/// Runs the clients in an open loop at `rate` operations per second until the window is over
/// or `stop`.
pub(crate) async fn open(
    clients: Vec<Client>,
    shared: &Arc<Shared>,
    window: &Arc<Window>,
    rate: f64,
    stop: &CancellationToken,
) -> Ran {
    let (free_tx, mut free_rx) = mpsc::unbounded_channel::<usize>();
    let mut jobs = Vec::with_capacity(clients.len());
    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let (tx, rx) = mpsc::channel::<Job>(1);
        jobs.push(tx);
        let _ = free_tx.send(client.index);
        let free = free_tx.clone();
        let stop = stop.child_token();
        tasks.push(tokio::spawn(open_client(client, rx, free, stop)));
    }
    drop(free_tx);
    let schedule = &shared.plan.schedule;
    let began = Instant::now();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    let mut late = 0;
    let mut issued: u64 = 0;
    loop {
        #[allow(clippy::cast_precision_loss)]
        let due = began + Duration::from_secs_f64(issued as f64 / rate);
        let measured = due >= window.start;
        if measured && !window.admit(due) {
            break;
        }
        if due > Instant::now() {
            tokio::select! {
                biased;
                () = &mut stopped => break,
                () = tokio::time::sleep_until(due) => {}
            }
        }
        let client = match free_rx.try_recv() {
            Ok(c) => c,
            Err(_) => {
                if measured {
                    late += 1;
                }
                tokio::select! {
                    biased;
                    () = &mut stopped => break,
                    c = free_rx.recv() => match c {
                        Some(c) => c,
                        None => break,
                    },
                }
            }
        };
        #[allow(clippy::cast_possible_truncation)]
        let kind = schedule[(issued % schedule.len() as u64) as usize];
        let job = Job {
            due,
            kind,
            measured,
        };
        if jobs[client].send(job).await.is_err() {
            break;
        }
        issued += 1;
    }
    // The clients end once their last job is done.
    drop(jobs);
    join(tasks, late).await
}

async fn open_client(
    mut client: Client,
    mut jobs: mpsc::Receiver<Job>,
    free: mpsc::UnboundedSender<usize>,
    stop: CancellationToken,
) -> (Client, Recorder) {
    let mut rec = Recorder::default();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let job = tokio::select! {
            biased;
            () = &mut stopped => break,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break,
            },
        };
        let before = Before::of(&client);
        let outcome = tokio::select! {
            biased;
            () = &mut stopped => break,
            outcome = client.op(job.kind) => outcome,
        };
        if job.measured {
            let span = (job.due, Instant::now());
            record(&mut rec, job.kind, span, &outcome, &client, before);
        }
        let _ = free.send(client.index);
    }
    (client, rec)
}

/// Waits for every client and merges their records.
async fn join(tasks: Vec<tokio::task::JoinHandle<(Client, Recorder)>>, late: u64) -> Ran {
    let mut clients = Vec::with_capacity(tasks.len());
    let mut record = Recorder::default();
    for t in tasks {
        match t.await {
            Ok((client, rec)) => {
                clients.push(client);
                record.merge(rec);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    Ran {
        clients,
        record,
        late,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timed window admits what starts before its end; a counted one admits exactly its
    /// count.
    #[test]
    fn windows_admit_by_time_or_count() {
        let now = Instant::now();
        let timed = Window::new(
            now,
            Duration::from_secs(1),
            Length::Time(Duration::from_secs(2)),
        );
        assert_eq!(timed.start, now + Duration::from_secs(1));
        assert!(timed.admit(now + Duration::from_millis(2999)));
        assert!(!timed.admit(now + Duration::from_secs(3)));
        let counted = Window::new(now, Duration::ZERO, Length::Count(3));
        let admitted = (0..10).filter(|_| counted.admit(now)).count();
        assert_eq!(admitted, 3);
    }
}

//! The one writer: a thread that applies every write, many per transaction (group commit).
//!
//! Durable creation costs one `fsync` per commit, not per task: while one batch commits, the
//! next requests queue, and the writer takes them all into the next transaction. Nobody is
//! answered before the commit that holds their write returns, so "answered" always means
//! "on disk" (T-NEW-5). Being the only writer also makes every read-check-write here atomic
//! without locks: the limit check and the insert, the read and the compare-and-swap of a
//! transition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tokio::sync::oneshot;

use super::cache::{Cache, Cached};
use super::health::Health;
use crate::history::{self, EventKind, TaskEvent};
use crate::store::row::{self, Deleted, Row};
use crate::store::{Change, ChangeEvent, ChangeSender};
use crate::task::{TaskId, TaskRecord, Transition};
use crate::{Error, Result};

/// A write and where its answer goes.
pub(super) enum Op {
    Create {
        record: Box<TaskRecord>,
        row: Box<Row>,
        limit: Option<usize>,
        reply: oneshot::Sender<Result<TaskRecord>>,
    },
    Transition {
        id: TaskId,
        change: Transition,
        now: jiff::Timestamp,
        reply: oneshot::Sender<Result<TaskRecord>>,
    },
    DeleteExpired {
        now: i64,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<TaskRecord>>>,
    },
    /// Appends an event that changes no state.
    Record {
        id: TaskId,
        at: jiff::Timestamp,
        kind: EventKind,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Deletes finished tasks last changed before `before`.
    Purge {
        before: i64,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<TaskRecord>>>,
    },
    /// Readiness asks, after a failed write, whether writes commit again ([`Writer::probe`]).
    Probe { reply: oneshot::Sender<Result<()>> },
}

/// What a write did, held until its transaction commits.
// Lives only in the batch's vector; boxing would cost an allocation per write.
#[allow(clippy::large_enum_variant)]
enum Done {
    Record(
        oneshot::Sender<Result<TaskRecord>>,
        Result<TaskRecord>,
        Option<ChangeEvent>,
    ),
    Deleted(oneshot::Sender<Result<Vec<TaskRecord>>>, Result<Deleted>),
    Recorded(oneshot::Sender<Result<()>>, Result<()>),
}

impl Done {
    /// The SQLite error code of the write's error, if it failed in SQLite.
    fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        let (Self::Record(_, Err(error), _)
        | Self::Deleted(_, Err(error))
        | Self::Recorded(_, Err(error))) = self
        else {
            return None;
        };
        match error {
            Error::Store { cause } => cause
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code),
            _ => None,
        }
    }

    /// The write's error, if it failed.
    fn error(&self) -> Option<String> {
        match self {
            Self::Record(_, Err(e), _) => Some(e.to_string()),
            Self::Deleted(_, Err(e)) | Self::Recorded(_, Err(e)) => Some(e.to_string()),
            _ => None,
        }
    }
}

/// Counters of the writer's work, for benchmarks and tests of the batching.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) writes: AtomicU64,
}

pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) ops: mpsc::Receiver<Op>,
    pub(super) feed: ChangeSender,
    pub(super) max_batch: usize,
    pub(super) label: String,
    pub(super) counters: Arc<Counters>,
    pub(super) health: Arc<Health>,
    pub(super) cache: Arc<Cache>,
}

/// What one write sees: the batch's transaction, and the tasks the batch changed before it,
/// which the [`Cache`] takes when (and only if) the transaction commits.
struct Scope<'a, 't> {
    tx: &'a Transaction<'t>,
    cache: &'a Cache,
    /// A task changed in this batch, or (`None`) deleted by it.
    changed: &'a mut HashMap<TaskId, Option<Cached>>,
}

impl Scope<'_, '_> {
    /// Task `id` as the batch has it so far: changed earlier in the batch, else as last
    /// committed (from the cache, or the file).
    fn current(&self, id: &TaskId) -> Result<Cached> {
        match self.changed.get(id) {
            Some(Some(cached)) => return Ok(cached.clone()),
            Some(None) => return Err(Error::NotFound { id: id.clone() }),
            None => {}
        }
        if let Some(cached) = self.cache.entry(id) {
            return Ok(cached);
        }
        let (created, json, last_event) = read(self.tx, id)?;
        Ok(Cached {
            record: Arc::new(row::decode(&json)?),
            created,
            last_event,
            bytes: json.len(),
        })
    }
}

impl Writer {
    /// Runs until every sender is gone.
    ///
    /// The connection of a lost store is never closed: closing checkpoints the log and then
    /// deletes it by name, which would delete whatever file now has that name (the copy an
    /// operator put back, or the log of another server's store).
    pub(super) fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Ok(first) = self.ops.recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match self.ops.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let deleted = self.commit(&mut batch);
            if deleted {
                self.reclaim();
            }
        }
        if self.health.is_lost() {
            std::mem::forget(self.conn);
        }
    }

    /// Applies and commits one batch, then answers it. Returns whether rows were deleted.
    ///
    /// The batch runs only while the path still names the opened file: a write to a deleted
    /// file is a write nobody will find again.
    fn commit(&mut self, batch: &mut Vec<Op>) -> bool {
        if let Err(e) = self.health.verify() {
            let message = match e {
                Error::Store { cause } => cause.to_string(),
                other => other.to_string(),
            };
            for op in batch.drain(..) {
                fail(op, &message);
            }
            return false;
        }
        let (probes, writes): (Vec<Op>, Vec<Op>) = batch
            .drain(..)
            .partition(|op| matches!(op, Op::Probe { .. }));
        let (deleted, failure) = if writes.is_empty() {
            (false, None)
        } else {
            self.commit_writes(writes)
        };
        // While faulted, a write that committed proves little (a small one fits where a task
        // does not): the store is healthy again once a probe commits.
        let health = match failure {
            Some(message) => {
                let cause = message
                    .strip_prefix(&format!("{}: ", self.label))
                    .unwrap_or(&message);
                Err(format!("{}: writes fail: {cause}", self.label))
            }
            None if self.health.fault().is_some() || !probes.is_empty() => {
                let probed = self.probe();
                match &probed {
                    Ok(()) => self.health.recovered(),
                    Err(message) => self.health.failed(message),
                }
                probed
            }
            None => Ok(()),
        };
        for probe in probes {
            if let Op::Probe { reply } = probe {
                let _ = reply.send(health.clone().map_err(Error::store));
            }
        }
        deleted
    }

    /// Whether there is room for a few tasks: 256 KiB written, committed, then deleted. A
    /// create can write some ten pages (the table, its history, and a page of each index the
    /// task is in, when each needs a new one), so a probe smaller than a few creates could
    /// pass while creates fail. Run only while faulted.
    fn probe(&mut self) -> std::result::Result<(), String> {
        let written = self.conn.execute_batch(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('probe', randomblob(262144));",
        );
        if let Err(e) = written {
            let code = e.sqlite_error_code();
            return Err(format!(
                "{}: writes fail: a test write just now failed: {e}; {}",
                self.label,
                advice(code)
            ));
        }
        // Left behind if this fails, the row is replaced by the next probe.
        if let Err(e) = self
            .conn
            .execute_batch("DELETE FROM meta WHERE name = 'probe';")
        {
            tracing::debug!(store = %self.label, error = %e, "removing the test write failed");
        }
        Ok(())
    }

    /// Applies and commits writes in one transaction, then answers them. Returns whether
    /// rows were deleted, and why the transaction failed if it did.
    fn commit_writes(&mut self, writes: Vec<Op>) -> (bool, Option<String>) {
        let mut ops = writes.into_iter();
        let mut done = Vec::with_capacity(ops.len());
        let mut deleted = false;
        let mut changed = HashMap::with_capacity(ops.len());
        // The SQLite error that undid the batch, for the advice that goes with it.
        let mut code = None;
        let committed = (|| -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut scope = Scope {
                tx: &tx,
                cache: &self.cache,
                changed: &mut changed,
            };
            for op in ops.by_ref() {
                let applied = apply(&mut scope, op, &mut deleted);
                // Some errors (a full disk, an I/O error) make SQLite roll the whole
                // transaction back; what came before must not be reported stored, and the
                // error that did it says why.
                if tx.is_autocommit() {
                    code = applied.sqlite_code();
                    let cause = applied
                        .error()
                        .unwrap_or_else(|| "an error SQLite did not name".to_owned());
                    done.push(applied);
                    return Err(super::schema::failure(format!(
                        "the transaction was rolled back by an error: {cause}"
                    )));
                }
                done.push(applied);
            }
            tx.commit()
        })();
        match committed {
            Ok(()) => {
                // Before anyone is answered or woken: a reader who hears of a change and reads
                // again must find it.
                self.cache.commit(changed);
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .writes
                    .fetch_add(done.len() as u64, Ordering::Relaxed);
                for d in done {
                    self.answer(d);
                }
                (deleted, None)
            }
            Err(e) => {
                // Nothing of the batch is stored: every writer in it hears so.
                let code = code.or_else(|| e.sqlite_error_code());
                let message = format!(
                    "{}: the write was not stored: {e}; {}",
                    self.label,
                    advice(code)
                );
                // Before anyone hears of the failure, so a readiness check that follows it
                // sees the fault.
                self.health.failed(&message);
                for d in done {
                    match d {
                        Done::Record(reply, ..) => {
                            let _ = reply.send(Err(Error::store(message.clone())));
                        }
                        Done::Deleted(reply, _) => {
                            let _ = reply.send(Err(Error::store(message.clone())));
                        }
                        Done::Recorded(reply, _) => {
                            let _ = reply.send(Err(Error::store(message.clone())));
                        }
                    }
                }
                for op in ops {
                    fail(op, &message);
                }
                (false, Some(message))
            }
        }
    }

    /// Answers a committed write's writer, then publishes it on the feed: the writer, woken
    /// first, gets to note what it did (the engine's audit line of a task's end) before those
    /// who wait on the change hear of it.
    fn answer(&self, done: Done) {
        match done {
            Done::Record(reply, result, event) => {
                let change = match (&result, event) {
                    (Ok(r), Some(event)) => Some(Change {
                        id: r.id.clone(),
                        event,
                    }),
                    _ => None,
                };
                let _ = reply.send(result);
                if let Some(change) = change {
                    self.feed.send(change);
                }
            }
            Done::Deleted(reply, result) => {
                let result = result.map(|gone| gone.publish(&self.label, &self.feed));
                let _ = reply.send(result);
            }
            Done::Recorded(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }

    /// Gives freed pages back to the file system after the sweeper deleted tasks, so a burst
    /// that expired leaves no lasting growth.
    fn reclaim(&mut self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA incremental_vacuum(2048);") {
            tracing::warn!(store = %self.label, error = %e, "reclaiming free pages failed");
        }
    }
}

/// What an operator should do about a write transaction that SQLite undid with `code`.
/// Tasks stored before are never touched by a failed transaction, and reads go on.
fn advice(code: Option<rusqlite::ErrorCode>) -> &'static str {
    use rusqlite::ErrorCode;
    match code {
        Some(ErrorCode::DiskFull) => {
            "the disk (or the store's size limit) is full: free space, or delete finished tasks \
             (mcp-tasks admin purge); tasks stored before are intact and can still be read"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            "the file or its file system is read-only: make it writable again; tasks stored \
             before are intact and can still be read"
        }
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => {
            "the file system refused the write (no space, a file size limit, a read-only or \
             immutable file, or a failing disk): fix it and writes resume; tasks stored \
             before are intact and can still be read"
        }
        _ => "tasks stored before are intact and can still be read",
    }
}

/// Applies one write inside the batch's transaction; its answer waits for the commit.
fn apply(scope: &mut Scope<'_, '_>, op: Op, deleted: &mut bool) -> Done {
    match op {
        Op::Create {
            record,
            row,
            limit,
            reply,
        } => {
            let result = create(scope, *record, &row, limit);
            let event = result.is_ok().then_some(ChangeEvent::Created);
            Done::Record(reply, result, event)
        }
        Op::Transition {
            id,
            change,
            now,
            reply,
        } => {
            let (result, changed) = match transition(scope, &id, change, now) {
                Ok((r, changed)) => (Ok(r), changed),
                Err(e) => (Err(e), false),
            };
            let event = match &result {
                Ok(r) if changed => Some(ChangeEvent::Updated(r.status())),
                _ => None,
            };
            Done::Record(reply, result, event)
        }
        Op::DeleteExpired { now, limit, reply } => {
            let result = delete_expired(scope, now, limit);
            *deleted |= result.as_ref().is_ok_and(|g| !g.is_empty());
            Done::Deleted(reply, result)
        }
        Op::Record {
            id,
            at,
            kind,
            reply,
        } => Done::Recorded(reply, record(scope, &id, at, kind)),
        Op::Purge {
            before,
            limit,
            reply,
        } => {
            let result = purge(scope, before, limit);
            *deleted |= result.as_ref().is_ok_and(|g| !g.is_empty());
            Done::Deleted(reply, result)
        }
        // Taken out of the batch before it runs (`Writer::commit`).
        Op::Probe { reply } => Done::Recorded(reply, Ok(())),
    }
}

fn fail(op: Op, message: &str) {
    match op {
        Op::Create { reply, .. } | Op::Transition { reply, .. } => {
            let _ = reply.send(Err(Error::store(message.to_owned())));
        }
        Op::DeleteExpired { reply, .. } | Op::Purge { reply, .. } => {
            let _ = reply.send(Err(Error::store(message.to_owned())));
        }
        Op::Record { reply, .. } | Op::Probe { reply } => {
            let _ = reply.send(Err(Error::store(message.to_owned())));
        }
    }
}

/// Runs `f` so that its writes are all kept or all undone, while the batch's transaction goes
/// on: a write whose second half fails must not commit its first with the others.
///
/// Some errors (a full disk, an I/O error) make SQLite roll the whole transaction back, and
/// the savepoint with it; undoing to the savepoint then fails too. The write's own error is
/// the one that says why, so it is the one returned (the batch fails as a whole, see
/// [`Writer::commit`]). Opening and releasing the savepoint are prepared once per connection:
/// every write runs them.
fn atomically<T>(tx: &Transaction<'_>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    tx.prepare_cached("SAVEPOINT write")
        .and_then(|mut s| s.execute([]))
        .map_err(sql)?;
    match f() {
        Ok(v) => {
            tx.prepare_cached("RELEASE write")
                .and_then(|mut s| s.execute([]))
                .map_err(sql)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(undo) = tx.execute_batch("ROLLBACK TO write; RELEASE write") {
                tracing::debug!(error = %undo, cause = %e, "undoing a failed write: the transaction is already rolled back");
            }
            Err(e)
        }
    }
}

/// Where a task's history is: the task's creation time (the `created_at` of its row) and id.
#[derive(Clone, Copy)]
struct HistoryOf<'a> {
    created: i64,
    id: &'a str,
}

/// Appends an event to the history of `record`, numbered after its `last` (0 for a new task).
fn append(
    tx: &Transaction<'_>,
    of: HistoryOf<'_>,
    last: i64,
    record: &TaskRecord,
    at: jiff::Timestamp,
    kind: EventKind,
) -> Result<()> {
    let seq = u64::try_from(last).unwrap_or(0) + 1;
    let body = row::encode_event(&TaskEvent::new(seq, at, record, kind))?;
    tx.prepare_cached(
        "INSERT INTO task_events (task_created, task_id, seq, at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![of.created, of.id, last + 1, row::nanos(at), body]))
    .map_err(sql)?;
    Ok(())
}

fn sql(e: rusqlite::Error) -> Error {
    Error::store(e)
}

fn create(
    scope: &mut Scope<'_, '_>,
    record: TaskRecord,
    row: &Row,
    limit: Option<usize>,
) -> Result<TaskRecord> {
    let tx = scope.tx;
    if let Some(limit) = limit {
        let live: i64 = match &row.owner {
            Some(owner) => tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM tasks WHERE owner = ?1 \
                     AND status IN ('working', 'input_required')",
                )
                .and_then(|mut s| s.query_row([owner], |r| r.get(0))),
            None => tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM tasks WHERE owner IS NULL AND session IS ?1 \
                     AND status IN ('working', 'input_required')",
                )
                .and_then(|mut s| s.query_row([&row.session], |r| r.get(0))),
        }
        .map_err(sql)?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= limit {
            return Err(Error::LimitExceeded { limit });
        }
    }
    atomically(tx, || {
        insert(tx, &record, row)?;
        let of = HistoryOf {
            created: row.created_at,
            id: &row.id,
        };
        // Its first event: the insert just succeeded, so the task had none.
        append(
            tx,
            of,
            0,
            &record,
            record.created_at,
            EventKind::created(&record),
        )
    })?;
    let cached = Cached {
        record: Arc::new(record.clone()),
        created: row.created_at,
        last_event: 1,
        bytes: row.record.len(),
    };
    scope.changed.insert(record.id.clone(), Some(cached));
    Ok(record)
}

fn insert(tx: &Transaction<'_>, record: &TaskRecord, row: &Row) -> Result<()> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO tasks \
             (id, owner, session, status, name, created_at, updated_at, expires_at, runner, record) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .and_then(|mut s| {
            s.execute(params![
                row.id,
                row.owner,
                row.session,
                row.status,
                row.name,
                row.created_at,
                row.updated_at,
                row.expires_at,
                row.runner,
                row.record
            ])
        });
    match inserted {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(Error::store(format!(
                "task id {} already exists",
                record.id
            )))
        }
        Err(e) => Err(sql(e)),
    }
}

fn transition(
    scope: &mut Scope<'_, '_>,
    id: &TaskId,
    change: Transition,
    now: jiff::Timestamp,
) -> Result<(TaskRecord, bool)> {
    let tx = scope.tx;
    let current = scope.current(id)?;
    let mut record = TaskRecord::clone(&current.record);
    let Some(event) = history::apply(&mut record, change, now)? else {
        return Ok((record, false));
    };
    let row = Row::of(&record)?;
    atomically(tx, || {
        tx.prepare_cached(
            "UPDATE tasks SET status = ?2, runner = ?3, record = ?4, updated_at = ?5 WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                row.id,
                row.status,
                row.runner,
                row.record,
                row.updated_at
            ])
        })
        .map_err(sql)?;
        let of = HistoryOf {
            created: current.created,
            id: id.as_str(),
        };
        append(tx, of, current.last_event, &record, now, event)
    })?;
    let cached = Cached {
        record: Arc::new(record.clone()),
        created: current.created,
        last_event: current.last_event + 1,
        bytes: row.record.len(),
    };
    scope.changed.insert(id.clone(), Some(cached));
    Ok((record, true))
}

fn record(
    scope: &mut Scope<'_, '_>,
    id: &TaskId,
    at: jiff::Timestamp,
    kind: EventKind,
) -> Result<()> {
    let current = scope.current(id)?;
    history::recordable(&current.record, &kind)?;
    let of = HistoryOf {
        created: current.created,
        id: id.as_str(),
    };
    append(scope.tx, of, current.last_event, &current.record, at, kind)?;
    let last_event = current.last_event + 1;
    scope.changed.insert(
        id.clone(),
        Some(Cached {
            last_event,
            ..current
        }),
    );
    Ok(())
}

/// The stored creation time, record and last history event number of task `id`: the time as
/// the row has it, since that is what its history is filed under.
fn read(tx: &Transaction<'_>, id: &TaskId) -> Result<(i64, String, i64)> {
    tx.prepare_cached(
        "SELECT created_at, record, \
         (SELECT COALESCE(MAX(seq), 0) FROM task_events \
          WHERE task_created = tasks.created_at AND task_id = tasks.id) \
         FROM tasks WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
    })
    .map_err(sql)?
    .ok_or_else(|| Error::NotFound { id: id.clone() })
}

/// Deletes finished tasks last changed before `before`, oldest first; their history goes with
/// them (a trigger).
///
/// The index is named: with an equality on the status, SQLite would rather read the
/// finished tasks' ranges of `tasks_by_status` whole and sort them by time.
fn purge(scope: &mut Scope<'_, '_>, before: i64, limit: usize) -> Result<Deleted> {
    delete(
        scope,
        "DELETE FROM tasks WHERE id IN \
         (SELECT id FROM tasks INDEXED BY tasks_finished_by_update \
         WHERE status IN ('completed', 'failed', 'cancelled') \
         AND updated_at < ?1 ORDER BY updated_at LIMIT ?2) \
         RETURNING id, record",
        before,
        limit,
    )
}

fn delete_expired(scope: &mut Scope<'_, '_>, now: i64, limit: usize) -> Result<Deleted> {
    delete(
        scope,
        "DELETE FROM tasks WHERE id IN \
         (SELECT id FROM tasks WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2) \
         RETURNING id, record",
        now,
        limit,
    )
}

/// Runs a `DELETE … RETURNING id, record` taking a time and a limit. SQLite deletes every row
/// at the first step, so the statement runs under a savepoint: an error while reading the rows
/// back undoes the deletion it reports as failed. A record that does not decode is no error
/// ([`Deleted`]).
fn delete(scope: &mut Scope<'_, '_>, sql: &str, at: i64, limit: usize) -> Result<Deleted> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let tx = scope.tx;
    let mut ids = Vec::new();
    let gone = atomically(tx, || {
        let mut stmt = tx.prepare_cached(sql).map_err(self::sql)?;
        let rows = stmt
            .query_map(params![at, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self::sql)?;
        let mut gone = Deleted::default();
        for row in rows {
            let (id, json) = row.map_err(self::sql)?;
            gone.push(&id, &json);
            ids.push(TaskId::from(id.as_str()));
        }
        Ok(gone)
    })?;
    scope.changed.extend(ids.into_iter().map(|id| (id, None)));
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Requestor;
    use serde_json::json;

    /// The health of a store on an in-memory database: its "file" is the test binary, which
    /// stays in place.
    fn test_health() -> Arc<Health> {
        use std::os::unix::fs::MetadataExt;
        let exe = std::env::current_exe().unwrap();
        let meta = std::fs::metadata(&exe).unwrap();
        Arc::new(Health::new(&exe, "test", (meta.dev(), meta.ino()), None))
    }

    /// A writer on `conn` taking `ops`, batches of up to 100.
    fn test_writer(conn: Connection, ops: mpsc::Receiver<Op>) -> Writer {
        Writer {
            conn,
            ops,
            feed: ChangeSender::new(16),
            max_batch: 100,
            label: "test".into(),
            counters: Arc::new(Counters::default()),
            health: test_health(),
            cache: Arc::default(),
        }
    }

    fn create_op() -> (Op, oneshot::Receiver<Result<TaskRecord>>) {
        create_op_of(TaskId::generate())
    }

    fn create_op_of(id: TaskId) -> (Op, oneshot::Receiver<Result<TaskRecord>>) {
        let record = super::super::cache::tests::bare_record(id, Requestor::anonymous("s"));
        let row = Row::of(&record).unwrap();
        let (reply, answer) = oneshot::channel();
        (
            Op::Create {
                record: Box::new(record),
                row: Box::new(row),
                limit: None,
                reply,
            },
            answer,
        )
    }

    /// T-NEW-5 at no throughput cost: writes that queue while the writer is busy share one
    /// commit, up to the batch size, and each is answered only after its commit.
    #[test]
    fn queued_writes_share_commits() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let (tx, rx) = mpsc::sync_channel(1000);
        let mut answers = Vec::new();
        for _ in 0..250 {
            let (op, answer) = create_op();
            tx.send(op).unwrap();
            answers.push(answer);
        }
        drop(tx);
        let writer = test_writer(conn, rx);
        let counters = writer.counters.clone();
        writer.run();
        assert_eq!(counters.writes.load(Ordering::Relaxed), 250);
        assert_eq!(
            counters.commits.load(Ordering::Relaxed),
            3,
            "100 + 100 + 50"
        );
        for mut a in answers {
            assert!(a.try_recv().unwrap().is_ok());
        }
    }

    /// Review of issue 15 (the cause was lost): when an error makes SQLite roll the whole
    /// transaction back, every write of the batch is refused, none is stored, and each hears
    /// the error that did it, not the failure to undo its savepoint.
    #[test]
    fn a_rolled_back_batch_names_its_cause() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON task_events WHEN NEW.task_id = 'bad' \
             BEGIN SELECT RAISE(ROLLBACK, 'the disk is on fire'); END;",
        )
        .unwrap();
        let (tx, rx) = mpsc::sync_channel(8);
        let mut answers = Vec::new();
        for id in [TaskId::generate(), TaskId::from("bad"), TaskId::generate()] {
            let (op, answer) = create_op_of(id);
            tx.send(op).unwrap();
            answers.push(answer);
        }
        drop(tx);
        let mut writer = test_writer(conn, rx);
        let mut batch: Vec<Op> = writer.ops.try_iter().collect();
        writer.commit(&mut batch);
        assert_eq!(writer.counters.commits.load(Ordering::Relaxed), 0);
        for mut answer in answers {
            let err = answer.try_recv().unwrap().unwrap_err().to_string();
            assert!(err.contains("the disk is on fire"), "{err}");
        }
        let tasks: i64 = writer
            .conn
            .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tasks, 0);
        let bad = writer.cache.get(None, &TaskId::from("bad"));
        assert!(bad.is_none(), "nothing undone is kept as committed");
    }

    /// A write sees the writes before it in its own batch, though they are not committed yet;
    /// the cache gets the state the commit left, with the history's last event number.
    #[test]
    fn a_batch_sees_its_own_writes_and_commits_them_to_the_cache() {
        use crate::task::{Outcome, TaskStatus};
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let (_, rx) = mpsc::sync_channel(1);
        let mut writer = test_writer(conn, rx);
        let id = TaskId::generate();
        let (create, mut created) = create_op_of(id.clone());
        let (reply, mut finished) = oneshot::channel();
        let later = jiff::Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_secs(1);
        let finish = Op::Transition {
            id: id.clone(),
            change: Transition::Finish(Outcome::Completed(json!({"ok": true}))),
            now: later,
            reply,
        };
        let (reply, mut noted) = oneshot::channel();
        let note = Op::Record {
            id: id.clone(),
            at: later,
            kind: EventKind::ResultRetrieved { by: None },
            reply,
        };
        writer.commit(&mut vec![create, finish, note]);
        assert!(created.try_recv().unwrap().is_ok());
        let done = finished.try_recv().unwrap().unwrap();
        assert_eq!(done.status(), TaskStatus::Completed);
        noted.try_recv().unwrap().unwrap();

        let kept = writer.cache.get(None, &id).expect("kept").expect("visible");
        assert_eq!(kept.status(), TaskStatus::Completed);
        assert_eq!(writer.cache.entry(&id).unwrap().last_event, 3);
        let seqs: Vec<i64> = writer
            .conn
            .prepare("SELECT seq FROM task_events WHERE task_id = ?1 ORDER BY seq")
            .unwrap()
            .query_map([id.as_str()], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(seqs, [1, 2, 3]);
    }
}

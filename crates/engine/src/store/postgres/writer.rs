//! The writers: every creation, transition and history event of a store, many per transaction
//! (group commit), with one notification per transaction.
//!
//! Why: PostgreSQL serializes the commits of transactions that sent `NOTIFY` (a lock held from
//! `PreCommit_Notify` through the commit's WAL flush), so notifying transactions cannot share
//! an fsync, and with one write per transaction, 64 writers are no faster than one. A writer
//! instead takes every write waiting when it is free, applies them all in one transaction,
//! sends their notes packed in one or a few `pg_notify` calls ([`notes`]) and commits. Nobody
//! is answered before the commit that holds their write returns (T-NEW-5), and the notes are
//! in that transaction, so a committed change is never left unannounced.
//!
//! A batch is two round trips, each a pipeline (every statement is sent before any answer is
//! read; the server runs them in the order sent), and one statement per kind of write rather
//! than per write (the server's cost per statement is most of a small write's):
//! 1. `BEGIN`; the advisory locks of limited creations, in sorted order, so two writers never
//!    wait on each other in a cycle; each limited creation, counting the requestor's live
//!    tasks after the lock; every other creation, in one `INSERT` over arrays; and the rows
//!    of the tasks that transitions and events touch, locked (`FOR UPDATE`, in id order).
//! 2. The transitions and events, applied in Rust to the locked records in the order they
//!    came (two writes of one task: the second sees the first); one `UPDATE` of the touched
//!    tasks' final states and one `INSERT` of their history events, numbered here; the notes;
//!    `COMMIT`. (Statements are split at a few MiB of text, so large results take several.)
//!
//! What refuses one write does not raise an SQL error, so it leaves the others alone: a
//! duplicate id (`ON CONFLICT DO NOTHING`, reported), the active-task limit (counted in the
//! insert), a transition the state machine refuses or an unknown task (decided in Rust). A
//! statement that does raise (a NUL byte in a runner's name, a deadlock with another
//! instance's writer) aborts the transaction: nothing of it committed, so each write is tried
//! again alone, and only the failing one fails. A broken connection fails its batch's writes
//! with the error a pooled request gets, and the next batch connects again. When the
//! connection breaks while the commit is under way, whether it committed is unknown: those
//! writes fail, as a lone write did before batching, and are not tried again.
//!
//! Two writers, each with its own connection, take turns at one queue: a writer keeps it
//! until its batch's `COMMIT` is sent, then the other takes what came meanwhile and applies
//! it while the first commit waits on the disk.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::{maybe_done, MaybeDone};
use futures::TryFutureExt;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use tokio_postgres::error::Severity;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Statement};

use super::listen::CHANNEL;
use super::notes::{self, Form};
use super::tls::Tls;
use super::{describe, seq, LIVE};
use crate::history::{self, EventKind, TaskEvent};
use crate::store::row::{self, Row};
use crate::store::{Change, ChangeEvent, ChangeSender};
use crate::task::{TaskId, TaskRecord, Transition};
use crate::{Error, Result};

/// Writers per store: with two, one applies a batch while the other's commit waits on the
/// disk. More cannot commit sooner (PostgreSQL commits notifying transactions one at a time)
/// and each holds a connection.
pub(super) const WRITERS: usize = 2;

/// The most writes in one transaction.
const MAX_BATCH: usize = 256;

/// How often a writer looks for listeners of older versions ([`notes::OLD_LISTENER`]), in
/// the first round trip of a batch: often enough that an older instance starting during a
/// rolling upgrade is found before it has had time to serve much (what it waits on in its
/// first quarter second may miss this instance's changes), and seldom enough that the look (a
/// scan of `pg_stat_activity`, one row per connection the server allows) costs nothing
/// measurable.
const OLD_LISTENERS_EVERY: Duration = Duration::from_millis(250);

/// A write, and where its answer goes: the task as the write left it.
pub(super) struct Op {
    pub(super) write: Write,
    pub(super) reply: oneshot::Sender<Result<TaskRecord>>,
}

/// What a write does.
pub(super) enum Write {
    /// Inserts the task with the first event of its history, `body`.
    Create {
        record: Box<TaskRecord>,
        row: Box<Row>,
        body: String,
        limit: Option<usize>,
    },
    /// Applies a transition and appends its event.
    Transition {
        id: TaskId,
        change: Transition,
        now: Timestamp,
    },
    /// Appends an event that changes no state.
    Record {
        id: TaskId,
        at: Timestamp,
        kind: EventKind,
    },
}

/// Counters of a store's writers' work, for tests of the batching.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Transactions committed.
    pub(super) commits: AtomicU64,
    /// Writes in them.
    pub(super) writes: AtomicU64,
    /// Batches that failed as a whole and were tried again one write at a time.
    pub(super) retried: AtomicU64,
}

/// The store's side: the queue the writers take from.
#[derive(Debug)]
pub(super) struct Writers {
    ops: mpsc::Sender<Op>,
    label: String,
}

impl Writers {
    /// Starts `count` writers; they stop once this is dropped and the queue is empty.
    pub(super) fn start(
        count: usize,
        config: Config,
        tls: Tls,
        feed: ChangeSender,
        label: String,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        let queue = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            config,
            tls,
            feed,
            label: label.clone(),
            counters: Arc::default(),
        });
        for _ in 0..count.max(1) {
            let writer = Writer::new(shared.clone());
            tokio::spawn(writer.run(queue.clone()));
        }
        Self { ops: tx, label }
    }

    /// Queues `write` and waits until the transaction holding it committed (or failed).
    pub(super) async fn write(&self, write: Write) -> Result<TaskRecord> {
        let (reply, answer) = oneshot::channel();
        if self.ops.send(Op { write, reply }).await.is_err() {
            return Err(self.stopped());
        }
        answer.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    fn stopped(&self) -> Error {
        Error::store(format!("{}: the store's writer stopped", self.label))
    }
}

/// What every writer of a store shares.
struct Shared {
    config: Config,
    tls: Tls,
    feed: ChangeSender,
    label: String,
    counters: Arc<Counters>,
}

/// One writer: its connection, when it has one, and how it sends notes.
pub(super) struct Writer {
    shared: Arc<Shared>,
    conn: Option<Conn>,
    form: Form,
    /// When listeners of older versions were last looked for.
    looked: Option<Instant>,
}

/// A writer's connection and the statements prepared on it.
struct Conn {
    client: Client,
    driver: JoinHandle<()>,
    statements: HashMap<String, Statement>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    async fn open(shared: &Shared) -> std::result::Result<Self, String> {
        let (client, connection) = shared
            .config
            .connect(shared.tls.clone())
            .await
            .map_err(|e| format!("{}: {}", shared.label, describe(&e)))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a writer's connection failed");
            }
        });
        // A prepared statement's generic plan is made once, for the table as it is then,
        // and kept. Made while the table is nearly empty (a new database, or a purged one),
        // the batch `UPDATE` joins by hashing and reads the whole table for every batch, ever
        // after: 2,800 full scans in a 10-second benchmark. Planning each execution costs a
        // little per batch and always finds the index.
        client
            .batch_execute("SET plan_cache_mode = force_custom_plan")
            .await
            .map_err(|e| format!("{}: {}", shared.label, describe(&e)))?;
        Ok(Self {
            client,
            driver,
            statements: HashMap::new(),
        })
    }

    /// `sql`, prepared once per connection.
    async fn prepare(
        &mut self,
        sql: &str,
    ) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Why a batch did not commit.
enum Failure {
    /// Nothing of it committed and the connection still works: its writes may be tried
    /// again, each alone.
    Undone(String),
    /// The connection broke, or the commit's outcome is unknown: each write fails with this.
    Lost(String),
}

/// A committed batch: each write's answer, and the changes to publish.
struct Done {
    answers: Vec<Result<TaskRecord>>,
    changes: Vec<Change>,
}

/// A writer's hold on the queue of writes.
type Turn = tokio::sync::OwnedMutexGuard<mpsc::Receiver<Op>>;

/// A statement's answer.
type Answer = std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>;

/// A statement under way.
type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// Sends `statements` in order without waiting (tokio-postgres queues a request on its
/// future's first poll), then waits for all their answers; the server runs them in the order
/// sent. One that has failed by its first poll (it could not be encoded, the connection is
/// closed, or, sent and answered already, it failed) stops the sending: those after it are
/// never sent, and their answer is `None`. So a `COMMIT` at the end is sent only if every
/// statement before it was. `sent_all` runs once the sending is done.
async fn pipeline(statements: Vec<Pending<'_>>, sent_all: impl FnOnce()) -> Vec<Option<Answer>> {
    let mut sent: Vec<Option<MaybeDone<Pending<'_>>>> = Vec::with_capacity(statements.len());
    let mut stopped = false;
    for statement in statements {
        if stopped {
            sent.push(None);
            continue;
        }
        let mut statement = maybe_done(statement);
        // Ready at once is usually a failure before sending; but a thread preempted between
        // sending and reading may find the answer there already, which is no reason to stop.
        if futures::poll!(Pin::new(&mut statement)) == Poll::Ready(()) {
            stopped = Pin::new(&mut statement)
                .output_mut()
                .is_none_or(|answer| answer.is_err());
        }
        sent.push(Some(statement));
    }
    sent_all();
    futures::future::join_all(sent.iter_mut().flatten().map(Pin::new)).await;
    sent.into_iter()
        .map(|s| s.and_then(|mut s| Pin::new(&mut s).take_output()))
        .collect()
}

/// The first failure among `answers`, in the order sent; a statement never sent fails only if
/// one before it did.
fn first_error(answers: &[Option<Answer>]) -> Option<&tokio_postgres::Error> {
    answers.iter().flatten().find_map(|a| a.as_ref().err())
}

/// Whether the connection that gave `e` can no longer be used.
fn broken(client: &Client, e: &tokio_postgres::Error) -> bool {
    client.is_closed()
        || match e.as_db_error() {
            Some(db) => matches!(
                db.parsed_severity(),
                Some(Severity::Fatal | Severity::Panic)
            ),
            // I/O, a closed connection, a message out of turn.
            None => true,
        }
}

/// How the tasks that a limited creation counts are picked: by owner, by session, or the
/// anonymous requestor without a session.
#[derive(Clone, Copy)]
enum Requestor {
    Owner,
    Session,
    Anonymous,
}

impl Requestor {
    fn of(row: &Row) -> Self {
        match (&row.owner, &row.session) {
            (Some(_), _) => Self::Owner,
            (None, Some(_)) => Self::Session,
            (None, None) => Self::Anonymous,
        }
    }

    /// The advisory lock's key: the same text as every version before batching, so that
    /// instances of both versions exclude each other.
    fn lock_key(row: &Row) -> String {
        match (&row.owner, &row.session) {
            (Some(owner), _) => format!("owner:{owner}"),
            (None, Some(session)) => format!("session:{session}"),
            (None, None) => "anonymous".to_owned(),
        }
    }
}

/// The columns a creation fills, in the order of its parameters.
const COLUMNS: &str =
    "id, owner, session, status, created_at, expires_at, runner, record, name, updated_at";

/// Creations without a limit, all in one statement: `$1..$11` are arrays of the rows' columns
/// and of their first events, each id once. Answers the ids it inserted; a duplicate id is
/// not inserted (`ON CONFLICT DO NOTHING`), so not answered.
static CREATE_MANY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
         $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bigint[], \
         $11::text[]) AS v({COLUMNS}, body)), \
         i AS (INSERT INTO mcp_tasks ({COLUMNS}, events) SELECT {COLUMNS}, 1 FROM v \
         ON CONFLICT (id) DO NOTHING RETURNING id), \
         e AS (INSERT INTO mcp_tasks_events (task_id, seq, at, body) \
         SELECT v.id, 1, v.created_at, v.body FROM v JOIN i ON i.id = v.id) \
         SELECT id FROM i"
    )
});

/// A creation under a limit, one statement each, so that each counts the ones before it:
/// `$1..$11` are the row and its first event, `$12` the limit. Answers how many rows it
/// inserted (0 for a duplicate id, or over the limit) and how many of the requestor's tasks
/// were live. The count is a statement of its own after the lock, so it sees every insert
/// committed before the lock was taken.
static CREATE_LIMITED: LazyLock<[String; 3]> = LazyLock::new(|| {
    let limited = |requestor: &str| {
        format!(
            "WITH live AS (SELECT count(*) AS n FROM mcp_tasks WHERE {requestor} AND {LIVE}), \
             i AS (INSERT INTO mcp_tasks ({COLUMNS}, events) \
             SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::bigint, $7::text, \
             $8::text, $9::text, $10::bigint, 1 FROM live WHERE live.n < $12 \
             ON CONFLICT (id) DO NOTHING RETURNING id), \
             e AS (INSERT INTO mcp_tasks_events (task_id, seq, at, body) \
             SELECT id, 1, $5::bigint, $11::text FROM i) \
             SELECT (SELECT count(*) FROM i), (SELECT n FROM live)"
        )
    };
    [
        limited("owner = $2"),
        limited("owner IS NULL AND session = $3"),
        limited("owner IS NULL AND session IS NULL AND $2::text IS NULL AND $3::text IS NULL"),
    ]
});

fn create_limited_sql(requestor: Requestor) -> &'static str {
    let i = match requestor {
        Requestor::Owner => 0,
        Requestor::Session => 1,
        Requestor::Anonymous => 2,
    };
    &CREATE_LIMITED[i]
}

/// The limits' advisory locks, taken in the order of the keys given.
const LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k";

/// The tasks that transitions and events touch, locked until the commit.
const READ: &str =
    "SELECT id, record, events FROM mcp_tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Every touched task as the batch left it, in one statement: its record's columns (all
/// NULL when only events were added), and how many events it got. The version moves with
/// the events, so that a compare-and-swap of an older instance that read before reads again.
const UPDATE: &str = "UPDATE mcp_tasks t SET status = coalesce(v.status, t.status), \
                      runner = CASE WHEN v.record IS NULL THEN t.runner ELSE v.runner END, \
                      record = coalesce(v.record, t.record), \
                      updated_at = coalesce(v.updated_at, t.updated_at), \
                      events = t.events + v.added, version = t.version + v.added \
                      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                      $5::bigint[], $6::bigint[]) \
                      AS v(id, status, runner, record, updated_at, added) \
                      WHERE t.id = v.id";

/// The batch's history events, numbered in Rust (the tasks are locked).
const APPEND: &str = "INSERT INTO mcp_tasks_events (task_id, seq, at, body) \
                      SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])";

/// The batch's notes, in order.
const NOTIFY: &str = "SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n";

/// Whether a listener of an older version is connected to this database.
const OLD_LISTENERS: &str = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                             WHERE datname = current_database() AND application_name ~ $1)";

/// A locked task as the batch left it so far, or why it cannot be written.
enum Locked {
    Task {
        record: Box<TaskRecord>,
        /// Events in its history, with those this batch added.
        events: i64,
        /// Events this batch added.
        added: i64,
        /// Whether this batch changed the record.
        changed: bool,
    },
    /// Its stored record does not decode; the error, as an unbatched write would fail.
    Unreadable(String),
}

/// The statements of a batch besides the limited creations, prepared once per connection.
struct Prepared {
    create: Statement,
    lock: Statement,
    read: Statement,
    update: Statement,
    append: Statement,
    notify: Statement,
    look: Statement,
}

impl Prepared {
    async fn on(conn: &mut Conn) -> std::result::Result<Self, tokio_postgres::Error> {
        Ok(Self {
            create: conn.prepare(&CREATE_MANY).await?,
            lock: conn.prepare(LOCK).await?,
            read: conn.prepare(READ).await?,
            update: conn.prepare(UPDATE).await?,
            append: conn.prepare(APPEND).await?,
            notify: conn.prepare(NOTIFY).await?,
            look: conn.prepare(OLD_LISTENERS).await?,
        })
    }
}

/// The columns of the batch's unlimited creations, as the arrays [`CREATE_MANY`] takes.
#[derive(Default)]
struct Creations<'a> {
    id: Vec<&'a str>,
    owner: Vec<Option<&'a str>>,
    session: Vec<Option<&'a str>>,
    status: Vec<&'a str>,
    created_at: Vec<i64>,
    expires_at: Vec<Option<i64>>,
    runner: Vec<Option<&'a str>>,
    record: Vec<&'a str>,
    name: Vec<Option<&'a str>>,
    updated_at: Vec<i64>,
    body: Vec<&'a str>,
}

impl<'a> Creations<'a> {
    fn push(&mut self, row: &'a Row, body: &'a str) {
        self.id.push(&row.id);
        self.owner.push(row.owner.as_deref());
        self.session.push(row.session.as_deref());
        self.status.push(row.status);
        self.created_at.push(row.created_at);
        self.expires_at.push(row.expires_at);
        self.runner.push(row.runner.as_deref());
        self.record.push(&row.record);
        self.name.push(row.name.as_deref());
        self.updated_at.push(row.updated_at);
        self.body.push(body);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.id,
            &self.owner,
            &self.session,
            &self.status,
            &self.created_at,
            &self.expires_at,
            &self.runner,
            &self.record,
            &self.name,
            &self.updated_at,
            &self.body,
        ]
    }
}

/// The touched tasks as the batch left them, as the arrays [`UPDATE`] takes.
#[derive(Default)]
struct Tasks {
    id: Vec<String>,
    status: Vec<Option<&'static str>>,
    runner: Vec<Option<String>>,
    record: Vec<Option<String>>,
    updated_at: Vec<Option<i64>>,
    added: Vec<i64>,
}

impl Tasks {
    /// Task `id`: `row` when its record changed, and the events added.
    fn push(&mut self, id: String, row: Option<Row>, added: i64) {
        self.id.push(id);
        self.added.push(added);
        match row {
            Some(row) => {
                self.status.push(Some(row.status));
                self.runner.push(row.runner);
                self.record.push(Some(row.record));
                self.updated_at.push(Some(row.updated_at));
            }
            None => {
                self.status.push(None);
                self.runner.push(None);
                self.record.push(None);
                self.updated_at.push(None);
            }
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.id,
            &self.status,
            &self.runner,
            &self.record,
            &self.updated_at,
            &self.added,
        ]
    }
}

/// The batch's history events, as the arrays [`APPEND`] takes.
#[derive(Default)]
struct Events {
    task: Vec<String>,
    seq: Vec<i64>,
    at: Vec<i64>,
    body: Vec<String>,
}

impl Events {
    fn push(&mut self, id: &TaskId, seq: i64, at: Timestamp, body: String) {
        self.task.push(id.as_str().to_owned());
        self.seq.push(seq);
        self.at.push(row::nanos(at));
        self.body.push(body);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 4] {
        [&self.task, &self.seq, &self.at, &self.body]
    }
}

/// The most text one set-based statement carries, unless one row alone is more: a batch of
/// large results (up to 16 MiB each by default) goes in several statements of a few MiB,
/// not in one message of gigabytes (which PostgreSQL refuses past 1 GiB a value).
const CHUNK_BYTES: usize = 4 << 20;

/// Rows split among statements of up to [`CHUNK_BYTES`].
struct Chunked<T> {
    chunks: Vec<T>,
    /// Bytes in the last chunk.
    bytes: usize,
}

impl<T: Default> Chunked<T> {
    fn new() -> Self {
        Self {
            chunks: Vec::new(),
            bytes: 0,
        }
    }

    /// The chunk for a row of `bytes` more.
    fn room(&mut self, bytes: usize) -> &mut T {
        if self.chunks.is_empty() || (self.bytes > 0 && self.bytes + bytes > CHUNK_BYTES) {
            self.chunks.push(T::default());
            self.bytes = 0;
        }
        self.bytes += bytes;
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }
}

impl Writer {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            conn: None,
            form: Form::Packed,
            looked: None,
        }
    }

    /// Takes batches until the store is dropped and the queue is empty.
    async fn run(mut self, queue: Arc<Mutex<mpsc::Receiver<Op>>>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let mut turn = queue.clone().lock_owned().await;
            if turn.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
            self.commit(std::mem::take(&mut batch), Some(turn)).await;
        }
    }

    /// Commits a batch and answers its writers; when it fails as a whole, tries each write
    /// alone. The writer keeps the queue (`turn`) until the batch's `COMMIT` is sent: the next
    /// writer then takes what came meanwhile and applies it while this commit waits on the
    /// disk. (Taking the queue sooner would only make smaller batches: PostgreSQL commits
    /// notifying transactions one at a time, so the next commit waits for this one anyway.)
    async fn commit(&mut self, batch: Vec<Op>, mut turn: Option<Turn>) {
        let attempt = self.attempt(&batch, &mut turn).await;
        drop(turn);
        let failure = match attempt {
            Ok(done) => return self.answer(batch, done),
            Err(failure) => failure,
        };
        match failure {
            Failure::Undone(why) if batch.len() > 1 => {
                tracing::debug!(store = %self.shared.label, error = %why, writes = batch.len(), "a batch of writes failed as a whole; trying each alone");
                self.shared.counters.retried.fetch_add(1, Ordering::Relaxed);
                let mut lost: Option<String> = None;
                for op in batch {
                    if let Some(why) = &lost {
                        fail(op, why);
                        continue;
                    }
                    match self.attempt(std::slice::from_ref(&op), &mut None).await {
                        Ok(done) => self.answer(vec![op], done),
                        Err(Failure::Undone(why)) => fail(op, &why),
                        Err(Failure::Lost(why)) => {
                            fail(op, &why);
                            lost = Some(why);
                        }
                    }
                }
            }
            Failure::Undone(why) | Failure::Lost(why) => {
                for op in batch {
                    fail(op, &why);
                }
            }
        }
    }

    /// Publishes a committed batch's changes on the feed, then answers its writers.
    fn answer(&self, batch: Vec<Op>, done: Done) {
        let counters = &self.shared.counters;
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for change in done.changes {
            self.shared.feed.send(change);
        }
        for (op, answer) in batch.into_iter().zip(done.answers) {
            let _ = op.reply.send(answer);
        }
    }

    /// Runs `ops` in one transaction; see the module docs. `turn` is let go once the
    /// `COMMIT` is sent.
    async fn attempt(
        &mut self,
        ops: &[Op],
        turn: &mut Option<Turn>,
    ) -> std::result::Result<Done, Failure> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(Conn::open(&self.shared).await.map_err(Failure::Lost)?);
        }
        let look = self
            .looked
            .is_none_or(|at| at.elapsed() >= OLD_LISTENERS_EVERY);
        let Some(conn) = self.conn.as_mut() else {
            return Err(Failure::Lost(format!(
                "{}: not connected",
                self.shared.label
            )));
        };
        let outcome = transact(conn, &self.shared, ops, look, &mut self.form, turn).await;
        if look && outcome.is_ok() {
            self.looked = Some(Instant::now());
        }
        if let Err(Failure::Lost(_)) = &outcome {
            self.conn = None;
        }
        outcome
    }
}

/// One attempt at a batch on `conn`; on a failure, the connection is left outside any
/// transaction, or reported [`Failure::Lost`].
async fn transact(
    conn: &mut Conn,
    shared: &Shared,
    ops: &[Op],
    look: bool,
    form: &mut Form,
    turn: &mut Option<Turn>,
) -> std::result::Result<Done, Failure> {
    let label = &shared.label;
    let failed = |client: &Client, e: &tokio_postgres::Error| {
        let why = format!("{label}: {}", describe(e));
        if broken(client, e) {
            Failure::Lost(why)
        } else {
            Failure::Undone(why)
        }
    };
    let unexpected =
        |what: &str| Failure::Undone(format!("{label}: {what} did not read as expected"));

    // What round 1 needs: the limits' keys, the creations, the tasks to lock.
    let mut keys: Vec<String> = Vec::new();
    let mut limited = Vec::new();
    let mut creations: Chunked<Creations<'_>> = Chunked::new();
    let mut unlimited = std::collections::HashSet::new();
    let mut ids: Vec<&str> = Vec::new();
    for op in ops {
        match &op.write {
            Write::Create {
                row,
                body,
                limit: Some(limit),
                ..
            } => {
                let requestor = Requestor::of(row);
                keys.push(Requestor::lock_key(row));
                let statement = conn
                    .prepare(create_limited_sql(requestor))
                    .await
                    .map_err(|e| failed(&conn.client, &e))?;
                let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
                limited.push((statement, row, body, limit));
            }
            // A second creation of one id is not sent (one statement cannot insert a row
            // twice); it finds the id taken, by the first or from before.
            Write::Create { row, body, .. } => {
                if unlimited.insert(row.id.as_str()) {
                    creations
                        .room(row.record.len() + body.len())
                        .push(row, body);
                }
            }
            Write::Transition { id, .. } | Write::Record { id, .. } => ids.push(id.as_str()),
        }
    }
    keys.sort_unstable();
    keys.dedup();
    ids.sort_unstable();
    ids.dedup();
    let prepared = Prepared::on(conn)
        .await
        .map_err(|e| failed(&conn.client, &e))?;
    let client = &conn.client;

    // Round 1.
    let limited_params: Vec<[&(dyn ToSql + Sync); 12]> = limited
        .iter()
        .map(|(_, row, body, limit)| -> [&(dyn ToSql + Sync); 12] {
            [
                &row.id,
                &row.owner,
                &row.session,
                &row.status,
                &row.created_at,
                &row.expires_at,
                &row.runner,
                &row.record,
                &row.name,
                &row.updated_at,
                body,
                limit,
            ]
        })
        .collect();
    let creation_params: Vec<_> = creations.chunks.iter().map(Creations::params).collect();
    let lock_params: [&(dyn ToSql + Sync); 1] = [&keys];
    let read_params: [&(dyn ToSql + Sync); 1] = [&ids];
    let look_params: [&(dyn ToSql + Sync); 1] = [&notes::OLD_LISTENER];
    let mut round: Vec<Pending<'_>> = vec![Box::pin(
        client.batch_execute("BEGIN").map_ok(|()| Vec::new()),
    )];
    if !keys.is_empty() {
        round.push(Box::pin(client.query(&prepared.lock, &lock_params)));
    }
    for ((statement, ..), params) in limited.iter().zip(&limited_params) {
        round.push(Box::pin(client.query(statement, params)));
    }
    for params in &creation_params {
        round.push(Box::pin(client.query(&prepared.create, params)));
    }
    if !ids.is_empty() {
        round.push(Box::pin(client.query(&prepared.read, &read_params)));
    }
    if look {
        round.push(Box::pin(client.query(&prepared.look, &look_params)));
    }
    let answers = pipeline(round, || ()).await;
    if let Some(e) = first_error(&answers) {
        return Err(rollback(client, failed(client, e)).await);
    }
    // No statement failed, so every one was sent and answered, in this order.
    let mut answers = answers.into_iter().flatten().flatten();
    let _begin = answers.next();
    if !keys.is_empty() {
        let _locks = answers.next();
    }
    let mut counted = Vec::with_capacity(limited.len());
    for _ in &limited {
        let count = answers.next().and_then(|rows| {
            let r = rows.first()?;
            Some((r.try_get::<_, i64>(0).ok()?, r.try_get::<_, i64>(1).ok()?))
        });
        let Some(count) = count else {
            return Err(rollback(client, unexpected("a limited creation's answer")).await);
        };
        counted.push(count);
    }
    let mut inserted = std::collections::HashSet::new();
    for _ in &creations.chunks {
        let Some(rows) = answers.next() else {
            return Err(rollback(client, unexpected("the creations' answer")).await);
        };
        for r in rows {
            let Ok(id) = r.try_get::<_, String>(0) else {
                return Err(rollback(client, unexpected("a created id")).await);
            };
            inserted.insert(id);
        }
    }
    let mut locked: HashMap<String, Locked> = HashMap::new();
    if !ids.is_empty() {
        let Some(rows) = answers.next() else {
            return Err(rollback(client, unexpected("the locked tasks")).await);
        };
        for r in rows {
            let (Ok(id), Ok(json), Ok(events)) = (
                r.try_get::<_, String>(0),
                r.try_get::<_, String>(1),
                r.try_get::<_, i64>(2),
            ) else {
                return Err(rollback(client, unexpected("a locked task")).await);
            };
            let task = match row::decode(&json) {
                Ok(record) => Locked::Task {
                    record: Box::new(record),
                    events,
                    added: 0,
                    changed: false,
                },
                Err(e) => Locked::Unreadable(e.to_string()),
            };
            locked.insert(id, task);
        }
    }
    if look {
        let old = answers
            .next()
            .and_then(|rows| rows.first().and_then(|r| r.try_get::<_, bool>(0).ok()));
        let now = if old == Some(true) {
            Form::Single
        } else {
            Form::Packed
        };
        if now != *form {
            match now {
                Form::Single => {
                    tracing::info!(store = %label, "a listener of an older version is connected: sending one change per notification, which it reads")
                }
                Form::Packed => {
                    tracing::info!(store = %label, "no listener of an older version is connected: sending changes packed")
                }
            }
            *form = now;
        }
    }

    // Every write in the order it came: creations by their answers, transitions and events
    // applied to the locked records (a second write of a task sees the first).
    let mut counted = counted.into_iter();
    let mut results = Vec::with_capacity(ops.len());
    let mut changes = Vec::new();
    let mut events: Chunked<Events> = Chunked::new();
    for op in ops {
        let result = match &op.write {
            Write::Create { record, limit, .. } => {
                let created = match limit {
                    Some(limit) => match counted.next() {
                        Some((1, _)) => Ok(()),
                        Some((_, live))
                            if usize::try_from(live).unwrap_or(usize::MAX) >= *limit =>
                        {
                            Err(Error::LimitExceeded { limit: *limit })
                        }
                        Some(_) => Err(duplicate(record)),
                        None => {
                            return Err(rollback(client, unexpected("a limited creation")).await)
                        }
                    },
                    // Of two creations of one id, the second finds it taken.
                    None if inserted.remove(record.id.as_str()) => Ok(()),
                    None => Err(duplicate(record)),
                };
                created.map(|()| {
                    changes.push(Change {
                        id: record.id.clone(),
                        event: ChangeEvent::Created,
                    });
                    TaskRecord::clone(record)
                })
            }
            Write::Transition { id, change, now } => {
                locked_task(&mut locked, id).and_then(|task| {
                    let mut next = task.record.clone();
                    let Some(event) = history::apply(&mut next, change.clone(), *now)? else {
                        return Ok(next);
                    };
                    let body =
                        row::encode_event(&TaskEvent::new(seq(*task.events), *now, &next, event))?;
                    changes.push(Change {
                        id: id.clone(),
                        event: ChangeEvent::Updated(next.status()),
                    });
                    events
                        .room(body.len())
                        .push(id, *task.events + 1, *now, body);
                    *task.events += 1;
                    *task.added += 1;
                    *task.changed = true;
                    task.record.clone_from(&next);
                    Ok(next)
                })
            }
            Write::Record { id, at, kind } => locked_task(&mut locked, id).and_then(|task| {
                history::recordable(task.record, kind)?;
                let body = row::encode_event(&TaskEvent::new(
                    seq(*task.events),
                    *at,
                    task.record,
                    kind.clone(),
                ))?;
                events
                    .room(body.len())
                    .push(id, *task.events + 1, *at, body);
                *task.events += 1;
                *task.added += 1;
                Ok(task.record.clone())
            }),
        };
        results.push(result);
    }
    let mut tasks: Chunked<Tasks> = Chunked::new();
    for (id, task) in locked {
        if let Locked::Task {
            record,
            added,
            changed,
            ..
        } = task
        {
            if added == 0 {
                continue;
            }
            // A record that cannot be encoded was refused when it was made; this one was
            // encoded then and is again.
            let row = if changed {
                match Row::of(&record) {
                    Ok(row) => Some(row),
                    Err(e) => {
                        let why = format!("{label}: {e}");
                        return Err(rollback(client, Failure::Undone(why)).await);
                    }
                }
            } else {
                None
            };
            let bytes = row.as_ref().map_or(0, |r| r.record.len());
            tasks.room(bytes).push(id, row, added);
        }
    }

    // Round 2.
    let update_params: Vec<_> = tasks.chunks.iter().map(Tasks::params).collect();
    let append_params: Vec<_> = events.chunks.iter().map(Events::params).collect();
    let payloads = notes::payloads(&changes, *form);
    let notify_params: [&(dyn ToSql + Sync); 2] = [&CHANNEL, &payloads];
    let mut round: Vec<Pending<'_>> =
        Vec::with_capacity(update_params.len() + append_params.len() + 2);
    for params in &update_params {
        round.push(Box::pin(client.query(&prepared.update, params)));
    }
    for params in &append_params {
        round.push(Box::pin(client.query(&prepared.append, params)));
    }
    if !payloads.is_empty() {
        round.push(Box::pin(client.query(&prepared.notify, &notify_params)));
    }
    round.push(Box::pin(
        client.batch_execute("COMMIT").map_ok(|()| Vec::new()),
    ));
    let mut answers = pipeline(round, || drop(turn.take())).await;
    let commit = answers.pop().flatten();
    if let Some(e) = first_error(&answers) {
        // It aborted the transaction, so the COMMIT, if it was sent, rolled it back.
        let failure = failed(client, e);
        return Err(match commit {
            None => rollback(client, failure).await,
            Some(Ok(_)) => failure,
            Some(Err(e)) => failed(client, &e),
        });
    }
    match commit {
        Some(Ok(_)) => Ok(Done {
            answers: results,
            changes,
        }),
        // A refused commit is rolled back; a connection lost under it leaves it unknown.
        Some(Err(e)) => Err(failed(client, &e)),
        None => Err(Failure::Lost(format!(
            "{label}: the commit could not be sent"
        ))),
    }
}

fn duplicate(record: &TaskRecord) -> Error {
    Error::store(format!("task id {} already exists", record.id))
}

/// A locked task's state, borrowed for one write.
struct Task<'a> {
    record: &'a mut TaskRecord,
    events: &'a mut i64,
    added: &'a mut i64,
    changed: &'a mut bool,
}

/// The locked task `id`, or why a write to it fails: unknown, or a record that does not
/// decode.
fn locked_task<'a>(locked: &'a mut HashMap<String, Locked>, id: &TaskId) -> Result<Task<'a>> {
    match locked.get_mut(id.as_str()) {
        Some(Locked::Task {
            record,
            events,
            added,
            changed,
        }) => Ok(Task {
            record,
            events,
            added,
            changed,
        }),
        Some(Locked::Unreadable(why)) => Err(Error::store(why.clone())),
        None => Err(Error::NotFound { id: id.clone() }),
    }
}

/// Ends the transaction after `failure`: what was sent is rolled back. A connection that
/// cannot roll back is lost.
async fn rollback(client: &Client, failure: Failure) -> Failure {
    match failure {
        Failure::Undone(why) => match client.batch_execute("ROLLBACK").await {
            Ok(()) => Failure::Undone(why),
            Err(_) => Failure::Lost(why),
        },
        lost @ Failure::Lost(_) => lost,
    }
}

/// Answers a write that did not commit.
fn fail(op: Op, why: &str) {
    let _ = op.reply.send(Err(Error::store(why.to_owned())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskStore;
    use crate::task::{NewTask, Outcome, Owner, RequestKind, Requestor, TaskStatus};
    use futures::StreamExt;
    use serde_json::json;
    use testkit::postgres::TempDatabase;
    use tokio_postgres::AsyncMessage;

    const LIMIT: Duration = Duration::from_secs(10);

    fn new_task(owner: &str, runner: Option<&str>, limit: Option<usize>) -> NewTask {
        NewTask {
            id: TaskId::generate(),
            requestor: Requestor {
                owner: Some(Owner::new(owner)),
                session: Some("s".into()),
            },
            kind: RequestKind::ToolsCall,
            name: Some("batch".into()),
            params: json!({}),
            created_at: Timestamp::now(),
            ttl: None,
            poll_interval: None,
            progress_token: None,
            runner: runner.map(str::to_owned),
            active_limit: limit,
        }
    }

    fn create(new: NewTask) -> Write {
        let limit = new.active_limit;
        let record = TaskRecord::new(new);
        let row = Row::of(&record).unwrap();
        let body = row::encode_event(&TaskEvent::new(
            1,
            record.created_at,
            &record,
            EventKind::created(&record),
        ))
        .unwrap();
        Write::Create {
            record: Box::new(record),
            row: Box::new(row),
            body,
            limit,
        }
    }

    fn transition(id: &TaskId, change: Transition) -> Write {
        Write::Transition {
            id: id.clone(),
            change,
            now: Timestamp::now(),
        }
    }

    fn finish(id: &TaskId) -> Write {
        transition(
            id,
            Transition::Finish(Outcome::Completed(json!({"content": []}))),
        )
    }

    fn event(id: &TaskId, kind: EventKind) -> Write {
        Write::Record {
            id: id.clone(),
            at: Timestamp::now(),
            kind,
        }
    }

    /// Commits `writes` as one batch of `writer`, and returns each write's answer.
    async fn batch(writer: &mut Writer, writes: Vec<Write>) -> Vec<Result<TaskRecord>> {
        let (ops, answers): (Vec<Op>, Vec<_>) = writes
            .into_iter()
            .map(|write| {
                let (reply, answer) = oneshot::channel();
                (Op { write, reply }, answer)
            })
            .unzip();
        writer.commit(ops, None).await;
        let mut out = Vec::new();
        for answer in answers {
            out.push(answer.await.unwrap());
        }
        out
    }

    /// A writer of its own on the test's database, driven batch by batch, with counters it
    /// shares with nobody.
    fn writer(db: &TempDatabase) -> (Writer, Arc<Counters>) {
        let (config, label, tls) = super::super::parse(db.url()).unwrap();
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            config,
            tls,
            feed: ChangeSender::new(64),
            label,
            counters: counters.clone(),
        });
        (Writer::new(shared), counters)
    }

    /// Every payload sent on the channel from now on, as a connection of its own named
    /// `name` receives it (a name that can pass for a listener of another version).
    async fn observe(db: &TempDatabase, name: &str) -> (Client, mpsc::UnboundedReceiver<String>) {
        let mut config: Config = db.url().parse().unwrap();
        config.application_name(name);
        let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(n) = message {
                    let _ = tx.send(n.payload().to_owned());
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .unwrap();
        (client, rx)
    }

    async fn next(payloads: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(LIMIT, payloads.recv())
            .await
            .expect("a notification in time")
            .expect("the observer runs")
    }

    /// Batch isolation: a write that raises an SQL error (a NUL byte in a runner's name)
    /// fails alone; the writes batched with it are committed, answered and announced to
    /// another instance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_failing_write_leaves_the_others_committed_and_notified() {
        let db = TempDatabase::create().await;
        let store = super::super::PostgresStore::connect(db.url())
            .await
            .unwrap();
        let other = super::super::PostgresStore::connect(db.url())
            .await
            .unwrap();
        let running = store.create(new_task("alice", None, None)).await.unwrap();
        let mut feed = other.changes();
        let (mut writer, counters) = writer(&db);
        let good = new_task("alice", None, None);
        let bad = new_task("alice", Some("runner\0with a NUL"), None);
        let also = new_task("alice", None, None);
        let answers = batch(
            &mut writer,
            vec![
                create(good.clone()),
                create(bad.clone()),
                create(also.clone()),
                finish(&running.id),
            ],
        )
        .await;
        assert_eq!(answers[0].as_ref().unwrap().id, good.id);
        let err = answers[1].as_ref().unwrap_err();
        assert!(matches!(err, Error::Store { .. }), "{err}");
        assert!(err.to_string().contains(store.label()), "{err}");
        assert_eq!(answers[2].as_ref().unwrap().id, also.id);
        assert_eq!(answers[3].as_ref().unwrap().status(), TaskStatus::Completed);
        assert_eq!(counters.retried.load(Ordering::Relaxed), 1);
        assert_eq!(
            counters.commits.load(Ordering::Relaxed),
            3,
            "each good write alone"
        );

        assert!(store.inspect(&good.id).await.unwrap().is_some());
        assert!(store.inspect(&bad.id).await.unwrap().is_none());
        assert!(store.inspect(&also.id).await.unwrap().is_some());
        let mut want = vec![
            Change {
                id: good.id.clone(),
                event: ChangeEvent::Created,
            },
            Change {
                id: also.id.clone(),
                event: ChangeEvent::Created,
            },
            Change {
                id: running.id.clone(),
                event: ChangeEvent::Updated(TaskStatus::Completed),
            },
        ];
        while !want.is_empty() {
            let change = tokio::time::timeout(LIMIT, feed.recv())
                .await
                .expect("the other instance hears of every committed write")
                .unwrap();
            assert_ne!(change.id, bad.id, "the failed write is never announced");
            want.retain(|w| *w != change);
        }
    }

    /// Writes refused without an SQL error (a duplicate id, the limit, an unknown task, a
    /// transition or event a terminal task refuses) share the batch's one transaction with
    /// the others, and its one packed notification; two writes of one task apply in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_share_the_batch_and_writes_of_a_task_apply_in_order() {
        let db = TempDatabase::create().await;
        let store = super::super::PostgresStore::connect(db.url())
            .await
            .unwrap();
        let task = store.create(new_task("alice", None, None)).await.unwrap();
        let ended = store.create(new_task("alice", None, None)).await.unwrap();
        store
            .transition(
                &ended.id,
                Transition::Cancel {
                    message: None,
                    by: None,
                },
                Timestamp::now(),
            )
            .await
            .unwrap();
        let (_client, mut payloads) = observe(&db, "observer").await;
        let (mut writer, counters) = writer(&db);
        let a = new_task("alice", None, None);
        let first = new_task("limited", None, Some(1));
        let second = new_task("limited", None, Some(1));
        let unknown = TaskId::generate();
        let progress = EventKind::Progress {
            progress: 1.0,
            total: None,
            message: None,
        };
        let retrieved = EventKind::ResultRetrieved { by: None };
        let answers = batch(
            &mut writer,
            vec![
                create(a.clone()),
                create(a.clone()),
                create(first.clone()),
                create(second.clone()),
                transition(&task.id, Transition::Message(Some("one".into()))),
                finish(&task.id),
                transition(&task.id, Transition::Message(Some("late".into()))),
                event(&task.id, progress),
                event(&task.id, retrieved.clone()),
                finish(&unknown),
                finish(&ended.id),
            ],
        )
        .await;
        assert_eq!(counters.commits.load(Ordering::Relaxed), 1);
        assert_eq!(counters.retried.load(Ordering::Relaxed), 0);
        assert_eq!(counters.writes.load(Ordering::Relaxed), 11);

        assert!(answers[0].is_ok());
        let dup = answers[1].as_ref().unwrap_err().to_string();
        assert!(dup.contains("already exists"), "{dup}");
        assert!(answers[2].is_ok());
        assert!(matches!(answers[3], Err(Error::LimitExceeded { limit: 1 })));
        assert_eq!(
            answers[4].as_ref().unwrap().status_message.as_deref(),
            Some("one")
        );
        let done = answers[5].as_ref().unwrap();
        assert_eq!(
            done.status(),
            TaskStatus::Completed,
            "sees the message before it"
        );
        for refused in [&answers[6], &answers[7], &answers[10]] {
            assert!(
                matches!(refused, Err(Error::Conflict { .. })),
                "{refused:?}"
            );
        }
        assert_eq!(answers[8].as_ref().unwrap(), done);
        assert!(matches!(&answers[9], Err(Error::NotFound { id }) if *id == unknown));

        assert_eq!(
            store
                .get(done.owner.as_ref(), &task.id)
                .await
                .unwrap()
                .as_ref(),
            Some(done)
        );
        let history = store.history(&task.id, None, 10).await.unwrap();
        let seqs: Vec<u64> = history.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=history.len() as u64).collect::<Vec<_>>());
        let kinds: Vec<&EventKind> = history.iter().map(|e| &e.kind).collect();
        assert_eq!(kinds.first(), Some(&&EventKind::created(&task)));
        assert_eq!(kinds[kinds.len() - 2], &EventKind::Completed);
        assert_eq!(kinds[kinds.len() - 1], &retrieved);
        assert!(store.inspect(&second.id).await.unwrap().is_none());

        let payload = next(&mut payloads).await;
        assert!(payload.starts_with("changes\n"), "{payload:?}");
        let changes = notes::parse(&payload);
        for want in [
            Change {
                id: a.id.clone(),
                event: ChangeEvent::Created,
            },
            Change {
                id: first.id.clone(),
                event: ChangeEvent::Created,
            },
            Change {
                id: task.id.clone(),
                event: ChangeEvent::Updated(TaskStatus::Completed),
            },
        ] {
            assert!(changes.contains(&want), "{want:?} in {changes:?}");
        }
        assert!(
            changes
                .iter()
                .all(|c| c.id != second.id && c.id != ended.id && c.id != unknown),
            "refused writes are not announced: {changes:?}"
        );
        let more = tokio::time::timeout(Duration::from_millis(200), payloads.recv()).await;
        assert!(more.is_err(), "one notification for the batch: {more:?}");
    }

    /// Writes larger than a statement carries ([`CHUNK_BYTES`]) share their batch's
    /// transaction but not one statement: creations and completions of a few MiB each are
    /// all stored and answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_writes_are_split_among_statements() {
        let db = TempDatabase::create().await;
        let store = super::super::PostgresStore::connect(db.url())
            .await
            .unwrap();
        let (mut writer, counters) = writer(&db);
        let big = |c: char| "x".repeat(CHUNK_BYTES / 2 + 1).replace('x', &c.to_string());
        let news: Vec<NewTask> = ['a', 'b', 'c']
            .into_iter()
            .map(|c| NewTask {
                params: json!({"text": big(c)}),
                ..new_task("alice", None, None)
            })
            .collect();
        let created = batch(&mut writer, news.iter().cloned().map(create).collect()).await;
        assert!(created.iter().all(Result::is_ok), "{created:?}");
        let done = batch(
            &mut writer,
            news.iter()
                .zip(['d', 'e', 'f'])
                .map(|(n, c)| {
                    transition(
                        &n.id,
                        Transition::Finish(Outcome::Completed(json!({"text": big(c)}))),
                    )
                })
                .collect(),
        )
        .await;
        assert!(done.iter().all(Result::is_ok), "{done:?}");
        assert_eq!(
            counters.commits.load(Ordering::Relaxed),
            2,
            "one transaction each"
        );
        for (n, answer) in news.iter().zip(&done) {
            let stored = store.inspect(&n.id).await.unwrap().unwrap();
            assert_eq!(&stored, answer.as_ref().unwrap());
            assert_eq!(stored.params, n.params);
            assert_eq!(store.history(&n.id, None, 10).await.unwrap().len(), 2);
        }
    }

    /// During a rolling upgrade: while a listener of an older version (which reads one note
    /// per payload) is connected, every note goes alone; once it is gone, they are packed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listeners_of_older_versions_get_single_notes() {
        let db = TempDatabase::create().await;
        let store = super::super::PostgresStore::connect(db.url())
            .await
            .unwrap();
        drop(store);
        let old_name = format!("mcp-tasks listener {}", uuid::Uuid::new_v4().simple());
        let (old, mut old_payloads) = observe(&db, &old_name).await;
        let (mut writer, _) = writer(&db);
        let (a, b) = (new_task("alice", None, None), new_task("alice", None, None));
        let answers = batch(&mut writer, vec![create(a.clone()), create(b.clone())]).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        for task in [&a, &b] {
            let payload = next(&mut old_payloads).await;
            assert_eq!(
                payload,
                format!("created {}", task.id),
                "one note, as old versions read"
            );
        }

        drop(old);
        let (admin, _driver) = {
            let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
                .await
                .unwrap();
            (client, tokio::spawn(connection))
        };
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let gone: bool = admin
                .query_one(
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1)",
                    &[&old_name],
                )
                .await
                .unwrap()
                .get(0);
            if gone {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the old listener leaves"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (_new, mut payloads) = observe(&db, "observer").await;
        writer.looked = None;
        let (c, d) = (new_task("alice", None, None), new_task("alice", None, None));
        let answers = batch(&mut writer, vec![create(c.clone()), create(d.clone())]).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(
            next(&mut payloads).await,
            format!("changes\ncreated {}\ncreated {}", c.id, d.id)
        );
    }
}

//! Store operations (create, get, complete, list page) on the memory store, SQLite and
//! PostgreSQL, with a plain-rusqlite and a plain tokio-postgres baseline measured in the same
//! run, so every ratio is read off one run; docs/benchmarks.md has the numbers.
//!
//! ```text
//! cargo bench -p mcp-tasks-engine --bench store                 # everything
//! BENCH_TASKS=20000 BENCH_PG_TASKS=20000 cargo bench -p mcp-tasks-engine --bench store -- --quick
//!                                                               # quick smoke run
//! cargo bench -p mcp-tasks-engine --bench store -- 'create|baseline'  # a subset
//! cargo bench -p mcp-tasks-engine --bench store -- postgres     # PostgreSQL and its baseline
//! MCP_TASKS_TEST_POSTGRES=postgres://USER@HOST:PORT/DB cargo bench ...  # another server
//! ```
//!
//! The PostgreSQL cases run on the server named by `MCP_TASKS_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the user must be allowed to create
//! databases), each on a fresh throw-away database dropped when the case is done. When the
//! server does not answer within a few seconds, one line on stderr says so and the run goes on
//! with memory and SQLite alone. The store's pool is [`postgres::POOL_SIZE`] connections.
//!
//! Groups, all counted in tasks (rows) per second or time per operation:
//! - `create`: [`CREATE_N`] creations per iteration, by 1 creator and by 64 concurrent ones
//!   (each its own session), on memory, SQLite durable (`synchronous = FULL`, the default),
//!   SQLite `synchronous = NORMAL` and PostgreSQL (each create one committed statement, as the
//!   server's `synchronous_commit` makes durable). After each SQLite 64-creator run the
//!   writer's commits and mean batch go to stderr.
//! - `baseline`: the same rows (same table, indexes, pragmas, JSON built the same way, spread
//!   over the 64 creators' sessions) inserted with plain rusqlite by one thread, one
//!   transaction per row (what a store without group commit pays) and 64 rows per transaction
//!   (the best plain rusqlite does for 64 writers at once).
//! - `baseline-postgres`: the same rows inserted into the store's own table (migrated by the
//!   store, same indexes) with plain tokio-postgres, one prepared statement per row in
//!   autocommit, by one connection (rows spread over the 64 creators' sessions) and by 64
//!   connections at once (each its creator's session and share of the rows). `tokio-postgres`
//!   is a bare `INSERT`: what PostgreSQL itself does on this machine, of which the store's
//!   `create` on PostgreSQL is read as a ratio. `tokio-postgres-notify` is the store's own
//!   statement, the `INSERT` and a `pg_notify` in one transaction (with a connection
//!   listening), which tells the price of the cross-instance wake-ups apart from the store's.
//! - `paired`: the durable 64-creator case and both durable baselines alternated within each
//!   iteration; the median ratios go to stderr. The number to quote for the create target.
//! - `complete`: finishing fresh `working` tasks with a result, by 1 and by 64 completers.
//! - `list`: one page of 10 and of 100, first and middle, of a session holding 10,000 tasks;
//!   and on the big stores, a first page of a session among all of them (1 in 1,000 tasks) and
//!   of a session with none.
//! - `get`: by random id on the big stores, at the store and through `Engine::get`.
//!
//! The big stores: memory and SQLite hold [`common::big_count`] tasks (`BENCH_TASKS`, default
//! 1,000,000; the SQLite file is kept between runs), PostgreSQL holds
//! [`postgres::big_count`] (`BENCH_PG_TASKS`, default 100,000), loaded with one `COPY` of rows
//! built as the store builds them (see [`postgres::big`]) into a database kept for the run
//! only. The PostgreSQL `get` and big `list` numbers are for a store of that size: the case
//! names carry the count.
//!
//! Performance is reported as ratios against a baseline measured in the same run, never
//! asserted: nothing here fails on a slow machine.

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use jiff::Timestamp;
use mcp_tasks_engine::{
    Engine, EngineConfig, ListQuery, MemoryStore, Outcome, Position, Requestor, SqliteOptions,
    SqliteStore, Synchronous, TaskId, TaskRecord, TaskStore, Transition,
};
use rusqlite::{params, Connection};
use serde_json::json;
use testkit::postgres::TempDatabase;
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use common::{new_task, scratch, Pick};
use postgres::Insert;

/// Tasks created (or rows inserted, or tasks completed) per iteration.
const CREATE_N: usize = 2048;
/// The concurrent creators of the "many writers" case.
const MANY: usize = 64;
/// The ttl of the tasks created while measuring, as a server's default would give.
const TTL: Duration = Duration::from_secs(3600);

/// The stores compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Memory,
    SqliteFull,
    SqliteNormal,
    Postgres,
}

impl Kind {
    const ALL: [Self; 4] = [
        Self::Memory,
        Self::SqliteFull,
        Self::SqliteNormal,
        Self::Postgres,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::SqliteFull => "sqlite-full",
            Self::SqliteNormal => "sqlite-normal",
            Self::Postgres => "postgres",
        }
    }

    /// The kinds this run measures: all of them, unless PostgreSQL is out of reach, which is
    /// said once on stderr (benchmarks are not tests: without a server the rest still runs).
    fn available() -> Vec<Self> {
        match postgres::reachable() {
            Ok(server) => {
                eprintln!("PostgreSQL cases on {server}");
                Self::ALL.to_vec()
            }
            Err(why) => {
                eprintln!(
                    "PostgreSQL not reachable at {why}; skipping the postgres cases; set {} \
                     to name a server",
                    testkit::postgres::ENV
                );
                Self::ALL
                    .into_iter()
                    .filter(|k| *k != Self::Postgres)
                    .collect()
            }
        }
    }
}

/// A store under test, with what keeps it alive.
struct Subject {
    store: Arc<dyn TaskStore>,
    sqlite: Option<Arc<SqliteStore>>,
    _dir: Option<tempfile::TempDir>,
    /// Last: fields drop in declaration order, so the store's connections close before its
    /// database is dropped.
    db: Option<TempDatabase>,
}

/// A fresh, empty store of `kind`; a PostgreSQL one gets its own database and its background
/// tasks (listener, pooled connections) on `rt`, the runtime that will drive it.
fn open(rt: &Runtime, kind: Kind) -> Subject {
    let synchronous = match kind {
        Kind::Memory => {
            return Subject {
                store: Arc::new(MemoryStore::new()),
                sqlite: None,
                _dir: None,
                db: None,
            }
        }
        Kind::Postgres => {
            let (store, db) = postgres::open(rt);
            return Subject {
                store,
                sqlite: None,
                _dir: None,
                db: Some(db),
            };
        }
        Kind::SqliteFull => Synchronous::Full,
        Kind::SqliteNormal => Synchronous::Normal,
    };
    let dir = scratch();
    let store = Arc::new(
        SqliteStore::open_with(
            dir.path().join("tasks.sqlite3"),
            SqliteOptions {
                synchronous,
                ..SqliteOptions::default()
            },
        )
        .expect("open the store"),
    );
    Subject {
        store: store.clone(),
        sqlite: Some(store),
        _dir: Some(dir),
        db: None,
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Creates `n` tasks by `creators` concurrent creators, each in its own session; returns them.
async fn create_many(store: &Arc<dyn TaskStore>, n: usize, creators: usize) -> Vec<TaskRecord> {
    let one = |store: Arc<dyn TaskStore>, c: usize, count: usize| async move {
        let session = format!("creator-{c}");
        let mut made = Vec::with_capacity(count);
        for i in 0..count {
            let new = new_task(TaskId::generate(), &session, i, TTL);
            made.push(store.create(new).await.expect("create"));
        }
        made
    };
    if creators == 1 {
        return one(store.clone(), 0, n).await;
    }
    let handles: Vec<_> = (0..creators)
        .map(|c| tokio::spawn(one(store.clone(), c, n / creators)))
        .collect();
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await.expect("creator"));
    }
    all
}

/// A tool's result of realistic size (about 200 bytes).
fn tool_result(i: usize) -> serde_json::Value {
    json!({
        "content": [{"type": "text", "text": format!(
            "Found 25 documents for query {i}; the most relevant is Q3-revenue.pdf (score 0.93)."
        )}],
        "structuredContent": {"hits": 25, "top": "Q3-revenue.pdf"},
        "isError": false
    })
}

/// Completes `tasks` by `workers` concurrent completers.
async fn complete_all(store: &Arc<dyn TaskStore>, tasks: Vec<TaskRecord>, workers: usize) {
    let one = |store: Arc<dyn TaskStore>, tasks: Vec<TaskRecord>| async move {
        for (i, t) in tasks.iter().enumerate() {
            let done = Transition::Finish(Outcome::Completed(tool_result(i)));
            store
                .transition(&t.id, done, Timestamp::now())
                .await
                .expect("complete");
        }
    };
    if workers == 1 {
        return one(store.clone(), tasks).await;
    }
    let per = tasks.len().div_ceil(workers);
    let mut tasks = tasks;
    let mut handles = Vec::new();
    while !tasks.is_empty() {
        let rest = tasks.split_off(per.min(tasks.len()));
        handles.push(tokio::spawn(one(store.clone(), tasks)));
        tasks = rest;
    }
    for h in handles {
        h.await.expect("completer");
    }
}

fn slow_group_settings(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(CREATE_N as u64));
}

fn create(c: &mut Criterion, kinds: &[Kind]) {
    let rt = runtime();
    let mut group = c.benchmark_group("create");
    slow_group_settings(&mut group);
    for &kind in kinds {
        for creators in [1, MANY] {
            // Opened by the first call, so a case the filter leaves out makes no store (and,
            // for PostgreSQL, no database); dropped at the end of this loop body.
            let subject = OnceCell::new();
            group.bench_function(
                BenchmarkId::new(kind.name(), format!("{creators}-creators")),
                |b| {
                    let subject = subject.get_or_init(|| open(&rt, kind));
                    b.to_async(&rt)
                        .iter(|| create_many(&subject.store, CREATE_N, creators));
                },
            );
            // The store is fresh, so its counters are this case's alone.
            if let Some(store) = subject.get().and_then(|s| s.sqlite.as_ref()) {
                let stats = store.writer_stats();
                let (commits, writes) = (stats.commits, stats.writes);
                if commits > 0 {
                    eprintln!(
                        "writer_stats create/{}/{creators}-creators: {commits} commits, {writes} writes, \
                         mean batch {:.1}",
                        kind.name(),
                        writes as f64 / commits as f64
                    );
                }
            }
        }
    }
    group.finish();
}

/// The store's table and indexes, as `crates/engine/src/store/sqlite/schema.rs` creates them.
const BASELINE_SCHEMA: &str = "
    CREATE TABLE tasks (
        id         TEXT PRIMARY KEY NOT NULL,
        owner      TEXT,
        session    TEXT,
        status     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        runner     TEXT,
        record     TEXT NOT NULL
    );
    CREATE INDEX tasks_by_owner ON tasks (owner, created_at, id) WHERE owner IS NOT NULL;
    CREATE INDEX tasks_by_session ON tasks (session, created_at, id) WHERE owner IS NULL;
    CREATE INDEX tasks_by_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX tasks_live_by_requestor ON tasks (owner, session)
        WHERE status IN ('working', 'input_required');
    CREATE INDEX tasks_live_by_age ON tasks (created_at, id)
        WHERE status IN ('working', 'input_required');
";

/// A fresh file with the store's pragmas (`schema::configure` and `configure_writer`).
fn baseline_conn(path: &std::path::Path, synchronous: &str) -> Connection {
    let conn = Connection::open(path).expect("open the baseline file");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous};
         PRAGMA cache_size = -16384;
         PRAGMA temp_store = MEMORY;
         PRAGMA auto_vacuum = INCREMENTAL;"
    ))
    .expect("pragmas");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    conn.execute_batch("PRAGMA journal_size_limit = 67108864;")
        .expect("journal_size_limit");
    conn.execute_batch(BASELINE_SCHEMA).expect("schema");
    conn
}

fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).expect("timestamp in range")
}

/// Inserts `n` rows of the store's shape, `per_tx` rows per transaction. The record is built
/// and encoded per row exactly as `SqliteStore::create` does (`TaskRecord::new`, then JSON).
fn baseline_insert(conn: &mut Connection, n: usize, per_tx: usize) {
    let mut i = 0;
    while i < n {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        for _ in 0..per_tx.min(n - i) {
            // Spread over the sessions of the 64 concurrent creators, as the store sees them.
            let session = format!("creator-{}", i % MANY);
            let record = TaskRecord::new(new_task(TaskId::generate(), &session, i, TTL));
            let json = serde_json::to_string(&record).expect("encode");
            tx.prepare_cached(
                "INSERT INTO tasks (id, owner, session, status, created_at, expires_at, runner, record) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    record.id.as_str(),
                    record.owner.as_ref().map(|o| o.as_str()),
                    record.session,
                    record.status().as_str(),
                    nanos(record.created_at),
                    record.expires_at.map(nanos),
                    record.runner,
                    json
                ])
            })
            .expect("insert");
            i += 1;
        }
        tx.commit().expect("commit");
    }
}

fn baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    slow_group_settings(&mut group);
    for (name, synchronous) in [("rusqlite-full", "FULL"), ("rusqlite-normal", "NORMAL")] {
        for per_tx in [1, MANY] {
            let dir = scratch();
            let mut conn = baseline_conn(&dir.path().join("baseline.sqlite3"), synchronous);
            group.bench_function(
                BenchmarkId::new(name, format!("{per_tx}-rows-per-tx")),
                |b| {
                    b.iter(|| baseline_insert(&mut conn, CREATE_N, per_tx));
                },
            );
        }
    }
    group.finish();
}

fn baseline_postgres(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("baseline-postgres");
    slow_group_settings(&mut group);
    for (name, insert, connections) in [
        ("tokio-postgres", Insert::Plain, 1),
        ("tokio-postgres", Insert::Plain, MANY),
        ("tokio-postgres-notify", Insert::Notify, 1),
        ("tokio-postgres-notify", Insert::Notify, MANY),
    ] {
        let base = OnceCell::new();
        group.bench_function(
            BenchmarkId::new(name, format!("{connections}-connections")),
            |b| {
                let base = base.get_or_init(|| postgres::Baseline::open(&rt, connections, insert));
                b.to_async(&rt).iter(|| plain_inserts(base, CREATE_N));
            },
        );
    }
    group.finish();
}

/// Inserts `n` rows of the store's shape with plain tokio-postgres, one autocommitted
/// statement per row, by all of the baseline's connections at once. Each row's record is built
/// and encoded as `PostgresStore::create` does, inside the measurement as it is there. With one
/// connection the rows are spread over the 64 creators' sessions (as in the rusqlite
/// baseline); with many, connection `c` inserts its share in session `creator-c`, as creator
/// `c` of [`create_many`].
async fn plain_inserts(base: &postgres::Baseline, n: usize) {
    async fn insert(client: &Client, stmt: &Statement, notify: bool, session: &str, i: usize) {
        let row = postgres::Row::of(new_task(TaskId::generate(), session, i, TTL));
        let params = row.params();
        let done = if notify {
            // The store's note: `<instance> created <task id>`.
            let note = format!("0b6f4a528d1e4c3a9f7e2a61c0d9e5b3 created {}", row.id());
            let mut with_note: Vec<&(dyn ToSql + Sync)> = params.to_vec();
            with_note.push(&note);
            client.execute(stmt, &with_note).await
        } else {
            client.execute(stmt, &params).await
        };
        done.expect("plain insert");
    }
    let notify = base.insert == Insert::Notify;
    if let [(client, stmt)] = base.conns.as_slice() {
        for i in 0..n {
            insert(client, stmt, notify, &format!("creator-{}", i % MANY), i).await;
        }
        return;
    }
    let per = n / base.conns.len();
    let handles: Vec<_> = (0..base.conns.len())
        .map(|c| {
            let conns = base.conns.clone();
            tokio::spawn(async move {
                let (client, stmt) = &conns[c];
                let session = format!("creator-{c}");
                for i in 0..per {
                    insert(client, stmt, notify, &session, i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("inserter");
    }
}

/// The target's ratio measured in pairs: every iteration creates [`CREATE_N`] tasks with 64
/// creators on durable SQLite, then inserts as many rows with plain rusqlite at the same
/// durability, 64 per transaction and one per transaction. The time criterion reports is the
/// store's; the per-iteration ratios go to stderr. Pairing keeps a busy machine (other builds,
/// other disk writers) from favouring whichever side ran in the quieter minute.
fn paired(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("paired");
    slow_group_settings(&mut group);
    let subject = open(&rt, Kind::SqliteFull);
    let dir = scratch();
    let batched = std::sync::Mutex::new(baseline_conn(&dir.path().join("b64.sqlite3"), "FULL"));
    let single = std::sync::Mutex::new(baseline_conn(&dir.path().join("b1.sqlite3"), "FULL"));
    let ratios = std::sync::Mutex::new(Vec::new());
    let before = subject.sqlite.as_ref().map(|s| s.writer_stats());
    group.bench_function("sqlite-full-64-creators-vs-rusqlite-full", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, batched, single, ratios) = (&subject.store, &batched, &single, &ratios);
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    create_many(store, CREATE_N, MANY).await;
                    let ours = started.elapsed();
                    let started = Instant::now();
                    baseline_insert(&mut batched.lock().expect("conn"), CREATE_N, MANY);
                    let per_64 = started.elapsed();
                    let started = Instant::now();
                    baseline_insert(&mut single.lock().expect("conn"), CREATE_N, 1);
                    let per_1 = started.elapsed();
                    // rows/s of the store over rows/s of the baseline = baseline time / ours.
                    ratios.lock().expect("ratios").push((
                        per_64.as_secs_f64() / ours.as_secs_f64(),
                        per_1.as_secs_f64() / ours.as_secs_f64(),
                    ));
                    spent += ours;
                }
                spent
            }
        });
    });
    group.finish();
    let ratios = ratios.into_inner().expect("ratios");
    if !ratios.is_empty() {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let (m64, lo64, hi64) = median(ratios.iter().map(|r| r.0).collect());
        let (m1, lo1, hi1) = median(ratios.iter().map(|r| r.1).collect());
        eprintln!(
            "paired ratio, durable creates by 64 creators / rusqlite FULL, median of {} pairs \
             (min..max): vs 64 rows per tx {m64:.2} ({lo64:.2}..{hi64:.2}); \
             vs 1 row per tx {m1:.2} ({lo1:.2}..{hi1:.2})",
            ratios.len(),
        );
    }
    if let (Some(store), Some(before)) = (&subject.sqlite, before) {
        let after = store.writer_stats();
        let (commits, writes) = (after.commits - before.commits, after.writes - before.writes);
        // Nothing to say when the filter left `paired` out.
        if commits > 0 {
            eprintln!(
                "writer_stats paired: {commits} commits, {writes} writes, mean batch {:.1}",
                writes as f64 / commits as f64
            );
        }
    }
}

fn complete(c: &mut Criterion, kinds: &[Kind]) {
    let rt = runtime();
    let mut group = c.benchmark_group("complete");
    slow_group_settings(&mut group);
    for &kind in kinds {
        for workers in [1, MANY] {
            let subject = OnceCell::new();
            group.bench_function(
                BenchmarkId::new(kind.name(), format!("{workers}-completers")),
                |b| {
                    let subject = subject.get_or_init(|| open(&rt, kind));
                    b.to_async(&rt).iter_custom(|iters| {
                        let store = subject.store.clone();
                        async move {
                            let mut spent = Duration::ZERO;
                            for _ in 0..iters {
                                let tasks = create_many(&store, CREATE_N, MANY).await;
                                let started = Instant::now();
                                complete_all(&store, tasks, workers).await;
                                spent += started.elapsed();
                            }
                            spent
                        }
                    });
                },
            );
        }
    }
    group.finish();
}

/// Tasks in the session that `list` pages through.
const LIST_TASKS: usize = 10_000;

/// The kinds with a 10k-task session and a big store: one SQLite durability is enough, since
/// reads do not depend on it.
fn readers(kinds: &[Kind]) -> Vec<Kind> {
    kinds
        .iter()
        .copied()
        .filter(|k| *k != Kind::SqliteNormal)
        .collect()
}

/// Creates `n` tasks in `session`, by 64 concurrent creators (the fill is not measured; one
/// creator would spend seconds on a durable store for nothing).
async fn fill_session(store: &Arc<dyn TaskStore>, session: &str, n: usize) {
    let handles: Vec<_> = (0..MANY)
        .map(|c| {
            let (store, session) = (store.clone(), session.to_owned());
            tokio::spawn(async move {
                for i in (c..n).step_by(MANY) {
                    let new = new_task(TaskId::generate(), &session, i, TTL);
                    store.create(new).await.expect("create");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("filler");
    }
}

fn list(c: &mut Criterion, kinds: &[Kind]) {
    let rt = runtime();
    let mut group = c.benchmark_group("list");
    let session = "lister";
    for kind in readers(kinds) {
        // The store and the position of its middle page, made by the first case that runs.
        let filled = OnceCell::new();
        let fill = || {
            let subject = open(&rt, kind);
            let middle = rt.block_on(async {
                fill_session(&subject.store, session, LIST_TASKS).await;
                if let Some(db) = &subject.db {
                    postgres::settle(db).await;
                }
                let half = subject
                    .store
                    .list(&query(session, None, LIST_TASKS / 2))
                    .await
                    .expect("list");
                let last = half.last().expect("half a listing");
                Position {
                    created_at: last.created_at,
                    id: last.id.clone(),
                }
            });
            (subject, middle)
        };
        for limit in [10, 100] {
            for at in ["first", "middle"] {
                group.bench_function(
                    BenchmarkId::new(kind.name(), format!("10k-session/{at}-page-of-{limit}")),
                    |b| {
                        let (subject, middle) = filled.get_or_init(fill);
                        let after = (at == "middle").then(|| middle.clone());
                        let q = &query(session, after, limit);
                        b.to_async(&rt).iter(|| async {
                            let page = subject.store.list(q).await.expect("list");
                            assert_eq!(page.len(), limit);
                            black_box(page)
                        });
                    },
                );
            }
        }
    }
    group.finish();
}

fn query(session: &str, after: Option<Position>, limit: usize) -> ListQuery {
    ListQuery {
        owner: None,
        session: Some(session.into()),
        after,
        limit,
    }
}

/// The big SQLite and memory stores, which hold the same tasks.
struct Big {
    sqlite: Arc<SqliteStore>,
    memory: Arc<MemoryStore>,
    ids: Vec<TaskId>,
}

/// The big stores of one run, each filled when a case first needs it (so a filter that leaves
/// a store out never fills it), and dropped, PostgreSQL's database with them, when `get` ends.
#[derive(Default)]
struct BigStores {
    local: OnceCell<Big>,
    postgres: OnceCell<postgres::Big>,
}

impl BigStores {
    /// How many tasks the big store of `kind` holds.
    fn count(kind: Kind) -> usize {
        match kind {
            Kind::Postgres => postgres::big_count(),
            _ => common::big_count(),
        }
    }

    /// The big store of `kind` and the ids it holds.
    fn get(&self, rt: &Runtime, kind: Kind) -> (Arc<dyn TaskStore>, &[TaskId]) {
        if kind == Kind::Postgres {
            let big = self
                .postgres
                .get_or_init(|| postgres::big(rt, Self::count(kind)));
            return (big.store.clone(), &big.ids);
        }
        let big = self.local.get_or_init(|| {
            let (sqlite, ids) = common::big_sqlite(rt, Self::count(kind));
            let memory = common::big_memory(rt, &ids);
            Big {
                sqlite,
                memory,
                ids,
            }
        });
        let store: Arc<dyn TaskStore> = match kind {
            Kind::Memory => big.memory.clone(),
            Kind::SqliteFull => big.sqlite.clone(),
            other => unreachable!("no big store of {other:?}"),
        };
        (store, &big.ids)
    }
}

fn get(c: &mut Criterion, kinds: &[Kind]) {
    let rt = runtime();
    // After `rt`, so dropped before it: the PostgreSQL store closes on a live runtime.
    let bigs = BigStores::default();
    let mut group = c.benchmark_group("get");
    for kind in readers(kinds) {
        let n = BigStores::count(kind);
        group.bench_function(
            BenchmarkId::new(kind.name(), format!("store/{n}-tasks")),
            |b| {
                let (store, ids) = bigs.get(&rt, kind);
                let store = &store;
                let mut pick = Pick::new(0x5eed);
                b.to_async(&rt).iter(|| {
                    let id = &ids[pick.below(ids.len())];
                    async move {
                        black_box(store.get(None, id).await.expect("get").expect("found"))
                    }
                });
            },
        );
        group.bench_function(
            BenchmarkId::new(kind.name(), format!("engine/{n}-tasks")),
            |b| {
                let (store, ids) = bigs.get(&rt, kind);
                let engine = &Engine::new(store, EngineConfig::default());
                let me = &Requestor::anonymous("reader");
                let mut pick = Pick::new(0x5eed);
                b.to_async(&rt).iter(|| {
                    let id = &ids[pick.below(ids.len())];
                    async move { black_box(engine.get(me, id).await.expect("get")) }
                });
            },
        );
    }
    group.finish();

    // Listing among many tasks: a session's first page when its tasks are 1 in
    // `BIG_SESSIONS` of the store, and the (empty) page of a session that has none.
    let mut group = c.benchmark_group("list");
    for kind in readers(kinds) {
        let n = BigStores::count(kind);
        for (case, session) in [
            ("session-of-many", common::big_session(7)),
            ("empty-session", "nobody".to_owned()),
        ] {
            let q = &query(&session, None, 10);
            group.bench_function(
                BenchmarkId::new(kind.name(), format!("{n}-tasks/{case}/first-page-of-10")),
                |b| {
                    let store = &bigs.get(&rt, kind).0;
                    b.to_async(&rt)
                        .iter(|| async move { black_box(store.list(q).await.expect("list")) });
                },
            );
        }
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let kinds = Kind::available();
    create(&mut c, &kinds);
    baseline(&mut c);
    if kinds.contains(&Kind::Postgres) {
        baseline_postgres(&mut c);
    }
    paired(&mut c);
    complete(&mut c, &kinds);
    list(&mut c, &kinds);
    get(&mut c, &kinds);
    c.final_summary();
}

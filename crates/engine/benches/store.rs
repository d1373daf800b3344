//! Store operations (create, get, complete, list page) on the memory store and on SQLite, with
//! a plain-rusqlite baseline measured in the same run; README "Benchmarks" has the numbers.
//!
//! ```text
//! cargo bench -p mcp-tasks-engine --bench store                 # everything
//! BENCH_TASKS=20000 cargo bench -p mcp-tasks-engine --bench store   # quick smoke run
//! cargo bench -p mcp-tasks-engine --bench store -- 'create|baseline'  # a subset
//! ```
//!
//! Groups, all counted in tasks (rows) per second or time per operation:
//! - `create`: [`CREATE_N`] creations per iteration, by 1 creator and by 64 concurrent ones
//!   (each its own session), on memory, SQLite durable (`synchronous = FULL`, the default) and
//!   SQLite `synchronous = NORMAL`. After each SQLite 64-creator run the writer's commits and
//!   mean batch go to stderr.
//! - `baseline`: the same rows (same table, indexes, pragmas, JSON built the same way, spread
//!   over the 64 creators' sessions) inserted with plain rusqlite by one thread, one
//!   transaction per row (what a store without group commit pays) and 64 rows per transaction
//!   (the best plain rusqlite does for 64 writers at once).
//! - `paired`: the durable 64-creator case and both durable baselines alternated within each
//!   iteration; the median ratios go to stderr. The number to quote for the create target.
//! - `complete`: finishing fresh `working` tasks with a result, by 1 and by 64 completers.
//! - `list`: one page of 10 and of 100, first and middle, of a session holding 10,000 tasks;
//!   and on the big stores, a first page of a session among a million tasks and of a session
//!   with none.
//! - `get`: by random id on stores holding [`common::big_count`] tasks, at the store and
//!   through `Engine::get`.
//!
//! Performance is reported as ratios against a baseline measured in the same run, never
//! asserted: nothing here fails on a slow machine.

mod common;

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use jiff::Timestamp;
use mcp_tasks_engine::{
    Engine, EngineConfig, ListQuery, MemoryStore, Outcome, Position, Requestor, SqliteOptions,
    SqliteStore, Synchronous, TaskId, TaskRecord, TaskStore, Transition,
};
use rusqlite::{params, Connection};
use serde_json::json;
use tokio::runtime::Runtime;

use common::{new_task, scratch, Pick};

/// Tasks created (or rows inserted, or tasks completed) per iteration.
const CREATE_N: usize = 2048;
/// The concurrent creators of the "many writers" case.
const MANY: usize = 64;
/// The ttl of the tasks created while measuring, as a server's default would give.
const TTL: Duration = Duration::from_secs(3600);

/// The stores compared.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    SqliteFull,
    SqliteNormal,
}

impl Kind {
    const ALL: [Self; 3] = [Self::Memory, Self::SqliteFull, Self::SqliteNormal];

    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::SqliteFull => "sqlite-full",
            Self::SqliteNormal => "sqlite-normal",
        }
    }
}

/// A store under test, with what keeps it alive.
struct Subject {
    store: Arc<dyn TaskStore>,
    sqlite: Option<Arc<SqliteStore>>,
    _dir: Option<tempfile::TempDir>,
}

fn open(kind: Kind) -> Subject {
    let synchronous = match kind {
        Kind::Memory => {
            return Subject {
                store: Arc::new(MemoryStore::new()),
                sqlite: None,
                _dir: None,
            }
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

fn create(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("create");
    slow_group_settings(&mut group);
    for kind in Kind::ALL {
        for creators in [1, MANY] {
            let subject = open(kind);
            let before = subject.sqlite.as_ref().map(|s| s.writer_stats());
            group.bench_function(
                BenchmarkId::new(kind.name(), format!("{creators}-creators")),
                |b| {
                    b.to_async(&rt)
                        .iter(|| create_many(&subject.store, CREATE_N, creators));
                },
            );
            if let (Some(store), Some(before)) = (&subject.sqlite, before) {
                let after = store.writer_stats();
                let (commits, writes) =
                    (after.commits - before.commits, after.writes - before.writes);
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

/// The target's ratio measured in pairs: every iteration creates [`CREATE_N`] tasks with 64
/// creators on durable SQLite, then inserts as many rows with plain rusqlite at the same
/// durability, 64 per transaction and one per transaction. The time criterion reports is the
/// store's; the per-iteration ratios go to stderr. Pairing keeps a busy machine (other builds,
/// other disk writers) from favouring whichever side ran in the quieter minute.
fn paired(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("paired");
    slow_group_settings(&mut group);
    let subject = open(Kind::SqliteFull);
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
        eprintln!(
            "writer_stats paired: {commits} commits, {writes} writes, mean batch {:.1}",
            writes as f64 / commits.max(1) as f64
        );
    }
}

fn complete(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("complete");
    slow_group_settings(&mut group);
    for kind in Kind::ALL {
        for workers in [1, MANY] {
            let subject = open(kind);
            group.bench_function(
                BenchmarkId::new(kind.name(), format!("{workers}-completers")),
                |b| {
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

fn list(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("list");
    for kind in [Kind::Memory, Kind::SqliteFull] {
        let subject = open(kind);
        let session = "lister";
        let middle = rt.block_on(async {
            for i in 0..LIST_TASKS {
                let new = new_task(TaskId::generate(), session, i, TTL);
                subject.store.create(new).await.expect("create");
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
        for limit in [10, 100] {
            for (at, after) in [("first", None), ("middle", Some(middle.clone()))] {
                let q = query(session, after, limit);
                group.bench_function(
                    BenchmarkId::new(kind.name(), format!("10k-session/{at}-page-of-{limit}")),
                    |b| {
                        b.to_async(&rt).iter(|| async {
                            let page = subject.store.list(&q).await.expect("list");
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

/// The big stores, filled once for `get` and the big `list` cases.
struct Big {
    sqlite: Arc<SqliteStore>,
    memory: Arc<MemoryStore>,
    ids: Vec<TaskId>,
}

fn big(rt: &Runtime) -> &'static Big {
    static BIG: OnceLock<Big> = OnceLock::new();
    BIG.get_or_init(|| {
        let n = common::big_count();
        let (sqlite, ids) = common::big_sqlite(rt, n);
        let memory = common::big_memory(rt, &ids);
        Big {
            sqlite,
            memory,
            ids,
        }
    })
}

fn get(c: &mut Criterion) {
    let rt = runtime();
    let n = common::big_count();
    let mut group = c.benchmark_group("get");
    let stores = |big: &Big| -> [(&'static str, Arc<dyn TaskStore>); 2] {
        [
            ("memory", big.memory.clone()),
            ("sqlite-full", big.sqlite.clone()),
        ]
    };
    for which in 0..2 {
        let name = ["memory", "sqlite-full"][which];
        group.bench_function(BenchmarkId::new(name, format!("store/{n}-tasks")), |b| {
            let big = big(&rt);
            let store = stores(big)[which].1.clone();
            let store = &store;
            let ids = &big.ids;
            let mut pick = Pick::new(0x5eed);
            b.to_async(&rt).iter(|| {
                let id = &ids[pick.below(ids.len())];
                async move { black_box(store.get(None, id).await.expect("get").expect("found")) }
            });
        });
        group.bench_function(BenchmarkId::new(name, format!("engine/{n}-tasks")), |b| {
            let big = big(&rt);
            let engine = Engine::new(stores(big)[which].1.clone(), EngineConfig::default());
            let engine = &engine;
            let ids = &big.ids;
            let me = &Requestor::anonymous("reader");
            let mut pick = Pick::new(0x5eed);
            b.to_async(&rt).iter(|| {
                let id = &ids[pick.below(ids.len())];
                async move { black_box(engine.get(me, id).await.expect("get")) }
            });
        });
    }
    group.finish();

    // Listing among many tasks: a session's first page when its tasks are 1 in
    // `BIG_SESSIONS` of the store, and the (empty) page of a session that has none.
    let mut group = c.benchmark_group("list");
    for which in 0..2 {
        let name = ["memory", "sqlite-full"][which];
        for (case, session) in [
            ("session-of-many", common::big_session(7)),
            ("empty-session", "nobody".to_owned()),
        ] {
            let q = query(&session, None, 10);
            group.bench_function(
                BenchmarkId::new(name, format!("{n}-tasks/{case}/first-page-of-10")),
                |b| {
                    let store = stores(big(&rt))[which].1.clone();
                    let (store, q) = (&store, &q);
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
    create(&mut c);
    baseline(&mut c);
    paired(&mut c);
    complete(&mut c);
    list(&mut c);
    get(&mut c);
    c.final_summary();
}

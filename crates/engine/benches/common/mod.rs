//! What the benchmarks share: realistic tasks, and the big pre-filled stores.
//!
//! Included by `crates/engine/benches/store.rs` and, by path, by
//! `crates/runtime/benches/tasks_get.rs`, so both measure `tasks/get` against the same file.
//!
//! The big SQLite file is filled through the store's own API (never by writing rows behind
//! its back) and kept in `target/bench-data/tasks-N.sqlite3`, with the ids it holds in
//! `tasks-N.ids` beside it. A later run reuses both when the file holds exactly `N` tasks, so
//! the fill (tens of seconds for a million tasks) is paid once per machine; delete the folder
//! to refill. `N` is `BENCH_TASKS` (default 1,000,000).

#![allow(dead_code)] // each bench uses its own part

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use mcp_tasks_engine::{
    MemoryStore, NewTask, RequestKind, Requestor, SqliteOptions, SqliteStore, Synchronous, TaskId,
    TaskStore,
};
use serde_json::{json, Value};

/// How many tasks the big stores hold: `BENCH_TASKS`, default 1,000,000.
pub(crate) fn big_count() -> usize {
    std::env::var("BENCH_TASKS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

/// `target/bench-data/` (or `$CARGO_TARGET_DIR/bench-data/`), created if needed.
///
/// On the target's own disk, never in a `/tmp` that may be memory: durable writes must hit
/// the disk the server would use.
pub(crate) fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir).expect("cannot create target/bench-data");
    dir.canonicalize().unwrap_or(dir)
}

/// A fresh folder for one store, removed when dropped.
pub(crate) fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("scratch-")
        .tempdir_in(data_dir())
        .expect("cannot create a scratch folder in target/bench-data")
}

/// The params of a realistic `tools/call` (about 200 bytes of JSON), varied by `i`.
pub(crate) fn params(i: usize) -> Value {
    json!({
        "name": "search_documents",
        "arguments": {
            "query": format!("quarterly revenue report {i}"),
            "collection": "finance-2025",
            "limit": 25,
            "filters": {"language": "en", "after": "2025-01-01"}
        },
        "_meta": {"progressToken": format!("p-{i}")}
    })
}

/// A new `tools/call` task of anonymous session `session`, created now.
///
/// No per-requestor limit: that check is the engine's business and would only add one
/// indexed count per create.
pub(crate) fn new_task(id: TaskId, session: &str, i: usize, ttl: Duration) -> NewTask {
    NewTask {
        id,
        requestor: Requestor::anonymous(session),
        kind: RequestKind::ToolsCall,
        name: Some("search_documents".into()),
        params: params(i),
        created_at: Timestamp::now(),
        ttl: Some(ttl),
        poll_interval: Some(Duration::from_secs(1)),
        progress_token: Some(json!(format!("p-{i}"))),
        runner: Some("bench-runner-0b6f4a52-8d1e-4c3a-9f7e-2a61c0d9e5b3".into()),
        active_limit: None,
    }
}

/// The ttl of the tasks in the big stores: long, so a file reused weeks later has not
/// expired (`Engine::get` would answer "expired" instead of reading the task).
pub(crate) const BIG_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How many sessions the big stores' tasks are spread over.
pub(crate) const BIG_SESSIONS: usize = 1000;

/// The session of the `i`-th task of the big stores.
pub(crate) fn big_session(i: usize) -> String {
    format!("fill-{}", i % BIG_SESSIONS)
}

/// The big SQLite store (opened with the default, durable options) and the ids it holds:
/// reused from `target/bench-data/` when it is there and complete, filled otherwise.
pub(crate) fn big_sqlite(
    rt: &tokio::runtime::Runtime,
    n: usize,
) -> (Arc<SqliteStore>, Vec<TaskId>) {
    let dir = data_dir();
    let path = dir.join(format!("tasks-{n}.sqlite3"));
    let ids_path = dir.join(format!("tasks-{n}.ids"));
    if let Some(reused) = reuse(rt, &path, &ids_path, n) {
        return reused;
    }
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let _ = std::fs::remove_file(&ids_path);

    eprintln!(
        "filling {} with {n} tasks through the store API...",
        path.display()
    );
    let started = Instant::now();
    // Filling is not what is measured: synchronous = NORMAL and big batches make it quick.
    let fill = Arc::new(
        SqliteStore::open_with(
            &path,
            SqliteOptions {
                synchronous: Synchronous::Normal,
                ..SqliteOptions::default()
            },
        )
        .expect("open the big store"),
    );
    let ids: Vec<TaskId> = (0..n).map(|_| TaskId::generate()).collect();
    let ids = Arc::new(ids);
    const CREATORS: usize = 256;
    rt.block_on(async {
        let mut handles = Vec::new();
        for c in 0..CREATORS {
            let store = fill.clone();
            let ids = ids.clone();
            handles.push(tokio::spawn(async move {
                for i in (c..ids.len()).step_by(CREATORS) {
                    let new = new_task(ids[i].clone(), &big_session(i), i, BIG_TTL);
                    store.create(new).await.expect("fill create");
                    if c == 0 && i % (CREATORS * 1000) == 0 && i > 0 {
                        eprintln!("  {i} / {n} after {:.1?}", started.elapsed());
                    }
                }
            }));
        }
        for h in handles {
            h.await.expect("fill creator");
        }
    });
    let stats = fill.writer_stats();
    drop(fill);
    eprintln!(
        "filled {n} tasks in {:.1?} ({} commits, mean batch {:.0})",
        started.elapsed(),
        stats.commits,
        stats.writes as f64 / stats.commits.max(1) as f64
    );
    let ids = Arc::try_unwrap(ids).expect("creators are done");
    let mut out = BufWriter::new(std::fs::File::create(&ids_path).expect("write the ids file"));
    for id in &ids {
        writeln!(out, "{id}").expect("write the ids file");
    }
    out.flush().expect("write the ids file");
    let store = SqliteStore::open(&path).expect("reopen the big store");
    (Arc::new(store), ids)
}

fn reuse(
    rt: &tokio::runtime::Runtime,
    path: &std::path::Path,
    ids_path: &std::path::Path,
    n: usize,
) -> Option<(Arc<SqliteStore>, Vec<TaskId>)> {
    let file = std::fs::File::open(ids_path).ok()?;
    let ids: Vec<TaskId> = std::io::BufReader::new(file)
        .lines()
        .map(|l| l.map(TaskId::from))
        .collect::<std::io::Result<_>>()
        .ok()?;
    if ids.len() != n || !path.exists() {
        return None;
    }
    let store = SqliteStore::open(path).ok()?;
    let count = rt.block_on(store.count()).ok()?;
    let last = rt.block_on(store.get(None, &ids[n - 1])).ok()??;
    if count != n as u64 || last.is_expired(Timestamp::now()) {
        return None;
    }
    eprintln!("reusing {} ({n} tasks)", path.display());
    Some((Arc::new(store), ids))
}

/// A memory store holding the same tasks as the big SQLite store (same ids, sessions, params).
pub(crate) fn big_memory(rt: &tokio::runtime::Runtime, ids: &[TaskId]) -> Arc<MemoryStore> {
    let started = Instant::now();
    let store = Arc::new(MemoryStore::new());
    rt.block_on(async {
        for (i, id) in ids.iter().enumerate() {
            let new = new_task(id.clone(), &big_session(i), i, BIG_TTL);
            store.create(new).await.expect("memory fill");
        }
    });
    eprintln!(
        "filled the memory store with {} tasks in {:.1?}",
        ids.len(),
        started.elapsed()
    );
    store
}

/// A cheap, deterministic pseudo-random sequence (xorshift64*), to pick ids without a
/// dependency and without the picking showing up in the measurement.
#[derive(Debug)]
pub(crate) struct Pick(u64);

impl Pick {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

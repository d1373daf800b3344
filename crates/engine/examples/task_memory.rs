//! How much memory a finished task holds in the in-memory store (issue 14), by resident set
//! size: the process holds N finished tasks, made the way the server makes them, and the
//! growth of its RSS over an empty engine is divided by N.
//!
//! ```text
//! cargo run -p mcp-tasks-engine --example task_memory            # N = 200,000
//! cargo run -p mcp-tasks-engine --example task_memory -- 50000 1000   # N, sessions
//! ```
//!
//! Each case runs in a process of its own (this binary runs itself), so the memory one case
//! freed does not flatter the next:
//! - `engine`: `Engine::create` of a `tools/call` on a 36-character session, `Engine::start`
//!   with work that returns a small `CallToolResult`, the default limits (so the per-client
//!   ledger keeps its entries), waited until every task is completed;
//! - `engine+retrieved`: the same, and each result retrieved once, as `tasks/result` notes it;
//! - `engine-no-limits`: without the per-client limits, so the ledger keeps nothing: the
//!   difference is the ledger's share;
//! - `params`, `result`, `record`, `history`: N copies of a task's params, of its result, of a
//!   finished record as `get` returns it, and of its history as `history` returns it: what
//!   each would hold if it were kept as those values.
//!
//! RSS counts what the allocator keeps (headers, rounding, tables' spare room), which is what
//! a server's memory is; a single-threaded runtime keeps every allocation in one arena.

use std::io::Write;
use std::sync::Arc;

use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Limits, MemoryStore, Outcome, RequestKind, Requestor,
    TaskStatus, TaskStore,
};
use serde_json::{json, Value};

/// The cases, each run in its own process.
const CASES: [&str; 7] = [
    "engine",
    "engine+retrieved",
    "engine-no-limits",
    "params",
    "result",
    "record",
    "history",
];

fn params() -> Value {
    json!({"name": "slow_echo", "arguments": {"text": "bench", "delay_ms": 0}, "task": {"ttl": 60000}})
}

fn result() -> Value {
    json!({"content": [{"type": "text", "text": "bench"}]})
}

/// A 36-character session id, like the HTTP transport's.
fn session(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i, i)
}

/// Resident bytes of this process, from `/proc/self/statm`.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let sessions: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut out = std::io::stdout().lock();
    if let Some(case) = args.get(3) {
        let bytes = run(case, n, sessions);
        writeln!(out, "{bytes}").expect("stdout");
        return;
    }
    writeln!(
        out,
        "{n} tasks over {sessions} session(s); bytes per task, by RSS growth"
    )
    .expect("stdout");
    let me = std::env::current_exe().expect("this example's path");
    for case in CASES {
        let child = std::process::Command::new(&me)
            .args([n.to_string(), sessions.to_string(), case.to_owned()])
            .output()
            .expect("run a case");
        assert!(child.status.success(), "case {case} failed: {child:?}");
        let bytes: f64 = String::from_utf8_lossy(&child.stdout)
            .trim()
            .parse()
            .expect("a case prints its bytes per task");
        writeln!(out, "{case:>18}: {bytes:>8.0}").expect("stdout");
    }
}

/// Bytes per task of one case.
fn run(case: &str, n: usize, sessions: usize) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        match case {
            "engine" => engine(n, sessions, Limits::default(), false).await,
            "engine+retrieved" => engine(n, sessions, Limits::default(), true).await,
            "engine-no-limits" => {
                let none = Limits {
                    max_active_per_requestor: None,
                    max_result_bytes: None,
                    max_result_bytes_per_client: None,
                    max_pending_inputs: None,
                };
                engine(n, sessions, none, false).await
            }
            "params" => held(n, |_| params()),
            "result" => held(n, |_| result()),
            "record" | "history" => copies(case, n, sessions).await,
            other => panic!("unknown case {other}"),
        }
    })
}

/// Bytes per value of `n` values made by `make`.
fn held<T>(n: usize, make: impl Fn(usize) -> T) -> f64 {
    let mut kept = Vec::with_capacity(n);
    let before = rss();
    for i in 0..n {
        kept.push(make(i));
    }
    let grown = rss().saturating_sub(before);
    drop(std::hint::black_box(kept));
    // The vector's own slots are part of the values.
    grown as f64 / n as f64 + std::mem::size_of::<T>() as f64
}

async fn engine(n: usize, sessions: usize, limits: Limits, retrieve: bool) -> f64 {
    let store = Arc::new(MemoryStore::new());
    let config = EngineConfig {
        limits,
        ..EngineConfig::default()
    };
    let engine = Engine::new(store.clone(), config);
    let requestors: Vec<Requestor> = (0..sessions)
        .map(|i| Requestor::anonymous(session(i)))
        .collect();
    // Warm up what every engine has, whatever it holds: the background duties, the feed.
    one(&engine, &requestors[0], retrieve).await;
    let before = rss();
    for i in 1..n {
        one(&engine, &requestors[i % sessions], retrieve).await;
    }
    let done = store
        .counts()
        .await
        .expect("counts")
        .iter()
        .filter(|c| c.status == TaskStatus::Completed)
        .map(|c| c.count)
        .sum::<u64>();
    assert_eq!(done, n as u64, "every task completed");
    (rss().saturating_sub(before)) as f64 / (n - 1) as f64
}

/// One task: created, run, completed; its result retrieved once when `retrieve`.
async fn one(engine: &Engine, me: &Requestor, retrieve: bool) {
    let task = engine
        .create(CreateTask {
            requestor: me.clone(),
            kind: RequestKind::ToolsCall,
            name: Some("slow_echo".into()),
            params: params(),
            ttl_ms: Some(600_000),
            progress_token: None,
        })
        .await
        .expect("create");
    engine.start(&task, |_| async { Outcome::Completed(result()) });
    let done = engine.wait_terminal(me, &task.id).await.expect("wait");
    if retrieve {
        engine.result_retrieved(me, &done).await;
    }
}

/// Bytes per copy of a finished task's record (`record`) or history (`history`), as the store
/// hands them out.
async fn copies(case: &str, n: usize, sessions: usize) -> f64 {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let me = Requestor::anonymous(session(sessions));
    let task = engine
        .create(CreateTask {
            requestor: me.clone(),
            kind: RequestKind::ToolsCall,
            name: Some("slow_echo".into()),
            params: params(),
            ttl_ms: Some(600_000),
            progress_token: None,
        })
        .await
        .expect("create");
    engine.start(&task, |_| async { Outcome::Completed(result()) });
    let done = engine.wait_terminal(&me, &task.id).await.expect("wait");
    if case == "record" {
        return held(n, |_| done.clone());
    }
    let events = store.history(&done.id, None, 100).await.expect("history");
    held(n, |_| events.clone())
}

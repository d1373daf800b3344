//! One `tasks/get` request answered in-process, on a memory store and on a SQLite file holding
//! a million tasks; docs/benchmarks.md has the numbers.
//!
//! ```text
//! cargo bench -p mcp-tasks-runtime --bench tasks_get
//! BENCH_TASKS=20000 cargo bench -p mcp-tasks-runtime --bench tasks_get   # quick smoke run
//! ```
//!
//! Each iteration is what a transport does with one request line, minus the I/O: decode the
//! JSON-RPC line, [`Server::handle_request`], encode the response. The request lines are made
//! before measuring, one per task, and asked in a random order. The stores are the ones the
//! engine's `store` bench uses (shared through its `common` module), so the SQLite file in
//! `target/bench-data/` is filled once for both.

#[path = "../../engine/benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion};
use mcp_tasks_engine::{Engine, EngineConfig, TaskStore};
use mcp_tasks_runtime::server::{Server, Tools};
use mcp_tasks_runtime::session::{Session, Sink};
use mcp_tasks_wire::jsonrpc::{decode, Message};
use mcp_tasks_wire::v2025_11_25::Implementation;

use common::Pick;

/// Decodes one request line, answers it, and encodes the answer.
async fn answer(server: &Arc<Server>, session: &Arc<Session>, sink: &Sink, line: &[u8]) -> Vec<u8> {
    let Ok(Message::Request(request)) = decode(line) else {
        panic!("not a request: {}", String::from_utf8_lossy(line));
    };
    let response = server.handle_request(session, request, sink).await;
    serde_json::to_vec(&Message::from(response)).expect("encode the response")
}

fn tasks_get(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let n = common::big_count();
    let (sqlite, ids) = common::big_sqlite(&rt, n);
    let memory = common::big_memory(&rt, &ids);
    let lines: Vec<Vec<u8>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tasks/get","params":{{"taskId":"{id}"}}}}"#
            )
            .into_bytes()
        })
        .collect();
    let stores: [(&str, Arc<dyn TaskStore>); 2] = [("memory", memory), ("sqlite-full", sqlite)];

    let mut group = c.benchmark_group("tasks_get");
    for (name, store) in stores {
        let engine = Engine::new(store, EngineConfig::default());
        let server = Server::new(engine, Tools::new(), Implementation::new("bench", "0.0.0"));
        let session = Arc::new(Session::new("bench-session"));
        let (sink, _outbound) = Sink::channel(mcp_tasks_runtime::session::DEFAULT_QUEUE);
        let first = rt.block_on(answer(&server, &session, &sink, &lines[0]));
        let first = String::from_utf8(first).expect("utf-8");
        assert!(
            first.contains(r#""status":"working""#) && !first.contains(r#""error""#),
            "tasks/get did not answer the task: {first}"
        );
        let (server, session, sink, lines) = (&server, &session, &sink, &lines);
        group.bench_function(BenchmarkId::new(name, format!("{n}-tasks")), |b| {
            let mut pick = Pick::new(0x5eed);
            b.to_async(&rt).iter(|| {
                let line = &lines[pick.below(lines.len())];
                async move { black_box(answer(server, session, sink, line).await) }
            });
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    tasks_get(&mut c);
    c.final_summary();
}

//! Cross-instance wake latency: how long after a task completes on instance A a `tasks/result`
//! waiting on instance B returns. A load generator, not a criterion bench: it starts two real
//! `mcp-tasks serve --http` processes (release build) on a throw-away PostgreSQL database and
//! reports percentiles, beside the same measure with the waiter on A itself (the baseline of
//! the same run: what a single instance gives).
//!
//! ```text
//! cargo bench -p mcp-tasks --bench wake                # 300 tasks per case
//! WAKE_TASKS=2000 cargo bench -p mcp-tasks --bench wake
//! ```
//!
//! Each task is a `slow_echo` of 30 ms created through a session on A; the waiting
//! `tasks/result` is sent at once, so it waits well before the work ends. The latency is the
//! moment the client holds the result minus the task's `lastUpdatedAt`, which A stamps from its
//! clock when it stores the completion; client and servers share this machine's clock. It
//! covers storing the outcome, the notification, the waiter's re-read and the HTTP answer.
//! PostgreSQL is named by `MCP_TASKS_TEST_POSTGRES` (default: the loopback server).

// The report is this program's output.
#![allow(clippy::print_stdout)]

use jiff::Timestamp;
use mcp_tasks_runtime::client::{Client, ClientBuilder, Protocol};
use mcp_tasks_wire::v2025_11_25::Implementation;
use serde_json::json;
use testkit::auth::TokensFile;
use testkit::http::HttpServer;
use testkit::postgres::TempDatabase;
use testkit::process::ServeOptions;

const TOKEN: &str = "bench-token-0123456789abcdef";

#[tokio::main]
async fn main() {
    let tasks: usize = std::env::var("WAKE_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let db = TempDatabase::create().await;
    let tokens = TokensFile::new(&[("bench", TOKEN)]);
    let options = ServeOptions::default()
        .store(db.url())
        .args(tokens.serve_args())
        .args([
            "--rate-limit",
            "unlimited",
            "--max-active-tasks",
            "unlimited",
        ]);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_mcp-tasks"));
    let a = HttpServer::spawn_with(bin, &options).await;
    let b = HttpServer::spawn_with(bin, &options).await;
    let on_a = connect(a.url()).await;
    let on_b = connect(b.url()).await;

    // Warm both instances' pools and statement caches.
    measure(&on_a, &on_b, 20).await;
    measure(&on_a, &on_a, 20).await;

    eprintln!("measuring {tasks} tasks per case, alternating the cases in rounds of 50");
    let (mut same, mut cross) = (Vec::new(), Vec::new());
    let mut left = tasks;
    while left > 0 {
        let n = left.min(50);
        same.extend(measure(&on_a, &on_a, n).await);
        cross.extend(measure(&on_a, &on_b, n).await);
        left -= n;
    }
    let (same, cross) = (Percentiles::of(same), Percentiles::of(cross));
    println!("| waiter | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|");
    println!("| same instance (A → A), baseline | {same} |");
    println!("| other instance (A → B) | {cross} |");
    println!(
        "cross / same: p50 {:.2}x, p99 {:.2}x",
        cross.p50 / same.p50,
        cross.p99 / same.p99
    );
    on_a.close().await;
    on_b.close().await;
}

async fn connect(url: &str) -> Client {
    // The wake measured is that of a 2025-11-25 tasks/result exchange.
    ClientBuilder::new(Implementation::new("wake-bench", "0"))
        .protocol(Protocol::V2025_11_25)
        .bearer_token(TOKEN)
        .connect_http(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Latencies in milliseconds of `n` tasks created through `creator` and awaited through
/// `waiter`.
async fn measure(creator: &Client, waiter: &Client, n: usize) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let created = creator
            .request(
                "tools/call",
                json!({"name": "slow_echo", "arguments": {"text": "x", "delay_ms": 30},
                       "task": {}}),
            )
            .await
            .expect("the task is created");
        let id = created["task"]["taskId"]
            .as_str()
            .expect("a task id")
            .to_owned();
        waiter
            .request("tasks/result", json!({"taskId": id}))
            .await
            .expect("the result");
        let held = Timestamp::now();
        let task = waiter
            .request("tasks/get", json!({"taskId": id}))
            .await
            .expect("the task");
        assert_eq!(task["status"], "completed", "{task}");
        let done: Timestamp = task["lastUpdatedAt"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("lastUpdatedAt");
        let latency = held.duration_since(done);
        latencies.push(latency.as_secs_f64() * 1000.0);
    }
    latencies
}

struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: *ms.last().unwrap_or(&0.0),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms",
            self.p50, self.p90, self.p99, self.max
        )
    }
}

//! Bounded memory against clients that never read (issue 11, item 5): the two cases measured
//! against the release binary, driven against the real binary over HTTP on 127.0.0.1.
//!
//! Both open a POST on a raw socket and never read it, while the server keeps producing for
//! that exchange (progress with the largest `progressToken` the server takes, every
//! millisecond). Unbounded, the server buffered all of it: 2.8 MB/s for ten `tasks/result`
//! streams, hundreds of MB within seconds for one 1 MB token. Bounded, the connection is cut
//! with a logged reason and the resident set stays near its baseline, while another client is
//! served all along; a token over the limit is refused before any work.
//!
//! The growth limit is generous (64 MiB): what the bounds allow is a few MiB per stalled
//! stream, and the unbounded server grows by hundreds of MiB over the same work.

use std::path::Path;

use serde_json::{json, Value};
use testkit::http::{HttpServer, HttpSession};

/// How much the resident set may grow over its baseline, in KiB.
const GROWTH_LIMIT_KIB: u64 = 64 * 1024;
/// The size of each progress token: nearly the most a client may send (the server refuses
/// echoed ids over 1 KiB), echoed in every progress notification.
const TOKEN_BYTES: usize = 1000;
/// Rounds of work the observing client does while the stalled exchanges run; each round is a
/// plain `countdown` of about [`ROUND_STEPS`] × 10 ms, so together they span seconds.
const ROUNDS: usize = 15;
const ROUND_STEPS: u64 = 20;
/// How long the stalled exchanges may take to fill the socket buffers and be cut.
const CUT_WITHIN: std::time::Duration = std::time::Duration::from_secs(90);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

fn token(tag: usize) -> String {
    format!("{tag:04}{}", "t".repeat(TOKEN_BYTES - 4))
}

/// A countdown long enough to outlast the test, reporting progress every millisecond.
fn endless_countdown() -> Value {
    json!({"from": 100_000, "interval_ms": 1})
}

/// One plain call by a client that reads: it must be answered correctly however the stalled
/// clients behave.
async fn served(client: &HttpSession) {
    let answer = client
        .request(
            "tools/call",
            json!({"name": "countdown", "arguments": {"from": ROUND_STEPS, "interval_ms": 10}}),
        )
        .await
        .expect("the reading client is served");
    let text = answer["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Liftoff"), "{answer}");
}

/// The server's largest resident set, in KiB, while `client` is served at least [`ROUNDS`]
/// times and, when `until_cut`, until the server has logged that it cut a stalled stream (the
/// kernel's socket buffers take some megabytes before anything waits in the server).
async fn peak_rss_while_serving(server: &HttpServer, client: &HttpSession, until_cut: bool) -> u64 {
    let deadline = std::time::Instant::now() + CUT_WITHIN;
    let mut peak = server.rss_kib();
    let mut rounds = 0;
    while rounds < ROUNDS || (until_cut && !cut_logged(server)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no stalled stream was cut within {CUT_WITHIN:?}; server stderr:\n{}",
            server.stderr()
        );
        served(client).await;
        peak = peak.max(server.rss_kib());
        rounds += 1;
    }
    peak
}

fn assert_bounded(server: &HttpServer, what: &str, baseline: u64, peak: u64) {
    assert!(
        peak.saturating_sub(baseline) < GROWTH_LIMIT_KIB,
        "{what}: the server grew from {baseline} KiB to {peak} KiB (limit {GROWTH_LIMIT_KIB} KiB \
         of growth)\nserver stderr:\n{}",
        server.stderr()
    );
}

/// Whether the server said why it cut a stalled stream.
fn cut_logged(server: &HttpServer) -> bool {
    server.stderr().contains("stopped reading")
}

/// Ten `countdown` tasks whose `tasks/result` streams are opened and never read: the
/// server's memory stays bounded while another client is served, and the tasks themselves
/// are intact (still working, reachable with `tasks/get`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_task_result_streams_keep_memory_bounded() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let observer = server.session().await;
    served(&observer).await;
    let baseline = server.rss_kib();

    let stalled = server.session().await;
    let mut sockets = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..10 {
        let created = stalled
            .request(
                "tools/call",
                json!({"name": "countdown", "arguments": endless_countdown(), "task": {},
                       "_meta": {"progressToken": token(n)}}),
            )
            .await
            .expect("the task is created");
        let id = created["task"]["taskId"].clone();
        let result = json!({"jsonrpc": "2.0", "id": 1000 + n, "method": "tasks/result",
                            "params": {"taskId": id}});
        sockets.push(stalled.post_unread(&result).await);
        tasks.push(id);
    }

    let peak = peak_rss_while_serving(&server, &observer, true).await;
    assert_bounded(&server, "ten unread tasks/result streams", baseline, peak);

    for id in &tasks {
        let task = stalled
            .request("tasks/get", json!({"taskId": id}))
            .await
            .expect("the task is still there");
        assert_eq!(task["status"], "working", "{task}");
        stalled
            .request("tasks/cancel", json!({"taskId": id}))
            .await
            .expect("the task can be cancelled");
    }
    drop(sockets);
}

/// One plain `countdown` call carrying a large `progressToken` on a socket never read: the
/// server's memory stays bounded while another client is served, and stays bounded after the
/// socket closes. The measured case, a 1 MB token, is refused with -32602 before any work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_call_with_a_large_progress_token_keeps_memory_bounded() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let observer = server.session().await;
    served(&observer).await;
    let baseline = server.rss_kib();

    let caller = server.session().await;
    let huge = json!({"name": "countdown", "arguments": endless_countdown(),
                      "_meta": {"progressToken": "t".repeat(1024 * 1024)}});
    let refused = caller
        .request("tools/call", huge)
        .await
        .expect_err("a 1 MB progress token is refused");
    assert_eq!(refused.code, -32602, "{refused:?}");

    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "countdown", "arguments": endless_countdown(),
        "_meta": {"progressToken": token(0)}}});
    let socket = caller.post_unread(&call).await;

    let peak = peak_rss_while_serving(&server, &observer, true).await;
    assert_bounded(&server, "an unread call with a large token", baseline, peak);

    drop(socket);
    let after = peak_rss_while_serving(&server, &observer, false).await;
    assert_bounded(&server, "after the unread socket closed", baseline, after);
}

//! The limits of the stateless era against the real binary (`mcp-tasks serve`), over HTTP and
//! stdio: requests that each get a session of their own are still limited as their caller.
//!
//! Every message read is checked against the official schemas (see `v2026/mod.rs`).

mod v2026;

use serde_json::{json, Value};
use testkit::http::HttpServer;
use v2026::{bin, with_tasks, Http, StdioServer};

/// The most requests sent while waiting for a refusal. At one request per second with a
/// burst of one, the second request is refused unless a whole second passed between them, so
/// twenty in a row pass only if every one took a second.
const TRIES: usize = 20;

/// The params of a `tools/call` of `must_be_task`, the demo tool that always runs as a task,
/// waiting a minute.
fn long_call() -> Value {
    json!({"name": "must_be_task", "arguments": {"delay_ms": 60_000}})
}

fn assert_rate_limited(error: &Value) {
    assert_eq!(error["code"], -32603, "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("rate limit"), "{error}");
    assert!(error["data"]["retryAfterMs"].as_u64().is_some(), "{error}");
}

fn assert_over_active_limit(error: &Value) {
    assert_eq!(error["code"], -32603, "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("too many unfinished tasks"), "{error}");
}

/// T-SEC-3: an anonymous caller's stateless task requests over HTTP share one rate limit,
/// though each request gets a session of its own.
#[tokio::test]
async fn tsec3_stateless_http_requests_share_their_callers_rate_limit() {
    let server = HttpServer::spawn(bin(), &["--rate-limit", "1", "--rate-burst", "1"]).await;
    let client = Http::new(server.url());
    let mut refused = None;
    for _ in 0..TRIES {
        let reply = client
            .request("tasks/get", json!({"taskId": "nope"}), &with_tasks())
            .await;
        if reply.code() != -32602 {
            refused = Some(reply.error().clone());
            break;
        }
    }
    assert_rate_limited(&refused.expect("T-SEC-3: a burst above the limit is refused"));
}

/// T-SEC-3: the stateless requests of one stdio connection share its rate limit.
#[tokio::test]
async fn tsec3_stateless_stdio_requests_share_the_connections_rate_limit() {
    let mut server = StdioServer::spawn_with(&["--rate-limit", "1", "--rate-burst", "1"]);
    let mut refused = None;
    for _ in 0..TRIES {
        let answer = server
            .request("tasks/get", json!({"taskId": "nope"}), &with_tasks())
            .await;
        if answer["error"]["code"] != -32602 {
            refused = Some(answer["error"].clone());
            break;
        }
    }
    assert_rate_limited(&refused.expect("T-SEC-3: a burst above the limit is refused"));
}

/// T-TTL-2: an anonymous caller's stateless calls over HTTP share one cap on unfinished
/// tasks; cancelling one frees its slot.
#[tokio::test]
async fn tttl2_stateless_http_calls_share_their_callers_task_cap() {
    let server = HttpServer::spawn(bin(), &["--max-active-tasks", "2"]).await;
    let client = Http::new(server.url());
    let mut ids = Vec::new();
    for _ in 0..2 {
        let reply = client
            .request("tools/call", long_call(), &with_tasks())
            .await;
        ids.push(reply.result()["taskId"].as_str().unwrap().to_owned());
    }
    let third = client
        .request("tools/call", long_call(), &with_tasks())
        .await;
    assert_over_active_limit(third.error());
    client
        .request("tasks/cancel", json!({"taskId": ids[0]}), &with_tasks())
        .await
        .result();
    let again = client
        .request("tools/call", long_call(), &with_tasks())
        .await;
    assert_eq!(again.result()["resultType"], "task");
}

/// T-TTL-2: the stateless calls of one stdio connection share its cap on unfinished tasks.
#[tokio::test]
async fn tttl2_stateless_stdio_calls_share_the_connections_task_cap() {
    let mut server = StdioServer::spawn_with(&["--max-active-tasks", "2"]);
    for _ in 0..2 {
        let created = server
            .request("tools/call", long_call(), &with_tasks())
            .await;
        assert_eq!(created["result"]["resultType"], "task", "{created}");
    }
    let third = server
        .request("tools/call", long_call(), &with_tasks())
        .await;
    assert_over_active_limit(&third["error"]);
}

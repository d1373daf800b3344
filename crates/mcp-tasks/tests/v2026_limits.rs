//! The limits and flow control of the stateless era against the real binary (`mcp-tasks
//! serve`), over HTTP and stdio: requests that each get a session of their own are still
//! limited as their caller, and a `subscriptions/listen` stream loses nothing to a queue.
//!
//! Every message read is checked against the official schemas (see `v2026/mod.rs`).

mod v2026;

use serde_json::{json, Value};
use testkit::http::HttpServer;
use v2026::{bin, with_tasks, Http, StdioServer, SUBSCRIPTION_ID};

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

/// How many finished tasks a listen stream follows at once: more than a stream's queue holds
/// below its reserve, so a stream that dropped notifications on a full queue would lose some.
const MANY: usize = 300;

fn quick_call() -> Value {
    json!({"name": "must_be_task", "arguments": {"delay_ms": 0}})
}

fn is_final_task_state(m: &Value) -> bool {
    m["method"] == "notifications/tasks"
        && matches!(
            m["params"]["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        )
}

/// B-7, X-7: a listen stream following many finished tasks over HTTP carries the
/// acknowledgement and then every task's final state, none dropped for want of room.
#[tokio::test]
async fn x7_http_listen_loses_no_task_state() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let client = Http::new(server.url());
    let mut ids = Vec::new();
    for _ in 0..MANY {
        let reply = client
            .request("tools/call", quick_call(), &with_tasks())
            .await;
        ids.push(reply.result()["taskId"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let done = |t: &Value| t["status"] == "completed";
        while !done(
            client
                .request("tasks/get", json!({"taskId": id}), &with_tasks())
                .await
                .result(),
        ) {
            tokio::task::yield_now().await;
        }
    }
    let mut stream = client
        .listen(json!("many"), json!({"taskIds": ids}), &with_tasks())
        .await;
    let ack = stream.next().await.expect("the acknowledgement");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!(ids));
    let mut seen = std::collections::HashSet::new();
    // The stream's keep-alive comments would hold each read open past a missing message.
    tokio::time::timeout(v2026::HANG, async {
        while seen.len() < MANY {
            let m = stream
                .until("every task's final state", is_final_task_state)
                .await;
            assert_eq!(m["params"]["_meta"][SUBSCRIPTION_ID], "many");
            seen.insert(m["params"]["taskId"].as_str().unwrap().to_owned());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("X-7: only {} of {MANY} final states arrived", seen.len()));
}

/// B-7, X-7: on stdio, where the stream shares stdout with everything else, the
/// acknowledgement and every finished task's state arrive, none dropped for want of room.
#[tokio::test]
async fn x7_stdio_listen_loses_no_task_state() {
    let mut server = StdioServer::spawn();
    let mut ids = Vec::new();
    for _ in 0..MANY {
        let created = server
            .request("tools/call", quick_call(), &with_tasks())
            .await;
        ids.push(created["result"]["taskId"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        while server
            .request("tasks/get", json!({"taskId": id}), &with_tasks())
            .await["result"]["status"]
            != "completed"
        {
            tokio::task::yield_now().await;
        }
    }
    let params = v2026::with_meta(json!({"notifications": {"taskIds": ids}}), &with_tasks());
    server
        .send(
            &json!({"jsonrpc": "2.0", "id": "many", "method": "subscriptions/listen",
                      "params": params}),
        )
        .await;
    let mut acknowledged = false;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < MANY {
        let m = server.next_notification().await.expect("stdout stays open");
        v2026::check("subscriptions/listen", &m);
        if m["params"]["_meta"][SUBSCRIPTION_ID] != "many" {
            continue;
        }
        if m["method"] == "notifications/subscriptions/acknowledged" {
            assert!(seen.is_empty(), "B-7: the acknowledgement comes first");
            acknowledged = true;
        } else if is_final_task_state(&m) {
            seen.insert(m["params"]["taskId"].as_str().unwrap().to_owned());
        }
    }
    assert!(acknowledged, "B-7: the acknowledgement is never dropped");
}

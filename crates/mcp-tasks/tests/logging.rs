//! Log messages from tools (`ToolContext::log`, `notifications/message`) in both eras, against
//! the real binary serving the conformance fixtures over Streamable HTTP.
//!
//! MCP 2025-11-25, "Logging": the server declares `capabilities.logging`, `logging/setLevel`
//! sets the session's least severe level, and a call's log messages ride its request's stream.
//! MCP 2026-07-28, "Logging": each request asks for its own level in
//! `_meta["io.modelcontextprotocol/logLevel"]` and a request without it hears no log message.
//!
//! The fixture `test_logging_tool` logs once at debug, info and warning; `slow_compute` logs at
//! info when it starts and when it is done.

mod v2026;

use serde_json::{json, Value};
use testkit::http::{HttpServer, HttpSession};
use testkit::stdio::Via;
use v2026::{bin, with_tasks, Http, Reply, HANG};

/// The `_meta` key of a request's log level in MCP 2026-07-28.
const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// The `_meta` key tying a message to its task in MCP 2025-11-25 (T-META-1).
const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

async fn fixtures() -> HttpServer {
    HttpServer::spawn(bin(), &["--fixtures", "conformance"]).await
}

fn is_log(message: &Value) -> bool {
    message["method"] == "notifications/message"
}

/// The levels of the log messages among `messages`, in order.
fn levels<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    messages
        .into_iter()
        .filter(|m| is_log(m))
        .map(|m| m["params"]["level"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Calls `test_logging_tool` in a 2025-11-25 session; the levels it logged on the call's own
/// stream, after checking each message came there and names its logger.
async fn logged_by_a_call(session: &HttpSession) -> Vec<String> {
    let id = session.fresh_id();
    let reply = session
        .exchange(
            id.clone(),
            "tools/call",
            json!({"name": "test_logging_tool", "arguments": {}}),
        )
        .await;
    reply.outcome().expect("the call answers");
    let logs: Vec<_> = reply.before.iter().filter(|r| is_log(&r.message)).collect();
    for log in &logs {
        assert!(
            matches!(&log.via, Via::PostStream { request_id, .. } if *request_id == id),
            "a call's log rides its own request's stream: {log:?}"
        );
        assert_eq!(
            log.message["params"]["logger"], "test_logging_tool",
            "{log:?}"
        );
    }
    levels(logs.iter().map(|r| &r.message))
}

/// MCP 2025-11-25 "Logging": initialize declares `logging`; every level reaches the client
/// until `logging/setLevel`, then only that level and above, on the call's request stream;
/// `setLevel` answers `{}`, and a level that is not one of the eight is -32602 and changes
/// nothing.
#[tokio::test]
async fn set_level_filters_what_a_sessions_calls_log_on_their_streams() {
    let server = fixtures().await;
    let session = server.client();
    let init = session.initialize().await;
    assert_eq!(init["capabilities"]["logging"], json!({}), "{init}");

    assert_eq!(
        logged_by_a_call(&session).await,
        ["debug", "info", "warning"]
    );

    let answer = session
        .request("logging/setLevel", json!({"level": "info"}))
        .await
        .expect("setLevel is accepted");
    assert_eq!(answer, json!({}));
    assert_eq!(logged_by_a_call(&session).await, ["info", "warning"]);

    for bad in [json!({"level": "verbose"}), json!({})] {
        let e = session
            .request("logging/setLevel", bad.clone())
            .await
            .expect_err("a bad level is refused");
        assert_eq!(e.code, -32602, "{bad}: {e:?}");
    }
    assert_eq!(logged_by_a_call(&session).await, ["info", "warning"]);

    session
        .request("logging/setLevel", json!({"level": "emergency"}))
        .await
        .expect("setLevel is accepted");
    assert!(logged_by_a_call(&session).await.is_empty());

    // The level is the session's own: a second session still hears everything.
    let other = server.session().await;
    assert_eq!(logged_by_a_call(&other).await, ["debug", "info", "warning"]);
}

/// MCP 2025-11-25 "Logging", T-META-1: what a task logs reaches its session (on the task's
/// `tasks/result` stream or the standing GET stream) with the related-task `_meta`.
#[tokio::test]
async fn a_tasks_log_messages_carry_the_related_task() {
    let server = fixtures().await;
    let session = server.session().await;
    session.open_get_stream().await;
    let created = session
        .request(
            "tools/call",
            json!({"name": "slow_compute", "arguments": {"seconds": 0.3, "label": "t"},
                   "task": {"ttl": 60_000}}),
        )
        .await
        .expect("the call makes a task");
    let id = created["task"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_owned();
    session
        .request("tasks/result", json!({"taskId": id}))
        .await
        .expect("the task completes");
    for line in ["t: computing for 0.3 s", "t: done"] {
        let log = session
            .wait_notification(line, |m| is_log(m) && m["params"]["data"] == line)
            .await;
        let params = &log.message["params"];
        assert_eq!(params["level"], "info", "{params}");
        assert_eq!(params["logger"], "slow_compute", "{params}");
        assert_eq!(params["_meta"][RELATED_TASK]["taskId"], id, "{params}");
    }
}

/// A `tools/call` of `tool` in MCP 2026-07-28 with capabilities `caps`, asking for log level
/// `level` when given.
async fn call_2026(
    client: &Http,
    tool: &str,
    arguments: Value,
    level: Option<&str>,
    caps: &Value,
) -> Reply {
    let mut params = json!({"name": tool, "arguments": arguments});
    if let Some(level) = level {
        params["_meta"] = json!({LOG_LEVEL: level});
    }
    client.request("tools/call", params, caps).await
}

/// MCP 2026-07-28 "Logging", B-2: `server/discover` declares `logging`; a request with a
/// `_meta` logLevel hears its call's log messages at that level and above on its SSE stream
/// before the answer; a request without one hears none (a plain JSON answer); an unknown level
/// is 400 with -32602.
#[tokio::test]
async fn a_stateless_request_hears_only_the_log_level_it_asked_for() {
    let server = fixtures().await;
    let client = Http::new(server.url());
    let discover = client
        .request("server/discover", json!({}), &json!({}))
        .await;
    assert_eq!(discover.result()["capabilities"]["logging"], json!({}));

    let asked = call_2026(
        &client,
        "test_logging_tool",
        json!({}),
        Some("info"),
        &json!({}),
    )
    .await;
    assert!(
        asked.content_type.starts_with("text/event-stream"),
        "{asked:?}"
    );
    assert_eq!(asked.result()["resultType"], "complete");
    assert_eq!(levels(&asked.messages), ["info", "warning"]);
    let debug = call_2026(
        &client,
        "test_logging_tool",
        json!({}),
        Some("debug"),
        &json!({}),
    )
    .await;
    assert_eq!(levels(&debug.messages), ["debug", "info", "warning"]);

    let silent = call_2026(&client, "test_logging_tool", json!({}), None, &json!({})).await;
    assert_eq!(silent.result()["resultType"], "complete");
    assert!(levels(&silent.messages).is_empty(), "{:?}", silent.messages);
    assert!(
        silent.content_type.starts_with("application/json"),
        "{silent:?}"
    );

    let bad = call_2026(
        &client,
        "test_logging_tool",
        json!({}),
        Some("verbose"),
        &json!({}),
    )
    .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.code(), -32602);
    assert!(
        bad.error()["message"]
            .as_str()
            .unwrap_or_default()
            .contains(LOG_LEVEL),
        "{bad:?}"
    );
}

/// MCP 2026-07-28 "Logging", X-2: a call that becomes a task logs on its request's stream while
/// it is plain; once the stream is answered with the task, what it logs later is dropped (the
/// task still completes).
#[tokio::test]
async fn a_call_that_became_a_task_logs_only_while_it_was_plain() {
    let server = fixtures().await;
    let client = Http::new(server.url());
    let reply = call_2026(
        &client,
        "slow_compute",
        json!({"seconds": 1, "label": "t"}),
        Some("info"),
        &with_tasks(),
    )
    .await;
    let created = reply.result();
    assert_eq!(created["resultType"], "task", "{created}");
    let logs: Vec<&Value> = reply.messages.iter().filter(|m| is_log(m)).collect();
    assert_eq!(logs.len(), 1, "{:?}", reply.messages);
    assert_eq!(logs[0]["params"]["data"], "t: computing for 1 s");
    assert!(logs[0]["params"].get("_meta").is_none(), "{}", logs[0]);

    let id = created["taskId"].as_str().expect("a task id");
    let status = tokio::time::timeout(HANG, async {
        loop {
            let got = client
                .request("tasks/get", json!({"taskId": id}), &with_tasks())
                .await;
            let task = got.result().clone();
            if task["status"] != "working" {
                return task["status"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the task ends in time");
    assert_eq!(status, "completed");
}

//! MCP 2026-07-28 and the tasks extension over Streamable HTTP, against the real binary
//! (`mcp-tasks serve --http 127.0.0.1:0`), on the same endpoint as 2025-11-25 sessions.
//!
//! Every message read is checked against the official 2026-07-28 and extension schemas (see
//! `v2026/mod.rs`).

mod v2026;

use std::time::Duration;

use serde_json::{json, Value};
use testkit::auth::{BearerSession, TokensFile};
use testkit::http::HttpServer;
use testkit::postgres::TempDatabase;
use testkit::process::ServeOptions;
use v2026::{bin, with_meta, with_tasks, with_tasks_and_elicitation, Http, Reply, HANG, PV, TASKS};

async fn server() -> (HttpServer, Http) {
    let server = HttpServer::spawn(bin(), &[]).await;
    let client = Http::new(server.url());
    (server, client)
}

/// A `must_be_task` call (the demo tool that always runs as a task) that waits `delay_ms`;
/// the id of its task.
async fn start_task(client: &Http, delay_ms: u64) -> String {
    let reply = client
        .request(
            "tools/call",
            json!({"name": "must_be_task", "arguments": {"delay_ms": delay_ms}}),
            &with_tasks(),
        )
        .await;
    let created = reply.result();
    assert_eq!(created["resultType"], "task", "{created}");
    created["taskId"].as_str().expect("a task id").to_owned()
}

/// Polls `tasks/get` until `done` holds; the last answer.
async fn poll(client: &Http, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(HANG, async {
        loop {
            let reply = client
                .request("tasks/get", json!({"taskId": id}), &with_tasks())
                .await;
            let task = reply.result().clone();
            if done(&task) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("the task reaches the awaited state in time")
}

/// an acknowledgement: `resultType: "complete"` and none of the task's fields.
fn assert_ack(reply: &Reply) {
    let ack = reply.result();
    assert_eq!(ack["resultType"], "complete", "{ack}");
    for field in ["taskId", "status", "result", "error", "inputRequests"] {
        assert!(ack.get(field).is_none(), "{field} in the ack {ack}");
    }
}

fn terminal(task: &Value) -> bool {
    matches!(
        task["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

/// B-1, X-1: `server/discover` says what the server speaks and offers, the tasks extension as
/// exactly `{}` under `capabilities.extensions` and never as a 2025 `capabilities.tasks`, who
/// it is (also in `_meta`), and how long the answer may be cached. No session is made (B-2).
#[tokio::test]
async fn b1_x1_discover_declares_the_tasks_extension_exactly_empty() {
    let (_server, client) = server().await;
    let reply = client
        .request("server/discover", json!({}), &json!({}))
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers.get("mcp-session-id").is_none(),
        "B-2: no session"
    );
    let result = reply.result();
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"][0], PV);
    assert!(result["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2025-11-25")));
    assert_eq!(result["capabilities"]["extensions"][TASKS], json!({}));
    assert!(result["capabilities"].get("tasks").is_none(), "{result}");
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
    assert_eq!(result["serverInfo"]["name"], "mcp-tasks");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"],
        result["serverInfo"]
    );
    assert!(result["ttlMs"].as_u64().is_some(), "{result}");
    assert!(
        matches!(result["cacheScope"].as_str(), Some("public" | "private")),
        "{result}"
    );
}

/// B-2, X-9: capabilities are read from each request and never from earlier ones: a tool
/// that only runs as a task, and the tasks methods, are refused (-32021, HTTP 400, naming the
/// extension) to a request without the extension, even right after one that declared it.
#[tokio::test]
async fn b2_x9_capabilities_are_read_from_each_request() {
    let (_server, client) = server().await;
    let call = json!({"name": "must_be_task", "arguments": {"delay_ms": 10}});
    let refused = client.request("tools/call", call.clone(), &json!({})).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.code(), -32021);
    assert_eq!(
        refused.error()["data"]["requiredCapabilities"],
        json!({"extensions": {TASKS: {}}})
    );
    let id = start_task(&client, 10).await;
    let again = client.request("tools/call", call, &json!({})).await;
    assert_eq!(
        again.code(),
        -32021,
        "not inferred from the previous request"
    );
    for (method, params) in [
        ("tasks/get", json!({"taskId": id})),
        ("tasks/update", json!({"taskId": id, "inputResponses": {}})),
        ("tasks/cancel", json!({"taskId": id})),
    ] {
        let reply = client
            .request(method, params, &json!({"elicitation": {}}))
            .await;
        assert_eq!(reply.status, 400, "{method}");
        assert_eq!(reply.code(), -32021, "{method}");
        assert_eq!(
            reply.error()["data"]["requiredCapabilities"],
            json!({"extensions": {TASKS: {}}}),
            "{method}"
        );
    }
}

/// B-3: a version the server does not speak per request is 400 with -32022 listing what it
/// speaks (a subset of what discover says) and echoing what was asked; a 2025 version in
/// `_meta` too, since those are spoken through `initialize`.
#[tokio::test]
async fn b3_unsupported_versions_get_32022() {
    let (_server, client) = server().await;
    let discovered = client
        .request("server/discover", json!({}), &json!({}))
        .await;
    let supported = discovered.result()["supportedVersions"].clone();
    for version in ["v999.0.0", "2025-11-25"] {
        let mut params = with_meta(json!({}), &json!({}));
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!(version);
        let body =
            json!({"jsonrpc": "2.0", "id": 301, "method": "server/discover", "params": params});
        let headers = [
            ("mcp-protocol-version".to_owned(), version.to_owned()),
            ("mcp-method".to_owned(), "server/discover".to_owned()),
        ];
        let reply = client.post_raw("server/discover", &body, &headers).await;
        assert_eq!(reply.status, 400, "{version}");
        assert_eq!(reply.code(), -32022, "{version}");
        assert_eq!(reply.response()["id"], 301);
        let data = &reply.error()["data"];
        assert_eq!(data["requested"], version);
        for v in data["supported"].as_array().unwrap() {
            assert!(supported.as_array().unwrap().contains(v), "{v} in {data}");
        }
        assert_eq!(
            data["supported"],
            json!([PV]),
            "B-3: only what _meta may name"
        );
    }
}

/// B-4: every result of the era names its kind: discover, the tool list, a plain call, a
/// task, and the tasks methods' answers.
#[tokio::test]
async fn b4_every_result_names_its_result_type() {
    let (_server, client) = server().await;
    let caps = with_tasks();
    let discover = client.request("server/discover", json!({}), &caps).await;
    assert_eq!(discover.result()["resultType"], "complete");
    let list = client.request("tools/list", json!({}), &caps).await;
    assert_eq!(list.result()["resultType"], "complete");
    let echo = client
        .request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
            &caps,
        )
        .await;
    assert_eq!(echo.result()["resultType"], "complete");
    assert_eq!(echo.result()["content"][0]["text"], "hi");
    let id = start_task(&client, 60_000).await;
    let get = client
        .request("tasks/get", json!({"taskId": id}), &caps)
        .await;
    assert_eq!(get.result()["resultType"], "complete");
    let update = client
        .request(
            "tasks/update",
            json!({"taskId": id, "inputResponses": {}}),
            &caps,
        )
        .await;
    assert_eq!(update.result()["resultType"], "complete");
    let cancel = client
        .request("tasks/cancel", json!({"taskId": id}), &caps)
        .await;
    assert_eq!(cancel.result()["resultType"], "complete");
}

/// Header changes: `(name, None)` drops a header, `(name, Some(v))` sets it.
type Change<'a> = [(&'a str, Option<&'a str>)];

/// The era's headers for `method` and `params`, with `change` applied: `(name, None)` drops a
/// header, `(name, Some(v))` sets it.
fn headers_with(method: &str, params: &Value, change: &Change<'_>) -> Vec<(String, String)> {
    let mut headers = Http::standard_headers(method, params);
    for (name, value) in change {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            headers.push(((*name).to_owned(), (*v).to_owned()));
        }
    }
    headers
}

/// B-5, X-8: the headers must mirror the body: a missing or disagreeing `MCP-Protocol-Version`,
/// `Mcp-Method` or `Mcp-Name` (tool name, task id) is 400 with -32020; header names are
/// case-insensitive and values trimmed, but a value differing in case differs; a Base64
/// sentinel is decoded before comparing.
#[tokio::test]
async fn b5_x8_headers_must_mirror_the_body() {
    let (_server, client) = server().await;
    let id = start_task(&client, 60_000).await;
    let call = with_meta(
        json!({"name": "echo", "arguments": {"text": "x"}}),
        &with_tasks(),
    );
    let get = with_meta(json!({"taskId": id}), &with_tasks());
    let body = |method: &str, params: &Value| json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let refused: [(&str, &Value, &Change<'_>); 8] = [
        ("tools/call", &call, &[("mcp-protocol-version", None)]),
        ("tools/call", &call, &[("mcp-method", None)]),
        ("tools/call", &call, &[("mcp-method", Some("tasks/get"))]),
        ("tools/call", &call, &[("mcp-method", Some("TOOLS/CALL"))]),
        ("tools/call", &call, &[("mcp-name", None)]),
        ("tools/call", &call, &[("mcp-name", Some("ECHO"))]),
        ("tasks/get", &get, &[("mcp-name", None)]),
        ("tasks/get", &get, &[("mcp-name", Some("another-task"))]),
    ];
    for (method, params, change) in refused {
        let headers = headers_with(method, params, change);
        let reply = client
            .post_raw(method, &body(method, params), &headers)
            .await;
        assert_eq!(reply.status, 400, "{method} {change:?}");
        assert_eq!(reply.code(), -32020, "{method} {change:?}");
        assert_eq!(reply.response()["id"], 7, "{method} {change:?}");
    }
    let padded = format!(" {id}\t");
    let accepted: [(&str, &Value, &Change<'_>); 3] = [
        (
            "tools/call",
            &call,
            &[("mcp-method", None), ("MCP-METHOD", Some(" tools/call \t"))],
        ),
        (
            "tools/call",
            &call,
            &[("mcp-name", None), ("Mcp-Name", Some("  echo  "))],
        ),
        ("tasks/get", &get, &[("mcp-name", Some(padded.as_str()))]),
    ];
    for (method, params, change) in accepted {
        let headers = headers_with(method, params, change);
        let reply = client
            .post_raw(method, &body(method, params), &headers)
            .await;
        assert_eq!(reply.status, 200, "{method} {change:?}: {reply:?}");
        reply.result();
    }
}

/// B-2, B-5, X-7: a request without the era's `_meta` is 400 with -32602, an unknown method
/// and what the era removed (`initialize`, `ping`, `logging/setLevel`, and the extension's
/// dropped `tasks/result` and `tasks/list`) are 404 with -32601, each answered with the
/// request's id.
#[tokio::test]
async fn b5_x7_errors_get_their_status_and_removed_methods_are_not_found() {
    let (_server, client) = server().await;
    for (id, params) in [
        (101, json!({})),
        (
            102,
            json!({"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}}),
        ),
        (
            104,
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": PV}}),
        ),
    ] {
        let body =
            json!({"jsonrpc": "2.0", "id": id, "method": "server/discover", "params": params});
        let headers = headers_with("server/discover", &json!({}), &[]);
        let reply = client.post_raw("server/discover", &body, &headers).await;
        assert_eq!(reply.status, 400, "{params}");
        assert_eq!(reply.code(), -32602, "{params}");
        assert_eq!(reply.response()["id"], id);
    }
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "tasks/result",
        "tasks/list",
        "resources/subscribe",
        "unknown/method",
    ] {
        let params = match method {
            "tasks/result" => json!({"taskId": "t"}),
            _ => json!({}),
        };
        let reply = client.request(method, params, &with_tasks()).await;
        assert_eq!(reply.status, 404, "{method}");
        assert_eq!(reply.code(), -32601, "{method}");
    }
}

/// B-7, X-7: `subscriptions/listen` answers with a stream whose first message is the
/// acknowledgement of what was agreed (the caller's existing task, not an unknown id nor the
/// tool list changes this server never sends); then the followed task's current state and
/// each change up to its end, as full `DetailedTask`s (the result inlined); every message
/// carries the listen request's id as its subscription id.
#[tokio::test]
async fn b7_x7_listen_acknowledges_then_streams_the_followed_tasks() {
    let (_server, client) = server().await;
    let id = start_task(&client, 300).await;
    let mut stream = client
        .listen(
            json!("sub-1"),
            json!({"taskIds": [id, "no-such-task"], "toolsListChanged": true}),
            &with_tasks(),
        )
        .await;
    let ack = stream.next().await.expect("the acknowledgement");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"], json!({"taskIds": [id]}));
    let mut statuses = Vec::new();
    let done = loop {
        let m = stream.next().await.expect("the stream goes on");
        assert_eq!(m["params"]["_meta"][v2026::SUBSCRIPTION_ID], "sub-1", "{m}");
        assert_eq!(
            m["method"], "notifications/tasks",
            "only what was asked: {m}"
        );
        assert_eq!(m["params"]["taskId"], id.as_str());
        statuses.push(m["params"]["status"].clone());
        if terminal(&m["params"]) {
            break m;
        }
    };
    assert_eq!(statuses[0], "working", "the current state comes first");
    assert_eq!(done["params"]["status"], "completed");
    assert_eq!(done["params"]["result"]["content"][0]["text"], "ok");
    assert_eq!(done["params"]["result"]["resultType"], "complete");
    assert_eq!(
        ack["params"]["_meta"][v2026::SUBSCRIPTION_ID],
        "sub-1",
        "{ack}"
    );
}

/// following tasks on the listen stream needs the tasks extension on that request
/// (-32021), even with an empty `taskIds`; a stream that asks for nothing this server sends
/// is acknowledged with nothing.
#[tokio::test]
async fn x7_listening_to_tasks_needs_the_extension() {
    let (_server, client) = server().await;
    for ids in [json!(["t"]), json!([])] {
        let params = json!({"notifications": {"taskIds": ids}});
        let reply = client
            .request("subscriptions/listen", params, &json!({}))
            .await;
        assert_eq!(reply.status, 400, "{ids}");
        assert_eq!(reply.code(), -32021, "{ids}");
    }
    let mut stream = client
        .listen(json!(42), json!({"promptsListChanged": true}), &json!({}))
        .await;
    let ack = stream.next().await.expect("the acknowledgement");
    assert_eq!(ack["params"]["notifications"], json!({}));
    assert_eq!(ack["params"]["_meta"][v2026::SUBSCRIPTION_ID], 42);
}

/// a task waiting for input shows its open questions in `tasks/get`; `tasks/update`
/// writes answers into the mailbox (unknown keys ignored, the ack empty), and the work goes on
/// with the answer. Malformed answers are -32602.
#[tokio::test]
async fn x3_x5_questions_show_in_tasks_get_and_tasks_update_answers_them() {
    let (_server, client) = server().await;
    let caps = with_tasks_and_elicitation();
    let created = client
        .request(
            "tools/call",
            json!({"name": "ask_name", "arguments": {}}),
            &caps,
        )
        .await;
    assert_eq!(created.result()["resultType"], "task");
    let id = created.result()["taskId"].as_str().unwrap().to_owned();
    let waiting = poll(&client, &id, |t| t["status"] == "input_required").await;
    let questions = waiting["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(questions.len(), 1, "{waiting}");
    let (key, question) = questions.iter().next().unwrap();
    assert_eq!(question["method"], "elicitation/create");
    assert!(question["params"]["message"].is_string(), "{question}");

    let bad = client
        .request(
            "tasks/update",
            json!({"taskId": id, "inputResponses": {key.as_str(): 5}}),
            &caps,
        )
        .await;
    assert_eq!(bad.code(), -32602);
    let ignored = client
        .request(
            "tasks/update",
            json!({"taskId": id, "inputResponses": {"not-asked": {"action": "cancel"}}}),
            &caps,
        )
        .await;
    assert_ack(&ignored);
    let still = client
        .request("tasks/get", json!({"taskId": id}), &caps)
        .await;
    assert_eq!(still.result()["status"], "input_required");

    let answer = json!({"action": "accept", "content": {"name": "Ada"}});
    let ack = client
        .request(
            "tasks/update",
            json!({"taskId": id, "inputResponses": {key.as_str(): answer}}),
            &caps,
        )
        .await;
    assert_ack(&ack);
    let done = poll(&client, &id, terminal).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Hello, Ada!");
    assert!(done.get("inputRequests").is_none(), "{done}");
}

/// `tasks/cancel` is an empty acknowledgement; the task ends `cancelled`; cancelling it
/// again, once terminal, is acknowledged the same; an unknown task is -32602.
#[tokio::test]
async fn x6_cancel_acknowledges_even_a_finished_task() {
    let (_server, client) = server().await;
    let caps = with_tasks();
    let id = start_task(&client, 60_000).await;
    for _ in 0..2 {
        let ack = client
            .request("tasks/cancel", json!({"taskId": id}), &caps)
            .await;
        assert_ack(&ack);
    }
    let task = poll(&client, &id, terminal).await;
    assert_eq!(task["status"], "cancelled");
    for method in ["tasks/cancel", "tasks/get"] {
        let reply = client
            .request(method, json!({"taskId": "no-such-task"}), &caps)
            .await;
        assert_eq!(reply.code(), -32602, "{method}");
        assert_eq!(reply.status, 400, "{method}");
    }
}

/// X-4, B-8 (issue 12 item 7): one store, one record, read right in each era. A tool error run
/// as a task in a 2025-11-25 session is `failed` there and `completed` with `result.isError`
/// in 2026-07-28; a task created statelessly is read by a 2025-11-25 session.
#[tokio::test]
async fn x4_b8_one_task_reads_right_in_both_eras() {
    let (server, client) = server().await;
    let session = server.session().await;
    let created = session
        .request(
            "tools/call",
            json!({"name": "fail", "arguments": {"message": "no such city"}, "task": {}}),
        )
        .await
        .expect("a task");
    let id = created["task"]["taskId"].as_str().unwrap().to_owned();
    let old = tokio::time::timeout(HANG, async {
        loop {
            let t = session
                .request("tasks/get", json!({"taskId": id}))
                .await
                .expect("tasks/get in 2025-11-25");
            if t["status"] != "working" {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(old["status"], "failed", "{old}");
    let new = poll(&client, &id, terminal).await;
    assert_eq!(new["status"], "completed", "{new}");
    assert_eq!(new["result"]["isError"], true);
    assert_eq!(new["result"]["content"][0]["text"], "no such city");
    assert!(new.get("error").is_none(), "{new}");

    let stateless = start_task(&client, 10).await;
    let seen = session
        .request("tasks/get", json!({"taskId": stateless}))
        .await
        .expect("a 2025-11-25 session reads a task made statelessly");
    assert_eq!(seen["taskId"], stateless.as_str());
}

/// B-8: one endpoint serves both eras: `initialize` still opens a session whose requests are
/// answered as before, while stateless requests get no session id and the era's shapes
/// (`tools/list` with cache hints and no `execution`), and GET or DELETE announced as the
/// stateless era get 405.
#[tokio::test]
async fn b8_both_eras_share_the_endpoint() {
    let (server, client) = server().await;
    let session = server.session().await;
    let old = session
        .request("tools/list", json!({}))
        .await
        .expect("2025-11-25 tools/list");
    let must = old["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "must_be_task")
        .unwrap();
    assert_eq!(must["execution"]["taskSupport"], "required");

    let reply = client.request("tools/list", json!({}), &json!({})).await;
    assert!(reply.headers.get("mcp-session-id").is_none());
    let new = reply.result();
    assert!(new["ttlMs"].as_u64().is_some(), "{new}");
    assert!(matches!(
        new["cacheScope"].as_str(),
        Some("public" | "private")
    ));
    for tool in new["tools"].as_array().unwrap() {
        assert!(tool.get("execution").is_none(), "{tool}");
        assert_eq!(tool["inputSchema"]["type"], "object");
    }
    assert_eq!(
        new["tools"].as_array().unwrap().len(),
        old["tools"].as_array().unwrap().len()
    );

    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = http
            .request(method.clone(), server.url())
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", PV)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 405, "{method}");
    }
    session
        .request("ping", json!({}))
        .await
        .expect("the session still answers");
}

/// B-5 (progress): a plain call's progress rides on its POST as SSE before the answer, with
/// the request's progress token.
#[tokio::test]
async fn b5_progress_of_a_plain_call_rides_on_its_stream() {
    let (_server, client) = server().await;
    let reply = client
        .request(
            "tools/call",
            json!({"name": "countdown", "arguments": {"from": 3, "interval_ms": 10},
                   "_meta": {"progressToken": "p-1"}}),
            &with_tasks(),
        )
        .await;
    assert!(
        reply.content_type.starts_with("text/event-stream"),
        "{reply:?}"
    );
    let progress: Vec<&Value> = reply
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{:?}", reply.messages);
    assert!(progress
        .iter()
        .all(|p| p["params"]["progressToken"] == "p-1"));
    assert_eq!(reply.result()["resultType"], "complete");
    assert!(reply.result()["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Liftoff"));
}

/// T-SEC-1 in the stateless era, and issue 12 item 7: a task belongs to the bearer token's
/// subject; another subject gets -32602 for it as for an unknown id and no notifications of
/// it, while the owner reaches it from a 2025-11-25 session too.
#[tokio::test]
async fn owners_are_kept_apart_and_reach_their_tasks_from_either_era() {
    const ALICE: &str = "alice-token-6a1f0c7a9e3b";
    const BOB: &str = "bob-token-3c7e9a1b5d2f4e6a";
    let tokens = TokensFile::new(&[("alice", ALICE), ("bob", BOB)]);
    let server =
        HttpServer::spawn_with(bin(), &ServeOptions::default().args(tokens.serve_args())).await;
    let anonymous = Http::new(server.url());
    let refused = anonymous.request("tools/list", json!({}), &json!({})).await;
    assert_eq!(refused.status, 401);
    let alice = anonymous.as_bearer(ALICE);
    let bob = anonymous.as_bearer(BOB);
    let id = start_task(&alice, 60_000).await;
    for (method, params) in [
        ("tasks/get", json!({"taskId": id})),
        ("tasks/update", json!({"taskId": id, "inputResponses": {}})),
        ("tasks/cancel", json!({"taskId": id})),
    ] {
        let reply = bob.request(method, params, &with_tasks()).await;
        assert_eq!(reply.code(), -32602, "{method}");
    }
    let mut stream = bob
        .listen(json!(1), json!({"taskIds": [id]}), &with_tasks())
        .await;
    let ack = stream.next().await.expect("the acknowledgement");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([]));

    let session = BearerSession::new(server.url(), Some(ALICE));
    session.initialize().await;
    let seen = session
        .request("tasks/get", json!({"taskId": id}))
        .await
        .expect("alice reads her stateless task from a session");
    assert_eq!(seen["status"], "working");
    let listed = session
        .request("tasks/list", json!({}))
        .await
        .expect("tasks/list");
    assert!(
        listed["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["taskId"] == id.as_str()),
        "{listed}"
    );
    let ack = alice
        .request("tasks/cancel", json!({"taskId": id}), &with_tasks())
        .await;
    assert_eq!(ack.result()["resultType"], "complete");
}

/// B-7: a graceful shutdown ends the listen streams (they would otherwise hold it open): the
/// stream says so with `notifications/cancelled` naming the listen request, then ends, and the
/// server exits 0 without waiting out its grace period.
#[tokio::test]
async fn b7_shutdown_ends_listen_streams() {
    let (server, client) = server().await;
    let id = start_task(&client, 10).await;
    poll(&client, &id, terminal).await;
    let mut stream = client
        .listen(json!("l-1"), json!({"taskIds": [id]}), &with_tasks())
        .await;
    stream
        .until("the current state", |m| {
            m["method"] == "notifications/tasks"
        })
        .await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
    let cancelled = stream
        .until("the stream's end", |m| {
            m["method"] == "notifications/cancelled"
        })
        .await;
    assert_eq!(cancelled["params"]["requestId"], "l-1");
    assert_eq!(cancelled["params"]["_meta"][v2026::SUBSCRIPTION_ID], "l-1");
    assert!(stream.next().await.is_none(), "the stream ends");
    let exited = tokio::time::timeout(HANG, async {
        loop {
            if let Some(status) = server.try_exit_status().await {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server exits");
    assert!(exited.success(), "{exited:?}");
    assert!(
        !server.stderr().contains("exchanges still open"),
        "the listen stream held the shutdown:\n{}",
        server.stderr()
    );
}

/// B-2: a reply the tests did not ask for is never a session: the stateless era's answers
/// carry no `Mcp-Session-Id`, and a notification POSTed in the era is accepted and ignored.
#[tokio::test]
async fn b2_no_session_is_made_and_notifications_are_accepted() {
    let (_server, client) = server().await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let headers = [("mcp-protocol-version".to_owned(), PV.to_owned())];
    let reply: Reply = client
        .post_raw("notifications/initialized", &note, &headers)
        .await;
    assert_eq!(reply.status, 202);
    assert!(reply.messages.is_empty());
    let list = client.request("tools/list", json!({}), &json!({})).await;
    assert!(list.headers.get("mcp-session-id").is_none());
}

/// X-7 across instances: two servers on one PostgreSQL database; a task created statelessly on
/// the first is followed on a listen stream of the second, which sees it complete through the
/// store's change feed (LISTEN/NOTIFY), and read and cancelled there by id.
#[tokio::test]
async fn x7_listen_follows_a_task_run_by_another_instance() {
    let db = TempDatabase::create().await;
    let options = ServeOptions::default().store(db.url());
    let a = HttpServer::spawn_with(bin(), &options).await;
    let b = HttpServer::spawn_with(bin(), &options).await;
    let (on_a, on_b) = (Http::new(a.url()), Http::new(b.url()));
    let id = start_task(&on_a, 300).await;
    let mut stream = on_b
        .listen(json!("far"), json!({"taskIds": [id]}), &with_tasks())
        .await;
    let ack = stream.next().await.expect("the acknowledgement");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([id]));
    let done = stream
        .until("the task's end, seen on the other instance", |m| {
            m["method"] == "notifications/tasks" && terminal(&m["params"])
        })
        .await;
    assert_eq!(done["params"]["status"], "completed");
    assert_eq!(done["params"]["result"]["content"][0]["text"], "ok");

    let long = start_task(&on_a, 60_000).await;
    let ack = on_b
        .request("tasks/cancel", json!({"taskId": long}), &with_tasks())
        .await;
    assert_ack(&ack);
    let seen = poll(&on_a, &long, terminal).await;
    assert_eq!(seen["status"], "cancelled");
}

//! MCP 2026-07-28 and the tasks extension over stdio, against the real binary (`mcp-tasks
//! serve`): stateless requests and a 2025-11-25 session interleaved on one pipe, and
//! `subscriptions/listen` whose notifications share stdout with everything else.
//!
//! Every message read is checked against the official schemas (see `v2026/mod.rs`).

mod v2026;

use serde_json::{json, Value};
use testkit::stdio::default_initialize_params;
use v2026::{check, with_meta, with_tasks, StdioServer, PV, SUBSCRIPTION_ID, TASKS};

/// Starts a `must_be_task` call waiting `delay_ms`; its task id.
async fn start_task(server: &mut StdioServer, delay_ms: u64) -> String {
    let created = server
        .request(
            "tools/call",
            json!({"name": "must_be_task", "arguments": {"delay_ms": delay_ms}}),
            &with_tasks(),
        )
        .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    created["result"]["taskId"].as_str().unwrap().to_owned()
}

/// Reads notifications until one satisfies `pred`.
async fn until(server: &mut StdioServer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut seen = Vec::new();
    while let Some(m) = server.next_notification().await {
        if pred(&m) {
            return m;
        }
        seen.push(m);
    }
    panic!("stdout closed before {what}; it carried {seen:#?}");
}

/// B-8, B-1, X-1: one pipe serves both eras, chosen per request: `server/discover` answers
/// before any `initialize`, `initialize` then opens the 2025-11-25 session, and stateless
/// requests keep being answered in their own shapes beside the session's; a task made
/// statelessly is read by the session (issue 12 item 7).
#[tokio::test]
async fn b8_both_eras_interleave_on_one_pipe() {
    let mut server = StdioServer::spawn();
    let discovered = server
        .request("server/discover", json!({}), &json!({}))
        .await;
    let result = &discovered["result"];
    assert_eq!(result["supportedVersions"][0], PV);
    assert_eq!(result["capabilities"]["extensions"][TASKS], json!({}));
    assert!(result["capabilities"].get("tasks").is_none());

    let init = server
        .request_2025("initialize", default_initialize_params())
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert!(init["result"]["capabilities"]["tasks"].is_object());
    server
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;

    let old = server.request_2025("tools/list", json!({})).await;
    assert!(old["result"].get("resultType").is_none());
    assert!(old["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["execution"]["taskSupport"] == "required"));
    let new = server.request("tools/list", json!({}), &json!({})).await;
    assert_eq!(new["result"]["resultType"], "complete");
    assert!(new["result"]["ttlMs"].is_u64());

    let id = start_task(&mut server, 10).await;
    let seen = server
        .request_2025("tasks/get", json!({"taskId": id}))
        .await;
    assert_eq!(seen["result"]["taskId"], id.as_str());
    let pong = server.request_2025("ping", json!({})).await;
    assert_eq!(pong["result"], json!({}));
    let (status, _) = server.finish().await;
    assert!(status.success(), "{status:?}");
}

/// B-2, B-3, X-9 on stdio: each request is judged by its own `_meta`: a malformed one is
/// -32602, an unsupported version -32022 with what is spoken, the tasks methods without the
/// extension -32021, and what the era removed -32601.
#[tokio::test]
async fn b2_b3_x9_each_request_is_judged_by_its_own_meta() {
    let mut server = StdioServer::spawn();
    let id = server.fresh_id();
    let missing = server
        .exchange(id, "server/discover", json!({"_meta": {}}))
        .await;
    check("server/discover", &missing);
    assert_eq!(missing["error"]["code"], -32602);

    let mut params = with_meta(json!({}), &json!({}));
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
    let id = server.fresh_id();
    let unsupported = server.exchange(id, "tools/list", params).await;
    check("tools/list", &unsupported);
    assert_eq!(unsupported["error"]["code"], -32022);
    assert_eq!(unsupported["error"]["data"]["requested"], "v999.0.0");
    assert_eq!(unsupported["error"]["data"]["supported"][0], PV);

    let task = start_task(&mut server, 10).await;
    let gated = server
        .request("tasks/get", json!({"taskId": task}), &json!({}))
        .await;
    assert_eq!(gated["error"]["code"], -32021);
    assert_eq!(
        gated["error"]["data"]["requiredCapabilities"],
        json!({"extensions": {TASKS: {}}})
    );
    let read = server
        .request("tasks/get", json!({"taskId": task}), &with_tasks())
        .await;
    assert_eq!(read["result"]["taskId"], task.as_str());
    for method in ["initialize", "ping", "tasks/result", "tasks/list"] {
        let reply = server
            .request(method, json!({"taskId": task}), &with_tasks())
            .await;
        assert_eq!(reply["error"]["code"], -32601, "{method}");
    }
}

/// B-7, X-7 on stdio: the listen stream's messages share stdout with the other answers, each
/// tagged with the listen request's id; the acknowledgement comes first for that id, then the
/// followed task's states; `notifications/cancelled` from the client ends the stream, which
/// is never answered.
#[tokio::test]
async fn b7_x7_listen_notifications_interleave_on_stdout() {
    let mut server = StdioServer::spawn();
    let id = start_task(&mut server, 200).await;
    let listen = with_meta(json!({"notifications": {"taskIds": [id]}}), &with_tasks());
    server
        .send(&json!({"jsonrpc": "2.0", "id": "sub", "method": "subscriptions/listen", "params": listen}))
        .await;
    let ack = server
        .next_notification()
        .await
        .expect("the acknowledgement");
    check("subscriptions/listen", &ack);
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([id]));
    assert_eq!(ack["params"]["_meta"][SUBSCRIPTION_ID], "sub");
    // Another request is answered while the stream is open.
    let list = server.request("tools/list", json!({}), &json!({})).await;
    assert_eq!(list["result"]["resultType"], "complete");
    let done = until(&mut server, "the task's end", |m| {
        m["method"] == "notifications/tasks" && m["params"]["status"] == "completed"
    })
    .await;
    check("subscriptions/listen", &done);
    assert_eq!(done["params"]["_meta"][SUBSCRIPTION_ID], "sub");
    assert_eq!(done["params"]["result"]["content"][0]["text"], "ok");

    server
        .send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": "sub", "reason": "done"}}),
        )
        .await;
    let pong = server.request("tools/list", json!({}), &json!({})).await;
    assert!(pong.get("result").is_some());
    let (status, rest) = server.finish().await;
    assert!(status.success(), "{status:?}");
    assert!(
        !rest.iter().any(|m| m["id"] == "sub"),
        "a cancelled listen is never answered: {rest:#?}"
    );
}

/// B-7 on stdio: when the server stops (SIGTERM), an open listen stream is ended with
/// `notifications/cancelled` naming it, and the server exits rather than wait for it.
#[tokio::test]
async fn b7_shutdown_cancels_listen_streams_on_stdio() {
    let mut server = StdioServer::spawn();
    let listen = with_meta(json!({"notifications": {}}), &json!({}));
    server
        .send(
            &json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen", "params": listen}),
        )
        .await;
    let ack = server
        .next_notification()
        .await
        .expect("the acknowledgement");
    assert_eq!(ack["params"]["_meta"][SUBSCRIPTION_ID], 9);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(killed.success());
    let cancelled = until(&mut server, "the stream's end", |m| {
        m["method"] == "notifications/cancelled"
    })
    .await;
    check("subscriptions/listen", &cancelled);
    assert_eq!(cancelled["params"]["requestId"], 9);
    assert_eq!(cancelled["params"]["_meta"][SUBSCRIPTION_ID], 9);
    assert!(
        server.next_notification().await.is_none(),
        "stdout closes: the server exited"
    );
}

//! Streamable HTTP transport behaviour (MCP 2025-11-25 "Transports"): sessions, 202 for
//! notifications, SSE for tasks/result, the GET stream, DELETE, Origin checks against DNS
//! rebinding, and the protocol version header.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;

use testkit::http::{HttpServer, POST_ACCEPT};
use testkit::stdio::Via;

fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": testkit::stdio::default_initialize_params()
    })
    .to_string()
}

/// initialize assigns a visible-ASCII Mcp-Session-Id; notifications are answered 202 with no body.
#[tokio::test]
async fn initialize_assigns_a_session() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let client = server.client();
    let reply = client.post_raw(initialize_body(), &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let id = reply
        .header("mcp-session-id")
        .expect("an Mcp-Session-Id header")
        .to_owned();
    assert!(
        !id.is_empty() && id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "session id {id:?}"
    );
    let messages = reply.messages().await;
    let response = messages.last().expect("the initialize response");
    assert_schema("InitializeResult", &response["result"]);

    client.set_session_id(Some(id));
    client.set_protocol_version(Some("2025-11-25".to_owned()));
    client
        .notify("notifications/initialized", serde_json::Value::Null)
        .await;
    let pong = client
        .request("ping", json!({}))
        .await
        .expect("ping in the session");
    assert_schema("EmptyResult", &pong);

    // Two sessions get two ids.
    let other = server.session().await;
    assert_ne!(other.session_id(), client.session_id());
}

/// T-RES-4 (HTTP): tasks/result is answered as an SSE stream whose last event is the response,
/// carrying related-task _meta (T-RES-3).
#[tokio::test]
async fn tasks_result_is_answered_as_sse() {
    let (p, _) = http_peer(&[]).await;
    let task = create_task(
        &p,
        "slow_echo",
        // Long enough that the answer misses the JSON window (50 ms from the request)
        // however late the client asks.
        json!({ "text": "streamed", "delay_ms": 1000 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let reply = p
        .session
        .exchange(
            p.session.fresh_id(),
            "tasks/result",
            json!({ "taskId": id }),
        )
        .await;
    assert_eq!(
        reply.content_type, "text/event-stream",
        "tasks/result answers as SSE"
    );
    let result = reply.outcome().expect("the result");
    check_task_result(&result, &id);
    assert_eq!(text(&result), "streamed");
}

/// The GET stream opens as text/event-stream with a session; without one it is 400, with an unknown
/// one 404.
#[tokio::test]
async fn get_stream_needs_a_session() {
    let (p, _) = http_peer(&[]).await;
    let reply = p.session.get_raw(&[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type(), "text/event-stream");
    let reply = p
        .server
        .client()
        .get_raw(&[("mcp-protocol-version", "2025-11-25")])
        .await;
    assert_eq!(reply.status, 400, "GET without a session: {reply:?}");
    let reply = p
        .server
        .client()
        .get_raw(&[("mcp-session-id", "nope")])
        .await;
    assert_eq!(reply.status, 404, "GET with an unknown session: {reply:?}");
    let pong = p
        .session
        .request("ping", json!({}))
        .await
        .expect("still serving");
    assert_schema("EmptyResult", &pong);
}

/// DELETE ends the session (2xx); then its id is 404 for POST, GET and DELETE; other sessions and
/// their tasks are unaffected.
#[tokio::test]
async fn delete_ends_the_session() {
    let (p, _) = http_peer(&[]).await;
    let doomed = p.server.session().await;
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "kept", "delay_ms": 0 }),
        json!({}),
    )
    .await;
    let status = doomed.delete().await;
    assert!((200..300).contains(&status), "DELETE: HTTP {status}");
    let ping = json!({ "jsonrpc": "2.0", "id": 9, "method": "ping" }).to_string();
    assert_eq!(doomed.post_raw(ping, &[]).await.status, 404);
    assert_eq!(doomed.get_raw(&[]).await.status, 404);
    assert_eq!(doomed.delete_raw(&[]).await.status, 404);
    let result = task_result(&p, &task_id(&task))
        .await
        .expect("other sessions keep working");
    assert_eq!(text(&result), "kept");
}

/// Origin validation: a foreign Origin is 403; localhost, 127.0.0.1 and [::1] Origins and no
/// Origin at all are served.
#[tokio::test]
async fn foreign_origins_are_forbidden() {
    let server = HttpServer::spawn(bin(), &[]).await;
    for origin in [
        "http://evil.example",
        "https://localhost.evil.example",
        "null",
    ] {
        let reply = server
            .client()
            .post_raw(initialize_body(), &[("origin", origin)])
            .await;
        assert_eq!(reply.status, 403, "Origin {origin}: {reply:?}");
    }
    for origin in [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://[::1]:5173",
        "http://localhost",
    ] {
        let reply = server
            .client()
            .post_raw(initialize_body(), &[("origin", origin)])
            .await;
        assert_eq!(reply.status, 200, "Origin {origin}: {reply:?}");
    }
    let reply = server.client().post_raw(initialize_body(), &[]).await;
    assert_eq!(reply.status, 200, "no Origin: {reply:?}");

    // Inside a session too.
    let session = server.session().await;
    let ping = json!({ "jsonrpc": "2.0", "id": 3, "method": "ping" }).to_string();
    let reply = session
        .post_raw(ping, &[("origin", "http://evil.example")])
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    session
        .request("ping", json!({}))
        .await
        .expect("still serving");
}

/// `--allowed-origin` (repeatable) admits the named Origins; others stay forbidden.
#[tokio::test]
async fn allowed_origin_flag() {
    let server = HttpServer::spawn(
        bin(),
        &[
            "--allowed-origin",
            "https://app.example",
            "--allowed-origin",
            "http://other.test:8080",
        ],
    )
    .await;
    for origin in ["https://app.example", "http://other.test:8080"] {
        let reply = server
            .client()
            .post_raw(initialize_body(), &[("origin", origin)])
            .await;
        assert_eq!(reply.status, 200, "Origin {origin}: {reply:?}");
    }
    let reply = server
        .client()
        .post_raw(initialize_body(), &[("origin", "https://other.example")])
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
}

/// A POST holding only a response is 202 with no body (answering a server request is covered in
/// input_required.rs); a request may be answered as JSON or SSE and our client takes both.
#[tokio::test]
async fn notifications_are_accepted_with_202() {
    let (p, _) = http_peer(&[]).await;
    let reply = p
        .session
        .post_raw(
            json!({ "jsonrpc": "2.0", "method": "notifications/roots/list_changed" }).to_string(),
            &[("accept", POST_ACCEPT)],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert!(reply.body.is_empty(), "{reply:?}");
    let reply = p
        .session
        .exchange(p.session.fresh_id(), "tools/list", json!({}))
        .await;
    assert!(
        reply.content_type == "application/json" || reply.content_type == "text/event-stream",
        "{}",
        reply.content_type
    );
    assert_schema("ListToolsResult", &reply.outcome().expect("tools/list"));
}

/// A plain `tools/call` from a client whose Accept allows only `application/json` is answered
/// with a JSON body, not an SSE stream (2025-11-25 Transports, "Sending Messages to the
/// Server": the server returns one of the types the client accepts).
#[tokio::test]
async fn json_only_accept_gets_a_json_answer() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let client = server.session().await;
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "countdown", "arguments": {"from": 2, "interval_ms": 1}}});
    let reply = client
        .post_raw(call.to_string(), &[("accept", "application/json")])
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type(), "application/json", "{reply:?}");
    let answer = reply.json().expect("a JSON body");
    assert_eq!(answer["id"], 9, "{answer}");
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Liftoff")),
        "{answer}"
    );

    // Accepting both, the call streams when something comes before its answer: here its
    // progress. (A quick answer alone comes back as JSON.)
    let with_progress = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
        "params": {"name": "countdown", "arguments": {"from": 2, "interval_ms": 1},
                   "_meta": {"progressToken": "p"}}});
    let both = client.post_raw(with_progress.to_string(), &[]).await;
    assert_eq!(both.content_type(), "text/event-stream", "{both:?}");
}

/// A `tasks/result` POSTed with `Accept: application/json` only, held open in the background;
/// its reply once the task ends.
fn json_only_result(
    session: &testkit::http::HttpSession,
    task: &str,
) -> tokio::task::JoinHandle<testkit::http::RawReply> {
    let (session, body) = (
        session.clone(),
        json!({"jsonrpc": "2.0", "id": 900, "method": "tasks/result",
               "params": {"taskId": task}})
        .to_string(),
    );
    tokio::spawn(async move {
        session
            .post_raw(body, &[("accept", "application/json")])
            .await
    })
}

fn name_answer(task: &str, name: &str) -> serde_json::Value {
    json!({"action": "accept", "content": {"name": name},
           "_meta": {RELATED_TASK: {"taskId": task}}})
}

/// T-RES-4: a `tasks/result` answered as JSON cannot carry a question, and with no GET stream
/// open there is nowhere to ask it: the question stays in the mailbox, unclaimed, and the next
/// exchange able to ask (here an SSE `tasks/result`) asks it. Both exchanges then get the
/// result, the JSON one as a JSON body.
#[tokio::test]
async fn a_json_only_result_without_a_get_stream_leaves_the_question() {
    let server = Arc::new(HttpServer::spawn(bin(), &[]).await);
    let p = HttpPeer::wrap(&server, server.session().await);
    let id = task_id(&create_task(&p, "ask_name", json!({}), json!({})).await);
    let json_only = json_only_result(&p.session, &id);
    poll_until(&p, &id, "input_required", |s| s == "input_required").await;

    let from_sse = task_result(&p, &id);
    tokio::pin!(from_sse);
    let question = bounded("the question on the SSE exchange", async {
        tokio::select! {
            q = p.session.next_request() => q,
            r = &mut from_sse => panic!("tasks/result ended before the question: {r:?}"),
        }
    })
    .await;
    assert_eq!(question.method(), "elicitation/create");
    assert!(
        matches!(question.via, Via::PostStream { .. }),
        "asked on {:?}",
        question.via
    );
    p.session
        .respond(question.id(), name_answer(&id, "Ada"))
        .await;
    let result = bounded("the SSE tasks/result", from_sse).await;
    assert_eq!(text(&result.expect("the task's result")), "Hello, Ada!");

    let reply = bounded("the JSON tasks/result", json_only).await.unwrap();
    assert_eq!(reply.content_type(), "application/json", "{reply:?}");
    let answer = reply.json().expect("a JSON body");
    assert_eq!(answer["id"], 900, "{answer}");
    assert_eq!(text(&answer["result"]), "Hello, Ada!", "{answer}");
}

/// T-RES-4: with a GET stream open, a `tasks/result` answered as JSON asks its question on the
/// GET stream, and the answer POSTed back completes the task and that `tasks/result`.
#[tokio::test]
async fn a_json_only_result_asks_on_the_get_stream() {
    let (p, _) = http_peer(&[]).await;
    let id = task_id(&create_task(&p, "ask_name", json!({}), json!({})).await);
    let json_only = json_only_result(&p.session, &id);
    let question = bounded("the question", p.session.next_request()).await;
    assert_eq!(question.method(), "elicitation/create");
    assert!(
        matches!(question.via, Via::GetStream),
        "asked on {:?}",
        question.via
    );
    p.session
        .respond(question.id(), name_answer(&id, "Grace"))
        .await;
    let reply = bounded("the JSON tasks/result", json_only).await.unwrap();
    assert_eq!(reply.content_type(), "application/json", "{reply:?}");
    let answer = reply.json().expect("a JSON body");
    assert_eq!(text(&answer["result"]), "Hello, Grace!", "{answer}");
}

/// T-RES-4: a `tasks/result` answered as JSON that had nowhere to ask its question asks it
/// once a GET stream opens, and the answer completes it.
#[tokio::test]
async fn a_json_only_result_asks_when_a_get_stream_opens() {
    let server = Arc::new(HttpServer::spawn(bin(), &[]).await);
    let p = HttpPeer::wrap(&server, server.session().await);
    let id = task_id(&create_task(&p, "ask_name", json!({}), json!({})).await);
    let json_only = json_only_result(&p.session, &id);
    poll_until(&p, &id, "input_required", |s| s == "input_required").await;
    p.session.open_get_stream().await;
    let question = bounded("the question", p.session.next_request()).await;
    assert!(
        matches!(question.via, Via::GetStream),
        "asked on {:?}",
        question.via
    );
    p.session
        .respond(question.id(), name_answer(&id, "Lin"))
        .await;
    let reply = bounded("the JSON tasks/result", json_only).await.unwrap();
    let answer = reply.json().expect("a JSON body");
    assert_eq!(text(&answer["result"]), "Hello, Lin!", "{answer}");
}

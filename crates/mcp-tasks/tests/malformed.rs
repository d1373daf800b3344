//! Malformed input (issue 2's malformed-input set): bad JSON, invalid envelopes, wrong types, missing
//! params, unknown methods, oversize bodies and wrong session ids each get the right JSON-RPC or
//! HTTP error, and the server keeps serving afterwards.

mod common;

use common::scenarios;
use common::*;
use serde_json::{json, Value};
use testkit::http::RawReply;
use testkit::stdio::StdioPeer;

async fn stdio_still_serves(p: &StdioPeer, after: &str) {
    let pong = p
        .request("ping", json!({}))
        .await
        .unwrap_or_else(|e| panic!("the server stopped serving after {after}: {e}"));
    assert_schema("EmptyResult", &pong);
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected a JSON-RPC error response, got {response}"))
}

/// T-ERR-1: JSON-RPC-level errors over stdio (unknown methods -32601, missing or wrong-typed
/// params -32602, unknown tools -32602), each followed by a successful ping.
#[tokio::test]
async fn stdio_bad_params_and_methods() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::bad_params(&p).await;
}

/// T-ERR-1: the same set over HTTP.
#[tokio::test]
async fn http_bad_params_and_methods() {
    let (p, _) = http_peer(&[]).await;
    scenarios::bad_params(&p).await;
}

/// A line that is not JSON is -32700 with a null id; the server keeps serving.
#[tokio::test]
async fn stdio_bad_json_lines() {
    let (p, _) = stdio_peer(&[]).await;
    for line in [
        "{not json",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"",
        "\u{1}\u{2}garbage",
        "nul",
    ] {
        let response = p.send_raw_expecting(line, None).await;
        assert_eq!(error_code(&response), PARSE_ERROR, "{line:?}: {response}");
        assert_eq!(
            response["id"],
            Value::Null,
            "{line:?}: a parse error has a null id: {response}"
        );
        stdio_still_serves(&p, line).await;
    }
}

/// Valid JSON that is not a valid JSON-RPC message (wrong version, empty batch, not an object, no
/// method, wrong-typed method or id) is -32600; the server keeps serving.
#[tokio::test]
async fn stdio_invalid_envelopes() {
    let (p, _) = stdio_peer(&[]).await;
    let cases: Vec<(String, Option<Value>)> = vec![
        (
            json!({ "jsonrpc": "1.0", "id": 901, "method": "ping" }).to_string(),
            Some(json!(901)),
        ),
        (
            json!({ "id": 902, "method": "ping" }).to_string(),
            Some(json!(902)),
        ),
        (
            json!({ "jsonrpc": "2.0", "id": 903 }).to_string(),
            Some(json!(903)),
        ),
        (
            json!({ "jsonrpc": "2.0", "id": 904, "method": 5 }).to_string(),
            Some(json!(904)),
        ),
        ("[]".to_owned(), None),
        ("42".to_owned(), None),
        ("\"ping\"".to_owned(), None),
        ("null".to_owned(), None),
    ];
    for (line, id) in cases {
        let response = p.send_raw_expecting(&line, id.clone()).await;
        assert_eq!(error_code(&response), INVALID_REQUEST, "{line}: {response}");
        if let Some(id) = id {
            assert!(
                response["id"] == id || response["id"].is_null(),
                "{line}: answered for another id: {response}"
            );
        }
        stdio_still_serves(&p, &line).await;
    }
}

/// Requests in flight around the bad lines still get their answers.
#[tokio::test]
async fn stdio_bad_lines_between_tasks() {
    let (p, _) = stdio_peer(&[]).await;
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "survives", "delay_ms": 200 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let bad = async {
        let response = p.send_raw_expecting("{oops", None).await;
        assert_eq!(error_code(&response), PARSE_ERROR);
    };
    let (result, ()) = bounded(
        "tasks/result around a bad line",
        futures::future::join(task_result(&p, &id), bad),
    )
    .await;
    assert_eq!(text(&result.expect("the task still completes")), "survives");
}

async fn http_still_serves(p: &HttpPeer, after: &str) {
    let pong = p
        .session
        .request("ping", json!({}))
        .await
        .unwrap_or_else(|e| panic!("the server stopped serving after {after}: {e}"));
    assert_schema("EmptyResult", &pong);
}

async fn single_error(reply: &RawReply, what: &str) -> i64 {
    let messages = reply.messages().await;
    assert_eq!(
        messages.len(),
        1,
        "{what}: one JSON-RPC error in the body, got {reply:?}"
    );
    error_code(&messages[0])
}

/// An invalid JSON body is HTTP 400 (or 200) with a -32700 body; the session keeps serving.
#[tokio::test]
async fn http_bad_json_body() {
    let (p, _) = http_peer(&[]).await;
    for body in ["{not json", "{\"jsonrpc\":\"2.0\",\"id\":1,", ""] {
        let reply = p.session.post_raw(body, &[]).await;
        assert!(
            reply.status == 400 || reply.status == 200,
            "{body:?}: HTTP {} {:?}",
            reply.status,
            reply.body
        );
        assert_eq!(
            single_error(&reply, body).await,
            PARSE_ERROR,
            "{body:?}: {reply:?}"
        );
        http_still_serves(&p, body).await;
    }
}

/// A JSON body that is not a JSON-RPC message is HTTP 400 (or 200) with a -32600 body.
#[tokio::test]
async fn http_invalid_envelopes() {
    let (p, _) = http_peer(&[]).await;
    for body in [
        json!({ "jsonrpc": "1.0", "id": 1, "method": "ping" }).to_string(),
        json!({ "jsonrpc": "2.0", "id": 2 }).to_string(),
        "[]".to_owned(),
        "42".to_owned(),
    ] {
        let reply = p.session.post_raw(body.clone(), &[]).await;
        assert!(
            reply.status == 400 || reply.status == 200,
            "{body}: HTTP {} {:?}",
            reply.status,
            reply.body
        );
        assert_eq!(
            single_error(&reply, &body).await,
            INVALID_REQUEST,
            "{body}: {reply:?}"
        );
        http_still_serves(&p, &body).await;
    }
}

/// A POST body over `--max-body-bytes` is HTTP 413; a body under it is served; so is the next one.
#[tokio::test]
async fn http_oversize_body() {
    let (p, _) = http_peer(&["--max-body-bytes", "2048"]).await;
    let big = json!({
        "jsonrpc": "2.0", "id": 77, "method": "ping",
        "params": { "_meta": { "padding": "x".repeat(4096) } }
    });
    let reply = p.session.post_raw(big.to_string(), &[]).await;
    assert_eq!(reply.status, 413, "oversize body: {reply:?}");
    http_still_serves(&p, "an oversize body").await;
    let small = json!({
        "jsonrpc": "2.0", "id": 78, "method": "ping",
        "params": { "_meta": { "padding": "x".repeat(1000) } }
    });
    let reply = p.session.post_raw(small.to_string(), &[]).await;
    assert_eq!(reply.status, 200, "a body under the limit: {reply:?}");
    let messages = reply.messages().await;
    assert_eq!(
        messages.last().map(|m| m["id"].clone()),
        Some(json!(78)),
        "{reply:?}"
    );
}

/// Missing session id is 400, an unknown one 404, an ended one 404; valid sessions keep serving.
#[tokio::test]
async fn http_wrong_session_ids() {
    let (p, _) = http_peer(&[]).await;
    let ping = json!({ "jsonrpc": "2.0", "id": 5, "method": "ping" }).to_string();

    let reply = p
        .server
        .client()
        .post_raw(ping.clone(), &[("mcp-protocol-version", "2025-11-25")])
        .await;
    assert_eq!(reply.status, 400, "no Mcp-Session-Id: {reply:?}");
    http_still_serves(&p, "a POST without a session id").await;

    let reply = p
        .server
        .client()
        .post_raw(
            ping.clone(),
            &[
                ("mcp-session-id", "no-such-session"),
                ("mcp-protocol-version", "2025-11-25"),
            ],
        )
        .await;
    assert_eq!(reply.status, 404, "unknown Mcp-Session-Id: {reply:?}");
    http_still_serves(&p, "a POST with an unknown session id").await;

    let doomed = p.server.session().await;
    let doomed_id = doomed.session_id().expect("a session id");
    let status = doomed.delete().await;
    assert!(
        (200..300).contains(&status),
        "DELETE ends the session: HTTP {status}"
    );
    let reply = doomed.post_raw(ping.clone(), &[]).await;
    assert_eq!(reply.status, 404, "ended session {doomed_id}: {reply:?}");
    http_still_serves(&p, "a POST to an ended session").await;
}

/// An unsupported MCP-Protocol-Version header is 400; the supported one, or none, is served.
#[tokio::test]
async fn http_unsupported_protocol_version() {
    let (p, _) = http_peer(&[]).await;
    let ping = json!({ "jsonrpc": "2.0", "id": 6, "method": "ping" }).to_string();
    for version in ["1999-01-01", "not-a-version"] {
        let reply = p
            .session
            .post_raw(ping.clone(), &[("mcp-protocol-version", version)])
            .await;
        assert_eq!(
            reply.status, 400,
            "MCP-Protocol-Version {version}: {reply:?}"
        );
        http_still_serves(&p, version).await;
    }
    let reply = p
        .session
        .post_raw(ping, &[("mcp-protocol-version", "2025-11-25")])
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // The header is optional: without it the session's negotiated version applies.
    let ping = json!({ "jsonrpc": "2.0", "id": 7, "method": "ping" }).to_string();
    let reply = p
        .session
        .post_raw(ping, &[("mcp-protocol-version", "")])
        .await;
    assert_eq!(reply.status, 200, "no MCP-Protocol-Version: {reply:?}");
}

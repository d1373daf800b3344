//! Resumable SSE streams on Streamable HTTP, against the real binary (MCP 2025-11-25,
//! Transports, "Resumability and Redelivery"): every event has an id, a new stream opens with a
//! priming event, and a client that lost a stream resumes it with `GET` and `Last-Event-ID`,
//! receiving what it missed on that stream and nothing of any other. REQUIREMENTS.md names no
//! requirement for this transport feature; the tests say what they check.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};
use testkit::http::{HttpServer, SseStream};

/// The event id of a stream's priming event: the first event, with an id and empty data.
async fn priming_id(stream: &mut SseStream, what: &str) -> String {
    let event = stream
        .next_event()
        .await
        .unwrap_or_else(|| panic!("{what}: the stream ended before its first event"));
    assert!(
        event.data.trim().is_empty(),
        "{what}: the first event should prime reconnection (an id and empty data), got {event:?}"
    );
    assert!(!event.id.is_empty(), "{what}: the priming event has no id");
    event.id
}

/// A `tasks/result` stream dropped before the task finished is resumed with `Last-Event-ID`,
/// and the result (produced while no connection was open) arrives on the resumed stream.
#[tokio::test]
async fn dropped_tasks_result_stream_is_resumed_with_the_result() {
    let (p, _) = http_peer(&[]).await;
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "x", "delay_ms": 600 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let request_id = json!("result-before-the-drop");
    let mut stream = p
        .session
        .post_sse(request_id.clone(), "tasks/result", json!({ "taskId": id }))
        .await
        .unwrap_or_else(|reply| panic!("tasks/result should stream: {reply:?}"));
    let last = priming_id(&mut stream, "tasks/result").await;
    drop(stream); // the connection goes before the result exists

    // The task finishes while nobody listens; the handler's answer goes to the replay log.
    poll_until_terminal(&p, &id).await;
    let mut resumed = bounded(
        "resuming the tasks/result stream",
        p.session.get_sse(&[("last-event-id", &last)]),
    )
    .await
    .unwrap_or_else(|reply| panic!("resuming from {last} was refused: {reply:?}"));
    let events = bounded(
        "the result on the resumed stream",
        resumed.until_message("the tasks/result response", |m| {
            m["id"] == request_id && m.get("method").is_none()
        }),
    )
    .await;
    let answer = events
        .last()
        .and_then(testkit::http::SseEvent::message)
        .expect("the answer event");
    let result = &answer["result"];
    check_task_result(result, &id);
    assert_eq!(text(result), "x");
    let stream_of = |event_id: &str| event_id.split('-').next().unwrap_or_default().to_owned();
    for event in &events {
        assert_eq!(
            stream_of(&event.id),
            stream_of(&last),
            "only events of the dropped stream are replayed: {events:#?}"
        );
    }
    assert!(
        resumed.next_event().await.is_none(),
        "the resumed stream ends after the response"
    );
    p.assert_clean();
}

/// The GET stream, dropped and resumed, delivers the status notification sent while it was
/// down (T-NOTE-1 notifications are a courtesy, but one that was sent is not lost).
#[tokio::test]
async fn dropped_get_stream_is_resumed_with_a_missed_status_notification() {
    let server = Arc::new(HttpServer::spawn(bin(), &[]).await);
    let session = server.session().await; // no GET stream of the test kit's own
    let mut standing = session
        .get_sse(&[])
        .await
        .unwrap_or_else(|reply| panic!("GET should open the standing stream: {reply:?}"));
    let last = priming_id(&mut standing, "GET").await;
    drop(standing);

    let p = HttpPeer::wrap(&server, session.clone());
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "y", "delay_ms": 50 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    poll_until_terminal(&p, &id).await;

    let mut resumed = session
        .get_sse(&[("last-event-id", &last)])
        .await
        .unwrap_or_else(|reply| {
            panic!("resuming the GET stream from {last} was refused: {reply:?}")
        });
    let events = bounded(
        "the missed status notification",
        resumed.until_message("notifications/tasks/status (completed)", |m: &Value| {
            m["method"] == "notifications/tasks/status"
                && m["params"]["taskId"] == id.as_str()
                && m["params"]["status"] == "completed"
        }),
    )
    .await;
    assert!(
        events.iter().all(|e| !e.id.is_empty() && e.id != last),
        "replayed events carry their own ids, after {last}: {events:#?}"
    );
    p.assert_clean();
}

/// A `Last-Event-ID` that cannot be resumed is refused with a status and a reason, never
/// answered with another stream: junk is 400, another session's id is 410 Gone (its events
/// never show), and a `Last-Event-ID` on POST is ignored.
#[tokio::test]
async fn unresumable_last_event_ids_are_refused_and_post_ignores_them() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let a = server.session().await;
    let b = server.session().await;
    let mut stream = a
        .post_sse(
            json!(1),
            "tools/call",
            // A quick answer comes back as plain JSON; one slower than the server's JSON window
            // streams, which is what gives this session an event id to misuse.
            json!({ "name": "slow_echo", "arguments": { "text": "secret of a", "delay_ms": 400 } }),
        )
        .await
        .unwrap_or_else(|reply| panic!("a slow tools/call should stream: {reply:?}"));
    let a_id = priming_id(&mut stream, "tools/call").await;
    stream
        .until_message("the slow_echo answer", |m| m["id"] == 1)
        .await;

    let junk = a
        .get_sse(&[("last-event-id", "not-an-id")])
        .await
        .expect_err("a malformed Last-Event-ID is refused");
    assert_eq!(junk.status, 400, "{junk:?}");
    assert!(junk.body.contains("not an event id"), "{}", junk.body);

    let foreign = b
        .get_sse(&[("last-event-id", &a_id)])
        .await
        .expect_err("another session's event id is refused");
    assert_eq!(foreign.status, 410, "{foreign:?}");
    assert!(
        foreign.body.contains("no stream") && !foreign.body.contains("secret of a"),
        "{}",
        foreign.body
    );
    assert!(
        foreign
            .json()
            .is_some_and(|v| v["error"]["message"].is_string()),
        "the refusal is a JSON-RPC error: {}",
        foreign.body
    );

    let listed = a
        .post_raw(
            json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }).to_string(),
            &[("last-event-id", &a_id)],
        )
        .await;
    assert_eq!(listed.status, 200, "POST ignores Last-Event-ID: {listed:?}");
    assert!(listed.body.contains("slow_echo"), "{}", listed.body);
    a.assert_clean();
    b.assert_clean();
}

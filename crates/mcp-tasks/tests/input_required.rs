//! input_required (MCP 2025-11-25 "Tasks", Input Required Status; T-RES-4): a task asks the
//! requestor a question over the open `tasks/result` exchange, on stdio and on Streamable HTTP.

mod common;

use common::scenarios;
use common::*;
use serde_json::json;

/// T-RES-4, T-META-1, T-CAP-3, T-LIFE-1, T-NOTE-1: accept over stdio.
#[tokio::test]
async fn stdio_elicitation_accepted() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::elicitation(
        &p,
        json!({ "action": "accept", "content": { "name": "Ada" } }),
        "Hello, Ada!",
    )
    .await;
}

/// T-RES-4, T-META-1: decline over stdio.
#[tokio::test]
async fn stdio_elicitation_declined() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::elicitation(&p, json!({ "action": "decline" }), "Hello, stranger!").await;
}

/// T-RES-4, T-META-1: cancel (dismissed) over stdio.
#[tokio::test]
async fn stdio_elicitation_dismissed() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::elicitation(&p, json!({ "action": "cancel" }), "Hello, stranger!").await;
}

/// T-CAN-1, T-LIFE-1, T-LIFE-2: cancel a task waiting for input, over stdio.
#[tokio::test]
async fn stdio_cancel_while_input_required() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::cancel_input_required(&p).await;
}

/// T-RES-4, T-META-1, T-CAP-3, T-LIFE-1, T-NOTE-1: accept over HTTP; the elicitation arrives as an
/// SSE event on the still-open tasks/result POST and the answer is POSTed (202).
#[tokio::test]
async fn http_elicitation_accepted() {
    let (p, _) = http_peer(&[]).await;
    scenarios::elicitation(
        &p,
        json!({ "action": "accept", "content": { "name": "Ada" } }),
        "Hello, Ada!",
    )
    .await;
}

/// T-RES-4, T-META-1: decline over HTTP.
#[tokio::test]
async fn http_elicitation_declined() {
    let (p, _) = http_peer(&[]).await;
    scenarios::elicitation(&p, json!({ "action": "decline" }), "Hello, stranger!").await;
}

/// T-RES-4, T-META-1: cancel (dismissed) over HTTP.
#[tokio::test]
async fn http_elicitation_dismissed() {
    let (p, _) = http_peer(&[]).await;
    scenarios::elicitation(&p, json!({ "action": "cancel" }), "Hello, stranger!").await;
}

/// T-CAN-1, T-LIFE-1, T-LIFE-2: cancel a task waiting for input, over HTTP.
#[tokio::test]
async fn http_cancel_while_input_required() {
    let (p, _) = http_peer(&[]).await;
    scenarios::cancel_input_required(&p).await;
}

/// T-RES-4, T-RES-2: the question reaches a tasks/result opened from another session too (get,
/// result and cancel work by id from any session), and the answer is POSTed on that session.
#[tokio::test]
async fn http_elicitation_via_another_session() {
    let (a, _) = http_peer(&[]).await;
    let b = HttpPeer::wrap(&a.server, second_session(&a.server).await);
    let task = create_task(&a, "ask_name", json!({}), json!({})).await;
    let id = task_id(&task);
    poll_until(&b, &id, "input_required", |s| s == "input_required").await;
    let driver = async {
        let request = b.session.next_request().await;
        assert_eq!(request.method(), "elicitation/create");
        assert_on_tasks_result_exchange(&request);
        assert_related_task("T-META-1: the elicitation request", request.params(), &id);
        b.session
            .respond(
                request.id(),
                json!({ "action": "accept", "content": { "name": "Grace" }, "_meta": { RELATED_TASK: { "taskId": id } } }),
            )
            .await;
    };
    let (result, ()) = bounded(
        "tasks/result from session B",
        futures::future::join(task_result(&b, &id), driver),
    )
    .await;
    assert_eq!(text(&result.expect("B's tasks/result")), "Hello, Grace!");
    let from_a = task_result(&a, &id).await.expect("A's tasks/result");
    assert_eq!(text(&from_a), "Hello, Grace!");
}

/// T-RES-4: a client may drop its tasks/result stream at any time (2025-11-25 Tasks, "Retrieving
/// Task Results"); a question already sent survives it: the answer POSTed after the drop (and to
/// any repeat of the question on the next tasks/result) completes the task.
#[tokio::test]
async fn http_tasks_result_stream_dropped_while_asking() {
    let (p, _) = http_peer(&[]).await;
    let task = create_task(&p, "ask_name", json!({}), json!({})).await;
    let id = task_id(&task);
    poll_until(&p, &id, "input_required", |s| s == "input_required").await;
    let answer = json!({
        "action": "accept",
        "content": { "name": "Ada" },
        "_meta": { RELATED_TASK: { "taskId": id } }
    });

    let question = tokio::select! {
        question = p.session.next_request() => question,
        early = task_result(&p, &id) => panic!("tasks/result returned before the question was answered: {early:?}"),
    }; // the first tasks/result POST, and its SSE stream, are dropped here
    assert_eq!(question.method(), "elicitation/create");
    assert_on_tasks_result_exchange(&question);
    p.session.respond(question.id(), answer.clone()).await;

    let answer_repeats = async {
        loop {
            let again = p.session.next_request().await;
            assert_eq!(again.method(), "elicitation/create", "{}", again.message);
            p.session.respond(again.id(), answer.clone()).await;
        }
    };
    let result = bounded("tasks/result after a dropped stream", async {
        tokio::select! {
            result = task_result(&p, &id) => result,
            () = answer_repeats => unreachable!("the loop never ends"),
        }
    })
    .await;
    assert_eq!(text(&result.expect("the task completes")), "Hello, Ada!");
    assert_eq!(status(&get_task(&p, &id).await), "completed");
}

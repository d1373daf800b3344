//! The task lifecycle (MCP 2025-11-25 "Tasks", part T of REQUIREMENTS.md) against the real binary
//! on the stdio transport.

mod common;

use common::scenarios;
use common::*;
use serde_json::json;
use testkit::stdio::StdioPeer;

/// T-CAP-1, T-CAP-2, T-LIST-3: initialize declares the tasks capability for tools/call only.
#[tokio::test]
async fn initialize_declares_task_capabilities() {
    let (_p, init) = stdio_peer(&[]).await;
    scenarios::capabilities(&init);
}

/// T-CAP-2, T-CAP-4: undeclared request types carrying `task` run normally and make no task.
#[tokio::test]
async fn undeclared_request_types_ignore_task() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::undeclared_requests_ignore_task(&p).await;
}

/// T-CAP-5: tools/list shows each demo tool's execution.taskSupport.
#[tokio::test]
async fn tools_list_shows_task_support() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::tool_task_support(&p).await;
}

/// T-CAP-5: forbidden-as-task and required-as-plain calls are -32601; optional tools run plainly.
#[tokio::test]
async fn task_support_is_enforced() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::task_support_enforced(&p).await;
}

/// T-NEW-1, T-NEW-3, T-NEW-4, T-NEW-5, T-OBJ-1, T-OBJ-2, T-GET-1, T-RES-1, T-RES-3, T-META-2,
/// T-LIFE-1: create, get at once, poll to completion, fetch the result.
#[tokio::test]
async fn create_poll_and_fetch_result() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::create_poll_result(&p).await;
}

/// T-NEW-2: task ids are distinct and uuid-like.
#[tokio::test]
async fn task_ids_are_unique_and_unguessable() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::ids_unguessable(&p).await;
}

/// T-RES-2: tasks/result blocks until the task is terminal; all waiters wake.
#[tokio::test]
async fn result_blocks_until_terminal() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::result_blocks_until_terminal(&p).await;
}

/// T-LIFE-3, T-RES-1: an isError result fails the task with a statusMessage; the result is kept.
#[tokio::test]
async fn failing_tool_fails_the_task() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::failed_task(&p).await;
}

/// T-CAN-1, T-LIFE-2, T-CAN-2, T-CAN-3, T-RES-1: cancelling a working task.
#[tokio::test]
async fn cancel_a_working_task() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::cancel_working(&p).await;
}

/// T-CAN-2: cancelling completed and failed tasks is -32602 naming the status.
#[tokio::test]
async fn cancel_a_terminal_task() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::cancel_terminal(&p).await;
}

/// T-CAN-3: notifications/cancelled for the creating request does not cancel the task.
#[tokio::test]
async fn notifications_cancelled_does_not_cancel_a_task() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::notifications_cancelled_is_not_task_cancel(&p).await;
}

/// T-ERR-1, T-META-2: unknown and invalid task ids are -32602; params.taskId is authoritative.
#[tokio::test]
async fn unknown_task_ids_are_invalid_params() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::unknown_task_ids(&p).await;
}

/// T-LIST-1, T-LIST-2: default pages of 10, cursors, forged cursors.
#[tokio::test]
async fn list_pages_of_ten() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::list_pagination(&p, 10).await;
}

/// T-LIST-1: `--page-size` sets the page size.
#[tokio::test]
async fn list_page_size_is_configurable() {
    let (p, _) = stdio_peer(&["--page-size", "4"]).await;
    scenarios::list_pagination(&p, 4).await;
}

/// T-NOTE-1, T-META-2: status notifications carry the full Task, without related-task _meta.
#[tokio::test]
async fn status_notifications_on_change() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::status_notifications(&p).await;
}

/// T-TTL-1, T-OBJ-1, T-OBJ-2: requested, default and capped ttl.
#[tokio::test]
async fn ttl_is_reported() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::ttl(&p).await;
}

/// T-PROG-1: the progressToken is valid for the task's life, and no progress for it follows the
/// task's end (stdout is one ordered stream, so nothing may come after the tasks/result answer).
#[tokio::test]
async fn progress_for_the_whole_task_and_not_after() {
    let (p, _) = stdio_peer(&[]).await;
    let (token, result_seq) = scenarios::progress(&p, "stdio-progress").await;
    let late: Vec<_> = progress_notes(&p, &token)
        .into_iter()
        .filter(|r| r.seq > result_seq)
        .map(|r| r.message)
        .collect();
    assert!(
        late.is_empty(),
        "T-PROG-1: progress after the task ended: {late:?}"
    );
}

/// T-META-1: progress notifications of a task carry related-task _meta.
#[tokio::test]
async fn progress_carries_related_task_meta() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::progress_related_task(&p).await;
}

/// String request ids are answered with the same id; the stdio server writes only valid messages
/// to stdout (checked on every line) and exits 0 on EOF.
#[tokio::test]
async fn string_ids_and_clean_exit_on_eof() {
    let p = StdioPeer::serve(bin(), &[]);
    let init = p
        .request_with_id(
            json!("init-1"),
            "initialize",
            testkit::stdio::default_initialize_params(),
        )
        .await
        .expect("initialize with a string id");
    assert_schema("InitializeResult", &init);
    p.notify("notifications/initialized", serde_json::Value::Null)
        .await;
    let pong = p
        .request_with_id(json!("ping-ß-1"), "ping", json!({}))
        .await
        .expect("ping");
    assert_schema("EmptyResult", &pong);
    p.close_stdin().await;
    let status = p.wait_exit().await;
    assert!(
        status.success(),
        "EOF on stdin ends the server with exit 0, got {status}\nstderr:\n{}",
        p.stderr()
    );
    p.assert_clean();
}

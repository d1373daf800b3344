//! The task lifecycle (MCP 2025-11-25 "Tasks", part T of REQUIREMENTS.md) against the real binary
//! on Streamable HTTP, plus what only HTTP has: several sessions on one server.

mod common;

use std::collections::HashSet;

use common::scenarios;
use common::*;
use serde_json::json;

/// T-CAP-1, T-CAP-2, T-LIST-3: initialize declares the tasks capability for tools/call only.
#[tokio::test]
async fn initialize_declares_task_capabilities() {
    let (_p, init) = http_peer(&[]).await;
    scenarios::capabilities(&init);
}

/// T-CAP-2, T-CAP-4: undeclared request types carrying `task` run normally and make no task.
#[tokio::test]
async fn undeclared_request_types_ignore_task() {
    let (p, _) = http_peer(&[]).await;
    scenarios::undeclared_requests_ignore_task(&p).await;
}

/// T-CAP-5: tools/list shows each demo tool's execution.taskSupport.
#[tokio::test]
async fn tools_list_shows_task_support() {
    let (p, _) = http_peer(&[]).await;
    scenarios::tool_task_support(&p).await;
}

/// T-CAP-5: forbidden-as-task and required-as-plain calls are -32601; optional tools run plainly.
#[tokio::test]
async fn task_support_is_enforced() {
    let (p, _) = http_peer(&[]).await;
    scenarios::task_support_enforced(&p).await;
}

/// T-NEW-1, T-NEW-3, T-NEW-4, T-NEW-5, T-OBJ-1, T-OBJ-2, T-GET-1, T-RES-1, T-RES-3, T-META-2,
/// T-LIFE-1: create, get at once, poll to completion, fetch the result.
#[tokio::test]
async fn create_poll_and_fetch_result() {
    let (p, _) = http_peer(&[]).await;
    scenarios::create_poll_result(&p).await;
}

/// T-NEW-2: task ids are distinct and uuid-like.
#[tokio::test]
async fn task_ids_are_unique_and_unguessable() {
    let (p, _) = http_peer(&[]).await;
    scenarios::ids_unguessable(&p).await;
}

/// T-RES-2: tasks/result blocks until the task is terminal; all waiters wake.
#[tokio::test]
async fn result_blocks_until_terminal() {
    let (p, _) = http_peer(&[]).await;
    scenarios::result_blocks_until_terminal(&p).await;
}

/// T-LIFE-3, T-RES-1: an isError result fails the task with a statusMessage; the result is kept.
#[tokio::test]
async fn failing_tool_fails_the_task() {
    let (p, _) = http_peer(&[]).await;
    scenarios::failed_task(&p).await;
}

/// T-CAN-1, T-LIFE-2, T-CAN-2, T-CAN-3, T-RES-1: cancelling a working task.
#[tokio::test]
async fn cancel_a_working_task() {
    let (p, _) = http_peer(&[]).await;
    scenarios::cancel_working(&p).await;
}

/// T-CAN-2: cancelling completed and failed tasks is -32602 naming the status.
#[tokio::test]
async fn cancel_a_terminal_task() {
    let (p, _) = http_peer(&[]).await;
    scenarios::cancel_terminal(&p).await;
}

/// T-CAN-3: notifications/cancelled for the creating request does not cancel the task.
#[tokio::test]
async fn notifications_cancelled_does_not_cancel_a_task() {
    let (p, _) = http_peer(&[]).await;
    scenarios::notifications_cancelled_is_not_task_cancel(&p).await;
}

/// T-ERR-1, T-META-2: unknown and invalid task ids are -32602; params.taskId is authoritative.
#[tokio::test]
async fn unknown_task_ids_are_invalid_params() {
    let (p, _) = http_peer(&[]).await;
    scenarios::unknown_task_ids(&p).await;
}

/// T-LIST-1, T-LIST-2: default pages of 10, cursors, forged cursors.
#[tokio::test]
async fn list_pages_of_ten() {
    let (p, _) = http_peer(&[]).await;
    scenarios::list_pagination(&p, 10).await;
}

/// T-LIST-1: `--page-size` sets the page size.
#[tokio::test]
async fn list_page_size_is_configurable() {
    let (p, _) = http_peer(&["--page-size", "3"]).await;
    scenarios::list_pagination(&p, 3).await;
}

/// T-NOTE-1, T-META-2: status notifications reach the creating session with the full Task.
#[tokio::test]
async fn status_notifications_on_change() {
    let (p, _) = http_peer(&[]).await;
    scenarios::status_notifications(&p).await;
}

/// T-TTL-1, T-OBJ-1, T-OBJ-2: requested, default and capped ttl.
#[tokio::test]
async fn ttl_is_reported() {
    let (p, _) = http_peer(&[]).await;
    scenarios::ttl(&p).await;
}

/// T-PROG-1: the progressToken gets increasing progress (total = from) during the task's life.
#[tokio::test]
async fn progress_for_the_whole_task() {
    let (p, _) = http_peer(&[]).await;
    scenarios::progress(&p, "http-progress").await;
}

/// T-META-1: progress notifications of a task carry related-task _meta.
#[tokio::test]
async fn progress_carries_related_task_meta() {
    let (p, _) = http_peer(&[]).await;
    scenarios::progress_related_task(&p).await;
}

/// T-LIST-2, T-LIST-3: without auth, tasks/list shows each session only its own tasks, while
/// get/result/cancel work by id from another session; T-RES-2: waiters in several sessions
/// all wake; T-NOTE-1: status notifications go to the creating session only.
#[tokio::test]
async fn sessions_list_their_own_tasks_and_share_by_id() {
    let (a, _) = http_peer(&[]).await;
    let b = second_session(&a.server).await;
    let b = HttpPeer::wrap(&a.server, b);

    let a_tasks = futures::future::join_all((0..3).map(|i| {
        create_task(
            &a,
            "slow_echo",
            json!({ "text": format!("a{i}"), "delay_ms": 300 }),
            json!({}),
        )
    }))
    .await;
    let b_tasks = futures::future::join_all((0..2).map(|i| {
        create_task(
            &b,
            "slow_echo",
            json!({ "text": format!("b{i}"), "delay_ms": 0 }),
            json!({}),
        )
    }))
    .await;
    let a_ids: HashSet<String> = a_tasks.iter().map(task_id).collect();
    let b_ids: HashSet<String> = b_tasks.iter().map(task_id).collect();

    let a_listed: HashSet<String> = listed_ids(&a).await.into_iter().collect();
    let b_listed: HashSet<String> = listed_ids(&b).await.into_iter().collect();
    assert_eq!(
        a_listed, a_ids,
        "T-LIST-2: session A lists exactly its own tasks"
    );
    assert_eq!(
        b_listed, b_ids,
        "T-LIST-2: session B lists exactly its own tasks"
    );

    // By id, from the other session.
    let first = task_id(&a_tasks[0]);
    let seen_by_b = get_task(&b, &first).await;
    assert_eq!(seen_by_b["createdAt"], a_tasks[0]["createdAt"]);
    let (from_a, from_b) = bounded(
        "waiters in two sessions",
        futures::future::join(task_result(&a, &first), task_result(&b, &first)),
    )
    .await;
    let from_a = from_a.expect("A's result");
    assert_eq!(text(&from_a), "a0");
    assert_eq!(
        from_b.expect("B waits on A's task"),
        from_a,
        "T-RES-2: every waiter gets the same"
    );
    let second = task_id(&a_tasks[1]);
    let cancelled = cancel_task(&b, &second).await;
    if let Ok(task) = cancelled {
        assert_eq!(status(&task), "cancelled");
    } else {
        // It finished before the cancel arrived.
        assert_eq!(status(&get_task(&a, &second).await), "completed");
    }

    // Status notifications for A's tasks go to A, not to B.
    wait_status_note(&a, &first, "completed").await;
    let leaked: Vec<_> = b
        .notifications()
        .into_iter()
        .filter(|r| {
            r.method() == "notifications/tasks/status"
                && a_ids.contains(r.params()["taskId"].as_str().unwrap_or_default())
        })
        .map(|r| r.message)
        .collect();
    assert!(
        leaked.is_empty(),
        "T-NOTE-1: A's status notifications reached B: {leaked:?}"
    );
}

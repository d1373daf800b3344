//! Concurrency on one connection (issue 2): requests in flight in both directions at once on stdio,
//! and 200 tasks with 200 concurrent `tasks/result` waiters on one HTTP session.

mod common;

use common::scenarios;
use common::*;
use futures::future::join_all;
use serde_json::json;

/// T-RES-4, T-RES-2, T-GET-1: on one stdio connection, tasks/result stays open while tasks/get,
/// tools/call and ping are answered and the elicitation is answered; other tasks complete meanwhile.
#[tokio::test]
async fn stdio_result_get_and_elicitation_interleave() {
    let (p, _) = stdio_peer(&[]).await;
    let asking = create_task(&p, "ask_name", json!({}), json!({})).await;
    let asking_id = task_id(&asking);
    let others = join_all((0..10).map(|i| {
        create_task(
            &p,
            "slow_echo",
            json!({ "text": format!("other {i}"), "delay_ms": 100 }),
            json!({}),
        )
    }))
    .await;
    poll_until(&p, &asking_id, "input_required", |s| s == "input_required").await;

    let driver = async {
        let question = p.next_request().await;
        assert_eq!(question.method(), "elicitation/create");
        assert_related_task("T-META-1", question.params(), &asking_id);
        // While the question and the tasks/result are open: the other tasks finish and are fetched.
        let other_ids: Vec<String> = others.iter().map(task_id).collect();
        let results = join_all(other_ids.iter().map(|id| task_result(&p, id))).await;
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(text(&result.expect("other task")), format!("other {i}"));
        }
        let gets = join_all((0..10).map(|_| get_task(&p, &asking_id))).await;
        assert!(gets.iter().all(|t| status(t) == "input_required"));
        p.respond(
            question.id(),
            json!({ "action": "accept", "content": { "name": "Ada" }, "_meta": { RELATED_TASK: { "taskId": asking_id } } }),
        )
        .await;
    };
    let (result, ()) = bounded(
        "interleaved exchange",
        futures::future::join(task_result(&p, &asking_id), driver),
    )
    .await;
    assert_eq!(text(&result.expect("ask_name result")), "Hello, Ada!");
}

/// T-RES-2, T-NEW-2, T-LIST-2: 60 tasks at once on one stdio connection, 60 concurrent waiters.
#[tokio::test]
async fn stdio_many_tasks_in_flight() {
    let (p, _) = stdio_peer(&[]).await;
    scenarios::many_tasks(&p, 60).await;
}

/// T-RES-2: many waiters on one task, on one stdio connection, all wake with the same result.
#[tokio::test]
async fn stdio_many_waiters_on_one_task() {
    let (p, _) = stdio_peer(&[]).await;
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "shared", "delay_ms": 300 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let results = bounded(
        "20 waiters",
        join_all((0..20).map(|_| task_result(&p, &id))),
    )
    .await;
    for result in results {
        assert_eq!(text(&result.expect("a waiter")), "shared");
    }
}

/// T-RES-2, T-NEW-2, T-LIST-2 (issue 2, "Done when"): 200 tasks created at once over one HTTP
/// session, then 200 concurrent tasks/result waiters; each result is its own task's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_200_tasks_and_200_waiters_on_one_session() {
    let (p, _) = http_peer(&[]).await;
    scenarios::many_tasks(&p, 200).await;
}

/// T-RES-2: waiters on one task from several HTTP sessions all wake with the same result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_waiters_in_many_sessions() {
    let (a, _) = http_peer(&[]).await;
    let task = create_task(
        &a,
        "slow_echo",
        json!({ "text": "everyone", "delay_ms": 300 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let mut peers = Vec::new();
    for _ in 0..5 {
        peers.push(HttpPeer::wrap(&a.server, a.server.session().await));
    }
    let waits = peers
        .iter()
        .flat_map(|peer| (0..4).map(|_| task_result(peer, &id)));
    let results = bounded("waiters in 5 sessions", join_all(waits)).await;
    assert_eq!(results.len(), 20);
    for result in results {
        assert_eq!(text(&result.expect("a waiter")), "everyone");
    }
}

//! Limits and ttl policy of the real binary (T-TTL-1, T-TTL-2): unfinished tasks per requestor,
//! result size, ttl lowering to the maximum, unlimited ttls, and what happens once a ttl runs out.
//!
//! Everything runs over Streamable HTTP so that two sessions (two requestors without auth) can
//! share one server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use testkit::stdio::RpcError;

/// JSON-RPC internal error: what a requestor over its limit gets (T-TTL-2).
const INTERNAL_ERROR: i64 = -32603;

/// A task call that stays `working` long enough for any test here.
fn long_task() -> (&'static str, Value) {
    ("must_be_task", json!({ "delay_ms": 60_000 }))
}

/// Calls a tool as a task and returns the raw outcome (no checks on success beyond the schema).
async fn try_create<P: Peer>(p: &P, tool: &str, arguments: Value) -> Result<Value, RpcError> {
    let result = p
        .request("tools/call", task_call(tool, arguments, json!({})))
        .await;
    if let Ok(result) = &result {
        check_create_result(result);
    }
    result
}

/// Panics unless `outcome` is the "too many unfinished tasks" error naming `limit`.
fn assert_over_limit(what: &str, outcome: Result<Value, RpcError>, limit: usize) {
    let err = match outcome {
        Ok(result) => panic!("T-TTL-2: {what} was accepted above the limit of {limit}: {result}"),
        Err(err) => err,
    };
    assert_eq!(
        err.code, INTERNAL_ERROR,
        "T-TTL-2: {what}: over the limit is -32603: {err}"
    );
    assert!(
        err.message.contains("too many unfinished tasks"),
        "T-TTL-2: {what}: the message says why: {err}"
    );
    assert!(
        err.message.contains(&limit.to_string()),
        "T-TTL-2: {what}: the message names the limit {limit}: {err}"
    );
}

/// Cancels every task in `ids`, ignoring those already terminal.
async fn cancel_all<P: Peer>(p: &P, ids: &[String]) {
    for id in ids {
        let _ = cancel_task(p, id).await;
    }
}

/// T-TTL-2: `--max-active-tasks 3` allows three unfinished tasks per client. The fourth
/// task-augmented call is -32603 "too many unfinished tasks" naming the limit; plain calls are
/// unaffected; another anonymous session of the same address shares the allowance (issue 16:
/// per session, 11 sessions held 11,000 tasks; another address has its own, in
/// `abuse_limits`); cancelling a task, or a task finishing, frees its slot.
#[tokio::test]
async fn max_active_tasks_per_client() {
    let (p, _) = http_peer(&["--max-active-tasks", "3"]).await;
    let (tool, args) = long_task();

    let mut ids = Vec::new();
    for n in 1..=3 {
        let task = try_create(&p, tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("T-TTL-2: task {n} of 3 is within the limit: {e}"));
        ids.push(task_id(&task["task"]));
    }
    assert_over_limit("the 4th task", try_create(&p, tool, args.clone()).await, 3);
    // A tool that may run either way is refused as a task too…
    assert_over_limit(
        "a 4th task of another tool",
        try_create(&p, "slow_echo", json!({ "text": "x", "delay_ms": 0 })).await,
        3,
    );

    // …but plain calls are not tasks and are not counted.
    let echoed = call_tool(&p, "echo", json!({ "text": "still here" }))
        .await
        .expect("T-TTL-2: a plain call is unaffected by the task limit");
    assert_eq!(text(&echoed), "still here");
    let slow = call_tool(&p, "slow_echo", json!({ "text": "plain", "delay_ms": 0 }))
        .await
        .expect("T-TTL-2: a plain call of a task-optional tool is unaffected");
    assert_eq!(text(&slow), "plain");

    // Another session of the same address is the same client, with no allowance of its own.
    let other = HttpPeer::wrap(&p.server, second_session(&p.server).await);
    assert_over_limit(
        "a task of another session of the same address",
        try_create(&other, tool, args.clone()).await,
        3,
    );

    // The refused calls created nothing.
    let listed = listed_ids(&p).await;
    assert_eq!(
        listed.len(),
        3,
        "T-TTL-2: refused calls must not leave tasks behind: {listed:?}"
    );

    // Cancelling one frees its slot, and only one.
    let cancelled = cancel_task(&p, &ids[0])
        .await
        .expect("cancel a working task");
    assert_eq!(status(&cancelled), "cancelled");
    let replacement = try_create(&p, tool, args.clone())
        .await
        .unwrap_or_else(|e| panic!("T-TTL-2: a cancelled task no longer counts: {e}"));
    ids.push(task_id(&replacement["task"]));
    assert_over_limit(
        "a task after the freed slot was taken again",
        try_create(&p, tool, args.clone()).await,
        3,
    );

    // A task that finishes on its own frees its slot too.
    cancel_task(&p, &ids[1])
        .await
        .expect("cancel a working task");
    let quick = try_create(&p, "slow_echo", json!({ "text": "quick", "delay_ms": 100 }))
        .await
        .unwrap_or_else(|e| panic!("T-TTL-2: a slot was free: {e}"));
    let quick_id = task_id(&quick["task"]);
    assert_over_limit(
        "a task while the quick one still works",
        try_create(&p, tool, args.clone()).await,
        3,
    );
    let done = task_result(&p, &quick_id)
        .await
        .expect("the quick task completes");
    assert_eq!(text(&done), "quick");
    let after = try_create(&p, tool, args.clone())
        .await
        .unwrap_or_else(|e| panic!("T-TTL-2: a completed task no longer counts: {e}"));
    ids.push(task_id(&after["task"]));

    cancel_all(&p, &ids).await;
}

/// T-TTL-2: a task whose result is larger than `--max-result-bytes` ends `failed` with a
/// statusMessage that gives the size and the limit, and its tasks/result is a -32603 error; a
/// result within the limit is unaffected.
#[tokio::test]
async fn oversized_result_fails_the_task() {
    let limit = 2048;
    let (p, _) = http_peer(&["--max-result-bytes", &limit.to_string()]).await;

    let small = try_create(&p, "slow_echo", json!({ "text": "small", "delay_ms": 0 }))
        .await
        .expect("a task with a small result");
    let small_id = task_id(&small["task"]);
    let small_result = task_result(&p, &small_id)
        .await
        .expect("T-TTL-2: a result within the limit is delivered");
    assert_eq!(text(&small_result), "small");

    let big_text = "x".repeat(limit * 4);
    let big = try_create(&p, "slow_echo", json!({ "text": big_text, "delay_ms": 0 }))
        .await
        .expect("T-TTL-2: the task is created; only its result is too big");
    let big_id = task_id(&big["task"]);
    let (done, seen) = poll_until_terminal(&p, &big_id).await;
    assert_valid_transitions("oversized result", &seen);
    assert_eq!(
        status(&done),
        "failed",
        "T-TTL-2: a result above the limit fails the task: {done}"
    );
    let message = done["statusMessage"]
        .as_str()
        .unwrap_or_else(|| panic!("T-TTL-2: the failed task says why in statusMessage: {done}"));
    assert!(
        message.contains("bytes") && message.contains(&limit.to_string()),
        "T-TTL-2: the statusMessage gives the size and the limit ({limit}): {message:?}"
    );
    assert!(
        message.contains("above"),
        "T-TTL-2: the statusMessage says the result is above the limit: {message:?}"
    );

    let err = task_result(&p, &big_id)
        .await
        .expect_err("T-TTL-2: the oversized result is not delivered");
    assert_eq!(err.code, INTERNAL_ERROR, "T-TTL-2: {err}");
    assert!(
        !err.message.contains(&big_text[..100]),
        "the error does not carry the result: {}",
        err.message.len()
    );
}

/// T-TTL-2: a requested ttl above `--max-ttl-ms` is lowered to it and the actual ttl is what
/// the CreateTaskResult and tasks/get show; no ttl gives `--default-ttl-ms`; a ttl below the
/// minimum (1000 ms) is raised to it.
#[tokio::test]
async fn ttl_above_max_is_lowered() {
    let (p, _) = http_peer(&["--default-ttl-ms", "30000", "--max-ttl-ms", "60000"]).await;
    let args = json!({ "text": "ttl", "delay_ms": 0 });

    for (requested, granted) in [
        (json!({ "ttl": 3_600_000 }), json!(60_000)),
        (json!({ "ttl": 10_000_000_000_000_u64 }), json!(60_000)),
        (json!({ "ttl": 60_000 }), json!(60_000)),
        (json!({ "ttl": 5_000 }), json!(5_000)),
        (json!({ "ttl": 10 }), json!(1_000)),
        (json!({}), json!(30_000)),
    ] {
        let task = create_task(&p, "slow_echo", args.clone(), requested.clone()).await;
        assert_eq!(
            task["ttl"], granted,
            "T-TTL-2: params.task {requested} → the CreateTaskResult shows the actual ttl: {task}"
        );
        assert_eq!(
            get_task(&p, &task_id(&task)).await["ttl"],
            granted,
            "T-TTL-2: tasks/get shows the actual ttl for params.task {requested}"
        );
    }
}

/// T-TTL-2: with `--default-ttl-ms unlimited --allow-unlimited-ttl --max-ttl-ms unlimited`, a
/// task created without a ttl has `"ttl": null`; an explicit ttl is kept as asked.
#[tokio::test]
async fn unlimited_ttl_is_null() {
    let (p, _) = http_peer(&[
        "--default-ttl-ms",
        "unlimited",
        "--allow-unlimited-ttl",
        "--max-ttl-ms",
        "unlimited",
    ])
    .await;
    let args = json!({ "text": "forever", "delay_ms": 0 });

    let forever = create_task(&p, "slow_echo", args.clone(), json!({})).await;
    assert!(
        forever.get("ttl").is_some_and(Value::is_null),
        "T-TTL-2: an unlimited ttl is null: {forever}"
    );
    let id = task_id(&forever);
    let got = get_task(&p, &id).await;
    assert!(
        got.get("ttl").is_some_and(Value::is_null),
        "T-TTL-2: tasks/get shows the unlimited ttl as null: {got}"
    );
    let result = task_result(&p, &id).await.expect("the task completes");
    assert_eq!(text(&result), "forever");

    let huge: u64 = 10_000_000_000_000;
    let asked = create_task(&p, "slow_echo", args, json!({ "ttl": huge })).await;
    assert_eq!(
        asked["ttl"], huge,
        "T-TTL-2: without a maximum, a requested ttl is granted as asked: {asked}"
    );
}

/// T-TTL-1: once a task's ttl (1000 ms) runs out, a requestor blocked in tasks/result is woken
/// with -32602 long before the work would end, and tasks/get, tasks/result and tasks/cancel all
/// answer -32602 saying it expired or is not found; it is no longer listed.
#[tokio::test]
async fn expiry_wakes_a_blocked_result_and_hides_the_task() {
    let (p, _) = http_peer(&["--sweep-interval-ms", "50"]).await;
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "never", "delay_ms": 30_000 }),
        json!({ "ttl": 1000 }),
    )
    .await;
    assert_eq!(task["ttl"], 1000, "T-TTL-1: {task}");
    let id = task_id(&task);

    let started = Instant::now();
    let err = bounded(
        "a tasks/result blocked on a task that expires",
        task_result(&p, &id),
    )
    .await
    .expect_err("T-TTL-1: an expired task has no result");
    let waited = started.elapsed();
    assert_eq!(
        err.code, INVALID_PARAMS,
        "T-TTL-1: a tasks/result woken by expiry is -32602: {err}"
    );
    assert_expired_message("the woken tasks/result", &err);
    assert!(
        waited < Duration::from_secs(15),
        "T-TTL-1: the blocked tasks/result was woken by the expiry, not by the work ending \
         (waited {waited:?})"
    );

    assert_gone(&p, &id).await;
}

/// T-TTL-1: a completed task whose ttl ran out is gone with its result: tasks/get and
/// tasks/result answer -32602 saying it expired or is not found.
#[tokio::test]
async fn completed_task_expires_with_its_result() {
    let (p, _) = http_peer(&["--sweep-interval-ms", "50"]).await;
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "short-lived", "delay_ms": 0 }),
        json!({ "ttl": 1000 }),
    )
    .await;
    let id = task_id(&task);
    let result = task_result(&p, &id).await.expect("it completes at once");
    assert_eq!(text(&result), "short-lived");

    // Poll until the ttl has run out (bounded): the task must disappear.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match p.request("tasks/get", json!({ "taskId": id })).await {
            Ok(task) => {
                assert!(
                    Instant::now() < deadline,
                    "T-TTL-1: the task outlived its 1000 ms ttl by far: {task}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => {
                assert_eq!(err.code, INVALID_PARAMS, "T-TTL-1: {err}");
                assert_expired_message("tasks/get of an expired task", &err);
                break;
            }
        }
    }
    assert_gone(&p, &id).await;
}

fn assert_expired_message(what: &str, err: &RpcError) {
    let message = err.message.to_lowercase();
    assert!(
        message.contains("expired") || message.contains("not found"),
        "T-TTL-1: {what}: the message says the task expired or is not found: {err}"
    );
}

/// After expiry: every tasks/* method answers -32602, and the task is not listed. The sweeper
/// (every 50 ms) may still be deleting it when the first method already refuses it, so this
/// looks again (bounded) until all of them agree.
async fn assert_gone<P: Peer>(p: &P, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let problem = gone_problem(p, id).await;
        let Some(problem) = problem else {
            return;
        };
        assert!(
            Instant::now() < deadline,
            "T-TTL-1: the expired task {id} is not gone within 20 s: {problem}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What still shows that task `id` exists, if anything.
async fn gone_problem<P: Peer>(p: &P, id: &str) -> Option<String> {
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        match p.request(method, json!({ "taskId": id })).await {
            Ok(answer) => return Some(format!("{method} answered {answer}")),
            Err(err) if err.code != INVALID_PARAMS => {
                return Some(format!(
                    "{method} failed with a code other than -32602: {err}"
                ))
            }
            Err(err) => assert_expired_message(method, &err),
        }
    }
    let listed = listed_ids(p).await;
    listed
        .iter()
        .any(|l| l == id)
        .then(|| format!("it is still listed: {listed:?}"))
}

/// T-SEC-3: task requests above `--rate-limit`/`--rate-burst` are refused with -32603 saying
/// when to retry (and `data.retryAfterMs`); requests that are not task operations never count,
/// and another session has its own allowance.
#[tokio::test]
async fn task_requests_are_rate_limited_per_requestor() {
    let (p, _) = http_peer(&["--rate-limit", "1", "--rate-burst", "3"]).await;
    for n in 1..=3 {
        let answer = p
            .request("tasks/list", json!({}))
            .await
            .unwrap_or_else(|e| panic!("T-SEC-3: request {n} of the burst passes: {e}"));
        assert!(answer["tasks"].is_array());
    }
    let refused = p
        .request("tasks/list", json!({}))
        .await
        .expect_err("T-SEC-3: the 4th task request within a second is refused");
    assert_eq!(refused.code, INTERNAL_ERROR, "{refused}");
    assert!(refused.message.contains("rate limit"), "{refused}");
    let retry = refused
        .data
        .as_ref()
        .and_then(|d| d["retryAfterMs"].as_u64())
        .expect("retryAfterMs in data");
    assert!(retry > 0 && retry <= 1000, "{retry}");
    p.request("tools/list", json!({}))
        .await
        .expect("T-SEC-3: tools/list is not a task operation");
    let other = HttpPeer::wrap(&p.server, second_session(&p.server).await);
    other
        .request("tasks/list", json!({}))
        .await
        .expect("T-SEC-3: another session has its own allowance");
}

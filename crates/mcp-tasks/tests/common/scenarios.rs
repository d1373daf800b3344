//! The task scenarios every transport runs. Each proves the requirement IDs in its doc line; the
//! tests in `stdio_tasks.rs`, `http_tasks.rs`, `input_required.rs`, … call them per transport.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::{json, Value};

use super::*;

/// T-CAP-1, T-CAP-2, T-LIST-3: the server declares `tasks.list`, `tasks.cancel` and
/// `tasks.requests.tools.call`, and nothing else under `tasks.requests`.
pub(crate) fn capabilities(init: &Value) {
    assert_schema("InitializeResult", init);
    assert_eq!(init["protocolVersion"], "2025-11-25", "{init}");
    let caps = &init["capabilities"];
    assert!(
        caps["tools"].is_object(),
        "tools capability missing: {caps}"
    );
    let tasks = &caps["tasks"];
    assert!(
        tasks["list"].is_object(),
        "T-CAP-1/T-LIST-3: tasks.list missing: {caps}"
    );
    assert!(
        tasks["cancel"].is_object(),
        "T-CAP-1: tasks.cancel missing: {caps}"
    );
    assert!(
        tasks["requests"]["tools"]["call"].is_object(),
        "T-CAP-1: tasks.requests.tools.call missing: {caps}"
    );
    let requests: Vec<&String> = tasks["requests"].as_object().unwrap().keys().collect();
    assert_eq!(
        requests,
        ["tools"],
        "T-CAP-2: only tools/call is task-augmentable: {caps}"
    );
    let tools: Vec<&String> = tasks["requests"]["tools"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        tools,
        ["call"],
        "T-CAP-2: only tools/call is task-augmentable: {caps}"
    );
}

/// T-CAP-2, T-CAP-4: request types not declared under `tasks.requests` are run normally when
/// they carry a `task` field, and create no task. The requests used read their params
/// (`tasks/get` its `taskId`, `tasks/list` its `cursor`, `tasks/result` its `taskId`), so a
/// server that stumbled on the extra field, or treated it as augmentation, would show it.
pub(crate) async fn undeclared_requests_ignore_task<P: Peer>(p: &P) {
    let created = create_task(
        p,
        "slow_echo",
        json!({ "text": "cap-4", "delay_ms": 0 }),
        json!({}),
    )
    .await;
    let id = task_id(&created);
    poll_until_terminal(p, &id).await;
    let before = listed_ids(p).await.len();

    let got = p
        .request(
            "tasks/get",
            json!({ "taskId": id, "task": { "ttl": 60000 } }),
        )
        .await
        .expect("T-CAP-4: tasks/get with a task field runs normally");
    assert_schema("GetTaskResult", &got);
    assert_eq!(
        got["taskId"],
        id.as_str(),
        "T-CAP-4: tasks/get read its taskId: {got}"
    );
    assert_eq!(status(&got), "completed", "T-CAP-4: {got}");

    let first = p
        .request("tasks/list", json!({ "task": {} }))
        .await
        .expect("T-CAP-4: tasks/list with a task field runs normally");
    assert_schema("ListTasksResult", &first);
    assert!(
        first["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["taskId"] == id.as_str())),
        "T-CAP-4: tasks/list with a task field lists the tasks: {first}"
    );
    let err = p
        .request(
            "tasks/list",
            json!({ "cursor": "not-a-cursor", "task": {} }),
        )
        .await
        .expect_err("T-CAP-4: tasks/list still reads its cursor beside a task field");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");

    let result = p
        .request(
            "tasks/result",
            json!({ "taskId": id, "task": { "ttl": 1000 } }),
        )
        .await
        .expect("T-CAP-4: tasks/result with a task field runs normally");
    assert_eq!(
        text(&result),
        "cap-4",
        "T-CAP-4: tasks/result read its taskId: {result}"
    );
    assert!(
        result.get("task").is_none(),
        "T-CAP-4: tasks/result made a task: {result}"
    );
    let after = listed_ids(p).await.len();
    assert_eq!(
        before, after,
        "T-CAP-2: an undeclared request type created a task"
    );
}

/// T-CAP-5: `tools/list` shows `execution.taskSupport` per tool (absent = forbidden).
pub(crate) async fn tool_task_support<P: Peer>(p: &P) {
    let list = p
        .request("tools/list", json!({}))
        .await
        .expect("tools/list");
    assert_schema("ListToolsResult", &list);
    let support = |name: &str| -> String {
        let tool = list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("tool {name} missing from {list}"));
        tool.get("execution")
            .and_then(|e| e.get("taskSupport"))
            .and_then(Value::as_str)
            .unwrap_or("forbidden")
            .to_owned()
    };
    assert_eq!(support("echo"), "forbidden");
    assert_eq!(support("slow_echo"), "optional");
    assert_eq!(support("must_be_task"), "required");
    assert_eq!(support("fail"), "optional");
    assert_eq!(support("ask_name"), "required");
    assert_eq!(support("countdown"), "optional");
}

/// T-CAP-5: a task for a forbidden tool and a plain call of a required tool are -32601; optional
/// and forbidden tools answer plain calls normally; a required tool runs as a task.
pub(crate) async fn task_support_enforced<P: Peer>(p: &P) {
    let err = p
        .request(
            "tools/call",
            task_call("echo", json!({ "text": "x" }), json!({})),
        )
        .await
        .expect_err("T-CAP-5: a task for a forbidden tool must fail");
    assert_eq!(err.code, METHOD_NOT_FOUND, "T-CAP-5: {err}");
    for tool in ["must_be_task", "ask_name"] {
        let err = call_tool(p, tool, json!({}))
            .await
            .expect_err("T-CAP-5: a plain call of a required tool must fail");
        assert_eq!(err.code, METHOD_NOT_FOUND, "T-CAP-5 ({tool}): {err}");
    }
    let echo = call_tool(p, "echo", json!({ "text": "plain" }))
        .await
        .expect("echo");
    assert_eq!(text(&echo), "plain");
    let slow = call_tool(
        p,
        "slow_echo",
        json!({ "text": "optional", "delay_ms": 10 }),
    )
    .await
    .expect("T-CAP-5: an optional tool answers a plain call");
    assert_eq!(text(&slow), "optional");
    assert!(
        slow.get("task").is_none(),
        "a plain call made a task: {slow}"
    );
    let task = create_task(p, "must_be_task", json!({ "delay_ms": 10 }), json!({})).await;
    let result = task_result(p, &task_id(&task))
        .await
        .expect("must_be_task result");
    assert_eq!(text(&result), "ok");
}

/// T-NEW-1, T-NEW-3, T-NEW-4, T-NEW-5, T-OBJ-1, T-OBJ-2, T-GET-1, T-RES-1, T-RES-3, T-META-2,
/// T-LIFE-1: create, find at once, poll to completion, fetch the same result a plain call gives.
pub(crate) async fn create_poll_result<P: Peer>(p: &P) {
    let args = json!({ "text": "hello tasks", "delay_ms": 200 });
    let task = create_task(p, "slow_echo", args.clone(), json!({})).await;
    let id = task_id(&task);
    let poll = task["pollInterval"].as_u64();
    assert!(
        poll.is_some_and(|ms| ms <= 1000),
        "demo tools keep pollInterval <= 1000 ms: {task}"
    );
    assert_eq!(task["ttl"], DEFAULT_TTL_MS, "default ttl: {task}");

    // T-NEW-5: it exists before CreateTaskResult was sent.
    let found = get_task(p, &id).await;
    assert_eq!(
        found["createdAt"], task["createdAt"],
        "T-OBJ-2: createdAt is stable"
    );
    assert_eq!(found["ttl"], task["ttl"], "T-OBJ-2: ttl is stable");

    let (done, mut seen) = poll_until_terminal(p, &id).await;
    seen.insert(0, "working".to_owned());
    assert_valid_transitions("slow_echo", &seen);
    assert_eq!(status(&done), "completed", "{done}");
    assert_eq!(done["createdAt"], task["createdAt"]);

    let result = task_result(p, &id)
        .await
        .expect("tasks/result of a completed task");
    assert_eq!(text(&result), "hello tasks");
    // T-RES-1: exactly what the plain call returns.
    let plain = call_tool(
        p,
        "slow_echo",
        json!({ "text": "hello tasks", "delay_ms": 0 }),
    )
    .await
    .expect("plain slow_echo");
    assert_eq!(without_meta(&result), without_meta(&plain), "T-RES-1");
    // Fetching it again gives the same answer.
    let again = task_result(p, &id).await.expect("tasks/result again");
    assert_eq!(again, result, "T-RES-1: the stored result is stable");
}

/// T-NEW-2: many task ids, all distinct and uuid-like.
pub(crate) async fn ids_unguessable<P: Peer>(p: &P) {
    let tasks = join_all((0..20).map(|i| {
        create_task(
            p,
            "slow_echo",
            json!({ "text": format!("id {i}"), "delay_ms": 0 }),
            json!({}),
        )
    }))
    .await;
    let ids: Vec<String> = tasks.iter().map(task_id).collect();
    assert_unguessable_ids(&ids);
}

/// T-RES-2: `tasks/result` on a working task blocks until it is terminal; several waiters on one
/// task are all woken with the same result.
pub(crate) async fn result_blocks_until_terminal<P: Peer>(p: &P) {
    let task = create_task(
        p,
        "slow_echo",
        json!({ "text": "wait for me", "delay_ms": 400 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let results = bounded(
        "three tasks/result waiters",
        join_all((0..3).map(|_| task_result(p, &id))),
    )
    .await;
    // Terminal statuses are final, so a get now tells whether it was terminal when they returned.
    let after = get_task(p, &id).await;
    assert_eq!(
        status(&after),
        "completed",
        "T-RES-2: tasks/result returned before the end: {after}"
    );
    for result in results {
        let result = result.expect("T-RES-2: every waiter gets the result");
        assert_eq!(text(&result), "wait for me");
    }
}

/// T-LIFE-3, T-RES-1: a tool result with `isError: true` ends the task `failed` with a
/// statusMessage, and `tasks/result` returns that result exactly.
pub(crate) async fn failed_task<P: Peer>(p: &P) {
    let task = create_task(p, "fail", json!({ "message": "boom 42" }), json!({})).await;
    let id = task_id(&task);
    let (done, mut seen) = poll_until_terminal(p, &id).await;
    seen.insert(0, "working".to_owned());
    assert_valid_transitions("fail", &seen);
    assert_eq!(status(&done), "failed", "T-LIFE-3: {done}");
    let message = done["statusMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("boom 42"),
        "T-LIFE-3: statusMessage says why: {done}"
    );

    let result = task_result(p, &id)
        .await
        .expect("T-RES-1: the failed tool's result");
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(text(&result), "boom 42");
    let plain = call_tool(p, "fail", json!({ "message": "boom 42" }))
        .await
        .expect("plain fail");
    assert_eq!(without_meta(&result), without_meta(&plain), "T-RES-1");

    let task = create_task(p, "fail", json!({}), json!({})).await;
    let (done, _) = poll_until_terminal(p, &task_id(&task)).await;
    assert_eq!(status(&done), "failed");
    assert!(
        done["statusMessage"]
            .as_str()
            .is_some_and(|m| m.contains("the tool failed as asked")),
        "T-LIFE-3: {done}"
    );
}

/// T-CAN-1, T-LIFE-2, T-CAN-2, T-CAN-3, T-RES-1: cancelling a working task answers the full Task in
/// `cancelled`, the work never completes it later, its result is the cancellation error, and the
/// server uses no `notifications/cancelled` for it.
pub(crate) async fn cancel_working<P: Peer>(p: &P) {
    let a = create_task(
        p,
        "slow_echo",
        json!({ "text": "A", "delay_ms": 1500 }),
        json!({}),
    )
    .await;
    let a_id = task_id(&a);
    let cancelled = cancel_task(p, &a_id)
        .await
        .expect("T-CAN-1: cancel a working task");
    assert_eq!(status(&cancelled), "cancelled", "T-CAN-1: {cancelled}");
    assert_eq!(
        cancelled["createdAt"], a["createdAt"],
        "T-CAN-1: the full Task"
    );
    assert_eq!(status(&get_task(p, &a_id).await), "cancelled");

    let err = task_result(p, &a_id)
        .await
        .expect_err("a cancelled task has no result");
    assert_eq!(err.code, REQUEST_CANCELLED, "{err}");

    // B starts after the cancel with the same delay: once B is done, A's work would be done too.
    let b = create_task(
        p,
        "slow_echo",
        json!({ "text": "B", "delay_ms": 1500 }),
        json!({}),
    )
    .await;
    let b_result = task_result(p, &task_id(&b)).await.expect("B completes");
    assert_eq!(text(&b_result), "B");
    let a_later = get_task(p, &a_id).await;
    assert_eq!(
        status(&a_later),
        "cancelled",
        "T-LIFE-2: cancelled is final: {a_later}"
    );
    let err = task_result(p, &a_id).await.expect_err("still no result");
    assert_eq!(err.code, REQUEST_CANCELLED, "{err}");

    let err = cancel_task(p, &a_id)
        .await
        .expect_err("T-CAN-2: cancel of a cancelled task");
    assert_eq!(err.code, INVALID_PARAMS, "T-CAN-2: {err}");
    assert!(
        err.message.contains("cancelled"),
        "T-CAN-2: the message names the status: {err}"
    );

    let notes: Vec<String> = status_notes(p, &a_id)
        .iter()
        .map(|r| r.params()["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        !notes.iter().any(|s| s == "completed"),
        "T-LIFE-2: a cancelled task was reported completed: {notes:?}"
    );
    let cancelled_notes: Vec<Received> = p
        .notifications()
        .into_iter()
        .filter(|r| r.method() == "notifications/cancelled")
        .collect();
    assert!(
        cancelled_notes.is_empty(),
        "T-CAN-3: notifications/cancelled is not used for tasks: {cancelled_notes:?}"
    );
}

/// T-CAN-2: cancelling a completed or failed task is -32602 naming its status, and changes nothing.
pub(crate) async fn cancel_terminal<P: Peer>(p: &P) {
    for (tool, args, expected) in [
        (
            "slow_echo",
            json!({ "text": "done", "delay_ms": 0 }),
            "completed",
        ),
        ("fail", json!({ "message": "no" }), "failed"),
    ] {
        let task = create_task(p, tool, args, json!({})).await;
        let id = task_id(&task);
        let (done, _) = poll_until_terminal(p, &id).await;
        assert_eq!(status(&done), expected);
        let err = cancel_task(p, &id)
            .await
            .expect_err("T-CAN-2: cancel of a terminal task");
        assert_eq!(err.code, INVALID_PARAMS, "T-CAN-2: {err}");
        assert!(
            err.message.contains(expected),
            "T-CAN-2: the message names {expected}: {err}"
        );
        let after = get_task(p, &id).await;
        assert_eq!(status(&after), expected, "T-LIFE-2: {after}");
    }
}

/// T-CAN-3: `notifications/cancelled` for the request that created a task does not cancel the
/// task (only `tasks/cancel` does); the task runs to completion.
pub(crate) async fn notifications_cancelled_is_not_task_cancel<P: Peer>(p: &P) {
    let request_id = json!(format!("create-{}", p.name()));
    let created = p
        .request_with_id(
            request_id.clone(),
            "tools/call",
            task_call(
                "slow_echo",
                json!({ "text": "still runs", "delay_ms": 300 }),
                json!({}),
            ),
        )
        .await
        .expect("task-augmented slow_echo");
    let id = task_id(&check_create_result(&created));
    p.notify(
        "notifications/cancelled",
        json!({ "requestId": request_id, "reason": "testing T-CAN-3" }),
    )
    .await;
    let result = task_result(p, &id)
        .await
        .expect("T-CAN-3: the task still completes");
    assert_eq!(text(&result), "still runs");
    assert_eq!(status(&get_task(p, &id).await), "completed");
}

/// T-ERR-1, T-META-2: unknown or invalid task ids are -32602 with a message on get, result and
/// cancel; `params.taskId` is the source of truth even when related-task `_meta` says otherwise.
pub(crate) async fn unknown_task_ids<P: Peer>(p: &P) {
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        for params in [
            json!({ "taskId": "00000000-0000-4000-8000-000000000000" }),
            json!({ "taskId": "no such task" }),
            json!({ "taskId": 42 }),
            json!({}),
        ] {
            let err = p
                .request(method, params.clone())
                .await
                .expect_err("T-ERR-1: an unknown or invalid taskId is an error");
            assert_eq!(
                err.code, INVALID_PARAMS,
                "T-ERR-1: {method} {params}: {err}"
            );
            assert!(
                !err.message.trim().is_empty(),
                "T-ERR-1: say what is wrong: {err}"
            );
        }
    }
    let task = create_task(
        p,
        "slow_echo",
        json!({ "text": "meta", "delay_ms": 0 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let got = p
        .request(
            "tasks/get",
            json!({ "taskId": id, "_meta": { RELATED_TASK: { "taskId": "someone-else" } } }),
        )
        .await
        .expect("T-META-2: _meta is ignored");
    check_get_result(&got, &id);
    let err = p
        .request(
            "tasks/get",
            json!({ "taskId": "someone-else", "_meta": { RELATED_TASK: { "taskId": id } } }),
        )
        .await
        .expect_err("T-META-2: params.taskId wins");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");
    let result = p
        .request(
            "tasks/result",
            json!({ "taskId": id, "_meta": { RELATED_TASK: { "taskId": "someone-else" } } }),
        )
        .await
        .expect("T-META-2: _meta is ignored by tasks/result");
    check_task_result(&result, &id);
}

/// T-LIST-1, T-LIST-2: `tasks/list` pages of `page_size` with `nextCursor` while more remain, every
/// task this requestor can get is listed once, and a forged cursor is -32602.
pub(crate) async fn list_pagination<P: Peer>(p: &P, page_size: usize) {
    let before: HashSet<String> = listed_ids(p).await.into_iter().collect();
    let count = 2 * page_size + 3;
    let created = join_all((0..count).map(|i| {
        create_task(
            p,
            "slow_echo",
            json!({ "text": format!("list {i}"), "delay_ms": 0 }),
            json!({}),
        )
    }))
    .await;
    let created: HashSet<String> = created.iter().map(task_id).collect();
    assert_eq!(created.len(), count);

    let pages = list_pages(p).await;
    let total = before.len() + count;
    assert_eq!(
        pages.len(),
        total.div_ceil(page_size),
        "T-LIST-1: page count for {total} tasks"
    );
    for (i, page) in pages.iter().enumerate() {
        let n = page["tasks"].as_array().unwrap().len();
        let last = i + 1 == pages.len();
        if last {
            assert!(
                page.get("nextCursor").is_none(),
                "T-LIST-1: no nextCursor at the end: {page}"
            );
            assert!(n >= 1 && n <= page_size, "T-LIST-1: last page holds {n}");
        } else {
            assert_eq!(
                n, page_size,
                "T-LIST-1: full pages hold {page_size}: {page}"
            );
            assert!(
                page["nextCursor"].is_string(),
                "T-LIST-1: nextCursor while more remain: {page}"
            );
        }
    }
    let listed: Vec<String> = pages
        .iter()
        .flat_map(|page| page["tasks"].as_array().cloned().unwrap())
        .map(|t| task_id(&t))
        .collect();
    let distinct: HashSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        listed.len(),
        "T-LIST-1: a task listed twice"
    );
    for id in &created {
        assert!(
            distinct.contains(id),
            "T-LIST-2: task {id} can be got but is not listed"
        );
    }
    assert_eq!(
        distinct.len(),
        total,
        "T-LIST-2: listed tasks that were never created here"
    );

    for cursor in ["not-a-cursor", "%%%", "eyJvZmZzZXQiOjk5OTk5OX0"] {
        let err = list_page(p, Some(cursor))
            .await
            .expect_err("T-LIST-1: a forged cursor");
        assert_eq!(
            err.code, INVALID_PARAMS,
            "T-LIST-1: cursor {cursor:?}: {err}"
        );
    }
    let err = p
        .request("tasks/list", json!({ "cursor": 7 }))
        .await
        .expect_err("a numeric cursor");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");
}

/// T-NOTE-1, T-META-2: the server sends `notifications/tasks/status` with the full Task when a task
/// changes status (here: to completed), without related-task `_meta`.
pub(crate) async fn status_notifications<P: Peer>(p: &P) {
    let task = create_task(
        p,
        "slow_echo",
        json!({ "text": "notify me", "delay_ms": 100 }),
        json!({}),
    )
    .await;
    let id = task_id(&task);
    let note = wait_status_note(p, &id, "completed").await;
    assert_schema("TaskStatusNotification", &note.message);
    let params = note.params();
    check_task(params);
    assert_eq!(
        params["createdAt"], task["createdAt"],
        "T-NOTE-1: the full Task"
    );
    assert_eq!(params["ttl"], task["ttl"], "T-NOTE-1: the full Task");
    assert!(
        related_task(params).is_none(),
        "T-META-2: status notifications carry no related-task _meta: {}",
        note.message
    );
    let got = get_task(p, &id).await;
    assert_eq!(status(&got), "completed");
    let statuses: Vec<String> = status_notes(p, &id)
        .iter()
        .map(|r| r.params()["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    if p.ordered() {
        assert_valid_transitions("status notifications", &statuses);
    }
}

/// T-TTL-1, T-OBJ-1, T-OBJ-2: a requested ttl is kept (or capped), reported by create, get and
/// list; an absent one gets the default.
pub(crate) async fn ttl<P: Peer>(p: &P) {
    let short = create_task(
        p,
        "slow_echo",
        json!({ "text": "ttl", "delay_ms": 0 }),
        json!({ "ttl": 5000 }),
    )
    .await;
    let id = task_id(&short);
    assert_eq!(short["ttl"], 5000, "T-TTL-1: {short}");
    assert_eq!(get_task(p, &id).await["ttl"], 5000, "T-OBJ-2");
    let listed = list_pages(p)
        .await
        .iter()
        .flat_map(|page| page["tasks"].as_array().cloned().unwrap())
        .find(|t| t["taskId"] == id.as_str())
        .expect("the task is listed");
    assert_eq!(listed["ttl"], 5000, "T-OBJ-2");

    let default = create_task(
        p,
        "slow_echo",
        json!({ "text": "ttl", "delay_ms": 0 }),
        json!({}),
    )
    .await;
    assert_eq!(
        default["ttl"], DEFAULT_TTL_MS,
        "T-TTL-1: default ttl: {default}"
    );

    let requested: u64 = 10_000_000_000_000;
    let huge = create_task(
        p,
        "slow_echo",
        json!({ "text": "ttl", "delay_ms": 0 }),
        json!({ "ttl": requested }),
    )
    .await;
    let granted = huge["ttl"]
        .as_u64()
        .unwrap_or_else(|| panic!("T-TTL-1: a capped ttl is an integer: {huge}"));
    assert!(granted <= requested, "T-TTL-1: {huge}");
    assert_eq!(
        get_task(p, &task_id(&huge)).await["ttl"],
        granted,
        "T-OBJ-2: the actual ttl"
    );
}

/// T-PROG-1: a progressToken given with the task-augmented call gets progress notifications
/// (increasing, total = from) through the task's life. Returns (token, the tasks/result response
/// sequence number) for transport-specific ordering checks.
pub(crate) async fn progress<P: Peer>(p: &P, token: &str) -> (Value, u64) {
    let token = json!(token);
    let task = create_task_with_meta(
        p,
        "countdown",
        json!({ "from": 4, "interval_ms": 50 }),
        json!({ "progressToken": token }),
    )
    .await;
    let id = task_id(&task);
    let (result, result_seq) = p.request_seq("tasks/result", json!({ "taskId": id })).await;
    let result = result.expect("countdown result");
    check_task_result(&result, &id);
    assert!(!text(&result).is_empty(), "countdown returns text");

    let wanted = token.clone();
    p.wait_notification("progress for the countdown", move |m| {
        m["method"] == "notifications/progress" && m["params"]["progressToken"] == wanted
    })
    .await;
    // Barrier: a second countdown run to its end; anything still due for the first has come by now.
    let other = create_task_with_meta(
        p,
        "countdown",
        json!({ "from": 2, "interval_ms": 50 }),
        json!({ "progressToken": format!("{}-barrier", token.as_str().unwrap()) }),
    )
    .await;
    task_result(p, &task_id(&other))
        .await
        .expect("barrier countdown");

    let notes = progress_notes(p, &token);
    let values: Vec<f64> = notes
        .iter()
        .map(|r| {
            r.params()["progress"]
                .as_f64()
                .expect("progress is a number")
        })
        .collect();
    if p.ordered() {
        assert!(
            values.len() >= 2,
            "T-PROG-1: the token stays valid through the task: progress {values:?}"
        );
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "T-PROG-1: progress increases: {values:?}"
        );
    } else {
        assert!(!values.is_empty(), "T-PROG-1: progress arrives: {values:?}");
    }
    for note in &notes {
        assert_eq!(
            note.params()["total"].as_f64(),
            Some(4.0),
            "total = from: {}",
            note.message
        );
        assert!(
            note.params()["progress"].as_f64().unwrap() <= 4.0,
            "T-PROG-1: progress beyond total: {}",
            note.message
        );
    }
    (token, result_seq)
}

/// T-META-1: progress notifications tied to a task carry related-task `_meta` naming it.
pub(crate) async fn progress_related_task<P: Peer>(p: &P) {
    let token = json!(format!("meta-{}", p.name()));
    let task = create_task_with_meta(
        p,
        "countdown",
        json!({ "from": 2, "interval_ms": 20 }),
        json!({ "progressToken": token }),
    )
    .await;
    let id = task_id(&task);
    task_result(p, &id).await.expect("countdown result");
    let wanted = token.clone();
    p.wait_notification("progress for the countdown", move |m| {
        m["method"] == "notifications/progress" && m["params"]["progressToken"] == wanted
    })
    .await;
    for note in progress_notes(p, &token) {
        assert_related_task(
            "T-META-1: a task's progress notification",
            note.params(),
            &id,
        );
    }
}

/// T-RES-4, T-META-1, T-CAP-3, T-LIFE-1, T-NOTE-1, T-GET-1: a task asks a question. It shows
/// `input_required`; the elicitation comes over the open `tasks/result` exchange with related-task
/// `_meta` and no `task` field (we declared no tasks capability); meanwhile the connection keeps
/// answering; our answer routes back, the task completes, and `tasks/result`
/// returns the tool's answer.
pub(crate) async fn elicitation<P: Peer>(p: &P, answer: Value, expected: &str) {
    let task = create_task(p, "ask_name", json!({}), json!({})).await;
    let id = task_id(&task);
    let (waiting, mut seen) = poll_until(p, &id, "input_required", |s| s == "input_required").await;
    seen.insert(0, "working".to_owned());
    assert_valid_transitions("ask_name before the answer", &seen);
    assert_eq!(status(&waiting), "input_required");
    // The question waits in the task's queue until a tasks/result exchange is open.
    p.request("ping", json!({})).await.expect("ping");
    if let Some(early) = p.try_next_request() {
        panic!(
            "T-RES-4: the input request must wait for tasks/result, but came on {:?}: {}",
            early.via, early.message
        );
    }

    let mut reply = answer;
    reply["_meta"] = json!({ RELATED_TASK: { "taskId": id } });
    let driver = async {
        let request = p.next_request().await;
        assert_eq!(
            request.method(),
            "elicitation/create",
            "{}",
            request.message
        );
        assert_schema("ElicitRequest", &request.message);
        assert_on_tasks_result_exchange(&request);
        let params = request.params();
        assert_related_task("T-META-1: the elicitation request", params, &id);
        assert!(
            params.get("task").is_none(),
            "T-CAP-3: we declared no tasks capability, so the server must not task-augment: {params}"
        );
        assert!(
            params.get("mode").is_none() || params["mode"] == "form",
            "a form elicitation: {params}"
        );
        assert!(params["message"].as_str().is_some_and(|m| !m.is_empty()));
        let schema = &params["requestedSchema"];
        assert_eq!(schema["type"], "object", "{params}");
        assert_eq!(schema["properties"]["name"]["type"], "string", "{params}");
        assert!(
            schema["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("name"))),
            "{params}"
        );

        // The connection keeps serving while tasks/result and the question are open.
        let gets = join_all((0..5).map(|_| get_task(p, &id))).await;
        for got in gets {
            assert_eq!(
                status(&got),
                "input_required",
                "while the question is open: {got}"
            );
        }
        p.request("ping", json!({}))
            .await
            .expect("ping while tasks/result is open");
        let echo = call_tool(p, "echo", json!({ "text": "still here" }))
            .await
            .expect("echo");
        assert_eq!(text(&echo), "still here");

        p.respond(request.id(), reply).await;
    };
    let (result, ()) = bounded(
        "tasks/result with an elicitation",
        futures::future::join(task_result(p, &id), driver),
    )
    .await;
    let result = result.expect("T-RES-4: tasks/result returns once answered");
    assert_eq!(text(&result), expected);
    assert_eq!(status(&get_task(p, &id).await), "completed");

    // T-NOTE-1 / T-LIFE-1: notifications for input_required and completed, in a valid order. The
    // brief return to `working` after the answer may be coalesced: the spec lets a receiver notify
    // only some transitions, so it is not required here.
    wait_status_note(p, &id, "completed").await;
    let statuses: Vec<String> = status_notes(p, &id)
        .iter()
        .map(|r| r.params()["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    for s in ["input_required", "completed"] {
        assert!(
            statuses.iter().any(|x| x == s),
            "T-NOTE-1: a status notification for {s}: {statuses:?}"
        );
    }
    if p.ordered() {
        assert_valid_transitions("ask_name status notifications", &statuses);
        let asked = statuses.iter().position(|s| s == "input_required");
        let done = statuses.iter().position(|s| s == "completed");
        assert!(
            asked < done,
            "T-LIFE-1: input_required before completed: {statuses:?}"
        );
    }
}

/// T-CAN-1, T-LIFE-1, T-LIFE-2: a task waiting in `input_required` can be cancelled; it stays
/// cancelled and its result is the cancellation error.
pub(crate) async fn cancel_input_required<P: Peer>(p: &P) {
    let task = create_task(p, "ask_name", json!({}), json!({})).await;
    let id = task_id(&task);
    poll_until(p, &id, "input_required", |s| s == "input_required").await;
    let cancelled = cancel_task(p, &id)
        .await
        .expect("T-CAN-1: cancel input_required");
    assert_eq!(status(&cancelled), "cancelled", "{cancelled}");
    let err = task_result(p, &id)
        .await
        .expect_err("a cancelled task has no result");
    assert_eq!(err.code, REQUEST_CANCELLED, "{err}");
    assert_eq!(status(&get_task(p, &id).await), "cancelled", "T-LIFE-2");
}

/// T-ERR-1 and the JSON-RPC-level malformed inputs both transports share: unknown methods, missing
/// and wrong-typed params, unknown tools; each followed by a successful request.
pub(crate) async fn bad_params<P: Peer>(p: &P) {
    let cases: Vec<(&str, Value, i64)> = vec![
        ("no/such/method", json!({}), METHOD_NOT_FOUND),
        (
            "tasks/frobnicate",
            json!({ "taskId": "x" }),
            METHOD_NOT_FOUND,
        ),
        ("tools/call", json!({}), INVALID_PARAMS),
        (
            "tools/call",
            json!({ "arguments": { "text": "x" } }),
            INVALID_PARAMS,
        ),
        ("tools/call", json!({ "name": 7 }), INVALID_PARAMS),
        (
            "tools/call",
            json!({ "name": "no_such_tool", "arguments": {} }),
            INVALID_PARAMS,
        ),
        (
            "tools/call",
            json!({ "name": "no_such_tool", "arguments": {}, "task": {} }),
            INVALID_PARAMS,
        ),
        (
            "tools/call",
            json!({ "name": "slow_echo", "arguments": { "text": "x" }, "task": { "ttl": "soon" } }),
            INVALID_PARAMS,
        ),
        ("tasks/get", json!({ "taskId": 12 }), INVALID_PARAMS),
        ("tasks/get", Value::Null, INVALID_PARAMS),
        ("tasks/get", json!({ "taskId": null }), INVALID_PARAMS),
        ("tasks/result", json!({ "taskId": ["a"] }), INVALID_PARAMS),
        ("tasks/cancel", json!({ "taskId": {} }), INVALID_PARAMS),
        ("tasks/list", json!({ "cursor": 7 }), INVALID_PARAMS),
        ("tasks/list", json!({ "cursor": "bogus" }), INVALID_PARAMS),
    ];
    for (method, params, code) in cases {
        let err = p
            .request(method, params.clone())
            .await
            .expect_err("malformed input is an error");
        assert_eq!(err.code, code, "{method} {params}: {err}");
        assert!(
            !err.message.trim().is_empty(),
            "{method} {params}: say what is wrong"
        );
        let pong = p
            .request("ping", json!({}))
            .await
            .unwrap_or_else(|e| panic!("the server stopped serving after {method} {params}: {e}"));
        assert_schema("EmptyResult", &pong);
    }
}

/// T-RES-2, T-NEW-2, T-LIST-2: `n` tasks created at once on one connection, then `n` concurrent
/// `tasks/result` waiters; each gets its own task's text.
pub(crate) async fn many_tasks<P: Peer>(p: &P, n: usize) {
    let texts: Vec<String> = (0..n).map(|i| format!("message number {i}")).collect();
    let tasks = bounded(
        "creating tasks at once",
        join_all(texts.iter().map(|t| {
            create_task(
                p,
                "slow_echo",
                json!({ "text": t, "delay_ms": 50 }),
                json!({}),
            )
        })),
    )
    .await;
    let ids: Vec<String> = tasks.iter().map(task_id).collect();
    assert_unguessable_ids(&ids);
    let results = bounded(
        "concurrent tasks/result",
        join_all(ids.iter().map(|id| task_result(p, id))),
    )
    .await;
    for ((result, expected), id) in results.into_iter().zip(&texts).zip(&ids) {
        let result = result.unwrap_or_else(|e| panic!("tasks/result {id}: {e}"));
        assert_eq!(
            text(&result),
            expected,
            "task {id} answered another task's text"
        );
    }
    let listed: HashSet<String> = listed_ids(p).await.into_iter().collect();
    for id in &ids {
        assert!(listed.contains(id), "T-LIST-2: {id} is not listed");
    }
}

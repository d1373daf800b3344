//! MCP 2025-11-25 exactly (issue 11, item 6; REQUIREMENTS part T): tasks only for sessions that
//! negotiated 2025-11-25, task support checked before arguments, and ids we would echo held to
//! a size, against the real binary on stdio.

mod common;

use common::*;
use serde_json::{json, Value};
use testkit::stdio::StdioPeer;

/// A stdio server whose client initialized with `version`.
async fn peer_on(version: &str) -> (StdioPeer, Value) {
    let p = StdioPeer::serve(bin(), &[]);
    let init = p
        .initialize_with(json!({
            "protocolVersion": version,
            "capabilities": { "elicitation": {} },
            "clientInfo": { "name": "exact-test", "version": "0.0.0" }
        }))
        .await;
    (p, init)
}

/// T-CAP-1: a session on 2025-06-18 (or 2025-03-26) is offered no `tasks` capability, its
/// `tasks/*` requests are unknown methods, and a `task` on `tools/call` is ignored: the call
/// runs plain and answers the tool's result.
#[tokio::test]
async fn older_versions_get_no_tasks() {
    for version in ["2025-06-18", "2025-03-26"] {
        let (p, init) = peer_on(version).await;
        assert_eq!(init["protocolVersion"], version);
        assert!(
            init["capabilities"].get("tasks").is_none(),
            "{version}: initialize offered tasks: {init}"
        );
        for (method, params) in [
            ("tasks/list", json!({})),
            ("tasks/get", json!({"taskId": "x"})),
            ("tasks/result", json!({"taskId": "x"})),
            ("tasks/cancel", json!({"taskId": "x"})),
        ] {
            let e = p.request(method, params).await.unwrap_err();
            assert_eq!(e.code, METHOD_NOT_FOUND, "{version}: {method}: {e}");
        }
        let answer = p
            .request(
                "tools/call",
                task_call("slow_echo", json!({"text": "hi", "delay_ms": 0}), json!({})),
            )
            .await
            .unwrap_or_else(|e| panic!("{version}: tools/call with task: {e}"));
        assert!(
            answer.get("task").is_none(),
            "{version}: a task was made: {answer}"
        );
        assert_eq!(text(&answer), "hi", "{version}: {answer}");
        let listed = p.request("tools/list", json!({})).await.unwrap();
        let tools = listed["tools"].as_array().unwrap();
        assert!(
            tools.iter().all(|t| t.get("execution").is_none()),
            "{version}: tools/list shows execution: {listed}"
        );
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert!(
            names.contains(&"slow_echo") && !names.contains(&"must_be_task"),
            "{version}: a task-only tool is listed, or a plain one is not: {names:?}"
        );
        p.assert_clean();
    }
}

/// T-CAP-1: the same server still offers tasks to a 2025-11-25 session.
#[tokio::test]
async fn latest_version_gets_tasks() {
    let (p, init) = peer_on("2025-11-25").await;
    assert!(init["capabilities"]["tasks"].is_object(), "{init}");
    let created = p
        .request(
            "tools/call",
            task_call("slow_echo", json!({"text": "hi", "delay_ms": 0}), json!({})),
        )
        .await
        .unwrap();
    let task = check_create_result(&created);
    p.request("tasks/get", json!({"taskId": task_id(&task)}))
        .await
        .unwrap();
    p.assert_clean();
}

/// T-CAP-5: a task for a forbidden tool is -32601 even when its arguments are bad too: whether
/// the tool may run as a task is decided before its arguments are read. An unknown tool stays
/// -32602.
#[tokio::test]
async fn forbidden_task_is_method_not_found_before_arguments() {
    let (p, _) = stdio_peer(&[]).await;
    // `echo` declares no taskSupport (forbidden) and requires `text`.
    for args in [json!({}), json!({"text": 5})] {
        let e = p
            .request("tools/call", task_call("echo", args.clone(), json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.code, METHOD_NOT_FOUND, "{args}: {e}");
    }
    let e = p
        .request(
            "tools/call",
            task_call("no_such_tool", json!({}), json!({})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "{e}");
    // Bad arguments without a task are still -32602.
    let e = p
        .request("tools/call", json!({"name": "echo", "arguments": {}}))
        .await
        .unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "{e}");
    p.assert_clean();
}

/// Issue 11 item 5: a request id or `_meta.progressToken` over 1 KiB is refused with -32602
/// before any work: no tool runs, no task is made, no progress is echoed. A `taskId` (-32602)
/// or method name (-32601) that long is refused without being repeated in the error. Ids and
/// tokens up to the limit still work.
#[tokio::test]
async fn oversize_echoed_ids_are_refused() {
    let (p, _) = stdio_peer(&[]).await;
    let big = "x".repeat(1025);
    let e = p
        .request(
            "tools/call",
            json!({
                "name": "countdown",
                "arguments": {"from": 2, "interval_ms": 0},
                "_meta": {"progressToken": big}
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "{e}");
    assert!(e.message.contains("progressToken"), "{e}");
    let e = p
        .request(
            "tools/call",
            json!({
                "name": "countdown",
                "arguments": {"from": 2, "interval_ms": 0},
                "task": {},
                "_meta": {"progressToken": big}
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "{e}");
    let e = p
        .request_with_id(json!(big), "ping", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "{e}");
    assert!(e.message.contains("request id"), "{e}");
    // A task id or method name that long is refused without being repeated back.
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let e = p.request(method, json!({"taskId": big})).await.unwrap_err();
        assert_eq!(e.code, INVALID_PARAMS, "{method}: {e}");
        assert!(e.message.len() < 1024, "{method} echoed the id: {e}");
    }
    let e = p.request(&big, json!({})).await.unwrap_err();
    assert_eq!(e.code, METHOD_NOT_FOUND, "{e}");
    assert!(e.message.len() < 1024, "the method name was echoed: {e}");
    // Nothing ran: no task, no progress.
    assert!(listed_ids(&p).await.is_empty());
    assert!(progress_notes(&p, &json!(big)).is_empty());

    let fits = "y".repeat(1024);
    p.request_with_id(json!(fits), "ping", json!({}))
        .await
        .unwrap();
    let answer = p
        .request(
            "tools/call",
            json!({
                "name": "countdown",
                "arguments": {"from": 1, "interval_ms": 0},
                "_meta": {"progressToken": fits}
            }),
        )
        .await
        .unwrap();
    assert!(answer.get("isError").is_none_or(|e| e == false), "{answer}");
    p.assert_clean();
}

/// T-LIST-1, T-LIST-2: a `tasks/list` cursor is honoured only from the requestor it was issued
/// to, by the server that issued it: another session on the same server, a second server, and a
/// well-formed cursor in the unsigned format all get -32602.
#[tokio::test]
async fn list_cursors_cannot_be_forged_or_shared() {
    let (a, _) = http_peer(&["--page-size", "1"]).await;
    for i in 0..2 {
        create_task(
            &a,
            "slow_echo",
            json!({"text": format!("c{i}"), "delay_ms": 0}),
            json!({}),
        )
        .await;
    }
    let first = list_page(&a, None).await.unwrap();
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = list_page(&a, Some(&cursor)).await.unwrap();
    assert_ne!(second["tasks"][0]["taskId"], first["tasks"][0]["taskId"]);

    // Another anonymous session of the same server.
    let b = HttpPeer::wrap(&a.server, second_session(&a.server).await);
    let e = list_page(&b, Some(&cursor)).await.unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "another session's cursor: {e}");

    // Another server with the same settings.
    let (other, _) = stdio_peer(&["--page-size", "1"]).await;
    let e = list_page(&other, Some(&cursor)).await.unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS, "another server's cursor: {e}");

    // The same position without its signature, and with a signature of zeros (43 base64url
    // characters are 32 bytes).
    let (position, _) = cursor.split_once('.').expect("a signed cursor");
    for forged in [
        position.to_owned(),
        format!("{position}.{}", "A".repeat(43)),
    ] {
        let e = list_page(&a, Some(&forged)).await.unwrap_err();
        assert_eq!(e.code, INVALID_PARAMS, "{forged}: {e}");
    }
    a.assert_clean();
    b.assert_clean();
    other.assert_clean();
}

/// An initialized session on `server` that declared `capabilities`, GET stream open.
async fn session_with(
    server: &std::sync::Arc<testkit::http::HttpServer>,
    capabilities: Value,
) -> HttpPeer {
    let session = server.client();
    session
        .initialize_with(json!({
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": { "name": "exact-test", "version": "0.0.0" }
        }))
        .await;
    session.open_get_stream().await;
    HttpPeer::wrap(server, session)
}

fn name_answer(id: &str, name: &str) -> Value {
    json!({
        "action": "accept",
        "content": { "name": name },
        "_meta": { RELATED_TASK: { "taskId": id } }
    })
}

/// T-RES-4: a queued question goes only to a `tasks/result` exchange whose session can answer
/// it, and to one exchange only: with three exchanges open on one task (one from a session
/// without `capabilities.elicitation`, two from sessions with it), exactly one elicitation is
/// sent, never to the session that cannot answer, and every exchange gets the result.
#[tokio::test]
async fn a_question_goes_once_to_a_session_that_can_answer() {
    let (a, _) = http_peer(&[]).await;
    let mute = session_with(&a.server, json!({})).await;
    let c = session_with(&a.server, json!({ "elicitation": { "form": {} } })).await;
    let task = create_task(&a, "ask_name", json!({}), json!({})).await;
    let id = task_id(&task);

    let from_mute = task_result(&mute, &id);
    tokio::pin!(from_mute);
    poll_until(&a, &id, "input_required", |s| s == "input_required").await;
    let from_a = task_result(&a, &id);
    let from_c = task_result(&c, &id);
    tokio::pin!(from_a, from_c);
    let (asked, question) = bounded("the one question", async {
        tokio::select! {
            q = a.session.next_request() => (&a, q),
            q = c.session.next_request() => (&c, q),
            r = &mut from_mute => panic!("tasks/result ended before the question: {r:?}"),
            r = &mut from_a => panic!("tasks/result ended before the question: {r:?}"),
            r = &mut from_c => panic!("tasks/result ended before the question: {r:?}"),
        }
    })
    .await;
    assert_eq!(question.method(), "elicitation/create");
    asked
        .session
        .respond(question.id(), name_answer(&id, "Ada"))
        .await;
    let (r_mute, r_a, r_c) = bounded("every tasks/result", async {
        tokio::join!(from_mute, from_a, from_c)
    })
    .await;
    for r in [r_mute, r_a, r_c] {
        assert_eq!(text(&r.expect("the task's result")), "Hello, Ada!");
    }
    let asked_more: Vec<_> = [&a, &c]
        .iter()
        .filter_map(|p| p.session.try_next_request())
        .map(|r| r.message)
        .collect();
    assert!(
        asked_more.is_empty(),
        "asked more than once: {asked_more:?}"
    );
    assert!(
        mute.session.try_next_request().is_none(),
        "a session without capabilities.elicitation was asked"
    );
}

/// T-RES-4: a question whose exchange goes away unanswered (its session ended) is released to
/// the next exchange able to deliver it, which is already open and waiting. (A dropped
/// connection alone keeps the exchange, and its claim, for the resume window: the client may
/// resume the stream and answer.)
#[tokio::test]
async fn an_unanswered_question_moves_to_the_next_exchange() {
    let (a, _) = http_peer(&[]).await;
    let c = session_with(&a.server, json!({ "elicitation": {} })).await;
    let task = create_task(&a, "ask_name", json!({}), json!({})).await;
    let id = task_id(&task);
    poll_until(&a, &id, "input_required", |s| s == "input_required").await;

    let from_a = task_result(&a, &id);
    let from_c = task_result(&c, &id);
    tokio::pin!(from_a, from_c);
    // Both exchanges open; one of them gets the question.
    let (asked_a, first) = bounded("the question", async {
        tokio::select! {
            q = a.session.next_request() => (true, q),
            q = c.session.next_request() => (false, q),
            r = &mut from_a => panic!("A's tasks/result ended before the question: {r:?}"),
            r = &mut from_c => panic!("C's tasks/result ended before the question: {r:?}"),
        }
    })
    .await;
    assert_eq!(first.method(), "elicitation/create");
    let (leaver, stayer, mut from_stayer) = if asked_a {
        (&a, &c, from_c)
    } else {
        (&c, &a, from_a)
    };
    // The asked session leaves without answering; the other exchange is still waiting.
    let status = leaver.session.delete().await;
    assert!((200..300).contains(&status), "DELETE: {status}");
    let result = bounded("the question moves to the other exchange", async {
        let question = tokio::select! {
            q = stayer.session.next_request() => q,
            r = &mut from_stayer => panic!("tasks/result ended before the question: {r:?}"),
        };
        stayer
            .session
            .respond(question.id(), name_answer(&id, "Grace"))
            .await;
        from_stayer.await
    })
    .await;
    assert_eq!(text(&result.expect("the task's result")), "Hello, Grace!");
}

/// T-NEW-2: the id check tells counters from random ids: padded counters, also ones dressed as
/// UUIDs, fail it; the server's own ids pass it.
#[tokio::test]
async fn the_id_check_refuses_counters() {
    let refuses =
        |ids: Vec<String>| std::panic::catch_unwind(|| assert_unguessable_ids(&ids)).is_err();
    assert!(refuses((0..50).map(|i| format!("{i:036}")).collect()));
    assert!(refuses(
        (0..200)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect()
    ));
    assert!(refuses(
        (0..50u64)
            .map(|i| format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect()
    ));

    let (p, _) = stdio_peer(&[]).await;
    let mut ids = Vec::new();
    for i in 0..16 {
        let task = create_task(
            &p,
            "slow_echo",
            json!({"text": format!("{i}"), "delay_ms": 0}),
            json!({}),
        )
        .await;
        ids.push(task_id(&task));
    }
    assert!(estimated_id_entropy_bits(&ids) >= MIN_ID_ENTROPY_BITS);
    assert_unguessable_ids(&ids);
}

/// T-RES-1, T-RES-3: `tasks/result` answers exactly what the same call made plainly answers, as
/// the server emits both: a result (with the related-task `_meta` added, T-RES-3), an `isError`
/// result, and a JSON-RPC error (code, message and data alike).
#[tokio::test]
async fn tasks_result_answers_what_the_plain_call_did() {
    let (p, _) = stdio_peer(&[]).await;
    let mut errors = 0;
    for (tool, args) in [
        ("slow_echo", json!({"text": "same", "delay_ms": 0})),
        ("fail", json!({"message": "it broke"})),
        // The session declared no sampling: the tool's question fails, and so does the call.
        ("summarize", json!({"text": "long text"})),
    ] {
        let plain = p
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        let created = p
            .request("tools/call", task_call(tool, args.clone(), json!({})))
            .await
            .unwrap_or_else(|e| panic!("{tool} as a task: {e}"));
        let id = task_id(&check_create_result(&created));
        let via_task = task_result(&p, &id).await;
        match (plain, via_task) {
            (Ok(plain), Ok(via_task)) => {
                assert_related_task("T-RES-3: the tasks/result result", &via_task, &id);
                assert_eq!(
                    without_meta(&via_task),
                    without_meta(&plain),
                    "T-RES-1: {tool}: tasks/result differs from the plain answer"
                );
            }
            (Err(plain), Err(via_task)) => {
                errors += 1;
                assert_eq!(
                    (via_task.code, &via_task.message, &via_task.data),
                    (plain.code, &plain.message, &plain.data),
                    "T-RES-1: {tool}: tasks/result's error differs from the plain call's"
                );
            }
            (plain, via_task) => {
                panic!("T-RES-1: {tool}: plainly {plain:?}, through tasks/result {via_task:?}")
            }
        }
    }
    assert_eq!(errors, 1, "the JSON-RPC error case was exercised");
    p.assert_clean();
}

/// T-CAN-1: `tasks/cancel` of a working task answers the full Task, already `cancelled`, as the
/// server emits it (schema-checked), and the task stays cancelled.
#[tokio::test]
async fn cancel_answers_the_cancelled_task() {
    let (p, _) = stdio_peer(&[]).await;
    let created = create_task(
        &p,
        "slow_echo",
        json!({"text": "never", "delay_ms": 600_000}),
        json!({}),
    )
    .await;
    let id = task_id(&created);
    let cancelled = cancel_task(&p, &id).await.expect("tasks/cancel");
    assert_schema("CancelTaskResult", &cancelled);
    check_task(&cancelled);
    assert_eq!(cancelled["taskId"], id.as_str(), "T-CAN-1: {cancelled}");
    assert_eq!(status(&cancelled), "cancelled", "T-CAN-1: {cancelled}");
    for key in ["createdAt", "lastUpdatedAt", "ttl"] {
        assert!(
            cancelled.get(key).is_some(),
            "T-CAN-1: the full Task, with {key}: {cancelled}"
        );
    }
    assert_eq!(status(&get_task(&p, &id).await), "cancelled");
    p.assert_clean();
}

/// T-META-1: what the server sends tied to a task carries the related-task `_meta`: progress
/// of a task, and the elicitation its tool needs, as the server emits them.
#[tokio::test]
async fn messages_tied_to_a_task_name_it() {
    let (p, _) = stdio_peer(&[]).await;
    let created = p
        .request(
            "tools/call",
            json!({
                "name": "countdown",
                "arguments": {"from": 2, "interval_ms": 0},
                "task": {},
                "_meta": {"progressToken": "meta-1"}
            }),
        )
        .await
        .unwrap();
    let id = task_id(&check_create_result(&created));
    task_result(&p, &id).await.expect("countdown's result");
    let progress = progress_notes(&p, &json!("meta-1"));
    assert!(!progress.is_empty(), "T-PROG-1: the task reported progress");
    for note in &progress {
        assert_related_task("T-META-1: a task's progress", note.params(), &id);
    }

    let asking = create_task(&p, "ask_name", json!({}), json!({})).await;
    let asking = task_id(&asking);
    let answered = async {
        let question = p.next_request().await;
        assert_eq!(question.method(), "elicitation/create");
        assert_related_task("T-META-1: the elicitation", question.params(), &asking);
        p.respond(question.id(), name_answer(&asking, "Ada")).await;
    };
    let (result, ()) = bounded(
        "the elicitation",
        futures::future::join(task_result(&p, &asking), answered),
    )
    .await;
    assert_eq!(text(&result.unwrap()), "Hello, Ada!");
    p.assert_clean();
}

/// T-CAP-3: the server augments its own requests only toward a session that negotiated
/// 2025-11-25. A 2025-06-18 client that (meaninglessly) declares
/// `tasks.requests.elicitation.create` is asked plainly, without `task`.
#[tokio::test]
async fn no_client_tasks_for_older_versions() {
    let p = StdioPeer::serve(bin(), &[]);
    p.initialize_with(json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {
            "elicitation": { "form": {} },
            "tasks": { "requests": { "elicitation": { "create": {} } } }
        },
        "clientInfo": { "name": "exact-test", "version": "0.0.0" }
    }))
    .await;
    let answered = async {
        let question = p.next_request().await;
        assert_eq!(question.method(), "elicitation/create");
        assert!(
            question.params().get("task").is_none(),
            "T-CAP-3: a 2025-06-18 client was asked to run a task: {}",
            question.message
        );
        p.respond(
            question.id(),
            json!({"action": "accept", "content": {"approve": true}}),
        )
        .await;
    };
    let (result, ()) = bounded(
        "the plain approval",
        futures::future::join(
            p.request(
                "tools/call",
                json!({"name": "approve", "arguments": {"action": "ship"}}),
            ),
            answered,
        ),
    )
    .await;
    assert_eq!(text(&result.unwrap()), "approved: ship");
    p.assert_clean();
}

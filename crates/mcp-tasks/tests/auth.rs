//! Bearer-token auth of `mcp-tasks serve --http --auth-tokens FILE` and the client commands'
//! `--token` (T-SEC-1): the real binary, over loopback, every request bounded in time.
//!
//! A token's subject owns the session it opens and the tasks created in it. Every session of
//! that subject, with any of its tokens, reaches those tasks (tasks/get, tasks/result,
//! tasks/list, tasks/cancel); another subject's session finds nothing, exactly as if the task
//! did not exist, and cannot use the subject's sessions either.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use testkit::auth::{run_with_env, BearerSession, TokensFile};
use testkit::http::HttpServer;
use testkit::process::{Finished, ServeOptions};
use testkit::stdio::RpcError;

const ALICE: &str = "alice-desktop-5d1f0c7a9e3b";
const ALICE_2: &str = "alice-laptop-8b2e4a6c0d9f";
const BOB: &str = "bob-token-3c7e9a1b5d2f4e6a";
/// How long one client command may take.
const LIMIT: Duration = Duration::from_secs(30);

fn tokens() -> TokensFile {
    TokensFile::new(&[("alice", ALICE), ("alice", ALICE_2), ("bob", BOB)])
}

/// `serve --store memory --http 127.0.0.1:0 --auth-tokens FILE`.
async fn server(tokens: &TokensFile) -> HttpServer {
    HttpServer::spawn_with(bin(), &ServeOptions::default().args(tokens.serve_args())).await
}

/// Creates a `slow_echo` task in `session` and returns its id.
async fn create_task(session: &BearerSession, text: &str, delay_ms: u64) -> String {
    let arguments = json!({"text": text, "delay_ms": delay_ms});
    let created = session
        .request("tools/call", task_call("slow_echo", arguments, json!({})))
        .await
        .unwrap_or_else(|e| panic!("creating a task failed: {e}"));
    task_id(&check_create_result(&created))
}

fn listed_ids(page: &Value) -> Vec<String> {
    check_list_page(page);
    page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(task_id)
        .collect()
}

/// An error with the task id written as `ID`, to compare the shape of two errors.
fn shape(error: &RpcError, id: &str) -> (i64, String) {
    (error.code, error.message.replace(id, "ID"))
}

/// Without a token, or with an unknown one, every method is answered 401 with a
/// `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) and a JSON-RPC error body; a valid
/// token opens a session. The server says on start-up that auth is on, never a token.
#[tokio::test]
async fn requests_need_a_known_bearer_token() {
    let tokens = tokens();
    let server = server(&tokens).await;
    let stderr = server.stderr();
    assert!(
        stderr.contains("bearer auth is on: 2 subjects with 3 tokens"),
        "{stderr}"
    );
    for token in [ALICE, ALICE_2, BOB] {
        assert!(!stderr.contains(token), "a token was logged: {stderr}");
    }

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": testkit::stdio::default_initialize_params()});
    let unknown = "not-a-token-of-this-server";
    for (method, body) in [
        (Method::POST, Some(&init)),
        (Method::GET, None),
        (Method::DELETE, None),
    ] {
        let missing = BearerSession::new(server.url(), None)
            .raw(method.clone(), body)
            .await;
        assert_eq!(missing.status, 401, "{method} without a token: {missing:?}");
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
        let error = missing.json().unwrap_or_else(|| panic!("{missing:?}"));
        assert_eq!(error["error"]["code"], INVALID_REQUEST, "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Authorization: Bearer")),
            "the message says what to send: {error}"
        );

        let wrong = BearerSession::new(server.url(), Some(unknown))
            .raw(method.clone(), body)
            .await;
        assert_eq!(wrong.status, 401, "{method} with an unknown token");
        assert_eq!(
            wrong.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }

    let session = BearerSession::start(server.url(), ALICE).await;
    let tools = session.request("tools/list", json!({})).await.unwrap();
    assert!(tools["tools"].as_array().is_some_and(|t| !t.is_empty()));
}

/// T-SEC-1, positive side: two sessions of alice, opened with her two tokens, share her tasks:
/// the second session gets, lists, reads the result of and cancels tasks the first created,
/// and the first sees the cancellation.
#[tokio::test]
async fn t_sec_1_sessions_of_one_subject_share_its_tasks() {
    let tokens = tokens();
    let server = server(&tokens).await;
    let first = BearerSession::start(server.url(), ALICE).await;
    let second = BearerSession::start(server.url(), ALICE_2).await;
    let same_token = BearerSession::start(server.url(), ALICE).await;
    assert_ne!(first.session_id(), second.session_id());

    let quick = create_task(&first, "shared", 100).await;
    for other in [&second, &same_token] {
        let task = other
            .request("tasks/get", json!({"taskId": quick}))
            .await
            .unwrap_or_else(|e| panic!("T-SEC-1: another session of alice cannot get it: {e}"));
        check_task(&task);
        assert_eq!(task_id(&task), quick);
    }
    let result = second
        .request("tasks/result", json!({"taskId": quick}))
        .await
        .unwrap();
    check_task_result(&result, &quick);
    assert_eq!(text(&result), "shared");
    let page = second.request("tasks/list", json!({})).await.unwrap();
    assert!(listed_ids(&page).contains(&quick), "{page:#}");

    let long = create_task(&first, "never", 600_000).await;
    let cancelled = second
        .request("tasks/cancel", json!({"taskId": long}))
        .await
        .unwrap();
    assert_eq!(status(&cancelled), "cancelled", "{cancelled:#}");
    let seen = first
        .request("tasks/get", json!({"taskId": long}))
        .await
        .unwrap();
    assert_eq!(status(&seen), "cancelled", "{seen:#}");
}

/// T-SEC-1, negative side: bob's session gets, reads and cancels alice's task exactly as an
/// unknown id (same code, same message but for the id), does not list it, and his cancel
/// leaves it running.
#[tokio::test]
async fn t_sec_1_another_subject_finds_nothing() {
    let tokens = tokens();
    let server = server(&tokens).await;
    let alice = BearerSession::start(server.url(), ALICE).await;
    let bob = BearerSession::start(server.url(), BOB).await;
    let id = create_task(&alice, "secret", 600_000).await;
    let unknown = "no-such-task-0000";

    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let foreign = bob
            .request(method, json!({"taskId": id}))
            .await
            .expect_err("T-SEC-1: another subject's task must be refused");
        let missing = bob
            .request(method, json!({"taskId": unknown}))
            .await
            .expect_err("an unknown id is refused");
        assert_eq!(foreign.code, INVALID_PARAMS, "{method}: {foreign}");
        assert_eq!(
            shape(&foreign, &id),
            shape(&missing, unknown),
            "T-SEC-1: {method} of another subject's task must read like an unknown id"
        );
    }
    let page = bob.request("tasks/list", json!({})).await.unwrap();
    assert!(!listed_ids(&page).contains(&id), "{page:#}");
    let own = bob.request("tasks/get", json!({"taskId": id})).await;
    assert!(own.is_err());

    let still = alice
        .request("tasks/get", json!({"taskId": id}))
        .await
        .unwrap();
    assert_eq!(status(&still), "working", "bob's cancel must not touch it");
    alice
        .request("tasks/cancel", json!({"taskId": id}))
        .await
        .unwrap();
}

/// T-SEC-1: a session answers only its subject. Alice's session id with bob's valid token is
/// answered 404, with the very body of an unknown session, on every method; alice's other
/// token works on it.
#[tokio::test]
async fn a_session_answers_only_its_subject() {
    let tokens = tokens();
    let server = server(&tokens).await;
    let alice = BearerSession::start(server.url(), ALICE).await;
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});

    // What bob gets for a session id the server does not know: one he ended himself.
    let ended = BearerSession::start(server.url(), BOB).await;
    assert_eq!(ended.raw(Method::DELETE, None).await.status, 204);
    let unknown = ended.raw(Method::POST, Some(&list)).await;
    assert_eq!(unknown.status, 404);

    let as_bob = alice.as_bearer(Some(BOB));
    for (method, body) in [
        (Method::POST, Some(&list)),
        (Method::GET, None),
        (Method::DELETE, None),
    ] {
        let reply = as_bob.raw(method.clone(), body).await;
        assert_eq!(
            reply.status, 404,
            "{method} with bob's token on alice's session"
        );
        if method != Method::GET {
            assert_eq!(reply.body, unknown.body, "{method}: no existence leak");
        }
    }
    let reply = alice
        .as_bearer(Some(ALICE_2))
        .raw(Method::POST, Some(&list))
        .await;
    assert_eq!(
        reply.status, 200,
        "alice's other token, and bob's DELETE did not end it"
    );
}

/// What a finished command did, for assertion messages.
fn show(f: &Finished) -> String {
    format!(
        "exit {:?}\n--- stdout:\n{}--- stderr:\n{}",
        f.status.code(),
        f.stdout,
        f.stderr
    )
}

#[track_caller]
fn assert_exit(what: &str, f: &Finished, code: i32) {
    assert_eq!(f.status.code(), Some(code), "{what}\n{}", show(f));
}

/// `mcp-tasks ARGS…`; a client command speaks MCP 2025-11-25 (`--protocol`, added before any
/// `--`), the era these tests prove: `mcp-tasks serve` speaks 2026-07-28 too.
async fn mcp(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut all = args.to_vec();
    if matches!(args.first(), Some(&("call" | "tools" | "tasks"))) {
        let at = all.iter().position(|a| *a == "--").unwrap_or(all.len());
        all.splice(at..at, ["--protocol", "2025-11-25"]);
    }
    run_with_env(bin(), &all, env, LIMIT).await
}

/// T-SEC-1 from the terminal: a task created by `call --task --token` is found by a later
/// command of the same subject (another token, or MCP_TASKS_TOKEN); without a token, or with
/// another subject's, the command exits 3 saying why.
#[tokio::test]
async fn t_sec_1_commands_with_a_token_reach_their_subjects_tasks() {
    let tokens = tokens();
    let server = server(&tokens).await;
    let url = server.url();
    let call = [
        "call",
        "slow_echo",
        r#"{"text":"kept","delay_ms":100}"#,
        "--task",
        "--json",
        "--url",
        url,
    ];
    let created = mcp(&[&call[..], &["--token", ALICE]].concat(), &[]).await;
    assert_exit("call --task --token", &created, 0);
    let result: Value = serde_json::from_str(&created.stdout).unwrap();
    let id = related_task(&result).unwrap()["taskId"]
        .as_str()
        .unwrap()
        .to_owned();

    let get = ["tasks", "get", id.as_str(), "--json", "--url", url];
    let flag = mcp(&[&get[..], &["--token", ALICE_2]].concat(), &[]).await;
    assert_exit("tasks get --token (alice's other token)", &flag, 0);
    let task: Value = serde_json::from_str(&flag.stdout).unwrap();
    assert_eq!(task_id(&task), id);
    let env = mcp(&get, &[("MCP_TASKS_TOKEN", ALICE)]).await;
    assert_exit("tasks get with MCP_TASKS_TOKEN", &env, 0);
    let list = mcp(
        &["tasks", "list", "--json", "--url", url],
        &[("MCP_TASKS_TOKEN", ALICE_2)],
    )
    .await;
    assert_exit("tasks list", &list, 0);
    assert!(list.stdout.contains(&id), "{}", show(&list));

    let none = mcp(&get, &[]).await;
    assert_exit("tasks get without a token", &none, 3);
    assert!(
        none.stderr.contains("refused the credentials") && none.stderr.contains("no bearer token"),
        "{}",
        show(&none)
    );
    let wrong = mcp(
        &[&get[..], &["--token", "not-a-token-of-this-server"]].concat(),
        &[],
    )
    .await;
    assert_exit("tasks get with an unknown token", &wrong, 3);
    assert!(
        wrong.stderr.contains("refused the credentials"),
        "{}",
        show(&wrong)
    );
    let bob = mcp(&[&get[..], &["--token", BOB]].concat(), &[]).await;
    assert_exit("tasks get with bob's token", &bob, 3);
    assert!(bob.stderr.contains("-32602"), "{}", show(&bob));
}

/// `--token` means nothing to a server spawned over stdio: refused with exit 2, from the flag
/// or the environment.
#[tokio::test]
async fn a_token_with_a_spawned_server_is_a_usage_error() {
    let server = bin().display().to_string();
    let spawned = ["--", server.as_str(), "serve", "--store", "memory"];
    let flag = mcp(&[&["tools", "--token", ALICE][..], &spawned].concat(), &[]).await;
    assert_exit("tools --token -- CMD", &flag, 2);
    assert!(flag.stderr.contains("applies to --url"), "{}", show(&flag));
    let env = mcp(
        &[&["tools"][..], &spawned].concat(),
        &[("MCP_TASKS_TOKEN", ALICE)],
    )
    .await;
    assert_exit("tools -- CMD with MCP_TASKS_TOKEN", &env, 2);
}

/// A tokens file that cannot be used stops `serve` with exit 2 and a message naming the file
/// and the line; so does --auth-tokens without --http.
#[tokio::test]
async fn bad_tokens_files_exit_2_naming_the_line() {
    let serve = |file: &str| {
        [
            "serve",
            "--store",
            "memory",
            "--http",
            "127.0.0.1:0",
            "--auth-tokens",
            file,
        ]
        .map(str::to_owned)
    };
    for (text, needle) in [
        (format!("alice {ALICE}\nbob\n"), "line 2"),
        (format!("# tokens\nalice {ALICE}\nbob short\n"), "line 3"),
        (
            format!("alice {ALICE}\nbob {ALICE}\n"),
            "line 2: the token of line 1 again",
        ),
        ("# nothing yet\n\n".to_owned(), "no tokens"),
    ] {
        let file = TokensFile::with_text(&text);
        let path = file.path().display().to_string();
        let args = serve(&path);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let refused = mcp(&args, &[]).await;
        assert_exit(&format!("serve with {text:?}"), &refused, 2);
        assert!(
            refused.stderr.contains(&path) && refused.stderr.contains(needle),
            "{needle:?}: {}",
            show(&refused)
        );
        assert!(
            !refused.stderr.contains(ALICE),
            "a token was printed: {}",
            show(&refused)
        );
    }

    let missing = "/nonexistent/mcp-tasks-tokens";
    let refused = mcp(
        &["serve", "--store", "memory", "--http", "127.0.0.1:0"],
        &[("MCP_TASKS_AUTH_TOKENS", missing)],
    )
    .await;
    assert_exit(
        "serve with MCP_TASKS_AUTH_TOKENS naming no file",
        &refused,
        2,
    );
    assert!(refused.stderr.contains(missing), "{}", show(&refused));

    let good = tokens();
    let path = good.path().display().to_string();
    let stdio = mcp(&["serve", "--store", "memory", "--auth-tokens", &path], &[]).await;
    assert_exit("serve --auth-tokens on stdio", &stdio, 2);
    assert!(
        stdio.stderr.contains("--auth-tokens applies to --http"),
        "{}",
        show(&stdio)
    );
}

/// `--help` documents both options, and never shows the token of the environment.
#[tokio::test]
async fn help_documents_the_options_without_showing_a_token() {
    let serve = mcp(&["serve", "--help"], &[]).await;
    assert_exit("serve --help", &serve, 0);
    assert!(
        serve.stdout.contains("--auth-tokens <FILE>")
            && serve.stdout.contains("MCP_TASKS_AUTH_TOKENS"),
        "{}",
        show(&serve)
    );
    let get = mcp(&["tasks", "get", "--help"], &[("MCP_TASKS_TOKEN", ALICE)]).await;
    assert_exit("tasks get --help", &get, 0);
    assert!(
        get.stdout.contains("--token <TOKEN>") && get.stdout.contains("MCP_TASKS_TOKEN"),
        "{}",
        show(&get)
    );
    assert!(
        !get.stdout.contains(ALICE),
        "the token was shown: {}",
        show(&get)
    );
}

/// Without --auth-tokens nothing changes: requests need no token, and one sent is ignored.
#[tokio::test]
async fn without_auth_tokens_sessions_stay_anonymous() {
    let server = HttpServer::spawn(bin(), &[]).await;
    assert!(
        !server.stderr().contains("bearer auth"),
        "{}",
        server.stderr()
    );
    let anonymous = BearerSession::new(server.url(), None);
    anonymous.initialize().await;
    let with_token = BearerSession::start(server.url(), ALICE).await;
    let id = create_task(&anonymous, "open", 50).await;
    let page = with_token.request("tasks/list", json!({})).await.unwrap();
    assert!(
        !listed_ids(&page).contains(&id),
        "T-SEC-2: anonymous sessions list only their own tasks: {page:#}"
    );
}

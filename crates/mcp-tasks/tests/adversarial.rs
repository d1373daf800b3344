//! The adversarial suite: what an attacker on the network tries against a server with bearer
//! auth and the default SQLite store, each attack bounded in time and count, over loopback.
//!
//! Every test follows one pattern. A victim, `alice`, stores tasks (finished and still
//! working) and records what they look like. Then `mallory`, with a valid token of its own, or
//! nobody, with none, attacks. Afterwards [`Target::check_unharmed`] proves that the server is
//! still up, still serves a well-behaved client end to end, and still holds every one of
//! alice's tasks exactly as it was: status, result and history untouched.
//!
//! T-SEC-1 (another subject's tasks answer like unknown ones, in both eras), T-SEC-2
//! (unguessable ids), T-LIST-1 (cursors are the server's own), and the spec's security
//! considerations: validate every input, refuse what cannot be parsed with the right code, bound
//! what one client may hold.

mod common;
mod v2026;

use std::time::Duration;

use common::{bin, check_create_result, task_call, task_id, INVALID_PARAMS, PARSE_ERROR};
use reqwest::Method;
use serde_json::{json, Value};
use testkit::auth::{BearerSession, TokensFile};
use testkit::http::HttpServer;
use testkit::process::ServeOptions;
use testkit::stdio::RpcError;
use testkit::store::TempStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "alice-token-0c5e7a9b1d3f";
const MALLORY: &str = "mallory-token-8e2a4c6b0d1f";
/// The largest body the target accepts (small, so the oversize attacks are cheap).
const MAX_BODY: usize = 64 * 1024;
/// Bounds every wait on the server.
const HANG: Duration = Duration::from_secs(30);

/// A server on a SQLite file with two subjects, and what alice stored before the attack.
struct Target {
    server: HttpServer,
    _store: TempStore,
    _tokens: TokensFile,
    /// Each of alice's tasks as `tasks/get` showed it, and its result once finished.
    before: Vec<Snapshot>,
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    id: String,
    task: Value,
    result: Option<Value>,
}

impl Target {
    async fn start(extra: &[&str]) -> Self {
        let store = TempStore::new();
        let tokens = TokensFile::new(&[("alice", ALICE), ("mallory", MALLORY)]);
        let max_body = MAX_BODY.to_string();
        let options = ServeOptions::default()
            .store(store.store_arg())
            .args(tokens.serve_args())
            .args(["--max-body-bytes", max_body.as_str(), "--page-size", "2"])
            .args(extra.iter().copied());
        let server = HttpServer::spawn_with(bin(), &options).await;
        let mut target = Self {
            server,
            _store: store,
            _tokens: tokens,
            before: Vec::new(),
        };
        target.before = target.store_alices_tasks().await;
        target
    }

    fn url(&self) -> &str {
        self.server.url()
    }

    /// Alice stores three finished tasks (two results, one failure) and one that keeps working
    /// for the length of the test, and the snapshot of each.
    async fn store_alices_tasks(&self) -> Vec<Snapshot> {
        let alice = BearerSession::start(self.url(), ALICE).await;
        let calls = [
            ("slow_echo", json!({"text": "first", "delay_ms": 0})),
            ("slow_echo", json!({"text": "second", "delay_ms": 0})),
            ("fail", json!({"message": "expected failure"})),
            ("slow_echo", json!({"text": "never", "delay_ms": 600_000})),
        ];
        let mut ids = Vec::new();
        for (tool, arguments) in calls {
            let created = alice
                .request("tools/call", task_call(tool, arguments, json!({})))
                .await
                .unwrap_or_else(|e| panic!("alice's {tool} task: {e}"));
            ids.push(task_id(&check_create_result(&created)));
        }
        for id in &ids[..3] {
            alice
                .request("tasks/result", json!({"taskId": id}))
                .await
                .unwrap_or_else(|e| panic!("alice's result of {id}: {e}"));
        }
        let mut snapshots = Vec::new();
        for id in ids {
            snapshots.push(snapshot(&alice, &id).await);
        }
        snapshots
    }

    /// The server is alive, serves a new well-behaved session end to end in both eras, and
    /// every task alice stored is exactly as it was.
    async fn check_unharmed(&self, after: &str) {
        assert!(
            self.server.try_exit_status().await.is_none(),
            "the server died after {after}:\n{}",
            self.server.stderr()
        );
        let alice = tokio::time::timeout(HANG, BearerSession::start(self.url(), ALICE))
            .await
            .unwrap_or_else(|_| panic!("no new session for alice after {after}"));
        let created = alice
            .request(
                "tools/call",
                task_call(
                    "slow_echo",
                    json!({"text": "still here", "delay_ms": 0}),
                    json!({}),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("alice cannot create a task after {after}: {e}"));
        let id = task_id(&check_create_result(&created));
        let result = alice
            .request("tasks/result", json!({"taskId": id}))
            .await
            .unwrap_or_else(|e| panic!("alice gets no result after {after}: {e}"));
        assert_eq!(result["content"][0]["text"], "still here", "after {after}");

        let modern = v2026::Http::new(self.url()).as_bearer(ALICE);
        let reply = modern
            .request(
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "modern"}}),
                &v2026::with_tasks(),
            )
            .await;
        assert_eq!(
            reply.result()["content"][0]["text"],
            "modern",
            "a 2026-07-28 call after {after}"
        );

        for before in &self.before {
            let now = snapshot(&alice, &before.id).await;
            assert_eq!(&now, before, "alice's task changed after {after}");
        }
    }

    /// Alice's task ids.
    fn alice_ids(&self) -> Vec<String> {
        self.before.iter().map(|s| s.id.clone()).collect()
    }

    fn mallory(&self) -> BearerSession {
        BearerSession::new(self.url(), Some(MALLORY))
    }

    fn addr(&self) -> String {
        let rest = self.url().strip_prefix("http://").expect("an http URL");
        rest.split('/').next().expect("host:port").to_owned()
    }
}

/// A task as alice sees it: `tasks/get` (without the fields that move by themselves) and, when
/// finished, `tasks/result`.
async fn snapshot(alice: &BearerSession, id: &str) -> Snapshot {
    let mut task = alice
        .request("tasks/get", json!({"taskId": id}))
        .await
        .unwrap_or_else(|e| panic!("alice cannot read her task {id}: {e}"));
    if let Some(object) = task.as_object_mut() {
        object.remove("_meta");
    }
    let finished = matches!(
        task["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    );
    let result = if finished {
        Some(
            alice
                .request("tasks/result", json!({"taskId": id}))
                .await
                .unwrap_or_else(|e| panic!("alice cannot read her result {id}: {e}")),
        )
    } else {
        None
    };
    Snapshot {
        id: id.to_owned(),
        task,
        result,
    }
}

/// An error with `id` written as `ID`, to compare two errors' shapes.
fn shape(error: &RpcError, id: &str) -> (i64, String, Option<String>) {
    (
        error.code,
        error.message.replace(id, "ID"),
        error.data.as_ref().map(|d| d.to_string().replace(id, "ID")),
    )
}

/// T-SEC-1, T-SEC-2: mallory, holding a valid token of its own, tries every 2025-11-25 task
/// method on alice's ids and on ids it made up; each answer is exactly the answer for an id
/// that was never issued, and nothing of alice's changes (her working task is not cancelled).
#[tokio::test]
async fn another_subjects_ids_answer_like_unknown_ones() {
    let target = Target::start(&[]).await;
    let mallory = target.mallory();
    mallory.initialize().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let baseline = mallory
            .request(method, json!({"taskId": unknown}))
            .await
            .expect_err("an unknown id is an error");
        assert_eq!(baseline.code, INVALID_PARAMS, "{method}: {baseline}");
        for id in target.alice_ids() {
            let error = mallory
                .request(method, json!({"taskId": id}))
                .await
                .expect_err("alice's task is not mallory's");
            assert_eq!(
                shape(&error, &id),
                shape(&baseline, unknown),
                "{method} on alice's task tells mallory something"
            );
        }
    }
    let listed = mallory
        .request("tasks/list", json!({}))
        .await
        .expect("mallory may list its own tasks");
    assert_eq!(
        listed["tasks"],
        json!([]),
        "mallory sees only its own tasks"
    );
    target
        .check_unharmed("cross-subject 2025-11-25 requests")
        .await;
}

/// T-SEC-1 in the stateless era: the extension's tasks/get, tasks/update and tasks/cancel on
/// alice's ids with mallory's token answer like an unknown id.
#[tokio::test]
async fn another_subjects_ids_answer_like_unknown_ones_in_2026() {
    let target = Target::start(&[]).await;
    let mallory = v2026::Http::new(target.url()).as_bearer(MALLORY);
    let caps = v2026::with_tasks();
    let unknown = "00000000-0000-4000-8000-000000000000";
    let params = |method: &str, id: &str| match method {
        "tasks/update" => json!({"taskId": id, "inputResponses": {"k": {"action": "cancel"}}}),
        _ => json!({"taskId": id}),
    };
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let baseline = mallory
            .request(method, params(method, unknown), &caps)
            .await;
        let baseline_error = baseline.error().to_string().replace(unknown, "ID");
        for id in target.alice_ids() {
            let reply = mallory.request(method, params(method, &id), &caps).await;
            assert_eq!(
                (reply.status, reply.error().to_string().replace(&id, "ID")),
                (baseline.status, baseline_error.clone()),
                "{method} on alice's task tells mallory something"
            );
        }
    }
    target
        .check_unharmed("cross-subject 2026-07-28 requests")
        .await;
}

/// Forged task ids: empty, huge, path-like, SQL-like, control characters, NUL, non-strings.
/// Each is refused as invalid params (never an internal error, never a 5xx), in both eras.
#[tokio::test]
async fn forged_task_ids_are_invalid_params() {
    let target = Target::start(&[]).await;
    let mallory = target.mallory();
    mallory.initialize().await;
    let long = "a".repeat(32 * 1024);
    let forged: Vec<Value> = vec![
        json!(""),
        json!(long),
        json!("../../../../etc/passwd"),
        json!("' OR '1'='1' --"),
        json!("%00"),
        json!("\u{0}"),
        json!(format!("{}\u{0}", target.alice_ids()[0])),
        json!("\u{202e}\u{1f600}\r\n"),
        json!(42),
        json!(null),
        json!({"$ne": ""}),
        json!([target.alice_ids()[0]]),
    ];
    for id in &forged {
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let reply = mallory
                .raw(
                    Method::POST,
                    Some(&json!({"jsonrpc": "2.0", "id": 7, "method": method,
                                 "params": {"taskId": id}})),
                )
                .await;
            assert!(
                reply.status < 500,
                "{method} {id}: HTTP {}: {}",
                reply.status,
                reply.body
            );
            let message = reply
                .messages()
                .await
                .into_iter()
                .find(|m| m.get("id") == Some(&json!(7)))
                .unwrap_or_else(|| panic!("{method} {id}: no response in {:?}", reply.body));
            assert_eq!(
                message["error"]["code"],
                json!(INVALID_PARAMS),
                "{method} with taskId {id}: {message}"
            );
        }
    }
    let modern = v2026::Http::new(target.url()).as_bearer(MALLORY);
    for id in [json!("\u{0}"), json!(long), json!("' OR '1'='1' --")] {
        let reply = modern
            .request("tasks/get", json!({"taskId": id}), &v2026::with_tasks())
            .await;
        assert!(reply.status < 500, "2026 tasks/get {id}: {reply:?}");
        assert_eq!(reply.code(), INVALID_PARAMS, "2026 tasks/get {id}");
    }
    target.check_unharmed("forged task ids").await;
}

/// T-LIST-1: cursors are the server's own and the requestor's own. Made-up, tampered,
/// truncated and oversized cursors, and alice's real cursor presented by mallory, are refused
/// with -32602; none of them lists one of alice's tasks.
#[tokio::test]
async fn forged_cursors_are_refused() {
    let target = Target::start(&[]).await;
    let alice = BearerSession::start(target.url(), ALICE).await;
    let first = alice
        .request("tasks/list", json!({}))
        .await
        .expect("alice lists her tasks");
    let cursor = first["nextCursor"]
        .as_str()
        .expect("alice has more than one page (page size 2)")
        .to_owned();

    let mut tampered = cursor.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("cursors are ASCII");
    let forged = [
        cursor.clone(),
        tampered,
        cursor[..cursor.len() / 2].to_owned(),
        String::new(),
        "AAAA".to_owned(),
        "not base64 at all!".to_owned(),
        "A".repeat(48 * 1024),
        "\u{0}".to_owned(),
    ];
    let mallory = target.mallory();
    mallory.initialize().await;
    for forged in &forged {
        let error = mallory
            .request("tasks/list", json!({"cursor": forged}))
            .await
            .expect_err("a cursor mallory was not given is refused");
        assert_eq!(error.code, INVALID_PARAMS, "cursor {forged:?}: {error}");
        for id in target.alice_ids() {
            assert!(
                !error.to_string().contains(&id),
                "the refusal names alice's task: {error}"
            );
        }
    }
    target.check_unharmed("forged cursors").await;
}

/// Bodies built to hurt a parser: nested 30,000 deep (a recursive decoder would overflow the
/// stack and kill the process), nested just inside the body limit in params, a huge number,
/// invalid UTF-8, a body one byte over the limit, and one of 16 MiB. Each gets a 4xx with a
/// JSON-RPC error; the deep ones are parse errors.
#[tokio::test]
async fn oversize_and_deeply_nested_json() {
    let target = Target::start(&[]).await;
    let mallory = target.mallory();
    mallory.initialize().await;
    let session = mallory.session_id().expect("a session");

    let deep_array = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":{}"x"{}}}}}}}"#,
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let huge_number = format!(
        r#"{{"jsonrpc":"2.0","id":1{},"method":"ping"}}"#,
        "0".repeat(10_000)
    );
    let mut bad_utf8 = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bad_utf8.extend_from_slice(br#""}}"#);
    let just_over = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(MAX_BODY)
    );
    let far_over = vec![b' '; 16 * 1024 * 1024];

    let bodies: Vec<(&str, Vec<u8>, Option<i64>)> = vec![
        (
            "30,000 nested arrays",
            deep_array.into_bytes(),
            Some(PARSE_ERROR),
        ),
        (
            "5,000 nested objects in params",
            deep_params.into_bytes(),
            None,
        ),
        ("a 10,000-digit id", huge_number.into_bytes(), None),
        ("invalid UTF-8", bad_utf8, Some(PARSE_ERROR)),
        ("one byte over the body limit", just_over.into_bytes(), None),
        ("16 MiB of spaces", far_over, None),
    ];
    let http = reqwest::Client::new();
    for (what, body, code) in bodies {
        let response = tokio::time::timeout(
            HANG,
            http.post(target.url())
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("authorization", format!("Bearer {MALLORY}"))
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", "2025-11-25")
                .body(body)
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in time"));
        let Ok(response) = response else {
            // The server may close the connection on a body it will not read to the end.
            continue;
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert!((400..500).contains(&status), "{what}: HTTP {status} {text}");
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{what}: HTTP {status} with a body that is not JSON ({e}): {text:?}")
        });
        assert!(
            answer["error"]["code"].is_i64(),
            "{what}: not a JSON-RPC error: {answer}"
        );
        if let Some(code) = code {
            assert_eq!(answer["error"]["code"], json!(code), "{what}: {answer}");
        }
    }
    target.check_unharmed("oversize and nested bodies").await;
}

/// Wrong and missing headers: each is a 4xx with a JSON-RPC error body, never a 5xx and never
/// a served request.
#[tokio::test]
async fn wrong_and_missing_headers_are_refused() {
    let target = Target::start(&[]).await;
    let mallory = target.mallory();
    mallory.initialize().await;
    let session = mallory.session_id().expect("a session");
    let alice = BearerSession::start(target.url(), ALICE).await;
    let alices_session = alice.session_id().expect("alice's session");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let bearer = format!("Bearer {MALLORY}");
    let long_session = "s".repeat(6_000);
    let suffixed = format!("{bearer}x");
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no Authorization", vec![("mcp-session-id", &session)]),
        (
            "Basic credentials",
            vec![
                ("authorization", "Basic bWFsbG9yeTpzZWNyZXQ="),
                ("mcp-session-id", &session),
            ],
        ),
        (
            "an empty bearer",
            vec![("authorization", "Bearer "), ("mcp-session-id", &session)],
        ),
        (
            "a token with a suffix",
            vec![("authorization", &suffixed), ("mcp-session-id", &session)],
        ),
        (
            "alice's session with mallory's token",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", &alices_session),
            ],
        ),
        (
            "an unknown session",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", "no-such-session"),
            ],
        ),
        (
            "a 6,000-byte session id",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", &long_session),
            ],
        ),
        (
            "a protocol version nobody speaks",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", &session),
                ("mcp-protocol-version", "1999-01-01"),
            ],
        ),
        (
            "a content type that is not JSON",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", &session),
                ("content-type", "text/plain"),
            ],
        ),
        (
            "an Accept without JSON or SSE",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", &session),
                ("accept", "image/png"),
            ],
        ),
        (
            "an Origin that is not allowed",
            vec![
                ("authorization", &bearer),
                ("mcp-session-id", &session),
                ("origin", "https://evil.example"),
            ],
        ),
    ];
    let http = reqwest::Client::new();
    for (what, headers) in cases {
        let mut request = http.post(target.url()).body(ping.clone());
        let given = |name: &str| headers.iter().any(|(n, _)| *n == name);
        if !given("content-type") {
            request = request.header("content-type", "application/json");
        }
        if !given("accept") {
            request = request.header("accept", "application/json, text/event-stream");
        }
        if !given("mcp-protocol-version") {
            request = request.header("mcp-protocol-version", "2025-11-25");
        }
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(HANG, request.send())
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer in time"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert!((400..500).contains(&status), "{what}: HTTP {status} {text}");
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: HTTP {status}, body not JSON ({e}): {text:?}"));
        assert!(answer["error"]["code"].is_i64(), "{what}: {answer}");
    }

    // The stateless era: headers that contradict the body.
    let modern = v2026::Http::new(target.url()).as_bearer(MALLORY);
    let params = v2026::with_meta(
        json!({"name": "echo", "arguments": {"text": "x"}}),
        &v2026::with_tasks(),
    );
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let mut wrong_method = v2026::Http::standard_headers("tools/call", &params);
    wrong_method[1].1 = "tools/list".to_owned();
    let mut wrong_name = v2026::Http::standard_headers("tools/call", &params);
    wrong_name.retain(|(n, _)| n != "mcp-name");
    wrong_name.push(("mcp-name".to_owned(), "=?base64?!!!?=".to_owned()));
    for (what, headers) in [
        ("Mcp-Method of another method", wrong_method),
        ("Mcp-Name not Base64", wrong_name),
    ] {
        let reply = modern.post_raw("tools/call", &body, &headers).await;
        assert_eq!(reply.status, 400, "{what}: {reply:?}");
        assert!(reply.error()["code"].is_i64(), "{what}");
    }
    target.check_unharmed("wrong and missing headers").await;
}

/// A client that never reads: it opens a GET stream and several `tasks/result` streams on its
/// own long task and reads nothing, while its tasks produce output. The server cuts or parks
/// those connections and goes on serving everyone else.
#[tokio::test]
async fn a_client_that_never_reads() {
    let target = Target::start(&[]).await;
    let mallory = target.mallory();
    mallory.initialize().await;
    let session = mallory.session_id().expect("a session");
    let mut sockets = Vec::new();
    for i in 0..8 {
        let created = mallory
            .request(
                "tools/call",
                task_call(
                    "countdown",
                    json!({"from": 50, "interval_ms": 10}),
                    json!({}),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("mallory's task {i}: {e}"));
        let id = task_id(&check_create_result(&created));
        let body = json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tasks/result",
                          "params": {"taskId": id}})
        .to_string();
        sockets.push(raw_post(&target, &session, &body).await);
    }
    let mut get = TcpStream::connect(target.addr()).await.expect("connect");
    let request = format!(
        "GET /mcp HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\nauthorization: Bearer {MALLORY}\r\n\
         mcp-session-id: {session}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n",
        target.addr()
    );
    get.write_all(request.as_bytes()).await.expect("send GET");
    sockets.push(get);
    target.check_unharmed("a client that never reads").await;
    drop(sockets);
    target
        .check_unharmed("the unread connections closing")
        .await;
}

/// Bytes that are not HTTP, a request line with no end, and headers of 1 MiB: each connection is
/// refused or closed, and the server serves the next client.
#[tokio::test]
async fn garbage_on_the_socket() {
    let target = Target::start(&[]).await;
    let huge_header = format!(
        "POST /mcp HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        (
            "TLS hello to a plain port",
            vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc],
        ),
        (
            "binary noise",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("a request line with no end", b"POST /mcp HTTP/1.1".to_vec()),
        ("1 MiB of headers", huge_header.into_bytes()),
        (
            "a negative content length",
            b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n".to_vec(),
        ),
        (
            "two content lengths",
            b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello"
                .to_vec(),
        ),
    ];
    for (what, bytes) in attacks {
        let mut socket = TcpStream::connect(target.addr()).await.expect("connect");
        // The server may close before it has read everything; that is a refusal too.
        let _ = socket.write_all(&bytes).await;
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut answer)).await;
        if let Ok(Ok(_)) = read {
            let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
            assert!(
                answer.is_empty() || head.starts_with("HTTP/1.1 4"),
                "{what}: answered {head:?}"
            );
        }
        drop(socket);
        target.check_unharmed(what).await;
    }
}

/// Opens a raw connection, sends a `tasks/result` POST of mallory's session, and never reads.
async fn raw_post(target: &Target, session: &str, body: &str) -> TcpStream {
    let mut socket = TcpStream::connect(target.addr()).await.expect("connect");
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nauthorization: Bearer {MALLORY}\r\n\
         mcp-session-id: {session}\r\nmcp-protocol-version: 2025-11-25\r\ncontent-length: {}\r\n\r\n{body}",
        target.addr(),
        body.len()
    );
    socket
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    socket
}

/// T-SEC-3: mallory opens sessions until refused. The refusal is 429 with a JSON-RPC body that
/// names the limit and a `Retry-After`; alice, another subject, still opens sessions and is
/// served, and nothing of hers changes.
#[tokio::test]
async fn a_client_that_opens_sessions_until_refused() {
    let target = Target::start(&["--max-sessions-per-client", "5", "--max-sessions", "50"]).await;
    let mut opened = Vec::new();
    let refusal = loop {
        assert!(opened.len() <= 50, "mallory was never refused");
        let mallory = target.mallory();
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                          "params": testkit::stdio::default_initialize_params()});
        let reply = mallory.raw(Method::POST, Some(&init)).await;
        if reply.status != 200 {
            break reply;
        }
        opened.push(mallory);
    };
    assert_eq!(opened.len(), 5, "mallory got exactly its allowance");
    assert_eq!(refusal.status, 429, "{}", refusal.body);
    assert!(
        refusal.headers.get("retry-after").is_some(),
        "no Retry-After: {:?}",
        refusal.headers
    );
    let body: Value = serde_json::from_str(&refusal.body).expect("a JSON-RPC body");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("max-sessions-per-client")),
        "the refusal names the limit: {body}"
    );
    target
        .check_unharmed("a client opening sessions until refused")
        .await;
}

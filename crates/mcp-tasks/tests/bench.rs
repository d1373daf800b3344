//! `mcp-tasks bench` (issue 14 item 1), the binary against the binary: `serve --http
//! 127.0.0.1:0 --store memory` loaded by `bench` with a small `--count` and `--json`, checking
//! what the report says (operations, errors by kind, per-kind statistics, the server's CPU and
//! memory, the idle load) and what it did to the server (the waiters' tasks cancelled, as the
//! admin API shows), and the exit statuses of the refusals. Nothing here asserts a time or a
//! speed: only counts and the order of percentiles.

use std::path::Path;
use std::time::Duration;

use axum::response::IntoResponse as _;
use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::process::{assert_exit, run_to_exit, show, stdout_json, Finished, ServeOptions};
use testkit::store::TempStore;

/// How long one bench run may take: each is a few dozen operations.
const LIMIT: Duration = Duration::from_secs(120);

/// The admin token of the server that has an admin listener.
const ADMIN_TOKEN: &str = "admin-token-for-bench-0123456789";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// The limits a benchmark needs lifted: every request comes from one address.
const UNLIMITED: [&str; 4] = [
    "--rate-limit",
    "unlimited",
    "--max-active-tasks",
    "unlimited",
];

async fn server() -> HttpServer {
    HttpServer::spawn(bin(), &UNLIMITED).await
}

/// Runs `mcp-tasks bench ARGS…` to its end.
async fn bench(args: &[&str]) -> Finished {
    let mut all = vec!["bench".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run_to_exit(bin(), &all, LIMIT).await
}

/// Runs `bench --url URL --warmup 0ms --json ARGS…`, expects exit 0, and returns the report.
async fn report(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--url", url, "--warmup", "0ms", "--json"];
    all.extend_from_slice(args);
    let done = bench(&all).await;
    assert_exit(&all.join(" "), &done, 0);
    stdout_json(&all.join(" "), &done)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The percentiles are in order.
#[track_caller]
fn check_latency(l: &Value) {
    let (min, p50, p90, p99, p999, max) = (
        f(&l["min"]),
        f(&l["p50"]),
        f(&l["p90"]),
        f(&l["p99"]),
        f(&l["p999"]),
        f(&l["max"]),
    );
    assert!(
        0.0 < min && min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "{l}"
    );
    let mean = f(&l["mean"]);
    assert!(min <= mean && mean <= max, "{l}");
}

/// A report of `count` operations that all succeeded.
#[track_caller]
fn check_clean(r: &Value, count: u64) {
    assert_eq!(u(&r["ops"]), count, "{r:#}");
    assert_eq!(u(&r["ok"]), count, "{r:#}");
    assert_eq!(r["errors"], json!({}), "{r:#}");
    assert!(f(&r["ops_per_s"]) > 0.0, "{r:#}");
    assert!(u(&r["http_requests"]) >= count, "{r:#}");
    assert_eq!(r["interrupted"], false);
    check_latency(&r["latency_ms"]);
}

/// Every mode in MCP 2025-11-25 runs exactly its count, without an error: each operation
/// makes the requests its mode says, tasks are made where the mode makes them, and a mix
/// reports each kind.
#[tokio::test(flavor = "multi_thread")]
async fn every_mode_runs_its_count_in_2025() {
    let server = server().await;
    let url = server.url();
    for (mode, requests_per_op, tasks) in [
        ("call", Some(1), false),
        ("task", Some(2), true),
        // tasks/get until the task ends, then tasks/result: at least 2.
        ("poll", None, true),
        ("get", Some(1), false),
    ] {
        let r = report(url, &["--mode", mode, "--count", "20", "--clients", "4"]).await;
        check_clean(&r, 20);
        assert_eq!(r["mode"], mode);
        assert_eq!(r["protocol"], "2025-11-25");
        assert_eq!(r["clients"], 4);
        assert_eq!(r["count"], 20);
        assert_eq!(r["rate"], Value::Null);
        assert_eq!(r["server"], Value::Null);
        match requests_per_op {
            Some(n) => assert_eq!(u(&r["http_requests"]), 20 * n, "{mode}: {r:#}"),
            None => assert!(u(&r["http_requests"]) >= 40, "{mode}: {r:#}"),
        }
        assert_eq!(u(&r["tasks_made"]), if tasks { 20 } else { 0 }, "{mode}");
        let kinds: Vec<&String> = r["per_kind"].as_object().unwrap().keys().collect();
        assert_eq!(kinds, [mode], "{r:#}");
        assert_eq!(u(&r["per_kind"][mode]["ops"]), 20);
    }

    // One client goes through the schedule in order: each kind exactly its share.
    let r = report(
        url,
        &[
            "--mode",
            "mix",
            "--mix",
            "call=1,task=1,get=1",
            "--count",
            "30",
            "--clients",
            "1",
        ],
    )
    .await;
    check_clean(&r, 30);
    for kind in ["call", "task", "get"] {
        let k = &r["per_kind"][kind];
        assert_eq!(u(&k["ops"]), 10, "{kind}: {r:#}");
        assert_eq!(u(&k["ok"]), 10, "{kind}: {r:#}");
        check_latency(&k["latency_ms"]);
    }
    assert_eq!(u(&r["tasks_made"]), 10);

    // The default mix, over several clients: the kinds add up to the count.
    let r = report(url, &["--mode", "mix", "--count", "40", "--clients", "4"]).await;
    check_clean(&r, 40);
    let sum: u64 = r["per_kind"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| u(&k["ops"]))
        .sum();
    assert_eq!(sum, 40, "{r:#}");
    assert!(u(&r["per_kind"]["get"]["ops"]) > 0, "{r:#}");
}

/// MCP 2026-07-28: the server decides what becomes a task. A tool it must run as one makes a
/// task of every operation, followed with tasks/get; slow_echo without delay is answered
/// at once and makes none; get reads a task made before the run.
#[tokio::test(flavor = "multi_thread")]
async fn task_mode_in_2026_counts_the_tasks_the_server_made() {
    let server = server().await;
    let url = server.url();
    let v2026 = [
        "--protocol",
        "2026-07-28",
        "--count",
        "12",
        "--clients",
        "3",
    ];
    let r = report(
        url,
        &[
            &v2026[..],
            &[
                "--mode",
                "task",
                "--task-tool",
                "must_be_task",
                "--task-arguments",
                r#"{"delay_ms":0}"#,
            ],
        ]
        .concat(),
    )
    .await;
    check_clean(&r, 12);
    assert_eq!(r["protocol"], "2026-07-28");
    assert_eq!(u(&r["tasks_made"]), 12, "{r:#}");
    // The call, then at least one tasks/get.
    assert!(u(&r["http_requests"]) >= 24, "{r:#}");

    let r = report(url, &[&v2026[..], &["--mode", "task"]].concat()).await;
    check_clean(&r, 12);
    assert_eq!(u(&r["tasks_made"]), 0, "{r:#}");
    assert_eq!(u(&r["http_requests"]), 12, "{r:#}");

    for mode in ["call", "get", "poll"] {
        let r = report(url, &[&v2026[..], &["--mode", mode]].concat()).await;
        check_clean(&r, 12);
    }
}

/// With --server-pid the report has the server's CPU time over the window and its memory at
/// the three moments, summed and per process.
#[tokio::test(flavor = "multi_thread")]
async fn server_pid_fills_the_server_fields() {
    let server = server().await;
    let pid = server.pid().to_string();
    let r = report(
        server.url(),
        &[
            "--mode",
            "call",
            "--count",
            "50",
            "--clients",
            "2",
            "--server-pid",
            &pid,
        ],
    )
    .await;
    check_clean(&r, 50);
    let s = &r["server"];
    assert!(f(&s["cpu_s"]) >= 0.0, "{s:#}");
    assert!(f(&s["cpu_us_per_op"]) >= 0.0, "{s:#}");
    for moment in ["start", "after_idle", "end"] {
        assert!(u(&s["rss_kib"][moment]) > 0, "{moment}: {s:#}");
    }
    let pids = s["pids"].as_array().unwrap();
    assert_eq!(pids.len(), 1);
    assert_eq!(pids[0]["pid"].to_string(), pid);
    assert_eq!(pids[0]["rss_kib"], s["rss_kib"]);
    assert_eq!(pids[0]["cpu_s"], s["cpu_s"]);

    let gone = bench(&[
        "--url",
        server.url(),
        "--server-pid",
        "999999999",
        "--count",
        "1",
    ])
    .await;
    assert_exit("a pid that does not exist", &gone, 2);
    assert!(
        gone.stderr.contains("--server-pid 999999999"),
        "{}",
        show(&gone)
    );
}

/// The admin API's `admin: http://…/` address of a server started with `--admin`.
fn admin_url(server: &HttpServer) -> String {
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("admin: http://"))
        .unwrap_or_else(|| panic!("no admin address on stderr:\n{stderr}"));
    line[line.find("http://").unwrap()..].trim().to_owned()
}

/// The ids of the tasks of `tool` in `status`, as `mcp-tasks admin list` shows them.
async fn tasks_in(admin: &str, token_file: &str, status: &str, tool: &str) -> Vec<String> {
    let args: Vec<String> = [
        "admin",
        "--url",
        admin,
        "--token-file",
        token_file,
        "list",
        "--all",
        "--json",
        "--status",
        status,
        "--tool",
        tool,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let done = run_to_exit(bin(), &args, LIMIT).await;
    assert_exit("admin list", &done, 0);
    stdout_json("admin list", &done)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap().to_owned())
        .collect()
}

/// --idle-sessions and --idle-waiters are opened before the run and reported; the server goes
/// on answering with them open and after; the waiters' tasks are cancelled at the end, in
/// both eras.
#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_and_waiters_are_held_then_cancelled() {
    let scratch = TempStore::new();
    let token = scratch.dir().join("admin.token").display().to_string();
    std::fs::write(&token, format!("{ADMIN_TOKEN}\n")).unwrap();
    let options = ServeOptions::memory_with(&UNLIMITED).args([
        "--admin",
        "127.0.0.1:0",
        "--admin-token-file",
        &token,
    ]);
    let server = HttpServer::spawn_with(bin(), &options).await;
    let admin = admin_url(&server);
    let url = server.url();
    let pid = server.pid().to_string();
    let mut cancelled = 0;
    for era in ["2025-11-25", "2026-07-28"] {
        let r = report(
            url,
            &[
                "--protocol",
                era,
                "--mode",
                "call",
                "--count",
                "20",
                "--clients",
                "2",
                "--idle-sessions",
                "5",
                "--idle-waiters",
                "5",
                "--server-pid",
                &pid,
            ],
        )
        .await;
        check_clean(&r, 20);
        let idle = &r["idle"];
        assert_eq!(u(&idle["sessions"]), 5, "{era}: {r:#}");
        assert_eq!(u(&idle["waiters"]), 5, "{era}: {r:#}");
        assert_eq!(u(&idle["waiters_cancelled"]), 5, "{era}: {r:#}");
        assert_eq!(idle["failures"], json!({}), "{era}: {r:#}");
        assert!(u(&r["server"]["rss_kib"]["after_idle"]) > 0, "{r:#}");
        cancelled += 5;
        // The waiters' tasks, and only those, were made, and each was cancelled.
        let done = tasks_in(&admin, &token, "cancelled", "slow_echo").await;
        assert_eq!(done.len(), cancelled, "{era}: {done:?}");
        let running = tasks_in(&admin, &token, "working", "slow_echo").await;
        assert!(running.is_empty(), "{era}: {running:?}");
    }
    // The server still answers.
    let r = report(url, &["--mode", "task", "--count", "5", "--clients", "1"]).await;
    check_clean(&r, 5);
}

/// --rate runs an open loop of exactly --count operations.
#[tokio::test(flavor = "multi_thread")]
async fn rate_mode_runs_an_open_loop() {
    let server = server().await;
    for mode in ["call", "mix"] {
        let r = report(
            server.url(),
            &[
                "--mode",
                mode,
                "--rate",
                "200",
                "--count",
                "20",
                "--clients",
                "2",
            ],
        )
        .await;
        check_clean(&r, 20);
        assert_eq!(f(&r["rate"]), 200.0);
        assert!(r["late"].is_u64(), "{r:#}");
    }
}

/// Failed operations are counted by kind, the first message of each kept; a run where none
/// succeeded exits 1 saying why.
#[tokio::test(flavor = "multi_thread")]
async fn errors_are_counted_by_kind() {
    let server = server().await;
    let url = server.url();
    for (args, kind) in [
        (
            &["--mode", "call", "--tool", "no_such_tool"][..],
            "rpc--32602",
        ),
        (&["--mode", "call", "--tool", "fail"], "tool-error"),
        (&["--mode", "task", "--tool", "fail"], "tool-error"),
        // bench declares no elicitation, so the server fails a task that would ask.
        (&["--mode", "task", "--tool", "ask_name"], "task-failed"),
        (&["--mode", "poll", "--tool", "ask_name"], "task-failed"),
        (
            &[
                "--mode",
                "call",
                "--tool",
                "fail",
                "--protocol",
                "2026-07-28",
            ],
            "tool-error",
        ),
    ] {
        let mut all = vec!["--url", url, "--warmup", "0ms", "--json", "--count", "6"];
        all.extend_from_slice(&["--clients", "2"]);
        all.extend_from_slice(args);
        let done = bench(&all).await;
        assert_exit(&all.join(" "), &done, 1);
        let r = stdout_json(&all.join(" "), &done);
        assert_eq!(u(&r["ops"]), 6, "{r:#}");
        assert_eq!(u(&r["ok"]), 0, "{r:#}");
        assert_eq!(r["errors"], json!({ kind: 6 }), "{args:?}: {r:#}");
        assert!(r["error_messages"][kind].is_string(), "{r:#}");
        assert_eq!(r["latency_ms"], Value::Null);
        assert!(
            done.stderr.contains("no operation succeeded") && done.stderr.contains(kind),
            "{}",
            show(&done)
        );
    }
}

/// A client the server refuses over its per-client limits stops the run before it starts,
/// with the HTTP status and what to raise.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_client_says_which_limit() {
    let server = HttpServer::spawn(bin(), &["--max-sessions-per-client", "2"]).await;
    let done = bench(&[
        "--url",
        server.url(),
        "--clients",
        "3",
        "--count",
        "3",
        "--json",
    ])
    .await;
    assert_exit("3 sessions where 2 are allowed", &done, 1);
    assert!(
        done.stderr.contains("HTTP 429") && done.stderr.contains("--max-sessions-per-client"),
        "{}",
        show(&done)
    );
    assert!(done.stdout.is_empty(), "{}", show(&done));
}

/// Two URLs share the clients; the text summary is for people.
#[tokio::test(flavor = "multi_thread")]
async fn clients_spread_over_urls_and_text_is_the_default() {
    let (a, b) = (server().await, server().await);
    let r = report(
        a.url(),
        &[
            "--url",
            b.url(),
            "--mode",
            "task",
            "--count",
            "20",
            "--clients",
            "4",
        ],
    )
    .await;
    check_clean(&r, 20);
    assert_eq!(r["urls"], json!([a.url(), b.url()]));

    let done = bench(&[
        "--url",
        a.url(),
        "--mode",
        "call",
        "--count",
        "10",
        "--clients",
        "2",
        "--warmup",
        "0ms",
    ])
    .await;
    assert_exit("text", &done, 0);
    for said in [
        "call mode",
        "MCP 2025-11-25",
        "10 ops",
        "ops/s",
        "latency ms",
        "p99",
    ] {
        assert!(done.stdout.contains(said), "{said}: {}", show(&done));
    }
}

/// Usage errors exit 2 before anything is sent (a TEST-NET address is refused, never
/// connected to); a server that cannot be reached exits 1 saying why.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_and_unreachable_servers() {
    for (args, said) in [
        (
            &["--url", "http://192.0.2.1:8080/mcp", "--count", "1"][..],
            "--allow-remote",
        ),
        (
            &[
                "--url",
                "http://127.0.0.1:9/mcp",
                "--arguments",
                "{not json",
                "--count",
                "1",
            ],
            "--arguments",
        ),
        (
            &[
                "--url",
                "http://127.0.0.1:9/mcp",
                "--arguments",
                "[1]",
                "--count",
                "1",
            ],
            "JSON object",
        ),
        (
            &[
                "--url",
                "http://127.0.0.1:9/mcp",
                "--count",
                "5",
                "--duration",
                "1s",
            ],
            "cannot be used with",
        ),
        (
            &["--url", "http://127.0.0.1:9/mcp", "--duration", "10"],
            "unit",
        ),
        (
            &["--url", "http://127.0.0.1:9/mcp", "--mix", "call=1"],
            "--mode mix",
        ),
        (
            &["--url", "https://127.0.0.1:9/mcp", "--count", "1"],
            "https",
        ),
    ] {
        let done = bench(args).await;
        assert_exit(&args.join(" "), &done, 2);
        assert!(done.stderr.contains(said), "{said}: {}", show(&done));
        assert!(done.stdout.is_empty(), "{}", show(&done));
    }

    // A port nobody listens on: bound, then released.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", free.local_addr().unwrap());
    drop(free);
    for era in ["2025-11-25", "2026-07-28"] {
        let done = bench(&["--url", &url, "--protocol", era, "--count", "1", "--json"]).await;
        assert_exit(era, &done, 1);
        assert!(
            done.stderr.contains("cannot connect") && done.stderr.contains("refused"),
            "{}",
            show(&done)
        );
        assert!(done.stdout.is_empty(), "{}", show(&done));
    }
}

/// A 2025-11-25 server of the test's own, on loopback, answering `tools/call` as SSE the way
/// a server may: `answers` with a comment, a priming event, a notification, then the
/// response split over chunks, with CRLF line ends and its JSON over two `data:` lines;
/// `asks` with a request of its own (elicitation) instead of the answer.
async fn sse_server() -> String {
    async fn handle(body: axum::body::Bytes) -> axum::response::Response {
        let m: Value = serde_json::from_slice(&body).unwrap();
        let id = m["id"].clone();
        let sse = |chunks: Vec<String>| {
            let chunks = chunks
                .into_iter()
                .map(|c| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(c)));
            (
                [("content-type", "text/event-stream")],
                axum::body::Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response()
        };
        match m["method"].as_str().unwrap_or_default() {
            "initialize" => (
                [
                    ("mcp-session-id", "s-1"),
                    ("content-type", "application/json"),
                ],
                json!({"jsonrpc": "2.0", "id": id, "result": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "serverInfo": {"name": "sse", "version": "0"}}})
                .to_string(),
            )
                .into_response(),
            "tools/call" if m["params"]["name"] == "answers" => {
                let response = json!({"jsonrpc": "2.0", "id": id,
                    "result": {"content": [{"type": "text", "text": "ok"}]}})
                .to_string();
                // Between two members: the LF that joins the data lines is JSON whitespace.
                let (a, b) = response.split_at(response.find("\"result\"").unwrap());
                let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": 1, "progress": 1}});
                sse(vec![
                    ": hello\r\n\r\nid: e-0\r\ndata:\r\n\r\n".to_owned(),
                    format!("data: {note}\r\n\r\nid: e-1\r\nda"),
                    format!("ta: {a}\r\ndata: {b}\r"),
                    "\n\r\n".to_owned(),
                ])
            }
            "tools/call" => {
                let ask = json!({"jsonrpc": "2.0", "id": "srv-1", "method": "elicitation/create",
                    "params": {"message": "name?", "requestedSchema": {"type": "object"}}});
                sse(vec![format!("id: e-0\ndata:\n\ndata: {ask}\n\n")])
            }
            _ => axum::http::StatusCode::ACCEPTED.into_response(),
        }
    }
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(handle).delete(|| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Answers on an SSE stream are read event by event, whatever the chunks and line ends, the
/// priming event and notifications skipped; a request from the server is a `server-request`
/// error.
#[tokio::test(flavor = "multi_thread")]
async fn sse_answers_and_server_requests() {
    let url = sse_server().await;
    let r = report(
        &url,
        &[
            "--mode",
            "call",
            "--tool",
            "answers",
            "--count",
            "10",
            "--clients",
            "2",
        ],
    )
    .await;
    check_clean(&r, 10);

    let args = [
        "--url",
        &url,
        "--mode",
        "call",
        "--tool",
        "asks",
        "--count",
        "4",
        "--clients",
        "2",
        "--warmup",
        "0ms",
        "--json",
    ];
    let done = bench(&args).await;
    assert_exit("asks", &done, 1);
    let r = stdout_json("asks", &done);
    assert_eq!(r["errors"], json!({"server-request": 4}), "{r:#}");
    assert!(
        r["error_messages"]["server-request"]
            .as_str()
            .unwrap()
            .contains("elicitation/create"),
        "{r:#}"
    );
}

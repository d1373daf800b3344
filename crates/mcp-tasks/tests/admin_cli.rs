//! `mcp-tasks admin` (issue 15 item 3), the binary against the binary: a server started with
//! `--admin 127.0.0.1:0 --admin-token-file F`, tasks made by the binary's own client commands,
//! and `mcp-tasks admin --url … --token-file F` listing, showing, cancelling and purging them,
//! as text and as `--json`; then `--store sqlite:PATH` on the file a stopped server left, which
//! must print the same JSON. Usage errors end with status 2 and say why.
//!
//! The admin address is read from the server's stderr (`admin: http://127.0.0.1:PORT/`), which
//! it prints before `listening on http://…/mcp`, the line testkit waits for.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::process::{assert_exit, show, stdout_json, without_terminal, Finished, ServeOptions};
use testkit::store::TempStore;

/// How long one command may take (the machine may be busy with other test binaries).
const LIMIT: Duration = Duration::from_secs(60);

/// The token of every server here that is given one.
const TOKEN: &str = "admin-token-for-tests-0123456789";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// Runs `mcp-tasks ARGS…` to its end (bounded), without a terminal and without the admin
/// settings of whoever runs the tests.
async fn run(args: &[&str]) -> Finished {
    let started = Instant::now();
    let child = without_terminal(bin())
        .args(args)
        .env_remove("MCP_TASKS_ADMIN_URL")
        .env_remove("MCP_TASKS_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `setsid mcp-tasks`: {e}"));
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("mcp-tasks {} did not exit within {LIMIT:?}", args.join(" ")))
        .unwrap_or_else(|e| panic!("cannot wait for mcp-tasks: {e}"));
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs `mcp-tasks ARGS…` and checks it exited with `want`.
async fn run_expecting(args: &[&str], want: i32) -> Finished {
    let done = run(args).await;
    assert_exit(&args.join(" "), &done, want);
    done
}

/// A scratch directory with the store, the admin token file and the answers file.
struct Scratch {
    store: TempStore,
}

impl Scratch {
    fn new() -> Self {
        let store = TempStore::new();
        std::fs::write(store.dir().join("admin.token"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(store.dir().join("wrong.token"), "not-the-admin-token\n").unwrap();
        std::fs::write(store.dir().join("answers.json"), r#"{"name":"Ada"}"#).unwrap();
        Self { store }
    }

    fn file(&self, name: &str) -> String {
        self.store.dir().join(name).display().to_string()
    }

    fn token_file(&self) -> String {
        self.file("admin.token")
    }
}

/// `serve --store STORE --http 127.0.0.1:0 --admin 127.0.0.1:0 EXTRA…`, and its admin URL.
async fn serve_with_admin(store: &str, extra: &[&str]) -> (HttpServer, String) {
    let options = ServeOptions::default()
        .store(store)
        .args(["--admin", "127.0.0.1:0"])
        .args(extra.iter().copied());
    let server = HttpServer::spawn_with(bin(), &options).await;
    let url = admin_url(&server.stderr());
    (server, url)
}

/// The URL of the `admin: http://ADDR/` line.
fn admin_url(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("admin: http://"))
        .unwrap_or_else(|| panic!("no `admin: http://…` line on stderr:\n{stderr}"));
    let url = &line[line.find("http://").unwrap()..];
    assert!(url.ends_with('/'), "{line}");
    url.to_owned()
}

/// Calls a tool as a task with the binary's own client and checks it exited with `want`.
async fn call(mcp_url: &str, tool: &str, arguments: Value, answers: Option<&str>, want: i32) {
    let arguments = arguments.to_string();
    // 2025-11-25, where --task always makes a task: in 2026-07-28 the server would answer a
    // quick call plainly.
    let mut args = vec![
        "call",
        tool,
        &arguments,
        "--task",
        "--protocol",
        "2025-11-25",
        "--url",
        mcp_url,
    ];
    if let Some(file) = answers {
        args.extend(["--answers", file]);
    }
    run_expecting(&args, want).await;
}

/// Starts a task that runs for ten minutes, over a session of its own, and returns its id.
async fn start_long_task(server: &HttpServer) -> String {
    let session = server.session().await;
    let result = session
        .request(
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"text": "zzz", "delay_ms": 600_000}, "task": {}}),
        )
        .await
        .unwrap_or_else(|e| panic!("slow_echo as a task: {e}"));
    result["task"]["taskId"].as_str().unwrap().to_owned()
}

/// The task ids of a `list --json` document, by tool.
fn ids_by_tool(list: &Value) -> Vec<(String, String)> {
    list["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks array: {list}"))
        .iter()
        .map(|t| {
            (
                t["tool"].as_str().unwrap_or("").to_owned(),
                t["taskId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn id_of(list: &Value, tool: &str) -> String {
    ids_by_tool(list)
        .into_iter()
        .find(|(t, _)| t == tool)
        .unwrap_or_else(|| panic!("no {tool} task in {list}"))
        .1
}

/// The `type` of each history event of a `show --json` document.
fn event_types(shown: &Value) -> Vec<String> {
    shown["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history: {shown}"))
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts that `wanted` appear in `got` in this order (others may come between).
#[track_caller]
fn assert_in_order(got: &[String], wanted: &[&str]) {
    let mut rest = got.iter();
    for want in wanted {
        assert!(
            rest.any(|g| g == want),
            "expected {wanted:?} in this order within {got:?}"
        );
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Issue 15 item 3: with the admin token, `admin list|show|cancel|purge|health` see and steer
/// every task of a running server, as text and as JSON; a wrong or missing token is exit 3
/// saying so, an unknown or finished task exit 1.
#[tokio::test]
async fn admin_over_http_lists_shows_cancels_purges_and_checks_health() {
    let scratch = Scratch::new();
    let store = scratch.store.store_arg();
    let token = scratch.token_file();
    let (server, url) = serve_with_admin(&store, &["--admin-token-file", &token]).await;
    let answers = scratch.file("answers.json");
    call(server.url(), "ask_name", json!({}), Some(&answers), 0).await;
    call(
        server.url(),
        "countdown",
        json!({"from": 3, "interval_ms": 10}),
        None,
        0,
    )
    .await;
    call(server.url(), "fail", json!({"message": "boom"}), None, 1).await;
    let long = start_long_task(&server).await;
    let admin = ["admin", "--url", &url, "--token-file", &token];
    let with = |more: &[&'static str]| -> Vec<String> {
        admin.iter().chain(more).map(|s| (*s).to_owned()).collect()
    };
    let run_admin = |more: &'static [&'static str], want: i32| {
        let args = with(more);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_expecting(&args, want).await
        }
    };

    // list: a table of every task, newest first.
    let table = run_admin(&["list"], 0).await;
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "a header and four tasks\n{}", show(&table));
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATUS") && lines[0].ends_with("MESSAGE"),
        "{}",
        lines[0]
    );
    for (line, tool, status) in [
        (1, "slow_echo", "working"),
        (2, "fail", "failed"),
        (3, "countdown", "completed"),
        (4, "ask_name", "completed"),
    ] {
        let cells: Vec<&str> = lines[line].split_whitespace().collect();
        assert_eq!(
            (cells[1], cells[2], cells[3]),
            (status, tool, "-"),
            "{}",
            lines[line]
        );
    }
    assert!(lines[1].starts_with(&long), "{}", lines[1]);

    let listed = stdout_json("list --json", &run_admin(&["list", "--json"], 0).await);
    assert_eq!(ids_by_tool(&listed).len(), 4, "{listed}");
    assert_eq!(listed["nextCursor"], Value::Null);
    let ask = id_of(&listed, "ask_name");
    let countdown = id_of(&listed, "countdown");
    let failed = id_of(&listed, "fail");
    for (filter, tools) in [
        (
            &["list", "--json", "--status", "working"][..],
            vec!["slow_echo"],
        ),
        (
            &["list", "--json", "--status", "failed,cancelled"],
            vec!["fail"],
        ),
        (&["list", "--json", "--tool", "ask_name"], vec!["ask_name"]),
        (&["list", "--json", "--owner", "alice"], vec![]),
        (
            &["list", "--json", "--owner", "-", "--older-than", "1h"],
            vec![],
        ),
        (
            &["list", "--json", "--owner", "-", "--newer-than", "1h"],
            vec!["slow_echo", "fail", "countdown", "ask_name"],
        ),
    ] {
        let args = with(filter);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = stdout_json(&args.join(" "), &run_expecting(&args, 0).await);
        let got: Vec<String> = ids_by_tool(&got).into_iter().map(|(t, _)| t).collect();
        assert_eq!(got, tools, "{filter:?}");
    }
    let first = stdout_json(
        "--limit 2",
        &run_admin(&["list", "--json", "--limit", "2"], 0).await,
    );
    assert_eq!(ids_by_tool(&first).len(), 2);
    assert!(first["nextCursor"].is_string(), "more remain: {first}");
    let limited = run_admin(&["list", "--limit", "2"], 0).await;
    assert!(limited.stderr.contains("more match"), "{}", show(&limited));
    let all = stdout_json("--all", &run_admin(&["list", "--json", "--all"], 0).await);
    assert_eq!(all, listed);

    // show: the task and its timeline.
    let args = with(&["show"]);
    let mut show_args: Vec<&str> = args.iter().map(String::as_str).collect();
    show_args.push(&ask);
    let shown = run_expecting(&show_args, 0).await;
    for want in [
        &format!("task     {ask}"),
        "request  tools/call ask_name",
        "created: tools/call ask_name",
        "asked elicitation/create: What is your name?",
        r#"answered: accept {"name":"Ada"}"#,
        "completed",
    ] {
        assert!(
            shown.stdout.contains(want),
            "no {want:?} in\n{}",
            show(&shown)
        );
    }
    show_args.push("--json");
    let ask_doc = stdout_json("show --json", &run_expecting(&show_args, 0).await);
    assert_eq!(ask_doc["task"]["taskId"], json!(ask));
    assert_eq!(
        ask_doc["task"]["result"]["content"][0]["text"],
        json!("Hello, Ada!")
    );
    assert_in_order(
        &event_types(&ask_doc),
        &["created", "inputRequested", "inputAnswered", "completed"],
    );
    let seqs: Vec<u64> = ask_doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    let mut progress_args: Vec<&str> = args.iter().map(String::as_str).collect();
    progress_args.push(&countdown);
    let progress = run_expecting(&progress_args, 0).await;
    assert!(
        progress.stdout.contains("progress 1/3: 2 to go"),
        "{}",
        show(&progress)
    );
    let mut failed_args: Vec<&str> = args.iter().map(String::as_str).collect();
    failed_args.push(&failed);
    let failure = run_expecting(&failed_args, 0).await;
    assert!(
        failure.stdout.contains("failed: boom"),
        "{}",
        show(&failure)
    );

    // cancel: the running task, once; the second time it is already cancelled.
    let cancel: Vec<String> = with(&["cancel"])
        .into_iter()
        .chain([long.clone(), "--message".into(), "runaway".into()])
        .collect();
    let cancel: Vec<&str> = cancel.iter().map(String::as_str).collect();
    let cancelled = run_expecting(&cancel, 0).await;
    assert!(
        cancelled.stdout.contains("cancelled"),
        "{}",
        show(&cancelled)
    );
    assert!(cancelled.stdout.contains("runaway"), "{}", show(&cancelled));
    let again = run_expecting(&cancel, 1).await;
    assert!(
        again.stderr.contains("already cancelled"),
        "{}",
        show(&again)
    );
    let mut long_args: Vec<&str> = args.iter().map(String::as_str).collect();
    long_args.extend([long.as_str(), "--json"]);
    let long_doc = stdout_json("show long", &run_expecting(&long_args, 0).await);
    let last = long_doc["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["type"], &last["by"], &last["statusMessage"]),
        (&json!("cancelled"), &json!("admin"), &json!("runaway")),
        "{long_doc}"
    );
    let mut unknown: Vec<&str> = args.iter().map(String::as_str).collect();
    unknown.push("no-such-task");
    let missing = run_expecting(&unknown, 1).await;
    assert!(missing.stderr.contains("not found"), "{}", show(&missing));

    // health: ready, with the counts.
    let health = run_admin(&["health"], 0).await;
    for want in [
        "ready: store ok",
        "working 0, input_required 0, completed 2, failed 1, cancelled 1",
    ] {
        assert!(
            health.stdout.contains(want),
            "no {want:?} in\n{}",
            show(&health)
        );
    }
    let overview = stdout_json("health --json", &run_admin(&["health", "--json"], 0).await);
    assert_eq!(overview["server"]["role"], json!("serve"), "{overview}");
    assert_eq!(
        overview["counts"]["byStatus"]["completed"],
        json!(2),
        "{overview}"
    );

    // The store is the server's while it runs.
    let held = run_expecting(&["admin", "--store", &store, "list"], 3).await;
    assert!(
        held.stderr.contains("in use by another process"),
        "{}",
        show(&held)
    );
    assert!(held.stderr.contains("--url"), "{}", show(&held));

    // Tokens: a wrong one, none, and no server at all.
    let wrong = scratch.file("wrong.token");
    let refused = run_expecting(&["admin", "--url", &url, "--token-file", &wrong, "list"], 3).await;
    assert!(
        refused.stderr.contains(&format!(
            "the admin token was refused by {url}; check --token/--token-file"
        )),
        "{}",
        show(&refused)
    );
    let anonymous = run_expecting(&["admin", "--url", &url, "list"], 3).await;
    assert!(
        anonymous.stderr.contains("needs the admin token"),
        "{}",
        show(&anonymous)
    );
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let down = run_expecting(&["admin", "--url", &nowhere, "--token", TOKEN, "health"], 3).await;
    assert!(
        down.stderr.contains("is the server running with --admin?"),
        "{}",
        show(&down)
    );

    // purge: every finished task; the cancelled one among them.
    // The server's clock counts back: the line says the age as given, no time of this one's.
    let purged = run_admin(&["purge", "--older-than", "0s"], 0).await;
    assert_eq!(
        purged.stdout,
        "purged 4 tasks that finished more than 0s ago\n",
        "{}",
        show(&purged)
    );
    let after = stdout_json("list after purge", &run_admin(&["list", "--json"], 0).await);
    assert_eq!(after["tasks"], json!([]), "{after}");
    let none = run_admin(&["purge", "--older-than", "0s", "--json"], 0).await;
    assert_eq!(stdout_json("purge --json", &none), json!({"purged": 0}));
}

/// Issue 15 item 3: `--store sqlite:PATH` reads and steers the file a stopped server left,
/// printing the JSON the server's admin API printed, and recovering nothing.
#[tokio::test]
async fn admin_on_the_store_a_stopped_server_left() {
    let scratch = Scratch::new();
    let store = scratch.store.store_arg();
    let token = scratch.token_file();
    let (server, url) = serve_with_admin(&store, &["--admin-token-file", &token]).await;
    let answers = scratch.file("answers.json");
    call(server.url(), "ask_name", json!({}), Some(&answers), 0).await;
    let long = start_long_task(&server).await;
    let http = ["admin", "--url", &url, "--token-file", &token];
    let by_http = |more: &[&str]| -> Vec<String> {
        http.iter().chain(more).map(|s| (*s).to_owned()).collect()
    };
    let listed_args = by_http(&["list", "--json"]);
    let listed_args: Vec<&str> = listed_args.iter().map(String::as_str).collect();
    let listed = stdout_json("list", &run_expecting(&listed_args, 0).await);
    let ask = id_of(&listed, "ask_name");
    let shown_args = by_http(&["show", &ask, "--json"]);
    let shown_args: Vec<&str> = shown_args.iter().map(String::as_str).collect();
    let shown = stdout_json("show", &run_expecting(&shown_args, 0).await);
    server.kill9().await;

    let direct = ["admin", "--store", store.as_str()];
    let by_store = |more: &[&str]| -> Vec<String> {
        direct.iter().chain(more).map(|s| (*s).to_owned()).collect()
    };
    let run_store = |more: Vec<String>, want: i32| async move {
        let args: Vec<&str> = more.iter().map(String::as_str).collect();
        run_expecting(&args, want).await
    };
    assert_eq!(
        stdout_json(
            "--store list",
            &run_store(by_store(&["list", "--json"]), 0).await
        ),
        listed,
        "the same JSON as the admin API"
    );
    assert_eq!(
        stdout_json(
            "--store show",
            &run_store(by_store(&["show", &ask, "--json"]), 0).await
        ),
        shown,
        "the same JSON as the admin API"
    );
    let text = run_store(by_store(&["show", &ask]), 0).await;
    assert!(
        text.stdout
            .contains("asked elicitation/create: What is your name?"),
        "{}",
        show(&text)
    );

    // The killed server's task is still working: nothing recovered it.
    let working = stdout_json(
        "--store list working",
        &run_store(by_store(&["list", "--json", "--status", "working"]), 0).await,
    );
    assert_eq!(
        ids_by_tool(&working),
        [("slow_echo".to_owned(), long.clone())]
    );
    let cancelled = stdout_json(
        "--store cancel",
        &run_store(by_store(&["cancel", &long, "--json"]), 0).await,
    );
    assert_eq!(
        cancelled["task"]["status"],
        json!("cancelled"),
        "{cancelled}"
    );
    assert_eq!(
        cancelled["task"]["statusMessage"],
        json!("The task was cancelled by an operator.")
    );
    let long_doc = stdout_json(
        "--store show long",
        &run_store(by_store(&["show", &long, "--json"]), 0).await,
    );
    let last = long_doc["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["type"], &last["by"]),
        (&json!("cancelled"), &json!("admin:cli"))
    );
    run_store(by_store(&["cancel", &long]), 1).await;

    let health = run_store(by_store(&["health"]), 0).await;
    assert!(
        health.stdout.contains("ready: store ok"),
        "{}",
        show(&health)
    );
    assert!(
        health.stdout.contains("completed 1, failed 0, cancelled 1"),
        "{}",
        show(&health)
    );

    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let purged = stdout_json(
        "--store purge",
        &run_store(by_store(&["purge", "--before", &later, "--json"]), 0).await,
    );
    assert_eq!(purged, json!({"purged": 2}));
    let empty = run_store(by_store(&["list"]), 0).await;
    assert_eq!(empty.stdout, "", "{}", show(&empty));
    assert!(empty.stderr.contains("no tasks match"), "{}", show(&empty));

    let missing = PathBuf::from(scratch.file("missing.sqlite3"));
    let gone = run_expecting(
        &[
            "admin",
            "--store",
            &format!("sqlite:{}", missing.display()),
            "list",
        ],
        3,
    )
    .await;
    assert!(gone.stderr.contains("does not exist"), "{}", show(&gone));
    assert!(!missing.exists(), "looking does not create a store");
}

/// Issue 15 item 2: without --admin-token-file a token is generated and the login URL printed;
/// that URL is all `admin` needs. The gateway serves the same listener, with its upstream.
#[tokio::test]
async fn a_generated_token_comes_with_a_login_url_for_serve_and_gateway() {
    let (server, url) = serve_with_admin("memory", &[]).await;
    let stderr = server.stderr();
    let login = stderr
        .lines()
        .find_map(|l| {
            l.find(&format!("{url}#token="))
                .map(|at| l[at..].to_owned())
        })
        .unwrap_or_else(|| panic!("no login URL on stderr:\n{stderr}"));
    let health = run_expecting(&["admin", "--url", &login, "health", "--json"], 0).await;
    assert_eq!(
        stdout_json("health", &health)["ready"]["status"],
        json!("ready")
    );
    run_expecting(&["admin", "--url", &url, "health"], 3).await;
    drop(server);

    let exe = bin().display().to_string();
    let args: Vec<String> = [
        "gateway",
        "--store",
        "memory",
        "--http",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--",
        &exe,
        "serve",
        "--store",
        "memory",
    ]
    .map(str::to_owned)
    .to_vec();
    let gateway = HttpServer::spawn_command(bin(), &args)
        .await
        .terminate_on_drop();
    let stderr = gateway.stderr();
    let url = admin_url(&stderr);
    let login = stderr
        .lines()
        .find_map(|l| {
            l.find(&format!("{url}#token="))
                .map(|at| l[at..].to_owned())
        })
        .unwrap_or_else(|| panic!("no login URL on stderr:\n{stderr}"));
    let overview = stdout_json(
        "gateway health",
        &run_expecting(&["admin", "--url", &login, "health", "--json"], 0).await,
    );
    assert_eq!(overview["server"]["role"], json!("gateway"), "{overview}");
    assert_eq!(overview["upstream"]["state"], json!("up"), "{overview}");
}

/// Issue 15 items 2 and 3: a bad command line is exit 2, saying what is wrong.
#[tokio::test]
async fn usage_errors_exit_2_saying_why() {
    let scratch = Scratch::new();
    let empty = scratch.file("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let admin = |more: &[&str]| -> Vec<String> {
        ["admin", "--url", url.as_str(), "--token", TOKEN]
            .iter()
            .chain(more)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            admin(&["list", "--older-than", "3x"]),
            "give an age like 30s, 10m, 2h or 7d",
        ),
        (
            admin(&["list", "--status", "running"]),
            "invalid value 'running' for '--status",
        ),
        (
            admin(&["purge", "--before", "yesterday"]),
            "is not a date; use RFC 3339",
        ),
        (
            admin(&["purge", "--before", "2026-12-01", "--older-than", "7d"]),
            "'--before <DATE>' cannot be used with '--older-than <DURATION>'",
        ),
        (
            admin(&["purge"]),
            "<--before <DATE>|--older-than <DURATION>>",
        ),
        (admin(&["list", "--limit", "0"]), "--limit"),
        (
            vec!["admin".into(), "list".into()],
            "say where the tasks are: --url http://ADDR",
        ),
        (
            [
                "admin",
                "--url",
                url.as_str(),
                "--token-file",
                empty.as_str(),
                "list",
            ]
            .map(str::to_owned)
            .to_vec(),
            "is empty",
        ),
        (
            ["admin", "--url", "localhost:9090", "list"]
                .map(str::to_owned)
                .to_vec(),
            "is not an http:// URL",
        ),
        (admin(&["show", ""]), "a task id is not empty"),
        (admin(&["cancel", ""]), "a task id is not empty"),
        (
            admin(&["cancel", "t-1", "--message", ""]),
            "give a message or leave out --message",
        ),
        (
            admin(&["--token-file", "/dev/zero", "list"]),
            "/dev/zero is not a file",
        ),
        (
            admin(&["--token-file", "/dev/urandom", "list"]),
            "/dev/urandom is not a file",
        ),
        (
            [
                "serve",
                "--store",
                "memory",
                "--admin",
                "127.0.0.1:0",
                "--admin-token-file",
                "/dev/zero",
            ]
            .map(str::to_owned)
            .to_vec(),
            "/dev/zero is not a file",
        ),
        (
            ["admin", "--store", "memory", "list"]
                .map(str::to_owned)
                .to_vec(),
            "--store memory is a server's own memory",
        ),
        (
            ["serve", "--store", "memory", "--admin", "0.0.0.0:0"]
                .map(str::to_owned)
                .to_vec(),
            "--admin 0.0.0.0:0 is not a loopback address",
        ),
        (
            [
                "serve",
                "--store",
                "memory",
                "--admin",
                "127.0.0.1:0",
                "--admin-token-file",
                empty.as_str(),
            ]
            .map(str::to_owned)
            .to_vec(),
            "is empty",
        ),
        (
            [
                "serve",
                "--store",
                "memory",
                "--admin-token-file",
                empty.as_str(),
            ]
            .map(str::to_owned)
            .to_vec(),
            "add --admin ADDR",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let done = run_expecting(&args, 2).await;
        assert!(
            done.stderr.contains(needle),
            "{args:?}: no {needle:?} in\n{}",
            show(&done)
        );
        assert_eq!(done.stdout, "", "{args:?}");
    }
}

/// The characters of a hostile task text: ESC sequences (colour, an OSC title), BEL, DEL, an
/// 8-bit CSI, a right-to-left override and a newline.
const HOSTILE: &str = "\u{1b}[31mRED\u{1b}[0m \u{1b}]0;owned\u{7}\u{7f}\u{9b}2J\u{202e}evil\nnext";

/// Whether a terminal would act on `c` rather than show it.
fn is_unsafe(c: char) -> bool {
    c != '\n' && (c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
}

/// Every string in a JSON document.
fn strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(s) => into.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
        Value::Object(map) => map.values().for_each(|v| strings(v, into)),
        _ => {}
    }
}

/// Review of issue 15 (review-ux 2.1, 2.2, 2.3, 2.5): a task's text reaches the operator's
/// terminal escaped, and exactly in `--json`; a URL with no admin API is exit 3, not "unknown
/// task"; an answer larger than any the API gives is refused; a closed stdout ends quietly.
#[tokio::test]
async fn hostile_texts_wrong_urls_huge_answers_and_closed_pipes() {
    let scratch = Scratch::new();
    let token = scratch.token_file();
    let (server, url) = serve_with_admin("memory", &["--admin-token-file", &token]).await;
    call(server.url(), "fail", json!({ "message": HOSTILE }), None, 1).await;
    let admin = |more: &[&str]| -> Vec<String> {
        [
            "admin",
            "--url",
            url.as_str(),
            "--token-file",
            token.as_str(),
        ]
        .iter()
        .chain(more)
        .map(|s| (*s).to_owned())
        .collect()
    };
    let run_admin = |more: Vec<String>, want: i32| async move {
        let args: Vec<&str> = more.iter().map(String::as_str).collect();
        run_expecting(&args, want).await
    };
    let listed = stdout_json(
        "list --json",
        &run_admin(admin(&["list", "--json"]), 0).await,
    );
    let id = id_of(&listed, "fail");
    let shown = run_admin(admin(&["show", &id, "--json"]), 0).await;
    assert!(
        !shown.stdout.chars().any(is_unsafe),
        "raw control characters in --json:\n{:?}",
        shown.stdout
    );
    let mut texts = Vec::new();
    strings(&stdout_json("show --json", &shown), &mut texts);
    assert!(
        texts.iter().any(|t| t.contains(HOSTILE)),
        "--json keeps the text exactly: {texts:?}"
    );
    // The table clips the message at 60 characters; `show` has room for all of it.
    for (args, wanted) in [
        (admin(&["list"]), &[r"\u{1b}[31mRED\u{1b}[0m"][..]),
        (
            admin(&["show", &id]),
            &[
                r"\u{1b}[31mRED\u{1b}[0m",
                r"\u{7f}\u{9b}2J\u{202e}evil next",
            ],
        ),
    ] {
        let done = run_admin(args.clone(), 0).await;
        assert!(
            !done.stdout.chars().any(is_unsafe),
            "{args:?} wrote raw control characters:\n{:?}",
            done.stdout
        );
        for want in wanted {
            assert!(
                done.stdout.contains(want),
                "{args:?} shows {want:?}:\n{}",
                show(&done)
            );
        }
    }

    // A path with no admin API is "not there" (3); an unknown task stays "refused" (1).
    let beside = format!("{url}sub/");
    let wrong = run_expecting(
        &["admin", "--url", &beside, "--token-file", &token, "list"],
        3,
    )
    .await;
    assert!(
        wrong.stderr.contains("no admin API at") && wrong.stderr.contains("/sub/api/tasks"),
        "{}",
        show(&wrong)
    );
    run_admin(admin(&["show", "no-such-task"]), 1).await;

    // A closed stdout: `admin list | head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let args = admin(&["list"]);
    let child = without_terminal(bin())
        .args(&args)
        .env_remove("MCP_TASKS_ADMIN_URL")
        .env_remove("MCP_TASKS_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("admin list into a closed pipe ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "", "a closed stdout ends quietly");
    drop(server);

    // Something that is not the admin API answers without end.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endless = format!("http://{}/", listener.local_addr().unwrap());
    let flood = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x10_0000));
        // Until the client hangs up; bounded so a client that never does cannot keep it going.
        for _ in 0..1024 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let huge = run_expecting(&["admin", "--url", &endless, "--token", TOKEN, "list"], 3).await;
    assert!(
        huge.stderr.contains("answered with more than 64 MiB"),
        "{}",
        show(&huge)
    );
    flood.abort();
}

/// Review of issue 15 (review-ux 2.4): the server names an unreadable token file's cause once.
#[tokio::test]
async fn a_missing_token_file_is_named_with_its_cause_once() {
    let scratch = Scratch::new();
    let missing = scratch.file("no-such.token");
    let done = run_expecting(
        &[
            "serve",
            "--store",
            "memory",
            "--admin",
            "127.0.0.1:0",
            "--admin-token-file",
            &missing,
        ],
        2,
    )
    .await;
    assert!(done.stderr.contains(&missing), "{}", show(&done));
    assert_eq!(
        done.stderr.matches("os error 2").count(),
        1,
        "{}",
        show(&done)
    );
}

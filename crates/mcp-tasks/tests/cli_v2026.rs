//! The terminal client in MCP 2026-07-28, end to end: the real binary against `mcp-tasks serve`
//! (which speaks both eras) over Streamable HTTP and over stdio, and against a server that
//! speaks only 2025-11-25 (the TypeScript SDK 1.x task server of `tests/interop`), as a script
//! would run it (stderr a pipe: one plain status line per change).
//!
//! What is checked is what a person sees and the exit status (`cmd/exit.rs`): the same in both
//! eras. What goes on the wire is checked by `crates/runtime/tests/client_v2026.rs`.

mod common;
mod nodejs;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::bin;
use testkit::http::HttpServer;
use testkit::process::{assert_exit, run_to_exit, show, stdout_json, without_terminal, Finished};
use testkit::store::TempStore;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long one client command may take before the test fails (and kills it).
const LIMIT: Duration = Duration::from_secs(30);
/// How long a running command may take to print a line the test waits for.
const LINE_LIMIT: Duration = Duration::from_secs(20);

/// `mcp-tasks ARGS…` with stdin closed, to its exit (bounded).
async fn mcp(args: &[&str]) -> Finished {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_to_exit(bin(), &args, LIMIT).await
}

/// `mcp-tasks ARGS… --url URL`.
async fn mcp_url(server: &HttpServer, args: &[&str]) -> Finished {
    mcp(&[args, &["--url", server.url()]].concat()).await
}

/// `mcp-tasks ARGS… -- mcp-tasks serve --store memory`: over stdio.
async fn mcp_stdio(args: &[&str]) -> Finished {
    let server = bin().display().to_string();
    mcp(&[args, &["--", &server, "serve", "--store", "memory"]].concat()).await
}

#[track_caller]
fn assert_stderr(what: &str, f: &Finished, needle: &str) {
    assert!(
        f.stderr.contains(needle),
        "{what}: no {needle:?} on stderr\n{}",
        show(f)
    );
}

/// The full task id of the plain `task <id> created (kept for …)` line.
fn created_id(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("task ")?;
    let (id, after) = rest.split_once(' ')?;
    after.starts_with("created").then(|| id.to_owned())
}

/// The id of the task a finished command created, from its stderr.
#[track_caller]
fn created_in(what: &str, f: &Finished) -> String {
    f.stderr
        .lines()
        .find_map(created_id)
        .unwrap_or_else(|| panic!("{what}: no `task <id> created` line\n{}", show(f)))
}

/// An answers file, removed on drop.
struct Answers {
    _dir: TempStore,
    path: String,
}

impl Answers {
    fn new(json: &str) -> Self {
        let dir = TempStore::new();
        let path = dir.dir().join("answers.json");
        std::fs::write(&path, json).unwrap();
        Self {
            path: path.display().to_string(),
            _dir: dir,
        }
    }
}

/// A client command left running, its stderr read line by line.
struct Running {
    child: Child,
    pid: u32,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
    readers: JoinHandle<Vec<u8>>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let mut child = without_terminal(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin().display()));
        let pid = child.id().expect("a running child has a pid");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::unbounded_channel();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut out = child.stdout.take().unwrap();
        let all = stderr.clone();
        let readers = tokio::spawn(async move {
            let errs = async {
                while let Ok(Some(line)) = err.next_line().await {
                    all.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            };
            let mut bytes = Vec::new();
            let (_, _) = tokio::join!(errs, out.read_to_end(&mut bytes));
            bytes
        });
        Self {
            child,
            pid,
            lines,
            stderr,
            readers,
        }
    }

    /// Waits (bounded) for a stderr line `pick` maps to something.
    async fn wait_line<T>(&mut self, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        let found = tokio::time::timeout(LINE_LIMIT, async {
            while let Some(line) = self.lines.recv().await {
                if let Some(found) = pick(&line) {
                    return Some(found);
                }
            }
            None
        })
        .await;
        found.ok().flatten().unwrap_or_else(|| {
            panic!(
                "no {what} on stderr; stderr:\n{}",
                self.stderr.lock().unwrap()
            )
        })
    }

    async fn finish(mut self) -> Finished {
        let started = std::time::Instant::now();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running; stderr:\n{}", self.stderr.lock().unwrap()))
            .unwrap();
        let stdout = tokio::time::timeout(LINE_LIMIT, &mut self.readers)
            .await
            .expect("the output ends")
            .unwrap_or_default();
        Finished {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: self.stderr.lock().unwrap().clone(),
            elapsed: started.elapsed(),
        }
    }
}

/// Sends SIGINT (what Ctrl-C sends) to `pid`.
fn sigint(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("`kill` runs");
    assert!(status.success());
}

/// B-8, B-1, X-1 (client side): against `mcp-tasks serve` the client discovers 2026-07-28, over
/// HTTP and over stdio: `tools` then shows that the server decides which call is a task.
#[tokio::test]
async fn discovery_picks_2026_against_mcp_tasks_serve() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let debug = ["--log", "mcp_tasks_runtime=debug"];
    for (via, run) in [
        (
            "http",
            mcp_url(&server, &[&["tools"][..], &debug].concat()).await,
        ),
        ("stdio", mcp_stdio(&[&["tools"][..], &debug].concat()).await),
    ] {
        assert_exit(via, &run, 0);
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("ask_name") && l.contains("task:server")),
            "{via}: {}",
            show(&run)
        );
        assert!(
            !run.stderr.contains("initializing a 2025-11-25 session"),
            "{}",
            show(&run)
        );
    }
    // Told 2025-11-25, the same server shows each tool's own taskSupport.
    let old = mcp_url(&server, &["tools", "--protocol", "2025-11-25"]).await;
    assert_exit("tools --protocol 2025-11-25", &old, 0);
    assert!(
        old.stdout
            .lines()
            .any(|l| l.starts_with("ask_name") && l.contains("task:required")),
        "{}",
        show(&old)
    );
}

/// X-2, X-3 (client side): a call the server makes a task (a slow `slow_echo`, with or without
/// `--task`) is followed, status line and all, to the result inlined by `tasks/get`; a quick
/// one is answered at once. HTTP discovered, stdio forced with `--protocol 2026-07-28`.
#[tokio::test]
async fn a_task_is_followed_to_completion() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let slow = r#"{"text":"slowly","delay_ms":1500}"#;
    for (via, run) in [
        ("http", mcp_url(&server, &["call", "slow_echo", slow]).await),
        (
            "stdio",
            mcp_stdio(&[
                "call",
                "slow_echo",
                slow,
                "--task",
                "--protocol",
                "2026-07-28",
            ])
            .await,
        ),
    ] {
        assert_exit(via, &run, 0);
        assert_eq!(run.stdout.trim(), "slowly", "{via}: {}", show(&run));
        created_in(via, &run);
        assert_stderr(via, &run, "working");
        assert_stderr(via, &run, "completed");
    }
    let quick = mcp_url(
        &server,
        &["call", "slow_echo", r#"{"text":"fast","delay_ms":1}"#],
    )
    .await;
    assert_exit("a quick call", &quick, 0);
    assert_eq!(quick.stdout.trim(), "fast");
    assert!(
        !quick.stderr.contains("created"),
        "no task: {}",
        show(&quick)
    );

    // --ttl is not sent in this era, and the command says so.
    let ttl = mcp_url(
        &server,
        &["call", "slow_echo", slow, "--task", "--ttl", "60000"],
    )
    .await;
    assert_exit("--ttl in 2026-07-28", &ttl, 0);
    assert_stderr("--ttl in 2026-07-28", &ttl, "--ttl is not sent");
}

/// X-5, X-3 (client side): the question of a task (`ask_name`) comes in `inputRequests`, is
/// answered from the `--answers` file with `tasks/update`, and the task completes with it; over
/// HTTP and stdio.
#[tokio::test]
async fn a_question_is_answered_with_tasks_update() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let answers = Answers::new(r#"{"name":"Ada"}"#);
    for (via, run) in [
        (
            "http",
            mcp_url(&server, &["call", "ask_name", "--answers", &answers.path]).await,
        ),
        (
            "stdio",
            mcp_stdio(&["call", "ask_name", "--answers", &answers.path]).await,
        ),
    ] {
        assert_exit(via, &run, 0);
        assert_eq!(run.stdout.trim(), "Hello, Ada!", "{via}: {}", show(&run));
        assert_stderr(via, &run, "input_required");
    }
    // Nobody to ask and no file: the question is answered `cancel`, as in 2025-11-25.
    let nobody = mcp_url(&server, &["call", "ask_name"]).await;
    assert_stderr("no answers", &nobody, "nobody is at the terminal");
}

/// `mcp-tasks serve --fixtures conformance` over HTTP: the official suite's tools, among them
/// the MRTR ones and tasks that fail in each way.
async fn fixtures() -> HttpServer {
    HttpServer::spawn(bin(), &["--fixtures", "conformance"]).await
}

/// X-4, X-3 (client side): a tool error completes the task (`completed`, `isError`), exit 1 as
/// a failed tool task in 2025-11-25; `tasks get --json` shows the task with its result inlined,
/// and the same task reads `failed` in 2025-11-25. A task failed with a JSON-RPC error exits 3.
#[tokio::test]
async fn a_tool_error_exits_1_and_get_shows_the_inlined_result() {
    let server = fixtures().await;
    let run = mcp_url(&server, &["call", "failing_job"]).await;
    assert_exit("call failing_job", &run, 1);
    assert!(
        run.stdout.contains("failed, as it always does"),
        "{}",
        show(&run)
    );
    assert_stderr("call failing_job", &run, "completed");
    let id = created_in("call failing_job", &run);
    let get = mcp_url(&server, &["tasks", "get", &id, "--json"]).await;
    assert_exit("tasks get --json", &get, 0);
    let task = stdout_json("tasks get --json", &get);
    assert_eq!(task["taskId"], id.as_str());
    assert_eq!(task["status"], "completed", "{task:#}");
    assert_eq!(task["resultType"], "complete");
    assert_eq!(task["result"]["isError"], true, "{task:#}");
    assert!(task.get("ttlMs").is_some(), "{task:#}");
    let old = mcp_url(
        &server,
        &["tasks", "get", &id, "--json", "--protocol", "2025-11-25"],
    )
    .await;
    assert_eq!(stdout_json("2025 get", &old)["status"], "failed");

    let broken = mcp_url(&server, &["call", "protocol_error_job"]).await;
    assert_exit("call protocol_error_job", &broken, 3);
    assert_stderr("call protocol_error_job", &broken, "failed");
    assert_stderr("call protocol_error_job", &broken, "as it always does");
}

/// B-6 (client side): questions asked within the request are answered from the `--answers`
/// file, round after round (`requestState` echoed), and the result printed; a call that asks
/// first and then becomes a task is followed like any other (MRTR then task). Over HTTP and
/// stdio.
#[tokio::test]
async fn input_required_rounds_are_answered_from_the_terminal() {
    let server = fixtures().await;
    let answers = Answers::new(r#"[{"name":"Ada"},{"color":"teal"}]"#);
    let spawned = bin().display().to_string();
    let stdio = [
        "--",
        &spawned,
        "serve",
        "--store",
        "memory",
        "--fixtures",
        "conformance",
    ];
    let rounds = [
        "call",
        "test_input_required_result_multi_round",
        "--answers",
        &answers.path,
    ];
    for (via, run) in [
        ("http", mcp_url(&server, &rounds).await),
        ("stdio", mcp(&[&rounds[..], &stdio].concat()).await),
    ] {
        assert_exit(via, &run, 0);
        assert!(
            run.stdout.contains("Ada") && run.stdout.contains("teal"),
            "{via}: {}",
            show(&run)
        );
        assert!(
            !run.stderr.contains("created"),
            "{via}: no task: {}",
            show(&run)
        );
    }
    let name = Answers::new(r#"{"name":"Grace"}"#);
    let run = mcp_url(
        &server,
        &["call", "test_tool_with_task", "--answers", &name.path],
    )
    .await;
    assert_exit("MRTR then a task", &run, 0);
    assert!(run.stdout.contains("Hello, Grace!"), "{}", show(&run));
    created_in("MRTR then a task", &run);
}

/// X-6 (client side): Ctrl-C while following a task sends `tasks/cancel`, reads the task until
/// it shows `cancelled`, says so, and exits 130; `tasks get` shows it cancelled.
#[tokio::test]
async fn ctrl_c_cancels_the_task() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let mut call = Running::start(&[
        "call",
        "slow_echo",
        r#"{"text":"x","delay_ms":30000}"#,
        "--url",
        server.url(),
    ]);
    let id = call.wait_line("`task <id> created`", created_id).await;
    sigint(call.pid);
    let call = call.finish().await;
    assert_exit("Ctrl-C while following", &call, 130);
    assert_stderr("Ctrl-C", &call, &format!("cancelling task {id}"));
    assert_stderr("Ctrl-C", &call, &format!("task {id} is cancelled"));
    assert!(call.stdout.is_empty(), "{}", show(&call));
    let get = mcp_url(&server, &["tasks", "get", &id, "--json"]).await;
    assert_eq!(stdout_json("tasks get", &get)["status"], "cancelled");
}

/// X-6 (client side): a task cancelled by another command ends the command following it with
/// exit 4; cancelling it again is acknowledged (exit 0), unlike 2025-11-25 (-32602, exit 3).
#[tokio::test]
async fn a_task_cancelled_elsewhere_exits_4_and_a_second_cancel_is_acknowledged() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let mut call = Running::start(&[
        "call",
        "slow_echo",
        r#"{"text":"x","delay_ms":30000}"#,
        "--url",
        server.url(),
    ]);
    let id = call.wait_line("`task <id> created`", created_id).await;
    let cancel = mcp_url(&server, &["tasks", "cancel", &id]).await;
    assert_exit("tasks cancel", &cancel, 0);
    assert!(
        cancel.stdout.starts_with(&id) && cancel.stdout.contains("cancelled"),
        "{}",
        show(&cancel)
    );
    let call = call.finish().await;
    assert_exit("the call whose task was cancelled", &call, 4);
    let again = mcp_url(&server, &["tasks", "cancel", &id]).await;
    assert_exit("a second tasks cancel", &again, 0);
    let old = mcp_url(
        &server,
        &["tasks", "cancel", &id, "--protocol", "2025-11-25"],
    )
    .await;
    assert_exit("a second cancel in 2025-11-25", &old, 3);
}

/// X-7 (client side): no `tasks/list` or `tasks/result` in 2026-07-28: told that era, the
/// commands exit 2 saying what to do instead; against a server that speaks both they use
/// 2025-11-25 and work. A version the client does not speak is a usage error.
#[tokio::test]
async fn list_and_result_need_2025() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let made = mcp_url(
        &server,
        &["call", "slow_echo", r#"{"text":"kept","delay_ms":1500}"#],
    )
    .await;
    let id = created_in("call", &made);

    let list = mcp_url(&server, &["tasks", "list", "--protocol", "2026-07-28"]).await;
    assert_exit("tasks list in 2026-07-28", &list, 2);
    assert_stderr("tasks list", &list, "no tasks/list");
    let result = mcp_url(
        &server,
        &["tasks", "result", &id, "--protocol", "2026-07-28"],
    )
    .await;
    assert_exit("tasks result in 2026-07-28", &result, 2);
    assert_stderr("tasks result", &result, &format!("tasks get {id} --json"));

    let discovered = mcp_url(&server, &["tasks", "result", &id]).await;
    assert_exit("tasks result, discovered", &discovered, 0);
    assert_eq!(discovered.stdout.trim(), "kept");
    let listed = mcp_url(&server, &["tasks", "list"]).await;
    assert_exit("tasks list, discovered", &listed, 0);

    let bad = mcp_url(&server, &["tools", "--protocol", "2024-11-05"]).await;
    assert_exit("--protocol 2024-11-05", &bad, 2);
    assert_stderr("--protocol 2024-11-05", &bad, "2026-07-28");
    let unknown = mcp_url(&server, &["call", "no_such_tool"]).await;
    assert_exit("an unknown tool", &unknown, 3);
}

// ---------------------------------------------------------------------------------------------
// A server that speaks only 2025-11-25: the TypeScript SDK 1.x task server of tests/interop

fn interop_dir() -> std::path::PathBuf {
    nodejs::package_dir("interop")
}

/// Installs `tests/interop`'s pinned packages when they are missing (`npm ci`), as
/// `tests/interop.rs` does; panics saying what is missing.
fn ts_server_deps() {
    nodejs::ready(&interop_dir());
}

/// B-8 (client side) against a real 2025-11-25-only server over stdio: `server/discover` gets
/// an error, the client initializes, and the task runs as in 2025-11-25; told 2026-07-28, the
/// client neither asks nor falls back (this server happens to answer `tools/list` without a
/// session).
#[tokio::test]
async fn a_2025_only_server_gets_initialize() {
    ts_server_deps();
    let server = interop_dir().join("server.mjs").display().to_string();
    let ts = ["--", "node", server.as_str()];
    let run = mcp(&[
        &[
            "call",
            "slow_echo",
            r#"{"text":"old","delay_ms":100}"#,
            "--task",
        ][..],
        &["--log", "mcp_tasks_runtime=debug"],
        &ts,
    ]
    .concat())
    .await;
    assert_exit("call against the 2025-only server", &run, 0);
    assert_eq!(run.stdout.trim(), "old", "{}", show(&run));
    assert_stderr("fallback", &run, "initializing a 2025-11-25 session");
    let forced = mcp(&[
        &["tools", "--protocol", "2026-07-28"][..],
        &["--log", "mcp_tasks_runtime=debug"],
        &ts,
    ]
    .concat())
    .await;
    assert_exit(
        "--protocol 2026-07-28 against a 2025-only server",
        &forced,
        0,
    );
    assert!(!forced.stderr.contains("initializing"), "{}", show(&forced));
}

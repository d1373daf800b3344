//! Interop with another implementation of MCP 2026-07-28 and its tasks extension: our terminal
//! client (`mcp-tasks call`, `mcp-tasks tasks get`) against a task server written with the
//! official Rust SDK, `rmcp` 3.11.0 from crates.io (`examples/rmcp_task_server.rs`), over stdio
//! (the client spawns it after `--`) and over Streamable HTTP (rmcp checks the `Mcp-Method` and
//! `Mcp-Name` headers and answers a wrong one with HTTP 400).
//!
//! The fixture runs with `--log`: one stderr line per request it receives (method, tool or task,
//! the protocol version of the request). Over stdio the client passes that stderr through as its
//! own, over HTTP the test reads it from the fixture; either way the test sees what the client
//! sent as rmcp understood it, not only what the client printed.
//!
//! The exit statuses are those of `cmd/exit.rs`: 0 success, 1 the tool reported an error, 130
//! Ctrl-C (the task is cancelled first). Every command is bounded in time and loopback-only.

mod common;

use std::path::PathBuf;
use std::process::{Command as StdCommand, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::bin;
use serde_json::Value;
use testkit::process::{
    exit_code as code, run_to_exit, show, without_terminal, Finished, SETTINGS_ENV,
};
use testkit::store::TempStore;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin, Command};

/// How long one client command may take before the test fails (and kills it).
const LIMIT: Duration = Duration::from_secs(30);
/// How long a running process may take to print a line the test waits for.
const LINE_LIMIT: Duration = Duration::from_secs(20);
/// How every line of the fixture's `--log` starts.
const LOG: &str = "rmcp-task-server:";

// ---------------------------------------------------------------------------------------------
// The fixture

/// The `rmcp_task_server` example, built on first use (a no-op when `cargo test` already built
/// the examples), so this file runs alone too.
fn fixture() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = StdCommand::new(cargo);
        build.args(["build", "-p", "mcp-tasks", "--example", "rmcp_task_server"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(
            status.success(),
            "building the rmcp example failed: {status}"
        );
        examples_dir()
            .join("rmcp_task_server")
            .display()
            .to_string()
    })
}

/// `target/<profile>/examples/`, where cargo puts the example binaries beside this test's.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/rmcp_interop-<hash> → target/<profile>/examples
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary sits in target/<profile>/deps")
        .join("examples")
}

/// An output stream being read into a buffer as it comes, which the test can wait on.
#[derive(Clone, Default)]
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Set once the stream ended: nothing the test waits for can come any more.
    ended: Arc<AtomicBool>,
}

impl Captured {
    fn read(mut stream: impl AsyncRead + Unpin + Send + 'static) -> Self {
        let captured = Self::default();
        let (bytes, ended) = (Arc::clone(&captured.bytes), Arc::clone(&captured.ended));
        tokio::spawn(async move {
            let mut chunk = [0_u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                bytes.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
            ended.store(true, Ordering::SeqCst);
        });
        captured
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until `check` maps the text so far to something, and returns that.
    async fn wait_until<T>(&self, what: &str, check: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + LINE_LIMIT;
        loop {
            // Read `ended` first: a stream that ended before this look has all its text in it.
            let ended = self.ended.load(Ordering::SeqCst);
            if let Some(found) = check(&self.text()) {
                return found;
            }
            assert!(
                !ended,
                "no {what}: the output ended; it was:\n{}",
                self.text()
            );
            assert!(
                Instant::now() < deadline,
                "no {what} within {LINE_LIMIT:?}; so far:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (bounded) for a whole line that `pick` maps to something, and returns that.
    async fn wait_for<T>(&self, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        self.wait_until(what, |text| {
            let whole = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
            whole.lines().find_map(&pick)
        })
        .await
    }
}

/// The task id of the fixture's `started task ID` line.
/// Waits until the client says it has task `id`: the fixture logs the task before it answers,
/// and a Ctrl-C before the answer arrives abandons the call instead of cancelling the task.
async fn knows_the_task(call: &Running, id: &str) {
    let created = format!("task {id} created");
    call.stderr
        .wait_for("the client's `task ID created`", |line| {
            line.contains(&created).then_some(())
        })
        .await;
}

fn started_task(line: &str) -> Option<String> {
    let id = line
        .split_once(LOG)?
        .1
        .trim()
        .strip_prefix("started task ")?;
    Some(id.to_owned())
}

/// The fixture serving Streamable HTTP on a loopback port. Killed on drop.
struct RmcpHttp {
    _child: Child,
    url: String,
    stderr: Captured,
}

impl RmcpHttp {
    async fn spawn() -> Self {
        let mut child = Command::new(fixture())
            .args(["--log", "--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", fixture()));
        let stderr = Captured::read(child.stderr.take().expect("stderr is piped"));
        let url = stderr
            .wait_for(
                "`listening on http://…/mcp` from the rmcp fixture",
                |line| {
                    let url = line.strip_prefix("listening on ")?;
                    url.ends_with("/mcp").then(|| url.to_owned())
                },
            )
            .await;
        Self {
            _child: child,
            url,
            stderr,
        }
    }

    /// The fixture's `--log` lines so far.
    fn log(&self) -> String {
        self.stderr.text()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the client

/// `mcp-tasks ARGS… -- rmcp_task_server --log` (stdio), to its exit. The arguments are copied
/// before the returned future starts, so several can be joined.
fn over_stdio(args: &[&str]) -> impl std::future::Future<Output = Finished> {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--".to_owned(), fixture().to_owned(), "--log".to_owned()]);
    async move { run_to_exit(bin(), &all, LIMIT).await }
}

/// `mcp-tasks ARGS… --url URL` against the HTTP fixture, to its exit (arguments copied too).
fn over_http(server: &RmcpHttp, args: &[&str]) -> impl std::future::Future<Output = Finished> {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--url".to_owned(), server.url.clone()]);
    async move { run_to_exit(bin(), &all, LIMIT).await }
}

/// Panics unless the command exited with `want` and printed `stdout` (trimmed).
#[track_caller]
fn assert_run(what: &str, f: &Finished, want: i32, stdout: &str) {
    assert_eq!(code(f.status), want, "{what}: exit status\n{}", show(f));
    assert_eq!(f.stdout.trim(), stdout, "{what}: stdout\n{}", show(f));
}

/// Panics unless the fixture logged a line containing each of `needles` (in `log`).
#[track_caller]
fn assert_logged(what: &str, log: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            log.lines()
                .any(|l| l.starts_with(LOG) && l.contains(needle)),
            "{what}: the rmcp fixture never logged {needle:?}; its log:\n{log}"
        );
    }
}

/// Every request the fixture logged named protocol 2026-07-28 and declared the extension.
#[track_caller]
fn assert_all_2026(what: &str, log: &str) {
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with(LOG) && l.contains("(protocol "))
        .collect();
    assert!(!requests.is_empty(), "{what}: no request logged:\n{log}");
    for line in requests {
        assert!(
            line.ends_with("(protocol 2026-07-28)"),
            "{what}: B-2: a request without the 2026-07-28 `_meta` version: {line}\n{log}"
        );
        assert!(
            !line.contains("no tasks"),
            "{what}: X-1: a tools/call that did not declare the extension: {line}\n{log}"
        );
    }
}

/// An answers file in a scratch directory, removed on drop.
struct Answers {
    _dir: TempStore,
    path: String,
}

impl Answers {
    fn new(contents: &str) -> Self {
        let dir = TempStore::new();
        let path = dir.dir().join("answers.json");
        std::fs::write(&path, contents).expect("write the answers file");
        Self {
            path: path.display().to_string(),
            _dir: dir,
        }
    }
}

/// A client command left running, its stderr captured as it comes.
struct Running {
    child: Child,
    pid: u32,
    stderr: Captured,
    stdout: tokio::task::JoinHandle<Vec<u8>>,
}

impl Running {
    /// Starts `mcp-tasks ARGS…` with stdin closed and no controlling terminal.
    fn start(args: &[&str]) -> Self {
        let mut child = without_terminal(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin().display()));
        let pid = child.id().expect("a child that was just spawned has a pid");
        let stderr = Captured::read(child.stderr.take().expect("stderr is piped"));
        let mut out = child.stdout.take().expect("stdout is piped");
        let stdout = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes).await;
            bytes
        });
        Self {
            child,
            pid,
            stderr,
            stdout,
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) with the `kill` utility.
    fn sigint(&self) {
        let status = StdCommand::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status()
            .expect("`kill` runs");
        assert!(
            status.success(),
            "`kill -INT {}` failed: {status}",
            self.pid
        );
    }

    /// Waits (bounded) for the exit, with everything printed.
    async fn finish(mut self) -> Finished {
        let started = Instant::now();
        let Ok(status) = tokio::time::timeout(LIMIT, self.child.wait()).await else {
            let _ = self.child.start_kill();
            panic!(
                "the client did not exit within {LIMIT:?}; stderr:\n{}",
                self.stderr.text()
            );
        };
        let stdout = tokio::time::timeout(LINE_LIMIT, &mut self.stdout)
            .await
            .expect("the client's stdout ends")
            .unwrap_or_default();
        // The last lines may still be on their way (a spawned server can outlive the client).
        let ended = self
            .stderr
            .wait_until("the end of the client's stderr", |_| {
                self.stderr.ended.load(Ordering::SeqCst).then_some(())
            });
        ended.await;
        Finished {
            status: status.expect("wait for the client"),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: self.stderr.text(),
            elapsed: started.elapsed(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// B-8 (client side), B-1, B-2, X-1: without `--protocol` the client asks `server/discover`,
/// finds 2026-07-28 among rmcp's `supportedVersions` (it speaks 2025 too) and the tasks
/// extension, and sends every request as 2026-07-28 with the extension declared; rmcp answers
/// `echo` at once (`resultType: "complete"`).
#[tokio::test]
async fn discovery_picks_2026_07_28() {
    let run = over_stdio(&["call", "echo", r#"{"text":"hi"}"#]).await;
    assert_run("call echo, era discovered", &run, 0, "hi");
    assert_logged(
        "discovery",
        &run.stderr,
        &["server/discover", "tools/call echo, tasks declared"],
    );
    assert_all_2026("discovery", &run.stderr);
    assert!(
        !run.stderr.contains("(protocol 2025-11-25)"),
        "B-8: no 2025-11-25 session once discovery found 2026-07-28: {}",
        show(&run)
    );
}

/// X-2, X-3, B-4 over stdio: rmcp makes `slow` a task (`resultType: "task"`); the client polls
/// `tasks/get` until `completed` and prints the inlined result.
#[tokio::test]
async fn a_slow_tool_runs_as_a_task_to_completion_over_stdio() {
    let run = over_stdio(&[
        "call",
        "slow",
        r#"{"seconds":0.5}"#,
        "--protocol",
        "2026-07-28",
    ])
    .await;
    assert_run("call slow over stdio", &run, 0, "slept 0.5s");
    let id = run
        .stderr
        .lines()
        .find_map(started_task)
        .unwrap_or_else(|| panic!("rmcp never started a task: {}", show(&run)));
    assert_logged(
        "follow over stdio",
        &run.stderr,
        &[&format!("tasks/get {id}: completed")],
    );
    assert_all_2026("follow over stdio", &run.stderr);
    assert!(
        !run.stderr.contains("server/discover"),
        "--protocol skips discovery: {}",
        show(&run)
    );
}

/// X-2, X-3, B-5, X-8 over Streamable HTTP: the same against rmcp's HTTP transport, which refuses
/// a request whose `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name` header is missing or does
/// not match the body (HTTP 400, -32020); so every request of the call passed that check.
#[tokio::test]
async fn a_slow_tool_runs_as_a_task_to_completion_over_http() {
    let server = RmcpHttp::spawn().await;
    let run = over_http(&server, &["call", "slow", r#"{"seconds":0.5}"#]).await;
    assert_run("call slow over HTTP", &run, 0, "slept 0.5s");
    let log = server.log();
    let id = log
        .lines()
        .find_map(started_task)
        .unwrap_or_else(|| panic!("rmcp never started a task; its log:\n{log}"));
    assert_logged(
        "follow over HTTP",
        &log,
        &["server/discover", &format!("tasks/get {id}: completed")],
    );
    assert_all_2026("follow over HTTP", &log);
}

/// X-4 (client side): a tool error is exit 1 with the tool's message, whether rmcp answers it at
/// once (`isError: true`) or as a task that `completed` with such a result.
#[tokio::test]
async fn tool_errors_exit_1() {
    let (plain, task) = tokio::join!(
        over_stdio(&["call", "fail", r#"{"message":"boom"}"#]),
        over_stdio(&["call", "fail_task", r#"{"message":"late boom"}"#]),
    );
    assert_run("a plain isError result", &plain, 1, "boom");
    assert_run("a task completed with isError", &task, 1, "late boom");
    assert!(
        task.stderr.lines().any(|l| started_task(l).is_some()),
        "fail_task ran as a task: {}",
        show(&task)
    );
    assert_all_2026("tool errors", &format!("{}{}", plain.stderr, task.stderr));
}

/// X-5: rmcp's task parks in `input_required` with an elicitation form in `inputRequests`; the
/// client answers it from the answers file with `tasks/update` (the key `name`), and the task
/// completes with the greeting. Over stdio and over HTTP.
#[tokio::test]
async fn a_question_inside_a_task_is_answered_with_tasks_update() {
    let answers = Answers::new(r#"{"name":"Ada"}"#);
    let server = RmcpHttp::spawn().await;
    let (stdio, http) = tokio::join!(
        over_stdio(&["call", "ask_name", "--answers", &answers.path]),
        over_http(&server, &["call", "ask_name", "--answers", &answers.path]),
    );
    for (what, run, log) in [
        ("ask_name over stdio", &stdio, stdio.stderr.clone()),
        ("ask_name over HTTP", &http, server.log()),
    ] {
        assert_run(what, run, 0, "Hello, Ada!");
        let id = log
            .lines()
            .find_map(started_task)
            .unwrap_or_else(|| panic!("{what}: rmcp never started a task; log:\n{log}"));
        assert_logged(
            what,
            &log,
            &[
                &format!("tasks/get {id}: input_required"),
                &format!("tasks/update {id} answers [\"name\"]"),
                &format!("tasks/get {id}: completed"),
            ],
        );
        assert_all_2026(what, &log);
    }
}

/// B-6: rmcp answers `greet` with `resultType: "input_required"` (no task); the client answers
/// the form and retries the call with `inputResponses` and the echoed `requestState`.
#[tokio::test]
async fn a_multi_round_trip_request_is_retried_with_the_answer() {
    let answers = Answers::new(r#"{"name":"Ada"}"#);
    let run = over_stdio(&["call", "greet", "--answers", &answers.path]).await;
    assert_run("call greet", &run, 0, "Hello, Ada!");
    assert_logged(
        "MRTR",
        &run.stderr,
        &[
            "tools/call greet, tasks declared",
            "tools/call greet (retry with inputResponses)",
        ],
    );
    assert!(
        !run.stderr.lines().any(|l| started_task(l).is_some()),
        "greet is no task: {}",
        show(&run)
    );
    assert_all_2026("MRTR", &run.stderr);
}

/// X-6, X-8 (client side): Ctrl-C while following rmcp's task sends `tasks/cancel` for it and exits
/// 130; rmcp's task honours the cancel, and `mcp-tasks tasks get ID` (2026-07-28 over HTTP) then
/// shows it `cancelled`.
#[tokio::test]
async fn ctrl_c_cancels_the_task_over_http() {
    let server = RmcpHttp::spawn().await;
    let call = Running::start(&["call", "slow", r#"{"seconds":30}"#, "--url", &server.url]);
    let id = server
        .stderr
        .wait_for("`started task ID` from the rmcp fixture", started_task)
        .await;
    knows_the_task(&call, &id).await;
    call.sigint();
    let call = call.finish().await;
    assert_eq!(code(call.status), 130, "Ctrl-C exits 130\n{}", show(&call));
    assert!(
        call.stdout.is_empty(),
        "no result is printed: {}",
        show(&call)
    );
    assert!(
        call.elapsed < Duration::from_secs(15),
        "the call ends soon after Ctrl-C, not when the tool would have: {}",
        show(&call)
    );
    assert_logged("Ctrl-C", &server.log(), &[&format!("tasks/cancel {id}")]);

    let get = over_http(&server, &["tasks", "get", &id, "--json"]).await;
    assert_eq!(code(get.status), 0, "tasks get\n{}", show(&get));
    let task: Value = serde_json::from_str(&get.stdout)
        .unwrap_or_else(|e| panic!("tasks get --json is not JSON ({e}): {}", show(&get)));
    assert_eq!(task["taskId"], id.as_str(), "{task:#}");
    assert_eq!(task["status"], "cancelled", "X-6: {task:#}");
    assert_logged(
        "tasks get",
        &server.log(),
        &[&format!("tasks/get {id}: cancelled")],
    );
    assert_all_2026("Ctrl-C over HTTP", &server.log());
}

/// X-6 over stdio: Ctrl-C sends `tasks/cancel` to the spawned rmcp server before the client exits
/// 130 (and takes the server with it).
#[tokio::test]
async fn ctrl_c_cancels_the_task_over_stdio() {
    let fixture = fixture();
    let call = Running::start(&["call", "slow", r#"{"seconds":30}"#, "--", fixture, "--log"]);
    let id = call
        .stderr
        .wait_for("`started task ID` from the rmcp fixture", started_task)
        .await;
    knows_the_task(&call, &id).await;
    call.sigint();
    let call = call.finish().await;
    assert_eq!(code(call.status), 130, "Ctrl-C exits 130\n{}", show(&call));
    assert!(
        call.stdout.is_empty(),
        "no result is printed: {}",
        show(&call)
    );
    assert_logged(
        "Ctrl-C over stdio",
        &call.stderr,
        &[&format!("tasks/cancel {id}")],
    );
    assert_all_2026("Ctrl-C over stdio", &call.stderr);
}

/// B-8 the other way: `--protocol 2025-11-25` against rmcp (which speaks both) starts a
/// 2025-11-25 session with `initialize` and no discovery; rmcp, seeing no tasks extension on
/// that request, runs `slow` inline and answers at once.
#[tokio::test]
async fn forcing_2025_11_25_talks_to_rmcp_as_a_2025_server() {
    let run = over_stdio(&[
        "call",
        "slow",
        r#"{"seconds":0.2}"#,
        "--protocol",
        "2025-11-25",
    ])
    .await;
    assert_run("call slow as 2025-11-25", &run, 0, "slept 0.2s");
    assert_logged(
        "2025-11-25",
        &run.stderr,
        &["tools/call slow, no tasks (protocol 2025-11-25)"],
    );
    assert!(
        !run.stderr.contains("server/discover") && !run.stderr.contains("(protocol 2026-07-28)"),
        "--protocol 2025-11-25 neither discovers nor sends 2026 requests: {}",
        show(&run)
    );
}

/// X-5 with a person at the terminal: rmcp's question inside the task becomes the same form as a
/// 2025 question ("Name *", then "Send?") in a real pseudo-terminal (`script`); typing the name
/// answers it with `tasks/update`.
#[tokio::test]
async fn a_question_inside_a_task_is_asked_at_the_terminal() {
    let program = bin().display().to_string();
    let mut tty = Terminal::start(&[&program, "call", "ask_name", "--", fixture()]);
    tty.expect("Name *").await;
    tty.type_keys("Ada\r").await;
    tty.expect("Send?").await;
    tty.type_keys("\r").await;
    tty.expect("Hello, Ada!").await;
    let (status, shown) = tty.finish().await;
    assert_eq!(
        code(status),
        0,
        "the interactive call should succeed; the terminal showed:\n{shown:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A pseudo-terminal, through util-linux `script` (as in cli_client.rs)

/// A command run at a pseudo-terminal by `script -q -e -c CMD /dev/null`: what it shows is read
/// as it comes, and keys are typed on its stdin.
struct Terminal {
    child: Child,
    command: String,
    keys: ChildStdin,
    screen: Captured,
}

impl Terminal {
    fn start(argv: &[&str]) -> Self {
        let command = argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = Command::new("script");
        for name in SETTINGS_ENV {
            script.env_remove(name);
        }
        let mut child = script
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            // A terminal the form library knows, whatever the test runner's is.
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs util-linux `script` (Debian: bsdutils): {e}")
            });
        let keys = child.stdin.take().expect("stdin is piped");
        let screen = Captured::read(child.stdout.take().expect("stdout is piped"));
        Self {
            child,
            command,
            keys,
            screen,
        }
    }

    /// Waits (bounded) until the screen so far contains `needle`.
    async fn expect(&self, needle: &str) {
        let what = format!("{needle:?} on the terminal of {}", self.command);
        self.screen
            .wait_until(&what, |shown| shown.contains(needle).then_some(()))
            .await;
    }

    async fn type_keys(&mut self, keys: &str) {
        self.keys
            .write_all(keys.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("cannot type {keys:?}: {e}"));
        self.keys.flush().await.expect("flush the keys");
    }

    /// Waits (bounded) for the exit; returns the status and everything shown.
    async fn finish(mut self) -> (ExitStatus, String) {
        let Ok(status) = tokio::time::timeout(LIMIT, self.child.wait()).await else {
            let _ = self.child.start_kill();
            panic!(
                "{} did not exit within {LIMIT:?}; the terminal showed:\n{:?}",
                self.command,
                self.screen.text()
            );
        };
        (status.expect("wait for `script`"), self.screen.text())
    }
}

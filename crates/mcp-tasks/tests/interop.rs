//! Interop with another implementation of MCP 2025-11-25 tasks: the official TypeScript SDK
//! (`@modelcontextprotocol/sdk`, its experimental tasks API), driven by the Node scripts in
//! `tests/interop/` (see its README.md).
//!
//! - `client.mjs`, a TypeScript-SDK client, against our `serve` on Streamable HTTP and on stdio:
//!   it walks the task lifecycle and checks every answer (the requirement IDs it proves are listed
//!   at its top and on each test here).
//! - Our terminal client (`mcp-tasks call`, `mcp-tasks tools`) against `server.mjs`, a task server
//!   written with the SDK, on both transports.
//!
//! These need Node.js (20 or later) and npm on `PATH`. On first use, [`node_deps`] runs
//! `npm ci --no-audit --no-fund` in `tests/interop` when its `node_modules` is missing or does not
//! hold the pinned versions (once per test process, under a file lock across processes).

mod nodejs;

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use testkit::http::HttpServer;
use testkit::process::{run_to_exit, Finished};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long one run of `client.mjs` may take (it gives up itself after 90 s).
const CLIENT_LIMIT: Duration = Duration::from_secs(120);
/// How long one `mcp-tasks call|tools` against the TypeScript server may take.
const CLI_LIMIT: Duration = Duration::from_secs(60);
/// How long `server.mjs` may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(30);
/// The Node.js major version the SDK's dependencies need at least.
const NODE_MIN_MAJOR: u32 = 20;

/// The binary under test.
fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// `tests/interop` of the workspace, absolute.
fn interop_dir() -> PathBuf {
    nodejs::package_dir("interop")
}

fn script(name: &str) -> String {
    interop_dir().join(name).display().to_string()
}

// ---------------------------------------------------------------------------------------------
// Node.js and the SDK

/// Makes sure `node` runs and `tests/interop/node_modules` holds the pinned packages, running
/// `npm ci` if not (see [`nodejs::ready`]). Done once per test process; panics with what is
/// missing or what npm said.
fn node_deps() {
    static NODE: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = NODE.get_or_init(check_node) {
        panic!("{e}");
    }
    nodejs::ready(&interop_dir());
}

/// `node --version` works and is new enough.
fn check_node() -> Result<(), String> {
    let missing = |detail: String| {
        format!(
            "the TypeScript SDK interop tests need Node.js {NODE_MIN_MAJOR} or later and npm on PATH \
             (https://nodejs.org); {detail}"
        )
    };
    let output = StdCommand::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing(format!("`node --version` failed to start: {e}")))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major: Option<u32> = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    match major {
        Some(major) if output.status.success() && major >= NODE_MIN_MAJOR => Ok(()),
        _ => Err(missing(format!(
            "`node --version` said {version:?} ({})",
            output.status
        ))),
    }
}

/// `node ARGS…`, to its exit (bounded).
async fn node(args: &[String], limit: Duration) -> Finished {
    node_deps();
    run_to_exit(Path::new("node"), args, limit).await
}

fn describe(what: &str, run: &Finished) -> String {
    format!(
        "{what}: {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.status, run.elapsed, run.stdout, run.stderr
    )
}

// ---------------------------------------------------------------------------------------------
// The TypeScript-SDK client against our server

/// T-CAP-1, T-CAP-3, T-CAP-5, T-NEW-1, T-NEW-3, T-NEW-5, T-OBJ-1, T-OBJ-2, T-GET-1, T-GET-2,
/// T-LIFE-1, T-LIFE-2, T-LIFE-3, T-RES-1, T-RES-3, T-RES-4, T-META-1, T-META-2, T-CAN-1, T-CAN-2,
/// T-LIST-1, T-LIST-2: the TypeScript SDK's client runs the whole task lifecycle against our
/// Streamable HTTP server, the elicitation of `ask_name` arriving on the SSE stream of its
/// `tasks/result` POST.
#[tokio::test]
async fn ts_client_against_our_http_server() {
    node_deps();
    let server = HttpServer::spawn(bin(), &[]).await;
    let run = node(
        &[
            script("client.mjs"),
            "--url".to_owned(),
            server.url().to_owned(),
        ],
        CLIENT_LIMIT,
    )
    .await;
    assert!(
        run.status.success(),
        "{}\n--- our server's stderr ---\n{}",
        describe("the TypeScript-SDK client against our HTTP server", &run),
        server.stderr()
    );
    assert_client_summary(&run, "http");
}

/// The same requirements as [`ts_client_against_our_http_server`], on stdio: the SDK's client
/// spawns `mcp-tasks serve --store memory` itself.
#[tokio::test]
async fn ts_client_against_our_stdio_server() {
    let mut args = vec![script("client.mjs"), "--".to_owned()];
    args.push(bin().display().to_string());
    args.extend(["serve", "--store", "memory"].map(str::to_owned));
    let run = node(&args, CLIENT_LIMIT).await;
    assert!(
        run.status.success(),
        "{}",
        describe("the TypeScript-SDK client against our stdio server", &run)
    );
    assert_client_summary(&run, "stdio");
}

/// The summary `client.mjs` prints: every step ran.
fn assert_client_summary(run: &Finished, transport: &str) {
    let summary: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{}",
            describe(&format!("client.mjs printed no JSON summary ({e})"), run)
        )
    });
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["transport"], transport, "{summary}");
    for step in [
        "initialize",
        "tools",
        "plain_call",
        "required_plain_call",
        "slow_echo_task",
        "slow_echo_stream",
        "ask_name_task",
        "fail_task",
        "cancel",
        "cancel_input_required",
        "list",
    ] {
        assert!(
            summary["steps"].get(step).is_some(),
            "client.mjs skipped step {step}: {summary}"
        );
    }
    assert_eq!(
        summary["steps"]["ask_name_task"]["text"], "Hello, Ada!",
        "{summary}"
    );
}

// ---------------------------------------------------------------------------------------------
// Our terminal client against the TypeScript-SDK server

/// `node server.mjs --http 0`: killed on drop.
struct TsServer {
    url: String,
    stderr: Arc<Mutex<String>>,
    _child: Child,
}

impl TsServer {
    /// Starts it and waits (bounded) for its `listening on http://127.0.0.1:PORT/mcp` line.
    async fn spawn_http() -> Self {
        node_deps();
        let mut child = Command::new("node")
            .arg(script("server.mjs"))
            .args(["--http", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node server.mjs: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let first = tokio::time::timeout(START_LIMIT, lines.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            other => panic!(
                "node server.mjs --http 0 did not say where it listens ({other:?}); stderr:\n{}",
                stderr.lock().unwrap()
            ),
        };
        let url = line
            .strip_prefix("listening on ")
            .filter(|url| url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"))
            .unwrap_or_else(|| panic!("unexpected first line from server.mjs: {line:?}"))
            .to_owned();
        // Keep reading stdout so the server never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            url,
            stderr,
            _child: child,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// How `mcp-tasks` reaches the TypeScript server: `--url URL`, or `-- node server.mjs` (stdio).
fn ts_target(server: Option<&TsServer>) -> Vec<String> {
    match server {
        Some(server) => vec!["--url".to_owned(), server.url.clone()],
        None => vec!["--".to_owned(), "node".to_owned(), script("server.mjs")],
    }
}

/// `mcp-tasks ARGS… TARGET…`, to its exit (bounded).
async fn our_cli(args: &[&str], server: Option<&TsServer>) -> Finished {
    node_deps();
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(ts_target(server));
    let run = run_to_exit(bin(), &all, CLI_LIMIT).await;
    if !run.status.success() {
        // Leave the server's side of the story next to the failure.
        eprintln!(
            "mcp-tasks {} failed; the TypeScript server's stderr:\n{}",
            all.join(" "),
            server.map(TsServer::stderr).unwrap_or_default()
        );
    }
    run
}

/// A JSON file for `--answers`, removed on drop.
struct AnswersFile(PathBuf);

impl AnswersFile {
    fn new(json: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "interop-answers-{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, json)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Self(path)
    }

    fn path(&self) -> &str {
        self.0
            .to_str()
            .expect("the target directory's path is UTF-8")
    }
}

impl Drop for AnswersFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn assert_exit(run: &Finished, code: i32, what: &str) {
    assert_eq!(run.status.code(), Some(code), "{}", describe(what, run));
}

fn assert_prints_line(run: &Finished, line: &str, what: &str) {
    assert!(
        run.stdout.lines().any(|l| l.trim() == line),
        "{}",
        describe(&format!("{what} should print the line {line:?}"), run)
    );
}

/// `call ask_name --task --answers {"name":"Ada"}` answers the elicitation the task asks over
/// `tasks/result` (T-RES-4, T-META-1); `call slow_echo --task` polls and fetches the result
/// (T-NEW-1, T-GET-2, T-RES-1).
async fn call_scenario(server: Option<&TsServer>) {
    let answers = AnswersFile::new(r#"{"name":"Ada"}"#);
    let run = our_cli(
        &["call", "ask_name", "--task", "--answers", answers.path()],
        server,
    )
    .await;
    assert_exit(&run, 0, "mcp-tasks call ask_name --task --answers");
    assert!(
        run.stdout.contains("Hello, Ada!"),
        "{}",
        describe("mcp-tasks call ask_name should print Hello, Ada!", &run)
    );

    let run = our_cli(
        &[
            "call",
            "slow_echo",
            r#"{"text":"hi","delay_ms":100}"#,
            "--task",
        ],
        server,
    )
    .await;
    assert_exit(&run, 0, "mcp-tasks call slow_echo --task");
    assert_prints_line(&run, "hi", "mcp-tasks call slow_echo --task");
}

/// T-RES-4, T-META-1, T-NEW-1, T-GET-2, T-RES-1: our `call` against the TypeScript server on
/// Streamable HTTP.
#[tokio::test]
async fn our_call_against_ts_http_server() {
    let server = TsServer::spawn_http().await;
    call_scenario(Some(&server)).await;
}

/// The same as [`our_call_against_ts_http_server`] on stdio (`-- node server.mjs`).
#[tokio::test]
async fn our_call_against_ts_stdio_server() {
    call_scenario(None).await;
}

/// T-LIFE-3, T-RES-1: a declined elicitation and a failing tool, as the exit codes say:
/// `{"action":"decline"}` gets `Hello, stranger!` (exit 0); `fail` as a task ends `failed` (exit 1).
#[tokio::test]
async fn our_call_outcomes_against_ts_http_server() {
    let server = TsServer::spawn_http().await;
    let answers = AnswersFile::new(r#"[{"action":"decline"}]"#);
    let run = our_cli(
        &["call", "ask_name", "--task", "--answers", answers.path()],
        Some(&server),
    )
    .await;
    assert_exit(&run, 0, "mcp-tasks call ask_name with a declined answer");
    assert!(
        run.stdout.contains("Hello, stranger!"),
        "{}",
        describe("a declined ask_name should print Hello, stranger!", &run)
    );

    let run = our_cli(&["call", "fail", "--task"], Some(&server)).await;
    assert_exit(&run, 1, "mcp-tasks call fail --task (the task fails)");
}

/// T-CAP-5: `mcp-tasks tools` lists the TypeScript server's tools, on both transports.
#[tokio::test]
async fn our_tools_against_ts_server() {
    let server = TsServer::spawn_http().await;
    for target in [Some(&server), None] {
        let run = our_cli(&["tools"], target).await;
        let via = if target.is_some() { "HTTP" } else { "stdio" };
        assert_exit(&run, 0, &format!("mcp-tasks tools over {via}"));
        for tool in ["slow_echo", "ask_name", "fail"] {
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(tool)),
                "{}",
                describe(
                    &format!("mcp-tasks tools over {via} should list {tool}, one tool a line"),
                    &run
                )
            );
        }
    }
}

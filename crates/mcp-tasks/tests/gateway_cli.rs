//! `mcp-tasks gateway`, the binary, in front of real MCP servers that know nothing of our tasks:
//! `@modelcontextprotocol/server-everything` (npm, over stdio and over Streamable HTTP) and
//! `mcp-server-time` / `mcp-server-git` (PyPI), driven by our own client commands (`tools`,
//! `call`, `tasks`) in both eras, as a person would run them.
//!
//! The upstream runs under a small bash wrapper that writes its pid to a file (so a test kills
//! that process and no other: a pattern like `pkill -f mcp-server-everything` would also match
//! the gateway's own command line) and copies what the gateway sends it into a log (so a test
//! sees the ordinary `tools/call` and the `notifications/cancelled` the upstream received).
//!
//! These need Node.js 20+ and npm (`tests/interop` is installed on first use, see
//! `nodejs::ready`), and Python 3.11+ for the PyPI servers (`tests/python/install.sh`, run on
//! first use).

mod nodejs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::http::HttpServer;
use testkit::process::{
    assert_exit, exit_code, run_to_exit, show, stdout_json, without_terminal, Finished,
};
use testkit::store::TempStore;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long one client command may take (the machine may be busy with other test binaries).
const LIMIT: Duration = Duration::from_secs(60);
/// How long the gateway may take to say where it listens (the Python servers start slowly).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a running command may take to print a line the test waits for.
const LINE_LIMIT: Duration = Duration::from_secs(30);
/// How long `tests/python/install.sh` may take (pip downloads the servers on first use).
const PIP_LIMIT: Duration = Duration::from_secs(600);

/// What trigger-long-running-operation answers for `{"duration":D,"steps":S}`.
fn long_text(duration: u32, steps: u32) -> String {
    format!("Long running operation completed. Duration: {duration} seconds, Steps: {steps}.")
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

fn bin_str() -> String {
    bin().display().to_string()
}

/// `tests/interop/node_modules/.bin/mcp-server-everything`, installed.
fn everything() -> PathBuf {
    let dir = nodejs::package_dir("interop");
    nodejs::ready(&dir);
    dir.join("node_modules/.bin/mcp-server-everything")
}

/// `tests/python/.venv/bin`, with mcp-server-time and mcp-server-git installed by
/// `tests/python/install.sh` (once per test process; it takes its own lock across processes).
async fn python_bin() -> PathBuf {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = nodejs::package_dir("python");
    if DONE.get().is_none() {
        let script = dir.join("install.sh").display().to_string();
        let run = run_to_exit(Path::new("bash"), &[script], PIP_LIMIT).await;
        let outcome = if run.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tests/python/install.sh failed, so the PyPI upstreams are missing (it needs \
                 Python 3.11+ with venv, and PyPI):\n{}",
                show(&run)
            ))
        };
        let _ = DONE.set(outcome);
    }
    if let Some(Err(e)) = DONE.get() {
        panic!("{e}");
    }
    dir.join(".venv/bin")
}

/// Quotes a word for `bash -c`.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------------------------------------
// The upstream, wrapped so the test knows its pid and what it was sent

/// An upstream server command for the gateway's `-- CMD`: `bash -c` writes the shell's pid to a
/// file, then execs the server (same pid) with its stdin fed through `tee`, which copies every
/// line the gateway sends it into a log. Each restart by the gateway writes the new pid.
/// Whatever is still running of it is killed on drop.
struct Upstream {
    dir: TempStore,
    program: String,
    args: Vec<String>,
}

impl Upstream {
    fn new(program: impl Into<String>, args: &[&str]) -> Self {
        Self {
            dir: TempStore::new(),
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// server-everything over stdio.
    fn everything() -> Self {
        Self::new(everything().display().to_string(), &["stdio"])
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.dir().join("upstream.pid")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.dir().join("upstream-stdin.log")
    }

    /// The words after the gateway's `--`.
    fn command(&self) -> Vec<String> {
        let mut exec = vec![sh_quote(&self.program)];
        exec.extend(self.args.iter().map(|a| sh_quote(a)));
        let script = format!(
            "echo $$ > {}; exec {} < <(exec tee -a {})",
            sh_quote(&self.pid_file().display().to_string()),
            exec.join(" "),
            sh_quote(&self.log_file().display().to_string())
        );
        vec!["bash".to_owned(), "-c".to_owned(), script]
    }

    /// The pid the latest start wrote, if it is still running the server.
    fn live_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(&self.program)
            .then_some(pid)
    }

    /// Waits (bounded) until a server process other than `old` is running, and returns its pid.
    async fn wait_pid_other_than(&self, old: Option<u32>) -> u32 {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(pid) = self.live_pid().filter(|pid| Some(*pid) != old) {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no upstream process (other than {old:?}) after {START_LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every JSON-RPC message the gateway sent the upstream so far, over all its starts.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(pid) = self.live_pid() {
            signal(pid, "KILL");
        }
    }
}

/// Sends SIGNAL to `pid` with kill(1).
fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ---------------------------------------------------------------------------------------------
// The gateway on Streamable HTTP

/// A running `mcp-tasks gateway --store STORE --http 127.0.0.1:0 ARGS…`, waited for
/// (bounded) until it says `listening on http://…/mcp`, its stderr collected. Asked to stop
/// with SIGTERM on drop, so it stops its upstream too.
async fn spawn_gateway(store: &str, args: &[String]) -> HttpServer {
    let mut all = vec![
        "gateway".to_owned(),
        "--store".to_owned(),
        store.to_owned(),
        "--http".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    all.extend(args.iter().cloned());
    HttpServer::spawn_command(bin(), &all)
        .await
        .terminate_on_drop()
}

// ---------------------------------------------------------------------------------------------
// Client commands

/// `mcp-tasks ARGS…`, to its exit (bounded).
async fn mcp(args: &[&str]) -> Finished {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_to_exit(bin(), &args, LIMIT).await
}

/// `mcp-tasks ARGS… --url URL`.
async fn mcp_url(gateway: &HttpServer, args: &[&str]) -> Finished {
    mcp(&[args, &["--url", gateway.url()]].concat()).await
}

/// `mcp-tasks ARGS… -- mcp-tasks gateway --store memory -- UPSTREAM…`: the gateway on stdio,
/// spawned by the client.
async fn mcp_via_stdio_gateway(args: &[&str], upstream: &Upstream) -> Finished {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(
        ["--", &bin_str(), "gateway", "--store", "memory", "--"]
            .iter()
            .map(|a| (*a).to_owned()),
    );
    all.extend(upstream.command());
    run_to_exit(bin(), &all, LIMIT).await
}

/// `tasks get ID --json --protocol VERSION --url URL`: the task object.
async fn task_json(gateway: &HttpServer, id: &str, protocol: &str) -> Value {
    let run = mcp_url(
        gateway,
        &["tasks", "get", id, "--json", "--protocol", protocol],
    )
    .await;
    assert_exit(&format!("tasks get {id} ({protocol})"), &run, 0);
    stdout_json("tasks get --json", &run)
}

/// The full task id of the `task <id> created (…)` line.
fn created_id(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("task ")?;
    let (id, after) = rest.split_once(' ')?;
    after.starts_with("created").then(|| id.to_owned())
}

#[track_caller]
fn created_in(what: &str, run: &Finished) -> String {
    run.stderr
        .lines()
        .find_map(created_id)
        .unwrap_or_else(|| panic!("{what}: no `task <id> created` line\n{}", show(run)))
}

#[track_caller]
fn assert_stdout_has(what: &str, run: &Finished, needle: &str) {
    assert!(
        run.stdout.contains(needle),
        "{what}: no {needle:?} on stdout\n{}",
        show(run)
    );
}

#[track_caller]
fn assert_stderr_has(what: &str, run: &Finished, needle: &str) {
    assert!(
        run.stderr.contains(needle),
        "{what}: no {needle:?} on stderr\n{}",
        show(run)
    );
}

/// A client command left running, its stderr read line by line.
struct Running {
    child: Child,
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
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::unbounded_channel();
        let mut err = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let mut out = child.stdout.take().expect("stdout is piped");
        let all = Arc::clone(&stderr);
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
            lines,
            stderr,
            readers,
        }
    }

    /// Waits (bounded) for the `task <id> created` line; returns the id.
    async fn created(&mut self) -> String {
        self.wait_line("a `task <id> created` line", created_id)
            .await
    }

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
        let started = Instant::now();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running; stderr:\n{}", self.stderr.lock().unwrap()))
            .expect("the command can be reaped");
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

/// The `tools --json` list: name -> the tool.
fn tools_by_name(run: &Finished) -> std::collections::BTreeMap<String, Value> {
    let listed = stdout_json("tools --json", run);
    listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools --json has no tools array\n{}", show(run)))
        .iter()
        .map(|tool| {
            (
                tool["name"].as_str().unwrap_or_default().to_owned(),
                tool.clone(),
            )
        })
        .collect()
}

/// `execution.taskSupport` as a 2025-11-25 client reads it (absent means forbidden).
fn task_support(tool: &Value) -> &str {
    tool["execution"]["taskSupport"]
        .as_str()
        .unwrap_or("forbidden")
}

/// What server-everything lists for a client declaring elicitation and sampling, as the
/// gateway's upstream client does.
const EVERYTHING_TOOLS: [&str; 16] = [
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    "gzip-file-as-resource",
    "simulate-research-query",
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    "trigger-elicitation-request",
    "trigger-long-running-operation",
    "trigger-sampling-request",
    "trigger-url-elicitation",
];

// ---------------------------------------------------------------------------------------------
// 1. Over HTTP, both eras

/// G-1, G-2: the gateway on HTTP lists server-everything's tools, with `execution.taskSupport`
/// set by `--task-policy` for 2025-11-25 (echo=never: forbidden; trigger-*=always: required;
/// the rest optional); the slow upstream tool runs as a task of the gateway in 2025-11-25
/// (`--task`, with its progress) and in 2026-07-28 (the gateway decides), while `echo` stays a
/// plain call; the upstream sees ordinary `tools/call`s, never a `task`.
#[tokio::test]
async fn http_gateway_lists_tools_by_policy_and_runs_tasks_in_both_eras() {
    let upstream = Upstream::everything();
    let mut args: Vec<String> = [
        "--task-policy",
        "echo=never",
        "--task-policy",
        "trigger-*=always",
        "--",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(upstream.command());
    let gateway = spawn_gateway("memory", &args).await;

    let listed = mcp_url(&gateway, &["tools", "--json", "--protocol", "2025-11-25"]).await;
    assert_exit("tools --json (2025-11-25)", &listed, 0);
    let tools = tools_by_name(&listed);
    let names: Vec<&str> = tools.keys().map(String::as_str).collect();
    assert_eq!(names, EVERYTHING_TOOLS, "G-1: the upstream's tools");
    for (tool, want) in [
        ("echo", "forbidden"),
        ("trigger-long-running-operation", "required"),
        ("trigger-elicitation-request", "required"),
        ("get-sum", "optional"),
        ("simulate-research-query", "optional"),
    ] {
        assert_eq!(
            task_support(&tools[tool]),
            want,
            "G-2: taskSupport of {tool}: {}",
            tools[tool]
        );
    }
    assert_eq!(
        tools["echo"]["inputSchema"]["required"],
        serde_json::json!(["message"]),
        "G-1: the upstream's input schema passes through"
    );
    let modern = mcp_url(&gateway, &["tools", "--json", "--protocol", "2026-07-28"]).await;
    assert_exit("tools --json (2026-07-28)", &modern, 0);
    let modern_names: Vec<String> = tools_by_name(&modern).into_keys().collect();
    assert_eq!(
        modern_names, EVERYTHING_TOOLS,
        "G-1: the same tools in 2026-07-28"
    );

    let old = mcp_url(
        &gateway,
        &[
            "call",
            "trigger-long-running-operation",
            r#"{"duration":2,"steps":2}"#,
            "--task",
            "--protocol",
            "2025-11-25",
        ],
    )
    .await;
    assert_exit("a 2025-11-25 task", &old, 0);
    assert_eq!(old.stdout.trim(), long_text(2, 2), "{}", show(&old));
    created_in("a 2025-11-25 task", &old);
    assert_stderr_has("G-3: upstream progress as the task's", &old, "progress 1/2");
    assert_stderr_has("a 2025-11-25 task", &old, "completed");

    let new = mcp_url(
        &gateway,
        &[
            "call",
            "trigger-long-running-operation",
            r#"{"duration":2,"steps":2}"#,
            "--protocol",
            "2026-07-28",
        ],
    )
    .await;
    assert_exit("a 2026-07-28 call the gateway makes a task", &new, 0);
    assert_eq!(new.stdout.trim(), long_text(2, 2), "{}", show(&new));
    created_in("G-2: trigger-*=always makes a task in 2026-07-28", &new);

    for protocol in ["2025-11-25", "2026-07-28"] {
        let echo = mcp_url(
            &gateway,
            &[
                "call",
                "echo",
                r#"{"message":"hi"}"#,
                "--protocol",
                protocol,
            ],
        )
        .await;
        assert_exit(&format!("echo ({protocol})"), &echo, 0);
        assert_eq!(echo.stdout.trim(), "Echo: hi", "{}", show(&echo));
        assert!(
            !echo.stderr.contains("created"),
            "G-2: echo=never is no task in {protocol}\n{}",
            show(&echo)
        );
    }

    let calls: Vec<Value> = upstream
        .received()
        .into_iter()
        .filter(|m| m["method"] == "tools/call")
        .collect();
    assert_eq!(
        calls.len(),
        4,
        "G-2: one upstream tools/call per call: {calls:?}"
    );
    for call in &calls {
        assert!(
            call["params"].get("task").is_none(),
            "G-2: the upstream sees an ordinary tools/call: {call}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. On stdio

/// G-1, G-2, G-3: the gateway on stdio, spawned by our client: echo in both eras, and
/// trigger-elicitation-request, whose upstream `elicitation/create` reaches the client as the
/// task's question (2025-11-25: input_required and tasks/result; 2026-07-28: the server's
/// choice) and is answered from `--answers`; the upstream tool reports the answer.
#[tokio::test]
async fn stdio_gateway_serves_both_eras_and_relays_an_elicitation() {
    let upstream = Upstream::everything();
    for protocol in ["2025-11-25", "2026-07-28"] {
        let echo = mcp_via_stdio_gateway(
            &[
                "call",
                "echo",
                r#"{"message":"hi"}"#,
                "--protocol",
                protocol,
            ],
            &upstream,
        )
        .await;
        assert_exit(&format!("echo over stdio ({protocol})"), &echo, 0);
        assert_eq!(echo.stdout.trim(), "Echo: hi", "{}", show(&echo));
    }
    let answers = TempStore::new();
    let answers_file = answers.dir().join("answers.json");
    std::fs::write(&answers_file, r#"{"name":"Ada"}"#).unwrap();
    let answers_path = answers_file.display().to_string();
    for (protocol, task) in [("2025-11-25", true), ("2026-07-28", false)] {
        let mut args = vec![
            "call",
            "trigger-elicitation-request",
            "--answers",
            &answers_path,
            "--protocol",
            protocol,
        ];
        if task {
            args.push("--task");
        }
        let asked = mcp_via_stdio_gateway(&args, &upstream).await;
        let what = format!("trigger-elicitation-request over stdio ({protocol})");
        assert_exit(&what, &asked, 0);
        assert_stdout_has(&what, &asked, "User provided the requested information!");
        assert_stdout_has(&what, &asked, "- Name: Ada");
        created_in(&what, &asked);
        assert_stderr_has(&format!("G-3: {what}"), &asked, "input_required");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Upstream failure, timeout, cancel

/// G-4: the upstream killed with SIGKILL mid-task: the task ends failed with a statusMessage
/// saying so (in both eras' `tasks get`), and the next call is served by a restarted upstream.
#[tokio::test]
async fn an_upstream_killed_mid_task_fails_the_task_and_the_next_call_is_served() {
    let upstream = Upstream::everything();
    let mut args = vec!["--".to_owned()];
    args.extend(upstream.command());
    let gateway = spawn_gateway("memory", &args).await;
    let first = upstream.wait_pid_other_than(None).await;
    let url = gateway.url().to_owned();
    let mut call = Running::start(&[
        "call",
        "trigger-long-running-operation",
        r#"{"duration":30,"steps":30}"#,
        "--task",
        "--protocol",
        "2025-11-25",
        "--url",
        &url,
    ]);
    let id = call.created().await;
    call.wait_line("the first progress line", |l| {
        l.starts_with("progress").then_some(())
    })
    .await;
    signal(first, "KILL");
    let ended = call.finish().await;
    assert_ne!(exit_code(ended.status), 0, "{}", show(&ended));
    assert_stderr_has("the call's output", &ended, "killed by signal 9");

    for protocol in ["2025-11-25", "2026-07-28"] {
        let task = task_json(&gateway, &id, protocol).await;
        assert_eq!(task["status"], "failed", "G-4 ({protocol}): {task}");
        let message = task["statusMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("killed by signal 9"),
            "G-4 ({protocol}): the statusMessage says what happened: {task}"
        );
    }
    let echo = mcp_url(&gateway, &["call", "echo", r#"{"message":"after"}"#]).await;
    assert_exit("the next call", &echo, 0);
    assert_eq!(echo.stdout.trim(), "Echo: after", "{}", show(&echo));
    let second = upstream.wait_pid_other_than(Some(first)).await;
    assert_ne!(
        first, second,
        "G-4: a restarted upstream served the next call"
    );
    assert!(
        gateway.stderr().contains("killed by signal 9"),
        "the gateway logs why the upstream went away:\n{}",
        gateway.stderr()
    );
}

/// G-4: past `--tool-timeout` the task ends failed saying it timed out, and the upstream call
/// is cancelled (`notifications/cancelled` for its request id).
#[tokio::test]
async fn a_tool_timeout_fails_the_task_and_cancels_the_upstream_call() {
    let upstream = Upstream::everything();
    let mut args: Vec<String> = ["--tool-timeout", "trigger-long-running-operation=1s", "--"]
        .map(str::to_owned)
        .to_vec();
    args.extend(upstream.command());
    let gateway = spawn_gateway("memory", &args).await;
    let run = mcp_url(
        &gateway,
        &[
            "call",
            "trigger-long-running-operation",
            r#"{"duration":10,"steps":2}"#,
            "--task",
            "--protocol",
            "2025-11-25",
        ],
    )
    .await;
    assert_ne!(exit_code(run.status), 0, "{}", show(&run));
    assert!(
        run.elapsed < Duration::from_secs(9),
        "the limit ended the call before the tool did: {}",
        show(&run)
    );
    let id = created_in("a timed-out task", &run);
    let task = task_json(&gateway, &id, "2025-11-25").await;
    assert_eq!(task["status"], "failed", "G-4: {task}");
    let message = task["statusMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("timed out"),
        "G-4: the statusMessage says it timed out: {task}"
    );
    assert_upstream_cancelled(&upstream, "trigger-long-running-operation").await;
}

/// G-4: `tasks cancel` of a running upstream call: the task is cancelled (the following
/// `call` exits 4), the upstream gets `notifications/cancelled` for that call, and the
/// upstream still serves the next call.
#[tokio::test]
async fn tasks_cancel_cancels_the_upstream_call() {
    let upstream = Upstream::everything();
    let mut args = vec!["--".to_owned()];
    args.extend(upstream.command());
    let gateway = spawn_gateway("memory", &args).await;
    let url = gateway.url().to_owned();
    let mut call = Running::start(&[
        "call",
        "trigger-long-running-operation",
        r#"{"duration":30,"steps":30}"#,
        "--task",
        "--protocol",
        "2025-11-25",
        "--url",
        &url,
    ]);
    let id = call.created().await;
    let cancel = mcp_url(
        &gateway,
        &["tasks", "cancel", &id, "--json", "--protocol", "2025-11-25"],
    )
    .await;
    assert_exit("tasks cancel", &cancel, 0);
    assert_eq!(
        stdout_json("tasks cancel --json", &cancel)["status"],
        "cancelled",
        "{}",
        show(&cancel)
    );
    let ended = call.finish().await;
    assert_exit("the call of the cancelled task", &ended, 4);
    assert_eq!(
        task_json(&gateway, &id, "2025-11-25").await["status"],
        "cancelled"
    );
    assert_upstream_cancelled(&upstream, "trigger-long-running-operation").await;
    let echo = mcp_url(&gateway, &["call", "echo", r#"{"message":"still here"}"#]).await;
    assert_exit("a call after the cancel", &echo, 0);
    assert_eq!(echo.stdout.trim(), "Echo: still here");
}

/// Waits (bounded) until the upstream was sent `notifications/cancelled` naming the request
/// id of its `tools/call` of `tool`.
async fn assert_upstream_cancelled(upstream: &Upstream, tool: &str) {
    let deadline = Instant::now() + LINE_LIMIT;
    loop {
        let received = upstream.received();
        let call_id = received
            .iter()
            .find(|m| m["method"] == "tools/call" && m["params"]["name"] == tool)
            .map(|m| m["id"].clone())
            .unwrap_or_else(|| {
                panic!("the upstream never got a tools/call of {tool}: {received:?}")
            });
        if received.iter().any(|m| {
            m["method"] == "notifications/cancelled" && m["params"]["requestId"] == call_id
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "G-4: no notifications/cancelled for request {call_id} reached the upstream; it got: \
             {received:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Gateway restart

/// G-5: the gateway killed with SIGKILL while a task runs; a new gateway on the same SQLite
/// file (on another port) shows that task failed, saying the gateway restarted; a task that had
/// finished before is still there, completed.
#[tokio::test]
async fn a_task_cut_short_by_a_gateway_crash_fails_after_the_restart() {
    let upstream = Upstream::everything();
    let store = TempStore::new();
    let store_arg = format!("sqlite:{}", store.dir().join("gw.db").display());
    let mut args = vec!["--".to_owned()];
    args.extend(upstream.command());
    let gateway = spawn_gateway(&store_arg, &args).await;
    let done = mcp_url(
        &gateway,
        &[
            "call",
            "trigger-long-running-operation",
            r#"{"duration":1,"steps":1}"#,
            "--task",
            "--protocol",
            "2025-11-25",
        ],
    )
    .await;
    assert_exit("a task finished before the crash", &done, 0);
    let done_id = created_in("a task finished before the crash", &done);
    let url = gateway.url().to_owned();
    let mut call = Running::start(&[
        "call",
        "trigger-long-running-operation",
        r#"{"duration":30,"steps":30}"#,
        "--task",
        "--protocol",
        "2025-11-25",
        "--url",
        &url,
    ]);
    let id = call.created().await;
    gateway.kill9().await;
    let ended = call.finish().await;
    assert_ne!(exit_code(ended.status), 0, "{}", show(&ended));
    if let Some(pid) = upstream.live_pid() {
        // The orphaned upstream of the killed gateway; the new gateway starts its own.
        signal(pid, "KILL");
    }

    let restarted = spawn_gateway(&store_arg, &args).await;
    let task = task_json(&restarted, &id, "2025-11-25").await;
    assert_eq!(task["status"], "failed", "G-5: {task}");
    let message = task["statusMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("restarted"),
        "G-5: the statusMessage says the gateway restarted: {task}\ngateway stderr:\n{}",
        restarted.stderr()
    );
    assert_eq!(
        task_json(&restarted, &done_id, "2025-11-25").await["status"],
        "completed",
        "G-5: a finished task survives the restart"
    );
    let result = mcp_url(
        &restarted,
        &["tasks", "result", &done_id, "--protocol", "2025-11-25"],
    )
    .await;
    assert_exit("tasks result of the finished task", &result, 0);
    assert_eq!(result.stdout.trim(), long_text(1, 1), "{}", show(&result));
}

/// G-5: with `--idempotent trigger-long-running-operation`, a task cut short by a gateway crash
/// runs again on the restarted gateway and completes under the same task id.
#[tokio::test]
async fn an_idempotent_task_runs_again_after_a_gateway_crash() {
    let upstream = Upstream::everything();
    let store = TempStore::new();
    let store_arg = format!("sqlite:{}", store.dir().join("gw.db").display());
    let mut args: Vec<String> = ["--idempotent", "trigger-long-running-operation", "--"]
        .map(str::to_owned)
        .to_vec();
    args.extend(upstream.command());
    let gateway = spawn_gateway(&store_arg, &args).await;
    let url = gateway.url().to_owned();
    let mut call = Running::start(&[
        "call",
        "trigger-long-running-operation",
        r#"{"duration":3,"steps":3}"#,
        "--task",
        "--protocol",
        "2025-11-25",
        "--url",
        &url,
    ]);
    let id = call.created().await;
    gateway.kill9().await;
    let _ = call.finish().await;
    if let Some(pid) = upstream.live_pid() {
        signal(pid, "KILL");
    }

    let restarted = spawn_gateway(&store_arg, &args).await;
    let result = mcp_url(
        &restarted,
        &["tasks", "result", &id, "--protocol", "2025-11-25"],
    )
    .await;
    assert_exit("tasks result of the task run again", &result, 0);
    assert_eq!(result.stdout.trim(), long_text(3, 3), "{}", show(&result));
    let task = task_json(&restarted, &id, "2025-11-25").await;
    assert_eq!(task["status"], "completed", "G-5: {task}");
    assert!(
        restarted.stderr().contains("1 running again"),
        "the restarted gateway says it runs the task again:\n{}",
        restarted.stderr()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Command-line errors

/// `mcp-tasks gateway ARGS…` refused at once with exit 2 and a message saying what to do.
async fn assert_usage_error(args: &[&str], says: &str) {
    let mut all = vec!["gateway", "--store", "memory"];
    all.extend(args);
    let run = mcp(&all).await;
    assert_exit(&format!("gateway {}", args.join(" ")), &run, 2);
    assert!(
        run.stderr.contains(says),
        "gateway {}: the error should say {says:?}\n{}",
        args.join(" "),
        show(&run)
    );
}

/// A gateway command line that cannot work is refused before anything starts (exit 2), saying
/// what to change.
#[tokio::test]
async fn bad_gateway_command_lines_are_refused() {
    assert_usage_error(&[], "name the upstream MCP server").await;
    assert_usage_error(
        &["--upstream-url", "http://127.0.0.1:9/mcp", "--", "srv"],
        "not both",
    )
    .await;
    assert_usage_error(&["--task-policy", "x=maybe", "--", "srv"], "--task-policy").await;
    assert_usage_error(
        &["--task-policy", "x=maybe", "--", "srv"],
        "never, optional, always or when-slow",
    )
    .await;
    assert_usage_error(
        &["--upstream-url", "ftp://x"],
        "not an http:// or https:// URL",
    )
    .await;
    assert_usage_error(
        &[
            "--upstream-url",
            "http://127.0.0.1:9/mcp",
            "--upstream-header",
            "nocolon",
        ],
        "NAME: VALUE",
    )
    .await;
    let dir = TempStore::new();
    let config = dir.dir().join("gateway.toml");
    std::fs::write(
        &config,
        "[gateway]\ncommand = [\"srv\"]\nupstream = \"x\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    assert_usage_error(&["--config", &config], "unknown field `upstream`").await;
}

/// An upstream that cannot be started, or exits before it answers, ends the gateway with exit 1
/// and the reason.
#[tokio::test]
async fn an_upstream_that_does_not_start_ends_the_gateway() {
    let missing = mcp(&[
        "gateway",
        "--store",
        "memory",
        "--",
        "/nonexistent/mcp-server",
    ])
    .await;
    assert_exit("a missing upstream command", &missing, 1);
    assert_stderr_has(
        "a missing upstream command",
        &missing,
        "cannot connect to the upstream server",
    );
    assert_stderr_has("a missing upstream command", &missing, "No such file");

    let git = python_bin()
        .await
        .join("mcp-server-git")
        .display()
        .to_string();
    let not_a_repo = TempStore::new();
    let dir = not_a_repo.dir().display().to_string();
    let run = mcp(&[
        "gateway",
        "--store",
        "memory",
        "--",
        &git,
        "--repository",
        &dir,
    ])
    .await;
    assert_exit(
        "mcp-server-git on a directory that is no repository",
        &run,
        1,
    );
    assert_stderr_has(
        "mcp-server-git on a directory that is no repository",
        &run,
        "cannot connect to the upstream server",
    );
    assert_stderr_has(
        "mcp-server-git on a directory that is no repository",
        &run,
        "exited with status 0 before it answered",
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Config file

/// G-1, G-2: the upstream and the task policies from the config file's `[gateway]` section
/// (`command`, `[[gateway.tools]]` match/policy); a flag comes before the file's rules.
#[tokio::test]
async fn the_config_file_names_the_upstream_and_the_policies() {
    let upstream = Upstream::everything();
    let dir = TempStore::new();
    let config = dir.dir().join("gateway.toml");
    let command: Vec<String> = upstream
        .command()
        .iter()
        .map(|word| serde_json::to_string(word).unwrap())
        .collect();
    std::fs::write(
        &config,
        format!(
            "[gateway]\ncommand = [{}]\n\n[[gateway.tools]]\nmatch = \"get-*\"\npolicy = \
             \"never\"\n\n[[gateway.tools]]\nmatch = \"echo\"\npolicy = \"always\"\n\n\
             [[gateway.tools]]\nmatch = \"trigger-*\"\npolicy = \"always\"\n",
            command.join(", ")
        ),
    )
    .unwrap();
    let args: Vec<String> = [
        "--config",
        &config.display().to_string(),
        "--task-policy",
        "trigger-sampling-request=never",
    ]
    .map(str::to_owned)
    .to_vec();
    let gateway = spawn_gateway("memory", &args).await;
    let listed = mcp_url(&gateway, &["tools", "--json", "--protocol", "2025-11-25"]).await;
    assert_exit("tools --json", &listed, 0);
    let tools = tools_by_name(&listed);
    assert_eq!(
        tools.len(),
        EVERYTHING_TOOLS.len(),
        "G-1: {:?}",
        tools.keys()
    );
    for (tool, want) in [
        ("get-sum", "forbidden"),
        ("get-env", "forbidden"),
        ("echo", "required"),
        ("trigger-long-running-operation", "required"),
        ("trigger-sampling-request", "forbidden"),
        ("toggle-simulated-logging", "optional"),
    ] {
        assert_eq!(
            task_support(&tools[tool]),
            want,
            "G-2: taskSupport of {tool} from the config file: {}",
            tools[tool]
        );
    }
    let echo = mcp_url(
        &gateway,
        &[
            "call",
            "echo",
            r#"{"message":"from the file"}"#,
            "--task",
            "--protocol",
            "2025-11-25",
        ],
    )
    .await;
    assert_exit("echo as a task", &echo, 0);
    assert_eq!(echo.stdout.trim(), "Echo: from the file");
}

// ---------------------------------------------------------------------------------------------
// 7. A Python upstream that speaks 2026-07-28

/// G-1, G-2: mcp-server-time (the Python SDK's reference server, which speaks 2026-07-28 to a
/// client that asks) behind the gateway: `get_current_time` through the gateway in both
/// eras, its structured result unchanged; a tool error stays a tool error (exit 1).
#[tokio::test]
async fn a_python_upstream_serves_both_eras() {
    let time = python_bin().await.join("mcp-server-time");
    let upstream = Upstream::new(time.display().to_string(), &["--local-timezone", "UTC"]);
    let mut args = vec!["--".to_owned()];
    args.extend(upstream.command());
    let gateway = spawn_gateway("memory", &args).await;
    assert!(
        gateway.stderr().contains("mcp-time"),
        "the gateway serves as the upstream:\n{}",
        gateway.stderr()
    );
    for protocol in ["2025-11-25", "2026-07-28"] {
        let run = mcp_url(
            &gateway,
            &[
                "call",
                "get_current_time",
                r#"{"timezone":"UTC"}"#,
                "--json",
                "--protocol",
                protocol,
            ],
        )
        .await;
        let what = format!("get_current_time ({protocol})");
        assert_exit(&what, &run, 0);
        let result = stdout_json(&what, &run);
        assert_eq!(
            result["structuredContent"]["timezone"], "UTC",
            "{what}: {result}"
        );
        let datetime = result["structuredContent"]["datetime"]
            .as_str()
            .unwrap_or_default();
        assert!(
            datetime.ends_with("+00:00") && datetime.parse::<jiff::Timestamp>().is_ok(),
            "{what}: a UTC time: {result}"
        );
        assert_eq!(result["isError"], false, "{what}: {result}");
    }
    let bad = mcp_url(
        &gateway,
        &["call", "get_current_time", r#"{"timezone":"Nope/Zone"}"#],
    )
    .await;
    assert_exit("a bad time zone", &bad, 1);
    assert_stdout_has("a bad time zone", &bad, "Invalid timezone");
    let discover = upstream
        .received()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the upstream got nothing"));
    assert_eq!(
        discover["method"], "server/discover",
        "the gateway asks the upstream's era first"
    );
    assert!(
        !upstream
            .received()
            .iter()
            .any(|m| m["method"] == "initialize"),
        "a 2026-07-28 upstream is spoken to in 2026-07-28: {:?}",
        upstream.received()
    );
}

// ---------------------------------------------------------------------------------------------
// 8. An HTTP upstream

/// server-everything on Streamable HTTP, its port given by `PORT`; it binds every interface
/// (it has no setting for that), and is reached on loopback. Killed on drop.
struct HttpUpstream {
    _child: Child,
    url: String,
}

impl HttpUpstream {
    async fn spawn() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new(everything())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("server-everything starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let said = tokio::time::timeout(START_LIMIT, async {
            let mut seen = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on port") {
                    return Ok(());
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(seen)
        })
        .await;
        match said {
            Ok(Ok(())) => {}
            Ok(Err(seen)) => panic!("server-everything streamableHttp exited: {seen}"),
            Err(_) => {
                panic!("server-everything streamableHttp did not listen within {START_LIMIT:?}")
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

/// G-1, G-2, G-3: a Streamable HTTP upstream (`--upstream-url`): echo passes through, the slow
/// tool runs as a task in both eras, and its elicitation reaches our client.
#[tokio::test]
async fn an_http_upstream_serves_calls_and_tasks() {
    let upstream = HttpUpstream::spawn().await;
    let gateway = spawn_gateway(
        "memory",
        &["--upstream-url".to_owned(), upstream.url.clone()],
    )
    .await;
    let echo = mcp_url(&gateway, &["call", "echo", r#"{"message":"hi"}"#]).await;
    assert_exit("echo", &echo, 0);
    assert_eq!(echo.stdout.trim(), "Echo: hi");
    for (protocol, task) in [("2025-11-25", true), ("2026-07-28", false)] {
        let mut args = vec![
            "call",
            "trigger-long-running-operation",
            r#"{"duration":2,"steps":2}"#,
            "--protocol",
            protocol,
        ];
        if task {
            args.push("--task");
        }
        let run = mcp_url(&gateway, &args).await;
        let what = format!("a task over an HTTP upstream ({protocol})");
        assert_exit(&what, &run, 0);
        assert_eq!(run.stdout.trim(), long_text(2, 2), "{}", show(&run));
        created_in(&what, &run);
    }
    let answers = TempStore::new();
    let answers_file = answers.dir().join("answers.json");
    std::fs::write(&answers_file, r#"{"name":"Ada"}"#).unwrap();
    let asked = mcp_url(
        &gateway,
        &[
            "call",
            "trigger-elicitation-request",
            "--task",
            "--protocol",
            "2025-11-25",
            "--answers",
            &answers_file.display().to_string(),
        ],
    )
    .await;
    assert_exit("an elicitation over an HTTP upstream", &asked, 0);
    assert_stdout_has("G-3 over an HTTP upstream", &asked, "- Name: Ada");
}

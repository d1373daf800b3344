//! The terminal client (`mcp-tasks tools`, `mcp-tasks call`, `mcp-tasks tasks …`) end to end: the
//! real binary against the real server, over Streamable HTTP (`--url`) and over stdio
//! (`-- mcp-tasks serve …`), as a script would run it (stderr a pipe, so the status is one plain
//! line per change) and, once, at a real terminal through a pseudo-terminal (`script`).
//!
//! What a command prints and how it exits is the contract checked here (`cmd/exit.rs`): 0
//! success, 1 the tool reported an error, 2 usage, 3 protocol or connection error, 4 the task was
//! cancelled, 130 Ctrl-C. Every server is loopback-only and on `--store memory` or a scratch SQLite
//! file, and every command is bounded in time (children are killed on drop).

mod common;

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use testkit::http::HttpServer;
use testkit::process::{
    assert_exit, exit_code as code, run_to_exit, show, stdout_json, without_terminal, Finished,
    SETTINGS_ENV,
};
use testkit::store::TempStore;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long one client command may take before the test fails (and kills it).
const LIMIT: Duration = Duration::from_secs(30);
/// How long a running command may take to print a line the test waits for.
const LINE_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Running the client

/// A client command's arguments with `--protocol 2025-11-25` added before any `--`: these tests
/// prove the MCP 2025-11-25 client, and `mcp-tasks serve` speaks 2026-07-28 too, which the
/// client would otherwise discover and prefer (`cli_v2026.rs` tests that era). Other commands
/// (`serve`, `--version`) are left as they are.
fn in_2025(args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    if matches!(args.first(), Some(&("call" | "tools" | "tasks"))) {
        let at = all.iter().position(|a| a == "--").unwrap_or(all.len());
        all.splice(at..at, ["--protocol".to_owned(), "2025-11-25".to_owned()]);
    }
    all
}

/// `mcp-tasks ARGS…` with stdin closed, to its exit (bounded by [`LIMIT`]), speaking
/// 2025-11-25 ([`in_2025`]).
///
/// The arguments are copied before the returned future starts, so it borrows nothing (several
/// can be joined).
fn mcp(args: &[&str]) -> impl std::future::Future<Output = Finished> {
    let args = in_2025(args);
    async move { run_to_exit(bin(), &args, LIMIT).await }
}

/// `mcp-tasks ARGS… --url URL`.
async fn mcp_url(server: &HttpServer, args: &[&str]) -> Finished {
    let mut all = args.to_vec();
    all.extend(["--url", server.url()]);
    mcp(&all).await
}

/// The full task id of the plain `task <id> created (kept for …)` line.
fn created_id(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("task ")?;
    let (id, after) = rest.split_once(' ')?;
    after.starts_with("created").then(|| id.to_owned())
}

/// The task id a `--json` result names in its related-task `_meta` (T-RES-3).
#[track_caller]
fn related_id(what: &str, result: &Value) -> String {
    related_task(result)
        .and_then(|r| r.get("taskId"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: no _meta[{RELATED_TASK:?}].taskId in {result:#}"))
        .to_owned()
}

/// A scratch directory for answers files and SQLite stores, removed on drop.
struct Scratch(TempStore);

impl Scratch {
    fn new() -> Self {
        Self(TempStore::new())
    }

    /// Writes `name` in the directory and returns its path.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.dir().join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path.display().to_string()
    }

    /// `sqlite:PATH` of a store file in the directory.
    fn store_arg(&self) -> String {
        self.0.store_arg()
    }
}

/// A client command left running, its stderr read line by line as it comes.
struct Running {
    child: Child,
    pid: u32,
    args: Vec<String>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: JoinHandle<()>,
    stdout_reader: JoinHandle<Vec<u8>>,
}

impl Running {
    /// Starts `mcp-tasks ARGS…` with stdin closed, stdout and stderr piped, and no controlling
    /// terminal, so that everything it shows is on those pipes.
    fn start(args: &[&str]) -> Self {
        let mut child = without_terminal(bin())
            .args(in_2025(args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin().display()));
        let pid = child.id().expect("a child that was just spawned has a pid");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::unbounded_channel();
        let mut err_lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let all = Arc::clone(&stderr);
        let stderr_reader = tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                {
                    let mut all = all.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                let _ = tx.send(line);
            }
        });
        let mut out = child.stdout.take().expect("stdout is piped");
        let stdout_reader = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes).await;
            bytes
        });
        Self {
            child,
            pid,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            lines,
            stderr,
            stderr_reader,
            stdout_reader,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) for a stderr line that `pick` maps to something, and returns that.
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
        match found {
            Ok(Some(found)) => found,
            Ok(None) => panic!(
                "mcp-tasks {} closed its stderr before {what}; stderr:\n{}",
                self.args.join(" "),
                self.stderr()
            ),
            Err(_) => panic!(
                "mcp-tasks {} did not print {what} within {LINE_LIMIT:?}; stderr:\n{}",
                self.args.join(" "),
                self.stderr()
            ),
        }
    }

    /// Waits (bounded by [`LIMIT`]) for the command to exit, with everything it printed.
    async fn finish(mut self) -> Finished {
        let started = std::time::Instant::now();
        let Ok(status) = tokio::time::timeout(LIMIT, self.child.wait()).await else {
            let _ = self.child.start_kill();
            panic!(
                "mcp-tasks {} did not exit within {LIMIT:?}; stderr:\n{}",
                self.args.join(" "),
                self.stderr()
            );
        };
        let status = status.unwrap_or_else(|e| panic!("cannot wait for mcp-tasks: {e}"));
        let readers = async {
            let stdout = (&mut self.stdout_reader).await.unwrap_or_default();
            let _ = (&mut self.stderr_reader).await;
            stdout
        };
        let stdout = tokio::time::timeout(LINE_LIMIT, readers)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the output of mcp-tasks {} never ended",
                    self.args.join(" ")
                )
            });
        Finished {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: self.stderr(),
            elapsed: started.elapsed(),
        }
    }
}

/// Sends SIGINT (what Ctrl-C sends) to process `pid`, with the `kill` utility.
fn sigint(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run `kill -INT {pid}`: {e}"));
    assert!(status.success(), "`kill -INT {pid}` failed: {status}");
}

// ---------------------------------------------------------------------------------------------
// A pseudo-terminal, through util-linux `script`

/// A command run at a pseudo-terminal by `script -q -e -c CMD /dev/null`: what it shows is read
/// incrementally, and keys are typed on its stdin.
struct Terminal {
    child: Child,
    command: String,
    keys: Option<ChildStdin>,
    screen: mpsc::UnboundedReceiver<Vec<u8>>,
    seen: Vec<u8>,
    stderr_reader: JoinHandle<Vec<u8>>,
}

/// `s` quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Terminal {
    /// Starts `script` running `argv` (quoted for the shell) at a pseudo-terminal.
    fn start(argv: &[&str]) -> Self {
        if let Err(e) = std::process::Command::new("script")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            panic!(
                "this test needs the `script` utility of util-linux to give the client a \
                 pseudo-terminal, and `script` cannot run ({e}); install util-linux (Debian: \
                 `apt-get install bsdutils`)"
            );
        }
        let command = argv
            .iter()
            .map(|a| sh_quote(a))
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
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `script`: {e}"));
        let keys = child.stdin.take();
        let mut out = child.stdout.take().expect("stdout is piped");
        let (tx, screen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = vec![0_u8; 4096];
            loop {
                match out.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr_reader = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes).await;
            bytes
        });
        Self {
            child,
            command,
            keys,
            screen,
            seen: Vec::new(),
            stderr_reader,
        }
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Waits (bounded) until the screen output so far contains `needle`.
    async fn expect(&mut self, needle: &str) {
        let needle_bytes = needle.as_bytes();
        let contains = |seen: &[u8]| seen.windows(needle_bytes.len()).any(|w| w == needle_bytes);
        let wait = async {
            while !contains(&self.seen) {
                match self.screen.recv().await {
                    Some(chunk) => self.seen.extend_from_slice(&chunk),
                    None => return false,
                }
            }
            true
        };
        match tokio::time::timeout(LINE_LIMIT, wait).await {
            Ok(true) => {}
            Ok(false) => panic!(
                "the terminal closed before showing {needle:?} ({}); it showed:\n{:?}",
                self.command,
                self.seen()
            ),
            Err(_) => panic!(
                "the terminal did not show {needle:?} within {LINE_LIMIT:?} ({}); it showed:\n{:?}",
                self.command,
                self.seen()
            ),
        }
    }

    /// Types `keys`.
    async fn type_keys(&mut self, keys: &str) {
        let stdin = self.keys.as_mut().expect("stdin is open until the end");
        stdin
            .write_all(keys.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("cannot type {keys:?}: {e}"));
        stdin.flush().await.expect("flush the keys");
    }

    /// Waits (bounded) for the command to exit; returns its status and everything it showed.
    async fn finish(mut self) -> (ExitStatus, String) {
        let Ok(status) = tokio::time::timeout(LIMIT, self.child.wait()).await else {
            let _ = self.child.start_kill();
            panic!(
                "{} did not exit within {LIMIT:?} at the terminal; it showed:\n{:?}",
                self.command,
                self.seen()
            );
        };
        let status = status.unwrap_or_else(|e| panic!("cannot wait for `script`: {e}"));
        drop(self.keys.take());
        let rest = async {
            while let Some(chunk) = self.screen.recv().await {
                self.seen.extend_from_slice(&chunk);
            }
        };
        let _ = tokio::time::timeout(LINE_LIMIT, rest).await;
        let stderr = tokio::time::timeout(LINE_LIMIT, &mut self.stderr_reader)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let mut shown = self.seen();
        if !stderr.is_empty() {
            shown.push_str("\n--- script's stderr:\n");
            shown.push_str(&String::from_utf8_lossy(&stderr));
        }
        (status, shown)
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// T-RES-4, T-LIFE-1 (client side): `call ask_name --task --answers F --url URL` follows the task
/// into `input_required`, answers the elicitation that arrives over its open `tasks/result`
/// from the answers file, and prints the tool's greeting.
#[tokio::test]
async fn call_ask_name_over_http_with_an_answers_file() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let scratch = Scratch::new();
    let answers = scratch.file("answers.json", r#"{"name":"Ada"}"#);
    let run = mcp_url(
        &server,
        &["call", "ask_name", "--task", "--answers", &answers],
    )
    .await;
    assert_exit("call ask_name over HTTP", &run, 0);
    assert_eq!(run.stdout.trim(), "Hello, Ada!", "{}", show(&run));
    assert!(
        run.stderr.lines().any(|l| created_id(l).is_some()),
        "the full task id is shown once: {}",
        show(&run)
    );
    assert!(
        run.stderr.contains("input_required"),
        "the status line shows input_required: {}",
        show(&run)
    );
}

/// An answers file whose answer does not fit the form is a usage error (exit 2) naming the
/// field; the server is not left waiting: its question is answered `cancel`.
#[tokio::test]
async fn an_answer_that_does_not_fit_the_form_exits_2() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let scratch = Scratch::new();
    let answers = scratch.file("answers.json", r#"[{"nom":"Ada"}]"#);
    let run = mcp_url(
        &server,
        &["call", "ask_name", "--task", "--answers", &answers],
    )
    .await;
    assert_exit("an answer that does not fit", &run, 2);
    assert!(
        run.stderr.contains("answers.json") && run.stderr.contains("`name`"),
        "the message names the file and the field: {}",
        show(&run)
    );
    assert!(
        run.stdout.is_empty(),
        "no result is printed: {}",
        show(&run)
    );
}

/// T-RES-4 over stdio: the same, with the server spawned by the command (`-- mcp-tasks serve`).
#[tokio::test]
async fn call_ask_name_over_stdio() {
    let scratch = Scratch::new();
    let answers = scratch.file("answers.json", r#"{"name":"Ada"}"#);
    let server = bin().display().to_string();
    let run = mcp(&[
        "call",
        "ask_name",
        "--task",
        "--answers",
        &answers,
        "--",
        &server,
        "serve",
        "--store",
        "memory",
    ])
    .await;
    assert_exit("call ask_name over stdio", &run, 0);
    assert_eq!(run.stdout.trim(), "Hello, Ada!", "{}", show(&run));
    assert!(
        run.stderr.contains("input_required"),
        "the status line shows input_required: {}",
        show(&run)
    );
}

/// T-RES-4 with a person at the terminal: the elicitation becomes a form in a real
/// pseudo-terminal ("Name *", then "Send? (Y/n)"); typing the name and confirming answers it.
#[tokio::test]
async fn call_ask_name_interactively_in_a_terminal() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let program = bin().display().to_string();
    let mut tty = Terminal::start(&[
        &program,
        "call",
        "ask_name",
        "--task",
        "--protocol",
        "2025-11-25",
        "--url",
        server.url(),
    ]);
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
    assert!(shown.contains("Hello, Ada!"), "{shown:?}");
}

/// Runs `call ask_name --task` in a terminal with stdout and stderr redirected to files of
/// `scratch`, and returns the terminal and the two files' paths.
fn ask_name_redirected(server: &HttpServer, scratch: &Scratch) -> (Terminal, String, String) {
    let out = scratch.file("out", "");
    let err = scratch.file("err", "");
    let command = format!(
        "{} call ask_name --task --protocol 2025-11-25 --url {} > {} 2> {}",
        sh_quote(&bin().display().to_string()),
        sh_quote(server.url()),
        sh_quote(&out),
        sh_quote(&err)
    );
    (Terminal::start(&["sh", "-c", &command]), out, err)
}

/// Issue 11, the CLI at a terminal with both outputs redirected (`> out 2> err`, as git and ssh
/// allow): the question still reaches the person, on `/dev/tty`, line by line; the result goes
/// to `out`, and `err` keeps the record (the task's id and how it ended), not the questions.
#[tokio::test]
async fn asks_through_dev_tty_when_stdout_and_stderr_are_redirected() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let scratch = Scratch::new();
    let (mut tty, out, err) = ask_name_redirected(&server, &scratch);
    tty.expect("Name *").await;
    tty.type_keys("Ada\r").await;
    tty.expect("Send? [Y/n]").await;
    tty.type_keys("\r").await;
    let (status, shown) = tty.finish().await;
    let out = std::fs::read_to_string(&out).expect("read out");
    let err = std::fs::read_to_string(&err).expect("read err");
    let all = format!("terminal:\n{shown:?}\n--- out:\n{out}\n--- err:\n{err}");
    assert_eq!(code(status), 0, "the call should succeed; {all}");
    assert_eq!(out.trim(), "Hello, Ada!", "{all}");
    assert!(
        err.lines().any(|l| created_id(l).is_some()) && err.contains("completed"),
        "stderr keeps the record of the task: {all}"
    );
    assert!(
        !err.contains("Name") && !err.contains("Send?"),
        "the questions are not written to the redirected stderr: {all}"
    );
    assert!(
        shown.contains("created") && shown.contains("completed"),
        "the person sees the task's status on the terminal too: {all}"
    );
}

/// T-CAN-3 at the `/dev/tty` question: the line form leaves the terminal in its own mode, so
/// Ctrl-C there is the terminal's SIGINT; it cancels the task and exits 130, as while following.
#[tokio::test]
async fn ctrl_c_at_the_dev_tty_question_cancels_the_task() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let scratch = Scratch::new();
    let (mut tty, _out, err) = ask_name_redirected(&server, &scratch);
    tty.expect("Name *").await;
    tty.type_keys("\u{3}").await;
    let (status, shown) = tty.finish().await;
    let err = std::fs::read_to_string(&err).expect("read err");
    let all = format!("terminal:\n{shown:?}\n--- err:\n{err}");
    assert_eq!(code(status), 130, "Ctrl-C exits 130; {all}");
    let id = err
        .lines()
        .find_map(created_id)
        .unwrap_or_else(|| panic!("no task id in stderr; {all}"));
    assert!(err.contains(&format!("cancelling task {id}")), "{all}");
    let get = mcp_url(&server, &["tasks", "get", &id, "--json"]).await;
    assert_exit("tasks get after Ctrl-C at the question", &get, 0);
    let task = stdout_json("tasks get --json", &get);
    assert_eq!(common::status(&task), "cancelled", "T-CAN-3: {task:#}");
}

/// The exit statuses of `cmd/exit.rs`: 1 for a tool error (task or plain), 2 for usage errors
/// (including a task the tool forbids and a plain call of a tool that requires one: T-CAP-5,
/// client side, refused before any request), 3 for connection and JSON-RPC errors.
#[tokio::test]
async fn exit_statuses() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let scratch = Scratch::new();
    let bad_answers = scratch.file("bad.json", "{nope");
    let url = server.url();
    let program = bin().display().to_string();

    let (failed_task, failed_plain, forbidden, required, both, neither) = tokio::join!(
        mcp(&[
            "call",
            "fail",
            r#"{"message":"boom"}"#,
            "--task",
            "--url",
            url
        ]),
        mcp(&["call", "fail", "--url", url]),
        mcp(&["call", "echo", r#"{"text":"x"}"#, "--task", "--url", url]),
        mcp(&["call", "must_be_task", "--url", url]),
        mcp(&[
            "call",
            "echo",
            r#"{"text":"x"}"#,
            "--url",
            url,
            "--",
            &program,
            "serve",
            "--store",
            "memory",
        ]),
        mcp(&["call", "echo", r#"{"text":"x"}"#]),
    );
    let (bad_json, not_object, bad_file, unreachable, unknown, ttl_alone) = tokio::join!(
        mcp(&["call", "echo", "{bad", "--url", url]),
        mcp(&["call", "echo", "[1]", "--url", url]),
        mcp(&[
            "call",
            "ask_name",
            "--task",
            "--answers",
            &bad_answers,
            "--url",
            url
        ]),
        mcp(&[
            "call",
            "echo",
            r#"{"text":"x"}"#,
            "--url",
            "http://127.0.0.1:1/mcp"
        ]),
        mcp(&["call", "no_such_tool", "{}", "--url", url]),
        mcp(&[
            "call",
            "slow_echo",
            r#"{"text":"x"}"#,
            "--ttl",
            "5000",
            "--url",
            url
        ]),
    );

    // 1: the tool reported an error, as a failed task or as a plain isError result.
    assert_exit("a failed task", &failed_task, 1);
    assert_eq!(failed_task.stdout.trim(), "boom", "{}", show(&failed_task));
    assert!(
        failed_task.stderr.contains("failed"),
        "{}",
        show(&failed_task)
    );
    assert_exit("a plain isError result", &failed_plain, 1);
    assert!(
        !failed_plain.stdout.trim().is_empty(),
        "{}",
        show(&failed_plain)
    );

    // 2: T-CAP-5 read from tools/list, so neither call is made.
    assert_exit("a task of a forbidden tool", &forbidden, 2);
    assert!(
        forbidden.stderr.contains("taskSupport"),
        "{}",
        show(&forbidden)
    );
    assert!(forbidden.stdout.is_empty(), "{}", show(&forbidden));
    assert_exit("a plain call of a required tool", &required, 2);
    assert!(
        required.stderr.contains("taskSupport"),
        "{}",
        show(&required)
    );
    assert!(required.stderr.contains("required"), "{}", show(&required));

    // 2: the server named twice, or not at all.
    assert_exit("--url and a command", &both, 2);
    assert!(both.stderr.contains("not both"), "{}", show(&both));
    assert_exit("no server", &neither, 2);
    assert!(neither.stderr.contains("--url"), "{}", show(&neither));

    // 2: arguments that are not a JSON object, an answers file that is not JSON.
    assert_exit("arguments that are not JSON", &bad_json, 2);
    assert!(bad_json.stderr.contains("not JSON"), "{}", show(&bad_json));
    assert_exit("arguments that are not an object", &not_object, 2);
    assert!(
        not_object.stderr.contains("JSON object"),
        "{}",
        show(&not_object)
    );
    assert_exit("an answers file that is not JSON", &bad_file, 2);
    assert!(
        bad_file.stderr.contains(&bad_answers) && bad_file.stderr.contains("not valid JSON"),
        "the message names the file: {}",
        show(&bad_file)
    );

    // 3: nothing listens there.
    assert_exit("an unreachable server", &unreachable, 3);
    assert!(
        unreachable.stderr.contains("cannot connect"),
        "{}",
        show(&unreachable)
    );

    // 3: a JSON-RPC error answer.
    assert_exit("an unknown tool", &unknown, 3);
    assert!(
        unknown.stderr.contains("no_such_tool") && unknown.stderr.contains("-32602"),
        "{}",
        show(&unknown)
    );

    // 2: clap refuses --ttl without --task.
    assert_exit("--ttl without --task", &ttl_alone, 2);
    assert!(ttl_alone.stderr.contains("--task"), "{}", show(&ttl_alone));
}

/// T-CAN-1: a task cancelled by another command (`tasks cancel ID`) is `cancelled` at once in the
/// Task that command prints, and the command following it ends with exit 4.
#[tokio::test]
async fn a_task_cancelled_elsewhere_exits_4() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let mut call = Running::start(&[
        "call",
        "slow_echo",
        r#"{"text":"x","delay_ms":20000}"#,
        "--task",
        "--url",
        server.url(),
    ]);
    let id = call.wait_line("`task <id> created`", created_id).await;

    let cancel = mcp_url(&server, &["tasks", "cancel", &id]).await;
    assert_exit("tasks cancel of a working task", &cancel, 0);
    let line = cancel.stdout.trim();
    assert!(
        line.starts_with(&id) && line.contains("cancelled"),
        "T-CAN-1: the Task printed is cancelled: {}",
        show(&cancel)
    );

    let call = call.finish().await;
    assert_exit("the call whose task was cancelled", &call, 4);
    assert!(
        call.stdout.is_empty(),
        "no result is printed: {}",
        show(&call)
    );
    assert!(call.stderr.contains("cancelled"), "{}", show(&call));
    assert!(
        call.elapsed < Duration::from_secs(15),
        "the call should end soon after the cancel, not when the tool would have: {}",
        show(&call)
    );
}

/// T-CAN-3: Ctrl-C (SIGINT) on a command following a task cancels the task with `tasks/cancel`
/// (a `notifications/cancelled` would leave it running), says so, and exits 130; `tasks get`
/// then shows the task `cancelled`.
#[tokio::test]
async fn ctrl_c_cancels_the_task() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let mut call = Running::start(&[
        "call",
        "slow_echo",
        r#"{"text":"x","delay_ms":20000}"#,
        "--task",
        "--url",
        server.url(),
    ]);
    // The earliest moment the test can know a task exists: Ctrl-C is taken over before the
    // command connects, so from here it must cancel the task, with no grace period.
    let id = call.wait_line("`task <id> created`", created_id).await;
    sigint(call.pid);
    let call = call.finish().await;
    assert_exit("Ctrl-C while following a task", &call, 130);
    assert!(
        call.stderr.contains(&format!("cancelling task {id}")),
        "the command says it cancels the task: {}",
        show(&call)
    );
    assert!(
        call.stdout.is_empty(),
        "no result is printed: {}",
        show(&call)
    );

    let get = mcp_url(&server, &["tasks", "get", &id, "--json"]).await;
    assert_exit("tasks get after Ctrl-C", &get, 0);
    let task = stdout_json("tasks get --json", &get);
    check_task(&task);
    assert_eq!(task["taskId"], id.as_str(), "{task:#}");
    assert_eq!(
        status(&task),
        "cancelled",
        "T-CAN-3: Ctrl-C cancels the task with tasks/cancel: {task:#}"
    );
}

/// T-RES-3: `call … --task --json` prints the raw `tasks/result` result, with related-task
/// `_meta` naming the task; T-CAP-5: `tools --json` prints `tools/list`'s tools with their
/// `execution.taskSupport`.
#[tokio::test]
async fn json_output_is_the_raw_result() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let run = mcp_url(
        &server,
        &[
            "call",
            "slow_echo",
            r#"{"text":"hi","delay_ms":50}"#,
            "--task",
            "--json",
        ],
    )
    .await;
    assert_exit("call --task --json", &run, 0);
    let result = stdout_json("call --task --json", &run);
    assert_eq!(text(&result), "hi", "{result:#}");
    let id = related_id("T-RES-3: call --task --json", &result);
    check_task_result(&result, &id);
    let shown = run.stderr.lines().find_map(created_id);
    assert_eq!(
        shown.as_deref(),
        Some(id.as_str()),
        "the task shown on stderr is the one the result names: {}",
        show(&run)
    );

    let tools = mcp_url(&server, &["tools", "--json"]).await;
    assert_exit("tools --json", &tools, 0);
    let listed = stdout_json("tools --json", &tools);
    let tools = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools --json has no `tools` array: {listed:#}"));
    for tool in tools {
        assert_schema("Tool", tool);
    }
    let support = |name: &str| {
        let tool = tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no tool {name} in {listed:#}"));
        tool.pointer("/execution/taskSupport").cloned()
    };
    assert_eq!(
        support("ask_name"),
        Some(Value::from("required")),
        "{listed:#}"
    );
    assert_eq!(
        support("slow_echo"),
        Some(Value::from("optional")),
        "{listed:#}"
    );
    assert!(
        matches!(support("echo"), None | Some(Value::Null))
            || support("echo") == Some(Value::from("forbidden")),
        "echo is forbidden as a task: {listed:#}"
    );
}

/// `tasks get|result|cancel|list` on a task another command created: T-GET-1 (get prints the
/// Task), T-RES-1 and T-RES-3 (result prints the tool's result, with related-task `_meta` in
/// JSON), T-CAN-2 (cancelling a completed task is -32602 naming its status: exit 3),
/// T-LIST-1 (list prints a `ListTasksResult`), and -32602 for an unknown id (exit 3).
#[tokio::test]
async fn tasks_commands() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let created = mcp_url(
        &server,
        &[
            "call",
            "slow_echo",
            r#"{"text":"later","delay_ms":300}"#,
            "--task",
            "--json",
        ],
    )
    .await;
    assert_exit("call slow_echo --task --json", &created, 0);
    let id = related_id("call --task --json", &stdout_json("call", &created));

    let get = mcp_url(&server, &["tasks", "get", &id, "--json"]).await;
    assert_exit("tasks get --json", &get, 0);
    let task = stdout_json("tasks get --json", &get);
    check_task(&task);
    assert_eq!(task["taskId"], id.as_str(), "{task:#}");
    assert_eq!(status(&task), "completed", "{task:#}");
    for field in ["createdAt", "ttl"] {
        assert!(
            task.get(field).is_some(),
            "T-OBJ-2: {field} missing: {task:#}"
        );
    }

    let get_text = mcp_url(&server, &["tasks", "get", &id]).await;
    assert_exit("tasks get", &get_text, 0);
    assert!(
        get_text.stdout.starts_with(&id) && get_text.stdout.contains("completed"),
        "{}",
        show(&get_text)
    );

    let result = mcp_url(&server, &["tasks", "result", &id]).await;
    assert_exit("tasks result", &result, 0);
    assert_eq!(result.stdout.trim(), "later", "{}", show(&result));

    let result_json = mcp_url(&server, &["tasks", "result", &id, "--json"]).await;
    assert_exit("tasks result --json", &result_json, 0);
    let payload = stdout_json("tasks result --json", &result_json);
    check_task_result(&payload, &id);
    assert_eq!(text(&payload), "later", "{payload:#}");

    let cancel = mcp_url(&server, &["tasks", "cancel", &id]).await;
    assert_exit("T-CAN-2: tasks cancel of a completed task", &cancel, 3);
    assert!(
        cancel.stderr.contains("-32602") && cancel.stderr.contains("completed"),
        "T-CAN-2: -32602 naming the status: {}",
        show(&cancel)
    );

    let list = mcp_url(&server, &["tasks", "list", "--json"]).await;
    assert_exit("tasks list --json", &list, 0);
    let page = stdout_json("tasks list --json", &list);
    assert!(page["tasks"].is_array(), "{page:#}");
    check_list_page(&page);

    let missing = mcp_url(&server, &["tasks", "get", "nonexistent"]).await;
    assert_exit("tasks get of an unknown id", &missing, 3);
    assert!(missing.stderr.contains("-32602"), "{}", show(&missing));
    assert!(missing.stdout.is_empty(), "{}", show(&missing));
}

/// T-NEW-5, T-RES-1 over stdio: a task created through a spawned `serve --store sqlite:S`
/// outlives that command and that server; a later command spawning another server on the same
/// file reads its result by id.
#[tokio::test]
async fn a_task_outlives_the_command_over_stdio_with_a_durable_store() {
    let scratch = Scratch::new();
    let store = scratch.store_arg();
    let server = bin().display().to_string();
    let serve = ["--", server.as_str(), "serve", "--store", store.as_str()];

    let mut args = vec![
        "call",
        "slow_echo",
        r#"{"text":"kept","delay_ms":50}"#,
        "--task",
        "--json",
    ];
    args.extend(serve);
    let created = mcp(&args).await;
    assert_exit("call --task over stdio on SQLite", &created, 0);
    let id = related_id("call --task --json", &stdout_json("call", &created));

    let mut args = vec!["tasks", "result", id.as_str()];
    args.extend(serve);
    let result = mcp(&args).await;
    assert_exit("tasks result in a later command", &result, 0);
    assert_eq!(result.stdout.trim(), "kept", "{}", show(&result));

    let mut args = vec!["tasks", "get", id.as_str(), "--json"];
    args.extend(serve);
    let get = mcp(&args).await;
    assert_exit("tasks get in a later command", &get, 0);
    let task = stdout_json("tasks get --json", &get);
    assert_eq!(status(&task), "completed", "{task:#}");
}

/// T-PROG-1 (client side): the progress of a task is shown while it runs, one plain line per
/// change when stderr is not a terminal, in order, up to the last step.
#[tokio::test]
async fn progress_is_shown_while_a_task_runs() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let run = mcp_url(
        &server,
        &[
            "call",
            "countdown",
            r#"{"from":3,"interval_ms":50}"#,
            "--task",
        ],
    )
    .await;
    assert_exit("call countdown --task", &run, 0);
    assert!(run.stdout.starts_with("Liftoff"), "{}", show(&run));
    let steps: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("progress "))
        .collect();
    assert!(
        steps.iter().any(|s| s.starts_with("3/3")),
        "the last step is shown: {}",
        show(&run)
    );
    let counts: Vec<u32> = steps
        .iter()
        .filter_map(|s| s.split('/').next()?.parse().ok())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "progress goes up, one line per change: {}",
        show(&run)
    );
}

/// T-CAP-1 (client side), T-META-1: the CLI declares that it hosts elicitation tasks, so
/// `approve` asks its question as a task on the client (the client-hosted task reports its status
/// to the server) and polls it; the answers file answers it. An array answers file declining
/// makes the tool report "not approved" (exit 1).
#[tokio::test]
async fn approve_runs_as_a_task_the_client_hosts() {
    // Debug logs let the test see the client-hosted task's status notification arrive.
    let server = HttpServer::spawn(bin(), &["--log", "debug"]).await;
    let scratch = Scratch::new();
    let yes = scratch.file("yes.json", r#"{"approve": true}"#);
    let no = scratch.file("no.json", r#"[{"action":"decline"}]"#);

    let run = mcp_url(
        &server,
        &[
            "call",
            "approve",
            r#"{"action":"deploy"}"#,
            "--task",
            "--answers",
            &yes,
        ],
    )
    .await;
    assert_exit("approve with approve: true", &run, 0);
    assert_eq!(run.stdout.trim(), "approved: deploy", "{}", show(&run));
    assert!(run.stderr.contains("input_required"), "{}", show(&run));
    // Only a receiver of a task sends notifications/tasks/status: here the client, about the
    // elicitation task it hosts for the server. The server logs it at debug.
    let hosted = bounded("the client-hosted task's status notification", async {
        while !server.stderr().contains("notifications/tasks/status") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    tokio::time::timeout(Duration::from_secs(5), hosted)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "T-CAP-1: the server never heard of a task hosted by the client; server stderr:\n{}",
                server.stderr()
            )
        });

    let declined = mcp_url(
        &server,
        &[
            "call",
            "approve",
            r#"{"action":"deploy"}"#,
            "--task",
            "--answers",
            &no,
        ],
    )
    .await;
    assert_exit("approve declined", &declined, 1);
    assert_eq!(
        declined.stdout.trim(),
        "not approved: deploy",
        "{}",
        show(&declined)
    );
}

/// T-RES-1, T-LIFE-3, T-CAN-1: `tasks result ID` of a task that already ended answers as the
/// task did, with the exit status of `call`: 1 and the tool's message for a failed task (its
/// isError result), 4 for a cancelled one.
#[tokio::test]
async fn tasks_result_exits_as_the_task_ended() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let failed = mcp_url(
        &server,
        &["call", "fail", r#"{"message":"boom"}"#, "--task", "--json"],
    )
    .await;
    assert_exit("call fail --task --json", &failed, 1);
    let failed_id = related_id("call fail --task --json", &stdout_json("call", &failed));
    let result = mcp_url(&server, &["tasks", "result", &failed_id]).await;
    assert_exit("tasks result of a failed task", &result, 1);
    assert_eq!(result.stdout.trim(), "boom", "{}", show(&result));

    let mut call = Running::start(&[
        "call",
        "slow_echo",
        r#"{"text":"x","delay_ms":20000}"#,
        "--task",
        "--url",
        server.url(),
    ]);
    let id = call.wait_line("`task <id> created`", created_id).await;
    let cancel = mcp_url(&server, &["tasks", "cancel", &id, "--json"]).await;
    assert_exit("tasks cancel --json", &cancel, 0);
    let task = stdout_json("tasks cancel --json", &cancel);
    check_task(&task);
    assert_eq!(status(&task), "cancelled", "T-CAN-1: {task:#}");
    let call = call.finish().await;
    assert_exit("the call whose task was cancelled", &call, 4);

    let result = mcp_url(&server, &["tasks", "result", &id]).await;
    assert_exit("tasks result of a cancelled task", &result, 4);
    assert!(result.stdout.is_empty(), "{}", show(&result));
    assert!(result.stderr.contains("cancelled"), "{}", show(&result));
}

/// With neither `--answers` nor a terminal, a question is answered `cancel` with a warning that
/// says how to answer it, rather than hanging: `ask_name` then greets a stranger.
#[tokio::test]
async fn without_answers_or_a_terminal_questions_are_cancelled() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let run = mcp_url(&server, &["call", "ask_name", "--task"]).await;
    assert_exit("call ask_name with nobody to answer", &run, 0);
    assert_eq!(run.stdout.trim(), "Hello, stranger!", "{}", show(&run));
    assert!(
        run.stderr.contains("nobody is at the terminal") && run.stderr.contains("--answers"),
        "the warning says how to answer: {}",
        show(&run)
    );
}

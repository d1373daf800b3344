//! The gateway in front of real upstream servers other than server-everything: the PyPI
//! `mcp-server-time` and `mcp-server-git` (MCP 2026-07-28 upstreams: the gateway's client
//! discovers them and speaks 2026 to them) and the npm `mcp-server-filesystem` (2025-11-25),
//! driven by our own client over the gateway's Streamable HTTP listener in both eras; and the
//! gateway's restart on one SQLite file (G-5) and upstreams that cannot start (G-4).
//!
//! The Python servers are installed by `tests/python/install.sh`, which the tests run themselves
//! (it is idempotent and locked), the npm ones by `npm ci` in `tests/interop`. All four are
//! instant and silent: what is slow, asks or reports is tested against server-everything in
//! `gateway_everything.rs`; everything serves here only as the slow tool of the restart tests.

mod gateway;
mod nodejs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gateway::*;
use mcp_tasks_runtime::client::{Client, ClientError, Protocol, ToolCall};
use mcp_tasks_runtime::gateway::{
    Gateway, GatewayConfig, GatewayError, Health, Rules, TaskPolicy, ToolRule, UpstreamSpec,
};
use mcp_tasks_runtime::wire::v2025_11_25::{CallToolResult, TaskStatus};
use serde_json::{json, Value};
use testkit::store::TempStore;

const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

fn time_upstream() -> UpstreamSpec {
    UpstreamSpec::command(
        python_installed("mcp-server-time"),
        ["--local-timezone".into(), "UTC".into()],
    )
}

fn git_upstream(repo: &Path) -> UpstreamSpec {
    UpstreamSpec::command(
        python_installed("mcp-server-git"),
        ["--repository".into(), repo.into()],
    )
}

fn filesystem_upstream(root: &Path) -> UpstreamSpec {
    UpstreamSpec::command(filesystem_bin(), [root.into()])
}

fn everything_upstream() -> UpstreamSpec {
    UpstreamSpec::command(everything_bin(), ["stdio".into()])
}

fn rules(flags: &[&str]) -> Rules {
    Rules::new(
        flags
            .iter()
            .map(|f| ToolRule::parse_flag(f).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect(),
    )
}

/// A gateway in front of `upstream`, serving Streamable HTTP on loopback.
async fn front(upstream: UpstreamSpec, rules: Rules, store: &Store) -> Served {
    serve_http(GatewayConfig::new(upstream).rules(rules), store).await
}

/// A Python upstream takes seconds of CPU to start (~2 s alone on 2 cores, far more when every
/// test of this file starts one at once on a busy machine), so this file starts one at a time.
static PYTHON_STARTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// How long a test may wait for its turn to start a Python upstream.
const PYTHON_TURN: Duration = Duration::from_secs(90);

/// Runs `start`, which starts a Python upstream, when no other test of this file is starting one.
async fn one_python_start<F: std::future::Future>(start: F) -> F::Output {
    let _turn = within(
        "a turn to start a Python upstream",
        PYTHON_TURN,
        PYTHON_STARTS.acquire(),
    )
    .await
    .expect("the semaphore is never closed");
    start.await
}

/// [`front`] for a Python upstream.
async fn python_front(upstream: UpstreamSpec, rules: Rules, store: &Store) -> Served {
    one_python_start(front(upstream, rules, store)).await
}

/// Our client on the gateway at `url`, speaking `protocol`: a 2025-11-25 client
/// `initialize`s, a 2026-07-28 one asks `server/discover` first (and would fall back to
/// 2025-11-25, which the gateway must not make it do).
async fn session(url: &str, protocol: Protocol) -> Client {
    let builder = match protocol {
        Protocol::V2025_11_25 => client(protocol),
        Protocol::V2026_07_28 => client(protocol).protocols([protocol, Protocol::V2025_11_25]),
    };
    let session = bounded(
        "the client connects to the gateway",
        builder.connect_http(url),
    )
    .await
    .unwrap_or_else(|e| panic!("{protocol:?} client on {url}: {e}"));
    assert_eq!(session.protocol(), protocol, "the era the client speaks");
    session
}

/// The era the gateway speaks to its upstream now.
fn upstream_era(served: &Served) -> Protocol {
    match served.health() {
        Health::Up(upstream) => upstream.protocol(),
        other => panic!("the upstream is not up: {other:?}"),
    }
}

/// The text of a result's first content block.
fn text(result: &CallToolResult) -> String {
    let value = serde_json::to_value(result).expect("a result serializes");
    value["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content in {value}"))
        .to_owned()
}

fn decode(value: Value) -> CallToolResult {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("not a CallToolResult ({e}): {value}"))
}

/// The server's JSON-RPC error for `outcome`, which must be one.
#[track_caller]
fn rpc_error<T: std::fmt::Debug>(outcome: Result<T, ClientError>) -> (i64, String) {
    match outcome {
        Err(e) => {
            let error = e
                .rpc()
                .unwrap_or_else(|| panic!("not a JSON-RPC error answer: {e}"));
            (error.code.0.into(), error.message.clone())
        }
        Ok(v) => panic!("expected a JSON-RPC error, got {v:?}"),
    }
}

/// Calls `tool` as a task of the gateway and follows it to its end: in 2025-11-25 the client
/// asks for a task; in 2026-07-28 the gateway decides, and the policy must make it one.
/// Returns the task's id and outcome.
async fn call_as_task(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> (String, Result<Value, ClientError>) {
    let handle = match client.protocol() {
        Protocol::V2025_11_25 => bounded(
            "a task-augmented tools/call",
            client.call_tool_as_task(tool, arguments, Some(60_000)),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool} as a task: {e}")),
        Protocol::V2026_07_28 => {
            match bounded("tools/call", client.start_tool_call(tool, arguments, None))
                .await
                .unwrap_or_else(|e| panic!("{tool}: {e}"))
            {
                ToolCall::Task(handle) => *handle,
                ToolCall::Finished(v) => panic!("{tool} answered at once, not as a task: {v}"),
            }
        }
    };
    let id = handle.id().to_owned();
    let outcome = bounded("the task's end", handle.wait()).await;
    (id, outcome)
}

/// The task as `tasks/get` shows it now, in the client's era.
async fn task_status(client: &Client, id: &str) -> (TaskStatus, Option<String>) {
    let handle = bounded("tasks/get", client.task(id))
        .await
        .unwrap_or_else(|e| panic!("tasks/get {id}: {e}"));
    let task = handle.task();
    (task.status, task.status_message.clone())
}

// ---------------------------------------------------------------------------------------------
// time: a MCP 2026-07-28 upstream
// ---------------------------------------------------------------------------------------------

/// G-1, G-2: get_current_time through the gateway answers the upstream's structuredContent in
/// both downstream eras, the gateway speaking 2026-07-28 to the upstream (which refuses
/// `initialize` once discovered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_answers_structured_content_in_both_eras() {
    let front = python_front(time_upstream(), Rules::default(), &Store::Memory).await;
    assert_eq!(
        upstream_era(&front),
        Protocol::V2026_07_28,
        "time is discovered"
    );
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let result = bounded(
            "get_current_time",
            client.call_tool("get_current_time", json!({"timezone": "UTC"})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: get_current_time: {e}"));
        assert_ne!(result.is_error, Some(true), "{protocol:?}: {result:?}");
        let structured = result
            .structured_content
            .clone()
            .unwrap_or_else(|| panic!("{protocol:?}: no structuredContent in {result:?}"));
        assert_eq!(structured["timezone"], "UTC", "{protocol:?}: {structured}");
        assert!(
            structured["datetime"]
                .as_str()
                .is_some_and(|d| d.ends_with("+00:00")),
            "{protocol:?}: {structured}"
        );
        client.close().await;
    }
}

/// G-2, X-2: with `get_current_time=always` the call runs as a task of the gateway in both eras
/// (2025-11-25: the client asks for it; 2026-07-28: the call answers a task) and completes
/// with the upstream's result, which `tasks/get` then shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_always_policy_runs_a_gateway_task_in_both_eras() {
    let front = python_front(
        time_upstream(),
        rules(&["get_current_time=always"]),
        &Store::Memory,
    )
    .await;
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let tool = bounded("tools/list", client.tool("get_current_time"))
            .await
            .expect("tools/list")
            .expect("get_current_time is listed");
        if protocol == Protocol::V2025_11_25 {
            assert_eq!(
                serde_json::to_value(tool.execution).expect("serializes")["taskSupport"],
                "required",
                "the policy shows in tools/list"
            );
        }
        let (id, outcome) =
            call_as_task(&client, "get_current_time", json!({"timezone": "UTC"})).await;
        let result = decode(outcome.unwrap_or_else(|e| panic!("{protocol:?}: {e}")));
        assert_eq!(
            result
                .structured_content
                .as_ref()
                .map(|s| s["timezone"].clone()),
            Some(json!("UTC")),
            "{protocol:?}: {result:?}"
        );
        let (status, _) = task_status(&client, &id).await;
        assert_eq!(status, TaskStatus::Completed, "{protocol:?}");
        client.close().await;
    }
}

/// G-1: a tool the upstream does not have answers -32602 naming the tool in both eras, the
/// meaning of the upstream's own answer (`-32602 "Unknown tool: no_such_tool"`), not an
/// isError result nor an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_unknown_tool_is_invalid_params_naming_it() {
    let front = python_front(time_upstream(), Rules::default(), &Store::Memory).await;
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let (code, message) = rpc_error(
            bounded(
                "tools/call",
                client.request(
                    "tools/call",
                    json!({"name": "no_such_tool", "arguments": {}}),
                ),
            )
            .await,
        );
        assert_eq!(code, INVALID_PARAMS, "{protocol:?}: {message}");
        assert!(
            message.contains("no_such_tool"),
            "{protocol:?}: the error names the tool: {message}"
        );
        client.close().await;
    }
}

/// G-1: the gateway declares what the upstream declared (prompts, resources) and answers its
/// lists as it does (`resources/list` is empty); completion, which the upstream lacks, is not
/// invented: `completion/complete` is -32601 in both eras.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_capabilities_pass_and_completion_is_not_invented() {
    let front = python_front(time_upstream(), Rules::default(), &Store::Memory).await;
    let legacy = session(front.url(), Protocol::V2025_11_25).await;
    let init = legacy.server().expect("an initialized session");
    let caps = serde_json::to_value(&init.capabilities).expect("serializes");
    assert!(caps["resources"].is_object(), "resources passed: {caps}");
    assert!(caps["prompts"].is_object(), "prompts passed: {caps}");
    assert!(caps["tools"].is_object(), "{caps}");
    assert!(
        caps["tasks"].is_object(),
        "the gateway adds its tasks: {caps}"
    );
    assert!(
        caps.get("completions").is_none(),
        "completion not invented: {caps}"
    );
    assert_eq!(init.server_info.name, "mcp-time");

    let modern = session(front.url(), Protocol::V2026_07_28).await;
    assert!(
        modern.server_runs_tool_tasks(),
        "the gateway adds the tasks extension"
    );
    let discovery = modern.discovery().expect("a discovered server");
    let caps = &discovery.raw["capabilities"];
    assert!(caps["resources"].is_object(), "resources passed: {caps}");
    assert!(caps["prompts"].is_object(), "prompts passed: {caps}");
    assert!(
        caps.get("completions").is_none(),
        "completion not invented: {caps}"
    );

    for client in [&legacy, &modern] {
        let era = client.protocol();
        let resources = bounded(
            "resources/list",
            client.request("resources/list", json!({})),
        )
        .await
        .unwrap_or_else(|e| panic!("{era:?}: resources/list: {e}"));
        assert_eq!(resources["resources"], json!([]), "{era:?}: {resources}");
        let prompts = bounded("prompts/list", client.request("prompts/list", json!({})))
            .await
            .unwrap_or_else(|e| panic!("{era:?}: prompts/list: {e}"));
        assert_eq!(prompts["prompts"], json!([]), "{era:?}: {prompts}");
        let (code, message) = rpc_error(
            bounded(
                "completion/complete",
                client.request(
                    "completion/complete",
                    json!({
                        "ref": {"type": "ref/prompt", "name": "any"},
                        "argument": {"name": "a", "value": ""}
                    }),
                ),
            )
            .await,
        );
        assert_eq!(code, METHOD_NOT_FOUND, "{era:?}: {message}");
    }
    legacy.close().await;
    modern.close().await;
}

// ---------------------------------------------------------------------------------------------
// git: a MCP 2026-07-28 upstream working on a repository
// ---------------------------------------------------------------------------------------------

/// Runs git in `dir`.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run git ({e}); the git tests need git installed"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository with one commit ("initial commit"), and an identity in its own config for it
/// and the commits the upstream makes (the machine may have none).
fn repository(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).expect("mkdir repo");
    git(&repo, &["init", "-q"]);
    git(&repo, &["config", "user.name", "Gateway Test"]);
    git(&repo, &["config", "user.email", "gateway@test.invalid"]);
    git(&repo, &["config", "commit.gpgsign", "false"]);
    std::fs::write(repo.join("README"), "hello\n").expect("write README");
    git(&repo, &["add", "README"]);
    git(&repo, &["commit", "-q", "-m", "initial commit"]);
    repo
}

/// G-1, G-2: git_log and git_status answer through the gateway in both eras, and git_commit
/// (policy `always`) runs as a task of the gateway that completes with the upstream's text and
/// leaves the commit in the repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_log_status_and_commit_as_a_task_in_both_eras() {
    let scratch = TempStore::new();
    let repo = repository(scratch.dir());
    let repo_path = repo.to_str().expect("a UTF-8 temp path");
    let front = python_front(
        git_upstream(&repo),
        rules(&["git_commit=always"]),
        &Store::Memory,
    )
    .await;
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let log = bounded(
            "git_log",
            client.call_tool("git_log", json!({"repo_path": repo_path, "max_count": 5})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: git_log: {e}"));
        assert_ne!(log.is_error, Some(true), "{protocol:?}: {log:?}");
        assert!(
            text(&log).contains("initial commit"),
            "{protocol:?}: {}",
            text(&log)
        );

        let name = format!("{protocol:?}.txt");
        std::fs::write(repo.join(&name), "new\n").expect("write");
        let status = bounded(
            "git_status",
            client.call_tool("git_status", json!({"repo_path": repo_path})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: git_status: {e}"));
        assert!(
            text(&status).contains(&name),
            "{protocol:?}: {}",
            text(&status)
        );

        let added = bounded(
            "git_add",
            client.call_tool("git_add", json!({"repo_path": repo_path, "files": [name]})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: git_add: {e}"));
        assert_ne!(added.is_error, Some(true), "{protocol:?}: {added:?}");

        let message = format!("add {name} through the gateway");
        let (id, outcome) = call_as_task(
            &client,
            "git_commit",
            json!({"repo_path": repo_path, "message": message}),
        )
        .await;
        let committed = decode(outcome.unwrap_or_else(|e| panic!("{protocol:?}: git_commit: {e}")));
        assert_ne!(
            committed.is_error,
            Some(true),
            "{protocol:?}: {committed:?}"
        );
        assert!(
            text(&committed).to_lowercase().contains("commit"),
            "{protocol:?}: {}",
            text(&committed)
        );
        assert_eq!(task_status(&client, &id).await.0, TaskStatus::Completed);

        let log = bounded(
            "git_log",
            client.call_tool("git_log", json!({"repo_path": repo_path, "max_count": 1})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: git_log: {e}"));
        assert!(
            text(&log).contains(&message),
            "{protocol:?}: {}",
            text(&log)
        );
        client.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// filesystem: a MCP 2025-11-25 upstream without resources
// ---------------------------------------------------------------------------------------------

/// G-1: write_file then read_text_file through the gateway in both eras: the file is written
/// where the upstream was told, and read back unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_writes_and_reads_in_both_eras() {
    let scratch = TempStore::new();
    let root = scratch.dir().canonicalize().expect("temp dir");
    let front = front(filesystem_upstream(&root), Rules::default(), &Store::Memory).await;
    assert_eq!(
        upstream_era(&front),
        Protocol::V2025_11_25,
        "filesystem does not know server/discover: the gateway initializes it"
    );
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let path = root.join(format!("{protocol:?}.txt"));
        let path = path.to_str().expect("a UTF-8 temp path");
        let content = format!("written by a {protocol:?} client through the gateway\n");
        let written = bounded(
            "write_file",
            client.call_tool("write_file", json!({"path": path, "content": content})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: write_file: {e}"));
        assert_ne!(written.is_error, Some(true), "{protocol:?}: {written:?}");
        assert_eq!(std::fs::read_to_string(path).expect("the file"), content);

        let read = bounded(
            "read_text_file",
            client.call_tool("read_text_file", json!({"path": path})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: read_text_file: {e}"));
        assert_ne!(read.is_error, Some(true), "{protocol:?}: {read:?}");
        assert_eq!(text(&read), content, "{protocol:?}");
        assert_eq!(
            read.structured_content,
            Some(json!({"content": content})),
            "{protocol:?}: structuredContent passes"
        );
        client.close().await;
    }
}

/// G-1, X-4, T-LIFE-3: a path outside the allowed directory is the upstream's isError result,
/// passed unchanged: a plain call answers it in both eras; as a task (policy `always`) the
/// 2025-11-25 task is `failed` and the 2026-07-28 task `completed`, both with that result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_denied_path_is_the_upstreams_error_result() {
    let scratch = TempStore::new();
    let root = scratch.dir().canonicalize().expect("temp dir");
    let front = front(
        filesystem_upstream(&root),
        rules(&["get_file_info=always"]),
        &Store::Memory,
    )
    .await;
    let outside = "/etc/hostname";
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let denied = bounded(
            "read_text_file",
            client.call_tool("read_text_file", json!({"path": outside})),
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol:?}: read_text_file: {e}"));
        assert_eq!(denied.is_error, Some(true), "{protocol:?}: {denied:?}");
        assert!(
            text(&denied).contains("Access denied - path outside allowed directories"),
            "{protocol:?}: {}",
            text(&denied)
        );

        let (id, outcome) = call_as_task(&client, "get_file_info", json!({"path": outside})).await;
        let result = decode(outcome.unwrap_or_else(|e| {
            panic!("{protocol:?}: the task's outcome is its isError result, not an error: {e}")
        }));
        assert_eq!(result.is_error, Some(true), "{protocol:?}: {result:?}");
        assert!(
            text(&result).contains("Access denied"),
            "{protocol:?}: {}",
            text(&result)
        );
        let (status, message) = task_status(&client, &id).await;
        match protocol {
            Protocol::V2025_11_25 => {
                assert_eq!(status, TaskStatus::Failed, "T-LIFE-3");
                let message = message.unwrap_or_default();
                assert!(
                    message.contains("Access denied"),
                    "the statusMessage says why: {message:?}"
                );
            }
            Protocol::V2026_07_28 => assert_eq!(status, TaskStatus::Completed, "X-4"),
        }
        client.close().await;
    }
}

/// G-1: filesystem declares no resources, prompts, completion nor logging, so neither does the
/// gateway, and `resources/list` is -32601 in both eras, as the upstream answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_has_no_resources_so_neither_has_the_gateway() {
    let scratch = TempStore::new();
    let front = front(
        filesystem_upstream(scratch.dir()),
        Rules::default(),
        &Store::Memory,
    )
    .await;
    for protocol in ERAS {
        let client = session(front.url(), protocol).await;
        let caps = match protocol {
            Protocol::V2025_11_25 => {
                serde_json::to_value(&client.server().expect("initialized").capabilities)
                    .expect("serializes")
            }
            Protocol::V2026_07_28 => {
                client.discovery().expect("discovered").raw["capabilities"].clone()
            }
        };
        for absent in ["resources", "prompts", "completions"] {
            assert!(
                caps.get(absent).is_none(),
                "{protocol:?}: no {absent}: {caps}"
            );
        }
        for method in ["resources/list", "resources/templates/list", "prompts/list"] {
            let (code, message) =
                rpc_error(bounded(method, client.request(method, json!({}))).await);
            assert_eq!(code, METHOD_NOT_FOUND, "{protocol:?} {method}: {message}");
        }
        client.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// G-5: the gateway restarts on its SQLite store
// ---------------------------------------------------------------------------------------------

/// A gateway in a tokio runtime of its own, on its own thread: [`Isolated::crash`] drops that
/// runtime, and with it everything the gateway runs (its task executions, its upstream), without
/// anything finishing: as a killed process would, but in the test process.
struct Isolated {
    url: String,
    crash: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Isolated {
    fn start(upstream: UpstreamSpec, rules: Rules, store: Store) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (crash_tx, crash_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let front = front(upstream, rules, &store).await;
                let _ = ready_tx.send(front.url().to_owned());
                // Kept by a task of its runtime, so that it is dropped with everything else
                // when the runtime is: dropped here, it would stop its upstream first, and a
                // call in flight could end the task before the crash.
                tokio::spawn(async move {
                    let _front = front;
                    std::future::pending::<()>().await;
                });
                let _ = crash_rx.await;
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        let url = ready_rx.recv_timeout(WAIT).unwrap_or_else(|e| {
            panic!("the first gateway did not start within {WAIT:?} ({e}; see its panic above)")
        });
        Self {
            url,
            crash: Some(crash_tx),
            thread: Some(thread),
        }
    }

    /// Ends the gateway abruptly, and waits until its store is closed (its file lock free).
    fn crash(mut self) {
        let thread = self.end().expect("not crashed yet");
        thread.join().expect("the first gateway's thread ends");
    }

    fn end(&mut self) -> Option<std::thread::JoinHandle<()>> {
        if let Some(crash) = self.crash.take() {
            let _ = crash.send(());
        }
        self.thread.take()
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(thread) = self.end() {
            let _ = thread.join();
        }
    }
}

/// G-5 (T-RES-1, T-LIFE-2): a task in flight when the gateway dies is, once a new gateway opens
/// the same SQLite file, `failed` with a statusMessage saying the server restarted: the same
/// task id, read with tasks/get through the new gateway in both eras; never left working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fails_the_task_in_flight() {
    let store = TempStore::new();
    let slow = "trigger-long-running-operation";
    let first = Isolated::start(
        everything_upstream(),
        rules(&[&format!("{slow}=always")]),
        Store::Sqlite(store.path().to_owned()),
    );
    let id = {
        let client = session(&first.url, Protocol::V2025_11_25).await;
        let handle = bounded(
            "a task-augmented tools/call",
            client.call_tool_as_task(slow, json!({"duration": 30, "steps": 3}), Some(600_000)),
        )
        .await
        .unwrap_or_else(|e| panic!("{slow} as a task: {e}"));
        let id = handle.id().to_owned();
        // The call is upstream and the task working when the gateway dies.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(task_status(&client, &id).await.0, TaskStatus::Working);
        id
    };
    first.crash();

    let second = front(
        everything_upstream(),
        rules(&[&format!("{slow}=always")]),
        &Store::Sqlite(store.path().to_owned()),
    )
    .await;
    for protocol in ERAS {
        let client = session(second.url(), protocol).await;
        let (status, message) = task_status(&client, &id).await;
        assert_eq!(status, TaskStatus::Failed, "{protocol:?}: {message:?}");
        let message = message.unwrap_or_default();
        assert!(
            message.contains("restarted"),
            "{protocol:?}: the statusMessage says the server restarted: {message:?}"
        );
        client.close().await;
    }
}

/// G-5: a task of a tool declared idempotent, in flight when the gateway dies, runs again once
/// a new gateway opens the same SQLite file, and completes with the upstream's result: the same
/// task id, created by a 2026-07-28 client, read in both eras.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_runs_an_idempotent_tool_again() {
    let store = TempStore::new();
    let slow = "trigger-long-running-operation";
    let idempotent = || {
        Rules::new(vec![ToolRule::new(slow)
            .expect("a glob")
            .policy(TaskPolicy::Always)
            .idempotent(true)])
    };
    let first = Isolated::start(
        everything_upstream(),
        idempotent(),
        Store::Sqlite(store.path().to_owned()),
    );
    let id = {
        let client = session(&first.url, Protocol::V2026_07_28).await;
        let started = bounded(
            "tools/call",
            client.start_tool_call(slow, json!({"duration": 2, "steps": 2}), None),
        )
        .await
        .unwrap_or_else(|e| panic!("{slow}: {e}"));
        let ToolCall::Task(handle) = started else {
            panic!("{slow} answered at once, not as a task");
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        handle.id().to_owned()
    };
    first.crash();

    let second = front(
        everything_upstream(),
        idempotent(),
        &Store::Sqlite(store.path().to_owned()),
    )
    .await;
    let modern = session(second.url(), Protocol::V2026_07_28).await;
    let (status, message) = task_status(&modern, &id).await;
    assert_eq!(status, TaskStatus::Working, "running again: {message:?}");
    let message = message.unwrap_or_default();
    assert!(
        message.contains("running it again"),
        "the statusMessage says the task runs again after the restart: {message:?}"
    );
    let outcome = bounded(
        "the task run again",
        bounded("tasks/get", modern.task(&id))
            .await
            .unwrap_or_else(|e| panic!("tasks/get {id}: {e}"))
            .wait(),
    )
    .await;
    let result = decode(outcome.unwrap_or_else(|e| panic!("the task run again: {e}")));
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(
        text(&result).contains("Long running operation completed"),
        "{}",
        text(&result)
    );
    for protocol in ERAS {
        let client = session(second.url(), protocol).await;
        let (status, message) = task_status(&client, &id).await;
        assert_eq!(status, TaskStatus::Completed, "{protocol:?}: {message:?}");
        client.close().await;
    }
    modern.close().await;
}

// ---------------------------------------------------------------------------------------------
// G-4: upstreams that cannot start
// ---------------------------------------------------------------------------------------------

/// G-4: an upstream that exits at once without serving (mcp-server-git on a directory that is
/// no repository exits 0) fails `Gateway::connect` with GatewayError::Connect naming the
/// command, and saying the process ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_that_exits_at_once_fails_connect_naming_it() {
    let scratch = TempStore::new();
    let upstream = git_upstream(scratch.dir());
    let described = upstream.describe();
    let outcome = one_python_start(bounded(
        "Gateway::connect",
        Gateway::connect(GatewayConfig::new(upstream)),
    ))
    .await;
    let Err(error) = outcome else {
        panic!("connected to an upstream that exited")
    };
    let GatewayError::Connect { upstream, .. } = &error;
    assert_eq!(upstream, &described);
    let message = error.to_string();
    assert!(message.contains("mcp-server-git"), "{message}");
    assert!(message.contains("--repository"), "{message}");
    assert!(
        message.contains("exited") || message.contains("closed"),
        "the message says the upstream ended: {message}"
    );
}

/// G-4: an upstream command that does not exist fails `Gateway::connect` at once, naming the
/// command and why it could not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_command_missing_fails_connect_clearly() {
    let missing = "/nonexistent/mcp-server-nowhere";
    let upstream = UpstreamSpec::command(missing, ["--flag".into()]);
    let outcome = bounded(
        "Gateway::connect",
        Gateway::connect(GatewayConfig::new(upstream)),
    )
    .await;
    let Err(error) = outcome else {
        panic!("connected to a command that does not exist")
    };
    assert!(matches!(error, GatewayError::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(missing), "{message}");
    assert!(
        message.to_lowercase().contains("no such file") || message.contains("not found"),
        "the message says the command is missing: {message}"
    );
}

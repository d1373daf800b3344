//! `mcp-tasks serve --config FILE`: settings from a TOML file take effect, flags override them,
//! and a file (or flag) that cannot be used stops the server with exit status 2 and a message
//! that names the file or the key (T-TTL-2 for the limits and ttl policy it sets).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::stdio::StdioPeer;

/// How long a server that should refuse to start may take to do so.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "mcp-tasks-config-test-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` with `contents` and returns its path.
    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Runs `mcp-tasks args…` to its end (bounded) with stdin closed; returns the exit code and stderr.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    run_env(args, &[]).await
}

/// [`run`] with extra environment variables.
async fn run_env(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let child = tokio::process::Command::new(bin())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin().display()));
    let output = match tokio::time::timeout(EXIT_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("waiting for mcp-tasks {args:?}: {e}"),
        Err(_) => panic!("mcp-tasks {args:?} did not exit within {EXIT_TIMEOUT:?}"),
    };
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `serve --store memory args…` and asserts it refuses to start with exit status 2 and a
/// message containing each of `needles` (case-insensitive). Returns stderr.
async fn assert_refused(what: &str, args: &[&str], needles: &[&str]) -> String {
    let mut all = vec!["serve", "--store", "memory"];
    all.extend_from_slice(args);
    let (code, stderr) = run(&all).await;
    assert_eq!(
        code,
        Some(2),
        "{what}: a configuration that cannot be used exits with status 2 (args {all:?}); stderr:\n{stderr}"
    );
    let lower = stderr.to_lowercase();
    for needle in needles {
        assert!(
            lower.contains(&needle.to_lowercase()),
            "{what}: the message names {needle:?}; stderr:\n{stderr}"
        );
    }
    stderr
}

/// Creates a long-running task; `Err` is the JSON-RPC error.
async fn try_long_task(p: &StdioPeer) -> Result<Value, testkit::stdio::RpcError> {
    p.request(
        "tools/call",
        task_call("must_be_task", json!({ "delay_ms": 60_000 }), json!({})),
    )
    .await
}

/// Asserts that exactly `limit` long tasks can be created on `p`, and the next is refused with
/// -32603 naming the limit. Cancels what it created.
async fn assert_active_limit(p: &StdioPeer, limit: usize) {
    let mut ids = Vec::new();
    for n in 1..=limit {
        let created = try_long_task(p)
            .await
            .unwrap_or_else(|e| panic!("T-TTL-2: task {n} of {limit} is within the limit: {e}"));
        ids.push(task_id(&check_create_result(&created)));
    }
    let err = try_long_task(p).await.expect_err(&format!(
        "T-TTL-2: task {} is above the configured limit of {limit}",
        limit + 1
    ));
    assert_eq!(err.code, -32603, "T-TTL-2: {err}");
    assert!(
        err.message.contains("too many unfinished tasks")
            && err.message.contains(&limit.to_string()),
        "T-TTL-2: the message says why and names the limit {limit}: {err}"
    );
    for id in &ids {
        let _ = cancel_task(p, id).await;
    }
}

/// `serve --help` exits 0 and documents the configuration flags.
#[tokio::test]
async fn serve_help_lists_the_flags() {
    let (code, _) = run(&["serve", "--help"]).await;
    assert_eq!(code, Some(0), "serve --help exits 0");
    let output = tokio::process::Command::new(bin())
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .output();
    let output = bounded("serve --help", output)
        .await
        .expect("serve --help runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config",
        "--store",
        "--default-ttl-ms",
        "--max-ttl-ms",
        "--allow-unlimited-ttl",
        "--sweep-interval-ms",
        "--max-active-tasks",
        "--max-result-bytes",
        "--max-pending-inputs",
        "--audit",
        "--log-format",
    ] {
        assert!(
            help.contains(flag),
            "serve --help documents {flag}:\n{help}"
        );
    }
}

/// T-TTL-2: a config file's `[limits] max_active_tasks` and `[ttl]` settings take effect.
#[tokio::test]
async fn config_file_sets_limits_and_ttls() {
    let dir = TempDir::new();
    let config = dir.file(
        "mcp-tasks.toml",
        "# limits for this test\n\
         [ttl]\n\
         default_ms = 120000\n\
         max_ms = 600000\n\
         \n\
         [limits]\n\
         max_active_tasks = 2\n\
         max_result_bytes = 1048576\n\
         max_pending_inputs = 4\n\
         \n\
         [tasks]\n\
         page_size = 1\n",
    );
    let (p, _) = stdio_peer(&["--config", utf8(&config)]).await;

    assert_active_limit(&p, 2).await;

    let args = json!({ "text": "ttl", "delay_ms": 0 });
    let default = create_task(&p, "slow_echo", args.clone(), json!({})).await;
    assert_eq!(
        default["ttl"], 120_000,
        "T-TTL-2: [ttl] default_ms is the default ttl: {default}"
    );
    let capped = create_task(&p, "slow_echo", args, json!({ "ttl": 999_999_999 })).await;
    assert_eq!(
        capped["ttl"], 600_000,
        "T-TTL-2: [ttl] max_ms caps the ttl: {capped}"
    );

    let first = list_page(&p, None).await.expect("tasks/list");
    assert_eq!(
        first["tasks"].as_array().map(Vec::len),
        Some(1),
        "[tasks] page_size = 1 gives one task per page: {first}"
    );
    assert!(
        first.get("nextCursor").is_some(),
        "several tasks on pages of one: {first}"
    );
}

/// T-TTL-2: flags override the config file, key by key; what the flags leave alone still comes
/// from the file.
#[tokio::test]
async fn flags_override_the_config_file() {
    let dir = TempDir::new();
    let config = dir.file(
        "mcp-tasks.toml",
        "[ttl]\n\
         default_ms = 120000\n\
         max_ms = 600000\n\
         \n\
         [limits]\n\
         max_active_tasks = 2\n",
    );
    let (p, _) = stdio_peer(&[
        "--config",
        utf8(&config),
        "--max-active-tasks",
        "3",
        "--default-ttl-ms",
        "90000",
    ])
    .await;

    assert_active_limit(&p, 3).await;

    let args = json!({ "text": "ttl", "delay_ms": 0 });
    let default = create_task(&p, "slow_echo", args.clone(), json!({})).await;
    assert_eq!(
        default["ttl"], 90_000,
        "--default-ttl-ms overrides [ttl] default_ms: {default}"
    );
    let capped = create_task(&p, "slow_echo", args, json!({ "ttl": 999_999_999 })).await;
    assert_eq!(
        capped["ttl"], 600_000,
        "[ttl] max_ms still applies when no flag overrides it: {capped}"
    );
}

/// A `[store] url` in the config file picks the store: the server opens (creates) a temp SQLite
/// file named there. HOME and XDG_DATA_HOME point into the temp dir too, so that even if the file
/// were ignored no default store outside it is touched.
#[tokio::test]
async fn config_file_chooses_the_store() {
    let dir = TempDir::new();
    let db = dir.path().join("tasks.db");
    let config = dir.file(
        "mcp-tasks.toml",
        &format!(
            "[store]\nurl = \"sqlite:{}\"\n",
            utf8(&db).replace('\\', "\\\\")
        ),
    );
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("create a fake HOME");
    // No --store flag on purpose: the file chooses. Stdin is closed, so the server starts, sees
    // EOF and exits.
    let (code, stderr) = run_env(
        &["serve", "--config", utf8(&config)],
        &[
            ("HOME", utf8(&home)),
            ("XDG_DATA_HOME", utf8(&home.join("data"))),
        ],
    )
    .await;
    assert_eq!(
        code,
        Some(0),
        "serve with a SQLite store from the file; stderr:\n{stderr}"
    );
    assert!(
        db.exists(),
        "[store] url = sqlite:PATH opens the database at {}; stderr:\n{stderr}",
        db.display()
    );
}

/// An unknown key (or section) is an error naming it: exit status 2.
#[tokio::test]
async fn unknown_key_is_refused() {
    let dir = TempDir::new();
    let config = dir.file(
        "unknown-key.toml",
        "[limits]\nmax_active_tasks = 2\nmax_active_taskz = 3\n",
    );
    assert_refused(
        "an unknown key",
        &["--config", utf8(&config)],
        &["max_active_taskz"],
    )
    .await;

    let config = dir.file("unknown-section.toml", "[frobnicate]\nenabled = true\n");
    assert_refused(
        "an unknown section",
        &["--config", utf8(&config)],
        &["frobnicate"],
    )
    .await;
}

/// Invalid TOML is an error that names the file and the line: exit status 2.
#[tokio::test]
async fn invalid_toml_is_refused_with_its_line() {
    let dir = TempDir::new();
    let config = dir.file(
        "broken.toml",
        "[limits]\nmax_active_tasks = 2\nmax_result_bytes = = 3\n",
    );
    assert_refused(
        "invalid TOML",
        &["--config", utf8(&config)],
        &["broken.toml", "line 3"],
    )
    .await;
}

/// A value of the wrong type or out of range is an error naming the key: exit status 2.
#[tokio::test]
async fn bad_values_are_refused() {
    let dir = TempDir::new();
    for (name, contents, key) in [
        (
            "string-limit.toml",
            "[limits]\nmax_active_tasks = \"lots\"\n",
            "max_active_tasks",
        ),
        (
            "negative-ttl.toml",
            "[ttl]\ndefault_ms = -5\n",
            "default_ms",
        ),
        (
            "zero-limit.toml",
            "[limits]\nmax_result_bytes = 0\n",
            "max_result_bytes",
        ),
        ("bool-audit.toml", "[audit]\nenabled = \"yes\"\n", "enabled"),
    ] {
        let config = dir.file(name, contents);
        assert_refused(name, &["--config", utf8(&config)], &[key]).await;
    }
}

/// T-TTL-2: contradictory ttl settings are refused (exit status 2) in the file and as flags: a
/// default ttl above the maximum, and an unlimited default without `allow_unlimited`.
#[tokio::test]
async fn contradictory_ttls_are_refused() {
    let dir = TempDir::new();
    let above = dir.file(
        "default-above-max.toml",
        "[ttl]\ndefault_ms = 7200000\nmax_ms = 3600000\n",
    );
    assert_refused(
        "default ttl above max (file)",
        &["--config", utf8(&above)],
        &["ttl"],
    )
    .await;
    assert_refused(
        "default ttl above max (flags)",
        &["--default-ttl-ms", "7200000", "--max-ttl-ms", "3600000"],
        &["ttl"],
    )
    .await;

    let unlimited = dir.file(
        "unlimited-default.toml",
        "[ttl]\ndefault_ms = \"unlimited\"\nmax_ms = \"unlimited\"\n",
    );
    assert_refused(
        "unlimited default without allow_unlimited (file)",
        &["--config", utf8(&unlimited)],
        &["unlimited"],
    )
    .await;
    assert_refused(
        "unlimited default without --allow-unlimited-ttl (flags)",
        &["--default-ttl-ms", "unlimited", "--max-ttl-ms", "unlimited"],
        &["unlimited"],
    )
    .await;
}

/// T-TTL-2: a limit of 0 would refuse everything, so it is refused: exit status 2.
#[tokio::test]
async fn zero_limits_are_refused() {
    for flag in [
        "--max-active-tasks",
        "--max-result-bytes",
        "--max-pending-inputs",
    ] {
        // The message names the flag that set it.
        assert_refused(&format!("{flag} 0"), &[flag, "0"], &[flag]).await;
    }
}

/// A config file that cannot be read (missing, or a directory) is an error naming it: exit
/// status 2.
#[tokio::test]
async fn unreadable_config_file_is_refused() {
    let dir = TempDir::new();
    let missing = dir.path().join("no-such-file.toml");
    assert_refused(
        "a missing config file",
        &["--config", utf8(&missing)],
        &["no-such-file.toml"],
    )
    .await;
    let directory = dir.path().join("a-directory.toml");
    std::fs::create_dir(&directory).expect("create a directory");
    assert_refused(
        "a directory as config file",
        &["--config", utf8(&directory)],
        &["a-directory.toml"],
    )
    .await;
}

/// The example file shipped in `examples/mcp-tasks.toml` is accepted: the server starts with it
/// (store and address overridden by flags) and serves a task.
#[tokio::test]
async fn example_config_file_is_accepted() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../examples/mcp-tasks.toml"),
        manifest.join("examples/mcp-tasks.toml"),
    ];
    let example = candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no example config file; looked at {candidates:?}"));
    // HttpServer adds `--store memory --http 127.0.0.1:0`, which override whatever store and
    // address the example names.
    let server = HttpServer::spawn(bin(), &["--config", utf8(example)]).await;
    let session = server.session().await;
    let p = HttpPeer::wrap(&std::sync::Arc::new(server), session);
    let task = create_task(
        &p,
        "slow_echo",
        json!({ "text": "example", "delay_ms": 0 }),
        json!({}),
    )
    .await;
    let result = task_result(&p, &task_id(&task))
        .await
        .expect("a task completes with the example configuration");
    assert_eq!(text(&result), "example");
}

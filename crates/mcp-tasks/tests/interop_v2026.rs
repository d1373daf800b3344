//! Interop at MCP 2026-07-28: the official TypeScript client 2.x with the tasks extension
//! (`@modelcontextprotocol/client` 2.4.0 + `@modelcontextprotocol/ext-tasks` 0.2.2, the requester
//! the MCP Inspector uses) against our `serve`, on Streamable HTTP and on stdio, through
//! `tests/interop/client-v2026.mjs` (see `tests/interop/README.md`).
//!
//! That requester is strict where a server can easily be loose: it takes the extension only when
//! the server declares it as exactly `{}`, refuses a `tools/list` without `ttlMs` and
//! `cacheScope`, a result without `resultType`, and a completed task whose inlined result lacks
//! `resultType: "complete"`; it reads a JSON-RPC error only on HTTP 2xx or 400. The script fails
//! on any of these, and checks each step's outcome itself.
//!
//! These need Node.js 20 or later and npm on `PATH`; `tests/interop/node_modules` is installed
//! on first use when missing or stale (`npm ci`), as for `tests/interop.rs`.

mod nodejs;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use testkit::http::HttpServer;
use testkit::process::{run_to_exit, Finished};

/// How long one run of `client-v2026.mjs` may take (it gives up itself after 90 s).
const CLIENT_LIMIT: Duration = Duration::from_secs(120);
/// The Node.js major version the TypeScript client 2.x needs at least.
const NODE_MIN_MAJOR: u32 = 20;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// `node` on `PATH`, new enough, with `tests/interop`'s packages installed.
fn node() -> &'static Path {
    let version = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| {
            panic!("the TypeScript client interop tests need Node.js {NODE_MIN_MAJOR} or later on PATH: {e}")
        });
    let major = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        major.is_some_and(|m| m >= NODE_MIN_MAJOR),
        "the TypeScript client interop tests need Node.js {NODE_MIN_MAJOR} or later; `node --version` \
         says {version:?}"
    );
    nodejs::ready(&nodejs::package_dir("interop"));
    Path::new("node")
}

fn script() -> String {
    nodejs::package_dir("interop")
        .join("client-v2026.mjs")
        .display()
        .to_string()
}

fn describe(what: &str, run: &Finished) -> String {
    format!(
        "{what}: {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.status, run.elapsed, run.stdout, run.stderr
    )
}

/// The summary `client-v2026.mjs` prints: every step ran, with the outcomes it saw.
fn assert_summary(run: &Finished, transport: &str) -> Value {
    let summary: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{}",
            describe(
                &format!("client-v2026.mjs printed no JSON summary ({e})"),
                run
            )
        )
    });
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["transport"], transport, "{summary}");
    let steps = &summary["steps"];
    for step in [
        "discover",
        "tools",
        "plain_call",
        "slow_echo_task",
        "ask_name_task",
        "tool_error_task",
        "cancel",
    ] {
        assert!(
            steps.get(step).is_some(),
            "client-v2026.mjs skipped step {step}: {summary}"
        );
    }
    assert_eq!(
        steps["discover"]["capabilities"]["extensions"]["io.modelcontextprotocol/tasks"],
        serde_json::json!({}),
        "{summary}"
    );
    assert_eq!(steps["plain_call"]["kind"], "immediate", "{summary}");
    assert_eq!(steps["slow_echo_task"]["text"], "slow hi", "{summary}");
    assert_eq!(steps["ask_name_task"]["text"], "Hello, Ada!", "{summary}");
    assert_eq!(
        steps["ask_name_task"]["question"]["delivery"], "task-update",
        "{summary}"
    );
    assert_eq!(
        steps["tool_error_task"]["kind"], "task",
        "a question asked before the threshold makes the call a task: {summary}"
    );
    assert_eq!(steps["cancel"]["status"], "cancelled", "{summary}");
    summary
}

/// B-1, B-2, B-4, B-5, X-1, X-2, X-3, X-4, X-5, X-6, X-8, X-10: the official 2026-07-28
/// requester discovers our HTTP server, lists its tools, gets an immediate result for a tool
/// that is never a task, follows a server-made task to its inlined result, answers a task's
/// question with tasks/update, reads a tool error as a completed task with `isError`, and
/// cancels a task (its requests carry the Mcp-Method / Mcp-Name headers it derives itself).
#[tokio::test]
async fn ts_client_v2026_against_our_http_server() {
    let node = node();
    let server = HttpServer::spawn(bin(), &[]).await;
    let run = run_to_exit(
        node,
        &[script(), "--url".to_owned(), server.url().to_owned()],
        CLIENT_LIMIT,
    )
    .await;
    assert!(
        run.status.success(),
        "{}\n--- our server's stderr ---\n{}",
        describe("the TypeScript client 2.x against our HTTP server", &run),
        server.stderr()
    );
    assert_summary(&run, "http");
}

/// B-8 and the same as [`ts_client_v2026_against_our_http_server`] on stdio: the client spawns
/// `mcp-tasks serve --store memory` and speaks 2026-07-28 to it, one JSON-RPC message per line.
#[tokio::test]
async fn ts_client_v2026_against_our_stdio_server() {
    let node = node();
    let mut args = vec![script(), "--".to_owned(), bin().display().to_string()];
    args.extend(["serve", "--store", "memory"].map(str::to_owned));
    let run = run_to_exit(node, &args, CLIENT_LIMIT).await;
    assert!(
        run.status.success(),
        "{}",
        describe("the TypeScript client 2.x against our stdio server", &run)
    );
    assert_summary(&run, "stdio");
}

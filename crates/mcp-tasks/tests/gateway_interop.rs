//! `mcp-tasks gateway` between software nobody here wrote: the official TypeScript SDK clients
//! (1.x with its experimental tasks API at 2025-11-25; 2.x with `@modelcontextprotocol/ext-tasks`
//! at 2026-07-28) on one side, `@modelcontextprotocol/server-everything` (which has no task for
//! these tools and speaks only 2025-11-25) on the other. The clients are the Node scripts
//! `tests/interop/gateway-client.mjs` and `gateway-client-v2026.mjs`, which print one JSON line
//! of what each step saw; these tests assert on it.
//!
//! They need Node.js 20+ and npm; `tests/interop/node_modules` is installed on first use when
//! missing or stale (see `nodejs::ready`).

mod nodejs;

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::process::{run_to_exit, show, Finished};

/// How long one run of a client script may take (each gives up itself after 90 s).
const CLIENT_LIMIT: Duration = Duration::from_secs(120);
/// The Node.js major version the SDKs need at least.
const NODE_MIN_MAJOR: u32 = 20;

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

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// `node` on `PATH`, new enough, with `tests/interop`'s packages installed.
fn node() -> &'static Path {
    let version = StdCommand::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| {
            panic!("the gateway interop tests need Node.js {NODE_MIN_MAJOR} or later on PATH: {e}")
        });
    let major = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        major.is_some_and(|m| m >= NODE_MIN_MAJOR),
        "the gateway interop tests need Node.js {NODE_MIN_MAJOR} or later; `node --version` says \
         {version:?}"
    );
    nodejs::ready(&nodejs::package_dir("interop"));
    Path::new("node")
}

fn script(name: &str) -> String {
    nodejs::package_dir("interop")
        .join(name)
        .display()
        .to_string()
}

fn everything() -> PathBuf {
    nodejs::package_dir("interop").join("node_modules/.bin/mcp-server-everything")
}

/// The gateway's command line after the binary, without a transport: memory store, in front
/// of server-everything over stdio.
fn gateway_args() -> Vec<String> {
    vec![
        "gateway".to_owned(),
        "--store".to_owned(),
        "memory".to_owned(),
        "--".to_owned(),
        everything().display().to_string(),
        "stdio".to_owned(),
    ]
}

/// `mcp-tasks gateway --http 127.0.0.1:0 …` in front of server-everything, its stderr kept.
/// Asked to stop with SIGTERM on drop, so it stops its upstream too.
async fn http_gateway() -> HttpServer {
    let mut args = gateway_args();
    args.splice(3..3, ["--http".to_owned(), "127.0.0.1:0".to_owned()]);
    HttpServer::spawn_command(bin(), &args)
        .await
        .terminate_on_drop()
}

/// Runs `node SCRIPT --url URL` against a gateway on HTTP; returns the summary.
async fn over_http(name: &str) -> Value {
    let node = node();
    let gateway = http_gateway().await;
    let run = run_to_exit(
        node,
        &[script(name), "--url".to_owned(), gateway.url().to_owned()],
        CLIENT_LIMIT,
    )
    .await;
    summary(name, &run, &gateway.stderr())
}

/// Runs `node SCRIPT -- mcp-tasks gateway --store memory -- everything stdio`: the SDK spawns
/// the gateway and speaks to it over stdio.
async fn over_stdio(name: &str) -> Value {
    let node = node();
    let mut args = vec![script(name), "--".to_owned(), bin().display().to_string()];
    args.extend(gateway_args());
    let run = run_to_exit(node, &args, CLIENT_LIMIT).await;
    summary(name, &run, "(on the client's stderr)")
}

/// The one JSON line the script printed, which must say `ok`.
fn summary(name: &str, run: &Finished, gateway_stderr: &str) -> Value {
    let failed = || {
        format!(
            "{name}: {}\n--- the gateway's stderr:\n{gateway_stderr}",
            show(run)
        )
    };
    assert!(run.status.success(), "{}", failed());
    let summary: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}): {}", failed()));
    assert_eq!(summary["ok"], true, "{}", failed());
    summary
}

fn long_text(duration: u32, steps: u32) -> String {
    format!("Long running operation completed. Duration: {duration} seconds, Steps: {steps}.")
}

/// The checks of `gateway-client.mjs`'s summary (TS SDK 1.x, 2025-11-25).
fn assert_v1_summary(summary: &Value, transport: &str) {
    assert_eq!(summary["transport"], transport, "{summary}");
    let steps = &summary["steps"];

    // G-1: the upstream's identity, capabilities and instructions, plus tasks.
    let init = &steps["initialize"];
    assert_eq!(init["server"]["name"], "mcp-servers/everything", "{init}");
    assert_eq!(init["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(
        init["capabilities"],
        json!([
            "completions",
            "logging",
            "prompts",
            "resources",
            "tasks",
            "tools"
        ]),
        "G-1: the upstream's capabilities plus tasks"
    );
    assert_eq!(
        init["instructions"], true,
        "G-1: the upstream's instructions"
    );

    // G-1, G-2: every upstream tool, optional by default.
    let tools = steps["tools"].as_object().expect("tools is an object");
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, EVERYTHING_TOOLS, "G-1: the upstream's tools");
    for (name, support) in tools {
        assert_eq!(support, "optional", "G-2: default policy of {name}");
    }
    assert_eq!(steps["echo"]["text"], "Echo: hi", "{summary}");

    // G-2: the slow tool as a task of the gateway.
    let long = &steps["long_task"];
    assert_eq!(long["text"], long_text(2, 2), "{long}");
    assert_eq!(
        long["statuses"].as_array().and_then(|s| s.last()),
        Some(&json!("completed")),
        "{long}"
    );

    // G-1: resources, prompts and completion as server-everything answers them.
    let resources = &steps["resources"];
    let docs: Vec<Value> = [
        "architecture",
        "extension",
        "features",
        "how-it-works",
        "instructions",
        "startup",
        "structure",
    ]
    .iter()
    .map(|d| json!(format!("demo://resource/static/document/{d}.md")))
    .collect();
    assert_eq!(resources["uris"], json!(docs), "{resources}");
    assert_eq!(
        resources["templates"],
        json!([
            "demo://resource/dynamic/blob/{resourceId}",
            "demo://resource/dynamic/text/{resourceId}"
        ]),
        "{resources}"
    );
    assert_eq!(
        resources["read"],
        json!([{"uri": "demo://resource/dynamic/text/3", "mimeType": "text/plain", "prefix": "Resource 3"}]),
        "{resources}"
    );
    assert_eq!(
        steps["prompt"]["messages"],
        json!([{"role": "user", "content": {"type": "text", "text": "What's weather in Paris?"}}]),
        "{summary}"
    );
    assert_eq!(
        steps["completion"]["department"],
        json!(["Engineering"]),
        "{summary}"
    );
    assert_eq!(
        steps["completion"]["name"],
        json!(["David", "Eve", "Frank"]),
        "{summary}"
    );

    // G-3: the upstream's elicitation came over the open tasks/result exchange, with related-task
    // _meta naming the gateway's task, and the answer reached the upstream tool.
    let asked = &steps["elicitation_task"];
    let task_id = &asked["taskId"];
    assert!(
        asked["stream"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("taskStatus:input_required"))),
        "G-3: input_required while the question waits: {asked}"
    );
    assert_eq!(
        &asked["elicitation"]["relatedTask"], task_id,
        "G-3: {asked}"
    );
    assert_eq!(
        asked["elicitation"]["onTasksResultExchange"], true,
        "G-3: {asked}"
    );
    assert_eq!(
        asked["elicitation"]["required"],
        json!(["name"]),
        "G-1: the upstream's form: {asked}"
    );
    assert!(
        asked["texts"][1]
            .as_str()
            .is_some_and(|t| t.contains("- Name: Ada")),
        "G-3: the answer reached the upstream tool: {asked}"
    );
    assert_eq!(&asked["relatedTask"], task_id, "{asked}");
    assert_eq!(asked["status"], "completed", "{asked}");
}

/// The checks of `gateway-client-v2026.mjs`'s summary (TS client 2.x + ext-tasks, 2026-07-28).
fn assert_v2026_summary(summary: &Value, transport: &str) {
    assert_eq!(summary["transport"], transport, "{summary}");
    let steps = &summary["steps"];

    // G-1: a 2026-07-28 server with the tasks extension, in front of a 2025-11-25-only upstream.
    let discover = &steps["discover"];
    assert_eq!(discover["era"], "modern", "{discover}");
    assert_eq!(discover["version"], "2026-07-28", "{discover}");
    assert_eq!(
        discover["server"]["name"], "mcp-servers/everything",
        "{discover}"
    );
    assert_eq!(discover["tasksExtension"], json!({}), "{discover}");
    assert_eq!(
        discover["capabilities"],
        json!([
            "completions",
            "extensions",
            "logging",
            "prompts",
            "resources",
            "tools"
        ]),
        "G-1: the upstream's capabilities plus the tasks extension"
    );
    assert_eq!(
        steps["tools"],
        json!(EVERYTHING_TOOLS),
        "G-1: the upstream's tools"
    );

    assert_eq!(
        steps["echo"]["kind"], "immediate",
        "a quick call stays plain: {summary}"
    );
    assert_eq!(steps["echo"]["text"], "Echo: hi", "{summary}");

    // G-2: slower than the threshold, so the gateway made it a task.
    let long = &steps["long_task"];
    assert_eq!(long["kind"], "task", "G-2: {long}");
    assert_eq!(long["status"], "completed", "{long}");
    assert_eq!(long["text"], long_text(3, 3), "{long}");

    // G-3: the upstream's elicitation as an inputRequest of the task, answered by tasks/update.
    let asked = &steps["elicitation_task"];
    let task_id = &asked["taskId"];
    assert_eq!(asked["kind"], "task", "{asked}");
    let statuses = asked["statuses"].as_array().expect("statuses");
    assert!(
        statuses.contains(&json!("input_required")),
        "G-3: input_required while the question waits: {asked}"
    );
    assert_eq!(statuses.last(), Some(&json!("completed")), "{asked}");
    let questions = asked["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 1, "G-3: one question: {asked}");
    assert_eq!(questions[0]["kind"], "elicitation", "{asked}");
    assert_eq!(questions[0]["delivery"], "task-update", "G-3: {asked}");
    assert_eq!(&questions[0]["taskId"], task_id, "G-3: {asked}");
    assert_eq!(
        questions[0]["hasName"], true,
        "G-1: the upstream's form: {asked}"
    );
    assert!(asked["tasksUpdates"].as_u64() >= Some(1), "G-3: {asked}");
    assert!(
        asked["texts"][1]
            .as_str()
            .is_some_and(|t| t.contains("- Name: Ada")),
        "G-3: the answer reached the upstream tool: {asked}"
    );

    assert_eq!(
        steps["prompt"]["messages"],
        json!([{"role": "user", "content": {"type": "text", "text": "What's weather in Paris?"}}]),
        "G-1: prompts/get passes through: {summary}"
    );
}

/// G-1, G-2, G-3: the TypeScript SDK 1.x client (2025-11-25 tasks) through the gateway on
/// Streamable HTTP: the upstream's tools, resources, prompts and completion as the upstream
/// answers them; the slow tool as a task polled to its result; the upstream's elicitation
/// answered by the SDK's handler over the tasks/result exchange.
#[tokio::test]
async fn ts_sdk_1x_client_through_the_gateway_over_http() {
    let summary = over_http("gateway-client.mjs").await;
    assert_v1_summary(&summary, "http");
}

/// The same as [`ts_sdk_1x_client_through_the_gateway_over_http`] with the SDK spawning the
/// gateway and speaking to it over stdio.
#[tokio::test]
async fn ts_sdk_1x_client_through_the_gateway_over_stdio() {
    let summary = over_stdio("gateway-client.mjs").await;
    assert_v1_summary(&summary, "stdio");
}

/// G-1, G-2, G-3: the TypeScript client 2.x with ext-tasks (2026-07-28) through the gateway on
/// Streamable HTTP: discovery answered in 2026-07-28 for an upstream that speaks only
/// 2025-11-25, a quick call answered at once, a slow call made a task (CreateTaskResult) and
/// followed to its result, and the upstream's elicitation delivered as an inputRequest and
/// answered with tasks/update.
#[tokio::test]
async fn ts_client_2x_through_the_gateway_over_http() {
    let summary = over_http("gateway-client-v2026.mjs").await;
    assert_v2026_summary(&summary, "http");
}

/// The same as [`ts_client_2x_through_the_gateway_over_http`] with the client spawning the
/// gateway and speaking 2026-07-28 to it over stdio.
#[tokio::test]
async fn ts_client_2x_through_the_gateway_over_stdio() {
    let summary = over_stdio("gateway-client-v2026.mjs").await;
    assert_v2026_summary(&summary, "stdio");
}

//! Audit events of the real binary (T-SEC-3): with `--audit`, one structured event per thing
//! that happens to a task, under the `mcp_tasks::audit` target on stderr; without it, none, even
//! with `--log info`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use testkit::stdio::StdioPeer;

/// The tracing target of every audit event.
const AUDIT_TARGET: &str = "mcp_tasks::audit";

/// How long audit lines may take to reach stderr after the request that caused them.
const LOG_DEADLINE: Duration = Duration::from_secs(20);

/// The stderr lines that are JSON objects.
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// The JSON audit events on stderr.
fn audit_events(stderr: &str) -> Vec<Value> {
    json_lines(stderr)
        .into_iter()
        .filter(|line| line["target"] == AUDIT_TARGET)
        .collect()
}

/// The `fields` of the audit event `event` for task `task`, if logged.
fn find_event(events: &[Value], event: &str, task: &str) -> Option<Value> {
    events
        .iter()
        .map(|e| &e["fields"])
        .find(|f| f["event"] == event && f["task"] == task)
        .cloned()
}

/// Waits (bounded) until every `(event, task)` in `wanted` is on stderr; returns the events.
async fn wait_for_events(p: &StdioPeer, wanted: &[(&str, &str)]) -> Vec<Value> {
    let deadline = Instant::now() + LOG_DEADLINE;
    loop {
        let events = audit_events(&p.stderr());
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(event, task)| find_event(&events, event, task).is_none())
            .collect();
        if missing.is_empty() {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "T-SEC-3: no audit event {missing:?} within {LOG_DEADLINE:?}; stderr:\n{}",
            p.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks the fields every audit event carries.
fn check_fields(what: &str, fields: &Value, task: &str, tool: &str) {
    assert_eq!(fields["task"], task, "T-SEC-3: {what}: task id: {fields}");
    assert_eq!(fields["tool"], tool, "T-SEC-3: {what}: tool name: {fields}");
    assert_eq!(
        fields["owner"], "-",
        "T-SEC-3: {what}: no auth, so the owner is \"-\": {fields}"
    );
    assert!(
        fields["session"].as_str().is_some_and(|s| !s.is_empty()),
        "T-SEC-3: {what}: the session is named: {fields}"
    );
    assert!(
        fields["status"].as_str().is_some_and(|s| !s.is_empty()),
        "T-SEC-3: {what}: the status is given: {fields}"
    );
}

/// Creates a task, waits for its result and cancels another, all over one stdio connection.
/// Returns (the completed task's id, the cancelled task's id).
async fn create_complete_and_cancel(p: &StdioPeer) -> (String, String) {
    let done = create_task(
        p,
        "slow_echo",
        json!({ "text": "audited", "delay_ms": 50 }),
        json!({}),
    )
    .await;
    let done_id = task_id(&done);
    let result = task_result(p, &done_id).await.expect("the task completes");
    assert_eq!(text(&result), "audited");

    let cancelled = create_task(p, "must_be_task", json!({ "delay_ms": 60_000 }), json!({})).await;
    let cancelled_id = task_id(&cancelled);
    let answer = cancel_task(p, &cancelled_id)
        .await
        .expect("cancel a working task");
    assert_eq!(status(&answer), "cancelled");
    (done_id, cancelled_id)
}

/// Ends the server (EOF on stdin) and waits for it, so that all it logged is on stderr.
async fn finish(p: &StdioPeer) {
    p.close_stdin().await;
    let status = p.wait_exit().await;
    assert!(status.success(), "clean exit on EOF: {status}");
    p.wait_stderr_closed().await;
}

/// T-SEC-3: `--audit --log-format json` logs one JSON object per line; the audit events create,
/// status (completed), result and cancel each name the task, the tool, the owner ("-" without
/// auth), the session and the status.
#[tokio::test]
async fn audit_events_as_json() {
    let (p, _) = stdio_peer(&["--audit", "--log-format", "json"]).await;
    let (done, cancelled) = create_complete_and_cancel(&p).await;

    let events = wait_for_events(
        &p,
        &[
            ("create", &done),
            ("status", &done),
            ("result", &done),
            ("create", &cancelled),
            ("cancel", &cancelled),
        ],
    )
    .await;

    let create = find_event(&events, "create", &done).expect("waited for it");
    check_fields("create", &create, &done, "slow_echo");
    assert_eq!(create["status"], "working", "T-SEC-3: {create}");

    let completed = events
        .iter()
        .map(|e| &e["fields"])
        .find(|f| {
            f["event"] == "status" && f["task"] == done.as_str() && f["status"] == "completed"
        })
        .unwrap_or_else(|| panic!("T-SEC-3: a status event with status completed: {events:#?}"));
    check_fields("status", completed, &done, "slow_echo");

    let result = find_event(&events, "result", &done).expect("waited for it");
    check_fields("result", &result, &done, "slow_echo");
    assert_eq!(result["status"], "completed", "T-SEC-3: {result}");

    let cancel = find_event(&events, "cancel", &cancelled).expect("waited for it");
    check_fields("cancel", &cancel, &cancelled, "must_be_task");
    assert_eq!(cancel["status"], "cancelled", "T-SEC-3: {cancel}");

    // One connection, one session: every event names the same one.
    let sessions: Vec<&Value> = [&create, &result, &cancel]
        .into_iter()
        .map(|f| &f["session"])
        .collect();
    assert!(
        sessions.windows(2).all(|w| w[0] == w[1]),
        "T-SEC-3: one stdio connection is one session: {sessions:?}"
    );

    // The completed task's events come in the order things happened.
    let order: Vec<&str> = events
        .iter()
        .map(|e| &e["fields"])
        .filter(|f| f["task"] == done.as_str())
        .filter_map(|f| f["event"].as_str())
        .collect();
    let pos = |name: &str| order.iter().position(|e| *e == name);
    assert!(
        pos("create") < pos("status") && pos("status") < pos("result"),
        "T-SEC-3: create, then status, then result: {order:?}"
    );

    finish(&p).await;
    let stderr = p.stderr();
    for line in stderr.lines().filter(|l| l.contains(AUDIT_TARGET)) {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("--log-format json: not one JSON object per line ({e}): {line:?}")
        });
        assert!(parsed.is_object(), "{line:?}");
    }
}

/// T-SEC-3: `--audit` with the default text format still logs the events, with their fields.
#[tokio::test]
async fn audit_events_as_text() {
    let (p, _) = stdio_peer(&["--audit"]).await;
    let (done, _) = create_complete_and_cancel(&p).await;
    let deadline = Instant::now() + LOG_DEADLINE;
    loop {
        let stderr = p.stderr();
        let logged = stderr.lines().any(|line| {
            (line.contains("event=\"create\"") || line.contains("event=create"))
                && line.contains(done.as_str())
        });
        if logged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "T-SEC-3: no text audit event create for {done} within {LOG_DEADLINE:?}; stderr:\n{stderr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    finish(&p).await;
}

/// T-SEC-3: without `--audit` no audit event is logged, even with `--log info` (JSON format, so
/// the target of every line is visible).
#[tokio::test]
async fn no_audit_events_without_the_flag_json() {
    let (p, _) = stdio_peer(&["--log", "info", "--log-format", "json"]).await;
    let (done, cancelled) = create_complete_and_cancel(&p).await;
    finish(&p).await;
    let stderr = p.stderr();
    let lines = json_lines(&stderr);
    assert!(
        !lines.is_empty(),
        "--log info --log-format json logs JSON lines, so their absence below means something; \
         stderr:\n{stderr}"
    );
    let audit: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            line["target"] == AUDIT_TARGET
                || line["fields"]["event"]
                    .as_str()
                    .is_some_and(|e| ["create", "status", "result", "cancel"].contains(&e))
        })
        .collect();
    assert!(
        audit.is_empty(),
        "T-SEC-3: audit events without --audit (tasks {done}, {cancelled}): {audit:#?}"
    );
}

/// T-SEC-3: without `--audit` no audit event is logged, even with `--log info` (text format).
#[tokio::test]
async fn no_audit_events_without_the_flag_text() {
    let (p, _) = stdio_peer(&["--log", "info"]).await;
    let _ = create_complete_and_cancel(&p).await;
    finish(&p).await;
    let stderr = p.stderr();
    let audit: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            line.contains(AUDIT_TARGET)
                || ["create", "status", "result", "cancel"].iter().any(|e| {
                    line.contains(&format!("event=\"{e}\"")) || line.contains(&format!("event={e}"))
                })
        })
        .collect();
    assert!(
        audit.is_empty(),
        "T-SEC-3: audit events without --audit: {audit:#?}"
    );
}

/// T-SEC-3: `[audit] enabled = true` in a config file turns the events on like `--audit`.
#[tokio::test]
async fn audit_enabled_by_config_file() {
    let path = std::env::temp_dir().join(format!(
        "mcp-tasks-audit-test-{}-{}.toml",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::write(&path, "[audit]\nenabled = true\n").expect("write the config file");
    let _cleanup = RemoveOnDrop(path.clone());
    let config = path.to_str().expect("temp paths are UTF-8").to_owned();
    let (p, _) = stdio_peer(&["--config", &config, "--log-format", "json"]).await;
    let (done, cancelled) = create_complete_and_cancel(&p).await;
    let waited = bounded(
        "audit events enabled by the config file",
        wait_for_events(&p, &[("create", &done), ("cancel", &cancelled)]),
    )
    .await;
    assert!(!waited.is_empty());
    finish(&p).await;
}

/// Removes a temp file when dropped, even when the test fails.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

//! The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.2.0-alpha.12, pinned
//! with the Node 22 it needs in `tests/conformance/`) against `mcp-tasks serve --http
//! --fixtures conformance --store memory`: the suite's own client drives our real server and
//! asserts what the specification requires. See `docs/conformance.md`.
//!
//! - Each of the ten `tasks-*` scenarios by name, at the 2026-07-28 wire (`--spec-version
//!   2026-07-28 --force`: extension scenarios are not on the spec timeline, and without
//!   `--force` the suite skips them and exits 0). Under `--requirements` they run but are not
//!   scored, which is why they also run here one by one: each must pass every check.
//! - The `--requirements 2026-07-28` and `--requirements 2025-11-25` legs, each against its
//!   expected-failures file (`tests/conformance/expected-*.yaml`), which lists only features the
//!   server does not offer; the suite fails the run on an unexpected failure and on an entry
//!   that passes (a stale baseline).
//!
//! A run counts only if the suite really checked something: the checks it saved (`-o DIR`) are
//! read back, and a scenario that did not run, or ran no check that passed, fails the test.

mod nodejs;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use testkit::http::HttpServer;
use testkit::process::{run_to_exit, Finished};
use tokio::sync::Semaphore;

/// How long one scenario may take (the suite bounds each scenario at 30 s itself).
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);
/// How long a `--requirements` leg may take.
const LEG_LIMIT: Duration = Duration::from_secs(900);
/// The spec revision whose wire the tasks extension is defined on.
const MODERN: &str = "2026-07-28";
/// The revision of the stateful, `initialize`-based wire.
const LEGACY: &str = "2025-11-25";

/// Suite runs at once: the scenarios time their servers' answers, and the machine may be small.
static RUNS: Semaphore = Semaphore::const_new(2);

/// Scenarios that, in the pinned suite, hold one placeholder check it marks SKIPPED: the run
/// proves only that the scenario exists and that nothing else it checks fails.
const SUITE_PLACEHOLDERS: &[&str] = &["tasks-status-notifications"];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// The suite's entry point in `tests/conformance`.
fn cli() -> String {
    nodejs::package_dir("conformance")
        .join("node_modules/@modelcontextprotocol/conformance/dist/index.js")
        .display()
        .to_string()
}

/// A fresh directory for the suite's `-o`, under the target directory.
fn results_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(format!("{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// One run of the suite against a fresh fixture server: its exit, its output, the checks it
/// saved by scenario, and our server's stderr.
struct SuiteRun {
    run: Finished,
    results: PathBuf,
    server_stderr: String,
}

impl SuiteRun {
    /// Serves the fixtures on a fresh port and runs `conformance server --url URL ARGS… -o DIR`.
    async fn start(name: &str, args: &[&str], limit: Duration) -> Self {
        let node = nodejs::suite_node();
        let _slot = RUNS.acquire().await.expect("the semaphore is never closed");
        let server = HttpServer::spawn(bin(), &["--fixtures", "conformance"]).await;
        let results = results_dir(name);
        let mut argv = vec![
            cli(),
            "server".to_owned(),
            "--url".to_owned(),
            server.url().to_owned(),
        ];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv.extend(["-o".to_owned(), results.display().to_string()]);
        let run = run_to_exit(&node, &argv, limit).await;
        Self {
            run,
            results,
            server_stderr: server.stderr(),
        }
    }

    /// Everything a person needs when the run failed.
    fn report(&self, what: &str) -> String {
        format!(
            "{what}\nconformance exited {} after {:?}; its checks are in {}\n--- suite output ---\n{}\n\
             --- suite stderr ---\n{}\n--- our server's stderr ---\n{}",
            self.run.status,
            self.run.elapsed,
            self.results.display(),
            nodejs::plain(&self.run.stdout),
            nodejs::plain(&self.run.stderr),
            self.server_stderr
        )
    }

    /// The checks the suite saved for `scenario` (`DIR/server-<scenario>-<time>/checks.json`).
    fn checks(&self, scenario: &str) -> Option<Vec<Value>> {
        let prefix = format!("server-{scenario}-");
        let entries = std::fs::read_dir(&self.results).ok()?;
        let dir = entries.filter_map(Result::ok).find(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix(&prefix)
                .is_some_and(|rest| {
                    // Not a longer scenario name sharing this prefix: the rest is the run's time.
                    rest.starts_with(|c: char| c.is_ascii_digit())
                })
        })?;
        let text = std::fs::read_to_string(dir.path().join("checks.json")).ok()?;
        serde_json::from_str::<Value>(&text)
            .ok()?
            .as_array()
            .cloned()
    }

    /// Scenario directories the suite saved: how many scenarios really ran.
    fn scenarios_run(&self) -> usize {
        std::fs::read_dir(&self.results).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("checks.json").is_file())
                .count()
        })
    }

    fn cleanup(self) {
        let _ = std::fs::remove_dir_all(&self.results);
    }
}

fn status(check: &Value) -> &str {
    check["status"].as_str().unwrap_or("")
}

/// One line per check: `STATUS id: error`.
fn lines(checks: &[Value]) -> String {
    checks
        .iter()
        .map(|c| {
            format!(
                "  {} {}{}",
                status(c),
                c["id"].as_str().unwrap_or("?"),
                c["errorMessage"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the extension scenario `scenario` at the 2026-07-28 wire and fails unless the suite ran
/// it and every check passed (a WARNING counts as a failure here: the tasks surface is ours).
async fn tasks_scenario(scenario: &str) {
    let run = SuiteRun::start(
        scenario,
        &["--scenario", scenario, "--spec-version", MODERN, "--force"],
        SCENARIO_LIMIT,
    )
    .await;
    let output = nodejs::plain(&run.run.stdout);
    assert!(
        !output.contains("SKIPPED: scenario"),
        "{}",
        run.report(&format!(
            "the suite skipped {scenario} instead of running it"
        ))
    );
    let Some(checks) = run.checks(scenario) else {
        panic!(
            "{}",
            run.report(&format!("the suite saved no checks for {scenario}"))
        );
    };
    let failing: Vec<Value> = checks
        .iter()
        .filter(|c| matches!(status(c), "FAILURE" | "WARNING"))
        .cloned()
        .collect();
    assert!(
        failing.is_empty() && run.run.status.success(),
        "{}",
        run.report(&format!(
            "{scenario} failed these checks:\n{}",
            lines(&failing)
        ))
    );
    let passed = checks
        .iter()
        .filter(|c| status(c) == "SUCCESS" && c["id"] != "wire-schema-valid")
        .count();
    if SUITE_PLACEHOLDERS.contains(&scenario) && passed == 0 {
        assert!(
            checks
                .iter()
                .all(|c| status(c) == "SKIPPED" && c["id"] == scenario),
            "{}",
            run.report(&format!(
                "{scenario}: expected only the suite's placeholder check, got:\n{}",
                lines(&checks)
            ))
        );
    } else {
        assert!(
            passed > 0,
            "{}",
            run.report(&format!(
                "{scenario} ran no check that passed:\n{}",
                lines(&checks)
            ))
        );
    }
    run.cleanup();
}

/// Runs `--requirements revision` with its expected-failures file: the suite exits non-zero on
/// an unexpected failure or a stale entry. Fails unless it ran at least `min_scenarios`, and
/// unless each of `unscored` (scenarios the suite runs in this leg without scoring them, still
/// pending there) passed every check.
async fn requirements_leg(revision: &str, min_scenarios: usize, unscored: &[&str]) {
    let baseline = nodejs::package_dir("conformance").join(format!("expected-{revision}.yaml"));
    let baseline = baseline.display().to_string();
    let run = SuiteRun::start(
        &format!("requirements-{revision}"),
        &["--requirements", revision, "--expected-failures", &baseline],
        LEG_LIMIT,
    )
    .await;
    let output = nodejs::plain(&run.run.stdout);
    assert!(
        run.run.status.success() && output.contains("Baseline check passed"),
        "{}",
        run.report(&format!(
            "the --requirements {revision} leg failed its baseline {baseline}"
        ))
    );
    let ran = run.scenarios_run();
    assert!(
        ran >= min_scenarios,
        "{}",
        run.report(&format!(
            "the --requirements {revision} leg ran {ran} scenarios, expected at least \
             {min_scenarios}"
        ))
    );
    for scenario in unscored {
        let checks = run.checks(scenario).unwrap_or_default();
        let passed = checks.iter().any(|c| status(c) == "SUCCESS");
        let failing: Vec<Value> = checks
            .iter()
            .filter(|c| matches!(status(c), "FAILURE" | "WARNING"))
            .cloned()
            .collect();
        assert!(
            passed && failing.is_empty(),
            "{}",
            run.report(&format!(
                "{scenario} (not scored in this leg) did not pass:\n{}",
                lines(&checks)
            ))
        );
    }
    run.cleanup();
}

/// X-1..X-10, B-4: the suite's tasks-lifecycle: sync tool, flat CreateTaskResult, tasks/get
/// working and completed with the result inlined, a tool error completed with `isError`, a
/// JSON-RPC error failed with `error`, ack-only and idempotent cancel.
#[tokio::test]
async fn tasks_lifecycle() {
    tasks_scenario("tasks-lifecycle").await;
}

/// the extension advertised in `server/discover` (no v1 `capabilities.tasks`),
/// tasks/* gated with -32021, no task for a request without the extension, per-request opt-in.
#[tokio::test]
async fn tasks_capability_negotiation() {
    tasks_scenario("tasks-capability-negotiation").await;
}

/// `ttlMs`/`pollIntervalMs` integers (no v1 `ttl`/`pollInterval`), no early expiry, no
/// related-task `_meta` on the inlined result.
#[tokio::test]
async fn tasks_wire_fields() {
    tasks_scenario("tasks-wire-fields").await;
}

/// X-3, B-6: no `requestState` on CreateTaskResult or DetailedTask.
#[tokio::test]
async fn tasks_request_state_removal() {
    tasks_scenario("tasks-request-state-removal").await;
}

/// `inputRequests` on an input_required task, tasks/update acked and resuming it,
/// partial answers keeping the unanswered key.
#[tokio::test]
async fn tasks_mrtr_input() {
    tasks_scenario("tasks-mrtr-input").await;
}

/// B-5, X-8: Mcp-Method / Mcp-Name accepted when they match, -32020 when they do not.
#[tokio::test]
async fn tasks_request_headers() {
    tasks_scenario("tasks-request-headers").await;
}

/// B-4: tasks/result and tasks/list -32601, server-directed creation, legacy
/// `task` param ignored, `resultType` everywhere, tasks/get right after creation, unknown id
/// -32602.
#[tokio::test]
async fn tasks_dispatch_and_envelope() {
    tasks_scenario("tasks-dispatch-and-envelope").await;
}

/// the suite's status-notification scenario (a placeholder check in this suite version).
#[tokio::test]
async fn tasks_status_notifications() {
    tasks_scenario("tasks-status-notifications").await;
}

/// a required-task tool called without the extension is -32021 naming it.
#[tokio::test]
async fn tasks_required_task_error() {
    tasks_scenario("tasks-required-task-error").await;
}

/// B-6, X-2: MRTR rounds first, then a CreateTaskResult without `requestState`, and the task's
/// result reflects the answer.
#[tokio::test]
async fn tasks_mrtr_composition() {
    tasks_scenario("tasks-mrtr-composition").await;
}

/// B-1..B-7, X-1..X-10: every scored 2026-07-28 server scenario passes, except those about
/// resources, prompts and completion, which the server does not offer
/// (`tests/conformance/expected-2026-07-28.yaml`); so do the suite's pending scenarios about
/// the Mcp-Method / Mcp-Name / Mcp-Param-* headers (B-5) and 2020-12 tool schemas.
#[tokio::test]
async fn requirements_2026_07_28() {
    requirements_leg(
        MODERN,
        45,
        &[
            "http-header-validation",
            "http-custom-header-server-validation",
            "json-schema-2020-12",
        ],
    )
    .await;
}

/// B-8: the same endpoint still passes the 2025-11-25 requirements (stateful `initialize`
/// wire), except resources, prompts and completion, which it does not offer
/// (`tests/conformance/expected-2025-11-25.yaml`); so do the suite's session-lifecycle and
/// 2020-12 tool schema scenarios, which it runs there unscored. (Its unscored
/// `server-sse-polling` needs a `test_reconnection` tool that closes its POST stream mid-call,
/// which no tool can ask the transport to do; it ends in warnings, not failures.)
#[tokio::test]
async fn requirements_2025_11_25() {
    requirements_leg(
        LEGACY,
        30,
        &["server-session-lifecycle", "json-schema-2020-12"],
    )
    .await;
}

/// A fixture set name that does not exist is a usage error naming the sets there are, before
/// anything is served.
#[tokio::test]
async fn an_unknown_fixture_set_is_a_usage_error() {
    let args = ["serve", "--fixtures", "conformanc", "--store", "memory"].map(str::to_owned);
    let run = run_to_exit(bin(), &args, Duration::from_secs(30)).await;
    assert_eq!(run.status.code(), Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("invalid value 'conformanc' for '--fixtures <SET>'")
            && run.stderr.contains("[possible values: conformance]"),
        "{}",
        run.stderr
    );
}

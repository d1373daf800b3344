//! `mcp-tasks bench`: a load generator for MCP servers over Streamable HTTP, in either era.
//!
//! The run: plan (flags checked, URLs resolved and refused unless loopback), what the era
//! needs to know first (2026-07-28: `server/discover`, and `tools/list` for the tools'
//! mirrored arguments), the server's memory, the idle load ([`idle`]), the memory again, the
//! clients' setup (connection, 2025-11-25 session, the task `get` reads), the warm-up and the
//! measured window ([`mod@run`]), the server's CPU time over that window and its memory at the
//! end, clean-up (the waiters' tasks cancelled, sessions ended), and the report.
//!
//! See docs/bench.md for what it measures and how to read it.

mod client;
mod idle;
mod ops;
mod plan;
pub(crate) mod proc;
mod protocol;
mod report;
mod run;
mod stats;

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use mcp_tasks_wire::v2026_07_28::{PROTOCOL_VERSION as V2026, TASKS_EXTENSION};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::client::Failure;
use self::idle::{Idle, CONCURRENCY};
use self::ops::{limit_hint, Client, Shared, Speaker};
use self::plan::{Length, Plan, ToolSpec};
use self::protocol::{Bodies, Headers, Tools};
use self::report::{per_second, round, Counts, IdleReport, PidReport, Report, Rss, ServerReport};
use crate::cli::{BenchArgs, BenchKind, BenchMode, ProtocolVersion};
use crate::output;

/// Exit statuses (see `mcp-tasks bench --help`).
const FAILED: u8 = 1;
const USAGE: u8 = 2;
const INTERRUPTED: u8 = 130;

/// How long clean-up may take after Ctrl-C.
const CLEANUP_AFTER_INTERRUPT: Duration = Duration::from_secs(5);
/// The most `tools/list` pages read to find the tools' mirrored arguments.
const MAX_TOOL_PAGES: usize = 100;

/// A run that could not go on: its exit status and what to say.
#[derive(Debug)]
struct Stop {
    code: u8,
    message: String,
}

impl Stop {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Runs `mcp-tasks bench`.
pub(crate) async fn run(args: BenchArgs) -> ExitCode {
    let stop = CancellationToken::new();
    let interrupt = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });
    let plan = match plan::plan(args).await {
        Ok(plan) => plan,
        Err(message) => {
            output::error(&message);
            return ExitCode::from(USAGE);
        }
    };
    match bench(plan, &stop).await {
        Ok((report, json)) => {
            let text = if json {
                serde_json::to_string_pretty(&report).expect("the report serializes")
            } else {
                report.text()
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush());
            if report.interrupted {
                ExitCode::from(INTERRUPTED)
            } else if report.ok == 0 {
                output::error(&nothing_succeeded(&report));
                ExitCode::from(FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(Stop { code, message }) => {
            output::error(&message);
            ExitCode::from(code)
        }
    }
}

/// Why a run where nothing succeeded failed: its most frequent error.
fn nothing_succeeded(report: &Report) -> String {
    match report.errors.iter().max_by_key(|(_, n)| **n) {
        Some((kind, n)) => format!(
            "no operation succeeded: {n} of {} failed with {kind}: {}",
            report.ops,
            report.error_messages.get(kind).map_or("", String::as_str)
        ),
        None => "no operation was measured".to_owned(),
    }
}

/// Says what is going on, when a person is watching stderr.
fn progress(message: &str) {
    if std::io::stderr().is_terminal() {
        output::info(message);
    }
}

/// Fails with 130 when `stop` was triggered.
fn check(stop: &CancellationToken) -> Result<(), Stop> {
    if stop.is_cancelled() {
        Err(Stop::new(
            INTERRUPTED,
            "interrupted before anything was measured",
        ))
    } else {
        Ok(())
    }
}

async fn bench(plan: Plan, stop: &CancellationToken) -> Result<(Report, bool), Stop> {
    // A descriptor per connection, and some for the runtime and stdio.
    let needed =
        (plan.clients + plan.idle_sessions + plan.idle_waiters + 2 * CONCURRENCY + 64) as u64;
    if let Some(limit) = proc::raise_open_files(needed) {
        if limit < needed {
            output::error(&format!(
                "this process may open only {limit} files (ulimit -n), fewer than the {needed} \
                 connections and files the run may need; connections past it will fail"
            ));
        }
    }
    let mirrors = match plan.era {
        ProtocolVersion::V2025_11_25 => HashMap::new(),
        ProtocolVersion::V2026_07_28 => discover(&plan).await?,
    };
    check(stop)?;
    let get_setup = plan.get_setup_tool.clone();
    let tools = Tools {
        call: &plan.call_tool,
        task: &plan.task_tool,
        get_setup: &get_setup,
        waiter: &plan.waiter_tool,
    };
    let mirror = |tool: &ToolSpec| {
        mirrors
            .get(&tool.name)
            .map(|schema| protocol::mirrored_headers(schema, &tool.arguments))
            .unwrap_or_default()
    };
    let bodies = Bodies::new(plan.era, &tools, &mirror);
    let json = plan.json;
    let shared = Arc::new(Shared { plan, bodies });
    let plan = &shared.plan;
    let pids = plan.pids.clone();
    let rss_start = proc::rss_now(&pids);

    let mut idle = None;
    if plan.idle_sessions + plan.idle_waiters > 0 {
        progress(&format!(
            "opening {} idle sessions and {} waiters",
            plan.idle_sessions, plan.idle_waiters
        ));
        let opened = tokio::select! {
            opened = Idle::open(&shared) => opened,
            () = stop.cancelled() => return Err(Stop::new(INTERRUPTED, "interrupted while opening the idle load")),
        };
        if plan.era == ProtocolVersion::V2026_07_28
            && plan.idle_sessions > 0
            && opened.sessions == 0
            && opened.failures.contains_key("rpc--32601")
        {
            opened.close(&shared).await;
            return Err(Stop::new(
                USAGE,
                "the server does not serve subscriptions/listen, the one long-lived request of \
                 MCP 2026-07-28, which has no sessions: it cannot hold --idle-sessions in this \
                 era",
            ));
        }
        if opened.sessions < plan.idle_sessions || opened.waiters < plan.idle_waiters {
            let why: Vec<String> = opened
                .failures
                .iter()
                .map(|(k, e)| format!("{} {k} ({})", e.count, e.first))
                .collect();
            output::error(&format!(
                "opened {} of {} idle sessions and {} of {} waiters: {}",
                opened.sessions,
                plan.idle_sessions,
                opened.waiters,
                plan.idle_waiters,
                why.join("; ")
            ));
        }
        idle = Some(opened);
    }
    let rss_after_idle = proc::rss_now(&pids);

    progress(&format!("connecting {} clients", plan.clients));
    let set_up = tokio::select! {
        set_up = setup(&shared) => set_up,
        () = stop.cancelled() => Err(Stop::new(INTERRUPTED, "interrupted while setting up the clients")),
    };
    let clients = match set_up {
        Ok(clients) => clients,
        Err(e) => {
            if let Some(idle) = idle {
                cleanup(Vec::new(), Some(idle), &shared, stop).await;
            }
            return Err(e);
        }
    };

    let window = Arc::new(run::Window::new(Instant::now(), plan.warmup, plan.length));
    progress(&match plan.length {
        Length::Time(d) => format!("warming up for {:?}, then measuring for {d:?}", plan.warmup),
        Length::Count(n) => format!(
            "warming up for {:?}, then measuring {n} operations",
            plan.warmup
        ),
    });
    let cpu_start = {
        let (pids, start) = (pids.clone(), window.start);
        tokio::spawn(async move {
            tokio::time::sleep_until(start).await;
            proc::cpu_now(&pids)
        })
    };
    let ran = match plan.rate {
        Some(rate) => run::open(clients, &shared, &window, rate, stop).await,
        None => run::closed(clients, &shared, &window, stop).await,
    };
    let finished = Instant::now();
    let cpu_end = proc::cpu_now(&pids);
    let rss_end = proc::rss_now(&pids);
    let interrupted = stop.is_cancelled();
    let cpu_start = if cpu_start.is_finished() {
        cpu_start.await.ok()
    } else {
        cpu_start.abort();
        None
    };
    let idle = cleanup(ran.clients, idle, &shared, stop).await;

    let last = ran.record.last.map(Instant::from_std).unwrap_or(finished);
    let secs = last.saturating_duration_since(window.start).as_secs_f64();
    let counts = Counts::of(&ran.record, secs);
    let ticks = proc::ticks_per_second();
    #[allow(clippy::cast_precision_loss)]
    let cpu_of = |i: usize| -> Option<f64> {
        let start = cpu_start.as_ref()?.get(i)?.as_ref().ok()?;
        let end = cpu_end.get(i)?.as_ref().ok()?;
        Some(end.saturating_sub(*start) as f64 / ticks as f64)
    };
    let server = (!pids.is_empty()).then(|| {
        let each: Vec<PidReport> = pids
            .iter()
            .enumerate()
            .map(|(i, pid)| PidReport {
                pid: *pid,
                cpu_s: cpu_of(i).map(|c| round(c, 3)),
                rss_kib: Rss {
                    start: rss_start[i],
                    after_idle: rss_after_idle[i],
                    end: rss_end[i],
                },
            })
            .collect();
        let sum =
            |f: &dyn Fn(&PidReport) -> Option<u64>| -> Option<u64> { each.iter().map(f).sum() };
        let cpu_s: Option<f64> = (0..pids.len()).map(cpu_of).sum();
        #[allow(clippy::cast_precision_loss)]
        let per_op = cpu_s
            .filter(|_| counts.ops > 0)
            .map(|c| round(c * 1e6 / counts.ops as f64, 1));
        ServerReport {
            cpu_s: cpu_s.map(|c| round(c, 3)),
            cpu_us_per_op: per_op,
            rss_kib: Rss {
                start: sum(&|p| p.rss_kib.start),
                after_idle: sum(&|p| p.rss_kib.after_idle),
                end: sum(&|p| p.rss_kib.end),
            },
            pids: each,
        }
    });
    let idle = idle.unwrap_or_default();
    let report = Report {
        mode: mode_name(plan.mode),
        protocol: match plan.era {
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => V2026,
        },
        urls: plan.targets.iter().map(|t| t.url.clone()).collect(),
        clients: plan.clients,
        rate: plan.rate,
        warmup_s: plan.warmup.as_secs_f64(),
        duration_s: round(secs, 3),
        count: match plan.length {
            Length::Count(n) => Some(n),
            Length::Time(_) => None,
        },
        interrupted,
        ops: counts.ops,
        ops_per_s: per_second(counts.ops, secs),
        ok: counts.ok,
        errors: counts.errors,
        error_messages: counts.error_messages,
        late: ran.late,
        latency_ms: counts.latency_ms,
        per_kind: counts.per_kind,
        tasks_made: ran.record.tasks_made,
        http_requests: ran.record.http_requests,
        idle: IdleReport {
            sessions: idle.sessions,
            waiters: idle.waiters,
            waiters_cancelled: idle.cancelled,
            failures: idle
                .failures
                .iter()
                .map(|(k, e)| (k.clone(), e.count))
                .collect(),
        },
        server,
    };
    Ok((report, json))
}

fn mode_name(mode: BenchMode) -> &'static str {
    match mode {
        BenchMode::Call => BenchKind::Call.name(),
        BenchMode::Task => BenchKind::Task.name(),
        BenchMode::Poll => BenchKind::Poll.name(),
        BenchMode::Get => BenchKind::Get.name(),
        BenchMode::Mix => "mix",
    }
}

/// Sets every client up, [`CONCURRENCY`] at a time; the first that cannot be is the run's
/// failure.
async fn setup(shared: &Arc<Shared>) -> Result<Vec<Client>, Stop> {
    let plan = &shared.plan;
    let results: Vec<(Client, Result<(), Failure>)> = futures::stream::iter(0..plan.clients)
        .map(|i| {
            let shared = shared.clone();
            async move {
                let mut client = Client::new(i, shared);
                let set = client.setup().await;
                (client, set)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut clients = Vec::with_capacity(results.len());
    let mut failed: Option<(usize, Failure)> = None;
    let mut failures = 0;
    for (client, set) in results {
        match set {
            Ok(()) => clients.push(client),
            Err(f) => {
                failures += 1;
                if failed.as_ref().is_none_or(|(i, _)| client.index < *i) {
                    failed = Some((client.index, f));
                }
                clients.push(client);
            }
        }
    }
    let Some((index, failure)) = failed else {
        clients.sort_by_key(|c| c.index);
        return Ok(clients);
    };
    futures::stream::iter(clients.iter_mut())
        .for_each_concurrent(CONCURRENCY, Client::close)
        .await;
    let target = &plan.targets[index % plan.targets.len()].url;
    let what = match plan.era {
        ProtocolVersion::V2025_11_25 => "open a session at",
        ProtocolVersion::V2026_07_28 => "set up a client of",
    };
    let mut message = format!(
        "{failures} of {} clients could not be set up; client {index} could not {what} \
         {target}: {}",
        plan.clients,
        failure.message()
    );
    if let Some(hint) = limit_hint(&failure) {
        message.push_str("; ");
        message.push_str(hint);
    }
    Err(Stop::new(FAILED, message))
}

/// Ends the clients' sessions and the idle load; after Ctrl-C, for a few seconds at most.
async fn cleanup(
    mut clients: Vec<Client>,
    idle: Option<Idle>,
    shared: &Arc<Shared>,
    stop: &CancellationToken,
) -> Option<Idle> {
    let work = async {
        futures::stream::iter(clients.iter_mut())
            .for_each_concurrent(CONCURRENCY, Client::close)
            .await;
        match idle {
            Some(idle) => Some(idle.close(shared).await),
            None => None,
        }
    };
    if stop.is_cancelled() {
        tokio::time::timeout(CLEANUP_AFTER_INTERRUPT, work)
            .await
            .unwrap_or_default()
    } else {
        work.await
    }
}

/// What a 2026-07-28 run needs to know first: that each URL speaks the era (`server/discover`),
/// and the `inputSchema` of the tools, for the arguments they mirror into headers (B-5).
async fn discover(plan: &Plan) -> Result<HashMap<String, Value>, Stop> {
    let unreachable = |url: &str, f: &Failure| {
        let mut m = format!("cannot reach {url}: {}", f.message());
        if let Some(hint) = limit_hint(f) {
            m.push_str("; ");
            m.push_str(hint);
        }
        Stop::new(FAILED, m)
    };
    let bodies = Bodies::new(
        plan.era,
        &Tools {
            call: &plan.call_tool,
            task: &plan.task_tool,
            get_setup: &plan.get_setup_tool,
            waiter: &plan.waiter_tool,
        },
        &|_| Headers::new(),
    );
    for target in &plan.targets {
        let mut s = Speaker::new(target, plan);
        let id = s.id();
        let (body, headers) = bodies.discover(id);
        let found: Value = s
            .rpc(id, body, &headers)
            .await
            .map_err(|f| unreachable(&target.url, &f))?;
        let versions: Vec<&str> = found["supportedVersions"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !versions.contains(&V2026) {
            return Err(Stop::new(
                FAILED,
                format!(
                    "{} does not speak MCP {V2026} (server/discover lists {}); try --protocol \
                     2025-11-25",
                    target.url,
                    versions.join(", ")
                ),
            ));
        }
        let tasks = plan.schedule.iter().any(|k| *k != BenchKind::Call) || plan.idle_waiters > 0;
        if tasks
            && found["capabilities"]["extensions"]
                .get(TASKS_EXTENSION)
                .is_none()
        {
            output::error(&format!(
                "{} does not declare the tasks extension ({TASKS_EXTENSION}): its calls will \
                 not become tasks",
                target.url
            ));
        }
    }
    let target = &plan.targets[0];
    let mut s = Speaker::new(target, plan);
    let mut schemas = HashMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_TOOL_PAGES {
        let id = s.id();
        let (body, headers) = protocol::tools_list_v2026(id, cursor.as_deref());
        let page: Value = match s.rpc(id, body, &headers).await {
            Ok(page) => page,
            Err(f) => {
                output::error(&format!(
                    "tools/list failed ({}); the tools' Mcp-Param headers are not sent",
                    f.message()
                ));
                break;
            }
        };
        for tool in page["tools"].as_array().into_iter().flatten() {
            if let (Some(name), Some(schema)) = (tool["name"].as_str(), tool.get("inputSchema")) {
                schemas.insert(name.to_owned(), schema.clone());
            }
        }
        match page["nextCursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(schemas)
}

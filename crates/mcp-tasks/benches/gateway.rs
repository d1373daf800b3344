//! What the gateway adds to a call: the same tool called directly and through an in-process
//! [`Gateway`], all in one run, so every ratio is read off that run; docs/benchmarks.md
//! ("Gateway overhead") has the numbers.
//!
//! ```text
//! cargo bench -p mcp-tasks --bench gateway                  # all groups (~2 min on a quiet machine)
//! cargo bench -p mcp-tasks --bench gateway -- 'echo/'       # one group
//! ```
//!
//! The caller is our client (`ClientBuilder`), speaking MCP 2025-11-25 but in A', one request
//! after the other. The upstream is `mcp-tasks serve --store memory` (the release binary cargo built for
//! this bench), spawned over stdio, with the rate limit and active-task cap off so the task
//! cases measure serving rather than a limiter. Groups:
//!
//! - `echo`: one `tools/call` of the demo `echo` per iteration.
//!   - `direct-stdio` (A, the baseline): the client spawns the upstream and calls it over stdio.
//!   - `direct-stdio-2026` (A'): the same in MCP 2026-07-28, the era the gateway's hop speaks
//!     to this upstream by default.
//!   - `gateway` (B): the client calls a [`Gateway`] served on Streamable HTTP on loopback
//!     from this process (memory store), whose upstream is that same command over stdio. The
//!     gateway speaks to it the era it discovers, as `mcp-tasks gateway` does (the run prints
//!     which).
//!   - `gateway-upstream-2025` (B'): the same with the gateway's upstream era pinned to
//!     2025-11-25, the era of A's hop and of the reference servers.
//!   - `direct-http` (C): the client calls `mcp-tasks serve --http 127.0.0.1:0` directly, so
//!     B − C is the gateway's hop without the cost of HTTP itself.
//! - `task`: one task round trip per iteration, `call_tool_as_task` of `slow_echo` with
//!   `delay_ms: 0`, then `tasks/result`: on C (`direct-http`), through B (`gateway`) and
//!   through B' (`gateway-upstream-2025`, where the upstream runs the call as a task of its own).
//! - `everything-echo`: the reference server `mcp-server-everything` (its `echo`) as the
//!   upstream, A (`direct-stdio`) and B (`gateway`). Skipped, with a line on stderr, when
//!   `tests/interop/node_modules` does not hold it (`(cd tests/interop && npm ci)` installs it).
//!
//! Nothing here asserts a time: each case checks its answer once before it is measured. At the
//! end the run prints criterion's median of each case it measured and the ratios between them.

// The summary of medians and ratios is part of this program's output, beside criterion's.
#![allow(clippy::print_stdout)]

use std::cell::RefCell;
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use mcp_tasks_runtime::client::{Client, ClientBuilder, Protocol};
use mcp_tasks_runtime::gateway::{Gateway, GatewayConfig, Health, Running, UpstreamSpec};
use mcp_tasks_runtime::Server;
use mcp_tasks_wire::v2025_11_25::Implementation;
use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::process::{ServeOptions, SETTINGS_ENV};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Off for every `serve` started here: the default rate limit (1000 task requests a second)
/// would otherwise be what the task round trips measure.
const NO_LIMITS: [&str; 4] = [
    "--rate-limit",
    "unlimited",
    "--max-active-tasks",
    "unlimited",
];

/// The `serve` command line after the binary, over stdio.
fn serve_args() -> Vec<String> {
    ServeOptions::default().args(NO_LIMITS).serve_args(&[])
}

fn mcp_tasks() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

fn everything() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/node_modules/.bin/mcp-server-everything")
}

fn client() -> ClientBuilder {
    ClientBuilder::new(Implementation::new("gateway-bench", "0")).protocol(Protocol::V2025_11_25)
}

/// Our client, speaking `era`, on a server it spawns; the server's stderr goes to the client's
/// log, as the gateway's own upstream client does with it.
async fn over_stdio(program: &Path, args: &[String], era: Protocol) -> Client {
    let mut command = tokio::process::Command::new(program);
    command.args(args).stderr(std::process::Stdio::piped());
    client()
        .protocol(era)
        .connect_stdio(command)
        .await
        .unwrap_or_else(|e| panic!("cannot start {} over stdio: {e}", program.display()))
}

async fn over_http(url: &str) -> Client {
    client()
        .connect_http(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// A gateway served on Streamable HTTP on loopback from this process, with what keeps it up.
struct Fronted {
    url: String,
    /// The era the gateway speaks to its upstream.
    upstream_era: Protocol,
    _running: Running,
    _gateway: Gateway,
}

async fn gateway(upstream: UpstreamSpec, era: Option<Protocol>) -> Fronted {
    let described = upstream.describe();
    let mut config = GatewayConfig::new(upstream);
    if let Some(era) = era {
        config = config.protocol(era);
    }
    let gateway = Gateway::connect(config)
        .await
        .unwrap_or_else(|e| panic!("the gateway cannot start: {e}"));
    let info = gateway.server_info();
    let ready = gateway
        .configure(Server::builder(info.name, info.version))
        .store_url("memory")
        .build()
        .await
        .unwrap_or_else(|e| panic!("the gateway's server cannot be built: {e}"));
    let running = gateway.start(ready.server());
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let url = format!("http://{addr}{}", ready.http_config().path);
    tokio::spawn(async move {
        if let Err(e) = ready.serve_http_on(listener).await {
            eprintln!("the gateway stopped serving HTTP: {e}");
        }
    });
    let upstream_era = match gateway.health() {
        Health::Up(client) => client.protocol(),
        other => panic!("the gateway's upstream is not up right after connecting: {other:?}"),
    };
    eprintln!(
        "gateway on {url} in front of `{described}`, speaking {} to it",
        upstream_era.as_str()
    );
    Fronted {
        url,
        upstream_era,
        _running: running,
        _gateway: gateway,
    }
}

fn upstream_serve() -> UpstreamSpec {
    UpstreamSpec::command(mcp_tasks(), serve_args().into_iter().map(OsString::from))
}

/// One `tools/call` of `tool`; its first text, checked once against `want` before measuring.
async fn call(client: &Client, tool: &str, arguments: &Value) -> String {
    let result = client
        .call_tool(tool, arguments.clone())
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool}: {e}"));
    let result = serde_json::to_value(result).expect("encode the result");
    assert_ne!(result["isError"], true, "{tool} failed: {result}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// One task round trip: `slow_echo` of 0 ms created as a task, then its `tasks/result`.
async fn task_round_trip(client: &Client) -> Value {
    let task = client
        .call_tool_as_task("slow_echo", json!({"text": "hi", "delay_ms": 0}), None)
        .await
        .unwrap_or_else(|e| panic!("tools/call slow_echo as a task: {e}"));
    task.result()
        .await
        .unwrap_or_else(|e| panic!("tasks/result of {}: {e}", task.id()))
}

/// The cases this run measured ("group/case"): a filter leaves some out.
#[derive(Default)]
struct Ran(RefCell<Vec<String>>);

impl Ran {
    fn has(&self, id: &str) -> bool {
        self.0.borrow().iter().any(|ran| ran == id)
    }
}

/// One group's cases, each `f(client)`, its output checked once by `check` before measuring.
struct Group<'c, 'r> {
    group: BenchmarkGroup<'c, WallTime>,
    name: &'static str,
    rt: &'r Runtime,
    ran: &'r Ran,
}

impl<'c, 'r> Group<'c, 'r> {
    fn new(c: &'c mut Criterion, name: &'static str, rt: &'r Runtime, ran: &'r Ran) -> Self {
        Self {
            group: c.benchmark_group(name),
            name,
            rt,
            ran,
        }
    }

    fn case<'a, F, Fut, T>(&mut self, name: &str, client: &'a Client, f: F, check: impl Fn(T))
    where
        F: Fn(&'a Client) -> Fut,
        Fut: Future<Output = T>,
    {
        let (rt, ran) = (self.rt, self.ran);
        let id = format!("{}/{name}", self.name);
        self.group.bench_function(name, |b| {
            // Criterion calls this once per sample, and never for a case the filter leaves out.
            if !ran.has(&id) {
                check(rt.block_on(f(client)));
                ran.0.borrow_mut().push(id.clone());
            }
            // Criterion passes each output through `black_box` itself.
            b.to_async(rt).iter(|| f(client));
        });
    }

    fn finish(self) {
        self.group.finish();
    }
}

fn demo(c: &mut Criterion, rt: &Runtime, ran: &Ran) {
    let args = serve_args();
    let stdio = rt.block_on(over_stdio(mcp_tasks(), &args, Protocol::V2025_11_25));
    let stdio_2026 = rt.block_on(over_stdio(mcp_tasks(), &args, Protocol::V2026_07_28));
    let http = rt.block_on(HttpServer::spawn_with(
        mcp_tasks(),
        &ServeOptions::default().args(NO_LIMITS),
    ));
    let direct_http = rt.block_on(over_http(http.url()));
    let discovered = rt.block_on(gateway(upstream_serve(), None));
    let pinned = rt.block_on(gateway(upstream_serve(), Some(Protocol::V2025_11_25)));
    assert_eq!(pinned.upstream_era, Protocol::V2025_11_25);
    let via_discovered = rt.block_on(over_http(&discovered.url));
    let via_pinned = rt.block_on(over_http(&pinned.url));

    let echo = json!({"text": "hi"});
    let said_hi = |text: String| assert_eq!(text, "hi");
    let mut group = Group::new(c, "echo", rt, ran);
    let cases = [
        ("direct-stdio", &stdio),
        ("direct-stdio-2026", &stdio_2026),
        ("gateway", &via_discovered),
        ("gateway-upstream-2025", &via_pinned),
        ("direct-http", &direct_http),
    ];
    for (name, client) in cases {
        group.case(name, client, |c| call(c, "echo", &echo), said_hi);
    }
    group.finish();

    let echoed = |result: Value| assert_eq!(result["content"][0]["text"], "hi", "{result}");
    let mut group = Group::new(c, "task", rt, ran);
    let cases = [
        ("direct-http", &direct_http),
        ("gateway", &via_discovered),
        ("gateway-upstream-2025", &via_pinned),
    ];
    for (name, client) in cases {
        group.case(name, client, task_round_trip, echoed);
    }
    group.finish();

    rt.block_on(async {
        for client in [stdio, stdio_2026, direct_http, via_discovered, via_pinned] {
            client.close().await;
        }
    });
}

fn reference_everything(c: &mut Criterion, rt: &Runtime, ran: &Ran) {
    let program = everything();
    if !program.exists() {
        eprintln!(
            "skipping everything-echo: {} is absent; `(cd tests/interop && npm ci)` installs it",
            program.display()
        );
        return;
    }
    let args = vec!["stdio".to_owned()];
    let direct = rt.block_on(over_stdio(&program, &args, Protocol::V2025_11_25));
    let fronted = rt.block_on(gateway(
        UpstreamSpec::command(&program, args.iter().map(OsString::from)),
        None,
    ));
    let via = rt.block_on(over_http(&fronted.url));

    let echo = json!({"message": "hi"});
    let said_hi = |text: String| assert_eq!(text, "Echo: hi");
    let mut group = Group::new(c, "everything-echo", rt, ran);
    for (name, client) in [("direct-stdio", &direct), ("gateway", &via)] {
        group.case(name, client, |c| call(c, "echo", &echo), said_hi);
    }
    group.finish();

    rt.block_on(async {
        direct.close().await;
        via.close().await;
    });
}

fn main() {
    let started = SystemTime::now();
    // A developer's own settings must not reach the servers started here (the gateway's
    // upstream inherits this environment); cleared before any thread starts.
    for name in SETTINGS_ENV {
        std::env::remove_var(name);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let ran = Ran::default();
    demo(&mut c, &rt, &ran);
    reference_everything(&mut c, &rt, &ran);
    c.final_summary();
    summary(&ran, started);
}

/// Where criterion writes its estimates, found as criterion finds it: `CRITERION_HOME`, else
/// `criterion` in the cargo target directory.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        )
        .join("criterion")
}

/// Criterion's median time per iteration of `id` ("group/case"), in µs, from the estimates
/// it wrote during this run, which started at `started`; `None` for a case it did not
/// measure (left out by a filter, or only run once, as `cargo test` does).
fn median_us(ran: &Ran, id: &str, started: SystemTime) -> Option<f64> {
    if !ran.has(id) {
        return None;
    }
    let path = criterion_dir().join(id).join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < started {
        return None;
    }
    let estimates: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["median"]["point_estimate"]
        .as_f64()
        .map(|ns| ns / 1000.0)
}

/// The medians of this run and the ratios docs/benchmarks.md quotes.
fn summary(ran: &Ran, started: SystemTime) {
    let ids = ran.0.borrow().clone();
    let medians: Vec<(String, f64)> = ids
        .into_iter()
        .filter_map(|id| median_us(ran, &id, started).map(|m| (id, m)))
        .collect();
    if medians.is_empty() {
        eprintln!(
            "no summary: criterion wrote no estimates under {} in this run (it writes none \
             when only testing the cases; set CRITERION_HOME if it writes them elsewhere)",
            criterion_dir().display()
        );
        return;
    }
    let of = |id: &str| medians.iter().find(|(m, _)| m == id).map(|(_, us)| *us);
    println!("\nmedians of this run, per call:");
    for (id, us) in &medians {
        println!("  {id:<40} {us:>9.1} µs");
    }
    println!("ratios:");
    let ratios = [
        (
            "B/A   gateway / direct stdio",
            "echo/gateway",
            "echo/direct-stdio",
        ),
        (
            "B/A'  gateway / direct stdio in 2026-07-28",
            "echo/gateway",
            "echo/direct-stdio-2026",
        ),
        (
            "A'/A  direct stdio, 2026-07-28 / 2025-11-25",
            "echo/direct-stdio-2026",
            "echo/direct-stdio",
        ),
        (
            "B'/A  gateway, upstream 2025 / direct stdio",
            "echo/gateway-upstream-2025",
            "echo/direct-stdio",
        ),
        (
            "B/C   gateway / direct HTTP",
            "echo/gateway",
            "echo/direct-http",
        ),
        (
            "C/A   direct HTTP / direct stdio",
            "echo/direct-http",
            "echo/direct-stdio",
        ),
        (
            "D     task, gateway / direct HTTP",
            "task/gateway",
            "task/direct-http",
        ),
        (
            "D'    task, gateway, upstream 2025 / direct HTTP",
            "task/gateway-upstream-2025",
            "task/direct-http",
        ),
        (
            "everything B/A  gateway / direct stdio",
            "everything-echo/gateway",
            "everything-echo/direct-stdio",
        ),
    ];
    for (label, over, under) in ratios {
        if let (Some(over), Some(under)) = (of(over), of(under)) {
            println!(
                "  {label:<48} {:>5.2}  ({:+.1} µs)",
                over / under,
                over - under
            );
        }
    }
}

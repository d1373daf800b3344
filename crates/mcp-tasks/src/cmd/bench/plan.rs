//! `mcp-tasks bench`'s command line made into a plan: the targets resolved and checked to be
//! loopback, the tools and their arguments chosen, the mix schedule laid out. Everything that
//! can be wrong with the command line is found here, before a connection is opened, and is a
//! usage error (exit status 2).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::uri::{PathAndQuery, Uri};
use http::HeaderValue;
use serde_json::{json, Map, Value};

use crate::cli::{BenchArgs, BenchKind, BenchMode, MixWeights, ProtocolVersion};

/// The weights of `--mix` when none are given.
const DEFAULT_MIX: [(BenchKind, u32); 3] = [
    (BenchKind::Call, 1),
    (BenchKind::Task, 1),
    (BenchKind::Get, 8),
];

/// One endpoint to load.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// As given, for the report.
    pub(crate) url: String,
    /// Where to connect: the first address the host resolved to.
    pub(crate) addr: SocketAddr,
    /// The `Host` header (HTTP/1.1 requires one; hyper's connection API does not add it).
    pub(crate) host: HeaderValue,
    /// The request target, origin-form (`/mcp`).
    pub(crate) path: PathAndQuery,
}

/// A tool and the arguments it is called with.
#[derive(Debug, Clone)]
pub(crate) struct ToolSpec {
    pub(crate) name: String,
    pub(crate) arguments: Map<String, Value>,
}

/// How much is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Length {
    Time(Duration),
    Count(u64),
}

/// Everything a run needs to know, checked.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) targets: Vec<Target>,
    pub(crate) era: ProtocolVersion,
    pub(crate) mode: BenchMode,
    /// The kinds each client cycles through (one entry outside `--mode mix`).
    pub(crate) schedule: Vec<BenchKind>,
    pub(crate) call_tool: ToolSpec,
    pub(crate) task_tool: ToolSpec,
    /// The call that makes the finished task `get` reads.
    pub(crate) get_setup_tool: ToolSpec,
    pub(crate) waiter_tool: ToolSpec,
    pub(crate) poll_interval: Duration,
    pub(crate) clients: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) warmup: Duration,
    pub(crate) length: Length,
    pub(crate) timeout: Duration,
    pub(crate) idle_sessions: usize,
    pub(crate) idle_waiters: usize,
    pub(crate) pids: Vec<u32>,
    /// `Bearer TOKEN`, marked sensitive.
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) json: bool,
}

impl Plan {
    /// Whether any operation of the run is a `get` (each client then finishes a task first).
    pub(crate) fn gets(&self) -> bool {
        self.schedule.contains(&BenchKind::Get)
    }
}

/// Makes the plan; `Err` is the message of a usage error.
pub(crate) async fn plan(args: BenchArgs) -> Result<Plan, String> {
    let schedule = match (args.mode, args.mix) {
        (BenchMode::Mix, Some(MixWeights(weights))) => schedule(&weights),
        (BenchMode::Mix, None) => schedule(&DEFAULT_MIX),
        (_, Some(_)) => return Err("--mix needs --mode mix".into()),
        (BenchMode::Call, None) => vec![BenchKind::Call],
        (BenchMode::Task, None) => vec![BenchKind::Task],
        (BenchMode::Poll, None) => vec![BenchKind::Poll],
        (BenchMode::Get, None) => vec![BenchKind::Get],
    };
    let mix = args.mode == BenchMode::Mix;
    let call_tool = tool(args.tool.clone(), args.arguments.clone(), "echo", false);
    let (task_name, task_arguments) = if mix {
        (args.task_tool, args.task_arguments)
    } else {
        (
            args.task_tool.or(args.tool),
            args.task_arguments.or(args.arguments),
        )
    };
    // In 2026-07-28 the server decides what becomes a task; the demo server makes one of
    // slow_echo past 500 ms, so the default task `get` reads waits a little longer.
    let get_setup_tool = match (&task_name, &task_arguments, args.protocol) {
        (None, None, ProtocolVersion::V2026_07_28) => ToolSpec {
            name: "slow_echo".into(),
            arguments: object(json!({"text": "bench", "delay_ms": 600})),
        },
        _ => tool(
            task_name.clone(),
            task_arguments.clone(),
            "slow_echo",
            false,
        ),
    };
    let task_tool = tool(task_name, task_arguments, "slow_echo", false);
    let waiter_tool = tool(
        Some(args.waiter_tool),
        args.waiter_arguments,
        "slow_echo",
        true,
    );
    let authorization = match &args.token_file {
        Some(path) => Some(bearer(path)?),
        None => None,
    };
    let mut targets = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        targets.push(target(url, args.allow_remote).await?);
    }
    for pid in &args.server_pid {
        crate::cmd::bench::proc::cpu_ticks(*pid)
            .map_err(|e| format!("--server-pid {pid}: cannot read /proc/{pid}/stat: {e}"))?;
    }
    Ok(Plan {
        targets,
        era: args.protocol,
        mode: args.mode,
        schedule,
        call_tool,
        task_tool,
        get_setup_tool,
        waiter_tool,
        poll_interval: Duration::from_millis(args.poll_interval),
        clients: args.clients as usize,
        rate: args.rate,
        warmup: args.warmup,
        length: match (args.count, args.duration) {
            (Some(n), _) => Length::Count(n),
            (None, Some(d)) if d.is_zero() => return Err("--duration must be above 0".into()),
            (None, Some(d)) => Length::Time(d),
            (None, None) => Length::Time(Duration::from_secs(10)),
        },
        timeout: if args.timeout.is_zero() {
            return Err("--timeout must be above 0".into());
        } else {
            args.timeout
        },
        idle_sessions: args.idle_sessions as usize,
        idle_waiters: args.idle_waiters as usize,
        pids: args.server_pid,
        authorization,
        json: args.json,
    })
}

/// The tool `name` (else `default`) with `arguments`, else the arguments that fit the demo
/// tools (`echo`, `slow_echo`: at once, or for an hour for a `waiter`), else `{}`.
fn tool(
    name: Option<String>,
    arguments: Option<Map<String, Value>>,
    default: &str,
    waiter: bool,
) -> ToolSpec {
    let name = name.unwrap_or_else(|| default.to_owned());
    let arguments = arguments.unwrap_or_else(|| {
        let demo = match (name.as_str(), waiter) {
            ("echo", _) => json!({"text": "bench"}),
            ("slow_echo", false) => json!({"text": "bench", "delay_ms": 0}),
            ("slow_echo", true) => json!({"text": "wait", "delay_ms": 3_600_000}),
            _ => json!({}),
        };
        object(demo)
    });
    ToolSpec { name, arguments }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Lays out `weights` as one cycle of kinds, each kind as evenly spread as it can be (smooth
/// weighted round robin: each step every kind gains its weight, the richest is chosen and pays
/// the total), so a client's operations interleave instead of running in blocks.
pub(crate) fn schedule(weights: &[(BenchKind, u32)]) -> Vec<BenchKind> {
    let total: i64 = weights.iter().map(|(_, w)| i64::from(*w)).sum();
    let mut credit: Vec<i64> = vec![0; weights.len()];
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, (_, w)) in credit.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let (best, _) = credit
            .iter()
            .enumerate()
            .max_by(|(i, a), (j, b)| a.cmp(b).then(j.cmp(i)))
            .expect("the weights are not empty");
        credit[best] -= total;
        out.push(weights[best].0);
    }
    out
}

/// Reads the bearer token of `--token-file`.
fn bearer(path: &std::path::Path) -> Result<HeaderValue, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "--token-file {}: the file is empty",
            path.display()
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        format!(
            "--token-file {}: the token holds characters an HTTP header cannot carry",
            path.display()
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Parses `url` and resolves its host; refuses an address that is not loopback unless
/// `allow_remote`. Nothing is connected to here.
async fn target(url: &str, allow_remote: bool) -> Result<Target, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("--url {url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "--url {url}: https is not supported; bench loads plain HTTP (a TLS \
                 terminator in front of the server would be measured too)"
            ))
        }
        _ => return Err(format!("--url {url:?} is not an http:// URL")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("--url {url:?} has no host"))?;
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("--url {url}: cannot resolve {bare}: {e}"))?
            .collect(),
    };
    let Some(&first) = addrs.first() else {
        return Err(format!("--url {url}: {bare} resolves to no address"));
    };
    if !allow_remote {
        if let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(format!(
                "--url {url}: {} is not a loopback address; bench loads only this machine \
                 unless you pass --allow-remote (do so only for a server you run and may load)",
                remote.ip()
            ));
        }
    }
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let host = HeaderValue::from_str(authority.as_str())
        .map_err(|_| format!("--url {url:?}: the host cannot be sent as a header"))?;
    Ok(Target {
        url: url.to_owned(),
        addr: first,
        host,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cycle holds each kind as often as its weight says, spread out.
    #[test]
    fn the_mix_schedule_follows_the_weights_interleaved() {
        let s = schedule(&DEFAULT_MIX);
        assert_eq!(s.len(), 10);
        let count = |k| s.iter().filter(|x| **x == k).count();
        assert_eq!(count(BenchKind::Call), 1);
        assert_eq!(count(BenchKind::Task), 1);
        assert_eq!(count(BenchKind::Get), 8);
        // Call and task are not next to each other: the gets are spread between them.
        let call = s.iter().position(|k| *k == BenchKind::Call).unwrap();
        let task = s.iter().position(|k| *k == BenchKind::Task).unwrap();
        assert!(call.abs_diff(task) > 1, "{s:?}");

        let even = schedule(&[(BenchKind::Call, 2), (BenchKind::Get, 2)]);
        assert_eq!(
            even,
            [
                BenchKind::Call,
                BenchKind::Get,
                BenchKind::Call,
                BenchKind::Get
            ]
        );
        // A zero weight never comes up; a lone kind is the whole schedule.
        let zero = schedule(&[(BenchKind::Call, 0), (BenchKind::Poll, 3)]);
        assert_eq!(zero, [BenchKind::Poll; 3]);
    }

    /// The default arguments fit the demo tools; a tool the user names gets `{}`.
    #[test]
    fn default_arguments_fit_the_demo_tools_only() {
        let args = |name: Option<&str>, default, waiter| {
            Value::Object(tool(name.map(str::to_owned), None, default, waiter).arguments)
        };
        assert_eq!(args(None, "echo", false), json!({"text": "bench"}));
        assert_eq!(
            args(None, "slow_echo", false),
            json!({"text": "bench", "delay_ms": 0})
        );
        assert_eq!(
            args(Some("slow_echo"), "echo", true),
            json!({"text": "wait", "delay_ms": 3_600_000})
        );
        assert_eq!(args(Some("mine"), "echo", false), json!({}));
        let given = tool(Some("echo".into()), Some(Map::new()), "echo", false);
        assert!(given.arguments.is_empty());
    }

    /// The command line's own checks: durations need a unit, --mix names kinds once with
    /// whole weights, --count and --duration exclude each other; clap finds the definitions
    /// consistent.
    #[test]
    fn the_command_line_is_checked() {
        use clap::{CommandFactory as _, Parser as _};
        crate::cli::Cli::command().debug_assert();
        use crate::cli::{parse_bench_duration, parse_mix, parse_rate};
        assert_eq!(
            parse_bench_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_bench_duration("2m").unwrap(),
            Duration::from_secs(120)
        );
        assert!(parse_bench_duration("10").unwrap_err().contains("unit"));
        assert!(parse_bench_duration("ten seconds").is_err());
        assert_eq!(
            parse_mix("call=1, get=3").unwrap().0,
            [(BenchKind::Call, 1), (BenchKind::Get, 3)]
        );
        for bad in [
            "call",
            "nap=1",
            "call=x",
            "call=1,call=2",
            "call=0",
            "call=10001",
        ] {
            assert!(parse_mix(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("0").is_err() && parse_rate("NaN").is_err());
        assert_eq!(parse_rate("0.5").unwrap(), 0.5);
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_from(
                ["mcp-tasks", "bench", "--url", "http://127.0.0.1:1/mcp"]
                    .iter()
                    .chain(args),
            )
        };
        assert!(parse(&["--count", "5", "--duration", "1s"]).is_err());
        assert!(parse(&["--count", "0"]).is_err());
        assert!(parse(&["--arguments", "[]"]).is_err());
        assert!(parse(&["--mode", "mix", "--mix", "get=1", "--rate", "100"]).is_ok());
    }

    /// Loopback passes; any other address is refused before anything connects, unless
    /// allowed.
    #[tokio::test]
    async fn only_loopback_is_loaded_unless_allowed() {
        let t = target("http://127.0.0.1:8080/mcp", false).await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path.as_str(), "/mcp");
        let v6 = target("http://[::1]:9/x?y=1", false).await.unwrap();
        assert_eq!(v6.addr, "[::1]:9".parse().unwrap());
        assert_eq!(v6.path.as_str(), "/x?y=1");
        let e = target("http://192.0.2.1:8080/mcp", false)
            .await
            .unwrap_err();
        assert!(e.contains("--allow-remote"), "{e}");
        assert!(target("http://192.0.2.1:8080/mcp", true).await.is_ok());
        assert!(target("https://127.0.0.1/mcp", false).await.is_err());
        assert!(target("ftp://127.0.0.1/mcp", false).await.is_err());
    }
}

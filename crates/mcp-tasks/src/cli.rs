//! The command line, parsed by clap. Flags without a value given are `None`, so that
//! [`crate::config`] can put them over the config file and the defaults; `--help` states each
//! default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_tasks_engine::{OwnerFilter, TaskStatus};
use serde::Deserialize;

use crate::cmd::admin::args::Age;
use crate::config::{
    parse_bounded, parse_or_unlimited, BodyBytes, Count, IdleSecs, LeaseMs, OrUnlimited, PageSize,
    PollMs, PoolSize, Rate, Sessions, SweepMs, TtlMs,
};

/// Serve MCP tools as durable, pollable tasks (MCP 2025-11-25).
#[derive(Debug, Parser)]
// A flag given twice takes the last value, so a wrapper script's defaults can be overridden
// by appending.
#[command(name = "mcp-tasks", version, about, args_override_self = true)]
pub(crate) struct Cli {
    /// Log filter for stderr, such as `info` or `mcp_tasks_runtime=debug` (default: `RUST_LOG`,
    /// else `warn`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log: Option<String>,

    /// Format of the logs on stderr: `text` for people, `json` for one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How logs are written on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the demo tools as tasks, on stdio (default) or Streamable HTTP (--http).
    Serve(Box<ServeCommand>),
    /// Serve the tools of another MCP server as tasks: spawn it (`-- CMD ARGS…`) or reach it
    /// (--upstream-url), and offer everything it offers, with tasks, in both MCP eras.
    #[command(after_help = GATEWAY_HELP)]
    Gateway(Box<GatewayArgs>),
    /// List a server's tools and whether each may run as a task.
    Tools(ToolsArgs),
    /// Call a tool, as a task with --task, showing its status live and asking its questions.
    #[command(after_help = TARGET_HELP)]
    Call(CallArgs),
    /// List, read, wait for or cancel a server's tasks.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Operate a deployment: every owner's tasks, one task's history, cancel, purge, health;
    /// through a server's admin address (--url) or on a store no server holds (--store).
    #[command(after_help = ADMIN_HELP)]
    Admin(Box<AdminCommand>),
    /// Load a running MCP server over Streamable HTTP and measure it: throughput, latency
    /// percentiles, errors by kind, and the server's CPU and memory (--server-pid).
    #[command(after_help = BENCH_HELP)]
    Bench(Box<BenchArgs>),
}

/// Said under `--help` of every command that talks to a server.
pub(crate) const TARGET_HELP: &str = "\
The server is named by --url (Streamable HTTP) or by a command after `--`, spawned and spoken to
over stdio; the command is always last on the line:
  mcp-tasks call slow_echo '{\"text\":\"hi\"}' --task --url http://127.0.0.1:8080/mcp
  mcp-tasks call ask_name --task -- mcp-tasks serve

Over stdio the server lives only as long as this command: a task outlives the command only when
the spawned server keeps it in a durable store (`mcp-tasks serve` does, in its SQLite file), and
another command can then reach it by id (`mcp-tasks tasks result ID -- mcp-tasks serve`). A
spawned `mcp-tasks serve` holds its SQLite file while it runs, so run commands one at a time
against it, or serve over HTTP and use --url.

Without authentication each command is a session of its own: `tasks list` shows the tasks of
this session, while `tasks get|result|cancel ID` reach any task by its id.

With a token (for a server started with --auth-tokens), each command is a session of the token's
subject: `tasks list|get|result|cancel` reach every task of that subject, whichever command,
token or server instance created it, and no task of another subject. Other users of the machine
can see a --token in the process list, so prefer the environment:
  export MCP_TASKS_TOKEN=\"$(cat ~/.config/mcp-tasks/token)\"
  mcp-tasks tasks list --url http://127.0.0.1:8080/mcp

The client speaks MCP 2026-07-28 (with the tasks extension) and MCP 2025-11-25. It asks the
server with server/discover and speaks 2026-07-28 to a server that answers as one, else it opens
a 2025-11-25 session with initialize; --protocol skips the question. In 2026-07-28 the server
decides which call becomes a task (with or without --task, and its ttl: --ttl is not sent), and
there is no tasks/list or tasks/result: `tasks list` and `tasks result` use 2025-11-25 when the
server speaks it too, and `tasks get ID --json` shows a 2026-07-28 task with its result inlined.

Exit status: 0 success; 1 the tool reported an error (isError, or the task failed with it);
2 bad command line or --answers file; 3 protocol or connection error (including a JSON-RPC
error answer, and a token the server refused); 4 the task was cancelled; 130 interrupted by
Ctrl-C (a task is cancelled first).";

/// Which server to talk to.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The Streamable HTTP endpoint of the server, e.g. http://127.0.0.1:8080/mcp.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,

    /// The server command to spawn and speak to over stdio, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,

    /// Speak this MCP version without asking the server first (server/discover).
    /// [default: discovered: 2026-07-28 when the server speaks it, else 2025-11-25]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub(crate) protocol: Option<ProtocolVersion>,

    /// Bearer token sent with every request to --url, for a server started with
    /// --auth-tokens; its subject owns this command's session and tasks. Prefer the
    /// environment variable: a flag shows in the process list.
    #[arg(
        long,
        env = "MCP_TASKS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,
}

/// An MCP version a client command speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProtocolVersion {
    /// Sessions opened with initialize; tasks asked for with --task.
    #[value(name = "2025-11-25")]
    V2025_11_25,
    /// Stateless requests with the tasks extension; the server decides what becomes a task.
    #[value(name = "2026-07-28")]
    V2026_07_28,
}

/// How results are printed.
#[derive(Debug, Args)]
pub(crate) struct Output {
    /// Print machine-readable JSON on stdout (the raw MCP result) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = TARGET_HELP)]
pub(crate) struct ToolsArgs {
    #[command(flatten)]
    pub(crate) output: Output,
    #[command(flatten)]
    pub(crate) target: Target,
}

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The tool to call.
    pub(crate) tool: String,

    /// The tool's arguments: a JSON object (default `{}`), or `-` to read it from stdin.
    #[arg(value_name = "JSON")]
    pub(crate) arguments: Option<String>,

    /// Call the tool as a task: the server answers at once, and the command follows the task
    /// (status, progress, questions) until its result. Ctrl-C then cancels the task. In MCP
    /// 2026-07-28 the server decides, with or without this flag, and the command follows
    /// whatever task it makes.
    #[arg(long)]
    pub(crate) task: bool,

    /// Time to live of the task in milliseconds, counted from its creation (the server may
    /// lower it). Needs --task. Not sent in MCP 2026-07-28, where the server chooses it.
    #[arg(long, value_name = "MS", requires = "task")]
    pub(crate) ttl: Option<u64>,

    #[command(flatten)]
    pub(crate) answers: AnswersArg,

    #[command(flatten)]
    pub(crate) output: Output,

    #[command(flatten)]
    pub(crate) target: Target,
}

/// Where answers to the server's questions come from when nobody is at the terminal.
#[derive(Debug, Args)]
pub(crate) struct AnswersArg {
    /// Answer the server's questions (elicitation) from this JSON file instead of asking in
    /// the terminal: one object (the content of every answer) or an array of answers used in
    /// order, each an object of content or {"action":"decline"|"cancel"}.
    #[arg(long, value_name = "FILE")]
    pub(crate) answers: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TasksCommand {
    /// List the tasks the server shows this session, following every page.
    #[command(after_help = TARGET_HELP)]
    List {
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        target: Target,
    },
    /// Show one task (`tasks/get`).
    #[command(after_help = TARGET_HELP)]
    Get {
        /// The task's id.
        id: String,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        target: Target,
    },
    /// Wait for a task's result (`tasks/result`), answering its questions on the way.
    #[command(after_help = TARGET_HELP)]
    Result {
        /// The task's id.
        id: String,
        #[command(flatten)]
        answers: AnswersArg,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        target: Target,
    },
    /// Cancel a task (`tasks/cancel`).
    #[command(after_help = TARGET_HELP)]
    Cancel {
        /// The task's id.
        id: String,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        target: Target,
    },
}

/// A set of fixture tools that `serve --fixtures` offers instead of the demo tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FixtureSet {
    /// The tools the official MCP conformance suite (`@modelcontextprotocol/conformance`)
    /// calls in its server scenarios.
    Conformance,
}

/// SQLite's durability mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SyncMode {
    /// A committed task survives power loss.
    Full,
    /// A committed task survives a crash of the process, not of the machine; faster writes.
    Normal,
}

#[derive(Debug, Args)]
pub(crate) struct ServeCommand {
    /// Serve this set of fixture tools instead of the demo tools, for a test suite that calls
    /// tools by name. [default: the demo tools]
    #[arg(long, value_enum, value_name = "SET")]
    pub(crate) fixtures: Option<FixtureSet>,

    #[command(flatten)]
    pub(crate) server: ServeArgs,
}

/// Said under `mcp-tasks gateway --help`.
pub(crate) const GATEWAY_HELP: &str = "\
Examples:
  mcp-tasks gateway --http 127.0.0.1:8080 -- npx -y @modelcontextprotocol/server-everything stdio
  mcp-tasks gateway --task-policy 'get_*=never' -- mcp-server-time --local-timezone UTC
  mcp-tasks gateway --http 127.0.0.1:8080 --upstream-url http://127.0.0.1:3001/mcp

A task policy is never, optional, always or when-slow(MS): in MCP 2025-11-25 it is the tool's
execution.taskSupport in tools/list (when-slow is optional there); in MCP 2026-07-28 the gateway
decides: never a plain call, always a task at once, optional a task after 1 s, when-slow(MS) a
task after MS. The first rule whose glob matches a tool sets each of its settings, flags before
the config file's [[gateway.tools]]; tools no rule matches are optional.

The upstream is one process (or one HTTP session) for all clients. When it dies, the calls in
flight fail saying how, and it is started again with a backoff; a call waits up to 30 s for it.
Tasks of a tool matched by --idempotent run again after a gateway restart; others fail.";

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    pub(crate) upstream: UpstreamArgs,

    #[command(flatten)]
    pub(crate) server: ServeArgs,
}

/// Where the gateway's upstream is, and what the gateway does with its tools.
#[derive(Debug, Args)]
pub(crate) struct UpstreamArgs {
    /// The upstream's Streamable HTTP endpoint, e.g. http://127.0.0.1:3001/mcp, instead of a
    /// command after `--`.
    #[arg(long, value_name = "URL", help_heading = "Upstream")]
    pub(crate) upstream_url: Option<String>,

    /// A file holding the bearer token the gateway sends to --upstream-url (its own
    /// credentials: a client's token is never passed on).
    #[arg(long, value_name = "FILE", help_heading = "Upstream")]
    pub(crate) upstream_token_file: Option<PathBuf>,

    /// A header to send to --upstream-url with every request, `NAME: VALUE` (repeatable).
    #[arg(long, value_name = "HEADER", help_heading = "Upstream")]
    pub(crate) upstream_header: Vec<String>,

    /// Speak this MCP version to the upstream without asking it first.
    /// [default: discovered: 2026-07-28 when the upstream speaks it, else 2025-11-25]
    #[arg(long, value_enum, value_name = "VERSION", help_heading = "Upstream")]
    pub(crate) upstream_protocol: Option<ProtocolVersion>,

    /// The task policy of the tools matching GLOB, `GLOB=POLICY` with POLICY never, optional,
    /// always or when-slow(MS) (repeatable; the first match wins). [default: optional]
    #[arg(long, value_name = "GLOB=POLICY", help_heading = "Gateway")]
    pub(crate) task_policy: Vec<String>,

    /// How long a call of the tools matching GLOB may run upstream, `GLOB=DURATION` (`90s`,
    /// `10m`, `500ms`); past it the call is cancelled upstream and fails (repeatable).
    /// [default: --call-timeout]
    #[arg(long, value_name = "GLOB=DURATION", help_heading = "Gateway")]
    pub(crate) tool_timeout: Vec<String>,

    /// How long any call may run upstream when no --tool-timeout matches it.
    /// [default: no limit]
    #[arg(long, value_name = "DURATION", help_heading = "Gateway")]
    pub(crate) call_timeout: Option<String>,

    /// Run the tasks of the tools matching GLOB again after a gateway restart instead of
    /// failing them: only for tools that are safe to repeat (repeatable).
    #[arg(long, value_name = "GLOB", help_heading = "Gateway")]
    pub(crate) idempotent: Vec<String>,

    /// The upstream server's command and its arguments, after `--`, spawned and spoken to over
    /// stdio.
    #[arg(last = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Read settings from this TOML file; flags given on the command line override it.
    #[arg(long, env = "MCP_TASKS_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Serve Streamable HTTP on this address (for example 127.0.0.1:8080; port 0 picks a free
    /// one) instead of stdio. The endpoint is /mcp. [default: stdio]
    #[arg(long, value_name = "ADDR", help_heading = "Transport")]
    pub(crate) http: Option<SocketAddr>,

    /// Largest accepted HTTP body or stdio line, in bytes (1024..=1073741824).
    /// [default: 4194304]
    #[arg(long, value_name = "BYTES", value_parser = parse_bounded::<BodyBytes>,
          help_heading = "Transport")]
    pub(crate) max_body_bytes: Option<u64>,

    /// Bytes of HTTP request bodies read at once over all connections (a body holds its
    /// Content-Length while it arrives); one more is answered 503 and closed. At least
    /// --max-body-bytes. [default: 268435456]
    #[arg(long, value_name = "BYTES", value_parser = parse_bounded::<BodyBytes>,
          help_heading = "Transport")]
    pub(crate) max_body_bytes_in_flight: Option<u64>,

    /// A browser origin allowed to call the HTTP endpoint besides loopback ones (repeatable),
    /// such as `https://app.example.com`. [default: loopback only]
    #[arg(long, value_name = "ORIGIN", help_heading = "Transport")]
    pub(crate) allowed_origin: Vec<String>,

    /// Require `Authorization: Bearer <token>` on every HTTP request, with the tokens of this
    /// file: one `SUBJECT TOKEN` pair per line (tokens of 16 or more characters; `#` comments).
    /// The subject owns the tasks its sessions create, and all of its sessions, on every
    /// server sharing the store, reach them. Needs --http. [default: no authentication]
    #[arg(
        long,
        env = "MCP_TASKS_AUTH_TOKENS",
        value_name = "FILE",
        help_heading = "Authentication"
    )]
    pub(crate) auth_tokens: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) oauth: OAuthArgs,

    /// Where tasks are kept: `memory` (they end with the process), `sqlite` (the default file),
    /// `sqlite:PATH` (relative to the working directory; `~` is not expanded; the directory
    /// is created), or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (the database must
    /// exist; its tables are created). A SQLite file can be served by only one process at a
    /// time; any number of instances can serve one PostgreSQL database.
    /// [default: sqlite:DATA_DIR/tasks.sqlite3 (gateway.sqlite3 for `gateway`), on Linux
    /// ~/.local/share/mcp-tasks/tasks.sqlite3]
    #[arg(
        long,
        env = "MCP_TASKS_STORE",
        hide_env_values = true,
        value_name = "STORE",
        help_heading = "Store"
    )]
    pub(crate) store: Option<String>,

    /// SQLite durability. [default: full]
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Store")]
    pub(crate) sqlite_synchronous: Option<SyncMode>,

    /// PostgreSQL connections this instance keeps in its pool (one more listens for the other
    /// instances' changes). [default: 16]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<PoolSize>, help_heading = "Store")]
    pub(crate) pg_pool_size: Option<u64>,

    /// On PostgreSQL: how long this instance counts as alive after it last renewed its lease
    /// (renewed every third of it). The other instances take over its unfinished tasks about
    /// this long after it dies. [default: 15000]
    #[arg(long, value_name = "MS", value_parser = parse_bounded::<LeaseMs>, help_heading = "Store")]
    pub(crate) lease_ttl_ms: Option<u64>,

    /// ttl of a task whose request names none, in milliseconds (at least 1000), or `unlimited`
    /// (needs --allow-unlimited-ttl). [default: 3600000, or --max-ttl-ms if lower]
    #[arg(long, value_name = "MS|unlimited", value_parser = parse_or_unlimited::<TtlMs>,
          help_heading = "Tasks")]
    pub(crate) default_ttl_ms: Option<OrUnlimited>,

    /// Largest ttl granted, in milliseconds (at least 1000): larger requests are lowered to it
    /// and the ttl granted is returned. `unlimited` is no maximum. [default: 86400000, or
    /// --default-ttl-ms if higher]
    #[arg(long, value_name = "MS|unlimited", value_parser = parse_or_unlimited::<TtlMs>,
          help_heading = "Tasks")]
    pub(crate) max_ttl_ms: Option<OrUnlimited>,

    /// Allow an `unlimited` default ttl: tasks that never expire. [default: not allowed]
    #[arg(long, help_heading = "Tasks")]
    pub(crate) allow_unlimited_ttl: bool,

    /// How often expired tasks are deleted, in milliseconds (10..=3600000). [default: 1000]
    #[arg(long, value_name = "MS", value_parser = parse_bounded::<SweepMs>,
          help_heading = "Tasks")]
    pub(crate) sweep_interval_ms: Option<u64>,

    /// pollInterval suggested to clients, in milliseconds (1..=60000). [default: 250]
    #[arg(long, value_name = "MS", value_parser = parse_bounded::<PollMs>,
          help_heading = "Tasks")]
    pub(crate) poll_interval_ms: Option<u64>,

    /// Tasks per tasks/list page (1..=1000). [default: 10]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<PageSize>,
          help_heading = "Tasks")]
    pub(crate) page_size: Option<u64>,

    /// Unfinished tasks one requestor may have, or `unlimited`: per auth owner; without auth
    /// per stdio connection, and over HTTP per client address (its 2025-11-25 sessions
    /// together; its MCP 2026-07-28 requests together). [default: 1000]
    #[arg(long, value_name = "N|unlimited", value_parser = parse_or_unlimited::<Count>,
          help_heading = "Limits")]
    pub(crate) max_active_tasks: Option<OrUnlimited>,

    /// Largest task result, in bytes of JSON; a larger one fails the task. Or `unlimited`.
    /// [default: 16777216]
    #[arg(long, value_name = "N|unlimited", value_parser = parse_or_unlimited::<Count>,
          help_heading = "Limits")]
    pub(crate) max_result_bytes: Option<OrUnlimited>,

    /// Bytes of unexpired task results one client may hold (per auth owner; without auth per
    /// HTTP client address, per stdio connection), or `unlimited`: beyond it the client's new
    /// tasks are refused with -32603 saying when its oldest result expires. Counted per
    /// instance. [default: 268435456]
    #[arg(long, value_name = "N|unlimited", value_parser = parse_or_unlimited::<Count>,
          help_heading = "Limits")]
    pub(crate) max_stored_result_bytes: Option<OrUnlimited>,

    /// Unanswered questions (elicitation, sampling) one task may have at once, or `unlimited`.
    /// [default: 16]
    #[arg(long, value_name = "N|unlimited", value_parser = parse_or_unlimited::<Count>,
          help_heading = "Limits")]
    pub(crate) max_pending_inputs: Option<OrUnlimited>,

    /// Task requests (tools/call as a task, tasks/*) one requestor may make per second, or
    /// `unlimited`; more are answered -32603 with the time to wait. [default: 1000]
    #[arg(long, value_name = "N|unlimited", value_parser = parse_or_unlimited::<Rate>,
          help_heading = "Limits")]
    pub(crate) rate_limit: Option<OrUnlimited>,

    /// Task requests one requestor may make at once after a quiet spell.
    /// [default: twice --rate-limit]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Rate>,
          help_heading = "Limits")]
    pub(crate) rate_burst: Option<u64>,

    /// Seconds an HTTP session may go without a request or an open stream before it ends
    /// (its tasks live on). [default: 1800]
    #[arg(long, value_name = "SECS", value_parser = parse_bounded::<IdleSecs>,
          help_heading = "Transport")]
    pub(crate) session_idle_timeout_secs: Option<u64>,

    /// Open HTTP sessions at most; a new one beyond is refused with 503. [default: 10000]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Sessions>,
          help_heading = "Transport")]
    pub(crate) max_sessions: Option<u64>,

    /// Open HTTP sessions one client may hold: per bearer token subject, or without auth per
    /// IP address; one more is refused with 429 and Retry-After. [default: 100]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Sessions>,
          help_heading = "Transport")]
    pub(crate) max_sessions_per_client: Option<u64>,

    /// SSE streams (GET, resumed, POST answered as SSE) and MCP 2026-07-28 requests in flight
    /// one client may have open: per bearer token subject, or without auth per IP address;
    /// one more is refused with 429 and Retry-After. [default: 1000]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Sessions>,
          help_heading = "Transport")]
    pub(crate) max_streams_per_client: Option<u64>,

    /// Open HTTP connections at most; one more is answered 503 and closed at once.
    /// [default: half of the open-file limit (ulimit -n) after 256, within 32..=16384]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Sessions>,
          help_heading = "Transport")]
    pub(crate) max_connections: Option<u64>,

    /// Open HTTP connections one client may hold: per IP address, an IPv6 address by its /64;
    /// one more is answered 429 and closed at once, while other addresses are still served.
    /// [default: a sixteenth of --max-connections, at least 8]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Sessions>,
          help_heading = "Transport")]
    pub(crate) max_connections_per_client: Option<u64>,

    /// Seconds a client has to send a request's headers, from when the connection is ready for
    /// one: also how long an idle connection stays open. An open response (an SSE stream) is
    /// never cut by it. [default: 10]
    #[arg(long, value_name = "SECS", value_parser = parse_bounded::<IdleSecs>,
          help_heading = "Transport")]
    pub(crate) header_read_timeout_secs: Option<u64>,

    /// Seconds a client has to send a request's body, from its headers; a slower one is
    /// answered 408 and the connection closed. [default: 30]
    #[arg(long, value_name = "SECS", value_parser = parse_bounded::<IdleSecs>,
          help_heading = "Transport")]
    pub(crate) body_read_timeout_secs: Option<u64>,

    /// Seconds a response write may make no progress (the client reads nothing) before the
    /// connection is closed; an SSE stream cut this way can be resumed. [default: 30]
    #[arg(long, value_name = "SECS", value_parser = parse_bounded::<IdleSecs>,
          help_heading = "Transport")]
    pub(crate) write_stall_timeout_secs: Option<u64>,

    /// MCP 2026-07-28 requests served at once over HTTP (they have no session to count by),
    /// `subscriptions/listen` streams included; one more is refused with 503. [default: 10000]
    #[arg(long, value_name = "N", value_parser = parse_bounded::<Sessions>,
          help_heading = "Transport")]
    pub(crate) max_stateless_requests: Option<u64>,

    /// Log an audit event (target `mcp_tasks::audit`, level info) for each create, status
    /// change, result, cancel, expiry and recovery, whatever the --log level. [default: off]
    #[arg(long, help_heading = "Audit")]
    pub(crate) audit: bool,

    #[command(flatten)]
    pub(crate) admin: AdminListenArgs,
}

/// The admin listener of `serve` and `gateway`: metrics, health, the admin API and dashboard.
#[derive(Debug, Args)]
pub(crate) struct AdminListenArgs {
    /// Serve the admin API, dashboard, /metrics and health checks on this address (for example
    /// 127.0.0.1:9090; port 0 picks a free one), apart from the MCP endpoint. An address other
    /// than loopback needs --admin-token-file. [default: no admin listener]
    #[arg(long, value_name = "ADDR", help_heading = "Admin")]
    pub(crate) admin: Option<SocketAddr>,

    /// The admin token, the first line of this file: every admin request but /healthz and the
    /// dashboard's page needs `Authorization: Bearer TOKEN`. It is not an MCP token. Needs
    /// --admin. [default: a random token, printed with the admin address at start]
    #[arg(long, value_name = "FILE", help_heading = "Admin")]
    pub(crate) admin_token_file: Option<PathBuf>,
}

/// OAuth 2.1 resource server settings of `serve` and `gateway` (`[oauth]` in the config file).
#[derive(Debug, Args, Default)]
pub(crate) struct OAuthArgs {
    /// Accept OAuth access tokens of this authorization server (its issuer identifier, the
    /// exact `iss` of its tokens; https, or http on loopback). The token's subject owns the
    /// tasks its requests create. Needs --http, and --oauth-jwks or --oauth-introspection;
    /// not with --auth-tokens. [default: no OAuth]
    #[arg(long, value_name = "URL", help_heading = "Authentication")]
    pub(crate) oauth_issuer: Option<String>,

    /// This server's resource URL, which tokens' `aud` must hold (RFC 8707): the endpoint as
    /// clients reach it, e.g. `https://mcp.example.com/mcp`. [default: http://ADDR/mcp when
    /// --http is a loopback address with a fixed port; required otherwise]
    #[arg(long, value_name = "URL", help_heading = "Authentication")]
    pub(crate) oauth_audience: Option<String>,

    /// The issuer's signing keys: its JWKS URL (`jwks_uri`, fetched, cached and refetched on
    /// rotation), or a JWKS file.
    #[arg(long, value_name = "URL|FILE", help_heading = "Authentication")]
    pub(crate) oauth_jwks: Option<String>,

    /// A scope every token must have, else 403 insufficient_scope (repeatable).
    #[arg(long, value_name = "SCOPE", help_heading = "Authentication")]
    pub(crate) oauth_required_scope: Vec<String>,

    /// The token claim whose value owns the tasks. [default: sub]
    #[arg(long, value_name = "CLAIM", help_heading = "Authentication")]
    pub(crate) oauth_subject_claim: Option<String>,

    /// Check opaque tokens at this RFC 7662 introspection endpoint (JWTs too when no
    /// --oauth-jwks is given). Needs --oauth-client-id and --oauth-client-secret-file.
    #[arg(long, value_name = "URL", help_heading = "Authentication")]
    pub(crate) oauth_introspection: Option<String>,

    /// This server's client id at the introspection endpoint.
    #[arg(long, value_name = "ID", help_heading = "Authentication")]
    pub(crate) oauth_client_id: Option<String>,

    /// A file whose first line is this server's client secret at the introspection endpoint.
    #[arg(long, value_name = "FILE", help_heading = "Authentication")]
    pub(crate) oauth_client_secret_file: Option<PathBuf>,
}

/// Said under `mcp-tasks admin --help`.
pub(crate) const ADMIN_HELP: &str = "\
Examples:
  mcp-tasks serve --http 127.0.0.1:8080 --admin 127.0.0.1:9090 --admin-token-file admin.token
  export MCP_TASKS_ADMIN_URL=http://127.0.0.1:9090 MCP_TASKS_ADMIN_TOKEN=\"$(cat admin.token)\"
  mcp-tasks admin list --status working --status input_required --older-than 10m
  mcp-tasks admin show 0b6f3c1e-6d2a-4c1b-9d4e-2f8f0c7a9b10
  mcp-tasks admin cancel 0b6f3c1e-6d2a-4c1b-9d4e-2f8f0c7a9b10 --message 'runaway'
  mcp-tasks admin purge --older-than 7d
  mcp-tasks admin --store sqlite:/var/lib/mcp-tasks/tasks.sqlite3 list --json

With --url the command asks a running server's admin address (`serve --admin ADDR`) with the
admin token (--token, MCP_TASKS_ADMIN_TOKEN or --token-file). With --store it opens the store
itself, for a store no server holds (a SQLite file a stopped server left, or a PostgreSQL
database); it never recovers or reruns anyone's tasks.

Durations are a number and a unit: 30s, 10m, 2h, 7d. A date is RFC 3339
(2026-12-01T00:00:00Z) or a day (2026-12-01, midnight UTC).

Exit status: 0 done (also when stdout is closed early, as by `| head`); 1 refused (unknown
task, task already finished, server not ready); 2 bad command line (flag, duration, date, token
file); 3 the server or store could not be reached, no admin API is at --url, or it answered an
error (a refused admin token among them).";

/// `mcp-tasks admin`: where to find the tasks, and what to do with them.
#[derive(Debug, Args)]
pub(crate) struct AdminCommand {
    #[command(flatten)]
    pub(crate) target: AdminTarget,

    #[command(subcommand)]
    pub(crate) action: AdminAction,
}

/// A running server's admin address and its token, or a store.
#[derive(Debug, Args)]
pub(crate) struct AdminTarget {
    /// The admin address of a running server (`serve --admin ADDR`), e.g. http://127.0.0.1:9090.
    #[arg(
        long,
        global = true,
        env = "MCP_TASKS_ADMIN_URL",
        value_name = "URL",
        help_heading = "Where"
    )]
    pub(crate) url: Option<String>,

    /// The admin token (`--admin-token-file` of the server). Prefer the environment variable or
    /// --token-file: a flag shows in the process list.
    #[arg(
        long,
        global = true,
        env = "MCP_TASKS_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Where"
    )]
    pub(crate) token: Option<String>,

    /// Read the admin token from the first line of this file; it wins over --token and
    /// MCP_TASKS_ADMIN_TOKEN.
    #[arg(long, global = true, value_name = "FILE", help_heading = "Where")]
    pub(crate) token_file: Option<PathBuf>,

    /// Open this store instead of asking a server: `sqlite:PATH` or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, one no running server holds.
    #[arg(long, global = true, value_name = "STORE", help_heading = "Where")]
    pub(crate) store: Option<String>,

    /// Print the admin API's JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// What `mcp-tasks admin` does.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminAction {
    /// Every owner's tasks, newest first.
    List(AdminListArgs),
    /// One task: its record, its questions and answers, and its history.
    Show {
        /// The task's id.
        #[arg(value_parser = crate::cmd::admin::args::parse_id)]
        id: String,
    },
    /// Cancel an unfinished task, whoever owns it; its work stops.
    Cancel {
        /// The task's id.
        #[arg(value_parser = crate::cmd::admin::args::parse_id)]
        id: String,
        /// The statusMessage the cancelled task gets. [default: the server's]
        #[arg(long, value_name = "TEXT", value_parser = crate::cmd::admin::args::parse_message)]
        message: Option<String>,
    },
    /// Delete finished tasks (completed, failed, cancelled) and their history, by when they
    /// finished.
    #[command(group(clap::ArgGroup::new("when").required(true).args(["before", "older_than"])))]
    Purge {
        /// Delete the tasks that finished before this time (RFC 3339, or a day as 2026-12-01).
        #[arg(long, value_name = "DATE", value_parser = crate::cmd::admin::args::parse_date)]
        before: Option<jiff::Timestamp>,
        /// Delete the tasks that finished longer ago than this (30s, 10m, 2h, 7d).
        #[arg(long, value_name = "DURATION", value_parser = crate::cmd::admin::args::parse_age)]
        older_than: Option<Age>,
    },
    /// The server's readiness, task counts by status and owner, and the limits in force.
    Health,
}

/// The filters of `mcp-tasks admin list`.
#[derive(Debug, Args)]
pub(crate) struct AdminListArgs {
    /// Only tasks in this status (repeatable, or comma-separated).
    #[arg(long, value_enum, value_name = "STATUS", value_delimiter = ',')]
    pub(crate) status: Vec<StatusArg>,

    /// Only the tasks of this owner (an auth subject); `-` for tasks without one.
    #[arg(long, value_name = "OWNER", value_parser = crate::cmd::admin::args::parse_owner)]
    pub(crate) owner: Option<OwnerFilter>,

    /// Only the tasks of this tool.
    #[arg(long, value_name = "TOOL")]
    pub(crate) tool: Option<String>,

    /// Only tasks created longer ago than this (30s, 10m, 2h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = crate::cmd::admin::args::parse_age)]
    pub(crate) older_than: Option<Age>,

    /// Only tasks created within this long (30s, 10m, 2h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = crate::cmd::admin::args::parse_age)]
    pub(crate) newer_than: Option<Age>,

    /// Show at most this many tasks (1..=10000). [default: 50]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000),
          conflicts_with = "all")]
    pub(crate) limit: Option<u32>,

    /// Show every task that matches, however many.
    #[arg(long)]
    pub(crate) all: bool,
}

/// A task status, as the admin API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    /// Running.
    Working,
    /// Waiting for an answer to a question it asked.
    #[value(name = "input_required", alias = "input-required")]
    InputRequired,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<StatusArg> for TaskStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Working => Self::Working,
            StatusArg::InputRequired => Self::InputRequired,
            StatusArg::Completed => Self::Completed,
            StatusArg::Failed => Self::Failed,
            StatusArg::Cancelled => Self::Cancelled,
        }
    }
}

/// Said under `mcp-tasks bench --help`.
pub(crate) const BENCH_HELP: &str = "\
Examples:
  mcp-tasks serve --http 127.0.0.1:8080 --store memory --rate-limit unlimited \\
      --max-active-tasks unlimited &
  mcp-tasks bench --url http://127.0.0.1:8080/mcp --mode call --duration 10s
  mcp-tasks bench --url http://127.0.0.1:8080/mcp --mode mix --mix call=1,task=1,get=8 --json
  mcp-tasks bench --url http://127.0.0.1:8080/mcp --protocol 2026-07-28 --mode task --count 10000
  mcp-tasks bench --url http://127.0.0.1:8080/mcp --rate 2000 --clients 128 --server-pid \"$PID\"

Each client is one HTTP/1.1 keep-alive connection and, in MCP 2025-11-25, its own session.
Without --rate every client sends its next operation as soon as the last one is answered
(closed loop); with --rate operations are issued at fixed times to whichever client is free, and
latency counts from the time an operation was due, so a slow server cannot hide its queue
(those issued when no client was free are counted as late). Warm-up operations are not recorded.
Latency percentiles are of the operations that succeeded; errors are counted by kind.

Only loopback addresses are loaded unless --allow-remote is given. Against `mcp-tasks serve`,
lift its per-client limits, which a benchmark on one address reaches at once: --rate-limit
unlimited, --max-active-tasks unlimited, and for many clients or idle sessions
--max-sessions-per-client, --max-streams-per-client and --max-connections-per-client.
See docs/bench.md.

Exit status: 0 the run completed and at least one operation succeeded (errors are reported,
not fatal); 1 no operation succeeded, or the server could not be reached or set up; 2 bad
command line; 130 interrupted by Ctrl-C (what was measured so far is printed).";

/// What one benchmark operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub(crate) enum BenchKind {
    /// A plain `tools/call`, answered with its result.
    Call,
    /// A tool call as a task, to its result: 2025-11-25 `tools/call` with `params.task` then
    /// `tasks/result`; 2026-07-28 `tools/call` declaring the tasks extension, then `tasks/get`
    /// until the task ends if the server made one.
    Task,
    /// As task, but the task is followed with `tasks/get` until it ends (then `tasks/result`
    /// in 2025-11-25), waiting --poll-interval between reads.
    Poll,
    /// One `tasks/get` of a task each client finished before the run.
    Get,
}

impl BenchKind {
    /// The name on the command line and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Task => "task",
            Self::Poll => "poll",
            Self::Get => "get",
        }
    }
}

/// What `mcp-tasks bench` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchMode {
    /// Plain `tools/call`s.
    Call,
    /// Tool calls as tasks, each to its result.
    Task,
    /// Tool calls as tasks, each followed with `tasks/get` to its end.
    Poll,
    /// `tasks/get` of a finished task.
    Get,
    /// Operations of several kinds, by the weights of --mix.
    Mix,
}

/// `--mix`: the weight of each kind of operation, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MixWeights(pub(crate) Vec<(BenchKind, u32)>);

/// The largest sum of --mix weights: the schedule is that long.
pub(crate) const MAX_MIX_TOTAL: u32 = 10_000;

/// clap's parser for `--mix call=1,task=1,get=8`.
pub(crate) fn parse_mix(text: &str) -> Result<MixWeights, String> {
    let mut weights: Vec<(BenchKind, u32)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not KIND=WEIGHT, such as call=1"))?;
        let kind = BenchKind::from_str(name.trim(), false).map_err(|_| {
            format!(
                "{:?} is not a kind of operation: use call, task, poll or get",
                name.trim()
            )
        })?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("the weight of {} is not a whole number", kind.name()))?;
        if weights.iter().any(|(k, _)| *k == kind) {
            return Err(format!("{} is given twice", kind.name()));
        }
        weights.push((kind, weight));
    }
    let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return Err("give at least one kind a weight above 0, such as call=1,get=9".into());
    }
    if total > u64::from(MAX_MIX_TOTAL) {
        return Err(format!(
            "the weights add up to {total}, over {MAX_MIX_TOTAL}"
        ));
    }
    Ok(MixWeights(weights))
}

/// clap's parser for a length of time: `500ms`, `10s`, `2m`, `1h`. A unit is required, so
/// `--duration 10` is not taken for ten milliseconds.
pub(crate) fn parse_bench_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{text:?} has no unit: write 500ms, 10s, 2m or 1h"));
    }
    mcp_tasks_runtime::gateway::policy::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration: write 500ms, 10s, 2m or 1h"))
}

/// clap's parser for a tool's arguments: a JSON object.
pub(crate) fn parse_json_object(
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err("the arguments must be a JSON object, such as {\"text\":\"bench\"}".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// clap's parser for `--rate`: operations per second, above 0.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 10_000_000.0 => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate: give operations per second, such as 500"
        )),
    }
}

/// `mcp-tasks bench`: what to load, how, and for how long.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The Streamable HTTP endpoint to load, e.g. http://127.0.0.1:8080/mcp (repeatable:
    /// clients are spread over the URLs in turn, e.g. two instances on one database).
    #[arg(long = "url", value_name = "URL", required = true)]
    pub(crate) urls: Vec<String>,

    /// The MCP version to speak: 2025-11-25 (a session per client) or 2026-07-28
    /// (stateless requests, declaring the tasks extension for task, poll and get).
    #[arg(
        long,
        value_enum,
        value_name = "VERSION",
        default_value = "2025-11-25",
        hide_possible_values = true
    )]
    pub(crate) protocol: ProtocolVersion,

    /// What each operation is.
    #[arg(long, value_enum, value_name = "MODE", default_value = "task")]
    pub(crate) mode: BenchMode,

    /// With --mode mix: the weight of each kind, `KIND=WEIGHT,…` (kinds call, task, poll,
    /// get); each client cycles through a fixed schedule with these proportions.
    /// [default: call=1,task=1,get=8]
    #[arg(long, value_name = "WEIGHTS", value_parser = parse_mix)]
    pub(crate) mix: Option<MixWeights>,

    /// The tool of plain calls. [default: echo]
    #[arg(long, value_name = "NAME", help_heading = "Tools")]
    pub(crate) tool: Option<String>,

    /// The arguments of --tool, a JSON object. [default: {"text":"bench"} for echo,
    /// {"text":"bench","delay_ms":0} for slow_echo, else {}]
    #[arg(long, value_name = "JSON", value_parser = parse_json_object, help_heading = "Tools")]
    pub(crate) arguments: Option<serde_json::Map<String, serde_json::Value>>,

    /// The tool of task, poll and get operations. [default: --tool outside --mode mix, else
    /// slow_echo]
    #[arg(long, value_name = "NAME", help_heading = "Tools")]
    pub(crate) task_tool: Option<String>,

    /// The arguments of the task tool, a JSON object. [default: --arguments outside --mode
    /// mix; {"text":"bench","delay_ms":0} for slow_echo, else {}; in 2026-07-28 the task
    /// that get reads is made with {"text":"bench","delay_ms":600}, which the demo server
    /// runs as a task]
    #[arg(long, value_name = "JSON", value_parser = parse_json_object, help_heading = "Tools")]
    pub(crate) task_arguments: Option<serde_json::Map<String, serde_json::Value>>,

    /// Milliseconds between two `tasks/get` of one task while following it; 0 asks again as
    /// soon as the answer comes. The server's pollIntervalMs is not waited for.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub(crate) poll_interval: u64,

    /// Connections, each with its own session in 2025-11-25 (1..=100000).
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Load")]
    pub(crate) clients: u32,

    /// Operations per second, issued on schedule to a free client (open loop). [default:
    /// none: each client sends its next operation when the last is answered]
    #[arg(long, value_name = "R", value_parser = parse_rate, help_heading = "Load")]
    pub(crate) rate: Option<f64>,

    /// How long to run before measuring (500ms, 10s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "2s",
          value_parser = parse_bench_duration, help_heading = "Load")]
    pub(crate) warmup: std::time::Duration,

    /// How long to measure (500ms, 10s, 2m). [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_bench_duration,
          conflicts_with = "count", help_heading = "Load")]
    pub(crate) duration: Option<std::time::Duration>,

    /// Measure this many operations instead of a time.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Load")]
    pub(crate) count: Option<u64>,

    /// How long one HTTP request may take before it counts as a `timeout` error.
    #[arg(long, value_name = "DURATION", default_value = "30s",
          value_parser = parse_bench_duration, help_heading = "Load")]
    pub(crate) timeout: std::time::Duration,

    /// Extra sessions opened before the warm-up and held idle to the end: in 2025-11-25 each
    /// an initialized session with its GET stream open, in 2026-07-28 each an open
    /// `subscriptions/listen` stream.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        help_heading = "Idle load"
    )]
    pub(crate) idle_sessions: u32,

    /// Tasks created before the warm-up and waited on to the end, each on a connection of its
    /// own: in 2025-11-25 a `tasks/result` held open, in 2026-07-28 a `subscriptions/listen`
    /// following the task. They are cancelled at the end.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        help_heading = "Idle load"
    )]
    pub(crate) idle_waiters: u32,

    /// The tool of --idle-waiters.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "slow_echo",
        help_heading = "Idle load"
    )]
    pub(crate) waiter_tool: String,

    /// The arguments of --waiter-tool, a JSON object. [default: for slow_echo an hour's
    /// wait, {"text":"wait","delay_ms":3600000}; else {}]
    #[arg(long, value_name = "JSON", value_parser = parse_json_object,
          help_heading = "Idle load")]
    pub(crate) waiter_arguments: Option<serde_json::Map<String, serde_json::Value>>,

    /// A server process to watch (Linux /proc; repeatable): its CPU time over the measured
    /// window, and its resident memory before the idle load, after it and at the end.
    #[arg(long, value_name = "PID", help_heading = "Output")]
    pub(crate) server_pid: Vec<u32>,

    /// Send `Authorization: Bearer TOKEN` with every request, the token being this file's
    /// content (trimmed).
    #[arg(long, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,

    /// Print one JSON document on stdout instead of the text summary.
    #[arg(long, help_heading = "Output")]
    pub(crate) json: bool,

    /// Load URLs whose host is not a loopback address.
    #[arg(long)]
    pub(crate) allow_remote: bool,
}

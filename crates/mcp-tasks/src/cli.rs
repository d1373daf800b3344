//! The command line, parsed by clap and turned into library settings.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Serve MCP tools as durable, pollable tasks (MCP 2025-11-25).
#[derive(Debug, Parser)]
#[command(name = "mcp-tasks", version, about)]
pub(crate) struct Cli {
    /// Log filter for stderr, such as `info` or `mcp_tasks_runtime=debug` (default: `RUST_LOG`,
    /// else `warn`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the demo tools as tasks, on stdio (default) or Streamable HTTP (--http).
    Serve(ServeArgs),
}

/// Where tasks are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreKind {
    /// In memory: fast, gone when the process ends.
    Memory,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Serve Streamable HTTP on this address (for example 127.0.0.1:8080; port 0 picks a free
    /// one) instead of stdio. The endpoint is /mcp.
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<SocketAddr>,

    /// Where tasks are kept.
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    pub(crate) store: StoreKind,

    /// Tasks per tasks/list page.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) page_size: u32,

    /// ttl of a task whose request names none, in milliseconds.
    #[arg(long, default_value_t = 3_600_000, value_name = "MS")]
    pub(crate) default_ttl_ms: u64,

    /// Largest ttl granted, in milliseconds; larger requests are lowered to it.
    #[arg(long, default_value_t = 86_400_000, value_name = "MS")]
    pub(crate) max_ttl_ms: u64,

    /// pollInterval suggested to clients, in milliseconds.
    #[arg(long, default_value_t = 250, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub(crate) poll_interval_ms: u64,

    /// Largest accepted HTTP body or stdio line, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub(crate) max_body_bytes: u64,

    /// A browser origin allowed to call the HTTP endpoint besides loopback ones (repeatable),
    /// such as `https://app.example.com`.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) allowed_origin: Vec<String>,
}

impl ServeArgs {
    pub(crate) fn engine_config(&self) -> anyhow::Result<mcp_tasks_engine::EngineConfig> {
        if self.default_ttl_ms > self.max_ttl_ms {
            anyhow::bail!(
                "--default-ttl-ms {} is above --max-ttl-ms {}; lower the default or raise the maximum",
                self.default_ttl_ms,
                self.max_ttl_ms
            );
        }
        Ok(mcp_tasks_engine::EngineConfig::default()
            .default_ttl(Some(Duration::from_millis(self.default_ttl_ms)))
            .max_ttl(Some(Duration::from_millis(self.max_ttl_ms)))
            .poll_interval(Duration::from_millis(self.poll_interval_ms))
            .page_size(self.page_size as usize))
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }
}

//! `mcp-tasks`: serve MCP tools as durable tasks, and drive them from the terminal.

mod cli;
mod cmd;
mod config;
mod demo;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// Exit status of a usage error: clap's for bad flags, ours for a bad config file or settings
/// that contradict each other.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::set_format(cli.log_format);
    let settings = match &cli.command {
        cli::Command::Serve(args) => match config::ServeSettings::resolve(args) {
            Ok(settings) => settings,
            Err(e) => {
                output::error(&format!("{e:#}"));
                return ExitCode::from(USAGE);
            }
        },
    };
    output::init_logging(cli.log.as_deref(), settings.engine.audit);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cmd::serve::run(settings));
    // Tasks still running belong to a process that is ending; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

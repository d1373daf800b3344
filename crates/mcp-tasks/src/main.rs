//! `mcp-tasks`: serve MCP tools as durable tasks, and drive them from the terminal.

mod cli;
mod cmd;
mod config;
mod demo;
mod fixtures;
mod output;
mod term;

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
            Ok(settings) => Some(settings),
            Err(e) => {
                output::error(&format!("{e:#}"));
                return ExitCode::from(USAGE);
            }
        },
        _ => None,
    };
    let audit = settings.as_ref().is_some_and(|s| s.engine.audit);
    output::init_logging(cli.log.as_deref(), audit);
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
    let code = match (cli.command, settings) {
        (cli::Command::Serve(args), Some(settings)) => {
            match runtime.block_on(cmd::serve::run(settings, args.fixtures)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    output::error(&format!("{e:#}"));
                    ExitCode::FAILURE
                }
            }
        }
        (cli::Command::Serve(_), None) => unreachable!("serve settings were resolved above"),
        (cli::Command::Tools(args), _) => client_exit(runtime.block_on(cmd::tools::run(args))),
        (cli::Command::Call(args), _) => client_exit(runtime.block_on(cmd::call::run(args))),
        (cli::Command::Tasks(command), _) => {
            client_exit(runtime.block_on(cmd::tasks::run(command)))
        }
    };
    // Tasks still running belong to a process that is ending; do not wait for them.
    runtime.shutdown_background();
    code
}

fn client_exit(outcome: Result<cmd::exit::Exit, cmd::exit::Failure>) -> ExitCode {
    match outcome {
        Ok(exit) => exit.into(),
        Err(failure) => {
            output::error(&failure.message);
            failure.exit.into()
        }
    }
}

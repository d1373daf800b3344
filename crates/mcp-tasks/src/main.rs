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
    let resolved = match &cli.command {
        cli::Command::Serve(args) => {
            config::ServeSettings::resolve(&args.server).map(|s| Some(Resolved::Serve(Box::new(s))))
        }
        cli::Command::Gateway(args) => {
            config::GatewaySettings::resolve(args).map(|s| Some(Resolved::Gateway(Box::new(s))))
        }
        _ => Ok(None),
    };
    let settings = match resolved {
        Ok(settings) => settings,
        Err(e) => {
            output::error(&format!("{e:#}"));
            return ExitCode::from(USAGE);
        }
    };
    let audit = settings.as_ref().is_some_and(|s| match s {
        Resolved::Serve(s) => s.engine.audit,
        Resolved::Gateway(g) => g.serve.engine.audit,
    });
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
        (cli::Command::Serve(args), Some(Resolved::Serve(settings))) => {
            server_exit(runtime.block_on(cmd::serve::run(*settings, args.fixtures)))
        }
        (cli::Command::Gateway(_), Some(Resolved::Gateway(settings))) => {
            server_exit(runtime.block_on(cmd::gateway::run(*settings)))
        }
        (cli::Command::Serve(_) | cli::Command::Gateway(_), _) => {
            unreachable!("server settings were resolved above")
        }
        (cli::Command::Tools(args), _) => client_exit(runtime.block_on(cmd::tools::run(args))),
        (cli::Command::Call(args), _) => client_exit(runtime.block_on(cmd::call::run(args))),
        (cli::Command::Tasks(command), _) => {
            client_exit(runtime.block_on(cmd::tasks::run(command)))
        }
        (cli::Command::Admin(command), _) => {
            admin_exit(runtime.block_on(cmd::admin::run(*command)))
        }
        (cli::Command::Bench(args), _) => runtime.block_on(cmd::bench::run(*args)),
    };
    // Tasks still running belong to a process that is ending; do not wait for them.
    runtime.shutdown_background();
    code
}

/// The settings of a command that serves, resolved before logging starts (the audit flag
/// decides what is logged).
enum Resolved {
    Serve(Box<config::ServeSettings>),
    Gateway(Box<config::GatewaySettings>),
}

fn server_exit(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn admin_exit(outcome: Result<cmd::admin::AdminExit, cmd::admin::AdminFailure>) -> ExitCode {
    match outcome {
        Ok(exit) => exit.into(),
        Err(failure) => {
            if !failure.message.is_empty() {
                output::error(&failure.message);
            }
            failure.exit.into()
        }
    }
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

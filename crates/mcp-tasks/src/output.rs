//! Everything the binary writes for people: logs and messages on stderr. Stdout belongs to the
//! stdio transport.
//!
//! With `--log-format json` the messages are JSON objects too, so that every stderr line of
//! the process parses the same way.

use std::io::{IsTerminal as _, Write as _};
use std::sync::OnceLock;

use mcp_tasks_engine::AUDIT_TARGET;
use serde_json::json;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Sets the format of messages and logs. Call it first: messages written before it are text.
pub(crate) fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

/// Starts logging to stderr with `filter` (`--log`), else `RUST_LOG`, else `warn`. With
/// `audit`, audit events are shown too, unless the filter already says what to do with them.
pub(crate) fn init_logging(filter: Option<&str>, audit: bool) {
    let mut filter = match filter {
        Some(f) => EnvFilter::try_new(f).unwrap_or_else(|e| {
            error(&format!("ignoring --log {f:?}: {e}"));
            EnvFilter::new("warn")
        }),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    if audit && !filter.to_string().contains(AUDIT_TARGET) {
        let directive = format!("{AUDIT_TARGET}=info")
            .parse()
            .expect("the audit directive is valid");
        filter = filter.add_directive(directive);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: escape codes in a file or pipe break grep.
        .with_ansi(std::io::stderr().is_terminal());
    match format() {
        LogFormat::Text => builder.with_target(false).init(),
        // tracing-subscriber's own layout: `timestamp`, `level`, `target`, and the event's
        // fields (its `message` among them) under `fields`.
        LogFormat::Json => builder.json().init(),
    }
}

/// Writes one line on stderr. A closed or full stderr (a supervisor that stopped reading, a
/// test that dropped the pipe) loses the line but never panics, as `eprintln!` would: a panic
/// here, in the signal task, would keep a SIGTERM from ever stopping the server.
fn write(level: &str, message: &str) {
    let line = match format() {
        LogFormat::Text if level == "ERROR" => format!("mcp-tasks: error: {message}"),
        LogFormat::Text => format!("mcp-tasks: {message}"),
        LogFormat::Json => {
            let mut timestamp = String::new();
            // The layout and clock format of tracing-subscriber's JSON lines.
            let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
            json!({
                "timestamp": timestamp,
                "level": level,
                "target": "mcp_tasks",
                "fields": {"message": message},
            })
            .to_string()
        }
    };
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub(crate) fn error(message: &str) {
    write("ERROR", message);
}

pub(crate) fn info(message: &str) {
    write("INFO", message);
}

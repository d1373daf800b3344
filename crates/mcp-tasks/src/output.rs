//! Everything the binary writes for people: logs and messages on stderr. Stdout belongs to the
//! stdio transport.

use tracing_subscriber::EnvFilter;

pub(crate) fn init_logging(filter: Option<&str>) {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f).unwrap_or_else(|e| {
            error(&format!("ignoring --log {f:?}: {e}"));
            EnvFilter::new("warn")
        }),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

pub(crate) fn error(message: &str) {
    eprintln!("mcp-tasks: error: {message}");
}

pub(crate) fn info(message: &str) {
    eprintln!("mcp-tasks: {message}");
}

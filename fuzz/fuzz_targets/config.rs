//! The config file parser of `mcp-tasks serve` and `mcp-tasks gateway`: TOML into the file's
//! sections, range checks, then merged with the flags and validated, exactly as the binary does
//! (`ServeSettings::resolve`, `GatewaySettings::resolve`) for `--config FILE`.
//!
//! The binary has no library, so this target compiles the binary's own `cli` and `config`
//! modules (and `cmd::admin::args`, which `cli` uses) from their source files, laid out under
//! the same paths as in the binary so their `crate::` paths resolve. If those modules come to
//! use another module of the binary, add it here the same way.
//!
//! Properties: no panic on any file; a refusal names the file.
#![no_main]
#![allow(dead_code, unused_imports, clippy::all)]

#[path = "../../crates/mcp-tasks/src/cli.rs"]
mod cli;
#[path = "../../crates/mcp-tasks/src/config/mod.rs"]
mod config;
#[path = "../../crates/mcp-tasks/src/cmd"]
mod cmd {
    #[path = "admin"]
    pub(crate) mod admin {
        pub(crate) mod args;
    }
}

use std::io::Write as _;
use std::sync::OnceLock;

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;

/// One file, rewritten for each input: the binary reads its config from a path.
fn file() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The file may name other files (tokens); the operator chooses those, and reading a device
    // would only measure the device.
    if ["/dev", "/proc", "/sys"].iter().any(|d| text.contains(d)) {
        return;
    }
    let path = file().join("mcp-tasks.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(data))
        .expect("the config file is written");
    let path_text = path.to_str().expect("a UTF-8 temporary path");

    let serve = cli::Cli::try_parse_from(["mcp-tasks", "serve", "--config", path_text])
        .expect("the serve command line parses");
    let cli::Command::Serve(args) = serve.command else {
        unreachable!("parsed as serve")
    };
    if let Err(e) = config::ServeSettings::resolve(&args.server) {
        let message = format!("{e:#}");
        assert!(!message.is_empty());
    }

    let gateway = cli::Cli::try_parse_from(["mcp-tasks", "gateway", "--config", path_text])
        .expect("the gateway command line parses");
    let cli::Command::Gateway(args) = gateway.command else {
        unreachable!("parsed as gateway")
    };
    let _ = config::GatewaySettings::resolve(&args);
});

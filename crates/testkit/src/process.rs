//! Starting and watching the server process: which store and flags it gets ([`ServeOptions`]),
//! how much memory it holds ([`rss_kib`]), and running a command that is expected to exit
//! ([`run_to_exit`]).
//!
//! Tests must never let `serve` fall back to its default store (a SQLite file in the user's data
//! directory), so every spawn helper passes `--store` and clears [`SETTINGS_ENV`]:
//! [`ServeOptions::default`] says `memory`, and [`crate::store::TempStore::store_arg`] names a
//! scratch SQLite file.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// What `mcp-tasks serve` is started with besides its transport: the `--store` value and any other
/// arguments, in order.
///
/// ```no_run
/// # use testkit::process::ServeOptions;
/// # use testkit::store::TempStore;
/// let store = TempStore::new();
/// let options = ServeOptions::default()
///     .store(store.store_arg())
///     .args(["--sweep-interval-ms", "50"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    store: String,
    args: Vec<String>,
}

impl Default for ServeOptions {
    /// `--store memory` and nothing else.
    fn default() -> Self {
        Self {
            store: "memory".to_owned(),
            args: Vec::new(),
        }
    }
}

impl ServeOptions {
    /// `--store memory` plus `args`: what the spawn helpers without options use.
    pub fn memory_with(args: &[&str]) -> Self {
        Self::default().args(args.iter().copied())
    }

    /// Uses this `--store` value (`memory`, `sqlite`, `sqlite:PATH`).
    #[must_use]
    pub fn store(mut self, store: impl Into<String>) -> Self {
        self.store = store.into();
        self
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The `--store` value.
    pub fn store_value(&self) -> &str {
        &self.store
    }

    /// The whole command line after the binary: `serve --store STORE`, then `transport`
    /// (for example `["--http", "127.0.0.1:0"]`, or nothing for stdio), then the other arguments.
    pub fn serve_args(&self, transport: &[&str]) -> Vec<String> {
        let mut all = vec!["serve".to_owned(), "--store".to_owned(), self.store.clone()];
        all.extend(transport.iter().map(|s| (*s).to_owned()));
        all.extend(self.args.iter().cloned());
        all
    }
}

/// Environment variables `mcp-tasks` reads settings from. The spawn helpers clear them, so a
/// developer's own settings never leak into a test; a test that wants one passes the flag.
pub const SETTINGS_ENV: [&str; 6] = [
    "MCP_TASKS_CONFIG",
    "MCP_TASKS_STORE",
    "MCP_TASKS_TOKEN",
    "MCP_TASKS_AUTH_TOKENS",
    "MCP_TASKS_ADMIN_URL",
    "MCP_TASKS_ADMIN_TOKEN",
];

/// Clears [`SETTINGS_ENV`] from a command about to start the binary.
pub(crate) fn without_settings_env(command: &mut Command) -> &mut Command {
    for name in SETTINGS_ENV {
        command.env_remove(name);
    }
    command
}

/// A command that runs `bin` with no controlling terminal (util-linux `setsid`, which execs it in
/// a new session: same process id, same exit status). The client opens `/dev/tty` to ask the
/// person at the terminal when stderr is redirected, so a test run from a shell would otherwise
/// see questions and a live status line go to the developer's terminal instead of the pipes the
/// test reads; without a terminal every run behaves as in CI. [`SETTINGS_ENV`] is cleared.
pub fn without_terminal(bin: &Path) -> Command {
    let mut command = Command::new("setsid");
    command.arg(bin);
    without_settings_env(&mut command);
    command
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`), or `None` when
/// it cannot be read (not Linux, or the process is gone).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("VmRSS:")?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// How a command run by [`run_to_exit`] ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The exit code of a process that exited; panics if a signal killed it.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .unwrap_or_else(|| panic!("killed by signal {:?}, not exited", status.signal()))
}

/// What a finished command did, for assertion messages.
pub fn show(f: &Finished) -> String {
    format!(
        "exit {:?} after {:?}\n--- stdout:\n{}--- stderr:\n{}",
        f.status.code(),
        f.elapsed,
        f.stdout,
        f.stderr
    )
}

/// Panics unless the command exited with `want`, showing what it printed.
#[track_caller]
pub fn assert_exit(what: &str, f: &Finished, want: i32) {
    assert_eq!(
        exit_code(f.status),
        want,
        "{what}: expected exit {want}\n{}",
        show(f)
    );
}

/// The whole stdout parsed as one JSON value; panics showing the run if it is not.
#[track_caller]
pub fn stdout_json(what: &str, f: &Finished) -> serde_json::Value {
    serde_json::from_str(&f.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON value ({e})\n{}", show(f)))
}

/// Runs `bin args…` with stdin closed and no controlling terminal ([`without_terminal`]) and waits for it to exit, at most `limit`. Panics (after
/// killing it) if it is still running then. For commands that must fail fast, such as a second
/// `serve` on a SQLite file another process holds.
pub async fn run_to_exit(bin: &Path, args: &[String], limit: Duration) -> Finished {
    let started = Instant::now();
    let mut child = without_terminal(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `setsid {}` ({e}); the tests need util-linux's `setsid`",
                bin.display()
            )
        });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let run = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (status, _, _) = tokio::join!(
            child.wait(),
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err)
        );
        (status, out, err)
    };
    let outcome = tokio::time::timeout(limit, run).await;
    let Ok((status, out, err)) = outcome else {
        let _ = child.start_kill();
        panic!(
            "{} {} did not exit within {limit:?}",
            bin.display(),
            args.join(" ")
        );
    };
    let status = status.unwrap_or_else(|e| panic!("cannot wait for {}: {e}", bin.display()));
    Finished {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_args_put_the_store_first_and_the_transport_before_the_rest() {
        let options = ServeOptions::default()
            .store("sqlite:/tmp/x.sqlite3")
            .arg("--audit")
            .args(["--page-size", "3"]);
        assert_eq!(
            options.serve_args(&["--http", "127.0.0.1:0"]),
            [
                "serve",
                "--store",
                "sqlite:/tmp/x.sqlite3",
                "--http",
                "127.0.0.1:0",
                "--audit",
                "--page-size",
                "3"
            ]
        );
        assert_eq!(
            ServeOptions::memory_with(&["--page-size", "3"]).serve_args(&[]),
            ["serve", "--store", "memory", "--page-size", "3"]
        );
    }

    #[test]
    fn rss_of_this_process_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = rss_kib(std::process::id()).expect("VmRSS of this process");
            assert!(rss > 0);
        }
    }
}

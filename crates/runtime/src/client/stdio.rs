//! A server spawned as a child process, spoken to over its stdin and stdout: one JSON-RPC
//! message per line. The child's stderr is left as the caller set it up on the command; when
//! the caller piped it, each line goes to our log (target `mcp_tasks::server_stderr`), where a
//! server's own complaints belong, instead of being lost or blocking the child on a full pipe.
//!
//! When the child's stdout ends, the transport waits briefly for its exit status, so that
//! [`Transport::end_reason`] can say how the server ended ("exited with status 1", "killed by
//! signal 9") before the connection reports that it closed.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{self, Message};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, Mutex};

use crate::transport::stdio::{read_lines, Input};

use super::error::{ClientError, Result};
use super::transport::{Inbound, Incoming, Transport, LAST_WORDS};

/// How long [`Transport::close`] waits for the child to exit on its own after its stdin
/// closed, before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How long the transport waits, after the child's stdout ended, for its exit status.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(2);

/// How many of its last stderr lines a server that exited by itself has quoted in the end
/// reason, and how many characters of each: why it stopped, for a person reading the error.
const LAST_LINES: usize = 5;
const LAST_WORD_CHARS: usize = 300;

/// How long the end reason waits for the rest of a server's stderr after it exited.
const STDERR_WAIT: Duration = Duration::from_millis(300);

/// A server's last stderr lines, shared by the stderr reader and the end reason.
type LastWords = Arc<std::sync::Mutex<VecDeque<String>>>;

/// The stdio transport: owns the child; dropping the transport kills it.
#[derive(Debug)]
pub struct StdioTransport {
    stdin: Mutex<Option<ChildStdin>>,
    child: Arc<Mutex<Child>>,
    ended: Arc<OnceLock<String>>,
}

impl StdioTransport {
    /// Spawns `command` with piped stdin and stdout.
    ///
    /// # Errors
    ///
    /// [`ClientError::Transport`] naming the program when it cannot be started.
    pub fn spawn(mut command: Command) -> Result<(Self, Inbound)> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            ClientError::Transport(format!("cannot start the server command {program:?}: {e}"))
        })?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ClientError::Transport("the server's stdout is not piped".into()))?;
        let last_words = LastWords::default();
        let stderr_read = child
            .stderr
            .take()
            .map(|stderr| tokio::spawn(log_stderr(program, stderr, last_words.clone())));
        let child = Arc::new(Mutex::new(child));
        let ended = Arc::new(OnceLock::new());
        let (tx, rx) = mpsc::unbounded_channel();
        // Weak: the transport alone owns the child, so dropping it kills the child
        // (`kill_on_drop`) even while this reader waits on a server that never writes.
        let (waited, reason) = (Arc::downgrade(&child), ended.clone());
        tokio::spawn(async move {
            read_stdout(stdout, &tx).await;
            // Before the inbound channel ends (and the connection reports it closed), learn
            // how the server ended, for whoever reports the failure.
            let Some(waited) = waited.upgrade() else {
                let _ = reason.set("was stopped: the client let it go".to_owned());
                return;
            };
            let status =
                tokio::time::timeout(EXIT_STATUS_WAIT, async { waited.lock().await.wait().await })
                    .await;
            drop(waited);
            let why = match status {
                Ok(Ok(status)) if status.code().is_some() => {
                    // It stopped by itself: what it said last says why ("… is not a valid
                    // Git repository"), so a person need not turn on our logs to find out.
                    if let Some(read) = stderr_read {
                        let _ = tokio::time::timeout(STDERR_WAIT, read).await;
                    }
                    with_last_words(describe_exit(status), &last_words)
                }
                Ok(Ok(status)) => describe_exit(status),
                Ok(Err(e)) => format!("closed its stdout (its exit status is unknown: {e})"),
                Err(_) => "closed its stdout but is still running".to_owned(),
            };
            let _ = reason.set(why);
            drop(tx);
        });
        Ok((
            Self {
                stdin: Mutex::new(stdin),
                child,
                ended,
            },
            rx,
        ))
    }
}

#[async_trait]
impl Transport for StdioTransport {
    async fn send(&self, message: Message) -> Result<()> {
        let mut line = serde_json::to_vec(&message)
            .map_err(|e| ClientError::Transport(format!("cannot encode a message: {e}")))?;
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        let pipe = stdin.as_mut().ok_or_else(|| {
            ClientError::Transport("the connection to the server was closed".into())
        })?;
        let written = async {
            pipe.write_all(&line).await?;
            pipe.flush().await
        };
        written.await.map_err(|e| {
            ClientError::Transport(format!(
                "cannot write to the server's stdin (did it exit?): {e}"
            ))
        })
    }

    fn end_reason(&self) -> Option<String> {
        self.ended
            .get()
            .map(|why| format!("the server process {why}"))
    }

    async fn close(&self) {
        drop(self.stdin.lock().await.take());
        let mut child = self.child.lock().await;
        if tokio::time::timeout(EXIT_GRACE, child.wait())
            .await
            .is_err()
        {
            tracing::debug!("the server did not exit after its stdin closed; killing it");
            let _ = child.kill().await;
        }
    }
}

/// The longest line of the child's stderr kept; the rest of a longer line is skipped.
const MAX_STDERR_LINE: usize = 64 * 1024;

/// Delivers the child's stdout, one message per line, until it ends or nobody listens. A line
/// above [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES) is skipped unread, so a server that
/// writes without newlines cannot grow our memory without end.
async fn read_stdout(stdout: tokio::process::ChildStdout, tx: &mpsc::UnboundedSender<Incoming>) {
    read_messages(stdout, tx, super::MAX_MESSAGE_BYTES).await;
}

/// [`read_stdout`] of any reader, with the line limit given: the server transport's line
/// reader, which skips the rest of an overlong line and goes on.
async fn read_messages<R: tokio::io::AsyncRead + Unpin>(
    stdout: R,
    tx: &mpsc::UnboundedSender<Incoming>,
    max_line: usize,
) {
    let (lines_tx, mut lines) = mpsc::channel(16);
    let reader = read_lines(stdout, "the server's stdout", max_line, lines_tx);
    let deliver = async move {
        while let Some(input) = lines.recv().await {
            let line = match input {
                Input::Line(line) => line,
                Input::Overlong => {
                    tracing::warn!(
                        limit = max_line,
                        "the server wrote a line longer than the limit; skipped"
                    );
                    continue;
                }
            };
            match jsonrpc::decode(&line) {
                Ok(message) => {
                    if tx.send(Incoming::Message(message)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.to_error_object().message, "the server wrote a line that is not a JSON-RPC message; skipped")
                }
            }
        }
    };
    tokio::join!(reader, deliver);
}

/// Logs each line the child writes to stderr (target `mcp_tasks::server_stderr`): at warn
/// when it reads like a failure, else at debug, since servers write banners and chatter there
/// (everything greets on every start) that would drown our own log.
async fn log_stderr(program: String, stderr: tokio::process::ChildStderr, last: LastWords) {
    // Drained to the end whatever it holds (an overlong line, bytes that are not UTF-8): a
    // child blocked on a full stderr pipe would stop answering.
    let (lines_tx, mut lines) = mpsc::channel(16);
    let reader = read_lines(stderr, "the server's stderr", MAX_STDERR_LINE, lines_tx);
    let log = async move {
        while let Some(input) = lines.recv().await {
            let Input::Line(bytes) = input else {
                continue;
            };
            let line = String::from_utf8_lossy(&bytes);
            log_stderr_line(&program, line.trim_end_matches(['\n', '\r']), &last);
        }
    };
    tokio::join!(reader, log);
}

/// One line of the child's stderr: into its last words, and the log.
fn log_stderr_line(program: &str, line: &str, last: &LastWords) {
    if !line.trim().is_empty() {
        let mut last = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.len() == LAST_LINES {
            last.pop_front();
        }
        last.push_back(match line.char_indices().nth(LAST_WORD_CHARS) {
            Some((at, _)) => format!("{}…", &line[..at]),
            None => line.to_owned(),
        });
    }
    if reads_like_a_failure(line) {
        tracing::warn!(target: "mcp_tasks::server_stderr", server = %program, "{line}");
    } else {
        tracing::debug!(target: "mcp_tasks::server_stderr", server = %program, "{line}");
    }
}

/// `why`, and the server's last stderr lines when it wrote any.
fn with_last_words(why: String, last: &LastWords) -> String {
    let last = last
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_empty() {
        return why;
    }
    let words: Vec<&str> = last.iter().map(String::as_str).collect();
    format!("{why}{LAST_WORDS}{}", words.join(" | "))
}

/// Whether a server's stderr line reports a failure: an error, a panic, a traceback.
fn reads_like_a_failure(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["error", "panic", "traceback", "exception", "fatal"]
        .iter()
        .any(|word| lower.contains(word))
}

/// "exited with status 1", "was killed by signal 9": how a child ended, for people.
fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no more).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[test]
    fn failures_on_stderr_are_told_from_chatter() {
        assert!(reads_like_a_failure(
            "Error: None of the specified directories are accessible"
        ));
        assert!(reads_like_a_failure("Traceback (most recent call last):"));
        assert!(!reads_like_a_failure("Starting default (STDIO) server..."));
    }

    /// A server that exits by itself says why in the end reason: its last stderr lines.
    #[tokio::test]
    async fn a_server_that_quits_says_why() {
        let mut command = Command::new("sh");
        command
            .args([
                "-c",
                "echo starting >&2; echo 'ERROR: /tmp is not a repository' >&2; exit 3",
            ])
            .stderr(Stdio::piped());
        let (transport, mut inbound) = StdioTransport::spawn(command).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while inbound.recv().await.is_some() {}
        })
        .await
        .expect("the inbound channel ends with the child");
        let why = transport.end_reason().expect("an end reason");
        assert_eq!(
            why,
            "the server process exited with status 3; its last words on stderr: starting | \
             ERROR: /tmp is not a repository"
        );
    }

    /// Dropping the transport kills a child that never wrote a line: nothing else holds it.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_the_transport_kills_an_idle_child() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let (transport, inbound) = StdioTransport::spawn(command).unwrap();
        let pid = transport.child.lock().await.id().expect("a running child");
        assert!(!gone(pid));
        drop(transport);
        drop(inbound);
        tokio::time::timeout(Duration::from_secs(5), async {
            while !gone(pid) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the child is killed once the transport is dropped");
    }

    /// A server that writes a line past the limit (or never a newline) costs no more than the
    /// limit: the line is skipped, and the messages after it are delivered.
    #[tokio::test]
    async fn a_line_past_the_limit_is_skipped_not_kept() {
        let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let mut out = vec![b'x'; 10_000];
        out.push(b'\n');
        out.extend_from_slice(ping);
        out.push(b'\n');
        let (tx, mut rx) = mpsc::unbounded_channel();
        super::read_messages(&out[..], &tx, 1024).await;
        drop(tx);
        let mut delivered = Vec::new();
        while let Some(incoming) = rx.recv().await {
            delivered.push(incoming);
        }
        assert!(
            matches!(
                delivered.as_slice(),
                [Incoming::Message(Message::Request(_))]
            ),
            "{delivered:?}"
        );
    }
}

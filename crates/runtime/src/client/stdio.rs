//! A server spawned as a child process, spoken to over its stdin and stdout: one JSON-RPC
//! message per line. The child's stderr is left as the caller set it up on the command.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::{self, Message};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, Mutex};

use super::error::{ClientError, Result};
use super::transport::{Inbound, Incoming, Transport};

/// How long [`Transport::close`] waits for the child to exit on its own after its stdin
/// closed, before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The stdio transport: owns the child; dropping the transport kills it.
#[derive(Debug)]
pub struct StdioTransport {
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
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
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) if line.trim().is_empty() => {}
                    Ok(Some(line)) => match jsonrpc::decode(line.as_bytes()) {
                        Ok(message) => {
                            if tx.send(Incoming::Message(message)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e.to_error_object().message, "the server wrote a line that is not a JSON-RPC message; skipped")
                        }
                    },
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the server's stdout failed");
                        return;
                    }
                }
            }
        });
        Ok((
            Self {
                stdin: Mutex::new(stdin),
                child: Mutex::new(child),
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

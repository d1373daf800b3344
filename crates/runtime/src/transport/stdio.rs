//! MCP over stdio: one JSON-RPC message per line on stdin and stdout; logs belong on stderr.
//!
//! One connection is one session. Requests are served concurrently, so a client can keep
//! `tasks/result` open while it polls `tasks/get` and answers an elicitation on the same pipe.
//!
//! What goes to stdout waits in a bounded queue ([`Sink`]): a client that stops reading its
//! stdout while the server keeps talking (progress of a long call) ends the session with a
//! logged reason, instead of the queue growing without end.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use mcp_tasks_wire::jsonrpc::{ErrorObject, Response};

use crate::server::Server;
use crate::session::{Session, Sink, DEFAULT_QUEUE};

/// The longest line accepted, in bytes; longer lines are answered -32600 and skipped.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Serves one session over a byte stream pair until the reader ends.
///
/// # Errors
///
/// An I/O error of the writer, which ends the session.
pub async fn serve<R, W>(
    server: Arc<Server>,
    reader: R,
    writer: W,
    max_line_bytes: usize,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    serve_until(
        server,
        reader,
        writer,
        max_line_bytes,
        CancellationToken::new(),
    )
    .await
}

/// Serves one session as [`serve`] does, and stops gracefully when `stopping` trips: no
/// further line is read, and the requests already read are answered before this returns.
/// Bound the wait from outside (a `tasks/result` may wait as long as its task runs);
/// dropping the future abandons what is still in flight.
///
/// # Errors
///
/// An I/O error of the writer, which ends the session.
pub async fn serve_until<R, W>(
    server: Arc<Server>,
    reader: R,
    writer: W,
    max_line_bytes: usize,
    stopping: CancellationToken,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let session = Arc::new(Session::new(format!("stdio-{}", uuid::Uuid::new_v4())));
    let (tx, mut rx) = Sink::channel(DEFAULT_QUEUE);
    session.set_standing(Some(tx.clone()));
    server.start_session(&session);

    let writer_task = tokio::spawn(async move {
        let mut writer = writer;
        while let Some(msg) = rx.recv().await {
            let mut line = serde_json::to_vec(&msg).map_err(std::io::Error::other)?;
            line.push(b'\n');
            writer.write_all(&line).await?;
            writer.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });

    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(max_line_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut bounded = (&mut reader).take(limit);
        let read = tokio::select! {
            read = bounded.read_until(b'\n', &mut line) => read,
            () = stopping.cancelled() => {
                tracing::debug!(session = session.id(), "stopping: no further request is read");
                // The writer ends once every request in flight has sent its answer and
                // dropped its clone of the sink; nothing else may keep it open.
                session.set_standing(None);
                drop(tx);
                let written = writer_task.await.map_err(std::io::Error::other)?;
                session.close();
                return written;
            }
            () = tx.closed() => {
                tracing::warn!(
                    session = session.id(),
                    "stdout no longer takes messages (the client stopped reading it, or it \
                     closed); ending the session"
                );
                break;
            }
        };
        match read {
            Ok(0) => break,
            Ok(_) if line.len() > max_line_bytes && line.last() != Some(&b'\n') => {
                let error = ErrorObject::invalid_request(format!(
                    "message longer than {max_line_bytes} bytes; it was skipped"
                ));
                let _ = tx.send(Response::error(None, error).into());
                if !skip_line(&mut reader).await {
                    break;
                }
            }
            Ok(_) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                crate::transport::dispatch(&server, &session, &line, &tx);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading stdin failed");
                break;
            }
        }
    }
    tracing::debug!(session = session.id(), "stdin closed; ending the session");
    session.close();
    drop(tx);
    // Answers already computed still go out; work in flight is abandoned with the process.
    match tokio::time::timeout(std::time::Duration::from_millis(200), writer_task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => Ok(()),
    }
}

/// Discards the rest of an overlong line; false at end of input.
async fn skip_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> bool {
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => return false,
            Ok(buf) => buf,
        };
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            reader.consume(pos + 1);
            return true;
        }
        let n = buf.len();
        reader.consume(n);
    }
}

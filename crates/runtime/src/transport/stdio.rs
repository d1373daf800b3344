//! MCP over stdio: one JSON-RPC message per line on stdin and stdout; logs belong on stderr.
//!
//! One connection is one session. Requests are served concurrently, so a client can keep
//! `tasks/result` open while it polls `tasks/get` and answers an elicitation on the same pipe.
//! A request carrying the MCP 2026-07-28 `_meta` is served statelessly beside that session, in
//! a context of its own (B-8), so both eras may share one pipe; the notifications of its
//! `subscriptions/listen` streams go to stdout among the rest, each tagged with its stream.
//! At most [`MAX_IN_FLIGHT`] requests run at once; one more is answered at once with an
//! error. Stdin is never left unread for want of room: the client's answers to our own
//! requests (an elicitation a running call waits for) come on it too.
//!
//! What goes to stdout waits in a bounded queue ([`Sink`]): notifications are dropped while it
//! is over half full, and a client that stops reading its stdout while answers keep coming
//! ends the session with a logged reason, instead of the queue growing without end.
//!
//! Lines are read on a task of their own and handed over a small channel: reading a line is
//! not cancel safe, and the session waits on other things (shutdown, the end of the last
//! request) at the same time.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use mcp_tasks_wire::jsonrpc::{ErrorObject, Response};

use crate::server::Server;
use crate::session::{Session, Sink, DEFAULT_QUEUE};

/// The longest line accepted, in bytes; longer lines are answered -32600 and skipped.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// The most requests one stdio session runs at once. Each runs on a tokio task of its own,
/// so without a cap a client writing requests faster than they finish grows the server
/// without end; and each will queue an answer on stdout, so the cap is the half of the stdout
/// queue that notifications may never take ([`Sink::reserve`]): the answers of the requests in
/// flight always fit, and only a client that stops reading stdout is cut.
pub const MAX_IN_FLIGHT: usize = DEFAULT_QUEUE / 2;

/// How many lines read ahead may wait for the session to take them.
const READ_AHEAD: usize = 4;

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

/// Serves one session as [`serve`] does, and stops gracefully when `stopping` trips: stdin is
/// still read, so the requests in flight get the answers they wait for from the client (an
/// elicitation of a plain call, a question a `tasks/result` delivers) and its cancellations,
/// while each new request is refused (-32603, the server is shutting down). Once no request is
/// in flight, the session closes and this returns when stdout has taken what was queued.
/// Bound the wait from outside (a `tasks/result` may wait as long as its task runs);
/// dropping the future abandons what is still in flight. The end of stdin ends the session
/// at once, stopping or not.
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

    let (lines_tx, mut lines) = mpsc::channel(READ_AHEAD);
    let _reader = AbortOnDrop(tokio::spawn(read_lines(
        reader,
        "stdin",
        max_line_bytes,
        lines_tx,
    )));
    let in_flight = InFlight::new();
    let drained = async {
        stopping.cancelled().await;
        tracing::debug!(
            session = session.id(),
            in_flight = in_flight.count(),
            "stopping: new requests are refused; the session ends once those in flight are answered"
        );
        in_flight.idle().await;
    };
    tokio::pin!(drained);

    let ended_by_eof = loop {
        tokio::select! {
            biased;
            () = &mut drained => break false,
            () = tx.closed() => {
                tracing::warn!(
                    session = session.id(),
                    "stdout no longer takes messages (the client stopped reading it, or it \
                     closed); ending the session"
                );
                break true;
            }
            input = lines.recv() => match input {
                None => break true,
                Some(Input::Overlong) => {
                    let error = ErrorObject::invalid_request(format!(
                        "message longer than {max_line_bytes} bytes; it was skipped"
                    ));
                    let _ = tx.send(Response::error(None, error).into());
                }
                Some(Input::Line(line)) => {
                    crate::transport::dispatch(&server, &session, &line, &tx, &stopping, |_| {
                        if stopping.is_cancelled() {
                            return Err(shutting_down());
                        }
                        in_flight.admit()
                    });
                }
            },
        }
    };

    if !ended_by_eof {
        // Lines read ahead but not handled yet: answers and notifications still count, and
        // each request gets the refusal rather than no answer at all.
        while let Ok(input) = lines.try_recv() {
            if let Input::Line(line) = input {
                crate::transport::dispatch(&server, &session, &line, &tx, &stopping, |_| {
                    Err::<(), _>(shutting_down())
                });
            }
        }
        tracing::debug!(
            session = session.id(),
            "no request in flight; ending the session"
        );
        session.close();
        // The writer ends once every clone of the sink is gone; what was queued goes out.
        session.set_standing(None);
        drop(tx);
        return writer_task.await.map_err(std::io::Error::other)?;
    }
    tracing::debug!(session = session.id(), "stdin closed; ending the session");
    session.close();
    drop(tx);
    // Answers already computed still go out; the calls still running were cancelled with
    // the session, and a writer stuck on a full pipe is stopped rather than left behind.
    let mut writer_task = writer_task;
    match tokio::time::timeout(std::time::Duration::from_millis(200), &mut writer_task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            writer_task.abort();
            Ok(())
        }
    }
}

/// The answer to a request that arrives once the server is stopping.
fn shutting_down() -> ErrorObject {
    ErrorObject::internal(
        "the server is shutting down and takes no new requests; send it to a server that is \
         running",
    )
}

/// What the line reader hands the session (and the stdio client, for its child's stdout).
pub(crate) enum Input {
    /// One line, without regard to what it holds.
    Line(Vec<u8>),
    /// A line over the limit, skipped.
    Overlong,
}

/// Reads `reader` (stdin, or a child's output; `what` names it in the log) line by line into
/// `lines`, skipping blank lines; ends (dropping `lines`) at the
/// end of input, on a read error, or when the session stops taking lines.
pub(crate) async fn read_lines<R: AsyncRead + Unpin>(
    reader: R,
    what: &'static str,
    max_line_bytes: usize,
    lines: mpsc::Sender<Input>,
) {
    let mut reader = BufReader::new(reader);
    let limit = u64::try_from(max_line_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    loop {
        let mut line = Vec::new();
        let input = match (&mut reader).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) if line.len() > max_line_bytes && line.last() != Some(&b'\n') => {
                if !skip_line(&mut reader).await {
                    let _ = lines.send(Input::Overlong).await;
                    return;
                }
                Input::Overlong
            }
            Ok(_) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(_) => Input::Line(line),
            Err(e) => {
                tracing::warn!(error = %e, "reading {what} failed");
                return;
            }
        };
        if lines.send(input).await.is_err() {
            return;
        }
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

/// Stops the line reader when the session ends, whether or not stdin did.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The number of requests of one session being answered.
struct InFlight {
    count: Arc<watch::Sender<usize>>,
}

/// One admitted request; dropping it (after its answer is queued) frees its place.
struct Admitted {
    count: Arc<watch::Sender<usize>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n -= 1);
    }
}

impl InFlight {
    fn new() -> Self {
        Self {
            count: Arc::new(watch::Sender::new(0)),
        }
    }

    fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// A place for one more request, or the error that refuses it when [`MAX_IN_FLIGHT`] run.
    fn admit(&self) -> Result<Admitted, ErrorObject> {
        let admitted = self.count.send_if_modified(|n| {
            let room = *n < MAX_IN_FLIGHT;
            if room {
                *n += 1;
            }
            room
        });
        if admitted {
            Ok(Admitted {
                count: self.count.clone(),
            })
        } else {
            Err(ErrorObject::internal(format!(
                "{MAX_IN_FLIGHT} requests of this session are in flight, the most it runs at \
                 once; this one was not run: wait for answers before sending more"
            )))
        }
    }

    /// Completes when no request is in flight.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    async fn idle(&self) {
        let mut count = self.count.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = count.wait_for(|n| *n == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore};
    use mcp_tasks_wire::v2025_11_25::{CallToolResult, Implementation};
    use serde_json::{json, Value};
    use tokio::io::{DuplexStream, Lines, ReadHalf, WriteHalf};

    use crate::server::{ToolDef, Tools};

    /// Guards each wait on the server against a hang; nothing timed is asserted.
    const HANG: Duration = Duration::from_secs(30);

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Hold {}

    /// A session on a server whose `hold` tool runs until `release` trips, and the client's
    /// ends of its stdin and stdout.
    struct Harness {
        stdin: WriteHalf<DuplexStream>,
        stdout: Lines<BufReader<ReadHalf<DuplexStream>>>,
        release: CancellationToken,
        stopping: CancellationToken,
        served: JoinHandle<std::io::Result<()>>,
        /// How many `hold` calls were dropped before they were released.
        abandoned: Arc<std::sync::atomic::AtomicUsize>,
    }

    /// Counts a `hold` call dropped (aborted) before its release.
    struct Abandoned(Arc<std::sync::atomic::AtomicUsize>, bool);

    impl Drop for Abandoned {
        fn drop(&mut self) {
            if !self.1 {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    impl Harness {
        fn start() -> Self {
            let release = CancellationToken::new();
            let held = release.clone();
            let abandoned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = abandoned.clone();
            let tools = Tools::new().tool(ToolDef::new("hold"), move |_: Hold, _cx| {
                let held = held.clone();
                let guard = Abandoned(counter.clone(), false);
                async move {
                    // Moved in whole: a closure would capture only the field it assigns.
                    let mut guard = guard;
                    held.cancelled().await;
                    guard.1 = true;
                    Ok(CallToolResult::text("released"))
                }
            });
            let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
            let server = Server::new(engine, tools, Implementation::new("test", "0"));
            let (client, server_end) = tokio::io::duplex(1 << 20);
            let (server_in, server_out) = tokio::io::split(server_end);
            let (client_out, client_in) = tokio::io::split(client);
            let stopping = CancellationToken::new();
            let served = tokio::spawn(serve_until(
                server,
                server_in,
                server_out,
                DEFAULT_MAX_LINE_BYTES,
                stopping.clone(),
            ));
            Self {
                stdin: client_in,
                stdout: BufReader::new(client_out).lines(),
                release,
                stopping,
                served,
                abandoned,
            }
        }

        async fn send(&mut self, message: Value) {
            let mut line = message.to_string().into_bytes();
            line.push(b'\n');
            self.stdin.write_all(&line).await.unwrap();
        }

        async fn call_hold(&mut self, id: usize) {
            let params = json!({"name": "hold", "arguments": {}});
            self.send(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}),
            )
            .await;
        }

        async fn next(&mut self) -> Value {
            let line = tokio::time::timeout(HANG, self.stdout.next_line())
                .await
                .expect("the server answers")
                .unwrap()
                .expect("stdout stays open");
            serde_json::from_str(&line).unwrap()
        }

        async fn ping(&mut self, id: usize) -> Value {
            self.send(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}))
                .await;
            self.next().await
        }
    }

    /// A client that sends more requests than [`MAX_IN_FLIGHT`] without waiting for answers
    /// gets the overflow refused at once (-32603, saying why), while the requests in flight
    /// still run and their cancellations are still read; once they are answered, the session
    /// serves again.
    #[tokio::test]
    async fn requests_over_the_in_flight_cap_are_refused_and_the_session_goes_on() {
        let mut h = Harness::start();
        let over = 3;
        for id in 1..=MAX_IN_FLIGHT + over {
            h.call_hold(id).await;
        }
        for expected in MAX_IN_FLIGHT + 1..=MAX_IN_FLIGHT + over {
            let refused = h.next().await;
            assert_eq!(refused["id"], expected, "{refused}");
            assert_eq!(refused["error"]["code"], -32603, "{refused}");
            let message = refused["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("{MAX_IN_FLIGHT} requests")) && message.contains("wait"),
                "{message}"
            );
        }
        h.send(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 1, "reason": "changed my mind"}}),
        )
        .await;
        let cancelled = h.next().await;
        assert_eq!(
            cancelled["id"], 1,
            "the cancellation is read at the cap: {cancelled}"
        );
        assert!(cancelled["error"].is_object(), "{cancelled}");

        h.release.cancel();
        let mut answered = 0;
        while answered < MAX_IN_FLIGHT - 1 {
            let answer = h.next().await;
            assert_eq!(
                answer["result"]["content"][0]["text"], "released",
                "{answer}"
            );
            answered += 1;
        }
        let pong = h.ping(10_000).await;
        assert_eq!(pong, json!({"jsonrpc": "2.0", "id": 10_000, "result": {}}));
    }

    /// Once stopping, the session still reads stdin: a new request is refused as the server
    /// is shutting down, a cancellation still reaches its request, and the session ends (its
    /// stdout closes) only when the last request in flight has been answered.
    #[tokio::test]
    async fn stopping_reads_on_until_the_requests_in_flight_are_answered() {
        let mut h = Harness::start();
        h.call_hold(1).await;
        h.call_hold(2).await;
        // Lines are taken in order: once ping is answered, both calls run.
        let pong = h.ping(3).await;
        assert_eq!(pong["result"], json!({}), "{pong}");

        h.stopping.cancel();
        let refused = h.ping(4).await;
        assert_eq!(refused["error"]["code"], -32603, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("shutting down"), "{message}");

        h.send(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 1, "reason": "leaving"}}),
        )
        .await;
        let cancelled = h.next().await;
        assert_eq!(cancelled["id"], 1, "{cancelled}");
        assert!(!h.served.is_finished(), "call 2 is still in flight");

        h.release.cancel();
        let answer = h.next().await;
        assert_eq!(answer["id"], 2, "{answer}");
        assert_eq!(answer["result"]["content"][0]["text"], "released");
        tokio::time::timeout(HANG, &mut h.served)
            .await
            .expect("the session ends with its last request")
            .unwrap()
            .unwrap();
        let end = tokio::time::timeout(HANG, h.stdout.next_line()).await;
        assert!(matches!(end, Ok(Ok(None))), "stdout closes: {end:?}");
    }

    /// End of stdin ends the session at once, and the plain calls still running with it:
    /// nobody will read their answers, so their work is cancelled rather than left running.
    #[tokio::test]
    async fn end_of_stdin_cancels_the_calls_still_running() {
        let mut h = Harness::start();
        h.call_hold(1).await;
        h.call_hold(2).await;
        let pong = h.ping(3).await;
        assert_eq!(pong["result"], json!({}), "{pong}");
        h.stdin.shutdown().await.unwrap();
        tokio::time::timeout(HANG, h.served)
            .await
            .expect("the session ends at end of stdin")
            .unwrap()
            .unwrap();
        let abandoned = h.abandoned.clone();
        tokio::time::timeout(HANG, async {
            while abandoned.load(std::sync::atomic::Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("both running calls are cancelled");
    }
}

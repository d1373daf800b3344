//! Graceful shutdown of `mcp-tasks serve` (issue 11, item 2): on SIGTERM the server stops taking
//! new work, still answers the requests it already took, and exits 0. The lifecycle lives in the
//! runtime's `ServerBuilder`; these tests drive it through the real binary.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::stdio::StdioPeer;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// Sends SIGTERM, as a service manager stops a server.
fn sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -TERM {pid} failed");
}

fn slow_echo(text: &str, delay_ms: u64) -> Value {
    json!({"name": "slow_echo", "arguments": {"text": text, "delay_ms": delay_ms}})
}

/// On stdio, a plain call read before SIGTERM is still answered on stdout, and the server exits
/// with status 0 once it is.
#[tokio::test]
async fn sigterm_on_stdio_answers_the_call_in_flight_then_exits() {
    let peer = StdioPeer::serve(bin(), &[]);
    peer.initialize().await;
    let (answer, ()) = tokio::join!(
        peer.request("tools/call", slow_echo("goodbye", 1500)),
        async {
            // Lines are read in order: once ping is answered, the call was read and runs.
            peer.request("ping", json!({})).await.expect("ping");
            sigterm(peer.pid());
        }
    );
    let result = answer.expect("the call in flight is answered after SIGTERM");
    assert_eq!(result["content"][0]["text"], "goodbye", "{result}");
    let status = peer.wait_exit().await;
    assert!(status.success(), "exit status {status:?}");
    peer.wait_stderr_closed().await;
    assert!(
        peer.stderr().contains("shutting down"),
        "stderr: {}",
        peer.stderr()
    );
}

/// On stdio, a plain call waiting for the client's answer to its elicitation when SIGTERM comes
/// still gets that answer (stdin is still read), so it finishes; a request sent after SIGTERM is
/// refused (-32603, shutting down); and the server exits 0 once the call is answered.
#[tokio::test]
async fn sigterm_on_stdio_still_reads_the_answers_a_call_in_flight_waits_for() {
    let peer = StdioPeer::serve(bin(), &[]);
    peer.initialize().await;
    let call = json!({"name": "approve", "arguments": {"action": "deploy"}});
    let (answer, ()) = tokio::join!(peer.request("tools/call", call), async {
        let ask = peer.next_request().await;
        assert_eq!(ask.method(), "elicitation/create", "{:?}", ask.params());
        sigterm(peer.pid());
        // SIGTERM lands at some point after this; until then pings are answered as usual.
        let refused = async {
            loop {
                match peer.request("ping", json!({})).await {
                    Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    Err(e) => return e,
                }
            }
        };
        let refused = tokio::time::timeout(Duration::from_secs(10), refused)
            .await
            .expect("a request after SIGTERM is refused");
        assert_eq!(refused.code, -32603, "{refused:?}");
        assert!(refused.message.contains("shutting down"), "{refused:?}");
        peer.respond(
            ask.id(),
            json!({"action": "accept", "content": {"approve": true}}),
        )
        .await;
    });
    let result = answer.expect("the call in flight is answered after SIGTERM");
    assert_eq!(result["content"][0]["text"], "approved: deploy", "{result}");
    let status = peer.wait_exit().await;
    assert!(status.success(), "exit status {status:?}");
}

/// Over HTTP, SIGTERM stops the server taking new requests (503) while an exchange already
/// open still gets its answer; then the listener closes and the server exits with status 0.
#[tokio::test]
async fn sigterm_over_http_refuses_new_requests_and_finishes_open_exchanges() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let session = server.session().await;
    let id = session.fresh_id();
    let mut stream = session
        .post_sse(id.clone(), "tools/call", slow_echo("still here", 3000))
        .await
        .unwrap_or_else(|reply| panic!("a plain call answers as SSE: {}", reply.status));
    sigterm(server.pid());
    let refusal = refused_once_stopping(&session).await;
    assert!(refusal.contains("shutting down"), "{refusal}");

    let answer = last_message(&mut stream, "the answer to the call", |m| m["id"] == id).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "still here",
        "{answer}"
    );
    let status = exit_status(&server).await;
    assert!(status.success(), "exit status {status:?}");
}

/// Over HTTP, a plain call that waits for the user's answer when SIGTERM comes still gets it:
/// the listener stays open for the answer (a new POST) while new requests are refused, and the
/// server exits 0 once the call is answered.
#[tokio::test]
async fn sigterm_over_http_still_takes_the_answer_a_call_waits_for() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let session = server.session().await;
    let id = session.fresh_id();
    let call = json!({"name": "approve", "arguments": {"action": "deploy"}});
    let mut stream = session
        .post_sse(id.clone(), "tools/call", call)
        .await
        .unwrap_or_else(|reply| panic!("a plain call answers as SSE: {}", reply.status));
    let ask = last_message(&mut stream, "the question", |m| {
        m["method"] == "elicitation/create"
    })
    .await;
    sigterm(server.pid());
    refused_once_stopping(&session).await;

    session
        .respond(
            ask["id"].clone(),
            json!({"action": "accept", "content": {"approve": true}}),
        )
        .await;
    let answer = last_message(&mut stream, "the answer to the call", |m| m["id"] == id).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "approved: deploy",
        "{answer}"
    );
    let status = exit_status(&server).await;
    assert!(status.success(), "exit status {status:?}");
}

/// Pings until one is refused with 503 (SIGTERM lands at some point after it is sent; until
/// then pings are answered as usual), and returns the refusal's body.
async fn refused_once_stopping(session: &testkit::http::HttpSession) -> String {
    let ping = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": "ping", "method": "ping"}))
        .expect("JSON");
    let refused = async {
        loop {
            let reply = session.post_raw(ping.clone(), &[]).await;
            if reply.status == 503 {
                return reply.body;
            }
            assert_eq!(reply.status, 200, "{}", reply.body);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("new requests are refused after SIGTERM")
}

/// Reads `stream` up to the first message that satisfies `pred`, and returns that message.
async fn last_message(
    stream: &mut testkit::http::SseStream,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    stream
        .until_message(what, pred)
        .await
        .last()
        .and_then(testkit::http::SseEvent::message)
        .unwrap_or_else(|| panic!("the last event holds {what}"))
}

/// Waits (bounded) for the server to exit.
async fn exit_status(server: &HttpServer) -> std::process::ExitStatus {
    let exited = async {
        loop {
            if let Some(status) = server.try_exit_status().await {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exited)
        .await
        .expect("the server exits after its open exchanges end")
}

/// A client holding the session's GET stream does not hold up shutdown: on SIGTERM the
/// standing streams end (only POST exchanges are waited for), so the server exits 0 without
/// using up the grace period and without the warning that exchanges were cut.
#[tokio::test]
async fn sigterm_over_http_ends_open_get_streams() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let session = server.session().await;
    session.open_get_stream().await;
    let idle = server.session().await;
    idle.open_get_stream().await;
    sigterm(server.pid());
    let status = exit_status(&server).await;
    assert!(status.success(), "exit status {status:?}");
    let stderr = server.stderr();
    assert!(
        !stderr.contains("grace period ended"),
        "the GET streams were waited for until the grace ran out:\n{stderr}"
    );
}

/// A server whose stderr was closed (a supervisor that stopped reading its log) still stops on
/// SIGTERM and exits 0: writing "shutting down" to the closed pipe loses the line but must not
/// panic the task that carries the signal, which left the server running until SIGKILL.
#[tokio::test]
async fn sigterm_stops_a_server_whose_stderr_is_closed() {
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    let mut child = tokio::process::Command::new(bin())
        .args(["serve", "--store", "memory", "--http", "127.0.0.1:0"])
        .env_remove("MCP_TASKS_CONFIG")
        .env_remove("MCP_TASKS_STORE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let listening = async {
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            if line.contains("listening on") {
                return;
            }
        }
        panic!("the server ended before it listened");
    };
    tokio::time::timeout(Duration::from_secs(30), listening)
        .await
        .expect("the server listens");
    drop(lines);
    sigterm(child.id().expect("the server runs"));
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server exits on SIGTERM although its stderr is closed")
        .expect("the server is reaped");
    assert!(status.success(), "exit status {status:?}");
}

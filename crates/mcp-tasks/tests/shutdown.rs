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

/// Over HTTP, SIGTERM closes the listener at once (a new connection is refused) while an
/// exchange already open still gets its answer; then the server exits with status 0.
#[tokio::test]
async fn sigterm_over_http_stops_accepting_and_finishes_open_exchanges() {
    let server = HttpServer::spawn(bin(), &[]).await;
    let session = server.session().await;
    let id = session.fresh_id();
    let mut stream = session
        .post_sse(id.clone(), "tools/call", slow_echo("still here", 3000))
        .await
        .unwrap_or_else(|reply| panic!("a plain call answers as SSE: {}", reply.status));
    sigterm(server.pid());

    let refused = async {
        loop {
            let connect = tokio::net::TcpStream::connect(
                server
                    .url()
                    .trim_start_matches("http://")
                    .trim_end_matches("/mcp"),
            )
            .await;
            if connect.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the listener closes after SIGTERM");

    let events = stream
        .until_message("the answer to the call", |m| m["id"] == id)
        .await;
    let answer = events
        .last()
        .and_then(testkit::http::SseEvent::message)
        .expect("the last event holds the answer");
    assert_eq!(
        answer["result"]["content"][0]["text"], "still here",
        "{answer}"
    );
    let exited = async {
        loop {
            if let Some(status) = server.try_exit_status().await {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(15), exited)
        .await
        .expect("the server exits after its open exchanges end");
    assert!(status.success(), "exit status {status:?}");
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

    let exited = async {
        loop {
            if let Some(status) = server.try_exit_status().await {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(30), exited)
        .await
        .expect("the server exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    let stderr = server.stderr();
    assert!(
        !stderr.contains("grace period ended"),
        "the GET streams were waited for until the grace ran out:\n{stderr}"
    );
}

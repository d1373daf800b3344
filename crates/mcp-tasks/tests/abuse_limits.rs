//! Abuse limits of the real binary over HTTP (issue 16, item 3; T-SEC-3, and the spec's
//! security considerations on denial of service): half-sent headers, an unterminated chunked
//! body, silent sockets, connections up to the cap, bodies one byte short of the limit from
//! many connections, one client opening sessions until refused. Each test runs the abuse and
//! shows a well-behaved client being served while it lasts (or, for the connection cap, as
//! soon as the cap frees itself), with small configured limits so each test is fast.
//!
//! The abusers speak raw HTTP/1.1 over loopback sockets, as an attacker would; the
//! well-behaved client sends whole requests with `Connection: close`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use testkit::http::HttpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long any wait here may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(8);

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "well-behaved", "version": "0"}}})
}

fn addr_of(server: &HttpServer) -> SocketAddr {
    let url = server.url();
    let host = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/mcp"))
        .expect("an http://HOST:PORT/mcp URL");
    host.parse().expect("a socket address")
}

/// A connection to `server` from loopback address `from` (Linux answers on all of 127/8), so
/// two clients can have different addresses.
async fn connect_from(server: SocketAddr, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    tokio::time::timeout(DEADLINE, socket.connect(server))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// A whole POST of `body` to /mcp with `headers`, closing the connection after the answer.
fn post(body: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nconnection: close\r\n\
         content-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// An HTTP answer: status, head (lower-cased), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("a whole HTTP answer: {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {head:?}"));
        Self {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("a JSON body ({e}): {:?}", self.body))
    }
}

/// Reads until the server closes the connection, within the deadline.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut raw))
        .await
        .expect("the server closes the connection in time")
        .ok();
    raw
}

/// Sends `request` from `from` and reads the whole answer.
async fn exchange(server: SocketAddr, from: IpAddr, request: &[u8]) -> Answer {
    let mut tcp = connect_from(server, from).await;
    tcp.write_all(request).await.unwrap();
    Answer::parse(&read_to_close(&mut tcp).await)
}

const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// The well-behaved client: opens a session from `from` and is answered.
async fn is_served(server: SocketAddr, from: IpAddr) {
    let answer = exchange(server, from, &post(&initialize().to_string(), &[])).await;
    assert_eq!(
        answer.status, 200,
        "the well-behaved client is served: {answer:?}"
    );
    assert_eq!(answer.json()["result"]["protocolVersion"], "2025-11-25");
}

/// Whether the server has closed `tcp` (EOF or reset); waits at most `DEADLINE`.
async fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// T-SEC-3: clients that send half a request head are cut after the header read timeout,
/// and meanwhile another client is served.
#[tokio::test]
async fn t_sec_3_half_sent_headers_are_cut() {
    let server = HttpServer::spawn(bin(), &["--header-read-timeout-secs", "1"]).await;
    let addr = addr_of(&server);
    let mut abusers = Vec::new();
    for _ in 0..10 {
        let mut tcp = connect_from(addr, HOME).await;
        tcp.write_all(b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: appl")
            .await
            .unwrap();
        abusers.push(tcp);
    }
    is_served(addr, OTHER).await;
    for tcp in &mut abusers {
        assert!(closed_by_server(tcp).await, "a half-sent head is cut");
    }
    is_served(addr, HOME).await;
}

/// T-SEC-3: sockets that never send a byte, and idle keep-alive connections, are closed after
/// the header read timeout; meanwhile another client is served.
#[tokio::test]
async fn t_sec_3_silent_sockets_are_closed() {
    let server = HttpServer::spawn(bin(), &["--header-read-timeout-secs", "1"]).await;
    let addr = addr_of(&server);
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(connect_from(addr, HOME).await);
    }
    // A keep-alive connection that goes quiet after one request.
    let mut idle = connect_from(addr, HOME).await;
    let mut request = post(&initialize().to_string(), &[]);
    let text = String::from_utf8(request.clone()).unwrap();
    request = text
        .replace("connection: close", "connection: keep-alive")
        .into_bytes();
    idle.write_all(&request).await.unwrap();
    is_served(addr, OTHER).await;
    for tcp in &mut silent {
        assert!(closed_by_server(tcp).await, "a silent socket is closed");
    }
    assert!(
        closed_by_server(&mut idle).await,
        "an idle keep-alive connection is closed"
    );
    is_served(addr, HOME).await;
}

/// T-SEC-3: a chunked body that never ends is answered 408 with a JSON-RPC error after the
/// body read timeout, and the connection closes; meanwhile another client is served.
#[tokio::test]
async fn t_sec_3_unterminated_chunked_body_gets_408() {
    let server = HttpServer::spawn(bin(), &["--body-read-timeout-secs", "1"]).await;
    let addr = addr_of(&server);
    let mut abusers = Vec::new();
    for _ in 0..5 {
        let mut tcp = connect_from(addr, HOME).await;
        tcp.write_all(
            b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              accept: application/json, text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
              5\r\n{\"jso\r\n",
        )
        .await
        .unwrap();
        abusers.push(tcp);
    }
    is_served(addr, OTHER).await;
    for tcp in &mut abusers {
        let answer = Answer::parse(&read_to_close(tcp).await);
        assert_eq!(answer.status, 408, "{answer:?}");
        assert!(answer.head.contains("connection: close"), "{answer:?}");
        let error = answer.json();
        assert_eq!(error["error"]["code"], -32600, "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("body read timeout"),
            "{error}"
        );
    }
    is_served(addr, HOME).await;
}

/// T-SEC-3: many connections each one byte short of the body limit, then silent, are answered
/// 408 and closed, so they hold nothing for long; a body above the limit is 413 with a JSON-RPC
/// error, declared or chunked; meanwhile another client is served.
#[tokio::test]
async fn t_sec_3_bodies_one_byte_short_of_the_limit() {
    const MAX: usize = 64 * 1024;
    let server = HttpServer::spawn(
        bin(),
        &[
            "--max-body-bytes",
            &MAX.to_string(),
            "--body-read-timeout-secs",
            "1",
        ],
    )
    .await;
    let addr = addr_of(&server);
    let mut abusers = Vec::new();
    for _ in 0..20 {
        let mut tcp = connect_from(addr, HOME).await;
        let head = format!(
            "POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             accept: application/json\r\ncontent-length: {MAX}\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(&vec![b' '; MAX - 1]).await.unwrap();
        abusers.push(tcp);
    }
    is_served(addr, OTHER).await;
    for tcp in &mut abusers {
        let answer = Answer::parse(&read_to_close(tcp).await);
        assert_eq!(answer.status, 408, "{answer:?}");
    }

    let declared = format!(
        "POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        MAX + 1
    );
    let answer = exchange(addr, HOME, declared.as_bytes()).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    let error = answer.json();
    assert_eq!(error["jsonrpc"], "2.0", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{MAX} bytes")),
        "{error}"
    );

    let mut chunked = connect_from(addr, HOME).await;
    chunked
        .write_all(
            b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = vec![b' '; 16 * 1024];
    for _ in 0..5 {
        let size = format!("{:x}\r\n", chunk.len());
        // The server may stop reading (and close) once the limit is passed.
        if chunked.write_all(size.as_bytes()).await.is_err()
            || chunked.write_all(&chunk).await.is_err()
            || chunked.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let answer = Answer::parse(&read_to_close(&mut chunked).await);
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.json()["error"]["code"], -32600);
    is_served(addr, HOME).await;
}

/// T-SEC-3: connections beyond the cap are answered 503 with Retry-After and a JSON-RPC error
/// naming the limit, and closed at once; the process keeps its descriptors, and once the
/// silent connections are cut by the header timeout a new client is served again.
#[tokio::test]
async fn t_sec_3_connections_up_to_the_cap() {
    let server = HttpServer::spawn(
        bin(),
        &["--max-connections", "8", "--header-read-timeout-secs", "2"],
    )
    .await;
    let addr = addr_of(&server);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from(addr, HOME).await);
    }
    // The accept loop counts a connection once it accepts it: poll until the cap shows.
    let deadline = Instant::now() + DEADLINE;
    let refused = loop {
        let mut tcp = connect_from(addr, OTHER).await;
        let raw = read_to_close(&mut tcp).await;
        if !raw.is_empty() {
            break Answer::parse(&raw);
        }
        assert!(Instant::now() < deadline, "the ninth connection is refused");
    };
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.head.contains("retry-after: 1"), "{refused:?}");
    assert_eq!(refused.json()["error"]["data"]["limit"], "max_connections");

    // The well-behaved client retries as Retry-After says and is served once the cap frees.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = exchange(addr, OTHER, &post(&initialize().to_string(), &[])).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(
            Instant::now() < deadline,
            "served once the idle ones are cut"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for tcp in &mut held {
        assert!(closed_by_server(tcp).await);
    }
}

/// T-SEC-3: one client (one address) holding silent connections gets no more than its share
/// of the connection cap: beyond it, 429 with Retry-After and a JSON-RPC error naming the
/// limit; meanwhile a client at another address is served at once, not only after the header
/// timeout (here far longer than the test) cuts the silent ones.
#[tokio::test]
async fn t_sec_3_one_client_holds_its_share_of_connections() {
    let server = HttpServer::spawn(
        bin(),
        &[
            "--max-connections",
            "8",
            "--max-connections-per-client",
            "4",
            "--header-read-timeout-secs",
            "600",
        ],
    )
    .await;
    let addr = addr_of(&server);
    let mut held = Vec::new();
    let mut refusals = Vec::new();
    for _ in 0..8 {
        let mut tcp = connect_from(addr, HOME).await;
        // Accepted ones stay silent; a refused one is answered and closed at once.
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut buf)).await {
            Err(_) => held.push(tcp),
            Ok(Ok(n)) if n > 0 => {
                let mut raw = buf[..n].to_vec();
                raw.extend(read_to_close(&mut tcp).await);
                refusals.push(Answer::parse(&raw));
            }
            Ok(other) => panic!("closed without an answer: {other:?}"),
        }
    }
    assert_eq!(held.len(), 4, "{refusals:?}");
    assert_eq!(refusals.len(), 4);
    for refused in &refusals {
        assert_eq!(refused.status, 429, "{refused:?}");
        assert!(refused.head.contains("retry-after: 1"), "{refused:?}");
        assert_eq!(
            refused.json()["error"]["data"]["limit"],
            "max_connections_per_client"
        );
    }
    for _ in 0..3 {
        is_served(addr, OTHER).await;
    }
    drop(held);
    // Closed connections free the client's share.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = exchange(addr, HOME, &post(&initialize().to_string(), &[])).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 429, "{answer:?}");
        assert!(
            Instant::now() < deadline,
            "served once its connections close"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// T-SEC-3: one client (one address) opening sessions until refused gets 429 with
/// Retry-After and a JSON-RPC error naming the limit, while a client at another address
/// still opens sessions and is served.
#[tokio::test]
async fn t_sec_3_one_client_opens_sessions_until_refused() {
    let server = HttpServer::spawn(bin(), &["--max-sessions-per-client", "3"]).await;
    let addr = addr_of(&server);
    for n in 1..=3 {
        let answer = exchange(addr, HOME, &post(&initialize().to_string(), &[])).await;
        assert_eq!(answer.status, 200, "session {n} of 3: {answer:?}");
    }
    let refused = exchange(addr, HOME, &post(&initialize().to_string(), &[])).await;
    assert_eq!(refused.status, 429, "{refused:?}");
    let retry: u64 = refused
        .head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .expect("a Retry-After header")
        .trim()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{refused:?}");
    let error = refused.json();
    assert_eq!(error["id"], 1, "{error}");
    assert_eq!(error["error"]["data"]["limit"], "max-sessions-per-client");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DELETE"),
        "says how to free one: {error}"
    );
    for _ in 0..3 {
        is_served(addr, OTHER).await;
    }
}

/// T-SEC-3: concurrent initializes of one client cannot together pass its session cap: the
/// check and the session's place in the table are one step, so of 64 at once exactly 3 open
/// a session and the rest get 429.
#[tokio::test]
async fn t_sec_3_concurrent_initializes_stay_within_the_session_cap() {
    let server = HttpServer::spawn(bin(), &["--max-sessions-per-client", "3"]).await;
    let addr = addr_of(&server);
    let request = post(&initialize().to_string(), &[]);
    // Connected and sent first, then read: the requests are in the server together.
    let mut sockets = Vec::new();
    for _ in 0..64 {
        let mut tcp = connect_from(addr, HOME).await;
        tcp.write_all(&request).await.unwrap();
        sockets.push(tcp);
    }
    let answers = futures::future::join_all(sockets.iter_mut().map(read_to_close)).await;
    let mut statuses: Vec<u16> = answers
        .iter()
        .map(|raw| Answer::parse(raw).status)
        .collect();
    statuses.sort_unstable();
    let opened = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(opened, 3, "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// T-SEC-3: a client that asks for a large answer and never reads it holds neither the
/// connection nor the answer for ever: once the write has made no progress for the write
/// stall timeout the server closes the connection, and the answer never arrives whole.
/// Meanwhile another client is served.
#[tokio::test]
async fn t_sec_3_a_client_that_never_reads_is_cut() {
    const TEXT: usize = 8 << 20;
    let server = HttpServer::spawn(
        bin(),
        &[
            "--max-body-bytes",
            "16777216",
            "--write-stall-timeout-secs",
            "1",
            "--header-read-timeout-secs",
            "600",
        ],
    )
    .await;
    let addr = addr_of(&server);
    let session = open_session(addr, HOME).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "slow_echo", "arguments": {"text": "x".repeat(TEXT), "delay_ms": 0}}});
    let request = post(&call.to_string(), &[("mcp-session-id", &session)])
        .into_iter()
        .collect::<Vec<u8>>();
    let request = String::from_utf8(request)
        .unwrap()
        .replace(
            "accept: application/json, text/event-stream",
            "accept: application/json",
        )
        .into_bytes();
    // A small receive window, so the kernel cannot take the whole answer for the client.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::new(HOME, 0)).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    tcp.write_all(&request).await.unwrap();
    // The client reads nothing for longer than the stall timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    is_served(addr, OTHER).await;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server neither finished nor closed in time"),
        }
        assert!(
            raw.len() <= TEXT,
            "the whole answer arrived: the stalled write was never cut"
        );
    }
    assert!(raw.len() < TEXT, "{} bytes arrived", raw.len());
}

/// A POST from `from` announcing `declared` body bytes and sending one fewer: it holds its
/// connection and its bytes until the body read timeout.
async fn slow_body(server: SocketAddr, from: IpAddr, declared: usize) -> TcpStream {
    let mut tcp = announce_body(server, from, declared).await;
    tcp.write_all(&vec![b' '; declared - 1]).await.unwrap();
    tcp
}

/// A POST from `from` announcing `declared` body bytes, of which it sends none yet.
async fn announce_body(server: SocketAddr, from: IpAddr, declared: usize) -> TcpStream {
    let mut tcp = connect_from(server, from).await;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ncontent-length: {declared}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp
}

/// Slow bodies from each of `froms`, held by the server, then a body announced from `probe`
/// and answered before any of it is sent: the held bodies' connections and that answer.
///
/// The server takes a body's declared length from the budget when its head arrives, and the
/// heads of separate connections arrive in no set order: a probe whose head comes first takes
/// the budget, and a held body is refused in its place (seen here as its connection having
/// been answered). Then the probe goes, the refused body is sent again, and the probe is tried
/// again. Nothing unread is left when the server closes, so the answer is not lost to a reset.
async fn hold_then_refuse(
    server: SocketAddr,
    froms: &[IpAddr],
    probe: IpAddr,
    declared: usize,
) -> (Vec<TcpStream>, Answer) {
    let deadline = Instant::now() + DEADLINE;
    let mut held = Vec::new();
    for from in froms {
        held.push(slow_body(server, *from, declared).await);
    }
    loop {
        let mut tcp = announce_body(server, probe, declared).await;
        if let Some(raw) = answer_within(&mut tcp, Duration::from_secs(1)).await {
            return (held, Answer::parse(&raw));
        }
        drop(tcp);
        for (from, tcp) in froms.iter().zip(held.iter_mut()) {
            if answer_within(tcp, Duration::from_millis(50))
                .await
                .is_some()
            {
                *tcp = slow_body(server, *from, declared).await;
            }
        }
        assert!(
            Instant::now() < deadline,
            "a body beyond the budget is refused"
        );
    }
}

/// The answer on `tcp` if one comes whole within `wait` (read as far as its Content-Length:
/// the server need not close first); `None` if none does.
async fn answer_within(tcp: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let whole = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let length: usize = head
            .to_ascii_lowercase()
            .lines()
            .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned))?
            .trim()
            .parse()
            .ok()?;
        (body.len() >= length).then_some(())
    };
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(wait, async {
        while whole(&raw).is_none() {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    whole(&raw).map(|()| raw)
}

/// T-SEC-3: bodies one byte short of their length hold no more than the in-flight budget
/// (issue 16: 100 such bodies held 417 MB): one address holds at most its share and is then
/// refused with 503 while another address is served; once the budget is spent, the next
/// body is refused at once.
#[tokio::test]
async fn t_sec_3_slow_bodies_hold_no_more_than_the_budget() {
    const BODY: usize = 1 << 20;
    let server = HttpServer::spawn(
        bin(),
        &[
            "--max-body-bytes",
            "1048576",
            "--max-body-bytes-in-flight",
            "4194304",
            "--body-read-timeout-secs",
            "60",
        ],
    )
    .await;
    let addr = addr_of(&server);
    // One address holds one whole body (its share); its second is refused.
    let (mine, refused) = hold_then_refuse(addr, &[HOME], HOME, BODY).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.head.contains("retry-after: 1"), "{refused:?}");
    assert_eq!(
        refused.json()["error"]["data"]["limit"],
        "max-body-bytes-in-flight"
    );
    is_served(addr, OTHER).await;
    // Three more addresses spend the rest; the next body, from anyone, is refused.
    let others: Vec<IpAddr> = (3..=5u8)
        .map(|last| IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last)))
        .collect();
    let (held, refused) = hold_then_refuse(addr, &others, OTHER, BODY).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    // Bodies that go away give their bytes back.
    drop((mine, held));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = exchange(addr, OTHER, &post(&initialize().to_string(), &[])).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(
            Instant::now() < deadline,
            "served once the slow bodies went"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One JSON-RPC request on `session` from `from`, answered as JSON.
async fn call(server: SocketAddr, from: IpAddr, session: &str, message: Value) -> Value {
    let answer = exchange(
        server,
        from,
        &post(&message.to_string(), &[("mcp-session-id", session)]),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

/// A new anonymous session from `from`: its id.
async fn open_session(server: SocketAddr, from: IpAddr) -> String {
    let answer = exchange(server, from, &post(&initialize().to_string(), &[])).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer
        .head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .expect("a session id")
        .trim()
        .to_owned()
}

/// `tools/call` of `tool` as a task with `ttl_ms`.
fn task_call(tool: &str, arguments: Value, ttl_ms: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments, "task": {"ttl": ttl_ms}}})
}

/// Polls `tasks/get` until the task is terminal; its status.
async fn until_terminal(server: SocketAddr, from: IpAddr, session: &str, id: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = call(
            server,
            from,
            session,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": {"taskId": id}}),
        )
        .await;
        let status = got["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
            return status;
        }
        assert!(Instant::now() < deadline, "the task ends in time: {got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// T-TTL-2: one address opening session after session shares one allowance of unfinished
/// tasks (issue 16: per session, 11 sessions held 11,000), while a client at another address
/// still creates tasks.
#[tokio::test]
async fn t_ttl_2_one_address_holds_tasks_up_to_its_cap() {
    let server = HttpServer::spawn(bin(), &["--max-active-tasks", "3"]).await;
    let addr = addr_of(&server);
    let long = || task_call("must_be_task", json!({"delay_ms": 60_000}), 60_000);
    for n in 1..=3 {
        let session = open_session(addr, HOME).await;
        let created = call(addr, HOME, &session, long()).await;
        assert!(
            created["result"]["task"]["taskId"].is_string(),
            "task {n} of 3: {created}"
        );
    }
    let fresh = open_session(addr, HOME).await;
    let refused = call(addr, HOME, &fresh, long()).await;
    assert_eq!(refused["error"]["code"], -32603, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("too many unfinished tasks") && message.contains('3'),
        "{refused}"
    );

    let other = open_session(addr, OTHER).await;
    let theirs = call(addr, OTHER, &other, long()).await;
    assert!(
        theirs["result"]["task"]["taskId"].is_string(),
        "another address has its own allowance: {theirs}"
    );
}

/// T-TTL-2: a client's unexpired results never pass `--max-stored-result-bytes`, even when
/// its tasks were all started while it held nothing: a result that would take it past the
/// cap is not stored, and its task fails with -32603 naming the limit. Another client is
/// served meanwhile, and once the first result expires the client's results are stored again.
#[tokio::test]
async fn t_ttl_2_stored_result_bytes_per_client() {
    let server = HttpServer::spawn(
        bin(),
        &[
            "--max-stored-result-bytes",
            "4096",
            "--sweep-interval-ms",
            "50",
        ],
    )
    .await;
    let addr = addr_of(&server);
    let session = open_session(addr, HOME).await;
    let big = |delay_ms: u64| {
        task_call(
            "slow_echo",
            json!({"text": "x".repeat(3000), "delay_ms": delay_ms}),
            2_000,
        )
    };
    let task_id = |created: &Value| {
        created["result"]["task"]["taskId"]
            .as_str()
            .unwrap_or_else(|| panic!("created: {created}"))
            .to_owned()
    };
    // Both are created while the client holds nothing; both results together pass the cap.
    let first = task_id(&call(addr, HOME, &session, big(0)).await);
    let second = task_id(&call(addr, HOME, &session, big(300)).await);
    assert_eq!(
        until_terminal(addr, HOME, &session, &first).await,
        "completed"
    );
    assert_eq!(
        until_terminal(addr, HOME, &session, &second).await,
        "failed"
    );
    let get = json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/get",
        "params": {"taskId": second}});
    let failed = call(addr, HOME, &session, get).await;
    let message = failed["result"]["statusMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("stored results per client") && message.contains("4096"),
        "names the limit: {failed}"
    );

    let other = open_session(addr, OTHER).await;
    let theirs = task_id(&call(addr, OTHER, &other, big(0)).await);
    assert_eq!(
        until_terminal(addr, OTHER, &other, &theirs).await,
        "completed"
    );

    // The first result's ttl (2 s) runs out: the client's results are stored again.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let again = task_id(&call(addr, HOME, &session, big(0)).await);
        if until_terminal(addr, HOME, &session, &again).await == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "stored again once expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens a GET stream of `session` from `from`: the connection (kept open) and the answer's
/// status and head.
async fn open_get(server: SocketAddr, from: IpAddr, session: &str) -> (TcpStream, u16, String) {
    let mut tcp = connect_from(server, from).await;
    let request = format!(
        "GET /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\
         mcp-session-id: {session}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, tcp.read(&mut byte))
            .await
            .expect("a response head in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (tcp, status, head)
}

/// T-SEC-3: one client opening streams until refused gets 429 with Retry-After naming the
/// limit; closing one frees its slot, and a client at another address opens streams meanwhile.
#[tokio::test]
async fn t_sec_3_one_client_opens_streams_until_refused() {
    let server = HttpServer::spawn(bin(), &["--max-streams-per-client", "2"]).await;
    let addr = addr_of(&server);
    let mut open = Vec::new();
    for n in 1..=2 {
        let session = open_session(addr, HOME).await;
        let (tcp, status, head) = open_get(addr, HOME, &session).await;
        assert_eq!(status, 200, "stream {n} of 2: {head}");
        open.push(tcp);
    }
    let session = open_session(addr, HOME).await;
    let (mut refused, status, head) = open_get(addr, HOME, &session).await;
    assert_eq!(status, 429, "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let mut body = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, refused.read_to_end(&mut body)).await;
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("max-streams-per-client"), "{body}");

    let theirs = open_session(addr, OTHER).await;
    let (_kept, status, head) = open_get(addr, OTHER, &theirs).await;
    assert_eq!(status, 200, "another address opens its own streams: {head}");

    drop(open.pop());
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (_tcp, status, head) = open_get(addr, HOME, &session).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{head}");
        assert!(Instant::now() < deadline, "a closed stream frees its slot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

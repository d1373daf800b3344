//! Issue 16 item 4, through the binary: `mcp-tasks serve` on PostgreSQL while its database
//! goes out of reach and comes back. The database is reached through a relay on loopback that
//! the test stops (cutting every connection, refusing new ones) and starts again on the same
//! port, so the machine's server is left alone.
//!
//! While down: `/readyz` answers 503 naming the store, a request that needs the store is
//! `-32603`, the log says why naming the store, and the process keeps running. Once back:
//! `/readyz` is 200 again and the task made before is answered, without a restart.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::http::HttpServer;
use testkit::postgres::TempDatabase;
use testkit::process::ServeOptions;
use testkit::relay::Relay;
use testkit::store::TempStore;

const ADMIN_TOKEN: &str = "admin-token-postgres-outage-0123456789";
const INTERNAL_ERROR: i64 = -32603;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_mcp-tasks"))
}

/// The test server's address, and the database's address through a relay on `port`. The
/// test database's address is `postgres://USER[:PASSWORD]@HOST:PORT/NAME[?…]`.
fn through(db: &TempDatabase, port: u16) -> ((String, u16), String) {
    let rest = db.url().split_once("://").expect("a URL").1;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (userinfo, rest) = rest.rsplit_once('@').expect("a user");
    let (hostport, _) = rest.split_once('/').expect("a database");
    let (host, server_port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (
        (host.to_owned(), server_port.parse().expect("a port")),
        format!(
            "postgres://{userinfo}@127.0.0.1:{port}/{}?sslmode=disable&connect_timeout=1",
            db.name()
        ),
    )
}

async fn readyz(http: &reqwest::Client, admin: &str) -> (u16, Value) {
    let response = tokio::time::timeout(
        Duration::from_secs(15),
        http.get(format!("{admin}/readyz"))
            .bearer_auth(ADMIN_TOKEN)
            .send(),
    )
    .await
    .expect("/readyz answers in time")
    .expect("/readyz answers");
    let code = response.status().as_u16();
    (code, response.json().await.expect("/readyz is JSON"))
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reports_an_unreachable_database_and_recovers_by_itself() {
    let db = TempDatabase::create().await;
    let mut relay = Relay::start(through(&db, 0).0).await;
    let (_, url) = through(&db, relay.addr.port());
    let scratch = TempStore::new();
    let token_file = scratch.dir().join("admin.token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let server = HttpServer::spawn_with(
        bin(),
        &ServeOptions::default().store(url).args([
            "--admin",
            "127.0.0.1:0",
            "--admin-token-file",
            &token_file.display().to_string(),
            "--lease-ttl-ms",
            "3000",
        ]),
    )
    .await;
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("admin: http://"))
        .unwrap_or_else(|| panic!("no admin line:\n{stderr}"));
    let admin = line[line.find("http://").unwrap()..]
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();
    let label = format!("127.0.0.1:{}/{}", relay.addr.port(), db.name());

    let session = server.session().await;
    let made = session
        .request(
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"text": "kept", "delay_ms": 600_000}, "task": {}}),
        )
        .await
        .expect("a task is made");
    let id = made["task"]["taskId"].as_str().unwrap().to_owned();
    let (code, ready) = readyz(&http, &admin).await;
    assert_eq!(code, 200, "{ready}");

    relay.stop().await;
    eventually("/readyz turns 503", || async {
        let (code, ready) = readyz(&http, &admin).await;
        code == 503
            && ready["checks"]["store"]
                .as_str()
                .unwrap_or("")
                .contains(&label)
    })
    .await;
    eventually("a request needing the store is -32603", || async {
        match session.request("tasks/get", json!({"taskId": id})).await {
            Err(e) => {
                assert_eq!(e.code, INTERNAL_ERROR, "{e:?}");
                true
            }
            Ok(_) => false,
        }
    })
    .await;
    assert!(
        server.try_exit_status().await.is_none(),
        "the server keeps running"
    );
    let logged = server.stderr();
    assert!(
        logged
            .lines()
            .any(|l| l.contains("a request failed in the task store") && l.contains(&label)),
        "the log says which store failed:\n{logged}"
    );

    relay.restart().await;
    eventually("/readyz is 200 again", || async {
        readyz(&http, &admin).await.0 == 200
    })
    .await;
    let task = session
        .request("tasks/get", json!({"taskId": id}))
        .await
        .expect("the task is answered again");
    assert_eq!(task["status"], "working", "{task}");
    assert!(server.try_exit_status().await.is_none());
}

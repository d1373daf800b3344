//! Issue 16 item 4: the PostgreSQL store stays honest when its database goes away and comes
//! back. Two faults, both on loopback and without touching the machine's server: every
//! connection of the store killed by `pg_terminate_backend` (what a restart or failover does
//! to open connections), and the server out of reach for a while (a relay in front of it
//! stopped: connections cut, new ones refused, then started again on the same port).
//!
//! While down, requests fail as store errors naming the store (the runtime answers them
//! `-32603`) and the readiness check fails; nothing panics; once the database is back the pool
//! and the listening connection reconnect by themselves, and a waiter that waited through the
//! outage sees a change made meanwhile by another instance (it re-reads after reconnecting).

use std::sync::Arc;
use std::time::Duration;

use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Error, Owner, PostgresOptions, PostgresStore, RequestKind,
    Requestor, TaskStatus, TaskStore,
};
use serde_json::json;
use testkit::postgres::TempDatabase;
use testkit::relay::Relay;

fn alice() -> Requestor {
    Requestor {
        owner: Some(Owner::new("alice")),
        session: Some("s-1".into()),
    }
}

fn call() -> CreateTask {
    CreateTask {
        requestor: alice(),
        kind: RequestKind::ToolsCall,
        name: Some("faults".into()),
        params: json!({"name": "faults", "arguments": {}}),
        ttl_ms: None,
        progress_token: None,
    }
}

/// Small timeouts, so an outage is noticed in a second rather than in ten.
fn quick() -> PostgresOptions {
    PostgresOptions {
        pool_size: 4,
        connect_timeout: Duration::from_secs(1),
        wait_timeout: Duration::from_secs(2),
    }
}

/// Polls `f` until it holds, or panics after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the test server listens, and the database's address with its host and port replaced.
fn via(db: &TempDatabase, port: u16) -> ((String, u16), String) {
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let server_port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let name = config.get_dbname().unwrap_or(user);
    (
        (host, server_port),
        format!("postgres://{user}@127.0.0.1:{port}/{name}?sslmode=disable"),
    )
}

/// The store's connections all killed at once, as a restart does: requests come back by
/// themselves (the pool replaces dead connections), readiness is good again, and a waiter
/// that waited through it wakes on a change made by another instance afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_are_replaced_and_waiters_still_wake() {
    let db = TempDatabase::create().await;
    let store_a = Arc::new(
        PostgresStore::connect_with(db.url(), quick())
            .await
            .unwrap(),
    );
    let a = Engine::new(store_a.clone(), EngineConfig::default());
    let b = Engine::new(
        Arc::new(PostgresStore::connect(db.url()).await.unwrap()),
        EngineConfig::default(),
    );
    let task = a.create(call()).await.unwrap();
    // Every pooled connection in use once, so each is one to replace.
    for _ in 0..4 {
        a.get(&alice(), &task.id).await.unwrap();
    }
    let waiter = tokio::spawn({
        let a = a.clone();
        let id = task.id.clone();
        async move { a.wait_terminal(&alice(), &id).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reconnects = store_a.listener_reconnects();
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name LIKE 'mcp-tasks%' AND datname = '{}' \
         AND pid <> pg_backend_pid()",
        db.name()
    ))
    .await;
    eventually(
        "the listener listens again",
        Duration::from_secs(10),
        || async { store_a.listener_reconnects() > reconnects },
    )
    .await;
    // A request may meet a connection that died under it (answered as a store error); the
    // next ones get fresh connections.
    eventually(
        "requests succeed again",
        Duration::from_secs(10),
        || async {
            match a.get(&alice(), &task.id).await {
                Ok(_) => true,
                Err(e @ Error::Store { .. }) => {
                    assert!(e.to_string().contains(store_a.label()), "{e}");
                    false
                }
                Err(e) => panic!("{e}"),
            }
        },
    )
    .await;
    store_a.check().await.expect("ready again");
    assert!(!waiter.is_finished(), "nothing finished the task yet");
    b.cancel(&alice(), &task.id, None).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter wakes")
        .unwrap()
        .expect("the waiter's answer is the task, not an error");
    assert_eq!(done.status(), TaskStatus::Cancelled);
}

/// The server out of reach: requests and the readiness check fail as store errors naming the
/// store, nothing panics, and when it is reachable again everything recovers without a
/// restart. A task another instance finished during the outage is seen by a waiter that
/// waited through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_requests_then_recovers() {
    let db = TempDatabase::create().await;
    let mut relay = Relay::start(via(&db, 0).0).await;
    let (_, url) = via(&db, relay.addr.port());
    let store_a = Arc::new(PostgresStore::connect_with(&url, quick()).await.unwrap());
    let a = Engine::new(store_a.clone(), EngineConfig::default());
    let b = Engine::new(
        Arc::new(PostgresStore::connect(db.url()).await.unwrap()),
        EngineConfig::default(),
    );
    let task = a.create(call()).await.unwrap();
    let waiter = tokio::spawn({
        let a = a.clone();
        let id = task.id.clone();
        async move { a.wait_terminal(&alice(), &id).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    relay.stop().await;
    let err = store_a.check().await.expect_err("unready while down");
    assert!(matches!(err, Error::Store { .. }), "{err}");
    assert!(err.to_string().contains(store_a.label()), "{err}");
    eventually(
        "requests fail while down",
        Duration::from_secs(10),
        || async { matches!(a.get(&alice(), &task.id).await, Err(Error::Store { .. })) },
    )
    .await;
    let err = a
        .create(call())
        .await
        .expect_err("no task is made while down");
    assert!(err.to_string().contains(store_a.label()), "{err}");
    // Another instance, still connected, finishes the task meanwhile.
    b.cancel(&alice(), &task.id, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter waits through the outage instead of failing: {:?}",
        waiter.is_finished()
    );

    relay.restart().await;
    eventually("ready again", Duration::from_secs(10), || async {
        store_a.check().await.is_ok()
    })
    .await;
    let done = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter wakes once the database is back")
        .unwrap()
        .expect("the waiter's answer is the task, not an error");
    assert_eq!(done.status(), TaskStatus::Cancelled);
    assert_eq!(
        a.get(&alice(), &task.id).await.unwrap().status(),
        TaskStatus::Cancelled
    );
    a.create(call()).await.expect("tasks are made again");
}

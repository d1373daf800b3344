//! Issue 16 item 4: a NUL byte (U+0000) in anything a client sends is answered the same on
//! every store, and never as a store failure. PostgreSQL's text cannot hold one, so before
//! this a task id with one was `-32603` on PostgreSQL and "not found" elsewhere.
//!
//! Per field: a task id, owner filter or tool filter with a NUL byte names nothing (not found,
//! or an empty listing); an owner, session or tool name with one is refused at creation
//! ([`Error::NulByte`], `-32602`) on every store; whatever is kept as JSON (arguments, results,
//! status messages, input keys) holds one as `\u0000` and round-trips.

use std::sync::Arc;
use std::time::Duration;

use mcp_tasks_engine::store::{AdminQuery, OwnerFilter, TaskStore};
use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Error, EventKind, MemoryStore, Outcome, Owner, PostgresStore,
    RequestKind, Requestor, SqliteStore, TaskId, TaskState, TaskStatus,
};
use serde_json::json;
use testkit::postgres::TempDatabase;

const NUL_ID: &str = "0b0e1f4a-1c2d-4e5f-8a9b-\0c0d0e0f1a2b";

fn alice() -> Requestor {
    Requestor {
        owner: Some(Owner::new("alice")),
        session: Some("s-1".into()),
    }
}

fn call(requestor: Requestor, tool: &str, arguments: serde_json::Value) -> CreateTask {
    CreateTask {
        requestor,
        kind: RequestKind::ToolsCall,
        name: Some(tool.into()),
        params: json!({"name": tool, "arguments": arguments}),
        ttl_ms: None,
        progress_token: None,
    }
}

fn not_found<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(Error::NotFound { id }) => assert_eq!(id.as_str(), NUL_ID, "{what}"),
        other => panic!("{what}: want not found, got {other:?}"),
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The whole check, on one store.
async fn nul_bytes_are_answered_alike(store: Arc<dyn TaskStore>) {
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let kept = engine
        .create(call(alice(), "echo", json!({"text": "a\u{0}b"})))
        .await
        .expect("arguments with a NUL byte are kept, as JSON");
    let id = TaskId::from(NUL_ID);

    // A task id with a NUL byte names no task, whichever way it is asked for.
    not_found("get", engine.get(&alice(), &id).await);
    not_found("cancel", engine.cancel(&alice(), &id, None).await);
    not_found(
        "answer",
        engine.answer_input(&alice(), &id, "k", json!({})).await,
    );
    not_found("wait", engine.wait_terminal(&alice(), &id).await);
    let anonymous = Requestor::anonymous("s-2");
    not_found("get, anonymous", engine.get(&anonymous, &id).await);
    assert!(store.inspect(&id).await.unwrap().is_none());
    assert!(store.history(&id, None, 10).await.unwrap().is_empty());
    not_found(
        "record",
        store
            .record(
                &id,
                jiff::Timestamp::now(),
                EventKind::ResultRetrieved { by: None },
            )
            .await,
    );

    // An owner, session or tool name with one is refused at creation, naming which.
    for (create, field) in [
        (
            call(
                Requestor {
                    owner: Some(Owner::new("mallory\0alice")),
                    session: None,
                },
                "echo",
                json!({}),
            ),
            "owner",
        ),
        (
            call(Requestor::anonymous("s\0x"), "echo", json!({})),
            "session",
        ),
        (call(alice(), "ec\0ho", json!({})), "tool name"),
    ] {
        match engine.create(create).await {
            Err(e @ Error::NulByte { .. }) => {
                assert!(e.to_string().starts_with(field), "{e}");
            }
            other => panic!("{field}: want NulByte, got {other:?}"),
        }
    }
    // Looking up by such an owner or session finds nothing, and fails nothing.
    let nul_owner = Requestor {
        owner: Some(Owner::new("alice\0")),
        session: None,
    };
    assert!(matches!(
        engine.get(&nul_owner, &kept.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(engine
        .list(&nul_owner, None)
        .await
        .unwrap()
        .tasks
        .is_empty());
    let nul_session = Requestor::anonymous("s-1\0");
    assert!(engine
        .list(&nul_session, None)
        .await
        .unwrap()
        .tasks
        .is_empty());
    assert!(matches!(
        engine.list(&alice(), Some("abc\0def")).await,
        Err(Error::InvalidCursor { .. })
    ));
    for query in [
        AdminQuery {
            owner: Some(OwnerFilter::Owner(Owner::new("alice\0"))),
            ..AdminQuery::default()
        },
        AdminQuery {
            tool: Some("echo\0".into()),
            ..AdminQuery::default()
        },
    ] {
        assert!(store.admin_list(&query).await.unwrap().is_empty());
    }

    // What is kept as JSON holds a NUL byte and gives it back.
    let answered = engine
        .answer_input(&alice(), &kept.id, "key\0", json!({"x": "\u{0}"}))
        .await
        .expect("an unknown input key changes nothing, NUL byte or not");
    assert_eq!(answered.status(), TaskStatus::Working);
    let cancelled = engine
        .cancel(&alice(), &kept.id, Some("stop\0now".into()))
        .await
        .unwrap();
    assert_eq!(cancelled.status_message.as_deref(), Some("stop\0now"));
    let read = engine.get(&alice(), &kept.id).await.unwrap();
    assert_eq!(read.params["arguments"]["text"], "a\u{0}b");
    assert_eq!(read.status_message.as_deref(), Some("stop\0now"));

    let done = engine
        .create(call(alice(), "echo", json!({})))
        .await
        .unwrap();
    engine.start(&done, |_| async {
        Outcome::Completed(json!({"content": [{"type": "text", "text": "x\u{0}y"}]}))
    });
    let done = within("the result", engine.wait_terminal(&alice(), &done.id))
        .await
        .unwrap();
    match &done.state {
        TaskState::Completed(result) => assert_eq!(result["content"][0]["text"], "x\u{0}y"),
        other => panic!("want completed, got {other:?}"),
    }
    // Nothing was lost on the way.
    assert_eq!(engine.list(&alice(), None).await.unwrap().tasks.len(), 2);
}

#[tokio::test]
async fn nul_bytes_on_memory() {
    nul_bytes_are_answered_alike(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn nul_bytes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tasks.sqlite3")).unwrap();
    nul_bytes_are_answered_alike(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_on_postgres() {
    let db = TempDatabase::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    nul_bytes_are_answered_alike(Arc::new(store)).await;
}

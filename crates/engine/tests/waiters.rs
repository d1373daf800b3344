//! A waiter whose change feed lagged still learns why its task went (T-TTL-1). Found by the
//! soak test under load: with thousands of changes at once a waiter's feed overflows, it
//! re-reads, finds the task deleted by the sweeper, and used to answer "not found" where the
//! waiters that kept up answered "expired".

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use mcp_tasks_engine::store::TaskStore;
use mcp_tasks_engine::{
    CreateTask, Engine, EngineConfig, Error, ManualClock, MemoryStore, NewTask, RequestKind,
    Requestor, TaskId,
};
use serde_json::json;

/// More changes than the memory store's feed holds (4096), so an idle subscriber lags.
const FLOOD: usize = 5000;

/// Single-threaded, so the waiter reads nothing while the test floods its feed.
#[tokio::test(flavor = "current_thread")]
async fn a_lagging_waiter_is_told_its_task_expired() {
    let start = Timestamp::from_second(1_800_000_000).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::with_clock(store.clone(), EngineConfig::default(), clock.clone());
    let me = Requestor::anonymous("s");
    let task = engine
        .create(CreateTask {
            requestor: me.clone(),
            kind: RequestKind::ToolsCall,
            name: Some("slow".into()),
            params: json!({"name": "slow", "arguments": {}}),
            ttl_ms: Some(1000),
            progress_token: None,
        })
        .await
        .unwrap();
    let waiter = tokio::spawn({
        let (engine, me, id) = (engine.clone(), me.clone(), task.id.clone());
        async move { engine.wait_terminal(&me, &id).await }
    });
    // The waiter reads the task and starts waiting on its feed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished());
    for _ in 0..FLOOD {
        store
            .create(NewTask {
                id: TaskId::generate(),
                requestor: Requestor::anonymous("other"),
                kind: RequestKind::ToolsCall,
                name: Some("other".into()),
                params: json!({}),
                created_at: start,
                ttl: None,
                poll_interval: None,
                progress_token: None,
                runner: None,
                active_limit: None,
            })
            .await
            .unwrap();
    }
    clock.advance(Duration::from_millis(1000));
    assert_eq!(engine.sweep_expired().await.unwrap(), 1);
    let outcome = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter wakes")
        .unwrap();
    assert!(matches!(outcome, Err(Error::Expired { .. })), "{outcome:?}");
}

//! Issue 16 item 4: a NUL byte in a task id is `-32602` on every store, in both eras: the
//! 2025-11-25 `tasks/get`, `tasks/result` and `tasks/cancel`, and the 2026-07-28 `tasks/get`,
//! `tasks/update` and `tasks/cancel`. PostgreSQL, whose text cannot hold one, used to answer
//! `-32603`. After the probes, the task made before them is still there, unchanged: no store
//! lost or altered anything (the adversarial suite's promise, item 6).

mod v2026;

use serde_json::{json, Value};
use testkit::postgres::TempDatabase;
use testkit::process::ServeOptions;
use testkit::stdio::StdioPeer;
use v2026::{with_meta, with_tasks};

const INVALID_PARAMS: i64 = -32602;

async fn probe(store: &str) {
    let peer = StdioPeer::serve_with(v2026::bin(), &ServeOptions::default().store(store));
    peer.initialize().await;
    let made = peer
        .request(
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"text": "kept", "delay_ms": 600_000}, "task": {}}),
        )
        .await
        .expect("a task is made");
    let kept = made["task"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_owned();

    for id in ["\u{0}", "a\u{0}b", &format!("{kept}\u{0}")] {
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let err = peer
                .request(method, json!({"taskId": id}))
                .await
                .expect_err(method);
            assert_eq!(err.code, INVALID_PARAMS, "{store} 2025 {method}: {err:?}");
        }
        for (method, params) in [
            ("tasks/get", json!({"taskId": id})),
            ("tasks/update", json!({"taskId": id, "inputResponses": {}})),
            ("tasks/cancel", json!({"taskId": id})),
        ] {
            let err = peer
                .request(method, with_meta(params, &with_tasks()))
                .await
                .expect_err(method);
            assert_eq!(err.code, INVALID_PARAMS, "{store} 2026 {method}: {err:?}");
        }
    }

    let after: Value = peer
        .request("tasks/get", json!({"taskId": kept}))
        .await
        .expect("the task made before is still there");
    assert_eq!(after["status"], "working", "{store}: {after}");
}

#[tokio::test]
async fn a_nul_byte_in_a_task_id_is_invalid_params_on_memory() {
    probe("memory").await;
}

#[tokio::test]
async fn a_nul_byte_in_a_task_id_is_invalid_params_on_sqlite() {
    let store = testkit::store::TempStore::new();
    probe(&store.store_arg()).await;
}

#[tokio::test]
async fn a_nul_byte_in_a_task_id_is_invalid_params_on_postgres() {
    let db = TempDatabase::create().await;
    probe(db.url()).await;
}

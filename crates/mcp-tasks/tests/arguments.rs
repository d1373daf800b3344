//! Tool arguments are checked against the tool's declared `inputSchema` before the tool runs
//! (issue 11, item 5): a value the schema forbids is -32602 naming the field and the rule, on a
//! plain call and on a task-augmented one, and no task is created for it.

mod common;

use common::*;
use serde_json::{json, Value};

fn refused(outcome: Result<Value, testkit::stdio::RpcError>, needles: &[&str]) {
    let err = match outcome {
        Ok(result) => panic!("expected -32602, the call was accepted: {result}"),
        Err(err) => err,
    };
    assert_eq!(err.code, INVALID_PARAMS, "{err}");
    for needle in needles {
        assert!(err.message.contains(needle), "no {needle:?} in {err}");
    }
}

/// T-ERR-1: `countdown` declares `from` at most 100000; `from: 10^18` fits the Rust `u64` but
/// breaks the schema, so it is refused naming `/from` and the maximum, plain and as a task,
/// and no task exists afterwards.
#[tokio::test]
async fn a_value_above_the_declared_maximum_is_refused() {
    let (p, _) = stdio_peer(&[]).await;
    let args = json!({"from": 1_000_000_000_000_000_000_u64});
    let needles = ["countdown", "/from", "maximum of 100000"];
    refused(
        p.request(
            "tools/call",
            json!({"name": "countdown", "arguments": args}),
        )
        .await,
        &needles,
    );
    refused(
        p.request(
            "tools/call",
            json!({"name": "countdown", "arguments": args, "task": {"ttl": 60_000}}),
        )
        .await,
        &needles,
    );
    let list = p.request("tasks/list", json!({})).await.unwrap();
    assert_eq!(list["tasks"], json!([]), "no task was created: {list}");
    let ok = call_tool(&p, "countdown", json!({"from": 0}))
        .await
        .unwrap();
    assert_eq!(ok["isError"], Value::Null, "{ok}");
}

/// T-ERR-1: a missing required field and a field below its minimum are each named, over
/// Streamable HTTP too.
#[tokio::test]
async fn missing_and_out_of_range_fields_are_named() {
    let (p, _) = http_peer(&[]).await;
    refused(
        p.request(
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"delay_ms": 5}}),
        )
        .await,
        &["slow_echo", "\"text\" is a required property"],
    );
    refused(
        p.request(
            "tools/call",
            json!({"name": "slow_echo", "arguments": {"text": "hi", "delay_ms": -1}, "task": {}}),
        )
        .await,
        &["/delay_ms", "minimum of 0"],
    );
}

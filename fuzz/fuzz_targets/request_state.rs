//! Sealed `requestState` (MCP 2026-07-28 multi round-trip requests): the client carries it and
//! may change it, so the server opens whatever comes back
//! (`mcp_tasks_runtime::fuzzing::open_request_state`, the server's own `mrtr::open`).
//!
//! Properties: no panic; nothing the fuzzer makes opens (it would need the key), and every
//! refusal is -32602; answers made from the input seal and open again to the same answers,
//! for that tool, arguments and owner only, and not after they expire.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tasks_runtime::fuzzing::{open_request_state, seal_request_state};
use mcp_tasks_wire::jsonrpc::ErrorCode;
use serde_json::{json, Map, Value};

const SECRET: &[u8] = b"fuzz store secret";
const NOW: u64 = 1_800_000_000;

fn args() -> Map<String, Value> {
    let Value::Object(m) = json!({"path": "/tmp/x", "force": true}) else {
        unreachable!()
    };
    m
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match open_request_state(SECRET, "delete", &args(), Some("alice"), &text, NOW) {
        Ok(answers) => panic!("a state the fuzzer made opened: {answers:?}"),
        Err(e) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{}", e.message),
    }

    let Ok(Value::Object(answers)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let state = match seal_request_state(SECRET, "delete", &args(), Some("alice"), &answers, NOW) {
        Ok(state) => state,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{}", e.message);
            return;
        }
    };
    let opened = open_request_state(SECRET, "delete", &args(), Some("alice"), &state, NOW + 1)
        .unwrap_or_else(|e| panic!("a state we sealed does not open: {}", e.message));
    assert_eq!(opened, answers);
    let refused = |tool: &str, arguments: &Map<String, Value>, owner: Option<&str>, now: u64| {
        open_request_state(SECRET, tool, arguments, owner, &state, now).is_err()
    };
    assert!(
        refused("other", &args(), Some("alice"), NOW),
        "another tool"
    );
    assert!(
        refused("delete", &Map::new(), Some("alice"), NOW),
        "other arguments"
    );
    assert!(
        refused("delete", &args(), Some("bob"), NOW),
        "another owner"
    );
    assert!(refused("delete", &args(), None, NOW), "anonymous");
    assert!(
        refused("delete", &args(), Some("alice"), NOW + 86_400),
        "expired"
    );
    assert!(
        open_request_state(
            b"another secret",
            "delete",
            &args(),
            Some("alice"),
            &state,
            NOW
        )
        .is_err(),
        "another server's key"
    );
});

//! The SSE reading of the HTTP client (`read_events`: `eventsource-stream`, then the JSON-RPC
//! decoder on each event's data), through `mcp_tasks_runtime::fuzzing::sse_events`. A server,
//! or anything between it and the client, chooses these bytes.
//!
//! The first byte seeds where the rest is cut into network chunks. Properties: no panic; the
//! events do not depend on how the bytes were cut (a line split across two reads is one line);
//! an event's data is never longer than the body it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tasks_runtime::fuzzing::sse_events;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = sse_events(vec![body.to_vec()]);
    for event in &whole {
        assert!(event.data.len() <= body.len());
    }

    let mut chunks = Vec::new();
    let mut rest = body;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = (state >> 16) as usize % 8 + 1;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        chunks.push(chunk.to_vec());
        rest = tail;
    }
    let cut = sse_events(chunks);
    assert_eq!(whole, cut, "the events depend on how the body was cut");
});

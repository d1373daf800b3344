//! The JSON-RPC decoder (`mcp_tasks_wire::jsonrpc::decode`): every stdio line and HTTP body
//! goes through it before anything else looks at it.
//!
//! Properties: no panic on any bytes; an error is -32700 (never with an id) or -32600; a
//! message that decodes encodes to JSON that decodes to the same message; the params of any
//! request survive the typed-params error path (`params_as`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tasks_wire::jsonrpc::{self, DecodeError, ErrorCode, Message};

fuzz_target!(|data: &[u8]| {
    match jsonrpc::decode(data) {
        Ok(message) => {
            let encoded = serde_json::to_vec(&message).expect("a decoded message encodes");
            let again = jsonrpc::decode(&encoded).expect("an encoded message decodes");
            assert_eq!(message, again, "decode(encode(m)) != m for {encoded:?}");
            if let Message::Request(request) = &message {
                // The error path of typed params renders the params again to find the failing
                // member; it must hold for any params a request can carry.
                let _ = jsonrpc::params_as::<serde_json::Map<String, serde_json::Value>>(
                    request.params.clone(),
                );
            }
        }
        Err(error) => {
            let object = error.to_error_object();
            match &error {
                DecodeError::Parse(_) => {
                    assert_eq!(object.code, ErrorCode::PARSE_ERROR);
                    assert_eq!(error.id(), None, "a parse error has no id to answer with");
                }
                DecodeError::Invalid { .. } => assert_eq!(object.code, ErrorCode::INVALID_REQUEST),
            }
        }
    }
});

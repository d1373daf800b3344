//! `Mcp-Name` and `Mcp-Param-*` header values (MCP 2026-07-28, B-5): plain visible ASCII, or
//! `=?base64?…?=`. The wire's `decode_value`/`encode_value`, and the stateless endpoint's
//! checks of the headers against the body, through `mcp_tasks_runtime::fuzzing`.
//!
//! The input, split at its first NUL: a name or value, then the header bytes a client sent.
//! Properties: no panic; decode(encode(v)) == v for any text; what the encoder writes, the
//! checks accept; raw header bytes that pass the `Mcp-Name` check decode to the body's name;
//! every refusal is -32020 (a header that does not match the body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tasks_runtime::fuzzing::{check_param_headers, check_stateless_headers};
use mcp_tasks_wire::jsonrpc::Request;
use mcp_tasks_wire::v2025_11_25::Tool;
use mcp_tasks_wire::v2026_07_28::headers::{decode_value, encode_value};
use mcp_tasks_wire::v2026_07_28::{RequestMetaObject, PROTOCOL_VERSION};
use serde_json::{json, Value};

/// -32020: HeaderMismatch.
const HEADER_MISMATCH: i32 = -32020;

fn tool() -> Tool {
    serde_json::from_value(json!({
        "name": "region",
        "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "opts": {"type": "object", "properties": {
                "flag": {"type": "boolean", "x-mcp-header": "Flag"}
            }}
        }}
    }))
    .expect("the tool parses")
}

fn pair(name: &str, value: impl Into<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.into())
}

fn call(name: &str, arguments: Value) -> Request {
    Request::new(
        1,
        "tools/call",
        Some(json!({"name": name, "arguments": arguments, "_meta": {}})),
    )
}

fuzz_target!(|data: &[u8]| {
    let (value, raw) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let value = String::from_utf8_lossy(value);

    let encoded = encode_value(&value);
    assert_eq!(decode_value(&encoded).as_deref(), Ok(value.as_ref()));
    if let Ok(text) = std::str::from_utf8(raw) {
        if let Ok(decoded) = decode_value(text) {
            assert_eq!(decode_value(&encode_value(&decoded)), Ok(decoded));
        }
    }

    let tools = [tool()];
    let meta = RequestMetaObject {
        protocol_version: PROTOCOL_VERSION.to_owned(),
        ..RequestMetaObject::default()
    };
    let base = || {
        vec![
            pair("mcp-protocol-version", PROTOCOL_VERSION),
            pair("mcp-method", "tools/call"),
        ]
    };

    // Our encoding of the name and of an argument passes the checks.
    let mut headers = base();
    headers.push(pair("mcp-name", encoded.clone()));
    headers.push(pair("mcp-param-region", encoded.clone()));
    let request = call(&value, json!({"region": value}));
    if let Err(e) = check_stateless_headers(&tools, &headers, &request, &meta) {
        panic!(
            "our own encoding {encoded:?} of {value:?} is refused: {}",
            e.message
        );
    }
    let arguments = json!({"region": value});
    if let Err(e) = check_param_headers(&tools, &headers, "region", Some(&arguments)) {
        panic!(
            "our own encoding {encoded:?} of {value:?} is refused: {}",
            e.message
        );
    }

    // Whatever bytes arrive as Mcp-Name or a mirrored argument: refused with -32020, or they
    // stand for the body's value.
    let mut headers = base();
    headers.push(pair("mcp-name", raw));
    for name in ["mcp-param-region", "mcp-param-count", "mcp-param-flag"] {
        headers.push(pair(name, raw));
    }
    let text = String::from_utf8_lossy(raw);
    let as_number: Option<f64> = text.trim().parse().ok();
    let arguments = json!({
        "region": value,
        "count": as_number.filter(|n| n.is_finite()).map_or(json!(7), |n| json!(n)),
        "opts": {"flag": text.trim() == "true"},
    });
    let request = call("region", arguments.clone());
    match check_stateless_headers(&tools, &headers, &request, &meta) {
        Ok(()) => assert_eq!(decode_value(&text).as_deref(), Ok("region")),
        Err(e) => assert_eq!(e.code.0, HEADER_MISMATCH, "{}", e.message),
    }
    match check_param_headers(&tools, &headers, "region", Some(&arguments)) {
        Ok(()) => assert_eq!(decode_value(&text).as_deref(), Ok(value.as_ref())),
        Err(e) => assert_eq!(e.code.0, HEADER_MISMATCH, "{}", e.message),
    }
});

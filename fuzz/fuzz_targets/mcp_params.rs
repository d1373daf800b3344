//! The MCP message decoders of both eras, as the server's router applies them to a request's
//! params: 2025-11-25 (`initialize`, `tools/call`, `tasks/get|result|list|cancel`,
//! `logging/setLevel`, the client's answers to elicitation and sampling) and 2026-07-28 (the
//! `_meta` request object, `tools/call`'s `inputResponses`/`requestState`, the tasks
//! extension's `tasks/get|update|cancel`, `subscriptions/listen`).
//!
//! The input is a JSON-RPC message; its params are decoded as every type, whatever its method
//! names, so one corpus covers them all. Properties: no panic; a refusal is -32602; what
//! decodes encodes to JSON that decodes to the same thing (decode -> encode -> decode).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_tasks_wire::jsonrpc::{self, ErrorCode, Message};
use mcp_tasks_wire::{v2025_11_25 as v1, v2026_07_28 as v2};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Decodes `params` as `T` the way the router does; when that works, the encoded value must
/// decode again to the same encoding.
fn round_trip<T: Serialize + DeserializeOwned>(params: &Option<Value>) {
    match jsonrpc::params_as::<T>(params.clone()) {
        Ok(typed) => {
            let encoded = serde_json::to_value(&typed).expect("decoded params encode");
            let again: T = jsonrpc::params_as(Some(encoded.clone()))
                .unwrap_or_else(|e| panic!("{encoded} does not decode again: {}", e.message));
            assert_eq!(
                serde_json::to_value(&again).expect("params encode"),
                encoded,
                "{} changed on decode -> encode -> decode",
                std::any::type_name::<T>()
            );
        }
        Err(e) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{}", e.message),
    }
}

fuzz_target!(|data: &[u8]| {
    let params = match jsonrpc::decode(data) {
        Ok(Message::Request(r)) => r.params,
        Ok(Message::Notification(n)) => n.params,
        Ok(Message::Response(r)) => r.outcome.ok(),
        Err(_) => return,
    };

    // 2025-11-25: the session era.
    round_trip::<v1::InitializeRequestParams>(&params);
    round_trip::<v1::CallToolRequestParams>(&params);
    round_trip::<v1::GetTaskRequestParams>(&params);
    round_trip::<v1::GetTaskPayloadRequestParams>(&params);
    round_trip::<v1::ListTasksRequestParams>(&params);
    round_trip::<v1::CancelTaskRequestParams>(&params);
    round_trip::<v1::SetLevelRequestParams>(&params);
    round_trip::<v1::CancelledNotificationParams>(&params);
    round_trip::<v1::ProgressNotificationParams>(&params);
    round_trip::<v1::ElicitResult>(&params);
    round_trip::<v1::CreateMessageResult>(&params);

    // 2026-07-28: the stateless era.
    round_trip::<v2::TaskIdParams>(&params);
    round_trip::<v2::UpdateTaskParams>(&params);
    round_trip::<v2::SubscriptionsListenParams>(&params);
    match v2::RequestMetaObject::from_params(params.as_ref()) {
        Ok(Some(meta)) => {
            let carried = json!({ "_meta": meta.to_meta() });
            let again = v2::RequestMetaObject::from_params(Some(&carried))
                .unwrap_or_else(|e| panic!("{carried} does not decode again: {}", e.message));
            assert_eq!(
                again,
                Some(meta),
                "the _meta object changed on a round trip"
            );
        }
        Ok(None) => {}
        Err(e) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{}", e.message),
    }
    match v2::mrtr::retry_parts(params.as_ref()) {
        Ok((responses, _state)) => assert!(responses.values().all(Value::is_object)),
        Err(e) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{}", e.message),
    }
    if let Some(method) = params
        .as_ref()
        .and_then(|p| p.get("method"))
        .and_then(Value::as_str)
    {
        let _ = v2::headers::name_of(method, params.as_ref());
    }
});

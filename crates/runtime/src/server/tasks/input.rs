//! The input-request side channel (T-RES-4, T-META-1).
//!
//! A task's questions wait in its mailbox in the store. Whoever holds a `tasks/result` exchange
//! open for the task sends them to the requestor, with the related-task `_meta`, and writes the
//! answers back; the work, waiting on the store's change feed, wakes with its answer. The
//! answer is kept as `{"result": …}` or `{"error": …}` so the work sees what the requestor said.
//!
//! A question goes only to an exchange whose session declared it can answer it
//! ([`can_answer`]); it stays in the mailbox for one that can, and
//! [`claim`](super::claim) keeps two exchanges from both asking it.

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::ClientCapabilities;
use serde_json::{json, Value};

/// Whether a peer that declared `caps` can answer a `method` request with `params`: an
/// elicitation needs `capabilities.elicitation` with the request's mode (`url`, else form;
/// an empty `elicitation: {}` is form only), sampling needs `capabilities.sampling`. Other
/// methods need no capability.
pub(crate) fn can_answer(caps: &ClientCapabilities, method: &str, params: &Value) -> bool {
    match method {
        method::ELICITATION_CREATE => caps.elicitation.as_ref().is_some_and(|e| {
            if params.get("mode").and_then(Value::as_str) == Some("url") {
                e.url_supported()
            } else {
                e.form_supported()
            }
        }),
        method::SAMPLING_CREATE_MESSAGE => caps.sampling.is_some(),
        _ => true,
    }
}

/// The stored form of a requestor's answer.
pub(crate) fn close_answer(answer: &Result<Value, ErrorObject>) -> Value {
    match answer {
        Ok(result) => json!({ "result": result }),
        Err(error) => json!({ "error": error }),
    }
}

/// The answer as the work sees it.
pub(crate) fn open_answer(mut stored: Value) -> Result<Value, ErrorObject> {
    if let Some(result) = stored.get_mut("result") {
        return Ok(result.take());
    }
    match stored.get_mut("error").map(Value::take) {
        Some(error) => Err(serde_json::from_value(error).unwrap_or_else(|e| {
            ErrorObject::internal(format!("the stored answer holds a malformed error: {e}"))
        })),
        None => Err(ErrorObject::internal(
            "the stored answer holds neither result nor error",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_tasks_wire::jsonrpc::ErrorCode;

    #[test]
    fn answers_round_trip_through_the_store_form() {
        let answer = json!({"action": "accept", "content": {"name": "Ada"}});
        let stored = close_answer(&Ok(answer.clone()));
        assert_eq!(open_answer(stored).unwrap(), answer);
        let err: Result<Value, _> = Err(ErrorObject::invalid_params("no"));
        let back = open_answer(close_answer(&err)).unwrap_err();
        assert_eq!(back.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(back.message, "no");
        assert!(open_answer(json!({})).is_err());
    }

    /// T-RES-4: a question goes only to a peer that declared it can answer it; `elicitation:
    /// {}` is form mode only (MCP 2025-11-25, "Elicitation", capabilities).
    #[test]
    fn questions_need_the_matching_capability() {
        let caps = |v: Value| -> ClientCapabilities { serde_json::from_value(v).unwrap() };
        let form = json!({"message": "name?", "requestedSchema": {"type": "object"}});
        let url =
            json!({"mode": "url", "message": "sign in", "url": "https://x", "elicitationId": "e"});
        let sample = json!({"messages": [], "maxTokens": 5});
        let cases = [
            (json!({}), [false, false, false]),
            (json!({"elicitation": {}}), [true, false, false]),
            (json!({"elicitation": {"form": {}}}), [true, false, false]),
            (json!({"elicitation": {"url": {}}}), [false, true, false]),
            (
                json!({"elicitation": {"form": {}, "url": {}}}),
                [true, true, false],
            ),
            (json!({"sampling": {}}), [false, false, true]),
        ];
        for (declared, [f, u, s]) in cases {
            let c = caps(declared.clone());
            assert_eq!(
                can_answer(&c, method::ELICITATION_CREATE, &form),
                f,
                "{declared} form"
            );
            assert_eq!(
                can_answer(&c, method::ELICITATION_CREATE, &url),
                u,
                "{declared} url"
            );
            assert_eq!(
                can_answer(&c, method::SAMPLING_CREATE_MESSAGE, &sample),
                s,
                "{declared} sampling"
            );
        }
    }
}

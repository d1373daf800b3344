//! The input-request side channel (T-RES-4, T-META-1).
//!
//! A task's questions wait in its mailbox in the store. Whoever holds a `tasks/result` exchange
//! open for the task sends them to the requestor, with the related-task `_meta`, and writes the
//! answers back; the work, waiting on the store's change feed, wakes with its answer. The
//! answer is kept as `{"result": …}` or `{"error": …}` so the work sees what the requestor said.

use mcp_tasks_wire::jsonrpc::ErrorObject;
use serde_json::{json, Value};

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
}

//! Multi round-trip requests (B-6): a request that needs the client's input answers
//! [`InputRequiredResult`]; the client retries the same request with `inputResponses` and the
//! echoed `requestState`.
//!
//! MCP 2026-07-28, schema `InputRequest`, `InputRequests`, `InputResponses`,
//! `InputRequiredResult`. The same `inputRequests` map is what a task waiting for input shows
//! in `tasks/get`, and `inputResponses` is what `tasks/update` carries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ResultType;

/// One question for the client: a server-to-client request, carried inside a result rather
/// than sent on its own (B-7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    /// `elicitation/create`, `sampling/createMessage` or `roots/list`.
    pub method: String,
    /// Its params.
    #[serde(default = "empty_object")]
    pub params: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Questions by key; the server chooses the keys and the client answers under the same ones.
pub type InputRequests = BTreeMap<String, InputRequest>;

/// Answers by key: each value is the result the client would have sent for that request.
pub type InputResponses = Map<String, Value>;

/// The answer to a request that needs input first (B-6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputRequiredResult {
    /// Always [`ResultType::InputRequired`].
    pub result_type: ResultType,
    /// What the client must answer before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<InputRequests>,
    /// Opaque to the client, echoed on the retry; sealed by the server, since the client could
    /// change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
}

impl InputRequiredResult {
    /// Asks `requests`, with `state` to echo.
    pub fn new(requests: InputRequests, state: Option<String>) -> Self {
        Self {
            result_type: ResultType::InputRequired,
            input_requests: Some(requests),
            request_state: state,
        }
    }
}

/// The MRTR part of a retried request's params: the answers and the echoed state.
///
/// # Errors
///
/// `-32602` when `inputResponses` is present but not an object of objects, or `requestState`
/// is not a string: a client bug to report, not input to guess at.
pub fn retry_parts(
    params: Option<&Value>,
) -> Result<(InputResponses, Option<String>), crate::jsonrpc::ErrorObject> {
    use crate::jsonrpc::ErrorObject;
    let responses = match params.and_then(|p| p.get("inputResponses")) {
        None => Map::new(),
        Some(Value::Object(map)) => {
            if let Some((key, _)) = map.iter().find(|(_, v)| !v.is_object()) {
                return Err(ErrorObject::invalid_params(format!(
                    "params.inputResponses[{key:?}] must be an object: the result of the input \
                     request with that key"
                )));
            }
            map.clone()
        }
        Some(_) => {
            return Err(ErrorObject::invalid_params(
                "params.inputResponses must be an object mapping input request keys to results",
            ))
        }
    };
    let state = match params.and_then(|p| p.get("requestState")) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ErrorObject::invalid_params(
                "params.requestState must be the string the server sent, unchanged",
            ))
        }
    };
    Ok((responses, state))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// B-6: the result names its type, its questions and the state to echo.
    #[test]
    fn input_required_result_shape() {
        let mut q = InputRequests::new();
        q.insert(
            "user_name".into(),
            InputRequest {
                method: "elicitation/create".into(),
                params: json!({"message": "name?"}),
            },
        );
        let v = serde_json::to_value(InputRequiredResult::new(q, Some("s".into()))).unwrap();
        assert_eq!(
            v,
            json!({"resultType": "input_required",
                   "inputRequests": {"user_name": {"method": "elicitation/create", "params": {"message": "name?"}}},
                   "requestState": "s"})
        );
    }

    /// B-6: malformed retry parts are -32602; absent ones are empty.
    #[test]
    fn retry_parts_validate_shapes() {
        let (r, s) = retry_parts(None).unwrap();
        assert!(r.is_empty() && s.is_none());
        let p = json!({"inputResponses": {"a": {"action": "accept"}}, "requestState": "x"});
        let (r, s) = retry_parts(Some(&p)).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(s.as_deref(), Some("x"));
        for bad in [
            json!({"inputResponses": null}),
            json!({"inputResponses": [1]}),
            json!({"inputResponses": {"a": 12345}}),
            json!({"requestState": 3}),
        ] {
            assert_eq!(retry_parts(Some(&bad)).unwrap_err().code.0, -32602, "{bad}");
        }
    }
}

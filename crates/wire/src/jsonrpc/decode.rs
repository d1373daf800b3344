//! [`decode`]: bytes to [`Message`], with syntax errors kept apart from shape errors.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ErrorObject, Message, Notification, Request, RequestId, Response, JSONRPC_VERSION};

/// Why bytes are not a JSON-RPC message we accept.
///
/// Syntax and shape are kept apart, as JSON-RPC's codes are: [`DecodeError::to_error_object`]
/// maps the first to -32700 and the second to -32600.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not JSON at all (-32700); holds `serde_json`'s message, with line and column.
    Parse(String),
    /// The bytes are JSON but not a JSON-RPC 2.0 message MCP accepts (-32600): a wrong or missing
    /// `jsonrpc`, a `method` that is not a string, an id of the wrong type, `params` that are
    /// neither object nor array, a batch array (MCP removed batching), a response with both or
    /// neither of `result` and `error`.
    Invalid {
        /// The message's id when it had a valid one, so the error response can carry it.
        id: Option<RequestId>,
        /// What was expected, e.g. `"jsonrpc" must be "2.0"`.
        reason: String,
    },
}

impl DecodeError {
    /// The error object to answer with: -32700 for [`DecodeError::Parse`], -32600 for
    /// [`DecodeError::Invalid`]; the message is this error's `Display`.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            Self::Parse(_) => ErrorObject::parse_error(self.to_string()),
            Self::Invalid { .. } => ErrorObject::invalid_request(self.to_string()),
        }
    }

    /// The id of the offending message, when it had a valid one; `None` for parse errors.
    pub fn id(&self) -> Option<RequestId> {
        match self {
            Self::Parse(_) => None,
            Self::Invalid { id, .. } => id.clone(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(msg) => write!(f, "parse error: the message is not valid JSON: {msg}"),
            Self::Invalid { reason, .. } => write!(f, "invalid request: {reason}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one JSON-RPC message (one stdio line, one HTTP body).
///
/// Unknown members are ignored. `"params": null` is read as absent params.
///
/// # Errors
///
/// [`DecodeError::Parse`] when `bytes` are not JSON, [`DecodeError::Invalid`] when they are JSON
/// but not a single JSON-RPC 2.0 request, notification or response.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Parse(e.to_string()))?;
    classify(value)
}

/// The `id` member as found, before we know which kind of message holds it.
enum IdField {
    Absent,
    Null,
    Valid(RequestId),
    /// Present with a type ids can't have; holds a description of what was found.
    Wrong(String),
}

impl IdField {
    fn read(obj: &mut Map<String, Value>) -> Self {
        match obj.remove("id") {
            None => Self::Absent,
            Some(Value::Null) => Self::Null,
            Some(Value::String(s)) => Self::Valid(RequestId::String(s)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(n) => Self::Valid(RequestId::Number(n)),
                None => Self::Wrong(format!("the number {n} (ids must be 64-bit integers)")),
            },
            Some(other) => Self::Wrong(describe(&other).to_owned()),
        }
    }

    fn valid(&self) -> Option<RequestId> {
        match self {
            Self::Valid(id) => Some(id.clone()),
            _ => None,
        }
    }
}

fn invalid(id: Option<RequestId>, reason: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        id,
        reason: reason.into(),
    }
}

fn wrong_id(found: &str) -> DecodeError {
    invalid(
        None,
        format!("\"id\" must be a string or an integer, got {found}"),
    )
}

/// "an object", "a string", ... for messages about what was found.
fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks an already-parsed JSON value; shared by [`decode`] and the `Deserialize` impls.
pub(super) fn classify(value: Value) -> Result<Message, DecodeError> {
    let mut obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(invalid(
                None,
                "expected one JSON-RPC message object, got an array: MCP does not support \
                 JSON-RPC batches; send each message on its own",
            ))
        }
        other => {
            return Err(invalid(
                None,
                format!(
                    "a JSON-RPC message must be a JSON object, got {}",
                    describe(&other)
                ),
            ))
        }
    };

    // Read the id first, so every later error can carry it.
    let id = IdField::read(&mut obj);

    match obj.get("jsonrpc") {
        Some(Value::String(v)) if v == JSONRPC_VERSION => {}
        Some(other) => {
            return Err(invalid(
                id.valid(),
                format!("\"jsonrpc\" must be \"2.0\", got {other}"),
            ))
        }
        None => {
            return Err(invalid(
                id.valid(),
                "\"jsonrpc\" must be \"2.0\", but it is missing",
            ))
        }
    }

    if let Some(method) = obj.remove("method") {
        let Value::String(method) = method else {
            return Err(invalid(
                id.valid(),
                format!("\"method\" must be a string, got {}", describe(&method)),
            ));
        };
        let params = match obj.remove("params") {
            None | Some(Value::Null) => None,
            Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
            Some(other) => {
                return Err(invalid(
                    id.valid(),
                    format!(
                        "\"params\" must be an object or an array, got {}",
                        describe(&other)
                    ),
                ))
            }
        };
        return match id {
            IdField::Absent => Ok(Message::Notification(Notification { method, params })),
            IdField::Valid(id) => Ok(Message::Request(Request { id, method, params })),
            IdField::Null => Err(wrong_id("null (MCP request ids are never null)")),
            IdField::Wrong(found) => Err(wrong_id(&found)),
        };
    }

    match (obj.remove("result"), obj.remove("error")) {
        (Some(_), Some(_)) => Err(invalid(
            id.valid(),
            "a response must carry either \"result\" or \"error\", not both",
        )),
        (None, None) => Err(invalid(
            id.valid(),
            "expected \"method\" (a request or notification) or \"result\" or \"error\" \
             (a response), found none of them",
        )),
        (Some(result), None) => match id {
            IdField::Valid(id) => Ok(Message::Response(Response {
                id: Some(id),
                outcome: Ok(result),
            })),
            IdField::Absent | IdField::Null => Err(invalid(
                None,
                "a result response needs the \"id\" of the request it answers",
            )),
            IdField::Wrong(found) => Err(wrong_id(&found)),
        },
        (None, Some(error)) => {
            let error = ErrorObject::deserialize(error).map_err(|e| {
                invalid(
                    id.valid(),
                    format!(
                        "\"error\" must be an object with an integer \"code\" and a string \
                         \"message\": {e}"
                    ),
                )
            })?;
            match id {
                IdField::Valid(id) => Ok(Message::Response(Response::error(Some(id), error))),
                IdField::Absent | IdField::Null => {
                    Ok(Message::Response(Response::error(None, error)))
                }
                IdField::Wrong(found) => Err(wrong_id(&found)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::ErrorCode;
    use super::*;

    fn invalid_case(input: &str) -> (Option<RequestId>, String) {
        match decode(input.as_bytes()) {
            Err(DecodeError::Invalid { id, reason }) => (id, reason),
            other => panic!("{input}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn not_json_is_a_parse_error() {
        for input in ["", "{", "nope", "{\"jsonrpc\":\"2.0\",}", "{} {}", "\u{1}"] {
            let err = decode(input.as_bytes()).unwrap_err();
            assert!(matches!(err, DecodeError::Parse(_)), "{input}: {err:?}");
            assert_eq!(err.id(), None);
            let obj = err.to_error_object();
            assert_eq!(obj.code, ErrorCode::PARSE_ERROR);
            assert!(obj.message.starts_with("parse error"), "{}", obj.message);
        }
    }

    #[test]
    fn batches_are_invalid() {
        for input in ["[]", r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#] {
            let (id, reason) = invalid_case(input);
            assert_eq!(id, None);
            assert!(reason.contains("batch"), "{reason}");
        }
    }

    #[test]
    fn non_objects_are_invalid() {
        for input in ["1", "\"x\"", "null", "true"] {
            let (id, reason) = invalid_case(input);
            assert_eq!(id, None);
            assert!(reason.contains("must be a JSON object"), "{reason}");
        }
    }

    #[test]
    fn missing_or_wrong_jsonrpc_is_invalid_and_keeps_the_id() {
        let (id, reason) = invalid_case(r#"{"id":3,"method":"ping"}"#);
        assert_eq!(id, Some(RequestId::Number(3)));
        assert!(
            reason.starts_with("\"jsonrpc\" must be \"2.0\""),
            "{reason}"
        );
        let (id, reason) = invalid_case(r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#);
        assert_eq!(id, Some(RequestId::String("a".into())));
        assert_eq!(reason, "\"jsonrpc\" must be \"2.0\", got \"1.0\"");
        let (_, reason) = invalid_case(r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#);
        assert_eq!(reason, "\"jsonrpc\" must be \"2.0\", got 2.0");
    }

    #[test]
    fn numeric_method_is_invalid() {
        let (id, reason) = invalid_case(r#"{"jsonrpc":"2.0","id":9,"method":42}"#);
        assert_eq!(id, Some(RequestId::Number(9)));
        assert_eq!(reason, "\"method\" must be a string, got a number");
    }

    #[test]
    fn ids_of_the_wrong_type_are_invalid_without_an_id() {
        for (input, found) in [
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                "an object",
            ),
            (r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, "an array"),
            (
                r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
                "a boolean",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                "the number 1.5",
            ),
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, "null"),
            (r#"{"jsonrpc":"2.0","id":{},"result":{}}"#, "an object"),
        ] {
            let (id, reason) = invalid_case(input);
            assert_eq!(id, None, "{input}");
            assert!(
                reason.starts_with(&format!(
                    "\"id\" must be a string or an integer, got {found}"
                )),
                "{input}: {reason}"
            );
        }
    }

    #[test]
    fn params_must_be_structured() {
        let (id, reason) =
            invalid_case(r#"{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":"x"}"#);
        assert_eq!(id, Some(RequestId::String("r1".into())));
        assert_eq!(
            reason,
            "\"params\" must be an object or an array, got a string"
        );
        let (id, _) = invalid_case(r#"{"jsonrpc":"2.0","method":"n","params":3}"#);
        assert_eq!(id, None);
        let ok = decode(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}"#).unwrap();
        assert_eq!(ok, Request::new(1, "m", Some(json!([1]))).into());
        let ok = decode(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":null}"#).unwrap();
        assert_eq!(ok, Request::new(1, "m", None).into());
    }

    #[test]
    fn result_and_error_together_are_invalid() {
        let (id, reason) = invalid_case(
            r#"{"jsonrpc":"2.0","id":4,"result":{},"error":{"code":1,"message":"m"}}"#,
        );
        assert_eq!(id, Some(RequestId::Number(4)));
        assert!(reason.contains("not both"), "{reason}");
        let err = decode(br#"{"jsonrpc":"2.0","id":4,"result":{},"error":null}"#).unwrap_err();
        assert_eq!(err.id(), Some(RequestId::Number(4)));
        let obj = err.to_error_object();
        assert_eq!(obj.code, ErrorCode::INVALID_REQUEST);
        assert!(
            obj.message.starts_with("invalid request: "),
            "{}",
            obj.message
        );
    }

    #[test]
    fn neither_method_nor_outcome_is_invalid() {
        let (id, reason) = invalid_case(r#"{"jsonrpc":"2.0","id":5}"#);
        assert_eq!(id, Some(RequestId::Number(5)));
        assert!(reason.contains("\"method\""), "{reason}");
    }

    #[test]
    fn result_without_id_is_invalid() {
        let (id, reason) = invalid_case(r#"{"jsonrpc":"2.0","result":{}}"#);
        assert_eq!(id, None);
        assert!(reason.contains("needs the \"id\""), "{reason}");
    }

    #[test]
    fn malformed_error_member_is_invalid() {
        let (id, reason) =
            invalid_case(r#"{"jsonrpc":"2.0","id":6,"error":{"code":"x","message":"m"}}"#);
        assert_eq!(id, Some(RequestId::Number(6)));
        assert!(
            reason.starts_with("\"error\" must be an object"),
            "{reason}"
        );
        let (_, reason) = invalid_case(r#"{"jsonrpc":"2.0","id":6,"error":{"code":1}}"#);
        assert!(reason.contains("missing field `message`"), "{reason}");
    }

    #[test]
    fn error_responses_may_lack_an_id() {
        for input in [
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"bad"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}"#,
        ] {
            let msg = decode(input.as_bytes()).unwrap();
            assert_eq!(
                msg,
                Response::error(None, ErrorObject::parse_error("bad")).into()
            );
        }
    }

    /// Found by fuzz/fuzz_targets/jsonrpc.rs: a number that serde_json reads without
    /// `float_roundtrip` comes back one bit off once written and read again, so a value passed
    /// through (the gateway, a stored result) changed.
    #[test]
    fn numbers_survive_decode_encode_decode() {
        for number in [
            "1.8446744073709551616",
            "0.1",
            "-2.5e-308",
            "1e300",
            "123456789.123456789",
        ] {
            let input =
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"x":{number}}}}}"#);
            let once = decode(input.as_bytes()).unwrap();
            let again = decode(&serde_json::to_vec(&once).unwrap()).unwrap();
            assert_eq!(once, again, "{number}");
        }
    }

    #[test]
    fn valid_messages_decode_and_ignore_unknown_members() {
        let m = decode(
            br#" {"jsonrpc":"2.0","id":"x","method":"tasks/get","params":{"taskId":"t"},"extra":1} "#,
        )
        .unwrap();
        assert_eq!(
            m,
            Request::new("x", "tasks/get", Some(json!({"taskId": "t"}))).into()
        );
        let m = decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(
            m,
            Notification::new("notifications/initialized", None).into()
        );
        let m = decode(br#"{"jsonrpc":"2.0","id":-1,"result":{"ok":true}}"#).unwrap();
        assert_eq!(
            m,
            Response::result(RequestId::Number(-1), json!({"ok": true})).into()
        );
        let m = decode(
            br#"{"jsonrpc":"2.0","id":2,"error":{"code":-32099,"message":"m","data":null}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Response::error(Some(2.into()), ErrorObject::new(ErrorCode(-32099), "m")).into()
        );
    }
}

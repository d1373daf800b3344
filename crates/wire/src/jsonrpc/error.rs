//! JSON-RPC error codes and the `error` member of an error response.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON-RPC error code.
///
/// A newtype rather than an enum, so a code we don't know still round-trips unchanged; the
/// associated constants name the codes this runtime emits or reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// -32700: the bytes were not JSON.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// -32600: JSON, but not a valid JSON-RPC 2.0 request (also "task augmentation required").
    pub const INVALID_REQUEST: Self = Self(-32600);
    /// -32601: no such method; also a task for a tool whose `taskSupport` is `forbidden`, or a
    /// plain call of a tool whose `taskSupport` is `required` (T-CAP-5).
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// -32602: the params did not fit the method; also an unknown, expired or foreign `taskId`
    /// (T-ERR-1, T-SEC-1) and cancelling a terminal task (T-CAN-2).
    pub const INVALID_PARAMS: Self = Self(-32602);
    /// -32603: the receiver failed on its own (a store error, a handler panic).
    pub const INTERNAL_ERROR: Self = Self(-32603);
    /// -32800: the request was cancelled; `tasks/result` answers this for a cancelled task.
    pub const REQUEST_CANCELLED: Self = Self(-32800);
    /// -32042: the server needs the user to complete a URL-mode elicitation first
    /// (`URLElicitationRequiredError` in MCP 2025-11-25).
    pub const URL_ELICITATION_REQUIRED: Self = Self(-32042);
    /// -32021: the client did not declare a capability the request needs (the tasks extension
    /// of MCP 2026-07-28, X-2, X-9).
    pub const MISSING_CAPABILITY: Self = Self(-32021);
    /// -32020: an HTTP header is missing, malformed, or disagrees with the body (MCP
    /// 2026-07-28 Streamable HTTP, B-5).
    pub const HEADER_MISMATCH: Self = Self(-32020);
    /// -32022: the request's protocol version is not one the server speaks (MCP 2026-07-28,
    /// B-3).
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(-32022);

    /// The code as a plain integer.
    pub const fn as_i32(self) -> i32 {
        self.0
    }
}

impl From<i32> for ErrorCode {
    fn from(code: i32) -> Self {
        Self(code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The `error` member of a JSON-RPC error response (`Error` in the MCP schema).
///
/// Also the error type of everything in this crate that can be answered on the wire, so a
/// failure maps to a response without a second conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A short sentence for humans: what was wrong and, where possible, the fix.
    pub message: String,
    /// Extra machine-readable detail; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with `code` and `message` and no `data`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error carrying `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700 with `message`: the input was not JSON.
    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, message)
    }

    /// -32600 with `message`: the input was JSON but not a JSON-RPC 2.0 message.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }

    /// -32601 naming `method`, for a request whose method nobody handles.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("method not found: {method:?}"),
        )
    }

    /// -32602 with `message` as given (no prefix is added).
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// -32603 with `message`: the receiver failed on its own.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (JSON-RPC error {})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_code_round_trips() {
        let err: ErrorObject =
            serde_json::from_value(json!({"code": -31999, "message": "custom", "data": [1]}))
                .unwrap();
        assert_eq!(err.code, ErrorCode(-31999));
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"code": -31999, "message": "custom", "data": [1]})
        );
    }

    #[test]
    fn code_constants_have_the_spec_values() {
        let table = [
            (ErrorCode::PARSE_ERROR, -32700),
            (ErrorCode::INVALID_REQUEST, -32600),
            (ErrorCode::METHOD_NOT_FOUND, -32601),
            (ErrorCode::INVALID_PARAMS, -32602),
            (ErrorCode::INTERNAL_ERROR, -32603),
            (ErrorCode::REQUEST_CANCELLED, -32800),
            (ErrorCode::URL_ELICITATION_REQUIRED, -32042),
            (ErrorCode::MISSING_CAPABILITY, -32021),
            (ErrorCode::HEADER_MISMATCH, -32020),
            (ErrorCode::UNSUPPORTED_PROTOCOL_VERSION, -32022),
        ];
        for (code, n) in table {
            assert_eq!(code.as_i32(), n);
            assert_eq!(serde_json::to_value(code).unwrap(), json!(n));
            assert_eq!(code.to_string(), n.to_string());
        }
    }

    #[test]
    fn data_is_omitted_when_none() {
        let err = ErrorObject::invalid_params("bad");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"code": -32602, "message": "bad"})
        );
        let err = err.with_data(json!({"k": 1}));
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"code": -32602, "message": "bad", "data": {"k": 1}})
        );
    }

    #[test]
    fn constructors_pick_their_codes() {
        assert_eq!(ErrorObject::parse_error("x").code, ErrorCode::PARSE_ERROR);
        assert_eq!(
            ErrorObject::invalid_request("x").code,
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(ErrorObject::internal("x").code, ErrorCode::INTERNAL_ERROR);
        let nf = ErrorObject::method_not_found("tools/frobnicate");
        assert_eq!(nf.code, ErrorCode::METHOD_NOT_FOUND);
        assert!(nf.message.contains("tools/frobnicate"), "{}", nf.message);
    }

    #[test]
    fn display_names_message_and_code() {
        let text = ErrorObject::internal("store is down").to_string();
        assert!(
            text.contains("store is down") && text.contains("-32603"),
            "{text}"
        );
    }
}

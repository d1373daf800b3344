//! JSON-RPC 2.0 framing as MCP uses it: one message per line or HTTP body, no batches.
//!
//! MCP 2025-11-25, "Base Protocol" (`basic/index.mdx`); schema `JSONRPCMessage` and its four
//! members `JSONRPCRequest`, `JSONRPCNotification`, `JSONRPCResultResponse`,
//! `JSONRPCErrorResponse`.
//!
//! - [`decode`] turns bytes into a [`Message`], keeping syntax errors ([`DecodeError::Parse`],
//!   -32700) apart from shape errors ([`DecodeError::Invalid`], -32600), and recovers the
//!   request id where it can so the error response can carry it.
//! - [`Request`], [`Notification`] and [`Response`] serialize with `"jsonrpc":"2.0"` first.
//!   `params` and `result` stay [`Value`]s here; [`params_as`] types them per method and turns a
//!   mismatch into -32602 naming the failing field.
//! - [`ErrorCode`] is a newtype, so codes we don't know round-trip.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

mod decode;
mod error;
mod params;

pub use decode::{decode, DecodeError};
pub use error::{ErrorCode, ErrorObject};

/// The value of the `jsonrpc` member of every message.
pub const JSONRPC_VERSION: &str = "2.0";

/// A request id: a string or an integer, chosen by the requestor, echoed in the response.
///
/// MCP forbids `null` ids. Displays like JSON (`7`, `"abc"`), so `1` and `"1"` stay distinct in
/// logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => fmt::Display::fmt(n, f),
            Self::String(s) => fmt::Debug::fmt(s, f),
        }
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

impl From<String> for RequestId {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

/// A request: a method call that expects exactly one [`Response`] with the same id.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Matches the response to this request.
    pub id: RequestId,
    /// The method name, e.g. [`crate::method::TASKS_GET`].
    pub method: String,
    /// The parameters (an object in MCP; an array is legal JSON-RPC); omitted when `None`.
    pub params: Option<Value>,
}

impl Request {
    /// A request for `method` with `params`.
    pub fn new(id: impl Into<RequestId>, method: impl Into<String>, params: Option<Value>) -> Self {
        Self {
            id: id.into(),
            method: method.into(),
            params,
        }
    }
}

/// A notification: a one-way message with no id and no response.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The method name, e.g. [`crate::method::NOTIFY_TASK_STATUS`].
    pub method: String,
    /// The parameters; omitted when `None`.
    pub params: Option<Value>,
}

impl Notification {
    /// A notification for `method` with `params`.
    pub fn new(method: impl Into<String>, params: Option<Value>) -> Self {
        Self {
            method: method.into(),
            params,
        }
    }
}

/// A response: the outcome of one [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request answered. `None` only for an error about a request whose id could
    /// not be read; the member is then omitted (MCP's schema does not allow `"id": null`).
    pub id: Option<RequestId>,
    /// `Ok` is the `result` member, `Err` the `error` member.
    pub outcome: Result<Value, ErrorObject>,
}

impl Response {
    /// A successful response to request `id`.
    pub fn result(id: RequestId, result: Value) -> Self {
        Self {
            id: Some(id),
            outcome: Ok(result),
        }
    }

    /// An error response; `id` is `None` only when the request's id could not be read.
    pub fn error(id: Option<RequestId>, error: ErrorObject) -> Self {
        Self {
            id,
            outcome: Err(error),
        }
    }
}

/// Any JSON-RPC message MCP allows (`JSONRPCMessage`).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Expects a response.
    Request(Request),
    /// Expects nothing back.
    Notification(Notification),
    /// Answers a request.
    Response(Response),
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Self::Request(r)
    }
}

impl From<Notification> for Message {
    fn from(n: Notification) -> Self {
        Self::Notification(n)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Self::Response(r)
    }
}

/// Turns a request's `params` into the method's params type.
///
/// Missing params count as `{}`, so a type whose fields are all optional accepts them.
///
/// # Errors
///
/// -32602 whose message starts `invalid params: `, names the failing field's path when it is
/// not the top level, and says what was expected, e.g.
/// ``invalid params: `task.ttl`: invalid type: string "x", expected u64``.
pub fn params_as<T: DeserializeOwned>(params: Option<Value>) -> Result<T, ErrorObject> {
    params::params_as(params)
}

// Wire shapes. Serialization goes through borrowed helper structs so `jsonrpc` comes first
// and absent members are omitted; deserialization goes through `decode`'s checks, so serde and
// `decode` accept exactly the same messages.

#[derive(Serialize)]
struct RequestOut<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a Value>,
}

#[derive(Serialize)]
struct NotificationOut<'a> {
    jsonrpc: &'static str,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a Value>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a RequestId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorObject>,
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RequestOut {
            jsonrpc: JSONRPC_VERSION,
            id: &self.id,
            method: &self.method,
            params: self.params.as_ref(),
        }
        .serialize(s)
    }
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NotificationOut {
            jsonrpc: JSONRPC_VERSION,
            method: &self.method,
            params: self.params.as_ref(),
        }
        .serialize(s)
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (result, error) = match &self.outcome {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        ResponseOut {
            jsonrpc: JSONRPC_VERSION,
            id: self.id.as_ref(),
            result,
            error,
        }
        .serialize(s)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Request(r) => r.serialize(s),
            Self::Notification(n) => n.serialize(s),
            Self::Response(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        decode::classify(value).map_err(serde::de::Error::custom)
    }
}

macro_rules! deserialize_variant {
    ($ty:ident, $what:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match Message::deserialize(d)? {
                    Message::$ty(m) => Ok(m),
                    other => Err(serde::de::Error::custom(format!(
                        "expected a JSON-RPC {}, got a {}",
                        $what,
                        other.kind()
                    ))),
                }
            }
        }
    };
}

deserialize_variant!(Request, "request");
deserialize_variant!(Notification, "notification");
deserialize_variant!(Response, "response");

impl Message {
    /// "request", "notification" or "response", for error messages and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request(_) => "request",
            Self::Notification(_) => "notification",
            Self::Response(_) => "response",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[test]
    fn request_serializes_jsonrpc_first_and_skips_absent_params() {
        let r = Request::new(7, "tasks/get", Some(json!({"taskId": "t1"})));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"method":"tasks/get","params":{"taskId":"t1"}}"#
        );
        let r = Request::new("a", "ping", None);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#
        );
    }

    #[test]
    fn notification_serializes_without_id() {
        let n = Notification::new("notifications/initialized", None);
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
        );
    }

    #[test]
    fn response_serializes_result_or_error() {
        let ok = Response::result(RequestId::Number(1), json!({}));
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
        );
        let err = Response::error(
            Some("x".into()),
            ErrorObject::method_not_found("nope").with_data(json!(1)),
        );
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"method not found: \"nope\"","data":1}})
        );
        let anon = Response::error(None, ErrorObject::parse_error("bad"));
        assert_eq!(
            serde_json::to_string(&anon).unwrap(),
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"bad"}}"#
        );
    }

    #[test]
    fn messages_round_trip_through_serde() {
        let msgs: Vec<Message> = vec![
            Request::new(1, "tools/call", Some(json!({"name": "x"}))).into(),
            Request::new("s", "ping", None).into(),
            Notification::new("notifications/progress", Some(json!({"progress": 1}))).into(),
            Response::result(RequestId::Number(-3), json!({"a": [1, 2]})).into(),
            Response::error(Some(2.into()), ErrorObject::internal("boom")).into(),
            Response::error(None, ErrorObject::invalid_request("what")).into(),
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            let back: Message = serde_json::from_str(&text).unwrap();
            assert_eq!(back, m, "{text}");
            assert_eq!(decode(text.as_bytes()).unwrap(), m, "{text}");
        }
    }

    #[test]
    fn variant_deserializers_reject_the_other_kinds() {
        let n = json!({"jsonrpc": "2.0", "method": "x"});
        assert!(serde_json::from_value::<Notification>(n.clone()).is_ok());
        let err = serde_json::from_value::<Request>(n)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a JSON-RPC request"), "{err}");
        let bad = json!({"jsonrpc": "1.0", "id": 1, "method": "x"});
        let err = serde_json::from_value::<Request>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"jsonrpc\" must be \"2.0\""), "{err}");
    }

    #[test]
    fn request_id_is_untagged_and_displays_like_json() {
        assert_eq!(
            serde_json::from_value::<RequestId>(json!(5)).unwrap(),
            RequestId::Number(5)
        );
        assert_eq!(
            serde_json::from_value::<RequestId>(json!("5")).unwrap(),
            RequestId::String("5".into())
        );
        assert!(serde_json::from_value::<RequestId>(json!(null)).is_err());
        assert!(serde_json::from_value::<RequestId>(json!(1.5)).is_err());
        assert_eq!(RequestId::Number(5).to_string(), "5");
        assert_eq!(RequestId::from("5").to_string(), "\"5\"");
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        task_id: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        ttl: u64,
    }

    #[derive(Debug, Deserialize, Default)]
    struct AllOptional {
        cursor: Option<String>,
    }

    #[test]
    fn params_as_reads_missing_params_as_empty_object() {
        let p: AllOptional = params_as(None).unwrap();
        assert!(p.cursor.is_none());
        let err = params_as::<Probe>(None).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(err.message, "invalid params: missing field `taskId`");
    }

    #[test]
    fn params_as_names_the_failing_field() {
        let err = params_as::<Probe>(Some(json!({"taskId": 5}))).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(
            err.message,
            "invalid params: `taskId`: invalid type: integer `5`, expected a string"
        );
        let err =
            params_as::<Probe>(Some(json!({"taskId": "t", "inner": {"ttl": "x"}}))).unwrap_err();
        assert_eq!(
            err.message,
            "invalid params: `inner.ttl`: invalid type: string \"x\", expected u64"
        );
        let err = params_as::<Probe>(Some(json!({"taskId": "t", "inner": {}}))).unwrap_err();
        assert_eq!(err.message, "invalid params: `inner`: missing field `ttl`");
        let ok = params_as::<Probe>(Some(json!({"taskId": "t", "extra": true}))).unwrap();
        assert_eq!(ok.task_id, "t");
        assert!(ok.inner.is_none());
    }

    #[test]
    fn params_as_rejects_non_objects_with_invalid_params() {
        let err = params_as::<Probe>(Some(json!("nope"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        assert!(err
            .message
            .starts_with("invalid params: invalid type: string"));
    }
}

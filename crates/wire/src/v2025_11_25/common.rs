//! Small types shared by several messages: `_meta`, progress tokens, roles, pagination, and the
//! empty marker object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A `_meta` object: reserved keys (see [`crate::meta`]) and anything else a peer attaches.
pub type Meta = Map<String, Value>;

/// An object whose presence is the whole message: a capability marker such as `tasks.list`
/// (present = supported). Serializes to `{}` and accepts any object, dropping its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Empty {}

/// Identifies the request a `notifications/progress` belongs to; chosen by the requestor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProgressToken {
    /// A string token.
    String(String),
    /// An integer token.
    Number(i64),
}

impl From<String> for ProgressToken {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<&str> for ProgressToken {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<i64> for ProgressToken {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

/// The `_meta` of request params (`RequestParams._meta`): the progress token, plus any other key
/// (for example [`crate::meta::RELATED_TASK`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMeta {
    /// Where to send `notifications/progress` for this request; for a task, valid for the task's
    /// whole life (T-PROG-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_token: Option<ProgressToken>,
    /// Every other `_meta` key, kept as sent.
    #[serde(flatten)]
    pub other: Meta,
}

/// Who a message or content is for: the human user or the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user (or the client on the user's behalf).
    User,
    /// The model.
    Assistant,
}

/// Params of a paginated list request (`tools/list`; `PaginatedRequestParams`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginatedRequestParams {
    /// Opaque position from a previous result's `nextCursor`; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_is_an_object_and_accepts_any_object() {
        assert_eq!(serde_json::to_value(Empty {}).unwrap(), json!({}));
        assert_eq!(
            serde_json::from_value::<Empty>(json!({"future": true})).unwrap(),
            Empty {}
        );
    }

    #[test]
    fn request_meta_keeps_other_keys() {
        let v =
            json!({"progressToken": 7, "io.modelcontextprotocol/related-task": {"taskId": "t"}});
        let meta: RequestMeta = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(meta.progress_token, Some(ProgressToken::Number(7)));
        assert_eq!(meta.other.len(), 1);
        assert_eq!(serde_json::to_value(&meta).unwrap(), v);
        assert_eq!(
            serde_json::to_value(RequestMeta::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn progress_token_is_string_or_integer() {
        assert_eq!(
            serde_json::from_value::<ProgressToken>(json!("p")).unwrap(),
            ProgressToken::from("p")
        );
        assert_eq!(
            serde_json::from_value::<ProgressToken>(json!(3)).unwrap(),
            ProgressToken::from(3)
        );
        assert!(serde_json::from_value::<ProgressToken>(json!(1.5)).is_err());
    }
}

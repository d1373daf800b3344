//! `elicitation/create`: the server asks the user for input, in form or URL mode.
//!
//! MCP 2025-11-25, "Elicitation" (`client/elicitation.mdx`); schema `ElicitRequestParams`
//! (`ElicitRequestFormParams` | `ElicitRequestURLParams`), `ElicitResult`. When a tool task
//! needs input, this request carries the related-task `_meta` (T-META-1, T-RES-4); sent as a
//! task itself it carries `task` (T-CAP-1).

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::Meta;
use super::tasks::TaskMetadata;

/// Params of `elicitation/create`, either mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitRequestParams {
    /// What to ask the user.
    pub message: String,
    /// The mode and its own fields (`mode`, `requestedSchema` or `url` + `elicitationId`).
    #[serde(flatten)]
    pub kind: ElicitKind,
    /// Present when the server wants the client to run this as a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskMetadata>,
    /// Extra metadata, e.g. the related task (T-META-1) or a `progressToken`.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ElicitRequestParams {
    /// A form-mode request: `message` and the JSON Schema of the answer (a flat object schema of
    /// primitive properties).
    pub fn form(message: impl Into<String>, requested_schema: Value) -> Self {
        Self {
            message: message.into(),
            kind: ElicitKind::Form { requested_schema },
            task: None,
            meta: None,
        }
    }

    /// A URL-mode request: the user completes the interaction at `url`, out of band.
    pub fn url(
        message: impl Into<String>,
        url: impl Into<String>,
        elicitation_id: impl Into<String>,
    ) -> Self {
        Self {
            message: message.into(),
            kind: ElicitKind::Url {
                url: url.into(),
                elicitation_id: elicitation_id.into(),
            },
            task: None,
            meta: None,
        }
    }
}

/// The mode of an elicitation and the fields only that mode has.
///
/// Form mode is written without `mode` (an absent `mode` means form, so clients older than URL
/// mode understand it); URL mode is written with `"mode": "url"`.
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitKind {
    /// The client shows a form and returns what the user entered.
    Form {
        /// JSON Schema of the answer (`requestedSchema`).
        requested_schema: Value,
    },
    /// The client sends the user to a URL; the answer does not pass through the client.
    Url {
        /// Where to send the user.
        url: String,
        /// Identifies this elicitation in `notifications/elicitation/complete`.
        elicitation_id: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KindOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_schema: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elicitation_id: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KindIn {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    requested_schema: Option<Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    elicitation_id: Option<String>,
}

impl Serialize for ElicitKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let out = match self {
            Self::Form { requested_schema } => KindOut {
                mode: None,
                requested_schema: Some(requested_schema),
                url: None,
                elicitation_id: None,
            },
            Self::Url {
                url,
                elicitation_id,
            } => KindOut {
                mode: Some("url"),
                requested_schema: None,
                url: Some(url),
                elicitation_id: Some(elicitation_id),
            },
        };
        out.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ElicitKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = KindIn::deserialize(d)?;
        match k.mode.as_deref() {
            None | Some("form") => Ok(Self::Form {
                requested_schema: k
                    .requested_schema
                    .ok_or_else(|| de::Error::missing_field("requestedSchema"))?,
            }),
            Some("url") => Ok(Self::Url {
                url: k.url.ok_or_else(|| de::Error::missing_field("url"))?,
                elicitation_id: k
                    .elicitation_id
                    .ok_or_else(|| de::Error::missing_field("elicitationId"))?,
            }),
            Some(other) => Err(de::Error::unknown_variant(other, &["form", "url"])),
        }
    }
}

/// Result of `elicitation/create`: what the user did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitResult {
    /// Whether the user accepted, declined or dismissed the request.
    pub action: ElicitAction,
    /// The answers, when `action` is accept in form mode; values are strings, numbers, booleans
    /// or arrays of strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Meta>,
    /// Extra metadata, e.g. the related task of a task's input request (T-META-1).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ElicitResult {
    /// The user accepted and submitted `content`.
    pub fn accept(content: Meta) -> Self {
        Self {
            action: ElicitAction::Accept,
            content: Some(content),
            meta: None,
        }
    }

    /// The user explicitly said no.
    pub fn decline() -> Self {
        Self {
            action: ElicitAction::Decline,
            content: None,
            meta: None,
        }
    }

    /// The user dismissed the request without choosing.
    pub fn cancel() -> Self {
        Self {
            action: ElicitAction::Cancel,
            content: None,
            meta: None,
        }
    }
}

/// What the user did with an elicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitAction {
    /// Submitted the form (or consented to the URL).
    Accept,
    /// Explicitly refused.
    Decline,
    /// Dismissed without a choice.
    Cancel,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn form_mode_round_trips_without_mode() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        let p = ElicitRequestParams::form("Your name?", schema.clone());
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({"message": "Your name?", "requestedSchema": schema})
        );
        assert_eq!(serde_json::from_value::<ElicitRequestParams>(v).unwrap(), p);
        let explicit: ElicitRequestParams = serde_json::from_value(
            json!({"mode": "form", "message": "m", "requestedSchema": {"type": "object", "properties": {}}}),
        )
        .unwrap();
        assert!(matches!(explicit.kind, ElicitKind::Form { .. }));
    }

    #[test]
    fn url_mode_round_trips_with_mode() {
        let mut p = ElicitRequestParams::url("Sign in", "https://example.com/auth", "e-1");
        p.task = Some(TaskMetadata { ttl: Some(1000) });
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({"message": "Sign in", "mode": "url", "url": "https://example.com/auth",
                   "elicitationId": "e-1", "task": {"ttl": 1000}})
        );
        assert_eq!(serde_json::from_value::<ElicitRequestParams>(v).unwrap(), p);
    }

    #[test]
    fn mode_fields_are_required_and_unknown_modes_rejected() {
        let err = serde_json::from_value::<ElicitRequestParams>(json!({"message": "m"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("requestedSchema"), "{err}");
        let err = serde_json::from_value::<ElicitRequestParams>(
            json!({"message": "m", "mode": "url", "url": "https://x"}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("elicitationId"), "{err}");
        let err =
            serde_json::from_value::<ElicitRequestParams>(json!({"message": "m", "mode": "voice"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown variant `voice`"), "{err}");
    }

    #[test]
    fn elicit_result_actions() {
        let mut content = Meta::new();
        content.insert("name".into(), json!("Ada"));
        assert_eq!(
            serde_json::to_value(ElicitResult::accept(content)).unwrap(),
            json!({"action": "accept", "content": {"name": "Ada"}})
        );
        assert_eq!(
            serde_json::to_value(ElicitResult::decline()).unwrap(),
            json!({"action": "decline"})
        );
        assert_eq!(
            serde_json::from_value::<ElicitResult>(json!({"action": "cancel"})).unwrap(),
            ElicitResult::cancel()
        );
    }
}

//! `sampling/createMessage`: the server asks the client's model for a completion.
//!
//! MCP 2025-11-25, "Sampling" (`client/sampling.mdx`); schema `CreateMessageRequestParams`,
//! `SamplingMessage`, `CreateMessageResult`. Content, model preferences and tool choice are
//! passed through as JSON. Tied to a tool task it carries the related-task `_meta`
//! (T-META-1); sent as a task it carries `task` (T-CAP-1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Meta, Role};
use super::tasks::TaskMetadata;
use super::tools::Tool;

/// Params of `sampling/createMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMessageRequestParams {
    /// The conversation so far.
    pub messages: Vec<SamplingMessage>,
    /// Hints for choosing a model (`ModelPreferences`, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_preferences: Option<Value>,
    /// System prompt the server would like used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Which MCP servers' context to include.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_context: Option<IncludeContext>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Upper bound on generated tokens (a count of tokens).
    pub max_tokens: u64,
    /// Strings that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Provider-specific metadata, passed through (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How the model may use `tools` (`ToolChoice`, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Present when the server wants the client to run this as a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskMetadata>,
    /// Extra metadata, e.g. the related task (T-META-1) or a `progressToken`.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl CreateMessageRequestParams {
    /// A request for at most `max_tokens` tokens continuing `messages`, with nothing else set.
    pub fn new(messages: Vec<SamplingMessage>, max_tokens: u64) -> Self {
        Self {
            messages,
            model_preferences: None,
            system_prompt: None,
            include_context: None,
            temperature: None,
            max_tokens,
            stop_sequences: None,
            metadata: None,
            tools: None,
            tool_choice: None,
            task: None,
            meta: None,
        }
    }
}

/// `includeContext` of a sampling request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IncludeContext {
    /// `"none"`: no MCP context.
    None,
    /// `"thisServer"`: context from the requesting server.
    ThisServer,
    /// `"allServers"`: context from every connected server.
    AllServers,
}

/// One message of a sampling conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplingMessage {
    /// Who said it.
    pub role: Role,
    /// One content block or an array of them (text, image, audio, tool use, tool result),
    /// passed through.
    pub content: Value,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl SamplingMessage {
    /// A message from `role` holding one text block.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: serde_json::json!({"type": "text", "text": text.into()}),
            meta: None,
        }
    }
}

/// Result of `sampling/createMessage` (and of `tasks/result` for a sampling task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMessageResult {
    /// Normally [`Role::Assistant`].
    pub role: Role,
    /// One content block or an array of them, passed through.
    pub content: Value,
    /// The model that answered.
    pub model: String,
    /// Why generation stopped (`endTurn`, `stopSequence`, `maxTokens`, `toolUse`, or other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Extra metadata, e.g. the related task (T-META-1).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_round_trips_with_camel_case() {
        let mut p =
            CreateMessageRequestParams::new(vec![SamplingMessage::text(Role::User, "hi")], 100);
        p.include_context = Some(IncludeContext::ThisServer);
        p.system_prompt = Some("be brief".into());
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                   "systemPrompt": "be brief", "includeContext": "thisServer", "maxTokens": 100})
        );
        assert_eq!(
            serde_json::from_value::<CreateMessageRequestParams>(v).unwrap(),
            p
        );
        assert!(
            serde_json::from_value::<CreateMessageRequestParams>(json!({"messages": []}))
                .unwrap_err()
                .to_string()
                .contains("maxTokens")
        );
    }

    #[test]
    fn result_round_trips() {
        let v = json!({"role": "assistant", "content": [{"type": "text", "text": "ok"}],
                       "model": "m-1", "stopReason": "endTurn"});
        let r: CreateMessageResult = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.role, Role::Assistant);
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }
}

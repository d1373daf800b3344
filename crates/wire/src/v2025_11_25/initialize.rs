//! `initialize`: who each side is and what it supports, including task support.
//!
//! MCP 2025-11-25, "Lifecycle" (`basic/lifecycle.mdx`) and "Tasks", section "Capabilities";
//! schema `InitializeRequestParams`, `InitializeResult`, `Implementation`,
//! `ClientCapabilities`, `ServerCapabilities`. Requirements T-CAP-1 to T-CAP-4.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Empty, Meta};

/// Name and version of a client or server implementation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
    /// Programmatic name.
    pub name: String,
    /// Version string.
    pub version: String,
    /// Name for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Home page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    /// Icons for display (`Icon` objects, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Value>>,
}

impl Implementation {
    /// An implementation with only `name` and `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            title: None,
            website_url: None,
            icons: None,
        }
    }
}

/// Params of `initialize`, sent by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeRequestParams {
    /// The newest protocol version the client supports.
    pub protocol_version: String,
    /// What the client supports.
    pub capabilities: ClientCapabilities,
    /// Who the client is.
    pub client_info: Implementation,
}

/// Result of `initialize`, sent by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The protocol version the session will use.
    pub protocol_version: String,
    /// What the server supports.
    pub capabilities: ServerCapabilities,
    /// Who the server is.
    pub server_info: Implementation,
    /// How to use the server, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// What a client supports. An absent member means "not supported".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCapabilities {
    /// Non-standard capabilities, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<Meta>,
    /// The client can list roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<RootsCapability>,
    /// The client can answer `sampling/createMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingCapability>,
    /// The client can answer `elicitation/create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elicitation: Option<ElicitationCapability>,
    /// The client accepts task-augmented requests (T-CAP-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<ClientTasksCapability>,
}

/// `capabilities.roots` of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootsCapability {
    /// The client sends `notifications/roots/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_changed: Option<bool>,
}

/// `capabilities.sampling` of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplingCapability {
    /// The client honours `includeContext` other than `"none"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Empty>,
    /// The client supports `tools` and `toolChoice` in sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Empty>,
}

/// `capabilities.elicitation` of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitationCapability {
    /// Form-mode elicitation is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Empty>,
    /// URL-mode elicitation is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Empty>,
}

impl ElicitationCapability {
    /// Form mode is supported: `form` is present, or the object is empty (`"elicitation": {}`
    /// means form mode, for clients older than URL mode).
    pub fn form_supported(&self) -> bool {
        self.form.is_some() || self.url.is_none()
    }

    /// URL mode is supported.
    pub fn url_supported(&self) -> bool {
        self.url.is_some()
    }
}

/// `capabilities.tasks` of a client: which server-to-client requests may be tasks (T-CAP-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTasksCapability {
    /// The client answers `tasks/list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Empty>,
    /// The client answers `tasks/cancel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<Empty>,
    /// Request types the client runs as tasks; exhaustive (T-CAP-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ClientTaskRequests>,
}

impl ClientTasksCapability {
    /// `sampling/createMessage` may be sent as a task.
    pub fn sampling_create_message_supported(&self) -> bool {
        self.requests
            .and_then(|r| r.sampling)
            .and_then(|s| s.create_message)
            .is_some()
    }

    /// `elicitation/create` may be sent as a task.
    pub fn elicitation_create_supported(&self) -> bool {
        self.requests
            .and_then(|r| r.elicitation)
            .and_then(|e| e.create)
            .is_some()
    }
}

/// `capabilities.tasks.requests` of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTaskRequests {
    /// Sampling requests that may be tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<ClientTaskSamplingRequests>,
    /// Elicitation requests that may be tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elicitation: Option<ClientTaskElicitationRequests>,
}

/// `capabilities.tasks.requests.sampling` of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTaskSamplingRequests {
    /// `sampling/createMessage` may be a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_message: Option<Empty>,
}

/// `capabilities.tasks.requests.elicitation` of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTaskElicitationRequests {
    /// `elicitation/create` may be a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<Empty>,
}

/// What a server supports. An absent member means "not supported".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCapabilities {
    /// Non-standard capabilities, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<Meta>,
    /// The server sends `notifications/message` and accepts `logging/setLevel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Empty>,
    /// The server answers `completion/complete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<Empty>,
    /// The server offers prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<PromptsCapability>,
    /// The server offers resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesCapability>,
    /// The server offers tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolsCapability>,
    /// The server accepts task-augmented requests (T-CAP-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<ServerTasksCapability>,
}

/// `capabilities.prompts` of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptsCapability {
    /// The server sends `notifications/prompts/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_changed: Option<bool>,
}

/// `capabilities.resources` of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesCapability {
    /// The server sends `notifications/resources/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_changed: Option<bool>,
    /// The server accepts `resources/subscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<bool>,
}

/// `capabilities.tools` of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolsCapability {
    /// The server sends `notifications/tools/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_changed: Option<bool>,
}

/// `capabilities.tasks` of a server: which client-to-server requests may be tasks (T-CAP-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTasksCapability {
    /// The server answers `tasks/list`; leave out when requestors can't be told apart (T-LIST-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Empty>,
    /// The server answers `tasks/cancel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<Empty>,
    /// Request types the server runs as tasks; exhaustive (T-CAP-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ServerTaskRequests>,
}

impl ServerTasksCapability {
    /// `tools/call` may be sent as a task.
    pub fn tools_call_supported(&self) -> bool {
        self.requests
            .and_then(|r| r.tools)
            .and_then(|t| t.call)
            .is_some()
    }
}

/// `capabilities.tasks.requests` of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTaskRequests {
    /// Tool requests that may be tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ServerTaskToolRequests>,
}

/// `capabilities.tasks.requests.tools` of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTaskToolRequests {
    /// `tools/call` may be a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Empty>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// T-CAP-1: the server's tasks capability has the schema's shape.
    #[test]
    fn server_tasks_capability_shape() {
        let caps = ServerTasksCapability {
            list: Some(Empty {}),
            cancel: Some(Empty {}),
            requests: Some(ServerTaskRequests {
                tools: Some(ServerTaskToolRequests {
                    call: Some(Empty {}),
                }),
            }),
        };
        assert_eq!(
            serde_json::to_value(caps).unwrap(),
            json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
        );
        assert!(caps.tools_call_supported());
        assert!(!ServerTasksCapability::default().tools_call_supported());
        let partial: ServerTasksCapability =
            serde_json::from_value(json!({"requests": {"tools": {}}})).unwrap();
        assert!(!partial.tools_call_supported());
    }

    /// T-CAP-1: the client's tasks capability has the schema's shape.
    #[test]
    fn client_tasks_capability_shape() {
        let caps: ClientTasksCapability = serde_json::from_value(json!({
            "cancel": {},
            "requests": {"sampling": {"createMessage": {}}, "elicitation": {}}
        }))
        .unwrap();
        assert!(caps.sampling_create_message_supported());
        assert!(!caps.elicitation_create_supported());
        assert!(caps.list.is_none() && caps.cancel.is_some());
        let caps: ClientTasksCapability =
            serde_json::from_value(json!({"requests": {"elicitation": {"create": {}}}})).unwrap();
        assert!(caps.elicitation_create_supported());
        assert!(!caps.sampling_create_message_supported());
    }

    #[test]
    fn empty_elicitation_capability_means_form() {
        let e: ElicitationCapability = serde_json::from_value(json!({})).unwrap();
        assert!(e.form_supported() && !e.url_supported());
        let e: ElicitationCapability = serde_json::from_value(json!({"url": {}})).unwrap();
        assert!(!e.form_supported() && e.url_supported());
    }

    #[test]
    fn default_capabilities_are_empty_objects() {
        assert_eq!(
            serde_json::to_value(ServerCapabilities::default()).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(ClientCapabilities::default()).unwrap(),
            json!({})
        );
    }
}

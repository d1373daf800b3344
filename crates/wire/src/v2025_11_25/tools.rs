//! Tools: listing them, their task support, calling them, and their results.
//!
//! MCP 2025-11-25, "Tools" (`server/tools.mdx`) and "Tasks", section "Tool-Level Negotiation";
//! schema `Tool`, `ToolExecution`, `ListToolsResult`, `CallToolRequestParams`,
//! `CallToolResult`. Requirements T-CAP-5, T-NEW-1.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Meta, RequestMeta};
use super::content::ContentBlock;
use super::tasks::TaskMetadata;

/// A tool the server offers, as listed by `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Programmatic name, used in `tools/call`.
    pub name: String,
    /// Name for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of `arguments`; an object schema (`"type": "object"`).
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`, when the tool returns structured output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints (`ToolAnnotations`, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// How the tool may be run, including task support (T-CAP-5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ToolExecution>,
    /// Icons for display (`Icon` objects, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Value>>,
    /// Extra metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl Tool {
    /// The tool's task support, reading an absent `execution.taskSupport` as
    /// [`TaskSupport::Forbidden`] (T-CAP-5).
    pub fn task_support(&self) -> TaskSupport {
        self.execution
            .and_then(|e| e.task_support)
            .unwrap_or_default()
    }
}

/// `Tool.execution`: how a tool may be run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolExecution {
    /// Whether `tools/call` for this tool may or must be a task; absent means forbidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_support: Option<TaskSupport>,
}

/// Whether a tool may be called as a task (T-CAP-5).
///
/// Absent means [`TaskSupport::Forbidden`], which is also the `Default`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Never a task: a task-augmented call gets -32601.
    #[default]
    Forbidden,
    /// A task when the requestor asks for one, a plain call otherwise.
    Optional,
    /// Always a task: a plain call gets -32601.
    Required,
}

/// Result of `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListToolsResult {
    /// This page of tools.
    pub tools: Vec<Tool>,
    /// Opaque cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Params of `tools/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolRequestParams {
    /// The tool to call.
    pub name: String,
    /// The tool's arguments, checked against its `inputSchema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Meta>,
    /// Present when the requestor wants a task instead of the result (T-NEW-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskMetadata>,
    /// Progress token and other metadata.
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<RequestMeta>,
}

/// Result of `tools/call` (and of `tasks/result` for a tool task, T-RES-1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// What the tool returned, for the model.
    pub content: Vec<ContentBlock>,
    /// Structured output matching the tool's `outputSchema`; an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// `true` when the tool failed; the content then says why. A task with such a result is
    /// `failed` (T-LIFE-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Extra metadata, e.g. the related task on a `tasks/result` answer (T-RES-3).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl CallToolResult {
    /// A successful result holding one text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(text)],
            structured_content: None,
            is_error: None,
            meta: None,
        }
    }

    /// A tool failure (`isError: true`) holding one text block that says why.
    pub fn error_text(text: impl Into<String>) -> Self {
        Self {
            is_error: Some(true),
            ..Self::text(text)
        }
    }

    /// Whether this result reports a tool failure.
    pub fn is_error(&self) -> bool {
        self.is_error == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// T-CAP-5: an absent taskSupport means forbidden.
    #[test]
    fn task_support_defaults_to_forbidden() {
        assert_eq!(TaskSupport::default(), TaskSupport::Forbidden);
        let tool: Tool =
            serde_json::from_value(json!({"name": "t", "inputSchema": {"type": "object"}}))
                .unwrap();
        assert_eq!(tool.task_support(), TaskSupport::Forbidden);
        let tool: Tool = serde_json::from_value(json!({
            "name": "t", "inputSchema": {"type": "object"}, "execution": {}
        }))
        .unwrap();
        assert_eq!(tool.task_support(), TaskSupport::Forbidden);
        for (s, ts) in [
            ("forbidden", TaskSupport::Forbidden),
            ("optional", TaskSupport::Optional),
            ("required", TaskSupport::Required),
        ] {
            let tool: Tool = serde_json::from_value(json!({
                "name": "t", "inputSchema": {"type": "object"}, "execution": {"taskSupport": s}
            }))
            .unwrap();
            assert_eq!(tool.task_support(), ts);
            assert_eq!(serde_json::to_value(ts).unwrap(), json!(s));
        }
    }

    #[test]
    fn call_tool_result_constructors() {
        assert_eq!(
            serde_json::to_value(CallToolResult::text("ok")).unwrap(),
            json!({"content": [{"type": "text", "text": "ok"}]})
        );
        let err = CallToolResult::error_text("bad");
        assert!(err.is_error());
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"content": [{"type": "text", "text": "bad"}], "isError": true})
        );
    }

    #[test]
    fn call_tool_params_read_task_and_progress_token() {
        let p: CallToolRequestParams = serde_json::from_value(json!({
            "name": "slow", "arguments": {"n": 1}, "task": {"ttl": 60000},
            "_meta": {"progressToken": "p1"}
        }))
        .unwrap();
        assert_eq!(p.task, Some(TaskMetadata { ttl: Some(60_000) }));
        assert_eq!(
            p.meta.unwrap().progress_token,
            Some(super::super::ProgressToken::from("p1"))
        );
        assert_eq!(p.arguments.unwrap()["n"], json!(1));
    }
}

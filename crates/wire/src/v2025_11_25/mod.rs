//! The MCP 2025-11-25 types our runtime sends or accepts, with the schema's names.
//!
//! Source: MCP 2025-11-25, `schema.json` (`$defs`) and "Tasks" (`basic/utilities/tasks.mdx`,
//! SEP-1686); requirements T-* in `spec/REQUIREMENTS.md`. Every type here is checked against its
//! `$defs` entry by `tests/schema.rs`.
//!
//! Conventions:
//! - Fields are camelCase on the wire. Optional fields are `Option`s and are omitted when `None`;
//!   the one exception is [`Task::ttl`], which is required and nullable (`null` = unlimited).
//! - Unknown fields are ignored on input. Where the schema has `_meta`, the field is `meta`.
//! - Parts the runtime only passes through (JSON Schemas, sampling content, model preferences)
//!   stay [`serde_json::Value`]s.
//! - Integers name their unit in their docs (`ttl` is milliseconds).
//!
//! | Topic | Types |
//! |---|---|
//! | lifecycle | [`InitializeRequestParams`], [`InitializeResult`], [`ClientCapabilities`], [`ServerCapabilities`], [`Implementation`] |
//! | tools | [`Tool`], [`TaskSupport`], [`ListToolsResult`], [`CallToolRequestParams`], [`CallToolResult`] |
//! | content | [`ContentBlock`] and its members, [`ResourceContents`], [`Annotations`] |
//! | tasks | [`Task`], [`TaskStatus`], [`TaskMetadata`], [`CreateTaskResult`], `tasks/*` params and results, [`TaskStatusNotificationParams`] |
//! | elicitation | [`ElicitRequestParams`], [`ElicitResult`] |
//! | sampling | [`CreateMessageRequestParams`], [`CreateMessageResult`], [`SamplingMessage`] |
//! | notifications | [`ProgressNotificationParams`], [`LoggingMessageNotificationParams`], [`CancelledNotificationParams`] |

mod common;
mod content;
mod elicitation;
mod initialize;
mod notifications;
mod sampling;
mod tasks;
mod tools;

pub use crate::method::{LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};
pub use common::{Empty, Meta, PaginatedRequestParams, ProgressToken, RequestMeta, Role};
pub use content::{
    Annotations, AudioContent, BlobResourceContents, ContentBlock, EmbeddedResource, ImageContent,
    ResourceContents, ResourceLink, TextContent, TextResourceContents,
};
pub use elicitation::{ElicitAction, ElicitKind, ElicitRequestParams, ElicitResult};
pub use initialize::{
    ClientCapabilities, ClientTaskElicitationRequests, ClientTaskRequests,
    ClientTaskSamplingRequests, ClientTasksCapability, ElicitationCapability, Implementation,
    InitializeRequestParams, InitializeResult, PromptsCapability, ResourcesCapability,
    RootsCapability, SamplingCapability, ServerCapabilities, ServerTaskRequests,
    ServerTaskToolRequests, ServerTasksCapability, ToolsCapability,
};
pub use notifications::{
    CancelledNotificationParams, LoggingLevel, LoggingMessageNotificationParams,
    ProgressNotificationParams, SetLevelRequestParams,
};
pub use sampling::{
    CreateMessageRequestParams, CreateMessageResult, IncludeContext, SamplingMessage,
};
pub use tasks::{
    CancelTaskRequestParams, CancelTaskResult, CreateTaskResult, GetTaskPayloadRequestParams,
    GetTaskRequestParams, GetTaskResult, ListTasksRequestParams, ListTasksResult, Task,
    TaskMetadata, TaskStatus, TaskStatusNotificationParams,
};
pub use tools::{
    CallToolRequestParams, CallToolResult, ListToolsResult, TaskSupport, Tool, ToolExecution,
};

//! The MCP 2026-07-28 types our runtime sends or accepts: the stateless base protocol as far as
//! a tasks server needs it ([`base`], [`mrtr`], [`subscriptions`], [`headers`]) and the tasks
//! extension `io.modelcontextprotocol/tasks` (SEP-2663, [`tasks`]).
//!
//! Source: MCP 2026-07-28 `schema.json` and `docs/specification/2026-07-28/`, and the extension's
//! `specification/2026-07-28/tasks.md` with its schema; requirements B-* and X-* in
//! `spec/REQUIREMENTS.md`. `tests/schema.rs` checks what we emit against both schemas.
//!
//! The era has no session: every request carries its protocol version and the client's
//! capabilities in `params._meta` ([`RequestMetaObject`]), and every result names its kind in
//! `resultType` ([`ResultType`]). Content, tool results, elicitation and sampling params keep
//! the 2025-11-25 shapes, so those types are reused from [`crate::v2025_11_25`].
//!
//! ```
//! use mcp_tasks_wire::v2026_07_28::{RequestMetaObject, PROTOCOL_VERSION};
//! use serde_json::json;
//!
//! let params = json!({"name": "greet", "_meta": {
//!     "io.modelcontextprotocol/protocolVersion": "2026-07-28",
//!     "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}
//! }});
//! let meta = RequestMetaObject::from_params(Some(&params))?.expect("a 2026-07-28 request");
//! assert_eq!(meta.protocol_version, PROTOCOL_VERSION);
//! assert!(meta.client_capabilities.has_tasks_extension());
//! # Ok::<(), mcp_tasks_wire::jsonrpc::ErrorObject>(())
//! ```

pub mod base;
pub mod headers;
pub mod mrtr;
pub mod subscriptions;
pub mod tasks;

pub use base::{
    header_mismatch, missing_capability, unsupported_version, CacheScope, ClientCapabilities,
    DiscoverResult, RequestMetaObject, ResultType, ServerCapabilities, CLIENT_CAPABILITIES,
    CLIENT_INFO, LOG_LEVEL, PROTOCOL_VERSION, PROTOCOL_VERSION_META, SERVER_INFO,
    STATELESS_VERSIONS, SUPPORTED_VERSIONS,
};
pub use mrtr::{InputRequest, InputRequests, InputRequiredResult, InputResponses};
pub use subscriptions::{
    SubscriptionFilter, SubscriptionsAcknowledgedParams, SubscriptionsListenParams, SUBSCRIPTION_ID,
};
pub use tasks::{
    CreateTaskResult, DetailedTask, Task, TaskIdParams, TaskStatusNotificationParams,
    UpdateTaskParams, TASKS_EXTENSION,
};

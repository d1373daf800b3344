//! Serde types for the messages of the Model Context Protocol that `mcp-tasks` sends or accepts:
//! JSON-RPC 2.0 framing ([`jsonrpc`]), method names ([`method`]), the reserved `_meta` keys of
//! tasks ([`meta`]), and the MCP 2025-11-25 types ([`v2025_11_25`]), including Tasks
//! (SEP-1686).
//!
//! What this crate is not: it does no I/O and has no tokio. It does not know transports,
//! sessions or task storage; it only turns bytes and [`serde_json::Value`]s into typed messages
//! and back. Types keep the schema's names (`Task`, `CreateTaskResult`) and its camelCase
//! spelling, and are checked against the official JSON Schema by `tests/schema.rs`.
//!
//! ```
//! use mcp_tasks_wire::jsonrpc::{self, Message};
//! use mcp_tasks_wire::method;
//! use mcp_tasks_wire::v2025_11_25::GetTaskRequestParams;
//!
//! let line = br#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t-1"}}"#;
//! let Message::Request(req) = jsonrpc::decode(line)? else {
//!     panic!("expected a request");
//! };
//! assert_eq!(req.method, method::TASKS_GET);
//! let params: GetTaskRequestParams = jsonrpc::params_as(req.params)?;
//! assert_eq!(params.task_id, "t-1");
//!
//! // Syntax errors answer -32700, shape errors -32600 with the id when it was readable.
//! let err = jsonrpc::decode(br#"{"jsonrpc":"1.0","id":2,"method":"ping"}"#).unwrap_err();
//! assert_eq!(err.to_error_object().code, jsonrpc::ErrorCode::INVALID_REQUEST);
//! assert_eq!(err.id(), Some(jsonrpc::RequestId::Number(2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod jsonrpc;
pub mod meta;
pub mod method;
pub mod v2025_11_25;
pub mod v2026_07_28;

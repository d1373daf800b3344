//! MCP sessions over stdio and Streamable HTTP, serving tasks from the engine.
//!
//! A [`Server`](server::Server) holds tools and an [`Engine`](mcp_tasks_engine::Engine); a
//! transport feeds it each session's messages. Task-augmented `tools/call` answers at once with
//! a task; `tasks/get|result|list|cancel` follow it; a tool that asks the user a question from
//! inside a task moves it to `input_required` and the question travels over the requestor's
//! `tasks/result` exchange.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcp_tasks_engine::{Engine, EngineConfig, MemoryStore};
//! use mcp_tasks_runtime::server::{Server, Tools};
//! use mcp_tasks_runtime::transport::stdio;
//! use mcp_tasks_wire::v2025_11_25::{CallToolResult, Implementation, TaskSupport, Tool, ToolExecution};
//! use serde_json::json;
//!
//! #[derive(serde::Deserialize)]
//! struct Args { text: String }
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let tool: Tool = serde_json::from_value(json!({
//!     "name": "shout",
//!     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
//!     "execution": {"taskSupport": "optional"}
//! })).unwrap();
//! let tools = Tools::new().add(tool, |args: Args, _cx| async move {
//!     Ok(CallToolResult::text(args.text.to_uppercase()))
//! });
//! let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
//! let server = Server::new(engine, tools, Implementation::new("shouter", "1.0.0"));
//! stdio::serve(server, tokio::io::stdin(), tokio::io::stdout(), stdio::DEFAULT_MAX_LINE_BYTES).await
//! # }
//! ```
//!
//! This crate does not parse command lines or pick stores: the `mcp-tasks` binary does.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod client;
pub mod dialect;
pub mod error;
pub mod peer;
pub mod server;
pub mod session;
pub mod transport;

//! MCP sessions over stdio and Streamable HTTP, serving tasks from the engine.
//!
//! A [`Server`] holds tools and an [`Engine`](mcp_tasks_engine::Engine); a
//! transport feeds it each session's messages. Task-augmented `tools/call` answers at once with
//! a task; `tasks/get|result|list|cancel` follow it; a tool that asks the user a question from
//! inside a task moves it to `input_required` and the question travels over the requestor's
//! `tasks/result` exchange.
//!
//! A durable task server, from this crate alone (plus tokio and serde): the tool's
//! `inputSchema` comes from its argument type, and the [builder](server::ServerBuilder) opens
//! the store from its URL and owns the lifecycle (orphan recovery, the TTL sweeper, leases,
//! graceful shutdown on Ctrl-C or SIGTERM).
//!
//! ```no_run
//! use std::time::Duration;
//! use mcp_tasks_runtime::server::{Server, ToolContext, ToolDef, ToolResult};
//! use mcp_tasks_runtime::{CallToolResult, JsonSchema, TaskSupport};
//!
//! #[derive(serde::Deserialize, JsonSchema)]
//! #[schemars(crate = "mcp_tasks_runtime::schemars")]
//! struct Shout {
//!     /// The text to shout.
//!     text: String,
//!     /// How long to think first, in milliseconds.
//!     #[schemars(range(max = 60_000))]
//!     delay_ms: Option<u64>,
//! }
//!
//! async fn shout(args: Shout, _cx: ToolContext) -> ToolResult {
//!     tokio::time::sleep(Duration::from_millis(args.delay_ms.unwrap_or(0))).await;
//!     Ok(CallToolResult::text(args.text.to_uppercase()))
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! Server::builder("shouter", "1.0.0")
//!     .store_url("sqlite:shouter.db")
//!     .tool(
//!         ToolDef::new("shout")
//!             .description("Shouts the text back, after a while.")
//!             .task_support(TaskSupport::Optional),
//!         shout,
//!     )
//!     .build()
//!     .await?
//!     .serve_stdio() // or .serve_http("127.0.0.1:8080".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The lower layers stay open for what the builder does not cover: [`server::Server::new`]
//! over an engine of your own, [`transport::stdio::serve`] and [`transport::http::router`] (an
//! `axum::Router` to mount in a larger app), and [`client::ClientBuilder`] for the other end.
//!
//! Operators get their own listener, [`admin`] (health, metrics, every owner's tasks, the web
//! dashboard), from [`ServerBuilder::admin`](server::ServerBuilder::admin).
//!
//! This crate does not parse command lines: the `mcp-tasks` binary does, and calls the builder.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod admin;
pub mod client;
pub mod dialect;
pub mod error;
pub mod ext_dialect;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod peer;
pub mod server;
pub mod session;
pub mod transport;

pub use mcp_tasks_engine as engine;
pub use mcp_tasks_engine::{EngineConfig, StoreUrl};
pub use mcp_tasks_wire as wire;
pub use mcp_tasks_wire::v2025_11_25::{
    CallToolResult, ElicitAction, ElicitRequestParams, ElicitResult, Implementation, LoggingLevel,
    TaskSupport,
};
pub use schemars::{self, JsonSchema};
pub use server::{Server, ServerBuilder, ToolContext, ToolDef, ToolResult, Tools};

//! The MCP task engine: durable task records, their state machine, stores, waiters and the
//! executor that runs a task's work.
//!
//! It knows nothing of JSON-RPC framing or transports: the runtime crate turns its records into
//! either wire dialect (MCP 2025-11-25 tasks, the 2026-07-28 tasks extension).
//!
//! ```
//! use std::sync::Arc;
//! use mcp_tasks_engine::{CreateTask, Engine, EngineConfig, MemoryStore, Outcome, RequestKind, Requestor};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_tasks_engine::Error> {
//! let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
//! let me = Requestor::anonymous("session-1");
//! let task = engine
//!     .create(CreateTask {
//!         requestor: me.clone(),
//!         kind: RequestKind::ToolsCall,
//!         name: Some("add".into()),
//!         params: json!({"name": "add", "arguments": {"a": 1, "b": 2}}),
//!         ttl_ms: Some(60_000),
//!         progress_token: None,
//!     })
//!     .await?;
//! engine.start(&task, |_ctx| async { Outcome::Completed(json!({"content": [{"type": "text", "text": "3"}]})) });
//! let done = engine.wait_terminal(&me, &task.id).await?;
//! assert_eq!(done.status().as_str(), "completed");
//! # Ok(()) }
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`task`] | the record, ids, requestors, the state machine and mailbox |
//! | [`store`] | the [`TaskStore`] seam, [`MemoryStore`], and [`StoreUrl`] to open any store from its URL |
//! | [`history`] | a task's durable history: [`TaskEvent`], [`EventKind`] |
//! | [`conformance`] | the suite every store passes |

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod admin;
mod audit;
mod clock;
mod config;
pub mod conformance;
mod cursor;
mod engine;
mod error;
mod executor;
pub mod history;
mod metrics;
mod progress;
mod quota;
pub mod store;
pub mod task;
mod watch;

pub use admin::{Admin, AdminFilter, AdminPage, AdminTask, HISTORY_PAGE};
pub use audit::{AuditEvent, AUDIT_TARGET};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, EngineConfig, Limits, MIN_TTL};
pub use cursor::Position;
pub use engine::{CreateTask, Engine, Page, Recovered};
pub use error::{Error, Result};
pub use executor::TaskContext;
pub use history::{EventKind, TaskEvent};
pub use metrics::{EngineMetrics, Metered};
pub use store::{
    AdminQuery, Change, ChangeEvent, ChangeFeed, ChangeSender, Lease, ListQuery, MemoryStore,
    OpenOptions, OwnerFilter, StoreUrl, StoreUrlError, TaskCount, TaskStore, UnfinishedQuery,
};
#[cfg(feature = "postgres")]
pub use store::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use store::{SqliteOptions, SqliteStore, Synchronous, WriterStats};
pub use task::{
    Failure, InputRequest, NewTask, Outcome, Owner, Recovery, RequestKind, Requestor, RpcError,
    TaskId, TaskRecord, TaskState, TaskStatus, Transition,
};
pub use watch::Watching;

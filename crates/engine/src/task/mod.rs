//! The task record and the pieces it is built from: identifiers, the requestor that owns a task,
//! the status state machine, and the input-request mailbox.
//!
//! One record serves both wire dialects (MCP 2025-11-25 tasks and the 2026-07-28 tasks
//! extension); the runtime's dialect codecs turn it into their own `Task` shapes.

mod id;
mod record;
mod requestor;
mod state;

pub use id::TaskId;
pub use record::{InputRequest, NewTask, RequestKind, TaskRecord};
pub use requestor::{Owner, Requestor};
pub use state::{Failure, Outcome, Recovery, RpcError, TaskState, TaskStatus, Transition};

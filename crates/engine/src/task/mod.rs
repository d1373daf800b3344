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

/// Refuses a task whose owner, session or tool name holds a NUL byte, on every store alike
/// ([`crate::Error::NulByte`]): PostgreSQL's text columns cannot hold one, and a task one store
/// keeps and another refuses would make the stores disagree. Whatever else a task carries
/// (arguments, results, status messages, input keys) is kept as JSON, where a NUL byte is the
/// escape `\u0000`, so it needs no check.
pub(crate) fn storable(requestor: &Requestor, name: Option<&str>) -> crate::Result<()> {
    let fields = [
        ("owner", requestor.owner.as_ref().map(Owner::as_str)),
        ("session", requestor.session.as_deref()),
        ("tool name", name),
    ];
    match fields
        .into_iter()
        .find(|(_, value)| value.is_some_and(|v| v.contains('\0')))
    {
        Some((field, _)) => Err(crate::Error::NulByte { field }),
        None => Ok(()),
    }
}

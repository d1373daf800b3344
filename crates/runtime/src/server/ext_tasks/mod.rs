//! The tasks extension `io.modelcontextprotocol/tasks` (MCP 2026-07-28, SEP-2663): `tasks/get`,
//! `tasks/update`, `tasks/cancel` and the task notifications of `subscriptions/listen`, one
//! file each, over the same engine, store and mailbox as the 2025-11-25 methods in
//! [`super::tasks`]; only the codec ([`crate::ext_dialect`]) differs.
//!
//! Every method here answers -32021 to a request that did not declare the extension in its
//! own `_meta` capabilities, naming what to declare, before looking at its params.

pub(crate) mod cancel;
pub(crate) mod get;
pub(crate) mod listen;
pub(crate) mod update;

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2026_07_28::{missing_capability, CLIENT_CAPABILITIES, TASKS_EXTENSION};
use serde_json::json;

use super::era::RequestContext;

/// Refuses `what` to a request that did not declare the tasks extension.
///
/// # Errors
///
/// -32021 with `data.requiredCapabilities = {"extensions": {"io.modelcontextprotocol/tasks": {}}}`.
pub(crate) fn require_extension(cx: &RequestContext, what: &str) -> Result<(), ErrorObject> {
    if cx.meta.client_capabilities.has_tasks_extension() {
        return Ok(());
    }
    Err(missing_capability(
        format!(
            "{what} belongs to the tasks extension: declare it on the request with \
             params._meta[\"{CLIENT_CAPABILITIES}\"].extensions[\"{TASKS_EXTENSION}\"] = {{}}"
        ),
        json!({"extensions": {TASKS_EXTENSION: {}}}),
    ))
}

//! `initialize`: version negotiation and capabilities (T-CAP-1, T-CAP-2, T-LIST-3).
//!
//! `logging` is declared for every version: tools log through
//! [`ToolContext::log`](super::ToolContext::log), and MCP 2025-11-25 ("Logging") requires the
//! capability of a server that emits `notifications/message`.
//!
//! Tasks are a utility of MCP 2025-11-25: a session that negotiated an older version gets no
//! `capabilities.tasks`, and the router answers its `tasks/*` requests as unknown methods.

use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::method::{has_tasks, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};
use mcp_tasks_wire::v2025_11_25::{
    Empty, InitializeRequestParams, InitializeResult, ServerCapabilities, ServerTaskRequests,
    ServerTaskToolRequests, ServerTasksCapability, ToolsCapability,
};
use serde_json::Value;

use super::Server;
use crate::session::{PeerInfo, Session};

pub(super) fn handle(
    server: &Arc<Server>,
    session: &Session,
    params: Option<Value>,
) -> Result<Value, ErrorObject> {
    let p: InitializeRequestParams = params_as(params)?;
    let version = if SUPPORTED_PROTOCOL_VERSIONS.contains(&p.protocol_version.as_str()) {
        p.protocol_version.clone()
    } else {
        LATEST_PROTOCOL_VERSION.to_owned()
    };
    session.set_peer_info(PeerInfo {
        protocol_version: Some(version.clone()),
        capabilities: p.capabilities,
    });
    let result = InitializeResult {
        capabilities: capabilities(has_tasks(&version)),
        protocol_version: version,
        server_info: server.info.clone(),
        instructions: server.instructions.clone(),
    };
    let mut result = super::to_value(&result)?;
    if let Some(p) = server.passthrough() {
        super::passthrough::merge_capabilities(&mut result["capabilities"], &p.capabilities());
    }
    Ok(result)
}

/// We declare `tasks.list` because sessions tell anonymous requestors apart: each sees the
/// tasks it created (T-LIST-3, T-SEC-2). `tasks.requests` lists `tools/call` only, and is
/// exhaustive (T-CAP-2). Without `tasks` (an older protocol version) the capability is absent.
fn capabilities(tasks: bool) -> ServerCapabilities {
    ServerCapabilities {
        logging: Some(Empty {}),
        tools: Some(ToolsCapability {
            list_changed: Some(false),
        }),
        tasks: tasks.then_some(ServerTasksCapability {
            list: Some(Empty {}),
            cancel: Some(Empty {}),
            requests: Some(ServerTaskRequests {
                tools: Some(ServerTaskToolRequests {
                    call: Some(Empty {}),
                }),
            }),
        }),
        ..ServerCapabilities::default()
    }
}

/// Whether `session` may use tasks: it negotiated 2025-11-25 or later. A session that has not
/// initialized yet keeps the default of this server's own version, so a peer that skips
/// `initialize` (allowed on stdio by lenient clients) is not refused what it would have been
/// offered.
pub(in crate::server) fn session_has_tasks(session: &Session) -> bool {
    session
        .peer_info()
        .protocol_version
        .as_deref()
        .is_none_or(has_tasks)
}

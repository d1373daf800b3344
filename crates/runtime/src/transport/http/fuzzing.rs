//! The Streamable HTTP half of [`crate::fuzzing`]: the header checks of the stateless era.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use mcp_tasks_wire::jsonrpc::{ErrorObject, Request};
use mcp_tasks_wire::v2025_11_25::Tool;
use mcp_tasks_wire::v2026_07_28::RequestMetaObject;
use serde_json::Value;

use super::param_headers::ParamHeaders;
use super::stateless;

/// The header map a request would carry; pairs that are not a valid name or value are dropped,
/// as no HTTP parser would hand them on.
fn header_map(headers: &[(Vec<u8>, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

/// Checks the `Mcp-Param-*` headers of a call of `tools[tool]` with `arguments`, as the
/// stateless endpoint does.
///
/// # Errors
///
/// -32020 naming the header that is missing, malformed or differs from the body.
pub fn check_param_headers(
    tools: &[Tool],
    headers: &[(Vec<u8>, Vec<u8>)],
    tool: &str,
    arguments: Option<&Value>,
) -> Result<(), ErrorObject> {
    ParamHeaders::of(tools).check(&header_map(headers), tool, arguments)
}

/// Checks a stateless request's headers against its body (`MCP-Protocol-Version`,
/// `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) and its version, as the endpoint does before
/// serving it.
///
/// # Errors
///
/// -32020 for a header that is missing, malformed or differs; -32022 for a version this server
/// does not speak.
pub fn check_stateless_headers(
    tools: &[Tool],
    headers: &[(Vec<u8>, Vec<u8>)],
    request: &Request,
    meta: &RequestMetaObject,
) -> Result<(), ErrorObject> {
    stateless::check(
        &header_map(headers),
        request,
        meta,
        &ParamHeaders::of(tools),
    )
}

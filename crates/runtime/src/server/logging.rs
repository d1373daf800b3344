//! `logging/setLevel`: the least severe log message a MCP 2025-11-25 session takes (MCP
//! 2025-11-25, "Logging", `server/utilities/logging.mdx`).
//!
//! The level belongs to the session: every later `notifications/message` of its calls and
//! tasks is filtered by it ([`ToolContext::log`](super::ToolContext::log)). MCP 2026-07-28
//! removed the method: each request asks for its own level in
//! `_meta["io.modelcontextprotocol/logLevel"]`, and the stateless router answers -32601.

use mcp_tasks_wire::jsonrpc::{params_as, ErrorObject};
use mcp_tasks_wire::v2025_11_25::SetLevelRequestParams;
use serde_json::{json, Value};

use crate::session::Session;

/// Sets the session's level and answers the empty result.
///
/// # Errors
///
/// -32602 when `params.level` is missing or not one of the eight syslog levels; the level in
/// force then stays as it was.
pub(super) fn set_level(session: &Session, params: Option<Value>) -> Result<Value, ErrorObject> {
    let p: SetLevelRequestParams = params_as(params)?;
    session.set_log_level(Some(p.level));
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use mcp_tasks_wire::jsonrpc::ErrorCode;
    use mcp_tasks_wire::v2025_11_25::LoggingLevel;

    use super::*;

    /// The level set is the session's, and the answer is `{}` (the scenario
    /// `logging-set-level` checks it is empty).
    #[test]
    fn set_level_sets_the_sessions_level_and_answers_empty() {
        let session = Session::new("s");
        let answer = set_level(&session, Some(json!({"level": "error"}))).unwrap();
        assert_eq!(answer, json!({}));
        assert_eq!(session.log_level(), Some(LoggingLevel::Error));
        assert!(!session.takes_log(LoggingLevel::Warning));
    }

    /// An unknown or missing level is -32602 naming the field, and leaves the level alone.
    #[test]
    fn a_bad_level_is_invalid_params() {
        let session = Session::new("s");
        set_level(&session, Some(json!({"level": "warning"}))).unwrap();
        for bad in [
            Some(json!({"level": "verbose"})),
            Some(json!({"level": 3})),
            Some(json!({})),
            None,
        ] {
            let e = set_level(&session, bad.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{bad:?}");
            assert!(e.message.contains("level"), "{bad:?}: {}", e.message);
        }
        assert_eq!(session.log_level(), Some(LoggingLevel::Warning));
    }
}

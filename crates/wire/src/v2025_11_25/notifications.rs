//! Params of the notifications the runtime sends or reads: progress, log messages,
//! cancellation; and `logging/setLevel`.
//!
//! MCP 2025-11-25, "Progress" (`basic/utilities/progress.mdx`), "Logging"
//! (`server/utilities/logging.mdx`), "Cancellation" (`basic/utilities/cancellation.mdx`);
//! schema `ProgressNotificationParams`, `LoggingMessageNotificationParams`, `LoggingLevel`,
//! `SetLevelRequestParams`, `CancelledNotificationParams`. Requirements T-PROG-1, T-CAN-3.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{Meta, ProgressToken};
use crate::jsonrpc::RequestId;

/// Params of `notifications/progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressNotificationParams {
    /// The token from the request's `_meta.progressToken`.
    pub progress_token: ProgressToken,
    /// Progress so far, in units the sender chooses; increases with each notification.
    pub progress: f64,
    /// Total in the same units, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// What is happening now, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra metadata, e.g. the related task (T-META-1).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Severity of a log message: the eight syslog levels (RFC 5424), least severe first, so
/// `Ord` compares severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoggingLevel {
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Something may be wrong.
    Warning,
    /// Something failed.
    Error,
    /// A component failed.
    Critical,
    /// Act now.
    Alert,
    /// The system is unusable.
    Emergency,
}

/// Params of `notifications/message`: one log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingMessageNotificationParams {
    /// Severity.
    pub level: LoggingLevel,
    /// Which logger emitted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    /// The entry: a string or any JSON value.
    pub data: Value,
    /// Extra metadata, e.g. the related task of a task's log line (T-META-1).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Params of `logging/setLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetLevelRequestParams {
    /// Least severe level the client wants to receive.
    pub level: LoggingLevel,
}

/// Params of `notifications/cancelled`: the sender gave up on a request. Tasks are cancelled
/// with `tasks/cancel` instead (T-CAN-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelledNotificationParams {
    /// The request given up on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// Why, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn logging_levels_are_lowercase_and_ordered() {
        let all = [
            (LoggingLevel::Debug, "debug"),
            (LoggingLevel::Info, "info"),
            (LoggingLevel::Notice, "notice"),
            (LoggingLevel::Warning, "warning"),
            (LoggingLevel::Error, "error"),
            (LoggingLevel::Critical, "critical"),
            (LoggingLevel::Alert, "alert"),
            (LoggingLevel::Emergency, "emergency"),
        ];
        for pair in all.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
        for (level, text) in all {
            assert_eq!(serde_json::to_value(level).unwrap(), json!(text));
        }
    }

    #[test]
    fn progress_round_trips() {
        let v = json!({"progressToken": "p", "progress": 2.0, "total": 4.0, "message": "half"});
        let p: ProgressNotificationParams = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(p.progress_token, ProgressToken::from("p"));
        assert_eq!(serde_json::to_value(&p).unwrap(), v);
    }

    #[test]
    fn cancelled_reads_either_id_type() {
        let p: CancelledNotificationParams =
            serde_json::from_value(json!({"requestId": 3, "reason": "user"})).unwrap();
        assert_eq!(p.request_id, Some(RequestId::Number(3)));
        let p: CancelledNotificationParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(p.request_id, None);
    }
}

//! Engine errors to JSON-RPC error objects, in one place (T-ERR-1).

use mcp_tasks_engine::Error;
use mcp_tasks_wire::jsonrpc::ErrorObject;

/// The JSON-RPC error for an engine error.
///
/// Unknown, foreign and expired tasks, forged cursors and changes to terminal tasks are the
/// requestor's mistakes: -32602 (T-ERR-1, T-CAN-2, T-LIST-1, T-TTL-1). Another owner's task
/// maps exactly like an unknown one (T-SEC-1). Everything else is -32603.
pub fn to_error_object(e: &Error) -> ErrorObject {
    match e {
        Error::NotFound { .. } | Error::Expired { .. } => {
            ErrorObject::invalid_params(format!("Failed to retrieve task: {e}"))
        }
        Error::Conflict { .. } | Error::InvalidCursor { .. } | Error::NulByte { .. } => {
            ErrorObject::invalid_params(e.to_string())
        }
        // T-TTL-2 asks for -32603 when a requestor is over its limit; the message says which.
        Error::LimitExceeded { .. }
        | Error::ResultBytesExceeded { .. }
        | Error::TooManyInputs { .. } => ErrorObject::internal(e.to_string()),
        // The store's words name the database (its host, user, file path): they go to the
        // server's log, and the requestor learns only that the store failed.
        Error::Store { .. } => {
            tracing::error!(error = %e, "a request failed in the task store");
            ErrorObject::internal(
                "internal error: the task store failed; the server's log says why".to_owned(),
            )
        }
        Error::DuplicateInputKey { .. }
        | Error::Cancelled { .. }
        | Error::RunnerChanged { .. }
        | Error::RunnerAlive { .. } => ErrorObject::internal(format!("internal error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_tasks_engine::{TaskId, TaskStatus};
    use mcp_tasks_wire::jsonrpc::ErrorCode;

    /// T-ERR-1, T-CAN-2, T-LIST-1, T-TTL-1: each engine error gets its code and a message that
    /// names what is wrong.
    #[test]
    fn codes_follow_the_spec() {
        let id = TaskId::from("t-1");
        let table = [
            (
                Error::NotFound { id: id.clone() },
                ErrorCode::INVALID_PARAMS,
                "not found",
            ),
            (
                Error::Expired { id: id.clone() },
                ErrorCode::INVALID_PARAMS,
                "expired",
            ),
            (
                Error::Conflict {
                    id: id.clone(),
                    actual: TaskStatus::Completed,
                },
                ErrorCode::INVALID_PARAMS,
                "completed",
            ),
            (
                Error::InvalidCursor { cursor: "x".into() },
                ErrorCode::INVALID_PARAMS,
                "cursor",
            ),
            (
                Error::NulByte { field: "owner" },
                ErrorCode::INVALID_PARAMS,
                "NUL byte",
            ),
            (
                Error::Cancelled { id: id.clone() },
                ErrorCode::INTERNAL_ERROR,
                "cancelled",
            ),
            (
                Error::DuplicateInputKey {
                    id: id.clone(),
                    key: "k".into(),
                },
                ErrorCode::INTERNAL_ERROR,
                "keyed",
            ),
            (
                Error::LimitExceeded { limit: 7 },
                ErrorCode::INTERNAL_ERROR,
                "7 tasks",
            ),
            (
                Error::TooManyInputs {
                    id: id.clone(),
                    limit: 2,
                },
                ErrorCode::INTERNAL_ERROR,
                "2 answers",
            ),
            (
                Error::RunnerChanged { id, runner: None },
                ErrorCode::INTERNAL_ERROR,
                "took it over",
            ),
            (
                Error::store("postgres://tasks@db.internal:5432/tasks: disk full"),
                ErrorCode::INTERNAL_ERROR,
                "the task store failed",
            ),
        ];
        for (err, code, word) in table {
            let obj = to_error_object(&err);
            assert_eq!(obj.code, code, "{err}");
            assert!(obj.message.contains(word), "{} lacks {word}", obj.message);
            assert!(
                !obj.message.contains("db.internal"),
                "the store's address stays in the log: {}",
                obj.message
            );
        }
    }
}

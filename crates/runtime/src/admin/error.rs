//! The admin API's errors: an HTTP status, a stable code a script can match, and a message
//! that says what was wrong and what to do, as `{"error":{"code","message"}}`.
//!
//! Engine errors map to statuses in one place ([`ApiError::from_engine`]), like the JSON-RPC
//! codes of `crate::error`. Unlike there, an operator is told everything: the store's own
//! words included, since the admin token already sees every task.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mcp_tasks_engine::Error;

use super::query::QueryError;
use super::view::{ErrorBody, ErrorDetail};

/// One refusal or failure of the admin API.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A path the listener does not serve: its own code, so a client pointed at the wrong
    /// address or path (no admin API there) tells that from an unknown task (`not_found`).
    pub(super) fn unknown_route(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown_route", message)
    }

    pub(super) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    pub(super) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    pub(super) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The status for an engine error: an unknown task 404, a change to a finished one 409,
    /// a forged cursor 400, a failing store 503, anything else 500.
    pub(super) fn from_engine(e: &Error) -> Self {
        match e {
            Error::NotFound { .. } | Error::Expired { .. } => Self::not_found(e.to_string()),
            Error::Conflict { .. } => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            Error::InvalidCursor { .. } => Self::bad_request(format!("parameter cursor: {e}")),
            Error::NulByte { .. } => Self::bad_request(e.to_string()),
            Error::Store { .. } => Self::unavailable(e.to_string()),
            Error::DuplicateInputKey { .. }
            | Error::Cancelled { .. }
            | Error::LimitExceeded { .. }
            | Error::ResultBytesExceeded { .. }
            | Error::TooManyInputs { .. }
            | Error::RunnerChanged { .. }
            | Error::RunnerAlive { .. } => Self::internal(format!("internal error: {e}")),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::{TaskId, TaskStatus};

    use super::*;

    /// Issue 15 item 3: each engine error gets the status the contract names.
    #[test]
    fn engine_errors_map_to_statuses() {
        let id = TaskId::from("t-1");
        let table = [
            (Error::NotFound { id: id.clone() }, 404, "not_found"),
            (
                Error::Conflict {
                    id,
                    actual: TaskStatus::Completed,
                },
                409,
                "conflict",
            ),
            (
                Error::InvalidCursor { cursor: "x".into() },
                400,
                "bad_request",
            ),
            (Error::store("disk full"), 503, "unavailable"),
        ];
        for (e, status, code) in table {
            let mapped = ApiError::from_engine(&e);
            assert_eq!((mapped.status.as_u16(), mapped.code), (status, code), "{e}");
        }
    }
}

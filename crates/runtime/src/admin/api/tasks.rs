//! `/api/tasks`: every owner's tasks, one task with a page of its history, and cancelling
//! one.
//!
//! These read the store as an operator, not as a requestor: no owner scoping (T-SEC-1 binds
//! MCP clients, and the admin token is not one). A cancel here is recorded in the task's
//! history as cancelled `by: "admin"`, and stops the work if this instance runs it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use mcp_tasks_engine::TaskId;

use super::json_body;
use crate::admin::error::ApiError;
use crate::admin::query::{HistoryQuery, TaskQuery};
use crate::admin::serve::AdminState;
use crate::admin::view::{
    CancelRequest, Cancelled, TaskPage, TaskShow, TaskSummary, CANCELLED_MESSAGE,
};

/// Who an operator's cancel is recorded as.
const CANCELLED_BY: &str = "admin";

pub(crate) async fn list(
    State(state): State<Arc<AdminState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<TaskPage>, ApiError> {
    let Query(pairs) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let query = TaskQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let page = state
        .admin
        .list(
            query.filter(jiff::Timestamp::now()),
            query.cursor.as_deref(),
            query.limit,
        )
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    Ok(Json(TaskPage::from(&page)))
}

pub(crate) async fn show(
    State(state): State<Arc<AdminState>>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<TaskShow>, ApiError> {
    let id = task_id(id)?;
    let Query(pairs) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let query = HistoryQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let shown = state
        .admin
        .task(&id, query.after)
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    Ok(Json(TaskShow::from(&shown)))
}

pub(crate) async fn cancel(
    State(state): State<Arc<AdminState>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Cancelled>, ApiError> {
    let id = task_id(id)?;
    let request: CancelRequest = json_body(body)?;
    let message = request
        .message
        .unwrap_or_else(|| CANCELLED_MESSAGE.to_owned());
    let record = state
        .admin
        .cancel(&id, CANCELLED_BY, Some(message))
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    tracing::info!(task = %id, "an operator cancelled the task");
    Ok(Json(Cancelled {
        task: TaskSummary::from(&record),
    }))
}

/// The task id in the path.
///
/// # Errors
///
/// 400 when the path segment cannot be read (it is not UTF-8 once percent-decoded).
fn task_id(path: Result<Path<String>, PathRejection>) -> Result<TaskId, ApiError> {
    let Path(id) = path.map_err(|rejection| {
        ApiError::bad_request(format!(
            "the task id in the path cannot be read ({}); use an id as /api/tasks lists it",
            rejection.body_text()
        ))
    })?;
    Ok(TaskId::from(id))
}

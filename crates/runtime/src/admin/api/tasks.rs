//! `/api/tasks`: every owner's tasks, one task with its history, and cancelling one.
//!
//! These read the store as an operator, not as a requestor: no owner scoping (T-SEC-1 binds
//! MCP clients, and the admin token is not one). A cancel here is recorded in the task's
//! history as cancelled `by: "admin"`, and stops the work if this instance runs it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use mcp_tasks_engine::TaskId;

use super::json_body;
use crate::admin::error::ApiError;
use crate::admin::query::TaskQuery;
use crate::admin::serve::AdminState;
use crate::admin::view::{CancelRequest, Cancelled, TaskPage, TaskShow, TaskSummary};

/// Who an operator's cancel is recorded as.
const CANCELLED_BY: &str = "admin";

/// The statusMessage of a task an operator cancelled without saying why.
const CANCELLED_MESSAGE: &str = "The task was cancelled by an operator.";

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
    Path(id): Path<String>,
) -> Result<Json<TaskShow>, ApiError> {
    let (record, history) = state
        .admin
        .task(&TaskId::from(id))
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    Ok(Json(TaskShow::new(&record, history)))
}

pub(crate) async fn cancel(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Cancelled>, ApiError> {
    let request: CancelRequest = json_body(&body)?;
    let id = TaskId::from(id);
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

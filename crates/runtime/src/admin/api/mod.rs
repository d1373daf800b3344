//! The JSON API under `/api`: the overview and purge here, the task routes in [`tasks`].
//!
//! Every route answers JSON (the shapes of [`view`](super::view)); bodies that do not parse
//! are 400 naming the field, and unknown fields are refused so a typo does not silently do
//! something else (a purge without its cutoff, say).

pub(super) mod tasks;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::health::readiness;
use super::query::PurgeRequest;
use super::serve::AdminState;
use super::view::{Counts, Overview, Purged};

pub(super) async fn overview(
    State(state): State<Arc<AdminState>>,
) -> Result<Json<Overview>, ApiError> {
    let ready = readiness(&state).await;
    let counts = state
        .admin
        .counts()
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    let stats = state.server.stats();
    let engine = state.server.engine();
    Ok(Json(Overview {
        server: state.info.clone(),
        ready,
        counts: Counts::new(&counts),
        limits: state.limits.clone(),
        sessions: stats.sessions + stats.stateless_requests,
        open_streams: stats.open_streams,
        waiters: u64::try_from(engine.metrics().waiters()).unwrap_or(0),
        running: engine.running() as u64,
        upstream: state.upstream.as_ref().map(|u| u.status()),
    }))
}

pub(super) async fn purge(
    State(state): State<Arc<AdminState>>,
    body: Bytes,
) -> Result<Json<Purged>, ApiError> {
    let request: PurgeRequest = json_body(&body)?;
    let cutoff = request.cutoff(jiff::Timestamp::now())?;
    let purged = state
        .admin
        .purge(cutoff)
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    tracing::info!(purged, %cutoff, "an operator purged the tasks finished before the cutoff");
    Ok(Json(Purged { purged }))
}

/// A JSON body; an empty one reads as `{}`.
///
/// # Errors
///
/// 400 saying where the body stops being what the route takes (axum reads the field's path
/// with `serde_path_to_error`).
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    Json::<T>::from_bytes(body)
        .map(|Json(value)| value)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

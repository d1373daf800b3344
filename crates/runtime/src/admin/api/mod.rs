//! The JSON API under `/api`: the overview and purge here, the task routes in [`tasks`].
//!
//! Every route answers JSON (the shapes of [`view`](super::view)); bodies that do not parse
//! are 400 naming the field, and unknown fields are refused so a typo does not silently do
//! something else (a purge without its cutoff, say).

pub(super) mod tasks;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::health::readiness;
use super::query::PurgeRequest;
use super::serve::AdminState;
use super::view::{Counts, Overview, Purged};

/// Always 200 while the listener serves: a store that fails shows in `ready` and
/// `countsError`, which is when an operator reads this most.
pub(super) async fn overview(State(state): State<Arc<AdminState>>) -> Json<Overview> {
    let (ready, snapshot) = tokio::join!(readiness(&state), state.counts.get());
    let (counts, counts_error) = match &snapshot.counts {
        Ok(counts) => (Counts::new(counts), None),
        Err(why) => (Counts::default(), Some(why.clone())),
    };
    let stats = state.server.stats();
    let engine = state.server.engine();
    Json(Overview {
        server: state.info.clone(),
        ready,
        counts,
        counts_error,
        limits: state.limits.clone(),
        sessions: stats.sessions + stats.stateless_requests,
        open_streams: stats.open_streams,
        waiters: u64::try_from(engine.metrics().waiters()).unwrap_or(0),
        running: engine.running() as u64,
        upstream: state.upstream.as_ref().map(|u| u.status()),
    })
}

pub(super) async fn purge(
    State(state): State<Arc<AdminState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Purged>, ApiError> {
    let request: PurgeRequest = json_body(body)?;
    let cutoff = request.cutoff(jiff::Timestamp::now())?;
    let purged = state
        .admin
        .purge(cutoff)
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    tracing::info!(purged, %cutoff, "an operator purged the tasks finished before the cutoff");
    Ok(Json(Purged { purged }))
}

/// The most a request body may hold. The API's bodies are a few fields; a larger one is a
/// mistake or an attack, refused before it is buffered.
pub(super) const MAX_BODY: usize = 64 * 1024;

/// A JSON body; an empty one reads as `{}`.
///
/// # Errors
///
/// 413 for a body over [`MAX_BODY`]; 400 for one that cannot be read, or saying where it
/// stops being what the route takes (axum reads the field's path with
/// `serde_path_to_error`).
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the request body is too large: the admin API takes at most {} KiB; send only \
                 the fields the route takes",
                MAX_BODY / 1024
            ))
        } else {
            ApiError::bad_request(format!(
                "the request body cannot be read: {}",
                rejection.body_text()
            ))
        }
    })?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        &body
    };
    Json::<T>::from_bytes(body)
        .map(|Json(value)| value)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

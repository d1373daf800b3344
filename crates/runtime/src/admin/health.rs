//! `/healthz` and `/readyz`: is the process alive, and should it get work.
//!
//! They answer different questions, so a supervisor restarts on one and a load balancer routes
//! on the other. `/healthz` is open and touches nothing: a process that answers HTTP is alive,
//! and a store outage must not get it restarted (a restart fixes nothing there). `/readyz`
//! asks the store a trivial question and, on a shared store, whether this instance still holds
//! its lease; it also turns 503 once shutdown began, so traffic drains before the process
//! goes. Bounded: a store that does not answer makes the server unready, not the probe hang.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::serve::AdminState;
use super::view::Readiness;

/// How long the store may take to answer a readiness check.
const CHECK_WAIT: Duration = Duration::from_secs(5);

pub(super) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub(super) async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    let readiness = readiness(&state).await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

/// The checks, as `/readyz` and the overview report them.
pub(super) async fn readiness(state: &AdminState) -> Readiness {
    let mut checks = BTreeMap::new();
    let checked = tokio::time::timeout(CHECK_WAIT, state.server.engine().store().check()).await;
    let store_ok = match checked {
        Ok(Ok(())) => {
            checks.insert("store".to_owned(), "ok".to_owned());
            true
        }
        Ok(Err(e)) => {
            checks.insert("store".to_owned(), e.to_string());
            false
        }
        Err(_) => {
            let late = format!("the store did not answer within {} s", CHECK_WAIT.as_secs());
            checks.insert("store".to_owned(), late);
            false
        }
    };
    let stopping = state.stopping.is_cancelled();
    let (lease, lease_ok) = match (state.info.shared, state.admin.lease_held()) {
        (false, _) => ("not shared", true),
        (true, Some(false)) if stopping => ("released", true),
        (true, Some(true)) => ("held", true),
        // Not taken yet: the first task or the recovery loop takes it; nothing is at risk.
        (true, None) => ("not taken yet", true),
        (true, Some(false)) => (
            "lost: its last renewal failed, so other instances may take this one's tasks over",
            false,
        ),
    };
    checks.insert("lease".to_owned(), lease.to_owned());
    if stopping {
        checks.insert("shutdown".to_owned(), "in progress".to_owned());
    }
    let ready = store_ok && lease_ok && !stopping;
    Readiness {
        status: if ready { "ready" } else { "unready" }.to_owned(),
        checks,
    }
}

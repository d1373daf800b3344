//! `/metrics`: the OpenMetrics text a Prometheus scraper reads, through `prometheus-client`.
//!
//! Three sources meet here, each where it is known best. The engine counts what it does
//! (creations, completions, durations, store latency, waiters, running work) in its own
//! metrics, which live as long as it does. The runtime knows its sessions, streams and rate
//! limit refusals ([`Server::stats`](crate::server::Server::stats)), and a gateway its
//! upstream. The store knows how many tasks it holds in each status, which no counter in one
//! process can know on a store that several instances share, so those gauges are read from it
//! at each scrape. A registry is put together per scrape from all three: the engine's metrics
//! are shared handles, so this copies nothing but the scrape-time values.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::error::ApiError;
use super::serve::AdminState;
use super::UpstreamState;

/// What a scraper is told it gets.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The era labels of `mcp_tasks_sessions`.
const ERA_SESSIONS: &str = "2025-11-25";
const ERA_STATELESS: &str = "2026-07-28";

type Labels = Vec<(&'static str, String)>;

pub(super) async fn metrics(State(state): State<Arc<AdminState>>) -> Result<Response, ApiError> {
    let counts = state
        .admin
        .counts()
        .await
        .map_err(|e| ApiError::from_engine(&e))?;
    let mut registry = Registry::default();
    state.server.engine().metrics().register(&mut registry);

    let tasks = Family::<Labels, Gauge>::default();
    let mut by_status_tool: BTreeMap<(&str, String), u64> = BTreeMap::new();
    for group in &counts {
        *by_status_tool
            .entry((
                group.status.as_str(),
                group.tool.clone().unwrap_or_default(),
            ))
            .or_default() += group.count;
    }
    for ((status, tool), n) in by_status_tool {
        tasks
            .get_or_create(&vec![("status", status.to_owned()), ("tool", tool)])
            .set(gauge_value(n));
    }
    registry.register(
        "mcp_tasks_tasks",
        "Tasks in the store now, by status and tool (read from the store at each scrape)",
        tasks,
    );

    let stats = state.server.stats();
    let sessions = Family::<Labels, Gauge>::default();
    sessions
        .get_or_create(&vec![("era", ERA_SESSIONS.to_owned())])
        .set(gauge_value(stats.sessions));
    sessions
        .get_or_create(&vec![("era", ERA_STATELESS.to_owned())])
        .set(gauge_value(stats.stateless_requests));
    registry.register(
        "mcp_tasks_sessions",
        "Open MCP sessions by protocol era; a 2026-07-28 request is a session while it runs",
        sessions,
    );
    let streams = Gauge::<i64>::default();
    streams.set(gauge_value(stats.open_streams));
    registry.register(
        "mcp_tasks_open_streams",
        "SSE streams open on the MCP endpoint",
        streams,
    );
    let refused = Counter::<u64>::default();
    refused.inc_by(stats.rate_limited);
    registry.register(
        "mcp_tasks_rate_limited",
        "Task operations refused by the per-requestor rate limit",
        refused,
    );

    if let Some(upstream) = &state.upstream {
        let status = upstream.status();
        let up = Gauge::<i64>::default();
        up.set(i64::from(status.state == UpstreamState::Up));
        registry.register(
            "mcp_tasks_upstream_up",
            "Whether the gateway's upstream server is connected (1) or not (0)",
            up,
        );
        let restarts = Counter::<u64>::default();
        restarts.inc_by(status.restarts);
        registry.register(
            "mcp_tasks_upstream_restarts",
            "How often the gateway connected to its upstream server again",
            restarts,
        );
    }

    let mut text = String::new();
    encode(&mut text, &registry)
        .map_err(|e| ApiError::internal(format!("cannot encode the metrics: {e}")))?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response())
}

/// A count as a gauge's value.
fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

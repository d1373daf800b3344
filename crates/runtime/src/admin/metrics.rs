//! `/metrics`: the OpenMetrics text a Prometheus scraper reads, through `prometheus-client`.
//!
//! Three sources meet here, each where it is known best. The engine counts what it does
//! (creations, completions, durations, store latency, waiters, running work) in its own
//! metrics, which live as long as it does. The runtime knows its sessions, streams and rate
//! limit refusals ([`Server::stats`](crate::server::Server::stats)), and a gateway its
//! upstream. The store knows how many tasks it holds in each status, which no counter in one
//! process can know on a store that several instances share, so those gauges are read from it
//! (through the cache in `counts`, shared with the overview). A store that fails or does not
//! answer in time never fails the scrape: everything else is still exported, with
//! `mcp_tasks_store_up 0` and without `mcp_tasks_tasks`, since those are the numbers an
//! operator needs during a store outage. A registry is put together per scrape from all three: the engine's metrics
//! are shared handles, so this copies nothing but the scrape-time values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use mcp_tasks_engine::{TaskCount, TaskStatus};
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
    let snapshot = state.counts.get().await;
    let mut registry = Registry::default();
    state.server.engine().metrics().register(&mut registry);

    let store_up = Gauge::<i64>::default();
    store_up.set(i64::from(snapshot.counts.is_ok()));
    registry.register(
        "mcp_tasks_store_up",
        "Whether the store counted its tasks for this scrape (1) or failed or took over 5 s (0); \
         mcp_tasks_tasks is left out while 0",
        store_up,
    );
    match &snapshot.counts {
        Ok(counts) => registry.register(
            "mcp_tasks_tasks",
            "Tasks in the store now, by status and tool: every status of every tool seen, 0 \
             included (read from the store, cached up to 2 s; store-wide, so every instance on a \
             shared store exports the same numbers: aggregate with max, not sum)",
            task_gauges(counts, &snapshot.tools),
        ),
        Err(why) => tracing::warn!(error = %why, "metrics scraped without the store's task counts"),
    }

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

/// `mcp_tasks_tasks`: one gauge for each status of each tool in `tools`, so a series goes to
/// 0 instead of vanishing when a tool's last task of a status changes or goes.
fn task_gauges(counts: &[TaskCount], tools: &BTreeSet<String>) -> Family<Labels, Gauge> {
    let mut by_tool_status: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for group in counts {
        *by_tool_status
            .entry((
                group.tool.as_deref().unwrap_or_default(),
                group.status.as_str(),
            ))
            .or_default() += group.count;
    }
    let tasks = Family::<Labels, Gauge>::default();
    for tool in tools {
        for status in TaskStatus::ALL {
            let n = by_tool_status
                .get(&(tool.as_str(), status.as_str()))
                .copied()
                .unwrap_or(0);
            tasks
                .get_or_create(&vec![
                    ("status", status.as_str().to_owned()),
                    ("tool", tool.clone()),
                ])
                .set(gauge_value(n));
        }
    }
    tasks
}

/// A count as a gauge's value.
fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

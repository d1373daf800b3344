//! `/api/events`: the store's change feed as server-sent events, so the dashboard updates when
//! a task changes instead of polling.
//!
//! One `event: task` per change, `data: {"taskId","change","status"}` ([`TaskChange`]): the
//! change says which task to read again, not its new state, since the feed is a hint (it may
//! lag, and on a shared store it may miss changes). When changes were missed the stream sends
//! `event: lagged` (`data: {"missed":n}`, 0 when unknown), and a client reads everything it
//! shows again. A comment goes out at once (so a client knows it is subscribed before it acts)
//! and every 15 s (so proxies keep the connection). The stream ends when the listener stops.
//!
//! The dashboard reads this with `fetch()` and a stream reader: `EventSource` cannot send the
//! `Authorization` header.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use mcp_tasks_engine::{Change, ChangeEvent, ChangeFeed, TaskStatus};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::serve::AdminState;
use super::view::TaskChange;

/// How often a comment keeps an idle stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn events(State(state): State<Arc<AdminState>>) -> Response {
    // Subscribed before answering: a change made once the client has the response is seen.
    let feed = state.server.engine().changes();
    let stream = futures::stream::once(async { Ok(Event::default().comment("subscribed")) })
        .chain(changes(feed))
        .take_until(state.stop.clone().cancelled_owned());
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies must pass each event on at once.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// The feed as events, until the store is gone.
fn changes(feed: ChangeFeed) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(feed, |mut feed| async move {
        let event = match feed.recv().await {
            Ok(change) => task_event(&change),
            Err(RecvError::Lagged(missed)) => Event::default()
                .event("lagged")
                .data(json!({"missed": missed}).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), feed))
    })
}

/// The `event: task` of one change.
fn task_event(change: &Change) -> Event {
    Event::default()
        .event("task")
        .data(serde_json::to_string(&task_change(change)).unwrap_or_default())
}

fn task_change(change: &Change) -> TaskChange {
    let (kind, status) = match change.event {
        ChangeEvent::Created => ("created", Some(TaskStatus::Working)),
        ChangeEvent::Updated(status) => ("updated", Some(status)),
        ChangeEvent::Expired => ("deleted", None),
    };
    TaskChange {
        task_id: change.id.as_str().to_owned(),
        change: kind.to_owned(),
        status,
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::TaskId;
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_become_task_events() {
        let change = |event| {
            serde_json::to_value(task_change(&Change {
                id: TaskId::from("t-1"),
                event,
            }))
            .unwrap()
        };
        assert_eq!(
            change(ChangeEvent::Created),
            json!({"taskId": "t-1", "change": "created", "status": "working"})
        );
        assert_eq!(
            change(ChangeEvent::Updated(TaskStatus::InputRequired)),
            json!({"taskId": "t-1", "change": "updated", "status": "input_required"})
        );
        assert_eq!(
            change(ChangeEvent::Expired),
            json!({"taskId": "t-1", "change": "deleted", "status": null})
        );
    }
}

//! A task's durable history (issue 15 item 1): every event of its life, kept by the store beside
//! the record and deleted with it.
//!
//! Stores append the event of a change in the same write as the change, so the history never
//! says something the record does not, and never misses a change the record shows. Which event
//! a change makes is decided once, here, by [`event_for`], for every store alike.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::task::{
    Failure, Outcome, Recovery, RequestKind, TaskId, TaskRecord, TaskStatus, Transition,
};

/// One entry of a task's durable history.
///
/// Serialized (camelCase, the event's fields beside the common ones) as
/// `{"seq":3,"at":"2026-12-05T04:50:00.123Z","status":"input_required","statusMessage":"…","type":"inputRequested",…}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvent {
    /// 1, 2, 3… per task, in the order the events were appended.
    pub seq: u64,
    /// When it happened, by the engine's clock.
    pub at: Timestamp,
    /// The task's status after this event.
    pub status: TaskStatus,
    /// The task's statusMessage after this event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_message: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl TaskEvent {
    /// The event `kind`, numbered `seq`, with the status and statusMessage of `after`.
    pub fn new(seq: u64, at: Timestamp, after: &TaskRecord, kind: EventKind) -> Self {
        Self {
            seq,
            at,
            status: after.status(),
            status_message: after.status_message.clone(),
            kind,
        }
    }
}

/// What happened to a task, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    /// The task was created.
    Created {
        /// What it wraps.
        kind: RequestKind,
        /// The tool, for `tools/call`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        tool: Option<String>,
        /// Its owner, when the requestor was authenticated.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        owner: Option<String>,
        /// The session that created it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        session: Option<String>,
        /// The process that runs its work.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        runner: Option<String>,
    },
    /// The statusMessage changed; the event's `statusMessage` is the new one.
    Message,
    /// The work asked the requestor a question.
    InputRequested {
        /// The question's key, unique for the task's life.
        key: String,
        /// The JSON-RPC method, such as `elicitation/create`.
        method: String,
        /// Its params.
        params: Value,
    },
    /// The requestor answered a question.
    InputAnswered {
        /// The question's key.
        key: String,
        /// The answer (a result object, or an error object).
        response: Value,
    },
    /// The work reported progress. Kept at most once a second per task, the latest report
    /// each time, so a chatty tool does not flood the history; the last report before the
    /// outcome is kept too, and none follows the task's end.
    Progress {
        /// How far along.
        progress: f64,
        /// Out of how much, when known.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        total: Option<f64>,
        /// Words on the progress.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        message: Option<String>,
    },
    /// The work produced a result; it is on the task record.
    Completed,
    /// The work failed.
    Failed {
        /// The JSON-RPC error object, or the result that reports failure (`isError`).
        error: Value,
    },
    /// The task was cancelled.
    Cancelled {
        /// Who: `owner:alice`, `session:…`, `admin`, `admin:cli`…
        #[serde(skip_serializing_if = "Option::is_none", default)]
        by: Option<String>,
    },
    /// The task's runner died and another took it over; the statusMessage says why.
    Recovered {
        /// Whether its work runs again (`true`) or the task failed (`false`).
        rerun: bool,
    },
    /// The task's result was read by its requestor.
    ResultRetrieved {
        /// Who read it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        by: Option<String>,
    },
}

impl EventKind {
    /// The `Created` event of a new task.
    pub fn created(record: &TaskRecord) -> Self {
        Self::Created {
            kind: record.kind,
            tool: record.name.clone(),
            owner: record.owner.as_ref().map(|o| o.as_str().to_owned()),
            session: record.session.clone(),
            runner: record.runner.clone(),
        }
    }
}

/// The event `change` makes, given the record `after` it was applied; `None` when it changed
/// nothing (an answer to an unknown or already answered question).
///
/// Every store calls this after [`TaskRecord::apply`] returned that the record changed, and
/// appends the event in the same write.
pub fn event_for(change: &Transition, after: &TaskRecord) -> Option<EventKind> {
    Some(match change {
        Transition::Message(_) => EventKind::Message,
        Transition::RequestInput(request) => EventKind::InputRequested {
            key: request.key.clone(),
            method: request.method.clone(),
            params: request.params.clone(),
        },
        Transition::AnswerInput { key, .. } => {
            // The answer as stored: an unknown or answered key left none to report.
            let response = after.input_response(key)?;
            EventKind::InputAnswered {
                key: key.clone(),
                response: response.clone(),
            }
        }
        Transition::Finish(Outcome::Completed(_)) => EventKind::Completed,
        Transition::Finish(Outcome::Failed { failure, .. }) => EventKind::Failed {
            error: failure_json(failure),
        },
        Transition::Cancel { by, .. } => EventKind::Cancelled { by: by.clone() },
        Transition::Recover { recovery, .. } => EventKind::Recovered {
            rerun: matches!(recovery, Recovery::Rerun { .. }),
        },
    })
}

/// Applies `change` to `record` with [`TaskRecord::apply`] and returns the event it makes, or
/// `None` when nothing changed: what every store's `transition` does before it writes both.
///
/// A result is moved into the record, not copied for the event, which does not show it.
///
/// # Errors
///
/// As [`TaskRecord::apply`].
pub(crate) fn apply(
    record: &mut TaskRecord,
    change: Transition,
    now: Timestamp,
) -> crate::Result<Option<EventKind>> {
    let seen = match &change {
        Transition::Finish(Outcome::Completed(_)) => {
            Transition::Finish(Outcome::Completed(Value::Null))
        }
        other => other.clone(),
    };
    if !record.apply(change, now)? {
        return Ok(None);
    }
    Ok(event_for(&seen, record))
}

/// Refuses an event that [`TaskStore::record`](crate::TaskStore::record) must not append to
/// the task `record`: progress once the task ended, which would make its history show work
/// after its end. Every store checks it in the same atomic step as the append.
///
/// # Errors
///
/// [`Error::Conflict`](crate::Error::Conflict) naming the task's status.
pub(crate) fn recordable(record: &TaskRecord, kind: &EventKind) -> crate::Result<()> {
    recordable_in(&record.id, record.status(), kind)
}

/// [`recordable`] for a store that knows the task's id and status without its whole record.
///
/// # Errors
///
/// As [`recordable`].
pub(crate) fn recordable_in(
    id: &TaskId,
    status: TaskStatus,
    kind: &EventKind,
) -> crate::Result<()> {
    if matches!(kind, EventKind::Progress { .. }) && status.is_terminal() {
        return Err(crate::Error::Conflict {
            id: id.clone(),
            actual: status,
        });
    }
    Ok(())
}

/// A failure as the history shows it: the JSON-RPC error object, or the failing result.
fn failure_json(failure: &Failure) -> Value {
    match failure {
        Failure::Error(e) => serde_json::to_value(e).unwrap_or(Value::Null),
        Failure::Result(v) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::task::{InputRequest, NewTask, Owner, Requestor, RpcError, TaskId};

    fn record() -> TaskRecord {
        TaskRecord::new(NewTask {
            id: TaskId::from("t-1"),
            requestor: Requestor {
                owner: Some(Owner::new("alice")),
                session: Some("s1".into()),
            },
            kind: RequestKind::ToolsCall,
            name: Some("build".into()),
            params: json!({}),
            created_at: Timestamp::UNIX_EPOCH,
            ttl: Some(Duration::from_secs(60)),
            poll_interval: None,
            progress_token: None,
            runner: Some("r1".into()),
            active_limit: None,
        })
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    /// Issue 15 item 1: the wire shape of an event, exactly as the contract writes it.
    #[test]
    fn events_serialize_in_the_contract_shape() {
        let mut r = record();
        let ask = Transition::RequestInput(InputRequest::new(
            "k1",
            "elicitation/create",
            json!({"message": "ok?"}),
        ));
        r.apply(ask.clone(), at(1)).unwrap();
        r.status_message = Some("waiting".into());
        let event = TaskEvent::new(3, at(1), &r, event_for(&ask, &r).unwrap());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            json!({"seq": 3, "at": "1970-01-01T00:00:01Z", "status": "input_required",
                   "statusMessage": "waiting", "type": "inputRequested", "key": "k1",
                   "method": "elicitation/create", "params": {"message": "ok?"}})
        );
        assert_eq!(serde_json::from_value::<TaskEvent>(json).unwrap(), event);

        let created = TaskEvent::new(1, at(0), &record(), EventKind::created(&record()));
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            json!({"seq": 1, "at": "1970-01-01T00:00:00Z", "status": "working",
                   "type": "created", "kind": "tools/call", "tool": "build",
                   "owner": "alice", "session": "s1", "runner": "r1"})
        );
        let progress = EventKind::Progress {
            progress: 2.0,
            total: None,
            message: Some("half".into()),
        };
        let shown = serde_json::to_value(TaskEvent::new(4, at(2), &record(), progress)).unwrap();
        assert_eq!(shown["type"], "progress");
        assert_eq!(shown["progress"], 2.0);
        assert_eq!(shown["message"], "half");
        assert!(shown.get("total").is_none(), "{shown}");
        for (kind, tag) in [
            (EventKind::Message, "message"),
            (EventKind::Completed, "completed"),
            (EventKind::Recovered { rerun: true }, "recovered"),
            (EventKind::ResultRetrieved { by: None }, "resultRetrieved"),
            (
                EventKind::InputAnswered {
                    key: "k".into(),
                    response: json!({}),
                },
                "inputAnswered",
            ),
        ] {
            let e = TaskEvent::new(5, at(3), &record(), kind);
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], tag);
            assert_eq!(serde_json::from_value::<TaskEvent>(v).unwrap(), e);
        }
    }

    /// Issue 15 item 1: each change makes its event; an answer that changed nothing makes
    /// none.
    #[test]
    fn every_change_makes_its_event() {
        let mut r = record();
        let ask = Transition::RequestInput(InputRequest::new("k", "elicitation/create", json!({})));
        r.apply(ask, at(1)).unwrap();
        let unknown = Transition::AnswerInput {
            key: "nope".into(),
            response: json!({"action": "decline"}),
        };
        assert!(!r.apply(unknown.clone(), at(2)).unwrap());
        assert_eq!(event_for(&unknown, &r), None);
        let answer = Transition::AnswerInput {
            key: "k".into(),
            response: json!({"action": "accept"}),
        };
        r.apply(answer.clone(), at(2)).unwrap();
        assert_eq!(
            event_for(&answer, &r),
            Some(EventKind::InputAnswered {
                key: "k".into(),
                response: json!({"action": "accept"}),
            })
        );
        let cancel = Transition::Cancel {
            message: None,
            by: Some("owner:alice".into()),
        };
        assert_eq!(
            event_for(&cancel, &r),
            Some(EventKind::Cancelled {
                by: Some("owner:alice".into())
            })
        );
        let failed = Transition::Finish(Outcome::Failed {
            failure: Failure::Error(RpcError {
                code: -32000,
                message: "no".into(),
                data: None,
            }),
            message: "no".into(),
        });
        assert_eq!(
            event_for(&failed, &r),
            Some(EventKind::Failed {
                error: json!({"code": -32000, "message": "no"})
            })
        );
        let tool_error = Transition::Finish(Outcome::Failed {
            failure: Failure::Result(json!({"isError": true, "content": []})),
            message: "tool failed".into(),
        });
        assert_eq!(
            event_for(&tool_error, &r),
            Some(EventKind::Failed {
                error: json!({"isError": true, "content": []})
            })
        );
        let fail = Transition::Recover {
            dead_runner: Some("r1".into()),
            recovery: Recovery::Fail {
                message: "restarted".into(),
            },
        };
        assert_eq!(
            event_for(&fail, &r),
            Some(EventKind::Recovered { rerun: false })
        );
        assert_eq!(
            event_for(&Transition::Message(None), &r),
            Some(EventKind::Message)
        );
        assert_eq!(
            event_for(&Transition::Finish(Outcome::Completed(json!({}))), &r),
            Some(EventKind::Completed)
        );
    }
}

//! Records to rows and back.

use jiff::Timestamp;

use crate::cursor::Position;
use crate::history::TaskEvent;
use crate::store::{AdminQuery, Change, ChangeEvent, ChangeSender, OwnerFilter};
use crate::task::{TaskId, TaskRecord};
use crate::{Error, Result};

/// The indexed columns of a record, and the record as JSON.
pub(in crate::store) struct Row {
    pub(in crate::store) id: String,
    pub(in crate::store) owner: Option<String>,
    pub(in crate::store) session: Option<String>,
    pub(in crate::store) status: &'static str,
    /// The tool, for `tools/call`.
    pub(in crate::store) name: Option<String>,
    pub(in crate::store) created_at: i64,
    /// When the record last changed.
    pub(in crate::store) updated_at: i64,
    pub(in crate::store) expires_at: Option<i64>,
    pub(in crate::store) runner: Option<String>,
    pub(in crate::store) record: String,
}

impl Row {
    pub(in crate::store) fn of(record: &TaskRecord) -> Result<Self> {
        Ok(Self {
            id: record.id.as_str().to_owned(),
            owner: record.owner.as_ref().map(|o| o.as_str().to_owned()),
            session: record.session.clone(),
            status: record.status().as_str(),
            name: record.name.clone(),
            created_at: nanos(record.created_at),
            updated_at: nanos(record.last_updated_at),
            expires_at: record.expires_at.map(nanos),
            runner: record.runner.clone(),
            record: serde_json::to_string(record)
                .map_err(|e| Error::store(format!("cannot encode task {}: {e}", record.id)))?,
        })
    }
}

/// Unix nanoseconds: ordered like timestamps, and within `i64` until the year 2262.
pub(in crate::store) fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t.as_nanosecond() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The `(created_at, id)` a page starts after; before everything when `None`.
pub(in crate::store) fn after(position: Option<&Position>) -> (i64, String) {
    match position {
        Some(p) => (nanos(p.created_at), p.id.as_str().to_owned()),
        None => (i64::MIN, String::new()),
    }
}

/// A history event as kept in a row's JSON column.
pub(in crate::store) fn encode_event(event: &TaskEvent) -> Result<String> {
    serde_json::to_string(event)
        .map_err(|e| Error::store(format!("cannot encode an event of a task's history: {e}")))
}

pub(in crate::store) fn decode_event(json: &str) -> Result<TaskEvent> {
    serde_json::from_str(json).map_err(|e| {
        Error::store(format!(
            "a stored event of a task's history is unreadable ({e}); the store was changed by \
             something else"
        ))
    })
}

pub(in crate::store) fn decode(json: &str) -> Result<TaskRecord> {
    serde_json::from_str(json).map_err(|e| {
        Error::store(format!(
            "a stored task record is unreadable ({e}); the file was changed by something else"
        ))
    })
}

/// The tasks a deletion (expiry, purge) removed: the records that decode, and the ids of those
/// that do not.
///
/// A task past its ttl, or purged, goes whatever its record holds; an unreadable record must
/// not turn a deletion that happened into an error that says nothing was deleted. So it is
/// reported by id: on the feed like the others, and in the log, where the operator learns
/// which task went without its record.
#[derive(Debug, Default)]
pub(in crate::store) struct Deleted {
    records: Vec<TaskRecord>,
    unreadable: Vec<(TaskId, Error)>,
}

impl Deleted {
    /// Whether nothing was deleted.
    pub(in crate::store) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.unreadable.is_empty()
    }

    /// Takes the deleted row `id` whose record was `json`.
    pub(in crate::store) fn push(&mut self, id: &str, json: &str) {
        match decode(json) {
            Ok(record) => self.records.push(record),
            Err(e) => self.unreadable.push((TaskId::from(id), e)),
        }
    }

    /// Once the deletion is committed: reports every task on the feed as
    /// [`ChangeEvent::Expired`], logs each unreadable one, and returns the records.
    pub(in crate::store) fn publish(self, store: &str, feed: &ChangeSender) -> Vec<TaskRecord> {
        for (id, e) in self.unreadable {
            tracing::error!(store, task = %id, error = %e, "deleted a task whose stored record is unreadable; it is not in the audit log or the count of deleted tasks");
            feed.send(Change {
                id,
                event: ChangeEvent::Expired,
            });
        }
        for record in &self.records {
            feed.send(Change {
                id: record.id.clone(),
                event: ChangeEvent::Expired,
            });
        }
        self.records
    }
}

/// What the SQL stores' statement builders share: text and numbered parameters, each store
/// with its own placeholders and parameter types.
pub(in crate::store) trait Statement {
    /// Appends text.
    fn text(&mut self, text: &str) -> &mut Self;
    /// Appends a text parameter's placeholder, and the parameter.
    fn text_arg(&mut self, value: String) -> &mut Self;
    /// Appends an integer parameter's placeholder, and the parameter.
    fn int_arg(&mut self, value: i64) -> &mut Self;
}

/// The `AND …` conditions of an operator's listing besides its statuses (which each store
/// writes its own way, for its own indexes), written once so that both SQL stores filter as
/// [`AdminQuery::matches`] says.
pub(in crate::store) fn admin_filters(sql: &mut impl Statement, query: &AdminQuery) {
    match &query.owner {
        None => {}
        Some(OwnerFilter::Owner(owner)) => {
            sql.text(" AND owner = ")
                .text_arg(owner.as_str().to_owned());
        }
        Some(OwnerFilter::Unowned) => {
            sql.text(" AND owner IS NULL");
        }
    }
    if let Some(tool) = &query.tool {
        sql.text(" AND name = ").text_arg(tool.clone());
    }
    if let Some(at) = query.created_after {
        sql.text(" AND created_at > ").int_arg(nanos(at));
    }
    if let Some(at) = query.created_before {
        sql.text(" AND created_at < ").int_arg(nanos(at));
    }
    if let Some(p) = &query.before {
        sql.text(" AND (created_at, id) < (")
            .int_arg(nanos(p.created_at))
            .text(", ")
            .text_arg(p.id.as_str().to_owned())
            .text(")");
    }
}

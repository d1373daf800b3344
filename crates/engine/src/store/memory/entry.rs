//! A task as the memory store keeps it: everything its [`TaskRecord`] says, in a fifth of the
//! memory (issue 14 measured 5 KB per finished task, besides its result, when the store kept
//! records and histories as they are; this form takes under 1 KB with the store's indexes).
//!
//! What it saves, and what reading it costs:
//! - owner, session, tool, runner and polling interval are one shared [`Origin`], and who
//!   retrieved a result a shared string ([`Shared`]): a pointer each, not copies;
//! - the params (and progress token) of a finished task are compact JSON text
//!   ([`Entry::compact`]), parsed when the record is read, instead of a `serde_json` tree (with
//!   `preserve_order`, an index map per object: 1.5 KB for the 90 bytes of a small
//!   `tools/call`). Unfinished tasks and the last ones to finish keep their trees (the store
//!   decides which): those are the tasks clients poll, and reading one stays a copy;
//! - the history makes the events every task has (created, completed, result retrieved) from
//!   the entry and a time, and keeps only the others as they are;
//! - `expires_at` is made from `created_at` and the ttl; the status's data, the mailbox and
//!   the token take a pointer when there are any, nothing more when there are none.
//!
//! The result stays a tree: a read hands it out, and copying a large result costs less than
//! parsing it again.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::shared::{Origin, Parts, Shared};
use crate::history::{EventKind, TaskEvent};
use crate::task::{
    Failure, InputRequest, NewTask, Owner, RequestKind, TaskId, TaskRecord, TaskState, TaskStatus,
};

/// A JSON value kept as a tree (cheap to copy) or as compact text (small).
#[derive(Debug)]
enum Json {
    Tree(Box<Value>),
    Text(Box<str>),
}

/// The deepest value kept as text: `serde_json` reads at most 128 levels back, and a value
/// made in-process (not parsed) may be deeper.
const MAX_TEXT_DEPTH: usize = 64;

impl Json {
    fn value(&self) -> Value {
        match self {
            Self::Tree(v) => (**v).clone(),
            Self::Text(t) => serde_json::from_str(t).unwrap_or_else(|e| {
                // Written by `compact` from a value, within the depth it reads back.
                unreachable!("compact JSON no longer parses: {e}")
            }),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Self::Tree(v) => *v,
            Self::Text(_) => self.value(),
        }
    }

    /// The same value as text, unless it is too deep to be read back.
    fn compact(&mut self) {
        if let Self::Tree(v) = self {
            if within_depth(v, MAX_TEXT_DEPTH) {
                let text = serde_json::to_string(&**v)
                    .unwrap_or_else(|e| unreachable!("a JSON value always serializes: {e}"));
                *self = Self::Text(text.into_boxed_str());
            }
        }
    }
}

/// Whether `v` nests arrays and objects at most `max` deep.
fn within_depth(v: &Value, max: usize) -> bool {
    match v {
        Value::Array(a) => max > 0 && a.iter().all(|v| within_depth(v, max - 1)),
        Value::Object(o) => max > 0 && o.values().all(|v| within_depth(v, max - 1)),
        _ => true,
    }
}

/// [`TaskState`] with its data behind a pointer, so a task without any pays for none.
#[derive(Debug)]
enum State {
    Working,
    InputRequired,
    Completed(Box<Value>),
    Failed(Box<Failure>),
    Cancelled,
}

impl State {
    fn of(state: TaskState) -> Self {
        match state {
            TaskState::Working => Self::Working,
            TaskState::InputRequired => Self::InputRequired,
            TaskState::Completed(v) => Self::Completed(Box::new(v)),
            TaskState::Failed(f) => Self::Failed(Box::new(f)),
            TaskState::Cancelled => Self::Cancelled,
        }
    }

    fn state(&self) -> TaskState {
        match self {
            Self::Working => TaskState::Working,
            Self::InputRequired => TaskState::InputRequired,
            Self::Completed(v) => TaskState::Completed((**v).clone()),
            Self::Failed(f) => TaskState::Failed((**f).clone()),
            Self::Cancelled => TaskState::Cancelled,
        }
    }

    fn into_state(self) -> TaskState {
        match self {
            Self::Working => TaskState::Working,
            Self::InputRequired => TaskState::InputRequired,
            Self::Completed(v) => TaskState::Completed(*v),
            Self::Failed(f) => TaskState::Failed(*f),
            Self::Cancelled => TaskState::Cancelled,
        }
    }

    fn status(&self) -> TaskStatus {
        match self {
            Self::Working => TaskStatus::Working,
            Self::InputRequired => TaskStatus::InputRequired,
            Self::Completed(_) => TaskStatus::Completed,
            Self::Failed(_) => TaskStatus::Failed,
            Self::Cancelled => TaskStatus::Cancelled,
        }
    }
}

/// One event of a task's history after `created`. The events every task has are kept as what
/// the task itself cannot say (when, and who retrieved); the rest as they are.
#[derive(Debug)]
enum Kept {
    /// The task completed at this time: `completed`, no statusMessage.
    Completed(Timestamp),
    /// The result was retrieved, by whom, while the task had this status and no
    /// statusMessage.
    Retrieved {
        at: Timestamp,
        status: TaskStatus,
        by: Option<Arc<str>>,
    },
    /// Any other event.
    Full(Box<TaskEvent>),
}

/// A task as the memory store keeps it.
#[derive(Debug)]
pub(super) struct Entry {
    id: TaskId,
    /// Owner, session, tool, runner and polling interval.
    origin: Arc<Origin>,
    kind: RequestKind,
    /// Whether `history` starts with the `created` event, written out by
    /// [`Entry::keep_created`]. Until then the entry makes that event from what it holds (at
    /// `created_at`, `working`, no statusMessage, what it wraps, its tool, owner, session and
    /// runner), and `history` starts at seq 2.
    created_kept: bool,
    state: State,
    status_message: Option<Box<str>>,
    created_at: Timestamp,
    last_updated_at: Timestamp,
    /// `expires_at` is `created_at + ttl`, made when read: neither changes.
    ttl: Option<Duration>,
    params: Json,
    progress_token: Option<Json>,
    /// Empty for most tasks, which ask nothing.
    inputs: Box<[InputRequest]>,
    history: Vec<Kept>,
}

impl Entry {
    /// A new task, with its `created` event; and its record, for the caller.
    pub(super) fn create(new: NewTask, shared: &mut Shared) -> (Box<Self>, TaskRecord) {
        let record = TaskRecord::new(new);
        let entry = Self {
            id: record.id.clone(),
            origin: shared.origin(Parts {
                owner: record.owner.as_ref().map(Owner::as_str),
                session: record.session.as_deref(),
                name: record.name.as_deref(),
                runner: record.runner.as_deref(),
                poll_interval: record.poll_interval,
            }),
            kind: record.kind,
            created_kept: false,
            state: State::Working,
            status_message: None,
            created_at: record.created_at,
            last_updated_at: record.last_updated_at,
            ttl: record.ttl,
            params: Json::Tree(Box::new(record.params.clone())),
            progress_token: record
                .progress_token
                .clone()
                .map(|t| Json::Tree(Box::new(t))),
            inputs: Box::default(),
            history: Vec::new(),
        };
        debug_assert!(record.status() == TaskStatus::Working && record.status_message.is_none());
        debug_assert_eq!(entry.expires_at(), record.expires_at);
        (Box::new(entry), record)
    }

    pub(super) fn id(&self) -> &TaskId {
        &self.id
    }

    /// Owner, session, tool, runner and polling interval.
    pub(super) fn origin(&self) -> &Origin {
        &self.origin
    }

    pub(super) fn created_at(&self) -> Timestamp {
        self.created_at
    }

    pub(super) fn last_updated_at(&self) -> Timestamp {
        self.last_updated_at
    }

    /// As [`TaskRecord::new`] sets it.
    pub(super) fn expires_at(&self) -> Option<Timestamp> {
        self.ttl
            .and_then(|ttl| self.created_at.checked_add(ttl).ok())
    }

    pub(super) fn status(&self) -> TaskStatus {
        self.state.status()
    }

    pub(super) fn is_live(&self) -> bool {
        !self.status().is_terminal()
    }

    /// The record, as [`TaskRecord`] has it.
    pub(super) fn record(&self) -> TaskRecord {
        self.record_with(self.state.state(), self.inputs.to_vec())
    }

    fn record_with(&self, state: TaskState, inputs: Vec<InputRequest>) -> TaskRecord {
        TaskRecord {
            id: self.id.clone(),
            owner: self.origin.owner.as_deref().map(Owner::new),
            session: self.origin.session.as_deref().map(str::to_owned),
            kind: self.kind,
            name: self.origin.name.as_deref().map(str::to_owned),
            params: self.params.value(),
            state,
            status_message: self.status_message.as_deref().map(str::to_owned),
            created_at: self.created_at,
            last_updated_at: self.last_updated_at,
            ttl: self.ttl,
            poll_interval: self.origin.poll_interval,
            expires_at: self.expires_at(),
            inputs,
            progress_token: self.progress_token.as_ref().map(Json::value),
            runner: self.origin.runner.as_deref().map(str::to_owned),
        }
    }

    /// The record, taking the entry's state and mailbox rather than copying them: for a
    /// change, after which [`Entry::changed`] or [`Entry::unchanged`] gives them back.
    pub(super) fn take_record(&mut self) -> TaskRecord {
        let state = std::mem::replace(&mut self.state, State::Working).into_state();
        let inputs = std::mem::take(&mut self.inputs).into_vec();
        self.record_with(state, inputs)
    }

    /// Takes back what [`Entry::take_record`] took, as it was.
    pub(super) fn unchanged(&mut self, record: TaskRecord) {
        self.state = State::of(record.state);
        self.inputs = record.inputs.into_boxed_slice();
    }

    /// Keeps `record` after a change made by [`TaskRecord::apply`]: its status, data,
    /// statusMessage, mailbox, runner and time of change.
    pub(super) fn changed(&mut self, record: &TaskRecord, shared: &mut Shared) {
        self.state = State::of(record.state.clone());
        self.inputs = record.inputs.clone().into_boxed_slice();
        self.status_message = record.status_message.as_deref().map(Box::from);
        self.last_updated_at = record.last_updated_at;
        if self.origin.runner.as_deref() != record.runner.as_deref() {
            let origin = shared.origin(Parts {
                runner: record.runner.as_deref(),
                ..self.origin.parts()
            });
            shared.release_origin(std::mem::replace(&mut self.origin, origin));
        }
        debug_assert_eq!(self.expires_at(), record.expires_at);
    }

    /// Whether the params are kept as text.
    #[cfg(test)]
    pub(super) fn params_are_text(&self) -> bool {
        matches!(self.params, Json::Text(_))
    }

    /// Keeps the params and progress token of a task that ended as text from now on: it
    /// changes no more, and is read less and less.
    pub(super) fn compact(&mut self) {
        if !self.is_live() {
            self.params.compact();
            if let Some(token) = &mut self.progress_token {
                token.compact();
            }
        }
    }

    /// Writes the `created` event out in full, before a recovery may change the runner it
    /// names.
    pub(super) fn keep_created(&mut self) {
        if !self.created_kept {
            let created = self.created();
            self.history.insert(0, Kept::Full(Box::new(created)));
            self.created_kept = true;
        }
    }

    /// The `created` event, made from the entry.
    fn created(&self) -> TaskEvent {
        TaskEvent {
            seq: 1,
            at: self.created_at,
            status: TaskStatus::Working,
            status_message: None,
            kind: EventKind::Created {
                kind: self.kind,
                tool: self.origin.name.as_deref().map(str::to_owned),
                owner: self.origin.owner.as_deref().map(str::to_owned),
                session: self.origin.session.as_deref().map(str::to_owned),
                runner: self.origin.runner.as_deref().map(str::to_owned),
            },
        }
    }

    /// How many events the entry makes rather than keeps in `history`: the `created` one,
    /// until kept.
    fn made(&self) -> usize {
        usize::from(!self.created_kept)
    }

    /// Appends an event at `at`, with the task's status and statusMessage now.
    pub(super) fn append(&mut self, at: Timestamp, kind: EventKind, shared: &mut Shared) {
        let status = self.status();
        let kept = match kind {
            EventKind::Completed
                if status == TaskStatus::Completed && self.status_message.is_none() =>
            {
                Kept::Completed(at)
            }
            EventKind::ResultRetrieved { by } if self.status_message.is_none() => Kept::Retrieved {
                at,
                status,
                by: by.as_deref().map(|b| shared.string(b)),
            },
            kind => Kept::Full(Box::new(TaskEvent {
                seq: (self.made() + self.history.len()) as u64 + 1,
                at,
                status,
                status_message: self.status_message.as_deref().map(str::to_owned),
                kind,
            })),
        };
        self.history.push(kept);
        if !self.is_live() {
            // Nothing but a retrieval follows; no room is kept for more.
            self.history.shrink_to_fit();
        }
    }

    /// Up to `limit` events after the first `skip`, in order.
    pub(super) fn history(&self, skip: usize, limit: usize) -> Vec<TaskEvent> {
        let made = self.made();
        (0..made + self.history.len())
            .skip(skip)
            .take(limit)
            .map(|i| match i.checked_sub(made) {
                None => self.created(),
                Some(kept) => self.event(i as u64 + 1, &self.history[kept]),
            })
            .collect()
    }

    fn event(&self, seq: u64, kept: &Kept) -> TaskEvent {
        let plain = |at, status, kind| TaskEvent {
            seq,
            at,
            status,
            status_message: None,
            kind,
        };
        match kept {
            Kept::Completed(at) => plain(*at, TaskStatus::Completed, EventKind::Completed),
            Kept::Retrieved { at, status, by } => plain(
                *at,
                *status,
                EventKind::ResultRetrieved {
                    by: by.as_deref().map(str::to_owned),
                },
            ),
            Kept::Full(event) => (**event).clone(),
        }
    }

    /// The record, for a task being deleted; the shared strings it held go back to `strings`.
    pub(super) fn remove(self, shared: &mut Shared) -> TaskRecord {
        let Self {
            id,
            origin,
            kind,
            created_kept: _,
            state,
            status_message,
            created_at,
            last_updated_at,
            ttl,
            params,
            progress_token,
            inputs,
            history,
        } = self;
        let record = TaskRecord {
            id,
            owner: origin.owner.as_deref().map(Owner::new),
            session: origin.session.as_deref().map(str::to_owned),
            kind,
            name: origin.name.as_deref().map(str::to_owned),
            params: params.into_value(),
            state: state.into_state(),
            status_message: status_message.map(String::from),
            created_at,
            last_updated_at,
            ttl,
            poll_interval: origin.poll_interval,
            expires_at: ttl.and_then(|ttl| created_at.checked_add(ttl).ok()),
            inputs: inputs.into_vec(),
            progress_token: progress_token.map(Json::into_value),
            runner: origin.runner.as_deref().map(str::to_owned),
        };
        shared.release_origin(origin);
        for kept in history {
            if let Kept::Retrieved { by: Some(by), .. } = kept {
                shared.release_string(by);
            }
        }
        record
    }
}

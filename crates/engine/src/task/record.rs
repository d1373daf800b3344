//! The task record every store keeps, and the one function that changes it.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Failure, Outcome, Owner, Recovery, Requestor, RpcError, TaskId, TaskState, TaskStatus,
    Transition,
};
use crate::Error;

/// Which request a task wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestKind {
    /// `tools/call`, received by a server.
    #[serde(rename = "tools/call")]
    ToolsCall,
    /// `sampling/createMessage`, received by a client.
    #[serde(rename = "sampling/createMessage")]
    SamplingCreateMessage,
    /// `elicitation/create`, received by a client.
    #[serde(rename = "elicitation/create")]
    ElicitationCreate,
}

impl RequestKind {
    /// The JSON-RPC method of the wrapped request.
    pub fn method(self) -> &'static str {
        match self {
            Self::ToolsCall => "tools/call",
            Self::SamplingCreateMessage => "sampling/createMessage",
            Self::ElicitationCreate => "elicitation/create",
        }
    }

    /// Parses a JSON-RPC method name.
    pub fn from_method(method: &str) -> Option<Self> {
        [
            Self::ToolsCall,
            Self::SamplingCreateMessage,
            Self::ElicitationCreate,
        ]
        .into_iter()
        .find(|k| k.method() == method)
    }
}

/// A request the work needs the requestor to answer (an elicitation or sampling request tied to
/// the task), kept in the task's mailbox until answered.
///
/// Keys are unique for the task's life, so an answer can never be matched to the wrong question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    /// Unique for the task's life.
    pub key: String,
    /// The JSON-RPC method to send, such as `elicitation/create`.
    pub method: String,
    /// Its params, without the related-task `_meta` (the runtime adds it on the way out).
    pub params: Value,
    /// The requestor's answer, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl InputRequest {
    /// A new, unanswered request.
    pub fn new(key: impl Into<String>, method: impl Into<String>, params: Value) -> Self {
        Self {
            key: key.into(),
            method: method.into(),
            params,
            response: None,
        }
    }
}

/// What a store needs to create a task; the engine resolves ttl and timestamps first.
#[derive(Clone, Debug)]
pub struct NewTask {
    /// The new id.
    pub id: TaskId,
    /// Who asks.
    pub requestor: Requestor,
    /// What is wrapped.
    pub kind: RequestKind,
    /// The tool name for `tools/call`, for listings and audit.
    pub name: Option<String>,
    /// The original request params, kept for resumable re-runs and audit.
    pub params: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// The resolved ttl; `None` is unlimited.
    pub ttl: Option<Duration>,
    /// The suggested polling interval.
    pub poll_interval: Option<Duration>,
    /// The requestor's progress token, valid for the task's life (T-PROG-1).
    pub progress_token: Option<Value>,
    /// The process that runs the work, for orphan detection.
    pub runner: Option<String>,
    /// Refuse the task with [`Error::LimitExceeded`] when its requestor already has this many
    /// unfinished tasks (T-TTL-2); checked by the store atomically with the insert.
    pub active_limit: Option<usize>,
}

/// Everything known about one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The id.
    pub id: TaskId,
    /// The auth context it is bound to, if any.
    pub owner: Option<Owner>,
    /// The session that created it.
    pub session: Option<String>,
    /// What is wrapped.
    pub kind: RequestKind,
    /// The tool name for `tools/call`.
    pub name: Option<String>,
    /// The original request params.
    pub params: Value,
    /// Status and outcome.
    pub state: TaskState,
    /// Human-readable words on the current status.
    pub status_message: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Time of the last change.
    pub last_updated_at: Timestamp,
    /// The resolved ttl; `None` is unlimited.
    pub ttl: Option<Duration>,
    /// The suggested polling interval.
    pub poll_interval: Option<Duration>,
    /// When the task may be deleted: `created_at + ttl`.
    pub expires_at: Option<Timestamp>,
    /// The mailbox, in the order the requests were made.
    pub inputs: Vec<InputRequest>,
    /// The requestor's progress token.
    pub progress_token: Option<Value>,
    /// The process that runs the work.
    pub runner: Option<String>,
}

// Serde for Owner and TaskId is only needed to keep records in stores as JSON.
impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

impl TaskRecord {
    /// The record of a task just created: `working`, nothing asked yet.
    pub fn new(new: NewTask) -> Self {
        let expires_at = new.ttl.and_then(|ttl| new.created_at.checked_add(ttl).ok());
        Self {
            id: new.id,
            owner: new.requestor.owner,
            session: new.requestor.session,
            kind: new.kind,
            name: new.name,
            params: new.params,
            state: TaskState::Working,
            status_message: None,
            created_at: new.created_at,
            last_updated_at: new.created_at,
            ttl: new.ttl,
            poll_interval: new.poll_interval,
            expires_at,
            inputs: Vec::new(),
            progress_token: new.progress_token,
            runner: new.runner,
        }
    }

    /// The current status.
    pub fn status(&self) -> TaskStatus {
        self.state.status()
    }

    /// Whether `requestor` may see this task by id (T-SEC-1): same owner, both none included.
    pub fn visible_to(&self, requestor: &Requestor) -> bool {
        self.owner == requestor.owner
    }

    /// Whether `requestor` sees this task in `tasks/list` (T-LIST-2): see [`Requestor`].
    pub fn listed_for(&self, requestor: &Requestor) -> bool {
        match &requestor.owner {
            Some(owner) => self.owner.as_ref() == Some(owner),
            None => {
                self.owner.is_none() && self.session.is_some() && self.session == requestor.session
            }
        }
    }

    /// Whether the task still runs or waits: not terminal.
    pub fn is_live(&self) -> bool {
        !self.status().is_terminal()
    }

    /// Whether this task counts against the same per-requestor limit as one created by
    /// `requestor`: same owner, or without owners, same session.
    pub fn counts_for(&self, requestor: &Requestor) -> bool {
        match &requestor.owner {
            Some(owner) => self.owner.as_ref() == Some(owner),
            None => self.owner.is_none() && self.session == requestor.session,
        }
    }

    /// Whether the ttl has run out at `now` (T-TTL-1).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Requests in the mailbox that still wait for an answer.
    pub fn pending_inputs(&self) -> impl Iterator<Item = &InputRequest> {
        self.inputs.iter().filter(|i| i.response.is_none())
    }

    /// The answer to the request `key`, once given.
    pub fn input_response(&self, key: &str) -> Option<&Value> {
        self.inputs.iter().find(|i| i.key == key)?.response.as_ref()
    }

    /// Applies `change` at time `now`; returns whether anything changed.
    ///
    /// This is the transition check of every store: it refuses to leave a terminal status
    /// (T-LIFE-2) with [`Error::Conflict`] naming the actual status, and it keeps the mailbox
    /// and the status in step (`input_required` exactly while a request is unanswered).
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the task is terminal; [`Error::DuplicateInputKey`] when a
    /// request reuses a key.
    pub fn apply(&mut self, change: Transition, now: Timestamp) -> Result<bool, Error> {
        let status = self.status();
        if status.is_terminal() {
            if matches!(change, Transition::AnswerInput { .. }) {
                return Ok(false);
            }
            return Err(Error::Conflict {
                id: self.id.clone(),
                actual: status,
            });
        }
        match change {
            Transition::Message(message) => self.status_message = message,
            Transition::RequestInput(request) => {
                if self.inputs.iter().any(|i| i.key == request.key) {
                    return Err(Error::DuplicateInputKey {
                        id: self.id.clone(),
                        key: request.key,
                    });
                }
                self.inputs.push(request);
                self.state = TaskState::InputRequired;
            }
            Transition::AnswerInput { key, response } => {
                let Some(slot) = self
                    .inputs
                    .iter_mut()
                    .find(|i| i.key == key && i.response.is_none())
                else {
                    return Ok(false);
                };
                slot.response = Some(response);
                if self.pending_inputs().next().is_none() {
                    self.state = TaskState::Working;
                }
            }
            Transition::Finish(Outcome::Completed(result)) => {
                self.state = TaskState::Completed(result);
                // What the work said while it ran ("waiting for approval") is no longer true.
                self.status_message = None;
            }
            Transition::Finish(Outcome::Failed { failure, message }) => {
                self.state = TaskState::Failed(failure);
                self.status_message = Some(message);
            }
            Transition::Cancel { message, .. } => {
                self.state = TaskState::Cancelled;
                self.status_message = message;
            }
            Transition::Recover {
                dead_runner,
                recovery,
            } => {
                if self.runner != dead_runner {
                    return Err(Error::RunnerChanged {
                        id: self.id.clone(),
                        runner: self.runner.clone(),
                    });
                }
                match recovery {
                    Recovery::Rerun { runner, message } => {
                        self.runner = Some(runner);
                        self.state = TaskState::Working;
                        self.inputs.clear();
                        self.status_message = Some(message);
                    }
                    Recovery::Fail { message } => {
                        self.state = TaskState::Failed(Failure::Error(RpcError {
                            code: -32603,
                            message: message.clone(),
                            data: None,
                        }));
                        self.status_message = Some(message);
                    }
                }
            }
        }
        self.last_updated_at = now;
        Ok(true)
    }

    /// The failure, when failed.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.state {
            TaskState::Failed(f) => Some(f),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> TaskRecord {
        TaskRecord::new(NewTask {
            id: TaskId::generate(),
            requestor: Requestor::anonymous("s1"),
            kind: RequestKind::ToolsCall,
            name: Some("t".into()),
            params: json!({}),
            created_at: Timestamp::UNIX_EPOCH,
            ttl: Some(Duration::from_secs(60)),
            poll_interval: None,
            progress_token: None,
            runner: Some("r1".into()),
            active_limit: None,
        })
    }

    /// T-NEW-3: a new task is working; T-TTL-1: it expires at createdAt + ttl.
    #[test]
    fn new_record_is_working_and_expires_after_ttl() {
        let r = record();
        assert_eq!(r.status(), TaskStatus::Working);
        assert!(!r.is_expired(Timestamp::UNIX_EPOCH));
        assert!(r.is_expired(Timestamp::from_second(60).unwrap()));
    }

    /// T-LIFE-1: working -> input_required -> working follows the mailbox.
    #[test]
    fn mailbox_drives_input_required() {
        let mut r = record();
        let now = Timestamp::from_second(1).unwrap();
        r.apply(
            Transition::RequestInput(InputRequest::new("a", "elicitation/create", json!({}))),
            now,
        )
        .unwrap();
        r.apply(
            Transition::RequestInput(InputRequest::new("b", "elicitation/create", json!({}))),
            now,
        )
        .unwrap();
        assert_eq!(r.status(), TaskStatus::InputRequired);
        let answer = |key: &str| Transition::AnswerInput {
            key: key.into(),
            response: json!({"action": "decline"}),
        };
        assert!(r.apply(answer("a"), now).unwrap());
        assert_eq!(r.status(), TaskStatus::InputRequired, "b still pending");
        assert!(
            !r.apply(answer("a"), now).unwrap(),
            "answered key is ignored"
        );
        assert!(
            !r.apply(answer("zz"), now).unwrap(),
            "unknown key is ignored"
        );
        assert!(r.apply(answer("b"), now).unwrap());
        assert_eq!(r.status(), TaskStatus::Working);
        assert_eq!(r.last_updated_at, now);
        let dup = r.apply(
            Transition::RequestInput(InputRequest::new("a", "elicitation/create", json!({}))),
            now,
        );
        assert!(matches!(dup, Err(Error::DuplicateInputKey { .. })));
    }

    /// Orphan recovery is compare-and-swap on the runner: only the first recoverer wins.
    #[test]
    fn recovery_needs_the_dead_runner() {
        let now = Timestamp::from_second(1).unwrap();
        let mut r = record();
        r.apply(
            Transition::RequestInput(InputRequest::new("a", "elicitation/create", json!({}))),
            now,
        )
        .unwrap();
        let rerun = |dead: &str, by: &str| Transition::Recover {
            dead_runner: Some(dead.into()),
            recovery: Recovery::Rerun {
                runner: by.into(),
                message: "running it again".into(),
            },
        };
        assert!(r.apply(rerun("r1", "r2"), now).unwrap());
        assert_eq!(r.status(), TaskStatus::Working);
        assert_eq!(r.runner.as_deref(), Some("r2"));
        assert!(r.inputs.is_empty(), "the new run asks again");
        let lost = r.apply(rerun("r1", "r3"), now).unwrap_err();
        assert!(matches!(lost, Error::RunnerChanged { .. }), "{lost}");
        let fail = Transition::Recover {
            dead_runner: Some("r2".into()),
            recovery: Recovery::Fail {
                message: "restarted".into(),
            },
        };
        assert!(r.apply(fail.clone(), now).unwrap());
        assert_eq!(r.status(), TaskStatus::Failed);
        assert_eq!(r.status_message.as_deref(), Some("restarted"));
        assert!(matches!(r.apply(fail, now), Err(Error::Conflict { .. })));
    }

    /// T-LIFE-2: nothing leaves a terminal status.
    #[test]
    fn terminal_is_final() {
        let now = Timestamp::from_second(1).unwrap();
        for end in [
            Transition::Finish(Outcome::Completed(json!({}))),
            Transition::Finish(Outcome::Failed {
                failure: Failure::Result(json!({"isError": true})),
                message: "x".into(),
            }),
            Transition::Cancel {
                message: None,
                by: None,
            },
        ] {
            let mut r = record();
            r.apply(end, now).unwrap();
            let before = r.clone();
            for change in [
                Transition::Message(Some("m".into())),
                Transition::RequestInput(InputRequest::new("k", "elicitation/create", json!({}))),
                Transition::Finish(Outcome::Completed(json!({"late": true}))),
                Transition::Cancel {
                    message: None,
                    by: None,
                },
            ] {
                let err = r
                    .apply(change, Timestamp::from_second(2).unwrap())
                    .unwrap_err();
                assert!(matches!(err, Error::Conflict { actual, .. } if actual == before.status()));
            }
            assert_eq!(r, before);
        }
    }
}

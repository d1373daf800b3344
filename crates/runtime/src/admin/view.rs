//! The admin API's JSON bodies, as serde types: what the HTTP API answers, what the dashboard
//! reads, and what `mcp-tasks admin --json` prints from a store no server holds, byte for
//! byte the same because it is the same code.
//!
//! Field names are camelCase, statuses their wire spelling (`input_required`), times RFC 3339
//! in UTC, durations in milliseconds with the unit in the name.

use std::collections::BTreeMap;

use jiff::Timestamp;
use mcp_tasks_engine::{
    AdminPage, AdminTask, Failure, InputRequest, RequestKind, TaskCount, TaskEvent, TaskRecord,
    TaskState, TaskStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::UpstreamStatus;

/// The statusMessage of a task an operator cancelled without saying why: one wording for the
/// admin API and `mcp-tasks admin --store`, so a task reads the same whichever way it was
/// cancelled.
pub const CANCELLED_MESSAGE: &str = "The task was cancelled by an operator.";

/// One task in a list: everything but its params, outcome and mailbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSummary {
    /// The task's id.
    pub task_id: String,
    /// Its status now.
    pub status: TaskStatus,
    /// Its statusMessage, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The bearer token's subject that created it; `None` without authentication.
    pub owner: Option<String>,
    /// The session that created it.
    pub session: Option<String>,
    /// The tool called.
    pub tool: Option<String>,
    /// The wrapped request's method: `tools/call`.
    pub kind: RequestKind,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub last_updated_at: Timestamp,
    /// Its ttl; `None` is unlimited.
    pub ttl_ms: Option<u64>,
    /// When it may be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// The server instance that runs its work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// Questions it waits to have answered.
    pub pending_inputs: usize,
}

impl From<&TaskRecord> for TaskSummary {
    fn from(r: &TaskRecord) -> Self {
        Self {
            task_id: r.id.as_str().to_owned(),
            status: r.status(),
            status_message: r.status_message.clone(),
            owner: r.owner.as_ref().map(|o| o.as_str().to_owned()),
            session: r.session.clone(),
            tool: r.name.clone(),
            kind: r.kind,
            created_at: r.created_at,
            last_updated_at: r.last_updated_at,
            ttl_ms: r.ttl.map(millis),
            expires_at: r.expires_at,
            runner: r.runner.clone(),
            pending_inputs: r.pending_inputs().count(),
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One task in full: its summary, the request it wraps, its outcome and its mailbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetail {
    /// What a list shows.
    #[serde(flatten)]
    pub summary: TaskSummary,
    /// The params of the wrapped request.
    pub params: Value,
    /// The result: of a completed task, or the `isError` result of a failed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The JSON-RPC error object of a failed task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The questions asked, in order, with their answers once given.
    pub inputs: Vec<InputRequest>,
}

impl From<&TaskRecord> for TaskDetail {
    fn from(r: &TaskRecord) -> Self {
        let (result, error) = match &r.state {
            TaskState::Completed(result) | TaskState::Failed(Failure::Result(result)) => {
                (Some(result.clone()), None)
            }
            TaskState::Failed(Failure::Error(e)) => (None, serde_json::to_value(e).ok()),
            TaskState::Working | TaskState::InputRequired | TaskState::Cancelled => (None, None),
        };
        Self {
            summary: TaskSummary::from(r),
            params: r.params.clone(),
            result,
            error,
            inputs: r.inputs.clone(),
        }
    }
}

/// `GET /api/tasks/{id}`: the task and one page of its history, oldest event first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskShow {
    /// The task.
    pub task: TaskDetail,
    /// Its events after `?after=SEQ` (from the first without it), at most
    /// [`HISTORY_PAGE`](mcp_tasks_engine::HISTORY_PAGE).
    pub history: Vec<TaskEvent>,
    /// Whether later events remain: ask again with `?after=` the last event's `seq`.
    #[serde(default)]
    pub history_more: bool,
}

impl From<&AdminTask> for TaskShow {
    fn from(shown: &AdminTask) -> Self {
        Self {
            task: TaskDetail::from(&shown.record),
            history: shown.history.clone(),
            history_more: shown.history_more,
        }
    }
}

/// `GET /api/tasks`: a page of tasks, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPage {
    /// The tasks.
    pub tasks: Vec<TaskSummary>,
    /// Pass back as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

impl From<&AdminPage> for TaskPage {
    fn from(page: &AdminPage) -> Self {
        Self {
            tasks: page.tasks.iter().map(TaskSummary::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// `POST /api/tasks/{id}/cancel`: the task as the cancel left it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    /// The task, now `cancelled`.
    pub task: TaskSummary,
}

/// The `POST /api/tasks/{id}/cancel` body: `{}` or `{"message":"…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The statusMessage the cancelled task gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/purge`: how many finished tasks were deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    /// The count.
    pub purged: usize,
}

/// Tasks per status; every status is there, 0 included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// `working`.
    pub working: u64,
    /// `input_required`.
    pub input_required: u64,
    /// `completed`.
    pub completed: u64,
    /// `failed`.
    pub failed: u64,
    /// `cancelled`.
    pub cancelled: u64,
}

impl StatusCounts {
    fn add(&mut self, status: TaskStatus, n: u64) {
        let slot = match status {
            TaskStatus::Working => &mut self.working,
            TaskStatus::InputRequired => &mut self.input_required,
            TaskStatus::Completed => &mut self.completed,
            TaskStatus::Failed => &mut self.failed,
            TaskStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.working + self.input_required + self.completed + self.failed + self.cancelled
    }
}

/// One owner's tasks per status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerCounts {
    /// The owner; `None` for tasks created without authentication.
    pub owner: Option<String>,
    /// Per status.
    #[serde(flatten)]
    pub counts: StatusCounts,
    /// All statuses.
    pub total: u64,
}

/// The most owners [`Counts::by_owner`] lists: a store with an owner per user could have
/// thousands, more than an overview should carry.
pub const MAX_OWNERS: usize = 100;

/// The store's tasks, counted by status and by owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Every owner's.
    pub by_status: StatusCounts,
    /// Per owner, the most tasks first (then by name, the unowned first), at most
    /// [`MAX_OWNERS`].
    pub by_owner: Vec<OwnerCounts>,
    /// Whether more owners have tasks than `by_owner` lists.
    #[serde(default)]
    pub by_owner_more: bool,
}

impl Counts {
    /// Sums the store's `(status, tool, owner)` groups.
    pub fn new(groups: &[TaskCount]) -> Self {
        let mut by_status = StatusCounts::default();
        let mut owners: BTreeMap<Option<String>, StatusCounts> = BTreeMap::new();
        for g in groups {
            by_status.add(g.status, g.count);
            owners
                .entry(g.owner.as_ref().map(|o| o.as_str().to_owned()))
                .or_default()
                .add(g.status, g.count);
        }
        let mut by_owner: Vec<OwnerCounts> = owners
            .into_iter()
            .map(|(owner, counts)| OwnerCounts {
                owner,
                total: counts.total(),
                counts,
            })
            .collect();
        // Stable: equal totals stay by name, the unowned first.
        by_owner.sort_by_key(|o| std::cmp::Reverse(o.total));
        let by_owner_more = by_owner.len() > MAX_OWNERS;
        by_owner.truncate(MAX_OWNERS);
        Self {
            by_status,
            by_owner,
            by_owner_more,
        }
    }
}

/// Who serves: `GET /api/overview`'s `server`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// The name it gives clients.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `serve` or `gateway`.
    pub role: String,
    /// This instance's runner id, which its tasks carry.
    pub runner: String,
    /// When it started.
    pub started_at: Timestamp,
    /// The store, with any password hidden.
    pub store: String,
    /// Whether other instances share the store.
    pub shared: bool,
}

/// `GET /readyz`, and the overview's `ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` or `unready`.
    pub status: String,
    /// Each check's verdict: `store` (`ok` or the error), `lease` (`held`, `not shared`), and
    /// `shutdown` once the server stops.
    pub checks: BTreeMap<String, String>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// The limits in force: the overview's `limits`; `None` is unlimited (or, for
/// `maxSessions`, not serving HTTP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Unfinished tasks one requestor may have.
    pub max_active_per_requestor: Option<usize>,
    /// Bytes of one result.
    pub max_result_bytes: Option<usize>,
    /// Bytes of unexpired results one client may hold before its new tasks are refused.
    #[serde(default)]
    pub max_stored_result_bytes: Option<u64>,
    /// Task operations per requestor: `5/s, bursts of 10`.
    pub rate_limit: Option<String>,
    /// The ttl of a task that asks for none.
    pub default_ttl_ms: Option<u64>,
    /// The largest ttl granted.
    pub max_ttl_ms: Option<u64>,
    /// The `pollInterval` suggested to clients.
    pub poll_interval_ms: u64,
    /// Open HTTP sessions at once.
    pub max_sessions: Option<usize>,
}

/// `GET /api/overview`: the dashboard's header and `mcp-tasks admin health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// Who serves.
    pub server: ServerInfo,
    /// Readiness, as `/readyz` answers it.
    pub ready: Readiness,
    /// The store's tasks; all 0 when the store could not count them (see `counts_error`).
    pub counts: Counts,
    /// Why the store could not count its tasks (it failed, or took over 5 s); `None` when
    /// `counts` holds its counts.
    #[serde(default)]
    pub counts_error: Option<String>,
    /// The limits in force.
    pub limits: Limits,
    /// Sessions open now: MCP 2025-11-25 sessions, and MCP 2026-07-28 requests in flight.
    pub sessions: usize,
    /// SSE streams open now.
    pub open_streams: usize,
    /// Requests waiting inside this instance for a task to change.
    pub waiters: u64,
    /// Tasks whose work runs in this instance now.
    pub running: u64,
    /// The gateway's upstream; `None` for a server that is no gateway.
    pub upstream: Option<UpstreamStatus>,
}

/// Every error body: `{"error":{"code":"not_found","message":"…"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// See [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `not_found`, `unknown_route`, `method_not_allowed`,
    /// `conflict`, `too_large`, `unavailable` or `internal`.
    pub code: String,
    /// What was wrong, and what to do.
    pub message: String,
}

/// One `event: task` of `GET /api/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskChange {
    /// The task.
    pub task_id: String,
    /// `created`, `updated` or `deleted`.
    pub change: String,
    /// Its status after the change; `None` when deleted.
    pub status: Option<TaskStatus>,
}

#[cfg(test)]
mod tests {
    use mcp_tasks_engine::Owner;
    use serde_json::json;

    use super::*;

    /// Issue 15 item 3: counts group by status and owner, every status present.
    #[test]
    fn counts_sum_groups_by_status_and_owner() {
        let group = |status, owner: Option<&str>, count| TaskCount {
            status,
            tool: Some("t".into()),
            owner: owner.map(Owner::new),
            count,
        };
        let counts = Counts::new(&[
            group(TaskStatus::Working, Some("alice"), 2),
            group(TaskStatus::Completed, Some("alice"), 1),
            group(TaskStatus::Working, None, 3),
        ]);
        assert_eq!(
            serde_json::to_value(&counts).unwrap(),
            json!({
                "byStatus": {"working": 5, "input_required": 0, "completed": 1, "failed": 0, "cancelled": 0},
                "byOwner": [
                    {"owner": null, "working": 3, "input_required": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 3},
                    {"owner": "alice", "working": 2, "input_required": 0, "completed": 1, "failed": 0, "cancelled": 0, "total": 3},
                ],
                "byOwnerMore": false
            })
        );
    }

    /// Review of issue 15, smaller issues: the overview lists the owners with the most
    /// tasks, at most MAX_OWNERS of them, and says when there are more.
    #[test]
    fn by_owner_lists_the_largest_owners_first_and_no_more_than_its_cap() {
        let groups: Vec<TaskCount> = (0..MAX_OWNERS as u64 + 5)
            .map(|i| TaskCount {
                status: TaskStatus::Completed,
                tool: None,
                owner: Some(Owner::new(format!("owner-{i:03}"))),
                count: i + 1,
            })
            .collect();
        let counts = Counts::new(&groups);
        assert_eq!(counts.by_owner.len(), MAX_OWNERS);
        assert!(counts.by_owner_more);
        let totals: Vec<u64> = counts.by_owner.iter().map(|o| o.total).collect();
        assert_eq!(totals[0], MAX_OWNERS as u64 + 5);
        assert!(totals.windows(2).all(|w| w[0] > w[1]), "{totals:?}");
        assert_eq!(
            counts.by_status.completed,
            groups.iter().map(|g| g.count).sum::<u64>()
        );
        assert!(!Counts::new(&groups[..3]).by_owner_more);
    }
}

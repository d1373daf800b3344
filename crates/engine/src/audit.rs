//! Audit events (T-SEC-3): one structured `tracing` event per thing that happens to a task,
//! all under one target so a subscriber can route them apart from diagnostics.
//!
//! Every event has the fields `event`, `task`, `owner` (the auth context, `-` when none),
//! `session`, `tool` and `status`. They are emitted only when
//! [`EngineConfig::audit`](crate::EngineConfig::audit) is on, so an ordinary `RUST_LOG=info`
//! does not fill logs with them by accident.

use crate::task::TaskRecord;

/// The `tracing` target of every audit event.
pub const AUDIT_TARGET: &str = "mcp_tasks::audit";

/// What happened to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// It was created.
    Create,
    /// Its status changed (including to a terminal status: completed, failed).
    Status,
    /// Its result was handed to a requestor by `tasks/result`.
    ResultRetrieved,
    /// A requestor cancelled it.
    Cancel,
    /// Its ttl ran out and it was deleted.
    Expire,
    /// Its runner died and it was failed or run again.
    Recover,
    /// An operator deleted it, finished, with its history.
    Purge,
}

impl AuditEvent {
    /// The event's name in the `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Status => "status",
            Self::ResultRetrieved => "result",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
            Self::Recover => "recover",
            Self::Purge => "purge",
        }
    }
}

pub(crate) fn emit(event: AuditEvent, record: &TaskRecord) {
    tracing::info!(
        target: AUDIT_TARGET,
        event = event.as_str(),
        task = %record.id,
        owner = record.owner.as_ref().map_or("-", |o| o.as_str()),
        session = record.session.as_deref().unwrap_or("-"),
        tool = record.name.as_deref().unwrap_or("-"),
        status = record.status().as_str(),
        "task {}", event.as_str()
    );
}

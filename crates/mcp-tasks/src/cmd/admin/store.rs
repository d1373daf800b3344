//! `mcp-tasks admin --store STORE`: the admin API's operations on a store opened here, for a
//! store no server holds (a SQLite file a stopped server left, a PostgreSQL database).
//!
//! Everything goes through the engine's operator facade ([`Admin`]) and comes out as the
//! runtime's admin API bodies ([`mcp_tasks_runtime::admin::view`]), so `--json` prints what
//! `--url` would. The engine is opened only to read and steer: it recovers nothing, reruns
//! nothing and takes no lease, so looking at a store never changes whose tasks are whose.

use std::collections::BTreeMap;

use jiff::Timestamp;
use mcp_tasks_engine::{Admin, Engine, EngineConfig, Error, OpenOptions, StoreUrl, TaskId};
use mcp_tasks_runtime::admin::query::{PurgeRequest, TaskQuery};
use mcp_tasks_runtime::admin::view::{
    Cancelled, Counts, Purged, Readiness, TaskPage, TaskShow, TaskSummary, CANCELLED_MESSAGE,
};
use serde::Serialize;
use serde_json::{json, Value};

use super::exit::AdminFailure;

/// Who a cancel from this command is, in the task's history: an operator, from the CLI.
const CANCELLED_BY: &str = "admin:cli";

/// A store opened for an operator.
pub(super) struct StoreAdmin {
    engine: Engine,
    admin: Admin,
    /// The store, for messages and `health` (a PostgreSQL password hidden).
    shown: String,
}

impl StoreAdmin {
    /// Opens the store `url` names.
    pub(super) async fn open(url: &str) -> Result<Self, AdminFailure> {
        // The engine's own parsing, which never repeats a password.
        let parsed: StoreUrl = url
            .parse()
            .map_err(|e| AdminFailure::usage(format!("invalid --store: {e}")))?;
        let resolved = parsed
            .resolved()
            .map_err(|e| AdminFailure::usage(format!("invalid --store: {e}")))?;
        let shown = resolved.to_string();
        match &resolved {
            StoreUrl::Memory => {
                return Err(AdminFailure::usage(
                    "--store memory is a server's own memory, which no other process can open; \
                     ask the server instead with --url http://ADDR (its --admin address)",
                ))
            }
            // Opening creates a missing file: a mistyped path would show an empty store.
            StoreUrl::Sqlite(Some(path)) if !path.exists() => {
                return Err(AdminFailure::unreachable(format!(
                    "no store at {shown}: the file does not exist; name the file the server \
                     kept its tasks in (its --store)"
                )))
            }
            StoreUrl::Sqlite(_) | StoreUrl::Postgres(_) => {}
        }
        let store = resolved.open(&OpenOptions::default()).await.map_err(|e| {
            AdminFailure::unreachable(format!(
                "{e}; to see the tasks of a running server, ask it: --url http://ADDR (its \
                     --admin address)"
            ))
        })?;
        let engine = Engine::new(store, EngineConfig::default());
        Ok(Self {
            admin: engine.admin(),
            engine,
            shown,
        })
    }

    /// One page, as `GET /api/tasks` answers it.
    pub(super) async fn list(&self, query: &TaskQuery) -> Result<Value, AdminFailure> {
        let page = self
            .admin
            .list(
                query.filter(Timestamp::now()),
                query.cursor.as_deref(),
                query.limit,
            )
            .await
            .map_err(|e| self.failure(&e))?;
        body(&TaskPage::from(&page))
    }

    /// One task and the first page of its history, as `GET /api/tasks/{id}` answers it.
    pub(super) async fn task(&self, id: &str) -> Result<Value, AdminFailure> {
        let shown = self
            .admin
            .task(&TaskId::from(id), None)
            .await
            .map_err(|e| self.failure(&e))?;
        body(&TaskShow::from(&shown))
    }

    /// Cancels the task, as `POST /api/tasks/{id}/cancel` does, recorded as by `admin:cli`.
    pub(super) async fn cancel(
        &self,
        id: &str,
        message: Option<&str>,
    ) -> Result<Value, AdminFailure> {
        let message = message.unwrap_or(CANCELLED_MESSAGE).to_owned();
        let record = self
            .admin
            .cancel(&TaskId::from(id), CANCELLED_BY, Some(message))
            .await
            .map_err(|e| self.failure(&e))?;
        body(&Cancelled {
            task: TaskSummary::from(&record),
        })
    }

    /// Deletes finished tasks, as `POST /api/purge` does.
    pub(super) async fn purge(&self, request: &PurgeRequest) -> Result<Value, AdminFailure> {
        let cutoff = request
            .cutoff(Timestamp::now())
            .map_err(|e| AdminFailure::usage(e.to_string()))?;
        let purged = self
            .admin
            .purge(cutoff)
            .await
            .map_err(|e| self.failure(&e))?;
        body(&Purged { purged })
    }

    /// What `GET /api/overview` can say without a server: the store, whether it answers, and
    /// its tasks counted by status and owner.
    pub(super) async fn overview(&self) -> Result<Value, AdminFailure> {
        let checked = self.engine.store().check().await;
        let ready = Readiness {
            status: if checked.is_ok() { "ready" } else { "unready" }.to_owned(),
            checks: BTreeMap::from([(
                "store".to_owned(),
                checked
                    .as_ref()
                    .map_or_else(ToString::to_string, |()| "ok".to_owned()),
            )]),
        };
        let mut overview = json!({ "store": self.shown, "ready": body(&ready)? });
        if checked.is_ok() {
            let counts = self.admin.counts().await.map_err(|e| self.failure(&e))?;
            overview["counts"] = body(&Counts::new(&counts))?;
        }
        Ok(overview)
    }

    /// How an engine error ends the command, as the admin API maps it to an HTTP status.
    fn failure(&self, e: &Error) -> AdminFailure {
        match e {
            Error::NotFound { .. } | Error::Expired { .. } | Error::Conflict { .. } => {
                AdminFailure::refused(e.to_string())
            }
            Error::InvalidCursor { .. } | Error::NulByte { .. } => {
                AdminFailure::usage(e.to_string())
            }
            Error::Store { .. } => {
                AdminFailure::unreachable(format!("the store {} failed: {e}", self.shown))
            }
            Error::DuplicateInputKey { .. }
            | Error::Cancelled { .. }
            | Error::LimitExceeded { .. }
            | Error::ResultBytesExceeded { .. }
            | Error::TooManyInputs { .. }
            | Error::RunnerChanged { .. }
            | Error::RunnerAlive { .. } => {
                AdminFailure::unreachable(format!("internal error: {e}"))
            }
        }
    }
}

/// A body as JSON, as the admin API's handlers serialize it.
fn body(value: &impl Serialize) -> Result<Value, AdminFailure> {
    serde_json::to_value(value)
        .map_err(|e| AdminFailure::unreachable(format!("cannot write the answer as JSON: {e}")))
}

//! `notifications/tasks/status` to the session that created a task, on each status change
//! (T-NOTE-1). Requestors must not depend on them; they are a courtesy that saves a poll. They
//! carry the full Task and no related-task `_meta` (T-META-2).

use std::collections::HashMap;
use std::sync::Arc;

use mcp_tasks_engine::{ChangeEvent, TaskId, TaskStatus};
use mcp_tasks_wire::jsonrpc::Notification;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::TaskStatusNotificationParams;
use tokio::sync::broadcast::error::RecvError;

use crate::dialect;
use crate::server::Server;
use crate::session::Session;

pub(crate) fn spawn(server: Arc<Server>, session: Arc<Session>) {
    let mut feed = server.engine().changes();
    tokio::spawn(async move {
        // The last status sent per task: a statusMessage change alone is not worth a message,
        // and two changes read after the fact must not repeat one status.
        let mut sent: HashMap<TaskId, TaskStatus> = HashMap::new();
        loop {
            let change = tokio::select! {
                c = feed.recv() => c,
                () = session.closed().cancelled() => return,
            };
            let change = match change {
                Ok(c) => c,
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "status notifications skipped; requestors poll");
                    // A missed terminal or expiry entry would keep its task here forever.
                    forget_finished(&server, &session, &mut sent).await;
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if !session.owns_task(&change.id) {
                continue;
            }
            match change.event {
                ChangeEvent::Created => continue,
                ChangeEvent::Expired => {
                    session.forget_task(&change.id);
                    sent.remove(&change.id);
                    continue;
                }
                ChangeEvent::Updated(_) => {}
            }
            let Ok(record) = server.engine().get(session.requestor(), &change.id).await else {
                continue;
            };
            if record.status().is_terminal() {
                session.forget_task(&change.id);
                sent.remove(&change.id);
            } else if sent.insert(record.id.clone(), record.status()) == Some(record.status()) {
                continue;
            }
            let params = TaskStatusNotificationParams::from(dialect::task(&record));
            let Ok(params) = serde_json::to_value(&params) else {
                continue;
            };
            session.send_for_task(
                &record.id,
                Notification::new(method::NOTIFY_TASK_STATUS, Some(params)).into(),
            );
        }
    });
}

/// Drops the session's record of tasks that ended or went while the feed lagged.
async fn forget_finished(
    server: &Server,
    session: &Session,
    sent: &mut HashMap<TaskId, TaskStatus>,
) {
    for id in session.owned_tasks() {
        let live = match server.engine().get(session.requestor(), &id).await {
            Ok(record) => !record.status().is_terminal(),
            Err(mcp_tasks_engine::Error::Store { .. }) => true,
            Err(_) => false,
        };
        if !live {
            session.forget_task(&id);
            sent.remove(&id);
        }
    }
}

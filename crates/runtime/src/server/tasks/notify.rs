//! `notifications/tasks/status` to the session that created a task, on each status change
//! (T-NOTE-1). Requestors must not depend on them; they are a courtesy that saves a poll. They
//! carry the full Task and no related-task `_meta` (T-META-2).
//!
//! Each session follows its own tasks through the engine's routed feed
//! ([`Engine::watch`](mcp_tasks_engine::Engine::watch)), so a change wakes the one session
//! that made the task, whatever the number of idle sessions.

use std::collections::HashMap;
use std::sync::Arc;

use mcp_tasks_engine::{Error, TaskId, TaskStatus};
use mcp_tasks_wire::jsonrpc::Notification;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::TaskStatusNotificationParams;

use crate::dialect;
use crate::server::Server;
use crate::session::Session;

pub(crate) fn spawn(server: Arc<Server>, session: Arc<Session>) {
    let following = Arc::new(server.engine().watch([]));
    session.follow_tasks(following.clone());
    tokio::spawn(async move {
        // The last status sent per task: a statusMessage change alone is not worth a message,
        // and two changes read after the fact must not repeat one status.
        let mut sent: HashMap<TaskId, TaskStatus> = HashMap::new();
        loop {
            let changed = tokio::select! {
                c = following.changed() => c,
                () = session.closed().cancelled() => return,
            };
            // Only a store that is gone ends the feed: nothing will change again.
            let Ok(changed) = changed else { return };
            for id in changed {
                notify(&server, &session, &mut sent, &id).await;
            }
        }
    });
}

/// Sends the task's status if it is new, and stops following a task that ended or went.
async fn notify(
    server: &Server,
    session: &Session,
    sent: &mut HashMap<TaskId, TaskStatus>,
    id: &TaskId,
) {
    let record = match server.engine().get(session.requestor(), id).await {
        Ok(record) => record,
        Err(Error::NotFound { .. } | Error::Expired { .. }) => {
            session.forget_task(id);
            sent.remove(id);
            return;
        }
        // Unknown is not ended: the next change (or lag) reads it again.
        Err(_) => return,
    };
    if record.status().is_terminal() {
        session.forget_task(id);
        sent.remove(id);
    } else if sent.insert(record.id.clone(), record.status()) == Some(record.status()) {
        return;
    }
    let params = TaskStatusNotificationParams::from(dialect::task(&record));
    let Ok(params) = serde_json::to_value(&params) else {
        return;
    };
    session.send_for_task(
        &record.id,
        Notification::new(method::NOTIFY_TASK_STATUS, Some(params)).into(),
    );
}

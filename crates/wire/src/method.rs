//! Method names, and the protocol versions this crate speaks.
//!
//! Method names come from the `method` constants of MCP 2025-11-25's schema (requests such as
//! `CallToolRequest`, notifications such as `TaskStatusNotification`); the integration test
//! `tests/schema.rs` checks each one against the schema. The protocol version constants live here
//! (and are re-exported from [`crate::v2025_11_25`]) because version negotiation happens before
//! either side knows which dialect's types apply.

/// Protocol version this crate prefers, sent in and answered to `initialize`.
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";

/// Protocol versions we accept in `initialize`, newest first. Older versions have no tasks; a
/// session on them simply never sees `capabilities.tasks`.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The first protocol version with the tasks utility.
pub const TASKS_PROTOCOL_VERSION: &str = "2025-11-25";

/// Whether a session that negotiated `version` may use tasks: `capabilities.tasks`, the
/// `tasks/*` methods and `params.task`. Versions are dates, so they order as text; the base
/// protocol of an older version does not know tasks at all, and a peer on it must never see
/// them.
pub fn has_tasks(version: &str) -> bool {
    version >= TASKS_PROTOCOL_VERSION
}

/// Request: opens a session and exchanges capabilities.
pub const INITIALIZE: &str = "initialize";
/// Notification: the client has finished initializing.
pub const INITIALIZED: &str = "notifications/initialized";
/// Request: liveness check, answered with `{}`.
pub const PING: &str = "ping";
/// Request: lists the server's tools.
pub const TOOLS_LIST: &str = "tools/list";
/// Request: calls a tool, optionally as a task (`params.task`).
pub const TOOLS_CALL: &str = "tools/call";
/// Request (server to client): asks the user for input, optionally as a task.
pub const ELICITATION_CREATE: &str = "elicitation/create";
/// Request (server to client): asks the client's model for a completion, optionally as a task.
pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
/// Request: a task's current state (T-GET-1).
pub const TASKS_GET: &str = "tasks/get";
/// Request: a task's outcome, waiting until it is terminal (T-RES-1, T-RES-2).
pub const TASKS_RESULT: &str = "tasks/result";
/// Request: the requestor's tasks, paginated (T-LIST-1).
pub const TASKS_LIST: &str = "tasks/list";
/// Request: cancels a task (T-CAN-1).
pub const TASKS_CANCEL: &str = "tasks/cancel";
/// Notification: a task's full state after a change (T-NOTE-1).
pub const NOTIFY_TASK_STATUS: &str = "notifications/tasks/status";
/// Notification: progress for a `progressToken` (T-PROG-1).
pub const NOTIFY_PROGRESS: &str = "notifications/progress";
/// Notification: a log message (`notifications/message`).
pub const NOTIFY_MESSAGE: &str = "notifications/message";
/// Notification: the sender gave up on a request (not used for tasks, T-CAN-3).
pub const NOTIFY_CANCELLED: &str = "notifications/cancelled";
/// Whether `name` is one of the `tasks/*` requests, which exist only from 2025-11-25 on.
pub fn is_tasks_method(name: &str) -> bool {
    matches!(name, TASKS_GET | TASKS_RESULT | TASKS_LIST | TASKS_CANCEL)
}

/// Request (2026-07-28): what the server speaks and supports, without a session (B-1).
pub const SERVER_DISCOVER: &str = "server/discover";
/// Request (2026-07-28): opens the long-lived notification stream (B-7).
pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
/// Notification (2026-07-28): the first message of a `subscriptions/listen` stream.
pub const NOTIFY_SUBSCRIPTIONS_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";
/// Request (tasks extension): answers a task's open input requests.
pub const TASKS_UPDATE: &str = "tasks/update";
/// Notification (tasks extension): a task's full detailed state after a change.
pub const NOTIFY_TASKS: &str = "notifications/tasks";
/// Request (server to client, or an input request of 2026-07-28): the client's roots.
pub const ROOTS_LIST: &str = "roots/list";

/// Notification: the server's tool list changed.
pub const NOTIFY_TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
/// Request: sets the minimum level of `notifications/message`.
pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";

/// Request: the server's resources, paginated.
pub const RESOURCES_LIST: &str = "resources/list";
/// Request: the server's resource templates, paginated.
pub const RESOURCES_TEMPLATES_LIST: &str = "resources/templates/list";
/// Request: one resource's contents.
pub const RESOURCES_READ: &str = "resources/read";
/// Request (2025-11-25): follow a resource's changes.
pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
/// Request (2025-11-25): stop following a resource.
pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
/// Request: the server's prompts, paginated.
pub const PROMPTS_LIST: &str = "prompts/list";
/// Request: one prompt, filled with arguments.
pub const PROMPTS_GET: &str = "prompts/get";
/// Request: completions for a prompt or resource template argument.
pub const COMPLETION_COMPLETE: &str = "completion/complete";
/// Notification: the server's resource list changed.
pub const NOTIFY_RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
/// Notification: a resource a client subscribed to changed.
pub const NOTIFY_RESOURCES_UPDATED: &str = "notifications/resources/updated";
/// Notification: the server's prompt list changed.
pub const NOTIFY_PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";

#[cfg(test)]
mod tests {
    use super::*;

    /// T-CAP-1: tasks belong to 2025-11-25 and later, never to the versions before it.
    #[test]
    fn only_2025_11_25_and_later_have_tasks() {
        assert!(has_tasks("2025-11-25"));
        assert!(has_tasks("2026-07-28"));
        assert!(!has_tasks("2025-06-18"));
        assert!(!has_tasks("2025-03-26"));
        for v in SUPPORTED_PROTOCOL_VERSIONS {
            assert_eq!(has_tasks(v), *v == LATEST_PROTOCOL_VERSION, "{v}");
        }
    }
}

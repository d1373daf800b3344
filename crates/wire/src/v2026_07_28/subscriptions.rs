//! `subscriptions/listen`: the one long-lived stream of this era (B-7), and the task ids a
//! client follows on it.
//!
//! MCP 2026-07-28, schema `SubscriptionsListenRequestParams`, `SubscriptionFilter`,
//! `SubscriptionsAcknowledgedNotificationParams`; the extension's
//! `TaskSubscriptionNotifications` and `TaskSubscriptionAcknowledgedNotifications`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `_meta` key on every notification of a subscription: which `subscriptions/listen` it
/// belongs to (its request id).
pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// What a client asks to hear about. Every kind is opt-in: nothing is sent that was not asked
/// for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionFilter {
    /// `notifications/tools/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_list_changed: Option<bool>,
    /// `notifications/prompts/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts_list_changed: Option<bool>,
    /// `notifications/resources/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_list_changed: Option<bool>,
    /// `notifications/resources/updated` for these URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_subscriptions: Option<Vec<String>>,
    /// `notifications/tasks` for these task ids (the tasks extension, X-7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ids: Option<Vec<String>>,
    /// Kinds we do not know, kept so the acknowledgement can leave them out knowingly.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Params of `subscriptions/listen`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsListenParams {
    /// What to send.
    #[serde(default)]
    pub notifications: SubscriptionFilter,
    /// The request `_meta` (version and capabilities).
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// Params of `notifications/subscriptions/acknowledged`: the kinds the server agreed to send,
/// a subset of those asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsAcknowledgedParams {
    /// What will be sent.
    pub notifications: SubscriptionFilter,
    /// With [`SUBSCRIPTION_ID`].
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// B-7, X-7: the filter reads the base kinds and the extension's task ids.
    #[test]
    fn listen_params_read_kinds_and_task_ids() {
        let p: SubscriptionsListenParams = serde_json::from_value(json!({
            "notifications": {"toolsListChanged": true, "taskIds": ["a", "b"], "future": true}
        }))
        .unwrap();
        assert_eq!(p.notifications.tools_list_changed, Some(true));
        assert_eq!(
            p.notifications.task_ids.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        assert!(p.notifications.other.contains_key("future"));
        let empty: SubscriptionsListenParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty.notifications, SubscriptionFilter::default());
    }
}

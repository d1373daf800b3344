//! Reserved `_meta` keys of the tasks utility and helpers to set and read them.
//!
//! MCP 2025-11-25, "Tasks" (`basic/utilities/tasks.mdx`), sections "Related Task Metadata" and
//! "Model Immediate Response"; schema `RelatedTaskMetadata`. Requirements T-META-1, T-META-2,
//! T-RES-3, T-NEW-4.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `_meta` key tying a request, notification or response to a task (T-META-1, T-RES-3); its
/// value is a [`RelatedTaskMetadata`].
pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// `_meta` key of a `CreateTaskResult` for `tools/call`: a string for the model to read while
/// the task runs (T-NEW-4).
pub const MODEL_IMMEDIATE_RESPONSE: &str = "io.modelcontextprotocol/model-immediate-response";

/// The value under [`RELATED_TASK`]: which task a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedTaskMetadata {
    /// The id of the related task.
    pub task_id: String,
}

/// A `_meta` object holding only the related-task key for `task_id`.
pub fn related_task(task_id: &str) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(RELATED_TASK.to_owned(), related_task_value(task_id));
    meta
}

/// A `_meta` object holding only the model-immediate-response key with `text`.
pub fn model_immediate_response(text: &str) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(
        MODEL_IMMEDIATE_RESPONSE.to_owned(),
        Value::String(text.to_owned()),
    );
    meta
}

fn related_task_value(task_id: &str) -> Value {
    let mut inner = Map::new();
    inner.insert("taskId".to_owned(), Value::String(task_id.to_owned()));
    Value::Object(inner)
}

/// Sets `value["_meta"][RELATED_TASK] = {"taskId": task_id}` on a params or result object,
/// keeping any other `_meta` keys and creating `_meta` when absent (or replacing it when it is
/// not an object, which the schema forbids anyway).
///
/// Does nothing when `value` is not a JSON object: params and results are always objects in MCP.
pub fn with_related_task(value: &mut Value, task_id: &str) {
    let Value::Object(obj) = value else {
        return;
    };
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert(RELATED_TASK.to_owned(), related_task_value(task_id));
    }
}

/// The related task's id in `params_or_result["_meta"]`, if there is a well-formed one.
pub fn related_task_id(params_or_result: &Value) -> Option<String> {
    params_or_result
        .get("_meta")?
        .get(RELATED_TASK)?
        .get("taskId")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn related_task_builds_the_reserved_key() {
        assert_eq!(
            Value::Object(related_task("t-1")),
            json!({"io.modelcontextprotocol/related-task": {"taskId": "t-1"}})
        );
        assert_eq!(
            serde_json::to_value(RelatedTaskMetadata {
                task_id: "t-1".into()
            })
            .unwrap(),
            json!({"taskId": "t-1"})
        );
    }

    #[test]
    fn with_related_task_creates_or_merges_meta() {
        let mut v = json!({"content": []});
        with_related_task(&mut v, "a");
        assert_eq!(
            v,
            json!({"content": [], "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "a"}}})
        );
        let mut v = json!({"_meta": {"progressToken": 1, RELATED_TASK: {"taskId": "old"}}});
        with_related_task(&mut v, "b");
        assert_eq!(
            v,
            json!({"_meta": {"progressToken": 1, RELATED_TASK: {"taskId": "b"}}})
        );
        let mut v = json!({"_meta": 5});
        with_related_task(&mut v, "c");
        assert_eq!(related_task_id(&v).as_deref(), Some("c"));
        let mut v = json!([1]);
        with_related_task(&mut v, "d");
        assert_eq!(v, json!([1]));
    }

    #[test]
    fn related_task_id_reads_only_well_formed_values() {
        assert_eq!(
            related_task_id(&json!({"_meta": {RELATED_TASK: {"taskId": "x"}}})).as_deref(),
            Some("x")
        );
        assert_eq!(related_task_id(&json!({})), None);
        assert_eq!(
            related_task_id(&json!({"_meta": {RELATED_TASK: {"taskId": 5}}})),
            None
        );
        assert_eq!(
            related_task_id(&json!({"_meta": {RELATED_TASK: "x"}})),
            None
        );
    }

    #[test]
    fn model_immediate_response_is_a_string() {
        assert_eq!(
            Value::Object(model_immediate_response("working on it")),
            json!({"io.modelcontextprotocol/model-immediate-response": "working on it"})
        );
    }
}

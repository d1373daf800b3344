//! JSON Schema validation of what we emit, against the official schemas in `shared/spec/`.
//!
//! Each spec's `schema.json` (JSON Schema 2020-12, definitions under `$defs`) is read once; a
//! validator per `(spec, $defs entry)` is compiled on first use and cached, so hundreds of checks
//! per test binary stay cheap. Formats (`uri`, `date-time`, ...) are checked too.
//!
//! - [`validate`] / [`assert_valid`]: one value against one `$defs` entry, e.g. `"Task"`.
//! - [`validate_message`] / [`assert_valid_message`]: a whole JSON-RPC message against
//!   `JSONRPCMessage`, and a request or notification whose method the schema names also against
//!   that method's definition (e.g. `tasks/get` against `GetTaskRequest`).
//! - [`validate_response_to`]: a response against the result type of the method it answers.
//! - [`is_rfc3339`]: the timestamp check behind T-OBJ-1's `createdAt` / `lastUpdatedAt`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{json, Value};

/// Which official schema to validate against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spec {
    /// MCP 2025-11-25 (`shared/spec/mcp-2025-11-25/schema.json`), with the Tasks utility.
    Mcp20251125,
    /// MCP 2026-07-28 base protocol (`shared/spec/mcp-2026-07-28/schema.json`).
    Mcp20260728,
    /// The tasks extension `io.modelcontextprotocol/tasks` (`shared/spec/ext-tasks/schema.json`).
    /// It has no `JSONRPCMessage`; [`validate_message`] uses the 2026-07-28 envelope for it.
    ExtTasks,
}

impl Spec {
    /// Every spec, in declaration order.
    pub const ALL: [Self; 3] = [Self::Mcp20251125, Self::Mcp20260728, Self::ExtTasks];

    /// The directory under `shared/spec/` holding this spec's `schema.json`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Mcp20251125 => "mcp-2025-11-25",
            Self::Mcp20260728 => "mcp-2026-07-28",
            Self::ExtTasks => "ext-tasks",
        }
    }

    /// Where this spec's `schema.json` is: `shared/` beside the repository root.
    pub fn path(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/spec")
            .join(self.dir_name())
            .join("schema.json")
    }

    /// The parsed `schema.json`, read once per process.
    ///
    /// # Panics
    ///
    /// When the file is missing or not JSON; the message names the path.
    pub fn document(self) -> &'static Value {
        static DOCS: [OnceLock<Value>; 3] = [const { OnceLock::new() }; 3];
        DOCS[self as usize].get_or_init(|| {
            let path = self.path();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read the {self} JSON Schema at {}: {e}; the checkout must have \
                     `shared/spec/` beside the repository root",
                    path.display()
                )
            });
            serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!(
                    "the {self} JSON Schema at {} is not JSON: {e}",
                    path.display()
                )
            })
        })
    }

    /// Whether this spec's `$defs` has an entry named `def`.
    pub fn has_def(self, def: &str) -> bool {
        self.document()
            .get("$defs")
            .and_then(|defs| defs.get(def))
            .is_some()
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mcp20251125 => "MCP 2025-11-25",
            Self::Mcp20260728 => "MCP 2026-07-28",
            Self::ExtTasks => "MCP tasks extension",
        })
    }
}

type Cache = Mutex<HashMap<(Spec, String), Arc<Validator>>>;

/// The compiled validator of `#/$defs/<def>` in `spec`, compiled once.
fn validator(spec: Spec, def: &str) -> Result<Arc<Validator>, String> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let key = (spec, def.to_owned());
    if let Some(v) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Arc::clone(v));
    }
    if !spec.has_def(def) {
        return Err(format!(
            "the {spec} schema ({}) has no $defs entry named {def:?}",
            spec.path().display()
        ));
    }
    let doc = spec.document();
    // A root whose `$ref` points at the wanted definition, with every definition beside it so
    // internal references resolve.
    let wrapper = json!({
        "$schema": doc.get("$schema").cloned().unwrap_or_else(|| json!("https://json-schema.org/draft/2020-12/schema")),
        "$ref": format!("#/$defs/{def}"),
        "$defs": doc["$defs"].clone(),
    });
    // Compiled outside the lock: two tests racing on a new definition both compile it, which
    // is cheaper than serializing every compilation.
    let compiled = jsonschema::options()
        .should_validate_formats(true)
        .build(&wrapper)
        .map_err(|e| format!("cannot compile {def:?} of the {spec} schema: {e}"))?;
    let compiled = Arc::new(compiled);
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, Arc::clone(&compiled));
    Ok(compiled)
}

/// Validates `value` against `#/$defs/<def>` of `spec`.
///
/// # Errors
///
/// Every validation error, one per line, each with the JSON pointer of the failing part of
/// `value` and the schema keyword that failed; or a message naming an unknown `def`.
pub fn validate(spec: Spec, def: &str, value: &Value) -> Result<(), String> {
    let validator = validator(spec, def)?;
    let mut errors = Vec::new();
    for e in validator.iter_errors(value) {
        describe_error(&e, 1, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} error(s) against {def} of the {spec} schema:\n{}",
            validator.iter_errors(value).count(),
            errors.join("\n")
        ))
    }
}

/// One line per error, indented by `depth`; the failing branches of an `anyOf` / `oneOf` follow
/// their error one level deeper, so "not valid under any of the schemas" says why.
fn describe_error(e: &ValidationError<'_>, depth: usize, out: &mut Vec<String>) {
    let at = e.instance_path.to_string();
    let at = if at.is_empty() {
        "(root)".to_owned()
    } else {
        at
    };
    let indent = "  ".repeat(depth);
    out.push(format!(
        "{indent}at {at}: {e} (schema path {})",
        e.schema_path
    ));
    if let ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } =
        &e.kind
    {
        for (i, branch) in context.iter().enumerate() {
            out.push(format!("{indent}  branch {i}:"));
            for inner in branch {
                describe_error(inner, depth + 2, out);
            }
        }
    }
}

/// Panics unless `value` is valid against `#/$defs/<def>` of `spec`; the message lists the
/// errors and the pretty-printed value.
///
/// # Panics
///
/// When [`validate`] fails.
#[track_caller]
pub fn assert_valid(spec: Spec, def: &str, value: &Value) {
    if let Err(errors) = validate(spec, def, value) {
        panic!("{errors}\nvalue:\n{}", pretty(value));
    }
}

/// Validates a whole JSON-RPC message against `JSONRPCMessage`; then a request or notification
/// whose method has its own `$defs` entry (a `method` constant, with or without `id` as the
/// message) also against that entry, so params are checked too.
///
/// Also rejects a response with both `result` and `error`, which JSON-RPC forbids but the
/// schema's open objects allow.
///
/// For [`Spec::ExtTasks`], the envelope is the 2026-07-28 one, and methods the extension does
/// not define are looked up in the 2026-07-28 schema.
///
/// # Errors
///
/// As [`validate`]. When the envelope fails, the errors are those of the member of
/// `JSONRPCMessage` the message looks like (request, notification, result or error response),
/// which say more than "not valid under any of the schemas listed in anyOf".
pub fn validate_message(spec: Spec, value: &Value) -> Result<(), String> {
    // JSON-RPC forbids this, but the schema's open objects let it through `anyOf`.
    if value.get("result").is_some() && value.get("error").is_some() {
        return Err("a JSON-RPC response has both \"result\" and \"error\"".to_owned());
    }
    let envelope_spec = if spec.has_def("JSONRPCMessage") {
        spec
    } else {
        Spec::Mcp20260728
    };
    if validate(envelope_spec, "JSONRPCMessage", value).is_err() {
        let member = match (value.get("method"), value.get("id")) {
            (Some(_), Some(_)) => "JSONRPCRequest",
            (Some(_), None) => "JSONRPCNotification",
            (None, _) if value.get("error").is_some() => "JSONRPCErrorResponse",
            (None, _) => "JSONRPCResultResponse",
        };
        validate(envelope_spec, member, value)?;
        // The member alone passed, yet the union failed (e.g. both `result` and `error`).
        validate(envelope_spec, "JSONRPCMessage", value)?;
    }
    let Some(method) = value.get("method").and_then(Value::as_str) else {
        return Ok(());
    };
    let has_id = value.get("id").is_some();
    let mut defs = method_defs(spec, method, has_id);
    if defs.is_empty() && spec == Spec::ExtTasks {
        defs = method_defs(Spec::Mcp20260728, method, has_id)
            .into_iter()
            .map(|(_, def)| (Spec::Mcp20260728, def))
            .collect();
    }
    for (def_spec, def) in defs {
        validate(def_spec, &def, value)?;
    }
    Ok(())
}

/// Panics unless [`validate_message`] accepts `value`; the message lists the errors and the
/// pretty-printed value.
///
/// # Panics
///
/// When [`validate_message`] fails.
#[track_caller]
pub fn assert_valid_message(spec: Spec, value: &Value) {
    if let Err(errors) = validate_message(spec, value) {
        panic!("{errors}\nmessage:\n{}", pretty(value));
    }
}

/// Validates a response to a `method` request: the envelope as [`validate_message`], and a
/// `result` against the method's result definition (`XRequest` answers `XResult`, falling back
/// to `Result`), or against `CreateTaskResult` when the result is a task handle (has `task`, or
/// `"resultType": "task"`).
///
/// `tasks/result` maps to `GetTaskPayloadResult`, which accepts any object: check the payload
/// against the underlying request's result type with [`validate`] as well.
///
/// # Errors
///
/// As [`validate`].
pub fn validate_response_to(spec: Spec, method: &str, value: &Value) -> Result<(), String> {
    validate_message(spec, value)?;
    let Some(result) = value.get("result") else {
        return Ok(());
    };
    let is_task_handle = result.get("task").is_some()
        || result.get("resultType").and_then(Value::as_str) == Some("task");
    let def = if is_task_handle && spec.has_def("CreateTaskResult") {
        "CreateTaskResult".to_owned()
    } else {
        method_defs(spec, method, true)
            .into_iter()
            .filter_map(|(_, def)| def.strip_suffix("Request").map(|s| format!("{s}Result")))
            .find(|def| spec.has_def(def))
            .unwrap_or_else(|| "Result".to_owned())
    };
    validate(spec, &def, result)
}

/// The `$defs` entries of `spec` whose `method` is the constant `method` and which have an `id`
/// property exactly when `with_id`.
fn method_defs(spec: Spec, method: &str, with_id: bool) -> Vec<(Spec, String)> {
    let Some(defs) = spec.document().get("$defs").and_then(Value::as_object) else {
        return Vec::new();
    };
    defs.iter()
        .filter(|(_, def)| {
            let props = def.get("properties");
            props
                .and_then(|p| p.get("method"))
                .and_then(|m| m.get("const"))
                .and_then(Value::as_str)
                == Some(method)
                && props.and_then(|p| p.get("id")).is_some() == with_id
        })
        .map(|(name, _)| (spec, name.clone()))
        .collect()
}

/// Whether `s` is an RFC 3339 date-time (JSON Schema's `date-time` format), as T-OBJ-1 wants
/// for `createdAt` and `lastUpdatedAt`.
///
/// # Panics
///
/// Never in practice: only if the fixed two-keyword schema behind it failed to compile.
pub fn is_rfc3339(s: &str) -> bool {
    static DATE_TIME: OnceLock<Validator> = OnceLock::new();
    DATE_TIME
        .get_or_init(|| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(&json!({"type": "string", "format": "date-time"}))
                .expect("a two-keyword schema compiles")
        })
        .is_valid(&Value::String(s.to_owned()))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Value {
        json!({"taskId": "t", "status": "working", "createdAt": "2025-11-25T10:30:00Z",
               "lastUpdatedAt": "2025-11-25T10:30:00Z", "ttl": null})
    }

    #[test]
    fn every_spec_file_loads() {
        for spec in Spec::ALL {
            assert!(spec.document().get("$defs").is_some(), "{spec}");
        }
    }

    #[test]
    fn validate_accepts_and_rejects() {
        validate(Spec::Mcp20251125, "Task", &task()).unwrap();
        let mut bad = task();
        bad["ttl"] = json!("forever");
        bad.as_object_mut().unwrap().remove("createdAt");
        let err = validate(Spec::Mcp20251125, "Task", &bad).unwrap_err();
        assert!(err.starts_with("2 error(s) against Task"), "{err}");
        assert!(err.contains("at /ttl:"), "{err}");
        assert!(err.contains("createdAt"), "{err}");
    }

    #[test]
    fn any_of_errors_explain_each_branch() {
        let block = json!({"type": "resourcelink", "uri": "file:///a", "name": "a"});
        let err = validate(Spec::Mcp20251125, "ContentBlock", &block).unwrap_err();
        assert!(err.starts_with("1 error(s)"), "{err}");
        assert!(err.contains("branch 3:"), "{err}");
        assert!(err.contains("\"resource_link\" was expected"), "{err}");
    }

    #[test]
    fn unknown_def_is_an_error_not_a_pass() {
        let err = validate(Spec::Mcp20251125, "NoSuchThing", &json!({})).unwrap_err();
        assert!(
            err.contains("no $defs entry named \"NoSuchThing\""),
            "{err}"
        );
    }

    #[test]
    fn formats_are_checked() {
        let ok = json!({"name": "n", "version": "1", "websiteUrl": "https://example.com"});
        validate(Spec::Mcp20251125, "Implementation", &ok).unwrap();
        let bad = json!({"name": "n", "version": "1", "websiteUrl": "not a uri"});
        assert!(validate(Spec::Mcp20251125, "Implementation", &bad).is_err());
    }

    #[test]
    fn messages_are_checked_against_their_method() {
        let get =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": "t"}});
        validate_message(Spec::Mcp20251125, &get).unwrap();
        let no_task_id = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {}});
        let err = validate_message(Spec::Mcp20251125, &no_task_id).unwrap_err();
        assert!(err.contains("GetTaskRequest"), "{err}");
        let custom = json!({"jsonrpc": "2.0", "id": 1, "method": "x/custom"});
        validate_message(Spec::Mcp20251125, &custom).unwrap();
        let both =
            json!({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "m"}});
        assert!(validate_message(Spec::Mcp20251125, &both).is_err());
        let batch = json!([get]);
        assert!(validate_message(Spec::Mcp20251125, &batch).is_err());
        let wrong_version = json!({"jsonrpc": "1.0", "id": 1, "method": "ping"});
        let err = validate_message(Spec::Mcp20251125, &wrong_version).unwrap_err();
        assert!(err.contains("JSONRPCRequest"), "{err}");
    }

    #[test]
    fn responses_are_checked_against_the_result_type() {
        let mut get_result = task();
        get_result["pollInterval"] = json!(100);
        let resp = json!({"jsonrpc": "2.0", "id": 1, "result": get_result});
        validate_response_to(Spec::Mcp20251125, "tasks/get", &resp).unwrap();
        let resp = json!({"jsonrpc": "2.0", "id": 1, "result": {"status": "working"}});
        assert!(validate_response_to(Spec::Mcp20251125, "tasks/get", &resp).is_err());
        let handle = json!({"jsonrpc": "2.0", "id": 1, "result": {"task": task()}});
        validate_response_to(Spec::Mcp20251125, "tools/call", &handle).unwrap();
        let not_a_call_result = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": 1}});
        assert!(validate_response_to(Spec::Mcp20251125, "tools/call", &not_a_call_result).is_err());
        let ping = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        validate_response_to(Spec::Mcp20251125, "ping", &ping).unwrap();
    }

    #[test]
    fn rfc3339_check() {
        assert!(is_rfc3339("2025-11-25T10:30:00Z"));
        assert!(is_rfc3339("2025-11-25T10:30:00.123+02:00"));
        assert!(!is_rfc3339("2025-11-25 10:30"));
        assert!(!is_rfc3339("yesterday"));
    }
}

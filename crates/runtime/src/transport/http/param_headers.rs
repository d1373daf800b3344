//! `Mcp-Param-{Name}` headers: tool arguments a tool asks clients to mirror into HTTP headers,
//! checked against the body (B-5).
//!
//! MCP 2026-07-28, "Streamable HTTP", Custom Headers from Tool Parameters: a property of a
//! tool's `inputSchema` reachable from the root through `properties` alone may carry
//! `"x-mcp-header": "Name"`; a client then sends its value as `Mcp-Param-Name` (strings as they
//! are, integers in decimal, booleans as `true`/`false`, the `=?base64?…?=` sentinel when not
//! plain ASCII). A server that reads the body "MUST validate that encoded header values, after
//! decoding if Base64-encoded, match the corresponding values in the request body": a value in
//! the body whose header is missing, malformed or different is 400 with -32020. A value absent
//! or `null` expects no header. Integers compare as numbers (`42.0` is `42`).
//!
//! The tools never change while a server runs, so each tool's mirrored arguments are found
//! once, when the first call needs them.

use std::collections::HashMap;

use axum::http::HeaderMap;
use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::Tool;
use mcp_tasks_wire::v2026_07_28::header_mismatch;
use mcp_tasks_wire::v2026_07_28::headers::decode_value;
use serde_json::Value;

/// The schema keyword that marks an argument for mirroring.
const KEYWORD: &str = "x-mcp-header";

/// Every tool's mirrored arguments.
#[derive(Debug, Default)]
pub(super) struct ParamHeaders {
    by_tool: HashMap<String, Vec<Mirrored>>,
}

/// One argument mirrored into a header.
#[derive(Debug, PartialEq)]
struct Mirrored {
    /// The `{Name}` of `Mcp-Param-{Name}`.
    name: String,
    /// The property names leading to it from the arguments' root.
    path: Vec<String>,
}

impl ParamHeaders {
    /// The mirrored arguments of `tools`.
    pub(super) fn of(tools: &[Tool]) -> Self {
        let by_tool = tools
            .iter()
            .filter_map(|tool| {
                let mut found = Vec::new();
                collect(&tool.input_schema, &mut Vec::new(), &mut found);
                (!found.is_empty()).then(|| (tool.name.clone(), found))
            })
            .collect();
        Self { by_tool }
    }

    /// Checks the `Mcp-Param-*` headers of a call of `tool` with `arguments`.
    ///
    /// # Errors
    ///
    /// -32020 naming the header that is missing, malformed or differs from the body.
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        tool: &str,
        arguments: Option<&Value>,
    ) -> Result<(), ErrorObject> {
        let Some(mirrored) = self.by_tool.get(tool) else {
            return Ok(());
        };
        for m in mirrored {
            let value = m
                .path
                .iter()
                .try_fold(arguments, |v, key| v.map(|v| v.get(key)))
                .flatten();
            let Some(value) = value.filter(|v| !v.is_null()) else {
                continue;
            };
            let header = format!("mcp-param-{}", m.name.to_ascii_lowercase());
            let argument = m.path.join(".");
            let Some(raw) = headers.get(header.as_str()) else {
                return Err(header_mismatch(format!(
                    "missing Mcp-Param-{} header: the tool mirrors arguments.{argument} into it, \
                     and the body has a value",
                    m.name
                )));
            };
            let text = raw.to_str().map_err(|_| {
                header_mismatch(format!(
                    "the Mcp-Param-{} header has characters a header value may not carry; send \
                     the =?base64?…?= form",
                    m.name
                ))
            })?;
            let sent = decode_value(text).map_err(|why| {
                header_mismatch(format!(
                    "the Mcp-Param-{} header is malformed: {why}",
                    m.name
                ))
            })?;
            if !matches(&sent, value) {
                return Err(header_mismatch(format!(
                    "the Mcp-Param-{} header {sent:?} does not match arguments.{argument} ({value})",
                    m.name
                )));
            }
        }
        Ok(())
    }
}

/// Finds the marked properties under `schema`, following `properties` only: a mark reached
/// through anything else (`items`, `oneOf`, `$ref`…) is not one the spec lets a client mirror.
fn collect(schema: &Value, path: &mut Vec<String>, found: &mut Vec<Mirrored>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, property) in properties {
        path.push(key.clone());
        if let Some(name) = property.get(KEYWORD).and_then(Value::as_str) {
            found.push(Mirrored {
                name: name.to_owned(),
                path: path.clone(),
            });
        }
        collect(property, path, found);
        path.pop();
    }
}

/// Whether a decoded header value stands for the body's `value`.
fn matches(sent: &str, value: &Value) -> bool {
    match value {
        Value::String(s) => sent == s,
        Value::Bool(b) => sent == if *b { "true" } else { "false" },
        Value::Number(n) => sent
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        // Arrays and objects cannot be marked; a mark on one is the tool's own mistake.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn tools() -> ParamHeaders {
        let tool: Tool = serde_json::from_value(json!({
            "name": "execute_sql",
            "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "limit": {"type": "integer", "x-mcp-header": "Limit"},
                "dry": {"type": "boolean", "x-mcp-header": "Dry"},
                "target": {"type": "object", "properties": {
                    "db": {"type": "string", "x-mcp-header": "Db"}
                }},
                "list": {"type": "array", "items": {"type": "object", "properties": {
                    "no": {"type": "string", "x-mcp-header": "Never"}
                }}},
                "query": {"type": "string"}
            }}
        }))
        .unwrap();
        ParamHeaders::of(&[tool])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        h
    }

    fn code(r: Result<(), ErrorObject>) -> Option<i32> {
        r.err().map(|e| e.code.0)
    }

    /// B-5: only marks reachable through `properties` count.
    #[test]
    fn marks_are_found_through_properties_only() {
        let found = &tools().by_tool["execute_sql"];
        let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names.len(), 4, "{found:?}");
        assert!(!names.contains(&"Never"), "{names:?}");
        let db = found.iter().find(|m| m.name == "Db").unwrap();
        assert_eq!(db.path, ["target", "db"]);
    }

    /// B-5: each value in the body needs its header, equal after decoding (integers as
    /// numbers, booleans in lowercase, the Base64 sentinel decoded); values absent or null
    /// need none.
    #[test]
    fn headers_must_match_the_arguments() {
        let t = tools();
        let args = json!({"region": "us-west1", "limit": 42, "dry": false,
                          "target": {"db": "日本"}, "query": "SELECT 1"});
        let ok = [
            ("mcp-param-region", " us-west1 "),
            ("Mcp-Param-Limit", "42.0"),
            ("mcp-param-dry", "false"),
            ("mcp-param-db", "=?base64?5pel5pys?="),
        ];
        assert_eq!(
            code(t.check(&headers(&ok), "execute_sql", Some(&args))),
            None
        );
        let none = json!({"query": "x", "region": null});
        assert_eq!(
            code(t.check(&headers(&[]), "execute_sql", Some(&none))),
            None
        );
        assert_eq!(code(t.check(&headers(&[]), "execute_sql", None)), None);
        assert_eq!(
            code(t.check(&headers(&[]), "other_tool", Some(&args))),
            None
        );
        for (name, bad) in [
            ("mcp-param-region", "us-east1"),
            ("mcp-param-limit", "41"),
            ("mcp-param-dry", "False"),
            ("mcp-param-db", "=?base64?SGVsbG8?="),
            ("mcp-param-db", "=?base64?SGVs!!!bG8=?="),
        ] {
            let mut h = headers(&ok);
            h.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(bad).unwrap(),
            );
            assert_eq!(
                code(t.check(&h, "execute_sql", Some(&args))),
                Some(-32020),
                "{name}: {bad}"
            );
        }
        let mut missing = headers(&ok);
        missing.remove("mcp-param-limit");
        assert_eq!(
            code(t.check(&missing, "execute_sql", Some(&args))),
            Some(-32020)
        );
    }

    /// B-5: a value without the whole sentinel is literal.
    #[test]
    fn a_partial_sentinel_is_literal() {
        let t = tools();
        for literal in ["SGVsbG8=", "=?base64?SGVsbG8="] {
            let args = json!({"region": literal});
            let h = headers(&[("mcp-param-region", literal)]);
            assert_eq!(
                code(t.check(&h, "execute_sql", Some(&args))),
                None,
                "{literal}"
            );
        }
    }
}

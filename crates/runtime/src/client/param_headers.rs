//! `Mcp-Param-{Name}` headers, client side (B-5): the tool arguments a tool asks clients to
//! mirror into HTTP headers, so that a router can read them without parsing the body.
//!
//! MCP 2026-07-28, "Streamable HTTP", Custom Headers from Tool Parameters: a property of a
//! tool's `inputSchema`, reached from the root through `properties` alone, may carry
//! `"x-mcp-header": "Name"`; every `tools/call` of that tool then sends the argument's value as
//! `Mcp-Param-Name`: a string as it is, an integer in decimal, a boolean as `true`/`false`, the
//! `=?base64?…?=` sentinel when not plain ASCII; no header when the value is absent or `null`.
//! The name must be an RFC 9110 token, unique in the tool whatever its case, on a `string`,
//! `integer` or `boolean` property; clients "MUST drop tools whose annotation is invalid" from
//! the tools they list, and keep the rest.

use std::collections::{HashMap, HashSet};

use mcp_tasks_wire::v2025_11_25::Tool;
use mcp_tasks_wire::v2026_07_28::headers::encode_value;
use serde_json::Value;

/// The schema keyword that marks an argument for mirroring.
const KEYWORD: &str = "x-mcp-header";

/// Keywords whose values are data, not schemas: a mark inside them marks nothing.
const DATA: [&str; 4] = ["const", "default", "enum", "examples"];

/// One argument mirrored into a header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mirrored {
    /// The `{Name}` of `Mcp-Param-{Name}`.
    pub(crate) name: String,
    /// The property names leading to it from the arguments' root.
    pub(crate) path: Vec<String>,
}

/// The mirrored arguments of a tool's `inputSchema`.
///
/// # Errors
///
/// Why the tool's annotations are invalid (the tool is then dropped).
pub(crate) fn mirrored(tool: &Tool) -> Result<Vec<Mirrored>, String> {
    let mut found = Vec::new();
    walk(&tool.input_schema, Some(&mut Vec::new()), &mut found)?;
    let mut names = HashSet::new();
    for m in &found {
        if !names.insert(m.name.to_ascii_lowercase()) {
            return Err(format!(
                "{KEYWORD} {:?} is used twice (names are compared without case)",
                m.name
            ));
        }
    }
    Ok(found)
}

/// Collects the marks under `schema`; `path` is `Some` while `schema` was reached through
/// `properties` alone.
fn walk(
    schema: &Value,
    path: Option<&mut Vec<String>>,
    found: &mut Vec<Mirrored>,
) -> Result<(), String> {
    let Value::Object(object) = schema else {
        if let Value::Array(items) = schema {
            for item in items {
                walk(item, None, found)?;
            }
        }
        return Ok(());
    };
    let mut path = path;
    if let Some(mark) = object.get(KEYWORD) {
        let Some(at) = path.as_deref().filter(|p| !p.is_empty()) else {
            return Err(format!(
                "{KEYWORD} {mark} is on a schema not reached through `properties` alone"
            ));
        };
        found.push(check_mark(mark, object.get("type"), at)?);
    }
    for (key, value) in object {
        if key == KEYWORD || DATA.contains(&key.as_str()) {
            continue;
        }
        if key == "properties" {
            let Value::Object(properties) = value else {
                continue;
            };
            for (name, property) in properties {
                match path.as_deref_mut() {
                    Some(p) => {
                        p.push(name.clone());
                        let walked = walk(property, Some(&mut *p), found);
                        p.pop();
                        walked?;
                    }
                    None => walk(property, None, found)?,
                }
            }
        } else {
            walk(value, None, found)?;
        }
    }
    Ok(())
}

/// A mark on the property at `path`: a token name on a string, integer or boolean property.
fn check_mark(mark: &Value, kind: Option<&Value>, path: &[String]) -> Result<Mirrored, String> {
    let at = path.join(".");
    let name = mark
        .as_str()
        .filter(|n| is_token(n))
        .ok_or_else(|| format!("{KEYWORD} {mark} of {at} is not an HTTP token"))?;
    match kind.and_then(Value::as_str) {
        Some("string" | "integer" | "boolean") => Ok(Mirrored {
            name: name.to_owned(),
            path: path.to_vec(),
        }),
        _ => Err(format!(
            "{KEYWORD} {name:?} is on {at}, which is not of type string, integer or boolean"
        )),
    }
}

/// An RFC 9110 token: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The mirrored arguments of every tool listed, by tool name.
#[derive(Debug, Default)]
pub(crate) struct Mirrors {
    by_tool: HashMap<String, Vec<Mirrored>>,
}

impl Mirrors {
    /// Learns the mirrored arguments of `tools` (whose annotations are valid), keeping what
    /// was learnt of other tools.
    pub(crate) fn learn(&mut self, tools: &[Tool]) {
        for tool in tools {
            match mirrored(tool) {
                Ok(m) if !m.is_empty() => {
                    self.by_tool.insert(tool.name.clone(), m);
                }
                _ => {
                    self.by_tool.remove(&tool.name);
                }
            }
        }
    }

    /// The `Mcp-Param-*` headers of a call of `tool` with `arguments`: lower-case names, values
    /// in header form.
    pub(crate) fn headers(&self, tool: &str, arguments: Option<&Value>) -> Vec<(String, String)> {
        let Some(mirrored) = self.by_tool.get(tool) else {
            return Vec::new();
        };
        mirrored
            .iter()
            .filter_map(|m| {
                let value = m
                    .path
                    .iter()
                    .try_fold(arguments, |v, key| v.map(|v| v.get(key)))
                    .flatten()?;
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                        (Some(i), _, _) => i.to_string(),
                        (_, Some(u), _) => u.to_string(),
                        // An integer written as 42.0 is sent as 42.
                        (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                            format!("{f:.0}")
                        }
                        _ => n.to_string(),
                    },
                    _ => return None,
                };
                Some((
                    format!("mcp-param-{}", m.name.to_ascii_lowercase()),
                    encode_value(&text),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(schema: Value) -> Tool {
        serde_json::from_value(json!({"name": "t", "inputSchema": schema})).unwrap()
    }

    /// B-5: each marked argument becomes its header, converted and encoded as the spec says;
    /// absent and null values send none.
    #[test]
    fn marked_arguments_become_headers() {
        let t = tool(json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "limit": {"type": "integer", "x-mcp-header": "Limit"},
            "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
            "nested": {"type": "object", "properties": {"db": {"type": "string", "x-mcp-header": "Db"}}},
            "plain": {"type": "string"}
        }}));
        let mut mirrors = Mirrors::default();
        mirrors.learn(&[t]);
        let mut headers = mirrors.headers(
            "t",
            Some(&json!({"region": "Zürich", "limit": 42.0, "dry": false,
                         "nested": {"db": null}, "plain": "x"})),
        );
        headers.sort();
        assert_eq!(
            headers,
            [
                ("mcp-param-dry-run".to_owned(), "false".to_owned()),
                ("mcp-param-limit".to_owned(), "42".to_owned()),
                ("mcp-param-region".to_owned(), encode_value("Zürich")),
            ]
        );
        assert!(mirrors
            .headers("other", Some(&json!({"region": "x"})))
            .is_empty());
        assert_eq!(
            mirrors.headers("t", Some(&json!({"nested": {"db": "main"}}))),
            [("mcp-param-db".to_owned(), "main".to_owned())]
        );
    }

    /// B-5: a tool whose marks break the rules is refused, saying why: not a token, on a
    /// number, reached through `items`, used twice whatever the case.
    #[test]
    fn invalid_marks_are_refused() {
        for (schema, why) in [
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "a b"}}}),
                "token",
            ),
            (
                json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
                "type",
            ),
            (json!({"properties": {"a": {"x-mcp-header": "A"}}}), "type"),
            (
                json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
                "properties",
            ),
            (
                json!({"properties": {
                    "a": {"type": "string", "x-mcp-header": "Same"},
                    "b": {"type": "string", "x-mcp-header": "same"}}}),
                "twice",
            ),
            (json!({"x-mcp-header": "Root"}), "properties"),
        ] {
            let e = mirrored(&tool(schema.clone())).unwrap_err();
            assert!(e.contains(why), "{schema}: {e}");
        }
        let fine = json!({"properties": {"a": {"type": "string", "default": {"x-mcp-header": 1}}}});
        assert_eq!(mirrored(&tool(fine)).unwrap(), []);
    }
}

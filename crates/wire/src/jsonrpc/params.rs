//! [`super::params_as`]: typed params with -32602 errors that name the failing field.
//!
//! `serde_json`'s errors from a `Value` say what was expected but not where. To find where, the
//! failing params are rendered once more with every member on its own line, remembering which
//! path each line belongs to, and parsed again from that text: the line of the second error is
//! the path of the first. This runs only on the error path.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ErrorObject;

pub(super) fn params_as<T: DeserializeOwned>(params: Option<Value>) -> Result<T, ErrorObject> {
    let value = params.unwrap_or_else(|| Value::Object(Map::new()));
    match T::deserialize(&value) {
        Ok(t) => Ok(t),
        Err(err) => {
            let message = match failing_path::<T>(&value) {
                Some(path) if !path.is_empty() => format!("invalid params: `{path}`: {err}"),
                _ => format!("invalid params: {err}"),
            };
            Err(ErrorObject::invalid_params(message))
        }
    }
}

/// The dotted path (`task.ttl`, `messages[0].role`) of the member `T` fails on; `""` for the top
/// level, `None` if it can't be told.
fn failing_path<T: DeserializeOwned>(value: &Value) -> Option<String> {
    let mut r = Renderer {
        text: String::new(),
        paths: vec![String::new()],
    };
    r.value(value, "");
    let err = serde_json::from_str::<T>(&r.text).err()?;
    r.paths.get(err.line().checked_sub(1)?).cloned()
}

/// Writes JSON with each object member and array element starting a new line, and records the
/// path of every line; a closing bracket's line belongs to its container.
struct Renderer {
    text: String,
    /// `paths[n]` is the path of line `n + 1`.
    paths: Vec<String>,
}

impl Renderer {
    fn newline(&mut self, path: &str) {
        self.text.push('\n');
        self.paths.push(path.to_owned());
    }

    fn value(&mut self, v: &Value, path: &str) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                self.text.push('{');
                for (i, (key, child)) in map.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.newline(&child_path);
                    self.text.push_str(&Value::String(key.clone()).to_string());
                    self.text.push(':');
                    self.value(child, &child_path);
                }
                self.newline(path);
                self.text.push('}');
            }
            Value::Array(items) if !items.is_empty() => {
                self.text.push('[');
                for (i, child) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    let child_path = format!("{path}[{i}]");
                    self.newline(&child_path);
                    self.value(child, &child_path);
                }
                self.newline(path);
                self.text.push(']');
            }
            scalar_or_empty => self.text.push_str(&scalar_or_empty.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Msg {
        role: Role,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        User,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        messages: Vec<Msg>,
    }

    #[test]
    fn paths_reach_into_arrays() {
        let err = params_as::<Params>(Some(
            json!({"messages": [{"role": "user"}, {"role": "robot"}]}),
        ))
        .unwrap_err();
        assert!(
            err.message
                .starts_with("invalid params: `messages[1].role`: unknown variant `robot`"),
            "{}",
            err.message
        );
        let err = params_as::<Params>(Some(json!({"messages": [{}]}))).unwrap_err();
        assert_eq!(
            err.message,
            "invalid params: `messages[0]`: missing field `role`"
        );
        let err = params_as::<Params>(Some(json!({"messages": {"role": "user"}}))).unwrap_err();
        assert_eq!(
            err.message,
            "invalid params: `messages`: invalid type: map, expected a sequence"
        );
    }

    #[test]
    fn renderer_keeps_strings_with_newlines_on_one_line() {
        let mut r = Renderer {
            text: String::new(),
            paths: vec![String::new()],
        };
        r.value(&json!({"a": "x\ny", "b": [1, {}], "c": []}), "");
        assert_eq!(r.text.lines().count(), r.paths.len());
        assert_eq!(r.paths, ["", "a", "b", "b[0]", "b[1]", "b", "c", ""]);
        let back: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(back, json!({"a": "x\ny", "b": [1, {}], "c": []}));
    }
}

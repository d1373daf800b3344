//! The fields of an elicitation form: the `requestedSchema` of `elicitation/create` read once
//! into a list that the interactive form, the validator and `--answers` all share.
//!
//! MCP 2025-11-25, "Elicitation", form mode; schema `ElicitRequestFormParams.requestedSchema`
//! and `PrimitiveSchemaDefinition` (`StringSchema`, `NumberSchema`, `BooleanSchema`, the
//! single- and multi-select enum schemas and `LegacyTitledEnumSchema`). The schema is flat: an
//! object whose properties are primitives, so every field is one of [`Kind`]'s variants.

use serde_json::{Map, Number, Value};

/// One property of the form, in schema order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The property name: the key in the answer's `content`.
    pub(crate) name: String,
    /// `title`, shown instead of the name when present.
    pub(crate) title: Option<String>,
    /// `description`, shown as help under the prompt.
    pub(crate) description: Option<String>,
    /// Listed in the schema's `required`.
    pub(crate) required: bool,
    /// What the value is and the limits it must keep.
    pub(crate) kind: Kind,
}

/// The primitive a field holds, with the constraints the spec allows on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// `type: string` without `enum`/`oneOf`.
    Text {
        /// `minLength`, in characters.
        min_len: Option<u64>,
        /// `maxLength`, in characters.
        max_len: Option<u64>,
        /// `format`; a format the spec does not list is ignored, as JSON Schema does.
        format: Option<Format>,
        /// `default`.
        default: Option<String>,
    },
    /// `type: number` or `type: integer`.
    Number {
        /// `integer` rather than `number`.
        integer: bool,
        /// `minimum`, inclusive.
        min: Option<f64>,
        /// `maximum`, inclusive.
        max: Option<f64>,
        /// `default`.
        default: Option<Number>,
    },
    /// `type: boolean`.
    Bool {
        /// `default`.
        default: Option<bool>,
    },
    /// `type: string` with `enum` (and legacy `enumNames`) or `oneOf` of `{const, title}`.
    Choice {
        /// The allowed values, in schema order.
        options: Vec<Choice>,
        /// `default`, kept only when it is one of the options.
        default: Option<String>,
    },
    /// `type: array` whose `items` has `enum` or `anyOf` of `{const, title}`.
    Multi {
        /// The allowed values, in schema order.
        options: Vec<Choice>,
        /// `minItems`.
        min_items: Option<u64>,
        /// `maxItems`.
        max_items: Option<u64>,
        /// `default`, keeping only values that are options.
        default: Vec<String>,
    },
}

/// One allowed value of a select field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    /// What is sent.
    pub(crate) value: String,
    /// What is shown: the option's title, else the value.
    pub(crate) label: String,
}

/// The string formats `StringSchema` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `email`.
    Email,
    /// `uri`.
    Uri,
    /// `date`: `YYYY-MM-DD`.
    Date,
    /// `date-time`: RFC 3339.
    DateTime,
}

impl Format {
    /// What a person should type, for help lines and error messages.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Self::Email => "an email address like name@example.com",
            Self::Uri => "a URI with a scheme, like https://example.com",
            Self::Date => "a date like 2025-11-25",
            Self::DateTime => "a date and time like 2025-11-25T14:30:00Z",
        }
    }

    fn accepts(self, s: &str) -> bool {
        match self {
            Self::Email => is_email(s),
            Self::Uri => is_uri(s),
            Self::Date => is_date(s),
            Self::DateTime => is_date_time(s),
        }
    }
}

/// Reads the form's fields from a `requestedSchema`.
///
/// Lenient where it costs nothing (an absent `type` or `properties` means an empty object
/// form, a `default` of the wrong type is dropped), strict where the form could not be shown
/// or checked: a property of a type the spec does not allow is an error naming the field.
pub(crate) fn fields(schema: &Value) -> Result<Vec<Field>, String> {
    let Some(schema) = schema.as_object() else {
        return Err(format!(
            "requestedSchema must be an object, found {}",
            kind_of(schema)
        ));
    };
    match schema.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => {
            return Err(format!(
                "requestedSchema must have \"type\": \"object\", found {other}"
            ))
        }
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let properties = match schema.get("properties") {
        None => return Ok(Vec::new()),
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(format!(
                "requestedSchema.properties must be an object, found {}",
                kind_of(other)
            ))
        }
    };
    properties
        .iter()
        .map(|(name, prop)| {
            let Some(prop) = prop.as_object() else {
                return Err(format!(
                    "field `{name}`: its schema must be an object, found {}",
                    kind_of(prop)
                ));
            };
            Ok(Field {
                name: name.clone(),
                title: string(prop, "title"),
                description: string(prop, "description"),
                required: required.contains(&name.as_str()),
                kind: kind(prop).map_err(|e| format!("field `{name}`: {e}"))?,
            })
        })
        .collect()
}

fn kind(prop: &Map<String, Value>) -> Result<Kind, String> {
    let ty = match prop.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(other) => return Err(format!("`type` must be a string, found {other}")),
        None => return Err("the schema has no `type`; the form can only show string, number, integer, boolean or array fields".into()),
    };
    match ty {
        "string" => string_kind(prop),
        "number" | "integer" => Ok(Kind::Number {
            integer: ty == "integer",
            min: prop.get("minimum").and_then(Value::as_f64),
            max: prop.get("maximum").and_then(Value::as_f64),
            default: match prop.get("default") {
                Some(Value::Number(n)) => Some(n.clone()),
                _ => None,
            },
        }),
        "boolean" => Ok(Kind::Bool {
            default: prop.get("default").and_then(Value::as_bool),
        }),
        "array" => multi_kind(prop),
        other => Err(format!(
            "type `{other}` cannot be shown in a form; MCP forms hold string, number, integer, boolean or array-of-enum fields"
        )),
    }
}

fn string_kind(prop: &Map<String, Value>) -> Result<Kind, String> {
    let default = string(prop, "default");
    if let Some(values) = prop.get("enum") {
        let values = strings(values, "enum")?;
        let names = match prop.get("enumNames") {
            Some(names) => Some(strings(names, "enumNames")?),
            None => None,
        };
        let options = values
            .iter()
            .enumerate()
            .map(|(i, value)| Choice {
                value: value.clone(),
                label: names
                    .as_ref()
                    .and_then(|n| n.get(i).cloned())
                    .unwrap_or_else(|| value.clone()),
            })
            .collect();
        return Ok(choice(non_empty(options, "enum")?, default));
    }
    if let Some(one_of) = prop.get("oneOf") {
        return Ok(choice(
            non_empty(titled(one_of, "oneOf")?, "oneOf")?,
            default,
        ));
    }
    Ok(Kind::Text {
        min_len: prop.get("minLength").and_then(Value::as_u64),
        max_len: prop.get("maxLength").and_then(Value::as_u64),
        format: match prop.get("format").and_then(Value::as_str) {
            Some("email") => Some(Format::Email),
            Some("uri") => Some(Format::Uri),
            Some("date") => Some(Format::Date),
            Some("date-time") => Some(Format::DateTime),
            _ => None,
        },
        default,
    })
}

/// A select with nothing to pick cannot be answered; say so rather than show an empty list.
fn non_empty(options: Vec<Choice>, key: &str) -> Result<Vec<Choice>, String> {
    if options.is_empty() {
        Err(format!("`{key}` lists no values to choose from"))
    } else {
        Ok(options)
    }
}

fn choice(options: Vec<Choice>, default: Option<String>) -> Kind {
    let default = default.filter(|d| options.iter().any(|o| &o.value == d));
    Kind::Choice { options, default }
}

fn multi_kind(prop: &Map<String, Value>) -> Result<Kind, String> {
    let items = prop.get("items").and_then(Value::as_object).ok_or(
        "an array field needs `items` with `enum` or `anyOf`; MCP forms have no free-form lists",
    )?;
    let options = if let Some(values) = items.get("enum") {
        strings(values, "items.enum")?
            .into_iter()
            .map(|value| Choice {
                label: value.clone(),
                value,
            })
            .collect()
    } else if let Some(any_of) = items.get("anyOf") {
        titled(any_of, "items.anyOf")?
    } else {
        return Err(
            "an array field needs `items` with `enum` or `anyOf`; MCP forms have no free-form lists"
                .into(),
        );
    };
    let options = non_empty(options, "items")?;
    let default = prop
        .get("default")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(Value::as_str)
                .filter(|v| options.iter().any(|o: &Choice| o.value == *v))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Kind::Multi {
        options,
        min_items: prop.get("minItems").and_then(Value::as_u64),
        max_items: prop.get("maxItems").and_then(Value::as_u64),
        default,
    })
}

/// `[{const, title}]`, as in `oneOf` and `items.anyOf`.
fn titled(list: &Value, key: &str) -> Result<Vec<Choice>, String> {
    let list = list
        .as_array()
        .ok_or_else(|| format!("`{key}` must be an array of {{\"const\", \"title\"}} objects"))?;
    list.iter()
        .map(|option| {
            let value = option
                .get("const")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("every `{key}` entry needs a string `const`"))?;
            Ok(Choice {
                value: value.to_owned(),
                label: option
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or(value)
                    .to_owned(),
            })
        })
        .collect()
}

fn strings(list: &Value, key: &str) -> Result<Vec<String>, String> {
    list.as_array()
        .and_then(|l| l.iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| format!("`{key}` must be an array of strings"))
}

fn string(prop: &Map<String, Value>, key: &str) -> Option<String> {
    prop.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Field {
    /// What the prompt calls the field: its title, else its name.
    pub(crate) fn label(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }

    /// Checks one value against the field's type and limits. The message does not name the
    /// field: callers add it where the reader cannot see which field it is.
    pub(crate) fn check(&self, value: &Value) -> Result<(), String> {
        match &self.kind {
            Kind::Text {
                min_len,
                max_len,
                format,
                ..
            } => {
                let s = value
                    .as_str()
                    .ok_or_else(|| format!("must be a string, found {}", kind_of(value)))?;
                let len = s.chars().count() as u64;
                if let Some(min) = min_len.filter(|min| len < *min) {
                    return Err(format!("must be at least {min} characters, found {len}"));
                }
                if let Some(max) = max_len.filter(|max| len > *max) {
                    return Err(format!("must be at most {max} characters, found {len}"));
                }
                match format {
                    Some(f) if !f.accepts(s) => {
                        Err(format!("must be {}, found {s:?}", f.example()))
                    }
                    _ => Ok(()),
                }
            }
            Kind::Number {
                integer, min, max, ..
            } => {
                let n = value
                    .as_f64()
                    .ok_or_else(|| format!("must be a number, found {}", kind_of(value)))?;
                if *integer && n.fract() != 0.0 {
                    return Err(format!("must be a whole number, found {value}"));
                }
                if let Some(min) = min.filter(|min| n < *min) {
                    return Err(format!("must be at least {min}, found {value}"));
                }
                if let Some(max) = max.filter(|max| n > *max) {
                    return Err(format!("must be at most {max}, found {value}"));
                }
                Ok(())
            }
            Kind::Bool { .. } => match value {
                Value::Bool(_) => Ok(()),
                other => Err(format!("must be true or false, found {}", kind_of(other))),
            },
            Kind::Choice { options, .. } => {
                let s = value
                    .as_str()
                    .ok_or_else(|| format!("must be a string, found {}", kind_of(value)))?;
                if options.iter().any(|o| o.value == s) {
                    Ok(())
                } else {
                    Err(format!("must be one of {}, found {s:?}", list(options)))
                }
            }
            Kind::Multi {
                options,
                min_items,
                max_items,
                ..
            } => {
                let items = value.as_array().ok_or_else(|| {
                    format!("must be an array of strings, found {}", kind_of(value))
                })?;
                for (i, item) in items.iter().enumerate() {
                    let s = item.as_str().ok_or_else(|| {
                        format!("item {i} must be a string, found {}", kind_of(item))
                    })?;
                    if !options.iter().any(|o| o.value == s) {
                        return Err(format!("item {s:?} is not one of {}", list(options)));
                    }
                    if items[..i].contains(item) {
                        return Err(format!("item {s:?} is listed twice"));
                    }
                }
                let n = items.len() as u64;
                if let Some(min) = min_items.filter(|min| n < *min) {
                    return Err(format!("must have at least {min} items, found {n}"));
                }
                if let Some(max) = max_items.filter(|max| n > *max) {
                    return Err(format!("must have at most {max} items, found {n}"));
                }
                Ok(())
            }
        }
    }
}

/// The allowed values, quoted, for messages.
fn list(options: &[Choice]) -> String {
    options
        .iter()
        .map(|o| format!("{:?}", o.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON value's type, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `local@domain`, both parts non-empty, no spaces: a typo check, not RFC 5322.
fn is_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// An RFC 3986 scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), a colon, something
/// after it, and no spaces.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// RFC 3339 `full-date`: `YYYY-MM-DD`, a real day of a real month.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) =
        (digits(&s[0..4]), digits(&s[5..7]), digits(&s[8..10]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `date-time`: `full-date "T" HH:MM:SS[.frac] ("Z" / ("+"/"-") HH:MM)`.
fn is_date_time(s: &str) -> bool {
    let Some((date, time)) = s.split_at_checked(10) else {
        return false;
    };
    let Some(time) = time.strip_prefix(['T', 't']) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, None)
    } else {
        match time.rfind(['+', '-']) {
            Some(i) => (&time[..i], Some(&time[i + 1..])),
            None => return false,
        }
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (clock, None),
    };
    let hms_ok = hms.len() == 8
        && hms.as_bytes()[2] == b':'
        && hms.as_bytes()[5] == b':'
        && matches!(
            (digits(&hms[0..2]), digits(&hms[3..5]), digits(&hms[6..8])),
            (Some(h), Some(m), Some(sec)) if h < 24 && m < 60 && sec <= 60
        );
    let frac_ok = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    let offset_ok = offset.is_none_or(|o| {
        o.len() == 5
            && o.as_bytes()[2] == b':'
            && matches!((digits(&o[0..2]), digits(&o[3..5])), (Some(h), Some(m)) if h < 24 && m < 60)
    });
    hms_ok && frac_ok && offset_ok
}

/// An all-ASCII-digit string as a number; `None` for anything else (signs included).
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_every_kind_in_schema_order() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "title": "Name", "minLength": 1, "default": "Ada"},
                "age": {"type": "integer", "minimum": 0, "default": 36},
                "ok": {"type": "boolean", "default": true},
                "color": {"type": "string", "enum": ["r", "g"], "enumNames": ["Red", "Green"]},
                "size": {"type": "string", "oneOf": [{"const": "s", "title": "Small"}], "default": "x"},
                "tags": {"type": "array", "items": {"anyOf": [{"const": "a", "title": "A"}]},
                         "default": ["a", "zzz"], "maxItems": 1}
            },
            "required": ["name"]
        });
        let f = fields(&schema).unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["name", "age", "ok", "color", "size", "tags"]);
        assert!(f[0].required && !f[1].required);
        assert_eq!(f[0].label(), "Name");
        assert_eq!(f[1].label(), "age");
        assert_eq!(
            f[3].kind,
            Kind::Choice {
                options: vec![
                    Choice {
                        value: "r".into(),
                        label: "Red".into()
                    },
                    Choice {
                        value: "g".into(),
                        label: "Green".into()
                    },
                ],
                default: None,
            }
        );
        // A default that is not an option is dropped rather than offered.
        assert!(matches!(&f[4].kind, Kind::Choice { default: None, .. }));
        assert!(matches!(&f[5].kind, Kind::Multi { default, .. } if default == &["a"]));
    }

    #[test]
    fn unknown_types_name_the_field() {
        for (prop, needle) in [
            (json!({"type": "object"}), "type `object`"),
            (
                json!({"type": "array", "items": {"type": "string"}}),
                "`enum` or `anyOf`",
            ),
            (json!({"title": "no type"}), "no `type`"),
            (
                json!({"type": "string", "enum": [1, 2]}),
                "`enum` must be an array of strings",
            ),
            (json!("string"), "must be an object"),
            (
                json!({"type": "string", "oneOf": []}),
                "`oneOf` lists no values",
            ),
            (
                json!({"type": "array", "items": {"enum": []}}),
                "`items` lists no values",
            ),
        ] {
            let err = fields(&json!({"type": "object", "properties": {"odd": prop}})).unwrap_err();
            assert!(err.contains("field `odd`") && err.contains(needle), "{err}");
        }
        let err = fields(&json!({"type": "array"})).unwrap_err();
        assert!(err.contains("\"type\": \"object\""), "{err}");
        assert_eq!(fields(&json!({})).unwrap(), vec![]);
    }

    #[test]
    fn formats() {
        assert!(is_email("a@b.c") && is_email("a@localhost"));
        assert!(!is_email("a") && !is_email("@b") && !is_email("a@") && !is_email("a b@c"));
        assert!(is_uri("https://example.com/x?y") && is_uri("urn:isbn:1") && is_uri("mailto:a@b"));
        assert!(
            !is_uri("example.com")
                && !is_uri("1http://x")
                && !is_uri("http://a b")
                && !is_uri("x:")
        );
        assert!(is_date("2024-02-29") && is_date("2025-12-31"));
        assert!(!is_date("2025-02-29") && !is_date("2025-13-01") && !is_date("2025-1-01"));
        assert!(!is_date("2025-04-31") && !is_date("+025-04-01") && !is_date("2025-04-00"));
        for ok in [
            "2025-11-25T14:30:00Z",
            "2025-11-25t14:30:00.123+02:00",
            "2025-11-25T23:59:60-05:30",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2025-11-25",
            "2025-11-25T14:30Z",
            "2025-11-25 14:30:00Z",
            "2025-11-25T24:00:00Z",
            "2025-11-25T14:30:00",
            "2025-11-25T14:30:00.Z",
            "2025-11-25T14:30:00+2:00",
            "2025-11-25T14:30:00Zé",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }
}

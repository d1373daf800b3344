//! The elicitation form: asks the person at the terminal what a server's `elicitation/create`
//! (form mode) wants, and checks answers against the `requestedSchema`.
//!
//! MCP 2025-11-25, "Elicitation": the client shows `message`, collects values for the flat
//! schema's properties, and answers `accept` with `content`, `decline` (the user said no) or
//! `cancel` (the user dismissed it). Keys: Enter submits a field; an empty optional field is
//! left out; Esc or Ctrl-C anywhere cancels; the last question, "Send? (Y/n)", accepts on
//! Enter or `y` and declines on `n`.

use std::io::IsTerminal as _;

use anyhow::{bail, Context as _};
use inquire::list_option::ListOption;
use inquire::validator::Validation;
use inquire::{Confirm, InquireError, MultiSelect, Select, Text};
use mcp_tasks_wire::v2025_11_25::ElicitResult;
use serde_json::{Map, Number, Value};

use super::schema::{self, Choice, Field, Kind};

/// What the user did with one elicitation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Send these values; they fit the schema.
    Accept(Map<String, Value>),
    /// The user explicitly refused.
    Decline,
    /// The user dismissed the form without choosing.
    Cancel,
}

impl From<Answer> for ElicitResult {
    fn from(answer: Answer) -> Self {
        match answer {
            Answer::Accept(content) => Self::accept(content),
            Answer::Decline => Self::decline(),
            Answer::Cancel => Self::cancel(),
        }
    }
}

/// Checks `content` against a `requestedSchema`: required fields present, no fields the form
/// does not have, and each value of the right type, among the allowed values, within bounds
/// and in its string format.
///
/// # Errors
///
/// The first problem found, naming the field: ``field `age`: must be at most 150, found 200``.
/// A schema that cannot be read is reported the same way.
pub(crate) fn validate(schema: &Value, content: &Map<String, Value>) -> Result<(), String> {
    let fields = schema::fields(schema)?;
    for field in &fields {
        match content.get(&field.name) {
            Some(value) => field
                .check(value)
                .map_err(|e| format!("field `{}`: {e}", field.name))?,
            None if field.required => {
                return Err(format!("field `{}` is required but missing", field.name))
            }
            None => {}
        }
    }
    if let Some(extra) = content
        .keys()
        .find(|k| !fields.iter().any(|f| &&f.name == k))
    {
        let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        return Err(format!(
            "field `{extra}` is not in the form; it asks for: {}",
            if known.is_empty() {
                "nothing".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    Ok(())
}

/// Asks the user, on the terminal, to fill in the form, and returns what they chose.
///
/// Blocking: call it from `spawn_blocking`, with the status line suspended. Prints `message`,
/// then one prompt per property in schema order: the title (else the name) as the label,
/// `*` after required ones, the description and the limits as help, the default filled in.
/// Each field is checked as it is typed. Esc or Ctrl-C at any prompt gives
/// [`Answer::Cancel`]; `n` at the closing "Send?" gives [`Answer::Decline`].
///
/// # Errors
///
/// When the schema has a field the form cannot show (naming it), when stderr is not a
/// terminal to ask on (pass `--answers FILE` instead), or when the terminal fails.
pub(crate) fn ask(message: &str, schema: &Value) -> anyhow::Result<Answer> {
    let fields = schema::fields(schema)
        .map_err(|e| anyhow::anyhow!("cannot show the server's form: {e}"))?;
    if !std::io::stderr().is_terminal() {
        bail!(
            "the server asks for input ({message:?}) but stderr is not a terminal to ask on; \
             run in a terminal or pass --answers FILE"
        );
    }
    eprintln!("{message}");
    eprintln!("(Esc cancels; * marks required fields; leave an optional field empty to skip it)");
    let mut content = Map::new();
    for field in &fields {
        match prompted(prompt(field))? {
            Some(Some(value)) => {
                content.insert(field.name.clone(), value);
            }
            Some(None) => {}
            None => return Ok(Answer::Cancel),
        }
    }
    let send = Confirm::new("Send?")
        .with_default(true)
        .with_help_message("Enter sends, n declines, Esc cancels")
        .prompt();
    Ok(match prompted(send)? {
        Some(true) => {
            // Every field was checked as typed; this guards against a prompt that let
            // something through, so the server never sees content that breaks its schema.
            validate(schema, &content).map_err(|e| anyhow::anyhow!("the form's answer: {e}"))?;
            Answer::Accept(content)
        }
        Some(false) => Answer::Decline,
        None => Answer::Cancel,
    })
}

/// Splits a prompt's outcome: `Some(value)`, `None` when the user cancelled (Esc, Ctrl-C),
/// or an error that says what went wrong with the terminal.
fn prompted<T>(result: inquire::error::InquireResult<T>) -> anyhow::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(InquireError::OperationCanceled | InquireError::OperationInterrupted) => Ok(None),
        Err(InquireError::NotTTY) => {
            bail!("there is no terminal to read answers from; run in a terminal or pass --answers FILE")
        }
        Err(e) => Err(e).context("the form failed on the terminal"),
    }
}

/// One field's prompt: `Ok(None)` when an optional field was skipped.
fn prompt(field: &Field) -> inquire::error::InquireResult<Option<Value>> {
    let label = if field.required {
        format!("{} *", field.label())
    } else {
        field.label().to_owned()
    };
    let help = help(field);
    match &field.kind {
        Kind::Text { default, .. } => typed(field, &label, &help, default.as_deref()),
        Kind::Number { default, .. } => {
            let default = default.as_ref().map(Number::to_string);
            typed(field, &label, &help, default.as_deref())
        }
        Kind::Bool { default } => {
            let mut options = vec![
                Pick::new("yes", Some(Value::Bool(true))),
                Pick::new("no", Some(Value::Bool(false))),
            ];
            let cursor = match default {
                Some(false) => 1,
                _ => 0,
            };
            if !field.required {
                options.push(Pick::new("(skip)", None));
            }
            Ok(Select::new(&label, options)
                .with_help_message(&help)
                .with_starting_cursor(cursor)
                .prompt()?
                .value)
        }
        Kind::Choice { options, default } => {
            let mut picks: Vec<Pick> = options
                .iter()
                .map(|o| Pick::new(&o.label, Some(Value::String(o.value.clone()))))
                .collect();
            let cursor = default
                .as_ref()
                .and_then(|d| options.iter().position(|o| &o.value == d))
                .unwrap_or(0);
            if !field.required {
                picks.push(Pick::new("(skip)", None));
            }
            Ok(Select::new(&label, picks)
                .with_help_message(&help)
                .with_starting_cursor(cursor)
                .prompt()?
                .value)
        }
        Kind::Multi {
            options, default, ..
        } => {
            let picks: Vec<Pick> = options
                .iter()
                .map(|o| Pick::new(&o.label, Some(Value::String(o.value.clone()))))
                .collect();
            let selected: Vec<usize> = default
                .iter()
                .filter_map(|d| options.iter().position(|o| &o.value == d))
                .collect();
            // MultiSelect wants a validator that owns what it reads.
            let owned = field.clone();
            let chosen = MultiSelect::new(&label, picks)
                .with_help_message(&help)
                .with_default(&selected)
                .with_validator(move |chosen: &[ListOption<&Pick>]| {
                    let indexes: Vec<usize> = chosen.iter().map(|c| c.index).collect();
                    Ok(match read_selection(&owned, &indexes) {
                        Ok(_) => Validation::Valid,
                        Err(e) => Validation::Invalid(e.into()),
                    })
                })
                .raw_prompt()?;
            let indexes: Vec<usize> = chosen.iter().map(|c| c.index).collect();
            Ok(read_selection(field, &indexes).unwrap_or(None))
        }
    }
}

/// A prompt for a field typed as text (strings, numbers), checked as it is typed, with the
/// default filled in for the user to keep or edit.
fn typed(
    field: &Field,
    label: &str,
    help: &str,
    default: Option<&str>,
) -> inquire::error::InquireResult<Option<Value>> {
    let mut text = Text::new(label)
        .with_help_message(help)
        .with_validator(move |input: &str| {
            Ok(match read_typed(field, input) {
                Ok(_) => Validation::Valid,
                Err(e) => Validation::Invalid(e.into()),
            })
        });
    if let Some(default) = default {
        text = text.with_initial_value(default);
    }
    let input = text.prompt()?;
    // The validator accepted this input, so it reads.
    Ok(read_typed(field, &input).unwrap_or(None))
}

/// The help line under a prompt: the description, what to type, and how to skip.
fn help(field: &Field) -> String {
    let mut parts: Vec<String> = field.description.iter().cloned().collect();
    match &field.kind {
        Kind::Text {
            min_len,
            max_len,
            format,
            ..
        } => {
            if let Some(f) = format {
                parts.push(f.example().to_owned());
            }
            match (min_len, max_len) {
                (Some(min), Some(max)) => parts.push(format!("{min} to {max} characters")),
                (Some(min), None) => parts.push(format!("at least {min} characters")),
                (None, Some(max)) => parts.push(format!("at most {max} characters")),
                (None, None) => {}
            }
        }
        Kind::Number {
            integer, min, max, ..
        } => {
            let what = if *integer {
                "a whole number"
            } else {
                "a number"
            };
            parts.push(match (min, max) {
                (Some(min), Some(max)) => format!("{what} from {min} to {max}"),
                (Some(min), None) => format!("{what}, at least {min}"),
                (None, Some(max)) => format!("{what}, at most {max}"),
                (None, None) => what.to_owned(),
            });
        }
        Kind::Bool { .. } | Kind::Choice { .. } => {
            parts.push("↑↓ to move, Enter to pick, type to filter".to_owned());
        }
        Kind::Multi {
            min_items,
            max_items,
            ..
        } => {
            match (min_items, max_items) {
                (Some(min), Some(max)) => parts.push(format!("pick {min} to {max}")),
                (Some(min), None) => parts.push(format!("pick at least {min}")),
                (None, Some(max)) => parts.push(format!("pick at most {max}")),
                (None, None) => {}
            }
            parts.push("Space to toggle, → all, ← none, Enter to confirm".to_owned());
        }
    }
    if !field.required && matches!(field.kind, Kind::Text { .. } | Kind::Number { .. }) {
        parts.push("empty to skip".to_owned());
    }
    parts.join(" · ")
}

/// Reads what was typed into a text or number field: `Ok(None)` for an empty optional field,
/// the value when it fits the field, else why not.
pub(super) fn read_typed(field: &Field, input: &str) -> Result<Option<Value>, String> {
    if input.trim().is_empty() {
        if field.required {
            return Err("required; type a value".to_owned());
        }
        return Ok(None);
    }
    let value = match &field.kind {
        Kind::Number { integer, .. } => {
            let input = input.trim();
            let number = if *integer {
                input
                    .parse::<i64>()
                    .map(Number::from)
                    .map_err(|_| format!("{input:?} is not a whole number"))?
            } else {
                input
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .ok_or_else(|| format!("{input:?} is not a number"))?
            };
            Value::Number(number)
        }
        _ => Value::String(input.to_owned()),
    };
    field.check(&value)?;
    Ok(Some(value))
}

/// Reads a multi-select's chosen option indexes: `Ok(None)` for nothing chosen in an optional
/// field, the array of values when it fits the field, else why not.
pub(super) fn read_selection(field: &Field, indexes: &[usize]) -> Result<Option<Value>, String> {
    let Kind::Multi { options, .. } = &field.kind else {
        return Err("not a multi-select field".to_owned());
    };
    if indexes.is_empty() && !field.required {
        return Ok(None);
    }
    let value = Value::Array(
        indexes
            .iter()
            .filter_map(|&i| options.get(i))
            .map(|o: &Choice| Value::String(o.value.clone()))
            .collect(),
    );
    field.check(&value)?;
    Ok(Some(value))
}

/// A select option: shown by its label, carrying the value to send (`None` to skip).
#[derive(Debug, Clone)]
struct Pick {
    label: String,
    value: Option<Value>,
}

impl Pick {
    fn new(label: &str, value: Option<Value>) -> Self {
        Self {
            label: label.to_owned(),
            value,
        }
    }
}

impl std::fmt::Display for Pick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 2, "maxLength": 5},
                "email": {"type": "string", "format": "email"},
                "site": {"type": "string", "format": "uri"},
                "born": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "date-time"},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "score": {"type": "number", "minimum": 0.5},
                "ok": {"type": "boolean"},
                "color": {"type": "string", "enum": ["red", "green"], "enumNames": ["Red", "Green"]},
                "size": {"type": "string", "oneOf": [{"const": "s", "title": "Small"},
                                                     {"const": "l", "title": "Large"}]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]},
                         "minItems": 1, "maxItems": 2},
                "pets": {"type": "array", "items": {"anyOf": [{"const": "cat", "title": "Cat"}]}}
            },
            "required": ["name", "age"]
        })
    }

    fn content(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn validate_accepts_every_kind() {
        let ok = content(json!({
            "name": "Ada", "email": "ada@example.com", "site": "https://example.com",
            "born": "1815-12-10", "at": "2025-11-25T14:30:00Z", "age": 36, "score": 0.5,
            "ok": false, "color": "green", "size": "l", "tags": ["a", "c"], "pets": ["cat"]
        }));
        assert_eq!(validate(&schema(), &ok), Ok(()));
        let minimal = content(json!({"name": "Ada", "age": 36.0}));
        assert_eq!(validate(&schema(), &minimal), Ok(()));
    }

    #[test]
    fn validate_rejects_naming_the_field() {
        for (field, value, needle) in [
            ("name", json!("A"), "at least 2 characters"),
            ("name", json!("Adalbert"), "at most 5 characters"),
            ("name", json!(7), "must be a string, found a number"),
            ("email", json!("ada.example.com"), "email address"),
            ("site", json!("example.com"), "URI with a scheme"),
            ("born", json!("1815-13-10"), "a date like"),
            ("at", json!("2025-11-25 14:30"), "a date and time"),
            ("age", json!(36.5), "whole number"),
            ("age", json!(151), "at most 150"),
            ("age", json!(-1), "at least 0"),
            ("age", json!("36"), "must be a number, found a string"),
            ("score", json!(0.1), "at least 0.5"),
            ("ok", json!("yes"), "true or false"),
            ("color", json!("Red"), "one of \"red\", \"green\""),
            ("size", json!("m"), "one of \"s\", \"l\""),
            ("tags", json!([]), "at least 1 items"),
            ("tags", json!(["a", "b", "c"]), "at most 2 items"),
            ("tags", json!(["a", "a"]), "listed twice"),
            ("tags", json!(["d"]), "\"d\" is not one of"),
            ("tags", json!("a"), "array of strings"),
            ("pets", json!(["dog"]), "not one of \"cat\""),
            ("pets", json!([1]), "item 0 must be a string"),
            ("ok", Value::Null, "found null"),
        ] {
            let mut c = content(json!({"name": "Ada", "age": 36}));
            c.insert(field.into(), value);
            let err = validate(&schema(), &c).unwrap_err();
            assert!(
                err.starts_with(&format!("field `{field}`: ")) && err.contains(needle),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn validate_checks_required_and_unknown_fields_and_the_schema() {
        let err = validate(&schema(), &content(json!({"name": "Ada"}))).unwrap_err();
        assert_eq!(err, "field `age` is required but missing");
        let err = validate(
            &schema(),
            &content(json!({"name": "Ada", "age": 1, "nmae": "x"})),
        )
        .unwrap_err();
        assert!(
            err.starts_with("field `nmae` is not in the form; it asks for: name, email"),
            "{err}"
        );
        let odd = json!({"type": "object", "properties": {"where": {"type": "object"}}});
        let err = validate(&odd, &Map::new()).unwrap_err();
        assert!(err.contains("field `where`"), "{err}");
    }

    #[test]
    fn answer_becomes_the_wire_result() {
        let accept: ElicitResult = Answer::Accept(content(json!({"a": 1}))).into();
        assert_eq!(
            serde_json::to_value(accept).unwrap(),
            json!({"action": "accept", "content": {"a": 1}})
        );
        let decline: ElicitResult = Answer::Decline.into();
        assert_eq!(
            serde_json::to_value(decline).unwrap(),
            json!({"action": "decline"})
        );
        let cancel: ElicitResult = Answer::Cancel.into();
        assert_eq!(
            serde_json::to_value(cancel).unwrap(),
            json!({"action": "cancel"})
        );
    }

    fn field(name: &str) -> Field {
        schema::fields(&schema())
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap()
    }

    #[test]
    fn typed_input_is_read_and_checked() {
        assert_eq!(read_typed(&field("age"), " 42 "), Ok(Some(json!(42))));
        assert!(read_typed(&field("age"), "4.5")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(read_typed(&field("age"), "200")
            .unwrap_err()
            .contains("at most 150"));
        assert_eq!(
            read_typed(&field("age"), ""),
            Err("required; type a value".into())
        );
        assert_eq!(read_typed(&field("score"), "2.5"), Ok(Some(json!(2.5))));
        assert_eq!(read_typed(&field("score"), "3"), Ok(Some(json!(3.0))));
        assert!(read_typed(&field("score"), "NaN")
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(read_typed(&field("score"), "  "), Ok(None));
        assert_eq!(read_typed(&field("name"), "Ada"), Ok(Some(json!("Ada"))));
        assert!(read_typed(&field("email"), "nope")
            .unwrap_err()
            .contains("email"));
        assert_eq!(read_typed(&field("email"), ""), Ok(None));
    }

    #[test]
    fn selections_are_read_and_checked() {
        let tags = field("tags");
        assert_eq!(read_selection(&tags, &[0, 2]), Ok(Some(json!(["a", "c"]))));
        assert!(read_selection(&tags, &[0, 1, 2])
            .unwrap_err()
            .contains("at most 2"));
        // Optional with nothing picked: left out, so `minItems` does not apply.
        assert_eq!(read_selection(&tags, &[]), Ok(None));
        let required = Field {
            required: true,
            ..tags
        };
        assert_eq!(
            read_selection(&required, &[]).unwrap_err(),
            "must have at least 1 items, found 0"
        );
        assert_eq!(
            read_selection(&field("pets"), &[0]),
            Ok(Some(json!(["cat"])))
        );
    }

    #[test]
    fn help_lines_say_what_to_type() {
        assert_eq!(help(&field("age")), "a whole number from 0 to 150");
        assert_eq!(help(&field("name")), "2 to 5 characters");
        assert_eq!(
            help(&field("born")),
            "a date like 2025-11-25 · empty to skip"
        );
        assert!(help(&field("tags")).starts_with("pick 1 to 2 · Space to toggle"));
    }
}

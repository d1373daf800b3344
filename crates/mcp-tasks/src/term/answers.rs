//! `--answers FILE`: answers to a server's elicitations read from a JSON file, for runs with
//! nobody at the terminal (scripts, CI).
//!
//! The file is one of:
//! - an object: the content to accept every form with. Each form takes the fields it asks for
//!   and ignores the others, so one file can answer several different forms;
//! - an array: one answer per elicitation, used in order. An answer is an object of content
//!   (accept), `{"action": "decline"}`, `{"action": "cancel"}`, or
//!   `{"action": "accept", "content": {...}}` (needed when the form has a field named `action`).
//!
//! An object counts as an action when its `action` is `"accept"`, `"decline"` or `"cancel"`.
//! A lone action object (`{"action": "decline"}`) answers every form the same way.
//! Fields left out stay out: schema defaults are not filled in. Every accepted answer is
//! checked against the form with [`form::validate`] before it is sent.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use serde_json::{Map, Value};

use super::form::{self, Answer};
use super::schema::{self, kind_of};

/// The answers from one `--answers` file, handed out one per elicitation.
#[derive(Debug)]
pub(crate) struct Answers {
    /// Named in every error, so the user knows which file to fix.
    path: PathBuf,
    plan: Plan,
}

#[derive(Debug)]
enum Plan {
    /// A single answer, given to every form.
    Every(Answer),
    /// One answer per elicitation, in order; `used` of them have been handed out.
    InOrder { answers: Vec<Answer>, used: usize },
}

impl Answers {
    /// Reads and checks the shape of an answers file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is not JSON, or is not an object or an array of answers;
    /// the message names the file and, for an array, the answer at fault.
    pub(crate) fn from_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the answers file {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses the text of an answers file; `path` is only for messages.
    fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let value: Value = serde_json::from_str(text)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        let plan = match value {
            Value::Object(object) => Plan::Every(
                answer(object).map_err(|e| anyhow!("{}: {e}", path.display()))?,
            ),
            Value::Array(items) => Plan::InOrder {
                answers: items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::Object(object) => answer(object),
                        other => Err(format!(
                            "must be an object (the content, or {{\"action\": \"decline\"}}), found {}",
                            kind_of(&other)
                        )),
                    }
                    .map_err(|e| anyhow!("{}: answers[{i}] {e}", path.display())))
                    .collect::<anyhow::Result<_>>()?,
                used: 0,
            },
            other => bail!(
                "{}: expected an object (the content to accept every form with) or an array \
                 of answers, found {}",
                path.display(),
                kind_of(&other)
            ),
        };
        Ok(Self {
            path: path.to_owned(),
            plan,
        })
    }

    /// The answer to the next elicitation, whose form is `schema`.
    ///
    /// # Errors
    ///
    /// When the file has no answer left, or the answer does not fit the form; the message
    /// names the file, the answer's index and the field.
    pub(crate) fn next(&mut self, schema: &Value) -> anyhow::Result<Answer> {
        let file = self.path.display();
        let fields = schema::fields(schema)
            .map_err(|e| anyhow!("cannot answer the server's form from {file}: {e}"))?;
        let (answer, which) =
            match &mut self.plan {
                Plan::Every(Answer::Accept(content)) => {
                    // One object serves every form: each takes its own fields.
                    let content = content
                        .iter()
                        .filter(|(k, _)| fields.iter().any(|f| &&f.name == k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    (Answer::Accept(content), "the answer".to_owned())
                }
                Plan::Every(other) => (other.clone(), "the answer".to_owned()),
                Plan::InOrder { answers, used } => {
                    let i = *used;
                    let Some(answer) = answers.get(i) else {
                        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                        bail!(
                        "{file}: the server asked for input again but all {} answers are used; \
                         add answers[{i}] for a form with fields: {}",
                        answers.len(),
                        if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
                    );
                    };
                    *used += 1;
                    (answer.clone(), format!("answers[{i}]"))
                }
            };
        if let Answer::Accept(content) = &answer {
            form::validate(schema, content)
                .map_err(|e| anyhow!("{file}: {which} does not fit the server's form: {e}"))?;
        }
        Ok(answer)
    }
}

/// One answer: an action object, or else the content to accept with.
fn answer(mut object: Map<String, Value>) -> Result<Answer, String> {
    let action = match object.get("action") {
        Some(Value::String(a)) if matches!(a.as_str(), "accept" | "decline" | "cancel") => {
            a.clone()
        }
        _ => return Ok(Answer::Accept(object)),
    };
    if let Some(extra) = object.keys().find(|k| *k != "action" && *k != "content") {
        return Err(format!(
            "has \"action\": {action:?} and `{extra}`; an action object holds only `action` \
             and, for accept, `content`"
        ));
    }
    let content = object.remove("content");
    match (action.as_str(), content) {
        ("accept", Some(Value::Object(content))) => Ok(Answer::Accept(content)),
        ("accept", None) => Ok(Answer::Accept(Map::new())),
        ("accept", Some(other)) => Err(format!(
            "`content` must be an object of field values, found {}",
            kind_of(&other)
        )),
        (_, Some(_)) => Err(format!(
            "has \"action\": {action:?} with `content`; only accept sends content"
        )),
        ("decline", None) => Ok(Answer::Decline),
        _ => Ok(Answer::Cancel),
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
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 0}
            },
            "required": ["name"]
        })
    }

    fn parse(text: &str) -> anyhow::Result<Answers> {
        Answers::parse(Path::new("ans.json"), text)
    }

    fn content(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn one_object_accepts_every_form_with_its_own_fields() {
        let mut a = parse(r#"{"name": "Ada", "age": 36, "color": "red"}"#).unwrap();
        let want = Answer::Accept(content(json!({"name": "Ada", "age": 36})));
        assert_eq!(a.next(&schema()).unwrap(), want);
        assert_eq!(a.next(&schema()).unwrap(), want);
        let colors = json!({"type": "object", "properties": {"color": {"type": "string"}}});
        assert_eq!(
            a.next(&colors).unwrap(),
            Answer::Accept(content(json!({"color": "red"})))
        );
    }

    #[test]
    fn one_action_object_answers_every_form() {
        let mut a = parse(r#"{"action": "decline"}"#).unwrap();
        assert_eq!(a.next(&schema()).unwrap(), Answer::Decline);
        assert_eq!(a.next(&schema()).unwrap(), Answer::Decline);
    }

    #[test]
    fn array_is_used_in_order_then_runs_out() {
        let mut a = parse(
            r#"[{"name": "Ada"}, {"action": "decline"}, {"action": "cancel"},
                {"action": "accept", "content": {"name": "Bob", "age": 7}}]"#,
        )
        .unwrap();
        assert_eq!(
            a.next(&schema()).unwrap(),
            Answer::Accept(content(json!({"name": "Ada"})))
        );
        assert_eq!(a.next(&schema()).unwrap(), Answer::Decline);
        assert_eq!(a.next(&schema()).unwrap(), Answer::Cancel);
        assert_eq!(
            a.next(&schema()).unwrap(),
            Answer::Accept(content(json!({"name": "Bob", "age": 7})))
        );
        let err = a.next(&schema()).unwrap_err().to_string();
        assert!(
            err.contains("ans.json")
                && err.contains("all 4 answers are used")
                && err.contains("answers[4]")
                && err.contains("name, age"),
            "{err}"
        );
    }

    #[test]
    fn an_answer_that_does_not_fit_names_file_index_and_field() {
        let mut a = parse(r#"[{"name": "Ada"}, {"name": "Bob", "age": -1}]"#).unwrap();
        a.next(&schema()).unwrap();
        let err = a.next(&schema()).unwrap_err().to_string();
        assert!(
            err.contains("ans.json: answers[1]") && err.contains("field `age`"),
            "{err}"
        );
        let mut a = parse(r#"{"age": 3}"#).unwrap();
        let err = a.next(&schema()).unwrap_err().to_string();
        assert!(
            err.contains("ans.json: the answer") && err.contains("field `name` is required"),
            "{err}"
        );
        // In an array, a misspelt field is caught rather than silently dropped.
        let mut a = parse(r#"[{"name": "Ada", "aeg": 3}]"#).unwrap();
        let err = a.next(&schema()).unwrap_err().to_string();
        assert!(err.contains("field `aeg` is not in the form"), "{err}");
    }

    #[test]
    fn bad_json_and_wrong_shapes_say_what_is_expected() {
        let err = format!("{:#}", parse("{nope").unwrap_err());
        assert!(
            err.contains("ans.json: not valid JSON") && err.contains("line 1"),
            "{err}"
        );
        let err = parse(r#""yes""#).unwrap_err().to_string();
        assert!(
            err.contains("ans.json: expected an object") && err.contains("found a string"),
            "{err}"
        );
        for (text, needle) in [
            (r#"[{"name": "a"}, 3]"#, "answers[1] must be an object"),
            (
                r#"[{"action": "decline", "content": {}}]"#,
                "only accept sends content",
            ),
            (
                r#"[{"action": "accept", "content": []}]"#,
                "`content` must be an object",
            ),
            (
                r#"[{"action": "cancel", "why": "x"}]"#,
                "holds only `action`",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains("ans.json") && err.contains(needle),
                "{text}: {err}"
            );
        }
        // An `action` that is not one of the three is an ordinary field.
        let mut a = parse(r#"[{"action": "approve"}]"#).unwrap();
        let form = json!({"type": "object", "properties": {"action": {"type": "string"}}});
        assert_eq!(
            a.next(&form).unwrap(),
            Answer::Accept(content(json!({"action": "approve"})))
        );
    }

    #[test]
    fn from_file_names_a_missing_file() {
        let err = format!(
            "{:#}",
            Answers::from_file("/nonexistent/answers.json").unwrap_err()
        );
        assert!(
            err.contains("cannot read the answers file /nonexistent/answers.json"),
            "{err}"
        );
    }
}

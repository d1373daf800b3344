//! A tool's `inputSchema`: derived from its argument type, and enforced on every call.
//!
//! The schema is what a client (and its model) is told the tool accepts; a call outside it
//! would otherwise reach the handler whenever the Rust type is laxer than the schema (a `u64`
//! under a declared `maximum`). So each schema is compiled once, when its tool is added, and
//! every call's arguments are checked against it before anything runs. The answer is -32602
//! naming each failing field by its JSON Pointer and the rule it broke.

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::Tool;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::Value;

/// The most schema violations one error message lists; the rest are counted.
const MAX_LISTED: usize = 5;

/// The JSON Schema (2020-12, the MCP default dialect) of `A`, shaped as a tool's
/// `inputSchema`: without the Rust type's name as `title`, and with optional fields shown as
/// optional rather than nullable.
pub(super) fn input_schema<A: JsonSchema>() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<A>()
        .to_value();
    if let Some(root) = schema.as_object_mut() {
        // The Rust type's name says nothing to a model, and the tool has a name of its own.
        root.remove("title");
        // A tool without arguments still lists none: some clients read `properties` without
        // checking that it is there.
        if root.get("type") == Some(&Value::from("object")) {
            root.entry("properties")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    absent_not_null(&mut schema);
    schema
}

/// An `Option` field is one a caller may leave out, which its absence from `required` already
/// says; schemars adds `null` to its type as well, which would invite `"field": null` and make
/// the schema differ from the hand-written ones MCP servers publish. Drops that `null` from
/// every property that is not required, at any depth.
fn absent_not_null(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let required = required_names(object);
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if !required.contains(name) {
                drop_null(property);
            }
        }
    }
    for value in object.values_mut() {
        match value {
            Value::Object(_) => absent_not_null(value),
            Value::Array(items) => items.iter_mut().for_each(absent_not_null),
            _ => {}
        }
    }
}

/// The names an object schema lists under `required`.
fn required_names(schema: &serde_json::Map<String, Value>) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `{"type": ["integer", "null"]}` → `{"type": "integer"}`; `{"anyOf": [S, {"type": "null"}]}`
/// → `S`'s keywords merged in.
fn drop_null(property: &mut Value) {
    let Some(object) = property.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(branches)) = object.get("anyOf") {
        let not_null: Vec<&Value> = branches
            .iter()
            .filter(|b| b.get("type") != Some(&Value::from("null")))
            .collect();
        if let ([only], 2) = (not_null.as_slice(), branches.len()) {
            let only = (*only).clone();
            object.remove("anyOf");
            if let Value::Object(keywords) = only {
                for (k, v) in keywords {
                    object.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// A tool's compiled `inputSchema`.
pub(super) struct Arguments {
    validator: jsonschema::Validator,
    /// The top-level properties the schema requires; any other one sent as `null` is taken
    /// as left out.
    required: Vec<String>,
}

impl Arguments {
    /// Compiles `tool`'s `inputSchema`, or `None` when it does not compile: a raw tool (a
    /// gateway's upstream one) may declare a schema this validator cannot read, and its own
    /// server checks its arguments then; the reason is logged once, here.
    pub(super) fn compile(tool: &Tool) -> Option<Self> {
        let required = tool
            .input_schema
            .as_object()
            .map(required_names)
            .unwrap_or_default();
        match jsonschema::validator_for(&tool.input_schema) {
            Ok(validator) => Some(Self {
                validator,
                required,
            }),
            Err(e) => {
                tracing::warn!(
                    tool = %tool.name,
                    error = %e,
                    "the tool's inputSchema does not compile; its arguments are not checked \
                     against it"
                );
                None
            }
        }
    }

    /// Checks `args` against the schema. An optional property sent as `null` where the schema
    /// does not allow `null` is removed first: many clients (and models) write `null` for "not
    /// given", which is what leaving it out says.
    ///
    /// # Errors
    ///
    /// -32602 listing each failing field's JSON Pointer and the rule it broke, e.g.
    /// `invalid arguments for tool countdown: /from: 1000000000000000000 is greater than the
    /// maximum of 100000`.
    pub(super) fn check(&self, tool: &str, args: &mut Value) -> Result<(), ErrorObject> {
        if !self.validator.is_valid(args) {
            self.drop_refused_nulls(args);
        }
        let args = &*args;
        let mut problems = self.validator.iter_errors(args).map(|e| {
            let at = e.instance_path.to_string();
            let at = if at.is_empty() {
                "(the arguments)"
            } else {
                &at
            };
            format!("{at}: {e}")
        });
        let listed: Vec<String> = problems.by_ref().take(MAX_LISTED).collect();
        if listed.is_empty() {
            return Ok(());
        }
        let more = problems.count();
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        Err(ErrorObject::invalid_params(format!(
            "invalid arguments for tool {tool}: {}{tail}; the tool's inputSchema (tools/list) \
             says what it accepts",
            listed.join("; ")
        )))
    }
}

impl Arguments {
    fn drop_refused_nulls(&self, args: &mut Value) {
        let refused: Vec<String> = self
            .validator
            .iter_errors(args)
            .filter_map(|e| {
                let pointer = e.instance_path.to_string();
                let key = pointer.strip_prefix('/')?;
                (!key.contains('/')).then(|| key.replace("~1", "/").replace("~0", "~"))
            })
            .filter(|key| args.get(key).is_some_and(Value::is_null) && !self.required.contains(key))
            .collect();
        if let Value::Object(map) = args {
            for key in refused {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Countdown {
        #[schemars(range(max = 100_000))]
        from: u64,
        interval_ms: Option<u64>,
        nested: Option<Nested>,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        label: String,
    }

    fn tool(schema: Value) -> Tool {
        serde_json::from_value(json!({"name": "t", "inputSchema": schema})).unwrap()
    }

    #[test]
    fn a_derived_schema_is_an_object_schema_with_optional_fields_not_nullable() {
        let schema = input_schema::<Countdown>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["from"]));
        assert_eq!(schema["properties"]["from"]["maximum"], 100_000);
        assert_eq!(schema["properties"]["interval_ms"]["type"], "integer");
        assert!(schema.get("title").is_none(), "{schema}");
        assert!(
            schema["properties"]["nested"].get("$ref").is_some(),
            "{schema}"
        );
    }

    /// Arguments the Rust type would take but the schema forbids are refused, naming the field.
    #[test]
    fn arguments_outside_the_schema_are_refused_naming_the_field_and_rule() {
        let args = Arguments::compile(&tool(input_schema::<Countdown>())).unwrap();
        assert!(args.check("countdown", &mut json!({"from": 5})).is_ok());
        let err = args
            .check(
                "countdown",
                &mut json!({"from": 1_000_000_000_000_000_000_u64}),
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorObject::invalid_params("").code);
        assert!(
            err.message.contains("/from") && err.message.contains("maximum of 100000"),
            "{}",
            err.message
        );
        let err = args
            .check("countdown", &mut json!({"from": 1, "nested": {}}))
            .unwrap_err();
        assert!(
            err.message.contains("/nested") && err.message.contains("\"label\" is a required"),
            "{}",
            err.message
        );
        let err = args.check("countdown", &mut json!({})).unwrap_err();
        assert!(
            err.message
                .contains("(the arguments): \"from\" is a required property"),
            "{}",
            err.message
        );
    }

    /// `null` for an optional field means it was left out (as serde reads an `Option`); for a
    /// required one, or where it is not the only problem, it is still refused.
    #[test]
    fn null_for_an_optional_field_is_taken_as_left_out() {
        let args = Arguments::compile(&tool(input_schema::<Countdown>())).unwrap();
        let mut sent = json!({"from": 5, "interval_ms": null});
        args.check("countdown", &mut sent).unwrap();
        assert_eq!(sent, json!({"from": 5}));
        let err = args
            .check("countdown", &mut json!({"from": null}))
            .unwrap_err();
        assert!(err.message.contains("/from"), "{}", err.message);
        let err = args
            .check(
                "countdown",
                &mut json!({"from": 200_000, "interval_ms": null}),
            )
            .unwrap_err();
        assert!(err.message.contains("maximum of 100000"), "{}", err.message);
        assert!(!err.message.contains("interval_ms"), "{}", err.message);
    }

    #[test]
    fn a_schema_that_does_not_compile_is_not_enforced() {
        assert!(Arguments::compile(&tool(json!({"type": "object", "minimum": "x"}))).is_none());
    }
}

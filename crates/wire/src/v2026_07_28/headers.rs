//! The Streamable HTTP headers of this era that mirror the body for routers (B-5, X-8).
//!
//! `Mcp-Method` repeats the JSON-RPC method on every POST; `Mcp-Name` repeats the tool name of
//! `tools/call` and the task id of `tasks/get`, `tasks/update` and `tasks/cancel`. A value that
//! is not plain visible ASCII travels as the sentinel `=?base64?<standard base64 of UTF-8>?=`.

use base64::Engine as _;
use serde_json::Value;

/// Header: the JSON-RPC method of the body.
pub const MCP_METHOD: &str = "mcp-method";
/// Header: the name-shaped field of the body (tool name, task id).
pub const MCP_NAME: &str = "mcp-name";
/// Header: the protocol version of the request, equal to its `_meta` version.
pub const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

/// The value `Mcp-Name` must carry for a request, when its method has one: `params.name` of
/// `tools/call` and `prompts/get`, `params.uri` of `resources/read`, `params.taskId` of the
/// tasks methods. `None` for every other method, and when the field is missing or not a string
/// (the body's own validation reports that).
pub fn name_of(method: &str, params: Option<&Value>) -> Option<String> {
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
        _ => return None,
    };
    params?.get(field)?.as_str().map(str::to_owned)
}

/// Whether a method carries `Mcp-Name`.
pub fn has_name(method: &str) -> bool {
    matches!(
        method,
        "tools/call"
            | "prompts/get"
            | "resources/read"
            | "tasks/get"
            | "tasks/update"
            | "tasks/cancel"
    )
}

/// The header spelling of a value: as is when it is visible ASCII without leading or trailing
/// spaces, else the Base64 sentinel.
pub fn encode_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with(PREFIX);
    if plain {
        value.to_owned()
    } else {
        format!(
            "{PREFIX}{}{SUFFIX}",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// The value a header carries: surrounding whitespace dropped (RFC 9110 §5.5), the Base64
/// sentinel decoded.
///
/// # Errors
///
/// A sentinel whose content is not Base64 of UTF-8 text.
pub fn decode_value(raw: &str) -> Result<String, String> {
    let raw = raw.trim_matches([' ', '\t']);
    let Some(inner) = raw
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(SUFFIX))
    else {
        return Ok(raw.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .map_err(|e| format!("the =?base64?…?= value is not Base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "the =?base64?…?= value is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// B-5: plain ASCII goes as is; anything else round-trips through the sentinel.
    #[test]
    fn values_round_trip_plain_or_base64() {
        assert_eq!(encode_value("greet"), "greet");
        for v in ["héllo", "日本", " pad", "tab\there", "=?base64?x?="] {
            let enc = encode_value(v);
            assert!(enc.starts_with("=?base64?") && enc.ends_with("?="), "{enc}");
            assert_eq!(decode_value(&enc).unwrap(), v);
        }
        assert_eq!(decode_value("  greet \t").unwrap(), "greet");
        assert!(decode_value("=?base64?***?=").is_err());
        assert!(decode_value("=?base64?/w==?=").is_err());
    }

    /// B-5, X-8: which body field each method mirrors into `Mcp-Name`.
    #[test]
    fn name_of_reads_the_methods_name_field() {
        let p = json!({"name": "greet", "taskId": "t1", "uri": "file:///a"});
        assert_eq!(name_of("tools/call", Some(&p)).as_deref(), Some("greet"));
        assert_eq!(name_of("tasks/get", Some(&p)).as_deref(), Some("t1"));
        assert_eq!(name_of("tasks/update", Some(&p)).as_deref(), Some("t1"));
        assert_eq!(name_of("tasks/cancel", Some(&p)).as_deref(), Some("t1"));
        assert_eq!(
            name_of("resources/read", Some(&p)).as_deref(),
            Some("file:///a")
        );
        assert_eq!(name_of("tools/list", Some(&p)), None);
        assert!(has_name("tasks/get") && !has_name("server/discover"));
    }
}

//! The stateless base protocol: per-request `_meta`, `server/discover`, `resultType`, and the
//! three errors of the era (B-1 to B-4).
//!
//! MCP 2026-07-28, "Lifecycle" and "Versioning"; schema `RequestMetaObject`, `DiscoverResult`,
//! `Result`, `ServerCapabilities`, `ClientCapabilities`, `UnsupportedProtocolVersionError`,
//! `MissingRequiredClientCapabilityError`, `HeaderMismatchError`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::jsonrpc::{ErrorCode, ErrorObject};
use crate::v2025_11_25::{
    ElicitationCapability, Implementation, LoggingLevel, RootsCapability, SamplingCapability,
    ToolsCapability,
};

/// The protocol version of this era.
pub const PROTOCOL_VERSION: &str = "2026-07-28";

/// Every version the server speaks, newest first, as `server/discover` lists them: this era
/// statelessly, and the 2025 versions through `initialize` (B-8).
pub const SUPPORTED_VERSIONS: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];

/// The versions a request may name in its `_meta`, as `-32022` lists them (B-3): a client told
/// to "select a mutually supported version from the `supported` list and retry" must find
/// there only versions that such a retry can use. The 2025 versions are reached through
/// `initialize` instead.
pub const STATELESS_VERSIONS: &[&str] = &[PROTOCOL_VERSION];

/// `_meta` key of a request: the protocol version it speaks (B-2).
pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of a request: the client's capabilities for this request alone (B-2, X-1).
pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of a request: who the client is (optional; never used to decide anything).
pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of a request: the lowest log level it wants; absent means no log messages.
pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of a `server/discover` result: who the server is.
pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The `_meta` every request of this era carries (`RequestMetaObject`, B-2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMetaObject {
    /// The version the request speaks.
    pub protocol_version: String,
    /// What the client supports for this request; never inferred from earlier requests.
    pub client_capabilities: ClientCapabilities,
    /// Who the client says it is.
    pub client_info: Option<Implementation>,
    /// The least severe log level the request wants; `None`, no log messages at all.
    pub log_level: Option<LoggingLevel>,
}

impl RequestMetaObject {
    /// Reads the era's `_meta` from request params.
    ///
    /// `Ok(None)`: the request carries no protocol version in `_meta`, so it is not a request
    /// of this era (it may belong to a 2025-11-25 session, B-8).
    ///
    /// # Errors
    ///
    /// `-32602` when the version is there but the rest is malformed: the capabilities are
    /// missing or not an object, or a field has the wrong type.
    pub fn from_params(params: Option<&Value>) -> Result<Option<Self>, ErrorObject> {
        let Some(meta) = params.and_then(|p| p.get("_meta")) else {
            return Ok(None);
        };
        let Some(version) = meta.get(PROTOCOL_VERSION_META) else {
            return Ok(None);
        };
        let Some(version) = version.as_str() else {
            return Err(ErrorObject::invalid_params(format!(
                "params._meta[\"{PROTOCOL_VERSION_META}\"] must be a string such as \
                 \"{PROTOCOL_VERSION}\""
            )));
        };
        let caps = match meta.get(CLIENT_CAPABILITIES) {
            Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).map_err(|e| {
                ErrorObject::invalid_params(format!(
                    "params._meta[\"{CLIENT_CAPABILITIES}\"] is malformed: {e}"
                ))
            })?,
            Some(_) => {
                return Err(ErrorObject::invalid_params(format!(
                    "params._meta[\"{CLIENT_CAPABILITIES}\"] must be an object ({{}} declares \
                     no optional capability)"
                )))
            }
            None => {
                return Err(ErrorObject::invalid_params(format!(
                    "params._meta[\"{CLIENT_CAPABILITIES}\"] is required on every request of \
                     protocol {PROTOCOL_VERSION}; send {{}} to declare no optional capability"
                )))
            }
        };
        let client_info = match meta.get(CLIENT_INFO) {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
                ErrorObject::invalid_params(format!(
                    "params._meta[\"{CLIENT_INFO}\"] is malformed: {e}"
                ))
            })?),
        };
        // An unknown level is refused rather than read as "none": the client asked for logs.
        let log_level = match meta.get(LOG_LEVEL) {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
                ErrorObject::invalid_params(format!(
                    "params._meta[\"{LOG_LEVEL}\"] is {v}, not a logging level: send one of \
                     \"debug\", \"info\", \"notice\", \"warning\", \"error\", \"critical\", \
                     \"alert\", \"emergency\", or leave it out for no log messages"
                ))
            })?),
        };
        Ok(Some(Self {
            protocol_version: version.to_owned(),
            client_capabilities: caps,
            client_info,
            log_level,
        }))
    }

    /// The `_meta` object a client puts on a request.
    pub fn to_meta(&self) -> Map<String, Value> {
        let mut meta = Map::new();
        meta.insert(
            PROTOCOL_VERSION_META.into(),
            Value::String(self.protocol_version.clone()),
        );
        meta.insert(
            CLIENT_CAPABILITIES.into(),
            serde_json::to_value(&self.client_capabilities).unwrap_or_else(|_| json!({})),
        );
        if let Some(info) = &self.client_info {
            meta.insert(
                CLIENT_INFO.into(),
                serde_json::to_value(info).unwrap_or(Value::Null),
            );
        }
        if let Some(level) = self.log_level {
            meta.insert(
                LOG_LEVEL.into(),
                serde_json::to_value(level).unwrap_or(Value::Null),
            );
        }
        meta
    }
}

/// What a client supports, declared on each request. An absent member means "not supported".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCapabilities {
    /// Non-standard capabilities, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<Map<String, Value>>,
    /// The client answers `roots/list` input requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<RootsCapability>,
    /// The client answers `sampling/createMessage` input requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingCapability>,
    /// The client answers `elicitation/create` input requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elicitation: Option<ElicitationCapability>,
    /// Extensions the client supports, by identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

impl ClientCapabilities {
    /// Whether the client declared the tasks extension on this request.
    pub fn has_tasks_extension(&self) -> bool {
        self.extensions
            .as_ref()
            .is_some_and(|e| e.contains_key(super::TASKS_EXTENSION))
    }

    /// Declares the tasks extension with its one accepted value, `{}`.
    #[must_use]
    pub fn with_tasks_extension(mut self) -> Self {
        self.extensions
            .get_or_insert_with(Map::new)
            .insert(super::TASKS_EXTENSION.into(), json!({}));
        self
    }

    /// The same declaration in the 2025-11-25 shape, so one check of "can this client answer
    /// that question" serves both eras.
    pub fn as_v2025(&self) -> crate::v2025_11_25::ClientCapabilities {
        crate::v2025_11_25::ClientCapabilities {
            experimental: self.experimental.clone(),
            roots: self.roots,
            sampling: self.sampling,
            elicitation: self.elicitation,
            tasks: None,
        }
    }
}

/// What a server supports, as `server/discover` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCapabilities {
    /// The server offers tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolsCapability>,
    /// The server can send log messages (when a request asks with its `logLevel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Map<String, Value>>,
    /// Extensions the server supports, by identifier; the tasks extension is `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// Who may reuse a cached result: anyone, or only the same authorization context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// No user-specific data: shared caches may serve it to anyone.
    Public,
    /// Only for the same authorization context.
    Private,
}

/// Result of `server/discover` (B-1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverResult {
    /// Always [`ResultType::Complete`].
    pub result_type: ResultType,
    /// The versions the server speaks, newest first.
    pub supported_versions: Vec<String>,
    /// What the server supports.
    pub capabilities: ServerCapabilities,
    /// Who the server is (also under `_meta[SERVER_INFO]`).
    pub server_info: Implementation,
    /// How to use the server, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// How long a client may cache this answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// Who may reuse the cached answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_scope: Option<CacheScope>,
    /// `_meta`, with [`SERVER_INFO`].
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// What kind of result this is, so a client knows how to read the rest (B-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultType {
    /// The request's own result.
    Complete,
    /// The request needs input first: an `InputRequiredResult` (B-6).
    InputRequired,
    /// The request became a task: a `CreateTaskResult`.
    Task,
}

impl ResultType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::InputRequired => "input_required",
            Self::Task => "task",
        }
    }

    /// The `resultType` of a result object; absent means `complete` (a result from an older
    /// server), anything unknown is `None`.
    pub fn of(result: &Value) -> Option<Self> {
        match result.get("resultType") {
            None => Some(Self::Complete),
            Some(v) => serde_json::from_value(v.clone()).ok(),
        }
    }

    /// Sets `resultType` on a result object (does nothing to a non-object).
    pub fn stamp(self, result: &mut Value) {
        if let Value::Object(obj) = result {
            obj.insert("resultType".into(), Value::String(self.as_str().into()));
        }
    }
}

/// `-32022`: the request speaks a version this server does not (B-3).
pub fn unsupported_version(requested: &str) -> ErrorObject {
    ErrorObject::new(
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "unsupported protocol version {requested:?}; this server speaks {} per request",
            STATELESS_VERSIONS.join(", ")
        ),
    )
    .with_data(json!({"supported": STATELESS_VERSIONS, "requested": requested}))
}

/// `-32021`: the request needs a capability the client did not declare on it; `required` is a
/// `ClientCapabilities` object naming it, such as `{"extensions": {"io.modelcontextprotocol/tasks": {}}}`.
pub fn missing_capability(message: impl Into<String>, required: Value) -> ErrorObject {
    ErrorObject::new(ErrorCode::MISSING_CAPABILITY, message)
        .with_data(json!({"requiredCapabilities": required}))
}

/// `-32020`: an HTTP header is missing, malformed or disagrees with the body (B-5).
pub fn header_mismatch(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(ErrorCode::HEADER_MISMATCH, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(v: Value) -> Result<Option<RequestMetaObject>, ErrorObject> {
        RequestMetaObject::from_params(Some(&json!({"_meta": v})))
    }

    /// B-2: the version and the capabilities come from each request's `_meta`.
    #[test]
    fn request_meta_reads_version_and_capabilities() {
        let m = meta(json!({
            PROTOCOL_VERSION_META: "2026-07-28",
            CLIENT_CAPABILITIES: {"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}},
            CLIENT_INFO: {"name": "c", "version": "1"},
            LOG_LEVEL: "info"
        }))
        .unwrap()
        .unwrap();
        assert_eq!(m.protocol_version, "2026-07-28");
        assert!(m.client_capabilities.has_tasks_extension());
        assert!(m.client_capabilities.elicitation.is_some());
        assert_eq!(m.client_info.unwrap().name, "c");
        assert_eq!(m.log_level, Some(LoggingLevel::Info));
        let back = RequestMetaObject {
            protocol_version: PROTOCOL_VERSION.into(),
            client_capabilities: ClientCapabilities::default().with_tasks_extension(),
            log_level: Some(LoggingLevel::Warning),
            ..Default::default()
        };
        let again = meta(Value::Object(back.to_meta())).unwrap().unwrap();
        assert_eq!(again, back);
    }

    /// B-2, B-8: no version in `_meta` is not this era; a version with bad or missing
    /// capabilities, or a log level that is not one of the eight, is -32602.
    #[test]
    fn request_meta_without_version_is_another_era_and_bad_meta_is_invalid_params() {
        assert_eq!(RequestMetaObject::from_params(None).unwrap(), None);
        assert_eq!(meta(json!({"progressToken": 1})).unwrap(), None);
        for bad in [
            json!({PROTOCOL_VERSION_META: 5, CLIENT_CAPABILITIES: {}}),
            json!({PROTOCOL_VERSION_META: "2026-07-28"}),
            json!({PROTOCOL_VERSION_META: "2026-07-28", CLIENT_CAPABILITIES: []}),
            json!({PROTOCOL_VERSION_META: "2026-07-28", CLIENT_CAPABILITIES: {"extensions": 3}}),
            json!({PROTOCOL_VERSION_META: "2026-07-28", CLIENT_CAPABILITIES: {}, LOG_LEVEL: 1}),
            json!({PROTOCOL_VERSION_META: "2026-07-28", CLIENT_CAPABILITIES: {}, LOG_LEVEL: "verbose"}),
            json!({PROTOCOL_VERSION_META: "2026-07-28", CLIENT_CAPABILITIES: {}, LOG_LEVEL: "INFO"}),
        ] {
            let e = meta(bad.clone()).unwrap_err();
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{bad}");
        }
    }

    /// B-3: -32022 names what was asked and what is spoken per request, only that: a 2025
    /// version in `_meta` would be refused again.
    #[test]
    fn unsupported_version_carries_supported_and_requested() {
        let e = unsupported_version("1999-01-01");
        assert_eq!(e.code.0, -32022);
        let data = e.data.unwrap();
        assert_eq!(data["requested"], "1999-01-01");
        assert_eq!(data["supported"], json!([PROTOCOL_VERSION]));
    }

    /// B-4: absent `resultType` reads as complete; stamping sets it.
    #[test]
    fn result_type_reads_and_stamps() {
        assert_eq!(ResultType::of(&json!({})), Some(ResultType::Complete));
        assert_eq!(
            ResultType::of(&json!({"resultType": "task"})),
            Some(ResultType::Task)
        );
        assert_eq!(ResultType::of(&json!({"resultType": "nope"})), None);
        let mut v = json!({"content": []});
        ResultType::InputRequired.stamp(&mut v);
        assert_eq!(v["resultType"], "input_required");
    }
}

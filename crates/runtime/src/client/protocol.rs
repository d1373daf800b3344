//! Which era a client speaks with its server, and how it finds out (B-8, client side).
//!
//! MCP 2025-11-25 opens a session with `initialize`; MCP 2026-07-28 has no session: every
//! request carries the version and the client's capabilities in its `_meta` (B-2), and a
//! client that does not know what the server speaks asks `server/discover` first, falling back
//! to `initialize` when the server does not answer it as a 2026-07-28 server (the versioning
//! page of 2026-07-28). [`ClientBuilder::protocols`](super::ClientBuilder::protocols) chooses:
//! one era is spoken without asking; two are a preference that discovery settles.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use mcp_tasks_wire::jsonrpc::ErrorCode;
use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::Implementation;
use mcp_tasks_wire::v2026_07_28::{
    self as v2, ClientCapabilities, RequestMetaObject, ServerCapabilities,
};
use serde_json::{Map, Value};

use super::error::ClientError;

/// How long `server/discover` may go unanswered before connecting fails (a server that only
/// speaks 2025-11-25 and ignores a request before `initialize` is connected to by naming
/// that protocol).
pub(crate) const DISCOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// What 2025-11-25 Streamable HTTP servers (the official SDKs') answer a request outside a
/// session with: "Bad Request: Server not initialized". Not a code of MCP's own, so not in
/// [`ErrorCode`].
const NOT_INITIALIZED: ErrorCode = ErrorCode(-32000);

/// An era of MCP this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// MCP 2025-11-25: an `initialize`d session; tasks are asked for with `params.task` and
    /// read with `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`.
    V2025_11_25,
    /// MCP 2026-07-28 with the tasks extension: stateless requests; the server decides which
    /// `tools/call` becomes a task, read with `tasks/get` (result inlined) and answered with
    /// `tasks/update`.
    V2026_07_28,
}

impl Protocol {
    /// The version string, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2025_11_25 => method::LATEST_PROTOCOL_VERSION,
            Self::V2026_07_28 => v2::PROTOCOL_VERSION,
        }
    }

    /// Whether a `supportedVersions` list (of `server/discover` or `-32022`) admits this era.
    fn listed_in(self, versions: &[String]) -> bool {
        versions.iter().any(|v| match self {
            Self::V2025_11_25 => method::SUPPORTED_PROTOCOL_VERSIONS.contains(&v.as_str()),
            Self::V2026_07_28 => v == v2::PROTOCOL_VERSION,
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2025-11-25" => Ok(Self::V2025_11_25),
            "2026-07-28" => Ok(Self::V2026_07_28),
            other => Err(format!(
                "{other:?} is not a protocol version this client speaks (2025-11-25, 2026-07-28)"
            )),
        }
    }
}

/// What `server/discover` told the client about the server (B-1).
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// The versions the server speaks.
    pub supported_versions: Vec<String>,
    /// What it supports; the tasks extension is under `extensions`.
    pub capabilities: ServerCapabilities,
    /// Who it says it is: `_meta["io.modelcontextprotocol/serverInfo"]`, or a top-level
    /// `serverInfo`.
    pub server_info: Option<Implementation>,
    /// How to use the server, for the model.
    pub instructions: Option<String>,
    /// The answer as sent.
    pub raw: Value,
}

impl Discovery {
    /// Reads a `server/discover` result. Lenient where a client can be: only
    /// `supportedVersions` is needed to choose an era.
    ///
    /// # Errors
    ///
    /// [`ClientError::Protocol`] when `supportedVersions` is not a list of strings.
    pub(crate) fn from_result(raw: Value) -> Result<Self, ClientError> {
        let bad = |detail: &str| ClientError::protocol(method::SERVER_DISCOVER, detail);
        let supported_versions: Vec<String> = raw
            .get("supportedVersions")
            .cloned()
            .ok_or_else(|| bad("no supportedVersions"))
            .and_then(|v| {
                serde_json::from_value(v).map_err(|_| bad("supportedVersions is not strings"))
            })?;
        let capabilities = raw
            .get("capabilities")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        let server_info = raw
            .get("_meta")
            .and_then(|m| m.get(v2::SERVER_INFO))
            .or_else(|| raw.get("serverInfo"))
            .and_then(|i| serde_json::from_value(i.clone()).ok());
        let instructions = raw
            .get("instructions")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Self {
            supported_versions,
            capabilities,
            server_info,
            instructions,
            raw,
        })
    }

    /// Whether the server declared the tasks extension.
    pub fn has_tasks_extension(&self) -> bool {
        self.capabilities
            .extensions
            .as_ref()
            .is_some_and(|e| e.contains_key(v2::TASKS_EXTENSION))
    }
}

/// How asking `server/discover` went.
#[derive(Debug)]
pub(crate) enum Discovered {
    /// The server answered as a 2026-07-28 server.
    Modern(Box<Discovery>),
    /// It did not (why, for the log): take it for a 2025-11-25 server and `initialize`.
    Legacy(String),
}

/// Classifies the answer to `server/discover` (the versioning page of 2026-07-28): a
/// `DiscoverResult` listing 2026-07-28 is a modern server. Only what a 2025-11-25 server says
/// to a method it does not know, or to a request outside a session, falls back to
/// `initialize`: -32601, -32600, -32000 (the "Server not initialized" of 2025-11-25 Streamable
/// HTTP servers), HTTP 400, 404 or 405 without a JSON-RPC body, or an answer that is not a
/// `DiscoverResult`. A -32022 is a modern server naming the versions it speaks: it falls back
/// only when one of them is a 2025 version. Anything else (-32603, another code, a 5xx, a
/// transport failure, silence) is a server that is failing, not an older one, and the client
/// reports it rather than quietly speaking 2025-11-25.
///
/// # Errors
///
/// The server's error, or [`ClientError::Unsupported`] when -32022 lists no version this client
/// speaks.
pub(crate) fn classify(answer: Result<Value, ClientError>) -> Result<Discovered, ClientError> {
    let error = match answer {
        Ok(raw) => {
            return Ok(match Discovery::from_result(raw) {
                Ok(d) if Protocol::V2026_07_28.listed_in(&d.supported_versions) => {
                    Discovered::Modern(Box::new(d))
                }
                Ok(d) => Discovered::Legacy(format!(
                    "server/discover lists {} but not {}",
                    d.supported_versions.join(", "),
                    v2::PROTOCOL_VERSION
                )),
                Err(e) => Discovered::Legacy(e.to_string()),
            })
        }
        Err(e) => e,
    };
    if let Some(rpc) = error.rpc() {
        if rpc.code == ErrorCode::UNSUPPORTED_PROTOCOL_VERSION {
            return versions_offered(&error);
        }
        if [
            ErrorCode::METHOD_NOT_FOUND,
            ErrorCode::INVALID_REQUEST,
            NOT_INITIALIZED,
        ]
        .contains(&rpc.code)
        {
            return Ok(Discovered::Legacy(error.to_string()));
        }
        return Err(error);
    }
    match error {
        ClientError::Http {
            status: 400 | 404 | 405,
            ..
        } => Ok(Discovered::Legacy(error.to_string())),
        other => Err(other),
    }
}

/// What -32022 to `server/discover` leaves: `initialize` when `data.supported` lists a 2025
/// version (2026-07-28 was already asked again once, see [`retry_version`]), else an error
/// naming what the server speaks.
fn versions_offered(error: &ClientError) -> Result<Discovered, ClientError> {
    let supported: Vec<String> = error
        .rpc()
        .and_then(|e| e.data.as_ref())
        .and_then(|d| d.get("supported"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    if Protocol::V2025_11_25.listed_in(&supported) {
        return Ok(Discovered::Legacy(error.to_string()));
    }
    Err(ClientError::Unsupported(format!(
        "the server refused MCP {} and speaks {}: none is a version this client speaks \
         ({}, {})",
        v2::PROTOCOL_VERSION,
        if supported.is_empty() {
            "no version it names".to_owned()
        } else {
            supported.join(", ")
        },
        Protocol::V2025_11_25,
        Protocol::V2026_07_28
    )))
}

/// The era to speak: the first of `preference` the server lists.
pub(crate) fn choose(preference: &[Protocol], discovery: &Discovery) -> Option<Protocol> {
    preference
        .iter()
        .copied()
        .find(|p| p.listed_in(&discovery.supported_versions))
}

/// Whether a request with `params` that got `error` should be sent again: it speaks
/// 2026-07-28, and the error is -32022 listing 2026-07-28 among the supported versions.
pub(crate) fn retry_version(params: &Value, error: &ClientError) -> bool {
    let speaks_2026 = params
        .get("_meta")
        .and_then(|m| m.get(v2::PROTOCOL_VERSION_META))
        .and_then(Value::as_str)
        == Some(v2::PROTOCOL_VERSION);
    let lists_2026 = error.rpc().is_some_and(|e| {
        e.code == ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
            && e.data
                .as_ref()
                .and_then(|d| d.get("supported"))
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|v| v == v2::PROTOCOL_VERSION))
    });
    speaks_2026 && lists_2026
}

/// The `_meta` a 2026-07-28 request carries (B-2, X-1): the version, this client's
/// capabilities, with the tasks extension declared as exactly `{}`, and who it is.
pub(crate) fn request_meta(
    info: &Implementation,
    capabilities: ClientCapabilities,
) -> Map<String, Value> {
    RequestMetaObject {
        protocol_version: v2::PROTOCOL_VERSION.into(),
        client_capabilities: capabilities.with_tasks_extension(),
        client_info: Some(info.clone()),
        log_level: None,
    }
    .to_meta()
}

/// Puts `meta`'s keys into `params._meta`, keeping the keys already there (a progress token);
/// `params` that are not an object (never sent by this client) are left alone.
pub(crate) fn frame(params: &mut Value, meta: &Map<String, Value>) {
    let Value::Object(params) = params else {
        return;
    };
    let entry = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(existing) = entry {
        for (k, v) in meta {
            existing.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_tasks_wire::jsonrpc::ErrorObject;
    use serde_json::json;

    use super::*;

    fn rpc(code: ErrorCode) -> ClientError {
        ClientError::Rpc {
            method: method::SERVER_DISCOVER.into(),
            error: Box::new(ErrorObject::new(code, "no")),
        }
    }

    /// B-1, B-8: a discover result listing 2026-07-28 is a modern server, with its
    /// capabilities and the server info of `_meta`.
    #[test]
    fn a_discover_result_listing_2026_is_modern() {
        let raw = json!({
            "resultType": "complete",
            "supportedVersions": ["2026-07-28", "2025-11-25"],
            "capabilities": {"tools": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}},
            "ttlMs": 0, "cacheScope": "public",
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "1"}}
        });
        let Discovered::Modern(d) = classify(Ok(raw)).unwrap() else {
            panic!("not modern")
        };
        assert!(d.has_tasks_extension());
        assert_eq!(d.server_info.unwrap().name, "s");
        assert_eq!(
            choose(
                &[Protocol::V2026_07_28, Protocol::V2025_11_25],
                &d_of(&["2026-07-28", "2025-11-25"])
            ),
            Some(Protocol::V2026_07_28)
        );
    }

    fn d_of(versions: &[&str]) -> Discovery {
        Discovery::from_result(json!({ "supportedVersions": versions })).unwrap()
    }

    /// B-8: the preference decides among what the server lists; a 2025 version counts for
    /// the 2025 era.
    #[test]
    fn the_first_preferred_era_the_server_lists_wins() {
        let both = d_of(&["2026-07-28", "2025-06-18"]);
        let old_first = [Protocol::V2025_11_25, Protocol::V2026_07_28];
        assert_eq!(choose(&old_first, &both), Some(Protocol::V2025_11_25));
        let modern_only = d_of(&["2026-07-28"]);
        assert_eq!(
            choose(&old_first, &modern_only),
            Some(Protocol::V2026_07_28)
        );
        assert_eq!(choose(&[Protocol::V2025_11_25], &modern_only), None);
    }

    /// B-8: what a 2025-11-25 server answers a method it does not know, a request outside a
    /// session, or an answer that is no `DiscoverResult`, means a 2025-11-25 server.
    #[test]
    fn what_falls_back_to_initialize() {
        let refused_2026 = ErrorObject::new(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION, "no")
            .with_data(json!({"supported": ["2025-11-25"], "requested": "2026-07-28"}));
        for legacy in [
            Err(rpc(ErrorCode::METHOD_NOT_FOUND)),
            Err(rpc(ErrorCode::INVALID_REQUEST)),
            Err(rpc(NOT_INITIALIZED)),
            Err(ClientError::Rpc {
                method: method::SERVER_DISCOVER.into(),
                error: Box::new(refused_2026),
            }),
            Err(http(400)),
            Err(http(404)),
            Err(http(405)),
            Ok(json!({"supportedVersions": ["2025-11-25"]})),
            Ok(json!({})),
            Ok(json!({"supportedVersions": 3})),
        ] {
            assert!(
                matches!(classify(legacy), Ok(Discovered::Legacy(_))),
                "should fall back"
            );
        }
    }

    fn http(status: u16) -> ClientError {
        ClientError::Http {
            status,
            detail: String::new(),
        }
    }

    /// B-8: a server that is failing (-32603, a 5xx, a lost POST, silence) or a modern one
    /// refusing (-32020, -32021) is reported, not taken for a 2025-11-25 server; -32022 naming
    /// no version this client speaks says which the server speaks.
    #[test]
    fn what_is_a_connect_error() {
        for failing in [
            rpc(ErrorCode::INTERNAL_ERROR),
            rpc(ErrorCode::HEADER_MISMATCH),
            rpc(ErrorCode::MISSING_CAPABILITY),
            rpc(ErrorCode::INVALID_PARAMS),
            http(500),
            http(503),
            http(403),
            ClientError::Transport("POST failed".into()),
            ClientError::Transport("no answer to server/discover within 10s".into()),
        ] {
            let shown = failing.to_string();
            let err = classify(Err(failing)).unwrap_err();
            assert_eq!(err.to_string(), shown);
        }
        let future_only = ErrorObject::new(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION, "no")
            .with_data(json!({"supported": ["2027-01-01"], "requested": "2026-07-28"}));
        let err = classify(Err(ClientError::Rpc {
            method: method::SERVER_DISCOVER.into(),
            error: Box::new(future_only),
        }))
        .unwrap_err();
        assert!(matches!(err, ClientError::Unsupported(_)), "{err}");
        assert!(err.to_string().contains("2027-01-01"), "{err}");
    }

    /// B-2, X-1: every 2026 request's `_meta`: version, capabilities with the extension as
    /// exactly `{}`, client info; merged into what `_meta` already held.
    #[test]
    fn framing_adds_the_era_meta_and_keeps_the_rest() {
        let meta = request_meta(
            &Implementation::new("c", "1"),
            ClientCapabilities::default(),
        );
        let mut params = json!({"name": "t", "_meta": {"progressToken": "p"}});
        frame(&mut params, &meta);
        assert_eq!(
            params["_meta"],
            json!({
                "progressToken": "p",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {
                    "extensions": {"io.modelcontextprotocol/tasks": {}}
                },
                "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"}
            })
        );
        let mut bare = json!({});
        frame(&mut bare, &meta);
        assert_eq!(
            bare["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
    }

    #[test]
    fn protocol_names_parse_and_print() {
        for p in [Protocol::V2025_11_25, Protocol::V2026_07_28] {
            assert_eq!(p.to_string().parse::<Protocol>().unwrap(), p);
        }
        assert!("2024-11-05"
            .parse::<Protocol>()
            .unwrap_err()
            .contains("2026-07-28"));
    }
}

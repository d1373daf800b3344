//! Who is calling: every HTTP request of both eras (2025-11-25 sessions and 2026-07-28
//! stateless requests) is asked for its owner here before anything else is done with it, and
//! that owner scopes every task it reaches (T-SEC-1).
//!
//! An [`Authenticator`] is one of two ways to know the owner:
//!
//! - [`BearerTokens`]: a static file of `SUBJECT TOKEN` pairs, for small setups.
//! - [`OAuth`]: an OAuth 2.1 resource server as MCP's authorization spec asks of an HTTP
//!   server. Access tokens are issued by the user's authorization server for this server's
//!   resource URL, and their subject is the owner.
//!
//! Refusals follow RFC 6750, section 3, and carry JSON-RPC error bodies like the rest of the
//! transport: `401` with `WWW-Authenticate: Bearer` when no bearer token came,
//! `Bearer error="invalid_token"` when the token is not accepted, and (OAuth only) `403` with
//! `Bearer error="insufficient_scope", scope="…"` when it lacks a required scope. Under OAuth
//! every challenge names the Protected Resource Metadata (RFC 9728) in `resource_metadata`, so a
//! client can find the authorization server from a 401 alone. When the token cannot be checked
//! because the authorization server cannot be reached (its keys or its introspection endpoint),
//! the answer is `503` with `Retry-After` and no challenge: `invalid_token` would make clients
//! throw away tokens that may be good. Tokens are never logged.

mod introspection;
mod jwks;
mod oauth;
mod static_tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_tasks_engine::Owner;
use mcp_tasks_wire::jsonrpc::ErrorObject;

pub use oauth::{
    IntrospectionConfig, JwksSource, JwtAlgorithm, OAuth, OAuthConfig, OAuthError,
    DEFAULT_FETCH_TIMEOUT, DEFAULT_INTROSPECTION_CACHE_ENTRIES, DEFAULT_INTROSPECTION_CACHE_TTL,
    DEFAULT_INTROSPECTION_CONCURRENCY, DEFAULT_JWKS_MIN_REFETCH, DEFAULT_JWKS_REFRESH,
    DEFAULT_LEEWAY, MAX_SUBJECT_BYTES, METADATA_PATH,
};
pub use static_tokens::{BearerTokens, TokenError, TokensError, MIN_TOKEN_CHARS};

/// How the HTTP endpoint learns who owns a request.
///
/// Cloning is cheap: the OAuth state (its key cache among it) is shared.
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// A fixed list of bearer tokens and their subjects.
    Tokens(BearerTokens),
    /// Access tokens of an OAuth authorization server.
    OAuth(Arc<OAuth>),
}

impl From<BearerTokens> for Authenticator {
    fn from(tokens: BearerTokens) -> Self {
        Self::Tokens(tokens)
    }
}

impl From<OAuth> for Authenticator {
    fn from(oauth: OAuth) -> Self {
        Self::OAuth(Arc::new(oauth))
    }
}

impl From<Arc<OAuth>> for Authenticator {
    fn from(oauth: Arc<OAuth>) -> Self {
        Self::OAuth(oauth)
    }
}

impl Authenticator {
    /// The owner of the request with these headers.
    ///
    /// # Errors
    ///
    /// Why the request is refused; the refusal answers itself (401 or 403).
    pub(super) async fn authenticate(&self, headers: &HeaderMap) -> Result<Owner, Refusal> {
        match self {
            Self::Tokens(tokens) => tokens.authenticate(headers).map_err(|reason| Refusal {
                reason,
                challenge: None,
            }),
            Self::OAuth(oauth) => oauth.authenticate(headers).await,
        }
    }

    /// The OAuth resource server, when that is how requests are authenticated.
    pub fn oauth(&self) -> Option<&Arc<OAuth>> {
        match self {
            Self::OAuth(oauth) => Some(oauth),
            Self::Tokens(_) => None,
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer <token>`, the scheme in any case.
/// `Bearer` alone gives an empty token, which nothing accepts.
fn bearer(headers: &HeaderMap) -> Result<&str, Reason> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Reason::Missing);
    };
    let value = value.to_str().map_err(|_| Reason::OtherScheme)?.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Reason::OtherScheme);
    }
    Ok(token.trim())
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header of another scheme than `Bearer`.
    OtherScheme,
    /// A static bearer token that is not on the list.
    UnknownToken,
    /// An OAuth access token that is not accepted, and why.
    Invalid(Invalid),
    /// A valid OAuth access token without every required scope.
    InsufficientScope,
}

/// How long a client is asked to wait when the authorization server cannot be reached: about
/// the default minimum interval between two fetches of the key set.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why an OAuth access token is not accepted, or (the `*Unavailable` and `IntrospectionBusy`
/// kinds) why it cannot be checked now. The client is told (in the body, never in a log
/// line with the token), since it is the token's holder and it helps it to know whether to
/// refresh the token or ask for another audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invalid {
    /// Not a JWT, and no introspection endpoint to ask.
    Malformed,
    /// Signed with an algorithm this server does not accept for the issuer's keys (`none` and
    /// `HS*` among them), or one that does not fit the key its `kid` names.
    Algorithm,
    /// Its `kid` is not in the issuer's key set, even after fetching it again.
    UnknownKey,
    /// The issuer's key set could not be had (see the server's log).
    KeysUnavailable,
    /// The signature does not verify.
    Signature,
    /// Past its `exp`, leeway included.
    Expired,
    /// Before its `nbf`, leeway included.
    NotYetValid,
    /// Another `iss` than the configured issuer.
    Issuer,
    /// An `aud` without this server's resource URL.
    Audience,
    /// A claim the token must have is missing (`exp`, `iss`, `aud`).
    MissingClaim,
    /// No subject in the configured claim, or an empty one.
    NoSubject,
    /// A subject over [`MAX_SUBJECT_BYTES`]: it is stored with every task and keys locks and
    /// rate limits.
    SubjectTooLong,
    /// A subject with a control character (NUL among them), which would corrupt log lines
    /// and which PostgreSQL's `TEXT` refuses.
    SubjectControl,
    /// The JOSE header lists extensions in `crit`; this server understands none, so RFC 7515
    /// §4.1.11 has it refuse the token.
    Critical,
    /// Introspection says it is not active (revoked, expired, or unknown).
    Inactive,
    /// The introspection endpoint could not be asked (see the server's log).
    IntrospectionUnavailable,
    /// As many introspections as allowed are under way, and none ended within the fetch
    /// timeout.
    IntrospectionBusy,
}

impl Invalid {
    fn message(self) -> &'static str {
        match self {
            Self::Malformed => "the access token is not a well-formed JWT",
            Self::Algorithm => {
                "the access token is signed with an algorithm this server does not accept for \
                 the issuer's keys"
            }
            Self::UnknownKey => "the access token is signed with a key the issuer does not publish",
            Self::KeysUnavailable => {
                "the authorization server cannot be reached: its signing keys cannot be fetched \
                 right now, so the access token cannot be checked; keep the token and try again \
                 shortly"
            }
            Self::Signature => "the access token's signature does not verify",
            Self::Expired => "the access token has expired; get a new one",
            Self::NotYetValid => "the access token is not valid yet (nbf)",
            Self::Issuer => "the access token was not issued by this server's authorization server",
            Self::Audience => {
                "the access token was not issued for this server (its aud lacks this server's \
                 resource URL); request a token with the resource parameter set to it"
            }
            Self::MissingClaim => "the access token lacks a required claim (exp, iss or aud)",
            Self::NoSubject => "the access token names no subject",
            Self::SubjectTooLong => {
                "the access token's subject is longer than 1024 bytes, which this server does \
                 not accept as an owner"
            }
            Self::SubjectControl => {
                "the access token's subject holds a control character, which this server does \
                 not accept as an owner"
            }
            Self::Critical => {
                "the access token's header lists critical extensions (crit) this server does not \
                 understand"
            }
            Self::Inactive => "the access token is not active (expired, revoked or unknown)",
            Self::IntrospectionUnavailable => {
                "the authorization server cannot be reached: it cannot be asked about the access \
                 token right now; keep the token and try again shortly"
            }
            Self::IntrospectionBusy => {
                "the authorization server cannot be reached right now: too many access tokens are \
                 being checked with it; keep the token and try again shortly"
            }
        }
    }

    /// Whether the token could not be checked at all, through no fault of its own.
    fn is_outage(self) -> bool {
        matches!(
            self,
            Self::KeysUnavailable | Self::IntrospectionUnavailable | Self::IntrospectionBusy
        )
    }
}

/// What a refusal adds to its challenge under OAuth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    /// The Protected Resource Metadata URL.
    pub(super) resource_metadata: Arc<str>,
    /// The required scopes, space-separated; `None` when none are required.
    pub(super) scope: Option<Arc<str>>,
}

/// A refused request: why, and (under OAuth) where to learn how to get in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(super) reason: Reason,
    pub(super) challenge: Option<Challenge>,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self.reason {
            Reason::InsufficientScope => StatusCode::FORBIDDEN,
            Reason::Invalid(why) if why.is_outage() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3; RFC 9728 §5.1 for `resource_metadata`).
    fn header(&self) -> String {
        let mut params: Vec<String> = Vec::new();
        match self.reason {
            Reason::Missing | Reason::OtherScheme => {}
            Reason::UnknownToken | Reason::Invalid(_) => {
                params.push("error=\"invalid_token\"".into());
            }
            Reason::InsufficientScope => params.push("error=\"insufficient_scope\"".into()),
        }
        if let Some(challenge) = &self.challenge {
            // MCP 2025-11-25 asks for the scope on 401 too, so a client knows what to request.
            let with_scope = matches!(
                self.reason,
                Reason::Missing | Reason::OtherScheme | Reason::InsufficientScope
            );
            if let (true, Some(scope)) = (with_scope, &challenge.scope) {
                params.push(format!("scope=\"{scope}\""));
            }
            params.push(format!(
                "resource_metadata=\"{}\"",
                challenge.resource_metadata
            ));
        }
        if params.is_empty() {
            "Bearer".into()
        } else {
            format!("Bearer {}", params.join(", "))
        }
    }

    fn message(&self) -> String {
        let oauth = self.challenge.is_some();
        match self.reason {
            Reason::Missing if oauth => format!(
                "this server requires an OAuth access token: send `Authorization: Bearer \
                 <token>` with every request; how to get one is described at {}",
                self.metadata_url()
            ),
            Reason::Missing => "this server requires authentication: send `Authorization: \
                                Bearer <token>` with every request"
                .into(),
            Reason::OtherScheme => "the Authorization header is not `Bearer <token>`; this \
                                    server takes bearer tokens only"
                .into(),
            Reason::UnknownToken => "the bearer token is not one this server accepts; check \
                                     it, or ask the server's operator for one"
                .into(),
            Reason::Invalid(why) => why.message().into(),
            Reason::InsufficientScope => format!(
                "the access token lacks a scope this server requires; request a token with \
                 scope \"{}\"",
                self.challenge
                    .as_ref()
                    .and_then(|c| c.scope.as_deref())
                    .unwrap_or_default()
            ),
        }
    }

    fn metadata_url(&self) -> &str {
        self.challenge.as_ref().map_or("", |c| &c.resource_metadata)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if let Reason::Invalid(why) = self.reason {
            if why.is_outage() {
                let secs = RETRY_AFTER.as_secs();
                let mut error = ErrorObject::internal(why.message());
                error.data = Some(serde_json::json!({ "retryAfterSecs": secs }));
                let mut response = super::rpc_error(self.status(), None, error);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return response;
            }
        }
        let mut response = super::rpc_error(
            self.status(),
            None,
            ErrorObject::invalid_request(self.message()),
        );
        if let Ok(value) = HeaderValue::from_str(&self.header()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        } else {
            // Only a configured URL or scope could make the value unsendable, and those are
            // checked when the server is set up.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(reason: Reason, scope: Option<&str>) -> Refusal {
        Refusal {
            reason,
            challenge: Some(Challenge {
                resource_metadata:
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into(),
                scope: scope.map(Into::into),
            }),
        }
    }

    /// RFC 6750 §3 and RFC 9728 §5.1: the challenge of each refusal.
    #[test]
    fn challenges_name_the_error_scope_and_metadata() {
        let md = "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";
        let cases = [
            (
                refusal(Reason::Missing, None),
                StatusCode::UNAUTHORIZED,
                format!("Bearer {md}"),
            ),
            (
                refusal(Reason::Missing, Some("tasks")),
                StatusCode::UNAUTHORIZED,
                format!("Bearer scope=\"tasks\", {md}"),
            ),
            (
                refusal(Reason::Invalid(Invalid::Expired), Some("tasks")),
                StatusCode::UNAUTHORIZED,
                format!("Bearer error=\"invalid_token\", {md}"),
            ),
            (
                refusal(Reason::InsufficientScope, Some("tasks admin")),
                StatusCode::FORBIDDEN,
                format!("Bearer error=\"insufficient_scope\", scope=\"tasks admin\", {md}"),
            ),
            (
                Refusal {
                    reason: Reason::UnknownToken,
                    challenge: None,
                },
                StatusCode::UNAUTHORIZED,
                "Bearer error=\"invalid_token\"".to_owned(),
            ),
            (
                Refusal {
                    reason: Reason::Missing,
                    challenge: None,
                },
                StatusCode::UNAUTHORIZED,
                "Bearer".to_owned(),
            ),
        ];
        for (refusal, status, challenge) in cases {
            let response = refusal.clone().into_response();
            assert_eq!(response.status(), status, "{refusal:?}");
            assert_eq!(
                response.headers()[header::WWW_AUTHENTICATE],
                challenge.as_str()
            );
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        }
    }

    /// An outage of the authorization server is 503 with `Retry-After` and an internal error,
    /// never a challenge: `invalid_token` would make the client drop a good token.
    #[test]
    fn an_unreachable_authorization_server_is_503_not_invalid_token() {
        for why in [
            Invalid::KeysUnavailable,
            Invalid::IntrospectionUnavailable,
            Invalid::IntrospectionBusy,
        ] {
            let response = refusal(Reason::Invalid(why), Some("tasks")).into_response();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{why:?}"
            );
            assert_eq!(response.headers()[header::RETRY_AFTER], "10");
            assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
            assert!(why.message().contains("cannot be reached"), "{why:?}");
        }
        let bad = refusal(Reason::Invalid(Invalid::Signature), None).into_response();
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_other_schemes_are_named() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert_eq!(bearer(&with("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(&with("Bearer")), Ok(""));
        assert_eq!(
            bearer(&with("Basic YWxpY2U6cHc=")),
            Err(Reason::OtherScheme)
        );
        assert_eq!(bearer(&HeaderMap::new()), Err(Reason::Missing));
    }
}

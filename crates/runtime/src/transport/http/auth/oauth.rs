//! An OAuth 2.1 resource server, as MCP's authorization spec (2025-11-25, 2026-07-28) asks of an
//! HTTP MCP server.
//!
//! - JWT access tokens are checked against the issuer's JSON Web Key Set (a URL or a file; see
//!   `jwks`): the signature with an algorithm from an explicit list (never `none`, never `HS*`,
//!   since the issuer's published keys are public and an HMAC "signed" with one proves nothing),
//!   `iss` equal to the configured issuer, `aud` holding this server's resource URL (RFC 8707:
//!   a token issued for another server is refused, so no server can replay its clients' tokens
//!   here), and `exp` / `nbf` with a small leeway for clock skew.
//! - Opaque tokens can be checked by introspection (RFC 7662) instead; see `introspection`.
//! - The token's subject (`sub`, or a configured claim) owns the request (T-SEC-1).
//! - Required scopes, when configured, must all be in the token's `scope` (or `scp`), else 403
//!   `insufficient_scope`.
//! - The Protected Resource Metadata (RFC 9728) tells clients which authorization server to ask
//!   for a token; the transport serves it without authentication at [`METADATA_PATH`], with
//!   the endpoint's path appended as well (RFC 9728 §3.1).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use mcp_tasks_engine::Owner;
use serde_json::{json, Map, Value};

use super::introspection::Introspector;
use super::jwks::Jwks;
use super::{bearer, Challenge, Invalid, Reason, Refusal};

/// A JWT signing algorithm (re-exported from `jsonwebtoken`).
pub use jsonwebtoken::Algorithm as JwtAlgorithm;

/// Where Protected Resource Metadata lives (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// How far `exp` and `nbf` may be off, for clocks that disagree a little.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// How old the issuer's key set may get before it is fetched again (in the background; the
/// old keys serve meanwhile).
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// The shortest time between two fetches of the key set. A token with an unknown `kid`
/// fetches it again (the issuer may have rotated its keys), but no more often than this, so a
/// stream of forged `kid`s cannot make this server hammer the issuer.
pub const DEFAULT_JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);
/// How long a fetch of the key set or an introspection may take, connecting included.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an introspection answer is reused (never past the token's `exp`).
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(30);
/// The most introspection answers kept at once.
pub const DEFAULT_INTROSPECTION_CACHE_ENTRIES: usize = 10_000;
/// The most introspections under way at once. More wait for one to end, at most the fetch
/// timeout, and are then answered 503: random tokens sent by anyone must not make this server
/// flood the authorization server.
pub const DEFAULT_INTROSPECTION_CONCURRENCY: usize = 32;
/// The longest subject accepted, in bytes: the owner is stored with every task and keys
/// locks and rate limits.
pub const MAX_SUBJECT_BYTES: usize = 1024;
/// The most redirects followed when fetching the key set (only to https, or http on loopback).
pub(super) const MAX_JWKS_REDIRECTS: usize = 3;

/// The algorithms accepted when none are configured: every asymmetric one `jsonwebtoken`
/// verifies.
const DEFAULT_ALGORITHMS: [JwtAlgorithm; 9] = [
    JwtAlgorithm::RS256,
    JwtAlgorithm::RS384,
    JwtAlgorithm::RS512,
    JwtAlgorithm::PS256,
    JwtAlgorithm::PS384,
    JwtAlgorithm::PS512,
    JwtAlgorithm::ES256,
    JwtAlgorithm::ES384,
    JwtAlgorithm::EdDSA,
];

/// Where the issuer's signing keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched over HTTP(S) (the `jwks_uri` of the issuer's metadata), cached, and fetched
    /// again periodically and when a token names a key not in it.
    Url(String),
    /// Read from a file at start, and read again when a token names a key not in it.
    File(PathBuf),
}

/// RFC 7662 introspection: where, and this server's client credentials there.
#[derive(Clone)]
pub struct IntrospectionConfig {
    /// The introspection endpoint.
    pub endpoint: String,
    /// This server's client id at the authorization server.
    pub client_id: String,
    /// Its client secret (sent with HTTP Basic authentication; never shown by `Debug`).
    pub client_secret: String,
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The settings of an OAuth resource server. Start from [`OAuthConfig::new`] and set what
/// differs; [`OAuth::new`] checks them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OAuthConfig {
    /// The authorization server's issuer identifier: the exact `iss` of its tokens.
    pub issuer: String,
    /// This server's resource URL (its MCP endpoint, e.g. `https://mcp.example.com/mcp`): an
    /// access token's `aud` must hold it, and the metadata names it.
    pub audience: String,
    /// The issuer's signing keys, for JWT access tokens.
    pub jwks: Option<JwksSource>,
    /// Introspection, for opaque access tokens (and JWTs when no `jwks` is set).
    pub introspection: Option<IntrospectionConfig>,
    /// Scopes every token must have.
    pub required_scopes: Vec<String>,
    /// The claim whose value is the owner.
    pub subject_claim: String,
    /// The JWT algorithms accepted; only asymmetric ones may be given.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Clock skew allowed on `exp` and `nbf` (whole seconds count).
    pub leeway: Duration,
    /// See [`DEFAULT_JWKS_REFRESH`].
    pub jwks_refresh: Duration,
    /// See [`DEFAULT_JWKS_MIN_REFETCH`].
    pub jwks_min_refetch: Duration,
    /// See [`DEFAULT_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// See [`DEFAULT_INTROSPECTION_CACHE_TTL`].
    pub introspection_cache_ttl: Duration,
    /// See [`DEFAULT_INTROSPECTION_CACHE_ENTRIES`].
    pub introspection_cache_entries: usize,
    /// See [`DEFAULT_INTROSPECTION_CONCURRENCY`].
    pub introspection_concurrency: usize,
}

impl OAuthConfig {
    /// Tokens of `issuer` for the resource `audience`, with the defaults: subject `sub`, no
    /// required scope, every asymmetric algorithm, no key source yet (set `jwks` or
    /// `introspection`).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks: None,
            introspection: None,
            required_scopes: Vec::new(),
            subject_claim: "sub".into(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway: DEFAULT_LEEWAY,
            jwks_refresh: DEFAULT_JWKS_REFRESH,
            jwks_min_refetch: DEFAULT_JWKS_MIN_REFETCH,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            introspection_cache_ttl: DEFAULT_INTROSPECTION_CACHE_TTL,
            introspection_cache_entries: DEFAULT_INTROSPECTION_CACHE_ENTRIES,
            introspection_concurrency: DEFAULT_INTROSPECTION_CONCURRENCY,
        }
    }
}

/// Settings [`OAuth::new`] refuses, or a key set that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// A setting is wrong; the message says which and why.
    #[error("{0}")]
    Config(String),
    /// The issuer's key set could not be fetched, read or understood.
    #[error("{0}")]
    Keys(String),
}

/// An OAuth 2.1 resource server: checks access tokens and says where to get them.
pub struct OAuth {
    issuer: String,
    audience: String,
    subject_claim: String,
    required_scopes: Vec<String>,
    algorithms: Vec<JwtAlgorithm>,
    leeway: Duration,
    jwks: Option<Arc<Jwks>>,
    introspection: Option<Introspector>,
    challenge: Challenge,
    metadata: Value,
    /// The resource URL's path, for the path-inserted metadata URL.
    resource_path: String,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subject_claim", &self.subject_claim)
            .field("required_scopes", &self.required_scopes)
            .field("jwks", &self.jwks)
            .field("introspection", &self.introspection.is_some())
            .finish_non_exhaustive()
    }
}

/// `url` parsed, or why it is not a usable absolute http(s) URL.
pub(super) fn http_url(what: &str, url: &str) -> Result<reqwest::Url, OAuthError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| OAuthError::Config(format!("the {what} {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(OAuthError::Config(format!(
            "the {what} {url:?} is not an http(s) URL with a host"
        )));
    }
    if parsed.fragment().is_some() {
        return Err(OAuthError::Config(format!(
            "the {what} {url:?} has a #fragment, which RFC 8707 and RFC 9728 forbid"
        )));
    }
    Ok(parsed)
}

/// Whether a key set may be fetched from `url`: https, or plain http on loopback (tests and
/// local issuers). Redirects are held to this too, so the first URL being https proves
/// something about where the keys come from.
pub(super) fn secure_target(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => {
            let host = url.host_str().unwrap_or_default();
            host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// Follows at most [`MAX_JWKS_REDIRECTS`] redirects, each to a [`secure_target`]: a redirect
/// to plain http off loopback would let anyone on the path replace the keys.
fn jwks_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_JWKS_REDIRECTS {
            attempt.error(format!("more than {MAX_JWKS_REDIRECTS} redirects"))
        } else if !secure_target(attempt.url()) {
            let to = attempt.url().to_string();
            attempt.error(format!(
                "a redirect to {to}, which is neither https nor loopback, is not followed"
            ))
        } else {
            attempt.follow()
        }
    })
}

/// A scope token (RFC 6749 §3.3): printable ASCII except space, `"` and `\`.
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

impl OAuth {
    /// Checks `config` and sets the resource server up. A key set file is read now; a key set
    /// URL on first use (or by [`OAuth::refresh_keys`]).
    ///
    /// # Errors
    ///
    /// No key source (neither `jwks` nor `introspection`), a URL that is not absolute
    /// http(s), a symmetric or unknown algorithm, a bad scope or empty subject claim, or a key
    /// set file that cannot be read or holds no usable key.
    pub fn new(config: OAuthConfig) -> Result<Self, OAuthError> {
        let config_err = |m: String| Err(OAuthError::Config(m));
        if config.issuer.trim().is_empty() {
            return config_err("the OAuth issuer is empty".into());
        }
        let resource = http_url("resource URL (audience)", &config.audience)?;
        if config.jwks.is_none() && config.introspection.is_none() {
            return config_err(
                "OAuth needs a way to check tokens: the issuer's JWKS (a URL or a file) for JWT \
                 access tokens, or an introspection endpoint"
                    .into(),
            );
        }
        if config.algorithms.is_empty() {
            return config_err("no JWT algorithm is accepted; list at least one".into());
        }
        if let Some(alg) = config.algorithms.iter().find(|a| {
            matches!(
                a,
                JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
            )
        }) {
            return config_err(format!(
                "{alg:?} is symmetric: the issuer's published keys are public, so an HMAC made \
                 with one proves nothing; accept asymmetric algorithms only"
            ));
        }
        if let Some(bad) = config.required_scopes.iter().find(|s| !valid_scope(s)) {
            return config_err(format!(
                "the required scope {bad:?} is not a scope token (printable ASCII, no space, \
                 quote or backslash)"
            ));
        }
        if config.subject_claim.trim().is_empty() {
            return config_err("the subject claim is empty; the default is `sub`".into());
        }
        if config.fetch_timeout.is_zero() {
            return config_err("the fetch timeout must be above zero".into());
        }
        if config.introspection_concurrency == 0 {
            return config_err("the introspection concurrency must be above zero".into());
        }
        if let Some(bad) = resource.path_segments().into_iter().flatten().find(|s| {
            s.starts_with(':') || s.starts_with('*') || s.contains('{') || s.contains('}')
        }) {
            return config_err(format!(
                "the resource URL (audience) {:?} has the path segment {bad:?}: a segment may \
                 not start with ':' or '*' or hold '{{' or '}}', since the metadata is served at \
                 a route derived from the path",
                config.audience
            ));
        }
        let client = |redirects| {
            reqwest::Client::builder()
                .connect_timeout(config.fetch_timeout)
                .timeout(config.fetch_timeout)
                .redirect(redirects)
                .build()
                .map_err(|e| OAuthError::Config(format!("cannot set up an HTTP client: {e}")))
        };
        let jwks = match &config.jwks {
            None => None,
            Some(source) => Some(Arc::new(Jwks::new(
                source,
                client(jwks_redirects())?,
                config.jwks_refresh,
                config.jwks_min_refetch,
            )?)),
        };
        let introspection = match &config.introspection {
            None => None,
            // Never redirected: a 307 or 308 would re-POST the client's token elsewhere.
            Some(introspection) => Some(Introspector::new(
                introspection,
                client(reqwest::redirect::Policy::none())?,
                config.introspection_cache_ttl,
                config.introspection_cache_entries,
                config.introspection_concurrency,
                config.fetch_timeout,
            )?),
        };
        let resource_path = resource.path().trim_end_matches('/').to_owned();
        let mut origin = resource;
        origin.set_path("");
        origin.set_query(None);
        let resource_metadata = format!(
            "{}{METADATA_PATH}{resource_path}",
            origin.as_str().trim_end_matches('/')
        );
        let scope = (!config.required_scopes.is_empty())
            .then(|| Arc::<str>::from(config.required_scopes.join(" ")));
        let mut metadata = json!({
            "resource": config.audience,
            "authorization_servers": [config.issuer],
            "bearer_methods_supported": ["header"],
        });
        if !config.required_scopes.is_empty() {
            metadata["scopes_supported"] = json!(config.required_scopes);
        }
        Ok(Self {
            issuer: config.issuer,
            audience: config.audience,
            subject_claim: config.subject_claim,
            required_scopes: config.required_scopes,
            algorithms: config.algorithms,
            leeway: config.leeway,
            jwks,
            introspection,
            challenge: Challenge {
                resource_metadata: resource_metadata.into(),
                scope,
            },
            metadata,
            resource_path,
        })
    }

    /// Fetches (or reads) the issuer's key set now, so that a wrong URL shows at start rather
    /// than as refused requests; it is fetched on first use anyway.
    ///
    /// # Errors
    ///
    /// The key set cannot be fetched or read, or holds no usable key. Nothing is configured to
    /// fetch when only introspection is set: that is `Ok(0)`.
    pub async fn refresh_keys(&self) -> Result<usize, OAuthError> {
        match &self.jwks {
            Some(jwks) => jwks.reload().await.map_err(OAuthError::Keys),
            None => Ok(0),
        }
    }

    /// The issuer its tokens must come from.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// This server's resource URL, which tokens' `aud` must hold.
    pub fn resource(&self) -> &str {
        &self.audience
    }

    /// The Protected Resource Metadata URL that 401s name in `resource_metadata`.
    pub fn metadata_url(&self) -> &str {
        &self.challenge.resource_metadata
    }

    /// The Protected Resource Metadata document (RFC 9728 §2).
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// The paths the metadata is served at on a server whose endpoint is `endpoint`: the bare
    /// well-known path, and the path-inserted forms for the endpoint and for the resource URL
    /// (which differ behind a proxy that moves the endpoint).
    pub(in crate::transport::http) fn metadata_paths(&self, endpoint: &str) -> Vec<String> {
        let mut paths = vec![METADATA_PATH.to_owned()];
        for path in [endpoint.trim_end_matches('/'), self.resource_path.as_str()] {
            let path = format!("{METADATA_PATH}{path}");
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }

    fn refuse(&self, reason: Reason) -> Refusal {
        Refusal {
            reason,
            challenge: Some(self.challenge.clone()),
        }
    }

    /// The owner of a request: the subject of its valid access token.
    pub(super) async fn authenticate(&self, headers: &HeaderMap) -> Result<Owner, Refusal> {
        let token = bearer(headers).map_err(|reason| self.refuse(reason))?;
        let refused = |why| {
            tracing::debug!(reason = ?why, "OAuth access token refused");
            self.refuse(Reason::Invalid(why))
        };
        let claims = self.claims(token).await.map_err(refused)?;
        let owner = match claims.get(&self.subject_claim) {
            Some(Value::String(subject)) => Owner::new(check_subject(subject).map_err(refused)?),
            _ => return Err(refused(Invalid::NoSubject)),
        };
        if !self.has_required_scopes(&claims) {
            tracing::debug!(owner = %owner.as_str(), "OAuth access token lacks a required scope");
            return Err(self.refuse(Reason::InsufficientScope));
        }
        Ok(owner)
    }

    /// The checked claims of `token`: a JWT verified against the key set, else what
    /// introspection says of it.
    async fn claims(&self, token: &str) -> Result<Map<String, Value>, Invalid> {
        if token.is_empty() {
            return Err(Invalid::Malformed);
        }
        let looks_like_jwt = token.split('.').count() == 3;
        match (&self.jwks, &self.introspection) {
            (Some(jwks), _) if looks_like_jwt => self.verify_jwt(jwks, token).await,
            (_, Some(introspection)) => {
                let claims = introspection.introspect(token).await?;
                self.check_introspected(claims)
            }
            // Not a JWT, and nothing to ask about opaque tokens (`OAuth::new` requires one of
            // the two, so this is the JWKS-only case).
            (_, None) => Err(Invalid::Malformed),
        }
    }

    async fn verify_jwt(
        &self,
        jwks: &Arc<Jwks>,
        token: &str,
    ) -> Result<Map<String, Value>, Invalid> {
        // `alg: none` (and any name jsonwebtoken does not know) fails here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| unreadable_header(token))?;
        // jsonwebtoken drops header fields it does not know, `crit` among them.
        if raw_header(token).is_some_and(|h| h.contains_key("crit")) {
            return Err(Invalid::Critical);
        }
        if !self.algorithms.contains(&header.alg) {
            return Err(Invalid::Algorithm);
        }
        let keys = jwks.keys_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut outcome = Err(Invalid::Signature);
        // Without a `kid` every key that fits the algorithm is tried; the first that verifies
        // the signature decides.
        for key in keys.iter() {
            outcome = decode(token, key, &validation);
            if outcome != Err(Invalid::Signature) {
                break;
            }
        }
        outcome
    }

    /// RFC 7662 §2.2 answers: `active`, then the same claims a JWT must have right. `aud` is
    /// required: a token's audience binding is what keeps other servers' tokens out.
    fn check_introspected(
        &self,
        claims: Map<String, Value>,
    ) -> Result<Map<String, Value>, Invalid> {
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(Invalid::Inactive);
        }
        if let Some(iss) = claims.get("iss") {
            if iss.as_str() != Some(self.issuer.as_str()) {
                return Err(Invalid::Issuer);
            }
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => return Err(Invalid::MissingClaim),
        };
        if !audience_ok {
            return Err(Invalid::Audience);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let leeway = self.leeway.as_secs();
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            if now > exp.saturating_add(leeway) {
                return Err(Invalid::Expired);
            }
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
            if nbf > now.saturating_add(leeway) {
                return Err(Invalid::NotYetValid);
            }
        }
        Ok(claims)
    }

    fn has_required_scopes(&self, claims: &Map<String, Value>) -> bool {
        if self.required_scopes.is_empty() {
            return true;
        }
        let granted: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => {
                s.split_whitespace().collect()
            }
            (None, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        self.required_scopes
            .iter()
            .all(|needed| granted.contains(&needed.as_str()))
    }
}

/// The subject as an owner, or why it is refused: empty, over [`MAX_SUBJECT_BYTES`], or with
/// a control character (newlines would forge log lines; PostgreSQL's `TEXT` refuses NUL).
fn check_subject(subject: &str) -> Result<&str, Invalid> {
    if subject.is_empty() {
        Err(Invalid::NoSubject)
    } else if subject.len() > MAX_SUBJECT_BYTES {
        Err(Invalid::SubjectTooLong)
    } else if subject.chars().any(char::is_control) {
        Err(Invalid::SubjectControl)
    } else {
        Ok(subject)
    }
}

/// The JOSE header of a compact JWS as a JSON object, every field kept.
fn raw_header(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next()?)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Why a JWT header `jsonwebtoken` cannot read is refused: an algorithm it does not know
/// (`none` among them) when the header names one, else a malformed token.
fn unreadable_header(token: &str) -> Invalid {
    let alg = raw_header(token).is_some_and(|h| h.get("alg").is_some_and(Value::is_string));
    if alg {
        Invalid::Algorithm
    } else {
        Invalid::Malformed
    }
}

fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Map<String, Value>, Invalid> {
    jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Invalid::Signature,
            ErrorKind::ExpiredSignature => Invalid::Expired,
            ErrorKind::ImmatureSignature => Invalid::NotYetValid,
            ErrorKind::InvalidIssuer => Invalid::Issuer,
            ErrorKind::InvalidAudience => Invalid::Audience,
            ErrorKind::MissingRequiredClaim(_) => Invalid::MissingClaim,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::InvalidKeyFormat => Invalid::Algorithm,
            _ => Invalid::Malformed,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OAuthConfig {
        let mut c = OAuthConfig::new("https://id.example.com", "https://mcp.example.com/mcp");
        c.introspection = Some(IntrospectionConfig {
            endpoint: "https://id.example.com/introspect".into(),
            client_id: "mcp".into(),
            client_secret: "s3cret-s3cret".into(),
        });
        c
    }

    /// RFC 9728 §3.1: the metadata URL inserts the well-known path before the resource's path.
    #[test]
    fn the_metadata_url_is_path_inserted() {
        let oauth = OAuth::new(config()).unwrap();
        assert_eq!(
            oauth.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            oauth.metadata_paths("/mcp"),
            [METADATA_PATH, "/.well-known/oauth-protected-resource/mcp"]
        );
        let mut root = config();
        root.audience = "https://mcp.example.com/".into();
        let root = OAuth::new(root).unwrap();
        assert_eq!(
            root.metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.metadata_paths("/mcp"),
            [METADATA_PATH, "/.well-known/oauth-protected-resource/mcp"]
        );
    }

    #[test]
    fn bad_settings_are_refused_saying_why() {
        type Change = fn(&mut OAuthConfig);
        let cases: [(Change, &str); 10] = [
            (
                |c| c.audience = "mcp.example.com/mcp".into(),
                "is not a URL",
            ),
            (
                |c| c.audience = "https://mcp.example.com/mcp#x".into(),
                "#fragment",
            ),
            (|c| c.introspection = None, "needs a way to check tokens"),
            (
                |c| c.algorithms = vec![JwtAlgorithm::HS256],
                "HS256 is symmetric",
            ),
            (
                |c| c.required_scopes = vec!["a b".into()],
                "not a scope token",
            ),
            (|c| c.subject_claim = " ".into(), "subject claim is empty"),
            // Each would make axum's router panic on the derived metadata route.
            (
                |c| c.audience = "https://mcp.example.com/:tenant/mcp".into(),
                "path segment \":tenant\"",
            ),
            (
                |c| c.audience = "https://mcp.example.com/mcp/*rest".into(),
                "path segment \"*rest\"",
            ),
            (
                |c| c.audience = "https://mcp.example.com/*".into(),
                "may not start with ':' or '*'",
            ),
            (
                |c| c.introspection_concurrency = 0,
                "concurrency must be above zero",
            ),
        ];
        for (change, needle) in cases {
            let mut c = config();
            change(&mut c);
            let err = OAuth::new(c).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    /// Key sets come over https, or plain http on loopback only, redirects included.
    #[test]
    fn key_sets_are_fetched_only_from_https_or_loopback() {
        for (url, ok) in [
            ("https://id.example.com/jwks", true),
            ("http://127.0.0.1:8400/jwks", true),
            ("http://[::1]:8400/jwks", true),
            ("http://localhost/jwks", true),
            ("http://id.example.com/jwks", false),
            ("http://0.0.0.0:8400/jwks", false),
            ("http://10.0.0.1/jwks", false),
            ("ftp://id.example.com/jwks", false),
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            assert_eq!(secure_target(&url), ok, "{url}");
        }
    }

    #[test]
    fn subjects_are_checked() {
        assert_eq!(check_subject("alice"), Ok("alice"));
        assert_eq!(check_subject("élise@example.com"), Ok("élise@example.com"));
        assert_eq!(check_subject(""), Err(Invalid::NoSubject));
        assert_eq!(check_subject(&"a".repeat(1024)).map(str::len), Ok(1024));
        assert_eq!(
            check_subject(&"a".repeat(1025)),
            Err(Invalid::SubjectTooLong)
        );
        for bad in ["a\0b", "a\nb", "a\rb", "\u{7f}", "a\u{85}"] {
            assert_eq!(check_subject(bad), Err(Invalid::SubjectControl), "{bad:?}");
        }
    }

    #[test]
    fn the_client_secret_is_not_shown() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

//! Opaque access tokens, checked by asking the authorization server (RFC 7662).
//!
//! Each token is POSTed to the introspection endpoint with this server's client credentials
//! (HTTP Basic), and the answer is kept for a short while so that a busy client does not cost
//! one round trip per request: never past the token's `exp`, and a revoked token is refused at
//! most that while after revocation. The cache is keyed by the token's SHA-256 digest (no
//! token is kept) and bounded in entries. An endpoint that cannot be reached is not cached: the
//! next request asks again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::oauth::{http_url, IntrospectionConfig, OAuthError};
use super::Invalid;

/// The largest introspection answer read, in bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

struct Entry {
    until: Instant,
    claims: Map<String, Value>,
}

/// An introspection endpoint and its answers of late.
pub(super) struct Introspector {
    endpoint: reqwest::Url,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    ttl: Duration,
    capacity: usize,
    cache: Mutex<HashMap<[u8; 32], Entry>>,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    pub(super) fn new(
        config: &IntrospectionConfig,
        http: reqwest::Client,
        ttl: Duration,
        capacity: usize,
    ) -> Result<Self, OAuthError> {
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            return Err(OAuthError::Config(
                "introspection needs this server's client id and secret at the authorization \
                 server"
                    .into(),
            ));
        }
        Ok(Self {
            endpoint: http_url("introspection endpoint", &config.endpoint)?,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            http,
            ttl,
            capacity: capacity.max(1),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// What the authorization server says of `token` (RFC 7662 §2.2), from the cache when
    /// recent. The caller checks `active` and the claims.
    pub(super) async fn introspect(&self, token: &str) -> Result<Map<String, Value>, Invalid> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some(entry) = self.cache().get(&key) {
            if entry.until > now {
                return Ok(entry.claims.clone());
            }
        }
        let claims = self.ask(token).await.map_err(|why| {
            tracing::warn!(
                endpoint = %self.endpoint,
                error = %why,
                "cannot introspect an OAuth access token; it is refused"
            );
            Invalid::IntrospectionUnavailable
        })?;
        let until = now + self.ttl.min(until_exp(&claims));
        let mut cache = self.cache();
        if cache.len() >= self.capacity {
            cache.retain(|_, e| e.until > now);
            if cache.len() >= self.capacity {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Entry {
                until,
                claims: claims.clone(),
            },
        );
        Ok(claims)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.cache.lock().expect("introspection cache poisoned")
    }

    async fn ask(&self, token: &str) -> Result<Map<String, Value>, String> {
        let mut response = self
            .http
            .post(self.endpoint.clone())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| format!("POST failed: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("POST answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("the answer is not a JSON object: {e}"))
    }
}

/// How long until the answer's `exp`; zero when past, unbounded when it has none.
fn until_exp(claims: &Map<String, Value>) -> Duration {
    let Some(exp) = claims.get("exp").and_then(Value::as_u64) else {
        return Duration::MAX;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(exp.saturating_sub(now))
}

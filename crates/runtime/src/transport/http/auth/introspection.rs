//! Opaque access tokens, checked by asking the authorization server (RFC 7662).
//!
//! Each token is POSTed to the introspection endpoint with this server's client credentials
//! (HTTP Basic), and the answer is kept for a short while so that a busy client does not cost
//! one round trip per request: never past the token's `exp`, and a revoked token is refused at
//! most that while after revocation. The cache is keyed by the token's SHA-256 digest (no
//! token is kept) and bounded in entries. "Not active" answers are kept apart, in a cache a
//! tenth the size, so a stream of made-up tokens can only push out other made-up tokens, never
//! the answers of clients with good ones; when a cache is full, the answers nearest their end
//! go first. An endpoint that cannot be reached is not cached: the next request asks again.
//!
//! At most a configured number of introspections run at once; further ones wait at most the
//! fetch timeout for their turn and are then refused as an outage (503), so nobody can make
//! this server flood the authorization server. The endpoint's redirects are not followed (see
//! `OAuth::new`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use super::oauth::{http_url, IntrospectionConfig, OAuthError};
use super::Invalid;

/// The largest introspection answer read, in bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

struct Entry {
    until: Instant,
    claims: Map<String, Value>,
}

/// Answers by token digest, at most `capacity` of them.
struct Cache {
    entries: HashMap<[u8; 32], Entry>,
    capacity: usize,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    fn get(&self, key: &[u8; 32], now: Instant) -> Option<Map<String, Value>> {
        self.entries
            .get(key)
            .filter(|e| e.until > now)
            .map(|e| e.claims.clone())
    }

    /// Makes room by dropping what has expired, then (still full) the entry nearest its end.
    fn insert(&mut self, key: [u8; 32], entry: Entry, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.until > now);
            while self.entries.len() >= self.capacity {
                let Some(soonest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                self.entries.remove(&soonest);
            }
        }
        self.entries.insert(key, entry);
    }
}

/// An introspection endpoint and its answers of late.
pub(super) struct Introspector {
    endpoint: reqwest::Url,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    ttl: Duration,
    /// Active answers.
    cache: Mutex<Cache>,
    /// Every other answer (inactive, or not an object that says active).
    negative: Mutex<Cache>,
    /// One permit per introspection that may run now.
    permits: Semaphore,
    /// How long a request waits for a permit.
    wait: Duration,
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
        concurrency: usize,
        wait: Duration,
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
            cache: Mutex::new(Cache::new(capacity)),
            negative: Mutex::new(Cache::new(capacity / 10)),
            permits: Semaphore::new(concurrency.max(1)),
            wait,
        })
    }

    /// What the authorization server says of `token` (RFC 7662 §2.2), from the cache when
    /// recent. The caller checks `active` and the claims.
    pub(super) async fn introspect(&self, token: &str) -> Result<Map<String, Value>, Invalid> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.cached(&key) {
            return Ok(claims);
        }
        let Ok(Ok(_permit)) = tokio::time::timeout(self.wait, self.permits.acquire()).await else {
            tracing::warn!(
                endpoint = %self.endpoint,
                "every introspection slot stayed busy for the fetch timeout; the request is \
                 answered 503"
            );
            return Err(Invalid::IntrospectionBusy);
        };
        // Another request may have asked about the same token while this one waited.
        if let Some(claims) = self.cached(&key) {
            return Ok(claims);
        }
        let claims = self.ask(token).await.map_err(|why| {
            tracing::warn!(
                endpoint = %self.endpoint,
                error = %why,
                "cannot introspect an OAuth access token; the request is answered 503"
            );
            Invalid::IntrospectionUnavailable
        })?;
        let now = Instant::now();
        let entry = Entry {
            until: now + self.ttl.min(until_exp(&claims)),
            claims: claims.clone(),
        };
        let cache = if claims.get("active") == Some(&Value::Bool(true)) {
            &self.cache
        } else {
            &self.negative
        };
        lock(cache).insert(key, entry, now);
        Ok(claims)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Map<String, Value>> {
        let now = Instant::now();
        lock(&self.cache)
            .get(key, now)
            .or_else(|| lock(&self.negative).get(key, now))
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

fn lock(cache: &Mutex<Cache>) -> MutexGuard<'_, Cache> {
    cache.lock().expect("introspection cache poisoned")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(until: Instant, active: bool) -> Entry {
        let mut claims = Map::new();
        claims.insert("active".into(), Value::Bool(active));
        Entry { until, claims }
    }

    /// A full cache drops what expired, then what ends soonest: never everything at once.
    #[test]
    fn a_full_cache_evicts_the_soonest_to_end_not_all() {
        let now = Instant::now();
        let mut cache = Cache::new(3);
        let later = |s| now + Duration::from_secs(s);
        cache.insert([1; 32], entry(later(30), true), now);
        cache.insert([2; 32], entry(later(10), true), now);
        cache.insert([3; 32], entry(later(20), true), now);
        cache.insert([4; 32], entry(later(40), true), now);
        assert_eq!(cache.entries.len(), 3);
        assert!(
            cache.get(&[2; 32], now).is_none(),
            "the soonest to end went"
        );
        for kept in [[1; 32], [3; 32], [4; 32]] {
            assert!(cache.get(&kept, now).is_some());
        }
        cache.insert([5; 32], entry(later(50), true), later(35));
        assert_eq!(cache.entries.len(), 2, "the expired ones went first");
    }
}

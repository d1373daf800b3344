//! The issuer's signing keys (a JSON Web Key Set, RFC 7517), cached.
//!
//! Issuers rotate keys: a new key is published, tokens are signed with it, the old one is
//! withdrawn later. So the set is fetched again (in the background, the old set serving
//! meanwhile) once it is older than the refresh interval, and at once when a token names a key
//! (`kid`) the set lacks, but never more often than the minimum interval between fetches,
//! so forged `kid`s cannot make this server hammer the issuer. Fetches are bounded in time and
//! size; a failed one keeps the keys there were, is logged (at most once per minimum interval,
//! since that is how often a fetch can run), and a request whose token's key cannot be had is
//! answered 503 (the authorization server cannot be reached), never left waiting. Redirects
//! are followed only to https or loopback, at most `MAX_JWKS_REDIRECTS` of them.
//!
//! Keys that cannot sign (`use: enc`), symmetric keys (`kty: oct`) and keys of types
//! `jsonwebtoken` does not know are skipped, each with a debug line, rather than failing the
//! whole set.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::oauth::{http_url, JwksSource, OAuthError};
use super::Invalid;

/// The largest key set accepted, in bytes: real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// What kind of key a JWK holds, as far as choosing an algorithm goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Kind {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm as A;
        match self {
            Self::Rsa => matches!(
                alg,
                A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
            ),
            Self::P256 => alg == A::ES256,
            Self::P384 => alg == A::ES384,
            Self::Ed25519 => alg == A::EdDSA,
        }
    }
}

struct Key {
    kid: Option<String>,
    /// The JWK's own `alg`, which then is the only one it verifies.
    alg: Option<Algorithm>,
    kind: Kind,
    key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<Arc<Key>>,
    /// When it was loaded; `None` before the first successful load.
    loaded: Option<Instant>,
}

/// The keys to try for a token, or why there are none.
enum Lookup {
    Found(Vec<DecodingKey>),
    /// A key has the token's `kid` but cannot verify its algorithm.
    WrongAlgorithm,
    NotFound,
}

impl KeySet {
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let named: Vec<&Arc<Key>> = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .collect();
        let fitting: Vec<DecodingKey> = named
            .iter()
            .filter(|k| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg))
            .map(|k| k.key.clone())
            .collect();
        if !fitting.is_empty() {
            Lookup::Found(fitting)
        } else if kid.is_some() && !named.is_empty() {
            Lookup::WrongAlgorithm
        } else {
            Lookup::NotFound
        }
    }
}

enum Source {
    Url {
        url: reqwest::Url,
        http: reqwest::Client,
    },
    File(PathBuf),
}

/// The cached key set of one issuer.
pub(super) struct Jwks {
    source: Source,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so one fetch runs at a time; holds when the last one began.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    /// Whether a background refresh is under way.
    refreshing: AtomicBool,
    refresh: Duration,
    min_refetch: Duration,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Url { url, .. } => url.to_string(),
            Source::File(path) => path.display().to_string(),
        };
        f.debug_struct("Jwks")
            .field("source", &source)
            .field("keys", &self.current().keys.len())
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// The key set at `source`; a file is read now.
    pub(super) fn new(
        source: &JwksSource,
        http: reqwest::Client,
        refresh: Duration,
        min_refetch: Duration,
    ) -> Result<Self, OAuthError> {
        let (source, keys) = match source {
            JwksSource::Url(url) => (
                Source::Url {
                    url: http_url("JWKS URL", url)?,
                    http,
                },
                KeySet::default(),
            ),
            JwksSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    OAuthError::Keys(format!("cannot read the JWKS file {}: {e}", path.display()))
                })?;
                let keys = parse(&bytes)
                    .map_err(|e| OAuthError::Keys(format!("JWKS file {}: {e}", path.display())))?;
                (Source::File(path.clone()), keys)
            }
        };
        Ok(Self {
            source,
            keys: RwLock::new(Arc::new(keys)),
            fetching: tokio::sync::Mutex::new(None),
            refreshing: AtomicBool::new(false),
            refresh,
            min_refetch,
        })
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().expect("JWKS lock poisoned").clone()
    }

    fn describe(&self) -> String {
        match &self.source {
            Source::Url { url, .. } => url.to_string(),
            Source::File(path) => path.display().to_string(),
        }
    }

    /// The keys that may have signed a token with this `kid` (any, when it has none) and
    /// algorithm.
    pub(super) async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<DecodingKey>, Invalid> {
        let set = self.current();
        if set.loaded.is_some_and(|at| at.elapsed() > self.refresh) {
            self.refresh_in_background();
        }
        match set.lookup(kid, alg) {
            Lookup::Found(keys) => return Ok(keys),
            Lookup::WrongAlgorithm => return Err(Invalid::Algorithm),
            Lookup::NotFound => {}
        }
        // Maybe the issuer rotated: look again in a fresh copy, if one may be fetched now.
        let set = match self.refetch().await {
            Ok(set) => set,
            Err(why) => {
                tracing::warn!(
                    jwks = %self.describe(),
                    error = %why,
                    "cannot load the OAuth issuer's keys; requests with tokens signed with keys \
                     not already known are answered 503"
                );
                return Err(Invalid::KeysUnavailable);
            }
        };
        if set.loaded.is_none() {
            return Err(Invalid::KeysUnavailable);
        }
        match set.lookup(kid, alg) {
            Lookup::Found(keys) => Ok(keys),
            Lookup::WrongAlgorithm => Err(Invalid::Algorithm),
            Lookup::NotFound => Err(Invalid::UnknownKey),
        }
    }

    /// Fetches the set now unless a fetch began less than the minimum interval ago (then the
    /// set as it is, which that fetch may have just renewed).
    async fn refetch(&self) -> Result<Arc<KeySet>, String> {
        let mut last = self.fetching.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return Ok(self.current());
        }
        *last = Some(Instant::now());
        self.load().await
    }

    /// Fetches the set now, whenever the last fetch was.
    pub(super) async fn reload(&self) -> Result<usize, String> {
        let mut last = self.fetching.lock().await;
        *last = Some(Instant::now());
        self.load().await.map(|set| set.keys.len())
    }

    async fn load(&self) -> Result<Arc<KeySet>, String> {
        let bytes = match &self.source {
            Source::Url { url, http } => fetch(http, url).await?,
            Source::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        };
        let set = Arc::new(parse(&bytes)?);
        *self.keys.write().expect("JWKS lock poisoned") = set.clone();
        tracing::debug!(jwks = %self.describe(), keys = set.keys.len(), "OAuth issuer keys loaded");
        Ok(set)
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(why) = this.refetch().await {
                tracing::warn!(
                    jwks = %this.describe(),
                    error = %why,
                    "cannot refresh the OAuth issuer's keys; the ones already known stay in use"
                );
            }
            this.refreshing.store(false, Ordering::Release);
        });
    }
}

async fn fetch(http: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, String> {
    let mut response = http
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| format!("GET failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("the key set is over {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The signing keys of a JWKS document, skipping those that cannot verify JWS signatures.
fn parse(bytes: &[u8]) -> Result<KeySet, String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        keys: Vec<Value>,
    }
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a JWK Set (a JSON object with a \"keys\" array): {e}"))?;
    let mut keys = Vec::new();
    for (index, value) in raw.keys.into_iter().enumerate() {
        match key(value) {
            Ok(key) => keys.push(Arc::new(key)),
            Err(why) => tracing::debug!(index, why, "JWKS key skipped"),
        }
    }
    if keys.is_empty() {
        return Err(
            "the key set holds no usable signing key (RSA, EC P-256/P-384 or Ed25519)".into(),
        );
    }
    Ok(KeySet {
        keys,
        loaded: Some(Instant::now()),
    })
}

fn key(value: Value) -> Result<Key, &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK jsonwebtoken reads")?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key (use: enc)");
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Kind::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Kind::P256,
            EllipticCurve::P384 => Kind::P384,
            _ => return Err("an EC key on a curve not supported"),
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Kind::Ed25519
        }
        AlgorithmParameters::OctetKeyPair(_) => return Err("an OKP key other than Ed25519"),
        AlgorithmParameters::OctetKey(_) => return Err("a symmetric key (kty: oct)"),
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(named) => Some(
            Algorithm::from_str(&named.to_string())
                .map_err(|_| "a key for an algorithm that does not sign")?,
        ),
    };
    if alg.is_some_and(|a| !kind.fits(a)) {
        return Err("a key whose alg does not fit its type");
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "a key with bad parameters")?;
    Ok(Key {
        kid: jwk.common.key_id,
        alg,
        kind,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec1","use":"sig","alg":"ES256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn set(keys: &[&str]) -> Result<KeySet, String> {
        parse(format!("{{\"keys\":[{}]}}", keys.join(",")).as_bytes())
    }

    #[test]
    fn symmetric_encryption_and_unknown_keys_are_skipped() {
        let set = set(&[
            EC_KEY,
            r#"{"kty":"oct","kid":"h","k":"c2VjcmV0"}"#,
            r#"{"kty":"EC","crv":"P-256","kid":"e","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
            r#"{"kty":"XYZ","kid":"x"}"#,
        ])
        .unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(
            matches!(set.lookup(Some("ec1"), Algorithm::ES256), Lookup::Found(k) if k.len() == 1)
        );
        assert!(matches!(
            set.lookup(None, Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.lookup(Some("ec1"), Algorithm::RS256),
            Lookup::WrongAlgorithm
        ));
        assert!(matches!(
            set.lookup(Some("ec1"), Algorithm::HS256),
            Lookup::WrongAlgorithm
        ));
        assert!(matches!(
            set.lookup(Some("h"), Algorithm::HS256),
            Lookup::NotFound
        ));
        assert!(matches!(
            set.lookup(Some("nope"), Algorithm::ES256),
            Lookup::NotFound
        ));
    }

    #[test]
    fn a_set_without_a_signing_key_is_refused() {
        let err = set(&[r#"{"kty":"oct","k":"c2VjcmV0"}"#]).err().unwrap();
        assert!(err.contains("no usable signing key"), "{err}");
        assert!(parse(b"[]").err().unwrap().contains("not a JWK Set"));
    }
}

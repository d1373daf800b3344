//! A local OAuth authorization server for tests (T-SEC-1): its signing keys are generated in the
//! test (ECDSA P-256 and Ed25519, with `ring`), its JSON Web Key Set, OIDC-style metadata and an
//! RFC 7662 introspection endpoint are served on loopback by a small axum server, and access
//! tokens are signed on demand, good ones and every kind of bad one.
//!
//! ```no_run
//! # async fn f() {
//! let issuer = testkit::oauth::Issuer::start().await;
//! let token = issuer.token("alice", "http://127.0.0.1:8080/mcp");
//! issuer.rotate(); // a new key signs from now on; the old one is withdrawn from the JWKS
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde_json::{json, Value};

/// The client id the introspection endpoint accepts.
pub const CLIENT_ID: &str = "mcp-tasks-test";
/// Its client secret.
pub const CLIENT_SECRET: &str = "introspection-secret-0123456789";

/// One signing key: its private half for signing, its public JWK for the key set.
#[derive(Clone)]
pub struct SigningKey {
    /// The key's id, the `kid` of its tokens.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// The public key as a JWK.
    pub jwk: Value,
    /// The raw public key bytes (for the HS256 key-confusion token: an HMAC keyed with them).
    pub public: Vec<u8>,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new ECDSA P-256 key (ES256).
    pub fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("an ECDSA key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("its key pair");
        let public = pair.public_key().as_ref().to_vec();
        // Uncompressed point: 0x04 || x || y.
        let (x, y) = public[1..].split_at(32);
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            }),
            public,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        }
    }

    /// A new Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("an Ed25519 key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("its key pair");
        let public = pair.public_key().as_ref().to_vec();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&public),
            }),
            public,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        }
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("a signed token")
    }

    /// `claims` signed with this key under a header of its `alg` and `kid` plus the fields of
    /// `extra` (`crit`, say, which `jsonwebtoken`'s `Header` cannot carry).
    pub fn sign_with_header(&self, extra: &Value, claims: &Value) -> String {
        let mut header = json!({ "alg": format!("{:?}", self.alg), "kid": self.kid });
        for (name, value) in extra.as_object().expect("header fields as an object") {
            header[name] = value.clone();
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, self.alg)
            .expect("a signature");
        format!("{input}.{signature}")
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

#[derive(Debug, Default)]
struct Published {
    /// Published in the JWKS; the last one signs new tokens.
    keys: Vec<SigningKey>,
    /// Opaque tokens issued, and what introspection says of each.
    opaque: HashMap<String, Value>,
}

#[derive(Debug)]
struct Shared {
    issuer: String,
    published: Mutex<Published>,
    jwks_fetches: AtomicUsize,
    unavailable: AtomicBool,
    introspections: AtomicUsize,
    introspecting: AtomicUsize,
    most_introspecting: AtomicUsize,
    introspection_delay: Mutex<Duration>,
}

/// A running issuer on a loopback port; it stops when dropped.
#[derive(Debug)]
pub struct Issuer {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    next_kid: AtomicUsize,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Issuer {
    /// An issuer with one ES256 key, `k1`, listening on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// An issuer with one ES256 key, `k1`, listening on `addr`.
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr} for the issuer: {e}"));
        let addr = listener.local_addr().expect("its address");
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            published: Mutex::new(Published {
                keys: vec![SigningKey::es256("k1")],
                opaque: HashMap::new(),
            }),
            jwks_fetches: AtomicUsize::new(0),
            unavailable: AtomicBool::new(false),
            introspections: AtomicUsize::new(0),
            introspecting: AtomicUsize::new(0),
            most_introspecting: AtomicUsize::new(0),
            introspection_delay: Mutex::new(Duration::ZERO),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(metadata))
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks))
            .route("/introspect", post(introspect))
            .route("/redirect", get(redirect_to).post(redirect_to))
            .route("/redirect/{hops}/{*path}", get(redirect).post(redirect))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            shared,
            server,
            next_kid: AtomicUsize::new(2),
        }
    }

    /// The issuer identifier, `http://127.0.0.1:PORT`: the `iss` of its tokens.
    pub fn url(&self) -> &str {
        &self.shared.issuer
    }

    /// Where its key set is.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.shared.issuer)
    }

    /// Its introspection endpoint.
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.shared.issuer)
    }

    /// The key set as served.
    pub fn jwks(&self) -> Value {
        let published = self.shared.published.lock().expect("issuer state");
        json!({ "keys": published.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// A URL that answers `307 Temporary Redirect` to `to`.
    pub fn redirect_to(&self, to: &str) -> String {
        format!("{}/redirect?to={to}", self.shared.issuer)
    }

    /// A URL of this issuer reached after `hops` redirects (`307`, so a POST stays a POST):
    /// `path` is `jwks` or `introspect`.
    pub fn redirected(&self, hops: usize, path: &str) -> String {
        format!("{}/redirect/{hops}/{path}", self.shared.issuer)
    }

    /// How many introspection requests came (answered or not).
    pub fn introspections(&self) -> usize {
        self.shared.introspections.load(Ordering::SeqCst)
    }

    /// The most introspection requests ever under way at once.
    pub fn most_concurrent_introspections(&self) -> usize {
        self.shared.most_introspecting.load(Ordering::SeqCst)
    }

    /// Makes each introspection take `delay` before answering.
    pub fn set_introspection_delay(&self, delay: Duration) {
        *self
            .shared
            .introspection_delay
            .lock()
            .expect("issuer state") = delay;
    }

    /// Makes the key set and introspection answer 503 (`true`) or serve again (`false`).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.shared.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The key new tokens are signed with.
    pub fn current_key(&self) -> SigningKey {
        let published = self.shared.published.lock().expect("issuer state");
        published.keys.last().expect("a key").clone()
    }

    /// Good claims for `subject` at `audience`, valid for five minutes from now.
    pub fn claims(&self, subject: &str, audience: &str) -> Value {
        let now = now();
        json!({
            "iss": self.shared.issuer, "sub": subject, "aud": audience,
            "iat": now, "nbf": now, "exp": now + 300, "scope": "tasks",
            "client_id": CLIENT_ID,
        })
    }

    /// `claims` signed with the current key.
    pub fn sign(&self, claims: &Value) -> String {
        self.current_key().sign(claims)
    }

    /// A good access token for `subject` at `audience`.
    pub fn token(&self, subject: &str, audience: &str) -> String {
        self.sign(&self.claims(subject, audience))
    }

    /// Rotates keys: a new one (Ed25519 and ES256 in turn) signs from now on, and the old ones
    /// are withdrawn from the key set. Gives the new `kid`.
    pub fn rotate(&self) -> String {
        let n = self.next_kid.fetch_add(1, Ordering::SeqCst);
        let kid = format!("k{n}");
        let key = if n.is_multiple_of(2) {
            SigningKey::ed25519(&kid)
        } else {
            SigningKey::es256(&kid)
        };
        self.shared.published.lock().expect("issuer state").keys = vec![key];
        kid
    }

    /// An opaque access token (no JWT) whose introspection answers `claims` with
    /// `"active": true`.
    pub fn opaque_token(&self, claims: &Value) -> String {
        let mut bytes = [0u8; 24];
        SystemRandom::new().fill(&mut bytes).expect("random bytes");
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let mut answer = claims.clone();
        answer["active"] = json!(true);
        self.shared
            .published
            .lock()
            .expect("issuer state")
            .opaque
            .insert(token.clone(), answer);
        token
    }

    /// Revokes an opaque token: introspection says it is not active from now on.
    pub fn revoke(&self, token: &str) {
        self.shared
            .published
            .lock()
            .expect("issuer state")
            .opaque
            .remove(token);
    }
}

/// A token with `alg: none` and no signature (RFC 7519 §6, "Unsecured JWTs").
pub fn unsigned(claims: &Value, kid: &str) -> String {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The key-confusion forgery: `claims` under `alg: HS256`, the HMAC keyed with the issuer's
/// public key bytes (which anyone can read from its JWKS), and that key's `kid`.
pub fn hmac_with_public_key(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&key.public))
        .expect("an HMAC token")
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let issuer = &shared.issuer;
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if shared.unavailable.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let published = shared.published.lock().expect("issuer state");
    Json(json!({ "keys": published.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }))
        .into_response()
}

/// `307` to the URL after `?to=`, taken as is.
async fn redirect_to(uri: Uri) -> axum::response::Response {
    let to = uri
        .query()
        .and_then(|q| q.strip_prefix("to="))
        .unwrap_or("/");
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
}

/// `307` one hop nearer to `/{path}`.
async fn redirect(Path((hops, path)): Path<(usize, String)>) -> axum::response::Response {
    let to = if hops > 1 {
        format!("/redirect/{}/{path}", hops - 1)
    } else {
        format!("/{path}")
    };
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
}

/// Counts an introspection under way while it lives.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.introspections.fetch_add(1, Ordering::SeqCst);
        let now = shared.introspecting.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_introspecting.fetch_max(now, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.introspecting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// RFC 7662: the caller authenticates as the client; an unknown token is `active: false`.
async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let _in_flight = InFlight::new(&shared);
    let delay = *shared.introspection_delay.lock().expect("issuer state");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if shared.unavailable.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body = String::from_utf8_lossy(&body);
    let token = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default();
    let published = shared.published.lock().expect("issuer state");
    Json(
        published
            .opaque
            .get(&token)
            .cloned()
            .unwrap_or_else(|| json!({ "active": false })),
    )
    .into_response()
}

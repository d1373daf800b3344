//! The HTTP transport as an OAuth 2.1 resource server (issue 16 items 1 and 2; T-SEC-1), against
//! a real token issuer: `testkit::oauth::Issuer` generates its keys in the test, serves its JWKS
//! and introspection on loopback, and signs tokens. Requests are raw HTTP, so that status
//! codes, `WWW-Authenticate` challenges and bodies are checked exactly, in both eras: 2025-11-25
//! sessions and 2026-07-28 stateless requests.
//!
//! MCP authorization (2025-11-25 and 2026-07-28), "Security Considerations": token audience
//! binding and validation (RFC 8707), token theft (short-lived tokens, `exp` checked), and
//! Protected Resource Metadata discovery (RFC 9728); "Access Token Privilege Restriction"
//! (`insufficient_scope`).

use std::future::Future;
use std::time::Duration;

use mcp_tasks_runtime::server::{Server, Tools};
use mcp_tasks_runtime::transport::http::{
    HttpConfig, IntrospectionConfig, JwksSource, OAuth, OAuthConfig,
};
use mcp_tasks_wire::v2025_11_25::{CallToolResult, Tool};
use serde::Deserialize;
use serde_json::{json, Value};
use testkit::oauth::{self, Issuer, SigningKey};

/// Bounds every request: a hang fails the test instead of stalling it.
const LIMIT: Duration = Duration::from_secs(10);
const V2025: &str = "2025-11-25";
const V2026: &str = "2026-07-28";
const TASKS_EXT: &str = "io.modelcontextprotocol/tasks";

#[derive(Deserialize)]
struct NoArgs {}

fn tool(name: &str, support: &str) -> Tool {
    serde_json::from_value(json!({
        "name": name,
        "inputSchema": {"type": "object"},
        "execution": {"taskSupport": support}
    }))
    .unwrap()
}

/// `slow` runs until cancelled, always as a task.
fn tools() -> Tools {
    Tools::new().add(tool("slow", "required"), |_: NoArgs, _cx| async move {
        std::future::pending::<()>().await;
        Ok(CallToolResult::text("never"))
    })
}

/// An HTTP answer, read whole.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn challenge(&self) -> &str {
        self.headers
            .get("www-authenticate")
            .map_or("", |v| v.to_str().unwrap())
    }
}

/// A server on loopback whose `aud` is its own endpoint URL.
struct Fixture {
    url: String,
    http: reqwest::Client,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// Keys are fetched again at once on an unknown `kid`, so rotation tests need no waiting.
fn config(issuer: &Issuer, audience: &str) -> OAuthConfig {
    let mut config = OAuthConfig::new(issuer.url(), audience);
    config.jwks = Some(JwksSource::Url(issuer.jwks_url()));
    config.jwks_min_refetch = Duration::ZERO;
    config.fetch_timeout = Duration::from_secs(2);
    config
}

async fn start(issuer: &Issuer, tweak: impl FnOnce(&mut OAuthConfig)) -> Fixture {
    start_on("memory", issuer, tweak).await
}

async fn start_on(store: &str, issuer: &Issuer, tweak: impl FnOnce(&mut OAuthConfig)) -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let mut config = config(issuer, &url);
    tweak(&mut config);
    let oauth = OAuth::new(config).unwrap();
    let ready = Server::builder("oauth-test", "1.0.0")
        .store_url(store)
        .tools(tools())
        .http_config(HttpConfig {
            auth: Some(oauth.into()),
            ..HttpConfig::default()
        })
        .build()
        .await
        .unwrap();
    Fixture {
        url,
        http: reqwest::Client::new(),
        serving: tokio::spawn(ready.serve_http_on(listener)),
    }
}

impl Fixture {
    fn metadata_url(&self) -> String {
        self.url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = tokio::time::timeout(LIMIT, request.send())
            .await
            .expect("the server answers in time")
            .expect("the request reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(LIMIT, response.text())
            .await
            .expect("the body ends in time")
            .unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, token: Option<&str>, headers: &[(&str, &str)], body: &Value) -> Reply {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    async fn initialize(&self, token: Option<&str>) -> Reply {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": V2025, "capabilities": {},
            "clientInfo": {"name": "oauth-test", "version": "0"}}});
        self.post(token, &[], &body).await
    }

    /// A 2025-11-25 session of `token`'s subject: its id.
    async fn session(&self, token: &str) -> String {
        let reply = self.initialize(Some(token)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let id = reply.headers["mcp-session-id"].to_str().unwrap().to_owned();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let sent = self
            .post(
                Some(token),
                &[("mcp-session-id", &id), ("mcp-protocol-version", V2025)],
                &initialized,
            )
            .await;
        assert_eq!(sent.status, 202, "{}", sent.body);
        id
    }

    /// A request in a 2025-11-25 session.
    async fn call_2025(&self, token: &str, session: &str, method: &str, params: Value) -> Reply {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        self.post(
            Some(token),
            &[("mcp-session-id", session), ("mcp-protocol-version", V2025)],
            &body,
        )
        .await
    }

    /// A 2026-07-28 request declaring the tasks extension, with the era's headers.
    async fn call_2026(&self, token: Option<&str>, method: &str, params: Value) -> Reply {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": V2026,
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXT: {}}},
            "io.modelcontextprotocol/clientInfo": {"name": "oauth-test", "version": "0"},
        });
        let name = ["taskId", "name"]
            .iter()
            .find_map(|f| params.get(*f).and_then(Value::as_str))
            .map(str::to_owned);
        let mut headers = vec![("mcp-protocol-version", V2026), ("mcp-method", method)];
        if let Some(name) = &name {
            headers.push(("mcp-name", name));
        }
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        self.post(token, &headers, &body).await
    }

    /// A `slow` task started in a 2025-11-25 session: its id.
    async fn task_2025(&self, token: &str, session: &str) -> String {
        let reply = self
            .call_2025(
                token,
                session,
                "tools/call",
                json!({"name": "slow", "arguments": {}, "task": {"ttl": 60000}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["result"]["task"]["taskId"]
            .as_str()
            .unwrap_or_else(|| panic!("no task in {}", reply.body))
            .to_owned()
    }

    /// A `slow` task started by a 2026-07-28 request: its id.
    async fn task_2026(&self, token: &str) -> String {
        let reply = self
            .call_2026(
                Some(token),
                "tools/call",
                json!({"name": "slow", "arguments": {}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["result"]["taskId"]
            .as_str()
            .unwrap_or_else(|| panic!("no task in {}", reply.body))
            .to_owned()
    }
}

/// Polls `check` until it holds; bounded.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn invalid_token(f: &Fixture) -> String {
    format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
        f.metadata_url()
    )
}

/// Asserts a 401 `invalid_token` in both eras for `token`, whose body says `why`.
async fn assert_refused(f: &Fixture, token: &str, why: &str) {
    let eras = [
        ("2025-11-25 initialize", f.initialize(Some(token)).await),
        (
            "2026-07-28 tools/list",
            f.call_2026(Some(token), "tools/list", json!({})).await,
        ),
    ];
    for (era, reply) in eras {
        assert_eq!(reply.status, 401, "{why} ({era}): {}", reply.body);
        assert_eq!(reply.challenge(), invalid_token(f), "{why} ({era})");
        let body = reply.json();
        assert_eq!(body["error"]["code"], -32600, "{why} ({era})");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(why),
            "{era}: {message:?} should say {why:?}"
        );
    }
}

/// Asserts that `token` cannot be checked because the authorization server cannot be reached:
/// 503 with `Retry-After`, a JSON-RPC internal error saying so, and no challenge (an
/// `invalid_token` would make the client throw away a token that may be good), in both eras.
async fn assert_unavailable(f: &Fixture, token: &str) {
    let eras = [
        ("2025-11-25 initialize", f.initialize(Some(token)).await),
        (
            "2026-07-28 tools/list",
            f.call_2026(Some(token), "tools/list", json!({})).await,
        ),
    ];
    for (era, reply) in eras {
        assert_eq!(reply.status, 503, "{era}: {}", reply.body);
        assert!(reply.headers.contains_key("retry-after"), "{era}");
        assert_eq!(reply.challenge(), "", "{era}: no challenge");
        let body = reply.json();
        assert_eq!(body["error"]["code"], -32603, "{era}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("authorization server cannot be reached"),
            "{era}: {message:?}"
        );
    }
}

/// T-SEC-1: a valid access token opens a 2025-11-25 session and serves 2026-07-28 requests,
/// and its subject owns the tasks made either way.
#[tokio::test]
async fn t_sec_1_a_valid_token_works_in_both_eras() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |_| {}).await;
    let token = issuer.token("alice", &f.url);
    let session = f.session(&token).await;
    let id = f.task_2025(&token, &session).await;
    let got = f
        .call_2025(&token, &session, "tasks/get", json!({"taskId": id}))
        .await;
    assert_eq!(got.json()["result"]["status"], "working", "{}", got.body);
    let id_2026 = f.task_2026(&token).await;
    let got = f
        .call_2026(Some(&token), "tasks/get", json!({"taskId": id_2026}))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["result"]["status"], "working", "{}", got.body);
    // One owner across eras: the 2026 request sees the task of the 2025 session.
    let across = f
        .call_2026(Some(&token), "tasks/get", json!({"taskId": id}))
        .await;
    assert_eq!(across.status, 200, "{}", across.body);
}

/// T-SEC-1, MCP authorization "Token Audience Binding and Validation": expired, premature,
/// wrong issuer, wrong audience, bad signature, `alg: none`, unknown `kid`, HS256 keyed with
/// the issuer's public key, not a JWT, no subject: each 401 `invalid_token` naming the
/// metadata, in both eras; the token's holder is told why.
#[tokio::test]
async fn t_sec_1_bad_tokens_are_refused_with_the_right_challenge() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |_| {}).await;
    let good = issuer.claims("alice", &f.url);
    let with = |changes: Value| {
        let mut claims = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let now = oauth::now();
    let forged_key = SigningKey::es256(&issuer.current_key().kid);
    let cases = [
        (
            issuer.sign(&with(
                json!({"exp": now - 120, "iat": now - 600, "nbf": now - 600}),
            )),
            "expired",
        ),
        (
            issuer.sign(&with(json!({"nbf": now + 600}))),
            "not valid yet",
        ),
        (
            issuer.sign(&with(json!({"iss": "https://other-issuer.example"}))),
            "not issued by this server's authorization server",
        ),
        (
            issuer.sign(&with(json!({"aud": "http://127.0.0.1:1/mcp"}))),
            "not issued for this server",
        ),
        (
            issuer.sign(&with(
                json!({"aud": ["https://a.example/mcp", "https://b.example"]}),
            )),
            "not issued for this server",
        ),
        (
            issuer.sign(&with(json!({"aud": null}))),
            "lacks a required claim",
        ),
        (
            issuer.sign(&with(json!({"exp": null}))),
            "lacks a required claim",
        ),
        (forged_key.sign(&good), "signature does not verify"),
        (
            oauth::unsigned(&good, &issuer.current_key().kid),
            "algorithm",
        ),
        (
            SigningKey::ed25519("k-unknown").sign(&good),
            "a key the issuer does not publish",
        ),
        (
            oauth::hmac_with_public_key(&issuer.current_key(), &good),
            "algorithm",
        ),
        ("not-a-jwt-at-all".to_owned(), "not a well-formed JWT"),
        (issuer.sign(&with(json!({"sub": null}))), "names no subject"),
        (issuer.sign(&with(json!({"sub": ""}))), "names no subject"),
        (issuer.sign(&with(json!({"sub": 42}))), "names no subject"),
        (
            issuer.sign(&with(json!({"sub": "a".repeat(1025)}))),
            "longer than 1024 bytes",
        ),
        (
            issuer.sign(&with(json!({"sub": "alice\u{0}"}))),
            "control character",
        ),
        (
            issuer.sign(&with(json!({"sub": "alice\nowner=root"}))),
            "control character",
        ),
        // RFC 7515 §4.1.11: an extension this server does not understand is critical.
        (
            issuer
                .current_key()
                .sign_with_header(&json!({"crit": ["exp"], "exp": now + 300}), &good),
            "critical extensions (crit)",
        ),
    ];
    for (token, why) in &cases {
        assert_refused(&f, token, why).await;
    }
    // Within the leeway (60 s) an expired token still passes: clocks disagree a little.
    let lenient = issuer.sign(&with(json!({"exp": now - 20})));
    assert_eq!(f.initialize(Some(&lenient)).await.status, 200);
    // An audience list holding this server's resource URL is fine (RFC 8707).
    let listed = issuer.sign(&with(json!({"aud": ["https://other.example", f.url]})));
    assert_eq!(f.initialize(Some(&listed)).await.status, 200);
    // The longest subject accepted, and a header signed by hand without `crit`, pass.
    let longest = issuer.sign(&with(json!({"sub": "a".repeat(1024)})));
    assert_eq!(f.initialize(Some(&longest)).await.status, 200);
    let by_hand = issuer
        .current_key()
        .sign_with_header(&json!({"typ": "at+jwt"}), &good);
    assert_eq!(f.initialize(Some(&by_hand)).await.status, 200);
}

/// RFC 6750 §3, RFC 9728 §5.1: no token, or another scheme, is 401 with a challenge naming
/// the metadata (and the scope, when one is required), in both eras and on GET and DELETE.
#[tokio::test]
async fn t_sec_1_no_token_is_asked_for_with_the_metadata_url() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |_| {}).await;
    let bare = format!("Bearer resource_metadata=\"{}\"", f.metadata_url());
    let replies = [
        f.initialize(None).await,
        f.call_2026(None, "tools/list", json!({})).await,
        f.send(f.http.get(&f.url).header("accept", "text/event-stream"))
            .await,
        f.send(f.http.delete(&f.url).header("mcp-session-id", "x"))
            .await,
        f.send(f.http.post(&f.url).basic_auth("alice", Some("pw")))
            .await,
    ];
    for reply in replies {
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.challenge(), bare);
        assert!(reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer"));
    }
    let scoped = start(&issuer, |c| c.required_scopes = vec!["tasks".into()]).await;
    assert_eq!(
        scoped.initialize(None).await.challenge(),
        format!(
            "Bearer scope=\"tasks\", resource_metadata=\"{}\"",
            scoped.metadata_url()
        )
    );
}

/// MCP authorization, "Scope Challenge Handling" (RFC 6750 §3.1): a valid token without
/// every required scope is 403 `insufficient_scope` naming them; `scope` and `scp` both count.
#[tokio::test]
async fn t_sec_1_a_missing_scope_is_403_insufficient_scope() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |c| {
        c.required_scopes = vec!["tasks".into(), "tasks:write".into()];
    })
    .await;
    let mut claims = issuer.claims("alice", &f.url);
    let expected = format!(
        "Bearer error=\"insufficient_scope\", scope=\"tasks tasks:write\", \
         resource_metadata=\"{}\"",
        f.metadata_url()
    );
    for scope in [json!("tasks"), json!(""), Value::Null] {
        claims["scope"] = scope.clone();
        let token = issuer.sign(&claims);
        for reply in [
            f.initialize(Some(&token)).await,
            f.call_2026(Some(&token), "tools/list", json!({})).await,
        ] {
            assert_eq!(reply.status, 403, "{scope}: {}", reply.body);
            assert_eq!(reply.challenge(), expected);
            assert!(reply.body.contains("tasks tasks:write"), "{}", reply.body);
        }
    }
    claims["scope"] = json!("openid tasks:write tasks");
    assert_eq!(f.initialize(Some(&issuer.sign(&claims))).await.status, 200);
    claims.as_object_mut().unwrap().remove("scope");
    claims["scp"] = json!(["tasks", "tasks:write"]);
    assert_eq!(f.initialize(Some(&issuer.sign(&claims))).await.status, 200);
}

/// RFC 9728: the Protected Resource Metadata is served without a token at the well-known path
/// and its path-inserted form, and the URL a 401 names gives it.
#[tokio::test]
async fn t_sec_1_protected_resource_metadata_is_public_and_right() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |c| c.required_scopes = vec!["tasks".into()]).await;
    let expected = json!({
        "resource": f.url,
        "authorization_servers": [issuer.url()],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["tasks"],
    });
    let root = f
        .url
        .replace("/mcp", "/.well-known/oauth-protected-resource");
    let named = f.initialize(None).await.challenge().to_owned();
    let named = named
        .split("resource_metadata=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    assert_eq!(named, f.metadata_url());
    for url in [root, named] {
        let reply = f.send(f.http.get(&url)).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        assert_eq!(reply.headers["content-type"], "application/json");
        assert_eq!(reply.json(), expected, "{url}");
    }
}

/// Key rotation is picked up without a restart: the issuer publishes a new key and withdraws
/// the old one; tokens of the new key are accepted, those of the withdrawn one refused.
#[tokio::test]
async fn t_sec_1_key_rotation_is_picked_up() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |_| {}).await;
    let old = issuer.token("alice", &f.url);
    assert_eq!(f.initialize(Some(&old)).await.status, 200);
    let kid = issuer.rotate();
    assert_eq!(issuer.current_key().kid, kid);
    let new = issuer.token("alice", &f.url);
    let reply = f.initialize(Some(&new)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_refused(&f, &old, "a key the issuer does not publish").await;
    // Rotating again, to the other key type, works the same.
    issuer.rotate();
    let newer = issuer.token("alice", &f.url);
    assert_eq!(
        f.call_2026(Some(&newer), "tools/list", json!({}))
            .await
            .status,
        200
    );
}

/// Forged `kid`s cannot make the server hammer the issuer: within the minimum interval an
/// unknown key fetches the set at most once, and the periodic refresh happens in the
/// background while the cached keys keep serving.
#[tokio::test]
async fn t_sec_1_unknown_kids_fetch_the_key_set_at_most_once_per_interval() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |c| {
        c.jwks_min_refetch = Duration::from_secs(3600);
    })
    .await;
    let good = issuer.token("alice", &f.url);
    assert_eq!(f.initialize(Some(&good)).await.status, 200);
    let fetched = issuer.jwks_fetches();
    assert_eq!(fetched, 1);
    for n in 0..20 {
        let forged =
            SigningKey::es256(&format!("forged-{n}")).sign(&issuer.claims("alice", &f.url));
        assert_eq!(f.initialize(Some(&forged)).await.status, 401);
    }
    assert_eq!(
        issuer.jwks_fetches(),
        fetched,
        "gated by the minimum interval"
    );
    assert_eq!(f.initialize(Some(&good)).await.status, 200);

    let refreshing = start(&issuer, |c| c.jwks_refresh = Duration::ZERO).await;
    let before = issuer.jwks_fetches();
    assert_eq!(
        refreshing
            .initialize(Some(&issuer.token("a", &refreshing.url)))
            .await
            .status,
        200
    );
    assert_eq!(
        refreshing
            .initialize(Some(&issuer.token("a", &refreshing.url)))
            .await
            .status,
        200
    );
    eventually("a background refresh of a stale key set", || async {
        issuer.jwks_fetches() >= before + 2
    })
    .await;
}

/// A key set that cannot be fetched does not crash or hang requests: they are answered 503
/// with `Retry-After`, not 401 `invalid_token` (the token may well be good; the log says what
/// failed), and served again once the issuer is back. A bad token is still 401 meanwhile.
#[tokio::test]
async fn t_sec_1_an_unreachable_key_set_is_503_not_invalid_token() {
    let issuer = Issuer::start().await;
    issuer.set_unavailable(true);
    let f = start(&issuer, |_| {}).await;
    let token = issuer.token("alice", &f.url);
    assert_unavailable(&f, &token).await;
    assert_refused(&f, "not-a-jwt-at-all", "not a well-formed JWT").await;
    issuer.set_unavailable(false);
    assert_eq!(f.initialize(Some(&token)).await.status, 200);

    // Nothing listening at all: the same, within the fetch timeout.
    let dead = start(&issuer, |c| {
        c.jwks = Some(JwksSource::Url("http://127.0.0.1:9/jwks".into()));
    })
    .await;
    assert_unavailable(&dead, &issuer.token("alice", &dead.url)).await;
}

/// The key set's redirects are followed to loopback (as here) or https, at most 3 of them; a
/// redirect to plain http off loopback is not followed, since anyone on the path could then
/// replace the keys. `0.0.0.0` is not loopback, yet on Linux it reaches this issuer, so a
/// followed redirect would show as a served request.
#[tokio::test]
async fn t_sec_1_key_set_redirects_stay_on_https_or_loopback() {
    let issuer = Issuer::start().await;
    let via = |url: String| move |c: &mut OAuthConfig| c.jwks = Some(JwksSource::Url(url));
    let three = start(&issuer, via(issuer.redirected(3, "jwks"))).await;
    assert_eq!(
        three
            .initialize(Some(&issuer.token("alice", &three.url)))
            .await
            .status,
        200
    );
    let four = start(&issuer, via(issuer.redirected(4, "jwks"))).await;
    assert_unavailable(&four, &issuer.token("alice", &four.url)).await;

    let port = issuer.url().rsplit(':').next().unwrap().to_owned();
    let off_loopback = issuer.redirect_to(&format!("http://0.0.0.0:{port}/jwks"));
    let before = issuer.jwks_fetches();
    let downgraded = start(&issuer, via(off_loopback)).await;
    assert_unavailable(&downgraded, &issuer.token("alice", &downgraded.url)).await;
    assert_eq!(
        issuer.jwks_fetches(),
        before,
        "the redirect was not followed"
    );
}

/// Introspection never follows a redirect: a 307 would re-POST the client's token to wherever
/// it points. The request is answered 503 instead, and nothing reaches the endpoint.
#[tokio::test]
async fn t_sec_1_introspection_does_not_follow_redirects() {
    let issuer = Issuer::start().await;
    let endpoint = issuer.redirected(1, "introspect");
    let f = start(&issuer, |c| {
        c.jwks = None;
        c.introspection = Some(IntrospectionConfig {
            endpoint,
            client_id: oauth::CLIENT_ID.into(),
            client_secret: oauth::CLIENT_SECRET.into(),
        });
    })
    .await;
    let token = issuer.opaque_token(&issuer.claims("alice", &f.url));
    assert_unavailable(&f, &token).await;
    assert_eq!(issuer.introspections(), 0, "the token was not re-POSTed");
}

fn introspected(issuer: &Issuer) -> IntrospectionConfig {
    IntrospectionConfig {
        endpoint: issuer.introspection_url(),
        client_id: oauth::CLIENT_ID.into(),
        client_secret: oauth::CLIENT_SECRET.into(),
    }
}

/// A flood of made-up tokens (each "not active") cannot push good tokens' answers out of the
/// cache: those are kept apart, so a good token is still answered without asking again.
#[tokio::test]
async fn t_sec_1_inactive_tokens_do_not_evict_active_ones() {
    let issuer = Issuer::start().await;
    let introspection = introspected(&issuer);
    let f = start(&issuer, |c| {
        c.jwks = None;
        c.introspection = Some(introspection);
        c.introspection_cache_ttl = Duration::from_secs(300);
        c.introspection_cache_entries = 4;
    })
    .await;
    let good = issuer.opaque_token(&issuer.claims("alice", &f.url));
    assert_eq!(f.initialize(Some(&good)).await.status, 200);
    assert_eq!(issuer.introspections(), 1);
    for n in 0..12 {
        let junk = format!("made-up-token-{n:04}");
        assert_refused(&f, &junk, "not active").await;
    }
    let asked = issuer.introspections();
    assert_eq!(f.initialize(Some(&good)).await.status, 200);
    assert_eq!(
        issuer.introspections(),
        asked,
        "the good answer was still cached"
    );
}

/// Introspections under way at once are bounded (here 2); the others wait their turn, within
/// the fetch timeout, and are served.
#[tokio::test]
async fn t_sec_1_concurrent_introspections_are_bounded() {
    let issuer = Issuer::start().await;
    issuer.set_introspection_delay(Duration::from_millis(200));
    let introspection = introspected(&issuer);
    let f = start(&issuer, |c| {
        c.jwks = None;
        c.introspection = Some(introspection);
        c.introspection_concurrency = 2;
        c.fetch_timeout = Duration::from_secs(5);
    })
    .await;
    let tokens: Vec<String> = (0..6)
        .map(|_| issuer.opaque_token(&issuer.claims("alice", &f.url)))
        .collect();
    let replies = futures::future::join_all(tokens.iter().map(|t| f.initialize(Some(t)))).await;
    for reply in replies {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(issuer.introspections(), 6);
    assert!(
        issuer.most_concurrent_introspections() <= 2,
        "{} at once",
        issuer.most_concurrent_introspections()
    );
}

/// The key set may be a local file; a rotated file is read again on an unknown `kid`.
#[tokio::test]
async fn t_sec_1_a_jwks_file_is_read_and_reread() {
    let issuer = Issuer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    let file = path.clone();
    let f = start(&issuer, move |c| c.jwks = Some(JwksSource::File(file))).await;
    assert_eq!(
        f.initialize(Some(&issuer.token("alice", &f.url)))
            .await
            .status,
        200
    );
    issuer.rotate();
    let rotated = issuer.token("alice", &f.url);
    assert_refused(&f, &rotated, "a key the issuer does not publish").await;
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    assert_eq!(f.initialize(Some(&rotated)).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), 0, "the URL is never asked");
}

/// RFC 7662: opaque tokens are checked by introspection with the server's client
/// credentials; inactive (revoked) tokens and other audiences are 401; an endpoint that
/// answers 5xx, or refuses this server's credentials, is an outage (503), not a bad token.
#[tokio::test]
async fn t_sec_1_opaque_tokens_are_introspected() {
    let issuer = Issuer::start().await;
    let introspection = |secret: &str| IntrospectionConfig {
        endpoint: issuer.introspection_url(),
        client_id: oauth::CLIENT_ID.into(),
        client_secret: secret.into(),
    };
    let good = introspection(oauth::CLIENT_SECRET);
    let f = start(&issuer, |c| {
        c.jwks = None;
        c.introspection = Some(good);
        c.introspection_cache_ttl = Duration::ZERO;
    })
    .await;
    let token = issuer.opaque_token(&issuer.claims("alice", &f.url));
    let session = f.session(&token).await;
    let id = f.task_2025(&token, &session).await;
    assert_eq!(
        f.call_2026(Some(&token), "tasks/get", json!({"taskId": id}))
            .await
            .status,
        200
    );
    issuer.revoke(&token);
    assert_refused(&f, &token, "not active").await;
    let elsewhere = issuer.opaque_token(&issuer.claims("alice", "https://other.example/mcp"));
    assert_refused(&f, &elsewhere, "not issued for this server").await;
    let fresh = issuer.opaque_token(&issuer.claims("alice", &f.url));
    issuer.set_unavailable(true);
    assert_unavailable(&f, &fresh).await;
    issuer.set_unavailable(false);
    assert_eq!(f.initialize(Some(&fresh)).await.status, 200);

    let wrong_client = start(&issuer, |c| {
        c.jwks = None;
        c.introspection = Some(introspection("not-the-secret"));
    })
    .await;
    let token = issuer.opaque_token(&issuer.claims("alice", &wrong_client.url));
    assert_unavailable(&wrong_client, &token).await;
}

/// Replaces every id in `text` by a placeholder, so error bodies can be compared byte for
/// byte apart from them.
fn without(text: &str, ids: &[&str]) -> String {
    ids.iter()
        .fold(text.to_owned(), |text, id| text.replace(id, "<id>"))
}

/// T-SEC-1, MCP tasks "Security Considerations" (task isolation): another subject's task is
/// answered exactly like an unknown id, through every method of both eras, and another
/// subject's session exactly like an unknown session: same status, same body byte for byte
/// apart from the ids.
#[tokio::test]
async fn t_sec_1_two_subjects_never_see_each_others_tasks() {
    let issuer = Issuer::start().await;
    let f = start(&issuer, |_| {}).await;
    assert_isolated(&f, &f, &issuer).await;
}

/// The same across two instances sharing one PostgreSQL database (skipped without
/// `MCP_TASKS_TEST_POSTGRES`): alice's tasks, made on one, are as unknown to bob on the other.
#[tokio::test]
async fn t_sec_1_two_subjects_are_isolated_across_instances() {
    if std::env::var_os(testkit::postgres::ENV).is_none() {
        eprintln!("skipped: {} is not set", testkit::postgres::ENV);
        return;
    }
    let database = testkit::postgres::TempDatabase::create().await;
    let issuer = Issuer::start().await;
    // One resource URL for both, as behind a load balancer.
    let a = start_on(database.url(), &issuer, |_| {}).await;
    let audience = a.url.clone();
    let b = start_on(database.url(), &issuer, |c| c.audience = audience).await;
    assert_isolated(&a, &b, &issuer).await;
}

/// Alice works on `a`; bob tries every way to reach her tasks and session on `b`.
async fn assert_isolated(a: &Fixture, b: &Fixture, issuer: &Issuer) {
    let aud = a.url.clone();
    let alice = issuer.token("alice", &aud);
    let bob = issuer.token("bob", &aud);
    let alice_session = a.session(&alice).await;
    let bob_session = b.session(&bob).await;
    let task = a.task_2025(&alice, &alice_session).await;
    let task_2026 = a.task_2026(&alice).await;
    let unknown = "00000000-0000-4000-8000-000000000000";

    // Bob's own task, so that his listing is not empty by accident.
    let bobs = b.task_2025(&bob, &bob_session).await;
    for theirs in [&task, &task_2026] {
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let params = |id: &str| json!({"taskId": id});
            let foreign = b
                .call_2025(&bob, &bob_session, method, params(theirs))
                .await;
            let missing = b
                .call_2025(&bob, &bob_session, method, params(unknown))
                .await;
            assert_eq!(foreign.status, missing.status, "2025 {method}");
            assert_eq!(
                without(&foreign.body, &[theirs]),
                without(&missing.body, &[unknown]),
                "2025 {method}"
            );
            assert!(foreign.json()["error"].is_object(), "{}", foreign.body);
        }
        for (method, params) in [
            ("tasks/get", json!({})),
            ("tasks/cancel", json!({})),
            ("tasks/update", json!({"inputResponses": {}})),
        ] {
            let with_id = |id: &str| {
                let mut p = params.clone();
                p["taskId"] = json!(id);
                p
            };
            let foreign = b.call_2026(Some(&bob), method, with_id(theirs)).await;
            let missing = b.call_2026(Some(&bob), method, with_id(unknown)).await;
            assert_eq!(foreign.status, missing.status, "2026 {method}");
            assert_eq!(
                without(&foreign.body, &[theirs]),
                without(&missing.body, &[unknown]),
                "2026 {method}"
            );
            assert!(foreign.json()["error"].is_object(), "{}", foreign.body);
        }
    }
    let listed = b
        .call_2025(&bob, &bob_session, "tasks/list", json!({}))
        .await;
    let ids: Vec<Value> = listed.json()["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("a listing: {}", listed.body))
        .iter()
        .map(|t| t["taskId"].clone())
        .collect();
    assert_eq!(ids, [json!(bobs)], "bob lists only his own task");

    // Bob on alice's session: exactly an unknown session, for every method.
    let foreign = b
        .call_2025(&bob, &alice_session, "tasks/list", json!({}))
        .await;
    let missing = b.call_2025(&bob, unknown, "tasks/list", json!({})).await;
    assert_eq!((foreign.status, missing.status), (404, 404));
    assert_eq!(foreign.body, missing.body);
    let get = |session: &str| {
        b.http
            .get(&b.url)
            .bearer_auth(&bob)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
    };
    let foreign = b.send(get(&alice_session)).await;
    let missing = b.send(get(unknown)).await;
    assert_eq!(
        (foreign.status, foreign.body),
        (missing.status, missing.body)
    );
    let delete = |session: &str| {
        b.http
            .delete(&b.url)
            .bearer_auth(&bob)
            .header("mcp-session-id", session)
    };
    let foreign = b.send(delete(&alice_session)).await;
    let missing = b.send(delete(unknown)).await;
    assert_eq!(
        (foreign.status, foreign.body),
        (missing.status, missing.body)
    );

    // And alice still has everything.
    let got = a
        .call_2025(&alice, &alice_session, "tasks/get", json!({"taskId": task}))
        .await;
    assert_eq!(got.json()["result"]["status"], "working", "{}", got.body);
    let got = a
        .call_2026(Some(&alice), "tasks/get", json!({"taskId": task_2026}))
        .await;
    assert_eq!(got.json()["result"]["status"], "working", "{}", got.body);
}

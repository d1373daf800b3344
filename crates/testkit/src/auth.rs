//! Bearer-token auth helpers (T-SEC-1): a tokens file for `mcp-tasks serve --auth-tokens`, and an
//! MCP session over Streamable HTTP that sends `Authorization: Bearer <token>` with every request.
//!
//! [`BearerSession`] is deliberately small next to [`crate::http::HttpSession`]: it POSTs one
//! request at a time and reads the whole reply (JSON, or an SSE stream that ends with the
//! response), which is what owner-scoping tests need. Every reply it reads is checked against the
//! 2025-11-25 schema. [`BearerSession::as_bearer`] reuses a session id under another token, to
//! check that a session answers only its own subject. [`run_with_env`] runs a command with the
//! token variables set as a test says, never as the developer's shell has them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::http::{RawReply, POST_ACCEPT, SESSION_HEADER, VERSION_HEADER};
use crate::process::{Finished, SETTINGS_ENV};
use crate::schema::{self, Spec};
use crate::stdio::{default_initialize_params, outcome, RpcError, PROTOCOL_VERSION, TIMEOUT};

/// A `SUBJECT TOKEN` file in a scratch directory, removed on drop.
#[derive(Debug)]
pub struct TokensFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TokensFile {
    /// A file of `SUBJECT TOKEN` lines, one per pair.
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        let text: String = pairs
            .iter()
            .map(|(subject, token)| format!("{subject} {token}\n"))
            .collect();
        Self::with_text(&text)
    }

    /// A file holding exactly `text` (for files that must be refused).
    pub fn with_text(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("a scratch directory for the tokens file");
        let path = dir.path().join("tokens");
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Self { _dir: dir, path }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `["--auth-tokens", PATH]`, for [`crate::process::ServeOptions::args`].
    pub fn serve_args(&self) -> [String; 2] {
        ["--auth-tokens".to_owned(), self.path.display().to_string()]
    }
}

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    url: String,
    session_id: Mutex<Option<String>>,
    next_id: AtomicI64,
}

/// One MCP session over Streamable HTTP with a bearer token (or none).
#[derive(Debug, Clone)]
pub struct BearerSession {
    shared: Arc<Shared>,
    token: Option<String>,
}

impl BearerSession {
    /// A client of the endpoint `url` without a session yet, sending `token` when given.
    pub fn new(url: &str, token: Option<&str>) -> Self {
        Self {
            shared: Arc::new(Shared {
                http: reqwest::Client::new(),
                url: url.to_owned(),
                session_id: Mutex::new(None),
                next_id: AtomicI64::new(1),
            }),
            token: token.map(str::to_owned),
        }
    }

    /// An initialized session of `url` sending `token`.
    pub async fn start(url: &str, token: &str) -> Self {
        let session = Self::new(url, Some(token));
        session.initialize().await;
        session
    }

    /// The same session id, sent with another token (or none) from now on by the copy.
    pub fn as_bearer(&self, token: Option<&str>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            token: token.map(str::to_owned),
        }
    }

    /// The `Mcp-Session-Id` the server assigned, once initialized.
    pub fn session_id(&self) -> Option<String> {
        self.shared.session_id.lock().unwrap().clone()
    }

    /// One request to the endpoint with the session id, the protocol version (once
    /// initialized) and the token; the whole reply, bounded by [`TIMEOUT`].
    pub async fn raw(&self, method: Method, body: Option<&Value>) -> RawReply {
        let accept = if method == Method::GET {
            "text/event-stream"
        } else {
            POST_ACCEPT
        };
        let mut request = self
            .shared
            .http
            .request(method.clone(), &self.shared.url)
            .header(ACCEPT, accept);
        if let Some(id) = self.session_id() {
            request = request
                .header(SESSION_HEADER, id)
                .header(VERSION_HEADER, PROTOCOL_VERSION);
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let read = async {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {} failed: {e}", self.shared.url));
            let status = response.status().as_u16();
            let headers: HeaderMap = response.headers().clone();
            // A GET stream stays open: its status and headers are the answer.
            let body = if method == Method::GET && status == 200 {
                String::new()
            } else {
                response.text().await.unwrap_or_default()
            };
            RawReply {
                status,
                headers,
                body,
            }
        };
        tokio::time::timeout(TIMEOUT, read)
            .await
            .unwrap_or_else(|_| panic!("no reply to {method} within {TIMEOUT:?}"))
    }

    /// Sends a request and reads its result or error. Panics unless the server answers 200 with
    /// schema-valid messages, the last of them the response.
    ///
    /// # Errors
    /// The JSON-RPC error the server answered with.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = self.raw(Method::POST, Some(&message)).await;
        assert_eq!(
            reply.status, 200,
            "{method} was answered HTTP {}: {}",
            reply.status, reply.body
        );
        let response = reply
            .messages()
            .await
            .into_iter()
            .find(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
            .unwrap_or_else(|| panic!("no response to {method} in {:?}", reply.body));
        if let Err(e) = schema::validate_response_to(Spec::Mcp20251125, method, &response) {
            panic!("the response to {method} does not match its result type: {e}\n{response}");
        }
        if method == "initialize" {
            let id = reply
                .header(SESSION_HEADER)
                .expect("initialize answered with an Mcp-Session-Id");
            *self.shared.session_id.lock().unwrap() = Some(id.to_owned());
        }
        outcome(&response)
    }

    /// `initialize`, keeping the session id, then `notifications/initialized`.
    pub async fn initialize(&self) -> Value {
        let result = self
            .request("initialize", default_initialize_params())
            .await
            .unwrap_or_else(|e| panic!("initialize failed: {e}"));
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let accepted = self.raw(Method::POST, Some(&initialized)).await;
        assert_eq!(accepted.status, 202, "{}", accepted.body);
        result
    }
}

/// The environment variables that carry credentials: the client's token and the server's
/// tokens file. [`run_with_env`] clears them unless the test sets them.
pub const AUTH_ENV: [&str; 2] = ["MCP_TASKS_TOKEN", "MCP_TASKS_AUTH_TOKENS"];

/// Runs `bin args…` with stdin closed, [`SETTINGS_ENV`] and [`AUTH_ENV`] cleared and then `env`
/// set, and waits for it to exit, at most `limit` (then it is killed and the test panics).
pub async fn run_with_env(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Finished {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(bin);
    for name in SETTINGS_ENV.iter().chain(&AUTH_ENV) {
        command.env_remove(name);
    }
    let child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} {} did not exit within {limit:?}",
                bin.display(),
                args.join(" ")
            )
        })
        .unwrap_or_else(|e| panic!("cannot wait for {}: {e}", bin.display()));
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

//! The admin API of a running server (`serve --admin ADDR`), over HTTP with the admin token.
//! Its answers are kept as JSON values: `--json` prints them as they came, and the text output
//! reads the fields it shows.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use mcp_tasks_runtime::admin::query::{PurgeRequest, TaskQuery};
use mcp_tasks_runtime::admin::view::CancelRequest;

use super::exit::{AdminExit, AdminFailure};

/// How long one request may take: the API answers from the store, which is quick or broken.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read. A page of the most tasks the API gives at once is far smaller; a
/// bigger answer comes from something that is not the admin API, and is not buffered whole.
pub(super) const MAX_BODY: usize = 64 * 1024 * 1024;

/// A server's admin API.
#[derive(Debug)]
pub(super) struct HttpAdmin {
    client: reqwest::Client,
    /// The admin address, without a fragment (the login URL's `#token=…` is no part of it).
    base: Url,
    token: Option<String>,
}

impl HttpAdmin {
    /// The admin API at `url`, with `token`. A login URL (`http://ADDR/#token=TOKEN`, as the
    /// server prints it) brings its own token when none is given.
    pub(super) fn new(url: &str, token: Option<String>) -> Result<Self, AdminFailure> {
        // A URL without a scheme ("localhost:9090") parses with "localhost" as its scheme.
        let mut base = Url::parse(url)
            .ok()
            .filter(|u| u.scheme() == "http" && u.has_host())
            .ok_or_else(|| {
                AdminFailure::usage(format!(
                    "--url {:?} is not an http:// URL; give the admin address of the server \
                     (its --admin ADDR), such as http://127.0.0.1:9090",
                    url.split('#').next().unwrap_or_default()
                ))
            })?;
        let from_fragment = base
            .fragment()
            .and_then(|f| f.strip_prefix("token="))
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        base.set_fragment(None);
        base.set_query(None);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| AdminFailure::unreachable(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            client,
            base,
            token: token.or(from_fragment),
        })
    }

    /// `GET /api/tasks`: one page.
    pub(super) async fn list(&self, query: &TaskQuery) -> Result<Value, AdminFailure> {
        self.call(Method::GET, &["api", "tasks"], &query.to_pairs(), None)
            .await
    }

    /// `GET /api/tasks/{id}`: the task and its history.
    pub(super) async fn task(&self, id: &str) -> Result<Value, AdminFailure> {
        self.call(Method::GET, &["api", "tasks", id], &[], None)
            .await
    }

    /// `POST /api/tasks/{id}/cancel`.
    pub(super) async fn cancel(
        &self,
        id: &str,
        message: Option<&str>,
    ) -> Result<Value, AdminFailure> {
        let body = serde_json::to_value(CancelRequest {
            message: message.map(str::to_owned),
        })
        .expect("a cancel request serializes");
        self.call(
            Method::POST,
            &["api", "tasks", id, "cancel"],
            &[],
            Some(body),
        )
        .await
    }

    /// `POST /api/purge`.
    pub(super) async fn purge(&self, request: &PurgeRequest) -> Result<Value, AdminFailure> {
        let body = serde_json::to_value(request).expect("a purge request serializes");
        self.call(Method::POST, &["api", "purge"], &[], Some(body))
            .await
    }

    /// `GET /api/overview`: readiness, counts, limits.
    pub(super) async fn overview(&self) -> Result<Value, AdminFailure> {
        self.call(Method::GET, &["api", "overview"], &[], None)
            .await
    }

    /// The admin address, for messages.
    fn shown(&self) -> String {
        without_secrets(&self.base)
    }

    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, AdminFailure> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                AdminFailure::usage(format!("--url {} cannot have a path", self.shown()))
            })?
            .pop_if_empty()
            .extend(path);
        let mut request = self.client.request(method, url).query(query);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body = self.body(response).await?;
        let text = String::from_utf8_lossy(&body);
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                AdminFailure::unreachable(format!(
                    "{} answered {} with what is not JSON ({e}); is it a server's admin \
                     address (serve --admin ADDR)?",
                    self.shown(),
                    path.join("/")
                ))
            });
        }
        Err(self.refusal(status, &text))
    }

    /// An answer's body, at most [`MAX_BODY`] bytes of it.
    async fn body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, AdminFailure> {
        let too_large = || {
            AdminFailure::unreachable(format!(
                "{} answered with more than {} MiB, which the admin API never does; is it a \
                 server's admin address (serve --admin ADDR)?",
                self.shown(),
                MAX_BODY / (1024 * 1024)
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Why a request got no answer.
    fn unreachable(&self, e: &reqwest::Error) -> AdminFailure {
        let url = self.shown();
        AdminFailure::unreachable(if e.is_connect() {
            format!("no admin API at {url}: is the server running with --admin?")
        } else if e.is_timeout() {
            format!("the admin API at {url} did not answer within {REQUEST_TIMEOUT:?}")
        } else {
            format!(
                "talking to the admin API at {url} failed: {}",
                error_chain(e)
            )
        })
    }

    /// What an error answer means, and how the command ends.
    fn refusal(&self, status: StatusCode, body: &str) -> AdminFailure {
        let url = self.shown();
        let error = serde_json::from_str::<Value>(body).ok().and_then(|v| {
            let error = v.get("error")?;
            Some((
                error.get("code")?.as_str()?.to_owned(),
                error.get("message")?.as_str()?.to_owned(),
            ))
        });
        let Some((code, message)) = error else {
            return AdminFailure::unreachable(format!(
                "{url} answered HTTP {status}, not as the admin API does; is it a server's \
                 admin address (serve --admin ADDR), not its MCP endpoint?"
            ));
        };
        match (status, code.as_str()) {
            (StatusCode::UNAUTHORIZED, _) if self.token.is_some() => AdminFailure::unreachable(
                format!("the admin token was refused by {url}; check --token/--token-file"),
            ),
            (StatusCode::UNAUTHORIZED, _) => AdminFailure::unreachable(format!(
                "the admin API at {url} needs the admin token: pass --token-file FILE (the \
                 server's --admin-token-file), or set MCP_TASKS_ADMIN_TOKEN"
            )),
            // A path the listener does not serve: --url is not its admin address.
            (_, "unknown_route") => AdminFailure::unreachable(format!(
                "no admin API at {url}, which answered: {message}; give --url the server's \
                 --admin address, such as http://127.0.0.1:9090"
            )),
            (_, "not_found" | "conflict" | "unavailable") => AdminFailure::refused(message),
            (_, "bad_request") => AdminFailure::new(AdminExit::Usage, message),
            _ => AdminFailure::unreachable(format!("{url} answered HTTP {status}: {message}")),
        }
    }
}

/// `url` without a password or fragment, for messages.
fn without_secrets(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    let _ = url.set_password(None);
    url.to_string()
}

/// An error and its sources, `a: b: c`: reqwest's own message alone says only "error sending
/// request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_url_brings_its_token_and_keeps_it_out_of_messages() {
        let api = HttpAdmin::new("http://127.0.0.1:9090/#token=abc", None).unwrap();
        assert_eq!(api.token.as_deref(), Some("abc"));
        assert_eq!(api.shown(), "http://127.0.0.1:9090/");
        let api = HttpAdmin::new("http://127.0.0.1:9090/#token=abc", Some("given".into())).unwrap();
        assert_eq!(api.token.as_deref(), Some("given"), "a given token wins");
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        for bad in [
            "127.0.0.1:9090",
            "localhost:9090",
            "https://admin.example",
            "not a url",
            "http://",
        ] {
            let err = HttpAdmin::new(bad, None).unwrap_err();
            assert_eq!(err.exit, AdminExit::Usage, "{bad}: {}", err.message);
            assert!(
                err.message.contains("is not an http:// URL"),
                "{}",
                err.message
            );
        }
        let err = HttpAdmin::new("ftp://x/#token=secret", None).unwrap_err();
        assert!(!err.message.contains("secret"), "{}", err.message);
    }

    #[test]
    fn error_answers_map_to_exit_statuses() {
        let api = HttpAdmin::new("http://127.0.0.1:9/", Some("t".into())).unwrap();
        let body = |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"m {code}"}}}}"#);
        let cases = [
            (StatusCode::NOT_FOUND, body("not_found"), AdminExit::Refused),
            (
                StatusCode::NOT_FOUND,
                body("unknown_route"),
                AdminExit::Unreachable,
            ),
            (StatusCode::CONFLICT, body("conflict"), AdminExit::Refused),
            (
                StatusCode::BAD_REQUEST,
                body("bad_request"),
                AdminExit::Usage,
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                body("internal"),
                AdminExit::Unreachable,
            ),
            (
                StatusCode::NOT_FOUND,
                "Not Found".to_owned(),
                AdminExit::Unreachable,
            ),
        ];
        for (status, text, exit) in cases {
            assert_eq!(api.refusal(status, &text).exit, exit, "{status} {text}");
        }
        let refused = api.refusal(StatusCode::UNAUTHORIZED, &body("unauthorized"));
        assert_eq!(refused.exit, AdminExit::Unreachable);
        assert_eq!(
            refused.message,
            "the admin token was refused by http://127.0.0.1:9/; check --token/--token-file"
        );
        let anonymous = HttpAdmin::new("http://127.0.0.1:9/", None).unwrap();
        let needed = anonymous.refusal(StatusCode::UNAUTHORIZED, &body("unauthorized"));
        assert!(
            needed.message.contains("needs the admin token"),
            "{}",
            needed.message
        );
    }
}

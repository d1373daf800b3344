//! The admin listener: health, metrics, a JSON API over every owner's tasks, and the web
//! dashboard, on an address of its own (issue 15 items 2 to 4).
//!
//! Why a second listener rather than more routes on the MCP endpoint: the MCP endpoint's
//! bearer tokens name task owners, and each sees only its own tasks (T-SEC-1). An operator sees
//! every owner's, so the admin API takes one token of its own ([`AdminToken`]) that no MCP
//! client holds, and it can stay on loopback or a private network while MCP is public. A
//! scraper, a load balancer's health check and the dashboard all come here, never to `/mcp`.
//!
//! | route | token | answers |
//! |---|---|---|
//! | `GET /healthz` | no | `{"status":"ok"}` while the process serves |
//! | `GET /`, `/assets/app.js`, `/assets/app.css` | no | the dashboard, embedded in the binary |
//! | `GET /readyz` | yes | 200 when the store answers (and, shared, the lease is held); 503 otherwise and once shutdown began |
//! | `GET /metrics` | yes | OpenMetrics text: engine, runtime and store gauges |
//! | `GET /api/overview` | yes | who serves, readiness, counts by status and owner, limits, sessions |
//! | `GET /api/tasks` | yes | every owner's tasks, newest first, filtered and paged |
//! | `GET /api/tasks/{id}` | yes | one task and its history, 1000 events a page (`?after=SEQ`, `historyMore`) |
//! | `POST /api/tasks/{id}/cancel` | yes | cancels a live task (409 when it ended) |
//! | `POST /api/purge` | yes | deletes finished tasks older than a time |
//! | `GET /api/events` | yes | an SSE stream with one `task` event per change |
//!
//! The page loads without the token because it holds no data: it asks for the token and sends
//! it on every API call. Errors are `{"error":{"code","message"}}` ([`view::ErrorBody`]).
//!
//! The JSON shapes are public ([`view`]) and so is the parsing of the task filters
//! ([`query`]), so `mcp-tasks admin` on a store no server holds prints exactly what this API
//! answers.
//!
//! A server gets the listener from [`ServerBuilder::admin`](crate::server::ServerBuilder::admin):
//! it binds in `build` (a busy port is a build error naming the address), serves beside
//! `serve_stdio` or `serve_http`, answers `/readyz` with 503 once shutdown began, and stops
//! with the server.

mod api;
mod assets;
mod auth;
mod counts;
mod error;
mod events;
mod health;
mod metrics;
pub mod query;
mod serve;
pub mod view;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;

pub(crate) use serve::{spawn, Bound, Context};

/// Where the admin listener listens, and the token its API takes.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    /// The address to bind; port 0 picks a free one ([`AdminListening::addr`] tells which).
    pub addr: SocketAddr,
    /// The token every API request carries as `Authorization: Bearer`.
    pub token: AdminToken,
}

impl AdminOptions {
    /// Listens on `addr`, taking `token`.
    pub fn new(addr: SocketAddr, token: AdminToken) -> Self {
        Self { addr, token }
    }
}

/// The shortest admin token the listener takes without a warning. Shorter ones still work
/// (a test or a loopback listener may want one), but nothing throttles wrong guesses.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The admin API's bearer token: read from a file, or generated at start.
///
/// Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct AdminToken {
    secret: String,
    generated: bool,
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminToken")
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

/// The most of a token file read: a token is a line far shorter than this, and a bigger first
/// line means the path names something else.
pub const MAX_TOKEN_FILE_LINE: usize = 4096;

/// The first line of the token file at `path`, without its line end, reading at most
/// [`MAX_TOKEN_FILE_LINE`] bytes. Shared by the server's `--admin-token-file` and the
/// `admin` command's `--token-file`.
///
/// A directory or a device is refused before reading; a pipe (`<(pass show admin)`) is read
/// up to its first line end.
///
/// # Errors
///
/// The file cannot be opened or read, is no file, or its first line is too long or not UTF-8.
pub fn read_first_line(path: &Path) -> Result<String, TokenError> {
    use std::io::{BufRead as _, BufReader, Read as _};

    let read_error = |cause| TokenError::Read {
        path: path.to_owned(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let kind = file.metadata().map_err(read_error)?.file_type();
    if !is_readable_kind(kind) {
        return Err(TokenError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_TOKEN_FILE_LINE).unwrap_or(u64::MAX) + 1;
    BufReader::new(file.take(limit))
        .read_until(b'\n', &mut line)
        .map_err(read_error)?;
    let not_a_token = |problem| TokenError::NotAToken {
        path: path.to_owned(),
        problem,
    };
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > MAX_TOKEN_FILE_LINE {
        return Err(not_a_token("longer than 4096 bytes"));
    }
    String::from_utf8(line).map_err(|_| not_a_token("not UTF-8 text"))
}

/// Whether a file of this kind can hold a token: a regular file, or a pipe (process
/// substitution); not a directory or a device.
fn is_readable_kind(kind: std::fs::FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        kind.is_file() || kind.is_fifo()
    }
    #[cfg(not(unix))]
    {
        kind.is_file()
    }
}

/// Why a token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file cannot be read. The cause is part of the message and not also a
    /// `source`, so a chain printed with `{:#}` says it once.
    #[error("cannot read the admin token file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The path names a directory or a device (`/dev/zero`, `/dev/urandom`), which holds no
    /// token and which a read would never finish or fill memory with.
    #[error(
        "the admin token file {} is not a file (a directory or a device); give a file holding \
         the token on its first line",
        path.display()
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The first line is longer than any token, or is not text: not a token file.
    #[error(
        "the admin token file {} does not start with a token: its first line is {problem}; \
         write the token alone on the first line",
        path.display()
    )]
    NotAToken {
        /// The file.
        path: PathBuf,
        /// What is wrong with its first line.
        problem: &'static str,
    },
    /// The file's first line holds nothing.
    #[error(
        "the admin token file {} is empty; write a long random token on its first line, such \
         as the output of `openssl rand -hex 32`",
        path.display()
    )]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The token is empty.
    #[error("the admin token is empty; use a long random one, such as `openssl rand -hex 32`")]
    Empty,
    /// The token holds a character an HTTP header cannot carry.
    #[error(
        "the admin token holds {0:?}, which an Authorization header cannot carry; use visible \
         ASCII only, such as the output of `openssl rand -hex 32`"
    )]
    BadCharacter(char),
}

impl AdminToken {
    /// A token given as text.
    ///
    /// # Errors
    ///
    /// [`TokenError::Empty`], or [`TokenError::BadCharacter`] for whitespace, control or
    /// non-ASCII characters, which no client could send in a header.
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        let secret = token.into();
        if secret.is_empty() {
            return Err(TokenError::Empty);
        }
        if let Some(c) = secret.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(TokenError::BadCharacter(c));
        }
        Ok(Self {
            secret,
            generated: false,
        })
    }

    /// The token on the first line of the file at `path`, trimmed.
    ///
    /// # Errors
    ///
    /// The file cannot be read, its first line is blank, or the token holds a character no
    /// header can carry; each message names the file.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let first = read_first_line(path)?;
        let first = first.trim();
        if first.is_empty() {
            return Err(TokenError::EmptyFile {
                path: path.to_owned(),
            });
        }
        Self::new(first)
    }

    /// A fresh token: 32 random bytes, base64url. The server logs it with a login URL
    /// ([`AdminListening::login_url`]), since nobody else knows it.
    ///
    /// # Panics
    ///
    /// When the operating system provides no random bytes.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
        Self {
            secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
            generated: true,
        }
    }

    /// Whether the token is shorter than [`MIN_TOKEN_CHARS`]; the listener warns of it at
    /// start.
    pub fn is_short(&self) -> bool {
        self.secret.len() < MIN_TOKEN_CHARS
    }

    /// Whether this token was generated rather than given.
    pub fn is_generated(&self) -> bool {
        self.generated
    }

    /// The secret, to send as `Authorization: Bearer` (or put in a login URL).
    pub fn as_str(&self) -> &str {
        &self.secret
    }
}

/// The admin listener of a built server: where it listens.
///
/// Its `Debug` shows the login URL without the token in it.
#[derive(Clone)]
pub struct AdminListening {
    addr: SocketAddr,
    login_url: Option<String>,
}

impl fmt::Debug for AdminListening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminListening")
            .field("addr", &self.addr)
            .field(
                "login_url",
                &self
                    .login_url
                    .as_ref()
                    .map(|_| format!("http://{}/#token=<redacted>", self.addr)),
            )
            .finish()
    }
}

impl AdminListening {
    /// The bound address (the real port when `:0` was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`: the dashboard, and the base of the API.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `http://ADDR/#token=TOKEN` when the token was generated, so the operator can log in
    /// without typing it; `None` for a token from a file, which the operator has. The token
    /// rides in the fragment, which a browser never sends to the server or its logs.
    pub fn login_url(&self) -> Option<&str> {
        self.login_url.as_deref()
    }
}

/// What reports the health of the server a gateway stands in front of: the admin overview's
/// `upstream` and the `mcp_tasks_upstream_*` metrics. A [`Gateway`](crate::gateway::Gateway)
/// registers one with [`ServerBuilder::upstream`](crate::server::ServerBuilder::upstream).
pub trait UpstreamProbe: Send + Sync + fmt::Debug + 'static {
    /// The connection now.
    fn status(&self) -> UpstreamStatus;
}

/// The connection to an upstream server, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamStatus {
    /// Up, down, or being started again.
    pub state: UpstreamState,
    /// How often the connection was made again after the first.
    pub restarts: u64,
    /// Why it last went down, kept after it is up again; `None` if it never did.
    pub last_error: Option<String>,
}

/// See [`UpstreamStatus::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    /// Connected: calls go out.
    Up,
    /// Not connected; the gateway waits out its backoff (or is stopping).
    Down,
    /// A new connection is being made.
    Starting,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 item 2: the token file's first line, trimmed; an empty file is refused with a
    /// message naming it.
    #[test]
    fn token_files_give_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-token");
        std::fs::write(&path, "  s3cret-token-value  \nsecond line\n").unwrap();
        assert_eq!(
            AdminToken::from_file(&path).unwrap().as_str(),
            "s3cret-token-value"
        );
        std::fs::write(&path, "\n\n").unwrap();
        let err = AdminToken::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("empty") && err.contains("admin-token"),
            "{err}"
        );
        let err = AdminToken::from_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read") && err.contains("missing"),
            "{err}"
        );
        // Review-ux 2.4: the cause is in the message, and not a source as well, which a
        // chain printed with `{:#}` would repeat.
        let missing = AdminToken::from_file(&dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("os error"), "{missing}");
        assert!(std::error::Error::source(&missing).is_none(), "{missing}");
        assert!(matches!(
            AdminToken::new("two words"),
            Err(TokenError::BadCharacter(' '))
        ));
    }

    /// Review-ux 2.3: a token file is read at most 4 KiB deep; a device or directory is
    /// refused before reading, and a long or binary first line is no token.
    #[test]
    fn token_files_are_read_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        for not_a_file in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let path = Path::new(not_a_file);
            if path.exists() {
                let err = AdminToken::from_file(path).unwrap_err();
                assert!(matches!(err, TokenError::NotAFile { .. }), "{err}");
                assert!(err.to_string().contains("is not a file"), "{err}");
            }
        }
        let err = AdminToken::from_file(dir.path()).unwrap_err();
        assert!(matches!(err, TokenError::NotAFile { .. }), "{err}");
        let long = dir.path().join("long");
        std::fs::write(&long, "x".repeat(MAX_TOKEN_FILE_LINE + 1)).unwrap();
        let err = AdminToken::from_file(&long).unwrap_err().to_string();
        assert!(err.contains("longer than 4096 bytes"), "{err}");
        let binary = dir.path().join("binary");
        std::fs::write(&binary, b"\xff\xfe\n").unwrap();
        let err = AdminToken::from_file(&binary).unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
        let exact = dir.path().join("exact");
        std::fs::write(&exact, format!("{}\nmore", "t".repeat(MAX_TOKEN_FILE_LINE))).unwrap();
        assert_eq!(
            AdminToken::from_file(&exact).unwrap().as_str().len(),
            MAX_TOKEN_FILE_LINE
        );
    }

    #[test]
    fn generated_tokens_are_long_url_safe_and_fresh() {
        let a = AdminToken::generate();
        let b = AdminToken::generate();
        assert!(a.is_generated());
        assert_eq!(a.as_str().len(), 43);
        assert!(a
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.as_str(), b.as_str());
        assert!(!format!("{a:?}").contains(a.as_str()));
        assert!(!a.is_short());
    }

    /// Review item 8: a listener's `Debug` (part of a built server's) keeps its login URL's
    /// token out.
    #[test]
    fn a_listener_debug_hides_the_token() {
        let token = AdminToken::generate();
        let addr: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        let listening = AdminListening {
            addr,
            login_url: Some(format!("http://{addr}/#token={}", token.as_str())),
        };
        let shown = format!("{listening:?}");
        assert!(!shown.contains(token.as_str()), "{shown}");
        assert!(shown.contains("127.0.0.1:9090"), "{shown}");
    }

    #[test]
    fn tokens_under_sixteen_characters_are_short() {
        assert!(AdminToken::new("fifteen-chars-x").unwrap().is_short());
        assert!(!AdminToken::new("sixteen-chars-xx").unwrap().is_short());
    }
}

//! Opening a store from its URL: `memory`, `sqlite`, `sqlite:PATH`, `postgres://…`.
//!
//! A server (the `mcp-tasks` binary, or one a Rust author builds on the runtime) names its
//! store with one string, so the parsing and the opening live here, once, rather than in each
//! server. A PostgreSQL address may hold a password: nothing here shows one, neither in
//! `Display`/`Debug` nor in an error message, because settings end up in logs and terminals.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::store::{MemoryStore, TaskStore};
use crate::Error;

/// The file a bare `sqlite` URL opens, inside [`default_sqlite_path`]'s directory.
pub const DEFAULT_SQLITE_FILE: &str = "tasks.sqlite3";

/// A parsed store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory`: tasks end with the process.
    Memory,
    /// `sqlite` (the default file, `None`) or `sqlite:PATH`. The path is kept as written:
    /// relative paths resolve against the working directory when the store opens.
    Sqlite(Option<PathBuf>),
    /// `postgres://…` or `postgresql://…`: tasks shared by every instance on the database.
    Postgres(PgUrl),
}

/// A checked PostgreSQL address. It shows (`Display` and `Debug`) without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    url: String,
    label: String,
}

impl PgUrl {
    /// The address to connect to, password included; never for messages.
    pub fn secret(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// Why a store URL was refused. No variant holds a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreUrlError {
    /// `sqlite:` with nothing after the colon.
    #[error("store {0:?} names no file; use sqlite for the default file or sqlite:PATH")]
    NoFile(String),
    /// Not a scheme this engine knows; the value is shown with any password hidden.
    #[error(
        "unknown store {0:?}; use memory, sqlite, sqlite:PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    Unknown(String),
    /// A PostgreSQL address that does not parse, or asks for what this build cannot do.
    #[error(transparent)]
    Postgres(Error),
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(Self::Memory),
            "sqlite" => Ok(Self::Sqlite(None)),
            _ => match s.strip_prefix("sqlite:") {
                Some("") => Err(StoreUrlError::NoFile(s.to_owned())),
                Some(path) => Ok(Self::Sqlite(Some(PathBuf::from(path)))),
                None if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                    Ok(Self::Postgres(PgUrl {
                        url: s.to_owned(),
                        label: pg_label(s)?,
                    }))
                }
                None => Err(StoreUrlError::Unknown(shown(s))),
            },
        }
    }
}

#[cfg(feature = "postgres")]
fn pg_label(s: &str) -> Result<String, StoreUrlError> {
    crate::PostgresStore::check_url(s).map_err(StoreUrlError::Postgres)
}

/// Without the PostgreSQL store the address cannot be checked; [`StoreUrl::open`] refuses it.
#[cfg(not(feature = "postgres"))]
fn pg_label(s: &str) -> Result<String, StoreUrlError> {
    Ok(redact(s))
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(None) => f.write_str("sqlite"),
            Self::Sqlite(Some(path)) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => url.fmt(f),
        }
    }
}

/// A store value as it may be shown: whatever follows a `:` before an `@` (a password) hidden.
pub fn redact(s: &str) -> String {
    match (s.find("://"), s.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &s[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &s[..scheme + 3], &s[at..]),
                None => s.to_owned(),
            }
        }
        _ => s.to_owned(),
    }
}

/// An unknown store value as an error may show it: without its query (`?password=…`), with a
/// URL's password hidden, and not at all when it looks like a `key=value` connection string,
/// which may hold a password anywhere.
fn shown(s: &str) -> String {
    let s = s.split_once('?').map_or(s, |(before, _)| before);
    if s.contains('=') {
        return "(a key=value connection string, not shown)".to_owned();
    }
    redact(s)
}

/// `<platform data dir>/mcp-tasks/tasks.sqlite3` (for example
/// `~/.local/share/mcp-tasks/tasks.sqlite3`), or `None` when no home directory is known.
pub fn default_sqlite_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "mcp-tasks")
        .map(|dirs| dirs.data_dir().join(DEFAULT_SQLITE_FILE))
}

/// How a store opened from a URL is set up; each backend reads only its own part.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// For `sqlite` URLs.
    #[cfg(feature = "sqlite")]
    pub sqlite: crate::SqliteOptions,
    /// For `postgres://` URLs.
    #[cfg(feature = "postgres")]
    pub postgres: crate::PostgresOptions,
}

impl StoreUrl {
    /// Whether several server instances may share the store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The same URL with a bare `sqlite` resolved to [`default_sqlite_path`] and a relative
    /// SQLite path made absolute, so messages name the file that is really opened.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when no home directory is known for the default file, or the working
    /// directory cannot be read.
    pub fn resolved(self) -> Result<Self, Error> {
        let Self::Sqlite(path) = self else {
            return Ok(self);
        };
        let path = match path {
            Some(path) => path,
            None => default_sqlite_path().ok_or_else(|| {
                Error::store(
                    "no home directory is known, so there is no default place for the task \
                     store; name a file with sqlite:PATH (or use memory)",
                )
            })?,
        };
        let path = std::path::absolute(&path).map_err(|e| {
            Error::store(format!(
                "cannot make the store path {} absolute: {e}",
                path.display()
            ))
        })?;
        Ok(Self::Sqlite(Some(path)))
    }

    /// Opens the store: memory at once; SQLite after creating the file's directory;
    /// PostgreSQL by connecting and migrating.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] naming the store (never its password) and the fix: an unusable file
    /// or directory, an unreachable database, or a backend this build leaves out.
    pub async fn open(&self, options: &OpenOptions) -> Result<Arc<dyn TaskStore>, Error> {
        match self.clone().resolved()? {
            Self::Memory => Ok(Arc::new(MemoryStore::new())),
            Self::Sqlite(path) => {
                let path = path.unwrap_or_else(|| PathBuf::from(DEFAULT_SQLITE_FILE));
                open_sqlite(&path, options)
            }
            Self::Postgres(url) => open_postgres(&url, options).await,
        }
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &Path, options: &OpenOptions) -> Result<Arc<dyn TaskStore>, Error> {
    // SQLite creates the file but not its directory.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::store(format!(
                "cannot create the directory {} for the task store: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(Arc::new(crate::SqliteStore::open_with(
        path,
        options.sqlite.clone(),
    )?))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(path: &Path, _: &OpenOptions) -> Result<Arc<dyn TaskStore>, Error> {
    Err(Error::store(format!(
        "cannot open sqlite:{}: this build of the engine has no SQLite store (enable the \
         `sqlite` feature)",
        path.display()
    )))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &PgUrl, options: &OpenOptions) -> Result<Arc<dyn TaskStore>, Error> {
    Ok(Arc::new(
        crate::PostgresStore::connect_with(url.secret(), options.postgres.clone()).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &PgUrl, _: &OpenOptions) -> Result<Arc<dyn TaskStore>, Error> {
    Err(Error::store(format!(
        "cannot open {url}: this build of the engine has no PostgreSQL store (enable the \
         `postgres` feature)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_or_say_what_is_accepted() {
        assert_eq!("memory".parse::<StoreUrl>().unwrap(), StoreUrl::Memory);
        assert_eq!(
            "sqlite".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite(None)
        );
        assert_eq!(
            "sqlite:rel/t.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite(Some("rel/t.db".into()))
        );
        let err = "mysql://u:secret@db/tasks"
            .parse::<StoreUrl>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("use memory, sqlite, sqlite:PATH or postgres://"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        for leaky in [
            "host=db user=u password=hunter2",
            "mysql://db/tasks?password=hunter2",
        ] {
            let err = leaky.parse::<StoreUrl>().unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert!("sqlit:t.db"
            .parse::<StoreUrl>()
            .unwrap_err()
            .to_string()
            .contains("\"sqlit:t.db\""));
        assert!("sqlite:".parse::<StoreUrl>().is_err());
        assert!("Memory".parse::<StoreUrl>().is_err());
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_never_show_their_password() {
        let pg = "postgres://alice:secret@db:6543/tasks"
            .parse::<StoreUrl>()
            .unwrap();
        assert_eq!(pg.to_string(), "postgres://alice@db:6543/tasks");
        assert!(!format!("{pg:?}").contains("secret"));
        assert!(pg.is_shared());
        assert!("postgresql://db/tasks".parse::<StoreUrl>().is_ok());
        let err = "postgres://u:hunter2@db:port/tasks"
            .parse::<StoreUrl>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not valid") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_the_working_directory() {
        let url = StoreUrl::Sqlite(Some("rel/t.db".into()))
            .resolved()
            .unwrap();
        let want = std::env::current_dir().unwrap().join("rel/t.db");
        assert_eq!(url, StoreUrl::Sqlite(Some(want)));
        assert_eq!(StoreUrl::Memory.resolved().unwrap(), StoreUrl::Memory);
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_sqlite_url_opens_a_durable_store_creating_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/t.db");
        let url: StoreUrl = format!("sqlite:{}", path.display()).parse().unwrap();
        let store = url.open(&OpenOptions::default()).await.unwrap();
        assert!(!store.is_shared());
        assert!(path.exists(), "the file and its directories were created");
    }
}

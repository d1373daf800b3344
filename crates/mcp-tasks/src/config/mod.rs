//! The settings of `serve`: command-line flags over a TOML config file over defaults.
//!
//! Every setting has one flag and one config key. A flag that was given (or its environment
//! variable) wins; else the file's key; else the default written here and in `--help`. Range
//! checks are shared by both sources, so a value is refused the same way wherever it comes from.

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use mcp_tasks_engine::{ConfigError, EngineConfig, Limits, Synchronous};
use mcp_tasks_runtime::admin::AdminToken;
use mcp_tasks_runtime::server::RateLimit;
use mcp_tasks_runtime::transport::http::{self, BearerTokens};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::cli::{ServeArgs, SyncMode};

mod gateway;
mod oauth;

pub(crate) use gateway::GatewaySettings;

pub(crate) use mcp_tasks_engine::store::{PgUrl, StoreUrl};

/// A number, or `"unlimited"` (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OrUnlimited(pub(crate) Option<u64>);

impl fmt::Display for OrUnlimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("unlimited"),
        }
    }
}

/// The accepted range of one numeric setting, shared by its flag and its config key.
pub(crate) trait Bounds {
    /// The smallest value accepted.
    const MIN: u64;
    /// The largest value accepted.
    const MAX: u64;
}

macro_rules! bounds {
    ($($(#[$doc:meta])* $name:ident = $min:expr, $max:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $name;
        impl Bounds for $name {
            const MIN: u64 = $min;
            const MAX: u64 = $max;
        }
    )*};
}

bounds! {
    /// `tasks/list` page size.
    PageSize = 1, 1000;
    /// A ttl: never below the engine's minimum, so no task is expired at birth.
    TtlMs = mcp_tasks_engine::MIN_TTL.as_millis() as u64, u64::MAX;
    /// How often expired tasks are deleted.
    SweepMs = 10, 3_600_000;
    /// The `pollInterval` hint.
    PollMs = 1, 60_000;
    /// A body or line size.
    BodyBytes = 1024, 1024 * 1024 * 1024;
    /// A limit; 0 passes here and is refused by [`EngineConfig::validate`], which says why.
    Count = 0, u64::MAX;
    /// Task requests per second, or a burst of them, per requestor.
    Rate = 1, u32::MAX as u64;
    /// How long an HTTP session may stay idle.
    IdleSecs = 1, 7 * 24 * 3600;
    /// Open HTTP sessions.
    Sessions = 1, 10_000_000;
    /// PostgreSQL connections in the pool.
    PoolSize = 1, 1000;
    /// How long an instance stays alive on a shared store without renewing its lease.
    LeaseMs = 300, 3_600_000;
}

fn check<B: Bounds>(n: u64) -> Result<u64, String> {
    if (B::MIN..=B::MAX).contains(&n) {
        Ok(n)
    } else if B::MAX == u64::MAX {
        Err(format!("{n} is below the minimum {}", B::MIN))
    } else {
        Err(format!("{n} is not in {}..={}", B::MIN, B::MAX))
    }
}

/// clap's parser for a bounded number.
pub(crate) fn parse_bounded<B: Bounds>(s: &str) -> Result<u64, String> {
    let n = s
        .parse::<u64>()
        .map_err(|e| format!("{s:?} is not a non-negative integer: {e}"))?;
    check::<B>(n)
}

/// clap's parser for a bounded number or `unlimited`.
pub(crate) fn parse_or_unlimited<B: Bounds>(s: &str) -> Result<OrUnlimited, String> {
    if s == "unlimited" {
        return Ok(OrUnlimited(None));
    }
    let n = s
        .parse::<u64>()
        .map_err(|_| format!("{s:?} is neither a non-negative integer nor \"unlimited\""))?;
    check::<B>(n).map(|n| OrUnlimited(Some(n)))
}

/// serde's reader for an optional bounded number; toml adds the key and line to its error.
fn de_bounded<'de, D: Deserializer<'de>, B: Bounds>(d: D) -> Result<Option<u64>, D::Error> {
    let n = u64::deserialize(d)?;
    check::<B>(n).map(Some).map_err(de::Error::custom)
}

/// serde's reader for an optional bounded number or `"unlimited"`.
fn de_or_unlimited<'de, D: Deserializer<'de>, B: Bounds>(
    d: D,
) -> Result<Option<OrUnlimited>, D::Error> {
    struct V<B>(PhantomData<B>);
    impl<B: Bounds> Visitor<'_> for V<B> {
        type Value = OrUnlimited;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer or \"unlimited\"")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<OrUnlimited, E> {
            check::<B>(n)
                .map(|n| OrUnlimited(Some(n)))
                .map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<OrUnlimited, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
            }
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<OrUnlimited, E> {
            if s == "unlimited" {
                Ok(OrUnlimited(None))
            } else {
                Err(E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
    }
    d.deserialize_any(V::<B>(PhantomData)).map(Some)
}

/// The config file, as written. Every key is optional; an unknown one is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileConfig {
    store: StoreSection,
    ttl: TtlSection,
    limits: LimitsSection,
    audit: AuditSection,
    tasks: TasksSection,
    http: HttpSection,
    admin: AdminSection,
    oauth: oauth::OAuthSection,
    /// Read by `mcp-tasks gateway` only; `serve` ignores it, so one file serves both.
    gateway: gateway::GatewaySection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StoreSection {
    /// Text, parsed in [`merge`]: a parse error here would quote the line, password and all.
    url: Option<String>,
    synchronous: Option<SyncMode>,
    #[serde(deserialize_with = "de_bounded::<_, PoolSize>")]
    pool_size: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, LeaseMs>")]
    lease_ttl_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TtlSection {
    #[serde(deserialize_with = "de_or_unlimited::<_, TtlMs>")]
    default_ms: Option<OrUnlimited>,
    #[serde(deserialize_with = "de_or_unlimited::<_, TtlMs>")]
    max_ms: Option<OrUnlimited>,
    allow_unlimited: Option<bool>,
    #[serde(deserialize_with = "de_bounded::<_, SweepMs>")]
    sweep_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsSection {
    #[serde(deserialize_with = "de_or_unlimited::<_, Count>")]
    max_active_tasks: Option<OrUnlimited>,
    #[serde(deserialize_with = "de_or_unlimited::<_, Count>")]
    max_result_bytes: Option<OrUnlimited>,
    #[serde(deserialize_with = "de_or_unlimited::<_, Count>")]
    max_pending_inputs: Option<OrUnlimited>,
    #[serde(deserialize_with = "de_or_unlimited::<_, Count>")]
    max_stored_result_bytes: Option<OrUnlimited>,
    #[serde(deserialize_with = "de_or_unlimited::<_, Rate>")]
    rate_per_second: Option<OrUnlimited>,
    #[serde(deserialize_with = "de_bounded::<_, Rate>")]
    rate_burst: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AuditSection {
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TasksSection {
    #[serde(deserialize_with = "de_bounded::<_, PageSize>")]
    page_size: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, PollMs>")]
    poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HttpSection {
    listen: Option<SocketAddr>,
    #[serde(deserialize_with = "de_bounded::<_, BodyBytes>")]
    max_body_bytes: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, BodyBytes>")]
    max_body_bytes_in_flight: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    #[serde(deserialize_with = "de_bounded::<_, IdleSecs>")]
    session_idle_timeout_secs: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, Sessions>")]
    max_sessions: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, Sessions>")]
    max_stateless_requests: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, Sessions>")]
    max_sessions_per_client: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, Sessions>")]
    max_streams_per_client: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, Sessions>")]
    max_connections: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, Sessions>")]
    max_connections_per_client: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, IdleSecs>")]
    header_read_timeout_secs: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, IdleSecs>")]
    body_read_timeout_secs: Option<u64>,
    #[serde(deserialize_with = "de_bounded::<_, IdleSecs>")]
    write_stall_timeout_secs: Option<u64>,
    auth_tokens: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AdminSection {
    listen: Option<SocketAddr>,
    token_file: Option<PathBuf>,
}

impl FileConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not TOML, or holds an unknown key or a bad value; the
    /// message names the file, and toml's names the key, line and column.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        // toml's message spans lines (a snippet of the file) and ends with a newline.
        Self::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "invalid config file {}: {}",
                path.display(),
                e.to_string().trim_end()
            )
        })
    }

    fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Defaults, used when neither a flag nor the config file sets a value. `--help` and the README
/// repeat them.
mod defaults {
    pub(super) const DEFAULT_TTL_MS: u64 = 3_600_000;
    pub(super) const MAX_TTL_MS: u64 = 86_400_000;
    pub(super) const SWEEP_INTERVAL_MS: u64 = 1000;
    pub(super) const POLL_INTERVAL_MS: u64 = 250;
    pub(super) const PAGE_SIZE: u64 = 10;
    pub(super) const MAX_ACTIVE_TASKS: u64 = 1000;
    pub(super) const MAX_RESULT_BYTES: u64 = 16 * 1024 * 1024;
    pub(super) const MAX_PENDING_INPUTS: u64 = 16;
    pub(super) const MAX_STORED_RESULT_BYTES: u64 = 256 * 1024 * 1024;
    pub(super) const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
    pub(super) const RATE_PER_SECOND: u64 = 1000;
    pub(super) const SESSION_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
    pub(super) const MAX_SESSIONS: u64 = 10_000;
    pub(super) const MAX_STATELESS_REQUESTS: u64 = 10_000;
    pub(super) const MAX_SESSIONS_PER_CLIENT: u64 = 100;
    pub(super) const MAX_STREAMS_PER_CLIENT: u64 = 1000;
    pub(super) const PG_POOL_SIZE: u64 = 16;
    pub(super) const LEASE_TTL_MS: u64 = 15_000;
}

/// Where tasks are kept, resolved: an absolute SQLite path, a PostgreSQL database, or memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreSettings {
    /// A [`mcp_tasks_engine::MemoryStore`].
    Memory,
    /// A [`mcp_tasks_engine::SqliteStore`] at an absolute path.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Its durability mode.
        synchronous: Synchronous,
    },
    /// A [`mcp_tasks_engine::PostgresStore`], shared with other instances.
    Postgres {
        /// The database.
        url: PgUrl,
        /// Connections in the pool.
        pool_size: usize,
    },
}

impl fmt::Display for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite { path, .. } => write!(f, "sqlite:{}", path.display()),
            Self::Postgres { url, .. } => url.fmt(f),
        }
    }
}

/// Everything `serve` needs, merged and checked.
#[derive(Debug)]
pub(crate) struct ServeSettings {
    pub(crate) store: StoreSettings,
    pub(crate) engine: EngineConfig,
    /// `None` serves stdio.
    pub(crate) http: Option<SocketAddr>,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_body_bytes_in_flight: usize,
    pub(crate) allowed_origins: Vec<String>,
    /// `None` is unlimited.
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) session_idle_timeout: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) max_stateless_requests: usize,
    pub(crate) max_sessions_per_client: usize,
    pub(crate) max_streams_per_client: usize,
    /// Timeouts and the cap of HTTP connections.
    pub(crate) connections: http::ConnectionLimits,
    /// `None` serves anonymous sessions.
    pub(crate) auth: Option<AuthSettings>,
    /// OAuth access tokens instead of `auth`'s static ones.
    pub(crate) oauth: Option<std::sync::Arc<mcp_tasks_runtime::transport::http::OAuth>>,
    /// `None` runs no admin listener.
    pub(crate) admin: Option<AdminSettings>,
}

/// The admin listener: where, and its token.
#[derive(Debug)]
pub(crate) struct AdminSettings {
    pub(crate) addr: SocketAddr,
    /// From `--admin-token-file`, or generated (then printed at start with a login URL).
    pub(crate) token: AdminToken,
}

/// The admin listener's settings from the flags over the `[admin]` section. A listener
/// reachable from other machines must have a token chosen by the operator: a generated one is
/// printed to stderr, which ends up in logs that others read.
fn admin(args: &ServeArgs, section: AdminSection) -> anyhow::Result<Option<AdminSettings>> {
    let addr = args.admin.admin.or(section.listen);
    let file = args.admin.admin_token_file.clone().or(section.token_file);
    let Some(addr) = addr else {
        if file.is_some() {
            anyhow::bail!(
                "--admin-token-file ([admin] token_file) applies to the admin listener, and \
                 none is asked for: add --admin ADDR (or [admin] listen), such as \
                 --admin 127.0.0.1:9090"
            );
        }
        return Ok(None);
    };
    if file.is_none() && !addr.ip().is_loopback() {
        anyhow::bail!(
            "--admin {addr} is not a loopback address, so other machines could reach the admin \
             API, which reads and cancels every task: give it a token of your own with \
             --admin-token-file FILE (or [admin] token_file), or listen on 127.0.0.1"
        );
    }
    // Read now, so that a bad file is a usage error before anything listens.
    let token = match &file {
        Some(path) => AdminToken::from_file(path)?,
        None => AdminToken::generate(),
    };
    Ok(Some(AdminSettings { addr, token }))
}

/// Bearer auth of the HTTP endpoint: the tokens, and the file they came from.
#[derive(Debug)]
pub(crate) struct AuthSettings {
    pub(crate) file: PathBuf,
    pub(crate) tokens: BearerTokens,
}

impl AuthSettings {
    /// Reads the `SUBJECT TOKEN` file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or a line is bad (the message names the file and the line), or
    /// it holds no token.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the auth tokens file {}", path.display()))?;
        let tokens = BearerTokens::parse(&text)
            .map_err(|e| anyhow::anyhow!("invalid auth tokens file {}: {e}", path.display()))?;
        Ok(Self {
            file: path.to_owned(),
            tokens,
        })
    }
}

impl ServeSettings {
    /// Merges `args` over the config file they name (if any) over the defaults.
    ///
    /// # Errors
    ///
    /// The config file or the auth tokens file is unreadable or invalid, no default store path
    /// is known, or the settings contradict each other. All of these are usage errors (exit
    /// status 2).
    pub(crate) fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        Self::resolve_with_gateway(args, mcp_tasks_engine::store::default_sqlite_path)
            .map(|(settings, _)| settings)
    }

    /// [`ServeSettings::resolve`] with `default_store` as the default SQLite file, and the
    /// config file's `[gateway]` section.
    fn resolve_with_gateway(
        args: &ServeArgs,
        default_store: impl FnOnce() -> Option<PathBuf>,
    ) -> anyhow::Result<(Self, gateway::GatewaySection)> {
        let mut file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let section = std::mem::take(&mut file.gateway);
        let settings = merge(args, file, default_store)?;
        Ok((settings, section))
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn merge(
    args: &ServeArgs,
    file: FileConfig,
    default_store: impl FnOnce() -> Option<PathBuf>,
) -> anyhow::Result<ServeSettings> {
    // Parsed here rather than by clap or serde, whose errors quote the value: a PostgreSQL
    // address may hold a password.
    let url = match (&args.store, &file.store.url) {
        (Some(flag), _) => Some(
            flag.parse::<StoreUrl>()
                .map_err(|e| anyhow::anyhow!("invalid --store (or MCP_TASKS_STORE): {e}"))?,
        ),
        (None, Some(key)) => Some(
            key.parse::<StoreUrl>()
                .map_err(|e| anyhow::anyhow!("invalid [store] url in the config file: {e}"))?,
        ),
        (None, None) => None,
    };
    let pool_size = args.pg_pool_size.or(file.store.pool_size);
    let lease_ttl_ms = args.lease_ttl_ms.or(file.store.lease_ttl_ms);
    let shared = matches!(url, Some(StoreUrl::Postgres(_)));
    if !shared && (pool_size.is_some() || lease_ttl_ms.is_some()) {
        anyhow::bail!(
            "--pg-pool-size and --lease-ttl-ms ([store] pool_size and lease_ttl_ms) apply to a \
             PostgreSQL store only; pass --store postgres://USER@HOST:PORT/DATABASE or drop them"
        );
    }
    if shared && (args.sqlite_synchronous.is_some() || file.store.synchronous.is_some()) {
        anyhow::bail!(
            "--sqlite-synchronous ([store] synchronous) applies to a SQLite store only; \
             PostgreSQL commits are as durable as the server's own settings make them"
        );
    }
    let store = match url.unwrap_or(StoreUrl::Sqlite(None)) {
        StoreUrl::Memory => StoreSettings::Memory,
        StoreUrl::Postgres(url) => StoreSettings::Postgres {
            url,
            pool_size: to_usize(pool_size.unwrap_or(defaults::PG_POOL_SIZE)),
        },
        StoreUrl::Sqlite(path) => {
            let path = match path {
                Some(path) => path,
                None => default_store().context(
                    "no home directory is known, so there is no default place for the task \
                     store; pass --store sqlite:PATH (or --store memory)",
                )?,
            };
            let path = std::path::absolute(&path).with_context(|| {
                format!("cannot make the store path {} absolute", path.display())
            })?;
            let synchronous = match args.sqlite_synchronous.or(file.store.synchronous) {
                None | Some(SyncMode::Full) => Synchronous::Full,
                Some(SyncMode::Normal) => Synchronous::Normal,
            };
            StoreSettings::Sqlite { path, synchronous }
        }
    };

    let (default_ttl, max_ttl) = ttls(
        args.default_ttl_ms.or(file.ttl.default_ms),
        args.max_ttl_ms.or(file.ttl.max_ms),
    );
    let limit = |flag: Option<OrUnlimited>, key: Option<OrUnlimited>, default: u64| {
        flag.or(key)
            .unwrap_or(OrUnlimited(Some(default)))
            .0
            .map(to_usize)
    };
    let http = args.http.or(file.http.listen);
    let auth = match args.auth_tokens.as_ref().or(file.http.auth_tokens.as_ref()) {
        None => None,
        Some(_) if http.is_none() => anyhow::bail!(
            "--auth-tokens applies to --http: stdio serving has no credentials to check (set by \
             --auth-tokens, MCP_TASKS_AUTH_TOKENS or [http] auth_tokens; serve with --http ADDR \
             or [http] listen)"
        ),
        Some(path) => Some(AuthSettings::load(path)?),
    };
    let oauth = oauth::resolve(&args.oauth, file.oauth, http, auth.is_some())?;
    let admin = admin(args, file.admin)?;
    let engine = EngineConfig::default()
        .default_ttl(default_ttl)
        .max_ttl(max_ttl)
        .allow_unlimited_ttl(args.allow_unlimited_ttl || file.ttl.allow_unlimited.unwrap_or(false))
        .sweep_interval(ms(args
            .sweep_interval_ms
            .or(file.ttl.sweep_interval_ms)
            .unwrap_or(defaults::SWEEP_INTERVAL_MS)))
        .poll_interval(ms(args
            .poll_interval_ms
            .or(file.tasks.poll_interval_ms)
            .unwrap_or(defaults::POLL_INTERVAL_MS)))
        .page_size(to_usize(
            args.page_size
                .or(file.tasks.page_size)
                .unwrap_or(defaults::PAGE_SIZE),
        ))
        .limits(Limits {
            max_active_per_requestor: limit(
                args.max_active_tasks,
                file.limits.max_active_tasks,
                defaults::MAX_ACTIVE_TASKS,
            ),
            max_result_bytes: limit(
                args.max_result_bytes,
                file.limits.max_result_bytes,
                defaults::MAX_RESULT_BYTES,
            ),
            max_pending_inputs: limit(
                args.max_pending_inputs,
                file.limits.max_pending_inputs,
                defaults::MAX_PENDING_INPUTS,
            ),
            max_result_bytes_per_client: args
                .max_stored_result_bytes
                .or(file.limits.max_stored_result_bytes)
                .unwrap_or(OrUnlimited(Some(defaults::MAX_STORED_RESULT_BYTES)))
                .0,
        })
        .audit(args.audit || file.audit.enabled.unwrap_or(false))
        .lease_ttl(ms(lease_ttl_ms.unwrap_or(defaults::LEASE_TTL_MS)));
    engine
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} ({})", where_set(&e)))?;

    let connections = connections(args, &file.http);
    Ok(ServeSettings {
        store,
        engine,
        http,
        max_body_bytes: to_usize(
            args.max_body_bytes
                .or(file.http.max_body_bytes)
                .unwrap_or(defaults::MAX_BODY_BYTES),
        ),
        max_body_bytes_in_flight: args
            .max_body_bytes_in_flight
            .or(file.http.max_body_bytes_in_flight)
            .map_or(http::MAX_BODY_BYTES_IN_FLIGHT, to_usize),
        allowed_origins: if args.allowed_origin.is_empty() {
            file.http.allowed_origins.unwrap_or_default()
        } else {
            args.allowed_origin.clone()
        },
        rate_limit: rate_limit(
            args.rate_limit
                .or(file.limits.rate_per_second)
                .unwrap_or(OrUnlimited(Some(defaults::RATE_PER_SECOND))),
            args.rate_burst.or(file.limits.rate_burst),
        ),
        session_idle_timeout: Duration::from_secs(
            args.session_idle_timeout_secs
                .or(file.http.session_idle_timeout_secs)
                .unwrap_or(defaults::SESSION_IDLE_TIMEOUT_SECS),
        ),
        max_sessions: to_usize(
            args.max_sessions
                .or(file.http.max_sessions)
                .unwrap_or(defaults::MAX_SESSIONS),
        ),
        max_stateless_requests: to_usize(
            args.max_stateless_requests
                .or(file.http.max_stateless_requests)
                .unwrap_or(defaults::MAX_STATELESS_REQUESTS),
        ),
        max_sessions_per_client: to_usize(
            args.max_sessions_per_client
                .or(file.http.max_sessions_per_client)
                .unwrap_or(defaults::MAX_SESSIONS_PER_CLIENT),
        ),
        max_streams_per_client: to_usize(
            args.max_streams_per_client
                .or(file.http.max_streams_per_client)
                .unwrap_or(defaults::MAX_STREAMS_PER_CLIENT),
        ),
        connections,
        auth,
        oauth,
        admin,
    })
}

/// The HTTP connections' limits from the flags over the `[http]` section; the connection cap
/// defaults to what the process's descriptor limit allows, a client's share to a sixteenth
/// of the cap.
fn connections(args: &ServeArgs, file: &HttpSection) -> http::ConnectionLimits {
    let secs = |flag: Option<u64>, key: Option<u64>, default: Duration| {
        flag.or(key).map_or(default, Duration::from_secs)
    };
    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .map_or_else(http::default_max_connections, to_usize);
    http::ConnectionLimits {
        header_read_timeout: secs(
            args.header_read_timeout_secs,
            file.header_read_timeout_secs,
            http::HEADER_READ_TIMEOUT,
        ),
        body_read_timeout: secs(
            args.body_read_timeout_secs,
            file.body_read_timeout_secs,
            http::BODY_READ_TIMEOUT,
        ),
        write_stall_timeout: secs(
            args.write_stall_timeout_secs,
            file.write_stall_timeout_secs,
            http::WRITE_STALL_TIMEOUT,
        ),
        max_connections,
        max_connections_per_client: args
            .max_connections_per_client
            .or(file.max_connections_per_client)
            .map_or_else(
                || http::default_max_connections_per_client(max_connections),
                to_usize,
            ),
    }
}

/// The per-requestor rate limit: a burst of twice the rate unless one is given.
fn rate_limit(per_second: OrUnlimited, burst: Option<u64>) -> Option<RateLimit> {
    let nonzero = |n: u64| {
        std::num::NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(std::num::NonZeroU32::MIN)
    };
    let rate = per_second.0?;
    Some(RateLimit {
        per_second: nonzero(rate),
        burst: nonzero(burst.unwrap_or(rate.saturating_mul(2))),
    })
}

/// The default and maximum ttl (`None` is unlimited). One left unset follows the other, so
/// that lowering only the maximum, or raising only the default, is not a contradiction; both
/// set and contradicting is left for [`EngineConfig::validate`] to refuse.
fn ttls(
    default: Option<OrUnlimited>,
    max: Option<OrUnlimited>,
) -> (Option<Duration>, Option<Duration>) {
    // `None` inside is unlimited, which is above every number.
    let above = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a > b,
        (_, None) => false,
    };
    let (default, max) = match (default, max) {
        (Some(d), Some(m)) => (d.0, m.0),
        (Some(d), None) => {
            let max = Some(defaults::MAX_TTL_MS);
            (d.0, if above(d.0, max) { d.0 } else { max })
        }
        (None, Some(m)) => {
            let default = Some(defaults::DEFAULT_TTL_MS);
            (if above(default, m.0) { m.0 } else { default }, m.0)
        }
        (None, None) => (Some(defaults::DEFAULT_TTL_MS), Some(defaults::MAX_TTL_MS)),
    };
    (default.map(ms), max.map(ms))
}

/// The flags and keys behind a [`ConfigError`], so the message says what to edit.
fn where_set(e: &ConfigError) -> &'static str {
    match e {
        ConfigError::UnlimitedDefault => {
            "set by --default-ttl-ms or [ttl] default_ms; allow it with --allow-unlimited-ttl \
             or [ttl] allow_unlimited = true"
        }
        ConfigError::DefaultAboveMax { .. } => {
            "set by --default-ttl-ms or [ttl] default_ms, and --max-ttl-ms or [ttl] max_ms"
        }
        ConfigError::ZeroLimit { name } => match *name {
            "max_active_per_requestor" => {
                "set by --max-active-tasks or [limits] max_active_tasks; \"unlimited\" is no limit"
            }
            "max_result_bytes" => {
                "set by --max-result-bytes or [limits] max_result_bytes; \"unlimited\" is no limit"
            }
            "max_pending_inputs" => {
                "set by --max-pending-inputs or [limits] max_pending_inputs; \"unlimited\" is no \
                 limit"
            }
            "max_result_bytes_per_client" => {
                "set by --max-stored-result-bytes or [limits] max_stored_result_bytes; \
                 \"unlimited\" is no limit"
            }
            _ => "\"unlimited\" is no limit",
        },
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    const EXAMPLE: &str = include_str!("../../../../examples/mcp-tasks.toml");

    fn args(flags: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["mcp-tasks", "serve"].iter().chain(flags))
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        match cli.command {
            Command::Serve(args) => args.server,
            other => panic!("parsed as another command: {other:?}"),
        }
    }

    fn file(text: &str) -> FileConfig {
        FileConfig::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn settings(flags: &[&str], text: &str) -> anyhow::Result<ServeSettings> {
        merge(&args(flags), file(text), || {
            Some(PathBuf::from("/data/mcp-tasks/tasks.sqlite3"))
        })
    }

    fn file_error(text: &str) -> String {
        FileConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[], "").unwrap();
        assert_eq!(
            s.store,
            StoreSettings::Sqlite {
                path: "/data/mcp-tasks/tasks.sqlite3".into(),
                synchronous: Synchronous::Full
            }
        );
        let e = &s.engine;
        assert_eq!(e.default_ttl, Some(ms(3_600_000)));
        assert_eq!(e.max_ttl, Some(ms(86_400_000)));
        assert!(!e.allow_unlimited_ttl);
        assert_eq!(e.sweep_interval, ms(1000));
        assert_eq!(e.poll_interval, ms(250));
        assert_eq!(e.page_size, 10);
        assert_eq!(e.limits, Limits::default());
        assert!(!e.audit);
        assert_eq!(s.http, None);
        assert_eq!(s.max_body_bytes, 4 * 1024 * 1024);
        assert!(s.allowed_origins.is_empty());
        assert!(s.auth.is_none(), "no authentication unless asked");
    }

    /// A tokens file in a scratch directory, removed with it.
    fn tokens_file(dir: &testkit::store::TempStore, name: &str, text: &str) -> String {
        let path = dir.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// T-SEC-1: bearer auth comes from --auth-tokens or `[http] auth_tokens`, the flag first.
    #[test]
    fn auth_tokens_come_from_flag_or_file() {
        let dir = testkit::store::TempStore::new();
        let one = tokens_file(&dir, "one", "alice alice-token-0123456789\n");
        let two = tokens_file(
            &dir,
            "two",
            "alice alice-token-0123456789\nbob bob-token-0123456789ab\n",
        );
        let key = format!("[http]\nlisten = \"127.0.0.1:0\"\nauth_tokens = {one:?}");
        let from_file = settings(&[], &key).unwrap().auth.unwrap();
        assert_eq!(from_file.file, PathBuf::from(&one));
        assert_eq!(from_file.tokens.subjects(), 1);
        let from_flag = settings(&["--auth-tokens", &two], &key)
            .unwrap()
            .auth
            .unwrap();
        assert_eq!(from_flag.file, PathBuf::from(&two));
        assert_eq!(from_flag.tokens.subjects(), 2);
    }

    #[test]
    fn auth_tokens_need_http_and_a_good_file() {
        let dir = testkit::store::TempStore::new();
        let good = tokens_file(&dir, "good", "alice alice-token-0123456789\n");
        let err = settings(&["--auth-tokens", &good], "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--auth-tokens applies to --http"), "{err}");

        let bad = tokens_file(&dir, "bad", "# ok\nalice alice-token-0123456789\nbob\n");
        let err = settings(&["--http", "127.0.0.1:0", "--auth-tokens", &bad], "")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&bad) && err.contains("line 3"), "{err}");

        let missing = dir.dir().join("missing").display().to_string();
        let err = settings(&["--http", "127.0.0.1:0", "--auth-tokens", &missing], "").unwrap_err();
        assert!(format!("{err:#}").contains(&missing), "{err:#}");
    }

    /// Issue 15 item 2: the admin listener comes from --admin or `[admin] listen`, its token
    /// from --admin-token-file or `[admin] token_file`, flags first.
    #[test]
    fn the_admin_listener_comes_from_flags_or_file() {
        assert!(
            settings(&[], "").unwrap().admin.is_none(),
            "off unless asked"
        );
        let dir = testkit::store::TempStore::new();
        let one = tokens_file(&dir, "one", "  token-one  \nignored\n");
        let two = tokens_file(&dir, "two", "token-two\n");
        let text = format!("[admin]\nlisten = \"127.0.0.1:9090\"\ntoken_file = {one:?}");
        let from_file = settings(&[], &text).unwrap().admin.unwrap();
        assert_eq!(from_file.addr, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(from_file.token.as_str(), "token-one");
        assert!(!from_file.token.is_generated());
        assert!(
            !format!("{from_file:?}").contains("token-one"),
            "Debug hides the token"
        );

        let flags = ["--admin", "[::1]:0", "--admin-token-file", &two];
        let from_flags = settings(&flags, &text).unwrap().admin.unwrap();
        assert_eq!(from_flags.addr, "[::1]:0".parse().unwrap());
        assert_eq!(from_flags.token.as_str(), "token-two");

        let generated = settings(&["--admin", "127.0.0.1:0"], "")
            .unwrap()
            .admin
            .unwrap();
        assert!(
            generated.token.is_generated(),
            "a loopback listener may have a generated token"
        );
    }

    #[test]
    fn the_admin_listener_refuses_what_would_expose_it() {
        let dir = testkit::store::TempStore::new();
        let good = tokens_file(&dir, "good", "token\n");
        let empty = tokens_file(&dir, "empty", "\n  \nsecond line\n");
        let missing = dir.dir().join("missing").display().to_string();
        for (flags, text, needle) in [
            (
                vec!["--admin", "0.0.0.0:9090"],
                "",
                "--admin 0.0.0.0:9090 is not a loopback",
            ),
            (
                vec![],
                "[admin]\nlisten = \"192.0.2.1:9090\"",
                "--admin-token-file FILE",
            ),
            (
                vec!["--admin-token-file", good.as_str()],
                "",
                "add --admin ADDR",
            ),
            (
                vec![
                    "--admin",
                    "127.0.0.1:0",
                    "--admin-token-file",
                    empty.as_str(),
                ],
                "",
                "is empty",
            ),
            (
                vec![
                    "--admin",
                    "127.0.0.1:0",
                    "--admin-token-file",
                    missing.as_str(),
                ],
                "",
                &missing,
            ),
        ] {
            let err = format!("{:#}", settings(&flags, text).unwrap_err());
            assert!(err.contains(needle), "{flags:?} {text:?}: {err}");
        }
        let exposed = ["--admin", "0.0.0.0:0", "--admin-token-file", good.as_str()];
        assert!(
            settings(&exposed, "").unwrap().admin.is_some(),
            "with a token it may listen anywhere"
        );
        let err = file_error("[admin]\nlisten = \"localhost:9090\"");
        assert!(err.contains("listen") && err.contains("line 2"), "{err}");
        let err = file_error("[admin]\ntoken = \"x\"");
        assert!(err.contains("token") && err.contains("line 2"), "{err}");
    }

    /// T-SEC-3: the rate limit defaults to 1000/s with bursts of twice that, can be set from
    /// the file or a flag, and `unlimited` turns it off; the HTTP session settings likewise.
    #[test]
    fn rate_limit_and_session_settings() {
        let d = settings(&[], "").unwrap();
        let rate = d.rate_limit.unwrap();
        assert_eq!((rate.per_second.get(), rate.burst.get()), (1000, 2000));
        assert_eq!(d.session_idle_timeout, Duration::from_secs(1800));
        assert_eq!(d.max_sessions, 10_000);
        assert_eq!(d.max_stateless_requests, 10_000);

        let text = "[limits]\nrate_per_second = 5\n[http]\nmax_sessions = 3\nmax_stateless_requests = 4\nsession_idle_timeout_secs = 60";
        let f = settings(&[], text).unwrap();
        let rate = f.rate_limit.unwrap();
        assert_eq!((rate.per_second.get(), rate.burst.get()), (5, 10));
        assert_eq!(f.max_sessions, 3);
        assert_eq!(f.max_stateless_requests, 4);
        assert_eq!(f.session_idle_timeout, Duration::from_secs(60));

        let flags = settings(&["--rate-limit", "unlimited"], text).unwrap();
        assert_eq!(flags.rate_limit, None);
        let burst = settings(&["--rate-burst", "7"], text).unwrap();
        assert_eq!(burst.rate_limit.unwrap().burst.get(), 7);
        assert!(FileConfig::parse("[limits]\nrate_per_second = 0").is_err());
        assert!(FileConfig::parse("[http]\nmax_sessions = 0").is_err());
        assert!(FileConfig::parse("[http]\nmax_stateless_requests = 0").is_err());
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let text = r#"
            [store]
            url = "memory"
            [tasks]
            page_size = 20
            poll_interval_ms = 100
            [limits]
            max_active_tasks = 5
            [http]
            listen = "127.0.0.1:9000"
            allowed_origins = ["https://file.example"]
        "#;
        let from_file = settings(&[], text).unwrap();
        assert_eq!(from_file.store, StoreSettings::Memory);
        assert_eq!(from_file.engine.page_size, 20);
        assert_eq!(from_file.engine.poll_interval, ms(100));
        assert_eq!(from_file.engine.limits.max_active_per_requestor, Some(5));
        assert_eq!(from_file.http, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(from_file.allowed_origins, ["https://file.example"]);

        let flags = [
            "--store",
            "sqlite:/tmp/x.sqlite3",
            "--page-size",
            "30",
            "--max-active-tasks",
            "unlimited",
            "--http",
            "127.0.0.1:0",
            "--allowed-origin",
            "https://flag.example",
        ];
        let from_flags = settings(&flags, text).unwrap();
        assert_eq!(
            from_flags.store,
            StoreSettings::Sqlite {
                path: "/tmp/x.sqlite3".into(),
                synchronous: Synchronous::Full
            }
        );
        assert_eq!(from_flags.engine.page_size, 30);
        assert_eq!(from_flags.engine.poll_interval, ms(100), "file value kept");
        assert_eq!(from_flags.engine.limits.max_active_per_requestor, None);
        assert_eq!(from_flags.http, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(from_flags.allowed_origins, ["https://flag.example"]);
    }

    #[test]
    fn store_urls_parse_or_say_what_is_accepted() {
        let parse = |s: &str| s.parse::<StoreUrl>().map_err(|e| e.to_string());
        assert_eq!(parse("memory"), Ok(StoreUrl::Memory));
        assert_eq!(parse("sqlite"), Ok(StoreUrl::Sqlite(None)));
        assert_eq!(
            parse("sqlite:rel/t.db"),
            Ok(StoreUrl::Sqlite(Some("rel/t.db".into())))
        );
        assert_eq!(
            parse("sqlite:~/t.db"),
            Ok(StoreUrl::Sqlite(Some("~/t.db".into()))),
            "~ is not expanded"
        );
        let err = parse("mysql://u:secret@db/tasks").unwrap_err();
        assert!(
            err.contains("use memory, sqlite, sqlite:PATH or postgres://"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let pg = parse("postgres://alice:secret@db:6543/tasks").unwrap();
        assert_eq!(pg.to_string(), "postgres://alice@db:6543/tasks");
        assert!(!format!("{pg:?}").contains("secret"));
        assert!(parse("postgresql://db/tasks").is_ok());
        let err = parse("postgres://db:port/tasks").unwrap_err();
        assert!(err.contains("not valid"), "{err}");
        assert!(parse("sqlite:").is_err());
        assert!(parse("Memory").is_err());
    }

    #[test]
    fn relative_sqlite_paths_are_made_absolute_from_the_cwd() {
        let s = settings(&["--store", "sqlite:rel/t.db"], "").unwrap();
        let want = std::env::current_dir().unwrap().join("rel/t.db");
        assert_eq!(
            s.store,
            StoreSettings::Sqlite {
                path: want.clone(),
                synchronous: Synchronous::Full
            }
        );
        assert_eq!(s.store.to_string(), format!("sqlite:{}", want.display()));
        assert_eq!(StoreSettings::Memory.to_string(), "memory");
    }

    #[test]
    fn the_default_store_needs_a_home_directory() {
        let err = merge(&args(&[]), FileConfig::default(), || None).unwrap_err();
        assert!(err.to_string().contains("pass --store"), "{err}");
        // Memory needs none.
        assert!(
            merge(&args(&["--store", "memory"]), FileConfig::default(), || {
                None
            })
            .is_ok()
        );
    }

    #[test]
    fn synchronous_comes_from_flag_or_file() {
        let normal = |s: &ServeSettings| {
            matches!(
                s.store,
                StoreSettings::Sqlite {
                    synchronous: Synchronous::Normal,
                    ..
                }
            )
        };
        assert!(normal(
            &settings(&["--sqlite-synchronous", "normal"], "").unwrap()
        ));
        assert!(normal(
            &settings(&[], "[store]\nsynchronous = \"normal\"").unwrap()
        ));
        assert!(!normal(
            &settings(
                &["--sqlite-synchronous", "full"],
                "[store]\nsynchronous = \"normal\""
            )
            .unwrap()
        ));
    }

    #[test]
    fn unlimited_is_accepted_for_ttls_and_limits() {
        let s = settings(
            &[
                "--default-ttl-ms",
                "unlimited",
                "--allow-unlimited-ttl",
                "--max-result-bytes",
                "unlimited",
            ],
            "[limits]\nmax_pending_inputs = \"unlimited\"\nmax_active_tasks = 7",
        )
        .unwrap();
        assert_eq!(s.engine.default_ttl, None);
        assert_eq!(
            s.engine.max_ttl, None,
            "an unset maximum follows the default"
        );
        assert!(s.engine.allow_unlimited_ttl);
        assert_eq!(
            s.engine.limits,
            Limits {
                max_active_per_requestor: Some(7),
                max_result_bytes: None,
                max_pending_inputs: None,
                max_result_bytes_per_client: Some(256 * 1024 * 1024),
            }
        );
        let s = settings(&[], "[ttl]\nmax_ms = \"unlimited\"").unwrap();
        assert_eq!(s.engine.max_ttl, None);
        assert_eq!(s.engine.default_ttl, Some(ms(3_600_000)));
    }

    #[test]
    fn an_unset_ttl_follows_the_one_that_is_set() {
        let s = settings(&["--max-ttl-ms", "60000"], "").unwrap();
        assert_eq!(
            (s.engine.default_ttl, s.engine.max_ttl),
            (Some(ms(60_000)), Some(ms(60_000)))
        );
        let s = settings(&[], "[ttl]\ndefault_ms = 172800000").unwrap();
        assert_eq!(
            (s.engine.default_ttl, s.engine.max_ttl),
            (Some(ms(172_800_000)), Some(ms(172_800_000)))
        );
        let s = settings(&["--default-ttl-ms", "5000"], "").unwrap();
        assert_eq!(
            (s.engine.default_ttl, s.engine.max_ttl),
            (Some(ms(5000)), Some(ms(86_400_000)))
        );
    }

    #[test]
    fn contradictions_name_what_to_change() {
        let err = settings(
            &["--default-ttl-ms", "7200000", "--max-ttl-ms", "60000"],
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("above the maximum"), "{err}");
        assert!(err.contains("--max-ttl-ms"), "{err}");
        let err = settings(&[], "[ttl]\ndefault_ms = \"unlimited\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_unlimited"), "{err}");
        for (flag, name) in [
            ("--max-active-tasks", "max_active_per_requestor"),
            ("--max-result-bytes", "max_result_bytes"),
            ("--max-pending-inputs", "max_pending_inputs"),
            ("--max-stored-result-bytes", "max_result_bytes_per_client"),
        ] {
            let err = settings(&[flag, "0"], "").unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(flag), "{err}");
        }
        let err = settings(&[], "[limits]\nmax_active_tasks = 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[limits] max_active_tasks"), "{err}");
    }

    #[test]
    fn audit_comes_from_flag_or_file() {
        assert!(settings(&["--audit"], "").unwrap().engine.audit);
        assert!(
            settings(&[], "[audit]\nenabled = true")
                .unwrap()
                .engine
                .audit
        );
        assert!(
            !settings(&[], "[audit]\nenabled = false")
                .unwrap()
                .engine
                .audit
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key_and_line() {
        let err = file_error("[ttl]\ndefualt_ms = 5000\n");
        assert!(
            err.contains("defualt_ms") && err.contains("line 2"),
            "{err}"
        );
        let err = file_error("[storage]\nurl = \"memory\"\n");
        assert!(err.contains("storage"), "{err}");
        let err = file_error("page_size = 3\n");
        assert!(err.contains("page_size"), "{err}");
    }

    #[test]
    fn postgres_settings_apply_to_postgres_only() {
        let url = "postgres://alice:secret@db:5432/tasks";
        let s = settings(
            &[
                "--store",
                url,
                "--pg-pool-size",
                "4",
                "--lease-ttl-ms",
                "2000",
            ],
            "",
        )
        .unwrap();
        match &s.store {
            StoreSettings::Postgres { url: pg, pool_size } => {
                assert_eq!(pg.secret(), url);
                assert_eq!(*pool_size, 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.store.to_string(), "postgres://alice@db:5432/tasks");
        assert!(
            !format!("{s:?}").contains("secret"),
            "settings never show the password"
        );
        assert_eq!(s.engine.lease_ttl, ms(2000));
        let s = settings(
            &[],
            "[store]\nurl = \"postgresql://db/tasks\"\npool_size = 2",
        )
        .unwrap();
        assert!(matches!(
            s.store,
            StoreSettings::Postgres { pool_size: 2, .. }
        ));
        assert_eq!(s.engine.lease_ttl, ms(15_000));

        for (flags, file, needle) in [
            (
                &["--pg-pool-size", "4"][..],
                "",
                "apply to a PostgreSQL store only",
            ),
            (
                &[][..],
                "[store]\nlease_ttl_ms = 2000",
                "apply to a PostgreSQL store only",
            ),
            (
                &["--store", url, "--sqlite-synchronous", "normal"][..],
                "",
                "applies to a SQLite store only",
            ),
        ] {
            let err = settings(flags, file).unwrap_err().to_string();
            assert!(err.contains(needle), "{flags:?} {file:?}: {err}");
        }
        // Bad addresses are refused without showing their password, from a flag or the file.
        let bad = "postgres://u:hunter2@db:port/tasks";
        for (flags, file) in [
            (vec!["--store", bad], String::new()),
            (vec![], format!("[store]\nurl = \"{bad}\"")),
            (vec!["--store", "mysql://u:hunter2@db/tasks"], String::new()),
        ] {
            let err = format!("{:#}", settings(&flags, &file).unwrap_err());
            assert!(!err.contains("hunter2"), "{err}");
            assert!(
                err.contains("--store") || err.contains("[store] url"),
                "{err}"
            );
        }
        let err = Cli::try_parse_from(["mcp-tasks", "serve", "--lease-ttl-ms", "100"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("300"), "{err}");
    }

    #[test]
    fn each_bad_value_is_an_error_naming_the_key_and_line() {
        for (text, needles) in [
            ("[store]\nurl = 3", &["url", "string"]),
            ("[store]\nsynchronous = \"fast\"", &["synchronous", "fast"]),
            (
                "[ttl]\ndefault_ms = \"forever\"",
                &["default_ms", "\"unlimited\""],
            ),
            (
                "[ttl]\ndefault_ms = 10",
                &["default_ms", "below the minimum 1000"],
            ),
            ("[ttl]\nmax_ms = -1", &["max_ms", "-1"]),
            (
                "[ttl]\nallow_unlimited = \"yes\"",
                &["allow_unlimited", "bool"],
            ),
            (
                "[ttl]\nsweep_interval_ms = 5",
                &["sweep_interval_ms", "10..=3600000"],
            ),
            (
                "[limits]\nmax_active_tasks = -3",
                &["max_active_tasks", "-3"],
            ),
            (
                "[limits]\nmax_result_bytes = \"lots\"",
                &["max_result_bytes", "lots"],
            ),
            (
                "[limits]\nmax_pending_inputs = 1.5",
                &["max_pending_inputs", "integer"],
            ),
            ("[audit]\nenabled = 1", &["enabled", "bool"]),
            ("[tasks]\npage_size = 0", &["page_size", "1..=1000"]),
            (
                "[tasks]\npoll_interval_ms = 0",
                &["poll_interval_ms", "1..=60000"],
            ),
            ("[http]\nlisten = \"localhost\"", &["listen", "address"]),
            (
                "[http]\nmax_body_bytes = 10",
                &["max_body_bytes", "1024..="],
            ),
            (
                "[http]\nallowed_origins = \"https://a\"",
                &["allowed_origins", "sequence"],
            ),
        ] {
            let err = file_error(text);
            for needle in needles.iter().chain(&["line 2"]) {
                assert!(err.contains(needle), "{text}: no {needle:?} in {err}");
            }
        }
        let err = file_error("[tasks\npage_size = 3");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let err = FileConfig::load(Path::new("/nonexistent/mcp-tasks.toml")).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/mcp-tasks.toml"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_flag_values_are_refused_by_clap() {
        // (A bad --store is refused by `merge`, which does not echo a password.)
        for flags in [
            &["--default-ttl-ms", "500"][..],
            &["--max-ttl-ms", "forever"],
            &["--sweep-interval-ms", "1"],
            &["--page-size", "0"],
            &["--max-active-tasks", "-1"],
            &["--sqlite-synchronous", "off"],
            &["--log-format", "xml"],
        ] {
            let argv = ["mcp-tasks", "serve"].iter().chain(flags);
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{flags:?}");
        }
    }

    #[test]
    fn a_repeated_flag_takes_the_last_value() {
        let a = args(&["--store", "memory", "--store", "sqlite:/tmp/t.db"]);
        assert_eq!(a.store.as_deref(), Some("sqlite:/tmp/t.db"));
        let a = args(&[
            "--allowed-origin",
            "https://a",
            "--allowed-origin",
            "https://b",
        ]);
        assert_eq!(a.allowed_origin, ["https://a", "https://b"]);
    }

    #[test]
    fn the_example_file_parses_and_validates() {
        let s = merge(&args(&[]), file(EXAMPLE), || None).unwrap();
        assert!(matches!(s.store, StoreSettings::Sqlite { .. }));
        assert_eq!(s.engine.limits, Limits::default());
    }
}

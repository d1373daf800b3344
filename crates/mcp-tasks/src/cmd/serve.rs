//! `mcp-tasks serve`: the demo tools (or a fixture set) as tasks, on stdio or Streamable HTTP.

use anyhow::Context as _;
use mcp_tasks_engine::{OpenOptions, PostgresOptions, SqliteOptions, StoreUrl};
use mcp_tasks_runtime::admin::AdminOptions;
use mcp_tasks_runtime::server::{
    ctrl_c_or_sigterm, BuildError, ReadyServer, Server, ServerBuilder,
};
use mcp_tasks_runtime::transport::http;
use tokio_util::sync::CancellationToken;

use crate::cli::FixtureSet;
use crate::config::{AuthSettings, ServeSettings, StoreSettings};
use crate::{demo, fixtures, output};

/// Maps the settings onto the library's [`Server::builder`], which owns the lifecycle
/// (recovery, sweeper, leases, shutdown); this adds only the lines a person reads on stderr.
/// `fixtures` replaces the demo tools with a fixture set.
pub(crate) async fn run(
    settings: ServeSettings,
    fixtures: Option<FixtureSet>,
) -> anyhow::Result<()> {
    let stop = stop_on_signal();
    let builder = Server::builder("mcp-tasks", env!("CARGO_PKG_VERSION"))
        .tools(fixtures.map_or_else(demo::tools, fixtures::tools))
        .instructions(fixtures.map_or(
            "Demo tools of mcp-tasks. Slow tools run as tasks. In MCP 2026-07-28 the server \
             makes a slow call a task when the request declares the tasks extension: poll \
             tasks/get, answer its inputRequests with tasks/update. In 2025-11-25 add \
             params.task to the call, then poll tasks/get or block on tasks/result.",
            fixtures::instructions,
        ));
    let Some(ready) = build(configure(builder, &settings, &stop), &stop).await? else {
        return Ok(());
    };
    announce(&settings, &ready);
    if let Some(set) = fixtures {
        output::info(&format!(
            "serving the {} fixture tools instead of the demo tools",
            fixtures::name(set)
        ));
    }
    serve(ready, &settings).await
}

/// A token tripped by Ctrl-C or SIGTERM. Registered before the store opens (which may take a
/// while on PostgreSQL), so a signal from then on stops the server gracefully, and one during
/// start-up stops the start.
pub(crate) fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let signal = ctrl_c_or_sigterm();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            signal.await;
            stop.cancel();
            output::info("shutting down");
        }
    });
    stop
}

/// Maps the settings onto the library's [`Server::builder`], which owns the lifecycle
/// (recovery, sweeper, leases, shutdown on `stop`).
pub(crate) fn configure(
    builder: ServerBuilder,
    settings: &ServeSettings,
    stop: &CancellationToken,
) -> ServerBuilder {
    let (url, open) = store(&settings.store);
    let builder = match &settings.admin {
        Some(admin) => builder.admin(AdminOptions::new(admin.addr, admin.token.clone())),
        None => builder,
    };
    builder
        .store(url)
        .open_options(open)
        .engine_config(settings.engine.clone())
        .rate_limit(settings.rate_limit)
        .max_line_bytes(settings.max_body_bytes)
        .http_config(http::HttpConfig {
            max_body_bytes: settings.max_body_bytes,
            max_body_bytes_in_flight: settings.max_body_bytes_in_flight,
            origins: http::OriginPolicy::new(settings.allowed_origins.clone()),
            session_idle_timeout: settings.session_idle_timeout,
            max_sessions: settings.max_sessions,
            max_stateless_requests: settings.max_stateless_requests,
            max_sessions_per_client: settings.max_sessions_per_client,
            max_streams_per_client: settings.max_streams_per_client,
            connections: settings.connections.clone(),
            auth: match (&settings.auth, &settings.oauth) {
                (_, Some(oauth)) => Some(oauth.clone().into()),
                (Some(auth), None) => Some(auth.tokens.clone().into()),
                (None, None) => None,
            },
            ..http::HttpConfig::default()
        })
        .shutdown_signal(stop.clone().cancelled_owned())
}

/// Opens the store and recovers; `None` when a signal came first.
pub(crate) async fn build(
    builder: ServerBuilder,
    stop: &CancellationToken,
) -> anyhow::Result<Option<ReadyServer>> {
    let built = tokio::select! {
        built = builder.build() => built,
        () = stop.cancelled() => return Ok(None),
    };
    built.map(Some).map_err(|e| match e {
        // The store's message already names the database and the fix, and holds its source's.
        BuildError::Open(e) => anyhow::anyhow!("{e}"),
        BuildError::Recovery(e) => anyhow::Error::new(e)
            .context("recovering the tasks left unfinished by the previous run"),
        other => other.into(),
    })
}

/// Says on stderr where the tasks are kept and what start-up recovery did.
pub(crate) fn announce(settings: &ServeSettings, ready: &ReadyServer) {
    let shared = matches!(settings.store, StoreSettings::Postgres { .. });
    output::info(&match &settings.store {
        StoreSettings::Memory => "tasks are kept in memory; they end with the process".to_owned(),
        sqlite @ StoreSettings::Sqlite { .. } => format!("tasks are kept in {sqlite}"),
        postgres @ StoreSettings::Postgres { .. } => format!(
            "tasks are kept in {postgres}, shared with every instance serving it (lease {} ms)",
            settings.engine.lease_ttl.as_millis()
        ),
    });
    let recovered = ready.recovered();
    if let Some(line) = recovery_line(recovered.failed.len(), recovered.rerun.len(), shared) {
        output::info(&line);
    }
    // Before `listening on`, which is the line that says the server is up.
    if let Some(admin) = ready.admin() {
        output::info(&format!("admin: {}", admin.url()));
        if let Some(login) = admin.login_url() {
            output::info(&format!(
                "admin token generated for this run (--admin-token-file sets one); log in at \
                 {login}"
            ));
        }
    }
}

/// Serves stdio, or HTTP on the settings' address, until the shutdown signal.
pub(crate) async fn serve(ready: ReadyServer, settings: &ServeSettings) -> anyhow::Result<()> {
    let Some(addr) = settings.http else {
        return ready.serve_stdio().await.context("serving stdio");
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; is the port free?"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    if let Some(auth) = &settings.auth {
        output::info(&auth_line(auth));
    }
    if let Some(oauth) = &settings.oauth {
        if let Err(e) = oauth.refresh_keys().await {
            tracing::warn!(
                error = %e,
                "cannot load the OAuth issuer's keys yet; tokens are refused until they can be \
                 had (they are fetched again on demand)"
            );
        }
        output::info(&format!(
            "OAuth is on: access tokens of {} for {}; metadata at {}",
            oauth.issuer(),
            oauth.resource(),
            oauth.metadata_url()
        ));
    }
    output::info(&http_limits_line(settings));
    output::info(&format!(
        "listening on http://{local}{}",
        ready.http_config().path
    ));
    ready.serve_http_on(listener).await.context("serving HTTP")
}

/// The engine's store URL and options for the resolved settings.
fn store(settings: &StoreSettings) -> (StoreUrl, OpenOptions) {
    let mut open = OpenOptions::default();
    let url = match settings {
        StoreSettings::Memory => StoreUrl::Memory,
        StoreSettings::Sqlite { path, synchronous } => {
            open.sqlite = SqliteOptions {
                synchronous: *synchronous,
                ..SqliteOptions::default()
            };
            StoreUrl::Sqlite(Some(path.clone()))
        }
        StoreSettings::Postgres { url, pool_size } => {
            open.postgres = PostgresOptions {
                pool_size: *pool_size,
                ..PostgresOptions::default()
            };
            StoreUrl::Postgres(url.clone())
        }
    };
    (url, open)
}

/// The HTTP limits in force, one line, so an operator sees what a client may hold.
fn http_limits_line(settings: &ServeSettings) -> String {
    let c = &settings.connections;
    let l = &settings.engine.limits;
    let or_unlimited = |n: Option<u64>| n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    format!(
        "HTTP limits: {} connections ({} per client), headers within {} s, bodies of {} bytes within {} s ({} bytes at once), writes stalled at most {} s, \
         {} sessions ({} per client), {} streams per client; per client {} unfinished tasks \
         and {} bytes of stored results",
        c.max_connections,
        c.max_connections_per_client,
        c.header_read_timeout.as_secs(),
        settings.max_body_bytes,
        c.body_read_timeout.as_secs(),
        settings.max_body_bytes_in_flight,
        c.write_stall_timeout.as_secs(),
        settings.max_sessions,
        settings.max_sessions_per_client,
        settings.max_streams_per_client,
        or_unlimited(l.max_active_per_requestor.map(|n| n as u64)),
        or_unlimited(l.max_result_bytes_per_client),
    )
}

/// That bearer auth is on, and for how many subjects; never a token.
fn auth_line(auth: &AuthSettings) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "bearer auth is on: {} with {} from {}; every request needs Authorization: Bearer",
        plural(auth.tokens.subjects(), "subject", "subjects"),
        plural(auth.tokens.len(), "token", "tokens"),
        auth.file.display()
    )
}

/// What start-up recovery did, or `None` when there was nothing to recover.
fn recovery_line(failed: usize, rerun: usize, shared: bool) -> Option<String> {
    let total = failed + rerun;
    let by = if shared {
        "stopped instances"
    } else {
        "the previous run"
    };
    (total > 0).then(|| {
        format!(
            "recovered {total} {} left unfinished by {by}: {failed} failed, {rerun} running again",
            if total == 1 { "task" } else { "tasks" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_line_counts_subjects_and_shows_no_token() {
        let tokens = mcp_tasks_runtime::transport::http::BearerTokens::parse(
            "alice alice-token-0123456789\nalice alice-token-abcdefghij\nbob bob-token-0123456789ab\n",
        )
        .unwrap();
        let line = auth_line(&AuthSettings {
            file: "/etc/mcp-tasks/tokens".into(),
            tokens,
        });
        assert_eq!(
            line,
            "bearer auth is on: 2 subjects with 3 tokens from /etc/mcp-tasks/tokens; every \
             request needs Authorization: Bearer"
        );
    }

    #[test]
    fn recovery_is_reported_only_when_there_was_some() {
        assert_eq!(recovery_line(0, 0, false), None);
        assert_eq!(
            recovery_line(2, 1, false).as_deref(),
            Some(
                "recovered 3 tasks left unfinished by the previous run: 2 failed, 1 running again"
            )
        );
        assert_eq!(
            recovery_line(0, 1, false).as_deref(),
            Some("recovered 1 task left unfinished by the previous run: 0 failed, 1 running again")
        );
    }
}

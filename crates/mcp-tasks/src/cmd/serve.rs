//! `mcp-tasks serve`: the demo tools as tasks, on stdio or Streamable HTTP.

use std::sync::Arc;

use anyhow::Context as _;
use mcp_tasks_engine::{
    Engine, MemoryStore, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, TaskStore,
};
use mcp_tasks_runtime::server::{Server, ServerOptions};
use mcp_tasks_runtime::transport::{http, stdio};
use mcp_tasks_wire::v2025_11_25::Implementation;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthSettings, ServeSettings, StoreSettings};
use crate::{demo, output};

pub(crate) async fn run(settings: ServeSettings) -> anyhow::Result<()> {
    let store = open_store(&settings.store).await?;
    output::info(&match &settings.store {
        StoreSettings::Memory => "tasks are kept in memory; they end with the process".to_owned(),
        sqlite @ StoreSettings::Sqlite { .. } => format!("tasks are kept in {sqlite}"),
        postgres @ StoreSettings::Postgres { .. } => format!(
            "tasks are kept in {postgres}, shared with every instance serving it (lease {} ms)",
            settings.engine.lease_ttl.as_millis()
        ),
    });
    let shared = store.is_shared();
    let engine = Engine::new(store, settings.engine);
    let server = Server::with_options(
        engine.clone(),
        demo::tools(),
        Implementation::new("mcp-tasks", env!("CARGO_PKG_VERSION")),
        ServerOptions {
            instructions: Some(
                "Demo tools of mcp-tasks. Slow tools can be called as tasks: add params.task \
                 and poll tasks/get, or block on tasks/result."
                    .into(),
            ),
            rate_limit: settings.rate_limit,
        },
    );
    // Before any request: a task the previous process (or, on a shared store, a stopped
    // instance) left unfinished must not look alive.
    let recovered = server
        .recover_orphans()
        .await
        .context("recovering the tasks left unfinished by the previous run")?;
    if let Some(line) = recovery_line(recovered.failed.len(), recovered.rerun.len(), shared) {
        output::info(&line);
    }
    let shutdown = CancellationToken::new();
    let sweeper = engine.spawn_sweeper(shutdown.clone());
    let recovery = server.spawn_recovery(shutdown.clone());
    let result = match settings.http {
        None => stdio::serve(
            server,
            tokio::io::stdin(),
            tokio::io::stdout(),
            settings.max_body_bytes,
        )
        .await
        .context("serving stdio"),
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}; is the port free?"))?;
            let local = listener.local_addr().context("reading the bound address")?;
            if let Some(auth) = &settings.auth {
                output::info(&auth_line(auth));
            }
            let config = http::HttpConfig {
                max_body_bytes: settings.max_body_bytes,
                origins: http::OriginPolicy::new(settings.allowed_origins),
                session_idle_timeout: settings.session_idle_timeout,
                max_sessions: settings.max_sessions,
                auth: settings.auth.map(|auth| auth.tokens),
                ..http::HttpConfig::default()
            };
            output::info(&format!("listening on http://{local}{}", config.path));
            let router = http::router(server, config);
            http::serve(listener, router, shutdown_signal())
                .await
                .context("serving HTTP")
        }
    };
    shutdown.cancel();
    sweeper.abort();
    recovery.abort();
    // The work still running here ends with the process: the other instances take its tasks
    // over now rather than after the lease ttl.
    if let Err(e) = engine.release_lease().await {
        tracing::warn!(error = %e, "cannot release this instance's lease; it lapses by itself");
    }
    result
}

async fn open_store(settings: &StoreSettings) -> anyhow::Result<Arc<dyn TaskStore>> {
    Ok(match settings {
        StoreSettings::Memory => Arc::new(MemoryStore::new()),
        StoreSettings::Postgres { url, pool_size } => {
            let options = PostgresOptions {
                pool_size: *pool_size,
                ..PostgresOptions::default()
            };
            // As for SQLite: the message already names the database and the fix.
            Arc::new(
                PostgresStore::connect_with(url.secret(), options)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        }
        StoreSettings::Sqlite { path, synchronous } => {
            // SQLite creates the file but not its directory.
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!(
                        "cannot create the directory {} for the task store",
                        dir.display()
                    )
                })?;
            }
            let options = SqliteOptions {
                synchronous: *synchronous,
                ..SqliteOptions::default()
            };
            // The store's message names the file and the fix, and already holds its source's
            // message: the chain would repeat it.
            Arc::new(SqliteStore::open_with(path, options).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
    })
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    output::info("shutting down");
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

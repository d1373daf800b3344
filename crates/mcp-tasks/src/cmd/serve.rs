//! `mcp-tasks serve`: the demo tools as tasks, on stdio or Streamable HTTP.

use std::sync::Arc;

use anyhow::Context as _;
use mcp_tasks_engine::{Engine, MemoryStore, TaskStore};
use mcp_tasks_runtime::server::Server;
use mcp_tasks_runtime::transport::{http, stdio};
use mcp_tasks_wire::v2025_11_25::Implementation;
use tokio_util::sync::CancellationToken;

use crate::cli::{ServeArgs, StoreKind};
use crate::{demo, output};

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.engine_config()?;
    let store: Arc<dyn TaskStore> = match args.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
    };
    let engine = Engine::new(store, config);
    let shutdown = CancellationToken::new();
    let sweeper = engine.spawn_sweeper(shutdown.clone());
    let server = Server::with_instructions(
        engine,
        demo::tools(),
        Implementation::new("mcp-tasks", env!("CARGO_PKG_VERSION")),
        "Demo tools of mcp-tasks. Slow tools can be called as tasks: add params.task and poll \
         tasks/get, or block on tasks/result.",
    );
    let result = match args.http {
        None => stdio::serve(
            server,
            tokio::io::stdin(),
            tokio::io::stdout(),
            args.max_body_bytes(),
        )
        .await
        .context("serving stdio"),
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}; is the port free?"))?;
            let local = listener.local_addr().context("reading the bound address")?;
            let config = http::HttpConfig {
                max_body_bytes: args.max_body_bytes(),
                origins: http::OriginPolicy::new(args.allowed_origin.clone()),
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
    result
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

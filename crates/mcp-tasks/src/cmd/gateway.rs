//! `mcp-tasks gateway`: another MCP server's tools as tasks. The library's
//! [`Gateway`] does the work; this connects it to the same
//! builder, store, transport and lines on stderr as `serve`.

use mcp_tasks_runtime::gateway::Gateway;
use mcp_tasks_runtime::server::Server;

use super::serve;
use crate::config::GatewaySettings;
use crate::output;

pub(crate) async fn run(mut settings: GatewaySettings) -> anyhow::Result<()> {
    // A task a restart cuts short says the gateway restarted: its client knows no other server.
    settings.serve.engine = settings.serve.engine.role("gateway");
    let stop = serve::stop_on_signal();
    output::info(&format!(
        "connecting to the upstream server {}",
        settings.upstream
    ));
    let gateway = tokio::select! {
        connected = Gateway::connect(settings.gateway) => connected?,
        () = stop.cancelled() => return Ok(()),
    };
    let info = gateway.server_info();
    let builder = gateway.configure(Server::builder(info.name.clone(), info.version.clone()));
    let Some(ready) =
        serve::build(serve::configure(builder, &settings.serve, &stop), &stop).await?
    else {
        return Ok(());
    };
    serve::announce(&settings.serve, &ready);
    output::info(&format!(
        "serving {} {} ({} tools) through the gateway",
        info.name,
        info.version,
        ready.server().tools().definitions().len()
    ));
    let running = gateway.start(ready.server());
    let served = serve::serve(ready, &settings.serve).await;
    running.stop().await;
    served
}

//! The gateway: MCP Tasks in front of any MCP server (REQUIREMENTS part G).
//!
//! Most MCP servers have no task support. A [`Gateway`] is a client of such a server (the
//! *upstream*, spawned over stdio or reached over Streamable HTTP) and hands a
//! [`ServerBuilder`] everything the server needs to offer it again with tasks, in both eras,
//! on any store:
//!
//! - the upstream's tools, each call run upstream as an ordinary `tools/call` and, as the
//!   [task policy](TaskPolicy) of the tool says, as a task of the gateway's store (G-2);
//! - what the upstream asks and reports during a call, relayed to the caller the way the
//!   caller's era does it (G-3, `relay.rs`);
//! - its resources, prompts and completion, and their notifications (G-1, `passthrough.rs`);
//! - an upstream that dies ends the calls in flight `failed` saying how, and is started again
//!   (G-4, [`Backoff`]); tools declared idempotent run again after a gateway restart, the
//!   others end `failed` (G-5).
//!
//! ```no_run
//! use mcp_tasks_runtime::gateway::{Gateway, GatewayConfig, Rules, ToolRule, UpstreamSpec};
//! use mcp_tasks_runtime::Server;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = UpstreamSpec::command("mcp-server-time", ["--local-timezone".into(), "UTC".into()]);
//! let rules = Rules::new(vec![ToolRule::parse_flag("convert_*=always")?]);
//! let gateway = Gateway::connect(GatewayConfig::new(upstream).rules(rules)).await?;
//! let info = gateway.server_info();
//! let ready = gateway
//!     .configure(Server::builder(info.name, info.version))
//!     .store_url("sqlite:gateway.db")
//!     .build()
//!     .await?;
//! let _running = gateway.start(ready.server());
//! ready.serve_stdio().await?;
//! # Ok(()) }
//! ```

mod call;
mod passthrough;
pub mod policy;
mod relay;
mod tools;
mod upstream;

use std::sync::{Arc, PoisonError, RwLock};

use mcp_tasks_wire::method;
use mcp_tasks_wire::v2025_11_25::{
    ClientCapabilities, ElicitationCapability, Empty, Implementation, SamplingCapability, Tool,
};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use policy::{PolicyError, Resolved, Rules, TaskPolicy, ToolRule};
pub use upstream::{Backoff, Health, UpstreamSpec};

use crate::admin::UpstreamStatus;
use crate::client::{Client, ClientError, Protocol};
use crate::server::{Server, ServerBuilder};

/// How a gateway reaches its upstream and treats its tools.
#[derive(Debug, Clone)]
#[must_use]
pub struct GatewayConfig {
    upstream: UpstreamSpec,
    rules: Rules,
    backoff: Backoff,
    protocol: Option<Protocol>,
}

impl GatewayConfig {
    /// A gateway in front of `upstream`, every tool [`TaskPolicy::Optional`].
    pub fn new(upstream: UpstreamSpec) -> Self {
        Self {
            upstream,
            rules: Rules::default(),
            backoff: Backoff::default(),
            protocol: None,
        }
    }

    /// The per-tool rules: task policy, time limit, idempotence.
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// How the upstream is started again after it dies.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Speaks `protocol` to the upstream instead of finding out (`server/discover`, then
    /// `initialize` for a server that does not know it).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }
}

/// Why [`Gateway::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The upstream could not be started or reached, or refused the handshake.
    #[error("cannot connect to the upstream server {upstream}: {error}")]
    Connect {
        /// The upstream, as given.
        upstream: String,
        /// What went wrong (in the message already, so not a `source` said twice).
        error: ClientError,
    },
}

/// A gateway connected to its upstream, ready to configure a server with.
#[derive(Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
    connector: upstream::Connector,
}

/// What the gateway's calls and passthrough share.
#[derive(Debug)]
pub(crate) struct Inner {
    rules: Rules,
    upstream: Arc<upstream::Upstream>,
    relay: Arc<relay::Relay>,
    /// The upstream's tools, in its order, as it listed them last.
    tools: RwLock<Vec<Tool>>,
    /// Held while the tools are read again: two readings (a restart and a list_changed, or
    /// the several list_changed a server sends as it registers tools) must not overlap, or
    /// an older list could land last.
    refreshing: tokio::sync::Mutex<()>,
    /// The upstream's capabilities but tools and tasks, as it declared them last.
    capabilities: RwLock<Map<String, Value>>,
    info: Implementation,
    instructions: Option<String>,
}

impl Inner {
    fn upstream_tool(&self, name: &str) -> Option<Tool> {
        self.tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }

    fn capabilities(&self) -> Map<String, Value> {
        self.capabilities
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the gateway's client declares upstream: what it can forward to a client that can
/// answer it. Roots are not: one upstream process serves every client, so no one client's
/// roots are its roots.
fn forwarded_capabilities() -> ClientCapabilities {
    ClientCapabilities {
        elicitation: Some(ElicitationCapability {
            form: Some(Empty {}),
            url: Some(Empty {}),
        }),
        sampling: Some(SamplingCapability::default()),
        ..ClientCapabilities::default()
    }
}

impl Gateway {
    /// Starts or reaches the upstream, speaks its era, and reads its tools.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Connect`] when the command cannot start, the URL cannot be reached,
    /// or the upstream refuses the handshake; the message names the upstream.
    pub async fn connect(config: GatewayConfig) -> Result<Self, GatewayError> {
        let relay = Arc::new(relay::Relay::new(matches!(
            config.upstream,
            UpstreamSpec::Stdio { .. }
        )));
        let connector = upstream::Connector {
            spec: config.upstream.clone(),
            forwarder: relay.clone(),
            capabilities: forwarded_capabilities(),
            protocol: config.protocol,
        };
        let describe = config.upstream.describe();
        let connect_error = |error| GatewayError::Connect {
            upstream: describe.clone(),
            error,
        };
        let client = connector.connect().await.map_err(connect_error)?;
        let tools = client.list_tools().await.map_err(connect_error)?;
        let (info, instructions, capabilities) = describe_upstream(&client, &describe);
        let client = Arc::new(client);
        let inner = Arc::new(Inner {
            rules: config.rules,
            upstream: upstream::Upstream::new(client.clone(), config.backoff, &config.upstream),
            relay,
            tools: RwLock::new(Vec::new()),
            refreshing: tokio::sync::Mutex::new(()),
            capabilities: RwLock::new(capabilities),
            info,
            instructions,
        });
        inner.replace_tools(&tools);
        take_all_logs(&client).await;
        Ok(Self { inner, connector })
    }

    /// Who the upstream says it is, to tell the gateway's clients.
    pub fn server_info(&self) -> Implementation {
        self.inner.info.clone()
    }

    /// The upstream's instructions for the model, if it gave any.
    pub fn instructions(&self) -> Option<&str> {
        self.inner.instructions.as_deref()
    }

    /// The connection to the upstream, now.
    pub fn health(&self) -> Health {
        self.inner.upstream.health()
    }

    /// The connection to the upstream as operators see it: up, down or starting, how often
    /// it was made again, and why it last went down.
    pub fn status(&self) -> UpstreamStatus {
        self.inner.upstream.status()
    }

    /// Sets `builder` up to serve the upstream: its tools (policy applied), its
    /// instructions, the passthrough of everything else it offers, and the upstream's health
    /// for the admin listener ([`ServerBuilder::upstream`]).
    pub fn configure(&self, builder: ServerBuilder) -> ServerBuilder {
        let tools = self
            .inner
            .tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut builder = builder
            .tools(tools::registry(&self.inner, &tools))
            .passthrough(Arc::new(passthrough::Offer(self.inner.clone())))
            .upstream(self.inner.upstream.clone());
        if let Some(instructions) = &self.inner.instructions {
            builder = builder.instructions(instructions.clone());
        }
        builder
    }

    /// Starts keeping the upstream up for `server` (built with [`Gateway::configure`]): starts
    /// it again when it dies, and follows its tool list. Stops when the returned guard drops.
    pub fn start(&self, server: &Arc<Server>) -> Running {
        self.inner.relay.attach(server);
        let unmatched: Vec<String> = {
            let names: Vec<String> = self
                .inner
                .tools
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|t| t.name.clone())
                .collect();
            self.inner
                .rules
                .unmatched(&names)
                .map(str::to_owned)
                .collect()
        };
        for glob in unmatched {
            tracing::warn!(%glob, "a tool rule matches none of the upstream's tools; is it a typo?");
        }
        let stop = CancellationToken::new();
        let supervisor = {
            let inner = self.inner.clone();
            let server = Arc::downgrade(server);
            tokio::spawn(self.inner.upstream.clone().supervise(
                self.connector.clone(),
                stop.clone(),
                move |client| {
                    let inner = inner.clone();
                    let server = server.clone();
                    async move {
                        take_all_logs(&client).await;
                        inner.subscribe_again(&client).await;
                        if let Some(server) = server.upgrade() {
                            inner.refresh_tools(&client, &server).await;
                        }
                    }
                },
            ))
        };
        let follower = {
            let inner = self.inner.clone();
            let server = Arc::downgrade(server);
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = inner.relay.tools_changed.notified() => {}
                        () = stop.cancelled() => return,
                    }
                    let (Some(server), Health::Up(client)) =
                        (server.upgrade(), inner.upstream.health())
                    else {
                        continue;
                    };
                    inner.refresh_tools(&client, &server).await;
                }
            })
        };
        Running {
            stop,
            tasks: vec![supervisor, follower],
        }
    }
}

/// The gateway's background work; stops when dropped.
#[derive(Debug)]
#[must_use = "the gateway stops following its upstream when this is dropped"]
pub struct Running {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops following the upstream and closes the connection to it.
    pub async fn stop(mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Inner {
    /// Subscribes a new upstream connection to the resources the sessions follow: the process
    /// that took their subscriptions is gone.
    async fn subscribe_again(&self, client: &Client) {
        self.relay.prune_subscriptions();
        for uri in self.relay.subscribed() {
            if let Err(e) = client
                .request(method::RESOURCES_SUBSCRIBE, json!({"uri": uri}))
                .await
            {
                tracing::warn!(%uri, error = %e, "could not subscribe the restarted upstream to a resource again");
            }
        }
    }

    /// Tells the upstream of the resources no open session follows any more (their sessions
    /// closed without unsubscribing).
    pub(crate) async fn unsubscribe_unfollowed(&self) {
        if let Health::Up(client) = self.upstream.health() {
            self.unsubscribe_unfollowed_on(&client).await;
        }
    }

    async fn unsubscribe_unfollowed_on(&self, client: &Client) {
        for uri in self.relay.prune_subscriptions() {
            if let Err(e) = client
                .request(method::RESOURCES_UNSUBSCRIBE, json!({"uri": uri}))
                .await
            {
                tracing::debug!(%uri, error = %e, "could not unsubscribe the upstream from a resource no session follows");
            }
        }
    }

    /// Remembers the upstream's tools; what [`tools::registry`] reads them from. False when
    /// they are the ones it had.
    fn replace_tools(&self, tools: &[Tool]) -> bool {
        let mut known = self.tools.write().unwrap_or_else(PoisonError::into_inner);
        if known.as_slice() == tools {
            return false;
        }
        *known = tools.to_vec();
        true
    }

    /// Reads the upstream's tools again and, when they changed, gives the server the new
    /// registry (which tells the clients their list changed).
    async fn refresh_tools(self: &Arc<Self>, client: &Client, server: &Arc<Server>) {
        let _one_at_a_time = self.refreshing.lock().await;
        match client.list_tools().await {
            Ok(tools) => {
                if self.replace_tools(&tools) {
                    server.set_tools(tools::registry(self, &tools));
                    tracing::info!(tools = tools.len(), "the upstream's tools changed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the upstream's tools again"),
        }
    }
}

/// Who the upstream is, its instructions, and its capabilities as the gateway passes them on
/// (without `tools` and `tasks`, which the gateway declares itself).
fn describe_upstream(
    client: &Client,
    describe: &str,
) -> (Implementation, Option<String>, Map<String, Value>) {
    let (capabilities, instructions) = match (client.server(), client.discovery()) {
        (Some(init), _) => (
            serde_json::to_value(&init.capabilities).unwrap_or_default(),
            init.instructions.clone(),
        ),
        (None, Some(discovery)) => (
            discovery
                .raw
                .get("capabilities")
                .cloned()
                .unwrap_or_default(),
            discovery.instructions.clone(),
        ),
        (None, None) => (json!({}), None),
    };
    let mut capabilities = match capabilities {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for ours in ["tools", "tasks", "extensions", "logging"] {
        capabilities.remove(ours);
    }
    // The gateway reads the upstream's tools again when it says they changed or when it is
    // started again, and tells its own clients: whatever the upstream declared.
    capabilities.insert("tools".to_owned(), json!({"listChanged": true}));
    let info = client
        .server_info()
        .cloned()
        .unwrap_or_else(|| Implementation::new(describe, "unknown"));
    (info, instructions, capabilities)
}

/// Asks a MCP 2025-11-25 upstream for every log level: the gateway applies each client's own
/// level to what it passes on.
async fn take_all_logs(client: &Client) {
    let logs = client
        .server()
        .is_some_and(|init| init.capabilities.logging.is_some());
    if logs {
        if let Err(e) = client
            .request(method::LOGGING_SET_LEVEL, json!({"level": "debug"}))
            .await
        {
            tracing::debug!(error = %e, "the upstream refused logging/setLevel");
        }
    }
}

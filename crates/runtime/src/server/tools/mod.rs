//! Tools: the registry a server is built with, and the context a tool's handler gets.
//!
//! A handler is an async function of typed arguments. Arguments are checked before any task
//! exists, so bad arguments are a -32602 answer, never a failed task.

mod call;
mod client_task;
mod context;
mod list;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::{CallToolResult, Tool};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub(crate) use call::{handle as call, rerun};
pub use context::ToolContext;
pub(crate) use list::handle as list;

/// What a tool's handler returns: its result (possibly with `isError`), or a JSON-RPC error.
pub type ToolResult = Result<CallToolResult, ErrorObject>;

type BoxFuture = Pin<Box<dyn Future<Output = ToolResult> + Send>>;
/// A call whose arguments were checked, ready to run once its context exists.
type Prepared = Box<dyn FnOnce(ToolContext) -> BoxFuture + Send>;
type Handler = Arc<dyn Fn(Map<String, Value>) -> Result<Prepared, ErrorObject> + Send + Sync>;

/// The tools a server offers, in the order `tools/list` shows them.
#[derive(Clone, Default)]
pub struct Tools {
    order: Vec<String>,
    tools: HashMap<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    tool: Tool,
    handler: Handler,
    resumable: bool,
}

impl std::fmt::Debug for Tools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tools").field("tools", &self.order).finish()
    }
}

impl Tools {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool. `A` is its arguments' type: a call whose arguments do not deserialize into
    /// it is answered -32602 naming the problem. A later tool of the same name replaces it.
    pub fn add<A, F, Fut>(self, tool: Tool, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        self.insert(tool, handler, false)
    }

    /// Adds a tool whose tasks are run again from their original arguments when the server
    /// restarted while they ran, instead of failing. Its work then runs at least once, and
    /// maybe more than once: declare only tools that are safe to repeat (idempotent, or that
    /// check for their own earlier effects). A re-run asks its questions again.
    pub fn add_resumable<A, F, Fut>(self, tool: Tool, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        self.insert(tool, handler, true)
    }

    fn insert<A, F, Fut>(mut self, tool: Tool, handler: F, resumable: bool) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        let name = tool.name.clone();
        let handler = Arc::new(handler);
        let tool_name = name.clone();
        let erased: Handler = Arc::new(move |args| {
            let args: A = serde_json::from_value(Value::Object(args)).map_err(|e| {
                ErrorObject::invalid_params(format!("invalid arguments for tool {tool_name}: {e}"))
            })?;
            let handler = handler.clone();
            Ok(
                Box::new(move |cx| Box::pin(async move { handler(args, cx).await }) as BoxFuture)
                    as Prepared,
            )
        });
        if !self.tools.contains_key(&name) {
            self.order.push(name.clone());
        }
        self.tools.insert(
            name,
            Entry {
                tool,
                handler: erased,
                resumable,
            },
        );
        self
    }

    /// The tool definitions, for `tools/list`.
    pub fn definitions(&self) -> Vec<Tool> {
        self.order
            .iter()
            .map(|n| self.tools[n].tool.clone())
            .collect()
    }

    /// Whether `name` was added with [`Tools::add_resumable`].
    pub fn is_resumable(&self, name: &str) -> bool {
        self.tools.get(name).is_some_and(|e| e.resumable)
    }

    fn get(&self, name: &str) -> Option<(&Tool, &Handler)> {
        self.tools.get(name).map(|e| (&e.tool, &e.handler))
    }
}

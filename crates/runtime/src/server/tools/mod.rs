//! Tools: the registry a server is built with, and the context a tool's handler gets.
//!
//! A handler is an async function of typed arguments. A tool added with [`Tools::tool`] takes its
//! `inputSchema` from that type (`schemars`), so the schema a client sees and the arguments the
//! handler gets cannot drift apart; [`Tools::add`] takes a raw [`Tool`] for tools known only at
//! run time (a gateway's upstream tools).
//!
//! Arguments are checked before any task exists, so bad arguments are a -32602 answer, never a
//! failed task: first against the declared `inputSchema` (compiled once, when the tool is added),
//! so a value the schema forbids (`countdown`'s `from` above its `maximum`) is refused even when
//! the Rust type would take it, then by deserializing into the handler's type.

mod call;
mod call_v2026;
mod client_task;
mod context;
mod directed;
mod list;
mod list_v2026;
mod schema;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::{CallToolResult, TaskSupport, Tool, ToolExecution};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub(crate) use call::{handle as call, rerun};
pub(crate) use call_v2026::{cancel_unheard, created_task, handle as call_v2026};
pub use context::ToolContext;
pub(crate) use list::handle as list;
pub(crate) use list_v2026::handle as list_v2026;

/// What a tool's handler returns: its result (possibly with `isError`), or a JSON-RPC error.
pub type ToolResult = Result<CallToolResult, ErrorObject>;

type BoxFuture = Pin<Box<dyn Future<Output = ToolResult> + Send>>;
/// A call whose arguments were checked, ready to run once its context exists.
type Prepared = Box<dyn FnOnce(ToolContext) -> BoxFuture + Send>;
type Handler = Arc<dyn Fn(Map<String, Value>) -> Result<Prepared, ErrorObject> + Send + Sync>;

/// A tool defined in code: its name, how it is described and run. Its `inputSchema` comes from
/// the argument type of the handler it is added with ([`Tools::tool`]).
///
/// ```
/// use mcp_tasks_runtime::server::{ToolDef, Tools};
/// use mcp_tasks_runtime::{CallToolResult, JsonSchema, TaskSupport};
///
/// #[derive(serde::Deserialize, JsonSchema)]
/// #[schemars(crate = "mcp_tasks_runtime::schemars")]
/// struct Args {
///     /// What to say back.
///     text: String,
/// }
///
/// let tools = Tools::new().tool(
///     ToolDef::new("echo")
///         .description("Says the text back.")
///         .task_support(TaskSupport::Optional),
///     |args: Args, _cx| async move { Ok(CallToolResult::text(args.text)) },
/// );
/// assert_eq!(tools.definitions()[0].input_schema["required"][0], "text");
/// ```
#[derive(Clone, Debug)]
pub struct ToolDef {
    tool: Tool,
    resumable: bool,
    task_after: Option<Duration>,
}

impl ToolDef {
    /// A tool called `name`, which cannot run as a task until [`ToolDef::task_support`] says so.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            tool: Tool {
                name: name.into(),
                title: None,
                description: None,
                input_schema: Value::Object(Map::new()),
                output_schema: None,
                annotations: None,
                execution: None,
                icons: None,
                meta: None,
            },
            resumable: false,
            task_after: None,
        }
    }

    /// What the tool does, for the model.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.tool.description = Some(description.into());
        self
    }

    /// A name for people (`title`).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.tool.title = Some(title.into());
        self
    }

    /// Whether a `tools/call` of this tool may, must, or must not be a task (T-CAP-5).
    /// [`TaskSupport::Forbidden`] is the default, and is left out of the definition.
    #[must_use]
    pub fn task_support(mut self, support: TaskSupport) -> Self {
        self.tool.execution = (support != TaskSupport::Forbidden).then_some(ToolExecution {
            task_support: Some(support),
        });
        self
    }

    /// Behaviour hints (`ToolAnnotations`: `readOnlyHint`, `destructiveHint`, …).
    #[must_use]
    pub fn annotations(mut self, annotations: Value) -> Self {
        self.tool.annotations = Some(annotations);
        self
    }

    /// Runs the tool's tasks again from their original arguments when the server restarted
    /// while they ran, instead of failing them. The work then runs at least once, maybe more:
    /// declare only tools that are safe to repeat (see [`Tools::add_resumable`]).
    #[must_use]
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    /// For a tool whose `taskSupport` is optional, how long a MCP 2026-07-28 call runs as a
    /// plain call before it becomes a task (X-2: there the server decides, not the client).
    /// Without this, the server's default applies (`Server::builder(..).task_after(..)`, 1 s).
    ///
    /// A call that finishes sooner answers its plain result. A slower one answers
    /// `CreateTaskResult` (once the task is in the store, X-10) and its handler goes on as the
    /// task, not restarted: from then on its questions wait in the task's mailbox and
    /// `tasks/cancel` trips its [`ToolContext::cancellation`]. A question asked with
    /// [`ToolContext::ask`] (or `elicit`, `create_message`) before the threshold makes the call
    /// a task at once; one asked with [`ToolContext::ask_in_request`] is answered within the
    /// request instead. Only a client that declared the tasks extension on the request gets a
    /// task; for any other the call runs plain to the end.
    ///
    /// A required tool is a task as soon as its handler first waits on something other than
    /// an in-request question (so it can gather what it needs within the request first); a
    /// forbidden one never is. MCP 2025-11-25 clients choose for themselves, as before.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_tasks_runtime::server::ToolDef;
    /// use mcp_tasks_runtime::TaskSupport;
    ///
    /// // Answers plainly within 200 ms, else becomes a task.
    /// let def = ToolDef::new("search")
    ///     .task_support(TaskSupport::Optional)
    ///     .task_after(Duration::from_millis(200));
    /// # let _ = def;
    /// ```
    #[must_use]
    pub fn task_after(mut self, after: Duration) -> Self {
        self.task_after = Some(after);
        self
    }
}

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
    task_after: Option<Duration>,
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

    /// Adds a tool whose `inputSchema` is derived from `A`, its handler's argument type.
    /// A call whose arguments break that schema, or do not deserialize into `A`, is answered
    /// -32602 naming the field. A later tool of the same name replaces it.
    ///
    /// # Panics
    ///
    /// When `A`'s schema is not an object schema (`type: object`), as MCP requires of every
    /// `inputSchema`: the arguments of a tool are always named. Use a struct.
    pub fn tool<A, F, Fut>(self, def: ToolDef, handler: F) -> Self
    where
        A: JsonSchema + DeserializeOwned + Send + 'static,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        let ToolDef {
            mut tool,
            resumable,
            task_after,
        } = def;
        tool.input_schema = schema::input_schema::<A>();
        assert!(
            tool.input_schema.get("type") == Some(&Value::from("object")),
            "the arguments of tool {:?} must be a struct (an object schema), not {}",
            tool.name,
            std::any::type_name::<A>()
        );
        let name = tool.name.clone();
        let mut tools = self.insert(tool, handler, resumable);
        if let Some(entry) = tools.tools.get_mut(&name) {
            entry.task_after = task_after;
        }
        tools
    }

    /// Adds a tool from a raw definition, for tools known only at run time. `A` is its
    /// arguments' type: a call whose arguments break `tool.inputSchema` or do not deserialize
    /// into `A` is answered -32602 naming the problem. A later tool of the same name replaces
    /// it. Prefer [`Tools::tool`], which derives the schema from `A`.
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
        let validator = schema::Arguments::compile(&tool);
        let erased: Handler = Arc::new(move |args| {
            let mut args = Value::Object(args);
            if let Some(validator) = &validator {
                validator.check(&tool_name, &mut args)?;
            }
            let args: A = serde_json::from_value(args).map_err(|e| {
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
                task_after: None,
            },
        );
        self
    }

    /// Sets the [`ToolDef::task_after`] of the tool `name` (for a tool added from a raw
    /// definition, [`Tools::add`]); nothing when there is no such tool.
    #[must_use]
    pub fn with_task_after(mut self, name: &str, after: Duration) -> Self {
        if let Some(entry) = self.tools.get_mut(name) {
            entry.task_after = Some(after);
        }
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

    /// The tool's own [`ToolDef::task_after`], if it set one.
    pub fn task_after(&self, name: &str) -> Option<Duration> {
        self.tools.get(name).and_then(|e| e.task_after)
    }

    fn get(&self, name: &str) -> Option<(&Tool, &Handler)> {
        self.tools.get(name).map(|e| (&e.tool, &e.handler))
    }
}

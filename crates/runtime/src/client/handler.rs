//! How a client answers what the server asks: elicitation (a form for the user) and sampling
//! (a completion from the client's model).
//!
//! The same handler answers a plain request, a question a server task asks while the client
//! holds its `tasks/result` open (T-RES-4), and, when the client hosts tasks, a task-augmented
//! request run as a task of the client's own engine.
//!
//! ```
//! use mcp_tasks_runtime::client::{ElicitationHandler, RequestContext};
//! use mcp_tasks_wire::jsonrpc::ErrorObject;
//! use mcp_tasks_wire::v2025_11_25::{ElicitRequestParams, ElicitResult};
//!
//! /// Answers every form with the same name.
//! #[derive(Debug)]
//! struct Ada;
//!
//! #[async_trait::async_trait]
//! impl ElicitationHandler for Ada {
//!     async fn elicit(
//!         &self,
//!         _request: ElicitRequestParams,
//!         _cx: RequestContext,
//!     ) -> Result<ElicitResult, ErrorObject> {
//!         let content = serde_json::json!({"name": "Ada"});
//!         Ok(ElicitResult::accept(content.as_object().cloned().unwrap_or_default()))
//!     }
//! }
//! ```

use std::future::Future;

use async_trait::async_trait;
use mcp_tasks_wire::jsonrpc::ErrorObject;
use mcp_tasks_wire::v2025_11_25::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
};
use tokio_util::sync::CancellationToken;

/// What a handler knows about the request it answers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The server task this request belongs to (its related-task `_meta`), if any.
    pub related_task: Option<String>,
    /// The client-hosted task this request runs as, when the server asked for a task.
    pub hosted_task: Option<String>,
    /// Tripped when the server cancels: `notifications/cancelled` for a plain request,
    /// `tasks/cancel` for a hosted task.
    pub cancellation: CancellationToken,
    /// The [`Scope`](super::Scope) of the request this one came about through, when known
    /// (see [`forward`](super::forward)).
    pub scope: Option<super::Scope>,
}

/// Answers `elicitation/create`.
#[async_trait]
pub trait ElicitationHandler: Send + Sync + std::fmt::Debug + 'static {
    /// Asks the user and returns their answer; an error is sent back as the JSON-RPC error.
    async fn elicit(
        &self,
        request: ElicitRequestParams,
        cx: RequestContext,
    ) -> Result<ElicitResult, ErrorObject>;
}

/// Answers `sampling/createMessage`.
#[async_trait]
pub trait SamplingHandler: Send + Sync + std::fmt::Debug + 'static {
    /// Produces the model's message; an error is sent back as the JSON-RPC error.
    async fn create_message(
        &self,
        request: CreateMessageRequestParams,
        cx: RequestContext,
    ) -> Result<CreateMessageResult, ErrorObject>;
}

/// A handler made of an async function, for when a type of its own is too much.
///
/// ```
/// use mcp_tasks_runtime::client::{handler_fn, ClientBuilder};
/// use mcp_tasks_wire::v2025_11_25::{ElicitResult, Implementation};
///
/// let builder = ClientBuilder::new(Implementation::new("demo", "1.0.0"))
///     .elicitation(handler_fn(|_request, _cx| async { Ok(ElicitResult::decline()) }));
/// ```
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(ElicitRequestParams, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ElicitResult, ErrorObject>> + Send + 'static,
{
    FnHandler(f)
}

/// See [`handler_fn`].
pub struct FnHandler<F>(F);

impl<F> std::fmt::Debug for FnHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnHandler")
    }
}

#[async_trait]
impl<F, Fut> ElicitationHandler for FnHandler<F>
where
    F: Fn(ElicitRequestParams, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ElicitResult, ErrorObject>> + Send + 'static,
{
    async fn elicit(
        &self,
        request: ElicitRequestParams,
        cx: RequestContext,
    ) -> Result<ElicitResult, ErrorObject> {
        (self.0)(request, cx).await
    }
}

/// A sampling handler made of an async function; see [`handler_fn`] for the idea.
pub fn sampling_fn<F, Fut>(f: F) -> SamplingFn<F>
where
    F: Fn(CreateMessageRequestParams, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CreateMessageResult, ErrorObject>> + Send + 'static,
{
    SamplingFn(f)
}

/// See [`sampling_fn`].
pub struct SamplingFn<F>(F);

impl<F> std::fmt::Debug for SamplingFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SamplingFn")
    }
}

#[async_trait]
impl<F, Fut> SamplingHandler for SamplingFn<F>
where
    F: Fn(CreateMessageRequestParams, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CreateMessageResult, ErrorObject>> + Send + 'static,
{
    async fn create_message(
        &self,
        request: CreateMessageRequestParams,
        cx: RequestContext,
    ) -> Result<CreateMessageResult, ErrorObject> {
        (self.0)(request, cx).await
    }
}
